"""Empirical privacy audit: what can an attacker learn from a trained model?

Two attacks, both compared between *training* rows and *held-out* rows (real rows the model
never saw); the difference is the empirical leak.

* **Attribute inference.** The attacker knows a row's public columns, its label and its
  other sensitive values, queries the model, and guesses one sensitive value: the candidate
  that maximises the model's likelihood of the true label. Candidates are the categories of a
  categorical column, or the support set's deciles of a numeric one (accuracy = hitting the
  nearest decile). The imputer's own guess is the baseline that needs no model at all.
* **Membership inference** (loss threshold): rows with lower loss are guessed to be members;
  AUROC and the true-positive rate at 1% false positives.

The audit reads the real sensitive values of training rows: it is an evaluation you run on
your own data, and its output is not differentially private.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch.nn.functional import binary_cross_entropy_with_logits

from fusiondp.models import TabularMLP
from fusiondp.pipeline import PreparedData, fit_run
from fusiondp.train.modes import get_mode

DECILES = np.linspace(0.05, 0.95, 10)


@dataclass
class AttributeLeak:
    column: str
    candidates: int
    train_accuracy: float
    holdout_accuracy: float
    imputer_accuracy: float

    @property
    def advantage(self) -> float:
        """How much better the attack does on training rows than on rows the model never saw."""
        return self.train_accuracy - self.holdout_accuracy


@dataclass
class AuditReport:
    mode: str
    rows: int
    attribute: list[AttributeLeak]
    membership_auc: float
    membership_tpr_at_1pct_fpr: float
    notes: list[str] = field(default_factory=lambda: [
        "computed on real training rows: an evaluation of your own data, not a DP release"])

    @property
    def mean_attribute_advantage(self) -> float:
        return float(np.mean([a.advantage for a in self.attribute]))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for item, leak in zip(data["attribute"], self.attribute, strict=True):
            item["advantage"] = leak.advantage
        data["mean_attribute_advantage"] = self.mean_attribute_advantage
        return data


def _candidates(prepared: PreparedData, column: str) -> list[Any]:
    if prepared.spec.is_categorical(column):
        return [level for level in prepared.encoder.levels_[column] if level != "<missing>"]
    values = pd.to_numeric(prepared.splits.support[column], errors="coerce").dropna()
    return sorted(set(np.quantile(values, DECILES).round(6).tolist()))


def _nearest(values: pd.Series, candidates: list[Any], categorical: bool) -> np.ndarray:
    if categorical:
        index = pd.Index([str(c) for c in candidates])
        return index.get_indexer(values.astype(str))
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return np.abs(numbers[:, None] - np.asarray(candidates, dtype=float)[None, :]).argmin(1)


@torch.no_grad()
def _log_likelihood(model: TabularMLP, prepared: PreparedData, rows: pd.DataFrame, labels: torch.Tensor,
                    public_only: bool) -> torch.Tensor:
    x = torch.as_tensor(prepared.encoder.transform(rows), dtype=torch.float32, device=prepared.device)
    if public_only:
        x = x[:, prepared.tensors.public_features]
    model.eval()
    logits = model(x)[0]
    model.train()
    return -binary_cross_entropy_with_logits(logits, labels, reduction="none")


def _attack_accuracy(model: TabularMLP, prepared: PreparedData, rows: pd.DataFrame, column: str,
                     public_only: bool) -> tuple[float, float, int]:
    spec = prepared.spec
    categorical = spec.is_categorical(column)
    candidates = _candidates(prepared, column)
    observed = rows[rows[column].notna()].reset_index(drop=True)
    truth = _nearest(observed[column], candidates, categorical)
    known = truth >= 0
    observed, truth = observed[known].reset_index(drop=True), truth[known]
    positive = spec.target_classes(prepared.splits.train[spec.target])[1]
    labels = torch.as_tensor((observed[spec.target] == positive).to_numpy(dtype=float), dtype=torch.float32,
                             device=prepared.device)
    scores = torch.stack([
        _log_likelihood(model, prepared, observed.assign(**{column: candidate}), labels, public_only)
        for candidate in candidates
    ], dim=1)
    guesses = scores.argmax(1).cpu().numpy()
    imputed = prepared.fitted_imputer.transform(observed[[*spec.public, spec.target]])[column]
    imputer_guess = _nearest(imputed, candidates, categorical)
    return float((guesses == truth).mean()), float((imputer_guess == truth).mean()), len(candidates)


def _membership(model: TabularMLP, prepared: PreparedData, public_only: bool) -> tuple[float, float]:
    tensors = prepared.tensors
    members, outsiders = tensors.x_real, tensors.x_test
    if public_only:
        members, outsiders = members[:, tensors.public_features], outsiders[:, tensors.public_features]
    with torch.no_grad():
        model.eval()
        member_loss = binary_cross_entropy_with_logits(model(members)[0], tensors.y, reduction="none")
        outsider_loss = binary_cross_entropy_with_logits(model(outsiders)[0], tensors.y_test, reduction="none")
        model.train()
    scores = -torch.cat([member_loss, outsider_loss]).cpu().numpy()
    is_member = np.r_[np.ones(len(member_loss)), np.zeros(len(outsider_loss))]
    false_positive, true_positive, _ = roc_curve(is_member, scores)
    return float(roc_auc_score(is_member, scores)), float(np.interp(0.01, false_positive, true_positive))


def audit_model(prepared: PreparedData, model: TabularMLP, mode: str, *, rows: int = 500,
                seed: int = 0) -> AuditReport:
    """Run both attacks against ``model`` (trained in ``mode`` on ``prepared``)."""
    public_only = get_mode(mode).public_view == "public_only"
    rng = np.random.default_rng(seed)
    size = min(rows, len(prepared.splits.train), len(prepared.splits.test))
    train = prepared.splits.train.iloc[rng.choice(len(prepared.splits.train), size, replace=False)]
    holdout = prepared.splits.test.iloc[rng.choice(len(prepared.splits.test), size, replace=False)]
    leaks = []
    for column in prepared.spec.sensitive:
        train_acc, imputer_acc, n_candidates = _attack_accuracy(model, prepared, train, column, public_only)
        holdout_acc, _, _ = _attack_accuracy(model, prepared, holdout, column, public_only)
        leaks.append(AttributeLeak(column, n_candidates, train_acc, holdout_acc, imputer_acc))
    auc, tpr = _membership(model, prepared, public_only)
    return AuditReport(mode, size, leaks, auc, tpr)


def audit_grid(prepared: PreparedData, modes: list[str], epsilons: list[float], *, seed: int = 0,
               rows: int = 500) -> pd.DataFrame:
    """Train and audit every mode at every ε (non-private modes once): one row per model."""
    results = []
    for mode in modes:
        private = get_mode(mode).is_private
        for epsilon in epsilons if private else [None]:
            run_on = replace(prepared, config=prepared.config.model_copy(update={"epsilon": epsilon})) if private \
                else prepared
            record, model = fit_run(run_on, mode, seed)
            report = audit_model(run_on, model, mode, rows=rows, seed=seed)
            results.append({
                "mode": mode, "epsilon": epsilon, "epsilon_spent": record.privacy.epsilon_spent,
                "auroc": record.metrics["auroc"],
                "attribute_train_acc": float(np.mean([a.train_accuracy for a in report.attribute])),
                "attribute_holdout_acc": float(np.mean([a.holdout_accuracy for a in report.attribute])),
                "imputer_acc": float(np.mean([a.imputer_accuracy for a in report.attribute])),
                "attribute_advantage": report.mean_attribute_advantage,
                "membership_auc": report.membership_auc,
                "membership_tpr_at_1pct_fpr": report.membership_tpr_at_1pct_fpr,
                "report": report.to_dict(),
            })
    return pd.DataFrame(results)
