"""The audit on notes (fusiondp.text.audit): a span type guessed from the model vs the hybrid-note generator alone,
what it trains on, and sweep / impute / audit with --text-column from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from fusiondp.preparation import prepare
from fusiondp.privacy.audit import audit_model, shadow_data
from fusiondp.privacy.audit_report import BELOW_GENERATOR, below_baseline_note
from fusiondp.privacy.audit_view import audit_view
from fusiondp.runs import fit_run
from fusiondp.text import TextSpec
from fusiondp.text.pipeline import split_notes
from tests.test_text import SAMPLE_NOTES, SHARED, _cli, _scramble_spans, make_notes, text_config

NEUTRAL = [
    "I took it for a month",
    "the pharmacy had it in stock",
    "I read the leaflet twice",
    "it came in blue tablets",
]
SPEC = TextSpec(text_column="note", target="good", positive_class="yes", sensitive_spans=("age", "sex", "name"))


def sex_labelled_notes(n: int, seed: int = 0) -> pd.DataFrame:
    """Notes whose label follows the patient's sex (90%) while their public words say nothing about it."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        sex = "female" if rng.random() < 0.5 else "male"
        good = (sex == "female") == (rng.random() < 0.9)
        pronoun, noun = ("She", "woman") if sex == "female" else ("He", "man")
        rows.append(
            {
                "note": f"{pronoun} is a {rng.integers(20, 80)}-year-old {noun} treated for "
                f"{rng.choice(SHARED)}. {pronoun} says {rng.choice(NEUTRAL)}.",
                "good": "yes" if good else "no",
            }
        )
    table = pd.DataFrame(rows)
    table["part"] = np.array(["support", "train", "train", "train", "val", "test"])[np.arange(len(table)) % 6]
    return table


@pytest.fixture(scope="module")
def sex_notes():
    return prepare(text_config(text=SPEC, epochs=10, epsilon=100.0), table=sex_labelled_notes(600))


def _leaks(report) -> dict[str, object]:
    return {leak.column: leak for leak in report.attribute}


@pytest.mark.slow
def test_a_model_that_reads_the_sex_spans_gives_them_away_beyond_the_generator(sex_notes) -> None:
    _, model = fit_run(sex_notes, "fusiondp", 0)
    report = audit_model(sex_notes, model, "fusiondp", rows=300)
    sex = _leaks(report)["sex spans of 'note'"]
    assert sex.candidates == 2 and sex.train_rows == sex.holdout_rows == 100
    assert 0.35 < sex.imputer_accuracy < 0.65, "the public words say nothing about sex: the generator is at chance"
    assert sex.train_accuracy > sex.imputer_accuracy + 0.25, sex
    # A population-level inference (the label follows sex for everyone), not a leak about the training notes:
    assert sex.advantage_half_width < 0.15 and abs(sex.advantage) <= sex.advantage_half_width
    assert report.baseline == "generator" and report.reading() in ("measurable leak", "no measurable leak")
    assert (
        "name spans of 'note': not attacked (only age, sex and ethnicity spans have a finite set of values to "
        "guess)" in report.notes
    )
    assert report.to_dict()["baseline"] == "generator"


def test_a_model_that_never_reads_a_span_gives_nothing_away(sex_notes) -> None:
    _, model = fit_run(sex_notes, "sgd_pub", 0)
    report = audit_model(sex_notes, model, "sgd_pub", rows=300)
    sex = _leaks(report)["sex spans of 'note'"]
    assert sex.train_accuracy < 0.65 and sex.advantage_half_width > 0, sex
    assert sex.train_accuracy < sex.imputer_accuracy + 0.15
    report.attribute[0].train_accuracy = -1.0  # clearly below the generator: the notes' wording
    assert below_baseline_note([report]) == BELOW_GENERATOR


def test_the_audit_trains_nothing_on_private_spans() -> None:
    """Scrambling the private notes' spans leaves the audit's generator, candidates, shadow model data and
    model-free guesses identical: private real spans are read only to score the guesses."""
    table = make_notes(300)
    rng = np.random.default_rng(5)
    scrambled = table.copy()
    private = scrambled["part"] != "support"
    scrambled.loc[private, "note"] = [_scramble_spans(n, rng) for n in scrambled.loc[private, "note"]]
    config = text_config(text=SPEC)
    base, changed = prepare(config, table=table), prepare(config, table=scrambled)
    views = audit_view(base), audit_view(changed)
    choices = [{kind: choice.to_dict() for kind, choice in view.generator.choices_.items()} for view in views]
    assert choices[0] == choices[1]
    for column in views[0].attacked():
        assert views[0].candidates(column) == views[1].candidates(column)
        guesses = [view.baseline_guess(view.prepared.splits.test, column, view.candidates(column)) for view in views]
        assert np.array_equal(*guesses), "the generator's guess reads the public words only"
        truths = [view.observed(view.prepared.splits.train, column, view.candidates(column))[1] for view in views]
        assert len(truths[0]) and not np.array_equal(*truths), "the scramble must reach what the guesses are scored on"
    shadows = shadow_data(base), shadow_data(changed)
    assert shadows[0].splits.support_source == "audit shadow: half of the support notes"
    for name in ("x_real", "x_hybrid", "x_blank", "x_test", "support_real", "support_hybrid"):
        assert torch.equal(getattr(shadows[0].tensors, name), getattr(shadows[1].tensors, name)), name


