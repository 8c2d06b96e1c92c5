"""Empirical privacy audit: what can an attacker learn from a trained model?

Three attacks, each compared between *training* rows and *held-out* rows (real rows the model
never saw); the difference is the empirical leak.

* **Attribute inference.** The attacker knows a row's public columns, its label and its
  other sensitive values, queries the model, and guesses one sensitive value: the candidate
  that maximises the model's likelihood of the true label. Candidates are the categories of a
  categorical column, or the support set's deciles of a numeric one (accuracy = hitting the
  nearest decile). The imputer's own guess is the baseline that needs no model at all.
* **Learned attribute inference.** A shadow model is trained with the same mode and settings on
  rows the attacker knows in full (the support and validation rows: half of them as its
  members). An attack classifier learns, on the shadow's members, how a trained model's
  per-candidate likelihoods (plus the public columns and the label) reveal the sensitive value;
  it is then applied to the audited model's training and held-out rows. Unlike the
  likelihood argmax it can learn *how much* to trust the model against the public prior.
* **Membership inference** (loss threshold): rows with lower loss are guessed to be members;
  AUROC and the true-positive rate at 1% false positives. The shadow variant calibrates each
  row's loss by the shadow model's loss on the same row (a model that never saw it), so rows
  that are simply easy no longer look like members.

Every target kind is attacked with its own training loss (``fusiondp.task.Task.losses``): the
per-row loss ranks members, and its negative is the likelihood the attribute attack maximises
(binary and softmax cross-entropy; for regression the Huber loss of the support-standardised
label, the log-density of the Huber distribution the model was fitted under, up to a constant).

The audit reads the real sensitive values of training rows: it is an evaluation you run on
your own data, and its output is not differentially private.

Which attack a mode's ε speaks to: attribute inference on the sensitive columns, for every DP
mode; membership only for row-level DP (dpsgd). A feature-level ε (fusiondp, feature_dp,
naive_fusion) bounds what the model reveals about one row's sensitive values, not whether the
row was trained on: their membership figures are shown with ``membership_scope`` beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.nn.functional import softplus

from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError
from fusiondp.metrics import selection_metric
from fusiondp.modality import modality_of
from fusiondp.models import TabularMLP
from fusiondp.preparation import prepare_splits
from fusiondp.prepared import PreparedData, label_tensor, torch_threads, training_task
from fusiondp.privacy.audit_report import AttributeLeak, AuditReport, membership_scope
from fusiondp.privacy.audit_view import AuditView, TableView, audit_view
from fusiondp.runs import fit_run, model_inputs
from fusiondp.split import Splits
from fusiondp.task import BINARY, Task
from fusiondp.train.modes import Mode, get_mode


def real_features(prepared: PreparedData, rows: pd.DataFrame) -> torch.Tensor:
    """``rows``' real view as the models of ``prepared`` read it (table rows or notes), on its device."""
    return _features(audit_view(prepared), rows)


def _features(view: AuditView, rows: pd.DataFrame, guess: tuple[str, Any] | None = None) -> torch.Tensor:
    return torch.as_tensor(view.encode(rows, guess), dtype=torch.float32, device=view.prepared.device)


@torch.no_grad()
def _log_likelihood(model: TabularMLP, prepared: PreparedData, x: torch.Tensor, labels: torch.Tensor, mode: Mode,
                    rows: pd.DataFrame) -> torch.Tensor:
    x = model_inputs(prepared, mode, x, rows)
    model.eval()
    logits = model(x)[0]
    model.train()
    return -prepared.tensors.task.losses(logits, labels)


def _labels(prepared: PreparedData, rows: pd.DataFrame) -> torch.Tensor:
    """``rows``' labels as the audited model was trained on them (``fusiondp.prepared.label_tensor``)."""
    _, classes = training_task(prepared.spec, prepared.splits)
    return label_tensor(prepared.tensors.task, classes, rows[prepared.spec.target], prepared.device)


