"""Column types, category names, class lists and public notes come from the support set, never from private rows.

A neighbouring table differs from the real one in one private row: feature_dp's relation sets its sensitive
values missing, dpsgd's changes the row as a whole. Nothing fitted or published may change with it: not the
columns' types (a file reader types a column by all of its rows), not the names of their categories, not the
model's classes, not the notes written to results (METHOD.md §5).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fusiondp.config import RunConfig
from fusiondp.data import load_table
from fusiondp.errors import DataError
from fusiondp.preparation import prepare
from fusiondp.prepared import PreparedData, training_task
from fusiondp.privacy.statement import privacy_statement
from fusiondp.record import PrivacyLedger
from fusiondp.spec import TableSpec, category_text, value_kind
from fusiondp.split import Splits

PRIVATE_ROW = 7
"""A row marked 'train' in every table below: the private row the neighbouring tables change."""

SPEC = TableSpec(target="y", sensitive=("age", "female"), categorical=("household",))
"""'smoker' (public) and 'female' (sensitive) are True/False; 'household' holds integers typed categorical."""

WRITERS: dict[str, Callable[[pd.DataFrame, Path], None]] = {
    "csv": lambda table, path: table.to_csv(path, index=False),
    "parquet": lambda table, path: table.to_parquet(path, index=False),
    "xlsx": lambda table, path: table.to_excel(path, index=False),
}


def table(rows: int = 320) -> pd.DataFrame:
    """Rows marked support / train / val / test in column 'part', row ``PRIVATE_ROW`` among the training rows."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=rows)
    parts = np.array(["support", "train", "train", "support", "val", "test", "train", "train"])[np.arange(rows) % 8]
    return pd.DataFrame({
        "x": x,
        "smoker": rng.random(rows) < 0.4,
        "household": rng.integers(1, 5, rows),
        "age": np.round(50 + 10 * x + rng.normal(size=rows)),
        "female": x + rng.normal(size=rows) > 0,
        "y": (x + rng.normal(size=rows) > 0).astype(int),
        "part": parts,
    }).astype({"smoker": object, "female": object, "household": object})


def prepared(rows: pd.DataFrame, path: Path) -> PreparedData:
    """The table written to ``path`` (its suffix picks the format), read back and prepared as a run would."""
    assert rows.loc[PRIVATE_ROW, "part"] == "train"
    WRITERS[path.suffix[1:]](rows, path)
    config = RunConfig.build(data=str(path), spec=SPEC, split_column="part", imputer="knn", epochs=1,
                             batch_size=16, public_batch_size=32, modes=["fusiondp"])
    return prepare(config)


SUPPORT_TENSORS = ("support_real", "support_hybrid", "support_blank", "support_reference", "x_test", "x_val_hybrid")
"""Tensors made from rows the change does not touch: they must stay bit for bit (C_h and λ are read off them)."""


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("column", ["female", "smoker", "household"])
def test_one_private_missing_value_changes_no_type_encoder_or_support_tensor(
        tmp_path: Path, fmt: str, column: str) -> None:
    rows = table()
    base = prepared(rows, tmp_path / f"base.{fmt}")
    changed_rows = rows.copy()
    changed_rows.loc[PRIVATE_ROW, column] = np.nan
    changed = prepared(changed_rows, tmp_path / f"changed.{fmt}")

    assert load_table(tmp_path / f"changed.{fmt}")[column].isna().sum() == 1, "the file holds the missing cell"
    assert {"smoker", "female", "household"} <= set(base.spec.categorical), "True/False and declared: categorical"
    assert (changed.spec.categorical, changed.spec.numeric) == (base.spec.categorical, base.spec.numeric)
    assert changed.encoder.n_features == base.encoder.n_features
    assert changed.encoder.state() == base.encoder.state()
    assert changed.data_summary()["n_features"] == base.data_summary()["n_features"]
    assert changed.shrinkage == base.shrinkage
    for name in SUPPORT_TENSORS:
        assert torch.equal(getattr(changed.tensors, name), getattr(base.tensors, name)), name
    others = np.arange(len(base.splits.train)) != (rows["part"].iloc[:PRIVATE_ROW] == "train").sum()
    assert torch.equal(changed.tensors.x_real[others], base.tensors.x_real[others]), "other training rows unchanged"


