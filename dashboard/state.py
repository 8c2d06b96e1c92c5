"""Session state and cached library calls shared by the dashboard pages.

Everything a user chose or uploaded lives in ``st.session_state`` (one per browser tab), so
two tabs never see each other's data. ``st.cache_data`` is shared by every session, so each
cached call is keyed on the table's content hash plus the spec and config it depends on:
a session can only get a cached result for bytes it already holds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
import yaml

from fusiondp import ConfigError, DataError, FusionDPError, PrivacyError, RunConfig, RunRecord, SpecError, TableSpec
from fusiondp.data import MAX_FILE_BYTES, read_table_bytes
from fusiondp.errors import MissingDeclarations
from fusiondp.models import TabularMLP
from fusiondp.parallel import lockstep_groups
from fusiondp.preparation import prepare_splits, split_for
from fusiondp.prepared import PreparedData, Progress
from fusiondp.privacy.accounting import calibrate_sigma, default_delta
from fusiondp.privacy.audit import AuditProgress, audit_model, shadow_data
from fusiondp.privacy.audit_report import AuditReport
from fusiondp.privacy.preflight import Finding, preflight
from fusiondp.runs import fit_runs
from fusiondp.spec import DEFAULT_DELIMITER, TargetKind, infer_target_kind, value_kind
from fusiondp.split import Splits
from fusiondp.sweep_grid import PREPARE_FIELDS
from fusiondp.synth import split_declarations
from fusiondp.text.preflight import note_preflight
from fusiondp.text.spec import SPAN_TYPES, TextSpec
from fusiondp.train.loop import EpochReport, planned_steps
from fusiondp.train.modes import ALL_MODES, MODES
from fusiondp.verdicts import imputer_headline

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "sample_data"


@dataclass(frozen=True)
class Sample:
    """A table of sample_data/ (see its README.md) and the roles it comes with."""

    csv: Path
    spec: Path | None = None
    """Its column roles (``TableSpec`` YAML); ``None`` for notes, whose roles are ``text_roles``."""
    text_roles: dict[str, Any] = field(default_factory=dict)
    """The Columns page's choices for a table of notes: its text column, target and positive class."""
    declarations: Path | None = None
    """A config whose ``sensitive_domains``/``sensitive_bounds`` were declared from the sample's codebook."""


SAMPLES = {
    "NHANES 2017–2018 adults: diabetes": Sample(
        SAMPLE_DATA / "nhanes_diabetes.csv", SAMPLE_DATA / "nhanes_diabetes.spec.yaml",
        declarations=SAMPLE_DATA / "nhanes_dp_synthetic.config.yaml"),
    "NHANES adults: systolic blood pressure (regression)": Sample(
        SAMPLE_DATA / "nhanes_systolic_bp.csv", SAMPLE_DATA / "nhanes_systolic_bp.spec.yaml"),
    "NHANES adults: glycemic status (multi-class)": Sample(
        SAMPLE_DATA / "nhanes_glycemic.csv", SAMPLE_DATA / "nhanes_glycemic.spec.yaml"),
    "NHANES adults: cardiometabolic conditions (multi-label)": Sample(
        SAMPLE_DATA / "nhanes_conditions.csv", SAMPLE_DATA / "nhanes_conditions.spec.yaml"),
    "Drug reviews: patients' notes, rated positive or not (notes)": Sample(
        SAMPLE_DATA / "drug_reviews.csv",
        text_roles={"target": "positive", "positive_class": "yes", "target_kind": "binary", "text_column": "review"}),
}
"""Every sample table, by the label the Data page offers it under (the tutorial's first)."""
EPSILON_STEPS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
"""Log-spaced ε values offered by the range slider."""
DEFAULT_EPSILON_RANGE = (1.0, 4.0)
"""Set as the slider's value, not in ``DEFAULTS``: a tuple value is what makes it a range slider."""
DEFAULT_MODES = ["sgd_ori", "sgd_pub", "sgd_hybrid", "fusiondp", "dpsgd", "feature_dp"]
"""Every mode but naive_fusion (an ablation): fusiondp beside both private baselines and both zero-ε references."""
FULL_COMPARISON = {"epochs": RunConfig.model_fields["epochs"].default, "n_seeds": 3}
"""The defaults of a comparison whose ranking can be read: the CLI's epochs, and three seeds for an interval."""
COMPARED_MODES = ("dpsgd", "feature_dp", "sgd_hybrid")
"""What fusiondp is measured against: both private baselines, and the reference that uses the imputation alone."""
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
SUPPORT_FRACTION = "A public fraction of this table"
SUPPORT_TABLE = "A separate public table"
SUPPORT_SYNTHETIC = "DP-synthetic: made from the private rows under its own ε (no public rows needed)"
SUPPORT_SOURCES = (SUPPORT_FRACTION, SUPPORT_TABLE, SUPPORT_SYNTHETIC)
LOCAL_NOT_DP = "Not differentially private: computed locally on your own table, for you only"
"""The label beside every view of the raw table (previews, counts, metrics): one wording on every page."""
SYNTHESIZERS = {
    "marginal": "marginal — noisy tables of each sensitive column given 2 public columns (fast)",
    "two_stage": "two-stage — DP autoencoder + noisy latent mixture, then a latent diffusion model (~10 s)",
}

