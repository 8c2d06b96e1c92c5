"""Classification metrics on real test rows."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, brier_score_loss, f1_score, roc_auc_score

METRICS = ("auroc", "auprc", "accuracy", "f1", "brier")


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
