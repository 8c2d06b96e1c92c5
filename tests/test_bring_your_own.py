"""Bring your own split (``split_column``) and imputations (``hybrid_data``).

A split column must be honoured row for row and never become a feature; an imputed copy must be
used exactly as given (for the hybrid view and the reference view), checked row for row against
the table, scored on support rows, named as the imputer everywhere, and its use must not make
anything depend on the private rows' real sensitive values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError, DataError, SpecError
from fusiondp.preparation import prepare_splits, split_for
from fusiondp.prepared import PreparedData
from fusiondp.reference import shrink
from fusiondp.spec import TableSpec
from tests.cli_runner import run_cli
from tests.conftest import SAMPLE_CSV, SAMPLE_SPEC

ROWS = 1200
PARTS = {"train": " Train", "val": "VAL", "test": "test", "support": "Support "}
"""Each part and how the split column spells it (case and spaces must not matter)."""


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """The sample's first rows with a split column, seeded, in mixed spellings."""
    rows = pd.read_csv(SAMPLE_CSV).head(ROWS)
    parts = np.random.default_rng(7).choice(list(PARTS), size=ROWS, p=[0.6, 0.1, 0.15, 0.15])
    return rows.assign(part=[PARTS[p] for p in parts])


@pytest.fixture(scope="module")
def spec() -> TableSpec:
    return TableSpec.from_yaml(SAMPLE_SPEC)


def part_rows(table: pd.DataFrame, part: str) -> pd.DataFrame:
    return table[table["part"].str.strip().str.lower() == part].reset_index(drop=True)