@dataclass
class _Queries:
    """Rows with an observed value of one sensitive feature, what the attacker knows, and the model's answers."""

    rows: pd.DataFrame
    truth: np.ndarray
    """Index of the (nearest) candidate of each row's real value."""
    scores: np.ndarray
    """Log-likelihood of the row's true label with each candidate filled in: rows × candidates."""


def _candidate_features(view: AuditView, rows: pd.DataFrame, column: str, candidates: list[Any]) -> torch.Tensor:
    """``rows`` with each candidate value of ``column`` filled in, candidate after candidate (candidates × rows).

    A table is encoded in one call over the stacked copies: the encoder reads each row alone, so one call gives
    what one call per candidate gives, at a fraction of the cost (most of an encoding's time is per call)."""
    if isinstance(view, TableView):
        stacked = pd.concat([rows.assign(**{column: candidate}) for candidate in candidates], ignore_index=True)
        return _features(view, stacked)
    return torch.cat([_features(view, rows, (column, candidate)) for candidate in candidates])


def _query(model: TabularMLP, view: AuditView, rows: pd.DataFrame, column: str, candidates: list[Any],
           mode: Mode) -> _Queries:
    prepared = view.prepared
    observed, truth = view.observed(rows, column, candidates)
    if not len(truth):  # e.g. no attacked note has a span of this type
        return _Queries(observed, truth, np.zeros((0, len(candidates))))
    labels = _labels(prepared, observed)
    repeated = labels.repeat(len(candidates), *([1] * (labels.dim() - 1)))
    scores = _log_likelihood(model, prepared, _candidate_features(view, observed, column, candidates), repeated,
                             mode, observed)
    return _Queries(observed, truth, scores.reshape(len(candidates), len(truth)).T.cpu().numpy())


def _attack_accuracy(model: TabularMLP, view: AuditView, rows: pd.DataFrame, column: str,
                     mode: Mode, with_baseline: bool = True) -> tuple[float, float, int, int]:
    """The attack's and the model-free baseline's accuracy (NaN without ``with_baseline``: the baseline reads no
    model, and an imputation is the costliest part of an attack), the number of candidates, and the rows attacked."""
    candidates = view.candidates(column)
    queries = _query(model, view, rows, column, candidates, mode)
    if not len(queries.truth):
        return float("nan"), float("nan"), len(candidates), 0
    guesses = queries.scores.argmax(1)
    baseline = float("nan")
    if with_baseline:
        baseline = float((view.baseline_guess(queries.rows, column, candidates) == queries.truth).mean())
    return float((guesses == queries.truth).mean()), baseline, len(candidates), len(queries.truth)


def _attack_features(view: AuditView, queries: _Queries) -> np.ndarray:
    """What the learned attack sees: the likelihoods relative to the best candidate, public features, label
    (binary: 0/1; multi-class: one-hot; multi-label: the 0/1 row; regression: the standardised value).

    Public features are encoded with the audited data's encoder for the shadow's rows too, so
    both sides of the attack share one feature layout.
    """
    prepared = view.prepared
    public = view.public(queries.rows)
    task = prepared.tensors.task
    label = _labels(prepared, queries.rows).cpu().numpy()
    if task.kind == "multiclass":
        label = np.eye(task.classes)[label.astype(int)]
    elif label.ndim == 1:
        label = label[:, None]
    relative = queries.scores - queries.scores.max(1, keepdims=True)
    return np.hstack([relative, public, label])


