"""Rule-based detection of sensitive spans in a note: regular expressions and word lists.

``detect_spans`` finds, for each requested span type, the character ranges of ages ("67 yo",
"67 y.o.", "67-year-old", "58 years of age", "aged 67", "age is 67", the "67" of "67M"), sex and
gender words and pronouns ("female", "she", "Mr.", the "M" of "67M" or "62 y.o. M"), ethnicity
terms ("Caucasian", "African American", "Hispanic", "non-Hispanic", the "AA" of "AAM", the "W" of
"54 yo WF", "Black" or "white" said of a person), names after a title ("Mr. Smith"), dates, places
(US states, "City, ST", named hospitals) and identifiers (phone, SSN-like, MRN, e-mail). Every span
carries a normalised value where one exists — the age in years, ``male``/``female``, an ethnicity
group — which the hybrid-note generator predicts and the note's features encode.

Clinical shorthand packs several values into one token ("AAM": African-American male). Such a
token becomes adjacent spans, one per type, so that each type is protected (and replaced) on its
own. Letters and colour words are ambiguous ("BM" is a bowel movement, "HF" heart failure, "16F" a
catheter size, "101 F" a temperature, "black stool"), so they count only in a context that makes
them a person's: right after an age, at the start of a sentence before "with"/"presents", after
"she is", "identifies as", "race:".

A third-person pronoun in a note the patient writes ("I", "my") is the patient's sex unless the nearest
person word before it is a clinician's ("My doctor switched me. He said …"): that one is left out, and the
preflight lists it.

Rules miss what they do not list (a name without a title, a spelled-out age): every output names
this detector, and the preflight should be read with that in mind. No model is loaded and
nothing is downloaded.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from fusiondp.text.spec import SPAN_TYPES, SpanType

DETECTOR = "rule-based (fusiondp.text.spans: regular expressions and word lists, no NER model)"
"""The span detector's name, shown in every output."""

MAX_AGE = 120

_AGE_PATTERNS = (
    re.compile(r"\b(\d{1,3})\s*(?:(?:-\s*)?(?:years?|yrs?|y)\s*(?:-\s*)?(?:old|o\b\.?)|y\s*\.\s*o\b\.?|y/o\b|yo\b"
               r"|(?:-\s*)?(?:years?|yrs?)\s+of\s+age\b)", re.IGNORECASE),
    re.compile(r"\b(?:aged?\s*:?\s*|age\s+(?:is|was|of)\s+)(\d{1,3})\b", re.IGNORECASE),
    re.compile(r"\b(?:I am|I'm|im)\s+(\d{2})(?=\s*(?:[,.;!)]|and\b|$))", re.IGNORECASE),
)
"""A number and what makes it an age after it ("67 yo", "67 y.o.", "67 y/o", "67-year-old", "58 years of age"),
"age"/"aged" before it ("aged 67", "age: 67", "age is 67", "the age of 67"), "I'm 34"."""
_LETTER_CODE = re.compile(r"[ \t]*(?:(?P<ethnicity>AA|[WBH])(?=[MF]\b))?(?P<sex>[MF]|[mf])(?![\w/'°])")
"""After an age: an optional ethnicity letter and a sex letter ("62 y.o. M", "54 yo WF", "45yo AAM"; "f" too)."""
_BARE_AGE = re.compile(r"(?<![\w.,/-])(\d{1,3})(?=[ \t]?(?:AA|[WBH])?[MF](?![\w/'°]))")
"""A number directly followed by a code in capitals ("67M", "72 F", "38 WF"): an age only where ``_bare_context``
says the note is introducing a person."""
_BARE_BEFORE = re.compile(r"(?:[.!?;:]|\b(?:a|an|is|was|pt|patient))\s*\Z", re.IGNORECASE)
_BARE_AFTER = re.compile(r",?\s+(?:with|w/|presents?|presented|presenting|c/o|who|here|pmh|hx|h/o|s/p|admitted|"
                         r"complains?|comes|came|brought|seen|referred)\b", re.IGNORECASE)
