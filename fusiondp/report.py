"""Privacy-utility figures, tables and a self-contained HTML report.

The CLI (``fusiondp report``), the dashboard's Results page and the notebooks all draw
with these functions, so a curve looks the same everywhere. Inputs are the tidy table
of ``fusiondp.sweep`` (one row per run); ``load_results`` also turns a ``fusiondp run``
folder (``results.json``) into that table. The HTML embeds plotly.js because users often
have no network.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fusiondp.comparison import comparison_lines
from fusiondp.errors import ConfigError, DataError
from fusiondp.metrics import (
    METRIC_LABELS,
    METRICS,
    MULTICLASS_METRICS,
    MULTILABEL_METRICS,
    REGRESSION_METRICS,
    summary_metrics,
)
from fusiondp.privacy.audit_report import MEMBERSHIP_CAVEAT, AuditReport, below_baseline_note, membership_scope
from fusiondp.privacy.joint import joint_release_of_records
from fusiondp.privacy.randomness import NO_GUARANTEE
from fusiondp.record import RunRecord, write_text_atomic
from fusiondp.selection import SELECTION_LABELS, Selection, needs_selection, select_best
from fusiondp.sweep import _read_runs, row_from_record
from fusiondp.sweep_grid import LEDGER_FIELDS
from fusiondp.train.modes import ADJACENCY_EXPLAINED, ALL_MODES, get_mode
from fusiondp.verdicts import run_verdicts, threshold_note

ALL_METRICS = tuple(dict.fromkeys((*METRICS, *MULTICLASS_METRICS, *MULTILABEL_METRICS, *REGRESSION_METRICS)))
"""Every target kind's test metrics: a table keeps those its runs have."""
GAIN_BASELINES = ("dpsgd", "feature_dp")


def curve_stem(metric: str) -> str:
    """The file name (no suffix) of the main curve ``fusiondp report`` saves, e.g. ``privacy_utility_auroc``."""
    return f"privacy_utility_{metric}"


MODE_COLORS = dict(zip(ALL_MODES, ("#2ca02c", "#7f7f7f", "#17becf", "#1f77b4", "#ff7f0e", "#d62728", "#9467bd"),
                       strict=True))
"""One colour per mode in every figure, so the CLI, app and notebooks read alike."""


AUDIT_LABELS = {"attribute_advantage": "attribute advantage", "membership_auc": "membership AUC",
                "membership_tpr_at_1pct_fpr": "membership TPR @ 1% FPR"}
"""Audit figures shown in the per-ε table when the sweep ran with ``audit`` (see ``fusiondp.sweep.AUDIT_FIELDS``)."""

TUNING_COLUMNS = ("epsilon_tuning", "delta_tuning", "candidates")
"""What ``fusiondp.selection.select_best`` adds: the guarantee of the tuned selection and its K."""

REFERENCE_LABELS = {"sgd_ori": "no privacy", "sgd_pub": "sensitive unused, ε = 0",
                    "sgd_hybrid": "imputed only, ε = 0"}
"""Legend labels of the horizontal references: what each one means for the sensitive columns."""


def _mode_order(modes: Any) -> list[str]:
    present = set(modes)
    return [m for m in ALL_MODES if m in present] + sorted(present - set(ALL_MODES))


def _is_private(mode: str) -> bool:
    return get_mode(mode).is_private


def load_results(results_dir: str | Path) -> tuple[pd.DataFrame, list[RunRecord]]:
    """The tidy table and the run records of a ``fusiondp sweep`` or ``fusiondp run`` folder.

    A sweep folder is read from ``runs.jsonl`` (exact types, and it works for a sweep that
    was stopped before writing ``results.csv``), restricted to the runs in ``results.csv``
    when that exists (``runs.jsonl`` may keep runs of an earlier grid).
    """
    folder = Path(results_dir)
    if (folder / "runs.jsonl").is_file():
        entries = _read_runs(folder / "runs.jsonl")
        if (folder / "results.csv").is_file():
            keys = pd.read_csv(folder / "results.csv", usecols=["key"])["key"].astype(str)
            entries = {k: entries[k] for k in keys if k in entries}
        if not entries:
            raise DataError(f"{folder / 'runs.jsonl'} holds no finished run yet; run or resume the sweep first.")
        records = [RunRecord.from_dict(e["record"]) for e in entries.values()]
        rows = [_with_ledger(e["row"], r) for e, r in zip(entries.values(), records, strict=True)]
        return pd.DataFrame(rows), records
    if (folder / "results.json").is_file():
        try:
            payload = json.loads((folder / "results.json").read_text(encoding="utf-8"))
            records = [RunRecord.from_dict(r) for r in payload["records"]]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{folder / 'results.json'} is not a results file written by fusiondp run: {exc}") from exc
        if not records:
            raise DataError(f"{folder / 'results.json'} holds no run records.")
        return pd.DataFrame([row_from_record(r) for r in records]), records
    raise DataError(f"{folder} holds neither runs.jsonl (written by fusiondp sweep) nor results.json (written by "
                    "fusiondp run); give the folder that was passed as --out.")


