"""Column roles: suggested for a new table (a sample's spec, else guesses from column names and types), and read back
from the Columns page's fields as the library's ``TableSpec``, or ``TextSpec`` for notes. Errors raise with the
library's message, for the page to show.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import streamlit as st
import yaml

from dashboard.tables import Table
from fusiondp import ConfigError, FusionDPError, SpecError, TableSpec
from fusiondp.spec import DEFAULT_DELIMITER, TargetKind, infer_target_kind
from fusiondp.synth import split_declarations
from fusiondp.text.spec import TextSpec

SENSITIVE_NAME = re.compile(
    r"age|sex|gender|race|ethnic|educat|marital|income|poverty|religio|nationality|birth|zip|postcode|language",
    re.IGNORECASE,
)
"""Column names that usually hold demographic, protected attributes: suggested as sensitive."""
TARGET_NAME = re.compile(r"target|label|outcome|diagnos|diabetes|disease|death|mortality|readmi|positive",
                         re.IGNORECASE)
SPLIT_NAME = re.compile(r"split|fold|partition", re.IGNORECASE)
"""Two-valued columns that assign rows to parts (train/test), never an outcome: not suggested as the target."""
ROLE_KEYS = ("target", "positive_class", "sensitive", "ignore", "categorical")
"""The Columns page's role fields that ``DEFAULTS`` does not start: a reload keeps them beside the settings."""


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
