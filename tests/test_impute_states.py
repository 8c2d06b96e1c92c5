"""The imputers predict a sensitive value's full state (missing included) and never do worse than the baseline.

Missingness carried into the hybrid view, model-vs-baseline chosen by cross-validation on the support set,
recorded in the quality report, and a scramble guard: the private rows' sensitive values never matter.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError
from fusiondp.impute import MISSING_STATE, QualityReport, choose_imputer, format_quality_lines, quality_report
from fusiondp.impute.columnwise import ColumnwiseImputer
from fusiondp.impute.gbdt import GBDTImputer
from fusiondp.preparation import prepare
from fusiondp.spec import TableSpec

IMPUTERS = ["gbdt", "knn"]
AGREEMENT = {"gbdt": 0.98, "knn": 0.95}
"""Share of rows where the imputation is missing exactly when the real value is: k-NN blurs the threshold."""
SENSITIVE = ("lab", "group", "age", "sign", "noise_num", "noise_cat")


def make_table(rows: int, seed: int) -> tuple[pd.DataFrame, TableSpec]:
    """Public x, z, site; sensitive columns with known structure.

    ``lab`` (numeric) and ``group`` (categorical) are missing exactly when x > 0.5; ``age`` and ``sign``
    follow x closely; ``noise_num`` and ``noise_cat`` are independent of every public column.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    table = pd.DataFrame({
        "x": x,
        "z": rng.normal(size=rows),
        "site": rng.choice(["north", "south"], size=rows),
        "lab": np.where(x > 0.5, np.nan, 3 + x + 0.1 * rng.normal(size=rows)),
        "group": np.where(x > 0.5, None, np.where(x > -0.5, "mid", "low")),
        "age": 50 + 10 * x + rng.normal(size=rows),
        "sign": np.where(x > 0, "pos", "neg"),
        "noise_num": rng.normal(100, 5, size=rows),
        "noise_cat": rng.choice(["a", "b"], p=[0.7, 0.3], size=rows),
        "y": rng.integers(0, 2, size=rows),
    })
    spec = TableSpec(target="y", sensitive=SENSITIVE,
                     categorical=("site", "group", "sign", "noise_cat")).resolve(table)
    return table, spec


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame, TableSpec]:
    """A support set and private rows from one population."""
    table, spec = make_table(700, 0)
    return table.iloc[:400].reset_index(drop=True), table.iloc[400:].reset_index(drop=True), spec


def fitted(name: str, spec: TableSpec, support: pd.DataFrame, seed: int = 0) -> ColumnwiseImputer:
    imputer = choose_imputer(name).build(spec, seed).fit(support)
    assert isinstance(imputer, ColumnwiseImputer)
    return imputer


@pytest.mark.parametrize("name", IMPUTERS)
def test_missingness_is_carried_into_the_imputation(name: str, data: tuple) -> None:
    support, private, spec = data
    imputer = fitted(name, spec, support)
    imputed = imputer.transform(private[[*spec.public, spec.target]])
    really_missing = (private["x"] > 0.5).to_numpy()
    assert 0.2 < really_missing.mean() < 0.4
    for column in ("lab", "group"):
        agreement = (imputed[column].isna().to_numpy() == really_missing).mean()
        assert agreement > AGREEMENT[name], f"{column}: imputed NaN on {agreement:.1%} of the right rows"
        assert imputed[column].isna().mean() == pytest.approx(support[column].isna().mean(), abs=0.05)
    assert set(imputed["group"].dropna()) <= {"mid", "low"}
    assert pd.api.types.is_float_dtype(imputed["lab"])
    for column in ("age", "sign", "noise_num", "noise_cat"):
        assert imputed[column].notna().all(), "no missing in the support set → never missing in the imputation"
    assert imputer.states_["group"] == ["low", "mid", MISSING_STATE]
    assert imputer.selection_["lab"].missing is not None and imputer.selection_["lab"].missing.used == "model"
    assert imputer.selection_["age"].missing is None


