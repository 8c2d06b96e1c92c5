"""Rule-based detection of sensitive spans in a note: regular expressions and word lists.

``detect_spans`` finds, for each requested span type, the character ranges of ages ("67 yo",
"67-year-old", "aged 67"), sex and gender words and pronouns ("female", "she", "Mr."), ethnicity
terms ("Caucasian", "African American", "Hispanic"), names after a title ("Mr. Smith"), dates,
places (US states, "City, ST", named hospitals) and identifiers (phone, SSN-like, MRN, e-mail).
Every span carries a normalised value where one exists — the age in years, ``male``/``female``,
an ethnicity group — which the hybrid-note generator predicts and the note's features encode.

Rules miss what they do not list (a name without a title, a spelled-out age): every output names
this detector, and the preflight should be read with that in mind. No model is loaded and
nothing is downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from fusiondp.text.spec import SPAN_TYPES, SpanType

DETECTOR = "rule-based (fusiondp.text.spans: regular expressions and word lists, no NER model)"
"""The span detector's name, shown in every output."""

MAX_AGE = 120

_AGE_PATTERNS = (
    re.compile(r"\b(\d{1,3})\s*(?:-\s*)?(?:years?|yrs?|y)\s*(?:-\s*)?(?:old|o\b\.?)", re.IGNORECASE),
    re.compile(r"\b(\d{1,3})\s*y/o\b", re.IGNORECASE),
    re.compile(r"\b(\d{1,3})\s*yo\b", re.IGNORECASE),
    re.compile(r"\b(?:age|aged)\s*:?\s*(\d{1,3})\b", re.IGNORECASE),
    re.compile(r"\b(?:I am|I'm|im)\s+(\d{2})(?=\s*(?:[,.;!)]|and\b|$))", re.IGNORECASE),
)

SEX_FORMS: dict[str, dict[str, str]] = {
    "male": {"he": "he", "him": "him", "his": "his", "himself": "himself", "male": "male", "man": "man",
             "men": "men", "gentleman": "gentleman", "boy": "boy", "mr": "mr", "sir": "sir",
             "she": "he", "her": "his", "hers": "his", "herself": "himself", "female": "male", "woman": "man",
             "women": "men", "lady": "gentleman", "girl": "boy", "mrs": "mr", "ms": "mr", "miss": "mr",
             "madam": "sir"},
    "female": {"she": "she", "her": "her", "hers": "hers", "herself": "herself", "female": "female",
               "woman": "woman", "women": "women", "lady": "lady", "girl": "girl", "mrs": "mrs", "ms": "ms",
               "miss": "miss", "madam": "madam",
               "he": "she", "him": "her", "his": "her", "himself": "herself", "male": "female", "man": "woman",
               "men": "women", "gentleman": "lady", "boy": "girl", "mr": "ms", "sir": "madam"},
}
"""Each sex word's form for a given sex: the surrogate of a word is ``SEX_FORMS[sex][word]``."""
SEX_OF_WORD = {word: sex for sex, forms in SEX_FORMS.items() for word, form in forms.items() if word == form}
_SEX_PATTERN = re.compile(r"\b(?:" + "|".join(sorted(SEX_OF_WORD, key=len, reverse=True)) + r")\b\.?",
                          re.IGNORECASE)

ETHNICITY_TERMS: dict[str, tuple[str, ...]] = {
    "white": ("caucasian", "white"),
    "black": ("african american", "african-american", "black"),
    "hispanic": ("hispanic", "latino", "latina"),
    "asian": ("asian",),
    "native american": ("native american", "american indian"),
}
"""Ethnicity groups and their terms; the first term is the group's surrogate wording."""
_PERSON_AFTER = r"(?=\s+(?:male|female|man|woman|gentleman|lady|boy|girl|patient|person|people|men|women)\b)"
_COLOUR_TERMS = {"white", "black"}
_ETHNICITY_PATTERN = re.compile(
    r"\b(?:" + "|".join(re.escape(term) + (_PERSON_AFTER if term in _COLOUR_TERMS else "")
                        for terms in ETHNICITY_TERMS.values() for term in sorted(terms, key=len, reverse=True))
    + r")\b", re.IGNORECASE)
GROUP_OF_TERM = {term: group for group, terms in ETHNICITY_TERMS.items() for term in terms}

_NAME_PATTERN = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr)\.?\s+([A-Z][a-z]+(?:[ -][A-Z][a-z]+)?)")
_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
          r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
_DATE_PATTERNS = (
    re.compile(r"\b\d{1,2}[/-]\d{1,2}[/-](?:\d{4}|\d{2})\b"),
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    re.compile(rf"\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b"),
    re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?,?\s+\d{{4}}\b"),
    re.compile(rf"\b{_MONTH}\.?\s+(?:19|20)\d{{2}}\b"),
)
US_STATES = (
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware", "Florida",
    "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky", "Louisiana", "Maine",
    "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi", "Missouri", "Montana", "Nebraska",
    "Nevada", "New Hampshire", "New Jersey", "New Mexico", "New York", "North Carolina", "North Dakota", "Ohio",
    "Oklahoma", "Oregon", "Pennsylvania", "Rhode Island", "South Carolina", "South Dakota", "Tennessee", "Texas",
    "Utah", "Vermont", "Virginia", "Washington", "West Virginia", "Wisconsin", "Wyoming",
)
_PLACE_PATTERNS = (
    re.compile(r"\b(?:" + "|".join(sorted(US_STATES, key=len, reverse=True)) + r")\b"),
    re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)?, [A-Z]{2}\b"),
    re.compile(r"\b(?:[A-Z][a-z]+ ){1,3}(?:Hospital|Medical Center|Clinic|Health System)\b"),
)
_IDENTIFIER_PATTERNS = (
    re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    re.compile(r"(?:\(\d{3}\)\s*|\b\d{3}[-.\s])\d{3}[-.]\d{4}\b"),
    re.compile(r"\b(?:MRN|medical record(?: number)?|record number|patient id|account number)\s*[:#]?\s*[A-Z0-9-]*\d"
               r"[A-Z0-9-]*", re.IGNORECASE),
    re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b"),
)

