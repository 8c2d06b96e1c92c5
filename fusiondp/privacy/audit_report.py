"""What an audit reports: each sensitive column's attack accuracies against the baseline, membership figures,
their reading in a sentence, and what a mode's ε says about each attack (``membership_scope``).

The attacks that fill these reports are ``fusiondp.privacy.audit``; this module needs no model, so the
report and the dashboard read saved audits without torch or scikit-learn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fusiondp.train.modes import get_mode

Z_95 = 1.959964
"""Normal quantile of a two-sided 95% interval."""
REAL_ROWS_NOTE = "computed on real training rows: an evaluation of your own data, not a DP release"
"""Every audit report's first note."""


@dataclass
class AttributeLeak:
    column: str
    candidates: int
    train_accuracy: float
    holdout_accuracy: float
    imputer_accuracy: float
    learned_train_accuracy: float = float("nan")
    learned_holdout_accuracy: float = float("nan")
    """The shadow-trained attack classifier's accuracy (NaN when the audit ran without a shadow model)."""
    train_rows: int = 0
    holdout_rows: int = 0
    """Rows attacked with an observed value of this column (0: unknown, e.g. a report saved before they were kept)."""

    @property
    def advantage(self) -> float:
        """How much better the attack does on training rows than on rows the model never saw."""
        return self.train_accuracy - self.holdout_accuracy

    @property
    def advantage_half_width(self) -> float:
        """Half-width of the advantage's 95% interval: two independent proportions, normal approximation."""
        if not (self.train_rows and self.holdout_rows):
            return float("nan")
        variance = (self.train_accuracy * (1 - self.train_accuracy) / self.train_rows
                    + self.holdout_accuracy * (1 - self.holdout_accuracy) / self.holdout_rows)
        return float(Z_95 * np.sqrt(variance))

    @property
    def learned_advantage(self) -> float:
        """The same difference for the learned attack: what it learned about members, not about the population."""
        return self.learned_train_accuracy - self.learned_holdout_accuracy


@dataclass
class AuditReport:
    mode: str
    rows: int
    attribute: list[AttributeLeak]
    membership_auc: float
    membership_tpr_at_1pct_fpr: float
    notes: list[str] = field(default_factory=lambda: [REAL_ROWS_NOTE])
    shadow_membership_auc: float = float("nan")
    shadow_membership_tpr_at_1pct_fpr: float = float("nan")
    """Shadow-calibrated membership inference (NaN when the audit ran without a shadow model)."""
    baseline: str = "imputer"
    """What makes the model-free guess (``imputer_accuracy``): the imputer (tables) or the hybrid-note generator
    ("generator", notes): what a public model already infers, at no privacy cost."""

    @property
    def mean_attribute_advantage(self) -> float:
        return float(np.mean([a.advantage for a in self.attribute]))

    @property
    def mean_learned_advantage(self) -> float:
        return float(np.mean([a.learned_advantage for a in self.attribute]))

    def advantage_interval(self) -> tuple[float, float]:
        """A 95% interval for ``mean_attribute_advantage``.

        The columns are attacked on the same rows, so their advantages are not independent; the
        half-width is the mean of the columns' half-widths, which bounds the mean's (the standard
        deviation of a sum is at most the sum of the standard deviations): conservative, never too narrow.
        """
        half = float(np.mean([a.advantage_half_width for a in self.attribute]))
        return self.mean_attribute_advantage - half, self.mean_attribute_advantage + half

    @property
    def below_imputer(self) -> bool:
        """The attack guesses worse than the imputer alone (by more than 0.05): see ``BELOW_IMPUTER``."""
        numbers = self.summary()
        return bool(numbers["attribute_train_acc"] < numbers["imputer_acc"] - 0.05)

    def reading(self) -> str | None:
        """"measurable leak" when the advantage's 95% interval lies above 0, else "no measurable leak";
        ``None`` when there is no interval (the rows attacked were not recorded)."""
        low, _ = self.advantage_interval()
        if np.isnan(low):
            return None
        return "measurable leak" if low > 0 else "no measurable leak"

    def verdict(self) -> str:
        """The attribute attack's reading in a phrase, with the advantage and its 95% interval."""
        low, high = self.advantage_interval()
        advantage = f"advantage {self.mean_attribute_advantage:+.3f}"
        reading = self.reading()
        if reading is None:
            return f"{advantage} (no interval: the rows attacked were not recorded)"
        return f"{reading}: {advantage}, 95% interval {low:+.3f} to {high:+.3f}"

    def summary(self) -> dict[str, float]:
        """The model's audit as flat numbers (accuracies averaged over the sensitive columns).

        One vocabulary for every table that lists audited models (``audit_grid``, sweep rows,
        the report's audit columns), so a column means the same wherever it appears.
        """
        def mean(name: str) -> float:
            return float(np.mean([getattr(a, name) for a in self.attribute]))

        return {
            "attribute_train_acc": mean("train_accuracy"),
            "attribute_holdout_acc": mean("holdout_accuracy"),
            "imputer_acc": mean("imputer_accuracy"),
            "attribute_advantage": self.mean_attribute_advantage,
            "learned_train_acc": mean("learned_train_accuracy"),
            "learned_holdout_acc": mean("learned_holdout_accuracy"),
            "learned_advantage": self.mean_learned_advantage,
            "membership_auc": self.membership_auc,
            "membership_tpr_at_1pct_fpr": self.membership_tpr_at_1pct_fpr,
            "shadow_membership_auc": self.shadow_membership_auc,
            "shadow_membership_tpr_at_1pct_fpr": self.shadow_membership_tpr_at_1pct_fpr,
        }

    def attribute_frame(self) -> pd.DataFrame:
        """One row per sensitive column: the attack's accuracy on training vs held-out rows, the
        imputer-only guess, and the advantage with its 95% interval (learned-attack columns only when a
        shadow ran)."""
        frame = pd.DataFrame([{
            "column": leak.column, "candidates": leak.candidates, "train_accuracy": leak.train_accuracy,
            "holdout_accuracy": leak.holdout_accuracy, "imputer_accuracy": leak.imputer_accuracy,
            "advantage": leak.advantage, "advantage_low": leak.advantage - leak.advantage_half_width,
            "advantage_high": leak.advantage + leak.advantage_half_width,
            "learned_train_accuracy": leak.learned_train_accuracy,
            "learned_holdout_accuracy": leak.learned_holdout_accuracy, "learned_advantage": leak.learned_advantage,
        } for leak in self.attribute])
        return frame.dropna(axis="columns", how="all")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for item, leak in zip(data["attribute"], self.attribute, strict=True):
            item["advantage"] = leak.advantage
            item["learned_advantage"] = leak.learned_advantage
        data["mean_attribute_advantage"] = self.mean_attribute_advantage
        data["mean_attribute_advantage_interval"] = list(self.advantage_interval())
        data["mean_learned_advantage"] = self.mean_learned_advantage
        return data