DEFAULTS: dict[str, Any] = {
    "support_source": SUPPORT_FRACTION,
    "support_fraction": 0.1,
    "synthesizer": "marginal",
    "epsilon_syn": 1.0,
    "declared_values": "",
    "imputer": "auto",
    "extra_epsilon": None,
    "delta": 1e-5,
    "accountant": "rdp",
    "modes": DEFAULT_MODES,
    "epochs": FULL_COMPARISON["epochs"],
    # the training knobs start at the library's defaults (RunConfig), which the fair protocol chose
    **{knob: RunConfig.model_fields[knob].default for knob in ("batch_size", "lr", "alpha", "beta", "max_grad_norm")},
    "seed": 0,
    "n_seeds": FULL_COMPARISON["n_seeds"],
    "reproducible_noise": False,
    "audit_rows": 500,
    "audit_shadow": False,
    "tutorial": False,
    "text_column": None,
    "sensitive_spans": list(SPAN_TYPES),
    "span_detector": "rules",
}
ROLE_KEYS = ("target", "positive_class", "sensitive", "ignore", "categorical")


@dataclass
class Table:
    """A loaded table and where it came from; the bytes are hashed, never written anywhere."""

    name: str
    digest: str
    frame: pd.DataFrame
    spec: TableSpec | None = None
    """Roles shipped with a sample table (``None`` for uploads)."""
    declared_values: str = ""
    """Sensitive columns' domains shipped with a sample (YAML, from its codebook); empty for uploads."""
    text_roles: dict[str, Any] = field(default_factory=dict)
    """A notes sample's text column, target and positive class (empty otherwise)."""


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


def collect_finished_job() -> None:
    """Move a finished job's records into the session, whichever page the user is on."""
    job: TrainingJob | None = st.session_state.job
    if job is not None and job.done and st.session_state.records is not job.records:
        st.session_state.records = job.records


DECLARED_VALUES_LABEL = "Declared values of each sensitive column (YAML, one line per column)"


APP_CONTROLS = {"support_fraction": "“Public fraction of the table” (Columns page)"}
"""Config keys the library's messages name, as the control the user sees here."""


def in_app_words(text: str) -> str:
    """A library message with each config key it names replaced by its control on these pages (``APP_CONTROLS``)."""
    for key, control in APP_CONTROLS.items():
        text = re.sub(rf"\b{key}\b", control, text)
    return text


def error_message(exc: Exception) -> str:
    """A library error in the app's words: a missing declaration points at the Columns page's box, and a config
    key at its control (``in_app_words``), not at the config keys or the command line's flags."""
    if isinstance(exc, MissingDeclarations):
        lines = "\n".join(f"{column}: {shape}" for column, shape in exc.placeholders().items())
        return (f"{exc.problem()} On the Columns page, write one line per column in “{DECLARED_VALUES_LABEL}”:"
                f"\n```yaml\n{lines}\n```")
    return in_app_words(str(exc))


def show_error(exc: Exception) -> None:
    """Library errors are shown as their message (which says how to fix it), never as a traceback."""
    st.error(error_message(exc), icon="⚠️")


def imputer_line(name: str, reason: str) -> None:
    """Which imputer ran, in one line; the full reason (cache folders, download links) in a "details" expander."""
    headline = imputer_headline(reason)
    st.markdown(f"**Imputer that ran:** `{name}` — {headline}")
    if headline != reason.rstrip("."):
        with st.expander("Details: why this imputer"):
            for part in reason.split("; "):
                st.markdown(f"- {part}")


def plain_type(column: pd.Series) -> str:
    """A column's type in words (the Data page), not pandas' dtype names (str, int64, float64)."""
    if pd.api.types.is_bool_dtype(column):
        return "yes / no"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "date"
    if pd.api.types.is_numeric_dtype(column):
        values = column.dropna()
        return "whole number" if pd.api.types.is_integer_dtype(column) or (values % 1 == 0).all() else "number"
    return "text / category"


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


def example_value(column: pd.Series) -> str:
    """A column's first value as its type reads it: a whole number stored as a float (a missing cell makes
    pandas read the column as float) is shown as 52, not 52.0."""
    values = column.dropna()
    if values.empty:
        return ""
    first = values.iloc[0]
    return str(int(first)) if plain_type(column) == "whole number" else str(first)


