"""fusiondp vs the best private baseline, paired by seed: the interval, the pairing, the verdict and its words."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from fusiondp.cli import _print_summary
from fusiondp.comparison import compare, comparison_lines, settings_line, t_interval
from fusiondp.record import PrivacyLedger, RunRecord


def record(mode: str, seed: int, auroc: float, epsilon: float | None = 1.0, cancelled: bool = False) -> RunRecord:
    ledger = PrivacyLedger(epsilon_target=epsilon, epsilon_spent=epsilon, delta=1e-5, sigma=1.0 if epsilon else None,
                           sampling_rate=0.01, steps=10, max_grad_norm=1.0, accountant="rdp",
                           adjacency="row add/remove")
    return RunRecord(mode=mode, seed=seed, config={"epsilon": epsilon}, metrics={"auroc": auroc, "auprc": 0.5},
                     privacy=ledger, imputer={"name": "gbdt"}, timing={"wall_time_s": 1.0}, history=[], data={},
                     cancelled=cancelled)


@pytest.mark.parametrize("values", [[0.012, 0.004, 0.020], [0.1, -0.3], [0.01, 0.02, 0.03, 0.05, -0.01]])
def test_the_interval_is_students_t_on_the_paired_differences(values: list[float]) -> None:
    expected = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert t_interval(values) == pytest.approx(expected, rel=1e-12)
    assert t_interval(values, 0.9) == pytest.approx(
        stats.t.interval(0.9, len(values) - 1, loc=np.mean(values), scale=stats.sem(values)), rel=1e-12)
    assert t_interval(values[:1]) is None


def test_differences_are_paired_by_seed_not_by_position() -> None:
    """dpsgd finished seeds 1, 2 and 3, fusiondp 0, 1 and 2: only seeds 1 and 2 pair, each with its own seed."""
    records = [record("fusiondp", 0, 0.70), record("fusiondp", 1, 0.80), record("fusiondp", 2, 0.90),
               record("dpsgd", 3, 0.10), record("dpsgd", 2, 0.85), record("dpsgd", 1, 0.79)]
    (comparison,) = compare(records)
    assert comparison.baseline == "dpsgd" and comparison.seeds == (1, 2)
    assert comparison.differences == pytest.approx((0.01, 0.05))


def test_the_stronger_baseline_is_the_one_compared_at_each_epsilon() -> None:
    scores = {("dpsgd", 1.0): 0.70, ("feature_dp", 1.0): 0.75, ("dpsgd", 4.0): 0.83, ("feature_dp", 4.0): 0.79}
    records = [*(record("fusiondp", s, 0.80 + 0.001 * s, e) for s in range(3) for e in (1.0, 4.0)),
               *(record(mode, s, score, e) for (mode, e), score in scores.items() for s in range(3))]
    low, high = compare(records)
    assert (low.epsilon, low.baseline, high.epsilon, high.baseline) == (1.0, "feature_dp", 4.0, "dpsgd")


@pytest.mark.parametrize(("gaps", "verdict", "words"), [
    ([0.010, 0.012, 0.014], "helps", "helps here, because the whole interval lies above 0"),
    ([-0.010, -0.012, -0.014], "does not help", "does not help here, because the whole interval lies below 0"),
    ([0.02, -0.01, 0.005], "no clear difference", "no clear difference here, because the interval includes 0"),
])
def test_wins_and_losses_are_stated_alike(gaps: list[float], verdict: str, words: str) -> None:
    records = [*(record("fusiondp", s, 0.8 + gap) for s, gap in enumerate(gaps)),
               *(record("feature_dp", s, 0.8) for s in range(len(gaps)))]
    (comparison,) = compare(records)
    assert comparison.verdict == verdict
    (line,) = comparison_lines(records)
    low, high = comparison.interval
    assert line.startswith(f"ε = 1: fusiondp vs the best private baseline (feature_dp): {np.mean(gaps):+.3f} AUROC "
                           f"(95% interval {low:+.3f} to {high:+.3f}, 3 seeds paired)")
    assert words in line


def test_one_seed_gives_no_interval_and_claims_nothing() -> None:
    records = [record("fusiondp", 0, 0.789), record("dpsgd", 0, 0.679), record("sgd_pub", 0, 0.7, None)]
    (comparison,) = compare(records)
    assert comparison.interval is None and comparison.verdict == "one seed"
    (line,) = comparison_lines(records)
    assert "+0.110 AUROC on one seed" in line and "no verdict" in line
    assert "helps" not in line and "beyond" not in line and "interval lies" not in line


def test_cancelled_models_and_references_are_left_out() -> None:
    records = [record("fusiondp", 0, 0.9, cancelled=True), record("dpsgd", 0, 0.7), record("dpsgd", 1, 0.7),
               record("sgd_ori", 0, 0.95, None)]
    (comparison,) = compare(records)
    assert comparison.verdict == "no fusiondp" and comparison.baseline == "dpsgd"
    assert "no fusiondp model finished at this ε" in comparison.sentence()
    assert compare([record("fusiondp", 0, 0.8), record("fusiondp", 1, 0.81)]) == [], "no baseline: nothing to say"
    assert comparison_lines([record("sgd_ori", 0, 0.9, None)]) == []
    assert compare([record("dpsgd", 0, 0.7)]) == [], "fusiondp not trained at all: nothing to compare"
    assert math.isnan(comparison.mean)


def test_the_cli_summary_closes_with_the_answer(capsys: pytest.CaptureFixture[str]) -> None:
    _print_summary([record("fusiondp", s, 0.80 + 0.01 * s) for s in range(3)]
                   + [record("dpsgd", s, 0.78 + 0.01 * s) for s in range(3)])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == ("note: ε = 1: fusiondp vs the best private baseline (dpsgd): +0.020 AUROC (95% interval +0.020 to "
                    "+0.020, 3 seeds paired) — helps here, because the whole interval lies above 0.")


def _encoded(records: list[RunRecord], encoding: str, numeric_columns: int = 4) -> list[RunRecord]:
    for one in records:
        one.config["numeric_encoding"] = encoding
        one.data["numeric_columns"] = numeric_columns
    return records


def test_the_answer_says_which_mode_ran_at_its_second_choice_encoding() -> None:
    """A run that names one encoding for every mode gives some mode its second choice: with z-scores fusiondp, with
    normal scores both baselines, and the answer names them and the setting that gives each its own; under ``auto``
    each record names its own and nothing is said; with no baseline, or records that do not name their encoding,
    it says nothing of it."""
    def run_of(modes: tuple[str, ...]) -> list[RunRecord]:
        return [record(mode, s, 0.8 + 0.001 * s) for mode in modes for s in range(3)]

    lines = comparison_lines(_encoded(run_of(("fusiondp", "dpsgd", "feature_dp")), "standard"))
    assert len(lines) == 3 and lines[1].startswith("fusiondp ran at its second-choice encoding of the numeric columns")
    assert lines[2] == "Each mode trained at: dpsgd z-scores; feature_dp z-scores; fusiondp z-scores."
    assert "fusiondp read z-scores (standard), its own is normal scores (quantile)" in lines[1]
    assert "numeric_encoding: auto" in lines[1] and "tilted against fusiondp" in lines[1]
    (_, caveat, _) = comparison_lines(_encoded(run_of(("fusiondp", "dpsgd", "feature_dp")), "quantile"))
    assert caveat.startswith("dpsgd and feature_dp ran at their second-choice encoding")
    assert "dpsgd read normal scores (quantile), its own is z-scores (standard)" in caveat
    own = _encoded(run_of(("fusiondp",)), "quantile") + _encoded(run_of(("dpsgd", "feature_dp")), "standard")
    assert len(comparison_lines(own)) == 2, "numeric_encoding: auto gives every mode its own: no caveat"
    assert comparison_lines(_encoded(run_of(("fusiondp", "sgd_pub")), "standard")) == []
    assert len(comparison_lines(run_of(("fusiondp", "dpsgd")))) == 1, "an older record names no encoding"
    assert len(comparison_lines(_encoded(run_of(("fusiondp", "dpsgd")), "standard", 0))) == 1, "nothing to encode"
    notes = _encoded(run_of(("fusiondp", "dpsgd")), "standard")
    for one in notes:
        one.config["text"] = {"text_column": "note"}
    assert len(comparison_lines(notes)) == 1, "notes: their encoder is not the numeric encoding"


def test_what_each_mode_trained_at_is_read_from_records_of_any_age() -> None:
    """A record names what it knows: an older one's numeric epochs, a fixed clip norm (``noise_level`` null) and a
    set level; an ``auto`` it cannot resolve (no resolved epochs) is left out rather than guessed."""
    old, new = record("dpsgd", 0, 0.8), record("fusiondp", 0, 0.8)
    old.config.update(epochs=13, noise_level=None, max_grad_norm=1.8)
    new.config.update(epochs="auto", noise_level=4.0, max_grad_norm=0.5, numeric_encoding="quantile")
    new.data["numeric_columns"] = 3
    assert settings_line([old, new]) == ("Each mode trained at: dpsgd 13 epochs, C = 1.8; fusiondp normal scores, "
                                         "C = max(0.5, 4/σ).")
    assert settings_line([old]) is None, "no comparison without fusiondp"
