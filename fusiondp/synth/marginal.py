"""A DP-synthetic support set, for tables with no public rows carrying real sensitive values.

The imputer needs rows whose sensitive values it may read (METHOD.md §2, source 3). When
there are none, we release them under differential privacy. The public columns of the
private training rows are public by definition, so a synthetic support row keeps a training
row's public columns (and target) as they are and only its sensitive columns are drawn anew,
each from a noisy conditional distribution given a few binned public columns:

1. each sensitive column is discretised on a *user-declared* domain (categories) or
   *user-declared* bounds split into equal-width bins — never on the private values' own
   categories, minimum or maximum (METHOD.md §5);
2. for each sensitive column, one to three public "conditioning" columns, binned on their
   (public) quantiles: named by the user (the same for every sensitive column), or else
   selected per sensitive column under DP by report-noisy-max, with 10% of the budget;
3. for every sensitive column the contingency table (public cell × sensitive bin) of the
   training rows is measured once with the Gaussian mechanism — with step 2's noisy scores
   the only places where the private sensitive values are read;
4. post-processing (free under DP): negative counts clipped, rows normalised, an empty cell
   falls back to the column's noisy 1-way marginal (the noisy table summed over cells);
5. each synthetic row's sensitive values are sampled from its cell's conditional
   (numeric: uniformly within the sampled bin).

Privacy: the neighbouring relation is "one training row's sensitive values change
arbitrarily" (it covers FusionDP's replace-by-imputation relation). Such a change moves one
count down and one up in each of the k tables, so the concatenated tables have L2
sensitivity √(2k); one Gaussian mechanism with σ = √(2k)/√(2ρ_m) on all of them is
ρ_m-zCDP (equivalently: ρ_m split equally over the k tables). The selection is ρ_s-zCDP and
ρ = ρ_s + ρ_m (zCDP composes additively). ρ is calibrated so that ρ-zCDP converts to
(ε_syn, δ_syn)-DP with the same RDP-to-DP conversion the training accountant uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fusiondp.errors import ConfigError, PrivacyError
from fusiondp.privacy.accounting import RDP_ORDERS, rdp_to_epsilon
from fusiondp.privacy.randomness import protective_numpy_generator
from fusiondp.spec import TableSpec
from fusiondp.synth.settings import SynthSettings, check_domains, declared_codes

AUTO_CONDITION_COLUMNS = 2
"""Public columns per sensitive column when the user names none: each one multiplies the cells
that share the same noise, so more columns mean noisier conditionals."""
SELECTION_SHARE = 0.1
"""Share of ρ spent selecting the conditioning columns; scores are sums of counts in the thousands
while the selection noise is tens, so a small share suffices."""
MAX_CONDITION_COLUMNS = 3
"""Beyond three binned public columns the cells hold too few rows for any useful signal at ε ≈ 1."""


def zcdp_epsilon(rho: float, delta: float) -> float:
    """ε of ρ-zCDP at ``delta``: its RDP curve ρ·α converted with opacus' ``get_privacy_spent``.

    This is the conversion the RDP training accountant uses, so ε_syn and the training ε are
    in the same currency and can be composed on the RDP curve (``fusiondp.privacy.accounting``).
    """
    orders = np.asarray(RDP_ORDERS)
    return rdp_to_epsilon(orders, rho * orders, delta)


def rho_for_epsilon(epsilon: float, delta: float, rtol: float = 1e-6) -> float:
    """The largest ρ whose zCDP guarantee converts to at most (``epsilon``, ``delta``)-DP.

    Bisection (ε is increasing in ρ), started from the closed-form conversion
    ε = ρ + 2√(ρ·ln(1/δ)), which is looser, so its ρ is a valid lower end.
    """
    if not (math.isfinite(epsilon) and epsilon > 0 and 0 < delta < 1):
        raise PrivacyError(f"ε_syn must be positive and finite and δ_syn in (0, 1); got {epsilon}, {delta}.")
    log_inv_delta = math.log(1 / delta)
    low = (math.sqrt(epsilon + log_inv_delta) - math.sqrt(log_inv_delta)) ** 2
    high = max(epsilon, 2 * low)
    while zcdp_epsilon(high, delta) <= epsilon:
        low, high = high, 2 * high
    while high / low > 1 + rtol:
        middle = math.sqrt(low * high)
        if zcdp_epsilon(middle, delta) <= epsilon:
            low = middle
        else:
            high = middle
    return low


@dataclass
class SynthesisSummary:
    """The public facts of one synthesis, for the data summary, the ledger and the report."""

    epsilon: float
    delta: float
    rho: float
    sigma: float
    rows: int
    condition_on: dict[str, list[str]]
    """Per sensitive column, the public columns its synthetic values were conditioned on."""
    rho_selection: float
    """Part of ρ spent choosing ``condition_on`` (0 when the user named the columns)."""
    method: str = "marginal"

    def describe(self) -> str:
        chosen = "user-chosen" if self.rho_selection == 0 else "DP-selected"
        given = "; ".join(f"{c} | {', '.join(cols)}" for c, cols in self.condition_on.items())
        return (f"DP-synthetic ({self.rows} rows: the private training rows' public columns with sensitive values "
                f"sampled from noisy conditionals given {chosen} public columns ({given}); ε_syn = {self.epsilon:g}, "
                f"δ_syn = {self.delta:g}, ρ = {self.rho:.4g}-zCDP, σ = {self.sigma:.3g})")

    def mechanism(self) -> str:
        return f"ρ = {self.rho:.3g}-zCDP Gaussian measurement of noisy marginals"

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class _PublicBinning:
    """Quantile bins of numeric public columns, top categories of categorical ones (public values only)."""

    def __init__(self, spec: TableSpec, columns: Sequence[str], bins: int) -> None:
        self.spec, self.columns, self.bins = spec, list(columns), bins
        self.edges: dict[str, np.ndarray] = {}
        self.levels: dict[str, list[str]] = {}

    def fit(self, public: pd.DataFrame) -> _PublicBinning:
        for column in self.columns:
            values = public[column]
            if self.spec.is_categorical(column):
                self.levels[column] = list(values.dropna().astype(str).value_counts().index[: self.bins - 1])
            else:
                numbers = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
                quantiles = np.quantile(numbers, np.linspace(0, 1, self.bins + 1)[1:-1]) if len(numbers) else []
                self.edges[column] = np.unique(quantiles)
        return self

    def sizes(self) -> list[int]:
        """Codes per column: the bins plus one for "other" (categorical) or "missing"."""
        return [len(self.levels[c]) + 2 if c in self.levels else len(self.edges[c]) + 2 for c in self.columns]

    def codes(self, public: pd.DataFrame, column: str) -> np.ndarray:
        values = public[column]
        if column in self.levels:
            index = {level: i for i, level in enumerate(self.levels[column])}
            other, missing = len(index), len(index) + 1
            return np.array([missing if pd.isna(v) else index.get(str(v), other) for v in values], dtype=np.int64)
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        codes = np.searchsorted(self.edges[column], numbers, side="right")
        codes[np.isnan(numbers)] = len(self.edges[column]) + 1
        return codes.astype(np.int64)

    def cells(self, public: pd.DataFrame) -> np.ndarray:
        """One flat cell index per row (mixed radix over the conditioning columns)."""
        cell = np.zeros(len(public), dtype=np.int64)
        for column, size in zip(self.columns, self.sizes(), strict=True):
            cell = cell * size + self.codes(public, column)
        return cell


class MarginalSynthesizer:
    """Noisy (public cell × sensitive bin) tables, measured once, sampled as often as needed.

    ``fit`` is the only method that reads sensitive values, and only through ``_noisy_scores``
    (Gumbel noise, when the conditioning columns are selected under DP) and ``_measure``
    (Gaussian noise): nothing else sees them.
    """

    def __init__(self, spec: TableSpec, settings: SynthSettings) -> None:
        self.spec = spec
        self.settings = settings
        check_domains(spec, settings)
        if settings.condition_on is not None:
            _check_condition_on(spec, settings.condition_on)
        elif not spec.public:
            raise ConfigError("The DP-synthetic support needs at least one public column to condition on; the spec "
                              "marks every feature sensitive. Use a separate public table (support_data) instead.")
        self.rho = rho_for_epsilon(settings.epsilon, settings.delta)
        self.rho_selection = 0.0 if settings.condition_on is not None else SELECTION_SHARE * self.rho
        tables = len(spec.sensitive)
        self.sigma = math.sqrt(2 * tables) / math.sqrt(2 * (self.rho - self.rho_selection))
        self.binnings_: dict[str, _PublicBinning] = {}
        self.conditionals_: dict[str, np.ndarray] = {}

    def fit(self, train: pd.DataFrame) -> MarginalSynthesizer:
        """Bin the public columns (public), choose each column's conditioning columns, measure its noisy table."""
        # selection and measurement noise: secret unless reproducible_noise (fusiondp.privacy.randomness)
        rng = protective_numpy_generator((self.settings.seed, "marginal") if self.settings.reproducible_noise else None)
        candidates = _PublicBinning(self.spec, self.spec.public, self.settings.public_bins).fit(train)
        public_codes = {c: (candidates.codes(train, c), size) for c, size in zip(self.spec.public, candidates.sizes(),
                                                                                 strict=True)}
        for column in self.spec.sensitive:
            codes = declared_codes(self.spec, self.settings, column, train[column])
            chosen = (list(self.settings.condition_on) if self.settings.condition_on is not None
                      else self._select(public_codes, codes, column, rng))
            binning = _PublicBinning(self.spec, chosen, self.settings.public_bins).fit(train)
            noisy = self._measure(binning.cells(train), int(np.prod(binning.sizes())), codes, column, rng)
            self.binnings_[column], self.conditionals_[column] = binning, conditionals(noisy)
        return self

    def _select(self, public_codes: dict[str, tuple[np.ndarray, int]], codes: np.ndarray, column: str,
                rng: np.random.Generator) -> list[str]:
        """``AUTO_CONDITION_COLUMNS`` public columns, picked one at a time by report-noisy-max.

        The score of a candidate is how many rows the cell-wise majority bin of ``column``
        predicts correctly, given the columns picked so far and the candidate. Changing one
        row's sensitive value moves one cell's counts by ±1, so its maximum — and the score —
        by at most 1. Report-noisy-max with Gumbel noise of scale 2/ε is the exponential
        mechanism, ε-DP and ε²/8-zCDP (Cesar & Rogers 2021); ρ_selection is split evenly
        over all picks of all columns.
        """
        picks = min(AUTO_CONDITION_COLUMNS, len(self.spec.public))
        epsilon_pick = math.sqrt(8 * self.rho_selection / (picks * len(self.spec.sensitive)))
        base = np.zeros(len(codes), dtype=np.int64)
        chosen: list[str] = []
        for _ in range(picks):
            remaining = [c for c in self.spec.public if c not in chosen]
            cells = [base * public_codes[c][1] + public_codes[c][0] for c in remaining]
            scores = self._noisy_scores(cells, codes, column, 2 / epsilon_pick, rng)
            best = remaining[int(np.argmax(scores))]
            base = cells[remaining.index(best)]
            chosen.append(best)
        return chosen

    def _noisy_scores(self, cells: list[np.ndarray], codes: np.ndarray, column: str, scale: float,
                      rng: np.random.Generator) -> np.ndarray:
        observed = codes >= 0
        scores = []
        for cell in cells:
            _, flat = np.unique(cell[observed], return_inverse=True)
            counts = np.zeros((flat.max(initial=-1) + 1, self._levels(column)))
            np.add.at(counts, (flat, codes[observed]), 1.0)
            scores.append(counts.max(axis=1, initial=0.0).sum())
        return np.asarray(scores) + rng.gumbel(0.0, scale, len(scores))

    def _measure(self, cells: np.ndarray, n_cells: int, codes: np.ndarray, column: str,
                 rng: np.random.Generator) -> np.ndarray:
        counts = np.zeros((n_cells, self._levels(column)))
        observed = codes >= 0
        np.add.at(counts, (cells[observed], codes[observed]), 1.0)
        return counts + rng.normal(0.0, self.sigma, counts.shape)

    def _levels(self, column: str) -> int:
        return len(self.settings.domains[column]) if self.spec.is_categorical(column) else self.settings.bins

    def sample(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows``' public columns and target, with sensitive values drawn from the noisy conditionals."""
        if not self.conditionals_:
            raise RuntimeError("MarginalSynthesizer.sample called before fit")
        draw = np.random.default_rng(np.random.SeedSequence([self.settings.seed, 1]))
        synthetic = rows[[*self.spec.public, self.spec.target]].reset_index(drop=True).copy()
        for column in self.spec.sensitive:
            cdf = np.cumsum(self.conditionals_[column], axis=1)[self.binnings_[column].cells(synthetic)]
            picked = np.minimum((draw.random(len(cdf))[:, None] > cdf).sum(axis=1), cdf.shape[1] - 1)
            if self.spec.is_categorical(column):
                domain = list(self.settings.domains[column])
                synthetic[column] = pd.Series([domain[i] for i in picked])
            else:
                low, high = self.settings.bounds[column]
                within = draw.random(len(cdf))
                synthetic[column] = low + (picked + within) * (high - low) / self.settings.bins
        return synthetic[[c for c in rows.columns if c in synthetic.columns]]

    def summary(self, rows: int) -> SynthesisSummary:
        if not self.conditionals_:
            raise RuntimeError("MarginalSynthesizer.summary called before fit")
        return SynthesisSummary(self.settings.epsilon, self.settings.delta, self.rho, self.sigma, rows,
                                {c: list(b.columns) for c, b in self.binnings_.items()}, self.rho_selection)


def conditionals(noisy: np.ndarray) -> np.ndarray:
    """Post-process a noisy (cell × level) table into one distribution per cell.

    Negative counts are clipped to zero; a cell with no mass left takes the noisy 1-way
    marginal (the table summed over cells, clipped), and a column with no mass at all is
    uniform. Post-processing costs no privacy.
    """
    clipped = np.clip(noisy, 0.0, None)
    marginal = np.clip(noisy.sum(axis=0), 0.0, None)
    marginal = marginal / marginal.sum() if marginal.sum() > 0 else np.full(noisy.shape[1], 1 / noisy.shape[1])
    totals = clipped.sum(axis=1, keepdims=True)
    empty = totals[:, 0] <= 0
    clipped[empty] = marginal
    totals[empty] = 1.0
    return clipped / totals


def _check_condition_on(spec: TableSpec, columns: Sequence[str]) -> None:
    wrong = [c for c in columns if c not in spec.public]
    if wrong:
        raise ConfigError(f"synth_condition_on names {wrong}, which are not public columns; the synthesizer may "
                          f"condition on public columns only ({', '.join(spec.public)}).")
    if not 1 <= len(columns) <= MAX_CONDITION_COLUMNS:
        raise ConfigError(f"synth_condition_on must name 1 to {MAX_CONDITION_COLUMNS} public columns (got "
                          f"{len(columns)}): more cells spread the same noise too thin.")
