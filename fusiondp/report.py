"""The self-contained HTML report of a ``fusiondp run`` or ``fusiondp sweep`` folder (``build_html_report``).

``load_results`` turns either folder into the tidy table of ``fusiondp.sweep`` (one row per run) and its
records; the report puts the verdicts, the figures (``fusiondp.figures``), the tables
(``fusiondp.result_tables``), the ledger and the imputation report on one page. The HTML embeds plotly.js
because users often have no network.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from fusiondp.comparison import comparison_lines
from fusiondp.errors import DataError
from fusiondp.figures import gain_figure, privacy_utility_figure
from fusiondp.metrics import summary_metrics
from fusiondp.privacy.audit_report import MEMBERSHIP_CAVEAT, AuditReport, below_baseline_note, membership_scope
from fusiondp.privacy.joint import joint_release_of_records
from fusiondp.privacy.randomness import NO_GUARANTEE
from fusiondp.record import RunRecord, write_text_atomic
from fusiondp.result_tables import (
    AUDIT_LABELS,
    GAIN_RELATIONS_NOTE,
    ONE_SEED_NOTE,
    audit_columns,
    audit_table,
    fmt_cell,
    is_private_mode,
    mean_sd,
    mean_sd_columns,
    mode_order,
    per_epsilon_table,
)
from fusiondp.selection import SELECTION_LABELS, Selection, needs_selection, select_best
from fusiondp.sweep import _read_runs, row_from_record
from fusiondp.sweep_grid import LEDGER_FIELDS
from fusiondp.train.modes import ADJACENCY_EXPLAINED
from fusiondp.verdicts import run_verdicts, threshold_note


def curve_stem(metric: str) -> str:
    """The file name (no suffix) of the main curve ``fusiondp report`` saves, e.g. ``privacy_utility_auroc``."""
    return f"privacy_utility_{metric}"


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


def _curve_table_html(table: pd.DataFrame) -> str:
    shown = pd.DataFrame({
        "ε": table["epsilon"].map(lambda e: "reference" if pd.isna(e) else f"{e:g}"),
        "mode": table["mode"],
        "seeds": table["seeds"],
        **mean_sd_columns(table),
        "ε spent": table.get("epsilon_spent", pd.Series(dtype=float)).map(fmt_cell),
    })
    if "epsilon_tuning" in table.columns:
        shown["ε with tuning"] = table["epsilon_tuning"].map(fmt_cell)
        shown["δ with tuning"] = table["delta_tuning"].map(fmt_cell)
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
        row = {"mode": mode, "ε target": fmt_cell(epsilon), "seeds": group["seed"].nunique()}
        for column in columns:
            values = group[column].dropna()
            if column in ("epsilon_spent", "epsilon_tuning", "delta_tuning", "epsilon_replace"):
                row[column] = fmt_cell(pd.to_numeric(values).max() if len(values) else None)
            else:
                row[column] = "; ".join(dict.fromkeys(fmt_cell(v) for v in values)) or "—"
        rows.append(row)
    ledger = pd.DataFrame(rows)
    explained = "".join(f"<li><b>{html.escape(a)}</b>: {html.escape(ADJACENCY_EXPLAINED.get(a, ''))}</li>"
                        for a in dict.fromkeys(results["adjacency"].dropna()))
    statements = ""
    if "privacy_statement" in results.columns:
        private = results[results["mode"].map(is_private_mode)].dropna(subset=["privacy_statement"])
        first = private.sort_values("epsilon").groupby("mode", sort=False).head(1)  # one per mode, at its least ε
        statements = "".join(f"<p><b>{html.escape(str(r['mode']))} at ε = {fmt_cell(r['epsilon'])}.</b> "
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
        rows = [{"column": c["column"], "kind": c["kind"], "metric": metric, "imputer": fmt_cell(value),
                 "baseline": fmt_cell(c["baseline"].get(metric))}
                for c in quality.get("columns", []) for metric, value in c["metrics"].items()]
        parts.append(
            f"<p>Imputer <b>{html.escape(str(summary.get('name')))}</b> (requested "
            f"{html.escape(str(summary.get('requested')))}: {html.escape(str(summary.get('reason')))}); fitted in "
            f"{fmt_cell(summary.get('impute_s'))} s on {quality.get('fit_rows', '?')} support rows, scored on "
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
        mode_order(raw['mode'])))}; {raw['seed'].nunique()} seed(s). Metrics are on real test rows.</p>
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


