"""The empirical audit detects memorisation when there is some, and none where there can be none."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError
from fusiondp.preparation import prepare
from fusiondp.privacy.audit import _features, _labels, _log_likelihood, _query, audit_grid, audit_model, shadow_data
from fusiondp.privacy.audit_report import MEMBERSHIP_CAVEAT, AttributeLeak, AuditReport, membership_scope
from fusiondp.privacy.audit_view import TableView, _nearest, audit_view
from fusiondp.runs import fit_run
from fusiondp.spec import TableSpec
from fusiondp.train.modes import get_mode


@pytest.fixture(scope="module")
def memorisable():
    """Labels independent of everything: a model can only do well on training rows by memorising."""
    rng = np.random.default_rng(0)
    n = 900
    table = pd.DataFrame({f"p{i}": rng.normal(size=n) for i in range(8)})
    table["secret"] = rng.choice(["a", "b", "c"], size=n)
    table["y"] = rng.integers(0, 2, size=n)
    spec = TableSpec(target="y", sensitive=("secret",), categorical=("secret",))
    config = RunConfig.build(spec=spec, imputer="gbdt", epochs=150, batch_size=32, lr=0.3, hidden=[128, 64],
                             param_bound=None, support_fraction=0.1, val_fraction=0.1, test_fraction=0.4)
    return prepare(config, table=table)


@pytest.fixture(scope="module")
def shadow(memorisable):
    return shadow_data(memorisable)


def _row_losses(model, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Per-row cross-entropy from the model's logits in float64 numpy (log(1 + e^∓z)): not the audit's code
    path, and exact in the tail of near-zero losses where the 1% FPR threshold sits."""
    model.eval()
    with torch.no_grad():
        logits = model(x)[0].double().cpu().numpy()
    model.train()
    labels = y.cpu().numpy()
    return np.where(labels == 1, np.logaddexp(0, -logits), np.logaddexp(0, logits))


def test_overfit_model_leaks_membership_and_attributes(memorisable) -> None:
    _, model = fit_run(memorisable, "sgd_ori", 0)
    report = audit_model(memorisable, model, "sgd_ori", rows=300)
    assert report.membership_auc > 0.65
    # The loss-threshold attack recomputed independently: training rows are members, test rows outsiders.
    tensors = memorisable.tensors
    members, outsiders = _row_losses(model, tensors.x_real, tensors.y), _row_losses(model, tensors.x_test,
                                                                                    tensors.y_test)
    mann_whitney = (members[:, None] < outsiders[None, :]).mean()
    assert report.membership_auc == pytest.approx(mann_whitney, abs=2e-3)
    ranked = np.sort(outsiders)
    allowed = 0.01 * len(ranked)  # 1% of outsiders wrongly accused: the TPR lies between the thresholds around it
    below, above = np.mean(members < ranked[int(np.floor(allowed))]), np.mean(members <= ranked[int(np.ceil(allowed))])
    assert below - 1e-9 <= report.membership_tpr_at_1pct_fpr <= above + 1e-9
    (leak,) = report.attribute
    assert leak.advantage > 0.05, leak
    assert 0.2 < leak.imputer_accuracy < 0.5, "the imputer cannot guess an independent attribute"
    assert leak.train_rows == leak.holdout_rows == 300
    assert report.advantage_interval()[0] > 0 and report.verdict().startswith("measurable leak")
    assert report.reading() == "measurable leak"


def test_public_only_model_cannot_leak_attributes(memorisable, shadow) -> None:
    _, model = fit_run(memorisable, "sgd_pub", 0)
    (leak,) = audit_model(memorisable, model, "sgd_pub", rows=300, shadow=shadow).attribute
    assert leak.candidates == 3
    assert abs(leak.advantage) < 0.1
    assert abs(leak.learned_advantage) < 0.1, leak


