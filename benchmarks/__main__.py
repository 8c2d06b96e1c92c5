"""Run every benchmark in turn: ``python -m benchmarks`` (a few minutes on 2 CPU cores)."""

from __future__ import annotations

import sys

from benchmarks import bench_calibration, bench_per_sample, bench_run, bench_scaling, bench_step

for module in (bench_step, bench_per_sample, bench_calibration, bench_run, bench_scaling):
    print(f"\n=== {module.__name__} ===", flush=True)
    sys.argv = [module.__name__]
    module.main()