def _with_ledger(row: dict[str, Any], record: RunRecord) -> dict[str, Any]:
    """A ``runs.jsonl`` row with the ledger fields an older sweep did not copy into it (e.g. ε_syn,
    which the tuning cost needs) taken from its record."""
    return {**row, **{name: getattr(record.privacy, name) for name in LEDGER_FIELDS if name not in row}}


def _one_setting(results: pd.DataFrame) -> None:
    if needs_selection(results):
        raise ConfigError("These results hold several knob settings (α, β, C, …) per mode, ε and seed; choose one "
                          "per ε first with fusiondp.selection.select_best(results).")


def _check_metric(results: pd.DataFrame, metric: str) -> None:
    if metric not in results.columns:
        known = [m for m in ALL_METRICS if m in results.columns]
        raise ConfigError(f"Unknown metric {metric!r}; choose one of {', '.join(known)}.")


def _spread(sd: float, seeds: int) -> str:
    """The ± part of a hover label: one seed has no spread, which is not a spread of 0."""
    return "(one seed: no spread)" if seeds < 2 else f"± {sd:.3f} ({seeds} seeds)"


def privacy_utility_figure(results: pd.DataFrame, metric: str | None = None) -> go.Figure:
    """``metric`` against ε (log axis): a line with ± sd error bars per DP mode; the
    non-private modes as dashed horizontal lines at their mean (they do not depend on ε).

    ``metric`` defaults to the target kind's selection metric (AUROC; R² for regression)."""
    metric = metric or summary_metrics(results.columns)[0]
    _check_metric(results, metric)
    _one_setting(results)
    label = METRIC_LABELS.get(metric, metric)
    private = results[results["mode"].map(_is_private)]
    epsilons = np.sort(private["epsilon"].dropna().unique()) if len(private) else np.array([0.5, 8.0])
    fig = go.Figure()
    for mode in _mode_order(private["mode"]):
        stats = (private[private["mode"] == mode].groupby("epsilon")[metric].agg(["mean", "std", "count"])
                 .reset_index().sort_values("epsilon"))
        fig.add_trace(go.Scatter(
            x=stats["epsilon"], y=stats["mean"], mode="lines+markers", name=mode,
            line={"color": MODE_COLORS.get(mode)},
            error_y={"type": "data", "array": stats["std"].fillna(0.0), "visible": True},
            customdata=[_spread(sd, count) for sd, count in zip(stats["std"], stats["count"], strict=True)],
            hovertemplate=f"{mode}<br>ε = %{{x}}<br>{label} = %{{y:.3f}} %{{customdata}}<extra></extra>",
        ))
    public = results[~results["mode"].map(_is_private)]
    for mode in _mode_order(public["mode"]):
        values = public.loc[public["mode"] == mode, metric].astype(float)
        mean, sd = values.mean(), values.std() if len(values) > 1 else 0.0
        name = f"{mode} ({REFERENCE_LABELS.get(mode, 'reference')})"
        fig.add_trace(go.Scatter(
            x=[epsilons.min(), epsilons.max()], y=[mean, mean], mode="lines", name=name,
            line={"dash": "dash", "color": MODE_COLORS.get(mode)},
            hovertemplate=f"{mode}: {label} = {mean:.3f} {_spread(sd, len(values))}<extra></extra>",
        ))
    seeds = results["seed"].nunique()
    spread = "one seed: no spread" if seeds == 1 else f"mean ± sd over {seeds} seeds"
    fig.update_layout(title=f"{label} vs ε ({spread})",
                      yaxis_title=f"{label} on real test rows", legend_title="mode", template="plotly_white")
    fig.update_xaxes(type="log", title="target ε (log scale)", tickvals=list(epsilons),
                     ticktext=[f"{e:g}" for e in epsilons])
    return fig


