"""End-to-end ``fusiondp run`` on the sample data: wall time per mode and in total (ε = 1, 1 seed).

Usage: ``python -m benchmarks.bench_run``. Writes benchmarks/results/run.json.
"""

from __future__ import annotations

import time

from benchmarks.common import print_table, sample_config, write_results
from fusiondp.pipeline import prepare, train_run
from fusiondp.train.modes import ALL_MODES


def main() -> None:
    started = time.perf_counter()
    config = sample_config(modes=list(ALL_MODES), seeds=[0], epsilon=1.0)
    prepared = prepare(config)
    prepare_s = time.perf_counter() - started
    rows = []
    for mode in ALL_MODES:
        record = train_run(prepared, mode, 0)
        rows.append({"mode": mode, "train_s": record.timing["wall_time_s"],
                     "calibration_s": record.timing["calibration_s"], "steps_per_s": record.timing["steps_per_s"],
                     "auroc": record.metrics["auroc"]})
    total = time.perf_counter() - started
    print(f"sample data, ε = 1, 1 seed: prepare (load, split, impute, encode) {prepare_s:.1f} s, total {total:.1f} s")
    print_table(rows)
    print(f"\nwrote {write_results('run', {'prepare_s': prepare_s, 'total_s': total, 'rows': rows})}")


if __name__ == "__main__":
    main()
