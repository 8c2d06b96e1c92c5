"""Every printed ε is true: relations, encoders and exports that an independent review found wrong.

Each test fails on the code the review read:
1. with a DP-synthetic support set, FusionDP's removal reference (the imputation) depends on
   the synthesizer's randomness, so training is accounted under replace-one;
2. no encoder is fitted on the private rows (dpsgd's row-level claim);
3. feature_dp names its own zero point (missing values), not FusionDP's (the imputation);
4. nothing computed from the private rows' loss leaves the training loop.
"""

from __future__ import annotations

import copy
import json

import dp_accounting
import numpy as np
import pandas as pd
import pytest
import torch
from dp_accounting.pld import PLDAccountant

from fusiondp import RunConfig, TableSpec
from fusiondp.encode import NUMERIC_ENCODINGS
from fusiondp.preparation import channels_for, prepare, prepare_splits, split_for
from fusiondp.privacy.accounting import epsilon_spent
from fusiondp.record import PrivacyLedger
from fusiondp.runs import save_results, train_run
from fusiondp.split import Splits
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


def _dp_accounting_epsilons(sigma: float, q: float, steps: int, delta: float) -> tuple[float, float]:
    """ε of ``steps`` Poisson-subsampled Gaussian steps under replace-one and add/remove, by dp-accounting's PLD."""
    relation = dp_accounting.NeighboringRelation
    event = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma))
    return tuple(PLDAccountant(r).compose(event, steps).get_epsilon(delta)  # type: ignore[return-value]
                 for r in (relation.REPLACE_ONE, relation.ADD_OR_REMOVE_ONE))


def _assert_basic_composition(ledger: PrivacyLedger, epsilon_train: float) -> None:
    """ε_total is the synthesizer's and the training's guarantees composed, written out: (ε_train + ε_syn,
    δ + δ_syn), an upper bound that no tighter route undercut here — checked from both sides. ε_syn is the
    configured budget, and the marginal synthesizer's ρ-zCDP converts to no more than it at δ_syn (the RDP
    conversion ρα + log((α−1)/α) − (log δ + log α)/(α − 1), minimised over a fine grid of orders here)."""
    assert ledger.epsilon_syn == 1.0 and ledger.rho_syn is not None and ledger.delta_syn is not None
    orders = np.linspace(1.01, 200.0, 200_000)
    converted = (ledger.rho_syn * orders + np.log((orders - 1) / orders)
                 - (np.log(ledger.delta_syn) + np.log(orders)) / (orders - 1)).min()
    assert 0.95 < converted <= ledger.epsilon_syn + 1e-9
    assert ledger.composition is not None and ledger.composition.startswith("basic")
    assert ledger.epsilon_total == pytest.approx(epsilon_train + ledger.epsilon_syn, abs=1e-9)
    assert ledger.delta_total == pytest.approx(ledger.delta + ledger.delta_syn, rel=1e-12)


@pytest.mark.slow
def test_synthetic_support_accounts_fusiondp_under_removal_as_its_reference_is_fixed(synthetic_prepared) -> None:
    """The reference is the row's sensitive values missing, fixed before training whatever the synthesizer drew
    (the imputation channels move with the draw, but a row and its neighbour share them): removal, not
    replace-one, and dp-accounting agrees on the same noise."""
    record = train_run(synthetic_prepared, "fusiondp", 0)
    ledger = record.privacy
    assert ledger.adjacency == "feature removal to missing"
    remove = epsilon_spent(ledger.sigma, ledger.sampling_rate, ledger.steps, ledger.delta, "pld", "remove")
    assert ledger.epsilon_spent == pytest.approx(remove)
    assert ledger.epsilon_spent <= ledger.epsilon_target
    theirs_replace, theirs_remove = _dp_accounting_epsilons(ledger.sigma, ledger.sampling_rate, ledger.steps,
                                                            ledger.delta)
    assert ledger.epsilon_spent == pytest.approx(theirs_remove, rel=1e-2)
    assert theirs_replace > 1.2 * ledger.epsilon_spent
    _assert_basic_composition(ledger, ledger.epsilon_spent)


