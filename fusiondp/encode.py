"""Turning table rows into model inputs, with encoders fitted on public information only.

One encoder serves both the real and the hybrid view, so ``ℓ(x) − ℓ(x̂)`` measures the
sensitive values and not a scaling artefact. Public columns are fitted on the public
columns of the training and support rows; sensitive columns on the support set's real
values together with the imputed (hybrid) values — never on the private rows' real
sensitive values (METHOD.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fusiondp.spec import TableSpec

MISSING_LEVEL = "<missing>"
STANDARD_CLIP = 5.0
"""Standardised numeric values are clipped to ±this many standard deviations."""


@dataclass(frozen=True)
class NumericCoding:
    fill: float
    mean: float
    std: float


def _fit_numeric(values: pd.Series) -> NumericCoding:
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    if numbers.notna().sum() == 0:
        return NumericCoding(0.0, 0.0, 1.0)
    fill = float(numbers.median())
    filled = numbers.fillna(fill)
    std = float(filled.std(ddof=0))
    return NumericCoding(fill, float(filled.mean()), std if std > 0 else 1.0)


def _fit_levels(values: pd.Series) -> tuple[str, ...]:
    levels = sorted(values.dropna().astype(str).unique().tolist())
    if values.isna().any():
        levels.append(MISSING_LEVEL)
    return tuple(levels)


class TableEncoder:
    """Standardises numeric columns and one-hot encodes categorical ones, in ``spec.features`` order."""

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec

    def fit(self, public_rows: pd.DataFrame, sensitive_rows: pd.DataFrame) -> TableEncoder:
        """Fit public columns on ``public_rows`` and sensitive columns on ``sensitive_rows``.

        ``sensitive_rows`` must hold public sensitive values only: support rows and hybrid
        (imputed) rows.
        """
        self.numeric_: dict[str, NumericCoding] = {}
        self.levels_: dict[str, tuple[str, ...]] = {}
        for column in self.spec.features:
            source = public_rows if column in self.spec.public else sensitive_rows
            if self.spec.is_categorical(column):
                self.levels_[column] = _fit_levels(source[column])
            else:
                self.numeric_[column] = _fit_numeric(source[column])
        self.feature_names_ = [
            name
            for column in self.spec.features
            for name in ([f"{column}={lvl}" for lvl in self.levels_[column]] if column in self.levels_ else [column])
        ]
        widths = [len(self.levels_[c]) if c in self.levels_ else 1 for c in self.spec.features]
        self.public_width_ = sum(widths[: len(self.spec.public)])
        return self

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
                values = table[column].astype("string").fillna(MISSING_LEVEL)
                codes = pd.Index(self.levels_[column]).get_indexer(values)
                block = np.zeros((len(table), len(self.levels_[column])), dtype=np.float32)
                known = codes >= 0
                block[np.flatnonzero(known), codes[known]] = 1.0
            else:
                coding = self.numeric_[column]
                numbers = pd.to_numeric(table[column], errors="coerce").astype(float).fillna(coding.fill)
                scaled = ((numbers.to_numpy() - coding.mean) / coding.std).clip(-STANDARD_CLIP, STANDARD_CLIP)
                block = scaled.astype(np.float32)[:, None]
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
            "numeric": {c: vars(v) for c, v in self.numeric_.items()},
            "levels": {c: list(v) for c, v in self.levels_.items()},
            "features": list(self.feature_names_),
        }
