"""The hybrid-note generator: surrogates for a note's sensitive spans, predicted from its public rest.

Fitted on the *support* notes only (their spans are public). Per predicted span type — the
patient's age group, sex and ethnicity group — a logistic regression reads the note's public
words (its text with every sensitive span removed) and predicts the note's value. Surrogates are
consistent within a note: one age for every age span, one sex for every pronoun and sex word, one
ethnicity group. A model is used only if its cross-fitted accuracy on the support notes beats the
majority value; otherwise the majority value is the surrogate. A type with too few support notes
(``MIN_LABELLED_NOTES``), or one no model can predict (names, dates, places, identifiers), is
replaced by its type placeholder (``[NAME]``) — named as such in every output.

The hybrid is public (the public term trains on it without noise), so its words come from the
surrogates only (``surrogate_words``): a span's value or wording is never copied into it, not even
where the surrogate's group is the note's own — a 67-year-old whose surrogate group is 65+ is written
77, as every note of that group is. A surrogate may still equal the real value: it was predicted
from the public words without looking at the span, so the equality tells nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

from fusiondp.text.detectors import detect
from fusiondp.text.spans import (
    ETHNICITY_LETTERS,
    ETHNICITY_TERMS,
    GROUP_OF_LETTERS,
    PRONOUNS,
    SEX_SLOTS,
    SLOT_OF_WORD,
    Span,
    match_case,
    placeholder,
    render,
)
from fusiondp.text.spec import SPAN_TYPES, DetectorName, SpanType

PREDICTED: tuple[SpanType, ...] = ("age", "sex", "ethnicity")
"""Span types whose surrogate is predicted from the rest of the note; the others get placeholders."""
AGE_GROUPS: tuple[tuple[int, int, str], ...] = (
    (0, 18, "0-17"), (18, 30, "18-29"), (30, 45, "30-44"), (45, 65, "45-64"), (65, 200, "65+"))
"""Age groups the generator predicts and the notes' features encode: [low, high) years and a label."""
MIN_LABELLED_NOTES = 12
"""Support notes with a span of a type needed before a surrogate model (or the majority value) is fitted."""
CROSS_FIT_FOLDS = 3
GENERATOR = "support-fitted surrogates (logistic regression on the note's public words)"
"""The generator's name, shown in every output with what each span type actually got."""
NOT_A_GROUP = "non-hispanic"
"""The ethnicity value that says what a note's group is not: a note's value only where it names no group."""


def age_group(years: int) -> str:
    return next(label for low, high, label in AGE_GROUPS if low <= years < high)


def note_attributes(spans: Sequence[Span]) -> dict[str, str]:
    """The note-level value of each predicted type: the first age's group, the majority sex, the first ethnicity
    group ("non-hispanic" only where the note names no other)."""
    values: dict[str, str] = {}
    ages = [s for s in spans if s.kind == "age" and s.value is not None]
    if ages:
        values["age"] = age_group(int(ages[0].value or 0))
    sexes = Counter(s.value for s in spans if s.kind == "sex" and s.value is not None)
    if sexes:
        values["sex"] = max(sexes, key=lambda sex: (sexes[sex], sex == next(s.value for s in spans if s.kind == "sex")))
    groups = [s.value for s in spans if s.kind == "ethnicity" and s.value is not None]
    if groups:  # "non-Hispanic white": the group, not the negation
        values["ethnicity"] = next((group for group in groups if group != NOT_A_GROUP), groups[0])
    return values


def public_text(text: str, spans: Sequence[Span]) -> str:
    """The note without its sensitive spans: what is public about it."""
    return render(text, list(spans), [" "] * len(spans))


@dataclass
class ParsedNote:
    """A note, its detected spans and their note-level values."""

    text: str
    spans: list[Span]
    attributes: dict[str, str]

    @property
    def public(self) -> str:
        return public_text(self.text, self.spans)


def parse_notes(notes: Sequence[str], kinds: Sequence[SpanType], detector: DetectorName = "rules") -> list[ParsedNote]:
    parsed = []
    for note in notes:
        spans = detect(note, kinds, detector)
        parsed.append(ParsedNote(note, spans, note_attributes(spans)))
    return parsed


@dataclass
class SurrogateChoice:
    """What one span type gets: a model's prediction, the support's majority value, or its placeholder."""

    kind: SpanType
    used: str
    """``model``, ``majority`` or ``placeholder``."""
    reason: str
    notes: int = 0
    """Support notes with a span of this type (the rows the choice was fitted and scored on)."""
    values: list[str] = field(default_factory=list)
    majority: str | None = None
    cv_accuracy: float | None = None
    cv_macro_f1: float | None = None
    baseline_accuracy: float | None = None
    baseline_macro_f1: float | None = None
    model: LogisticRegression | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if key != "model"}