@pytest.mark.slow
def test_synthetic_support_totals_feature_dp_and_dpsgd_under_their_fixed_relations(synthetic_prepared) -> None:
    feature_dp = train_run(synthetic_prepared, "feature_dp", 0).privacy
    assert feature_dp.adjacency == "feature removal to missing"  # a reference fixed before training
    dpsgd = train_run(synthetic_prepared, "dpsgd", 0).privacy
    assert dpsgd.adjacency == "row add/remove"
    # dpsgd's whole-row ε is not a statement about sensitive values next to the synthesizer's: its total
    # composes the replace-one reading of the same noise (dp-accounting's, recomputed here).
    theirs_replace, theirs_remove = _dp_accounting_epsilons(dpsgd.sigma, dpsgd.sampling_rate, dpsgd.steps,
                                                            dpsgd.delta)
    assert dpsgd.epsilon_replace == pytest.approx(theirs_replace, rel=1e-2)
    assert dpsgd.epsilon_spent == pytest.approx(theirs_remove, rel=1e-2)  # its own row relation (pld)
    _assert_basic_composition(dpsgd, dpsgd.epsilon_replace)
    assert any("protects the sensitive values only" in note and "not whole rows" in note for note in dpsgd.notes)


def fixed_splits(table: pd.DataFrame) -> Splits:
    return Splits(support=table.iloc[:300].reset_index(drop=True), train=table.iloc[300:1000].reset_index(drop=True),
                  val=table.iloc[1000:1100].reset_index(drop=True), test=table.iloc[1100:].reset_index(drop=True),
                  support_source="test: first 300 rows")


@pytest.mark.parametrize("numeric_encoding", ["auto", *NUMERIC_ENCODINGS])
def test_no_encoder_is_fitted_on_the_private_training_rows(numeric_encoding: str) -> None:
    """One training row with an unseen public category or an extreme value, or one row fewer, leaves the
    encoder unchanged, whichever way numbers are scaled (under ``auto``, each encoding's)."""
    table = small_table()
    splits = fixed_splits(table)
    settings = config(modes=["dpsgd"], numeric_encoding=numeric_encoding)
    base = prepare_splits(settings, splits)
    odd = splits.train.copy()
    odd.loc[0, "site"] = "a-town-nobody-else-lives-in"
    odd.loc[1, "age"] = 1e6
    with_odd_row = prepare_splits(settings, Splits(**{**vars(splits), "train": odd}))
    one_fewer = prepare_splits(settings,
                               Splits(**{**vars(splits), "train": splits.train.iloc[1:].reset_index(drop=True)}))
    for other in (with_odd_row, one_fewer):
        assert other.encoder.n_features == base.encoder.n_features
        assert other.encoder.state() == base.encoder.state()
        assert torch.equal(other.tensors.x_test, base.tensors.x_test)
        assert other.views.keys() == base.views.keys()
        for encoding, view in base.views.items():
            assert other.views[encoding].encoder.state() == view.encoder.state()


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
    fusiondp = train_run(prepared, "fusiondp", 0).privacy  # on a table: the same zero point, its imputation kept
    assert fusiondp.adjacency == "feature removal to missing" and "replaced by 'missing'" in fusiondp.statement


