"""The DP randomness is secret and every model draws its own (METHOD.md §5c; issue 27 C1, C2).

Attacks the review ran on the shipped code, as tests: retraining with the published seed must not
reproduce a released DP model; two models of one lockstep training must not cancel each other's noise;
sweep candidates that differ in one knob must not share their noise. And the joint-release ε of
several models is checked against dp-accounting's own composition.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fusiondp.config import RunConfig
from fusiondp.preparation import prepare
from fusiondp.prepared import PreparedData
from fusiondp.privacy.accounting import calibrate_sigma
from fusiondp.privacy.joint import REPLACE_ONE, joint_release
from fusiondp.privacy.randomness import NO_GUARANTEE
from fusiondp.record import PrivacyLedger
from fusiondp.runs import fit_run, fit_runs, save_results
from fusiondp.train.loop import ModeStep
from fusiondp.train.modes import get_mode
from fusiondp.train.settings import TrainSettings


@pytest.fixture(scope="module")
def prepared(sample_spec) -> PreparedData:
    from tests.conftest import SAMPLE_CSV

    return prepare(RunConfig.build(data=str(SAMPLE_CSV), spec=sample_spec, imputer="gbdt", epochs=1))


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()


def _with(prepared: PreparedData, **update: object) -> PreparedData:
    return dataclasses.replace(prepared, config=prepared.config.model_copy(update=update))


def test_retraining_with_the_published_seed_does_not_reproduce_a_dp_model(prepared: PreparedData) -> None:
    """The replay attack: with the seed and every value known, a retrain reproduced the model exactly
    (distance 0) under the true value. With secret noise it lands as far away as another seed's noise."""
    released = _flat(fit_run(prepared, "fusiondp", 0)[1])
    replayed = _flat(fit_run(prepared, "fusiondp", 0)[1])
    assert (released - replayed).norm() > 1e-3
    # the public randomness still follows the seed: a non-private model replays exactly
    assert torch.equal(_flat(fit_run(prepared, "sgd_pub", 0)[1]), _flat(fit_run(prepared, "sgd_pub", 0)[1]))
    reproducible = _with(prepared, reproducible_noise=True)
    first, again = fit_run(reproducible, "fusiondp", 0), fit_run(reproducible, "fusiondp", 0)
    assert torch.equal(_flat(first[1]), _flat(again[1]))
    assert first[0].metrics == again[0].metrics


def test_reproducible_noise_is_marked_as_carrying_no_guarantee(prepared: PreparedData, tmp_path: Path) -> None:
    reproducible = _with(prepared, reproducible_noise=True)
    records = [record for record, _ in fit_runs(reproducible, "fusiondp", 0, [1.0, 4.0])]
    records.append(fit_run(reproducible, "sgd_pub", 0)[0])
    for record in records[:2]:
        assert record.privacy.reproducible_noise
        assert NO_GUARANTEE in record.privacy.notes
        assert record.privacy.statement.startswith("NO DP GUARANTEE")
    assert not records[2].privacy.reproducible_noise  # sgd_pub never sees the sensitive values: nothing to void
    save_results(tmp_path, reproducible, records)
    joint = json.loads((tmp_path / "results.json").read_text())["joint_release"]
    assert joint["epsilon"] is None and joint["models"] == 2


def test_lockstep_models_do_not_share_noise_one_step_extrapolation(prepared: PreparedData) -> None:
    """q = 1, T = 1, no projection: model k is θ₀ − η(g + ασ_kCξ_k/B). With one shared ξ the combination
    (σ₄θ₁ − σ₁θ₄)/(σ₄ − σ₁) equals the noise-free model θ_free to float rounding; with each model's own ξ
    it misses it by about as much noise as the models carry."""
    rows = len(prepared.tensors.y)
    settings = TrainSettings(epochs=1, batch_size=rows, public_batch_size=rows, lr=0.05, alpha=1.0,
                             param_bound=None, hidden=(16,), noise_level=None)
    sigma_1, sigma_4 = 2.0, 0.5
    step = ModeStep(prepared.tensors, get_mode("fusiondp"), settings, seed=0, sigma=[sigma_1, sigma_4, 0.0])
    assert step.total_steps == 1 and step.q == 1.0
    step()
    theta_1, theta_4, free = (_flat(model) for model in step.models)
    extrapolated = (sigma_4 * theta_1 - sigma_1 * theta_4) / (sigma_4 - sigma_1)
    noise_of_the_eps4_model = (theta_4 - free).norm()
    assert noise_of_the_eps4_model > 0
    assert (extrapolated - free).norm() > noise_of_the_eps4_model


