"""Privacy preflight and the plain-language statement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fusiondp.config import RunConfig
from fusiondp.errors import PrivacyError
from fusiondp.preparation import prepare
from fusiondp.privacy.accounting import epsilon_spent
from fusiondp.privacy.preflight import ProxyScore, _proxy_evidence, check_strict, preflight, proxy_scores
from fusiondp.privacy.statement import attacker_tpr_bound, epsilon_delta_tpr_bound
from fusiondp.runs import train_run
from fusiondp.spec import TableSpec


def _planted(sample_table: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    age = sample_table["age"]
    return sample_table.assign(
        age_band=(age // 10 * 10).astype("Int64").astype(str),
        noisy_age=age + rng.normal(0, 9, len(age)),
        lottery=rng.normal(size=len(age)),
        record_id=[f"R{i:06d}" for i in range(len(age))],
    )


def test_planted_proxies_are_flagged_at_the_right_severity(sample_table, sample_spec) -> None:
    findings = preflight(_planted(sample_table), sample_spec)
    by_columns = {(f.code, f.columns): f for f in findings}
    assert by_columns[("proxy", ("age_band", "age"))].severity == "high"
    assert by_columns[("proxy", ("noisy_age", "age"))].severity == "medium"
    assert not any("lottery" in f.columns for f in findings)
    assert by_columns[("identifying", ("record_id",))].severity == "low"
    assert by_columns[("joint_proxy", ("age",))].severity == "medium", "age_band makes all public columns a proxy"
    assert findings[0].severity == "high", "most severe first"
    with pytest.raises(PrivacyError, match="age_band"):
        check_strict(findings)


def test_sample_data_has_no_high_finding(sample_table, sample_spec) -> None:
    assert not [f for f in preflight(sample_table, sample_spec) if f.severity == "high"]


@pytest.mark.slow
def test_delta_target_and_support_problems(sample_table, sample_spec) -> None:
    codes = {f.code for f in preflight(sample_table, sample_spec, config=RunConfig(delta=1e-3))}
    assert "delta" in codes
    small = preflight(sample_table, sample_spec, config=RunConfig(support_fraction=0.02))
    assert "small_support" in {f.code for f in small}
    sensitive_target = sample_spec.model_copy(update={"sensitive": (*sample_spec.sensitive, "diabetes")})
    (finding,) = preflight(sample_table, sensitive_target)
    assert finding.code == "target_sensitive" and "dpsgd" in finding.action


@pytest.mark.slow
def test_preflight_never_reads_private_sensitive_values(sample_table, sample_spec) -> None:
    table = _planted(sample_table).assign(row_id=np.arange(len(sample_table)))
    spec = sample_spec.model_copy(update={"ignore": ("row_id",)})
    base = preflight(table, spec)
    support_ids = set(prepare(RunConfig(spec=spec, imputer="gbdt", epochs=1), table=table).splits.support["row_id"])
    scrambled = table.copy()
    private = ~scrambled["row_id"].isin(support_ids)
    rng = np.random.default_rng(1)
    for column in spec.sensitive:
        scrambled.loc[private, column] = rng.choice(table[column].dropna().unique(), size=int(private.sum()))
    assert preflight(scrambled, spec) == base


@pytest.mark.slow
def test_statement_numbers_match_the_accountant(sample_spec) -> None:
    from tests.conftest import SAMPLE_CSV

    prepared = prepare(RunConfig(data=str(SAMPLE_CSV), spec=sample_spec, imputer="gbdt", epochs=2, epsilon=2.0))
    ledger = train_run(prepared, "fusiondp", 0).privacy
    spent = epsilon_spent(ledger.sigma, ledger.sampling_rate, ledger.steps, ledger.delta, "rdp")
    assert f"ε = {spent:.3g}" in ledger.statement and "age, gender" in ledger.statement
    for fpr in (0.01, 0.05):
        tight = attacker_tpr_bound(ledger, fpr)
        assert fpr <= tight <= epsilon_delta_tpr_bound(spent, ledger.delta, fpr)
        assert f"{tight:.1%}" in ledger.statement
    assert "Not protected" in ledger.statement and "label" in ledger.statement


def _length_of_stay_table(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """An ICU-like table: a heavy-tailed sensitive length of stay, its decile bins planted as a
    public column (what a "LOS band" column in a hospital extract is), and public columns unrelated to it."""
    rng = np.random.default_rng(seed)
    los = np.round(np.exp(rng.normal(1.2, 1.4, rows)), 1)
    lab = rng.normal(size=rows)
    age = rng.integers(18, 90, rows)
    died = (rng.random(rows) < 1 / (1 + np.exp(-(0.8 * lab + 0.02 * (age - 50))))).astype(int)
    return pd.DataFrame({"los_days": los, "age": age, "lab": lab, "unit": rng.choice(["a", "b", "c"], rows),
                         "los_band": pd.qcut(los, 10).astype(str), "died": died})


LOS_SPEC = TableSpec(target="died", sensitive=["los_days"], categorical=["unit", "los_band"])


def test_decile_bins_of_a_skewed_sensitive_column_are_a_high_proxy() -> None:
    """The top decile spans most of the range, so group means explain little of the variance in days
    (R² ≈ 0.6, "medium" before); yet the band pins every stay's rank to within a tenth."""
    table = _length_of_stay_table()
    top = table.loc[table["los_days"] >= table["los_days"].quantile(0.9), "los_days"]
    assert top.max() > 10 * top.min(), "the planted column must be a skewed one"
    findings = preflight(table, LOS_SPEC)
    (proxy,) = [f for f in findings if f.code == "proxy" and f.columns == ("los_band", "los_days")]
    assert proxy.severity == "high"
    assert "raises the imputer's held-out R² on the rank scale" in proxy.evidence
    with pytest.raises(PrivacyError, match="los_band"):
        check_strict(findings)


