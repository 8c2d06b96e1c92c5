"""A whole ``fusiondp run`` against training alone: where the seconds of a run go, on two table sizes.

Usage: ``python -m benchmarks.bench_run`` (``--sizes 5000,50000``, ``--shell-rows 20000``,
``--all-modes-rows 50000``). Writes benchmarks/results/run.json.

Tables: the sample's columns (``sample_data/nhanes_diabetes.csv``), rows drawn with replacement and numeric
values jittered, plus 5 public numeric columns (noisy sums of two others) for 37 columns — the shape of the
ICU table issue 17 measured. The run is ``fusiondp`` with the default knobs (13 epochs), 1 seed, ε = 1, gbdt
imputer. Phases come from the pipeline's own ``progress`` callback, in wall and CPU seconds (the CPU time of
this process, all threads; other jobs on a shared machine inflate wall time, not CPU time):
import (a fresh interpreter importing what ``fusiondp run`` imports), split, imputation, encoding, preflight
(after the imputation, whose cross-fitted quality it reads, as in ``fusiondp run``),
σ calibration and training. ``run / training`` is the whole run's wall time over the training's.
``--shell-rows`` also times ``fusiondp run`` as a subprocess on a table of that many rows: the wall time a
user waits at the shell prompt, start-up included, with the command's default worker processes and with
``--workers 1`` (everything in one process). ``--all-modes-rows`` times ``fusiondp run --modes all
--seeds 3`` at one ε (with and without workers) and at ``--epsilon 0.5,1,2,4`` (one preparation, references
trained once).
``python -X importtime -c "import fusiondp.cli"`` is
measured too (what ``fusiondp --help`` pays).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import SAMPLE_CSV, SAMPLE_SPEC, print_table, write_results
from fusiondp.config import RunConfig
from fusiondp.ledger import privacy_plan
from fusiondp.preparation import load_inputs, prepare_splits, split_for
from fusiondp.privacy.preflight import preflight
from fusiondp.runs import train_run
from fusiondp.spec import TableSpec
from fusiondp.train.modes import get_mode

EXTRA_COLUMNS = 5
"""Public numeric columns added to the sample's 32, for the 37 columns of the table issue 17 measured."""
RUN_IMPORTS = "import fusiondp.cli, fusiondp.preparation, fusiondp.runs, fusiondp.privacy.preflight, fusiondp.impute"
"""What ``fusiondp run`` imports before it reads the table."""
PHASES = ("import", "split", "imputation", "encoding", "preflight", "σ calibration", "training")


def synthetic_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows with the sample's columns and value distribution, plus ``EXTRA_COLUMNS`` public ones."""
    sample = pd.read_csv(SAMPLE_CSV)
    rng = np.random.default_rng(seed)
    table = sample.iloc[rng.integers(0, len(sample), rows)].reset_index(drop=True)
    numeric = [c for c in table.columns if pd.api.types.is_float_dtype(table[c])]
    for column in numeric:  # jitter so that repeated rows are not exact copies; missing values stay missing
        table[column] = table[column] + rng.normal(0, 0.05, rows) * table[column].std()
    public = [c for c in numeric if c not in TableSpec.from_yaml(SAMPLE_SPEC).sensitive]
    for i in range(EXTRA_COLUMNS):
        first, second = rng.choice(public, 2, replace=False)
        table[f"extra_{i}"] = table[first] + table[second] + rng.normal(0, 1, rows)
    return table


class PhaseClock:
    """A ``Progress`` that records each phase's wall and CPU seconds (first report to the report of 1)."""

    def __init__(self) -> None:
        self.started: dict[str, tuple[float, float]] = {}
        self.seconds: dict[str, dict[str, float]] = {}

    def __call__(self, phase: str, fraction: float) -> None:
        now = (time.perf_counter(), time.process_time())
        self.started.setdefault(phase, now)
        if fraction >= 1:
            wall, cpu = (now[0] - self.started[phase][0], now[1] - self.started[phase][1])
            self.seconds[phase] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def import_seconds() -> dict[str, float]:
    """A fresh interpreter importing what ``fusiondp run`` imports: wall and CPU (child) seconds."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run([sys.executable, "-c", RUN_IMPORTS], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"wall_s": round(time.perf_counter() - started, 3), "cpu_s": round(cpu, 3)}


def cli_importtime() -> dict[str, Any]:
    """``python -X importtime -c "import fusiondp.cli"``: the cumulative µs of the slowest top-level imports."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import fusiondp.cli"], capture_output=True,
                            text=True, check=True)
    entries = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(3)) == 1:  # top-level imports only (one space of indentation)
            entries.append((int(match.group(2)), match.group(4)))
    total = sum(us for us, _ in entries)
    return {"total_s": round(total / 1e6, 3),
            "slowest": [{"module": name, "s": round(us / 1e6, 3)} for us, name in sorted(entries, reverse=True)[:5]],
            "loads_torch": any(name == "torch" for _, name in entries)}


