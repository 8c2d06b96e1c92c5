"""Session state and cached library calls shared by the dashboard pages.

Everything a user chose or uploaded lives in ``st.session_state`` (one per browser tab), so
two tabs never see each other's data. ``st.cache_data`` is shared by every session, so each
cached call is keyed on the table's content hash plus the spec and config it depends on:
a session can only get a cached result for bytes it already holds.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st
import yaml

from dashboard.defaults import (
    DEFAULT_EPSILON_RANGE,
    DEFAULTS,
    EPSILON_STEPS,
    SUPPORT_SOURCE_LABELS,
    SUPPORT_SYNTHETIC,
    SUPPORT_TABLE,
    follow_table_delta,
)
from dashboard.messages import error_message
from dashboard.tables import SAMPLES, Table, read_sample
from fusiondp import ConfigError, FusionDPError, PrivacyError, RunConfig, SpecError, TableSpec
from fusiondp.data import Splits
from fusiondp.pipeline import prepare_splits, split_for
from fusiondp.prepared import PreparedData, Progress
from fusiondp.privacy.accounting import calibrate_sigma
from fusiondp.privacy.preflight import Finding, preflight
from fusiondp.spec import DEFAULT_DELIMITER, TargetKind, infer_target_kind, value_kind
from fusiondp.sweep import PREPARE_FIELDS
from fusiondp.synth import split_declarations
from fusiondp.text.preflight import note_preflight
from fusiondp.text.spec import TextSpec
from fusiondp.train.loop import planned_steps
from fusiondp.train.modes import MODES

SENSITIVE_NAME = re.compile(
    r"age|sex|gender|race|ethnic|educat|marital|income|poverty|religio|nationality|birth|zip|postcode|language",
    re.IGNORECASE,
)
"""Column names that usually hold demographic, protected attributes: suggested as sensitive."""
TARGET_NAME = re.compile(r"target|label|outcome|diagnos|diabetes|disease|death|mortality|readmi|positive",
                         re.IGNORECASE)
SPLIT_NAME = re.compile(r"split|fold|partition", re.IGNORECASE)
"""Two-valued columns that assign rows to parts (train/test), never an outcome: not suggested as the target."""

TUTORIAL_SAMPLE = "NHANES 2017–2018 adults: diabetes"
"""The sample table tutorial mode loads (``fusiondp.glossary.TUTORIAL`` describes it)."""
ROLE_KEYS = ("target", "positive_class", "sensitive", "ignore", "categorical")
SESSION_PARAM = "session"
"""The URL query parameter naming this tab's kept session: a reload of the page (or the link) brings it back."""
KEPT_SESSIONS = 32
"""Sessions this server keeps for a reload, the least recently used forgotten first."""
KEPT_FOR_S = 12 * 3600
"""A session not used for this long is forgotten."""
KEPT_KEYS = (*DEFAULTS, *ROLE_KEYS, "table", "support_table", "records", "job", "audit_results", "eps_range",
             "target_kind", "suggested_target", "target_low", "target_high", "target_delimiter", "sample",
             "last_sample", "last_support", "curve_metric", "delta_auto")
"""What a reload keeps: the table, roles, settings, training job and results (not the uploader widgets, which a
browser cannot be given a file back in)."""
RESUMED = "Your session is back after the reload: table, column roles, settings and results."
EXPIRED = ("This link's session is no longer kept on this server (the server restarted, or the session was unused "
           "for 12 hours): load the table again. A run config downloaded from Results loads its roles and settings "
           "back on the Columns page.")


@dataclass
class KeptSession:
    """A tab's work, kept in this server's memory (never on disk) under its link's ``SESSION_PARAM``."""

    values: dict[str, Any]
    owner: str
    """The browser session that last wrote it: another one writing the same link forks its own."""
    saved: float


_kept: OrderedDict[str, KeptSession] = OrderedDict()
_kept_lock = threading.Lock()


def _session_id() -> str:
    """This browser session's own id (a reload starts a new session, hence a new id)."""
    return st.session_state.setdefault("session_id", secrets.token_hex(8))


