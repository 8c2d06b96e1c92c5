"""Step time of every mode relative to an ``sgd_ori`` step, measured interleaved in one run.

Usage: ``python -m benchmarks.bench_step [--repeats 30]``. Writes benchmarks/results/step.json.
"""

from __future__ import annotations

import argparse

from benchmarks.common import interleaved_medians, prepared_sample, print_table, write_results
from fusiondp.pipeline import privacy_plan, torch_threads
from fusiondp.train.loop import ModeStep
from fusiondp.train.modes import ALL_MODES, get_mode


def measure(repeats: int, threads: int) -> list[dict]:
    prepared = prepared_sample()
    settings = prepared.config.train_settings()
    with torch_threads(threads):
        steps = {}
        for name in ALL_MODES:
            sigma = privacy_plan(prepared, get_mode(name))[0]
            steps[name] = ModeStep(prepared.tensors, get_mode(name), settings, seed=0, sigma=sigma)
        medians = interleaved_medians(steps, repeats)
    base = medians["sgd_ori"]
    return [{"threads": threads, "mode": name, "step_ms": 1e3 * t, "vs_sgd_ori": t / base,
             "vs_dpsgd": t / medians["dpsgd"]} for name, t in medians.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    rows = [row for threads in (1, 2) for row in measure(args.repeats, threads)]
    print_table(rows)
    print(f"\nwrote {write_results('step', {'repeats': args.repeats, 'rows': rows})}")


if __name__ == "__main__":
    main()
