"""Multi-class and regression targets end to end: spec inference, the CLI, the estimators and the metrics."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from fusiondp.errors import DataError
from fusiondp.estimator import TARGET_COLUMN, FusionDPClassifier, FusionDPRegressor
from fusiondp.metrics import multiclass_metrics, regression_metrics
from fusiondp.spec import TableSpec, infer_target_kind
from tests.cli_runner import run_cli
from tests.conftest import ROOT

GLYCEMIC = ROOT / "sample_data" / "nhanes_glycemic.csv"
SYSTOLIC = ROOT / "sample_data" / "nhanes_systolic_bp.csv"
SENSITIVE = ["age", "gender", "race_ethnicity", "education", "marital_status", "income_poverty_ratio"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli(*args)


@pytest.mark.parametrize(("values", "kind"), [
    (["yes", "no", "yes"], "binary"),
    ([0, 1, 1, 0], "binary"),
    (["a", "b", "c", "a"], "multiclass"),
    ([1, 2, 3, 4, 2], "multiclass"),
    ([0.5, 1.0, 2.0], "regression"),
    (list(range(11)), "regression"),
    (["1.5", "2.5", "3.25"], "regression"),
])
def test_the_target_kind_is_inferred_from_the_target_values(values: list, kind: str) -> None:
    assert infer_target_kind(pd.Series(values)) == kind


def test_a_declared_kind_overrides_the_inference_and_too_many_text_classes_is_an_error() -> None:
    table = pd.DataFrame({"y": [1, 2, 3, 4] * 5, "a": range(20), "b": range(20)})
    assert TableSpec(target="y", sensitive=("a",)).with_roles(table).target_kind == "multiclass"
    assert TableSpec(target="y", sensitive=("a",), target_kind="regression").with_roles(table).target_kind \
        == "regression"
    with pytest.raises(DataError, match="too many to read as classes"):
        infer_target_kind(pd.Series([f"code {i}" for i in range(150)]), "y")


def test_multiclass_and_regression_metrics_have_their_known_values() -> None:
    perfect = multiclass_metrics(np.array([0, 1, 2, 2]), np.eye(3)[[0, 1, 2, 2]])
    assert perfect == {"auroc": 1.0, "accuracy": 1.0, "macro_f1": 1.0}
    wrong = multiclass_metrics(np.array([0, 1, 2]), np.eye(3)[[1, 2, 0]])
    assert wrong["accuracy"] == 0.0 and wrong["auroc"] == 0.25  # per class: the positive ties one negative
    rng = np.random.default_rng(0)
    labels, proba = rng.integers(0, 4, 200), rng.dirichlet(np.ones(4), 200)
    assert multiclass_metrics(labels, proba)["auroc"] == pytest.approx(
        roc_auc_score(labels, proba, multi_class="ovr", average="macro"))
    scores = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 6.0]))
    assert scores["mae"] == 0.5 and scores["rmse"] == 1.0 and scores["r2"] == pytest.approx(1 - 4 / 5)


@pytest.mark.slow
def test_cli_trains_a_multiclass_target_from_inline_roles(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _cli("run", "--data", str(GLYCEMIC), "--target", "glycemic_status", "--sensitive", ",".join(SENSITIVE),
                  "--target-kind", "multiclass", "--modes", "sgd_ori,dpsgd,feature_dp,fusiondp", "--epsilon", "4",
                  "--epochs", "2", "--imputer", "gbdt", "--quiet", "--out", str(out))
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("mode "))
    assert "AUROC" in header and "macro-F1" in header and "AUPRC" not in header
    results = json.loads((out / "results.json").read_text())
    summary = {row["mode"]: row for row in results["summary"]}
    assert set(results["records"][0]["metrics"]) == {"auroc", "accuracy", "macro_f1"}
    assert summary["sgd_ori"]["auroc_mean"] > 0.65, "HbA1c status is predictable from age, BMI and waist"
    assert summary["fusiondp"]["epsilon_spent"] <= 4.0
    assert all(np.isfinite(row["history"][-1]["val_auroc"]) for row in results["records"])
    assert results["records"][0]["config"]["spec"]["target_kind"] == "multiclass"


@pytest.mark.slow
def test_cli_trains_a_regression_target_from_its_spec_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _cli("run", "--data", str(SYSTOLIC), "--spec", str(SYSTOLIC.with_suffix(".spec.yaml")),
                  "--modes", "sgd_ori,sgd_pub,fusiondp", "--epsilon", "1,4", "--epochs", "2", "--imputer", "gbdt",
                  "--quiet", "--out", str(out))
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("mode "))
    assert "R²" in header and "RMSE" in header and "AUROC" not in header
    assert "Privacy-utility curve (R² on the real test rows" in result.stdout
    results = json.loads((out / "results.json").read_text())
    records = results["records"]
    assert {r["mode"] for r in records} == {"sgd_ori", "sgd_pub", "fusiondp"}
    assert all(set(r["metrics"]) == {"r2", "rmse", "mae"} for r in records)
    real = pd.read_csv(SYSTOLIC)["systolic_bp"]
    for record in records:  # in mm Hg, and better than predicting the mean (an RMSE of about one sd)
        assert 5 < record["metrics"]["mae"] < record["metrics"]["rmse"] < real.std()
        assert record["history"][-1]["val_r2"] is not None and record["history"][-1]["val_auroc"] is None


@pytest.mark.slow
def test_cli_refuses_text_declared_regression_with_one_error(tmp_path: Path) -> None:
    result = _cli("run", "--data", str(GLYCEMIC), "--target", "glycemic_status", "--sensitive", "age",
                  "--target-kind", "regression", "--epochs", "1", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "is declared regression but holds non-numeric values ('Prediabetes', 'Normal'" in result.stderr
    assert result.stderr.count("Error") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_classifier_takes_three_classes_and_regressor_answers_in_the_target_units() -> None:
    glycemic = pd.read_csv(GLYCEMIC)
    X, y = glycemic.drop(columns=["glycemic_status"]), glycemic["glycemic_status"]
    clf = FusionDPClassifier(epsilon=4.0, epochs=2, imputer="gbdt").fit(X[:3500], y[:3500], sensitive=SENSITIVE)
    proba = clf.predict_proba(X[3500:])
    assert list(clf.classes_) == ["Diabetes range", "Normal", "Prediabetes"]
    assert proba.shape == (len(X) - 3500, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert set(clf.predict(X[3500:])) <= set(clf.classes_)
    assert multiclass_metrics(pd.Categorical(y[3500:], categories=clf.classes_).codes, proba)["auroc"] > 0.6

    systolic = pd.read_csv(SYSTOLIC)
    X, y = systolic.drop(columns=["systolic_bp"]), systolic["systolic_bp"]
    reg = FusionDPRegressor(epsilon=4.0, epochs=2, imputer="gbdt").fit(X[:3500], y[:3500], sensitive=SENSITIVE)
    predicted = reg.predict(X[3500:])
    assert predicted.shape == (len(X) - 3500,) and 100 < predicted.mean() < 150
    assert reg.score(X[3500:], y[3500:]) > 0.05 and reg.epsilon_spent_ <= 4.0
    with pytest.raises(DataError, match=f"'{TARGET_COLUMN}'"):
        FusionDPRegressor().fit(X[:3500], y[:3500], sensitive=SENSITIVE, support=X[3500:])