EPSILON_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
"""Line styles told apart by ε, in grid order, within one mode's colour."""


LEGEND_ROW_PX = 30
"""Height of one legend row as the dashboard's plotly theme draws it (measured in chromium: about 29 px)."""


def training_figure(epochs: pd.DataFrame, metric: str = "val_auroc") -> go.Figure:
    """Live training curves: one line per (mode, ε, seed) of ``metric`` against the run's epoch.

    ``epochs`` holds one row per finished epoch (``EpochReport.to_dict()`` plus the run's target
    ``epsilon``, empty for a non-private reference). A mode keeps its colour (``MODE_COLORS``) however many
    runs start, and each ε gets its own line style, so runs of one mode at different ε are never joined.
    """
    fig = go.Figure()
    grid = sorted(e for e in epochs["epsilon"].dropna().unique())
    shown = set()
    for (mode, epsilon, seed), run in epochs.groupby(["mode", "epsilon", "seed"], dropna=False, sort=False):
        name = mode if pd.isna(epsilon) else f"{mode}, ε = {epsilon:g}"
        dash = "solid" if pd.isna(epsilon) else EPSILON_DASHES[grid.index(epsilon) % len(EPSILON_DASHES)]
        fig.add_trace(go.Scatter(
            x=run["epoch"], y=run[metric], mode="lines+markers", name=name, legendgroup=name,
            showlegend=name not in shown, line={"color": MODE_COLORS.get(mode), "dash": dash},
            hovertemplate=f"{name}, seed {seed}<br>epoch %{{x}}<br>%{{y:.3f}}<extra></extra>",
        ))
        shown.add(name)
    # Tall enough for the whole legend (its title and one row per line): plotly cuts off what does not fit.
    fig.update_layout(height=max(260, 50 + LEGEND_ROW_PX * (len(shown) + 1)), margin={"t": 10, "b": 40},
                      template="plotly_white", legend_title="run",
                      yaxis_title=f"validation {METRIC_LABELS.get(metric.removeprefix('val_'), metric)}")
    fig.update_xaxes(title="epoch", dtick=1)
    return fig


def audit_columns(results: pd.DataFrame) -> list[str]:
    """The audit figures these results carry (none unless the sweep ran with ``audit``)."""
    return [c for c in AUDIT_LABELS if c in results.columns and results[c].notna().any()]


