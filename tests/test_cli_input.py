"""A malformed table reaches its own problem, and a run says what it assumed (issue 29, items 14, 15, 19–21, 23, 24).

The CLI checks run the real entry point (``python -m fusiondp.cli``), as ``tests/test_cli_errors.py`` does; the
rest call the library directly.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fusiondp.config import RunConfig
from fusiondp.data import read_table_bytes
from fusiondp.impute import choose_imputer, format_quality_lines, quality_report
from fusiondp.preparation import prepare_splits, split_for
from fusiondp.privacy.accounting import default_delta
from fusiondp.runs import save_results, train_run
from fusiondp.spec import TableSpec
from fusiondp.split import split_table
from tests.cli_runner import run_cli
from tests.conftest import SAMPLE_CSV, SAMPLE_SPEC


def _cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd)


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    return errors[0]


def _head(rows: int) -> pd.DataFrame:
    return pd.read_csv(SAMPLE_CSV).head(rows)


ROLES = ("--target", "diabetes", "--sensitive", "age,gender", "--quiet")


# ---------------------------------------------------------------- 14, 15: the file's own problem first


@pytest.mark.slow
def test_a_semicolon_file_with_decimal_commas_is_read_as_numbers_and_the_flag_is_named(tmp_path: Path) -> None:
    path = tmp_path / "semicolon.csv"
    _head(300).to_csv(path, sep=";", index=False, decimal=",")
    result = _cli("run", "--data", path, *ROLES)
    assert "decimal comma: column(s) ['income_poverty_ratio'" in result.stderr
    line = _error_line(result)
    assert "Raise --support-fraction" in line and "support_fraction" not in line


@pytest.mark.slow
def test_a_latin1_file_says_how_it_was_read(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    _head(300).replace({"gender": {"Female": "Fémale"}}).to_csv(path, index=False, encoding="latin-1")
    result = _cli("run", "--data", path, *ROLES)
    assert "latin1.csv is not UTF-8; read as cp1252" in result.stderr
    assert "--support-fraction" in _error_line(result)


@pytest.mark.slow
def test_empty_columns_are_named_before_the_split(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    _head(300).assign(blank=np.nan).to_csv(path, index=False)
    result = _cli("run", "--data", path, *ROLES)
    said = result.stderr.index("Column(s) ['blank'] have no value in any row")
    assert said < result.stderr.index("Error: The support set has 30 rows")
    line = _error_line(_cli("run", "--data", path, "--target", "diabetes", "--sensitive", "age,blank"))
    assert "Sensitive column(s) ['blank'] are entirely missing" in line and "support set" not in line


@pytest.mark.slow
def test_a_table_too_small_for_any_split_says_so_with_the_minimum(tmp_path: Path) -> None:
    path = tmp_path / "six.csv"
    _head(6).to_csv(path, index=False)
    for extra, minimum in (((), 143), (("--support-fraction", "0.5", "--test-fraction", "0.1"), 125)):
        line = _error_line(_cli("run", "--data", path, *ROLES, *extra))
        assert "The table has 6 labelled row(s), too few for any split" in line, line
        assert f"at least {minimum} labelled rows" in line and "support_fraction" not in line and "Raise" not in line
    line = _error_line(_cli("run", "--data", path, *ROLES, "--support-fraction", "0.9"))
    assert "--support-fraction 0.9 + --val-fraction 0.1 + --test-fraction 0.2 = 1.20" in line, line
    assert "--support-fraction can be at most 0.59" in line and "needs more rows, not a larger fraction" in line
    assert "configuration: run configuration" not in line and "support_fraction" not in line


# ---------------------------------------------------------------- 19: stray text and ±inf, counted alike


def test_text_and_infinities_in_numeric_columns_are_both_counted(caplog: pytest.LogCaptureFixture) -> None:
    table = _head(600).astype({"weight_kg": object, "pulse_bpm": float})
    table.loc[[5, 9, 400], "weight_kg"] = "abc"
    table.loc[[7, 8], "pulse_bpm"] = np.inf
    with caplog.at_level(logging.WARNING):
        read = read_table_bytes(table.to_csv(index=False).encode(), "mixed.csv")
        splits = split_table(read, TableSpec.from_yaml(SAMPLE_SPEC).with_roles(read), support_fraction=0.2)
    assert "mixed.csv: infinite values are read as missing: 'pulse_bpm' (2 of 600 rows)" in caplog.text
    assert ("Non-numeric values ('abc') in numeric columns are read as missing: 'weight_kg' (3 of 600 rows)"
            in caplog.text)
    parts = pd.concat([splits.support, splits.train, splits.val, splits.test])
    assert pd.api.types.is_numeric_dtype(parts["weight_kg"]) and parts["weight_kg"].isna().sum() >= 3


# ---------------------------------------------------------------- 20: a split column without support rows


def test_a_split_column_without_support_rows_takes_the_support_fraction_of_the_train_rows() -> None:
    table = _head(1000)
    table["part"] = np.where(np.arange(1000) < 700, "train", np.where(np.arange(1000) < 850, "val", "test"))
    config = RunConfig.build(spec=TableSpec.from_yaml(SAMPLE_SPEC), split_column="part", support_fraction=0.2)
    splits = split_for(config, table)
    assert splits.sizes() == {"support": 140, "train": 560, "val": 150, "test": 150}
    assert "public fraction 0.2 of the rows marked 'train' in column 'part'" in splits.support_source


# ---------------------------------------------------------------- 21: one baseline, one verdict


def test_a_balanced_column_the_public_columns_do_not_predict_keeps_its_one_baseline() -> None:
    rng = np.random.default_rng(0)
    rows = 400
    support = pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.normal(size=rows),
                            "g": np.repeat(["a", "b"], rows // 2), "y": rng.integers(0, 2, rows)})
    spec = TableSpec(target="y", sensitive=("g",), categorical=("g",)).resolve(support)
    imputer = choose_imputer("knn").build(spec, 0)
    imputer.fit(support)
    decision = imputer.selection_["g"].value
    assert decision.baseline == pytest.approx(0.5), "the majority's share of a balanced column, not a fold's minority"
    crossfit = imputer.cross_fitted_
    scored = support.iloc[crossfit.rows].reset_index(drop=True)
    report = quality_report("knn", spec, scored, scored, crossfit.imputed, selection=imputer.selection_,
                            cross_fitted=crossfit.folds)
    line, *warnings = format_quality_lines(report)
    assert re.findall(r"(\d\.\d+) baseline", line) == ["0.500"] and "model vs" not in line, line
    column = report.columns[0]
    assert column.beats_baseline() is (decision.used == "model")
    assert bool(warnings) is (decision.used == "baseline"), warnings


# ---------------------------------------------------------------- 23, 24: proxies and δ said where they count


@pytest.mark.slow
def test_a_proxy_is_repeated_at_the_end_and_conditions_the_ledger_and_the_default_delta_is_said(
        tmp_path: Path) -> None:
    table = pd.read_csv(SAMPLE_CSV)
    table["age_band"] = (table["age"] // 5).astype(int)  # a public near-copy of a sensitive column
    path = tmp_path / "proxy.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "out"
    result = _cli("run", "--data", path, "--spec", SAMPLE_SPEC, "--modes", "sgd_pub,fusiondp", "--epochs", "1",
                  "--quiet", "--workers", "1", "--out", out)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith("sgd_pub "))
    closing = [line for line in lines[summary:] if line.startswith("note: preflight [high]") and "'age_band'" in line]
    assert closing, "the high proxy finding is repeated after the summary"
    assert "note: δ = 1e-05 (the default: below 1/N" in result.stdout
    records = {r["mode"]: r for r in json.loads((out / "results.json").read_text())["records"]}
    sgd_pub = " ".join(records["sgd_pub"]["privacy"]["notes"])
    assert ("their real values never reach the model — unless a public column is a proxy: the preflight found"
            in sgd_pub and "'age_band' predicts 'age'" in sgd_pub)
    assert records["fusiondp"]["privacy"]["statement"].startswith("Unless a public column is a proxy")
    assert records["fusiondp"]["privacy"]["delta"] == 1e-5
    assert yaml.safe_load((out / "config.yaml").read_text())["delta"] == 1e-5


def test_default_delta_is_below_one_over_n() -> None:
    assert default_delta(5_000) == 1e-5 and default_delta(99_999) == 1e-5
    assert default_delta(215_000) == 4e-7 and default_delta(100_000) == 1e-6
    assert all(default_delta(n) < 1 / n for n in (1, 10, 99_999, 100_000, 215_000, 10**7))


def test_a_large_table_gets_delta_from_n_everywhere_and_an_explicit_delta_is_kept(tmp_path: Path) -> None:
    table = _head(1000)
    spec = TableSpec.from_yaml(SAMPLE_SPEC)
    config = RunConfig.build(spec=spec, modes=["fusiondp"], epochs=1, imputer="knn", reproducible_noise=True)
    assert config.delta is None
    splits = dataclasses.replace(split_for(config, table), table_rows=215_000)  # N as a large table's
    prepared = prepare_splits(config, splits)
    assert prepared.config.delta == 4e-7
    assert any(note.startswith("δ = 4e-07, not the usual 1e-05: the table has 215,000 rows") for note in prepared.notes)
    record = train_run(prepared, "fusiondp", 0)
    assert record.privacy.delta == 4e-7 and record.config["delta"] == 4e-7
    assert any("215,000 rows" in note for note in record.privacy.notes), "the ledger says which δ and why"
    save_results(tmp_path, prepared, [record])
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert saved["delta"] == 4e-7 and RunConfig.build(**saved).delta == 4e-7, "a rerun uses the same δ"
    explicit = prepare_splits(config.model_copy(update={"delta": 1e-5}), splits)
    assert explicit.config.delta == 1e-5 and not any(note.startswith("δ = ") for note in explicit.notes)