_NOT_AN_AGE = re.compile(r"\b(?:temp\w*|t|tmax|fever\w*|febrile|to)\s*:?\s*\Z", re.IGNORECASE)
"""Before a number: a temperature ("temp 101 F", "T 99 F"), never an age."""
_NOT_A_SEX = re.compile(r"\s*(?:fr\b|french|foley|catheter|cath\b|sheath|tube|drain|pigtail|coude|kcl|nacl|hcl|"
                        r"solution)", re.IGNORECASE)
"""After a number-letter pair: a catheter size ("16F Foley") or a concentration ("2 M KCl"), never a sex."""

SEX_SLOTS: dict[str, dict[str, str]] = {
    "subject": {"male": "he", "female": "she"},
    "possessive": {"male": "his", "female": "her"},
    "object": {"male": "him", "female": "her"},
    "reflexive": {"male": "himself", "female": "herself"},
    "adjective": {"male": "male", "female": "female"},
    "person": {"male": "man", "female": "woman"},
    "people": {"male": "men", "female": "women"},
    "polite": {"male": "gentleman", "female": "lady"},
    "child": {"male": "boy", "female": "girl"},
    "title": {"male": "mr.", "female": "ms."},
    "address": {"male": "sir", "female": "madam"},
    "letter": {"male": "m", "female": "f"},
}
"""Each sex word's place in a sentence, and the word that fills it for either sex: a surrogate sex rewrites a span
from its slot, never from its word, so the hybrid does not depend on which sex the note had."""
SEX_OF_WORD: dict[str, str] = {
    "he": "male", "him": "male", "his": "male", "himself": "male", "male": "male", "man": "male", "men": "male",
    "gentleman": "male", "boy": "male", "mr": "male", "sir": "male", "m": "male",
    "she": "female", "her": "female", "hers": "female", "herself": "female", "female": "female", "woman": "female",
    "women": "female", "lady": "female", "girl": "female", "mrs": "female", "ms": "female", "miss": "female",
    "madam": "female", "f": "female",
}
PRONOUNS = frozenset({"him", "his", "her", "hers"})
"""Words whose slot (possessive or object) is read from the public words after them, not from the word: "her" is
both, so a slot taken from the word would tell "him" (a man) from "her" (a woman)."""
SLOT_OF_WORD: dict[str, str] = {
    "he": "subject", "she": "subject", "himself": "reflexive", "herself": "reflexive", "male": "adjective",
    "female": "adjective", "man": "person", "woman": "person", "men": "people", "women": "people",
    "gentleman": "polite", "lady": "polite", "boy": "child", "girl": "child", "mr": "title", "mrs": "title",
    "ms": "title", "miss": "title", "sir": "address", "madam": "address", "m": "letter", "f": "letter",
}
"""The slot of every sex word but ``PRONOUNS``: a function of the word that gives both sexes' words the same slot."""
SEXES: tuple[str, ...] = ("male", "female")
_SEX_PATTERN = re.compile(r"\b(?:" + "|".join(sorted((w for w in SEX_OF_WORD if len(w) > 1), key=len, reverse=True))
                          + r")\b\.?", re.IGNORECASE)

ETHNICITY_TERMS: dict[str, tuple[str, ...]] = {
    "white": ("caucasian", "white"),
    "black": ("african american", "african-american", "black"),
    "hispanic": ("hispanic", "latino", "latina"),
    "asian": ("asian",),
    "native american": ("native american", "american indian"),
    "non-hispanic": ("non-hispanic", "non hispanic", "nonhispanic", "not hispanic or latino", "not hispanic",
                     "non-hispanic or latino", "non-latino", "non-latina"),
}
"""Ethnicity groups and their terms; the first term, capitalised, is the group's surrogate wording."""
ETHNICITY_LETTERS: dict[str, str] = {"white": "W", "black": "AA", "hispanic": "H", "asian": "A",
                                     "native american": "NA", "non-hispanic": "NH"}