def resume_session() -> None:
    """Give this tab a link that brings its work back after a reload, and bring it back when the link names one.

    Streamlit starts a new, empty session on every reload; the values of ``KEPT_KEYS`` are kept in this server's
    memory under a random token in the URL, so the new session takes them over (a training job goes on in its
    thread meanwhile). Whoever has the link can resume the session, as with any session link.
    """
    if "session_token" not in st.session_state:
        token = st.query_params.get(SESSION_PARAM)
        with _kept_lock:
            kept = _kept.get(token) if token else None
            if kept is not None:
                kept.owner = _session_id()
        if kept is not None:
            st.session_state.update(kept.values)
            st.session_state.session_note = RESUMED
        else:
            st.session_state.session_note = EXPIRED if token else None
            token = secrets.token_urlsafe(16)
        st.session_state.session_token = token
    if st.query_params.get(SESSION_PARAM) != st.session_state.session_token:
        st.query_params[SESSION_PARAM] = st.session_state.session_token


def keep_session() -> None:
    """Keep this tab's work for a reload (``resume_session``); called after every run of the script."""
    token = st.session_state.get("session_token")
    if token is None:
        return
    values = {key: st.session_state[key] for key in KEPT_KEYS if key in st.session_state}
    me, now = _session_id(), time.monotonic()
    with _kept_lock:
        kept = _kept.get(token)
        if kept is not None and kept.owner != me:  # another tab opened this link: each keeps its own work
            token = st.session_state.session_token = secrets.token_urlsafe(16)
            st.query_params[SESSION_PARAM] = token
        _kept[token] = KeptSession(values, me, now)
        _kept.move_to_end(token)
        for stale in [key for key, session in _kept.items() if now - session.saved > KEPT_FOR_S]:
            del _kept[stale]
        while len(_kept) > KEPT_SESSIONS:
            _kept.popitem(last=False)


def init_state() -> None:
    """Fill in defaults once per session; widgets then read and write these keys."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    st.session_state.setdefault("table", None)
    st.session_state.setdefault("support_table", None)
    st.session_state.setdefault("records", [])
    st.session_state.setdefault("job", None)


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


def spec_roles(spec: TableSpec, columns: list[str]) -> dict[str, Any]:
    """The Columns page's fields for ``spec`` (categorical columns listed only where the table has them)."""
    return {"target": spec.target, "target_kind": spec.target_kind, "positive_class": spec.positive_class,
            "sensitive": list(spec.sensitive), "ignore": list(spec.ignore),
            "categorical": [c for c in columns if c in spec.categorical], "text_column": None,
            **target_declarations(spec)}


def suggest_roles(table: Table) -> dict[str, Any]:
    """Roles from the sample's spec file, else guesses from column names and types.

    An upload's target is left unset: the guess is only ``suggested_target``, shown beside the
    choice, and nothing trains until the user has chosen the outcome column.
    """
    frame = table.frame
    columns = list(frame.columns)
    if table.spec is not None:
        return {"suggested_target": table.spec.target, **spec_roles(table.spec, columns)}
    binary = [c for c in columns if frame[c].dropna().nunique() == 2 and not SPLIT_NAME.search(c)]
    named = [c for c in binary if TARGET_NAME.search(c)]
    target = table.text_roles.get("target") or (named or binary or columns)[-1]
    if table.text_roles:  # notes: the model reads the text column only, so no column is tagged
        return {"suggested_target": target, "sensitive": [], "ignore": [], "categorical": [],
                **target_declarations(None), **table.text_roles}
    sensitive = [c for c in columns if c != target and SENSITIVE_NAME.search(c)]
    # Sensitive columns are typed later, from the support set (a type read off private rows is a release).
    categorical = [c for c in columns if c != target and c not in sensitive
                   and not pd.api.types.is_numeric_dtype(frame[c])]
    return {"target": None, "suggested_target": target, "positive_class": None, "target_kind": None,
            "sensitive": sensitive, "ignore": [],
            "categorical": categorical, "text_column": None, **target_declarations(None)}