def test_sweep_candidates_that_differ_in_lr_draw_independent_noise(prepared: PreparedData) -> None:
    """One step at q = 1 from one initialisation: θ = θ₀ − η·u with u = g + ασCξ/B. Two candidates that differ
    only in η recover the same u if they share ξ; independent draws give two different u."""
    from fusiondp.sweep import execute_tasks
    from fusiondp.sweep_grid import SweepGrid, expand

    rows = len(prepared.tensors.y)
    base = {**prepared.config.to_dict(), "epochs": 1, "batch_size": rows, "public_batch_size": rows,
            "param_bound": None, "modes": ["fusiondp"], "seeds": [0]}
    tasks = expand(SweepGrid.from_dict({"base": base, "grid": {"lr": [0.05, 0.1]}}))
    assert len(tasks) == 2
    updates = []
    for task in tasks:
        task_prepared = dataclasses.replace(prepared, config=task.config)
        record, model = fit_run(task_prepared, "fusiondp", 0)
        start = ModeStep(prepared.tensors, get_mode("fusiondp"), task_prepared.config.train_settings(), seed=0,
                         sigma=record.privacy.sigma).model
        updates.append((_flat(start) - _flat(model)) / task.config.lr)
    assert (updates[0] - updates[1]).norm() > 0.1 * updates[0].norm()
    # the sweep's own path trains each candidate with its own draws too
    entries = [execute_tasks(prepared, [task])[0] for task in tasks]
    groups = {entry["record"]["privacy"]["sampling_group"] for entry in entries}
    assert len(groups) == 2


def _ledger(epsilon: float, group: str, adjacency: str = "feature removal") -> PrivacyLedger:
    q, steps, delta = 0.042, 311, 1e-5
    sigma = calibrate_sigma(epsilon, delta, q, steps)
    return PrivacyLedger(epsilon, epsilon, delta, sigma, q, steps, 1.8, "rdp", adjacency, relation="remove",
                         sampling_group=group)