"""Each group's letters in clinical shorthand ("AAM", "WF"): the surrogate wording of a span written as letters."""
GROUP_OF_LETTERS = {"W": "white", "AA": "black", "B": "black", "H": "hispanic"}
"""The letters the rules read as a group, and only in a code after an age or before a person word."""
_PERSON_AFTER = (r"(?=\s+(?:male|female|man|woman|gentleman|lady|boy|girl|patient|pt|person|people|men|women|"
                 r"individual|adult|child|infant|teen|adolescent|veteran)\b"
                 r"|\s+\d{1,3}\s*(?:-\s*)?(?:years?\b|yrs?\b|yo\b|y\b|y\s*[./]))")
_COLOUR_TERMS = {"white", "black"}
_TERMS = sorted((term for terms in ETHNICITY_TERMS.values() for term in terms), key=len, reverse=True)
_ETHNICITY_PATTERNS = (
    re.compile(r"\b(?P<term>" + "|".join(re.escape(term).replace(r"\ ", r"\s+")
                                         + (_PERSON_AFTER if term in _COLOUR_TERMS else "") for term in _TERMS)
               + r")\b", re.IGNORECASE),
    re.compile(r"\b(?:she|he|they|patient|pt|who)\s+(?:is|was|are|were)\s+(?P<term>black|white)(?=\s*(?:[.,;:!?)]|$))",
               re.IGNORECASE),
    re.compile(r"\bidentif(?:y|ies|ied|ying)\s+(?:(?:him|her|them)sel(?:f|ves)\s+)?as\s+(?:being\s+)?"
               r"(?P<term>black|white)\b", re.IGNORECASE),
    re.compile(r"\b(?:race|ethnicity)\s*(?::|-|is|was)\s*(?P<term>black|white)\b", re.IGNORECASE),
    re.compile(r"\b(?P<term>(?-i:AA))" + _PERSON_AFTER, re.IGNORECASE),
)
"""Terms (a colour only before a person word or an age), a colour said of a person ("she is Black", "identifies as
white", "race: white"), and "AA" before a person word ("AA female")."""
_SHORTHAND = re.compile(r"\b(?P<ethnicity>AA)(?P<sex>[MF])\b")
""""AAM"/"AAF" anywhere; the one-letter groups ("WF", "BM", "HF") only after an age, where "BM" is no bowel
movement and "HF" no heart failure."""
GROUP_OF_TERM = {" ".join(term.split()): group for group, terms in ETHNICITY_TERMS.items() for term in terms}

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


def _bare_context(text: str, start: int, end: int) -> bool:
    """Whether the number at ``text[start:end]``, followed by a letter code, introduces a person ("67M with",
    "Pt is a 72 F"), rather than a temperature or a catheter size."""
    before = text[max(0, start - 12):start]
    code = _LETTER_CODE.match(text, end)
    if _NOT_AN_AGE.search(before) or code is None or _NOT_A_SEX.match(text, code.end()):
        return False
    return not text[:start].strip() or bool(_BARE_BEFORE.search(before) or _BARE_AFTER.match(text, code.end()))


@functools.lru_cache(maxsize=4)
def _age_matches(text: str) -> tuple[tuple[int, int, int], ...]:
    """``(start, end, years)`` of every age the rules take, the bare number of "67M" included. Cached: the ages and
    the letters after them (sex, ethnicity) are read from the same matches, one type after another."""
    found = [(match.start(), match.end(), int(match.group(1)))
             for pattern in _AGE_PATTERNS for match in pattern.finditer(text)]
    found += [(match.start(), match.end(), int(match.group(1))) for match in _BARE_AGE.finditer(text)
              if _bare_context(text, match.start(), match.end())]
    return tuple(found)


def _ages(text: str) -> Iterable[Span]:
    for start, end, years in _age_matches(text):
        if years <= MAX_AGE:
            yield Span(start, end, "age", text[start:end], str(years))


def _codes(text: str) -> Iterable[Span]:
    """The letters of clinical shorthand: an ethnicity and a sex letter after an age ("54 yo WF", "67M"), and
    "AAM"/"AAF" anywhere. Yielded per type; ``_sexes`` and ``_ethnicities`` take their own."""
    found = [_LETTER_CODE.match(text, end) for _, end, years in _age_matches(text) if years <= MAX_AGE]
    found += list(_SHORTHAND.finditer(text))
    for match in filter(None, found):
        if match.group("ethnicity") is not None:
            letters = match.group("ethnicity")
            yield Span(match.start("ethnicity"), match.end("ethnicity"), "ethnicity", letters,
                       GROUP_OF_LETTERS[letters])
        letter = match.group("sex")
        yield Span(match.start("sex"), match.end("sex"), "sex", letter, SEX_OF_WORD[letter.lower()])


