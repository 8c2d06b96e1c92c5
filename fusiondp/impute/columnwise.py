"""The engine every built-in imputer shares: per sensitive column, predict the value's full state, and use a
model only where it beats the trivial baseline by cross-validation on the support set.

Why the state, not just a value (METHOD §5a): the public term trains without noise on hybrid rows, so a
hybrid view that never shows "missing" while real rows often do teaches the model nothing about what
missing means. Missingness is therefore predicted from the public columns like any other state:
"missing" is one more class of a categorical column, and a numeric column gets a missing-vs-present
classifier in front of the regressor, which is fitted on the rows where the value is present. The
state is decided by its most likely value (argmax), so a given seed gives one fixed hybrid view.

Why the baseline check: an imputer worse than the column's mean or majority class puts confident errors
into the hybrid view. Per prediction task (a categorical column's states; a numeric column's values,
and its missingness when the support set has missing values), k-fold cross-validation on the support set
scores the model against the baseline, and the model is used only when it is strictly better (accuracy
for states, RMSE for values). Ties go to the baseline: a model that only matches it adds variance.

Everything is fitted on the support set (public) and ``transform`` reads only the public columns of the
rows it imputes, so the hybrid rows are public data. Subclasses supply the feature coding and the models.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from fusiondp.errors import ConfigError
from fusiondp.impute.base import observed_target
from fusiondp.spec import TableSpec

MISSING_STATE = "<missing>"
"""Name of the "missing" state in soft outputs: the label the encoder gives a missing categorical value."""
DEFAULT_CV_FOLDS = 3
"""Folds of the model-vs-baseline comparison: few, because support sets are small and every fold is a fit."""
MIN_CV_ROWS = 10
"""With fewer support rows a cross-validated score says nothing, so the baseline is used."""
Metric = Literal["accuracy", "rmse"]


class Baseline:
    """The trivial predictor: the majority state, or the mean value.

    scikit-learn-like, so that the engine handles it as any model. Its class probabilities are the
    support set's state frequencies: the honest soft output of "the public columns tell nothing".
    """

    def __init__(self, categorical: bool) -> None:
        self.categorical = categorical

    def fit(self, features: np.ndarray, target: np.ndarray) -> Baseline:
        if self.categorical:
            self.classes_, counts = np.unique(target, return_counts=True)
            self.frequencies_ = counts / counts.sum()
            self.value_: Any = self.classes_[np.argmax(counts)]
        else:
            self.value_ = float(np.mean(target))
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.full(len(features), self.value_)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return np.tile(self.frequencies_, (len(features), 1))


@dataclass
class Decision:
    """Model or baseline for one prediction task of a column, with the cross-validated scores behind it.

    ``metric`` is ``"accuracy"`` (states; higher is better) or ``"rmse"`` (values; lower is better);
    ``model`` and ``baseline`` are pooled out-of-fold scores, ``None`` when no comparison ran.
    """

    metric: Metric
    used: Literal["model", "baseline"]
    reason: str
    model: float | None = None
    baseline: float | None = None


@dataclass
class ColumnSelection:
    """What a fitted imputer uses for one sensitive column, and why (goes into the quality report).

    ``value``: categorical columns — the states, "missing" included when the support set has missing
    values; numeric columns — the value on rows where it is present. ``missing``: numeric columns whose
    support values are sometimes missing — the missing-vs-present decision; ``None`` otherwise.
    """

    column: str
    kind: Literal["categorical", "numeric"]
    rows: int
    missing_rate: float
    folds: int
    value: Decision
    missing: Decision | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _score(metric: Metric, truth: np.ndarray, predicted: np.ndarray) -> float:
    if metric == "accuracy":
        return float(np.mean(truth == predicted))
    return float(np.sqrt(np.mean((truth.astype(float) - predicted.astype(float)) ** 2)))


class ColumnwiseImputer:
    """Fits, per sensitive column, the state model(s) chosen against the baseline; subclasses code the features.

    After ``fit``: ``models_[column]`` predicts the state code (categorical) or the value (numeric);
    ``missing_models_[column]`` predicts missing (1) vs present (0) for numeric columns whose support
    values are sometimes missing; ``states_[column]`` names a categorical column's state codes (the last
    is ``MISSING_STATE`` when the support has missing values); ``selection_[column]`` says model or
    baseline and why; ``support_rows_[column]`` holds the support positions the value model was fitted
    on; ``notes_`` goes into the imputation report.
    """

    name: str

    def __init__(self, spec: TableSpec, *, random_state: int, cv_folds: int, max_support_rows: int) -> None:
        if cv_folds < 0 or cv_folds == 1:
            raise ConfigError(f"cv_folds must be 0 (always use the model) or at least 2, not {cv_folds}.")
        self.spec = spec
        self.random_state = random_state
        self.cv_folds = cv_folds
        self.max_support_rows = max_support_rows

    # ---- what a subclass provides -------------------------------------------------------------------
    def _begin_fit(self, support: pd.DataFrame) -> np.ndarray:
        """Fit the public-feature coding on ``support`` and return its feature matrix."""
        raise NotImplementedError

    def _features(self, table: pd.DataFrame) -> np.ndarray:
        """The feature matrix of ``table``'s public columns."""
        raise NotImplementedError

    def _make_model(self, categorical: bool, target: np.ndarray) -> Any:
        """An unfitted classifier (``categorical``) or regressor for ``target``."""
        raise NotImplementedError

    def _fit_model(self, model: Any, column: str, features: np.ndarray, target: np.ndarray) -> Any:
        return model.fit(features, target)

    def _predict(self, model: Any, features: np.ndarray, method: str = "predict") -> np.ndarray:
        return getattr(model, method)(features)

    @contextlib.contextmanager
    def _thread_limit(self) -> Iterator[None]:
        yield

    # ---- fitting ---------------------------------------------------------------------------------
    def fit(self, support: pd.DataFrame) -> ColumnwiseImputer:
        with self._thread_limit():
            return self._fit(support)

    def _fit(self, support: pd.DataFrame) -> ColumnwiseImputer:
        self.notes_: list[str] = []
        features = self._begin_fit(support)
        kept = np.arange(len(support))
        if len(support) > self.max_support_rows:
            rng = np.random.default_rng(self.random_state)
            kept = np.sort(rng.choice(len(support), self.max_support_rows, replace=False))
            self.notes_.append(f"{self.name}: support subsampled to {self.max_support_rows} of its {len(support)} "
                               f"rows to bound the fit cost (max_support_rows; numpy seed {self.random_state}).")
        rows, features = support.iloc[kept], features[kept]
        self.models_: dict[str, Any] = {}
        self.missing_models_: dict[str, Any] = {}
        self.states_: dict[str, list[str]] = {}
        self.selection_: dict[str, ColumnSelection] = {}
        self.support_rows_: dict[str, np.ndarray] = {}
        for column in self.spec.sensitive:
            present, values = observed_target(self.spec, rows, column)
            missing_rate = 1 - len(present) / len(rows)
            if self.spec.is_categorical(column):
                levels = sorted(values.unique().tolist())
                codes = np.full(len(rows), len(levels))
                codes[present] = pd.Index(levels).get_indexer(values)
                self.states_[column] = levels + ([MISSING_STATE] if len(present) < len(rows) else [])
                decision, self.models_[column] = self._choose(column, "accuracy", features, codes)
                self.support_rows_[column] = kept
                self.selection_[column] = ColumnSelection(column, "categorical", len(rows), missing_rate,
                                                          self.cv_folds, decision)
                continue
            missing = None
            if len(present) < len(rows):
                is_missing = np.ones(len(rows), dtype=int)
                is_missing[present] = 0
                missing, self.missing_models_[column] = self._choose(column, "accuracy", features, is_missing)
            decision, self.models_[column] = self._choose(column, "rmse", features[present],
                                                          values.to_numpy(dtype=float))
            self.support_rows_[column] = kept[present]
            self.selection_[column] = ColumnSelection(column, "numeric", len(rows), missing_rate, self.cv_folds,
                                                      decision, missing)
        return self

    def _choose(self, column: str, metric: Metric, features: np.ndarray, target: np.ndarray) -> tuple[Decision, Any]:
        """Decide model vs baseline for one task and return the fitted winner."""
        categorical = metric == "accuracy"
        if categorical and len(np.unique(target)) < 2:
            return (Decision(metric, "baseline", "one state only in the support set"),
                    Baseline(True).fit(features, target))
        if self.cv_folds == 0:
            return (Decision(metric, "model", "no comparison: cv_folds=0 asks for the model"),
                    self._fit_model(self._make_model(categorical, target), column, features, target))
        folds = self.cv_folds
        if len(target) < max(MIN_CV_ROWS, folds):
            return (Decision(metric, "baseline", f"{len(target)} support rows are too few to show by "
                                                 "cross-validation that a model beats the baseline"),
                    Baseline(categorical).fit(features, target))
        model_score, baseline_score = self._cross_validate(column, metric, features, target, folds)
        better = model_score > baseline_score if categorical else model_score < baseline_score
        reason = (f"{folds}-fold cross-validation on the support set: {metric} {model_score:.4g} (model) vs "
                  f"{baseline_score:.4g} ({'majority' if categorical else 'mean'})")
        if better:
            model = self._fit_model(self._make_model(categorical, target), column, features, target)
            return Decision(metric, "model", reason, model_score, baseline_score), model
        return (Decision(metric, "baseline", reason + "; ties go to the baseline", model_score, baseline_score),
                Baseline(categorical).fit(features, target))

    def _cross_validate(self, column: str, metric: Metric, features: np.ndarray, target: np.ndarray,
                        folds: int) -> tuple[float, float]:
        """Pooled out-of-fold scores of the model and of the baseline (both refitted on each training fold)."""
        categorical = metric == "accuracy"
        model_pred = np.empty(len(target), dtype=float)
        baseline_pred = np.empty(len(target), dtype=float)
        for train, test in KFold(folds, shuffle=True, random_state=self.random_state).split(features):
            baseline = Baseline(categorical).fit(features[train], target[train])
            if categorical and len(np.unique(target[train])) < 2:
                model: Any = baseline  # a classifier cannot be fitted on one class
            else:
                model = self._fit_model(self._make_model(categorical, target[train]), column, features[train],
                                        target[train])
            model_pred[test] = self._predict(model, features[test])
            baseline_pred[test] = baseline.predict(features[test])
        return _score(metric, target, model_pred), _score(metric, target, baseline_pred)

    # ---- imputing --------------------------------------------------------------------------------
    def transform(self, table: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``table`` with imputed sensitive values (NaN where "missing" is the likeliest state).

        Reads only ``table``'s public columns.
        """
        if table.empty:
            return table.assign(**dict.fromkeys(self.spec.sensitive, np.nan))
        features = self._features(table[list(self.spec.public)])
        imputed = table.copy()
        with self._thread_limit():
            for column in self.spec.sensitive:
                predicted = self._predict(self.models_[column], features)
                if column in self.states_:
                    labels = np.array([np.nan if s == MISSING_STATE else s for s in self.states_[column]],
                                      dtype=object)
                    imputed[column] = labels[predicted.astype(int)]
                    continue
                values = predicted.astype(float)
                if column in self.missing_models_:
                    values[self._predict(self.missing_models_[column], features).astype(int) == 1] = np.nan
                imputed[column] = values
        return imputed

    def predict_proba_states(self, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Soft outputs for a shrinkage or expected-encoding reference view; reads only public columns.

        Categorical columns: one probability column per state of the support set (``MISSING_STATE``
        included when its values are sometimes missing there), rows summing to 1. Numeric columns whose
        support values are sometimes missing: one column, ``MISSING_STATE``, the probability of missing.
        Where the baseline was chosen, the probabilities are the support set's state frequencies.
        """
        features = self._features(table[list(self.spec.public)])
        soft: dict[str, pd.DataFrame] = {}
        with self._thread_limit():
            for column, states in self.states_.items():
                soft[column] = self._state_frame(self.models_[column], features, states, table.index)
            for column, model in self.missing_models_.items():
                both = self._state_frame(model, features, ["present", MISSING_STATE], table.index)
                soft[column] = both[[MISSING_STATE]]
        return soft

    def _state_frame(self, model: Any, features: np.ndarray, states: list[str], index: pd.Index) -> pd.DataFrame:
        """Class probabilities placed in the columns of their state codes (a model may lack a rare state)."""
        proba = np.zeros((len(features), len(states)))
        if len(features):
            proba[:, np.asarray(model.classes_, dtype=int)] = self._predict(model, features, "predict_proba")
        return pd.DataFrame(proba, index=index, columns=states)