def set_table(table: Table) -> str | None:
    """Make ``table`` the current dataset; return a message when this switches datasets mid-way.

    Training settings are kept. Column roles are kept when every tagged column exists in the
    new table, otherwise they are reset to suggestions; results of the old table are cleared.
    """
    old: Table | None = st.session_state.table
    if old is not None and old.digest == table.digest:
        return None
    st.session_state.table = table
    st.session_state.records = []
    st.session_state.job = None
    tagged = [st.session_state.get("target"), st.session_state.get("text_column"),
              *st.session_state.get("sensitive", []),
              *st.session_state.get("ignore", []), *st.session_state.get("categorical", [])]
    keep = (old is not None and table.spec is None and not table.text_roles
            and all(c in table.frame.columns for c in tagged if c))
    if not keep:
        st.session_state.update(suggest_roles(table))
    st.session_state.declared_values = table.declared_values
    follow_table_delta(len(table.frame))
    if old is None:
        return None
    roles = "kept (every tagged column exists in the new table)" if keep else "reset to suggestions for the new table"
    return (f"Switched dataset from {old.name} to {table.name}. Column roles were {roles}; training settings "
            "were kept; results of the previous table were cleared.")


def start_tutorial() -> None:
    """The tutorial toggle's callback: turned on, it loads the sample table — at once when nothing else is loaded,
    else only once the user agrees (``tutorial_question``), since it replaces the table and clears its results."""
    st.session_state.tutorial_question = False
    if not st.session_state.tutorial:
        return
    table: Table | None = st.session_state.table
    if table is None or table.name == f"sample_data/{SAMPLES[TUTORIAL_SAMPLE].csv.name}":
        load_tutorial_sample()
    else:
        st.session_state.tutorial_question = True


def forget_sample_choice() -> None:
    """The uploader's callback: a new upload replaces the sample, so the sample chooser stops naming one."""
    st.session_state.sample = st.session_state.last_sample = None


def load_tutorial_sample() -> None:
    """Load the tutorial's sample table, and show it as the sample chooser's choice."""
    st.session_state.tutorial_question = False
    try:
        st.session_state.switch_note = set_table(read_sample(TUTORIAL_SAMPLE))
    except FusionDPError as exc:
        st.session_state.load_error = str(exc)
        return
    st.session_state.sample = st.session_state.last_sample = TUTORIAL_SAMPLE


def keep_table_without_tutorial() -> None:
    """The answer "keep my table" to ``tutorial_question``: tutorial mode stays off, nothing is replaced."""
    st.session_state.tutorial_question = False
    st.session_state.tutorial = False


def tutorial_question() -> None:
    """Ask before tutorial mode replaces the user's table (and its results) with the sample."""
    if not st.session_state.get("tutorial_question"):
        return
    table: Table = st.session_state.table
    results = " and clears its results" if st.session_state.records or st.session_state.job else ""
    with st.container(border=True):
        st.warning(f"Tutorial mode explains each step on the sample table. Loading it replaces **{table.name}**"
                   f"{results}.", icon=":material/school:")
        answers = st.container(horizontal=True)
        answers.button("Load the sample table", key="tutorial_yes", on_click=load_tutorial_sample, type="primary")
        answers.button(f"Keep {table.name} (tutorial off)", key="tutorial_no", on_click=keep_table_without_tutorial)


ROLES_FILE_LABEL = "Load column roles or a run config (spec.yaml, or a config.yaml downloaded from Results)"