BELOW_IMPUTER = (
    "Attack accuracy below the imputer alone: the attack only asks which value makes the model's prediction of the "
    "person's outcome most likely, and ignores how common each value is. When the model leans little on a sensitive "
    "column, that question has no clear answer and the guesses are close to arbitrary, while the imputer predicts "
    "the value from the public columns directly. It means the model's answers reveal less about these columns than "
    "the public columns already do, not that the audit failed.")
"""Said where an audited model's attack accuracy is clearly below the imputer's (``AuditReport.below_imputer``)."""

BELOW_GENERATOR = (
    "Attack accuracy below the hybrid-note generator alone: the attack only asks which value makes the model's "
    "prediction of the note's label most likely, and ignores how common each value is. When the model leans little "
    "on a span type, that question has no clear answer and the guesses are close to arbitrary, while the generator "
    "predicts the value from the note's public words directly. It means the model's answers reveal less about these "
    "spans than the public words already do, not that the audit failed.")
"""The notes' counterpart of ``BELOW_IMPUTER`` (an ``AuditReport`` whose baseline is the generator)."""


def below_baseline_note(reports: list[AuditReport]) -> str | None:
    """``BELOW_IMPUTER`` (tables) or ``BELOW_GENERATOR`` (notes) when some report is clearly below its baseline."""
    below = [report for report in reports if report.below_imputer]
    if not below:
        return None
    return BELOW_GENERATOR if below[0].baseline == "generator" else BELOW_IMPUTER

MEMBERSHIP_CAVEAT = ("membership is outside a feature-level guarantee: its ε bounds what the model reveals about "
                     "one row's sensitive values, not whether the row was in the training data")
"""Said beside the membership figures of feature-level models, where a high AUC breaches no ε."""


def membership_scope(mode: str) -> str:
    """What ``mode``'s ε says about membership inference, in a phrase for a table cell.

    Only a mode whose every use of a row goes through the clipped, noised term (row-level
    DP-SGD: no public term) bounds membership; a feature-level mode trains on each row's
    public columns and label without noise, so membership is outside its guarantee.
    """
    spec = get_mode(mode)
    if not spec.is_private:
        return "no guarantee"
    if spec.public_view is None:
        return "bounded by ε (row-level DP)"
    return "outside the guarantee (feature-level ε)"

