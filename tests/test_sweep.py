"""Sweeps: grid expansion, local workers, streaming + resume, Ray parity, honest selection."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fusiondp.errors import ConfigError
from fusiondp.preparation import prepare
from fusiondp.privacy.accounting import GaussianSteps, calibrate_sigma, composed_epsilon, epsilon_spent
from fusiondp.privacy.audit import audit_model
from fusiondp.report import build_html_report
from fusiondp.runs import fit_run
from fusiondp.selection import SELECTION_LABELS, needs_selection, select_best
from fusiondp.sweep import AUDIT_FIELDS, lockstep_tasks, run_sweep
from fusiondp.sweep_grid import SweepGrid, expand
from fusiondp.train.loop import predict_proba
from tests.conftest import SAMPLE_CSV, SAMPLE_SPEC
from tests.pages import readable

# reproducible_noise: these tests compare one sweep's numbers across backends, resumes and audits, which only
# replayable noise can match (no DP guarantee; secret, independent noise per candidate: tests/test_secret_noise.py)
BASE = {"data": str(SAMPLE_CSV), "spec": str(SAMPLE_SPEC), "imputer": "gbdt", "imputer_params": {"max_iter": 20},
        "epochs": 1, "reproducible_noise": True}
TINY = {"modes": ["sgd_ori", "dpsgd", "fusiondp"], "epsilon": [1, 4], "alpha": [1, 3], "seeds": [0]}
COMPARED = ["auroc", "auprc", "accuracy", "f1", "brier", "val_auroc", "val_auroc_real", "epsilon_spent", "sigma"]


def tiny_grid(**grid: Any) -> SweepGrid:
    return SweepGrid.from_dict({"base": BASE, "grid": {**TINY, **grid}})


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The tiny grid (7 runs) on the local backend with 2 workers; shared by the slow tests."""
    out = tmp_path_factory.mktemp("sweep")
    return out, run_sweep(tiny_grid(), out, workers=2, progress=False)


