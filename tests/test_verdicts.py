"""Verdicts: the plain-language lines printed beside a run's table."""

from __future__ import annotations

import pandas as pd
import pytest

from fusiondp.impute.quality import ColumnQuality, QualityReport
from fusiondp.record import PrivacyLedger, RunRecord
from fusiondp.verdicts import (
    coded_categories,
    imputation_verdicts,
    imputer_headline,
    nothing_flagged,
    run_verdicts,
    verdicts,
)


def summary(rows: list[tuple[str, float | None, float, float, float]], seeds: int = 3) -> pd.DataFrame:
    return pd.DataFrame([{"mode": m, "epsilon": e, "auroc_mean": a, "auroc_sd": sd, "f1_mean": f1, "seeds": seeds}
                         for m, e, a, sd, f1 in rows])


def test_a_model_that_never_predicts_positive_is_named() -> None:
    lines = verdicts(summary([("dpsgd", 1.0, 0.78, 0.01, 0.0), ("fusiondp", 1.0, 0.80, 0.01, 0.3)]))
    assert len(lines) == 1 and lines[0].startswith("dpsgd: F1 = 0")


def test_a_zero_epsilon_reference_beating_fusiondp_is_called_out_only_beyond_the_spread() -> None:
    clear = summary([("sgd_pub", None, 0.85, 0.005, 0.4), ("fusiondp", 1.0, 0.80, 0.01, 0.3),
                     ("fusiondp", 4.0, 0.86, 0.01, 0.3)])
    (line,) = verdicts(clear)
    assert line.startswith("sgd_pub") and "ε = 1 " in line and "4" not in line.split("at ε =")[1].split("by")[0]
    within = summary([("sgd_pub", None, 0.81, 0.01, 0.4), ("fusiondp", 1.0, 0.80, 0.01, 0.3)])
    assert verdicts(within) == []


def test_one_seed_claims_no_comparison_but_says_how_to_tell() -> None:
    rows = [("sgd_pub", None, 0.9, 0.0, 0.4), ("dpsgd", 1.0, 0.9, 0.0, 0.4), ("fusiondp", 1.0, 0.7, 0.0, 0.3)]
    (line,) = verdicts(summary(rows, seeds=1))
    assert "sgd_pub (ε = 0 for the sensitive columns) is above fusiondp at ε = 1" in line
    assert "dpsgd" not in line, "private baselines are fusiondp.comparison's, paired by seed"
    assert "One seed: no spread" in line and "beats" not in line
    assert len(verdicts(summary([(m, e, a, 0.01, f) for m, e, a, _, f in rows]))) == 1
    ahead = [("sgd_pub", None, 0.6, 0.0, 0.4), ("fusiondp", 1.0, 0.7, 0.0, 0.3)]
    assert verdicts(summary(ahead, seeds=1)) == []


def test_a_reference_has_no_epsilon_and_is_named_once() -> None:
    """Issue 29.11: "sgd_pub at ε = 1, sgd_pub at ε = 2, …" gave a reference the ε of the fusiondp models."""
    rows = [("sgd_pub", None, 0.9, 0.0, 0.4), *(("fusiondp", e, 0.7, 0.0, 0.3) for e in (1.0, 2.0, 4.0))]
    (line,) = verdicts(summary(rows, seeds=1))
    assert line.count("sgd_pub") == 1 and "sgd_pub at ε" not in line
    assert "sgd_pub (ε = 0 for the sensitive columns) is above fusiondp at ε = 1, 2, 4." in line


def record(mode: str, auroc: float, epsilon: float | None, cancelled: bool = False,
           quality: QualityReport | None = None) -> RunRecord:
    ledger = PrivacyLedger(epsilon_target=epsilon, epsilon_spent=epsilon, delta=1e-5, sigma=None, sampling_rate=None,
                           steps=1, max_grad_norm=None, accountant=None, adjacency="none")
    return RunRecord(mode=mode, seed=0, config={"epsilon": epsilon}, metrics={"auroc": auroc, "f1": 0.4},
                     privacy=ledger, imputer={"name": "gbdt", "quality": quality.to_dict() if quality else None},
                     timing={"wall_time_s": 1.0}, history=[], data={}, cancelled=cancelled)


