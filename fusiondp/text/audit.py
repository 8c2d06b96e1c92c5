"""The audit's reading of notes: guess a note's age group, sex or ethnicity group from the trained model.

``fusiondp.privacy.audit`` runs the same attacks on notes as on tables; this view says what a sensitive
value of a note is and what the attacker knows. The attacker holds a note's public words (the note with
its sensitive spans removed: the public block of every view), which spans it has and where (placeholders
keep their place in every view), its label and its other spans' values. For one span type it queries the
model with each candidate value written into every span of that type (one value per note, as the hybrid
notes have) and guesses the value under which the model finds the note's label most likely.

The baseline is the hybrid-note generator alone — its prediction from the public words, refitted on the
support notes exactly as the run fitted it — which is what a public model already infers, at no privacy
cost. An attack that does no better than the generator learns nothing from the model beyond that.

Only predicted span types (age, sex, ethnicity) have a finite set of candidates, and the candidates are
declared (``fusiondp.text.features.declared_values``), never read from notes; names, dates, places and
identifiers are not attacked and the report says so. A private note's real values are read only to score
the guesses, as every audit must; nothing is trained on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from fusiondp.prepared import PreparedData
from fusiondp.text.features import declared_values, guessed_tokens, real_tokens
from fusiondp.text.hybrid import PREDICTED, HybridNoteGenerator, ParsedNote, parse_notes
from fusiondp.text.pipeline import support_generator
from fusiondp.text.spans import placeholder
from fusiondp.text.spec import SpanType, TextSpec


@dataclass
class NoteView:
    """Notes for ``fusiondp.privacy.audit``: a span type's note-level value, guessed among its declared values."""

    prepared: PreparedData
    baseline: str = "generator"
    _parsed: dict[str, ParsedNote] = field(default_factory=dict, init=False, repr=False)
    """Each note's spans, detected once however many candidates query it."""

    @property
    def text(self) -> TextSpec:
        text = self.prepared.config.text
        assert text is not None, "a NoteView reads notes (audit_view picks it only for a text spec)"
        return text

    @property
    def kinds(self) -> dict[str, SpanType]:
        """The attacked span types by their ledger name (``"sex spans of 'note'"`` → ``"sex"``)."""
        return {
            label: kind
            for label, kind in zip(self.text.span_labels(), self.text.sensitive_spans, strict=True)
            if kind in PREDICTED
        }

    @cached_property
    def generator(self) -> HybridNoteGenerator:
        return support_generator(self.prepared.config, self.prepared.splits)

    def attacked(self) -> list[str]:
        return list(self.kinds)

    def notes(self, attacked: list[str]) -> list[str]:
        lines = []
        for label, kind in zip(self.text.span_labels(), self.text.sensitive_spans, strict=True):
            if kind not in PREDICTED:
                lines.append(
                    f"{label}: not attacked (only age, sex and ethnicity spans have a finite set of values to guess)"
                )
            elif label not in attacked:
                lines.append(f"{label}: not attacked (no attacked training or held-out note has such a span)")
            elif self.generator.choices_[kind].used == "placeholder":
                lines.append(
                    f"{label}: the hybrid-note generator writes the placeholder {placeholder(kind)}, so its "
                    "baseline guesses nothing (accuracy 0)"
                )
        return lines

    def candidates(self, column: str) -> list[str]:
        return declared_values(self.kinds[column])

    def _parse(self, rows: pd.DataFrame) -> list[ParsedNote]:
        notes = rows[self.text.text_column].tolist()
        new = [note for note in dict.fromkeys(notes) if note not in self._parsed]
        self._parsed.update(zip(new, parse_notes(new, self.text.sensitive_spans), strict=True))
        return [self._parsed[note] for note in notes]

    def observed(self, rows: pd.DataFrame, column: str, candidates: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
        """The notes with a span of the column's type, and the index of the note's own value (its first age's
        group, its majority sex, its first ethnicity group: ``fusiondp.text.hybrid.note_attributes``)."""
        values = [note.attributes.get(self.kinds[column]) for note in self._parse(rows)]
        truth = _indices(values, candidates)
        known = truth >= 0
        return rows[known].reset_index(drop=True), truth[known]

    def encode(self, rows: pd.DataFrame, guess: tuple[str, str] | None = None) -> np.ndarray:
        parsed = self._parse(rows)
        tokens = (
            [real_tokens(note) for note in parsed]
            if guess is None
            else [guessed_tokens(note, self.kinds[guess[0]], guess[1]) for note in parsed]
        )
        return self.prepared.encoder.transform(self.public(rows), tokens)

    def public(self, rows: pd.DataFrame) -> np.ndarray:
        return self.prepared.encoder.public_block(self._parse(rows))

    def baseline_guess(self, rows: pd.DataFrame, column: str, candidates: list[str]) -> np.ndarray:
        kind = self.kinds[column]
        return _indices([values.get(kind) for values in self.generator.predict_values(self._parse(rows))], candidates)


def _indices(values: list[str | None], candidates: list[str]) -> np.ndarray:
    """Each value's position among ``candidates`` (−1: none, or not a candidate)."""
    position = {value: index for index, value in enumerate(candidates)}
    return np.array([position.get(value, -1) if value is not None else -1 for value in values], dtype=int)