def per_epsilon_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (ε, mode): metric mean and sd over seeds, seeds, and the largest ε spent.

    After ``select_best`` it also holds the largest ε and δ of the selection (``TUNING_COLUMNS``):
    the selected model's guarantee, which every table that shows the model must show beside ε spent.

    Non-private modes have an empty ε: their row is the reference at every ε. Audit figures
    (``audit_columns``) get a mean and sd too when the sweep was audited.
    """
    _one_setting(results)
    rows = []
    for (epsilon, mode), group in results.groupby(["epsilon", "mode"], dropna=False, sort=False):
        row: dict[str, Any] = {"epsilon": epsilon, "mode": mode, "seeds": group["seed"].nunique()}
        for metric in (m for m in (*ALL_METRICS, *audit_columns(results)) if m in group.columns):
            values = group[metric].astype(float)
            row[f"{metric}_mean"] = values.mean()
            row[f"{metric}_sd"] = values.std() if values.notna().sum() > 1 else 0.0
        for column in ("epsilon_spent", "epsilon_replace", *TUNING_COLUMNS):
            if column in group.columns:
                row[column] = pd.to_numeric(group[column], errors="coerce").max()
        row["selection"] = group["selection"].iloc[0] if "selection" in group.columns else None
        rows.append(row)
    table = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(_mode_order(table["mode"]))}
    return (table.assign(_mode=table["mode"].map(order)).sort_values(["epsilon", "_mode"], na_position="last")
            .drop(columns="_mode").reset_index(drop=True))


GAIN_RELATIONS_NOTE = (
    "Paired by seed at the same target ε. Each mode's ε refers to its own neighbouring relation — fusiondp and "
    "feature_dp: one row's sensitive values vs missing (notes: fusiondp vs the hybrid note); dpsgd: a whole row — "
    "so the like-for-like "
    "scale is ε_replace, the bound for any change of one row's sensitive values, which all three share when their "
    "noise σ, sampling rate and steps agree (same_replace)."
)


def gain_table(results: pd.DataFrame, metric: str = "auroc") -> pd.DataFrame:
    """fusiondp − baseline at each ε, paired by seed (same seed, same ε): mean, sd, pairs, and whether the pair
    shares one ε_replace (see ``GAIN_RELATIONS_NOTE``)."""
    _check_metric(results, metric)
    _one_setting(results)
    columns = ["epsilon", "seed", metric, *(["epsilon_replace"] if "epsilon_replace" in results.columns else [])]
    ours = results.loc[results["mode"] == "fusiondp", columns]
    rows = []
    for baseline in GAIN_BASELINES:
        other = results.loc[results["mode"] == baseline, columns]
        paired = ours.merge(other, on=["epsilon", "seed"], suffixes=("", "_baseline"))
        paired["gain"] = paired[metric] - paired[f"{metric}_baseline"]
        for epsilon, group in paired.groupby("epsilon"):
            same = None
            if "epsilon_replace" in group.columns:
                ours_replace = pd.to_numeric(group["epsilon_replace"], errors="coerce")
                theirs_replace = pd.to_numeric(group["epsilon_replace_baseline"], errors="coerce")
                same = bool(np.allclose(ours_replace, theirs_replace, rtol=1e-6, equal_nan=False))
            rows.append({"baseline": baseline, "epsilon": epsilon, "gain_mean": group["gain"].mean(),
                         "gain_sd": group["gain"].std() if len(group) > 1 else 0.0, "pairs": len(group),
                         "same_replace": same})
    return pd.DataFrame(rows, columns=["baseline", "epsilon", "gain_mean", "gain_sd", "pairs", "same_replace"])


def gain_figure(results: pd.DataFrame, metric: str = "auroc") -> go.Figure:
    """The "FusionDP gain": fusiondp − dpsgd and fusiondp − feature_dp at each ε, ± sd over seeds."""
    gains = gain_table(results, metric)
    label = METRIC_LABELS.get(metric, metric)
    fig = go.Figure()
    for baseline in GAIN_BASELINES:
        part = gains[gains["baseline"] == baseline].sort_values("epsilon")
        if part.empty:
            continue
        fig.add_trace(go.Scatter(
            x=part["epsilon"], y=part["gain_mean"], mode="lines+markers", name=f"fusiondp − {baseline}",
            line={"color": MODE_COLORS[baseline]},
            error_y={"type": "data", "array": part["gain_sd"], "visible": True},
        ))
    if gains.empty:
        fig.add_annotation(text="needs fusiondp and dpsgd or feature_dp runs at the same ε and seeds",
                           showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.add_hline(y=0, line={"color": "grey", "width": 1})
    if not gains.empty and not gains["same_replace"].fillna(True).all():
        fig.add_annotation(text="some pairs differ in ε_replace (different noise): not like for like",
                           showarrow=False, xref="paper", yref="paper", x=0.5, y=1.0, yanchor="bottom")
    fig.update_layout(title=f"FusionDP gain in {label} (paired by seed, mean ± sd)",
                      yaxis_title=f"Δ {label}", template="plotly_white")
    epsilons = sorted(gains["epsilon"].unique())
    fig.update_xaxes(type="log", title="target ε (log scale)", tickvals=epsilons, ticktext=[f"{e:g}" for e in epsilons])
    return fig


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.{digits}f}"
    return str(value)


ONE_SEED_NOTE = "(1 seed): no spread to show; train several seeds to see how much a number varies."
NOT_APPLICABLE_NOTE = "—: not applicable (a non-private reference has no ε, σ or sampling rate)."


def mean_sd(mean: Any, sd: Any, seeds: int) -> str:
    """``0.812 ± 0.010``; ``0.812 (1 seed)`` for one seed (no spread, not a spread of 0); ``—`` for no value."""
    if mean is None or pd.isna(mean):
        return "—"
    return f"{mean:.3f} (1 seed)" if seeds < 2 else f"{mean:.3f} ± {sd:.3f}"


def _epsilon_cell(epsilon: Any) -> str:
    return "—" if epsilon is None or pd.isna(epsilon) else f"{epsilon:g}"


def _mean_sd_columns(table: pd.DataFrame) -> dict[str, list[str]]:
    """The target kind's summary metrics of a table with ``*_mean``/``*_sd`` columns, as ``mean_sd`` text."""
    return {METRIC_LABELS[m]: [mean_sd(a, b, n) for a, b, n in zip(table[f"{m}_mean"], table[f"{m}_sd"],
                                                                    table["seeds"], strict=True)]
            for m in summary_metrics(table.columns) if f"{m}_mean" in table.columns}


