"""Turning table rows into model inputs, with encoders fitted on public information only.

One encoder serves every view (real, hybrid, uninformative), so ``ℓ(x) − ℓ(x̃)`` measures
the sensitive values and not a scaling artefact. The pipeline fits every column on the
support set alone: never on the private rows — not even their public columns, because for
row-level DP (``dpsgd``) a vocabulary or scaler fitted on training rows is itself a release
(one row with an unseen category would change the model's input width).

Missing values mean the same in every view. Each sensitive column always has a "missing"
code — a ``<missing>`` level (categorical) or a 0/1 indicator next to the value (numeric) —
whatever the support set holds, so the width of the input never depends on data and a value
missing in the real view, predicted missing in the hybrid view, or blanked in the
uninformative view is coded identically (METHOD.md §5a). Public columns get the code when
their fitting rows have missing values.

Numeric columns are read in one of two ways (``NUMERIC_ENCODINGS``): ``standard`` (z-score: centred on
the fitting rows' mean, divided by their standard deviation, clipped at ±5) or ``quantile`` (the fitting
rows' empirical distribution function, then the standard normal's quantile function: normal scores).
Under DP-SGD every step moves the weights by at most lr·C, so a feature whose encoded values are
small is learned slowly: a skewed column's z-scores are squeezed near 0 by its tail, and its result
then hangs on the accident of its scale. Normal scores give every numeric column the same spread,
and the same encoding for any increasing transform of the column (days or hours, a value or its log).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from fusiondp.spec import TableSpec, ValueKind, category_text, value_kind

MISSING_LEVEL = "<missing>"
STANDARD_CLIP = 5.0
"""Standardised numeric values are clipped to ±this many standard deviations."""
NumericEncoding = Literal["standard", "quantile"]
NUMERIC_ENCODINGS: tuple[NumericEncoding, ...] = ("standard", "quantile")
MAX_KNOTS = 1000
"""At most this many quantiles of the fitting rows define a column's normal scores."""


@dataclass(frozen=True)
class NumericCoding:
    fill: float
    mean: float
    std: float
    missing_indicator: bool = False
    """Whether a 0/1 "is missing" feature follows the value."""
    knots: tuple[float, ...] = ()
    """Quantile encoding: the fitting rows' quantiles at evenly spaced levels (empty: z-score)."""
    bound: float = 0.0
    """Quantile encoding: normal scores are kept within ±bound, the score of half a fitting row's share."""

    def scale(self, numbers: np.ndarray) -> np.ndarray:
        """The encoded values of ``numbers`` (no missing values)."""
        if not self.knots:
            return ((numbers - self.mean) / self.std).clip(-STANDARD_CLIP, STANDARD_CLIP)
        from scipy.special import ndtri  # here: the config imports this module, and `fusiondp --help` it
        knots = np.asarray(self.knots)
        levels = np.linspace(0.0, 1.0, len(knots))
        # Ties (a value repeated across knots) get the middle of their levels: interpolating upward
        # and downward and averaging, so a column of few distinct values still maps each to one score.
        share = 0.5 * (np.interp(numbers, knots, levels) - np.interp(-numbers, -knots[::-1], -levels[::-1]))
        return ndtri(share.clip(0.0, 1.0)).clip(-self.bound, self.bound)


def _fit_numeric(values: pd.Series, missing_code: bool, encoding: NumericEncoding) -> NumericCoding:
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    indicator = missing_code or bool(numbers.isna().any())
    if numbers.notna().sum() == 0:
        return NumericCoding(0.0, 0.0, 1.0, indicator)
    fill = float(numbers.median())
    present = numbers.dropna()
    std = float(present.std(ddof=0))
    if encoding == "standard" or present.nunique() < 2:
        return NumericCoding(fill, float(present.mean()), std if std > 0 else 1.0, indicator)
    from scipy.special import ndtri

    knots = np.quantile(present.to_numpy(), np.linspace(0.0, 1.0, min(len(present), MAX_KNOTS)))
    return NumericCoding(fill, float(present.mean()), std if std > 0 else 1.0, indicator,
                         knots=tuple(float(k) for k in knots), bound=float(-ndtri(0.5 / len(present))))


