"""Bad inputs fail with the right ``FusionDPError`` subclass, an actionable message, and untouched files.

Each case writes its input files into ``tmp_path``, runs one library call and checks the
error class, a key phrase of the message (the column, file or setting at fault) and that
no file under ``tmp_path`` was changed, added or removed. Messy-but-valid inputs
(semicolon delimiter, cp1252 encoding, BOM, old line endings) must load. The CLI cases
run ``python -m fusiondp.cli`` as a subprocess: exit status 2, one "Error:" line, no traceback.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fusiondp.cli import app
from fusiondp.config import RunConfig
from fusiondp.data import MAX_COLUMNS, load_table
from fusiondp.errors import (
    ConfigError,
    DataError,
    FusionDPError,
    ImputerUnavailable,
    PrivacyError,
    SpecError,
)
from fusiondp.preparation import prepare
from fusiondp.privacy.accounting import calibrate_sigma
from fusiondp.spec import TableSpec
from fusiondp.split import split_table

OLD_MTIME_NS = 1_000_000_000 * 10**9
"""Input files get this (2001) mtime, so any rewrite shows up even on coarse-grained file systems."""

SPEC = TableSpec(target="outcome", sensitive=("age", "sex"))


# ---------------------------------------------------------------- helpers


def make_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """2 public numeric columns, 1 sensitive numeric, 1 sensitive categorical, a binary target."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x1": x1.round(4),
            "x2": rng.normal(size=n).round(4),
            "age": rng.integers(20, 80, n).astype(float),
            "sex": rng.choice(["F", "M"], n),
            "outcome": (x1 + rng.normal(size=n) > 0).astype(int),
        }
    )


def write_bytes(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    return path


def write_table(path: Path, table: pd.DataFrame) -> Path:
    return write_bytes(path, table.to_csv(index=False).encode("utf-8"))


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every file under ``root``."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()
    }


def run_config(path: Path, spec: TableSpec = SPEC, **overrides: Any) -> RunConfig:
    """A small, fast config: the gbdt imputer, one epoch, a support set of 60 rows out of 300."""
    values: dict[str, Any] = dict(data=str(path), spec=spec, imputer="gbdt", epochs=1, support_fraction=0.2)
    values.update(overrides)
    return RunConfig.build(**values)


def resolve(path: Path, spec: TableSpec = SPEC) -> TableSpec:
    return spec.resolve(load_table(path))


def table_with(**columns: Any) -> Callable[[Path], Path]:
    """Writer of the standard table with some columns replaced (a value of ``None`` drops the column)."""

    def write(root: Path) -> Path:
        table = make_table()
        for name, values in columns.items():
            if values is None:
                table = table.drop(columns=name)
            else:
                table[name] = values(len(table)) if callable(values) else values
        return write_table(root / "table.csv", table)

    return write


def raw(content: bytes, name: str = "table.csv") -> Callable[[Path], Path]:
    return lambda root: write_bytes(root / name, content)


def text_file(content: str, name: str) -> Callable[[Path], Path]:
    return lambda root: write_bytes(root / name, content.encode("utf-8"))


def with_support(support: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], Path]:
    """Write table.csv and a separate support.csv derived from it; return the table's path."""

    def write(root: Path) -> Path:
        table = make_table()
        write_table(root / "support.csv", support(table))
        return write_table(root / "table.csv", table)

    return write


def workbook(root: Path, sheets: list[str]) -> Path:
    path = root / "table.xlsx"
    with pd.ExcelWriter(path) as writer:
        for sheet in sheets:
            make_table(30).to_excel(writer, sheet_name=sheet, index=False)
    os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    return path


def nested_parquet(root: Path) -> Path:
    table = make_table(30).assign(visits=[[1, 2]] * 30)
    path = root / "table.parquet"
    table.to_parquet(path)
    os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    return path


def split_with_support(path: Path) -> Any:
    table = load_table(path)
    support = load_table(path.parent / "support.csv")
    return split_table(table, SPEC.resolve(table), support=support)


# ---------------------------------------------------------------- the table of bad inputs


@dataclass(frozen=True)
class Case:
    id: str
    write: Callable[[Path], Path]
    """Writes the input file(s) under the given folder and returns the main one."""
    action: Callable[[Path], Any]
    error: type[FusionDPError]
    phrases: tuple[str, ...]
    """Every phrase must appear in the message."""


