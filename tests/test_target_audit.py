"""The audit on multi-class, multi-label and regression targets: membership inference ranks rows by the kind's
own per-row loss (checked against an independent numpy recomputation), and the attribute attack finds memorisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import logsumexp

from fusiondp.config import RunConfig
from fusiondp.errors import DataError
from fusiondp.preparation import prepare
from fusiondp.prepared import PreparedData
from fusiondp.privacy.audit import audit_model, shadow_data
from fusiondp.runs import fit_run
from fusiondp.spec import TableSpec
from fusiondp.task import HUBER_DELTA


def _memorisable(kind: str) -> PreparedData:
    """Labels independent of everything: a model can only fit its training rows by memorising them."""
    rng = np.random.default_rng(1)
    n = 900
    table = pd.DataFrame({f"p{i}": rng.normal(size=n) for i in range(8)})
    table["secret"] = rng.choice(["a", "b", "c"], size=n)
    if kind == "multiclass":
        table["y"] = rng.integers(0, 3, size=n)
    elif kind == "multilabel":
        table["y"] = [";".join(label for label in "ABCD" if rng.random() < 0.4) or None for _ in range(n)]
    else:
        table["y"] = 120 + 15 * rng.normal(size=n)
    spec = TableSpec(target="y", sensitive=("secret",), categorical=("secret",),
                     target_kind="multilabel" if kind == "multilabel" else None)
    config = RunConfig.build(spec=spec, imputer="gbdt", epochs=150, batch_size=32, lr=0.3, hidden=[128, 64],
                             param_bound=None, support_fraction=0.1, val_fraction=0.1, test_fraction=0.4)
    prepared = prepare(config, table=table)
    assert prepared.tensors.task.kind == kind
    return prepared


@pytest.fixture(scope="module", params=["multiclass", "multilabel", "regression"])
def memorisable(request: pytest.FixtureRequest) -> PreparedData:
    return _memorisable(request.param)


def _row_losses(prepared: PreparedData, model, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """The kind's per-row loss from the model's outputs in float64 numpy, not through the audit's code:
    log-sum-exp minus the true class's logit, the sum over labels of log(1 + e^(∓z)), or the Huber loss of the
    standardised label's residual."""
    model.eval()
    with torch.no_grad():
        output = model(x)[0].double().cpu().numpy()
    model.train()
    labels = y.double().cpu().numpy()
    if prepared.tensors.task.kind == "multiclass":
        return logsumexp(output, axis=1) - output[np.arange(len(labels)), labels.astype(int)]
    if prepared.tensors.task.kind == "multilabel":
        return np.logaddexp(0, (1 - 2 * labels) * output).sum(1)
    residual = np.abs(output - labels)
    return np.where(residual <= HUBER_DELTA, residual**2 / 2, HUBER_DELTA * (residual - HUBER_DELTA / 2))


@pytest.mark.slow
def test_membership_ranks_rows_by_the_kind_loss_and_the_attack_finds_memorisation(memorisable) -> None:
    _, model = fit_run(memorisable, "sgd_ori", 0)
    report = audit_model(memorisable, model, "sgd_ori", rows=300)
    tensors = memorisable.tensors
    members = _row_losses(memorisable, model, tensors.x_real, tensors.y)
    outsiders = _row_losses(memorisable, model, tensors.x_test, tensors.y_test)
    # The loss-threshold AUC is the Mann-Whitney statistic of "lower loss = member", ties counting one half.
    lower, tied = members[:, None] < outsiders[None, :], members[:, None] == outsiders[None, :]
    assert report.membership_auc == pytest.approx((lower + tied / 2).mean(), abs=1e-6)
    assert report.membership_auc > 0.65, "an overfit model's training rows have visibly lower loss"
    ranked = np.sort(outsiders)
    allowed = 0.01 * len(ranked)
    below, above = np.mean(members < ranked[int(np.floor(allowed))]), np.mean(members <= ranked[int(np.ceil(allowed))])
    assert below - 1e-9 <= report.membership_tpr_at_1pct_fpr <= above + 1e-9
    (leak,) = report.attribute
    assert leak.candidates == 3 and leak.train_rows == leak.holdout_rows == 300
    assert leak.advantage > 0.05, leak
    assert 0.2 < leak.imputer_accuracy < 0.5, "the imputer cannot guess an independent attribute"


@pytest.mark.slow
def test_public_only_model_leaks_no_attribute_and_the_shadow_auc_is_recomputed(
        memorisable, monkeypatch: pytest.MonkeyPatch) -> None:
    """The calibrated membership AUC, recomputed from the two models' outputs in float64 numpy: a row's score
    is the shadow model's loss minus the audited model's, and the AUC the Mann-Whitney statistic of "higher
    score = member" (training rows against test rows, ties counting one half)."""
    from fusiondp.privacy import audit

    _, model = fit_run(memorisable, "sgd_pub", 0)
    shadows = []
    fit = audit.fit_run

    def keep_shadow(prepared: PreparedData, mode: str, seed: int, **kwargs: object):  # type: ignore[no-untyped-def]
        record, trained = fit(prepared, mode, seed, **kwargs)
        shadows.append((prepared, trained))
        return record, trained

    monkeypatch.setattr(audit, "fit_run", keep_shadow)
    report = audit_model(memorisable, model, "sgd_pub", rows=300, shadow=shadow_data(memorisable))
    (leak,) = report.attribute
    assert abs(leak.advantage) < 0.1 and abs(leak.learned_advantage) < 0.1, leak

    (shadow, shadow_model), = shadows
    assert shadow.encoder.state() == memorisable.encoder.state(), "one support set: one encoding of the rows"
    tensors = memorisable.tensors
    public = tensors.public_features  # sgd_pub reads the public columns only
    scores = [_row_losses(memorisable, shadow_model, x[:, public], y) - _row_losses(memorisable, model, x[:, public], y)
              for x, y in ((tensors.x_real, tensors.y), (tensors.x_test, tensors.y_test))]
    members, outsiders = scores
    higher, tied = members[:, None] > outsiders[None, :], members[:, None] == outsiders[None, :]
    assert report.shadow_membership_auc == pytest.approx((higher + tied / 2).mean(), abs=1e-6)


def test_a_support_set_missing_a_class_is_refused_before_any_model_or_shadow_trains() -> None:
    rng = np.random.default_rng(2)
    n = 600
    table = pd.DataFrame({"p": rng.normal(size=n), "secret": rng.choice(["a", "b"], size=n)})
    table["y"] = np.where(np.arange(n) % 60 == 0, "rare", rng.choice(["x", "z"], size=n))
    spec = TableSpec(target="y", sensitive=("secret",), categorical=("secret",))
    config = RunConfig.build(spec=spec, imputer="gbdt", epochs=1, support_fraction=0.1, split_column="part")
    table["part"] = np.where(np.arange(n) < 60, "support", np.where(np.arange(n) < 400, "train",
                                                                   np.where(np.arange(n) < 450, "val", "test")))
    table.loc[table["part"].isin(["support", "val"]) & (table["y"] == "rare"), "y"] = "x"
    # Classes are read from the support set (a training row's label is private under dpsgd), so the audited
    # model and its shadow, fitted with the same support set, always code the same classes.
    with pytest.raises(DataError, match="the support set has no row of class 'rare'"):
        prepare(config, table=table)