def _pld(events: list[tuple[float, float, int]], relation: str = "remove") -> float:
    """dp-accounting's ε of independent Poisson-subsampled Gaussians (σ, q, T), composed: the reference."""
    import dp_accounting
    from dp_accounting.pld import PLDAccountant

    relations = dp_accounting.NeighboringRelation
    accountant = PLDAccountant(relations.ADD_OR_REMOVE_ONE if relation == "remove" else relations.REPLACE_ONE,
                               value_discretization_interval=1e-3)
    for sigma, q, steps in events:
        accountant.compose(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
    return accountant.get_epsilon(1e-5)


def test_joint_release_of_independent_and_of_lockstep_models() -> None:
    """The review's table (sample: q = 0.042, T = 311, δ = 1e-5): ε 1 + ε 4 is 3.75 independent and 4.04
    with shared samples; a four-ε curve 4.27 and 5.63; never the sum, never ∞."""
    one, four = _ledger(1.0, "a"), _ledger(4.0, "b")
    independent = joint_release([one, four])
    assert independent is not None and independent.trainings == 2
    assert independent.epsilon == pytest.approx(_pld([(one.sigma, 0.042, 311), (four.sigma, 0.042, 311)]), rel=1e-3)
    assert independent.epsilon == pytest.approx(3.75, abs=0.02)
    shared = joint_release([one, dataclasses.replace(four, sampling_group="a")])
    assert shared is not None and shared.trainings == 1
    effective = (one.sigma ** -2 + four.sigma ** -2) ** -0.5
    assert shared.epsilon == pytest.approx(_pld([(effective, 0.042, 311)]), rel=1e-3)
    assert shared.epsilon == pytest.approx(4.04, abs=0.02)
    curve = joint_release([_ledger(epsilon, "curve") for epsilon in (0.5, 1.0, 2.0, 4.0)])
    assert curve is not None and curve.epsilon == pytest.approx(5.63, abs=0.02)
    assert curve.epsilon < curve.epsilon_sum


def test_joint_release_of_modes_with_different_relations_is_stated_under_replace_one() -> None:
    """fusiondp (removal to the imputation) and feature_dp (removal to missing) have no common removal
    neighbour, so their joint release is stated under replace-one (2C), which both bound."""
    fusion = _ledger(1.0, "a")
    baseline = _ledger(1.0, "b", adjacency="feature removal to missing")
    joint = joint_release([fusion, baseline])
    assert joint is not None and joint.relation == REPLACE_ONE
    assert joint.epsilon == pytest.approx(_pld([(fusion.sigma, 0.042, 311)] * 2, "replace"), rel=1e-3)
    same_relation = joint_release([fusion, dataclasses.replace(baseline, adjacency="feature removal")])
    assert same_relation is not None and same_relation.epsilon == pytest.approx(1.32, abs=0.02)


def test_records_without_a_sampling_group_have_no_joint_guarantee() -> None:
    """Records written before every model drew its own noise may share it: no joint ε is claimed."""
    old = [dataclasses.replace(_ledger(1.0, "a"), sampling_group=None), _ledger(4.0, "b")]
    joint = joint_release(old)
    assert joint is not None and joint.epsilon is None


def test_a_run_records_the_joint_release_of_its_models(prepared: PreparedData, tmp_path: Path) -> None:
    """A curve of two ε (one lockstep training) beside another mode (its own training): 3 models, 2 trainings.
    fusiondp's (feature removal to missing) and dpsgd's (whole rows) relations differ, so the joint ε is read
    under replace-one of one row's sensitive values, which both noises bound."""
    records = [record for record, _ in fit_runs(prepared, "fusiondp", 0, [1.0, 4.0])]
    records.append(fit_run(prepared, "dpsgd", 0)[0])
    assert records[0].privacy.sampling_group == records[1].privacy.sampling_group != records[2].privacy.sampling_group
    save_results(tmp_path, prepared, records)
    joint = json.loads((tmp_path / "results.json").read_text())["joint_release"]
    assert joint["models"] == 3 and joint["trainings"] == 2
    assert joint["relation"] == REPLACE_ONE
    assert max(r.privacy.epsilon_replace for r in records) < joint["epsilon"] < joint["epsilon_sum"]
    assert joint["epsilon_sum"] == pytest.approx(sum(r.privacy.epsilon_replace for r in records))


def test_the_marginal_synthesizers_noise_is_secret_unless_reproducible(sample_table, sample_spec) -> None:
    from fusiondp.synth.marginal import MarginalSynthesizer
    from fusiondp.synth.settings import SynthSettings

    domains = {c: sorted(sample_table[c].dropna().unique().tolist()) for c in sample_spec.sensitive
               if sample_spec.is_categorical(c)}
    bounds = {c: (float(sample_table[c].min()), float(sample_table[c].max())) for c in sample_spec.sensitive
              if not sample_spec.is_categorical(c)}

    def tables(reproducible: bool) -> list[np.ndarray]:
        spec = sample_spec.resolve(sample_table)
        settings = SynthSettings(epsilon=1.0, delta=1e-5, domains=domains, bounds=bounds,
                                 condition_on=tuple(spec.public[:2]), reproducible_noise=reproducible)
        fitted = [MarginalSynthesizer(spec, settings).fit(sample_table) for _ in range(2)]
        return [np.concatenate([f.conditionals_[c].ravel() for c in sample_spec.sensitive]) for f in fitted]

    secret = tables(False)
    assert not np.allclose(secret[0], secret[1])
    replayed = tables(True)
    assert np.array_equal(replayed[0], replayed[1])