def test_a_column_without_signal_gets_the_baseline_and_one_with_signal_gets_the_model(data: tuple) -> None:
    support, private, spec = data
    imputer = fitted("gbdt", spec, support)
    imputed = imputer.transform(private[[*spec.public, spec.target]])
    selection = imputer.selection_
    for column in ("noise_num", "noise_cat"):
        assert selection[column].value.used == "baseline", selection[column].value.reason
    assert selection["noise_num"].value.metric == "rmse"
    assert selection["noise_num"].value.model > selection["noise_num"].value.baseline
    assert (imputed["noise_num"] == support["noise_num"].mean()).all(), "baseline: the support mean"
    assert (imputed["noise_cat"] == support["noise_cat"].mode().iloc[0]).all(), "baseline: the majority class"
    for column in ("age", "sign", "lab", "group"):
        decision = selection[column].value
        assert decision.used == "model", decision.reason
        better = decision.model < decision.baseline if decision.metric == "rmse" else decision.model > decision.baseline
        assert better and selection[column].folds == 3
    assert (imputed["sign"] == private["sign"]).mean() > 0.95


def scrambled(private: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """The private rows with their sensitive values permuted, replaced by values never seen, dtypes flipped."""
    rng = np.random.default_rng(7)
    out = private.copy()
    out["lab"] = rng.permutation(out["lab"].to_numpy())
    out["age"] = [f"never-seen-{i}" for i in range(len(out))]  # numeric column → text
    out["noise_num"] = np.nan
    out["group"] = rng.normal(1e6, 1, size=len(out))  # categorical column → floats
    out["sign"] = "a category the support never shows"
    out["noise_cat"] = rng.integers(1000, 2000, size=len(out))
    assert set(out.columns) == set(private.columns) and all(c in spec.sensitive or out[c].equals(private[c])
                                                              for c in out.columns)
    return out


@pytest.mark.parametrize("name", IMPUTERS)
def test_scrambling_the_private_rows_sensitive_values_changes_no_imputation(name: str, data: tuple) -> None:
    support, private, spec = data
    imputer = fitted(name, spec, support)
    reference = imputer.transform(private)
    other = imputer.transform(scrambled(private, spec))
    pd.testing.assert_frame_equal(other[list(spec.sensitive)], reference[list(spec.sensitive)])
    public_only = imputer.transform(private[[*spec.public, spec.target]])
    pd.testing.assert_frame_equal(public_only[list(spec.sensitive)], reference[list(spec.sensitive)])
    for column, soft in imputer.predict_proba_states(scrambled(private, spec)).items():
        pd.testing.assert_frame_equal(soft, imputer.predict_proba_states(private)[column])


def test_the_same_seed_gives_the_same_imputer(data: tuple) -> None:
    support, private, spec = data
    first, again = fitted("gbdt", spec, support, seed=3), fitted("gbdt", spec, support, seed=3)
    pd.testing.assert_frame_equal(first.transform(private), again.transform(private))
    assert ({c: s.to_dict() for c, s in first.selection_.items()}
            == {c: s.to_dict() for c, s in again.selection_.items()})


def test_soft_outputs_cover_every_state_and_fall_back_to_the_support_frequencies(data: tuple) -> None:
    support, private, spec = data
    imputer = fitted("gbdt", spec, support)
    soft = imputer.predict_proba_states(private)
    assert set(soft) == {"group", "sign", "noise_cat", "lab"}
    assert list(soft["group"].columns) == ["low", "mid", MISSING_STATE]
    np.testing.assert_allclose(soft["group"].sum(axis=1), 1.0)
    assert soft["group"].index.equals(private.index)
    hard = imputer.transform(private)["group"].fillna(MISSING_STATE)
    assert (soft["group"].idxmax(axis=1) == hard).all(), "the imputation is the most likely state"
    frequencies = support["noise_cat"].value_counts(normalize=True)
    np.testing.assert_allclose(soft["noise_cat"].iloc[0][["a", "b"]], frequencies[["a", "b"]])
    assert list(soft["lab"].columns) == [MISSING_STATE]
    assert ((soft["lab"][MISSING_STATE] > 0.5) == imputer.transform(private)["lab"].isna()).all()


def test_the_quality_report_records_the_choice_and_the_missingness_and_warns_at_the_baseline(data: tuple) -> None:
    support, _, spec = data
    fit_rows, holdout = support.iloc[:300], support.iloc[300:].reset_index(drop=True)
    holdout_imputed = fitted("gbdt", spec, fit_rows).transform(holdout[[*spec.public, spec.target]])
    imputer = fitted("gbdt", spec, support)
    report = quality_report("gbdt", spec, fit_rows, holdout, holdout_imputed, selection=imputer.selection_)
    columns = {c.column: c for c in report.columns}

    assert columns["noise_num"].selection["value"]["used"] == "baseline"
    assert columns["age"].selection["value"]["used"] == "model"
    lab = columns["lab"]
    assert lab.missing["real_rate"] == pytest.approx(holdout["lab"].isna().mean())
    assert lab.missing["imputed_rate"] == pytest.approx(holdout_imputed["lab"].isna().mean())
    assert lab.missing["accuracy"] > lab.missing["baseline_accuracy"]
    assert np.isfinite(lab.metrics["rmse"]) and lab.rows == int((holdout["lab"].notna()
                                                                  & holdout_imputed["lab"].notna()).sum())
    assert columns["age"].missing is None
    assert QualityReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report

    lines = format_quality_lines(report)
    warned = {line.split(":")[1].strip() for line in lines if line.startswith("WARNING")}
    assert warned == {"noise_num", "noise_cat"}
    assert any(line.startswith("age (numeric): RMSE") and "used: model (the model beats the baseline by "
               "cross-validation: rmse" in line for line in lines)
    assert any(line.startswith("lab (numeric)") and "missing: " in line and "imputed" in line for line in lines)


def test_a_column_missing_in_the_support_but_never_imputed_missing_is_warned_about() -> None:
    table, spec = make_table(400, 1)
    holdout = table.iloc[300:].reset_index(drop=True)
    imputed = holdout.assign(lab=3.0)
    report = quality_report("gbdt", spec, table.iloc[:300], holdout, imputed)
    assert any(line.startswith("WARNING: lab:") and "never shows it" in line for line in format_quality_lines(report))


@pytest.mark.slow
def test_large_support_sets_are_subsampled_with_a_note_and_rare_classes_do_not_break_early_stopping() -> None:
    table, spec = make_table(400, 2)
    table.loc[0, "sign"] = "only-once"
    imputer = GBDTImputer(spec, max_support_rows=250, random_state=4).fit(table)
    assert all(len(rows) <= 250 for rows in imputer.support_rows_.values())
    assert any("subsampled to 250 of its 400 rows" in note and "seed 4" in note for note in imputer.notes_)
    assert GBDTImputer(spec).fit(table).transform(table)["sign"].notna().all()


@pytest.mark.parametrize("folds", [1, -2])
def test_cv_folds_must_be_zero_or_at_least_two(folds: int) -> None:
    _, spec = make_table(20, 0)
    with pytest.raises(ConfigError, match="cv_folds"):
        GBDTImputer(spec, cv_folds=folds)


def test_cv_folds_zero_always_uses_the_model(data: tuple) -> None:
    support, _, spec = data
    imputer = GBDTImputer(spec, cv_folds=0).fit(support)
    assert imputer.selection_["noise_num"].value.used == "model"
    assert imputer.selection_["noise_num"].value.model is None


def test_through_the_pipeline_scrambled_private_sensitive_values_change_neither_hybrid_view_nor_report() -> None:
    table, spec = make_table(700, 0)
    support, private = table.iloc[:300].reset_index(drop=True), table.iloc[300:].reset_index(drop=True)
    config = RunConfig.build(spec=TableSpec(target="y", sensitive=spec.sensitive, categorical=spec.categorical),
                             imputer="gbdt", epochs=1, batch_size=32, modes=["fusiondp"])
    real = prepare(config, table=private, support=support)
    other = prepare(config, table=scrambled(private, spec), support=support)
    sensitive = list(spec.sensitive)
    pd.testing.assert_frame_equal(other.hybrid_train[sensitive], real.hybrid_train[sensitive])
    assert other.quality.to_dict() == real.quality.to_dict()
    assert real.hybrid_train["lab"].isna().mean() == pytest.approx(support["lab"].isna().mean(), abs=0.05)