@pytest.mark.parametrize(("values", "kind", "text"), [
    ([True, False, None], "boolean", ["True", "False", None]),
    (["TRUE", "false"], "boolean", ["True", "False"]),
    ([3, 1], "number", ["3", "1"]),
    ([3.0, 1.0, None], "number", ["3", "1", None]),
    (["03", "1", "2.5"], "number", ["3", "1", "2.5"]),
    (["a", 3.0, None], "text", ["a", "3", None]),
    ([None, None], "text", [None, None]),
])
def test_category_names_depend_on_the_value_not_on_how_the_column_was_read(
        values: list[object], kind: str, text: list[str | None]) -> None:
    series = pd.Series(values, dtype=object)
    assert value_kind(series) == kind
    assert [None if pd.isna(v) else v for v in category_text(series, value_kind(series))] == text


def splits(support_y: list[object], train_y: list[object], *, rows: int = 60) -> Splits:
    """Splits of a tiny table whose support and training labels are given (cycled to ``rows``)."""
    def part(labels: list[object]) -> pd.DataFrame:
        return pd.DataFrame({"x": np.arange(rows, dtype=float), "s": np.arange(rows, dtype=float),
                             "y": [labels[i % len(labels)] for i in range(rows)]})
    return Splits(support=part(support_y), train=part(train_y), val=part(support_y[:1]), test=part(support_y[:1]),
                  support_source="test")


def test_classes_come_from_the_support_set_so_one_training_label_cannot_change_the_output_width() -> None:
    spec = TableSpec(target="y", sensitive=("s",), public=("x",), numeric=("x", "s"), target_kind="multiclass")
    task, classes = training_task(spec, splits(["a", "b", "c"], ["a", "b"]))
    assert (task.classes, classes) == (3, ["a", "b", "c"]), "a class the support set holds, no training row has"

    with pytest.raises(DataError, match=r"support set has no row of class 'rare'.*raise support_fraction"):
        training_task(spec, splits(["a", "b", "c"], ["a", "b", "c", "rare"]))

    labels = spec.model_copy(update={"target_kind": "multilabel"})
    task, vocabulary = training_task(labels, splits(["a;b", "c"], ["a", "b"]))
    assert (task.classes, vocabulary) == (3, ["a", "b", "c"])
    with pytest.raises(DataError, match=r"no row of label 'd'"):
        training_task(labels, splits(["a;b", "c"], ["a;d", "b"]))

    binary = spec.model_copy(update={"target_kind": "binary"})
    with pytest.raises(DataError, match=r"no row of class 1"):
        training_task(binary, splits([0], [0, 1]))


def test_public_categories_of_training_rows_stay_out_of_the_published_notes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = table().astype({"household": int})
    rows["health"] = np.where(rows["x"] > 0, "Good", "Fair")
    rows.loc[PRIVATE_ROW, "health"] = "Superb"
    rows.loc[rows["part"] == "test", "health"] = rows.loc[rows["part"] == "test", "health"].where(
        np.arange((rows["part"] == "test").sum()) != 0, "Poor")
    with caplog.at_level(logging.WARNING, logger="fusiondp.preparation"):
        prepared_data = prepared(rows, tmp_path / "table.csv")

    published = [*prepared_data.quality.notes, *prepared_data.notes, str(prepared_data.data_summary())]
    assert not any("Superb" in note for note in published), "one training row's category is not published"
    assert any("'Poor'" in note for note in prepared_data.quality.notes), "test rows' categories still are"
    local = [r.getMessage() for r in caplog.records if "Superb" in r.getMessage()]
    assert len(local) == 1 and "not for publication" in local[0]


def ledger(epsilon_syn: float | None) -> PrivacyLedger:
    return PrivacyLedger(epsilon_target=1.0, epsilon_spent=1.0, delta=1e-5, sigma=1.1, sampling_rate=0.05, steps=100,
                         max_grad_norm=1.0, accountant="rdp", adjacency="row add/remove", epsilon_replace=1.9,
                         epsilon_syn=epsilon_syn, delta_syn=None if epsilon_syn is None else 1e-6,
                         epsilon_total=None if epsilon_syn is None else 2.5,
                         delta_total=None if epsilon_syn is None else 2e-5, composition="basic",
                         synth_mechanism="zCDP marginals")


def test_dpsgd_claims_whole_rows_only_with_a_support_set_made_without_its_training_rows() -> None:
    spec = TableSpec(target="y", sensitive=("age",), public=("x", "site"))
    public = privacy_statement(ledger(None), spec, "dpsgd")
    assert "every training row as a whole" in public

    synthetic = privacy_statement(ledger(2.0), spec, "dpsgd")
    assert "as a whole" not in synthetic and "row-level DP" not in synthetic
    assert "Protected: the values of age of every training row — not whole rows" in synthetic
    assert "Not protected: the 2 public columns, the label and membership of each training row" in synthetic