def metrics_table(summary: pd.DataFrame) -> pd.DataFrame:
    """``fusiondp.record.summarize``'s metrics with readable headers and text cells (``mean_sd``, ``—``)."""
    return pd.DataFrame({"mode": summary["mode"], "ε target": summary["epsilon"].map(_epsilon_cell),
                         "seeds": summary["seeds"], **_mean_sd_columns(summary)})


def ledger_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The privacy ledger of ``summarize``'s rows with readable headers; ``—`` where a field does not apply.

    ε total (training composed with a DP-synthetic support set's ε_syn) appears only when a run has one.
    """
    columns = {"mode": summary["mode"], "ε target": summary["epsilon"].map(_epsilon_cell),
               "ε spent": summary["epsilon_spent"].map(_fmt)}
    if summary["epsilon_total"].notna().any():
        columns["ε total (with ε_syn)"] = summary["epsilon_total"].map(_fmt)
        if "epsilon_total_replace" in summary:
            columns["ε total, replace-one (comparable across modes)"] = summary["epsilon_total_replace"].map(_fmt)
    columns.update({
        "δ": summary["delta"].map(_fmt), "σ (noise)": summary["sigma"].map(_fmt),
        "q (sampling rate)": summary["sampling_rate"].map(_fmt),
        "steps": summary["steps"].map(lambda v: "—" if v is None or pd.isna(v) else f"{v:.0f}"),
        "accountant": summary["accountant"].map(_fmt), "what ε refers to": summary["adjacency"].map(_fmt),
    })
    return pd.DataFrame(columns)


def audit_table(audited: list[tuple[RunRecord, AuditReport]], shadow: bool = False) -> pd.DataFrame:
    """One row per audited model, readable headers and text cells: the attribute attack's accuracies, the
    model-free guess (imputer; notes: hybrid-note generator), the advantage with its 95% interval and its reading
    (``AuditReport.verdict`` in two short cells rather than one sentence, so the table fits a page) and membership
    figures."""
    rows = []
    for record, report in audited:
        numbers = report.summary()
        reading = report.reading()
        low, high = report.advantage_interval()
        interval = "" if reading is None else f" ({low:+.3f} to {high:+.3f})"
        row = {
            "mode": record.mode, "ε target": _epsilon_cell(record.privacy.epsilon_target), "seed": record.seed,
            "rows attacked": report.rows,
            "attack accuracy: training": f"{numbers['attribute_train_acc']:.3f}",
            "attack accuracy: held-out": f"{numbers['attribute_holdout_acc']:.3f}",
            f"{report.baseline} only": f"{numbers['imputer_acc']:.3f}",
            "advantage (95% interval)": f"{report.mean_attribute_advantage:+.3f}{interval}",
            "reading": reading or "no interval: the rows attacked were not recorded",
            "membership AUC": f"{numbers['membership_auc']:.3f}",
            "membership TPR @ 1% FPR": f"{numbers['membership_tpr_at_1pct_fpr']:.3f}",
        }
        if shadow:
            row.update({"learned attack: advantage": _fmt(numbers["learned_advantage"]),
                        "shadow-calibrated membership AUC": _fmt(numbers["shadow_membership_auc"])})
        rows.append(row)
    return pd.DataFrame(rows)


def _record_metrics(records: list[RunRecord]) -> tuple[str, ...]:
    return summary_metrics({name for record in records for name in record.metrics})


def tidy_runs(records: list[RunRecord]) -> pd.DataFrame:
    """``fusiondp.sweep.row_from_record`` per record, with the target kind's metrics (R², macro-F1, …) too."""
    metrics = _record_metrics(records)
    return pd.DataFrame([{**row_from_record(r), **{m: r.metrics.get(m) for m in metrics}} for r in records])


def runs_table(records: list[RunRecord]) -> pd.DataFrame:
    """One row per trained model (mode, ε, seed): its test metrics and ε spent, readable headers, ``—`` cells."""
    metrics = _record_metrics(records)
    return pd.DataFrame([{
        "mode": r.mode, "ε target": _epsilon_cell(r.privacy.epsilon_target), "seed": r.seed,
        **{METRIC_LABELS[m]: mean_sd(r.metrics.get(m), None, 1).removesuffix(" (1 seed)") for m in metrics},
        "ε spent": _fmt(r.privacy.epsilon_spent), "cancelled": "yes" if r.cancelled else "no",
    } for r in records])


def attribute_table(report: AuditReport) -> pd.DataFrame:
    """``AuditReport.attribute_frame`` per sensitive column with readable headers and the advantage's interval."""
    frame = report.attribute_frame()
    table = pd.DataFrame({
        "column": frame["column"], "candidates": frame["candidates"],
        "attack accuracy: training": frame["train_accuracy"].map("{:.3f}".format),
        "attack accuracy: held-out": frame["holdout_accuracy"].map("{:.3f}".format),
        f"{report.baseline} only": frame["imputer_accuracy"].map("{:.3f}".format),
        "advantage (95% interval)": [f"{a:+.3f} ({low:+.3f} to {high:+.3f})" if not math.isnan(low) else f"{a:+.3f}"
                                     for a, low, high in zip(frame["advantage"], frame["advantage_low"],
                                                             frame["advantage_high"], strict=True)],
    })
    if "learned_advantage" in frame.columns:
        table["learned attack: advantage"] = frame["learned_advantage"].map(_fmt)
    return table


def _curve_table_html(table: pd.DataFrame) -> str:
    shown = pd.DataFrame({
        "ε": table["epsilon"].map(lambda e: "reference" if pd.isna(e) else f"{e:g}"),
        "mode": table["mode"],
        "seeds": table["seeds"],
        **_mean_sd_columns(table),
        "ε spent": table.get("epsilon_spent", pd.Series(dtype=float)).map(_fmt),
    })
    if "epsilon_tuning" in table.columns:
        shown["ε with tuning"] = table["epsilon_tuning"].map(_fmt)
        shown["δ with tuning"] = table["delta_tuning"].map(_fmt)
        shown["K runs"] = table["candidates"].map(lambda k: "—" if pd.isna(k) else f"{k:.0f}")
    for column, label in AUDIT_LABELS.items():
        if f"{column}_mean" in table.columns:
            shown[label] = [mean_sd(a, b, n) for a, b, n in zip(table[f"{column}_mean"], table[f"{column}_sd"],
                                                                 table["seeds"], strict=True)]
    if "membership_auc_mean" in table.columns:
        shown["membership vs ε"] = table["mode"].map(membership_scope)
    return shown.to_html(index=False, border=0, classes="table")


def _ledger_html(results: pd.DataFrame) -> str:
    """One ledger row per (mode, ε): seeds share σ, q and T; the largest ε spent is shown."""
    columns = [c for c in ("epsilon_spent", "epsilon_tuning", "delta_tuning", "candidates", "tuning_composition",
                           "delta", "sigma", "sampling_rate", "steps", "accountant", "adjacency", "epsilon_replace",
                           "privacy_notes")
               if c in results.columns]
    rows = []
    for (mode, epsilon), group in results.groupby(["mode", "epsilon"], dropna=False, sort=False):
        row = {"mode": mode, "ε target": _fmt(epsilon), "seeds": group["seed"].nunique()}
        for column in columns:
            values = group[column].dropna()
            if column in ("epsilon_spent", "epsilon_tuning", "delta_tuning", "epsilon_replace"):
                row[column] = _fmt(pd.to_numeric(values).max() if len(values) else None)
            else:
                row[column] = "; ".join(dict.fromkeys(_fmt(v) for v in values)) or "—"
        rows.append(row)
    ledger = pd.DataFrame(rows)
    explained = "".join(f"<li><b>{html.escape(a)}</b>: {html.escape(ADJACENCY_EXPLAINED.get(a, ''))}</li>"
                        for a in dict.fromkeys(results["adjacency"].dropna()))
    statements = ""
    if "privacy_statement" in results.columns:
        private = results[results["mode"].map(_is_private)].dropna(subset=["privacy_statement"])
        first = private.sort_values("epsilon").groupby("mode", sort=False).head(1)  # one per mode, at its least ε
        statements = "".join(f"<p><b>{html.escape(str(r['mode']))} at ε = {_fmt(r['epsilon'])}.</b> "
                             f"{html.escape(r['privacy_statement'])}</p>" for _, r in first.iterrows())
        statements = (f"<h3>Privacy statement in plain words</h3>{statements}<p>One per mode, at its smallest ε: at "
                      "the other ε values only the numbers change (see the ledger above).</p>" if statements else "")
    return ledger.to_html(index=False, border=0, classes="table") + f"<ul>{explained}</ul>" + statements


def _imputation_html(records: list[RunRecord]) -> str:
    parts = []
    seen = set()
    for record in records:
        summary = record.imputer
        marker = json.dumps(summary, sort_keys=True, default=str)
        if marker in seen:
            continue
        seen.add(marker)
        quality = summary.get("quality") or {}
        rows = [{"column": c["column"], "kind": c["kind"], "metric": metric, "imputer": _fmt(value),
                 "baseline": _fmt(c["baseline"].get(metric))}
                for c in quality.get("columns", []) for metric, value in c["metrics"].items()]
        parts.append(
            f"<p>Imputer <b>{html.escape(str(summary.get('name')))}</b> (requested "
            f"{html.escape(str(summary.get('requested')))}: {html.escape(str(summary.get('reason')))}); fitted in "
            f"{_fmt(summary.get('impute_s'))} s on {quality.get('fit_rows', '?')} support rows, scored on "
            f"{quality.get('holdout_rows', '?')} of them "
            f"({html.escape(str(quality.get('rows_used', '')))}).</p>"
            + pd.DataFrame(rows).to_html(index=False, border=0, classes="table")
            + "".join(f"<p>Note: {html.escape(str(note))}</p>" for note in quality.get("notes", [])))
    return "".join(parts)


def prepare_for_report(results: pd.DataFrame, select: Selection = "val_hybrid") -> tuple[pd.DataFrame, str | None]:
    """Select one knob setting per (mode, ε, seed) when a sweep tuned α, β, C; say how."""
    if needs_selection(results):
        return select_best(results, by=select), SELECTION_LABELS[select]
    return results, None


def dataset_name(records: list[RunRecord]) -> str:
    """The data file's name (no folder: a report must not carry a local or temporary path)."""
    data = records[0].config.get("data") if records else None
    return Path(str(data)).name if data else "a table given in memory"


def _audit_html(audited: list[tuple[RunRecord, AuditReport]]) -> str:
    shadow = any(not math.isnan(report.shadow_membership_auc) for _, report in audited)
    table = audit_table(audited, shadow).assign(**{"membership vs ε": [membership_scope(r.mode) for r, _ in audited]})
    below_note = below_baseline_note([report for _, report in audited])
    below = f"<p>{html.escape(below_note)}</p>" if below_note else ""
    return ("<h2>Audit: what could an attacker learn from these models?</h2>"
            "<p class='warn'>Computed on the real sensitive values of the training rows: an evaluation of your own "
            "data, not a differentially private release.</p>"
            + table.to_html(index=False, border=0, classes="table")
            + "<p><b>Advantage</b> = attack accuracy on training rows − on held-out rows (averaged over the sensitive "
              "columns, or span types for notes), with a 95% interval: an interval that includes 0 means no "
              "measurable leak. "
              f"<b>Membership</b>: {html.escape(MEMBERSHIP_CAVEAT)} (column “membership vs ε”). An audit can show a "
              "leak, never prove there is none; the ε in the ledger is the guarantee.</p>" + below)


def build_html_report(results_dir: str | Path, select: Selection = "val_hybrid",
                      audit: list[tuple[RunRecord, AuditReport]] | None = None) -> Path:
    """Write ``report.html`` into ``results_dir``: verdicts, curves, gain, per-ε table (with audit columns
    when the sweep was audited), ledger, imputation, and ``audit`` (the dashboard's audited models) when given.

    ``select`` picks α, β, C per ε when the sweep tuned them (see ``fusiondp.selection.select_best``).
    """
    folder = Path(results_dir)
    raw, records = load_results(folder)
    results, selection = prepare_for_report(raw, select)
    dataset = html.escape(dataset_name(records))
    notes = "".join(f"<li>{html.escape(line)}</li>" for line in [*comparison_lines(records), *run_verdicts(records)])
    verdict_html = f"<h2>Read this first</h2><ul>{notes}</ul>" if notes else ""
    one_seed = f"<p>{html.escape(ONE_SEED_NOTE)}</p>" if raw["seed"].nunique() < 2 else ""
    threshold = threshold_note(records)
    one_seed += f"<p>{html.escape(threshold)}</p>" if threshold else ""
    main, second = summary_metrics(results.columns)[:2]  # AUROC and AUPRC; AUROC and accuracy; R² and RMSE
    figures = [privacy_utility_figure(results, main), privacy_utility_figure(results, second),
               gain_figure(results, main)]
    plots = "".join(fig.to_html(full_html=False, include_plotlyjs=(i == 0), default_width="100%")
                    for i, fig in enumerate(figures))
    labels = set(results.get("selection", pd.Series(dtype=str)).dropna())
    warning = ""
    if any(label.startswith("not accounted") for label in labels):
        warning = ("<p class='warn'><b>Not accounted:</b> hyperparameters were selected on real validation rows; "
                   "no privacy ledger covers that choice.</p>")
    if any(record.privacy.reproducible_noise for record in records):
        warning += f"<p class='warn'><b>No DP guarantee:</b> {html.escape(NO_GUARANTEE)}.</p>"
    joint = joint_release_of_records(records)
    joint_html = (f"<p><b>Joint release.</b> {html.escape(joint.line())} How: {html.escape(joint.method)}.</p>"
                  if joint is not None else "")
    audit_note = ("<p>Audit columns: each model was attacked right after training. <b>Attribute advantage</b> is "
                  "how much more often an attacker who queries the model guesses a sensitive value of a training "
                  "row than of a row the model never saw (0 = no measurable leak); <b>membership AUC</b> is how "
                  "well low loss separates training rows from unseen ones (0.5 = chance), and the TPR at 1% FPR "
                  "is the share of training rows caught while wrongly accusing 1% of outsiders. Note: "
                  f"{MEMBERSHIP_CAVEAT} (column “membership vs ε”), so a high membership AUC for fusiondp, "
                  "feature_dp or naive_fusion breaches no ε. An audit can show a leak, never prove there is none; "
                  "the ε in the ledger is the guarantee.</p>"
                  if audit_columns(results) else "")
    selection_note = (f"<p>Hyperparameters (α, β, C, …) tuned per mode, ε and seed: {html.escape(selection)}. "
                      "Releasing the best of K runs spends the K runs composed: see “ε with tuning”.</p>"
                      if selection else "")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>FusionDP report: {dataset}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em}}
