"""Step time of every mode relative to an ``sgd_ori`` step, measured interleaved in one run.

Usage: ``python -m benchmarks.bench_step [--repeats 30]``. Writes benchmarks/results/step.json.
"""

from __future__ import annotations

import argparse

from benchmarks.common import interleaved_medians, prepared_sample, print_table, write_results
from fusiondp.ledger import privacy_plan
from fusiondp.prepared import torch_threads
from fusiondp.train.loop import ModeStep
from fusiondp.train.modes import ALL_MODES, get_mode


def measure(repeats: int, threads: int, public_batch_size: int) -> list[dict]:
    prepared = prepared_sample(public_batch_size=public_batch_size)
    with torch_threads(threads):
        steps = {}
        for name in ALL_MODES:
            moded = prepared.for_mode(name)  # its encoding, under numeric_encoding: auto
            sigma = privacy_plan(moded, get_mode(name))[0]
            steps[name] = ModeStep(moded.tensors, get_mode(name), moded.config.train_settings(), seed=0, sigma=sigma)
        medians = interleaved_medians(steps, repeats)
    base = medians["sgd_ori"]
    return [{"threads": threads, "public_batch": public_batch_size, "mode": name, "step_ms": 1e3 * t,
             "vs_sgd_ori": t / base, "vs_dpsgd": t / medians["dpsgd"]} for name, t in medians.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    # The reference public batch (4096 ≥ the 3,058 training rows: every row, every step), then one
    # as small as the private batch, to separate the public pass from the per-sample private term.
    rows = [row for threads in (1, 2) for row in measure(args.repeats, threads, 4096)]
    rows += measure(args.repeats, 1, 128)
    print_table(rows)
    print(f"\nwrote {write_results('step', {'repeats': args.repeats, 'rows': rows})}")


if __name__ == "__main__":
    main()