def export_name(table_name: str, what: str) -> str:
    """A download's file name after the dataset: ``nhanes_diabetes-report.html`` for ``sample_data/nhanes_diabetes.csv``
    and ``report.html``."""
    return f"{Path(table_name).stem}-{what}"


def quick_look(records: list[RunRecord]) -> list[str]:
    """How these records fall short of the full comparison (``FULL_COMPARISON``, ``COMPARED_MODES``), in phrases;
    empty when they do not. A quick look may rank the modes differently from the full run."""
    short = []
    epochs = min(record.config["epochs"] for record in records)
    if epochs < FULL_COMPARISON["epochs"]:
        short.append(f"{epochs} epochs (the full run: {FULL_COMPARISON['epochs']}, as the command line)")
    seeds = len({record.seed for record in records})
    if seeds < FULL_COMPARISON["n_seeds"]:
        short.append(f"{seeds} seed{'s' if seeds > 1 else ''} (the full run: {FULL_COMPARISON['n_seeds']}, for an "
                     "interval)")
    missing = [mode for mode in COMPARED_MODES if mode not in {record.mode for record in records}]
    if missing:
        short.append(f"without {', '.join(missing)}")
    return short


def set_up_full_comparison() -> None:
    """The Train page's fields for the full comparison: the default epochs and seeds, and ``COMPARED_MODES`` added to
    the chosen modes."""
    st.session_state.epochs = FULL_COMPARISON["epochs"]
    st.session_state.n_seeds = max(st.session_state.n_seeds, FULL_COMPARISON["n_seeds"])
    chosen = {*st.session_state.modes, *COMPARED_MODES}
    st.session_state.modes = [mode for mode in ALL_MODES if mode in chosen]


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def upload_cap_bytes() -> int:
    """The upload cap: the server's ``maxUploadSize`` (MB), never above the library's own limit."""
    return min(int(st.get_option("server.maxUploadSize")) * 2**20, MAX_FILE_BYTES)


@st.cache_data(max_entries=8, show_spinner=False)
def _parse(content_hash: str, name: str, _content: bytes) -> pd.DataFrame:
    """Parsing is keyed on the content hash (and name, which decides the format)."""
    return read_table_bytes(_content, name)


def read_upload(name: str, content: bytes) -> Table:
    """Check the size, parse the bytes with the library, and return the table (errors raise)."""
    cap = upload_cap_bytes()
    if len(content) > cap:
        raise DataError(
            f"{name} is {len(content) / 2**20:.1f} MB, over the {cap / 2**20:.0f} MB upload limit. "
            "Sample rows or save it as Parquet, which is much smaller than CSV."
        )
    key = digest(content)
    return Table(name=name, digest=key, frame=_parse(key, name, content).copy())


def read_sample(label: str) -> Table:
    sample = SAMPLES[label]
    table = read_upload(f"sample_data/{sample.csv.name}", sample.csv.read_bytes())
    table.spec = TableSpec.from_yaml(sample.spec) if sample.spec is not None else None
    table.text_roles = dict(sample.text_roles)
    if sample.declarations is not None:
        config = yaml.safe_load(sample.declarations.read_text(encoding="utf-8"))
        declared = {**config.get("sensitive_domains", {}), **config.get("sensitive_bounds", {})}
        table.declared_values = yaml.safe_dump(declared, sort_keys=False, allow_unicode=True, width=1000,
                                             default_flow_style=None)
    return table


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


def follow_table_delta(rows: int) -> None:
    """δ follows the table's size as the command line's does (``default_delta``: 1e-5, or 1/(10·N) where 1e-5 is
    not below 1/N), unless the user set δ by hand: a hand-set value is kept across tables."""
    auto = default_delta(rows)
    if st.session_state.get("delta") == st.session_state.get("delta_auto", DEFAULTS["delta"]):
        st.session_state.delta = auto
    st.session_state.delta_auto = auto


def delta_note(rows: int) -> str | None:
    """Why δ is what it is, where it is not the usual 1e-5: the table's size set it, or a hand-set δ is not below
    1/N."""
    delta = st.session_state.delta
    if delta == st.session_state.get("delta_auto") and delta != DEFAULTS["delta"]:
        return (f"δ = {delta:.0e}, set from the table's size: 1e-5 is not below 1/N for N = {rows:,} rows, so the "
                "default is 1/(10·N), rounded down (the command line does the same).")
    if delta >= 1 / max(rows, 1):
        return (f"δ = {delta:.0e} is not below 1/N for N = {rows:,} rows: a mechanism that publishes one row at "
                f"random would meet it. Use {default_delta(rows):.0e} or less.")
    return None


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
SUPPORT_SOURCE_LABELS = {"fraction": SUPPORT_FRACTION, "table": SUPPORT_TABLE, "dp_synthetic": SUPPORT_SYNTHETIC}


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


