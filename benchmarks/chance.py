"""How often issue 28's per-cell check fails by chance alone, for a method exactly as good as its baselines.

The check: fusiondp's mean over seeds ≥ the better baseline's − 1 sd of the per-seed differences (paired by seed;
the better baseline is the one with the higher mean). With few seeds the sd of the differences is itself a rough
estimate and the better of two baselines is picked by its noise, so a method whose every mode has the same mean
still fails the check in a sizeable share of cells. With one baseline the rate has a closed form: the mean is below
−1 sd exactly when the t statistic mean / (sd / √n) is below −√n, so the rate is P(t with n − 1 degrees of
freedom < −√n); ``chance_below`` estimates the general case by simulation and the tests check it against that form.

    python -m benchmarks.chance [--seeds 3] [--cells 55]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np


def chance_below(seeds: int, baselines: int = 2, draws: int = 200_000, seed: int = 0) -> float:
    """The share of cells in which a method equal in distribution to each of ``baselines`` baselines (independent
    normal noise per mode and seed) has a mean paired difference to the better baseline below −1 paired sd."""
    if seeds < 2:
        raise ValueError(f"a paired sd needs at least 2 seeds, got {seeds}")
    noise = np.random.default_rng(seed).standard_normal((draws, baselines + 1, seeds))
    method, others = noise[:, 0], noise[:, 1:]
    better = others[np.arange(draws), others.mean(axis=2).argmax(axis=1)]
    diff = method - better
    return float((diff.mean(axis=1) < -diff.std(axis=1, ddof=1)).mean())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell (default: 3)")
    parser.add_argument("--cells", type=int, default=55, help="cells checked, tables × ε (default: 55)")
    args = parser.parse_args(argv)
    for baselines in (1, 2):
        rate = chance_below(args.seeds, baselines)
        print(f"{args.seeds} seeds, better of {baselines} baseline(s): fails by chance in {rate:.1%} of cells, "
              f"about {rate * args.cells:.1f} of {args.cells}")


if __name__ == "__main__":
    main()
