"""The two-stage DP synthesizer: its accounting, the stage-2 guard, determinism, output types, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError, PrivacyError
from fusiondp.preparation import prepare
from fusiondp.privacy.accounting import (
    GaussianSteps,
    compose_with_synthesizer,
    composed_epsilon,
    epsilon_spent,
)
from fusiondp.runs import train_run
from fusiondp.synth import SynthSettings, TwoStageSynthesizer, make_synthesizer, two_stage
from tests.test_synthetic_support import LEVELS, SPEC, toy_table


@pytest.fixture(autouse=True)
def short_diffusion(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stage 2 trains for 1,500 iterations in production; 150 keep these tests fast and the behaviour."""
    monkeypatch.setattr(two_stage, "DIFFUSION_ITERATIONS", 150)


def settings(epsilon: float = 1.0, seed: int = 0, **changes: object) -> SynthSettings:
    values = dict(epsilon=epsilon, delta=1e-5, domains={"group": LEVELS}, bounds={"level": (0.0, 10.0)}, seed=seed,
                  method="two_stage", epochs=3,
                  reproducible_noise=True)  # these tests compare fits: replayable noise (no DP guarantee)
    values.update(changes)
    return SynthSettings(**values)


def fit(table: pd.DataFrame, **changes: object) -> TwoStageSynthesizer:
    return TwoStageSynthesizer(SPEC, settings(**changes)).fit(table)


def test_make_synthesizer_picks_the_method() -> None:
    assert isinstance(make_synthesizer(SPEC, settings()), TwoStageSynthesizer)
    assert not isinstance(make_synthesizer(SPEC, settings(method="marginal")), TwoStageSynthesizer)


def test_composed_events_are_accounted_like_their_parts() -> None:
    train = GaussianSteps(1.2, 0.05, 200)
    assert composed_epsilon((train,), 1e-5, "rdp") == pytest.approx(epsilon_spent(1.2, 0.05, 200, 1e-5, "rdp"))
    release = GaussianSteps(4.0, 1.0, 1)
    for accountant in ("pld", "rdp"):
        both = composed_epsilon((train, release), 1e-5, accountant, "replace")
        assert both > composed_epsilon((train,), 1e-5, accountant, "replace")
        assert both > composed_epsilon((release,), 1e-5, accountant, "replace")
        assert both >= composed_epsilon((train, release), 1e-5, accountant, "remove")
    assert composed_epsilon((train, release), 1e-5, "pld", "replace") <= composed_epsilon(
        (train, release), 1e-5, "rdp", "replace")


@pytest.mark.slow
def test_synthesizer_spends_at_most_its_budget_under_every_accountant_it_reports() -> None:
    table = toy_table(800)
    for accountant in ("pld", "prv", "rdp"):
        # the diffusion stage is post-processing (no budget): left out, the spend is the same
        summary = fit(table, accountant=accountant, epochs=1, diffusion=False).summary(len(table))
        assert summary.epsilon <= 1.0 + 1e-9
        assert summary.epsilon == pytest.approx(composed_epsilon(summary.events(), 1e-5, accountant, "replace"))
        assert summary.epsilon > 0.9  # calibrated, not over-noised
        assert summary.rho is None and summary.method == "two_stage"
    assert summary.epsilon_by_accountant["pld"] <= summary.epsilon_by_accountant["rdp"]


def test_ledger_composition_is_tighter_than_basic_and_never_below_either_part() -> None:
    synth = (GaussianSteps(9.0, 0.08, 250), GaussianSteps(18.0, 1.0, 1))
    epsilon_syn = composed_epsilon(synth, 1e-5, "pld", "replace")
    epsilon_train = epsilon_spent(3.0, 0.04, 300, 1e-5, "rdp")
    total = compose_with_synthesizer(epsilon_train, 1e-5, epsilon_syn, 1e-5, None, synth_events=synth, sigma=3.0,
                                     q=0.04, steps=300, accountant="rdp")
    assert total.epsilon < epsilon_train + epsilon_syn == total.basic_epsilon
    assert total.epsilon >= max(epsilon_train, epsilon_syn) - 1e-6
    assert total.delta == 2e-5 and total.method.startswith("PLD")
    only_synth = compose_with_synthesizer(0.0, 1e-5, epsilon_syn, 1e-5, None, synth_events=synth)
    assert only_synth.epsilon == epsilon_syn


