"""The library calls that several pages and reruns share (the split, the privacy preflight, the preparation, σ's
calibration), each computed once per table and settings.

``st.cache_data`` is shared by every session, so each cached call is keyed on the table's content hash plus the spec and
config it depends on: a session can only get a cached result for bytes it already holds. Arguments with a leading
underscore are not hashed: the key already stands for them.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import OrderedDict
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.settings import current_config, support_frame
from dashboard.tables import Table
from fusiondp import FusionDPError, PrivacyError, RunConfig, TableSpec
from fusiondp.preparation import prepare_splits, split_for
from fusiondp.prepared import PreparedData, Progress
from fusiondp.privacy.accounting import calibrate_sigma
from fusiondp.privacy.preflight import Finding, preflight
from fusiondp.spec import value_kind
from fusiondp.split import Splits
from fusiondp.sweep_grid import PREPARE_FIELDS
from fusiondp.text.preflight import note_preflight
from fusiondp.train.loop import planned_steps
from fusiondp.train.modes import MODES


def support_types(columns: list[str]) -> dict[str, str]:
    """The sensitive ``columns``' types as training reads them: from the support rows' values (a type read off the
    whole table would be shaped by private rows), said as such on the Columns page. One split for all of them."""
    try:
        support = current_splits(current_config()).support
    except (FusionDPError, ValueError):
        return dict.fromkeys(columns, "read from the support rows once the split works")
    return {column: "declared (not in the support table)" if column not in support.columns
            else f"{'numeric' if value_kind(support[column]) == 'number' else 'categorical'} (from the support rows)"
            for column in columns}


def current_splits(config: RunConfig) -> Splits:
    """The support/train/val/test split of the current table for ``config``'s data settings.

    Cached per table, support table, roles and data settings, so the Columns page's check
    and the preparation for every ε share one split — and a DP-synthetic support set is
    synthesised once.
    """
    table: Table = st.session_state.table
    support = st.session_state.support_table if support_frame() is not None else None
    values = config.to_dict()
    key = json.dumps({k: values[k] for k in PREPARE_FIELDS if k != "data"}, sort_keys=True, default=str)
    return _split(table.digest, support.digest if support else None, key, table.frame,
                  support.frame if support else None, config)


@st.cache_data(max_entries=8, show_spinner="Splitting the table…")
def _split(table_hash: str, support_hash: str | None, key: str, _table: pd.DataFrame,
           _support: pd.DataFrame | None, _config: RunConfig) -> Splits:
    """``split_table`` keyed on the table's and support's hashes and the roles and data settings."""
    return split_for(_config, _table, _support)


def check_split() -> str:
    """Validate the roles and split against the table; returns the split's description."""
    splits = current_splits(current_config())
    sizes = ", ".join(f"{k} {v}" for k, v in splits.sizes().items())
    return f"Support: {splits.support_source}. Rows per part: {sizes}."


@st.cache_data(max_entries=8, show_spinner=False)
def _preflight(table_hash: str, support_hash: str | None, key: str, _table: pd.DataFrame,
               _support: pd.DataFrame | None, _spec: TableSpec, _config: RunConfig,
               _splits: Splits | None) -> list[Finding]:
    """The privacy preflight on the cached split, keyed on the table's and support's hashes, the roles and split."""
    return preflight(_table, _spec, support=_support, config=_config, splits=_splits)


def preflight_findings() -> list[Finding]:
    """Proxy, identifier and set-up findings for the current roles (public information only)."""
    table: Table = st.session_state.table
    support = support_frame()
    config = current_config()
    values = config.to_dict()
    key = json.dumps({**{k: values[k] for k in PREPARE_FIELDS if k != "data"}, "delta": config.delta},
                     sort_keys=True, default=str)
    support_hash = st.session_state.support_table.digest if support is not None else None
    if config.text is not None:
        return _note_preflight(table.digest, config.text.to_dict(), table.frame[config.text.text_column])
    try:
        splits = current_splits(config)
    except FusionDPError:
        splits = None  # the preflight reports the split's problem as a finding
    return _preflight(table.digest, support_hash, key, table.frame, support, config.spec, config, splits)


@st.cache_data(max_entries=8, show_spinner="Looking for identifiers the span detector misses…")
def _note_preflight(table_hash: str, text: dict[str, Any], _notes: pd.Series) -> list[Finding]:
    """The notes' preflight (residual identifiers in the public words), keyed on the table's hash and the text spec."""
    return note_preflight(_notes.tolist(), text["sensitive_spans"], text["text_column"], text["detector"])