def timed_run(table: pd.DataFrame) -> dict[str, Any]:
    """One fusiondp run (1 seed, ε = 1) on ``table`` with every phase timed."""
    clock = PhaseClock()
    clock.seconds["import"] = import_seconds()
    config = RunConfig.build(spec=TableSpec.from_yaml(SAMPLE_SPEC), imputer="gbdt", modes=["fusiondp"], seeds=[0],
                             epsilon=1.0)
    started = time.perf_counter(), time.process_time()
    table, support = load_inputs(config, table)
    splits = split_for(config, table, support, progress=clock)
    prepared = prepare_splits(config, splits, clock)
    clock("preflight", 0.0)  # after the imputation, as in ``fusiondp run``: it reads the cross-fitted quality
    preflight(table, config.spec, support=support, config=config, splits=splits, quality=prepared.quality)
    clock("preflight", 1.0)
    clock("σ calibration", 0.0)
    privacy_plan(prepared, get_mode("fusiondp"))
    clock("σ calibration", 1.0)
    clock("training", 0.0)
    record = train_run(prepared, "fusiondp", 0)
    clock("training", 1.0)
    wall = time.perf_counter() - started[0] + clock.seconds["import"]["wall_s"]
    cpu = time.process_time() - started[1] + clock.seconds["import"]["cpu_s"]
    training = record.timing["wall_time_s"]
    return {"rows": len(table), "columns": table.shape[1], "sizes": prepared.splits.sizes(),
            "phases": {phase: clock.seconds[phase] for phase in PHASES if phase in clock.seconds},
            "run_wall_s": round(wall, 2), "run_cpu_s": round(cpu, 2), "training_s": training,
            "run_over_training": round(wall / training, 2), "auroc": record.metrics["auroc"],
            "imputation_notes": [n for n in prepared.quality.notes if "subsampled" in n]}


def shell_run(rows: int, *, modes: str = "fusiondp", seeds: int = 1, epsilon: str = "1",
              workers: int | None = None) -> dict[str, Any]:
    """``fusiondp run`` as a subprocess on a ``rows``-row table: what a user waits for at the prompt.

    ``workers``: ``--workers`` (default: the command's own choice, worker processes on a multi-core machine).
    ``training_s`` sums the trainings' times (models trained in lockstep count once), so with workers it exceeds
    the training's wall time.
    """
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "table.csv"
        synthetic_table(rows, seed=1).to_csv(data, index=False)
        command = [sys.executable, "-m", "fusiondp.cli", "run", "--data", str(data), "--spec", str(SAMPLE_SPEC),
                   "--imputer", "gbdt", "--modes", modes, "--seeds", str(seeds), "--epsilon", epsilon, "--quiet",
                   "--out", str(Path(folder) / "out"), *(["--workers", str(workers)] if workers else [])]
        before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        results = json.loads((Path(folder) / "out" / "results.json").read_text())
    training = sum(record["timing"]["wall_time_s"] / record["timing"]["models_in_lockstep"]
                   for record in results["records"])
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"rows": rows, "columns": 37,
            "command": f"fusiondp run --modes {modes} --seeds {seeds} --epsilon {epsilon}"
                       + (f" --workers {workers}" if workers else "") + " (13 epochs)",
            "models": len(results["records"]), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "training_s": round(training, 2), "run_over_training": round(wall / training, 2),
            "stdout_lines": len(result.stdout.splitlines())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,50000", help="Table rows, comma-separated.")
    parser.add_argument("--shell-rows", type=int, default=20_000, help="Rows of the shell-prompt run (0: skip).")
    parser.add_argument("--all-modes-rows", type=int, default=0,
                        help="Also time every mode × 3 seeds at one ε and at four ε on a table this size (0: skip).")
    args = parser.parse_args()
    importtime = cli_importtime()
    print(f"python -X importtime -c 'import fusiondp.cli': {importtime['total_s']} s (torch loaded: "
          f"{importtime['loads_torch']}); slowest: {importtime['slowest'][:3]}")
    runs = []
    for rows in (int(size) for size in args.sizes.split(",")):
        run = timed_run(synthetic_table(rows))
        runs.append(run)
        print(f"\n{rows} rows × {run['columns']} columns ({run['sizes']}): run {run['run_wall_s']} s wall "
              f"({run['run_cpu_s']} s CPU), training {run['training_s']} s → run / training = "
              f"{run['run_over_training']}")
        print_table([{"phase": phase, **seconds} for phase, seconds in run["phases"].items()])
    shells = [shell_run(args.shell_rows, workers=workers) for workers in (None, 1)] if args.shell_rows else []
    for shell in shells:
        print(f"\nshell prompt, {shell['rows']} × 37, {shell['command']}: {shell['wall_s']} s wall ({shell['cpu_s']} s "
              f"CPU), training {shell['training_s']} s → {shell['run_over_training']}×")
    curves = []
    for epsilon, workers in ([("1", None), ("1", 1), ("0.5,1,2,4", None)] if args.all_modes_rows else []):
        curves.append(shell_run(args.all_modes_rows, modes="all", seeds=3, epsilon=epsilon, workers=workers))
        print(f"shell prompt, {curves[-1]['command']} on {args.all_modes_rows} rows: {curves[-1]['models']} models, "
              f"{curves[-1]['wall_s']} s wall ({curves[-1]['cpu_s']} s CPU), training summed over trainings "
              f"{curves[-1]['training_s']} s")
    if curves:
        print(f"one ε, worker processes / this process alone: {curves[1]['wall_s'] / curves[0]['wall_s']:.2f}× "
              f"faster; four ε / one ε (worker processes): {curves[2]['wall_s'] / curves[0]['wall_s']:.2f}×")
    path = write_results("run", {"description": __doc__.splitlines()[0], "importtime": importtime, "runs": runs,
                                 "shell": shells, "all_modes": curves})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