def _numbers(value: object) -> list[float]:
    """Every number in a JSON-like value."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list | tuple):
        return [n for v in value for n in _numbers(v)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [float(value)]
    return []


def _float64_private_loss(model: torch.nn.Module, weights: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                          n_public: int, batch: int, views: int, beta: float, rep_clip: float) -> float:
    """Σ_i ℓ_i of one step's sampled rows from METHOD.md §3, in float64 with autograd's modules: L(f(x_i)) for
    one view (dpsgd); L(f(x_i)) − L(f(x̃_i)) + β·min(1, C_h/‖d_i‖)²·‖d_i‖²/C_h² for two."""
    from torch.nn.functional import binary_cross_entropy_with_logits

    from fusiondp.train.ghost import row_layout

    double = copy.deepcopy(model).double()
    with torch.no_grad():
        for parameter, weight in zip(double.parameters(), weights, strict=True):
            parameter.copy_(weight[0])
        first, block, _ = row_layout(n_public, batch, views)
        labels = y[first:first + batch].double()
        logit, h = double(x[first:first + batch].double())
        loss = binary_cross_entropy_with_logits(logit.reshape(-1), labels, reduction="none")
        if views == 2:
            logit_ref, h_ref = double(x[first + block:first + block + batch].double())
            loss = loss - binary_cross_entropy_with_logits(logit_ref.reshape(-1), labels, reduction="none")
            distance = (h - h_ref).norm(dim=1)
            clipped = torch.where(distance > rep_clip, rep_clip, distance)
            loss = loss + beta * clipped**2 / rep_clip**2
    return float(loss.sum())


def test_no_unnoised_private_loss_value_leaves_training(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The history, live reports and results.json carry public losses and ε only, never Σ ℓ_i of private rows.

    Not by name but by value: the fused pass's Σ ℓ_i of every step is captured where it is computed (checked
    against a float64 computation from METHOD.md §3, so it is the private loss), and no number written
    anywhere equals an epoch's (or the run's) sum or mean of it; each epoch's public loss is the mean of the
    steps' public losses alone.
    """
    from fusiondp.train import loop

    allowed = {"mode", "seed", "epoch", "epochs", "step", "steps", "public_loss", "val_auroc", "val_r2",
               "epsilon_spent"}
    assert set(EpochReport.__dataclass_fields__) == allowed
    prepared = prepare_splits(config(), fixed_splits(small_table()))
    steps: list[dict] = []
    fused = loop.stacked_step_gradients

    def spy(model, weights, x, y, **kwargs):  # type: ignore[no-untyped-def]
        out = fused(model, weights, x, y, **kwargs)
        step = {"public": out.public_loss[0].item(), "private": out.private_loss[0].item()}
        if kwargs["batch"] and not any("float64" in s for s in steps):
            step["float64"] = _float64_private_loss(model, weights, x, y, kwargs["n_public"], kwargs["batch"],
                                                    kwargs["views"], kwargs["beta"], kwargs["rep_clip"])
        steps.append(step)
        return out

    monkeypatch.setattr(loop, "stacked_step_gradients", spy)
    reports: list[EpochReport] = []
    records, captured = [], []
    for mode in ("dpsgd", "fusiondp"):
        steps.clear()
        records.append(train_run(prepared, mode, 0, on_epoch=reports.append))
        captured.append(list(steps))
    assert all(set(entry) == allowed for record in records for entry in record.history)
    assert all(set(report.to_dict()) == allowed for report in reports)
    assert np.isnan(records[0].history[-1]["public_loss"]), "dpsgd has no public term to report"
    save_results(tmp_path, prepared, records)
    written = _numbers(json.loads((tmp_path / "results.json").read_text()))
    written += _numbers([report.to_dict() for report in reports])

    for record, run_steps in zip(records, captured, strict=True):
        assert len(run_steps) == record.privacy.steps
        checked = next(step for step in run_steps if "float64" in step)
        assert checked["private"] == pytest.approx(checked["float64"], rel=1e-5, abs=1e-4), record.mode
        statistics, start = [], 0
        for entry in record.history:
            epoch = run_steps[start:entry["step"]]
            private = [step["private"] for step in epoch]
            statistics += [sum(private), sum(private) / len(private)]
            if record.mode == "fusiondp":
                public = [step["public"] for step in epoch]
                assert entry["public_loss"] == pytest.approx(sum(public) / len(public), rel=1e-5)
            start = entry["step"]
        everything = [step["private"] for step in run_steps]
        statistics += [sum(everything), sum(everything) / len(everything)]
        assert all(abs(value) > 1e-6 for value in statistics), "a non-trivial private loss to look for"
        leaked = [(s, n) for s in statistics for n in written if n == pytest.approx(s, rel=1e-6)]
        assert not leaked, (record.mode, leaked)


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


def test_reference_view_keeps_an_imputation_the_public_columns_determine_whatever_the_private_values() -> None:
    """age is a function of a public column: λ ≈ 1 and the support rows' reference is their real encoding;
    scrambling the private rows' sensitive values (values the columns never held) changes neither."""
    table = small_table(rows=1200, seed=5)
    table["age"] = np.clip(50 + 15 * table["x"], 18, 90)  # a function of a public column
    prepared = prepare_splits(config(), fixed_splits(table))
    assert prepared.shrinkage["age"] > 0.99
    block = prepared.encoder.column_slices()["age"]
    tensors = prepared.tensors
    off = (tensors.support_reference[:, block] - tensors.support_real[:, block]).pow(2).sum()
    blank = (tensors.support_blank[:, block] - tensors.support_real[:, block]).pow(2).sum()
    assert off < 0.05 * blank, "the reference is near the real encoding, far from 'missing' (measured: 2%)"
    assert prepared.imputer_summary()["reference_shrinkage"] == pytest.approx(prepared.shrinkage, abs=1e-4)

    splits = fixed_splits(table)
    rng = np.random.default_rng(1)

    def scrambled(rows: pd.DataFrame) -> pd.DataFrame:
        return rows.assign(age=rng.uniform(-1e4, 1e4, len(rows)), group=rng.choice(["a", "zz-never-seen"], len(rows)))

    twin = prepare_splits(config(), Splits(**{**vars(splits), **{part: scrambled(getattr(splits, part))
                                                                 for part in ("train", "val", "test")}}))
    assert not torch.equal(twin.tensors.x_real, tensors.x_real), "the scramble reaches the private rows"
    assert twin.shrinkage == prepared.shrinkage
    assert torch.equal(twin.tensors.x_reference, tensors.x_reference)
    assert torch.equal(twin.tensors.support_reference, tensors.support_reference)
    for part in ("train", "val", "test", "support"):  # the imputation channels fusiondp's model reads
        assert torch.equal(getattr(twin.tensors.channels, part), getattr(tensors.channels, part)), part


