"""Notes as people read them: detected spans highlighted, and a support note beside its hybrid.

Only *support* notes are shown here: their spans are public. A support note's hybrid is its
cross-fitted one (``HybridNoteGenerator.cross_fitted_``): surrogates predicted by a fit that did
not see the note, as a private note's would be. The dashboard, the notebook and the HTML they show
all come from these functions.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from fusiondp.errors import SpecError
from fusiondp.prepared import PreparedData
from fusiondp.text.detectors import describe, detect
from fusiondp.text.hybrid import HybridNote, HybridNoteGenerator, surrogate_words
from fusiondp.text.pipeline import support_generator
from fusiondp.text.spans import Span, placeholder
from fusiondp.text.spec import SPAN_TYPES, DetectorName, SpanType

Piece = tuple[str, SpanType | None]
"""A stretch of a note and the span type it is (``None``: public words)."""
SPAN_COLOURS: dict[str, str] = {"age": "#fde68a", "sex": "#fbcfe8", "ethnicity": "#c7d2fe", "name": "#fecaca",
                                "date": "#bbf7d0", "place": "#bae6fd", "identifier": "#e9d5ff"}
"""One background colour per span type, the same in every view."""


def _pieces(text: str, spans: Sequence[Span], replacements: Sequence[str]) -> list[Piece]:
    pieces: list[Piece] = []
    cursor = 0
    for span, replacement in zip(spans, replacements, strict=True):
        if span.start > cursor:
            pieces.append((text[cursor:span.start], None))
        pieces.append((replacement, span.kind))
        cursor = span.end
    if cursor < len(text):
        pieces.append((text[cursor:], None))
    return pieces


def highlight_spans(text: str, kinds: Iterable[SpanType] = SPAN_TYPES,
                    detector: DetectorName = "rules") -> list[Piece]:
    """``text`` cut into its public words and its detected sensitive spans, in order: joined, the note itself."""
    spans = detect(text, kinds, detector)
    return _pieces(text, spans, [span.text for span in spans])


def hybrid_pieces(note: HybridNote) -> list[Piece]:
    """A note's hybrid cut as ``highlight_spans`` cuts the note: each span's stretch is its surrogate or placeholder."""
    parsed = note.parsed
    return _pieces(parsed.text, parsed.spans, surrogate_words(parsed, note.surrogates))


def highlight_html(pieces: Sequence[Piece]) -> str:
    """The pieces as HTML: public words as text, each span marked with its type's colour and name (escaped)."""
    parts = []
    for text, kind in pieces:
        words = html.escape(text)
        if kind is None:
            parts.append(words)
        else:
            parts.append(f'<mark style="background:{SPAN_COLOURS[kind]};padding:0 2px;border-radius:3px" '
                         f'title="{kind}">{words}<sub style="font-size:0.65em;opacity:0.7"> {kind}</sub></mark>')
    return "".join(parts).replace("\n", "<br>")


@dataclass
class NoteExample:
    """One support note: its detected spans and its cross-fitted hybrid, both as pieces."""

    row: int
    """Position of the note among the support notes."""
    real: list[Piece]
    hybrid: list[Piece]
    surrogates: dict[str, str]
    """Per predicted span type the note has, the surrogate value standing in for its own."""

    @property
    def kinds(self) -> list[str]:
        return sorted({kind for _, kind in self.real if kind is not None})

    def side_by_side_html(self) -> str:
        """The note and its hybrid in two columns (for a notebook; the dashboard lays out its own columns)."""
        cell = "vertical-align:top;text-align:left;padding:6px;width:50%"
        return (f'<table style="width:100%"><tr><th style="{cell}">support note (as written)</th>'
                f'<th style="{cell}">its hybrid note (cross-fitted surrogates)</th></tr>'
                f'<tr><td style="{cell}">{highlight_html(self.real)}</td>'
                f'<td style="{cell}">{highlight_html(self.hybrid)}</td></tr></table>')


@dataclass
class SupportPreview:
    """What the generator did on the support notes, and a few of them with their hybrids."""

    generator: HybridNoteGenerator
    examples: list[NoteExample]
    span_counts: dict[str, int]
    """Per span type, the spans detected in the support notes (public)."""
    notes_with_spans: int
    support_notes: int

    def choices_table(self) -> pd.DataFrame:
        """Per span type: what its surrogate is (model, majority value, placeholder) and why."""
        return pd.DataFrame([{"span type": kind, "spans in support notes": self.span_counts.get(kind, 0),
                              "surrogate": {"model": "predicted from the public words", "majority":
                                            f"majority value {choice.majority!r}",
                                            "placeholder": f"placeholder {placeholder(kind)}"}[choice.used],
                              "why": choice.reason}
                             for kind, choice in self.generator.choices_.items()])

    def caption(self) -> str:
        return (f"Span detector: {describe(self.generator.detector)}. {self.notes_with_spans} of "
                f"{self.support_notes} support notes have a detected span.")


def support_preview(prepared: PreparedData, examples: int = 3) -> SupportPreview:
    """Refit the run's generator on its support notes (same seed: the same fit) and pick ``examples`` notes to show.

    The notes shown are the support notes with the most span types (then the most spans), shortest first
    among equals; their hybrids are cross-fitted. Nothing here reads a private note.
    """
    text = prepared.config.text
    if text is None:
        raise SpecError("No text spec: the note preview needs a text column.")
    support = prepared.splits.support[text.text_column].tolist()
    generator = support_generator(prepared.config, prepared.splits)
    hybrids = generator.cross_fitted_
    counts = Counter(span.kind for note in hybrids for span in note.parsed.spans)
    ranked = sorted((i for i, note in enumerate(hybrids) if note.parsed.spans),
                    key=lambda i: (-len({s.kind for s in hybrids[i].parsed.spans}), -len(hybrids[i].parsed.spans),
                                   len(support[i]), i))
    chosen = [NoteExample(i, highlight_spans(support[i], text.sensitive_spans, text.detector),
                          hybrid_pieces(hybrids[i]), dict(hybrids[i].surrogates)) for i in ranked[:examples]]
    return SupportPreview(generator, chosen, {kind: counts.get(kind, 0) for kind in text.sensitive_spans},
                          sum(bool(note.parsed.spans) for note in hybrids), len(support))


def support_hybrids(generator: HybridNoteGenerator) -> pd.DataFrame:
    """Every support note beside its cross-fitted hybrid, with each predicted type's value and surrogate.

    Support notes only: their spans are public. A private note's hybrid is never listed, since beside the note
    it would show the note's real spans.
    """
    kinds = [kind for kind, choice in generator.choices_.items() if choice.used != "placeholder"]
    rows = []
    for note in generator.cross_fitted_:
        row = {"note": note.parsed.text, "hybrid_note": note.text}
        for kind in kinds:
            row[f"{kind}_value"] = note.parsed.attributes.get(kind)
            row[f"{kind}_surrogate"] = note.surrogates.get(kind)
        rows.append(row)
    return pd.DataFrame(rows)
