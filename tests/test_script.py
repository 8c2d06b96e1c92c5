"""The exported Python script reruns a dashboard run with the library API and gets the same records."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from fusiondp.config import RunConfig
from fusiondp.data import read_table_bytes
from fusiondp.preparation import prepare_splits, split_for
from fusiondp.runs import curve_runs, fit_run
from fusiondp.script import python_script
from fusiondp.spec import TableSpec
from tests.conftest import SAMPLE_CSV

GRID = [1.0, 4.0]


@pytest.mark.slow
def test_the_exported_script_runs_and_reproduces_the_records(tmp_path, sample_spec: TableSpec) -> None:
    """As the dashboard trains: one config per ε, each prepared from the uploaded bytes; the script,
    run beside a copy of the table with no arguments, must give the same metrics and ledgers (with
    reproducible noise, which the config carries: secret noise would differ from run to run)."""
    shutil.copy(SAMPLE_CSV, tmp_path / SAMPLE_CSV.name)
    config = RunConfig.build(data=SAMPLE_CSV.name, spec=sample_spec, imputer="gbdt", epochs=1,
                             modes=["sgd_pub", "fusiondp"], seeds=[0, 1], reproducible_noise=True)
    script = tmp_path / "fusiondp_run.py"
    script.write_text(python_script(config, [4, 1, 4], imputer="gbdt"), encoding="utf-8")

    done = subprocess.run([sys.executable, script.name, "--out", "results"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fusiondp" in done.stdout and "Traceback" not in done.stderr
    written = json.loads((tmp_path / "results" / "results.json").read_text(encoding="utf-8"))["records"]

    table = read_table_bytes(SAMPLE_CSV.read_bytes(), SAMPLE_CSV.name)
    expected = []
    for epsilon, mode, seed in curve_runs(config.modes, config.seeds, GRID):
        at_epsilon = config.model_copy(update={"epsilon": epsilon})
        record, _ = fit_run(prepare_splits(at_epsilon, split_for(at_epsilon, table)), mode, seed)
        expected.append(record.to_dict())
    assert [(r["mode"], r["seed"], r["config"]["epsilon"]) for r in written] == [
        (r["mode"], r["seed"], r["config"]["epsilon"]) for r in expected]
    for ours, theirs in zip(written, expected, strict=True):
        assert ours["metrics"] == pytest.approx(theirs["metrics"], nan_ok=True)
        for key in ("epsilon_target", "epsilon_spent", "sigma", "sampling_rate", "steps", "adjacency"):
            assert ours["privacy"][key] == pytest.approx(theirs["privacy"][key]), key


def test_the_script_names_the_run_and_takes_the_table_as_an_argument(sample_spec: TableSpec) -> None:
    config = RunConfig.build(data="my table.csv", spec=sample_spec, modes=["dpsgd"], seeds=[3])
    source = python_script(config, [2, 0.5], imputer="knn")
    compile(source, "fusiondp_run.py", "exec")
    assert "modes dpsgd; ε 0.5, 2; seeds 3" in source.splitlines()[0]
    assert "EPSILONS = [0.5, 2.0]" in source and "'my table.csv'" in source and "knn ran" in source
