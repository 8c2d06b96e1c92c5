"""Multi-label targets: the spec (one delimiter-separated column), the split, the labels as trained, the metrics,
and the clear errors for a column with one label or without its delimiter."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from fusiondp.config import RunConfig
from fusiondp.errors import DataError, SpecError
from fusiondp.metrics import kind_of_metrics, multilabel_metrics, selection_metric, summary_metrics
from fusiondp.preparation import prepare
from fusiondp.runs import fit_run
from fusiondp.spec import TableSpec, split_labels
from fusiondp.split import split_table
from tests.cli_runner import run_cli
from tests.conftest import ROOT

CONDITIONS = ROOT / "sample_data" / "nhanes_conditions.csv"
SENSITIVE = ["age", "gender", "race_ethnicity", "education", "marital_status", "income_poverty_ratio"]


def multilabel_table(rows: int = 900, seed: int = 0) -> pd.DataFrame:
    """Public ``p``, ``q``; sensitive ``secret``; target ``codes`` listing labels A, B, C (empty: none)."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"p": rng.normal(size=rows), "q": rng.normal(size=rows), "secret": rng.normal(size=rows)})
    a = table["p"] + table["secret"] > 0.3
    b = table["q"] > 0
    c = table["secret"] > 0.8
    table["codes"] = [";".join(label for label, on in zip("ABC", row, strict=True) if on) or np.nan
                      for row in zip(a, b, c, strict=True)]
    return table


SPEC = TableSpec(target="codes", sensitive=("secret",), target_kind="multilabel")


def test_cells_split_into_trimmed_label_sets_and_the_vocabulary_is_sorted() -> None:
    assert split_labels(["I10; E11", "E11;;E11", np.nan, None, "Z99"]) == [("I10", "E11"), ("E11",), (), (), ("Z99",)]
    assert split_labels(["a|b"], "|") == [("a", "b")]
    target = pd.Series(["b;a"] * 5 + ["c"] * 5 + [np.nan] * 3, name="codes")
    assert SPEC.label_vocabulary(target) == ("a", "b", "c")


def test_one_label_and_a_missing_delimiter_are_one_clear_error_each() -> None:
    with pytest.raises(DataError, match=r"holds 1 label\(s\) \('I10'\).*declare target_kind 'binary'"):
        SPEC.check_target(pd.Series(["I10"] * 8 + [np.nan] * 8, name="codes"))
    with pytest.raises(DataError, match=r"no value holds ';'.*Its values hold ','.*set target_delimiter"):
        SPEC.check_target(pd.Series(["I10,E11", "E11", "I10"] * 5, name="codes"))
    with pytest.raises(DataError, match=r"no value holds ';'.*declare target_kind 'multiclass'"):
        SPEC.check_target(pd.Series(["I10", "E11", "Z99"] * 5, name="codes"))
    with pytest.raises(DataError, match=r"label\(s\) on fewer than 5 rows: 'rare' \(1 row\)"):
        SPEC.check_target(pd.Series(["I10;E11"] * 6 + ["rare"], name="codes"))
    with pytest.raises(SpecError, match="target_delimiter is set but target 'codes' is binary"):
        TableSpec(target="codes", sensitive=("s",), target_delimiter="|").check_target(pd.Series(["a", "b"] * 3))
    with pytest.raises(ValueError, match="visible character"):
        TableSpec(target="codes", sensitive=("s",), target_kind="multilabel", target_delimiter=" ")
    assert TableSpec(target="codes", sensitive=("s",), target_kind="multilabel", target_delimiter="|") \
        .label_vocabulary(pd.Series(["a|b", "b"] * 5)) == ("a", "b")


def test_the_split_keeps_rows_without_a_label_and_puts_every_label_in_training() -> None:
    table = multilabel_table()
    splits = split_table(table, SPEC, seed=1)
    assert splits.target_kind == "multilabel" and splits.dropped_rows == 0
    assert sum(splits.sizes().values()) == len(table)
    for part in (splits.train, splits.val, splits.test):
        labels = {label for cell in split_labels(part["codes"]) for label in cell}
        assert labels == {"A", "B", "C"}
    rare = table.assign(codes=["A;B"] * 300 + ["A"] * 597 + ["C"] * 3)
    with pytest.raises(DataError, match=r"fewer than 5 rows: 'C'"):
        split_table(rare, SPEC)


