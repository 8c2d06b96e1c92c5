"""Plain-language verdicts on a run's summary: what a newcomer would otherwise misread.

Numbers can mislead without a word: an accuracy equal to the majority share when a model
never predicts the positive class, or a private mode that a zero-ε reference matches. Every
front-end prints these lines next to the table they qualify; they read the summary only
(test metrics, which are local diagnostics, not releases).
"""

from __future__ import annotations

import math

import pandas as pd

REFERENCES = ("sgd_pub", "sgd_hybrid")
"""Modes that spend ε = 0 on the sensitive columns: a DP mode below them gains nothing from its budget."""
BASELINES = ("dpsgd", "feature_dp")


def _number(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number


def verdicts(summary: pd.DataFrame) -> list[str]:
    """Warnings and comparisons for ``fusiondp.record.summarize``'s table (one row per mode and ε)."""
    lines = []
    never_positive = summary[summary["f1_mean"].map(_number) == 0]
    if not never_positive.empty:
        names = ", ".join(dict.fromkeys(never_positive["mode"]))
        lines.append(f"{names}: F1 = 0 — at the 0.5 threshold these models never predict the positive class, so "
                     "their accuracy is just the share of the other class. Judge them by AUROC/AUPRC (threshold-free), "
                     "or lower the threshold for your use.")
    replicated = summary[summary["seeds"] >= 2]  # one seed has no spread: no comparison is claimed
    fusion = replicated[replicated["mode"] == "fusiondp"]
    for reference in REFERENCES:
        rows = replicated[replicated["mode"] == reference]
        if rows.empty or fusion.empty:
            continue
        ref_mean, ref_sd = _number(rows["auroc_mean"].iloc[0]), _number(rows["auroc_sd"].iloc[0])
        beaten = [row for _, row in fusion.iterrows() if _number(row["auroc_mean"]) + _number(row["auroc_sd"])
                  < ref_mean - ref_sd]
        if beaten:
            at = ", ".join(f"{_number(row['epsilon']):g}" for row in beaten)
            lines.append(f"{reference} (ε = 0 for the sensitive columns) beats fusiondp at ε = {at} by more than one "
                         f"sd (AUROC {ref_mean:.3f}): at that budget the noisy correction costs more than the real "
                         "sensitive values add beyond their imputation. Prefer the reference, or raise ε.")
    for baseline in BASELINES:
        rows = replicated[replicated["mode"] == baseline]
        for _, ours in fusion.iterrows():
            theirs = rows[rows["epsilon"] == ours["epsilon"]]
            if theirs.empty:
                continue
            gap = _number(ours["auroc_mean"]) - _number(theirs["auroc_mean"].iloc[0])
            noise = math.hypot(_number(ours["auroc_sd"]), _number(theirs["auroc_sd"].iloc[0]))
            if gap < -noise:
                lines.append(f"At ε = {_number(ours['epsilon']):g}, {baseline} beats fusiondp (AUROC gap {gap:+.3f}, "
                             f"beyond the seeds' spread {noise:.3f}).")
    return lines