@dataclass
class HybridNote:
    """A note's three views: real, hybrid (surrogates) and uninformative (placeholders), as text and values."""

    parsed: ParsedNote
    surrogates: dict[str, str]
    """Per predicted type with a surrogate, the value standing in for the note's."""
    text: str

    @property
    def placeholders(self) -> str:
        return render(self.parsed.text, self.parsed.spans, [placeholder(s.kind) for s in self.parsed.spans])


class HybridNoteGenerator:
    """Predicts surrogates for the sensitive spans of notes from their public words; fitted on support notes."""

    def __init__(self, kinds: Sequence[SpanType] = SPAN_TYPES, *, seed: int = 0,
                 folds: int = CROSS_FIT_FOLDS, detector: DetectorName = "rules") -> None:
        self.kinds = tuple(kinds)
        self.seed = seed
        self.folds = folds
        self.detector: DetectorName = detector

    def fit(self, notes: Sequence[str]) -> HybridNoteGenerator:
        """Fit on support notes (public spans): the word features, then per type model vs majority vs placeholder.

        Leaves ``cross_fitted_``: each support note's hybrid made from values predicted without it
        (out of fold), the honest analogue of a private note's hybrid.
        """
        parsed = parse_notes(notes, self.kinds, self.detector)
        self.words_ = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=2000)
        features = self.words_.fit_transform([note.public for note in parsed])
        self.choices_: dict[SpanType, SurrogateChoice] = {}
        out_of_fold: list[dict[str, str]] = [{} for _ in parsed]
        for kind in self.kinds:
            if kind not in PREDICTED:
                self.choices_[kind] = SurrogateChoice(
                    kind, "placeholder", f"no predictive surrogate for {kind}: replaced by {placeholder(kind)}")
                continue
            rows = [i for i, note in enumerate(parsed) if kind in note.attributes]
            labels = np.array([parsed[i].attributes[kind] for i in rows])
            choice, predicted = self._fit_kind(kind, features[rows] if rows else None, labels)
            self.choices_[kind] = choice
            if choice.used == "placeholder":
                continue
            for row, value in zip(rows, predicted, strict=True):
                out_of_fold[row][kind] = value
        self.cross_fitted_ = [self._hybrid(note, values) for note, values in zip(parsed, out_of_fold, strict=True)]
        return self

    def _fit_kind(self, kind: SpanType, features: Any, labels: np.ndarray) -> tuple[SurrogateChoice, list[str]]:
        counts = Counter(labels.tolist())
        if len(labels) < MIN_LABELLED_NOTES:
            return SurrogateChoice(kind, "placeholder", f"only {len(labels)} support notes have a span of type "
                                   f"{kind} (at least {MIN_LABELLED_NOTES} needed): replaced by {placeholder(kind)}",
                                   len(labels)), []
        majority = counts.most_common(1)[0][0]
        values = sorted(counts)
        baseline = np.full(len(labels), majority)
        base_acc, base_f1 = accuracy_score(labels, baseline), f1_score(labels, baseline, average="macro")
        smallest = min(counts.values())
        if len(counts) < 2 or smallest < 2:
            reason = ("one value in the support notes" if len(counts) < 2
                      else "a value seen in only one support note leaves no cross-fitting")
            return SurrogateChoice(kind, "majority", f"majority value {majority!r}: {reason}", len(labels), values,
                                   majority, baseline_accuracy=base_acc, baseline_macro_f1=base_f1), baseline.tolist()
        folds = StratifiedKFold(n_splits=min(self.folds, smallest), shuffle=True, random_state=self.seed)
        predicted = np.empty(len(labels), dtype=object)
        for fit_rows, held in folds.split(np.zeros(len(labels)), labels):
            predicted[held] = self._model().fit(features[fit_rows], labels[fit_rows]).predict(features[held])
        acc, f1 = accuracy_score(labels, predicted), f1_score(labels, predicted.astype(str), average="macro")
        scores = dict(cv_accuracy=acc, cv_macro_f1=f1, baseline_accuracy=base_acc, baseline_macro_f1=base_f1)
        if acc <= base_acc:
            return SurrogateChoice(kind, "majority", f"majority value {majority!r}: the model's cross-fitted "
                                   f"accuracy {acc:.3f} does not beat it ({base_acc:.3f})", len(labels), values,
                                   majority, **scores), baseline.tolist()
        model = self._model().fit(features, labels)
        return SurrogateChoice(kind, "model", f"logistic regression on the public words (cross-fitted accuracy "
                               f"{acc:.3f} vs {base_acc:.3f} majority)", len(labels), values, majority,
                               model=model, **scores), predicted.tolist()

    def _model(self) -> LogisticRegression:
        return LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced", random_state=self.seed)

    def predict_values(self, parsed: Sequence[ParsedNote]) -> list[dict[str, str]]:
        """Per note, the surrogate value of each predicted type the note has spans of (public words only)."""
        predicted: list[dict[str, str]] = [{} for _ in parsed]
        features = self.words_.transform([note.public for note in parsed]) if parsed else None
        for kind, choice in self.choices_.items():
            if choice.used == "placeholder":
                continue
            rows = [i for i, note in enumerate(parsed) if any(s.kind == kind for s in note.spans)]
            if not rows:
                continue
            if choice.model is not None:
                values = choice.model.predict(features[rows]).tolist()
            else:
                values = [choice.majority] * len(rows)
            for row, value in zip(rows, values, strict=True):
                predicted[row][kind] = str(value)
        return predicted

    def transform(self, notes: Sequence[str]) -> list[HybridNote]:
        """The hybrid of each note: detected spans replaced by surrogates (or placeholders)."""
        parsed = parse_notes(notes, self.kinds, self.detector)
        return [self._hybrid(note, values) for note, values in zip(parsed, self.predict_values(parsed), strict=True)]

    def _hybrid(self, note: ParsedNote, values: dict[str, str]) -> HybridNote:
        return HybridNote(note, values, render(note.text, note.spans, surrogate_words(note, values)))

    def describe(self) -> str:
        """One line: what each span type gets."""
        return "; ".join(f"{kind}: {choice.used}" for kind, choice in self.choices_.items())