def test_shadow_attacks_detect_the_overfit_model(memorisable, shadow) -> None:
    """The learned attack is fitted on the shadow's members only, never on the audited training rows."""
    assert shadow.splits.sizes() == {"support": 90, "train": 90, "val": 90, "test": 90}
    audited_rows = set(memorisable.splits.train["p0"])  # continuous values: one per row
    assert not audited_rows & set(shadow.splits.train["p0"]) and not audited_rows & set(shadow.splits.test["p0"])
    _, model = fit_run(memorisable, "sgd_ori", 0)
    report = audit_model(memorisable, model, "sgd_ori", rows=300, shadow=shadow)
    (leak,) = report.attribute
    assert leak.learned_advantage > 0.08, leak
    assert leak.learned_train_accuracy > leak.imputer_accuracy + 0.08, leak
    assert report.shadow_membership_auc > 0.6
    assert report.to_dict()["mean_learned_advantage"] == pytest.approx(leak.learned_advantage)


def test_audit_without_shadow_leaves_learned_fields_empty(memorisable) -> None:
    _, model = fit_run(memorisable, "sgd_pub", 0)
    report = audit_model(memorisable, model, "sgd_pub", rows=50)
    assert np.isnan(report.shadow_membership_auc) and np.isnan(report.attribute[0].learned_advantage)


@pytest.mark.slow
def test_audit_grid_runs_non_private_modes_once(memorisable) -> None:
    """The grid's bookkeeping, not leakage: a short schedule keeps its eight trainings (shadows included) quick."""
    quick = replace(memorisable, config=memorisable.config.model_copy(update={"epochs": 20}))
    table = audit_grid(quick, ["sgd_pub", "dpsgd"], [1.0, 4.0], rows=50)
    assert list(table["mode"]) == ["sgd_pub", "dpsgd", "dpsgd"]
    assert table.loc[table["mode"] == "dpsgd", "epsilon_spent"].max() <= 4.0
    assert table["imputer_acc"].nunique() == 1, "the imputer reads no model: every model's rows get one guess"
    # Membership is bounded by ε only for row-level DP; the table says so beside the figure.
    assert list(table["membership_scope"]) == ["no guarantee", "bounded by ε (row-level DP)",
                                               "bounded by ε (row-level DP)"]


@pytest.mark.parametrize(("mode", "scope"), [
    ("sgd_ori", "no guarantee"), ("dpsgd", "bounded by ε (row-level DP)"),
    ("fusiondp", "outside the guarantee (feature-level ε)"), ("feature_dp", "outside the guarantee (feature-level ε)"),
    ("naive_fusion", "outside the guarantee (feature-level ε)"),
])
def test_membership_is_outside_a_feature_level_guarantee(mode: str, scope: str) -> None:
    """A feature-level mode trains on each row's public columns and label without noise: its ε says nothing
    about membership, and every table that shows a membership figure must say so."""
    assert membership_scope(mode) == scope
    assert "not whether the row was in the training data" in MEMBERSHIP_CAVEAT


def test_advantage_interval_is_the_normal_interval_of_two_proportions() -> None:
    leak = AttributeLeak("secret", 3, 0.6, 0.5, 0.4, train_rows=400, holdout_rows=100)
    half = 1.959964 * np.sqrt(0.6 * 0.4 / 400 + 0.5 * 0.5 / 100)
    assert leak.advantage_half_width == pytest.approx(half)
    other = AttributeLeak("other", 2, 0.5, 0.5, 0.5, train_rows=400, holdout_rows=400)
    report = AuditReport("fusiondp", 400, [leak, other], 0.5, 0.01)
    low, high = report.advantage_interval()
    mean_half = (half + other.advantage_half_width) / 2  # the columns share rows: a conservative half-width
    assert (low, high) == pytest.approx((0.05 - mean_half, 0.05 + mean_half))
    assert report.verdict().startswith("no measurable leak: advantage +0.050, 95% interval")
    assert report.reading() == "no measurable leak"
    assert AuditReport("fusiondp", 4, [AttributeLeak("old", 2, 0.5, 0.5, 0.5)], 0.5, 0.01).reading() is None
    assert report.to_dict()["mean_attribute_advantage_interval"] == pytest.approx([low, high])
    assert np.isnan(AttributeLeak("old", 2, 0.5, 0.5, 0.5).advantage_half_width), "rows unknown: no interval"