@pytest.mark.parametrize("factor", [1.0, 1.5, -1.0])
def test_shrinkage_of_given_imputations_is_the_hand_computed_least_squares_value(tmp_path, factor: float) -> None:
    """The user's imputations of age are its real values with their distance to the fill value (the support
    median) times ``factor``. λ_age, computed here by hand from the support rows' raw ages and the encoding's
    documented formula (standardised by the support mean and std, clipped to ±5 std, a missing indicator
    after it), is 1 for exact imputations, (kS + n)/(k²S + n) in general, and 0 for reflected ones — whose
    reference is then exactly the "missing" encoding. The private rows' real ages play no part."""
    table = small_table()
    table["part"] = np.select([table.index < 300, table.index < 1000, table.index < 1100],
                              ["support", "train", "val"], "test")
    support_ages = table.loc[table["part"] == "support", "age"].to_numpy(dtype=np.float64)
    fill = float(np.median(support_ages))
    imputed = table.assign(age=fill + factor * (table["age"] - fill))
    path = tmp_path / "imputed.csv"
    imputed.to_csv(path, index=False)
    run = config(split_column="part", hybrid_data=str(path))
    prepared = prepare(run, table=table)

    mean, std = support_ages.mean(), support_ages.std()

    def encoded(values: np.ndarray) -> np.ndarray:
        return np.clip((values - mean) / std, -5.0, 5.0)

    present = -np.ones(len(support_ages))  # the missing indicator: 0 (real, imputed) minus 1 (blank)
    target = np.r_[encoded(support_ages) - encoded(np.full_like(support_ages, fill)), present]
    step = np.r_[encoded(fill + factor * (support_ages - fill)) - encoded(np.full_like(support_ages, fill)), present]
    hand = float(np.clip(step @ target / (step @ step), 0.0, 1.0))
    assert {1.0: hand == 1.0, 1.5: 0.7 < hand < 0.8, -1.0: hand == 0.0}[factor]
    assert prepared.shrinkage["age"] == pytest.approx(hand, abs=1e-6)
    assert prepared.shrinkage["group"] == 1.0, "the given group is the real one: exact imputation"
    if factor == -1.0:
        block = prepared.encoder.column_slices()["age"]
        tensors = prepared.tensors
        assert torch.equal(tensors.x_reference[:, block], tensors.x_blank[:, block])

    scrambled = table.copy()
    private = scrambled["part"] == "train"
    scrambled.loc[private, "age"] = np.random.default_rng(2).uniform(-1e4, 1e4, int(private.sum()))
    twin = prepare(run, table=scrambled)
    assert not torch.equal(twin.tensors.x_real, prepared.tensors.x_real)
    assert twin.shrinkage == prepared.shrinkage
    assert torch.equal(twin.tensors.x_reference, prepared.tensors.x_reference)


def test_fusiondp_trains_on_and_is_zero_at_the_reference_its_relation_names() -> None:
    """On a table the reference is the row with its sensitive values missing beside its imputation channels: the
    removal neighbour, encoded from the table itself, is exactly that view, and its private term is exactly zero."""
    from fusiondp.train.ghost import ghost_clipped_sum
    from fusiondp.train.loop import ModeStep, TrainSettings
    from fusiondp.train.modes import get_mode

    splits = fixed_splits(small_table())
    prepared = prepare_splits(config(), splits)
    tensors = prepared.tensors
    runner = ModeStep(tensors, get_mode("fusiondp"), TrainSettings(), seed=0, sigma=1.0)
    assert runner.x_ref is runner.x_public, "the public term trains on the reference view"
    removed = splits.train.assign(age=np.nan, group=np.nan)  # the removal neighbour of every row at once
    neighbour = torch.cat((torch.as_tensor(prepared.encoder.transform(removed)), channels_for(prepared, removed)), 1)
    assert torch.equal(neighbour, runner.x_ref), "the reference view is the neighbour's real view"
    summed, _, norms = ghost_clipped_sum(runner.model, neighbour[:64], runner.x_ref[:64], tensors.y[:64],
                                         calibrated=True, beta=0.5, rep_clip=runner.rep_clip, max_norm=1.0)
    assert torch.count_nonzero(norms) == 0 and all(torch.count_nonzero(v) == 0 for v in summed.values())
    assert not torch.equal(runner.data.x_real, runner.x_ref), "the real rows do differ from their reference"
