"""FusionDP on notes (fusiondp.text): spans, hybrid notes, the notes' encoder, hygiene and the CLI."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError, SpecError
from fusiondp.impute import QualityReport
from fusiondp.impute.quality import format_quality_lines
from fusiondp.models import build_model
from fusiondp.preparation import prepare
from fusiondp.runs import train_run
from fusiondp.text import DETECTOR, HybridNoteGenerator, TextSpec, detect_spans
from fusiondp.text.features import NoteVectorizer, hybrid_tokens, real_tokens
from fusiondp.text.hybrid import AGE_SURROGATE, MIN_LABELLED_NOTES, HybridNote, parse_notes
from fusiondp.text.preflight import LOCAL_NOTE, note_preflight, residual_matches
from fusiondp.text.preview import highlight_html, highlight_spans, hybrid_pieces, support_preview
from fusiondp.text.spec import SPAN_TYPES
from fusiondp.train.ghost import row_layout, step_gradients
from fusiondp.verdicts import imputation_verdicts
from tests.cli_runner import run_cli

SAMPLE_NOTES = Path(__file__).resolve().parents[1] / "sample_data" / "drug_reviews.csv"
CONDITIONS = {"female": ["birth control pills", "pregnancy nausea", "menstrual cramps", "hot flashes"],
              "male": ["prostate trouble", "erectile problems", "hair loss on the crown", "low testosterone"]}
SHARED = ["back pain", "migraines", "insomnia", "acid reflux", "anxiety", "high blood pressure"]
OUTCOMES = {True: ["it worked wonderfully", "great relief within days", "best drug so far"],
            False: ["it did nothing at all", "terrible side effects", "I stopped after a week"]}


def make_notes(n: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic reviews whose words predict the patient's sex and whose label depends on words and age."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        sex = "female" if rng.random() < 0.5 else "male"
        age = int(rng.integers(19, 80))
        good = bool(rng.random() < (0.75 if age < 50 else 0.35))
        pronoun, noun = ("She", "woman") if sex == "female" else ("He", "man")
        problem = rng.choice(CONDITIONS[sex] if rng.random() < 0.8 else SHARED)
        text = (f"{pronoun} is a {age}-year-old {noun} treated for {problem}. {pronoun} says "
                f"{rng.choice(OUTCOMES[good])}.")
        if i % 7 == 0:
            text += f" Seen by Dr. {rng.choice(['Adams', 'Baker', 'Clark'])} on 0{rng.integers(1, 9)}/12/2019."
        rows.append({"note": text, "good": "yes" if good else "no", "part": ""})
    table = pd.DataFrame(rows)
    table["part"] = np.array(["support", "train", "train", "train", "val", "test"])[np.arange(n) % 6]
    return table


def text_config(**values: object) -> RunConfig:
    base = dict(text=TextSpec(text_column="note", target="good", positive_class="yes"), split_column="part",
                epochs=2, batch_size=32, delta=1e-4, modes=["fusiondp"])
    return RunConfig.build(**{**base, **values})


def test_rule_based_spans_find_each_type_and_skip_lookalikes() -> None:
    text = ("Mr. Smith is a 67-year-old white male seen 03/12/2019 at Mercy General Hospital, Boston, MA. "
            "He had black stools and a high white blood cell count; MRN: 12345678, phone (555) 123-4567. "
            "His daughter, 22 yo, is Hispanic.")
    found = [(span.kind, span.text, span.value) for span in detect_spans(text)]
    assert ("sex", "Mr.", "male") in found and ("name", "Smith", None) in found
    assert ("age", "67-year-old", "67") in found and ("age", "22 yo", "22") in found
    assert ("ethnicity", "white", "white") in found and ("ethnicity", "Hispanic", "hispanic") in found
    assert ("date", "03/12/2019", None) in found and ("identifier", "MRN: 12345678", None) in found
    assert ("identifier", "(555) 123-4567", None) in found and ("place", "Boston, MA", None) in found
    assert ("sex", "He", "male") in found and ("sex", "His", "male") in found
    assert not any(span.text.lower() == "black" for span in detect_spans(text)), "'black stools' is no ethnicity"
    assert [s.text for s in detect_spans(text) if s.kind == "ethnicity"] == ["white", "Hispanic"]
    assert all(s.kind in ("age", "sex") for s in detect_spans(text, ["age", "sex"]))
    spans = detect_spans(text)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans)), "spans never overlap"


def test_generator_consistent_surrogates_placeholders_and_fallback() -> None:
    support = make_notes(120, seed=1)["note"].tolist()
    generator = HybridNoteGenerator(seed=0).fit(support)
    assert generator.choices_["sex"].used == "model", generator.choices_["sex"].reason
    assert generator.choices_["name"].used == "placeholder" and generator.choices_["ethnicity"].used == "placeholder"
    note = "She is a 30-year-old woman treated for prostate trouble. Her doctor, Dr. Adams, says she improved."
    hybrid = generator.transform([note])[0]
    assert hybrid.surrogates["sex"] == "male", "the public words (prostate) predict the surrogate sex"
    words = re.findall(r"\b(?:she|he|her|his|him|woman|man)\b", hybrid.text, flags=re.IGNORECASE)
    assert {w.lower() for w in words} <= {"he", "his", "him", "man"}, f"one sex across the note: {hybrid.text}"
    assert "[NAME]" in hybrid.text and "Adams" not in hybrid.text
    assert hybrid.placeholders.count("[SEX]") == 4 and "[AGE]" in hybrid.placeholders
    few = HybridNoteGenerator(["age"], seed=0).fit(support[: MIN_LABELLED_NOTES - 1])
    assert few.choices_["age"].used == "placeholder" and "[AGE]" in few.choices_["age"].reason
    assert "[AGE]" in few.transform(["A 40 yo man."])[0].text


def test_zero_when_exact_for_a_note_equal_to_its_hybrid() -> None:
    spec = TextSpec(text_column="note", target="good")
    support = make_notes(120, seed=1)["note"].tolist()
    generator = HybridNoteGenerator(spec.sensitive_spans, seed=0).fit(support)
    template = "{} is a {} yo {} treated for prostate trouble. {} says it worked wonderfully."
    probe = generator.transform([template.format("He", 70, "man", "He")])[0]  # the age group its words predict
    age = AGE_SURROGATE[probe.surrogates["age"]]
    note, other = template.format("He", age, "man", "He"), template.format("She", age, "woman", "She")
    same, changed = generator.transform([note, other])
    assert same.text == note, "surrogates equal to the note's own values leave it unchanged"
    assert changed.text != other
    encoder = NoteVectorizer(spec).fit(parse_notes(support, spec.sensitive_spans))
    parsed = [same.parsed, changed.parsed]
    public = encoder.public_block(parsed)
    real = torch.as_tensor(encoder.transform(public, [real_tokens(n) for n in parsed]))
    hybrid = torch.as_tensor(encoder.transform(public, [hybrid_tokens(n) for n in (same, changed)]))
    assert torch.equal(real[0], hybrid[0]) and not torch.equal(real[1], hybrid[1])
    model = build_model(encoder.n_features, (16, 8), 0, torch.device("cpu")).double()
    first, block, total = row_layout(0, 2, 2)  # [real block | reference block], zero padding
    x = torch.zeros(total, encoder.n_features, dtype=torch.float64)
    x[first:first + 2], x[first + block:first + block + 2] = real, hybrid
    out = step_gradients(model, x, torch.ones(total, dtype=torch.float64), n_public=0, batch=2, views=2, beta=0.5,
                         rep_clip=1.0, max_norm=1.0)
    assert out.norms[0].item() == 0.0, "a note equal to its hybrid contributes exactly nothing"
    assert out.norms[1].item() > 0


def test_planted_private_note_keeps_no_age_token_in_its_public_block() -> None:
    """Issue 27 (M3): the public block trains without noise, so an age the rules miss is unprotected. The support
    notes hold "45", "62" and "years" as public words, so the encoder has a feature for each of them."""
    spec = TextSpec(text_column="note", target="good")
    support = make_notes(120, seed=1)["note"].tolist() + ["Took 45 mg for years, then 62 mg."] * 2
    encoder = NoteVectorizer(spec).fit(parse_notes(support, spec.sensitive_spans))
    ages = ["45", "62", "years"]
    assert set(ages) <= set(encoder.words_.vocabulary_)
    note = "Patient is 45 years of age; her father, 62 y.o. M, has diabetes."
    (parsed,) = parse_notes([note], spec.sensitive_spans)
    assert re.search(r"\b(?:45|62)\b|years|y\.o\.", parsed.public) is None, parsed.public
    public = encoder.public_block([parsed])[0]
    assert all(public[encoder.words_.vocabulary_[word]] == 0 for word in ages)
    assert public.any(), "the note's other words stay public"
    assert [(s.kind, s.value) for s in parsed.spans if s.kind in ("age", "sex")] == [
        ("age", "45"), ("sex", "female"), ("age", "62"), ("sex", "male")]


def test_hybrid_notes_are_rendered_from_surrogates_only() -> None:
    """Issue 27 (m1): the hybrid view is public, so no real span value may be copied into it. Two notes with the
    same public words get the same surrogates, and must then get the same hybrid, whatever their spans held — an
    age whose group the surrogate shares included, and "her" vs "him"/"his" or "Mrs." vs "Mr." under either
    surrogate sex."""
    generator = HybridNoteGenerator(seed=0).fit(make_notes(120, seed=1)["note"].tolist())
    pairs = [("She is a 67 yo Hispanic woman. I gave her the pills and her pain eased. Mrs. Adams agreed.",
              "He is a 70 yo white man. I gave him the pills and his pain eased. Mr. Adams agreed."),
             ("A 66-year-old F, non-Hispanic, seen for prostate trouble; hers worked.",
              "A 80-year-old M, Caucasian, seen for prostate trouble; his worked.")]
    for first, second in pairs:
        one, other = generator.transform([first, second])
        assert one.parsed.public == other.parsed.public and one.surrogates == other.surrogates
        assert one.text == other.text, (one.text, other.text)
    ages = range(19, 90)  # every age of a group is written as the group's surrogate, its own one included
    for hybrid in generator.transform([f"He is a {age}-year-old man treated for back pain." for age in ages]):
        assert re.findall(r"\d+", hybrid.text) == [str(AGE_SURROGATE[hybrid.surrogates["age"]])]


@pytest.mark.parametrize("surrogate", ["male", "female"])
def test_hybrid_tokens_do_not_depend_on_the_real_sex(surrogate: str) -> None:
    """The hybrid view is public: under one surrogate, notes that differ only in their sex words encode alike
    ("her" → "his" for a male surrogate while "him" stays "him" would tell a woman from a man)."""
    female, male = parse_notes(["She says it helped her, and hers is the only one that worked for her.",
                                "He says it helped him, and his is the only one that worked for him."], ["sex"])
    assert female.attributes["sex"] == "female" and male.attributes["sex"] == "male"
    tokens = [hybrid_tokens(HybridNote(note, {"sex": surrogate}, note.text)) for note in (female, male)]
    assert tokens[0] == tokens[1] == [f"sex:{surrogate}"] * 4
    assert real_tokens(female) != real_tokens(male)


def _scramble_spans(note: str, rng: np.random.Generator) -> str:
    """The note with every age replaced by a random one, every sex word flipped and every name made up."""
    note = re.sub(r"\b\d{2}(?=-year-old)", lambda _: str(rng.integers(19, 90)), note)
    note = re.sub(r"(?<=Dr\. )[A-Z][a-z]+", lambda _: "Zed" + "".join(rng.choice(list("abcdefgh"), 4)), note)
    flips = {"She": "He", "He": "She", "woman": "man", "man": "woman"}
    return re.sub(r"\b(?:She|He|woman|man)\b", lambda m: flips[m.group(0)], note)


def test_hygiene_private_spans_never_reach_generator_vocabulary_or_defaults() -> None:
    table = make_notes(300)
    rng = np.random.default_rng(5)
    scrambled = table.copy()
    private = scrambled["part"] != "support"
    scrambled.loc[private, "note"] = [_scramble_spans(n, rng) for n in scrambled.loc[private, "note"]]
    assert (scrambled["note"] != table["note"]).sum() > 100
    config = text_config()
    base, changed = prepare(config, table=table), prepare(config, table=scrambled)
    assert base.encoder.words_.vocabulary_ == changed.encoder.words_.vocabulary_
    assert np.array_equal(base.encoder.words_.idf_, changed.encoder.words_.idf_)
    assert base.encoder.span_vocabulary_ == changed.encoder.span_vocabulary_
    generators = [p.quality.to_dict() for p in (base, changed)]
    assert generators[0] == generators[1] and base.imputer == changed.imputer
    for name in ("support_real", "support_hybrid", "support_blank"):  # C_h and every support-side default
        assert torch.equal(getattr(base.tensors, name), getattr(changed.tensors, name)), name
    assert not torch.equal(base.tensors.x_real, changed.tensors.x_real), "the scramble must reach the real view"
    public = base.tensors.public_features
    assert torch.equal(base.tensors.x_real[:, public], changed.tensors.x_real[:, public])
    for name in ("x_hybrid", "x_blank", "x_val_hybrid"):  # the public views: surrogates and placeholders only
        assert torch.equal(getattr(base.tensors, name), getattr(changed.tensors, name)), name
    pd.testing.assert_frame_equal(base.hybrid_train, changed.hybrid_train)  # the hybrid notes: surrogates only
    assert base.notes == changed.notes, "what every output prints about the notes is public"
    assert base.config == changed.config


def test_views_and_all_modes_train_on_notes() -> None:
    prepared = prepare(text_config(), table=make_notes(300))
    tensors = prepared.tensors
    public = tensors.public_features
    assert torch.equal(tensors.view("public_only"), tensors.x_real[:, public])
    for view in ("hybrid", "uninformative"):  # spans change only the span block
        assert torch.equal(tensors.view(view)[:, public], tensors.x_real[:, public])
    assert torch.equal(tensors.view("reference"), tensors.x_hybrid)
    assert any(DETECTOR in note for note in prepared.notes)
    assert prepared.imputer.used.startswith("hybrid notes: ") and "name: placeholder" in prepared.imputer.used
    record = train_run(prepared, "fusiondp", 0)
    assert record.privacy.epsilon_spent <= 1.0 + 1e-6 and record.privacy.adjacency == "feature removal"
    assert "spans of 'note'" in record.privacy.statement and "outside the detected spans" in record.privacy.statement
    assert record.imputer["name"] == prepared.imputer.used and record.data["n_features"] == prepared.encoder.n_features
    baseline = train_run(prepared, "feature_dp", 0).privacy.statement
    assert "type placeholders ([AGE], [SEX], …)" in baseline and "'missing'" not in baseline


def test_text_spec_and_config_errors() -> None:
    with pytest.raises(SpecError, match="sensitive_spans"):
        TextSpec.build(text_column="note", target="good", sensitive_spans="age,height")
    with pytest.raises(SpecError, match="two columns"):
        TextSpec.build(text_column="note", target="note")
    assert TextSpec.build(text_column="n", target="y", sensitive_spans="sex, age").sensitive_spans == ("sex", "age")
    with pytest.raises(ConfigError, match=r"as a column spec \(spec\) or as a text spec \(text\), not both"):
        RunConfig.build(text=TextSpec(text_column="n", target="y"), spec={"target": "y", "sensitive": ["a"]})
    with pytest.raises(ConfigError, match=r"notes \(text\) take their support notes from the table"):
        RunConfig.build(text=TextSpec(text_column="n", target="y"), support_source="dp_synthetic")
    with pytest.raises(SpecError, match="no text column 'nothere'"):
        prepare(text_config(text=TextSpec(text_column="nothere", target="good")), table=make_notes(60))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli(*args)


@pytest.mark.slow
def test_cli_runs_every_mode_on_notes_and_reproduces_from_config(tmp_path: Path) -> None:
    data = tmp_path / "notes.csv"
    make_notes(330).to_csv(data, index=False)
    out = tmp_path / "out"
    result = _cli("run", "--data", str(data), "--text-column", "note", "--target", "good", "--sensitive-spans",
                  "age,sex,name,date", "--split-column", "part", "--modes", "all", "--epochs", "2",
                  "--batch-size", "32", "--delta", "1e-4", "--out", str(out), "--quiet", "--reproducible-noise")
    assert result.returncode == 0, result.stderr
    for mode in ("sgd_ori", "sgd_pub", "sgd_hybrid", "dpsgd", "feature_dp", "fusiondp", "naive_fusion"):
        assert f"\n{mode} " in result.stdout
    assert f"note: Span detector: {DETECTOR}." in result.stdout
    assert "imputer: hybrid notes: age: " in result.stdout and "name: placeholder" in result.stdout
    assert "Privacy statement (fusiondp" in result.stdout and "age spans of 'note'" in result.stdout
    results = json.loads((out / "results.json").read_text())
    assert len(results["records"]) == 7
    summary = {row["mode"]: row for row in results["summary"]}
    assert summary["fusiondp"]["adjacency"] == "feature removal" and summary["dpsgd"]["epsilon_spent"] <= 1.0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["text"]["text_column"] == "note" and saved["spec"] is None
    again = tmp_path / "again"
    rerun = _cli("run", "--config", str(out / "config.yaml"), "--modes", "fusiondp,sgd_pub", "--out", str(again),
                 "--quiet")
    assert rerun.returncode == 0, rerun.stderr
    original = {(r["mode"], r["seed"]): r["metrics"] for r in results["records"]}
    for record in json.loads((again / "results.json").read_text())["records"]:
        assert record["metrics"] == original[(record["mode"], record["seed"])]
    wrong = _cli("run", "--data", str(data), "--text-column", "note", "--sensitive", "age")
    assert wrong.returncode == 2 and "not --spec or --sensitive" in wrong.stderr


def test_sample_corpus_prepares_with_its_documented_size() -> None:
    table = pd.read_csv(SAMPLE_NOTES)
    assert len(table) == 979 and (table["positive"] == "yes").sum() == 633
    config = RunConfig.build(text=TextSpec(text_column="review", target="positive", positive_class="yes"),
                             support_fraction=0.2, delta=1e-4)
    prepared = prepare(config, table=table)
    assert prepared.splits.sizes()["support"] >= 150 and prepared.encoder.n_public > 500


def test_highlighted_pieces_rebuild_the_note_and_its_hybrid_and_escape_html() -> None:
    note = "Mr. Smith, 67 yo, wrote <b>great</b> & went home on 03/12/2019."
    pieces = highlight_spans(note)
    assert "".join(text for text, _ in pieces) == note
    assert [(text, kind) for text, kind in pieces if kind] == [("Mr.", "sex"), ("Smith", "name"), ("67 yo", "age"),
                                                               ("03/12/2019", "date")]
    generator = HybridNoteGenerator(seed=0).fit(make_notes(120, seed=1)["note"].tolist())
    hybrid = generator.transform([note])[0]
    assert "".join(text for text, _ in hybrid_pieces(hybrid)) == hybrid.text
    page = highlight_html(pieces)
    assert "<b>" not in page and "&lt;b&gt;great&lt;/b&gt; &amp;" in page and page.count("<mark") == 4


def test_support_preview_shows_support_notes_only_and_ignores_private_spans() -> None:
    table = make_notes(300)
    private = table["part"] != "support"
    scrambled = table.copy()
    rng = np.random.default_rng(3)
    scrambled.loc[private, "note"] = [_scramble_spans(n, rng) for n in scrambled.loc[private, "note"]]
    base, changed = (support_preview(prepare(text_config(), table=t), examples=4) for t in (table, scrambled))
    support = set(table.loc[~private, "note"])
    assert len(base.examples) == 4
    assert all("".join(text for text, _ in example.real) in support for example in base.examples)
    assert [(e.real, e.hybrid) for e in base.examples] == [(e.real, e.hybrid) for e in changed.examples]
    assert base.span_counts == changed.span_counts and base.span_counts["sex"] > 0
    assert base.choices_table().equals(changed.choices_table())
    assert list(base.choices_table()["span type"]) == list(TextSpec(text_column="n", target="t").sensitive_spans)


def test_note_preflight_reports_identifiers_the_detector_misses() -> None:
    notes = ["Seen by Doctor Smith and nurse Jones; call 5551234567 or 123-4567. She is seventy years old.",
             "Dr. Adams (detected) saw her in 2015-2016 for 10 mg; see www.example.org/me.",
             "Nothing identifying here: the Dr. said it works."]
    matches = residual_matches(notes[0], SPAN_TYPES)
    assert matches == {"note_titled_name": ["Doctor Smith", "nurse Jones"], "note_digit_run": ["5551234567"],
                       "note_short_phone": ["123-4567"], "note_spelled_age": ["seventy years old"]}
    assert residual_matches(notes[1], SPAN_TYPES) == {"note_web_address": ["www.example.org/me"]}
    assert residual_matches(notes[2], SPAN_TYPES) == {}
    assert residual_matches("Dr. Adams", ["age"]) == {"note_titled_name": ["Dr. Adams"]}, "an undetected type"
    findings = note_preflight(notes, SPAN_TYPES, "note")
    assert [f.code for f in findings][:2] == ["note_titled_name", "note_digit_run"]
    assert [f.severity for f in findings] == ["high", "high", "medium", "medium", "medium"]
    titled = findings[0]
    assert titled.columns == ("note",) and "1 of 3 notes in 'note'" in titled.evidence
    assert "“Doctor Smith”, “nurse Jones”" in titled.evidence and LOCAL_NOTE in titled.evidence
    assert note_preflight(notes[2:], SPAN_TYPES, "note") == []


def test_a_lower_case_title_before_a_capitalised_word_is_a_lesser_finding() -> None:
    """Issue 29.11: "according to my dr. Loved the taste" was rated a high finding (a name after a title): the dot may
    end the sentence, so a lower-case "dr." before a capitalised word is a medium finding of its own."""
    notes = ["It did not clean me out enough according to my dr. Loved the taste and small amount to drink.",
             "My dr. Patel said so, and dr Kumar agreed.", "Dr. said it works; DR. Okafor agreed."]
    assert residual_matches(notes[0], SPAN_TYPES) == {"note_lower_title_word": ["dr. Loved"]}
    assert residual_matches(notes[1], SPAN_TYPES) == {"note_titled_name": ["dr Kumar"],
                                                      "note_lower_title_word": ["dr. Patel"]}
    assert residual_matches(notes[2], SPAN_TYPES) == {"note_titled_name": ["DR. Okafor"]}
    (finding,) = note_preflight(notes[:1], SPAN_TYPES, "note")
    assert finding.severity == "medium" and "“dr. Loved”" in finding.evidence


def test_note_preflight_flags_ages_and_ethnicity_words_the_rules_cannot_place() -> None:
    notes = ["Pt is 130 years old; his son, age approx 67, drove him. A 45 yr M came too.",
             "Her father was Puerto Rican and she is biracial; an Arab neighbour came with her 38 WF friend.",
             "45 years of age, 62 y.o. M, AAM, non-Hispanic white female: all detected. For 20 years, 2 M KCl."]
    assert residual_matches(notes[0], SPAN_TYPES) == {"note_unplaced_age": ["130 years old", "age approx 67",
                                                                            "45 yr M"]}
    assert residual_matches(notes[1], SPAN_TYPES) == {"note_ethnicity_word": ["Puerto Rican", "biracial", "Arab",
                                                                              "38 WF"]}
    assert residual_matches(notes[2], SPAN_TYPES) == {}
    assert residual_matches(notes[2], ["sex"])["note_unplaced_age"] == ["45 years of age", "62 y.o."], "undeclared"
    codes = {f.code: f for f in note_preflight(notes, SPAN_TYPES, "note")}
    assert set(codes) == {"note_unplaced_age", "note_ethnicity_word"}
    unplaced = codes["note_unplaced_age"].evidence
    assert "1 of 3 notes" in unplaced and "“130 years old”" in unplaced


@pytest.mark.slow
def test_cli_prints_the_notes_preflight_and_strict_refuses_on_a_missed_name(tmp_path: Path) -> None:
    table = make_notes(330)
    table.loc[5, "note"] += " Doctor Zedkin saw me."
    data = tmp_path / "notes.csv"
    table.to_csv(data, index=False)
    args = ("run", "--data", str(data), "--text-column", "note", "--target", "good", "--split-column", "part",
            "--modes", "sgd_pub", "--epochs", "1", "--batch-size", "32", "--delta", "1e-4", "--quiet",
            "--out", str(tmp_path / "out"))
    result = _cli(*args)
    assert result.returncode == 0, result.stderr
    assert "preflight [high] 1 of 330 notes in 'note' hold a title followed by a name-like word" in result.stdout
    assert "“Doctor Zedkin”" in result.stdout
    strict = _cli(*args, "--strict")
    assert strict.returncode == 2 and "Preflight found high-severity problems" in strict.stderr


def test_generator_warnings_are_worded_for_notes() -> None:
    prepared = prepare(text_config(text=TextSpec(text_column="note", target="good", sensitive_spans=["age", "sex"])),
                       table=make_notes(300))
    report = prepared.quality
    assert report.text_column == "note" and report.columns[0].column == "age (note-level value)"
    report.columns[0].metrics = dict(report.columns[0].baseline)  # a surrogate model no better than the majority
    (warning,) = [line for line in format_quality_lines(report) if line.startswith("WARNING")]
    assert "no better than the majority value on the support notes" in warning and "imputation" not in warning
    (verdict,) = imputation_verdicts(QualityReport.from_dict(report.to_dict()))
    assert verdict.startswith("Surrogates no better than the majority value on the support notes: age")
    assert "imputer" not in verdict and "public columns" not in verdict and "'note'" in verdict
    assert "support notes" in report.scored_on() and "rows" not in report.scored_on()


def test_a_doctors_pronoun_in_a_patients_own_note_is_not_the_patients_sex() -> None:
    """Issue 29.11: in a review the patient writes, "He" after "my doctor" is the doctor's, not the patient's sex.
    A clinician's own note keeps every pronoun (a missed patient's pronoun would leak), and the preflight lists the
    pronouns the rule left public."""
    review = "My doctor switched me to this. He said it would help, and my wife says she agrees: I feel better."
    assert [(span.text, span.value) for span in detect_spans(review, ["sex"])] == [("she", "female")]
    assert parse_notes([review], ["sex"])[0].attributes["sex"] == "female"
    clinical = "Seen by Dr. Lee for his chest pain. He was given aspirin."
    assert [span.text for span in detect_spans(clinical, ["sex"])] == ["his", "He"]
    caregiver = "My son has ADHD. He takes 10 mg and sleeps well."
    assert [span.text for span in detect_spans(caregiver, ["sex"])] == ["He"]
    assert residual_matches(review, ["sex"]) == {"note_clinician_pronoun": ["He"]}
    assert residual_matches(review, ["age"]) == {}
    findings = {finding.code: finding for finding in note_preflight([review, clinical], ["sex"], "note")}
    finding = findings["note_clinician_pronoun"]
    assert finding.severity == "low" and "1 of 2 notes" in finding.evidence and "“He”" in finding.evidence