def test_an_attack_below_the_imputer_is_flagged_for_explaining() -> None:
    below = AuditReport("fusiondp", 100, [AttributeLeak("race", 6, 0.2, 0.2, 0.4, train_rows=100,
                                                        holdout_rows=100)], 0.5, 0.01)
    level = AuditReport("fusiondp", 100, [AttributeLeak("race", 6, 0.38, 0.38, 0.4, train_rows=100,
                                                        holdout_rows=100)], 0.5, 0.01)
    assert below.below_imputer and not level.below_imputer


def test_batched_queries_and_remembered_imputations_answer_as_one_query_per_candidate() -> None:
    """Issue 29.13 (the audit took 13× training): every candidate is encoded in one call and the imputer's guess is
    imputed once per rows for every model; the attack's scores and the baseline's guesses must not change."""
    rng = np.random.default_rng(1)
    n = 600
    table = pd.DataFrame({f"p{i}": rng.normal(size=n) for i in range(4)})
    table["secret"] = rng.choice(["a", "b", "c"], size=n)
    table["income"] = table["p0"] * 2 + rng.normal(size=n)
    table["y"] = (table["p1"] + (table["secret"] == "a") > 0.5).astype(int)
    spec = TableSpec(target="y", sensitive=("secret", "income"), categorical=("secret",))
    prepared = prepare(RunConfig.build(spec=spec, imputer="gbdt", epochs=2, support_fraction=0.2), table=table)
    _, model = fit_run(prepared, "fusiondp", 0)  # reads the imputation channels too
    mode = get_mode("fusiondp")
    view = audit_view(prepared)
    rows = prepared.splits.train.iloc[:120]
    for column in ("secret", "income"):
        candidates = view.candidates(column)
        queries = _query(model, view, rows, column, candidates, mode)
        labels = _labels(prepared, queries.rows)
        one_by_one = torch.stack([_log_likelihood(model, prepared, _features(view, queries.rows, (column, value)),
                                                  labels, mode, queries.rows) for value in candidates], dim=1).numpy()
        np.testing.assert_allclose(queries.scores, one_by_one, rtol=1e-6, atol=1e-6)
        inputs = queries.rows[[*prepared.spec.public, spec.target]]
        direct = prepared.fitted_imputer.transform(inputs)[column]
        expected = TableView(prepared).baseline_guess(queries.rows, column, candidates)
        assert (view.baseline_guess(queries.rows, column, candidates) == expected).all()
        assert (expected == _nearest(direct, candidates, column == "secret")).all()
    steps: list[tuple[str, float]] = []
    audit_model(prepared, model, "fusiondp", rows=100, progress=lambda step, done: steps.append((step, done)))
    assert steps == [("attacking secret", 0.0), ("attacking income", 0.5), ("done", 1.0)]


@pytest.mark.parametrize(("config", "rows"), [
    (RunConfig.build(spec=TableSpec(target="y", sensitive=["a"])), "the support and validation rows"),
    (RunConfig.build(text={"text_column": "note", "target": "y"}), "the support notes"),
])
def test_a_shadow_without_every_class_is_refused_naming_the_rows_it_was_drawn_from(
        monkeypatch: pytest.MonkeyPatch, config: RunConfig, rows: str) -> None:
    """A table's shadow is drawn from the support and validation rows, the notes' from the support notes
    (``Modality.shadow_rows``): the refusal says which."""
    from types import SimpleNamespace

    from fusiondp.privacy import audit

    splits = SimpleNamespace(support=pd.DataFrame({"y": ["a"]}), val=pd.DataFrame({"y": ["b"]}))
    audited = SimpleNamespace(config=config, splits=splits, spec="audited",
                              tensors=SimpleNamespace(task=SimpleNamespace(kind="multiclass")))
    own = SimpleNamespace(spec="shadow", splits=splits)
    monkeypatch.setattr(audit, "training_task", lambda spec, splits: (None, ["a", "b", "c"] if spec == "audited"
                                                                      else ["a", "b"]))
    with pytest.raises(ConfigError, match=f"a class is too rare in {rows} for the learned attacks"):
        audit._check_shadow_classes(audited, own)