def _fit_levels(values: pd.Series, kind: ValueKind, missing_code: bool) -> tuple[str, ...]:
    levels = sorted(category_text(values, kind).dropna().unique().tolist())
    if missing_code or values.isna().any():
        levels.append(MISSING_LEVEL)
    return tuple(levels)


class TableEncoder:
    """Scales numeric columns (``numeric``: z-scores or normal scores) and one-hot encodes categorical ones,
    in ``spec.features`` order."""

    def __init__(self, spec: TableSpec, numeric: NumericEncoding = "standard") -> None:
        self.spec = spec
        self.numeric = numeric

    def fit(self, public_rows: pd.DataFrame, sensitive_rows: pd.DataFrame) -> TableEncoder:
        """Fit public columns on ``public_rows`` and sensitive columns on ``sensitive_rows``.

        ``sensitive_rows`` must hold public sensitive values only (the support set).
        """
        self.numeric_: dict[str, NumericCoding] = {}
        self.levels_: dict[str, tuple[str, ...]] = {}
        self.kinds_: dict[str, ValueKind] = {}
        """How each categorical column's values are named (``category_text``): read off the fitting rows, so
        that a row transformed later — private, or typed otherwise by its reader — is named alike."""
        for column in self.spec.features:
            sensitive = column not in self.spec.public
            source = sensitive_rows if sensitive else public_rows
            if self.spec.is_categorical(column):
                self.kinds_[column] = value_kind(source[column])
                self.levels_[column] = _fit_levels(source[column], self.kinds_[column], missing_code=sensitive)
            else:
                self.numeric_[column] = _fit_numeric(source[column], missing_code=sensitive, encoding=self.numeric)
        self.feature_names_ = [name for column in self.spec.features for name in self._names(column)]
        self.public_width_ = sum(len(self._names(c)) for c in self.spec.public)
        return self

    def _names(self, column: str) -> list[str]:
        if column in self.levels_:
            return [f"{column}={lvl}" for lvl in self.levels_[column]]
        return [column, f"{column}={MISSING_LEVEL}"] if self.numeric_[column].missing_indicator else [column]

    def column_slices(self) -> dict[str, slice]:
        """Each column's block of encoded features (one-hot levels, or the value and its missing indicator)."""
        start, slices = 0, {}
        for column in self.spec.features:
            width = len(self._names(column))
            slices[column] = slice(start, start + width)
            start += width
        return slices

    @property
    def n_features(self) -> int:
        return len(self.feature_names_)

    @property
    def public_features(self) -> np.ndarray:
        """Indices of the encoded features that come from public columns."""
        return np.arange(self.public_width_)

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        blocks = []
        for column in self.spec.features:
            if column in self.levels_:
                values = category_text(table[column], self.kinds_[column]).fillna(MISSING_LEVEL)
                codes = pd.Index(self.levels_[column]).get_indexer(values)
                block = np.zeros((len(table), len(self.levels_[column])), dtype=np.float32)
                known = codes >= 0
                block[np.flatnonzero(known), codes[known]] = 1.0
            else:
                coding = self.numeric_[column]
                numbers = pd.to_numeric(table[column], errors="coerce").astype(float)
                block = coding.scale(numbers.fillna(coding.fill).to_numpy()).astype(np.float32)[:, None]
                if coding.missing_indicator:
                    block = np.concatenate([block, numbers.isna().to_numpy(dtype=np.float32)[:, None]], axis=1)
            blocks.append(block)
        return np.concatenate(blocks, axis=1)

    def transform_uninformative(self, table: pd.DataFrame) -> np.ndarray:
        """The feature-DP baseline's view: public columns as they are, sensitive ones unknown."""
        blank = table.copy()
        for column in self.spec.sensitive:
            blank[column] = np.nan
        return self.transform(blank)

    def state(self) -> dict[str, object]:
        """Everything the encoder learned, for the hygiene checks and reproducibility."""
        return {
            "numeric_encoding": self.numeric,
            "numeric": {c: vars(v) for c, v in self.numeric_.items()},
            "levels": {c: list(v) for c, v in self.levels_.items()},
            "kinds": dict(self.kinds_),
            "features": list(self.feature_names_),
        }
