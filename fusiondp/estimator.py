"""``FusionDPClassifier`` and ``FusionDPRegressor``: the library as scikit-learn style estimators.

All of ``X`` (minus any declared support fraction) is private training data; the model
is trained once in the chosen mode and its privacy ledger is exposed as fitted
attributes (``epsilon_spent_``, ``noise_multiplier_``, ``privacy_``, ``history_``).
The classifier takes two classes (binary) or more (multi-class, softmax head), or a multi-label
indicator ``y`` (a 0/1 column per label, one sigmoid each); the regressor a numeric target, trained on
the label standardised by the support rows' labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score

from fusiondp.config import RunConfig
from fusiondp.errors import DataError
from fusiondp.metrics import regression_metrics
from fusiondp.preparation import prepare_splits, split_for
from fusiondp.prepared import PreparedData, training_task
from fusiondp.runs import fit_run, model_inputs
from fusiondp.spec import DEFAULT_DELIMITER, TableSpec, TargetKind
from fusiondp.train.loop import predict_proba
from fusiondp.train.modes import get_mode

TARGET_COLUMN = "__target__"


def indicator_cells(y: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """A multi-label indicator ``y`` (rows × labels, 0/1) as the library's multilabel target: each row's labels
    (the column names, or 0, 1, … for an array) joined by ``DEFAULT_DELIMITER`` (no label: missing), and the names.

    One clear error each for a single column, a value other than 0/1, names that do not stay distinct as text
    (or hold the delimiter), a label on no row, and no row with two labels (then ``y`` is a multi-class target).
    """
    names = list(y.columns) if isinstance(y, pd.DataFrame) else list(range(np.shape(y)[1]))
    values = np.asarray(y, dtype=object)
    if len(names) < 2:
        raise DataError(f"y has {len(names)} column; a 2-D y is a multi-label indicator (a 0/1 column per label) "
                        "and needs two labels or more. For one label pass a 1-D y (binary).")
    outside = pd.unique(values[~np.isin(values, (0, 1))])
    if len(outside):
        raise DataError(f"A 2-D y is a multi-label indicator: every value must be 0 or 1 (or False/True), but it "
                        f"holds {', '.join(repr(v) for v in outside[:5])}. For a multi-class target pass a 1-D y "
                        "of class values.")
    labels = [str(name).strip() for name in names]
    if len(set(labels)) < len(labels) or "" in labels or any(DEFAULT_DELIMITER in label for label in labels):
        raise DataError(f"y's column names {names} must be distinct and non-empty as text, without "
                        f"{DEFAULT_DELIMITER!r}: rename its columns.")
    present = values.astype(bool)
    empty = [name for name, count in zip(names, present.sum(0), strict=True) if count == 0]
    if empty:
        raise DataError(f"Label(s) {empty} of y are on no row; every label needs rows with it. Drop those columns.")
    if present.sum(1).max() < 2:
        raise DataError("No row of y has two labels, so y is a multi-class target: pass a 1-D y holding each "
                        "row's class.")
    cells = np.array([DEFAULT_DELIMITER.join(label for label, on in zip(labels, row, strict=True) if on) or None
                      for row in present], dtype=object)
    return cells, names


class _FusionDPEstimator:
    """What both estimators share: the settings, fitting, the privacy ledger and the model's raw predictions.

    Parameters mirror ``RunConfig`` (see its field descriptions); ``mode`` picks the
    training rule (default ``"fusiondp"``) and ``random_state`` the seed of split,
    imputer, initialisation and public batches. The DP sampling and noise are secret (drawn from the
    OS's entropy), so two fits differ by their noise; ``reproducible_noise=True`` derives them from
    ``random_state`` as well, for teaching and tests — the fitted model then carries no DP guarantee.
    ``delta=None`` takes δ from the number of rows (``fusiondp.privacy.accounting.default_delta``); the fitted
    ledger (``privacy_``) holds the δ used.
    """

    def __init__(self, *, epsilon: float = 1.0, delta: float | None = None, alpha: float = 1.0, beta: float = 0.0,
                 max_grad_norm: float = 1.8, noise_level: float | str | None = "auto", epochs: int | str = "auto",
                 batch_size: int = 128, public_batch_size: int = 512,
                 lr: float = 0.05, imputer: str = "auto", imputer_params: dict[str, Any] | None = None,
                 mode: str = "fusiondp", accountant: str = "rdp", hidden: Sequence[int] = (64, 32),
                 rep_clip: float | None = None, param_bound: float | None = 10.0, device: str = "auto",
                 threads: int | None = 1, random_state: int = 0, reproducible_noise: bool = False,
                 numeric_encoding: str = "auto", lr_schedule: str = "auto") -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.alpha = alpha
        self.beta = beta
        self.max_grad_norm = max_grad_norm
        self.noise_level = noise_level
        self.epochs = epochs
        self.batch_size = batch_size
        self.public_batch_size = public_batch_size
        self.lr = lr
        self.imputer = imputer
        self.imputer_params = imputer_params
        self.mode = mode
        self.accountant = accountant
        self.hidden = hidden
        self.rep_clip = rep_clip
        self.param_bound = param_bound
        self.device = device
        self.threads = threads
        self.random_state = random_state
        self.reproducible_noise = reproducible_noise
        self.numeric_encoding = numeric_encoding
        self.lr_schedule = lr_schedule

    def _config(self, spec: TableSpec, support_fraction: float) -> RunConfig:
        return RunConfig.build(
            spec=spec, support_fraction=support_fraction, val_fraction=0.0, test_fraction=0.0,
            split_seed=self.random_state, imputer=self.imputer, imputer_params=dict(self.imputer_params or {}),
            modes=[self.mode], seeds=[self.random_state], epsilon=self.epsilon, delta=self.delta,
            accountant=self.accountant, epochs=self.epochs, batch_size=self.batch_size,
            public_batch_size=self.public_batch_size, lr=self.lr, alpha=self.alpha, beta=self.beta,
            max_grad_norm=self.max_grad_norm, noise_level=self.noise_level, rep_clip=self.rep_clip,
            param_bound=self.param_bound,
            hidden=list(self.hidden), device=self.device, threads=self.threads,
            reproducible_noise=self.reproducible_noise, numeric_encoding=self.numeric_encoding,
            lr_schedule=self.lr_schedule,
        )

    def _fit(self, X: pd.DataFrame, y: Sequence[Any], kind: TargetKind | None, sensitive: Sequence[str],
             support: pd.DataFrame | float, categorical: Sequence[str],
             target_bounds: tuple[float, float] | None = None) -> None:
        """Train on ``X``/``y`` as a ``kind`` target (``None``: binary or multi-class, by the number of classes);
        ``target_bounds``: a regression label's declared range (``TableSpec.target_bounds``)."""
        if not isinstance(X, pd.DataFrame):
            raise DataError("X must be a pandas DataFrame: the sensitive columns are named by column.")
        if len(X) != len(y):
            raise DataError(f"X has {len(X)} rows but y has {len(y)}.")
        table = X.reset_index(drop=True).assign(**{TARGET_COLUMN: np.asarray(y)})
        if kind is None:
            kind = "binary" if table[TARGET_COLUMN].nunique() <= 2 else "multiclass"
        spec = TableSpec.from_dict({"target": TARGET_COLUMN, "sensitive": list(sensitive),
                                    "categorical": list(categorical), "target_kind": kind,
                                    "target_bounds": None if target_bounds is None else list(target_bounds)},
                                   source="estimator")
        separate = isinstance(support, pd.DataFrame)
        if separate and kind == "regression" and TARGET_COLUMN not in support.columns:
            raise DataError("A regression target is standardised by the support rows' labels: give the support "
                            f"table its target values in a column {TARGET_COLUMN!r} "
                            f"(support.assign({TARGET_COLUMN}=y_support)), or pass a support fraction instead.")
        config = self._config(spec, 0.0 if separate else float(support))
        splits = split_for(config, table, support if separate else None)
        self.prepared_: PreparedData = prepare_splits(config, splits).for_mode(self.mode)
        self.record_, self.model_ = fit_run(self.prepared_, self.mode, self.random_state)

    @property
    def privacy_(self) -> dict[str, Any]:
        return vars(self.record_.privacy)

    @property
    def epsilon_spent_(self) -> float | None:
        return self.record_.privacy.epsilon_spent

    @property
    def noise_multiplier_(self) -> float | None:
        return self.record_.privacy.sigma

    @property
    def history_(self) -> list[dict[str, Any]]:
        return self.record_.history

    @property
    def imputer_used_(self) -> str:
        return self.prepared_.imputer.used

    def _predictions(self, X: pd.DataFrame) -> np.ndarray:
        """``fusiondp.task.Task.predictions`` for real rows of ``X``."""
        encoded = torch.as_tensor(self.prepared_.encoder.transform(X), dtype=torch.float32,
                                  device=self.prepared_.device)
        inputs = model_inputs(self.prepared_, get_mode(self.mode), encoded, X)
        return predict_proba(self.model_, inputs, self.prepared_.tensors.task)


class FusionDPClassifier(_FusionDPEstimator):
    """Classifier (two classes, or more with a softmax head, or several labels per row with a sigmoid each)
    trained with feature-level DP on the ``sensitive`` columns of ``X``.

    A 2-D ``y`` is a multi-label indicator as in scikit-learn (rows × labels, 0/1; the labels are the columns
    of a DataFrame, else 0, 1, …): it trains the library's ``multilabel`` kind, ``classes_`` holds the label
    names, ``predict_proba`` each label's probability and ``predict`` a 0/1 array, a label predicted when its
    probability reaches 0.5 (as for binary: the estimator keeps no validation rows to choose thresholds on).
    """

    def fit(self, X: pd.DataFrame, y: Sequence[Any] | pd.DataFrame | np.ndarray, *, sensitive: Sequence[str],
            support: pd.DataFrame | float = 0.1, categorical: Sequence[str] = ()) -> FusionDPClassifier:
        """Train on ``X``/``y``. ``support``: a public table with ``X``'s columns whose
        sensitive values may be used to fit the imputer, or the fraction of ``X`` to declare
        public for that purpose (those rows are then not used as private rows)."""
        if np.ndim(y) == 2:
            cells, names = indicator_cells(y)
            self._fit(X, cells, "multilabel", sensitive, support, categorical)
            trained = training_task(self.prepared_.spec, self.prepared_.splits)[1]
            self.classes_ = np.array(names)
            self._label_columns = [trained.index(str(name).strip()) for name in names]
            return self
        self._fit(X, y, None, sensitive, support, categorical)
        self.classes_ = np.array(training_task(self.prepared_.spec, self.prepared_.splits)[1])
        return self

    @property
    def _multilabel(self) -> bool:
        return self.prepared_.spec.target_kind == "multilabel"

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities of each of ``classes_`` (columns in that order) for real rows of ``X``; multi-label:
        each label's probability (rows need not sum to 1)."""
        probabilities = self._predictions(X)
        if self._multilabel:
            return probabilities[:, self._label_columns]
        if probabilities.ndim == 2:
            return probabilities
        return np.column_stack([1 - probabilities, probabilities])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Each row's class; multi-label: a 0/1 array with a column per label of ``classes_``."""
        probabilities = self.predict_proba(X)
        if self._multilabel:
            return (probabilities >= 0.5).astype(int)
        if len(self.classes_) == 2:
            return self.classes_[(probabilities[:, 1] >= 0.5).astype(int)]
        return self.classes_[probabilities.argmax(1)]

    def score(self, X: pd.DataFrame, y: Sequence[Any] | pd.DataFrame | np.ndarray) -> float:
        """Accuracy of ``predict(X)`` against ``y`` (scikit-learn's classifier score); multi-label: subset
        accuracy, the share of rows whose every label is right."""
        truth = np.asarray(y, dtype=int) if self._multilabel else np.asarray(y)
        return float(accuracy_score(truth, self.predict(X)))


class FusionDPRegressor(_FusionDPEstimator):
    """Regressor for a numeric target, trained with feature-level DP on the ``sensitive`` columns of ``X``.

    The model learns the label standardised by the mean and standard deviation of the support
    rows' labels (public information) with a Huber loss; ``predict`` answers in the target's units.
    ``target_bounds`` (low, high): the range the target can take, declared from public knowledge and never
    read off ``y`` (``TableSpec.target_bounds``): labels outside it are clipped into it wherever the model sees
    a label, and predictions stay inside it. The other parameters are ``FusionDPClassifier``'s.
    """

    def __init__(self, *, target_bounds: tuple[float, float] | None = None, **settings: Any) -> None:
        super().__init__(**settings)
        self.target_bounds = target_bounds

    def fit(self, X: pd.DataFrame, y: Sequence[Any], *, sensitive: Sequence[str],
            support: pd.DataFrame | float = 0.1, categorical: Sequence[str] = ()) -> FusionDPRegressor:
        """Train on ``X``/``y`` (numbers). ``support`` as for ``FusionDPClassifier.fit``; a separate support
        table also needs the target, in a column named ``fusiondp.estimator.TARGET_COLUMN``."""
        self._fit(X, y, "regression", sensitive, support, categorical, self.target_bounds)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._predictions(X)

    def score(self, X: pd.DataFrame, y: Sequence[Any]) -> float:
        """R² of ``predict(X)`` against ``y`` (scikit-learn's regressor score)."""
        return regression_metrics(np.asarray(y, dtype=float), self.predict(X))["r2"]
