"""How the audit's attacks read one kind of data (``AuditView``): the table's reading (``TableView``), or a
modality's (notes: ``fusiondp.text.audit.NoteView``), chosen by ``audit_view``.

A view says which sensitive features are attacked, the candidate values of each, how a row is encoded with a
guessed value, and what guesses without the model (the baseline): the attacks themselves are one for every view
(``fusiondp.privacy.audit``).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from fusiondp.modality import modality_of
from fusiondp.prepared import PreparedData

DECILES = np.linspace(0.05, 0.95, 10)
def _nearest(values: pd.Series, candidates: list[Any], categorical: bool) -> np.ndarray:
    if categorical:
        index = pd.Index([str(c) for c in candidates])
        return index.get_indexer(values.astype(str))
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return np.abs(numbers[:, None] - np.asarray(candidates, dtype=float)[None, :]).argmin(1)


class AuditView(Protocol):
    """How the attacks read one kind of data: tables (``TableView``) or notes (``fusiondp.text.audit.NoteView``).

    The attacks themselves — likelihood argmax, learned attack, membership — are the same for both; only
    what a sensitive value is, how a row is encoded with a guessed value and what guesses without the
    model differ.
    """

    prepared: PreparedData
    baseline: str
    """What guesses without the model, in a word for headers ("imputer", "generator")."""

    def attacked(self) -> list[str]:
        """The sensitive features attacked, named as ledgers name them."""

    def notes(self, attacked: list[str]) -> list[str]:
        """What the report should add about the attack, given the features ``attacked``: those not attacked and why,
        a baseline that cannot guess (one line each; empty when there is nothing to add)."""

    def candidates(self, column: str) -> list[Any]:
        """The values the attacker chooses among."""

    def observed(self, rows: pd.DataFrame, column: str, candidates: list[Any]) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows with a known value of ``column`` and the index of that value among ``candidates``."""

    def encode(self, rows: pd.DataFrame, guess: tuple[str, Any] | None = None) -> np.ndarray:
        """The rows' real view as the model reads it, with ``guess = (column, value)`` filled in if given."""

    def public(self, rows: pd.DataFrame) -> np.ndarray:
        """The rows' public features (what the learned attack reads beside the likelihoods)."""

    def baseline_guess(self, rows: pd.DataFrame, column: str, candidates: list[Any]) -> np.ndarray:
        """The guess that needs no model (index among ``candidates``; −1: no guess)."""


@dataclass
class TableView:
    """Tables: a sensitive column's value is a category or a decile; the imputer guesses without the model."""

    prepared: PreparedData
    baseline: str = "imputer"

    def attacked(self) -> list[str]:
        return list(self.prepared.spec.sensitive)

    def notes(self, attacked: list[str]) -> list[str]:
        return [f"{column}: not attacked (no attacked training or held-out row has a value of it)"
                for column in self.attacked() if column not in attacked]

    def candidates(self, column: str) -> list[Any]:
        """The categories of a categorical column, or the support set's deciles of a numeric one."""
        if self.prepared.spec.is_categorical(column):
            return [level for level in self.prepared.encoder.levels_[column] if level != "<missing>"]
        values = pd.to_numeric(self.prepared.splits.support[column], errors="coerce").dropna()
        return sorted(set(np.quantile(values, DECILES).round(6).tolist()))

    def observed(self, rows: pd.DataFrame, column: str, candidates: list[Any]) -> tuple[pd.DataFrame, np.ndarray]:
        observed = rows[rows[column].notna()].reset_index(drop=True)
        truth = _nearest(observed[column], candidates, self.prepared.spec.is_categorical(column))
        known = truth >= 0
        return observed[known].reset_index(drop=True), truth[known]

    def encode(self, rows: pd.DataFrame, guess: tuple[str, Any] | None = None) -> np.ndarray:
        if guess is not None:
            rows = rows.assign(**{guess[0]: guess[1]})
        return self.prepared.encoder.transform(rows)

    def public(self, rows: pd.DataFrame) -> np.ndarray:
        return self.encode(rows)[:, self.prepared.encoder.public_features]

    def baseline_guess(self, rows: pd.DataFrame, column: str, candidates: list[Any]) -> np.ndarray:
        spec = self.prepared.spec
        return _nearest(_imputed(self.prepared.fitted_imputer, rows[[*spec.public, spec.target]])[column], candidates,
                        spec.is_categorical(column))


IMPUTED_ENTRIES = 64
_imputations: weakref.WeakKeyDictionary[Any, OrderedDict[bytes, pd.DataFrame]] = weakref.WeakKeyDictionary()
"""Per fitted imputer, its last imputations by the rows' content: the baseline reads no model, so the models of one
run, audited on the same rows, share one imputation per sensitive column (the costliest part of an attack)."""


def _imputed(imputer: Any, inputs: pd.DataFrame) -> pd.DataFrame:
    """``imputer.transform(inputs)``, remembered for the same rows (public columns and target) and the same imputer."""
    key = pd.util.hash_pandas_object(inputs, index=False).to_numpy().tobytes()
    memo = _imputations.setdefault(imputer, OrderedDict())
    if key not in memo:
        memo[key] = imputer.transform(inputs)
        if len(memo) > IMPUTED_ENTRIES:
            memo.popitem(last=False)
    memo.move_to_end(key)
    return memo[key]


def audit_view(prepared: PreparedData) -> AuditView:
    """The audit's reading of ``prepared``: a table's, or that of its data's modality (notes, for a text spec:
    ``fusiondp.modality``)."""
    modality = modality_of(prepared.config)
    return TableView(prepared) if modality is None else modality.audit_view(prepared)

