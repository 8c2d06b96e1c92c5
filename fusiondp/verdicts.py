"""Plain-language verdicts on a run's summary: what a newcomer would otherwise misread.

Numbers can mislead without a word: an accuracy equal to the majority share when a model
never predicts the positive class, a private mode that a zero-ε reference matches, or an
imputed column that tells no more than its mean or majority class. Every front-end (CLI,
dashboard, HTML report) prints these lines next to the table they qualify; they read the
summary and the imputer's quality report only (test metrics and support-row scores, which are
local diagnostics, not releases).
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from fusiondp.impute.quality import QualityReport
from fusiondp.metrics import METRIC_LABELS, THRESHOLD_RULE, summary_metrics
from fusiondp.modality import modality_of
from fusiondp.record import RunRecord, summarize

REFERENCES = ("sgd_pub", "sgd_hybrid")
"""Modes that spend ε = 0 on the sensitive columns: a DP mode below them gains nothing from its budget. The private
baselines (dpsgd, feature_dp) are compared by ``fusiondp.comparison``, paired by seed."""


def _number(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number


def verdicts(summary: pd.DataFrame) -> list[str]:
    """Warnings and comparisons for ``fusiondp.record.summarize``'s table (one row per mode and ε).

    Comparisons use the target kind's selection metric (AUROC; R² for a regression target).
    """
    lines = []
    metric = summary_metrics(summary.columns)[0]
    label = METRIC_LABELS[metric]
    never_positive = summary[summary["f1_mean"].map(_number) == 0] if "f1_mean" in summary else summary.iloc[:0]
    if not never_positive.empty:
        names = ", ".join(dict.fromkeys(never_positive["mode"]))
        lines.append(f"{names}: F1 = 0 — even at the decision threshold chosen on the validation rows these models "
                     "never predict the positive class, so their accuracy is just the share of the other class. "
                     "Judge them by AUROC/AUPRC (threshold-free), or choose a threshold for your use.")
    lines.extend(_single_seed(summary[summary["seeds"] < 2], metric))
    replicated = summary[summary["seeds"] >= 2]  # one seed has no spread: no comparison is claimed
    fusion = replicated[replicated["mode"] == "fusiondp"]
    for reference in REFERENCES:
        rows = replicated[replicated["mode"] == reference]
        if rows.empty or fusion.empty:
            continue
        ref_mean, ref_sd = _number(rows[f"{metric}_mean"].iloc[0]), _number(rows[f"{metric}_sd"].iloc[0])
        beaten = [row for _, row in fusion.iterrows() if _number(row[f"{metric}_mean"]) + _number(row[f"{metric}_sd"])
                  < ref_mean - ref_sd]
        if beaten:
            at = ", ".join(f"{_number(row['epsilon']):g}" for row in beaten)
            lines.append(f"{reference} (ε = 0 for the sensitive columns) beats fusiondp at ε = {at} by more than one "
                         f"sd ({label} {ref_mean:.3f}): at that budget the noisy correction costs more than the real "
                         "sensitive values add beyond their imputation. Prefer the reference, or raise ε.")
    return lines


def _single_seed(summary: pd.DataFrame, metric: str) -> list[str]:
    """One line when a zero-ε reference scores above fusiondp with one seed: no claim, a hint.

    A reference has no ε, so it is named once, with the ε of the fusiondp models it is above. The private
    baselines are ``fusiondp.comparison``'s (paired by seed, its own one-seed line)."""
    fusion = summary[summary["mode"] == "fusiondp"]
    above = {}
    for mode in REFERENCES:
        rows = summary[summary["mode"] == mode]
        if rows.empty:
            continue
        score = _number(rows[f"{metric}_mean"].iloc[0])
        below = [f"{_number(ours['epsilon']):g}" for _, ours in fusion.iterrows()
                 if score > _number(ours[f"{metric}_mean"])]
        if below:
            above[mode] = below
    if not above:
        return []
    named = "; ".join(f"{mode} (ε = 0 for the sensitive columns) is above fusiondp at ε = {', '.join(epsilons)}"
                      for mode, epsilons in above.items())
    return [f"In {METRIC_LABELS[metric]}, {named}. One seed: no spread, so this may be noise — train 3 or more seeds "
            "(Train page: Seeds; CLI: --seeds 0,1,2) before concluding."]


def imputation_verdicts(quality: QualityReport | dict[str, Any] | None) -> list[str]:
    """A line when imputed sensitive columns are no better than their trivial baseline, with what to try.

    Reads the quality report (support rows only: public information), as a ``QualityReport`` or its
    ``to_dict`` form as stored in a run record.
    """
    if quality is None:
        return []
    report = quality if isinstance(quality, QualityReport) else QualityReport.from_dict(quality)
    weak = [c for c in report.columns if not c.beats_baseline()]
    if not weak:
        return []
    names = ", ".join(f"{c.column} ({'R²' if c.kind == 'numeric' else 'accuracy'} "
                      f"{c.metrics['r2' if c.kind == 'numeric' else 'accuracy']:.3f} vs baseline "
                      f"{c.baseline['r2' if c.kind == 'numeric' else 'accuracy']:.3f})" for c in weak)
    if report.text_column is not None:
        return [f"Surrogates no better than the majority value on the support notes: {names}. The hybrid notes then "
                "carry the majority value for these span types, which tells nothing about a note, so fusiondp's gain "
                "over feature-DP shrinks and sgd_pub (which never sees a span) is the fair reference. Try: more "
                "support notes holding these spans (a bigger public fraction, or a separate public table of notes), "
                f"or notes whose words outside the spans say more about them (column {report.text_column!r})."]
    return [f"Imputed no better than the trivial baseline (mean or majority class) on unseen support rows: {names}. "
            "The imputed view then tells nothing about these columns beyond that, so fusiondp's gain over "
            "feature-DP shrinks and sgd_pub (which ignores them) is the fair reference. Try: a larger or more "
            "representative support set (a bigger public fraction or a separate public table), another imputer "
            "(knn, or TabPFN once its weights are on this machine), or public columns that predict them better."]


