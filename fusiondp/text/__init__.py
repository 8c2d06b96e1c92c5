"""FusionDP on notes: sensitive spans in free text instead of sensitive columns.

``TextSpec`` names the text column, the target and the protected span types; ``detect_spans``
finds them (rule-based); ``HybridNoteGenerator`` replaces them by surrogates predicted from the
note's public words (fitted on support notes only); ``NoteVectorizer`` turns every view of a note
into the vector the tables' MLP trains on; ``prepare_text`` builds the same ``PreparedData`` a
table gives, so training, accounting, ledgers and records are shared.
"""

from fusiondp.text.hybrid import HybridNoteGenerator
from fusiondp.text.spans import DETECTOR, Span, detect_spans
from fusiondp.text.spec import SPAN_TYPES, TextSpec

__all__ = ["DETECTOR", "SPAN_TYPES", "HybridNoteGenerator", "Span", "TextSpec", "detect_spans"]
