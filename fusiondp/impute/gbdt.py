"""The offline imputer: histogram gradient-boosting models per sensitive column (its state, missing included).

Needs no weights and no network, handles missing public values natively, and is fast on
CPU, so it is the fallback whenever TabPFN cannot run.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from fusiondp.impute.base import register_imputer
from fusiondp.impute.columnwise import DEFAULT_CV_FOLDS, ColumnwiseImputer
from fusiondp.spec import TableSpec

MAX_BINS = 63
"""Histogram bins per feature. Measured on a 2,000-row support set of the 20k × 37 run table: 63 bins,
learning rate 0.1 and 100 rounds fit in 6.7 s CPU where 255 bins, 0.05 and 200 rounds took 17.1 s, with the
same cross-validated quality per column (``benchmarks/bench_impute.py`` compares imputers)."""
MAX_SUPPORT_ROWS = 20_000
"""Larger support sets are subsampled (seeded, said in the notes): more rows barely help a tree imputer."""
VALIDATION_FRACTION = 0.1
"""Share of a model's training rows held out for early stopping."""
EARLY_STOPPING_ROUNDS = 10
"""Boosting stops after this many rounds without a better validation loss."""
MIN_EARLY_STOPPING_ROWS = 100
"""Below this, a 10% validation split is too small to stop on; the model runs ``max_iter`` rounds."""


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

    def native_categorical_mask(self, max_bins: int) -> np.ndarray:
        """Public categorical columns the trees split natively; those with more levels than bins are ordinal codes."""
        return np.array([c in self.levels and len(self.levels[c]) <= max_bins for c in self.spec.public])


class GBDTImputer(ColumnwiseImputer):
    """Histogram gradient boosting (scikit-learn): a classifier per categorical sensitive column (its states,
    "missing" included), a missing-vs-present classifier and a regressor per numeric one.

    Each model stops early on a seeded 10% validation split of its training rows (when that split can
    hold every class twice), and support sets above ``max_support_rows`` are subsampled, so the fit cost
    stays bounded whatever the support size. Per column, the model or the baseline, whichever wins a
    ``cv_folds``-fold cross-validation on the support set (see ``fusiondp.impute.columnwise``).
    """

    name = "gbdt"

    def __init__(self, spec: TableSpec, *, random_state: int = 0, max_iter: int = 100,
                 learning_rate: float = 0.1, max_leaf_nodes: int = 15, max_bins: int = MAX_BINS,
                 n_threads: int = 1, cv_folds: int = DEFAULT_CV_FOLDS,
                 max_support_rows: int = MAX_SUPPORT_ROWS) -> None:
        super().__init__(spec, random_state=random_state, cv_folds=cv_folds, max_support_rows=max_support_rows)
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.max_bins = max_bins
        self.n_threads = n_threads

    @contextlib.contextmanager
    def _thread_limit(self) -> Iterator[None]:
        # Support sets are small: one OpenMP thread is fast, and more threads spin-wait
        # badly when the cores are shared (measured: 0.7 s vs 110 s on a busy 2-core box).
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            yield

    def _begin_fit(self, support: pd.DataFrame) -> np.ndarray:
        self.coder_ = PublicFeatureCoder(self.spec).fit(support)
        return self.coder_.transform(support)

    def _features(self, table: pd.DataFrame) -> np.ndarray:
        return self.coder_.transform(table)

    def _make_model(self, categorical: bool,
                    target: np.ndarray) -> HistGradientBoostingClassifier | HistGradientBoostingRegressor:
        rows = len(target)
        early = rows >= MIN_EARLY_STOPPING_ROWS
        if categorical and early:
            # scikit-learn stratifies the validation split: every class needs two rows, and both parts room for
            # every class; otherwise the model runs its max_iter rounds.
            counts = np.unique(target, return_counts=True)[1]
            validation = math.ceil(VALIDATION_FRACTION * rows)
            early = counts.min() >= 2 and min(validation, rows - validation) >= len(counts)
        model_class = HistGradientBoostingClassifier if categorical else HistGradientBoostingRegressor
        return model_class(max_iter=self.max_iter, learning_rate=self.learning_rate,
                           max_leaf_nodes=self.max_leaf_nodes, max_bins=self.max_bins,
                           categorical_features=self.coder_.native_categorical_mask(self.max_bins),
                           early_stopping=early, validation_fraction=VALIDATION_FRACTION,
                           n_iter_no_change=EARLY_STOPPING_ROUNDS, random_state=self.random_state)


register_imputer("gbdt")(GBDTImputer)