def imputed_copy(table: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """A stand-in for imputations made elsewhere: every sensitive column replaced, recognisably."""
    copy = table.copy()
    for column in spec.sensitive:
        if column in spec.categorical:
            copy[column] = np.roll(table[column].to_numpy(), 3)  # real categories, wrong rows
        else:
            copy[column] = np.round(np.linspace(20, 80, len(table)), 1)
    copy.loc[copy.index % 11 == 0, "education"] = np.nan  # 'missing' is a state the user may impute
    return copy


@pytest.fixture(scope="module")
def hybrid_file(table: pd.DataFrame, spec: TableSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("byo") / "imputed.csv"
    imputed_copy(table, spec).to_csv(path, index=False)
    return path


def config(spec: TableSpec, **values: object) -> RunConfig:
    return RunConfig.build(**{"spec": spec, "imputer": "gbdt", "split_column": "part", "epochs": 1, **values})


@pytest.fixture(scope="module")
def prepared(table: pd.DataFrame, spec: TableSpec, hybrid_file: Path) -> PreparedData:
    cfg = config(spec, hybrid_data=str(hybrid_file))
    return prepare_splits(cfg, split_for(cfg, table))


# ---------------------------------------------------------------- split column


def test_split_column_is_honoured_exactly_and_ignores_fractions_and_seed(table: pd.DataFrame,
                                                                        spec: TableSpec) -> None:
    splits = split_for(config(spec), table)
    other = split_for(config(spec, support_fraction=0.3, val_fraction=0.2, test_fraction=0.05, split_seed=99), table)
    for part in PARTS:
        expected = part_rows(table, part)
        pd.testing.assert_frame_equal(getattr(splits, part), expected, check_dtype=False)
        pd.testing.assert_frame_equal(getattr(other, part), expected, check_dtype=False)
    assert splits.support_source.startswith("rows marked 'support' in column 'part'")
    assert any("not used for splitting" in note for note in splits.notes)


def test_split_column_is_never_a_feature(prepared: PreparedData) -> None:
    assert "part" not in prepared.spec.features and "part" in prepared.spec.ignore
    assert not [name for name in prepared.encoder.feature_names_ if name.startswith("part")]
    assert not [name for name in prepared.encoder.feature_names_ if "imputed" in name], \
        "the carried imputations are no features either"


@pytest.mark.parametrize(("values", "expected"), [
    ({5: "training", 9: "holdout"}, r"'holdout', 'training'.*allowed are train, val, test, support"),
    ({5: None, 9: np.nan}, r"empty in 2 row\(s\) \(data rows 6, 10"),
])
def test_bad_split_values_give_one_clear_error(table: pd.DataFrame, spec: TableSpec, values: dict[int, object],
                                               expected: str) -> None:
    broken = table.copy()
    for row, value in values.items():
        broken.loc[row, "part"] = value
    with pytest.raises(DataError, match=expected):
        split_for(config(spec), broken)


def test_split_column_conflicts_are_refused(table: pd.DataFrame, spec: TableSpec, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="Split column 'age' is tagged sensitive"):
        split_for(config(spec, split_column="age"), table)
    with pytest.raises(SpecError, match="Split column 'prt' is not in the table"):
        split_for(config(spec, split_column="prt"), table)
    support = part_rows(table, "support").drop(columns="part")
    with pytest.raises(ConfigError, match=r"marks .* row\(s\) 'support', but the support set is the separate"):
        split_for(config(spec, support_source="table", support_data="unused.csv"), table, support)
    declared = yaml.safe_load((SAMPLE_CSV.parent / "nhanes_dp_synthetic.config.yaml").read_text())
    synthetic = config(spec, **{k: declared[k] for k in ("support_source", "sensitive_domains", "sensitive_bounds")})
    with pytest.raises(ConfigError, match="'support', but the support set is DP-synthetic"):
        split_for(synthetic, table)


def test_split_column_keeps_the_minimum_sizes(table: pd.DataFrame, spec: TableSpec) -> None:
    few = table.assign(part=np.where(np.arange(len(table)) < 20, "support", "train"))
    with pytest.raises(DataError, match=r"support set has 20 rows.*Mark more rows 'support' in column 'part'"):
        split_for(config(spec), few)


# ---------------------------------------------------------------- user-provided imputations


def test_hybrid_view_is_the_files_rows(prepared: PreparedData, hybrid_file: Path, spec: TableSpec) -> None:
    given = pd.read_csv(hybrid_file)
    given = given[given["part"].str.strip().str.lower() == "train"].reset_index(drop=True)
    columns = [*prepared.spec.public, spec.target, *spec.sensitive]
    pd.testing.assert_frame_equal(prepared.hybrid_train[columns], given[columns], check_dtype=False)
    encoded = prepared.encoder.transform(given)
    np.testing.assert_array_equal(prepared.tensors.x_hybrid.numpy(), encoded)
    # the reference view: the hard encoding of the user's values, shrunk by the λ chosen on support rows
    blank = prepared.encoder.transform_uninformative(prepared.splits.train)
    reference = shrink(prepared.encoder, encoded, blank, prepared.shrinkage)
    np.testing.assert_allclose(prepared.tensors.x_reference.numpy(), reference, atol=1e-6)


def test_provided_imputations_are_named_and_scored_on_support_rows(prepared: PreparedData, hybrid_file: Path,
                                                                   table: pd.DataFrame) -> None:
    name = f"user-provided imputations from {hybrid_file}"
    assert prepared.imputer.used == name and prepared.quality.imputer == name
    summary = prepared.imputer_summary()
    assert summary["name"] == name and summary["hybrid_data"] == str(hybrid_file)
    assert "user's statement" in summary["provenance"] and "user's statement" in prepared.imputer.reason
    assert summary["builtin_quality"]["imputer"] == "gbdt"
    # recomputed independently: the file's 'gender' on every support row vs their real (public) values
    real = part_rows(table, "support")["gender"]
    given = pd.read_csv(hybrid_file)
    imputed = given[given["part"].str.strip().str.lower() == "support"].reset_index(drop=True)["gender"]
    assert prepared.quality.holdout_rows == len(real) == prepared.builtin_quality.holdout_rows
    present = real.notna()
    expected = float((real[present].astype(str) == imputed[present].astype(str)).mean())
    scored = {c.column: c for c in prepared.quality.columns}
    assert scored["gender"].metrics["accuracy"] == pytest.approx(expected)
    builtin = {c["column"]: c for c in summary["builtin_quality"]["columns"]}
    assert builtin["gender"]["metrics"]["accuracy"] != pytest.approx(expected), "the two reports are distinct"


def test_a_changed_public_cell_names_row_and_column(table: pd.DataFrame, spec: TableSpec) -> None:
    copy = imputed_copy(table, spec)
    copy.loc[41, "bmi"] += 1
    copy.loc[57, "general_health"] = "Excellent" if copy.loc[57, "general_health"] != "Excellent" else "Poor"
    with pytest.raises(DataError, match=r"row 42 .*column 'bmi'"):
        split_for(config(spec, hybrid_data="copy.csv"), table, imputed=copy)
    with pytest.raises(DataError, match=r"row 3 .*column 'diabetes'"):
        split_for(config(spec, hybrid_data="copy.csv"), table, imputed=copy.assign(
            diabetes=copy["diabetes"].where(copy.index != 2, "Maybe")))
    with pytest.raises(DataError, match="1199 rows but the table has 1200"):
        split_for(config(spec, hybrid_data="copy.csv"), table, imputed=copy.iloc[1:])
    with pytest.raises(ConfigError, match="support rows to come from the table itself"):
        split_for(config(spec, hybrid_data="copy.csv", support_source="dp_synthetic"), table, imputed=copy)


def test_private_sensitive_values_do_not_reach_the_provided_views(table: pd.DataFrame, spec: TableSpec,
                                                                  hybrid_file: Path,
                                                                  prepared: PreparedData) -> None:
    """Scramble the real sensitive values of every non-support row: nothing public may change."""
    private = table["part"].str.strip().str.lower() != "support"
    scrambled = table.copy()
    rng = np.random.default_rng(1)
    for column in spec.sensitive:
        scrambled.loc[private, column] = rng.permutation(scrambled.loc[private, column].to_numpy())
    cfg = config(spec, hybrid_data=str(hybrid_file))
    again = prepare_splits(cfg, split_for(cfg, scrambled))
    assert again.shrinkage == prepared.shrinkage
    assert again.imputer_summary()["quality"] == prepared.imputer_summary()["quality"]
    for name in ("x_hybrid", "x_reference", "x_val_hybrid", "support_reference", "support_hybrid"):
        np.testing.assert_array_equal(getattr(again.tensors, name).numpy(), getattr(prepared.tensors, name).numpy())
    assert not np.array_equal(again.tensors.x_real.numpy(), prepared.tensors.x_real.numpy())


@pytest.mark.slow
def test_cli_runs_with_both_flags(table: pd.DataFrame, hybrid_file: Path, tmp_path: Path) -> None:
    data, out = tmp_path / "table.csv", tmp_path / "out"
    table.to_csv(data, index=False)
    result = run_cli("run", "--data", data, "--spec", SAMPLE_SPEC, "--split-column", "part", "--hybrid-data",
                     hybrid_file, "--imputer", "gbdt", "--epochs", "1", "--seeds", "1", "--modes", "fusiondp",
                     "--quiet", "--out", out)
    assert result.returncode == 0, result.stderr
    imputer_line = f"imputer: user-provided imputations from {hybrid_file} (read as given; provenance: the user's"
    assert imputer_line in result.stdout
    assert "built-in imputer gbdt on the same support rows (cross-fitted), for comparison" in result.stdout
    assert "support: rows marked 'support' in column 'part'" in result.stdout
    results = json.loads((out / "results.json").read_text())
    for summary in (results["imputer"], results["records"][0]["imputer"]):
        assert summary["name"] == f"user-provided imputations from {hybrid_file}"
        assert "user's statement" in summary["provenance"]
    assert results["data"]["sizes"] == {part: len(part_rows(table, part)) for part in ("support", "train", "val",
                                                                                        "test")}
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["split_column"] == "part" and saved["hybrid_data"] == str(hybrid_file)
