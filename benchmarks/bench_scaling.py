"""Epoch time and peak memory of a FusionDP epoch against rows and width.

Each size runs in a fresh process (peak RSS is per process). Rows: 10k, 100k, 1M with the
sample data's encoded width; width: 20, 100, 500 encoded features at 10k rows. Epoch time
should grow linearly in rows, and peak memory must not grow from epoch 1 to epoch 3.
Usage: ``python -m benchmarks.bench_scaling [--max-rows 1000000]``. Writes results/scaling.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time

import torch

from benchmarks.common import print_table, write_results
from fusiondp.train.loop import ModeStep, TrainSettings, TrainTensors
from fusiondp.train.modes import get_mode

SAMPLE_WIDTH = 60
SUPPORT_ROWS = 100


def synthetic_tensors(rows: int, width: int, seed: int = 0) -> TrainTensors:
    gen = torch.Generator().manual_seed(seed)
    x_real = torch.randn(rows, width, generator=gen)
    x_hybrid = x_real + 0.5 * torch.randn(rows, width, generator=gen)
    public = torch.arange(width - width // 5)
    blank = x_hybrid.clone()
    blank[:, len(public):] = 0.0
    y = (torch.rand(rows, generator=gen) < 0.16).float()
    small = torch.randn(SUPPORT_ROWS, width, generator=gen)
    return TrainTensors(x_real=x_real, x_hybrid=x_hybrid, x_blank=blank, y=y, x_val_hybrid=small,
                        y_val=y[:SUPPORT_ROWS], x_test=small, y_test=y[:SUPPORT_ROWS], support_real=small,
                        support_hybrid=small + 0.1, support_blank=small, public_features=public)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_epochs(rows: int, width: int, epochs: int, queue: multiprocessing.Queue) -> None:
    torch.set_num_threads(1)
    data = synthetic_tensors(rows, width)
    settings = TrainSettings(epochs=epochs)
    step = ModeStep(data, get_mode("fusiondp"), settings, seed=0, sigma=1.0)
    timings, peaks, done = [], [], 0
    for end in step.epoch_ends:
        started = time.perf_counter()
        while done < end:
            step()
            done += 1
        step.take_losses()
        timings.append(time.perf_counter() - started)
        peaks.append(peak_rss_mib())
    queue.put({"rows": rows, "width": width, "steps_per_epoch": step.epoch_ends[0],
               "epoch_s": timings[0], "ms_per_step": 1e3 * timings[0] / step.epoch_ends[0],
               "peak_mib_epoch1": peaks[0], "peak_mib_last": peaks[-1], "epochs": epochs})


def measure(rows: int, width: int, epochs: int) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=run_epochs, args=(rows, width, epochs, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    sizes = [(r, SAMPLE_WIDTH, 3 if r <= 100_000 else 1) for r in (10_000, 100_000, 1_000_000) if r <= args.max_rows]
    sizes += [(10_000, w, 1) for w in (20, 100, 500)]
    rows = [measure(*size) for size in sizes]
    print("FusionDP epochs on synthetic data (1 thread); B = 128, public batch 4096")
    print_table(rows)
    print(f"\nwrote {write_results('scaling', {'rows': rows})}")


if __name__ == "__main__":
    main()