def test_a_proxy_that_adds_nothing_to_the_others_is_not_said_to_raise_the_imputation() -> None:
    """Issue 29.12: "raises the imputer's held-out R² … from 1.00 to 1.00" described a change that is none."""
    support = _length_of_stay_table()
    same = _proxy_evidence(LOS_SPEC, support, "los_band", "los_days", ProxyScore(0.99, 0.996, 1.0))
    assert "raises" not in same and "from 1.00 to 1.00" not in same
    assert "the other public columns predict it as well without it (the imputer's held-out R² on the rank scale is " \
           "1.00 without it, 1.00 with it)" in same
    more = _proxy_evidence(LOS_SPEC, support, "los_band", "los_days", ProxyScore(0.9, 0.40, 0.95))
    assert "raises the imputer's held-out R² on the rank scale from 0.40 to 0.95" in more


def test_unrelated_public_columns_are_no_proxy() -> None:
    table = _length_of_stay_table().drop(columns="los_band")
    spec = LOS_SPEC.model_copy(update={"categorical": ("unit",)})
    findings = preflight(table, spec)
    assert not [f for f in findings if f.code in ("proxy", "joint_proxy")]
    check_strict(findings)
    support = prepare(RunConfig(spec=spec, imputer="gbdt", epochs=1), table=table).splits.support
    scores = proxy_scores(spec.resolve(table), support, "los_days")
    assert max(score.strength for score in scores.values()) < 0.2


def test_preflight_reuses_the_runs_cross_fitted_quality_instead_of_fitting_an_imputer(
        sample_table, sample_spec, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given the prepared run's quality report, the joint-proxy check fits nothing and reads that report."""
    import fusiondp.impute

    config = RunConfig.build(spec=sample_spec, imputer="gbdt", epochs=1)
    prepared = prepare(config, table=sample_table)
    planted = prepared.quality.columns[0]
    planted.metrics["r2"] = 0.99  # the report is what the check reads: a near-perfect joint proxy for 'age'

    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("the preflight fitted a second imputer")

    monkeypatch.setattr(fusiondp.impute, "choose_imputer", no_fit)
    findings = preflight(sample_table, sample_spec, config=config, splits=prepared.splits, quality=prepared.quality)
    assert [f.columns for f in findings if f.code == "joint_proxy"] == [(planted.column,)]