def _config_settings(config: RunConfig, columns: list[str]) -> dict[str, Any]:
    """The Columns and Train pages' fields for a run config: its roles, support set and training knobs."""
    if config.text is not None:
        text = config.text
        roles = {"target": text.target, "target_kind": text.target_kind, "positive_class": text.positive_class,
                 "text_column": text.text_column, "sensitive_spans": list(text.sensitive_spans),
                 "span_detector": text.detector}
    else:
        roles = spec_roles(config.spec, columns)
    epsilon = float(config.epsilon)
    grid = {"eps_range": (epsilon, epsilon), "extra_epsilon": None} if epsilon in EPSILON_STEPS else \
        {"extra_epsilon": epsilon}
    declared = {**config.sensitive_domains, **{k: list(v) for k, v in config.sensitive_bounds.items()}}
    return {**roles, **grid, "support_source": SUPPORT_SOURCE_LABELS[config.support_source],
            "support_fraction": config.support_fraction, "synthesizer": config.synthesizer,
            "epsilon_syn": config.epsilon_syn, "imputer": config.imputer, "modes": list(config.modes),
            "seed": min(config.seeds), "n_seeds": len(config.seeds),
            # a config that left δ to the table's N (None) keeps the page's δ control on its default
            "delta": st.session_state.get("delta_auto", DEFAULTS["delta"]) if config.delta is None else config.delta,
            "accountant": config.accountant, "epochs": config.epochs, "batch_size": config.batch_size,
            "lr": config.lr, "alpha": config.alpha, "beta": config.beta, "max_grad_norm": config.max_grad_norm,
            "reproducible_noise": config.reproducible_noise,
            **({"declared_values": yaml.safe_dump(declared, sort_keys=False, allow_unicode=True,
                                                  default_flow_style=None)} if declared else {})}


def settings_from_file(name: str, content: bytes, frame: pd.DataFrame) -> tuple[dict[str, Any], str]:
    """The page fields a spec or run config file sets, checked against ``frame``'s columns, and what was loaded.

    A file with a ``spec`` or ``text`` key is a run config (``RunConfig``: roles, support set and knobs; its
    ``data`` path is not read); any other a column spec (``TableSpec``). Errors raise with the library's message.
    """
    try:
        raw = yaml.safe_load(content.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{name} is not a YAML file: {exc}") from None
    columns = [str(c) for c in frame.columns]
    if isinstance(raw, dict) and ("spec" in raw or "text" in raw):
        config = RunConfig.build(**raw)
        if config.spec is not None:
            config.spec.with_roles(frame)
        else:
            missing = [c for c in (config.text.text_column, config.text.target) if c not in columns]
            if missing:
                raise SpecError(f"{name} names column(s) {missing}, which this table does not have.")
        return _config_settings(config, columns), (f"Loaded the roles, support set and training settings of {name} "
                                                   "(ε, modes, seeds, knobs: see the Train page).")
    spec = TableSpec.from_dict(raw, source=name)
    spec.with_roles(frame)
    return spec_roles(spec, columns), f"Loaded the column roles of {name}."


def load_settings_file() -> None:
    """The roles-file uploader's callback: apply the file's roles (and a config's settings) to the pages' fields,
    before any widget is drawn; an error leaves every field as it was and is shown on the page."""
    upload = st.session_state.get("roles_upload")
    if upload is None:
        return
    try:
        settings, message = settings_from_file(upload.name, upload.getvalue(), st.session_state.table.frame)
    except FusionDPError as exc:
        st.session_state.roles_file_note = ("error", error_message(exc))
        return
    st.session_state.update(settings)
    st.session_state.roles_file_note = ("success", message)


TARGET_KIND_LABELS = {"binary": "binary (two classes)", "multiclass": "multi-class (three or more classes)",
                      "multilabel": "multi-label (several labels per row, in one column)",
                      "regression": "regression (a number)"}


def target_declarations(spec: TableSpec | None) -> dict[str, Any]:
    """The Columns page's fields for a spec's regression bounds and multi-label delimiter (blank without a spec)."""
    low, high = spec.target_bounds if spec is not None and spec.target_bounds is not None else (None, None)
    delimiter = spec.target_delimiter if spec is not None and spec.target_delimiter is not None else None
    return {"target_low": low, "target_high": high, "target_delimiter": delimiter or DEFAULT_DELIMITER}


def forget_target_kind() -> None:
    """A new target starts from its own inferred kind (the Columns page fills it in), with no declared bounds
    and the default delimiter: what was declared for one column says nothing about another."""
    st.session_state.target_kind = None
    st.session_state.update(target_declarations(None))


def target_bounds() -> list[float] | None:
    """The regression bounds typed on the Columns page: both ends, or neither (one end alone is an error)."""
    low, high = st.session_state.get("target_low"), st.session_state.get("target_high")
    if low is None and high is None:
        return None
    if low is None or high is None:
        raise SpecError("Give both ends of the target's range on the Columns page (lowest and highest possible "
                        "value), or clear both to train without bounds.")
    return [float(low), float(high)]


def inferred_target_kind(target: pd.Series) -> tuple[TargetKind, str]:
    """The kind read off the target's values (public) and a sentence saying why, for the Columns page."""
    try:
        kind = infer_target_kind(target, str(target.name))
    except FusionDPError as exc:
        return "multiclass", f"Not inferred: {exc}"
    return kind, f"Inferred from the target's {target.nunique()} distinct values: {kind}."


def current_spec() -> TableSpec:
    """The spec the Columns page describes; validation errors are raised for the page to show.

    Text columns not ticked categorical are left to the library's type inference (they are
    categorical), so a former target of "Yes"/"No" values does not turn into a bad numeric column.
    """
    table: Table = st.session_state.table
    if st.session_state.target is None:
        raise SpecError("Choose the target (the outcome column to predict) on the Columns page: it is never guessed.")
    features = [c for c in table.frame.columns
                if c != st.session_state.target and c not in st.session_state.ignore]
    categorical = [c for c in st.session_state.categorical if c in features]
    numeric = [c for c in features if c not in categorical and pd.api.types.is_numeric_dtype(table.frame[c])]
    kind = st.session_state.get("target_kind")
    positive = st.session_state.positive_class if kind in (None, "binary") else None
    return TableSpec.from_dict({
        "target": st.session_state.target,
        "target_kind": kind,
        "target_bounds": target_bounds() if kind == "regression" else None,
        "target_delimiter": (st.session_state.get("target_delimiter") or DEFAULT_DELIMITER) if kind == "multilabel"
        else None,
        "sensitive": list(st.session_state.sensitive),
        "ignore": list(st.session_state.ignore),
        "categorical": categorical,
        "numeric": numeric,
        "positive_class": positive.item() if hasattr(positive, "item") else positive,
    }, source="column roles")


def declared_template(spec: TableSpec) -> str:
    """What to declare for each sensitive column, as commented YAML lines (column names only: no values)."""
    return "\n".join(f"# {c}: [<category>, <category>, …]" if spec.is_categorical(c) else f"# {c}: [<low>, <high>]"
                     for c in spec.sensitive)


def declared_values(spec: TableSpec) -> tuple[dict[str, list[Any]], dict[str, tuple[float, float]]]:
    """The user's declared domains and bounds, parsed from the text box (errors raise ``ConfigError``)."""
    try:
        declared = yaml.safe_load(st.session_state.declared_values or "")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"The declared values are not valid YAML{where}: write one line per sensitive column, "
                          "e.g. `gender: [Female, Male]` or `age: [20, 80]`.") from None
    return split_declarations(spec, declared)


