"""What the model predicts for each target kind: its output width, loss, loss gradient and predictions.

- ``binary``: one logit, binary cross-entropy; the label is 1.0 for the positive class.
- ``multiclass``: one logit per class, softmax cross-entropy; the label is the class index
  (stored as a float, like every label tensor, and read back as an integer).
- ``multilabel``: one logit per label, a sigmoid and a binary cross-entropy each; a row's loss is
  the sum of its labels' losses and its label is a 0/1 row (``(rows, labels)``, the only kind
  whose label tensor has two dimensions).
- ``regression``: one output, the Huber loss (quadratic within ``HUBER_DELTA`` of the label,
  linear beyond, so one outlying label cannot dominate a step) on the *standardised* label
  ``(y − center) / scale``. ``center`` and ``scale`` are the mean and standard deviation of
  the support set's labels (``label_scaling``): public information, fitted where every other
  scaler is fitted (METHOD.md §5), so that even ``dpsgd``, which protects whole rows, reads
  nothing of its private rows' labels outside the noised gradient. With declared ``bounds``
  (``TableSpec.target_bounds``, public knowledge) every label is clipped into them first — the
  support rows' labels before ``label_scaling`` too — and predictions are clipped into them.

Each private loss ``ℓ(real) − ℓ(reference) + β·R`` subtracts the same function of the same label
at two inputs, so it is exactly zero whenever the two views agree, for every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn.functional import binary_cross_entropy_with_logits, cross_entropy, huber_loss, one_hot

from fusiondp.errors import DataError
from fusiondp.spec import DEFAULT_DELIMITER, TableSpec, TargetKind

HUBER_DELTA = 1.0
"""Where the regression loss turns from quadratic to linear, in standard deviations of the label."""


@dataclass(frozen=True)
class Task:
    """The target kind with what training needs of it; ``BINARY`` is the default everywhere."""

    kind: TargetKind = "binary"
    classes: int = 2
    """Number of classes (binary: 2; multilabel: number of labels; regression: not used)."""
    center: float = 0.0
    """Regression: the label's mean on the support set (labels are trained as ``(y − center) / scale``)."""
    scale: float = 1.0
    bounds: tuple[float, float] | None = None
    """Regression: the declared range of the label (``TableSpec.target_bounds``); ``None``: unbounded."""
    delimiter: str = DEFAULT_DELIMITER
    """Multilabel: what separates a target cell's labels (``TableSpec.delimiter``)."""

    @property
    def outputs(self) -> int:
        """Width of the model's head."""
        return self.classes if self.kind in ("multiclass", "multilabel") else 1

    def losses(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss of each row: ``output`` is ``(rows,)`` or ``(rows, classes)``, ``y`` is ``(rows,)``
        (multilabel: ``(rows, labels)``, and the row's loss sums its labels' binary cross-entropies)."""
        if self.kind == "binary":
            return binary_cross_entropy_with_logits(output, y, reduction="none")
        if self.kind == "multilabel":
            return binary_cross_entropy_with_logits(output, y, reduction="none").sum(-1)
        if self.kind == "multiclass":
            return cross_entropy(output, y.long(), reduction="none")
        return huber_loss(output, y, reduction="none", delta=HUBER_DELTA)

    def mean_loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The mean loss over the rows (what the public term minimises)."""
        if self.kind == "binary":
            return binary_cross_entropy_with_logits(output, y)
        return self.losses(output, y).mean()

    def losses_and_gradient(self, output: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-row losses and their gradient with respect to ``output`` (same shape as ``output``)."""
        losses = self.losses(output, y)
        if self.kind in ("binary", "multilabel"):
            return losses, torch.sigmoid(output).sub_(y)
        if self.kind == "multiclass":
            return losses, torch.softmax(output, 1).sub_(one_hot(y.long(), self.classes).to(output.dtype))
        return losses, (output - y).clamp_(-HUBER_DELTA, HUBER_DELTA)

    def predictions(self, output: torch.Tensor) -> torch.Tensor:
        """Binary: the positive class's probability; multiclass: ``(rows, classes)`` probabilities;
        multilabel: ``(rows, labels)``, each label's probability; regression: the prediction in the label's units."""
        if self.kind in ("binary", "multilabel"):
            return torch.sigmoid(output)
        if self.kind == "multiclass":
            return torch.softmax(output, 1)
        predicted = output * self.scale + self.center
        return predicted if self.bounds is None else predicted.clamp(*self.bounds)

    def clip(self, values: np.ndarray) -> np.ndarray:
        """Regression labels (in the target's units) clipped into ``bounds``; unchanged without bounds."""
        return values if self.bounds is None else np.clip(values, *self.bounds)

    def label_values(self, y: np.ndarray) -> np.ndarray:
        """Label tensor values (as trained) back in the target's terms: regression labels in their own units."""
        return y * self.scale + self.center if self.kind == "regression" else y


BINARY = Task()


def label_scaling(support_target: pd.Series, name: str,
                  bounds: tuple[float, float] | None = None) -> tuple[float, float]:
    """``(center, scale)`` of a regression label: the mean and standard deviation of the support set's labels
    (clipped into ``bounds`` when the spec declares them, as every label is)."""
    values = pd.to_numeric(support_target, errors="coerce").dropna()
    if bounds is not None:
        values = values.clip(*bounds)
    if len(values) < 2:
        raise DataError(f"The support set has {len(values)} value(s) of the regression target {name!r}; its labels' "
                        "mean and spread standardise the target, so give the support rows their target values "
                        "(a separate support table needs the target column too).")
    spread = float(values.std(ddof=0))
    return float(values.mean()), spread if spread > 0 else 1.0


def support_classes(spec: TableSpec, support_target: pd.Series, table_target: pd.Series) -> list[Any]:
    """The classes (multi-label: the labels) a classifier's outputs code, read off the support set's labels.

    Not off the training rows: under ``dpsgd``'s relation a training row is private as a whole, label
    included, and one row with a rare label would change the model's output width or turn the run into
    an error. ``table_target`` — the labels of the rows trained and scored on — is read only to refuse a
    class the support set lacks (its rows could not be coded); the error says what to do.
    """
    def present(target: pd.Series) -> list[Any]:
        if spec.target_kind == "multilabel":
            return sorted({label for labels in spec.label_sets(target) for label in labels})
        return sorted(set(target.dropna().tolist()), key=lambda v: (str(type(v)), v))

    one, many = ("label", "labels") if spec.target_kind == "multilabel" else ("class", "classes")
    known = set(present(support_target))
    lacking = [value for value in present(table_target) if value not in known]
    if lacking:
        shown = ", ".join(repr(value) for value in lacking[:10]) + (" …" if len(lacking) > 10 else "")
        raise DataError(f"Target {spec.target!r}: the support set has no row of {many if len(lacking) > 1 else one} "
                        f"{shown}, which the table's training, validation or test rows hold. The model's {many} are "
                        f"read from the support set (public), never from the private rows. Give the support set rows "
                        f"of every {one} (raise support_fraction, or add them to the support table), or merge the "
                        f"rare {many} into others or drop their rows.")
    if spec.target_kind == "multiclass":
        return list(spec.class_values(support_target, min_rows=1))
    if spec.target_kind == "multilabel":
        return present(support_target)
    return list(spec.target_classes(support_target))
