"""FusionDP on notes: sensitive spans in free text instead of sensitive columns.

``TextSpec`` names the text column, the target and the protected span types; ``detect_spans``
finds them (rule-based); ``HybridNoteGenerator`` replaces them by surrogates predicted from the
note's public words (fitted on support notes only); ``NoteVectorizer`` turns every view of a note
into the vector the tables' MLP trains on; ``prepare_text`` builds the same ``PreparedData`` a
table gives, so training, accounting, ledgers and records are shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fusiondp.text.spans import DETECTOR, Span, detect_spans
from fusiondp.text.spec import SPAN_TYPES, TextSpec

if TYPE_CHECKING:
    from fusiondp.text.hybrid import HybridNoteGenerator

__all__ = ["DETECTOR", "SPAN_TYPES", "HybridNoteGenerator", "Span", "TextSpec", "detect_spans"]


def __getattr__(name: str) -> Any:
    """``HybridNoteGenerator`` on first use: it imports scikit-learn (1 s), and every ``RunConfig`` import reads
    ``fusiondp.text.spec`` through this package, tables included."""
    if name == "HybridNoteGenerator":
        from fusiondp.text.hybrid import HybridNoteGenerator

        return HybridNoteGenerator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