def _learned_attack(shadow: tuple[AuditView, TabularMLP], target: tuple[AuditView, TabularMLP],
                    column: str, train: pd.DataFrame, holdout: pd.DataFrame, mode: Mode,
                    seed: int) -> tuple[float, float]:
    """Fit the attack on the shadow's members (values known), score it on the audited model's rows."""
    (shadow_view, shadow_model), (view, model) = shadow, target
    candidates = view.candidates(column)
    known = _query(shadow_model, shadow_view, shadow_view.prepared.splits.train, column, candidates, mode)
    if len(np.unique(known.truth)) < 2:
        return float("nan"), float("nan")
    attack = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    attack.fit(_attack_features(view, known), known.truth)
    accuracy = []
    for rows in (train, holdout):
        queries = _query(model, view, rows, column, candidates, mode)
        accuracy.append(float((attack.predict(_attack_features(view, queries)) == queries.truth).mean()))
    return accuracy[0], accuracy[1]


@torch.no_grad()
def row_loss(logits: torch.Tensor, labels: torch.Tensor, task: Task = BINARY) -> torch.Tensor:
    """Per-row training loss in float64: binary cross-entropy, log(1 + e^(∓z)), as softplus; the other
    kinds' ``Task.losses`` (softmax cross-entropy, the sum of the labels' binary cross-entropies, Huber) on
    float64 outputs and labels.

    The loss-threshold attack ranks rows by loss, and its TPR at 1% FPR is decided among the
    most confidently fitted rows. float32 cross-entropy rounds their losses to exactly 0 (from
    |z| ≈ 17), so members and outsiders tie there and the attack is understated; softplus in
    float64 keeps the order (log1p(e^-40) ≈ 4e-18 is representable).
    """
    if task.kind != "binary":
        return task.losses(logits.double(), labels.double())
    signed = (1 - 2 * labels.double()) * logits.double()
    return softplus(signed)


def _losses(model: TabularMLP, prepared: PreparedData, mode: Mode) -> tuple[np.ndarray, np.ndarray]:
    """Per-row loss of the audited data's training rows (members) and test rows (outsiders)."""
    tensors, splits, stored = prepared.tensors, prepared.splits, prepared.tensors.channels
    members = model_inputs(prepared, mode, tensors.x_real, splits.train, None if stored is None else stored.train)
    outsiders = model_inputs(prepared, mode, tensors.x_test, splits.test, None if stored is None else stored.test)
    model.eval()
    member_loss = row_loss(model(members)[0], tensors.y, tensors.task)
    outsider_loss = row_loss(model(outsiders)[0], tensors.y_test, tensors.task)
    model.train()
    return member_loss.cpu().numpy(), outsider_loss.cpu().numpy()


@torch.no_grad()
def _reference_losses(shadow_model: TabularMLP, shadow: PreparedData, prepared: PreparedData,
                      mode: Mode) -> tuple[np.ndarray, np.ndarray]:
    """The shadow model's loss on the audited training and test rows, none of which it trained on."""
    tensors = prepared.tensors
    losses = []
    for rows, labels in ((prepared.splits.train, tensors.y), (prepared.splits.test, tensors.y_test)):
        x = model_inputs(shadow, mode, real_features(shadow, rows), rows)
        shadow_model.eval()
        losses.append(row_loss(shadow_model(x)[0], labels, tensors.task).cpu().numpy())
        shadow_model.train()
    return losses[0], losses[1]


def _auc_and_tpr(member_scores: np.ndarray, outsider_scores: np.ndarray) -> tuple[float, float]:
    """AUROC and TPR at 1% FPR of "higher score = member"."""
    scores = np.r_[member_scores, outsider_scores]
    is_member = np.r_[np.ones(len(member_scores)), np.zeros(len(outsider_scores))]
    false_positive, true_positive, _ = roc_curve(is_member, scores)
    return float(roc_auc_score(is_member, scores)), float(np.interp(0.01, false_positive, true_positive))


def _membership(model: TabularMLP, prepared: PreparedData, mode: Mode) -> tuple[float, float]:
    member_loss, outsider_loss = _losses(model, prepared, mode)
    return _auc_and_tpr(-member_loss, -outsider_loss)