@dataclass
class TrainingJob:
    """Training running in a worker thread; the page polls it, the cancel button sets ``cancel``.

    The worker only calls the library and writes plain Python fields: no Streamlit calls.
    The trained models are kept (``models[i]`` belongs to ``records[i]``) so that the Results
    page can audit them; the job lives in this session's state, so no other session sees them.
    """

    runs: list[tuple[float, str, int]]
    prepared: dict[float, PreparedData]
    cancel: threading.Event = field(default_factory=threading.Event)
    records: list[RunRecord] = field(default_factory=list)
    models: list[TabularMLP] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    done: bool = False
    epsilons: list[float] = field(default_factory=list)
    """Target ε of the models in training now: a private mode's ε train in lockstep (empty for a non-private
    reference, which has none)."""

    def start(self) -> None:
        threading.Thread(target=self._work, name="fusiondp-training", daemon=True).start()

    def _work(self) -> None:
        try:
            for group in lockstep_groups(self.runs):
                _, mode, seed = self.runs[group[0]]
                epsilons = [self.runs[index][0] for index in group]
                self.epsilons = epsilons if MODES[mode].is_private else []

                def on_epoch(index: int, report: EpochReport, epsilons: list[float] = self.epsilons) -> None:
                    self.epochs.append({**report.to_dict(), "epsilon": epsilons[index] if epsilons else None})

                fitted = fit_runs(self.prepared[epsilons[0]], mode, seed, epsilons, on_epoch=on_epoch,
                                  should_stop=self.cancel.is_set)
                for record, model in fitted:  # the model first: a polling reader never finds a record without it
                    self.models.append(model)
                    self.records.append(record)
                if any(record.cancelled for record, _ in fitted):
                    break
        except FusionDPError as exc:
            self.error = error_message(exc)
        except Exception as exc:  # shown as a message: the app must keep working
            self.error = f"Training failed unexpectedly ({type(exc).__name__}: {exc})."
        finally:
            self.done = True


def finished_count(job: TrainingJob) -> str:
    """How far a job got, in the one wording the Train and Results pages share: "2 of 24 models finished, 1 stopped
    early" (a model stopped early is one whose training a cancel cut short)."""
    finished = sum(not record.cancelled for record in job.records)
    stopped = len(job.records) - finished
    return f"{finished} of {len(job.runs)} models finished" + (f", {stopped} stopped early" if stopped else "")


@dataclass
class AuditResults:
    """The audit of one training job's models, kept until the next training replaces the job."""

    job: TrainingJob
    rows: int
    shadow: bool
    reports: list[tuple[RunRecord, AuditReport]]


def audit_job(job: TrainingJob, rows: int, shadow: bool,
              progress: Callable[[int, RunRecord, str, float], None] | None = None) -> AuditResults:
    """Attack every finished model of ``job`` with the library's audit (on that model's own prepared data).

    ``shadow`` first builds the attacker's shadow data once (it depends on the data only) and
    then trains one shadow model per audited model; ``progress(i, record, step, fraction)`` hears each
    step of model ``i``'s audit (``fusiondp.privacy.audit.AuditProgress``), for the page's progress bar.
    """
    any_prepared = next(iter(job.prepared.values()))
    shadow_prepared = shadow_data(any_prepared, any_prepared.config.split_seed) if shadow else None
    reports = []
    finished = [(record, model) for record, model in zip(job.records, job.models, strict=True) if not record.cancelled]
    for index, (record, model) in enumerate(finished):
        heard: AuditProgress | None = None
        if progress is not None:
            def heard(step: str, fraction: float, index: int = index, record: RunRecord = record) -> None:
                progress(index, record, step, fraction)
        report = audit_model(job.prepared[record.config["epsilon"]], model, record.mode, rows=rows,
                             seed=record.seed, shadow=shadow_prepared, progress=heard)
        reports.append((record, report))
    return AuditResults(job, rows, shadow, reports)


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


def records_by_epsilon(records: list[RunRecord]) -> dict[float, list[RunRecord]]:
    """Private runs grouped by target ε; the non-private references are added to every group."""
    references = [r for r in records if not MODES[r.mode].is_private]
    grid = sorted({r.config["epsilon"] for r in records if MODES[r.mode].is_private})
    return {e: references + [r for r in records if MODES[r.mode].is_private and r.config["epsilon"] == e]
            for e in grid} or ({records[0].config["epsilon"]: references} if references else {})


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