def declared_orders() -> dict[str, list[Any]]:
    """Each column's values as listed in the declared-values box (a codebook's order), for figures that list
    categories; empty when the box is empty or not valid YAML (the Columns page says why when it matters)."""
    try:
        declared = yaml.safe_load(st.session_state.declared_values or "")
    except yaml.YAMLError:
        return {}
    if not isinstance(declared, dict):
        return {}
    return {str(column): values for column, values in declared.items() if isinstance(values, list)}


def text_mode() -> bool:
    """Whether the Columns page names a text column: notes with sensitive spans instead of sensitive columns."""
    return st.session_state.get("text_column") is not None


def current_text_spec() -> TextSpec:
    """The text spec the Columns page describes (text column, target, span types); errors raise for the page."""
    kind = st.session_state.get("target_kind")
    if kind not in ("binary", "multiclass"):
        raise SpecError(f"Notes take a binary or multi-class target; {st.session_state.target!r} is set to "
                        f"{TARGET_KIND_LABELS.get(kind, kind)}. Change the target kind, or clear the text column.")
    positive = st.session_state.positive_class if kind == "binary" else None
    return TextSpec.build(text_column=st.session_state.text_column, target=st.session_state.target,
                          sensitive_spans=list(st.session_state.sensitive_spans), target_kind=kind,
                          detector=st.session_state.span_detector,
                          positive_class=positive.item() if hasattr(positive, "item") else positive)