def _calibrated_membership(model: TabularMLP, prepared: PreparedData, shadow_model: TabularMLP,
                           shadow: PreparedData, mode: Mode) -> tuple[float, float]:
    """Score = shadow loss − audited loss: how much *lower* than a non-member model's the row's loss is."""
    member_loss, outsider_loss = _losses(model, prepared, mode)
    member_reference, outsider_reference = _reference_losses(shadow_model, shadow, prepared, mode)
    return _auc_and_tpr(member_reference - member_loss, outsider_reference - outsider_loss)


def shadow_data(prepared: PreparedData, seed: int = 0) -> PreparedData:
    """The attacker's own training set: half of the support ∪ validation rows (the other half held out).

    These are the rows whose sensitive values an attacker could plausibly hold. Imputer and
    support set are the audited data's, so the shadow is trained as the audited model was.
    It depends on the data only, so ``audit_grid`` builds it once for every mode and ε.

    Another modality's data says which rows those are (``Modality.shadow_rows``; notes: the support
    notes only).
    """
    splits = prepared.splits
    known, named = _known_rows(prepared)
    known = known.reset_index(drop=True)
    order = np.random.default_rng(seed).permutation(len(known))
    half = len(known) // 2
    members, outsiders = known.iloc[order[:half]], known.iloc[order[half:]]
    shadow_splits = Splits(support=splits.support, train=members, val=outsiders, test=outsiders,
                           support_source=f"audit shadow: half of {named}", target_kind=splits.target_kind)
    return prepare_splits(_shadow_config(prepared.config, half), shadow_splits)


def _known_rows(prepared: PreparedData) -> tuple[pd.DataFrame, str]:
    """The rows whose sensitive values an attacker could plausibly hold, and what they are in words: a table's
    support and validation rows, another modality's own (``Modality.shadow_rows``)."""
    modality = modality_of(prepared.config)
    if modality is not None:
        return modality.shadow_rows(prepared.splits)
    return pd.concat([prepared.splits.support, prepared.splits.val]), "the support and validation rows"


def _shadow_config(config: RunConfig, rows: int) -> RunConfig:
    """The audited run's settings, with the batch capped by the shadow's (smaller) training set."""
    return config.model_copy(update={"batch_size": min(config.batch_size, rows)})


AuditProgress = Callable[[str, float], None]
"""Hears what one model's audit does now and the share of it done (0 to 1): one step per attacked feature, and
one for the shadow model when there is one."""


def audit_model(prepared: PreparedData, model: TabularMLP, mode: str, *, rows: int = 500,
                seed: int = 0, shadow: PreparedData | None = None,
                progress: AuditProgress | None = None) -> AuditReport:
    """Run the attacks against ``model`` (trained in ``mode`` on ``prepared``).

    With ``shadow`` (see ``shadow_data``) a shadow model is trained on it in the same mode and
    at the same ε, which adds the learned attribute attack and the calibrated membership attack.
    ``progress`` hears each step (``AuditProgress``). The model is queried on the run's CPU threads
    (``RunConfig.threads``), as it was trained: a small network's queries are slower on more.
    """
    prepared, shadow = prepared.for_mode(mode), None if shadow is None else shadow.for_mode(mode)
    with torch_threads(prepared.config.threads):
        return _audit_model(prepared, model, mode, rows, seed, shadow, progress or (lambda step, fraction: None))


