"""Sweeps: grid expansion, local workers, streaming + resume, Ray parity, honest selection."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fusiondp.errors import ConfigError
from fusiondp.privacy.accounting import epsilon_spent
from fusiondp.report import build_html_report
from fusiondp.sweep import (
    AUDIT_FIELDS,
    SELECTION_LABELS,
    SweepGrid,
    expand,
    needs_selection,
    run_sweep,
    select_best,
)
from tests.conftest import SAMPLE_CSV, SAMPLE_SPEC

BASE = {"data": str(SAMPLE_CSV), "spec": str(SAMPLE_SPEC), "imputer": "gbdt", "imputer_params": {"max_iter": 20},
        "epochs": 1}
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


def test_expand_prepares_once_per_split_and_imputer() -> None:
    tasks = expand(tiny_grid(split_seed=[0, 1], modes=["fusiondp"], alpha=[3]))
    assert len({t.prepare_key for t in tasks}) == 2
    assert len(tasks) == 4


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
    page = build_html_report(unaudited).read_text(encoding="utf-8")
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
    for column in ("attribute_train_acc", "attribute_holdout_acc", "imputer_acc", "membership_auc",
                   "membership_tpr_at_1pct_fpr"):
        assert table[column].between(0, 1).all(), column
    leak = table["attribute_train_acc"] - table["attribute_holdout_acc"]
    assert (table["attribute_advantage"] - leak).abs().max() < 1e-12
    lines = [json.loads(line) for line in (audited / "runs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 7 + 2 and all("membership_auc" in entry["row"] for entry in lines[-2:])
    # The audit only reads the trained model: training gives the same numbers as without it.
    pd.testing.assert_frame_equal(by_key(table)[COMPARED], by_key(plain).loc[sorted(table["key"])][COMPARED])
    page = build_html_report(audited).read_text(encoding="utf-8")
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
    from fusiondp.sweep import PREPARE_FIELDS

    training_only = {"modes", "seeds", "epsilon", "accountant", "epochs", "batch_size", "public_batch_size", "lr",
                     "alpha", "beta", "max_grad_norm", "rep_clip", "param_bound", "hidden", "threads"}
    assert set(RunConfig.model_fields) == set(PREPARE_FIELDS) | training_only
    assert not set(PREPARE_FIELDS) & training_only
