"""Sweeps, selection and reports on multi-class, multi-label and regression targets: every row carries the
kind's metrics, the tuned path ranks runs by the kind's validation metric, and that metric is what an
independent scikit-learn computation gives for the same retrained model."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import r2_score, roc_auc_score
from typer.testing import CliRunner

from fusiondp.cli import app
from fusiondp.figures import training_figure
from fusiondp.preparation import channels_for, prepare
from fusiondp.runs import fit_run
from fusiondp.selection import select_best
from fusiondp.sweep_grid import SweepGrid
from fusiondp.train.loop import predict_proba
from tests.cli_runner import run_cli
from tests.conftest import ROOT
from tests.pages import plotly_figures, readable, title

TABLES = {"multiclass": ROOT / "sample_data" / "nhanes_glycemic.csv",
          "multilabel": ROOT / "sample_data" / "nhanes_conditions.csv",
          "regression": ROOT / "sample_data" / "nhanes_systolic_bp.csv"}
KIND_COLUMNS = {"multiclass": (("auroc", "accuracy", "macro_f1", "val_auroc", "val_auroc_real"),
                               ("auprc", "f1", "brier", "r2", "val_r2")),
                "multilabel": (("auroc", "micro_f1", "macro_f1", "val_auroc", "val_auroc_real"),
                               ("auprc", "accuracy", "f1", "brier", "r2", "val_r2")),
                "regression": (("r2", "rmse", "mae", "val_r2", "val_r2_real"),
                               ("auroc", "auprc", "accuracy", "brier", "val_auroc", "val_auroc_real"))}
HEADERS = {"multiclass": ("AUROC", "accuracy"), "multilabel": ("AUROC", "micro-F1"), "regression": ("R²", "RMSE")}
CURVES = {"multiclass": ("AUROC vs ε", "accuracy vs ε", "FusionDP gain in AUROC"),
          "multilabel": ("AUROC vs ε", "micro-F1 vs ε", "FusionDP gain in AUROC"),
          "regression": ("R² vs ε", "RMSE vs ε", "FusionDP gain in R²")}
VALIDATION = {"multiclass": "val_auroc", "multilabel": "val_auroc", "regression": "val_r2"}


def _grid(kind: str) -> dict:
    data = TABLES[kind]
    return {"base": {"data": str(data), "spec": str(data.with_suffix(".spec.yaml")), "imputer": "gbdt",
                     "imputer_params": {"max_iter": 20}, "epochs": 1,
                     "reproducible_noise": True},  # a test retrains one swept model: replayable noise
            "grid": {"modes": ["sgd_pub", "fusiondp"], "epsilon": [4], "alpha": [1, 3], "seeds": [0]}}


@pytest.fixture(scope="module", params=["multiclass", "multilabel", "regression"])
def cli_sweep(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[str, Path, subprocess.CompletedProcess]:
    """``fusiondp sweep`` of a small grid (sgd_pub once, fusiondp at two α) on one target kind's sample table."""
    kind = request.param
    folder = tmp_path_factory.mktemp(f"sweep_{kind}")
    grid = folder / "grid.json"
    grid.write_text(json.dumps(_grid(kind)), encoding="utf-8")
    result = run_cli("sweep", grid, "--out", folder / "out", "--workers", "1", "--quiet")
    assert result.returncode == 0, result.stderr
    return kind, folder / "out", result


@pytest.mark.slow
def test_sweep_rows_hold_the_kind_metrics_and_the_curve_table_its_labels(cli_sweep) -> None:
    kind, out, result = cli_sweep
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 3
    present, absent = KIND_COLUMNS[kind]
    for column in present:
        assert table[column].notna().all(), column
    assert not set(absent) & set(table.columns)
    header = next(line for line in result.stdout.splitlines() if line.startswith("ε "))
    assert all(label in header.split() for label in HEADERS[kind]) and "AUPRC" not in header
    assert "knob settings per mode, ε and seed: selected on imputed validation rows" in result.stdout
    entries = [json.loads(line) for line in (out / "runs.jsonl").read_text(encoding="utf-8").splitlines()]
    for entry in entries:  # the row's validation score is the last epoch's, as the loop reported it
        assert entry["row"][VALIDATION[kind]] == entry["record"]["history"][-1][VALIDATION[kind]]
    if kind == "regression":
        assert table["rmse"].between(5, 40).all(), "mm Hg, in the target's own units"