def _audit_model(prepared: PreparedData, model: TabularMLP, mode: str, rows: int, seed: int,
                 shadow: PreparedData | None, progress: AuditProgress) -> AuditReport:
    reads = get_mode(mode)
    view = audit_view(prepared)
    rng = np.random.default_rng(seed)
    size = min(rows, len(prepared.splits.train), len(prepared.splits.test))
    train = prepared.splits.train.iloc[rng.choice(len(prepared.splits.train), size, replace=False)]
    holdout = prepared.splits.test.iloc[rng.choice(len(prepared.splits.test), size, replace=False)]
    attacked = view.attacked()
    steps = len(attacked) + (shadow is not None)
    shadow_model = None
    if shadow is not None:
        progress("training the shadow model", 0.0)
        _check_shadow_classes(prepared, shadow)
        shadow = replace(shadow, config=_shadow_config(prepared.config, len(shadow.splits.train)))
        shadow_model = fit_run(shadow, mode, seed)[1]
    leaks = []
    for done, column in enumerate(attacked, start=shadow is not None):
        progress(f"attacking {column}", done / steps)
        train_acc, baseline_acc, n_candidates, train_rows = _attack_accuracy(model, view, train, column, reads)
        holdout_acc, _, _, holdout_rows = _attack_accuracy(model, view, holdout, column, reads,
                                                           with_baseline=False)
        if not (train_rows and holdout_rows):
            continue
        leak = AttributeLeak(column, n_candidates, train_acc, holdout_acc, baseline_acc, train_rows=train_rows,
                             holdout_rows=holdout_rows)
        if shadow_model is not None:
            leak.learned_train_accuracy, leak.learned_holdout_accuracy = _learned_attack(
                (audit_view(shadow), shadow_model), (view, model), column, train, holdout, reads, seed)
        leaks.append(leak)
    notes = view.notes([leak.column for leak in leaks])
    if not leaks:
        raise ConfigError("Nothing for the attribute attack to guess: " + "; ".join(notes) + ".")
    auc, tpr = _membership(model, prepared, reads)
    report = AuditReport(mode, size, leaks, auc, tpr, baseline=view.baseline)
    report.notes += notes
    if shadow_model is not None:
        report.shadow_membership_auc, report.shadow_membership_tpr_at_1pct_fpr = _calibrated_membership(
            model, prepared, shadow_model, shadow, reads)
    progress("done", 1.0)
    return report


def _check_shadow_classes(prepared: PreparedData, shadow: PreparedData) -> None:
    """A multi-class (multi-label) shadow must code the same classes (labels) as the audited model, or its losses
    score other classes."""
    kind = prepared.tensors.task.kind
    if kind not in ("multiclass", "multilabel"):
        return
    audited, own = training_task(prepared.spec, prepared.splits)[1], training_task(shadow.spec, shadow.splits)[1]
    if audited != own:
        one, many = ("class", "classes") if kind == "multiclass" else ("label", "labels")
        raise ConfigError(f"The shadow model's training rows hold the {many} {own}, not all of the audited model's "
                          f"{audited}: a {one} is too rare in {_known_rows(prepared)[1]} for the learned "
                          f"attacks. Audit without a shadow model, or give the support set rows of every {one}.")


def audit_grid(prepared: PreparedData, modes: list[str], epsilons: list[float], *, seed: int = 0,
               rows: int = 500, shadow: bool = True) -> pd.DataFrame:
    """Train and audit every mode at every ε (non-private modes once): one row per model.

    ``shadow`` adds one shadow model per audited model (on the attacker's half of the support
    and validation rows, so much cheaper than the audited model) for the learned attacks.
    """
    shadow_prepared = shadow_data(prepared, seed) if shadow else None
    metric = selection_metric(prepared.tensors.task.kind)  # auroc (r2 for regression): the model's test score
    results = []
    for mode in modes:
        private = get_mode(mode).is_private
        for epsilon in epsilons if private else [None]:
            run_on = replace(prepared, config=prepared.config.model_copy(update={"epsilon": epsilon})) if private \
                else prepared
            record, model = fit_run(run_on, mode, seed)
            report = audit_model(run_on, model, mode, rows=rows, seed=seed, shadow=shadow_prepared)
            results.append({
                "mode": mode, "epsilon": epsilon, "epsilon_spent": record.privacy.epsilon_spent,
                metric: record.metrics[metric], **report.summary(), "membership_scope": membership_scope(mode),
                "verdict": report.verdict(), "report": report.to_dict(),
            })
    return pd.DataFrame(results)
