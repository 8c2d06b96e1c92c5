"""Declared bounds of a regression target: labels clipped into them everywhere the model sees a label, the
support-set scaling read from clipped labels, predictions kept inside, and one clear error per misuse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from fusiondp.config import RunConfig
from fusiondp.errors import SpecError
from fusiondp.estimator import FusionDPRegressor
from fusiondp.preparation import prepare
from fusiondp.runs import fit_run
from fusiondp.spec import TableSpec
from fusiondp.task import Task, label_scaling
from fusiondp.train.loop import predict_proba
from tests.cli_runner import run_cli
from tests.conftest import ROOT

SYSTOLIC = ROOT / "sample_data" / "nhanes_systolic_bp.csv"
BOUNDS = (60.0, 260.0)


def _with_typos(rows: int = 1500) -> pd.DataFrame:
    """The systolic table with one label in twenty mistyped ×10 (e.g. 1200 for 120 mm Hg)."""
    table = pd.read_csv(SYSTOLIC).head(rows).copy()
    table.loc[table.index % 20 == 0, "systolic_bp"] *= 10
    return table


def _spec(**extra) -> TableSpec:
    return TableSpec.from_dict({**TableSpec.from_yaml(SYSTOLIC.with_suffix(".spec.yaml")).to_dict(), **extra})


def test_bounds_are_checked_when_declared() -> None:
    table = pd.DataFrame({"y": [1.5, 2.5, 3.25, 4.0] * 5, "a": range(20), "b": range(20)})
    with pytest.raises(SpecError, match=r"low < high \(got \[5\.0, 1\.0\]\)"):
        TableSpec.from_dict({"target": "y", "sensitive": ["a"], "target_bounds": [5, 1]})
    with pytest.raises(SpecError, match="two finite numbers"):
        TableSpec.from_dict({"target": "y", "sensitive": ["a"], "target_bounds": [0, float("inf")]})
    binary = table.assign(y=[0, 1] * 10)
    with pytest.raises(SpecError, match="target_bounds is set but target 'y' is binary"):
        TableSpec(target="y", sensitive=("a",), target_bounds=(0, 1)).with_roles(binary)
    spec = TableSpec(target="y", sensitive=("a",), target_bounds=(0, 10))
    assert spec.with_roles(table).target_kind == "regression"
    assert TableSpec.from_dict(yaml.safe_load(yaml.safe_dump(spec.to_dict()))) == spec


def test_task_clips_labels_scaling_and_predictions() -> None:
    support = pd.Series([100.0, 120.0, 140.0, 1400.0])
    center, scale = label_scaling(support, "y", BOUNDS)
    assert center == pytest.approx(np.mean([100, 120, 140, 260])) and scale == pytest.approx(np.std([100, 120, 140,
                                                                                                      260]))
    assert label_scaling(support, "y")[0] == pytest.approx(440.0), "unbounded: the typo pulls the mean"
    task = Task("regression", center=center, scale=scale, bounds=BOUNDS)
    outputs = torch.tensor([-100.0, 0.0, 100.0])
    assert task.predictions(outputs).tolist() == [60.0, pytest.approx(center), 260.0]
    assert task.clip(np.array([10.0, 150.0, 999.0])).tolist() == [60.0, 150.0, 260.0]


@pytest.mark.slow
def test_declared_bounds_clip_every_label_the_model_sees_and_bound_its_predictions() -> None:
    table = _with_typos()
    config = RunConfig.build(spec=_spec(target_bounds=list(BOUNDS)), imputer="gbdt",
                             imputer_params={"max_iter": 20}, epochs=1)
    prepared = prepare(config, table=table)
    task, tensors = prepared.tensors.task, prepared.tensors
    assert task.bounds == BOUNDS
    support = prepared.splits.support["systolic_bp"]
    assert support.max() > BOUNDS[1], "the support rows hold typos too"
    assert task.center == pytest.approx(support.clip(*BOUNDS).mean())
    for labels, rows in ((tensors.y, prepared.splits.train), (tensors.y_test, prepared.splits.test)):
        values = task.label_values(labels.cpu().numpy().astype(float))
        np.testing.assert_allclose(values, rows["systolic_bp"].clip(*BOUNDS), rtol=1e-5)
    _, model = fit_run(prepared, "sgd_pub", 0)
    x_test = tensors.x_test[:, tensors.public_features]
    predicted = predict_proba(model, x_test, task)
    assert BOUNDS[0] <= predicted.min() and predicted.max() <= BOUNDS[1]

    unbounded = prepare(config.model_copy(update={"spec": _spec()}), table=table)
    assert unbounded.tensors.task.bounds is None and unbounded.tensors.task.center > task.center + 20


@pytest.mark.slow
def test_cli_reads_bounds_from_the_spec_file(tmp_path: Path) -> None:
    data = tmp_path / "systolic_typos.csv"
    _with_typos().to_csv(data, index=False)
    spec = tmp_path / "systolic.spec.yaml"
    spec.write_text(yaml.safe_dump(_spec(target_bounds=list(BOUNDS)).to_dict()), encoding="utf-8")
    out = tmp_path / "out"
    result = run_cli("run", "--data", data, "--spec", spec, "--modes", "sgd_pub,fusiondp", "--epsilon", "4",
                     "--epochs", "1", "--imputer", "gbdt", "--quiet", "--out", out)
    assert result.returncode == 0, result.stderr
    records = json.loads((out / "results.json").read_text())["records"]
    assert all(r["config"]["spec"]["target_bounds"] == list(BOUNDS) for r in records)
    # RMSE against labels clipped into [60, 260]: mm Hg errors, not the 1000s of a typo
    assert all(5 < r["metrics"]["rmse"] < 60 for r in records)


@pytest.mark.slow
def test_cli_flag_declares_bounds_over_the_spec_file_and_refuses_a_bad_range(tmp_path: Path) -> None:
    data = tmp_path / "systolic_typos.csv"
    _with_typos().to_csv(data, index=False)
    out = tmp_path / "out"
    args = ["run", "--data", str(data), "--spec", str(SYSTOLIC.with_suffix(".spec.yaml")), "--modes", "sgd_pub",
            "--epochs", "1", "--imputer", "gbdt", "--quiet", "--out", str(out)]
    result = run_cli(*args, "--target-bounds", "60:260")
    assert result.returncode == 0, result.stderr
    (record,) = json.loads((out / "results.json").read_text())["records"]
    assert record["config"]["spec"]["target_bounds"] == list(BOUNDS)
    assert 5 < record["metrics"]["rmse"] < 60, "labels clipped into [60, 260]"
    for value, message in (("260", "--target-bounds takes LOW:HIGH"), ("260:60", "low < high")):
        refused = run_cli(*args, "--target-bounds", value)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    inline = run_cli("run", "--data", data, "--target-bounds", "60:260", "--out", out)
    assert inline.returncode == 2 and "--target-bounds needs column roles" in inline.stderr, inline.stderr


@pytest.mark.slow
def test_regressor_takes_bounds_as_a_parameter_and_keeps_predictions_inside() -> None:
    table = _with_typos()
    X, y = table.drop(columns=["systolic_bp"]), table["systolic_bp"]
    sensitive = list(_spec().sensitive)
    narrow = (100.0, 140.0)
    reg = FusionDPRegressor(target_bounds=narrow, epsilon=4.0, epochs=1, imputer="gbdt")
    assert reg.target_bounds == narrow and reg.epsilon == 4.0
    reg.fit(X[:1200], y[:1200], sensitive=sensitive)
    assert reg.prepared_.spec.target_bounds == narrow and reg.prepared_.tensors.task.bounds == narrow
    predicted = reg.predict(X[1200:])
    assert predicted.min() >= narrow[0] and predicted.max() <= narrow[1]
    unbounded = FusionDPRegressor(epsilon=4.0, epochs=1, imputer="gbdt").fit(X[:1200], y[:1200], sensitive=sensitive)
    assert unbounded.prepared_.tensors.task.bounds is None
    with pytest.raises(SpecError, match="low < high"):
        FusionDPRegressor(target_bounds=(140.0, 100.0)).fit(X[:1200], y[:1200], sensitive=sensitive)
