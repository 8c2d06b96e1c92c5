"""The chance failure rate of issue 28's per-cell check (``benchmarks.chance``) against its closed form."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from benchmarks.chance import chance_below


@pytest.mark.parametrize("seeds", [3, 5, 10])
def test_with_one_baseline_the_rate_is_the_t_distributions_tail_at_minus_root_n(seeds: int) -> None:
    """mean < −sd ⟺ t = mean / (sd/√n) < −√n, so the simulated rate must match P(t_{n−1} < −√n)."""
    exact = stats.t.cdf(-math.sqrt(seeds), df=seeds - 1)
    assert chance_below(seeds, baselines=1) == pytest.approx(exact, abs=0.003)


def test_the_better_of_two_baselines_fails_more_often_and_more_seeds_fail_less() -> None:
    """Picking the better baseline by its noise biases the difference down: two baselines fail more often than one,
    and the rate falls with the seeds (at 10 the check is a real test)."""
    assert chance_below(3, baselines=2) > chance_below(3, baselines=1) + 0.04
    assert chance_below(10, baselines=2) < 0.02 < 0.1 < chance_below(3, baselines=2)