def current_config(epsilon: float | None = None) -> RunConfig:
    """The ``RunConfig`` of the current choices (ε defaults to the lowest of the grid); with a text column, the
    roles travel in a text spec."""
    table: Table = st.session_state.table
    source = st.session_state.support_source
    separate = source == SUPPORT_TABLE
    if separate and st.session_state.support_table is None:  # never a silent fallback to a public fraction
        raise ConfigError("A separate public support table was chosen but none is uploaded yet: upload it on the "
                          "Columns page, or choose a public fraction of this table as the support set.")
    synthetic: dict[str, Any] = {}
    roles: dict[str, Any] = {"spec": current_spec()} if not text_mode() else {"text": current_text_spec()}
    if source == SUPPORT_SYNTHETIC and text_mode():
        synthetic = {"support_source": "dp_synthetic"}  # the library says why notes cannot take one
    elif source == SUPPORT_SYNTHETIC:
        spec = current_spec()
        domains, bounds = declared_values(spec.resolve(table.frame))
        synthetic = {"support_source": "dp_synthetic", "synthesizer": st.session_state.synthesizer,
                     "epsilon_syn": st.session_state.epsilon_syn, "sensitive_domains": domains,
                     "sensitive_bounds": bounds}
    return RunConfig.build(
        data=table.name,
        **roles,
        **synthetic,
        support_data=st.session_state.support_table.name if separate else None,
        support_fraction=st.session_state.support_fraction,
        imputer=st.session_state.imputer,
        modes=list(st.session_state.modes),
        seeds=list(range(st.session_state.seed, st.session_state.seed + st.session_state.n_seeds)),
        epsilon=epsilon if epsilon is not None else epsilon_grid()[0],
        delta=st.session_state.delta,
        accountant=st.session_state.accountant,
        epochs=st.session_state.epochs,
        batch_size=st.session_state.batch_size,
        lr=st.session_state.lr,
        alpha=st.session_state.alpha,
        beta=st.session_state.beta,
        max_grad_norm=st.session_state.max_grad_norm,
        reproducible_noise=st.session_state.reproducible_noise,
    )


def epsilon_grid() -> list[float]:
    """The ε values of the curve: the slider's range plus an optionally typed value."""
    low, high = st.session_state.get("eps_range", DEFAULT_EPSILON_RANGE)
    grid = [e for e in EPSILON_STEPS if low <= e <= high]
    extra = st.session_state.extra_epsilon
    if extra is not None:
        grid.append(float(extra))
    return sorted(set(grid))


def support_frame() -> pd.DataFrame | None:
    if st.session_state.support_source != SUPPORT_TABLE or st.session_state.support_table is None:
        return None
    return st.session_state.support_table.frame


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
        q, steps, _ = planned_steps(len(splits.train), config.train_settings())
        for mode in config.modes:
            if not MODES[mode].is_private:
                continue
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


def sidebar(placeholder: Any) -> None:
    """The current dataset, spec and budget, on every page (drawn into ``placeholder``, replacing what it held)."""
    table: Table | None = st.session_state.table
    with placeholder.container():
        st.subheader("Current run")
        if table is None:
            st.caption("No table loaded yet.")
            return
        st.markdown(f"**Dataset:** `{table.name}`  \n{len(table.frame):,} rows × {table.frame.shape[1]} columns")
        sensitive = st.session_state.get("sensitive", [])
        target = st.session_state.get("target")
        protected = (f"**Notes:** `{st.session_state.text_column}` · spans: "
                     f"{', '.join(st.session_state.sensitive_spans) or '—'}" if text_mode()
                     else f"**Sensitive ({len(sensitive)}):** {', '.join(sensitive) or '—'}")
        st.markdown(f"**Target:** {f'`{target}`' if target else 'not chosen yet'}  \n{protected}")
        grid = ", ".join(f"{e:g}" for e in epsilon_grid())
        st.markdown(f"**Budget:** ε ∈ {{{grid}}}, δ = {st.session_state.delta:g}")
