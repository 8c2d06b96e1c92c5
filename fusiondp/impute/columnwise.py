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
The same folds' predictions of the chosen predictor are kept (``cross_fitted_``): every support row predicted
by a fit that did not see it, which scores the imputer and tunes the reference view without a second fit.

Everything is fitted on the support set (public) and ``transform`` reads only the public columns of the
rows it imputes, so the hybrid rows are public data. Subclasses supply the feature coding and the models.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from fusiondp.errors import ConfigError
from fusiondp.impute.base import CrossFitted, observed_target
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


@dataclass
class OutOfFold:
    """One task's predictions for its rows, each made by a predictor fitted without that row.

    ``hard``: the value, or the state code; ``proba``: state probabilities (one column per state code),
    for state tasks only.
    """

    hard: np.ndarray
    proba: np.ndarray | None = None


def _assemble(parts: list[tuple[np.ndarray, OutOfFold]], rows: int) -> OutOfFold:
    """Put each fold's predictions back at its test rows."""
    hard = np.empty(rows)
    proba = None if parts[0][1].proba is None else np.empty((rows, parts[0][1].proba.shape[1]))
    for test, out in parts:
        hard[test] = out.hard
        if proba is not None:
            proba[test] = out.proba
    return OutOfFold(hard, proba)


def _constant_score(metric: Metric, truth: np.ndarray) -> float:
    """The baseline's score: the majority state's share, or the mean's RMSE, of ``truth`` itself.

    In-sample, as the quality report scores the baseline: the best constant of the support rows, which can
    only favour the baseline. Refitted per fold instead, the majority of a balanced two-class column is the
    minority of the held-out fold (accuracy 0.44 on a two-class column), which flattered the model.
    """
    if metric == "accuracy":
        return float(np.unique(truth, return_counts=True)[1].max() / len(truth))
    return float(np.std(truth.astype(float)))


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
    on; ``notes_`` goes into the imputation report; ``cross_fitted_`` holds the support rows' out-of-fold
    imputations from that same cross-validation (``CrossFitted``): hard states and state probabilities of
    the chosen predictor — a fold's model, or where the baseline was chosen the fold's support frequencies
    and means.
    """

    name: str
    parallel_safe = True
    """Whether prediction tasks may run in worker processes (a model that holds a GPU or gigabytes may not)."""

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
    def fit(self, support: pd.DataFrame, *, progress: Callable[[float], None] | None = None,
            executor: Executor | None = None) -> ColumnwiseImputer:
        """Fit every column's chosen predictor on ``support``; ``progress(fraction)`` as prediction tasks finish.

        The cross-validation that chooses model vs baseline also leaves ``cross_fitted_``: the support
        rows' out-of-fold imputations, which score the imputer honestly without a second fit. With an
        ``executor`` (worker processes) and a ``parallel_safe`` imputer, the prediction tasks are shared
        between the workers and this process (``_run_choices``); the result is the same.
        """
        with self._thread_limit():
            return self._fit(support, progress, executor if self.parallel_safe else None)

    def _fit(self, support: pd.DataFrame, progress: Callable[[float], None] | None,
             executor: Executor | None) -> ColumnwiseImputer:
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
        imputed = rows.reset_index(drop=True)
        states: dict[str, pd.DataFrame] = {}
        # Every prediction task first (a categorical column's states; a numeric column's missingness and values),
        # so that independent tasks can run side by side; then each column is assembled from its tasks.
        tasks: list[tuple[str, Metric, np.ndarray, np.ndarray]] = []
        observed: dict[str, tuple[np.ndarray, pd.Series]] = {}
        for column in self.spec.sensitive:
            present, values = observed_target(self.spec, rows, column)
            observed[column] = present, values
            if self.spec.is_categorical(column):
                levels = sorted(values.unique().tolist())
                codes = np.full(len(rows), len(levels))
                codes[present] = pd.Index(levels).get_indexer(values)
                self.states_[column] = levels + ([MISSING_STATE] if len(present) < len(rows) else [])
                tasks.append((column, "accuracy", features, codes))
                continue
            if len(present) < len(rows):
                is_missing = np.ones(len(rows), dtype=int)
                is_missing[present] = 0
                tasks.append((column, "accuracy", features, is_missing))
            tasks.append((column, "rmse", features[present], values.to_numpy(dtype=float)))
        outcomes = iter(self._run_choices(tasks, executor, progress))
        for column in self.spec.sensitive:
            present, _ = observed[column]
            missing_rate = 1 - len(present) / len(rows)
            if column in self.states_:
                decision, self.models_[column], out = next(outcomes)
                self.support_rows_[column] = kept
                self.selection_[column] = ColumnSelection(column, "categorical", len(rows), missing_rate,
                                                          self.cv_folds, decision)
                labels = np.array([np.nan if s == MISSING_STATE else s for s in self.states_[column]], dtype=object)
                imputed[column] = labels[out.hard.astype(int)]
                states[column] = pd.DataFrame(out.proba, index=imputed.index, columns=self.states_[column])
                continue
            missing, missing_out = None, None
            if len(present) < len(rows):
                missing, self.missing_models_[column], missing_out = next(outcomes)
            decision, self.models_[column], out = next(outcomes)
            self.support_rows_[column] = kept[present]
            self.selection_[column] = ColumnSelection(column, "numeric", len(rows), missing_rate,
                                                      self.cv_folds, decision, missing)
            imputed[column] = self._cross_fitted_values(column, features, present, out, missing_out)
            if missing_out is not None:
                states[column] = pd.DataFrame({MISSING_STATE: missing_out.proba[:, 1]}, index=imputed.index)
        self.cross_fitted_ = CrossFitted(kept, imputed, states, self.cv_folds or DEFAULT_CV_FOLDS)
        return self

    def _run_choices(self, tasks: list[tuple[str, Metric, np.ndarray, np.ndarray]], executor: Executor | None,
                     progress: Callable[[float], None] | None) -> list[tuple[Decision, Any, OutOfFold]]:
        """``_choose`` of every task, in task order, with notes in task order.

        With an ``executor``, every task is submitted and this process takes tasks back from the end of the
        queue (those no worker has started: ``Future.cancel`` succeeds) and runs them itself, so that workers
        still starting up delay nothing; each task's notes come back with its result.
        """
        done = 0

        def finished() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done / len(tasks))

        if executor is None or len(tasks) < 2:
            results = []
            for task in tasks:
                results.append(self._choose(*task))
                finished()
            return results
        futures = [executor.submit(_choose_elsewhere, self, *task) for task in tasks]
        outcomes: list[tuple[tuple[Decision, Any, OutOfFold], list[str]] | None] = [None] * len(tasks)
        for index in reversed(range(len(tasks))):
            if futures[index].cancel():
                outcomes[index] = _choose_elsewhere(self, *tasks[index])
                finished()
        for index, future in enumerate(futures):
            if outcomes[index] is None:
                outcomes[index] = future.result()
                finished()
        results = []
        for outcome in outcomes:
            assert outcome is not None
            choice, notes = outcome
            self.notes_.extend(notes)
            results.append(choice)
        return results

    def _cross_fitted_values(self, column: str, features: np.ndarray, present: np.ndarray, out: OutOfFold,
                             missing_out: OutOfFold | None) -> np.ndarray:
        """A numeric column's out-of-fold imputation on every support row, as ``transform`` lays it out.

        Rows whose value is present get their out-of-fold value; rows whose value is missing were never
        in the value model's training rows, so the final value model predicts them honestly. NaN where the
        out-of-fold missingness says "missing".
        """
        values = np.empty(len(features))
        values[present] = out.hard
        absent = np.setdiff1d(np.arange(len(features)), present)
        if len(absent):
            values[absent] = self._predict(self.models_[column], features[absent]).astype(float)
        if missing_out is not None:
            values[missing_out.hard.astype(int) == 1] = np.nan
        return values

    def _choose(self, column: str, metric: Metric, features: np.ndarray,
                target: np.ndarray) -> tuple[Decision, Any, OutOfFold]:
        """Decide model vs baseline for one task; return the fitted winner and its out-of-fold predictions."""
        categorical = metric == "accuracy"
        classes = int(target.max()) + 1 if categorical else 0
        folds = self.cv_folds or DEFAULT_CV_FOLDS
        if categorical and len(np.unique(target)) < 2:
            baseline = Baseline(True).fit(features, target)  # every fold's frequencies are this one state
            return (Decision(metric, "baseline", "one state only in the support set"), baseline,
                    self._fold_predict(baseline, features, classes))
        if len(target) < max(MIN_CV_ROWS, folds):
            if self.cv_folds == 0:
                model = self._fit_model(self._make_model(categorical, target), column, features, target)
                self.notes_.append(f"{column}: {len(target)} support rows are too few to cross-fit; its quality is "
                                   "scored in-sample (optimistic).")
                return (Decision(metric, "model", "no comparison: cv_folds=0 asks for the model"), model,
                        self._fold_predict(model, features, classes))
            _, baseline_out = self._cross_validate(column, categorical, features, target, min(folds, len(target)),
                                                   classes, with_model=False)
            return (Decision(metric, "baseline", f"{len(target)} support rows are too few to show by "
                                                 "cross-validation that a model beats the baseline"),
                    Baseline(categorical).fit(features, target), baseline_out)
        model_out, baseline_out = self._cross_validate(column, categorical, features, target, folds, classes)
        assert model_out is not None
        if self.cv_folds == 0:
            return (Decision(metric, "model", "no comparison: cv_folds=0 asks for the model"),
                    self._fit_model(self._make_model(categorical, target), column, features, target), model_out)
        scored = self._scored_rows(column, metric, target)
        model_score = _score(metric, target[scored], model_out.hard[scored])
        baseline_score = _constant_score(metric, target[scored])
        better = model_score > baseline_score if categorical else model_score < baseline_score
        reason = (f"{folds}-fold cross-validation on the support set: {metric} {model_score:.4g} (model) vs "
                  f"{baseline_score:.4g} ({'majority' if categorical else 'mean'})")
        if better:
            model = self._fit_model(self._make_model(categorical, target), column, features, target)
            return Decision(metric, "model", reason, model_score, baseline_score), model, model_out
        return (Decision(metric, "baseline", reason + "; ties go to the baseline", model_score, baseline_score),
                Baseline(categorical).fit(features, target), baseline_out)

    def _scored_rows(self, column: str, metric: Metric, target: np.ndarray) -> np.ndarray:
        """The rows a choice is scored on, those the quality report scores the imputation on, so that the two say
        the same: a categorical column's rows with a value (an imputed 'missing' for a value counts as an error;
        a real 'missing' is the missingness line's), every row of a missingness or value task."""
        states = self.states_.get(column, []) if metric == "accuracy" else []
        if states and states[-1] == MISSING_STATE and (target != len(states) - 1).any():
            return target != len(states) - 1
        return np.ones(len(target), dtype=bool)

    def _cross_validate(self, column: str, categorical: bool, features: np.ndarray, target: np.ndarray, folds: int,
                        classes: int, *, with_model: bool = True) -> tuple[OutOfFold | None, OutOfFold]:
        """Out-of-fold predictions of the model (unless ``with_model`` is false) and of the baseline, both refitted
        on each training fold; a single row cannot be split, so it is predicted by the baseline of itself."""
        if folds < 2:
            baseline = Baseline(categorical).fit(features, target)
            return None, self._fold_predict(baseline, features, classes)
        parts: dict[str, list[tuple[np.ndarray, OutOfFold]]] = {"model": [], "baseline": []}
        for train, test in KFold(folds, shuffle=True, random_state=self.random_state).split(features):
            baseline = Baseline(categorical).fit(features[train], target[train])
            parts["baseline"].append((test, self._fold_predict(baseline, features[test], classes)))
            if not with_model:
                continue
            if categorical and len(np.unique(target[train])) < 2:
                model: Any = baseline  # a classifier cannot be fitted on one class
            else:
                model = self._fit_model(self._make_model(categorical, target[train]), column, features[train],
                                        target[train])
            parts["model"].append((test, self._fold_predict(model, features[test], classes)))
        model_out = _assemble(parts["model"], len(target)) if with_model else None
        return model_out, _assemble(parts["baseline"], len(target))

    def _fold_predict(self, model: Any, features: np.ndarray, classes: int) -> OutOfFold:
        """A fitted predictor's output: the value, or (``classes`` > 0) the state probabilities and the likeliest
        state — the argmax, as ``predict`` gives, from one ``predict_proba`` call."""
        if not classes:
            return OutOfFold(self._predict(model, features).astype(float))
        proba = self._place(model, features, classes)
        return OutOfFold(proba.argmax(axis=1).astype(float), proba)

    def _place(self, model: Any, features: np.ndarray, classes: int) -> np.ndarray:
        """Class probabilities placed in the columns of their state codes (a model may lack a rare state)."""
        proba = np.zeros((len(features), classes))
        if len(features):
            proba[:, np.asarray(model.classes_, dtype=int)] = self._predict(model, features, "predict_proba")
        return proba

    # ---- imputing --------------------------------------------------------------------------------
    def transform(self, table: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``table`` with imputed sensitive values (NaN where "missing" is the likeliest state).

        Reads only ``table``'s public columns.
        """
        return self.impute_with_states(table)[0]

    def predict_proba_states(self, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Soft outputs for a shrinkage or expected-encoding reference view; reads only public columns.

        Categorical columns: one probability column per state of the support set (``MISSING_STATE``
        included when its values are sometimes missing there), rows summing to 1. Numeric columns whose
        support values are sometimes missing: one column, ``MISSING_STATE``, the probability of missing.
        Where the baseline was chosen, the probabilities are the support set's state frequencies.
        """
        return self.impute_with_states(table)[1]

    def impute_with_states(self, table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        """``transform`` and ``predict_proba_states`` of the same rows from one prediction per model.

        A state is imputed as the likeliest one, the argmax of its probabilities: what ``predict`` returns, and
        how the cross-fitted imputations are made (``_fold_predict``), so the preparation predicts the private
        rows once instead of twice. Reads only ``table``'s public columns.
        """
        imputed = table.copy()
        soft: dict[str, pd.DataFrame] = {}
        features = self._features(table[list(self.spec.public)]) if len(table) else None
        with self._thread_limit():
            for column in self.spec.sensitive:
                if features is None:
                    imputed[column] = np.nan
                    continue
                if column in self.states_:
                    states = self.states_[column]
                    soft[column] = self._state_frame(self.models_[column], features, states, table.index)
                    labels = np.array([np.nan if s == MISSING_STATE else s for s in states], dtype=object)
                    imputed[column] = labels[soft[column].to_numpy().argmax(axis=1)]
                    continue
                values = self._predict(self.models_[column], features).astype(float)
                if column in self.missing_models_:
                    both = self._state_frame(self.missing_models_[column], features, ["present", MISSING_STATE],
                                             table.index)
                    values[both.to_numpy().argmax(axis=1) == 1] = np.nan
                    soft[column] = both[[MISSING_STATE]]
                imputed[column] = values
        return imputed, soft

    def _state_frame(self, model: Any, features: np.ndarray, states: list[str], index: pd.Index) -> pd.DataFrame:
        return pd.DataFrame(self._place(model, features, len(states)), index=index, columns=states)


def _choose_elsewhere(imputer: ColumnwiseImputer, column: str, metric: Metric, features: np.ndarray,
                      target: np.ndarray) -> tuple[tuple[Decision, Any, OutOfFold], list[str]]:
    """``imputer._choose`` on a copy of the imputer (a worker's unpickled one, or a shallow copy here), returning
    the notes it adds instead of appending them, so that notes keep their task order wherever tasks ran."""
    twin = copy.copy(imputer)
    twin.notes_ = []
    return twin._choose(column, metric, features, target), twin.notes_
