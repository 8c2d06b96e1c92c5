"""The tables every front end shows beside the curves: per-ε metrics and ledger, FusionDP's gain over the
baselines, one row per run, the audit's figures.

Inputs are the tidy table of ``fusiondp.sweep`` (one row per run) or the summary of ``fusiondp.record.summarize``;
cells are formatted for reading (mean ± sd over seeds, "—" where a figure does not apply).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from fusiondp.errors import ConfigError
from fusiondp.metrics import (
    METRIC_LABELS,
    METRICS,
    MULTICLASS_METRICS,
    MULTILABEL_METRICS,
    REGRESSION_METRICS,
    summary_metrics,
)
from fusiondp.privacy.audit_report import AuditReport
from fusiondp.record import RunRecord
from fusiondp.selection import needs_selection
from fusiondp.sweep import row_from_record
from fusiondp.train.modes import ALL_MODES, get_mode

ALL_METRICS = tuple(dict.fromkeys((*METRICS, *MULTICLASS_METRICS, *MULTILABEL_METRICS, *REGRESSION_METRICS)))
"""Every target kind's test metrics: a table keeps those its runs have."""
GAIN_BASELINES = ("dpsgd", "feature_dp")


AUDIT_LABELS = {"attribute_advantage": "attribute advantage", "membership_auc": "membership AUC",
                "membership_tpr_at_1pct_fpr": "membership TPR @ 1% FPR"}
"""Audit figures shown in the per-ε table when the sweep ran with ``audit`` (see ``fusiondp.sweep.AUDIT_FIELDS``)."""

TUNING_COLUMNS = ("epsilon_tuning", "delta_tuning", "candidates")
"""What ``fusiondp.selection.select_best`` adds: the guarantee of the tuned selection and its K."""

def mode_order(modes: Any) -> list[str]:
    """``modes`` without repeats, in the order of ``ALL_MODES`` (unknown names last): every table and figure
    lists the modes alike."""
    present = set(modes)
    return [m for m in ALL_MODES if m in present] + sorted(present - set(ALL_MODES))


def is_private_mode(mode: str) -> bool:
    """Whether ``mode`` trains with noise (a curve over ε) rather than once (a horizontal reference)."""
    return get_mode(mode).is_private


def check_one_setting(results: pd.DataFrame) -> None:
    """Refuse results with several knob settings per (mode, ε, seed): a curve or table of them would average
    candidates that ``select_best`` should choose among."""
    if needs_selection(results):
        raise ConfigError("These results hold several knob settings (α, β, C, …) per mode, ε and seed; choose one "
                          "per ε first with fusiondp.selection.select_best(results).")


def check_metric(results: pd.DataFrame, metric: str) -> None:
    """Refuse a metric the results do not hold, naming those they do."""
    if metric not in results.columns:
        known = [m for m in ALL_METRICS if m in results.columns]
        raise ConfigError(f"Unknown metric {metric!r}; choose one of {', '.join(known)}.")


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
    check_one_setting(results)
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
    order = {m: i for i, m in enumerate(mode_order(table["mode"]))}
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
    check_metric(results, metric)
    check_one_setting(results)
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


def fmt_cell(value: Any, digits: int = 3) -> str:
    """A table cell: ``digits`` significant digits, "—" where a figure does not apply (``None``, NaN)."""
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


def mean_sd_columns(table: pd.DataFrame) -> dict[str, list[str]]:
    """The target kind's summary metrics of a table with ``*_mean``/``*_sd`` columns, as ``mean_sd`` text."""
    return {METRIC_LABELS[m]: [mean_sd(a, b, n) for a, b, n in zip(table[f"{m}_mean"], table[f"{m}_sd"],
                                                                    table["seeds"], strict=True)]
            for m in summary_metrics(table.columns) if f"{m}_mean" in table.columns}


def metrics_table(summary: pd.DataFrame) -> pd.DataFrame:
    """``fusiondp.record.summarize``'s metrics with readable headers and text cells (``mean_sd``, ``—``)."""
    return pd.DataFrame({"mode": summary["mode"], "ε target": summary["epsilon"].map(_epsilon_cell),
                         "seeds": summary["seeds"], **mean_sd_columns(summary)})


def ledger_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The privacy ledger of ``summarize``'s rows with readable headers; ``—`` where a field does not apply.

    ε total (training composed with a DP-synthetic support set's ε_syn) appears only when a run has one.
    """
    columns = {"mode": summary["mode"], "ε target": summary["epsilon"].map(_epsilon_cell),
               "ε spent": summary["epsilon_spent"].map(fmt_cell)}
    if summary["epsilon_total"].notna().any():
        columns["ε total (with ε_syn)"] = summary["epsilon_total"].map(fmt_cell)
        if "epsilon_total_replace" in summary:
            columns["ε total, replace-one (comparable across modes)"] = summary["epsilon_total_replace"].map(fmt_cell)
    columns.update({
        "δ": summary["delta"].map(fmt_cell), "σ (noise)": summary["sigma"].map(fmt_cell),
        "q (sampling rate)": summary["sampling_rate"].map(fmt_cell),
        "steps": summary["steps"].map(lambda v: "—" if v is None or pd.isna(v) else f"{v:.0f}"),
        "accountant": summary["accountant"].map(fmt_cell), "what ε refers to": summary["adjacency"].map(fmt_cell),
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
            row.update({"learned attack: advantage": fmt_cell(numbers["learned_advantage"]),
                        "shadow-calibrated membership AUC": fmt_cell(numbers["shadow_membership_auc"])})
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
        "ε spent": fmt_cell(r.privacy.epsilon_spent), "cancelled": "yes" if r.cancelled else "no",
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
        table["learned attack: advantage"] = frame["learned_advantage"].map(fmt_cell)
    return table