PRIORITY: tuple[SpanType, ...] = ("identifier", "date", "age", "name", "place", "ethnicity", "sex")
"""Which type wins when two detections overlap (earlier wins)."""


@dataclass(frozen=True)
class Span:
    """One detected sensitive span: ``text[start:end]``, its type and its normalised value (if any)."""

    start: int
    end: int
    kind: SpanType
    text: str
    value: str | None = None
    """``age``: years as digits; ``sex``: male/female; ``ethnicity``: the group; others: ``None``."""


def _ages(text: str) -> Iterable[Span]:
    for pattern in _AGE_PATTERNS:
        for match in pattern.finditer(text):
            years = int(match.group(1))
            if years <= MAX_AGE:
                yield Span(match.start(), match.end(), "age", match.group(0), str(years))


def _sexes(text: str) -> Iterable[Span]:
    for match in _SEX_PATTERN.finditer(text):
        word = match.group(0).rstrip(".").lower()
        end = match.end() if word in ("mr", "mrs", "ms") else match.start() + len(word)
        yield Span(match.start(), end, "sex", text[match.start():end], SEX_OF_WORD[word])


def _ethnicities(text: str) -> Iterable[Span]:
    for match in _ETHNICITY_PATTERN.finditer(text):
        yield Span(match.start(), match.end(), "ethnicity", match.group(0), GROUP_OF_TERM[match.group(0).lower()])


def _names(text: str) -> Iterable[Span]:
    for match in _NAME_PATTERN.finditer(text):
        yield Span(match.start(1), match.end(1), "name", match.group(1))


def _matches(kind: SpanType, patterns: Iterable[re.Pattern[str]], text: str) -> Iterable[Span]:
    for pattern in patterns:
        for match in pattern.finditer(text):
            yield Span(match.start(), match.end(), kind, match.group(0))


def _candidates(text: str, kind: SpanType) -> Iterable[Span]:
    if kind == "age":
        return _ages(text)
    if kind == "sex":
        return _sexes(text)
    if kind == "ethnicity":
        return _ethnicities(text)
    if kind == "name":
        return _names(text)
    patterns = {"date": _DATE_PATTERNS, "place": _PLACE_PATTERNS, "identifier": _IDENTIFIER_PATTERNS}[kind]
    return _matches(kind, patterns, text)


def candidate_spans(text: str, kinds: Iterable[SpanType] = SPAN_TYPES) -> list[Span]:
    """Every rule detection of the given types in ``text``, overlaps included (``resolve_overlaps`` settles them)."""
    wanted = set(kinds)
    return [span for kind in PRIORITY if kind in wanted for span in _candidates(text, kind)]


def resolve_overlaps(found: Iterable[Span]) -> list[Span]:
    """The detections in order, never overlapping: where two overlap, the type earlier in ``PRIORITY`` wins, then
    the longer one. Shared by every detector, so that rules and a package's detections combine the same way."""
    rank = {kind: position for position, kind in enumerate(PRIORITY)}
    ordered = sorted(found, key=lambda s: (rank[s.kind], -(s.end - s.start), s.start))
    taken: list[Span] = []
    for span in ordered:
        if all(span.end <= other.start or span.start >= other.end for other in taken):
            taken.append(span)
    return sorted(taken, key=lambda s: s.start)


def detect_spans(text: str, kinds: Iterable[SpanType] = SPAN_TYPES) -> list[Span]:
    """The sensitive spans of ``text`` of the given types found by the rules, in order, never overlapping."""
    return resolve_overlaps(candidate_spans(text, kinds))


def placeholder(kind: SpanType) -> str:
    """The type placeholder a span is replaced by where no surrogate is predicted: ``[AGE]``, ``[NAME]``, …"""
    return f"[{kind.upper()}]"


def render(text: str, spans: list[Span], replacements: list[str]) -> str:
    """``text`` with each span replaced by its replacement (``spans`` in order, not overlapping)."""
    pieces, cursor = [], 0
    for span, replacement in zip(spans, replacements, strict=True):
        pieces += [text[cursor:span.start], replacement]
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def masked(text: str, spans: list[Span]) -> str:
    """``text`` with every span replaced by its type placeholder (the note's uninformative view)."""
    return render(text, spans, [placeholder(span.kind) for span in spans])


def match_case(word: str, like: str) -> str:
    """``word`` capitalised as ``like`` is: ``SHE`` → ``HE``, ``She`` → ``He``, ``she`` → ``he``."""
    if like.isupper() and len(like) > 1:
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
