"""Metrics on real test rows, per target kind, and the metric each kind is selected and plotted by."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)

from fusiondp.spec import TargetKind

METRICS = ("auroc", "auprc", "accuracy", "f1", "brier")
MULTICLASS_METRICS = ("auroc", "accuracy", "macro_f1")
MULTILABEL_METRICS = ("auroc", "micro_f1", "macro_f1")
REGRESSION_METRICS = ("r2", "rmse", "mae")
SUMMARY_METRICS: dict[TargetKind, tuple[str, ...]] = {"binary": ("auroc", "auprc", "accuracy", "f1"),
                                                      "multiclass": MULTICLASS_METRICS,
                                                      "multilabel": MULTILABEL_METRICS,
                                                      "regression": REGRESSION_METRICS}
"""What a summary table shows per kind, the first being the one a curve is drawn and a model selected by."""
LOWER_IS_BETTER = frozenset({"brier", "rmse", "mae"})
METRIC_LABELS = {"auroc": "AUROC", "auprc": "AUPRC", "accuracy": "accuracy", "f1": "F1", "brier": "Brier score",
                 "macro_f1": "macro-F1", "micro_f1": "micro-F1", "r2": "R²", "rmse": "RMSE", "mae": "MAE"}
METRIC_DESCRIPTIONS = {"binary": "AUROC", "multiclass": "AUROC (macro one-vs-rest)",
                       "multilabel": "AUROC (macro over labels)", "regression": "R²"}
KIND_METRICS: dict[TargetKind, tuple[str, ...]] = {"binary": METRICS, "multiclass": MULTICLASS_METRICS,
                                                   "multilabel": MULTILABEL_METRICS, "regression": REGRESSION_METRICS}
"""Every test score a run of each kind records (``target_metrics``'s keys, beside the binary ``threshold`` and the
multi-label ``auroc_labels`` and ``labels`` counts)."""


def selection_metric(kind: TargetKind) -> str:
    """The metric a kind's models are compared, selected and plotted by (higher is better for each).

    Binary: AUROC. Multi-class: AUROC macro-averaged one-vs-rest, not accuracy: like the binary AUROC it
    reads the whole ranking of the predicted probabilities, so it neither depends on a decision rule nor
    rewards always predicting the majority class. Multi-label: AUROC averaged over the labels (macro), for the
    same reasons and so that a rare label counts as much as a common one. Regression: R², which is −MSE rescaled
    by the label's variance, so it ranks runs of one table exactly as −RMSE does and reads the same across tables.
    """
    return SUMMARY_METRICS[kind][0]


def validation_metric(kind: TargetKind) -> str:
    """The ``EpochReport`` field (and sweep column) holding ``selection_metric`` on validation rows."""
    return f"val_{selection_metric(kind)}"


def kind_of_metrics(names: Iterable[str]) -> TargetKind:
    """The target kind whose metrics ``names`` hold: a record's metric names or a summary's ``*_mean`` columns."""
    names = {name.removesuffix("_mean") for name in names}
    if "r2" in names:
        return "regression"
    return "multilabel" if "micro_f1" in names else "multiclass" if "macro_f1" in names else "binary"


def summary_metrics(names: Iterable[str]) -> tuple[str, ...]:
    """The summary metrics of the kind ``names`` belong to (``kind_of_metrics``), the selection metric first."""
    return SUMMARY_METRICS[kind_of_metrics(names)]


THRESHOLD_RULE = ("the threshold that maximises F1 on the validation rows' hybrid view (imputed sensitive values: "
                  "public information), not a fixed 0.5")
"""How ``train_models`` chooses a binary model's decision threshold (recorded as ``metrics["threshold"]``), and a
multi-label model's threshold for each label (``label_thresholds``)."""


def f1_threshold(y_true: np.ndarray, prob: np.ndarray) -> float:
    """The decision threshold (predict positive when ``prob >= threshold``) that maximises F1 on these rows.

    Every distinct probability is a candidate cut; the best one is placed halfway to the next lower
    probability, so rows scored between the two fall on the side the best cut put them. Ties go to
    the highest threshold (fewest positive predictions). 0.5 when F1 is undefined: no rows, or no
    positive row.
    """
    y_true = np.asarray(y_true).astype(int)
    prob = np.asarray(prob, dtype=float)
    positives = int(y_true.sum())
    if len(y_true) == 0 or positives == 0:
        return 0.5
    order = np.argsort(-prob, kind="stable")
    ranked, hits = prob[order], np.cumsum(y_true[order])
    last = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])  # the last row of each distinct probability
    f1 = 2 * hits[last] / (last + 1 + positives)  # 2 TP / (predicted positive + actual positive)
    best = last[int(np.argmax(f1))]
    below = ranked[best + 1] if best + 1 < len(ranked) else 0.0
    return float((ranked[best] + below) / 2)