CODED_CATEGORY_VALUES = 5
"""At most this many distinct whole numbers in a numeric sensitive column's support values: perhaps coded categories."""


def coded_categories(quality: QualityReport, support: pd.DataFrame) -> dict[str, list[float]]:
    """Numeric sensitive columns whose support values are a few whole numbers (0/1, 1–3 …), with those values.

    Such a column may code categories: imputed as a number, it gets values between the codes (0.4 for a 0/1
    column) and is drawn as a histogram; marked categorical, it gets one of its codes and a confusion matrix.
    Reads the support rows only (public information).
    """
    coded = {}
    for column in quality.columns:
        if column.kind != "numeric" or column.column not in support:
            continue
        values = pd.to_numeric(support[column.column], errors="coerce").dropna().unique()
        if 0 < len(values) <= CODED_CATEGORY_VALUES and all(float(v).is_integer() for v in values):
            coded[column.column] = sorted(float(v) for v in values)
    return coded


def threshold_note(records: list[RunRecord]) -> str | None:
    """How binary models' accuracy and F1 were thresholded (``fusiondp.metrics.THRESHOLD_RULE``) and the range of
    the chosen thresholds; for multi-label models, the per-label rule and how many labels the macro-AUROC averaged;
    ``None`` when no record has either (other target kinds, or records from before)."""
    if any("micro_f1" in r.metrics for r in records):
        return multilabel_note(records)
    chosen = [t for t in (_number(r.metrics.get("threshold")) for r in records) if math.isfinite(t)]
    if not chosen:
        return None
    low, high = min(chosen), max(chosen)
    shown = f"{low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}–{high:.2f}"
    return (f"AUROC and AUPRC need no threshold. Accuracy and F1 use each model's decision threshold: {THRESHOLD_RULE} "
            f"(here {shown}).")


def multilabel_note(records: list[RunRecord]) -> str:
    """How multi-label models were scored: per-label thresholds, and the labels the macro-AUROC left out (a label
    with one class only among the test rows has no AUROC)."""
    note = ("AUROC needs no threshold: it is the mean of each label's AUROC (macro). Micro- and macro-F1 predict a "
            f"label when its probability reaches that label's own threshold: {THRESHOLD_RULE}, label by label.")
    counts = {(int(_number(r.metrics.get("auroc_labels"))), int(_number(r.metrics.get("labels"))))
              for r in records if math.isfinite(_number(r.metrics.get("auroc_labels")))}
    skipped = sorted({(scored, labels) for scored, labels in counts if scored < labels})
    if skipped:
        scored, labels = skipped[0]
        note += (f" The AUROC averages {scored} of the {labels} labels: {labels - scored} label(s) occur on every "
                 "test row or on none, where an AUROC is undefined.")
    return note


def run_verdicts(records: list[RunRecord]) -> list[str]:
    """Every verdict on a run: the imputation's (from the first record's quality report), then the models'.

    Models whose training was cancelled are left out: a model cut off mid-training says nothing about its mode."""
    if not records:
        return []
    finished = [record for record in records if not record.cancelled]
    models = verdicts(summarize(finished)) if finished else []
    return [*imputation_verdicts(records[0].imputer.get("quality")), *models]


def nothing_flagged(records: list[RunRecord]) -> str:
    """What ``run_verdicts`` checked, said when it found nothing: only the checks that applied to the models that
    finished, so that nothing is said about a mode that did not train."""
    finished = [record for record in records if not record.cancelled]
    checked = []
    if any("f1" in record.metrics for record in finished):
        checked.append("every model predicts both classes")
    quality = records[0].imputer.get("quality") if records else None
    if quality is not None:
        modality = modality_of(records[0].config)
        checked.append(modality.IMPUTATION_CHECKED if modality is not None
                       else "the imputation beats its baseline on every sensitive column")
    modes = {record.mode for record in finished}
    if "fusiondp" not in modes:
        checked.append("no fusiondp model finished, so nothing is said about it")
    elif modes & set(REFERENCES):
        checked.append("no zero-ε reference (sgd_pub, sgd_hybrid) scores clearly above fusiondp")
    return f"Nothing flagged: {'; '.join(checked)}." if checked else "Nothing flagged."


def imputer_headline(reason: str) -> str:
    """An imputer choice's reason in one line: each unavailable imputer with the first clause of why, then
    the choice (e.g. "tabpfn unavailable (TabPFN weights not found); using gbdt"). The full reason, with its
    cache folders and download links, belongs in a "details" view or ``fusiondp info``."""
    parts = []
    for part in reason.split("; "):
        name, unavailable, why = part.partition(" unavailable: ")
        if unavailable:
            parts.append(f"{name} unavailable ({re.split(r'[:.]', why, maxsplit=1)[0].strip()})")
        else:
            parts.append(part.split(". ")[0].rstrip("."))
    return "; ".join(parts)
