"""The k-NN imputer: registered, offline, fitted on the support set only, robust to gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fusiondp.errors import DataError
from fusiondp.impute import available_imputers, choose_imputer
from fusiondp.impute.knn import KNNImputer, PublicFeatureScaler
from fusiondp.spec import TableSpec


def make_table(rows: int = 200, seed: int = 0) -> tuple[pd.DataFrame, TableSpec]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    table = pd.DataFrame({
        "x": x,
        "noise": rng.normal(size=rows),
        "site": np.where(x > 0, "east", "west"),
        "age": 40 + 10 * x,
        "sign": np.where(x > 0, "pos", "neg"),
        "y": rng.integers(0, 2, size=rows),
    })
    spec = TableSpec(target="y", sensitive=("age", "sign"), categorical=("site", "sign")).resolve(table)
    return table, spec


def test_knn_is_registered_and_available_offline() -> None:
    assert available_imputers()["knn"] is None
    choice = choose_imputer("knn", {"n_neighbors": 5})
    assert (choice.used, choice.params) == ("knn", {"n_neighbors": 5})


def test_knn_recovers_a_learnable_signal_and_keeps_categories() -> None:
    table, spec = make_table()
    support, query = table.iloc[:150], table.iloc[150:]
    imputed = KNNImputer(spec, n_neighbors=5).fit(support).transform(query[["x", "noise", "site", "y"]])
    assert np.corrcoef(imputed["age"], query["age"])[0, 1] > 0.9
    assert (imputed["sign"] == query["sign"]).mean() > 0.9
    assert set(imputed["sign"]) <= {"pos", "neg"}
    assert imputed.index.equals(query.index)


def test_knn_fills_missing_and_unseen_public_values_from_the_support_set() -> None:
    table, spec = make_table()
    support = table.iloc[:150].copy()
    support.loc[support.index[:10], "noise"] = np.nan
    scaler = PublicFeatureScaler(spec).fit(support)
    assert scaler.fill_["noise"] == pytest.approx(support["noise"].median())
    assert scaler.fill_["site"] == support["site"].mode().iloc[0]

    query = table.iloc[150:154].copy()
    query["noise"] = np.nan
    query["site"] = ["east", None, "mars", "west"]
    features = scaler.transform(query)
    assert np.isfinite(features).all()
    site = features[:, -2:]
    assert site[1].tolist() == ([1.0, 0.0] if scaler.fill_["site"] == "east" else [0.0, 1.0])
    assert site[2].tolist() == [0.0, 0.0], "a category the support never shows is all-zero"
    imputed = KNNImputer(spec).fit(support).transform(query)
    assert imputed[["age", "sign"]].notna().all().all()


def test_knn_handles_fewer_observed_rows_than_neighbours_and_empty_tables() -> None:
    table, spec = make_table(60)
    support = table.copy()
    support.loc[support.index[3:], "age"] = np.nan
    imputer = KNNImputer(spec, n_neighbors=15, cv_folds=0).fit(support)
    assert imputer.models_["age"].n_neighbors == 3
    checked = KNNImputer(spec, n_neighbors=15).fit(support)
    assert checked.selection_["age"].value.used == "baseline", "3 rows cannot show that the model beats the mean"
    assert "too few" in checked.selection_["age"].value.reason
    empty = imputer.transform(table.iloc[:0])
    assert empty.empty and {"age", "sign"} <= set(empty.columns)


def test_text_in_a_numeric_sensitive_support_column_is_a_data_error() -> None:
    table, spec = make_table(60)
    support = table.astype({"age": object})
    support.loc[support.index[:2], "age"] = "unknown"
    with pytest.raises(DataError, match=r"'age'.*'unknown'"):
        KNNImputer(spec).fit(support)


def test_a_sensitive_column_never_observed_in_the_support_set_is_a_data_error() -> None:
    table, spec = make_table(60)
    with pytest.raises(DataError, match="'sign' has no values in the support rows"):
        KNNImputer(spec).fit(table.assign(sign=None))
