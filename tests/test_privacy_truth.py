"""Every printed ε is true: relations, encoders and exports that an independent review found wrong.

Each test fails on the code the review read:
1. with a DP-synthetic support set, FusionDP's removal reference (the imputation) depends on
   the synthesizer's randomness, so training is accounted under replace-one;
2. no encoder is fitted on the private rows (dpsgd's row-level claim);
3. feature_dp names its own zero point (missing values), not FusionDP's (the imputation);
4. nothing computed from the private rows' loss leaves the training loop.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from fusiondp import RunConfig, TableSpec
from fusiondp.data import Splits
from fusiondp.pipeline import prepare, prepare_splits, save_results, split_for, train_run
from fusiondp.privacy.accounting import GaussianSteps, composed_epsilon, epsilon_spent
from fusiondp.train.loop import EpochReport

SPEC = TableSpec(target="y", sensitive=("age", "group"), categorical=("site", "group"))
DOMAINS = {"group": ["a", "b", "c"]}
BOUNDS = {"age": (18.0, 90.0)}


def small_table(rows: int = 1200, seed: int = 0) -> pd.DataFrame:
    """Public x, z, site; sensitive age (numeric) and group (categorical), both predictive of y."""
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=rows), rng.normal(size=rows)
    age = np.clip(50 + 12 * x + rng.normal(0, 8, rows), 18, 90)
    group = np.where(z > 0.5, "a", np.where(z < -0.5, "b", "c"))
    logit = 0.8 * x + 0.05 * (age - 50) + (group == "a") - 0.5
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    site = rng.choice(["north", "south", "east"], rows)
    return pd.DataFrame({"x": x, "z": z, "site": site, "age": age, "group": group, "y": y})


def config(**changes: object) -> RunConfig:
    values = {"spec": SPEC, "imputer": "gbdt", "epochs": 2, "batch_size": 64, "epsilon": 1.0, "delta": 1e-5,
              "support_fraction": 0.2, **changes}
    return RunConfig.build(**values)


@pytest.fixture(scope="module")
def synthetic_prepared():
    synthetic = config(support_source="dp_synthetic", epsilon_syn=1.0, sensitive_domains=DOMAINS,
                       sensitive_bounds=BOUNDS, accountant="pld")
    return prepare(synthetic, table=small_table())


@pytest.mark.slow
def test_synthetic_support_accounts_fusiondp_under_replace_one(synthetic_prepared) -> None:
    record = train_run(synthetic_prepared, "fusiondp", 0)
    ledger = record.privacy
    assert ledger.adjacency == "feature replace-one"
    replace = epsilon_spent(ledger.sigma, ledger.sampling_rate, ledger.steps, ledger.delta, "pld", "replace")
    assert ledger.epsilon_spent == pytest.approx(replace)
    assert ledger.epsilon_spent <= ledger.epsilon_target
    # The total can be no smaller than the training's replace-one ε or the synthesizer's ε alone …
    assert ledger.epsilon_total >= max(replace, ledger.epsilon_syn) - 1e-9
    # … and the same noise under the removal relation (what was printed before) would understate it.
    remove = epsilon_spent(ledger.sigma, ledger.sampling_rate, ledger.steps, ledger.delta, "pld", "remove")
    assert remove < replace
    assert "replace-one" in ledger.statement


@pytest.mark.slow
def test_synthetic_support_totals_feature_dp_and_dpsgd_under_their_fixed_relations(synthetic_prepared) -> None:
    feature_dp = train_run(synthetic_prepared, "feature_dp", 0).privacy
    assert feature_dp.adjacency == "feature removal to missing"  # a reference fixed before training
    dpsgd = train_run(synthetic_prepared, "dpsgd", 0).privacy
    assert dpsgd.adjacency == "row add/remove"
    # dpsgd's whole-row ε is not a statement about sensitive values next to the synthesizer's: its total
    # composes the replace-one reading of the same noise.
    training = GaussianSteps(dpsgd.sigma, dpsgd.sampling_rate, dpsgd.steps)
    replace_alone = composed_epsilon((training,), dpsgd.delta_total, "pld", "replace")
    assert dpsgd.epsilon_total >= replace_alone - 1e-9
    assert any("whole-row claim covers this training step only" in note for note in dpsgd.notes)


def fixed_splits(table: pd.DataFrame) -> Splits:
    return Splits(support=table.iloc[:300].reset_index(drop=True), train=table.iloc[300:1000].reset_index(drop=True),
                  val=table.iloc[1000:1100].reset_index(drop=True), test=table.iloc[1100:].reset_index(drop=True),
                  support_source="test: first 300 rows")


def test_no_encoder_is_fitted_on_the_private_training_rows() -> None:
    """One training row with an unseen public category, or one row fewer, leaves the encoder unchanged."""
    table = small_table()
    splits = fixed_splits(table)
    base = prepare_splits(config(modes=["dpsgd"]), splits)
    odd = splits.train.copy()
    odd.loc[0, "site"] = "a-town-nobody-else-lives-in"
    odd.loc[1, "age"] = 1e6
    with_odd_row = prepare_splits(config(modes=["dpsgd"]), Splits(**{**vars(splits), "train": odd}))
    one_fewer = prepare_splits(config(modes=["dpsgd"]),
                               Splits(**{**vars(splits), "train": splits.train.iloc[1:].reset_index(drop=True)}))
    for other in (with_odd_row, one_fewer):
        assert other.encoder.n_features == base.encoder.n_features
        assert other.encoder.state() == base.encoder.state()
        assert torch.equal(other.tensors.x_test, base.tensors.x_test)


def test_feature_dp_names_its_own_zero_point() -> None:
    """feature_dp's private term vanishes when a row's sensitive values are *missing*, and says so."""
    table = small_table()
    prepared = prepare_splits(config(), fixed_splits(table))
    missing = prepared.splits.train.assign(age=np.nan, group=None)
    encoded_missing = prepared.encoder.transform(missing)
    np.testing.assert_array_equal(encoded_missing, prepared.encoder.transform_uninformative(prepared.splits.train))
    imputed = prepared.encoder.transform(prepared.hybrid_train)
    assert not np.array_equal(encoded_missing, imputed), "missing is not the imputation: two different relations"
    ledger = train_run(prepared, "feature_dp", 0).privacy
    assert ledger.adjacency == "feature removal to missing"
    assert "replaced by 'missing'" in ledger.statement
    assert "replaced by their imputation" not in ledger.statement
    assert train_run(prepared, "fusiondp", 0).privacy.adjacency == "feature removal"


def test_no_unnoised_private_statistic_leaves_training(tmp_path) -> None:
    """The history, live reports and results.json carry public losses and ε only, never Σ ℓ_i of private rows."""
    allowed = {"mode", "seed", "epoch", "epochs", "step", "steps", "public_loss", "val_auroc", "val_r2",
               "epsilon_spent"}
    assert set(EpochReport.__dataclass_fields__) == allowed
    prepared = prepare_splits(config(), fixed_splits(small_table()))
    reports: list[EpochReport] = []
    records = [train_run(prepared, mode, 0, on_epoch=reports.append) for mode in ("dpsgd", "fusiondp")]
    assert all(set(entry) == allowed for record in records for entry in record.history)
    assert all(set(report.to_dict()) == allowed for report in reports)
    assert np.isnan(records[0].history[-1]["public_loss"]), "dpsgd has no public term to report"
    save_results(tmp_path, prepared, records)
    assert "private_loss" not in json.dumps(json.loads((tmp_path / "results.json").read_text()))


def test_split_for_reads_no_private_sensitive_value_to_type_columns() -> None:
    """A private row whose sensitive value flips the column's dtype changes neither the split nor the types."""
    table = small_table()
    config_ = config()
    splits = split_for(config_, table)
    flipped = table.copy()
    flipped["age"] = flipped["age"].astype(object)
    train_rows = table.index.difference(table.index[table["x"].isin(splits.support["x"])])
    flipped.loc[train_rows[:5], "age"] = "unknown"
    other = split_for(config_, flipped)
    pd.testing.assert_frame_equal(other.support, splits.support, check_dtype=False)
    assert prepare_splits(config_, other).spec == prepare_splits(config_, splits).spec


