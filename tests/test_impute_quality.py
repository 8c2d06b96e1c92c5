"""The imputation-quality report: confusion matrices, histograms, figures, HTML/JSON, unseen categories."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch
from typer.testing import CliRunner

from fusiondp.cli import app
from fusiondp.config import RunConfig
from fusiondp.impute.figures import (
    category_order,
    column_figure,
    confusion_figure,
    histogram_figure,
    leading_number,
    quality_table,
    report_figures,
    report_html,
)
from fusiondp.impute.quality import HISTOGRAM_BINS, ColumnQuality, QualityReport, quality_report, score_column
from fusiondp.preparation import prepare
from fusiondp.runs import train_run
from fusiondp.spec import TableSpec
from tests.pages import plotly_figures, readable


def test_categorical_score_has_a_confusion_matrix_over_real_and_imputed_labels() -> None:
    real = pd.Series(["a", "a", "b", "b", "b", None])
    imputed = pd.Series(["a", "c", "b", "a", "b", "a"])
    quality = score_column("g", True, real, imputed, fit_values=pd.Series(["b", "b", "a"]))
    assert quality.rows == 5
    assert quality.confusion == {"labels": ["a", "b", "c"], "matrix": [[1, 0, 1], [1, 2, 0], [0, 0, 0]]}
    assert quality.metrics["accuracy"] == pytest.approx(3 / 5)
    assert quality.baseline["accuracy"] == pytest.approx(3 / 5), "majority of the fit rows is 'b'"
    assert quality.histogram is None


def test_numeric_score_has_a_shared_bin_histogram_of_real_and_imputed() -> None:
    rng = np.random.default_rng(0)
    real = pd.Series(rng.normal(50, 10, size=200))
    imputed = pd.Series(rng.normal(50, 3, size=200))
    quality = score_column("age", False, real, imputed, fit_values=real)
    histogram = quality.histogram
    assert len(histogram["edges"]) == HISTOGRAM_BINS + 1
    assert sum(histogram["real"]) == sum(histogram["imputed"]) == 200
    assert histogram["edges"][0] == pytest.approx(min(real.min(), imputed.min()))
    assert quality.confusion is None


def _report() -> QualityReport:
    spec = TableSpec(target="y", sensitive=("age", "g"), categorical=("g",), public=("x",), numeric=("x", "age"))
    fit = pd.DataFrame({"x": range(6), "age": [30.0, 40, 50, 60, 70, 80], "g": list("aabbab"), "y": 0})
    holdout = pd.DataFrame({"x": range(4), "age": [35.0, 45, 55, 65], "g": ["a", "b", "z", "b"], "y": 0})
    imputed = holdout.assign(age=[40.0, 40, 60, 60], g=["a", "a", "b", "b"])
    return quality_report("knn", spec, fit, holdout, imputed)


def test_report_notes_holdout_categories_the_imputer_never_saw_and_round_trips_through_json() -> None:
    report = _report()
    assert report.notes == ["Sensitive column 'g': held-out support rows hold 'z', absent from the rows the imputer "
                            "was fitted on; it cannot predict them, so they count as errors."]
    saved = json.loads(json.dumps(report.to_dict()))
    assert QualityReport.from_dict(saved) == report


def test_figures_show_the_stored_counts() -> None:
    report = _report()
    age, group = report.columns
    histogram = histogram_figure(age)
    assert [trace.name for trace in histogram.data] == ["real", "imputed"]
    assert list(histogram.data[0].y) == age.histogram["real"] and list(histogram.data[1].y) == age.histogram["imputed"]
    heatmap = confusion_figure(group)
    assert heatmap.data[0].type == "heatmap"
    assert np.asarray(heatmap.data[0].z).tolist() == group.confusion["matrix"]
    assert list(heatmap.data[0].x) == group.confusion["labels"] == ["a", "b", "z"]
    figures = report_figures(report)
    assert list(figures) == ["age", "g"] and all(isinstance(f, go.Figure) for f in figures.values())
    assert column_figure(group).data[0].type == "heatmap"
    with pytest.raises(ValueError, match="numeric columns"):
        histogram_figure(group)


def test_quality_table_names_each_metric_readably() -> None:
    report = _report()
    table = quality_table(report)
    assert list(table.columns) == list(report.to_frame().columns)
    assert table["metric"].tolist() == ["MAE", "RMSE", "R²", "accuracy", "macro-F1"]
    assert table["imputer"].tolist() == report.to_frame()["imputer"].tolist()
    assert quality_table(QualityReport("knn", 10, 5)).empty


INCOME = ["$0 to $4,999", "$5,000 to $9,999", "$20,000 to $24,999", "$75,000 to $99,999", "$100,000 and over"]
EDUCATION = ["Less than 9th grade", "9-11th grade", "High school or GED", "Some college or AA degree",
             "College graduate or above"]


def test_leading_number_reads_the_number_a_label_starts_with() -> None:
    assert [leading_number(label) for label in INCOME] == [0, 5_000, 20_000, 75_000, 100_000]
    assert leading_number("9-11th grade") == 9 and leading_number("< 5") == 5 and leading_number(">$50k") == 50
    assert leading_number("-1.5 or less") == -1.5 and leading_number(3) == 3
    assert leading_number("Less than 9th grade") is None and leading_number("") is None


def test_categories_read_in_the_declared_order_else_by_leading_number_else_alphabetically() -> None:
    assert category_order(sorted(INCOME)) == INCOME  # alphabetically "$100,000 and over" came first
    assert category_order(["10", "9", "2", "1"]) == ["1", "2", "9", "10"]
    assert category_order(["Under $20,000", "$20,000 and over"]) == ["$20,000 and over", "Under $20,000"]
    assert category_order(sorted(EDUCATION)) == sorted(EDUCATION)  # not every label starts with a number
    assert category_order(sorted(EDUCATION), EDUCATION) == EDUCATION
    # Labels the declaration does not list follow it in their own order; declared values match as text.
    assert category_order(["Refused", "Don't know", *EDUCATION[::-1]], EDUCATION) == [*EDUCATION, "Don't know",
                                                                                       "Refused"]
    assert category_order(["2", "1", "3"], [3, 1]) == ["3", "1", "2"]
    assert category_order([]) == []


def test_confusion_matrix_is_drawn_in_category_order_with_its_counts_kept() -> None:
    labels = sorted(INCOME)  # as the quality report stores them
    matrix = np.arange(25).reshape(5, 5)
    column = ColumnQuality("income", "categorical", rows=int(matrix.sum()), metrics={"accuracy": 0.1},
                           baseline={"accuracy": 0.2}, confusion={"labels": labels, "matrix": matrix.tolist()})
    heatmap = confusion_figure(column).data[0]
    assert list(heatmap.x) == list(heatmap.y) == INCOME
    z = np.asarray(heatmap.z)
    for i, real in enumerate(INCOME):
        for j, imputed in enumerate(INCOME):
            assert z[i, j] == matrix[labels.index(real), labels.index(imputed)]
    declared = INCOME[::-1]
    figures = report_figures(QualityReport("knn", 10, 5, [column]), {"income": declared})
    assert list(figures["income"].data[0].x) == declared


def test_html_report_embeds_plotly_and_says_which_imputer_ran_and_why() -> None:
    page = report_html(_report(), {"requested": "auto", "name": "knn", "reason": "because the test says so"})
    assert page.count("<script>/**\n* plotly.js v") == 1, "plotly.js inline, once"
    assert re.search(r"<script[^>]*\bsrc=", page) is None, "no script is fetched: the page works offline"
    text = readable(page)
    assert "Imputation quality: knn" in text and "because the test says so" in text
    assert "absent from the rows the imputer was fitted on" in text
    assert len(plotly_figures(page)) == 2


def _table_with_unseen_categories(tmp_path: Path, imputer: str = "knn") -> tuple[RunConfig, pd.DataFrame]:
    """A private table whose 'group' (sensitive) and 'site' (public) hold categories that its support lacks."""
    rng = np.random.default_rng(1)
    rows = 460
    x = rng.normal(size=rows)
    table = pd.DataFrame({
        "x": x,
        "site": rng.choice(["north", "south"], size=rows),
        "age": 50 + 10 * x,
        "group": np.where(x > 0, "a", "b"),
        "y": (x + rng.normal(size=rows) > 0).astype(int),
    })
    private, support = table.iloc[:360].copy(), table.iloc[360:].copy()
    private.loc[private.index[:40], "group"] = "rare"
    private.loc[private.index[40:60], "site"] = "island"
    path = tmp_path / "private.csv"
    private.to_csv(path, index=False)
    spec = TableSpec(target="y", sensitive=("age", "group"), categorical=("site", "group"))
    config = RunConfig.build(data=str(path), spec=spec, imputer=imputer, epochs=1, batch_size=32, public_batch_size=64,
                             modes=["fusiondp"])
    return config, support


@pytest.mark.parametrize("imputer", ["knn", "gbdt"])
def test_categories_unseen_in_the_support_set_are_reported_and_nothing_crashes(
    tmp_path: Path, imputer: str, caplog: pytest.LogCaptureFixture
) -> None:
    config, support = _table_with_unseen_categories(tmp_path, imputer)
    with caplog.at_level(logging.WARNING, logger="fusiondp.preparation"):
        prepared = prepare(config, support=support)

    assert set(prepared.hybrid_train["group"]) <= {"a", "b"}, "imputers predict support categories only"
    assert [n for n in prepared.quality.notes if "'site'" in n] == [
        "Public column 'site': 'island' never occur in the support set; the imputer treats them as missing and the "
        "encoder as an all-zero 'other' code."]
    private_notes = [r.getMessage() for r in caplog.records if "'group'" in r.getMessage()]
    assert len(private_notes) == 1 and "'rare'" in private_notes[0] and "not for publication" in private_notes[0]
    assert not any("rare" in note for note in prepared.notes), "private categories never reach saved results"
    assert not any("rare" in note for note in prepared.quality.notes), "the public report never reads private values"

    encoder = prepared.encoder
    assert "group=rare" not in encoder.feature_names_
    group_block = [i for i, name in enumerate(encoder.feature_names_) if name.startswith("group=")]
    rare = torch.from_numpy((prepared.splits.train["group"] == "rare").to_numpy(copy=True))
    assert rare.any()
    assert torch.all(prepared.tensors.x_real[rare][:, group_block] == 0), "unseen category → all-zero 'other' code"

    record = train_run(prepared, "fusiondp", 0)
    assert np.isfinite(record.metrics["auroc"])


def test_cli_impute_report_writes_json_and_offline_html(tmp_path: Path) -> None:
    config, support = _table_with_unseen_categories(tmp_path)
    support_path = tmp_path / "support.csv"
    support.to_csv(support_path, index=False)
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["impute", "--data", config.data, "--target", "y", "--sensitive", "age,group",
                                      "--categorical", "site,group", "--support-data", str(support_path),
                                      "--imputer", "knn", "--report", str(out)])
    assert result.exit_code == 0, result.output
    assert "imputer: knn (requested explicitly)" in result.output
    assert "note: Public column 'site': 'island'" in result.output

    saved = json.loads((out / "imputation.json").read_text())
    assert saved["name"] == "knn" and saved["reason"] == "requested explicitly"
    group = next(c for c in saved["quality"]["columns"] if c["column"] == "group")
    assert sum(map(sum, group["confusion"]["matrix"])) == group["rows"]
    page = (out / "imputation.html").read_text()
    assert "<script>/**\n* plotly.js v" in page and re.search(r"<script[^>]*\bsrc=", page) is None
    assert len(plotly_figures(page)) == 2
