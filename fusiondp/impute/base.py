"""The imputer protocol and the registry that maps names to imputer classes.

An imputer predicts the sensitive columns from the public ones. It is fitted on the
support set (rows whose sensitive values are public) and only ever *reads the public
columns* of the rows it imputes, so the hybrid rows it produces are public data.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from fusiondp.errors import ConfigError, DataError, FusionDPError, ImputerUnavailable
from fusiondp.spec import TableSpec


class CheckpointError(ImputerUnavailable):
    """A model file exists but cannot serve: it is not a TabPFN checkpoint, or it is for the other task.

    A subclass of ``ImputerUnavailable`` so that ``imputer="auto"`` falls back (and says why)
    instead of failing on a stray file in a cache folder.
    """


class ImputerLimitError(FusionDPError, ValueError):
    """The data exceed what an imputer supports (e.g. TabPFN's class limit); the message says what to do."""


@dataclass
class CrossFitted:
    """Out-of-fold imputations of the support rows an imputer was fitted on, from the cross-validation it ran.

    Each row is predicted by a model (or baseline) fitted on the other folds, never on the row itself, so
    scores on these rows are honest without holding rows out of the final fit — and the final fit sees
    every support row. ``rows``: positions in the support set passed to ``fit`` (all of them, or the
    subsample the imputer was fitted on); ``imputed``: those rows (index reset) with out-of-fold sensitive
    values, the layout of ``transform``; ``states``: out-of-fold state probabilities, the layout of
    ``predict_proba_states``; ``folds``: how many folds made them.
    """

    rows: np.ndarray
    imputed: pd.DataFrame
    states: dict[str, pd.DataFrame]
    folds: int


@runtime_checkable
class Imputer(Protocol):
    """scikit-learn style: parameters in ``__init__``, ``fit(support)``, ``transform(table)``.

    After ``fit``, ``cross_fitted_`` holds the support rows' out-of-fold imputations (``CrossFitted``): the
    pipeline scores the imputer and chooses the reference view's shrinkage on them, so one fit per
    preparation is enough.
    """

    name: str
    cross_fitted_: CrossFitted

    def fit(self, support: pd.DataFrame, *, progress: Callable[[float], None] | None = None,
            executor: Executor | None = None) -> Imputer: ...

    def transform(self, table: pd.DataFrame) -> pd.DataFrame:
        """Return a copy of ``table`` whose sensitive columns hold imputed values.

        NaN is a value too: where the imputer predicts that a sensitive value is missing (as it is in
        real rows), the hybrid view shows it missing, so that missing means the same in every view.
        """
        ...


ImputerFactory = Callable[..., Imputer]
_REGISTRY: dict[str, ImputerFactory] = {}
_AVAILABILITY: dict[str, Callable[[dict[str, Any]], None]] = {}
AUTO_ORDER = ("tabpfn", "gbdt")
"""``imputer="auto"`` tries these in order and uses the first that is available."""


def register_imputer(
    name: str, *, check_available: Callable[[dict[str, Any]], None] | None = None
) -> Callable[[ImputerFactory], ImputerFactory]:
    """Class decorator adding an imputer to the registry under ``name``.

    ``check_available(params)`` raises ``ImputerUnavailable`` when the imputer cannot run
    here (e.g. no model weights); it must be quick and must not touch the network.
    """

    def decorator(factory: ImputerFactory) -> ImputerFactory:
        _REGISTRY[name] = factory
        if check_available is not None:
            _AVAILABILITY[name] = check_available
        return factory

    return decorator


def available_imputers() -> dict[str, str | None]:
    """Every registered imputer mapped to ``None`` (usable) or the reason it is not."""
    status: dict[str, str | None] = {}
    for name in _REGISTRY:
        try:
            check_imputer_available(name, {})
            status[name] = None
        except ImputerUnavailable as exc:
            status[name] = str(exc)
    return status


def check_imputer_available(name: str, params: dict[str, Any]) -> None:
    """Raise ``ConfigError`` for an unknown name or parameter, ``ImputerUnavailable`` if it cannot run here."""
    if name not in _REGISTRY:
        raise ConfigError(f"Unknown imputer {name!r}. Choose one of: auto, {', '.join(sorted(_REGISTRY))}.")
    accepted = set(inspect.signature(_REGISTRY[name]).parameters) - {"spec", "random_state"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        # Caught here, not as a TypeError deep inside the pipeline after minutes of work.
        raise ConfigError(f"Imputer {name!r} has no parameter(s) {unknown}; it accepts {sorted(accepted)}.")
    if name in _AVAILABILITY:
        _AVAILABILITY[name](params)


@dataclass(frozen=True)
class ImputerChoice:
    """Which imputer actually runs and why: shown in every output."""

    requested: str
    used: str
    reason: str
    params: dict[str, Any]

    def build(self, spec: TableSpec, seed: int) -> Imputer:
        return _REGISTRY[self.used](spec, random_state=seed, **self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"requested": self.requested, "name": self.used, "reason": self.reason}


def choose_imputer(requested: str, params: dict[str, Any] | None = None) -> ImputerChoice:
    """Resolve ``requested`` (a registry name or ``"auto"``) to the imputer that will run.

    ``auto`` falls back in ``AUTO_ORDER`` and records why each earlier choice could not
    run; an explicit name that is unavailable raises ``ImputerUnavailable``.
    """
    params = dict(params or {})
    if requested != "auto":
        check_imputer_available(requested, params)
        return ImputerChoice(requested, requested, "requested explicitly", params)
    reasons = []
    for name in AUTO_ORDER:
        relevant = params if name == "tabpfn" else {}
        try:
            check_imputer_available(name, relevant)
        except ImputerUnavailable as exc:
            reasons.append(f"{name} unavailable: {exc}")
            continue
        reason = "; ".join(reasons) + f"; using {name}" if reasons else f"auto: {name} is available"
        return ImputerChoice("auto", name, reason, relevant)
    raise ImputerUnavailable("No imputer is available: " + "; ".join(reasons))


def observed_target(spec: TableSpec, support: pd.DataFrame, column: str) -> tuple[np.ndarray, pd.Series]:
    """Positions of the support rows where ``column`` is observed, and its values there.

    Categorical values become strings, so that every imputer predicts the same labels as the
    encoder's vocabulary. Numeric values are parsed; text in a numeric sensitive column is a
    ``DataError`` here rather than a crash inside a model.
    """
    values = support[column]
    observed = values.notna().to_numpy()
    if spec.is_categorical(column):
        target = values[observed].astype(str)
    else:
        target = pd.to_numeric(values[observed], errors="coerce")
        junk = values[observed][target.isna()]
        if len(junk):
            examples = ", ".join(repr(v) for v in junk.unique()[:3])
            raise DataError(f"Numeric sensitive column {column!r} of the support set holds non-numeric values "
                            f"({examples}; {len(junk)} rows). Clean them, or declare the column categorical.")
    if not observed.any():
        raise DataError(f"Sensitive column {column!r} has no values in the support rows the imputer is fitted on; "
                        "supply a support set where it is observed.")
    return np.flatnonzero(observed), target.reset_index(drop=True)
