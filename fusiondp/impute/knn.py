"""A k-nearest-neighbour imputer: a cheap, offline, easy-to-explain third family to compare with.

Each imputed row takes the (distance-weighted) mean or majority of the sensitive values of
its nearest support rows in the space of standardised public columns. Everything it learns
(fill values, scales, category lists) comes from the support set, which is public.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from threadpoolctl import threadpool_limits

from fusiondp.impute.base import observed_target, register_imputer
from fusiondp.spec import TableSpec


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


class KNNImputer:
    """k-NN classifier per categorical sensitive column, regressor per numeric one (scikit-learn).

    ``random_state`` is accepted for the registry's common signature; k-NN is deterministic.
    """

    name = "knn"

    def __init__(self, spec: TableSpec, *, random_state: int = 0, n_neighbors: int = 15,
                 weights: str = "distance", n_threads: int = 1) -> None:
        self.spec = spec
        self.random_state = random_state
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.n_threads = n_threads

    def fit(self, support: pd.DataFrame) -> KNNImputer:
        self.scaler_ = PublicFeatureScaler(self.spec).fit(support)
        features = self.scaler_.transform(support)
        self.models_: dict[str, object] = {}
        for column in self.spec.sensitive:
            rows, target = observed_target(self.spec, support, column)
            model_class = KNeighborsClassifier if self.spec.is_categorical(column) else KNeighborsRegressor
            model = model_class(n_neighbors=min(self.n_neighbors, len(rows)), weights=self.weights)
            self.models_[column] = model.fit(features[rows], target.to_numpy())
        return self

    def transform(self, table: pd.DataFrame) -> pd.DataFrame:
        if table.empty:
            return table.assign(**dict.fromkeys(self.spec.sensitive, np.nan))
        features = self.scaler_.transform(table[list(self.spec.public)])
        imputed = table.copy()
        # Same reason as the gbdt imputer: OpenMP threads spin-wait badly on shared cores.
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            for column, model in self.models_.items():
                imputed[column] = model.predict(features)
        return imputed


register_imputer("knn")(KNNImputer)
