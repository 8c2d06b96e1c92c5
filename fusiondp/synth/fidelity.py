"""How close synthetic sensitive values are to real ones: 1-way and 2-way total-variation distances.

An *evaluation* tool for benchmarks and teaching: it reads the real rows' sensitive values,
so its figures are not differentially private and must never be shown as part of a run's
public outputs. Every column is coded on public terms — sensitive columns on their declared
domains or bounds, public columns on quantiles of their (public) values — so the two tables
are compared on the same cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from fusiondp.spec import TableSpec
from fusiondp.synth.settings import SynthSettings, declared_codes

NUMERIC_BINS = 10
PUBLIC_BINS = 4


@dataclass(frozen=True)
class Fidelity:
    """Mean total-variation distances (0: identical distributions, 1: disjoint)."""

    marginal: float
    """Over the sensitive columns' 1-way distributions."""
    pairwise_sensitive: float
    """Over pairs of sensitive columns (NaN with a single sensitive column)."""
    pairwise_public: float
    """Over (sensitive, public) pairs: does the synthetic value depend on the public columns as the real one does?"""

    def to_dict(self) -> dict[str, float]:
        return dict(vars(self))


def total_variation(real: pd.Series, synthetic: pd.Series) -> float:
    """½·Σ|p − q| between the value frequencies of two coded columns."""
    p = real.value_counts(normalize=True)
    q = synthetic.value_counts(normalize=True)
    return float(0.5 * p.sub(q, fill_value=0.0).abs().sum())


def fidelity(spec: TableSpec, settings: SynthSettings, real: pd.DataFrame, synthetic: pd.DataFrame) -> Fidelity:
    """Compare ``synthetic`` with ``real`` on the declared cells of ``settings`` (rows need not align)."""
    codes_real = _coded(spec, settings, real, real)
    codes_synthetic = _coded(spec, settings, synthetic, real)
    marginal = [total_variation(codes_real[c], codes_synthetic[c]) for c in spec.sensitive]
    sensitive_pairs = [total_variation(codes_real[a] + "|" + codes_real[b],
                                       codes_synthetic[a] + "|" + codes_synthetic[b])
                       for a, b in combinations(spec.sensitive, 2)]
    public_pairs = [total_variation(codes_real[s] + "|" + codes_real[p], codes_synthetic[s] + "|" + codes_synthetic[p])
                    for s in spec.sensitive for p in spec.public]
    return Fidelity(float(np.mean(marginal)), float(np.mean(sensitive_pairs)) if sensitive_pairs else float("nan"),
                    float(np.mean(public_pairs)) if public_pairs else float("nan"))


def _coded(spec: TableSpec, settings: SynthSettings, frame: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Every column as a string code: declared category / bound bin / public quantile bin, or 'missing'."""
    coded = {}
    for column in spec.sensitive:
        if spec.is_categorical(column):
            domain = {str(v) for v in settings.domains[column]}
            values = frame[column].astype("string")
            coded[column] = values.where(values.isin(domain), "other").fillna("missing").astype(str)
        else:
            codes = declared_codes(spec, settings, column, frame[column], NUMERIC_BINS)
            coded[column] = pd.Series(np.where(codes < 0, "missing", codes.astype(str)), index=frame.index)
    for column in spec.public:
        if spec.is_categorical(column):
            coded[column] = frame[column].astype("string").fillna("missing").astype(str)
        else:
            edges = np.unique(np.nanquantile(pd.to_numeric(reference[column], errors="coerce"),
                                             np.linspace(0, 1, PUBLIC_BINS + 1)[1:-1]))
            numbers = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
            codes = np.searchsorted(edges, numbers, side="right").astype(str)
            coded[column] = pd.Series(np.where(np.isnan(numbers), "missing", codes), index=frame.index)
    return pd.DataFrame(coded, index=frame.index)