def binary_metrics(y_true: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """AUROC, AUPRC, accuracy, F1 (at ``threshold``) and Brier score; NaN where undefined."""
    if len(y_true) == 0:
        return dict.fromkeys(METRICS, float("nan"))
    y_true = np.asarray(y_true).astype(int)
    prob = np.asarray(prob, dtype=float)
    both_classes = len(np.unique(y_true)) == 2
    predicted = (prob >= threshold).astype(int)
    return {
        "auroc": float(roc_auc_score(y_true, prob)) if both_classes else float("nan"),
        "auprc": float(average_precision_score(y_true, prob)) if both_classes else float("nan"),
        "accuracy": float(accuracy_score(y_true, predicted)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "brier": float(brier_score_loss(y_true, prob)),
    }


def multiclass_metrics(y_true: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    """Macro one-vs-rest AUROC, accuracy and macro-F1 of ``(rows, classes)`` probabilities; NaN where undefined.

    The AUROC averages the classes that occur among ``y_true`` next to other classes (one-vs-rest
    needs both); macro-F1 averages every class that occurs in ``y_true`` or the predictions.
    """
    if len(y_true) == 0:
        return dict.fromkeys(MULTICLASS_METRICS, float("nan"))
    y_true = np.asarray(y_true).astype(int)
    prob = np.asarray(prob, dtype=float)
    predicted = prob.argmax(1)
    present = [k for k in range(prob.shape[1]) if 0 < (y_true == k).sum() < len(y_true)]
    aurocs = [roc_auc_score(y_true == k, prob[:, k]) for k in present]
    return {
        "auroc": float(np.mean(aurocs)) if aurocs else float("nan"),
        "accuracy": float(accuracy_score(y_true, predicted)),
        "macro_f1": float(f1_score(y_true, predicted, average="macro", zero_division=0)),
    }


def label_thresholds(y_true: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """A multi-label model's decision threshold per label: ``f1_threshold`` of each label's column."""
    return np.array([f1_threshold(y_true[:, k], prob[:, k]) for k in range(prob.shape[1])])


def multilabel_metrics(y_true: np.ndarray, prob: np.ndarray, thresholds: float | np.ndarray = 0.5) -> dict[str, float]:
    """Macro AUROC, micro-F1 and macro-F1 of ``(rows, labels)`` 0/1 labels and probabilities; NaN where undefined.

    F1 predicts a label when its probability reaches its threshold (``thresholds``: one, or one per label).
    The AUROC averages the labels that occur on some rows and not on others (a label with one class among
    these rows has no AUROC); ``auroc_labels`` says how many it averaged and ``labels`` how many there are.
    """
    labels = prob.shape[1] if np.ndim(prob) == 2 else 0
    if len(y_true) == 0:
        return dict.fromkeys(MULTILABEL_METRICS, float("nan")) | {"auroc_labels": 0.0, "labels": float(labels)}
    y_true = np.asarray(y_true).astype(int)
    prob = np.asarray(prob, dtype=float)
    predicted = (prob >= np.broadcast_to(thresholds, (labels,))).astype(int)
    scored = [k for k in range(labels) if 0 < y_true[:, k].sum() < len(y_true)]
    aurocs = [roc_auc_score(y_true[:, k], prob[:, k]) for k in scored]
    return {
        "auroc": float(np.mean(aurocs)) if aurocs else float("nan"),
        "micro_f1": float(f1_score(y_true, predicted, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(y_true, predicted, average="macro", zero_division=0)),
        "auroc_labels": float(len(scored)),
        "labels": float(labels),
    }


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """R², RMSE and MAE in the target's units; NaN where undefined (R² needs two rows that differ)."""
    if len(y_true) == 0:
        return dict.fromkeys(REGRESSION_METRICS, float("nan"))
    y_true = np.asarray(y_true, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    varied = len(y_true) > 1 and np.ptp(y_true) > 0
    return {
        "r2": float(r2_score(y_true, predicted)) if varied else float("nan"),
        "rmse": float(np.sqrt(np.mean((y_true - predicted) ** 2))),
        "mae": float(mean_absolute_error(y_true, predicted)),
    }


def target_metrics(kind: TargetKind, y_true: np.ndarray, prediction: np.ndarray,
                   threshold: float | np.ndarray = 0.5) -> dict[str, float]:
    """The metrics of ``kind`` from labels and ``fusiondp.task.Task.predictions`` (regression: in label units);
    ``threshold`` is a binary model's decision threshold for accuracy and F1 (multilabel: one per label)."""
    if kind == "binary":
        return binary_metrics(y_true, prediction, float(threshold))
    if kind == "multiclass":
        return multiclass_metrics(y_true, prediction)
    if kind == "multilabel":
        return multilabel_metrics(y_true, prediction, threshold)
    return regression_metrics(y_true, prediction)
