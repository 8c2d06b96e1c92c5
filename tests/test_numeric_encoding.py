"""Numeric columns scaled to normal scores: a column's result must not hang on its units or its skew.

Under DP-SGD a step moves the weights by at most lr·C, so a feature's encoded spread decides how fast
it is learned; z-scores squeeze a skewed column near 0. The quantile encoding reads a column through
its support rows' distribution, so any increasing transform of it (other units, its log) encodes alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fusiondp import TableSpec
from fusiondp.encode import STANDARD_CLIP, TableEncoder

SPEC = TableSpec(target="y", sensitive=["stay"], categorical=[])


def table(stay: np.ndarray, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"lab": rng.normal(size=len(stay)), "stay": stay, "y": rng.integers(0, 2, len(stay))})


def encoded_stay(values: np.ndarray, support: np.ndarray, numeric: str) -> np.ndarray:
    encoder = TableEncoder(SPEC, numeric).fit(public_rows=table(support), sensitive_rows=table(support))
    return encoder.transform(table(values))[:, encoder.column_slices()["stay"]][:, 0]


RNG = np.random.default_rng(1)
STAY = np.round(RNG.lognormal(1.0, 1.2, 3000), 1)  # skewed, with ties, like a length of stay in days
SUPPORT, PRIVATE = STAY[:400], STAY[400:]


@pytest.mark.parametrize("transform", [lambda d: 24 * d + 3, np.log1p, np.sqrt])
def test_an_increasing_transform_of_a_column_leaves_its_normal_scores_unchanged(transform) -> None:
    raw = encoded_stay(PRIVATE, SUPPORT, "quantile")
    moved = encoded_stay(transform(PRIVATE), transform(SUPPORT), "quantile")
    assert (np.argsort(np.argsort(raw, kind="stable")) == np.argsort(np.argsort(moved, kind="stable"))).all()
    # between two support values a row's score is interpolated, in the column's own units: a nonlinear
    # transform moves it by less than the gap between those two neighbours' scores
    gaps = np.diff(np.unique(encoded_stay(SUPPORT, SUPPORT, "quantile")))
    assert np.abs(raw - moved).max() <= gaps.max() + 1e-6
    at_support = encoded_stay(SUPPORT, SUPPORT, "quantile")
    np.testing.assert_allclose(encoded_stay(transform(SUPPORT), transform(SUPPORT), "quantile"), at_support,
                               atol=1e-5)


def test_z_scores_do_hang_on_the_transform_and_squeeze_a_skewed_column() -> None:
    """The twin of the test above, so that it can fail: z-scores of the same column and of its log differ,
    and the skewed column's middle half is packed into a fraction of the normal scores' spread."""
    raw = encoded_stay(PRIVATE, SUPPORT, "standard")
    logged = encoded_stay(np.log1p(PRIVATE), np.log1p(SUPPORT), "standard")
    assert np.abs(raw - logged).max() > 0.5
    quantile = encoded_stay(PRIVATE, SUPPORT, "quantile")
    iqr = {name: np.subtract(*np.percentile(values, [75, 25])) for name, values in
           (("standard", raw), ("quantile", quantile))}
    assert iqr["standard"] < 0.5 * iqr["quantile"]


def test_ties_share_one_score_and_values_beyond_the_support_stay_bounded() -> None:
    support = np.r_[np.zeros(300), RNG.exponential(5.0, 200)]  # 60 % zeros
    scores = encoded_stay(np.array([0.0, 0.0, -5.0, 1e9]), support, "quantile")
    assert scores[0] == scores[1] == pytest.approx(-0.524, abs=3e-3)  # Φ⁻¹(0.3): the middle of the zeros' 60 %
    assert scores[2] == -scores[3] and 0 < scores[3] < STANDARD_CLIP
    assert np.isfinite(scores).all()