def test_nothing_flagged_says_only_what_was_checked_and_nothing_of_what_did_not_train() -> None:
    """Issue 29.3: after a cancel, "no baseline beats fusiondp" was said though no fusiondp model had finished."""
    good = quality(accuracy=0.7, r2=0.2)
    cancelled = [record("sgd_pub", 0.9, None, quality=good), record("fusiondp", 0.1, 1.0, cancelled=True)]
    assert run_verdicts(cancelled) == [], "a model cut off mid-training is judged by nothing"
    said = nothing_flagged(cancelled)
    assert "no fusiondp model finished, so nothing is said about it" in said
    assert "beats fusiondp" not in said and "above fusiondp" not in said
    finished = [record("sgd_pub", 0.6, None, quality=good), record("fusiondp", 0.8, 1.0)]
    assert run_verdicts(finished) == []
    assert nothing_flagged(finished) == (
        "Nothing flagged: every model predicts both classes; the imputation beats its baseline on every sensitive "
        "column; no zero-ε reference (sgd_pub, sgd_hybrid) scores clearly above fusiondp.")


def test_nothing_flagged_names_the_check_of_a_modalitys_imputation_in_its_words() -> None:
    """The notes' modality says what was checked of its hybrid-note generator (``Modality.IMPUTATION_CHECKED``),
    found from the record's config."""
    notes = [record("fusiondp", 0.8, 1.0, quality=quality(accuracy=0.7, r2=0.2))]
    notes[0].config = {"epsilon": 1.0, "text": {"text_column": "note", "target": "good"}}
    assert nothing_flagged(notes) == ("Nothing flagged: every model predicts both classes; the surrogates beat the "
                                      "majority value on every span type.")


def test_a_few_whole_numbers_in_a_numeric_column_are_named_as_possible_codes() -> None:
    report = quality(accuracy=0.7, r2=0.2)
    report.columns.append(ColumnQuality("smoker", "numeric", 200, {"rmse": 0.4, "mae": 0.3, "r2": 0.1},
                                        {"rmse": 0.5, "mae": 0.4, "r2": 0.0}))
    support = pd.DataFrame({"smoker": [0, 1, 1, None, 0, 1], "income": [0.5, 1.2, 3.0, 2.0, 1.0, 1.0]})
    assert coded_categories(report, support) == {"smoker": [0.0, 1.0]}, "income has fractions: a number"
    assert coded_categories(report, support.assign(smoker=[0, 1, 2, 3, 4.5, 1])) == {}
    assert coded_categories(report, support.assign(smoker=[0, 10, 20, 30, 40, 0])) == {
        "smoker": [0.0, 10.0, 20.0, 30.0, 40.0]}
    assert coded_categories(report, support.assign(smoker=range(6))) == {}, "six values: perhaps a count"


def quality(accuracy: float, r2: float) -> QualityReport:
    return QualityReport("gbdt", 200, 200, [
        ColumnQuality("race", "categorical", 200, {"accuracy": accuracy, "macro_f1": 0.2},
                      {"accuracy": 0.6, "macro_f1": 0.1}),
        ColumnQuality("income", "numeric", 200, {"rmse": 1.0, "mae": 0.8, "r2": r2},
                      {"rmse": 1.1, "mae": 0.9, "r2": 0.0}),
    ])


def test_an_imputation_no_better_than_its_baseline_is_named_with_what_to_try() -> None:
    (line,) = imputation_verdicts(quality(accuracy=0.6, r2=0.2))
    assert "race (accuracy 0.600 vs baseline 0.600)" in line and "income" not in line
    assert "Try:" in line and "sgd_pub" in line
    assert imputation_verdicts(quality(accuracy=0.7, r2=0.2)) == []
    (both,) = imputation_verdicts(quality(accuracy=0.5, r2=-0.1).to_dict())  # as stored in a run record
    assert "race" in both and "income (R² -0.100 vs baseline 0.000)" in both
    assert imputation_verdicts(None) == []


@pytest.mark.parametrize(("reason", "headline"), [
    ("tabpfn unavailable: TabPFN weights not found: no checkpoint in /root/.cache/tabpfn. Download "
     "https://example.org/x.ckpt and copy it. The weights are licensed separately.; using gbdt",
     "tabpfn unavailable (TabPFN weights not found); using gbdt"),
    ("requested explicitly", "requested explicitly"),
    ("read as given; provenance: the user's statement. Kept with the run.",
     "read as given; provenance: the user's statement"),
    ("auto: gbdt is available", "auto: gbdt is available"),
])
def test_imputer_headline_is_one_line_without_paths_or_links(reason: str, headline: str) -> None:
    assert imputer_headline(reason) == headline