_NOT_A_NOUN = frozenset((
    "a", "an", "the", "and", "or", "but", "nor", "so", "to", "for", "with", "at", "in", "on", "of", "from", "by", "as",
    "that", "this", "these", "those", "it", "up", "down", "out", "off", "back", "home", "too", "again", "is", "was",
    "are", "were", "be", "been", "has", "had", "have", "more", "less", "all", "very", "much", "about", "since",
    "after", "before", "into", "over", "because", "anymore", "yet", "now", "once", "twice", "daily", "what", "how",
    "when", "if", "than", "some", "any", "no", "not", "alone", "well", "i", "me", "my", "we", "you", "he", "she",
    "they", "them", "there", "here", "just", "only", "either", "neither", "both", "each", "every", "do", "does",
    "did", "will", "would", "can", "could", "should", "may", "might", "must", "seems", "seemed", "got", "gets"))
"""Words after "her"/"his"/"him" that make it an object ("gave her the pills"); any other word makes it a
possessive ("her pain")."""


def _pronoun_slot(note: ParsedNote, index: int) -> str:
    """``possessive`` or ``object`` for a pronoun span, read from the public words after it (or from a span
    starting right after it: an adjective or a noun), never from the pronoun itself."""
    spans = note.spans
    limit = spans[index + 1].start if index + 1 < len(spans) else len(note.text)
    after = note.text[spans[index].end:limit]
    if not after.strip() and index + 1 < len(spans):
        return "possessive"
    word = re.match(r"\s*([A-Za-z]+)", after)
    return "possessive" if word and word.group(1).lower() not in _NOT_A_NOUN else "object"


def surrogate_words(note: ParsedNote, values: dict[str, str]) -> list[str]:
    """The words standing in for each of ``note``'s spans, given each type's surrogate value (``values``; a type
    without one gets its placeholder).

    The hybrid is public, so these words are a function of the surrogates, each span's type and place, the public
    words and the span's shape only — never of its value or wording: an age keeps the words around its number ("67
    y.o." → "77 y.o."); a sex word is rewritten from its slot in the sentence ("she" and "he" are the subject slot,
    "her"/"his"/"him" read their slot from the next public word), keeping its capitals; an ethnicity span becomes
    the surrogate group's term, or its letters where the span is a code's letters ("AA" of "AAM" → "W").
    """
    words = []
    for index, span in enumerate(note.spans):
        value = values.get(span.kind)
        if value is None:
            words.append(placeholder(span.kind))
        elif span.kind == "age":
            words.append(re.sub(r"\d+", str(AGE_SURROGATE[value]), span.text, count=1))
        elif span.kind == "sex":
            word = span.text.rstrip(".").lower()
            slot = _pronoun_slot(note, index) if word in PRONOUNS else SLOT_OF_WORD[word]
            words.append(match_case(SEX_SLOTS[slot][value], span.text))
        elif span.text in GROUP_OF_LETTERS:
            words.append(ETHNICITY_LETTERS[value])
        else:
            words.append(ETHNICITY_TERMS[value][0].title())
    return words


AGE_SURROGATE = {label: (low + min(high, 90)) // 2 for low, high, label in AGE_GROUPS}
"""The age written into a hybrid note for a predicted age group: the group's midpoint (65+ → 77)."""
