"""A k-nearest-neighbour imputer: a cheap, offline, easy-to-explain third family to compare with.

Each imputed row takes the (distance-weighted) mean or majority of the sensitive values of
its nearest support rows in the space of standardised public columns. Everything it learns
(fill values, scales, category lists) comes from the support set, which is public.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pandas as pd
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from threadpoolctl import threadpool_limits

from fusiondp.impute.base import register_imputer
from fusiondp.impute.columnwise import DEFAULT_CV_FOLDS, ColumnwiseImputer
from fusiondp.spec import TableSpec

MAX_SUPPORT_ROWS = 20_000
"""Larger support sets are subsampled (seeded, said in the notes): each query is compared with every row."""


class PublicFeatureScaler:
    """Public columns as a dense, complete, standardised matrix, as distances need.

    Numeric: missing → support median, then standardised with the support mean and standard
    deviation. Categorical: missing → support's most frequent category, then one-hot; a
    category the support never shows is all-zero.
    """

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec

    def fit(self, support: pd.DataFrame) -> PublicFeatureScaler:
        self.levels_: dict[str, list[str]] = {}
        self.fill_: dict[str, float | str] = {}
        self.scale_: dict[str, tuple[float, float]] = {}
        for column in self.spec.public:
            if self.spec.is_categorical(column):
                values = support[column].dropna().astype(str)
                self.levels_[column] = sorted(values.unique().tolist())
                self.fill_[column] = values.mode().iloc[0] if len(values) else ""
            else:
                numbers = pd.to_numeric(support[column], errors="coerce")
                fill = float(numbers.median()) if numbers.notna().any() else 0.0
                filled = numbers.fillna(fill)
                std = float(filled.std(ddof=0))
                self.fill_[column] = fill
                self.scale_[column] = (float(filled.mean()), std if std > 0 else 1.0)
        return self

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        blocks = []
        for column in self.spec.public:
            if column in self.levels_:
                values = table[column].astype("string").fillna(self.fill_[column])
                codes = pd.Index(self.levels_[column]).get_indexer(values)
                block = np.zeros((len(table), len(self.levels_[column])))
                known = codes >= 0
                block[np.flatnonzero(known), codes[known]] = 1.0
            else:
                mean, std = self.scale_[column]
                numbers = pd.to_numeric(table[column], errors="coerce").fillna(self.fill_[column])
                block = ((numbers.to_numpy(dtype=float) - mean) / std)[:, None]
            blocks.append(block)
        return np.concatenate(blocks, axis=1)


class KNNImputer(ColumnwiseImputer):
    """k-NN classifier per categorical sensitive column (its states, "missing" included), a missing-vs-present
    classifier and a regressor per numeric one (scikit-learn); per column the model or the baseline, whichever
    wins a ``cv_folds``-fold cross-validation on the support set (see ``fusiondp.impute.columnwise``).

    ``random_state`` seeds the folds and any subsampling; k-NN itself is deterministic. Support sets above
    ``max_support_rows`` are subsampled, as every query is compared with every support row.
    """

    name = "knn"

    def __init__(self, spec: TableSpec, *, random_state: int = 0, n_neighbors: int = 15,
                 weights: str = "distance", n_threads: int = 1, cv_folds: int = DEFAULT_CV_FOLDS,
                 max_support_rows: int = MAX_SUPPORT_ROWS) -> None:
        super().__init__(spec, random_state=random_state, cv_folds=cv_folds, max_support_rows=max_support_rows)
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.n_threads = n_threads

    @contextlib.contextmanager
    def _thread_limit(self) -> Iterator[None]:
        # Same reason as the gbdt imputer: OpenMP threads spin-wait badly on shared cores.
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            yield

    def _begin_fit(self, support: pd.DataFrame) -> np.ndarray:
        self.scaler_ = PublicFeatureScaler(self.spec).fit(support)
        return self.scaler_.transform(support)

    def _features(self, table: pd.DataFrame) -> np.ndarray:
        return self.scaler_.transform(table)

    def _make_model(self, categorical: bool, target: np.ndarray) -> KNeighborsClassifier | KNeighborsRegressor:
        model_class = KNeighborsClassifier if categorical else KNeighborsRegressor
        return model_class(n_neighbors=min(self.n_neighbors, len(target)), weights=self.weights)


register_imputer("knn")(KNNImputer)
