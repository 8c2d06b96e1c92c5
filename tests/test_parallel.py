"""Work shared with worker processes must give what one process gives: the same imputer, the same records."""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from fusiondp.cli import app
from fusiondp.config import RunConfig
from fusiondp.impute.gbdt import GBDTImputer
from fusiondp.parallel import (
    SHARED_PREPARATION_BYTES,
    TrainingPool,
    lockstep_groups,
    usable_cores,
    worker_processes,
)
from fusiondp.preparation import load_inputs, prepare_splits, split_for, training_spec
from fusiondp.runs import curve_runs, fit_run, fit_runs, with_epsilon
from tests.conftest import SAMPLE_CSV, SAMPLE_SPEC


class RecordingExecutor(ThreadPoolExecutor):
    """One worker thread that keeps every future it was given: the worker takes tasks from the front while the
    caller takes back (cancels and runs) those from the end, and the futures show which ran where."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted: list[Future[Any]] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        self.submitted.append(future)
        return future


def _replayable(config: RunConfig) -> RunConfig:
    """Records compared across execution paths must draw the same noise: reproducible, so no DP guarantee."""
    return config.model_copy(update={"reproducible_noise": True})


def _ledger(record: Any) -> Any:
    """The ledger, but for the id of the training that sampled it (each training has its own)."""
    return dataclasses.replace(record.privacy, sampling_group=None)


def _support(config: RunConfig) -> tuple[Any, Any]:
    table, support = load_inputs(config)
    splits = split_for(config, table, support)
    return training_spec(config, splits), splits


@pytest.mark.slow
def test_shared_imputer_fit_equals_one_process(quick_config: RunConfig) -> None:
    spec, splits = _support(quick_config)
    alone = GBDTImputer(spec).fit(splits.support)
    with RecordingExecutor() as executor:
        shared = GBDTImputer(spec).fit(splits.support, executor=executor)
        ran_in_worker = [f for f in executor.submitted if not f.cancelled()]
        taken_back = [f for f in executor.submitted if f.cancelled()]
    assert ran_in_worker and taken_back, "both paths of the work sharing should have run"
    assert shared.transform(splits.train).equals(alone.transform(splits.train))
    assert shared.cross_fitted_.imputed.equals(alone.cross_fitted_.imputed)
    assert shared.notes_ == alone.notes_
    assert {c: s.value.used for c, s in shared.selection_.items()} == {c: s.value.used for c, s in
                                                                         alone.selection_.items()}


def test_worker_processes_policy(tmp_path: Path) -> None:
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    small.write_bytes(b"x" * 10)
    large.write_bytes(b"x" * SHARED_PREPARATION_BYTES)
    assert worker_processes(3, 1, "cpu", small) == 3  # asked for
    assert worker_processes(1, 5, "cpu", large) == 0  # --workers 1: this process alone
    assert worker_processes(None, 5, "cuda", large) == 0  # a GPU trains in this process
    assert worker_processes(None, 1, "cpu", small) == 0  # one small run: a worker would cost more than it saves
    cores = usable_cores()
    assert worker_processes(None, 2, "cpu", small) == (cores if cores > 1 else 0)
    assert worker_processes(None, 1, "cpu", large) == cores - 1  # this process imputes too


def test_lockstep_groups_gather_the_epsilons_of_one_private_mode_and_seed() -> None:
    runs = curve_runs(["sgd_ori", "fusiondp", "dpsgd"], [0, 1], [0.5, 1.0, 4.0])
    groups = lockstep_groups(runs)
    assert sorted(index for group in groups for index in group) == list(range(len(runs)))
    assert [len(group) for group in groups] == [1, 1, 3, 3, 3, 3]  # in the order of the runs
    for group in groups:
        assert len({runs[index][1:] for index in group}) == 1  # one (mode, seed)
        assert sorted(runs[index][0] for index in group) == ([0.5, 1.0, 4.0] if len(group) > 1 else [0.5])


@pytest.mark.slow
def test_runs_in_lockstep_equal_runs_apart(quick_config: RunConfig) -> None:
    """``fit_runs`` over a curve's ε gives each ε's own run: the same ledger, and (float rounding aside) the
    same model and metrics as ``fit_run`` at that ε (with reproducible noise: each model's own ξ is keyed by
    its σ, so lockstep and alone draw alike)."""
    quick_config = _replayable(quick_config)
    _, splits = _support(quick_config)
    prepared = prepare_splits(quick_config, splits)
    epsilons = [0.5, 4.0]
    together = fit_runs(prepared, "fusiondp", 1, epsilons)
    for epsilon, (record, model) in zip(epsilons, together, strict=True):
        alone, alone_model = fit_run(with_epsilon(prepared, epsilon), "fusiondp", 1)
        assert _ledger(record) == _ledger(alone) and record.privacy.epsilon_target == epsilon
        assert record.metrics == pytest.approx(alone.metrics, abs=2e-3)
        assert [h["epoch"] for h in record.history] == [h["epoch"] for h in alone.history]
        for a, b in zip(model.parameters(), alone_model.parameters(), strict=True):
            assert torch.allclose(a, b, atol=1e-4)
        assert record.timing["models_in_lockstep"] == 2 and alone.timing["models_in_lockstep"] == 1
    with pytest.raises(ValueError, match="one run"):
        fit_runs(prepared, "sgd_ori", 0, epsilons)


@pytest.mark.slow
def test_pool_records_equal_sequential_records(quick_config: RunConfig) -> None:
    """Two worker processes (one thread each) give the records this process gives: same metrics, σ, ledger."""
    config = _replayable(quick_config).model_copy(update={"modes": ["dpsgd", "fusiondp", "sgd_ori"], "seeds": [0, 1]})
    runs = curve_runs(config.modes, config.seeds, [1.0, 4.0])
    _, splits = _support(config)
    with TrainingPool(2) as pool:
        prepared = prepare_splits(config, splits, executor=pool.executor)
        epochs: list[tuple[int, int]] = []
        shared = pool.train(prepared, runs, lambda index, report: epochs.append((index, report.epoch)))
    with TrainingPool(0) as pool:
        alone = pool.train(prepare_splits(config, splits), runs)
    assert [(r.mode, r.seed, r.privacy.epsilon_target) for r in shared] == [(r.mode, r.seed, r.privacy.epsilon_target)
                                                                            for r in alone]
    assert [r.metrics for r in shared] == [r.metrics for r in alone]
    assert [_ledger(r) for r in shared] == [_ledger(r) for r in alone]
    assert sorted(epochs) == [(i, e) for i in range(len(runs)) for e in range(1, config.epochs + 1)]


@pytest.mark.slow
def test_cli_workers_flag_changes_nothing_but_time(tmp_path: Path) -> None:
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / workers
        result = CliRunner().invoke(app, ["run", "--data", str(SAMPLE_CSV), "--spec", str(SAMPLE_SPEC), "--modes",
                                          "dpsgd,fusiondp", "--seeds", "1", "--epochs", "2", "--epsilon", "1,4",
                                          "--workers", workers, "--quiet", "--reproducible-noise", "--out", str(out)])
        assert result.exit_code == 0, result.output
        outputs.append(json.loads((out / "results.json").read_text())["records"])
    assert [r["metrics"] for r in outputs[0]] == [r["metrics"] for r in outputs[1]]
    bad = CliRunner().invoke(app, ["run", "--data", str(SAMPLE_CSV), "--spec", str(SAMPLE_SPEC), "--workers", "0"])
    assert bad.exit_code != 0 and "--workers must be at least 1" in bad.output


@pytest.mark.slow
def test_a_worker_that_dies_is_one_clear_cli_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A killed worker (out of memory) ends the command with what to do, not a BrokenProcessPool traceback."""
    from concurrent.futures.process import BrokenProcessPool

    from fusiondp.cli import main

    def broken(*args: Any, **kwargs: Any) -> None:
        raise BrokenProcessPool("a child process terminated abruptly")

    monkeypatch.setattr(TrainingPool, "train", broken)
    monkeypatch.setattr("sys.argv", ["fusiondp", "run", "--data", str(SAMPLE_CSV), "--spec", str(SAMPLE_SPEC),
                                     "--modes", "sgd_ori", "--seeds", "2", "--epochs", "1", "--workers", "1",
                                     "--quiet", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "A worker process stopped unexpectedly" in error and "--workers 1" in error
    assert "Traceback" not in error