.table{{border-collapse:collapse;font-size:0.85em;margin:1em 0;display:block;overflow-x:auto}}
.table td,.table th{{padding:0.25em 0.6em;border-bottom:1px solid #ddd;text-align:left}}
.warn{{background:#fff3cd;padding:0.6em;border-left:4px solid #e0a800}}</style></head><body>
<h1>FusionDP privacy-utility report: {dataset}</h1>
<p>{len(raw)} runs on <b>{dataset}</b>: modes {html.escape(', '.join(
        _mode_order(raw['mode'])))}; {raw['seed'].nunique()} seed(s). Metrics are on real test rows.</p>
{warning}{selection_note}{verdict_html}
<h2>Privacy-utility curves</h2>{plots}
<p>FusionDP gain: {html.escape(GAIN_RELATIONS_NOTE)}</p>
<h2>Per-ε table</h2>{_curve_table_html(per_epsilon_table(results))}{one_seed}{audit_note}
<h2>Privacy ledger</h2>{_ledger_html(results)}{joint_html}
<h2>Imputation</h2>{_imputation_html(records)}
{_audit_html(audit) if audit else ""}
</body></html>"""
    path = folder / "report.html"
    write_text_atomic(path, page)
    return path


def export_figure_images(fig: go.Figure, stem: str | Path) -> tuple[list[Path], str | None]:
    """Write ``stem``.svg and .png with kaleido when it can run here; else say why not.

    kaleido drives a local Chrome/Chromium; without one (or without kaleido) the images
    cannot be made offline, and the caller must tell the user rather than fail silently.
    """
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return [], "kaleido is not installed (pip install kaleido; it also needs Chrome or Chromium installed)"
    written = []
    for suffix in (".svg", ".png"):
        path = Path(stem).with_suffix(suffix)
        try:
            fig.write_image(path)
        except Exception as exc:  # kaleido/choreographer raise many types (no browser, timeout, crash)
            return written, f"kaleido could not export {suffix[1:].upper()}: {exc}"
        written.append(path)
    return written, None