def test_shrinkage_factor_is_the_least_squares_lambda_found_by_search() -> None:
    """The closed-form λ per column matches a brute-force search over [0, 1] (an independent computation)."""
    from fusiondp.reference import shrinkage

    prepared = prepare_splits(config(), fixed_splits(small_table()))
    encoder, rng = prepared.encoder, np.random.default_rng(0)
    real = prepared.tensors.support_real.numpy().astype(np.float64)
    blank = prepared.tensors.support_blank.numpy().astype(np.float64)
    slices = encoder.column_slices()
    for imputed, expected in ((real, 1.0), (blank + rng.normal(0, 1, real.shape), None),
                              (blank + 2 * (real - blank), 0.5), (2 * blank - real, 0.0)):
        factors = shrinkage(encoder, real, imputed, blank)
        for column in encoder.spec.sensitive:
            block = slices[column]
            grid = np.linspace(0, 1, 2001)
            errors = [((real[:, block] - blank[:, block] - g * (imputed[:, block] - blank[:, block])) ** 2).sum()
                      for g in grid]
            assert factors[column] == pytest.approx(grid[int(np.argmin(errors))], abs=1e-3), column
            if expected is not None:
                assert factors[column] == pytest.approx(expected, abs=1e-6), column


def test_reference_view_keeps_an_imputation_the_public_columns_determine() -> None:
    table = small_table(rows=1200, seed=5)
    table["age"] = np.clip(50 + 15 * table["x"], 18, 90)  # a function of a public column
    prepared = prepare_splits(config(), fixed_splits(table))
    assert prepared.shrinkage["age"] > 0.9
    assert all(0 <= value <= 1 for value in prepared.shrinkage.values())
    assert prepared.imputer_summary()["reference_shrinkage"] == pytest.approx(prepared.shrinkage, abs=1e-4)


def test_fusiondp_trains_on_and_is_zero_at_the_reference_its_relation_names() -> None:
    from fusiondp.train.ghost import ghost_clipped_sum
    from fusiondp.train.loop import ModeStep, TrainSettings
    from fusiondp.train.modes import get_mode

    prepared = prepare_splits(config(), fixed_splits(small_table()))
    tensors = prepared.tensors
    runner = ModeStep(tensors, get_mode("fusiondp"), TrainSettings(), seed=0, sigma=1.0)
    assert runner.x_ref is tensors.x_reference and runner.x_public is tensors.x_reference
    neighbour = tensors.x_reference[:64]  # the removal neighbour: sensitive features replaced by the reference
    summed, _, norms = ghost_clipped_sum(runner.model, neighbour, tensors.x_reference[:64], tensors.y[:64],
                                         calibrated=True, beta=0.5, rep_clip=runner.rep_clip, max_norm=1.0)
    assert torch.count_nonzero(norms) == 0 and all(torch.count_nonzero(v) == 0 for v in summed.values())
    assert not torch.equal(tensors.x_real, tensors.x_reference), "the real rows do differ from their reference"