def by_key(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("key").sort_index()


def test_expand_collapses_knobs_a_mode_ignores() -> None:
    tasks = expand(tiny_grid(seeds=[0, 1]))
    counts = pd.Series([t.mode for t in tasks]).value_counts().to_dict()
    # sgd_ori ignores ε and α (once per seed); dpsgd ignores α; fusiondp uses both.
    assert counts == {"sgd_ori": 2, "dpsgd": 4, "fusiondp": 8}
    assert len({t.key for t in tasks}) == len(tasks)
    assert len({t.prepare_key for t in tasks}) == 1
    ori = [t for t in tasks if t.mode == "sgd_ori"]
    assert all(t.epsilon is None and t.knobs == {"alpha": None} for t in ori)
    assert {(t.epsilon, t.knobs["alpha"], t.seed) for t in tasks if t.mode == "fusiondp"} == {
        (e, a, s) for e in (1.0, 4.0) for a in (1, 3) for s in (0, 1)}
    assert all(t.config.modes == [t.mode] and t.config.seeds == [t.seed] for t in tasks)


def test_expand_collapses_what_alpha_zero_multiplies_by_zero() -> None:
    """With α = 0 the noised private term is scaled by zero: C and β cannot matter, so one run, not four."""
    tasks = expand(tiny_grid(modes=["fusiondp", "dpsgd"], epsilon=[1], alpha=[0, 3], beta=[0.0, 0.5],
                             max_grad_norm=[1.0, 2.0]))
    fusion = [t for t in tasks if t.mode == "fusiondp"]
    assert [t.knobs for t in fusion if t.config.alpha == 0] == [{"alpha": 0, "beta": None, "max_grad_norm": None}]
    assert len([t for t in fusion if t.config.alpha == 3]) == 4
    assert len([t for t in tasks if t.mode == "dpsgd"]) == 2, "dpsgd has no public term: C still matters at α = 0"


@pytest.mark.slow
def test_alpha_zero_runs_really_ignore_the_collapsed_knobs() -> None:
    """The collapse is only honest if the loop agrees: at α = 0 C, β and ε leave the model bit for bit the
    same, while at α = 3 they change it (so the comparison can tell)."""
    prepared = prepare(tiny_grid().base)
    outputs = {}
    for alpha, clip, beta, epsilon in ((0.0, 1.0, 0.0, 1.0), (0.0, 3.0, 0.5, 8.0), (3.0, 1.0, 0.0, 1.0),
                                       (3.0, 3.0, 0.5, 8.0)):
        config = prepared.config.model_copy(update={"alpha": alpha, "max_grad_norm": clip, "beta": beta,
                                                    "epsilon": epsilon})
        _, model = fit_run(dataclasses.replace(prepared, config=config), "fusiondp", 0)
        outputs[alpha, clip] = predict_proba(model, prepared.tensors.with_channels().x_test)
    assert np.array_equal(outputs[0.0, 1.0], outputs[0.0, 3.0])
    assert not np.allclose(outputs[3.0, 1.0], outputs[3.0, 3.0])


def test_a_private_modes_epsilons_train_in_lockstep() -> None:
    """Tasks that differ in ε alone are one training; anything else (α, seed, mode) keeps them apart."""
    tasks = expand(tiny_grid(seeds=[0, 1]))
    groups = lockstep_tasks(tasks)
    assert sorted(task.key for group in groups for task in group) == sorted(task.key for task in tasks)
    # sgd_ori: one run per seed; dpsgd (ignores α): both ε per seed; fusiondp: both ε per (α, seed)
    assert [len(group) for group in groups] == [2] * 6 + [1] * 2
    for group in groups:
        assert len({(task.mode, task.seed, task.config.alpha, task.prepare_key) for task in group}) == 1
        assert len({task.epsilon for task in group}) == len(group)


def test_expand_prepares_once_per_split_and_imputer() -> None:
    tasks = expand(tiny_grid(split_seed=[0, 1], modes=["fusiondp"], alpha=[3]))
    assert len({t.prepare_key for t in tasks}) == 2
    assert len(tasks) == 4


READ_BY_PREPARATION_NOT_KEYED = {"threads", "synth_settings", "model_copy", "yaml"}
"""``config.`` names the preparation reads that do not change what it computes (CPU threads) or are methods and
properties over fields keyed already (``synth_settings``: the synth_* fields)."""


def test_every_setting_the_preparation_reads_is_part_of_its_sweep_key() -> None:
    """A sweep prepares once per ``PREPARE_FIELDS`` digest and shares it: a setting the preparation reads but the
    digest leaves out would give every value of it the first one's preparation (a swept numeric_encoding once
    compared z-scores with themselves)."""
    import re

    from fusiondp.sweep_grid import PREPARE_FIELDS
    root = Path(__file__).resolve().parents[1] / "fusiondp"
    read = {name for path in (root / "preparation.py", root / "prepared.py", root / "text" / "pipeline.py")
            for name in re.findall(r"\bconfig\.([a-z_]+)", path.read_text(encoding="utf-8"))}
    assert "numeric_encoding" in read and "split_seed" in read, "the scan reads the preparation's settings"
    training = {"batch_size"}  # read by prepared.py's training-size note at training time, not by prepare
    assert read - set(PREPARE_FIELDS) - READ_BY_PREPARATION_NOT_KEYED - training == set()
    tasks = expand(SweepGrid.from_dict({"base": {"data": str(SAMPLE_CSV), "spec": str(SAMPLE_SPEC)},
                                        "grid": {"numeric_encoding": ["standard", "quantile"]}}))
    assert len({task.prepare_key for task in tasks}) == 2


def test_grid_file_reads_spec_path_and_modes_all(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(json.dumps({"base": BASE, "grid": {"modes": ["all"], "epsilon": [0.5, 8]}}), encoding="utf-8")
    tasks = expand(SweepGrid.from_yaml(path))
    assert tasks[0].config.spec is not None and tasks[0].config.spec.target == "diabetes"
    # 3 non-private modes once, 4 private modes at 2 ε (seed 0 from the base config).
    assert len(tasks) == 3 + 4 * 2


@pytest.mark.parametrize(("grid", "message"), [
    ({"epsilonn": [1]}, "'epsilonn' is not a RunConfig setting (did you mean epsilon, epsilon_syn?)"),
    ({"epsilon": []}, "needs a non-empty list"),
    ({"epsilon": [1, -2]}, "Grid point {'epsilon': -2"),
    ({"modes": ["fusiondp", "dp_sgd"]}, "dp_sgd"),
])
def test_grid_errors_name_the_setting(grid: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        expand(SweepGrid.from_dict({"base": BASE, "grid": grid}))
    assert message in str(info.value)


def test_missing_grid_file_and_bad_backend(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        SweepGrid.from_yaml(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="choose 'local' or 'ray'"):
        run_sweep(tiny_grid(), tmp_path, backend="dask")  # type: ignore[arg-type]


def test_ray_backend_without_ray_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r'pip install "fusiondp\[ray\]"'):
        run_sweep(tiny_grid(), tmp_path, backend="ray")


@pytest.mark.slow
def test_local_backend_with_two_workers(local_sweep: tuple[Path, pd.DataFrame]) -> None:
    out, table = local_sweep
    assert len(table) == 7
    for column in ("mode", "seed", "epsilon", "alpha", "auroc", "auprc", "accuracy", "f1", "brier", "val_auroc",
                   "val_auroc_real", "epsilon_spent", "delta", "sigma", "sampling_rate", "steps", "accountant",
                   "adjacency", "epsilon_replace", "imputer", "imputer_reason", "wall_time_s", "selection", "key"):
        assert column in table.columns, column
    assert table["imputer"].eq("gbdt").all()
    private = table[table["mode"] != "sgd_ori"]
    assert (private["epsilon_spent"] <= private["epsilon"] * 1.001).all()
    assert table.loc[table["mode"] == "sgd_ori", "epsilon"].isna().all()
    assert table["val_auroc"].between(0.5, 1).all() and table["val_auroc_real"].between(0.5, 1).all()
    lines = (out / "runs.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["key"] for line in lines) == sorted(table["key"])
    on_disk = pd.read_csv(out / "results.csv")
    pd.testing.assert_frame_equal(by_key(on_disk)[COMPARED], by_key(table)[COMPARED], check_dtype=False)


@pytest.mark.slow
def test_interrupted_sweep_resumes_and_skips_finished_runs(
        tmp_path: Path, local_sweep: tuple[Path, pd.DataFrame]) -> None:
    finished = (local_sweep[0] / "runs.jsonl").read_text(encoding="utf-8").splitlines()[:2]
    runs = tmp_path / "runs.jsonl"
    # Two finished runs, then a write cut short when the sweep was killed.
    runs.write_text("\n".join(finished) + '\n{"key": "torn line of a killed sw', encoding="utf-8")
    with pytest.raises(ConfigError, match="--resume"):
        run_sweep(tiny_grid(), tmp_path, progress=False)

    resumed: list[dict[str, Any]] = []
    table = run_sweep(tiny_grid(), tmp_path, workers=2, resume=True, on_result=resumed.append, progress=False)
    assert len(resumed) == 5
    assert {r["key"] for r in resumed}.isdisjoint(json.loads(line)["key"] for line in finished)
    assert [json.loads(line)["key"] for line in runs.read_text(encoding="utf-8").splitlines()[:2]] == [
        json.loads(line)["key"] for line in finished]
    assert len(runs.read_text(encoding="utf-8").splitlines()) == 7
    pd.testing.assert_frame_equal(by_key(table)[COMPARED], by_key(local_sweep[1])[COMPARED])


def test_grid_audit_is_off_by_default_and_read_from_the_file(tmp_path: Path) -> None:
    assert not tiny_grid().audit
    path = tmp_path / "grid.yaml"
    path.write_text(json.dumps({"base": BASE, "grid": TINY, "audit": True, "audit_rows": 200}), encoding="utf-8")
    grid = SweepGrid.from_yaml(path)
    assert grid.audit and grid.audit_rows == 200
    assert SweepGrid.from_dict(grid.to_dict()) == grid
    with pytest.raises(ConfigError, match="audit_rows"):
        SweepGrid.from_dict({"base": BASE, "grid": TINY, "audit": True, "audit_rows": 3})


@pytest.mark.slow
def test_audited_sweep_adds_audit_columns_and_the_report_shows_them(
        tmp_path: Path, local_sweep: tuple[Path, pd.DataFrame]) -> None:
    out, plain = local_sweep
    assert not set(AUDIT_FIELDS) & set(plain.columns)
    unaudited = tmp_path / "plain"
    unaudited.mkdir()
    for name in ("runs.jsonl", "results.csv"):
        shutil.copy(out / name, unaudited / name)
    page = readable(build_html_report(unaudited).read_text(encoding="utf-8"))
    assert "membership AUC" not in page and "attribute advantage" not in page

    # Resuming the unaudited runs with the audit on redoes them, audited (a sub-grid: the same run keys).
    audited = tmp_path / "audited"
    audited.mkdir()
    shutil.copy(out / "runs.jsonl", audited / "runs.jsonl")
    grid = tiny_grid(modes=["sgd_ori", "fusiondp"], epsilon=[1], alpha=[1]).model_copy(
        update={"audit": True, "audit_rows": 100})
    table = run_sweep(grid, audited, workers=2, resume=True, progress=False)
    assert len(table) == 2 and set(table["key"]) <= set(plain["key"])
    for column in AUDIT_FIELDS:
        assert table[column].notna().all(), column
    # The imputer's guess reads no model: one preparation and one seed attack the same rows, so it is equal.
    assert table["imputer_acc"].nunique() == 1
    # Each row holds the audit of the model its worker trained: an audit of a retrained model agrees.
    prepared = prepare(grid.base)
    for _, row in table.iterrows():
        config = prepared.config.model_copy(update={"epsilon": row["epsilon"] if row["mode"] != "sgd_ori"
                                                    else prepared.config.epsilon, "alpha": 1})
        run = dataclasses.replace(prepared, config=config)
        summary = audit_model(run, fit_run(run, row["mode"], 0)[1], row["mode"], rows=100, seed=0).summary()
        for column in AUDIT_FIELDS:
            assert row[column] == pytest.approx(summary[column], abs=1e-9), (row["mode"], column)
    lines = [json.loads(line) for line in (audited / "runs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 7 + 2 and all("membership_auc" in entry["row"] for entry in lines[-2:])
    # The audit only reads the trained model: training gives the same numbers as without it.
    pd.testing.assert_frame_equal(by_key(table)[COMPARED], by_key(plain).loc[sorted(table["key"])][COMPARED])
    page = readable(build_html_report(audited).read_text(encoding="utf-8"))
    for label in ("attribute advantage", "membership AUC", "membership TPR @ 1% FPR", "no measurable leak"):
        assert label in page, label


@pytest.mark.slow
def test_ray_backend_matches_local(tmp_path: Path, local_sweep: tuple[Path, pd.DataFrame]) -> None:
    ray = pytest.importorskip("ray", reason='the Ray backend needs the extra: pip install "fusiondp[ray]"')
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        table = run_sweep(tiny_grid(), tmp_path, backend="ray", workers=2, progress=False)
        assert ray.is_initialized(), "run_sweep must not shut down a Ray instance it did not start"
    finally:
        ray.shutdown()
    pd.testing.assert_frame_equal(by_key(table)[COMPARED], by_key(local_sweep[1])[COMPARED])


def synthetic_results() -> pd.DataFrame:
    """fusiondp at ε = 1 with α ∈ {1, 3} over two seeds, plus one sgd_ori reference per seed."""
    rows = []
    for seed in (0, 1):
        rows.append({"mode": "sgd_ori", "seed": seed, "epsilon": None, "alpha": None, "auroc": 0.8,
                     "val_auroc": 0.8, "val_auroc_real": 0.8, "epsilon_spent": None, "sigma": None,
                     "sampling_rate": None, "steps": 10, "delta": None, "accountant": None})
        for alpha, val_hybrid, val_real in ((1, 0.70 + seed / 10, 0.75), (3, 0.72, 0.74)):
            rows.append({"mode": "fusiondp", "seed": seed, "epsilon": 1.0, "alpha": alpha, "auroc": alpha / 10,
                         "val_auroc": val_hybrid, "val_auroc_real": val_real, "epsilon_spent": 0.99,
                         "sigma": 1.1, "sampling_rate": 0.02, "steps": 100, "delta": 1e-5, "accountant": "rdp"})
    return pd.DataFrame(rows)


def test_select_best_on_imputed_validation_rows_composes_the_candidates() -> None:
    results = synthetic_results()
    assert needs_selection(results)
    best = select_best(results)
    assert not needs_selection(best)
    chosen = best[best["mode"] == "fusiondp"].set_index("seed")["alpha"].to_dict()
    assert chosen == {0: 3, 1: 1}  # per seed: 0.72 beats 0.70; 0.80 beats 0.72
    fusion = best[best["mode"] == "fusiondp"].iloc[0]
    assert fusion["candidates"] == 2
    assert fusion["epsilon_tuning"] == pytest.approx(epsilon_spent(1.1, 0.02, 200, 1e-5, "rdp"))
    assert fusion["epsilon_tuning"] > fusion["epsilon_spent"]
    assert best["selection"].eq(SELECTION_LABELS["val_hybrid"]).all()
    assert best.loc[best["mode"] == "sgd_ori", "candidates"].eq(1).all()


def _candidates(batch_sizes: tuple[int, ...], **extra: Any) -> pd.DataFrame:
    """fusiondp at ε = 2 tuned over the batch size: each candidate has its own σ, q and T."""
    rows = []
    for index, batch in enumerate(batch_sizes):
        q = batch / 4000
        steps = math.ceil(5 / q)
        sigma = calibrate_sigma(2.0, 1e-5, q, steps)
        rows.append({"mode": "fusiondp", "seed": 0, "epsilon": 2.0, "batch_size": batch, "auroc": 0.7,
                     "val_auroc": 0.7 + index / 100, "val_auroc_real": 0.7, "sigma": sigma, "sampling_rate": q,
                     "steps": steps, "delta": 1e-5, "accountant": "rdp",
                     "epsilon_spent": epsilon_spent(sigma, q, steps, 1e-5), **extra})
    return pd.DataFrame(rows)


def test_tuning_composes_the_candidates_mechanisms_at_one_delta() -> None:
    """Adding K runs' (ε, δ) would cost K·δ; composing their mechanisms keeps δ and is tighter."""
    candidates = _candidates((64, 128, 256, 512))
    best = select_best(candidates).iloc[0]
    events = tuple(GaussianSteps(r.sigma, r.sampling_rate, r.steps) for r in candidates.itertuples())
    assert best["delta_tuning"] == 1e-5
    assert best["epsilon_tuning"] == pytest.approx(composed_epsilon(events, 1e-5, "rdp"))
    assert best["epsilon_spent"] < best["epsilon_tuning"] < candidates["epsilon_spent"].sum()
    # The same, accounted independently: dp-accounting's PLD of the four mechanisms at that δ.
    assert best["epsilon_tuning"] >= composed_epsilon(events, 1e-5, "pld") - 1e-6


def test_tuning_counts_a_shared_synthetic_support_once() -> None:
    """Candidates of one preparation share one DP-synthetic support set: ε_syn is spent once, not K times;
    candidates prepared differently (here two imputers) used two releases."""
    synthetic = {"epsilon_syn": 1.0, "delta_syn": 1e-5, "rho_syn": None}
    shared = _candidates((64, 128, 256), **synthetic)
    training = select_best(shared.drop(columns=list(synthetic))).iloc[0]
    best = select_best(shared).iloc[0]
    assert best["epsilon_tuning"] == pytest.approx(training["epsilon_tuning"] + 1.0)
    assert best["delta_tuning"] == pytest.approx(2e-5)
    assert "1 DP-synthetic support release" in best["tuning_composition"]
    two = select_best(shared.assign(imputer=["gbdt", "knn", "gbdt"])).iloc[0]
    assert two["epsilon_tuning"] == pytest.approx(training["epsilon_tuning"] + 2.0)
    assert two["delta_tuning"] == pytest.approx(3e-5)


def test_select_best_on_real_validation_rows_is_labelled_not_accounted() -> None:
    best = select_best(synthetic_results(), by="val_real")
    assert best.loc[best["mode"] == "fusiondp", "alpha"].eq(1).all()
    assert best["selection"].str.startswith("not accounted: selected on real validation rows").all()
    with pytest.raises(ConfigError, match="val_hybrid"):
        select_best(synthetic_results(), by="test")  # type: ignore[arg-type]


def test_every_config_field_is_classified_as_preparation_or_training() -> None:
    """A new RunConfig field must be added to PREPARE_FIELDS when ``prepare`` reads it, or runs that
    differ in it would share one cached preparation."""
    from fusiondp.config import RunConfig
    from fusiondp.sweep_grid import PREPARE_FIELDS

    training_only = {"modes", "seeds", "epsilon", "accountant", "epochs", "batch_size", "public_batch_size", "lr",
                     "lr_schedule", "alpha", "beta", "max_grad_norm", "noise_level", "rep_clip", "param_bound",
                     "hidden", "threads"}
    assert set(RunConfig.model_fields) == set(PREPARE_FIELDS) | training_only
    assert not set(PREPARE_FIELDS) & training_only
