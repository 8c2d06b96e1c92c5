"""Sweep wall time: 1 vs 2 local workers (speed-up), local vs Ray, and how workers get the data.

Why: a sweep is only worth parallelising if the workers' start-up and the shipping of the
prepared data cost less than the training they take over. This times the same small grid
on each backend (imputation included: it runs once in the parent either way), the cost
of preparing the data against pickling it (what each worker would otherwise redo), and
optionally the full acceptance curve (ε ∈ {0.5, 1, 2, 4, 8}, all modes, 3 seeds).

    python -m benchmarks.bench_sweep [--curve] [--epochs 13]

Prints a table and writes benchmarks/results/sweep.json (and sweep_curve.json with --curve).
Timings on a shared 2-core box are noisy: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pickle
import tempfile
import time
from typing import Any

from benchmarks.common import SAMPLE_CSV, SAMPLE_SPEC, prepared_sample, print_table, write_results
from fusiondp.config import RunConfig
from fusiondp.result_tables import per_epsilon_table
from fusiondp.sweep import Backend, run_sweep
from fusiondp.sweep_grid import SweepGrid, expand

# reproducible_noise: the "same numbers" column compares backends run for run, which only replayable noise
# can match; timings do not depend on it. Its models carry no DP guarantee (and none leaves this benchmark).
BASE = {"data": str(SAMPLE_CSV), "spec": str(SAMPLE_SPEC), "imputer": "gbdt", "reproducible_noise": True}
SMALL_GRID = {"modes": ["sgd_ori", "dpsgd", "fusiondp"], "epsilon": [1, 4], "seeds": [0, 1]}
CURVE_GRID = {"modes": ["all"], "epsilon": [0.5, 1, 2, 4, 8], "seeds": [0, 1, 2]}


def timed_sweep(grid: SweepGrid, backend: Backend, workers: int) -> tuple[float, Any]:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        table = run_sweep(grid, out, backend=backend, workers=workers, progress=False)
        return time.perf_counter() - started, table


def data_shipping() -> dict[str, float]:
    """Preparing once per worker vs pickling the prepared data once and unpickling it per worker."""
    started = time.perf_counter()
    prepared = prepared_sample()
    prepare_s = time.perf_counter() - started
    started = time.perf_counter()
    payload = pickle.dumps(prepared)
    dumps_s = time.perf_counter() - started
    started = time.perf_counter()
    pickle.loads(payload)
    loads_s = time.perf_counter() - started
    return {"prepare_s": prepare_s, "pickle_mb": len(payload) / 2**20, "pickle_dumps_s": dumps_s,
            "pickle_loads_s": loads_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=RunConfig().epochs, help="epochs of the timed small grid")
    parser.add_argument("--curve", action="store_true", help="also run the acceptance curve (default epochs)")
    parser.add_argument("--curve-epochs", type=int, default=RunConfig().epochs)
    args = parser.parse_args()

    small = SweepGrid.from_dict({"base": {**BASE, "epochs": args.epochs}, "grid": SMALL_GRID})
    runs = len(expand(small))
    results: dict[str, Any] = {"cpus": os.cpu_count(), "shipping": data_shipping(),
                               "small_grid": {**SMALL_GRID, "epochs": args.epochs, "runs": runs}}
    timings = {}
    reference = None
    runs_on: list[tuple[Backend, int]] = [("local", 1), ("local", 2), ("ray", 2)]
    for backend, workers in runs_on:
        if backend == "ray" and importlib.util.find_spec("ray") is None:
            print('ray not installed: skipping (pip install "fusiondp[ray]")')
            continue
        wall, table = timed_sweep(small, backend, workers)
        metrics = table.set_index("key").sort_index()[["auroc", "auprc", "epsilon_spent"]]
        reference = metrics if reference is None else reference
        timings[f"{backend}_{workers}"] = {"wall_s": wall, "identical_to_local_1": bool(metrics.equals(reference))}
    if "local_1" in timings and "local_2" in timings:
        results["speedup_2_vs_1_workers"] = timings["local_1"]["wall_s"] / timings["local_2"]["wall_s"]
    if "ray_2" in timings:
        results["ray_vs_local_2"] = timings["ray_2"]["wall_s"] / timings["local_2"]["wall_s"]
    results["timings"] = timings

    shipping = results["shipping"]
    print(f"small grid: {runs} runs, {args.epochs} epochs, {os.cpu_count()} CPUs")
    print(f"prepare (impute + encode): {shipping['prepare_s']:.2f} s · pickled PreparedData "
          f"{shipping['pickle_mb']:.1f} MB, dumps {shipping['pickle_dumps_s'] * 1e3:.0f} ms, "
          f"loads {shipping['pickle_loads_s'] * 1e3:.0f} ms")
    print_table([{"backend": name.rsplit("_", 1)[0], "workers": int(name.rsplit("_", 1)[1]),
                  "wall_s": t["wall_s"], "same_numbers": t["identical_to_local_1"]} for name, t in timings.items()])
    for key in ("speedup_2_vs_1_workers", "ray_vs_local_2"):
        if key in results:
            print(f"{key}: {results[key]:.2f}")

    if args.curve:
        curve = SweepGrid.from_dict({"base": {**BASE, "epochs": args.curve_epochs}, "grid": CURVE_GRID})
        wall, table = timed_sweep(curve, "local", 2)
        summary = per_epsilon_table(table)
        curve_result = {"grid": CURVE_GRID, "epochs": args.curve_epochs, "runs": len(table), "wall_s": wall,
                        "table": summary.astype(object).where(summary.notna(), None).to_dict(orient="records")}
        print(f"\ncurve: {len(table)} runs in {wall:.0f} s (local, 2 workers)")
        print(summary[["epsilon", "mode", "seeds", "auroc_mean", "auroc_sd", "auprc_mean", "auprc_sd",
                       "epsilon_spent"]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(f"written: {write_results('sweep_curve', curve_result)}")
    print(f"written: {write_results('sweep', results)}")


if __name__ == "__main__":
    main()