@pytest.fixture(scope="module")
def reviews(tmp_path_factory) -> Path:
    """The sample corpus at a small size: its first 400 reviews."""
    path = tmp_path_factory.mktemp("reviews") / "reviews.csv"
    pd.read_csv(SAMPLE_NOTES).head(400).to_csv(path, index=False)
    return path


NOTE_FLAGS = (
    "--text-column",
    "review",
    "--target",
    "positive",
    "--sensitive-spans",
    "age,sex,name",
    "--support-fraction",
    "0.3",
)


@pytest.mark.slow
def test_cli_impute_and_audit_take_notes(reviews: Path, tmp_path: Path) -> None:
    result = _cli("impute", "--data", str(reviews), *NOTE_FLAGS, "--report", str(tmp_path / "imp"))
    assert result.returncode == 0, result.stderr
    assert (
        "imputer: hybrid notes: age: " in result.stdout
        and "support notes differ from their cross-fitted hybrid" in result.stdout
        and "sex (note-level value) (categorical): accuracy" in result.stdout
    )
    hybrids = pd.read_csv(tmp_path / "imp" / "support_hybrids.csv")
    config = text_config(
        text=TextSpec(text_column="review", target="positive"), split_column=None, support_fraction=0.3
    )
    splits = split_notes(config, pd.read_csv(reviews))
    assert sorted(hybrids["note"]) == sorted(splits.support["review"]), "support notes, and only them"
    private = set(pd.concat([splits.train, splits.val, splits.test])["review"])
    assert not set(hybrids["note"]) & private and not set(hybrids["hybrid_note"]) & private
    summary = json.loads((tmp_path / "imp" / "imputation.json").read_text())
    assert summary["quality"]["text_column"] == "review" and (tmp_path / "imp" / "imputation.html").exists()

    result = _cli(
        "audit",
        "--data",
        str(reviews),
        *NOTE_FLAGS,
        "--modes",
        "sgd_pub,fusiondp",
        "--epsilons",
        "1",
        "--epochs",
        "1",
        "--rows",
        "100",
        "--no-shadow",
        "--out",
        str(tmp_path / "audit"),
    )
    assert result.returncode == 0, result.stderr
    assert "imputer_acc = what the hybrid-note generator alone guesses from the public words" in result.stdout
    assert "fusiondp at ε 1: " in result.stdout and "95% interval" in result.stdout
    assert "note: name spans of 'review': not attacked" in result.stdout
    rows = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert [row["mode"] for row in rows] == ["sgd_pub", "fusiondp"]
    assert all(row["report"]["baseline"] == "generator" for row in rows)
    assert {leak["column"] for leak in rows[1]["report"]["attribute"]} <= {
        "age spans of 'review'",
        "sex spans of 'review'",
    }
    wrong = _cli("impute", "--data", str(reviews), "--text-column", "review")
    assert wrong.returncode == 2 and "--text-column needs --target" in wrong.stderr


@pytest.mark.slow
def test_cli_sweep_takes_notes(reviews: Path, tmp_path: Path) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        yaml.safe_dump(
            {
                "base": {"support_fraction": 0.3, "epochs": 1, "batch_size": 32, "modes": ["sgd_pub", "fusiondp"]},
                "grid": {"epsilon": [1, 4]},
            }
        )
    )
    out = tmp_path / "sweep"
    result = _cli(
        "sweep",
        str(grid),
        "--data",
        str(reviews),
        "--text-column",
        "review",
        "--target",
        "positive",
        "--sensitive-spans",
        "age,sex",
        "--workers",
        "1",
        "--audit",
        "--quiet",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out / "results.csv")
    assert sorted(table["mode"]) == ["fusiondp", "fusiondp", "sgd_pub"]
    assert table["imputer"].str.startswith("hybrid notes: age: ").all()
    assert table["val_auroc_real"].notna().all() and table["attribute_advantage"].notna().all()
    assert table["imputer_acc"].nunique() == 1, "the generator's guess reads no model"
    saved = yaml.safe_load((out / "grid.yaml").read_text())["base"]
    assert saved["text"]["text_column"] == "review" and saved["spec"] is None
    wrong = _cli("sweep", str(grid), "--target", "positive")
    assert wrong.returncode == 2 and "--sensitive" in wrong.stderr