@pytest.mark.slow
@pytest.mark.parametrize("by", ["val_hybrid", "val_real"])
def test_selection_keeps_the_run_with_the_best_kind_validation_score(cli_sweep, by: str) -> None:
    kind, out, _ = cli_sweep
    table = pd.read_csv(out / "results.csv")
    column = VALIDATION[kind] + ("_real" if by == "val_real" else "")
    chosen = select_best(table, by=by)
    fusion = chosen[chosen["mode"] == "fusiondp"].iloc[0]
    candidates = table[table["mode"] == "fusiondp"]
    assert fusion["candidates"] == 2 and candidates[column].nunique() == 2
    assert fusion["key"] == candidates.loc[candidates[column].idxmax(), "key"]
    assert chosen.loc[chosen["mode"] == "sgd_pub", "candidates"].item() == 1


@pytest.mark.slow
def test_real_validation_score_matches_an_independent_computation(cli_sweep) -> None:
    """Retrain one swept model (deterministic per seed with reproducible noise) and score its real validation rows with
    scikit-learn: macro one-vs-rest AUROC for the classes, macro AUROC over the labels, R² in mm Hg for the
    regression."""
    kind, out, _ = cli_sweep
    table = pd.read_csv(out / "results.csv")
    row = table[(table["mode"] == "fusiondp") & (table["alpha"] == 3)].iloc[0]
    prepared = prepare(SweepGrid.from_dict(_grid(kind)).base).for_mode("fusiondp")  # at fusiondp's own encoding
    run = dataclasses.replace(prepared, config=prepared.config.model_copy(update={"epsilon": 4.0, "alpha": 3}))
    _, model = fit_run(run, "fusiondp", 0)
    task = prepared.tensors.task
    x_val = torch.as_tensor(prepared.encoder.transform(prepared.splits.val), dtype=torch.float32)
    x_val = torch.cat((x_val, channels_for(prepared, prepared.splits.val)), 1)  # fusiondp reads the imputation too
    predicted = predict_proba(model, x_val, task)
    target = prepared.splits.val[prepared.spec.target]
    if kind == "multiclass":
        classes = sorted(target.unique())
        expected = roc_auc_score(pd.Categorical(target, categories=classes).codes, predicted, multi_class="ovr",
                                 average="macro")
    elif kind == "multilabel":
        cells = [set(str(cell).split(";")) if isinstance(cell, str) else set() for cell in target]
        labels = sorted(set().union(*cells))
        expected = roc_auc_score([[label in cell for label in labels] for cell in cells], predicted, average="macro")
    else:
        expected = r2_score(target.to_numpy(dtype=float), predicted)
    assert row[VALIDATION[kind] + "_real"] == pytest.approx(expected, abs=1e-6)  # labels travel as float32
    assert np.isfinite(row[VALIDATION[kind]]) and row[VALIDATION[kind]] != row[VALIDATION[kind] + "_real"]


@pytest.mark.slow
def test_report_draws_the_kind_metrics_curves_and_names_the_image_after_them(cli_sweep) -> None:
    kind, out, _ = cli_sweep
    result = CliRunner().invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text(encoding="utf-8")
    figures = plotly_figures(page)  # decoded: the page spells a title as whichever JSON serializer wrote it
    titles = [title(figure) for figure in figures]
    assert len(titles) == len(CURVES[kind])
    for expected, drawn in zip(CURVES[kind], titles, strict=True):
        assert drawn.startswith(expected), (expected, drawn)
    text = readable(page)
    assert "AUPRC" not in text and "Brier" not in text
    label = HEADERS[kind][0]
    assert [figure["layout"]["yaxis"]["title"]["text"] for figure in figures[:2]] == [
        f"{label} on real test rows", f"{HEADERS[kind][1]} on real test rows"]
    metric = "r2" if kind == "regression" else "auroc"
    assert (out / f"privacy_utility_{metric}.svg").is_file() or "was not saved as SVG/PNG" in result.output


def test_live_training_chart_plots_and_labels_the_validation_metric_it_is_given() -> None:
    epochs = pd.DataFrame({"mode": ["fusiondp"] * 2, "seed": [0, 0], "epsilon": [1.0, 1.0], "epoch": [1, 2],
                           "val_auroc": [np.nan, np.nan], "val_r2": [0.1, 0.2]})
    figure = training_figure(epochs, "val_r2")
    assert figure.layout.yaxis.title.text == "validation R²"
    assert list(figure.data[0].y) == [0.1, 0.2]
    assert training_figure(epochs.assign(val_auroc=0.7)).layout.yaxis.title.text == "validation AUROC"
