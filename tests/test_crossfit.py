"""One imputer fit per preparation: the quality report, λ and C_h read the cross-validation's out-of-fold imputations.

The checks recompute the cross-fitted scores by hand (scikit-learn and a KFold, no library code in between),
count the fits, and show that every support row, not a held-out part, is scored and fed to λ and C_h.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import KFold

from fusiondp.config import RunConfig
from fusiondp.impute import MISSING_STATE, QualityReport
from fusiondp.impute.columnwise import DEFAULT_CV_FOLDS, ColumnwiseImputer
from fusiondp.impute.gbdt import MAX_BINS, PublicFeatureCoder
from fusiondp.preparation import prepare
from fusiondp.prepared import PreparedData
from fusiondp.reference import expected_encoding, shrinkage
from fusiondp.spec import TableSpec
from tests.test_impute_states import make_table

SEED = 0


@pytest.fixture(scope="module")
def parts() -> tuple[pd.DataFrame, pd.DataFrame, TableSpec]:
    table, spec = make_table(900, 3)
    return table.iloc[:400].reset_index(drop=True), table.iloc[400:].reset_index(drop=True), spec


def config(spec: TableSpec, **values: object) -> RunConfig:
    return RunConfig.build(**{"spec": TableSpec(target="y", sensitive=spec.sensitive, categorical=spec.categorical),
                              "imputer": "gbdt", "epochs": 1, "batch_size": 32, "modes": ["fusiondp"],
                              "split_seed": SEED, **values})


@pytest.fixture(scope="module")
def prepared(parts: tuple) -> PreparedData:
    support, private, spec = parts
    return prepare(config(spec), table=private, support=support)


def count_fits(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count whole-imputer fits and single-model fits (every cross-validation fold is one)."""
    counts = {"imputer": 0, "model": 0}
    fit, fit_model = ColumnwiseImputer.fit, ColumnwiseImputer._fit_model

    def counted_fit(self: ColumnwiseImputer, *args: object, **kwargs: object) -> ColumnwiseImputer:
        counts["imputer"] += 1
        return fit(self, *args, **kwargs)

    def counted_model(self: ColumnwiseImputer, *args: object, **kwargs: object) -> object:
        counts["model"] += 1
        return fit_model(self, *args, **kwargs)

    monkeypatch.setattr(ColumnwiseImputer, "fit", counted_fit)
    monkeypatch.setattr(ColumnwiseImputer, "_fit_model", counted_model)
    return counts