GOOD = table_with()
BINARY = b"PK\x03\x04\x00\x00\x08\x00" + bytes(range(256)) * 4

CASES = [
    # --- the file itself (DataError from load_table)
    Case("empty-file", raw(b""), load_table, DataError, ("table.csv is empty", "Export the table again")),
    Case("whitespace-only-file", raw(b"  \n\r\n\t\n"), load_table, DataError, ("is empty",)),
    Case("header-only", raw(b"x1,x2,age,sex,outcome\n"), load_table, DataError, ("header but no rows",)),
    Case("binary-garbage", raw(BINARY[8:]), load_table, DataError, ("not a CSV or text file", "a binary file")),
    Case("zip-renamed-csv", raw(BINARY), load_table, DataError, ("not a CSV or text file", "ZIP archive", ".xlsx")),
    Case("pdf-renamed-csv", raw(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"), load_table,
         DataError, ("not a CSV or text file", "a PDF document")),
    Case(
        "one-field-per-line",
        raw(b"x1 x2 age sex outcome\n1 2 30 F 0\n3 4 40 M 1\n"),
        load_table,
        DataError,
        ("single column", "delimiter"),
    ),
    Case(
        "ragged-rows",
        raw(b"a,b\n1,2\n1,2,3,4\n"),
        load_table,
        DataError,
        ("not a well-formed table", "Check the delimiter"),
    ),
    Case("duplicate-columns", raw(b"x1,age,x1\n1,2,3\n4,5,6\n"), load_table, DataError, ("duplicate", "'x1'")),
    Case(
        "duplicate-after-strip", raw(b"x1, x1 ,y\n1,2,3\n4,5,6\n"), load_table, DataError, ("duplicate", "'x1'")
    ),
    Case("blank-column-name", raw(b"x1,,y\n1,2,3\n4,5,6\n"), load_table, DataError, ("[2]", "no name")),
    Case("unknown-suffix", raw(b'{"x1": [1]}', "table.json"), load_table, DataError, ("'.json'", "CSV")),
    Case("damaged-parquet", raw(BINARY, "table.parquet"), load_table, DataError, ("Parquet", "damaged")),
    Case("damaged-excel", raw(BINARY, "table.xlsx"), load_table, DataError, ("Excel", "damaged")),
    Case(
        "huge-header",
        raw(",".join(f"c{i}" for i in range(MAX_COLUMNS + 1)).encode() + b"\n" + b"1," * MAX_COLUMNS + b"1\n"),
        load_table,
        DataError,
        ("10,001 columns", "transposed"),
    ),
    Case("excel-several-sheets", lambda root: workbook(root, ["notes", "data"]), load_table, DataError,
         ("2 sheets ('notes', 'data')", "its own file")),
    Case("parquet-nested-columns", nested_parquet, load_table, DataError, ("['visits']", "nested values", "Flatten")),
    Case("file-over-the-cap", GOOD, lambda p: load_table(p, max_bytes=1024), DataError, ("over the 0 MiB limit",)),
    Case("tiny-table", lambda root: write_table(root / "table.csv", make_table(15)), lambda p: prepare(run_config(p)),
         DataError, ("The table has 15 labelled row(s), too few for any split", "at least 143 labelled rows")),
    Case("missing-file", lambda root: root / "nope.csv", load_table, DataError, ("nope.csv", "does not exist")),
    # --- roles against the table (SpecError / DataError from TableSpec.resolve)
    Case(
        "target-not-in-table",
        GOOD,
        lambda p: resolve(p, TableSpec(target="outcom", sensitive=("age", "sex"))),
        SpecError,
        ("'outcom'", "not in the table", "Did you mean 'outcome'"),
    ),
    Case(
        "sensitive-not-in-table",
        GOOD,
        lambda p: resolve(p, TableSpec(target="outcome", sensitive=("Age",))),
        SpecError,
        ("'Age'", "Did you mean 'age'"),
    ),
    Case("target-one-class", table_with(outcome=1), resolve, DataError, ("'outcome'", "single class")),
    Case(
        "target-three-classes-declared-binary",
        table_with(outcome=lambda n: np.arange(n) % 3),
        lambda p: resolve(p, SPEC.model_copy(update={"target_kind": "binary"})),
        DataError,
        ("3 classes", "declared binary", "target_kind 'multiclass'"),
    ),
    Case(
        "regression-target-with-text",
        table_with(outcome=lambda n: np.where(np.arange(n) % 50 == 0, "unknown", (np.arange(n) * 0.37).astype(str))),
        lambda p: resolve(p, SPEC.model_copy(update={"target_kind": "regression"})),
        DataError,
        ("'outcome'", "declared regression", "non-numeric values ('unknown'", "6 rows"),
    ),
    Case(
        "multiclass-class-with-one-row",
        table_with(outcome=lambda n: np.where(np.arange(n) == 7, "rare", np.where(np.arange(n) % 2, "a", "b"))),
        resolve,
        DataError,
        ("'outcome'", "fewer than 5 rows", "'rare' (1 row)", "merge rare classes"),
    ),
    Case(
        "multilabel-column-with-one-label",
        table_with(outcome=lambda n: np.where(np.arange(n) % 3, "I10", "")),
        lambda p: resolve(p, SPEC.model_copy(update={"target_kind": "multilabel"})),
        DataError,
        ("'outcome'", "declared multilabel", "1 label(s) ('I10')", "declare target_kind 'binary'"),
    ),
    Case(
        "multilabel-column-without-its-delimiter",
        table_with(outcome=lambda n: np.where(np.arange(n) % 2, "I10,E11", "E11")),
        lambda p: resolve(p, SPEC.model_copy(update={"target_kind": "multilabel"})),
        DataError,
        ("'outcome'", "delimiter ';'", "no value holds ';'", "set target_delimiter"),
    ),
    Case(
        "positive-class-on-a-multiclass-target",
        table_with(outcome=lambda n: np.arange(n) % 3),
        lambda p: resolve(p, SPEC.model_copy(update={"positive_class": 1})),
        SpecError,
        ("positive_class", "multiclass", "binary targets only"),
    ),
    Case(
        "unknown-target-kind",
        GOOD,
        lambda p: TableSpec.from_dict({"target": "outcome", "sensitive": ["age"], "target_kind": "ordinal"}),
        SpecError,
        ("target_kind", "'binary', 'multiclass', 'multilabel' or 'regression'"),
    ),
    Case("target-all-missing", table_with(outcome=np.nan), resolve, DataError, ("'outcome'", "has no values")),
    Case(
        "tagged-sensitive-and-public",
        GOOD,
        lambda p: resolve(p, TableSpec(target="outcome", sensitive=("age", "sex"), public=("x1", "age"))),
        SpecError,
        ("'age'", "tagged twice", "sensitive and public"),
    ),
    Case(
        "tagged-sensitive-and-ignore",
        GOOD,
        lambda p: resolve(p, TableSpec(target="outcome", sensitive=("age", "sex"), ignore=("sex",))),
        SpecError,
        ("'sex'", "tagged twice", "sensitive and ignore"),
    ),
    Case(
        "categorical-and-numeric",
        GOOD,
        lambda p: resolve(p, TableSpec(target="outcome", sensitive=("age",), categorical=("x1",), numeric=("x1",))),
        SpecError,
        ("'x1'", "both categorical and numeric"),
    ),
    Case(
        "no-sensitive-column",
        GOOD,
        lambda p: resolve(p, TableSpec(target="outcome", sensitive=())),
        SpecError,
        ("No sensitive column",),
    ),
    Case(
        "sensitive-is-target",
        GOOD,
        lambda p: resolve(p, TableSpec(target="outcome", sensitive=("outcome", "age"))),
        SpecError,
        ("'outcome'", "also tagged sensitive", "dpsgd"),
    ),
    Case(
        "no-public-column-left",
        GOOD,
        lambda p: resolve(p, TableSpec(target="outcome", sensitive=("age", "sex"), ignore=("x1", "x2"))),
        SpecError,
        ("No public column",),
    ),
    Case(
        "sensitive-all-missing",
        table_with(age=np.nan, sex=np.nan),
        resolve,
        DataError,
        ("'age'", "entirely missing"),
    ),
    Case(
        "numeric-declared-column-with-junk",
        table_with(age=lambda n: np.where(np.arange(n) % 7 == 0, "n/a?", (np.arange(n) % 60 + 20).astype(str))),
        lambda p: resolve(p, TableSpec(target="outcome", sensitive=("age", "sex"), numeric=("age",))),
        DataError,
        ("'age'", "declared numeric", "'n/a?'"),
    ),
    Case(
        "positive-class-not-a-value",
        GOOD,
        lambda p: resolve(p, TableSpec(target="outcome", sensitive=("age",), positive_class="yes")),
        SpecError,
        ("positive_class 'yes'", "'outcome'"),
    ),
    # --- splitting (DataError from split_table)
    Case(
        "support-set-too-small",
        GOOD,
        lambda p: split_table(load_table(p), resolve(p), support_fraction=0.1),
        DataError,
        ("support set has 30 rows", "at least 50"),
    ),
    Case(
        "rare-class-left-out-of-train",
        table_with(outcome=lambda n: (np.arange(n) % 100 == 7).astype(int)),
        lambda p: split_table(load_table(p), resolve(p), support_fraction=0.2),
        DataError,
        ("only 3 labelled row(s) of class 1", "none is left for training"),
    ),
    Case(
        "separate-support-shares-rows",
        with_support(lambda table: table.iloc[:120]),
        split_with_support,
        DataError,
        ("also appear among the private training rows", "disjoint"),
    ),
    Case(
        "separate-support-lacks-sensitive-column",
        with_support(lambda table: table.drop(columns="sex")),
        split_with_support,
        DataError,
        ("lacks column(s) ['sex']",),
    ),
    Case(
        "separate-support-sensitive-all-missing",
        with_support(lambda table: table.assign(age=np.nan)),
        split_with_support,
        DataError,
        ("no values in sensitive column(s) ['age']",),
    ),
    # --- run settings (ConfigError from RunConfig.build)
    *[
        Case(f"epsilon-{value}", GOOD, lambda p, v=value: run_config(p, epsilon=v), ConfigError, ("epsilon", "ε"))
        for value in (0.0, -1.0, math.nan, math.inf)
    ],
    Case("epsilon-1e9", GOOD, lambda p: run_config(p, epsilon=1e9), ConfigError, ("not a meaningful budget",)),
    Case("epsilon-syn-1e9", GOOD, lambda p: run_config(p, epsilon_syn=1e9), ConfigError, ("not a meaningful budget",)),
    *[
        Case(f"delta-{value}", GOOD, lambda p, v=value: run_config(p, delta=v), ConfigError, ("delta", "(0, 1)"))
        for value in (1.0, 2.5)
    ],
    Case("epochs-0", GOOD, lambda p: run_config(p, epochs=0), ConfigError, ("epochs", "at least 1 epoch")),
    Case("unknown-mode", GOOD, lambda p: run_config(p, modes=["fusion"]), ConfigError, ("Unknown mode 'fusion'",)),
    Case("unknown-setting", GOOD, lambda p: run_config(p, epsilom=1.0), ConfigError, ("epsilom", "unknown setting")),
    Case(
        "fractions-leave-no-training-rows",
        GOOD,
        lambda p: run_config(p, support_fraction=0.5, val_fraction=0.2, test_fraction=0.3),
        ConfigError,
        ("support_fraction 0.5 + val_fraction 0.2 + test_fraction 0.3 = 1.00", "support_fraction can be at most 0.39"),
    ),
    # --- run settings checked against the data (from prepare)
    Case(
        "batch-size-over-n",
        GOOD,
        lambda p: prepare(run_config(p, batch_size=10_000)),
        ConfigError,
        ("batch_size 10000", "150 private training rows"),
    ),
    Case(
        "unknown-imputer",
        GOOD,
        lambda p: prepare(run_config(p, imputer="magic")),
        ConfigError,
        ("Unknown imputer 'magic'", "gbdt"),
    ),
    Case(
        "tabpfn-without-weights",
        GOOD,
        lambda p: prepare(run_config(p, imputer="tabpfn")),
        ImputerUnavailable,
        ("TabPFN weights not found", "TABPFN_MODEL_CACHE_DIR"),
    ),
    Case(
        "tabpfn-checkpoint-path-missing",
        GOOD,
        lambda p: prepare(
            run_config(p, imputer="tabpfn", imputer_params={"classifier_path": str(p.parent / "c.ckpt")})
        ),
        ImputerUnavailable,
        ("c.ckpt", "does not exist"),
    ),
    Case(
        "no-data-path",
        GOOD,
        lambda p: prepare(run_config(p, data=None)),
        ConfigError,
        ("No table given",),
    ),
    # --- config files (ConfigError from RunConfig.from_yaml)
    Case(
        "config-unknown-key",
        text_file("epsilon: 1.0\nepsilom: 2.0\n", "config.yaml"),
        RunConfig.from_yaml,
        ConfigError,
        ("epsilom", "unknown setting"),
    ),
    Case(
        "config-wrong-type",
        text_file("epochs: many\n", "config.yaml"),
        RunConfig.from_yaml,
        ConfigError,
        ("epochs", "got 'many'", "whole number of epochs"),
    ),
    Case(
        "config-spec-wrong-type",
        text_file("spec:\n  target: outcome\n  sensitive: 3\n", "config.yaml"),
        RunConfig.from_yaml,
        ConfigError,
        ("spec.sensitive",),
    ),
    Case(
        "config-missing",
        lambda root: root / "config.yaml",
        RunConfig.from_yaml,
        ConfigError,
        ("config.yaml", "does not exist"),
    ),
    Case(
        "config-not-yaml",
        text_file("epsilon: [1.0\nepochs: 3\n", "config.yaml"),
        RunConfig.from_yaml,
        ConfigError,
        ("not valid YAML",),
    ),
    Case(
        "config-not-a-mapping",
        text_file("- epsilon\n- 1.0\n", "config.yaml"),
        RunConfig.from_yaml,
        ConfigError,
        ("must hold a mapping",),
    ),
    Case("config-binary", raw(BINARY, "config.yaml"), RunConfig.from_yaml, ConfigError, ("not valid YAML",)),
    # --- spec files (SpecError from TableSpec.from_yaml)
    Case(
        "spec-not-yaml",
        text_file("target: outcome\nsensitive: [age, sex\n", "spec.yaml"),
        TableSpec.from_yaml,
        SpecError,
        ("spec.yaml", "not valid YAML"),
    ),
    Case(
        "spec-not-a-mapping",
        text_file("- outcome\n- age\n", "spec.yaml"),
        TableSpec.from_yaml,
        SpecError,
        ("expected a mapping", "'target'"),
    ),
    Case("spec-empty", text_file("", "spec.yaml"), TableSpec.from_yaml, SpecError, ("expected a mapping",)),
    Case(
        "spec-unknown-key",
        text_file("target: outcome\nsensitve: [age]\n", "spec.yaml"),
        TableSpec.from_yaml,
        SpecError,
        ("sensitve", "unknown setting"),
    ),
    Case(
        "spec-missing-file",
        lambda root: root / "spec.yaml",
        TableSpec.from_yaml,
        SpecError,
        ("spec.yaml", "does not exist"),
    ),
    Case("spec-binary", raw(BINARY, "spec.yaml"), TableSpec.from_yaml, SpecError, ("not valid YAML",)),
    # --- privacy budget
    Case(
        "impossible-budget",
        GOOD,
        # PLD answers in ~2 s; the default RDP accountant takes ~7 s to reach the same verdict.
        lambda p: calibrate_sigma(1e-4, 1e-5, 0.5, 10_000, "pld"),
        PrivacyError,
        ("ε = 0.0001 cannot be met", "10000 steps", "Raise ε"),
    ),
]


@pytest.fixture
def no_tabpfn_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every place TabPFN weights are looked up at empty folders."""
    env = tmp_path / "env"
    for name, folder in (("TABPFN_MODEL_CACHE_DIR", "tabpfn"), ("HOME", "home"), ("XDG_CACHE_HOME", "xdg")):
        (env / folder).mkdir(parents=True)
        monkeypatch.setenv(name, str(env / folder))


@pytest.mark.usefixtures("no_tabpfn_cache")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_raises_actionable_error(case: Case, tmp_path: Path) -> None:
    path = case.write(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(FusionDPError) as caught:
        case.action(path)
    assert isinstance(caught.value, case.error), f"{type(caught.value).__name__}: {caught.value}"
    message = str(caught.value)
    for phrase in case.phrases:
        assert phrase in message
    assert snapshot(tmp_path) == before, "a bad input must leave the files as they were"


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


# ---------------------------------------------------------------- messy but valid inputs


def _csv_bytes(delimiter: str = ",", encoding: str = "utf-8", newline: str = "\n") -> bytes:
    table = make_table(20).rename(columns={"sex": "région"})
    table["région"] = np.where(table["région"] == "F", "Québec", "Île-de-France")
    return table.to_csv(index=False, sep=delimiter, lineterminator=newline).encode(encoding)


VALID = [
    ("semicolon", _csv_bytes(";"), "table.csv"),
    ("tab-tsv", _csv_bytes("\t"), "table.tsv"),
    ("pipe-txt", _csv_bytes("|"), "table.txt"),
    ("no-suffix", _csv_bytes(), "table"),
    ("upper-case-suffix", _csv_bytes(), "TABLE.CSV"),
    ("cp1252", _csv_bytes(encoding="cp1252"), "table.csv"),
    ("latin-1", _csv_bytes(encoding="latin-1"), "table.csv"),
    ("latin-1-semicolon", _csv_bytes(";", encoding="latin-1"), "table.csv"),
    ("utf-8-bom", b"\xef\xbb\xbf" + _csv_bytes(), "table.csv"),
    ("utf-8-bom-semicolon", b"\xef\xbb\xbf" + _csv_bytes(";"), "table.csv"),
    ("crlf", _csv_bytes(newline="\r\n"), "table.csv"),
    ("bare-cr", _csv_bytes(newline="\r"), "table.csv"),
]


@pytest.mark.parametrize(("content", "name"), [v[1:] for v in VALID], ids=[v[0] for v in VALID])
def test_messy_but_valid_table_loads(content: bytes, name: str, tmp_path: Path) -> None:
    path = write_bytes(tmp_path / name, content)
    before = snapshot(tmp_path)
    table = load_table(path)
    assert list(table.columns) == ["x1", "x2", "age", "région", "outcome"]
    assert table.shape == (20, 5)
    assert set(table["région"]) == {"Québec", "Île-de-France"}
    assert pd.api.types.is_numeric_dtype(table["x1"]) and pd.api.types.is_numeric_dtype(table["age"])
    spec = TableSpec(target="outcome", sensitive=("x1", "région")).resolve(table)
    assert spec.public == ("x2", "age")
    assert spec.categorical == ("région",)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("imputer", ["gbdt", "knn"])
def test_infinite_values_become_missing_and_the_run_stays_finite(imputer: str, tmp_path: Path) -> None:
    table = make_table()
    table.loc[::7, "x1"] = np.inf
    table.loc[::11, "age"] = -np.inf
    table["x2"] = np.inf  # a public column with no finite value at all
    path = write_table(tmp_path / "table.csv", table)
    loaded = load_table(path)
    assert loaded["x1"].isna().sum() == len(table[::7]) and loaded["age"].isna().sum() == len(table[::11])
    assert loaded["x2"].isna().all()
    prepared = prepare(run_config(path, imputer=imputer))
    assert np.isfinite(prepared.tensors.x_real.numpy()).all() and np.isfinite(prepared.tensors.x_hybrid.numpy()).all()


@pytest.mark.parametrize("change", ["constant-columns", "very-long-column-name", "mixed-types"])
def test_odd_but_valid_tables_train(change: str, tmp_path: Path) -> None:
    table = make_table()
    if change == "constant-columns":
        table["x1"], table["age"] = 1.0, 40.0
    elif change == "very-long-column-name":
        table = table.rename(columns={"x2": "x" * 5000})
    else:
        table["x2"] = table["x2"].astype(object)
        table.loc[::3, "x2"] = "n/a"
    path = write_table(tmp_path / "table.csv", table)
    prepared = prepare(run_config(path))
    assert np.isfinite(prepared.tensors.x_hybrid.numpy()).all()


def test_a_public_column_missing_from_the_whole_support_set_is_imputed_around() -> None:
    from fusiondp.impute.gbdt import GBDTImputer

    table = make_table()
    spec = SPEC.resolve(table)
    support = table.iloc[:100].assign(x2=np.nan)
    imputed = GBDTImputer(spec, max_iter=20).fit(support).transform(table.iloc[100:])
    assert imputed[["age", "sex"]].notna().all().all()


def test_bom_is_not_part_of_first_column_name(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "table.csv", b"\xef\xbb\xbf" + make_table().to_csv(index=False).encode())
    table = load_table(path)
    assert table.columns[0] == "x1"
    assert not any("\ufeff" in c for c in table.columns)
    TableSpec(target="outcome", sensitive=("x1",)).resolve(table)


def test_delta_above_one_over_n_is_a_note_not_an_error(tmp_path: Path) -> None:
    path = write_table(tmp_path / "table.csv", make_table())
    before = snapshot(tmp_path)
    prepared = prepare(run_config(path, delta=0.1))
    n_train = len(prepared.splits.train)
    assert n_train == 150
    assert any("δ = 0.1 is not below 1/N" in note and "smaller δ" in note for note in prepared.notes)
    assert snapshot(tmp_path) == before


def test_small_delta_gives_no_delta_note(tmp_path: Path) -> None:
    path = write_table(tmp_path / "table.csv", make_table())
    prepared = prepare(run_config(path, delta=1e-5))
    assert not any("δ" in note for note in prepared.notes)


def test_missing_target_rows_are_dropped_with_a_note(tmp_path: Path) -> None:
    table = make_table()
    table.loc[::30, "outcome"] = np.nan
    path = write_table(tmp_path / "table.csv", table)
    splits = split_table(load_table(path), resolve(path), support_fraction=0.2)
    assert splits.dropped_rows == 10
    assert any("10 rows with a missing target" in note for note in splits.notes)


# ---------------------------------------------------------------- command line

CLI_ROLES = ["--target", "outcome", "--sensitive", "age,sex"]


def _cli_inputs(root: Path) -> dict[str, tuple[list[str], type[FusionDPError], str]]:
    """Per case: the arguments after ``run``, the error class and a phrase of the message."""
    empty = write_bytes(root / "empty.csv", b"")
    good = write_table(root / "table.csv", make_table())
    config = write_bytes(root / "config.yaml", b"epsilom: 2.0\n")
    spec = write_bytes(root / "spec.yaml", b"- outcome\n- age\n")
    return {
        "empty-file": (["--data", str(empty), *CLI_ROLES], DataError, "empty.csv is empty"),
        "missing-target": (
            ["--data", str(good), "--target", "outcom", "--sensitive", "age,sex"],
            SpecError,
            "Did you mean 'outcome'",
        ),
        "epsilon-minus-1": (["--data", str(good), *CLI_ROLES, "--epsilon=-1"], ConfigError, "ε must be a positive"),
        "unknown-mode": (["--data", str(good), *CLI_ROLES, "--modes", "fusion"], ConfigError, "Unknown mode 'fusion'"),
        "config-unknown-key": (["--config", str(config)], ConfigError, "epsilom"),
        "spec-not-a-mapping": (["--data", str(good), "--spec", str(spec)], SpecError, "expected a mapping"),
    }


SUBPROCESS_IDS = ["empty-file", "missing-target", "epsilon-minus-1", "unknown-mode"]
CLI_IDS = [*SUBPROCESS_IDS, "config-unknown-key", "spec-not-a-mapping"]


@pytest.mark.parametrize("case_id", CLI_IDS)
def test_cli_app_raises_fusiondp_error(case_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args, error, phrase = _cli_inputs(tmp_path)[case_id]
    before = snapshot(tmp_path)
    result = CliRunner().invoke(app, ["run", *args, "--out", str(tmp_path / "out"), "--quiet"])
    assert isinstance(result.exception, error), result.output
    assert phrase in str(result.exception)
    assert snapshot(tmp_path) == before


@dataclass(frozen=True)
class CliOutcome:
    returncode: int
    stderr: str
    phrase: str


@pytest.fixture(scope="module")
def cli_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CliOutcome]:
    """Run ``python -m fusiondp.cli run …`` for the subprocess cases side by side (each start imports torch)."""
    root = tmp_path_factory.mktemp("cli")
    inputs = _cli_inputs(root)
    before = snapshot(root)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    processes = {
        case_id: subprocess.Popen(
            [sys.executable, "-m", "fusiondp.cli", "run", *inputs[case_id][0], "--out", str(root / "out"), "--quiet"],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
        )
        for case_id in SUBPROCESS_IDS
    }
    outcomes = {}
    try:
        for case_id, process in processes.items():
            _, stderr = process.communicate(timeout=120)
            outcomes[case_id] = CliOutcome(process.returncode, stderr, inputs[case_id][2])
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
    assert snapshot(root) == before, "the CLI must leave its input files as they were"
    return outcomes


@pytest.mark.parametrize("case_id", SUBPROCESS_IDS)
@pytest.mark.slow
def test_cli_entry_point_prints_one_error_and_exits_2(case_id: str, cli_outcomes: dict[str, CliOutcome]) -> None:
    outcome = cli_outcomes[case_id]
    assert outcome.returncode == 2, outcome.stderr
    assert "Error: " in outcome.stderr
    assert outcome.phrase in outcome.stderr
    assert "Traceback" not in outcome.stderr