@pytest.mark.slow
def test_stage_two_never_receives_private_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything after stage 1 is a function of stage 1's DP release and public columns only.

    Fix stage 1's output, then scramble the private sensitive values: the stage-2 model,
    the latents and the synthetic rows must not change. A spy also checks what stage 2 gets.
    """
    table = toy_table(600)
    scrambled = table.assign(group=table.group.sample(frac=1, random_state=1).to_numpy(), level=10 - table.level)
    release = fit(table).release_
    received: list[tuple[object, ...]] = []
    real_stage_two = two_stage.train_latent_diffusion

    def spy(*args: object) -> object:
        received.append(args)
        return real_stage_two(*args)

    monkeypatch.setattr(TwoStageSynthesizer, "_privacy_encoding", lambda self, train, public, generator: release)
    monkeypatch.setattr(two_stage, "train_latent_diffusion", spy)
    samples = [fit(frame).sample(frame) for frame in (table, scrambled)]
    pd.testing.assert_frame_equal(samples[0], samples[1])
    mixture, public, seed = received[0]
    assert isinstance(mixture, two_stage.LatentMixture) and isinstance(seed, int)
    assert public.shape == (len(table), 2)  # the public columns x and z only
    np.testing.assert_array_equal(public, received[1][1])


@pytest.mark.slow
def test_private_values_do_reach_stage_one() -> None:
    """The guard above must be able to fail: without the fixed release, scrambling changes the output."""
    table = toy_table(600)
    scrambled = table.assign(group=table.group.sample(frac=1, random_state=1).to_numpy(), level=10 - table.level)
    assert not fit(table).sample(table).equals(fit(scrambled).sample(scrambled))


@pytest.mark.slow
def test_same_seed_same_rows_other_seed_other_rows() -> None:
    """Replayable noise follows the seed; secret noise (the default) differs from fit to fit."""
    table = toy_table(600)
    pd.testing.assert_frame_equal(fit(table, seed=3).sample(table), fit(table, seed=3).sample(table))
    assert not fit(table, seed=3).sample(table).equals(fit(table, seed=4).sample(table))
    secret = [fit(table, seed=3, reproducible_noise=False).sample(table) for _ in range(2)]
    assert not secret[0].equals(secret[1])


def test_synthetic_rows_have_the_declared_types_and_keep_public_columns() -> None:
    table = toy_table(600)
    table.loc[:49, "group"] = "secret-category"
    table.loc[50:99, "level"] = np.nan
    synthetic = fit(table).sample(table)
    assert list(synthetic.columns) == list(table.columns)
    assert set(synthetic.group) <= set(LEVELS)
    assert synthetic.level.between(0, 10).all() and synthetic.level.notna().all()
    assert pd.api.types.is_float_dtype(synthetic.level)
    pd.testing.assert_frame_equal(synthetic[["x", "z", "y"]], table[["x", "z", "y"]])


@pytest.mark.slow
def test_a_large_budget_learns_the_dependence_on_public_columns() -> None:
    table = toy_table(2000)
    synthetic = TwoStageSynthesizer(SPEC, settings(epsilon=50.0, epochs=30)).fit(table).sample(table)
    assert np.corrcoef(synthetic.x, synthetic.level)[0, 1] > 0.5
    low, high = synthetic.x < 1, synthetic.x >= 2
    assert (synthetic.group[low] == "a").mean() > 0.5 and (synthetic.group[high] == "c").mean() > 0.5


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="bounds of 'level'"):
        TwoStageSynthesizer(SPEC, settings(bounds={}))
    with pytest.raises(ConfigError, match="categories of 'group'"):
        TwoStageSynthesizer(SPEC, settings(domains={}))
    for epsilon in (0.0, -1.0, float("nan")):
        with pytest.raises(PrivacyError, match="ε_syn"):
            TwoStageSynthesizer(SPEC, settings(epsilon=epsilon))
    with pytest.raises(PrivacyError, match="cannot be met"):
        TwoStageSynthesizer(SPEC, settings(epsilon=1e-6, delta=1e-12)).fit(toy_table(300))
    with pytest.raises(ConfigError):
        RunConfig.build(support_source="dp_synthetic", synthesizer="two_stage", synth_latent_dim=0)
    with pytest.raises(ConfigError):
        RunConfig.build(support_source="dp_synthetic", synthesizer="diffusion")


@pytest.mark.slow
def test_a_run_reports_the_two_stage_spend_and_the_composed_total(tmp_path: object) -> None:
    table = toy_table(1500)
    config = RunConfig.build(
        spec=SPEC, support_source="dp_synthetic", synthesizer="two_stage", synth_epochs=2, epsilon_syn=1.0,
        sensitive_domains={"group": LEVELS}, sensitive_bounds={"level": (0.0, 10.0)}, epochs=2, imputer="knn")
    prepared = prepare(config, table=table)
    assert prepared.splits.synthetic.method == "two_stage"
    ledger = train_run(prepared, "fusiondp", 0).privacy
    assert ledger.epsilon_syn <= 1.0 and ledger.rho_syn is None
    assert ledger.epsilon_total < ledger.epsilon_spent + ledger.epsilon_syn
    assert "DP-SGD autoencoder" in ledger.synth_mechanism and "DP-SGD autoencoder" in ledger.statement