def test_one_imputer_fit_per_preparation(parts: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    support, private, spec = parts
    counts = count_fits(monkeypatch)
    again = prepare(config(spec), table=private, support=support)
    assert counts["imputer"] == 1
    selection = again.fitted_imputer.selection_
    tasks = [d for s in selection.values() for d in (s.value, s.missing) if d is not None]
    chosen = sum(d.used == "model" for d in tasks)
    # every task cross-validated (no one-state task here), plus one final fit per task where the model won
    assert counts["model"] == DEFAULT_CV_FOLDS * len(tasks) + chosen


def test_cross_fitted_quality_equals_a_manual_k_fold(prepared: PreparedData) -> None:
    support = prepared.splits.support
    coder = PublicFeatureCoder(prepared.spec).fit(support)  # the public columns as codes; the target is not one
    features, categorical_mask = coder.transform(support), coder.native_categorical_mask(MAX_BINS)
    folds = list(KFold(DEFAULT_CV_FOLDS, shuffle=True, random_state=SEED).split(features))
    settings = dict(max_iter=100, learning_rate=0.1, max_leaf_nodes=15, max_bins=MAX_BINS,
                    categorical_features=categorical_mask,
                    early_stopping=True, validation_fraction=0.1, n_iter_no_change=10, random_state=SEED)
    scored = {c.column: c for c in prepared.quality.columns}

    # a categorical column the model wins ('sign' follows x): accuracy of out-of-fold predictions
    sign = support["sign"].to_numpy()
    predicted = np.empty(len(sign), dtype=object)
    for train, test in folds:
        predicted[test] = HistGradientBoostingClassifier(**settings).fit(features[train], sign[train]).predict(
            features[test])
    assert prepared.fitted_imputer.selection_["sign"].value.used == "model"
    assert scored["sign"].metrics["accuracy"] == pytest.approx(float(np.mean(predicted == sign)))
    assert scored["sign"].rows == len(support), "every support row scored, none held out"

    # a numeric column the model wins ('age'): RMSE of out-of-fold predictions
    age = support["age"].to_numpy(dtype=float)
    values = np.empty(len(age))
    for train, test in folds:
        values[test] = HistGradientBoostingRegressor(**settings).fit(features[train], age[train]).predict(
            features[test])
    assert scored["age"].metrics["rmse"] == pytest.approx(float(np.sqrt(np.mean((values - age) ** 2))))

    # a column where the baseline won ('noise_cat'): each fold's majority, and its frequencies as probabilities
    noise = support["noise_cat"].to_numpy()
    majority = np.empty(len(noise), dtype=object)
    frequency_a = np.empty(len(noise))
    for train, test in folds:
        counts = pd.Series(noise[train]).value_counts()
        majority[test] = counts.idxmax()
        frequency_a[test] = counts.get("a", 0) / len(train)
    assert prepared.fitted_imputer.selection_["noise_cat"].value.used == "baseline"
    assert scored["noise_cat"].metrics["accuracy"] == pytest.approx(float(np.mean(majority == noise)))
    np.testing.assert_allclose(prepared.fitted_imputer.cross_fitted_.states["noise_cat"]["a"], frequency_a)


def test_report_says_cross_fitted_and_keeps_its_schema(prepared: PreparedData) -> None:
    saved = prepared.quality.to_dict()
    assert {"imputer", "fit_rows", "holdout_rows", "rows_used", "synthetic", "columns", "notes"} <= set(saved)
    assert saved["fit_rows"] == saved["holdout_rows"] == len(prepared.splits.support)
    assert saved["cross_fitted"] == DEFAULT_CV_FOLDS and "cross-fitted" in saved["rows_used"]
    assert QualityReport.from_dict(saved) == prepared.quality
    old = {k: v for k, v in saved.items() if k != "cross_fitted"}  # a results.json written before cross-fitting
    assert QualityReport.from_dict(old).rows_used().startswith("held-out support rows")


def test_lambda_and_c_h_read_every_support_row_with_its_cross_fitted_reference(prepared: PreparedData) -> None:
    support, encoder = prepared.splits.support, prepared.encoder
    crossfit = prepared.fitted_imputer.cross_fitted_
    assert len(prepared.tensors.support_real) == len(support)
    real = encoder.transform(support)
    np.testing.assert_array_equal(prepared.tensors.support_real.numpy(), real)
    expected = expected_encoding(encoder, crossfit.imputed, crossfit.states)
    assert shrinkage(encoder, real, expected, encoder.transform_uninformative(support)) == prepared.shrinkage
    # cross-fitted, not in-sample: the final imputer's own predictions of the support rows differ somewhere
    in_sample = prepared.fitted_imputer.predict_proba_states(support)["group"]
    assert not np.allclose(crossfit.states["group"].to_numpy(), in_sample.to_numpy())
    assert list(crossfit.states["group"].columns) == ["low", "mid", MISSING_STATE]


def test_one_fit_with_user_provided_imputations_too(parts: tuple, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    support, private, spec = parts
    table = pd.concat([support.assign(part="support"), private.assign(part="train")], ignore_index=True)
    table.loc[table.index[-150:], "part"] = "test"
    table.loc[table.index[-200:-150], "part"] = "val"
    imputed = table.assign(age=50.0)
    path = tmp_path / "imputed.csv"
    imputed.to_csv(path, index=False)
    counts = count_fits(monkeypatch)
    given = prepare(config(spec, split_column="part", hybrid_data=str(path)), table=table)
    assert counts["imputer"] == 1
    assert given.quality.holdout_rows == given.builtin_quality.holdout_rows == len(support)
    age = {c.column: c for c in given.quality.columns}["age"]
    assert age.metrics["rmse"] == pytest.approx(float(np.sqrt(np.mean((support["age"] - 50.0) ** 2))))