def _prepare_key(config: RunConfig) -> str:
    """The fields ``prepare`` reads, plus the batch size it checks against the training rows."""
    values = config.to_dict()
    return json.dumps({k: values[k] for k in (*PREPARE_FIELDS, "batch_size")}, sort_keys=True, default=str)


PREPARED_ENTRIES = 4
_prepared: OrderedDict[tuple[str, str | None, str], PreparedData] = OrderedDict()
_prepared_lock = threading.Lock()


def _prepare(table_hash: str, support_hash: str | None, prepare_key: str, config: RunConfig, splits: Splits,
             progress: Progress | None = None) -> PreparedData:
    """Imputation and encoding, keyed on the table's and support's hashes and the data settings.

    A plain LRU shared by every session rather than ``st.cache_data``: the preparation draws its progress
    into the caller's ``st.status``, and ``st.cache_data`` would record those calls and replay them into a
    container that no longer exists. Nobody mutates a ``PreparedData`` (``prepared_for`` returns a copy
    with the caller's config), so sharing one object is safe.
    """
    key = (table_hash, support_hash, prepare_key)
    with _prepared_lock:
        if key in _prepared:
            _prepared.move_to_end(key)
            return _prepared[key]
    prepared = prepare_splits(config, splits, progress)
    with _prepared_lock:
        _prepared[key] = prepared
        while len(_prepared) > PREPARED_ENTRIES:
            _prepared.popitem(last=False)
    return prepared


def prepared_for(config: RunConfig, progress: Progress | None = None) -> PreparedData:
    """The prepared data for ``config``, reusing a cached preparation that differs in training knobs only
    (as ``fusiondp.sweep`` does: ``train_run`` reads ε and the knobs from ``prepared.config``).

    ``progress`` hears the phases of a preparation that actually runs (a cached one is instant)."""
    table: Table = st.session_state.table
    support = st.session_state.support_table if support_frame() is not None else None
    prepared = _prepare(table.digest, support.digest if support else None, _prepare_key(config), config,
                        current_splits(config), progress)
    return dataclasses.replace(prepared, config=config)


def preparing(label: str) -> tuple[Any, Progress]:
    """An ``st.status`` box with a progress bar, and the ``Progress`` that fills it.

    Call it inside ``with status:``; each finished phase leaves a line with its seconds, so a slow
    imputation shows as such instead of a spinner that might be a hang.
    """
    status = st.status(label, expanded=True)
    bar = status.progress(0.0)
    started: dict[str, float] = {}

    def report(phase: str, fraction: float) -> None:
        started.setdefault(phase, time.perf_counter())
        bar.progress(min(fraction, 1.0), text=f"{phase} {fraction:.0%}")
        if fraction >= 1:
            status.write(f"{phase}: {time.perf_counter() - started[phase]:.1f} s")

    return status, report


def unmet_budgets(configs: dict[float, RunConfig]) -> dict[float, str]:
    """Calibrate σ for every private mode at every ε of the grid, as training will, before anything trains.

    Uses the library's planned q and steps on the current split's training rows and each mode's relation.
    Returns, for each ε that some private mode cannot meet, that mode's refusal (the Train page skips
    those ε and trains the others); an empty dict when every ε can be met.
    """
    unmet = {}
    for epsilon, config in configs.items():
        splits = current_splits(config)
        for mode in config.modes:
            if not MODES[mode].is_private:
                continue
            q, steps, _ = planned_steps(len(splits.train), config.train_settings(), mode)
            relation = MODES[mode].relation_for(splits.synthetic is not None)
            problem = _budget_problem(epsilon, config.delta, q, steps, config.accountant, relation)
            if problem is not None:
                unmet[epsilon] = f"{mode}: {problem}"
                break
    return unmet


@st.cache_data(max_entries=256, show_spinner="Checking that every ε can be met…")
def _budget_problem(epsilon: float, delta: float, q: float, steps: int, accountant: str, relation: str) -> str | None:
    """``calibrate_sigma``'s refusal, or ``None`` when some σ meets the budget (cached: a calibration takes ~1 s)."""
    try:
        calibrate_sigma(epsilon, delta, q, steps, accountant, relation)
    except PrivacyError as exc:
        return str(exc)
    return None
