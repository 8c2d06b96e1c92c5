"""The offline imputer: one histogram gradient-boosting model per sensitive column.

Needs no weights and no network, handles missing public values natively, and is fast on
CPU, so it is the fallback whenever TabPFN cannot run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from fusiondp.impute.base import observed_target, register_imputer
from fusiondp.spec import TableSpec

MAX_NATIVE_CATEGORIES = 250
"""Public categorical columns with more levels are given to the trees as ordinal codes."""


class PublicFeatureCoder:
    """Turns the public columns into a float matrix for tree models (categoricals as codes).

    The category lists come from the support set, which is public.
    """

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.levels: dict[str, list[str]] = {}
        self.unobserved: set[str] = set()
        """Columns with no value in the support set: coded as a constant (scikit-learn's binning fails on them)."""

    def fit(self, support: pd.DataFrame) -> PublicFeatureCoder:
        for column in self.spec.public:
            if support[column].isna().all():
                self.unobserved.add(column)
            elif self.spec.is_categorical(column):
                self.levels[column] = sorted(support[column].dropna().astype(str).unique().tolist())
        return self

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        columns = []
        for column in self.spec.public:
            if column in self.unobserved:
                columns.append(np.zeros(len(table)))
            elif column in self.levels:
                codes = pd.Index(self.levels[column]).get_indexer(table[column].astype("string"))
                columns.append(np.where(codes < 0, np.nan, codes).astype(float))
            else:
                columns.append(pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float))
        return np.column_stack(columns)

    def native_categorical_mask(self) -> np.ndarray:
        return np.array(
            [c in self.levels and len(self.levels[c]) <= MAX_NATIVE_CATEGORIES for c in self.spec.public]
        )


class GBDTImputer:
    """Histogram gradient boosting (scikit-learn): a classifier per categorical sensitive
    column, a regressor per numeric one, each trained on the support rows where it is observed."""

    name = "gbdt"

    def __init__(self, spec: TableSpec, *, random_state: int = 0, max_iter: int = 200,
                 learning_rate: float = 0.05, max_leaf_nodes: int = 15, n_threads: int = 1) -> None:
        self.spec = spec
        self.random_state = random_state
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.n_threads = n_threads

    def fit(self, support: pd.DataFrame) -> GBDTImputer:
        # Support sets are small: one OpenMP thread is fast, and more threads spin-wait
        # badly when the cores are shared (measured: 0.7 s vs 110 s on a busy 2-core box).
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            return self._fit(support)

    def _fit(self, support: pd.DataFrame) -> GBDTImputer:
        self.coder_ = PublicFeatureCoder(self.spec).fit(support)
        features = self.coder_.transform(support)
        mask = self.coder_.native_categorical_mask()
        self.models_: dict[str, object] = {}
        for column in self.spec.sensitive:
            observed, target = observed_target(self.spec, support, column)
            if self.spec.is_categorical(column):
                if target.nunique() == 1:
                    self.models_[column] = target.iloc[0]
                    continue
                model = HistGradientBoostingClassifier(
                    max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
                    categorical_features=mask, random_state=self.random_state,
                )
            else:
                model = HistGradientBoostingRegressor(
                    max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
                    categorical_features=mask, random_state=self.random_state,
                )
            self.models_[column] = model.fit(features[observed], target.to_numpy())
        return self

    def transform(self, table: pd.DataFrame) -> pd.DataFrame:
        if table.empty:
            return table.assign(**dict.fromkeys(self.spec.sensitive, np.nan))
        features = self.coder_.transform(table[list(self.spec.public)])
        imputed = table.copy()
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            for column, model in self.models_.items():
                imputed[column] = model if isinstance(model, str) else model.predict(features)
        return imputed


register_imputer("gbdt")(GBDTImputer)