_CLINICIAN = (r"doctors?|docs?|drs?|physicians?|nurses?|surgeons?|pharmacists?|psychiatrists?|psychologists?|"
              r"therapists?|gps?|providers?|dentists?|specialists?|practitioners?|counsell?ors?|pediatricians?|"
              r"paediatricians?|obgyn|ob/gyn|gyno?|\w+ologists?|attendings?|residents?|pcp|np|md")
_PERSON_NOUN = re.compile(rf"\b(?:(?P<clinician>{_CLINICIAN})|patient|pt|mr|mrs|ms|miss|son|daughter|husband|wife|"
                          r"mother|mom|mum|father|dad|brother|sister|boyfriend|girlfriend|partner|child|kid|baby|"
                          r"friend|grand\w+|aunt|uncle|man|woman|boy|girl|gentleman|lady|teen|toddler|infant)\b",
                          re.IGNORECASE)
"""A person word: a clinician's ("my doctor", "the dermatologist", "dr") or anyone else's ("my son", "the patient")."""
_FIRST_PERSON = re.compile(r"(?:^|(?<=[\s(\"]))(?:(?-i:I)|I'm|I've|I'd|me|my|myself)\b", re.IGNORECASE)
"""A first-person word standing as a word ("my", "I"), not the end of a web address ("example.org/me")."""
_SENTENCE_END = re.compile(r"[.!?]+\s+")
THIRD_PERSON_PRONOUNS = frozenset({"he", "him", "his", "himself", "she", "her", "hers", "herself"})


def is_clinician_pronoun(text: str, start: int) -> bool:
    """Whether the pronoun at ``text[start]`` is a clinician's, not the patient's: in a note the patient writes
    (it speaks of "I"/"my"), the nearest person word before the pronoun, in its sentence or the one before, is a
    clinician ("My doctor switched me to it. He said …"). A pronoun's own sex word is then no attribute of the
    patient. Only first-person notes: in a clinician's note ("Seen by Dr. Lee for his chest pain") a pronoun after a
    doctor is usually the patient's, and a missed patient's pronoun leaks, so the rule stays narrow (the preflight
    lists what it left public)."""
    if not _FIRST_PERSON.search(text):
        return False
    ends = [match.end() for match in _SENTENCE_END.finditer(text, 0, start)]
    window = text[(ends[-2] if len(ends) > 1 else 0):start]
    people = list(_PERSON_NOUN.finditer(window))
    return bool(people) and people[-1].group("clinician") is not None


def clinician_pronouns(text: str) -> list[str]:
    """The third-person pronouns of ``text`` that ``is_clinician_pronoun`` leaves out of the sex spans."""
    return [match.group(0) for match in _SEX_PATTERN.finditer(text)
            if match.group(0).lower() in THIRD_PERSON_PRONOUNS and is_clinician_pronoun(text, match.start())]


def _sexes(text: str) -> Iterable[Span]:
    for match in _SEX_PATTERN.finditer(text):
        word = match.group(0).rstrip(".").lower()
        if word in THIRD_PERSON_PRONOUNS and is_clinician_pronoun(text, match.start()):
            continue
        end = match.end() if word in ("mr", "mrs", "ms") else match.start() + len(word)
        yield Span(match.start(), end, "sex", text[match.start():end], SEX_OF_WORD[word])
    yield from (span for span in _codes(text) if span.kind == "sex")


def _ethnicities(text: str) -> Iterable[Span]:
    for pattern in _ETHNICITY_PATTERNS:
        for match in pattern.finditer(text):
            term = match.group("term")
            group = GROUP_OF_LETTERS.get(term) or GROUP_OF_TERM[" ".join(term.lower().split())]
            yield Span(match.start("term"), match.end("term"), "ethnicity", term, group)
    yield from (span for span in _codes(text) if span.kind == "ethnicity")


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
