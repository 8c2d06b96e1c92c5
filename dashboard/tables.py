"""Reading a table: an upload (size-capped, parsed once per content hash) or a sample of sample_data/ with its roles,
and the words the Data page and the downloads describe a table and its columns in.

The bytes are hashed, never written anywhere. ``st.cache_data`` is shared by every session, so parsing is keyed on the
content hash: a session only gets a parsed table for bytes it already holds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
import yaml

from fusiondp import DataError, TableSpec
from fusiondp.data import MAX_FILE_BYTES, read_table_bytes

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


def digest(content: bytes) -> str:
    """The content hash that keys the caches: a session only reaches cached results for bytes it holds."""
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
    """The sample table offered under ``label``, with the roles and declared values it ships with."""
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