def test_multilabel_metrics_have_their_known_values_and_skip_one_class_labels() -> None:
    y = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 1], [0, 0, 1]])
    assert multilabel_metrics(y, y.astype(float)) == {"auroc": 1.0, "micro_f1": 1.0, "macro_f1": 1.0,
                                                      "auroc_labels": 2.0, "labels": 3.0}
    rng = np.random.default_rng(0)
    y, prob = (rng.random((300, 4)) < 0.3).astype(int), rng.random((300, 4))
    thresholds = np.array([0.2, 0.5, 0.7, 0.9])
    scores = multilabel_metrics(y, prob, thresholds)
    assert scores["auroc"] == pytest.approx(roc_auc_score(y, prob, average="macro"))
    predicted = (prob >= thresholds).astype(int)
    assert scores["micro_f1"] == pytest.approx(f1_score(y, predicted, average="micro"))
    assert scores["macro_f1"] == pytest.approx(f1_score(y, predicted, average="macro"))
    assert selection_metric("multilabel") == "auroc"
    assert kind_of_metrics(scores) == "multilabel" and summary_metrics(scores)[:2] == ("auroc", "micro_f1")


@pytest.mark.slow
def test_every_mode_trains_a_multilabel_target_and_reads_its_labels_from_the_training_rows() -> None:
    config = RunConfig.build(spec=SPEC, imputer="gbdt", epochs=3)
    prepared = prepare(config, table=multilabel_table())
    assert prepared.tensors.task.kind == "multilabel" and prepared.tensors.task.classes == 3
    assert prepared.tensors.y.shape == (len(prepared.splits.train), 3)
    expected = np.array([[label in cell for label in "ABC"] for cell in split_labels(prepared.splits.train["codes"])])
    assert np.array_equal(prepared.tensors.y.numpy(), expected.astype(np.float32))
    for mode in ("sgd_ori", "dpsgd", "feature_dp", "fusiondp"):
        record, _ = fit_run(prepared, mode, 0)
        assert set(record.metrics) == {"auroc", "micro_f1", "macro_f1", "auroc_labels", "labels"}
        assert record.metrics["auroc"] > 0.75, mode
        assert np.isfinite(record.history[-1]["val_auroc"])


def _cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli("run", *args)


@pytest.mark.slow
def test_cli_trains_the_multilabel_sample_table_from_inline_roles(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _cli("--data", str(CONDITIONS), "--target", "conditions", "--sensitive", ",".join(SENSITIVE),
                  "--target-kind", "multilabel", "--modes", "sgd_ori,dpsgd,feature_dp,fusiondp", "--epsilon", "4",
                  "--epochs", "2", "--imputer", "gbdt", "--quiet", "--out", str(out))
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("mode "))
    assert "AUROC" in header and "micro-F1" in header and "macro-F1" in header and "AUPRC" not in header
    assert "that label's own threshold" in result.stdout
    results = json.loads((out / "results.json").read_text())
    summary = {row["mode"]: row for row in results["summary"]}
    records = results["records"]
    assert all(set(r["metrics"]) == {"auroc", "micro_f1", "macro_f1", "auroc_labels", "labels"} for r in records)
    assert all(r["metrics"]["labels"] == r["metrics"]["auroc_labels"] == 4 for r in records)
    assert summary["sgd_ori"]["auroc_mean"] > 0.7, "the conditions are predictable from waist, age and the labs"
    assert summary["fusiondp"]["epsilon_spent"] <= 4.0
    assert all(np.isfinite(r["history"][-1]["val_auroc"]) for r in records)
    assert records[0]["config"]["spec"]["target_kind"] == "multilabel"
    table = pd.read_csv(CONDITIONS)
    assert sum(records[0]["data"]["sizes"].values()) == len(table), \
        "rows with no condition (an empty cell) are kept, not dropped as a missing target"


@pytest.mark.slow
def test_cli_names_the_delimiter_the_column_uses_in_one_error(tmp_path: Path) -> None:
    result = _cli("--data", str(CONDITIONS), "--spec", str(CONDITIONS.with_suffix(".spec.yaml")),
                  "--target-delimiter", ",", "--epochs", "1", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "declared multilabel with delimiter ','" in result.stderr and "Its values hold ';'" in result.stderr
    assert result.stderr.count("Error") == 1 and "Traceback" not in result.stderr
