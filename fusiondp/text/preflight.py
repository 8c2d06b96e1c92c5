"""The notes' preflight: identifiers that survive span detection and would stay in the public words.

The span detector (``fusiondp.text.detectors``) misses what its rules do not list. Whatever it
misses is treated as public: it reaches the model without noise. ``note_preflight`` looks in every
note's *public* words (the note with its detected spans removed) for patterns that usually are
identifying — a capitalised word after a title the name rule does not take ("Doctor Smith",
"Nurse Jones", "Dr. McDonald"; a lower-case "dr." before one, which may instead end a sentence, as a lesser finding),
long digit runs and phone-like numbers, spelled-out ages, ages the
age rule cannot place ("130 years old", "45 yr M", "age approx 67"), ethnicity words it does not list
("Puerto Rican", "biracial", "Black" mid-sentence, "38 WF"), web addresses, pronouns the sex rule read as
a clinician's ("my doctor … he") — and reports each as a finding with how many notes hold it. With
``cross_check`` a second detector, presidio-analyzer's recognizers, reads the same public words: what it
finds there is what the run's detector missed. The findings quote up to three examples: they are read from the notes
themselves, so they are for the data owner, locally, not for publication (``LOCAL_NOTE``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fusiondp.privacy.preflight import Finding, Severity
from fusiondp.text.detectors import detect, presidio_spans
from fusiondp.text.hybrid import public_text
from fusiondp.text.spans import clinician_pronouns
from fusiondp.text.spec import SPAN_TYPES, DetectorName, SpanType

_ABBREVIATED_TITLE = r"(?i:dr|prof|mr|mrs|ms|mx|rev)"
_TITLE = rf"(?:(?i:doctor|nurse|professor) +|(?!(?-i:dr|prof|mr|mrs|ms|mx|rev)\.){_ABBREVIATED_TITLE}\.? +)"
"""A title — a word in any case, or an abbreviation capitalised or without its dot — then the capitalised word after
it ("Dr. Patel", "nurse Jones", "dr Patel"; not "Dr. said", nor "doctor. Then", where the dot ends a sentence)."""
_LOWER_TITLE_DOT = r"(?-i:dr|prof|mr|mrs|ms|mx|rev)\. +"
"""A lower-case abbreviation with its dot: before a capitalised word it may be a title ("my dr. Patel") or end a
sentence ("according to my dr. Loved the taste"); the rules cannot tell, so it is a finding of its own."""
_NUMBER_WORD = (r"(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
                r"(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?")
_AGE_WORDS = r"(?:y\s*\.?\s*/?\s*o\b\.?|yrs?\.?\s*old\b|years?[- ]old\b|years?\s+of\s+age\b)"
"""What follows a number that makes it an age ("yo", "y.o.", "y/o", "yrs old", "year-old", "years of age")."""
_UNPLACED_AGE = (rf"\b\d{{1,3}}\s*(?:-\s*)?{_AGE_WORDS}"
                 r"|\b\d{1,3}\s*(?:-\s*)?(?:years?|yrs?|y)\.?[ \t]?(?-i:AA|[WBH])?(?-i:[MF])\b"
                 r"|\bage[sd]?\b[^\d.;\n]{0,15}\d{1,3}\b")
"""A number with an age word, a number of years with a sex letter, a number soon after "age": outside the detected
spans, an age the rule could not place (over 120 years, an unusual form, or age not declared sensitive)."""
_ETHNICITY_WORDS = (r"\b(?:latinx|latin american|pacific islander|(?:native )?hawaiian|alaskan? native|middle eastern|"
                    r"arab|arabic|chinese|japanese|korean|vietnamese|filipin[oa]|indian|mexican|puerto rican|cuban|"
                    r"dominican|haitian|jamaican|caribbean|somali|ethiopian|nigerian|african|european|jewish|"
                    r"biracial|multiracial|mixed[- ]race)\b"
                    r"|(?<=[A-Za-z,] )(?-i:Black|White)\b"
                    r"|\b\d{1,3}[ \t]?(?-i:AA|[WBH])(?-i:[MF])\b|\b(?-i:AAM|AAF|WM|WF|BF|HM)\b")
"""Origins and races the ethnicity rule does not list, a capitalised colour inside a sentence, and clinical codes
("38 WF", "AAM") it did not place. "BM" and "HF" alone are left out: a bowel movement, heart failure."""
LOCAL_NOTE = "Examples quoted from your notes: a local diagnostic, not differentially private; do not publish them."
MAX_EXAMPLES = 3


@dataclass(frozen=True)
class ResidualCheck:
    """One pattern of identifying words the detector does not take, and what to do about it."""

    code: str
    severity: Severity
    pattern: re.Pattern[str] | None
    """``None``: found by the second detector (``SECOND_DETECTOR_CHECKS``), not by a pattern."""
    what: str
    action: str


RESIDUAL_CHECKS: tuple[ResidualCheck, ...] = (
    ResidualCheck("note_titled_name", "high",
                  re.compile(rf"\b{_TITLE}(?:Mc|Mac|O')?[A-Z][a-z][A-Za-z'-]*"),
                  "a title followed by a name-like word that was not detected as a name",
                  "Names after 'Doctor', 'Nurse' or 'Prof', lower-case titles and names such as McDonald are not "
                  "taken by the name rule: remove or replace them in the text before training."),
    ResidualCheck("note_lower_title_word", "medium",
                  re.compile(rf"\b{_LOWER_TITLE_DOT}(?:Mc|Mac|O')?[A-Z][a-z][A-Za-z'-]*"),
                  "a lower-case title with its dot, then a capitalised word: a name, or the next sentence's first word",
                  "Read the examples: where the word is a name, remove or replace it in the text before training "
                  "(the name rule takes 'Dr. Patel', not 'dr. Patel'); where the dot ends a sentence, nothing leaks."),
    ResidualCheck("note_digit_run", "high", re.compile(r"(?<![\d.,-])\d{7,}(?![\d.,-])"),
                  "a run of 7 or more digits (an ID, a record or phone number) outside the detected identifiers",
                  "Remove or mask identifiers in the text before training; the identifier rule takes phone numbers "
                  "with an area code, SSN-like numbers, e-mails and numbers after 'MRN' or 'record number' only."),
    ResidualCheck("note_short_phone", "medium", re.compile(r"(?<![\d-])\d{3}[-.]\d{4}(?![\d-])"),
                  "a 7-digit phone-like number (123-4567) outside the detected identifiers",
                  "Mask phone numbers without an area code in the text before training."),
    ResidualCheck("note_spelled_age", "medium",
                  re.compile(rf"\b{_NUMBER_WORD}[- ]years?[- ]old\b|\baged? {_NUMBER_WORD}\b", re.IGNORECASE),
                  "an age written in words, which the age rule (digits only) does not take",
                  "Write ages as digits (\"70-year-old\") so that they are detected, or remove them."),
    ResidualCheck("note_unplaced_age", "medium", re.compile(_UNPLACED_AGE, re.IGNORECASE),
                  "an age the age rule cannot place (a number with 'years old', 'y.o.', 'years of age' or a sex "
                  "letter, or a number after 'age')",
                  "Write ages as '67 yo', '67-year-old', '67 years of age' or 'age 67' so that they are detected "
                  "(ages over 120 are not), declare age sensitive, or remove them."),
    ResidualCheck("note_ethnicity_word", "medium", re.compile(_ETHNICITY_WORDS, re.IGNORECASE),
                  "an ethnicity, origin or race word the ethnicity rule does not take",
                  "The ethnicity rule takes Caucasian, white, African American, Black, AA, Hispanic, Latino/Latina, "
                  "non-Hispanic, Asian, Native American and American Indian (colours only of a person, letter codes "
                  "only after an age): remove or replace other origins and races in the text before training."),
    ResidualCheck("note_clinician_pronoun", "low", None,
                  "a pronoun read as a clinician's, not the patient's (in a note written as 'I', the nearest person "
                  "before it is a doctor, nurse or other clinician), left out of the sex spans",
                  "Read the examples: where the pronoun is the patient's after all (\"my son's doctor said he\"), "
                  "replace it in the text before training."),
    ResidualCheck("note_web_address", "medium", re.compile(r"\b(?:https?://|www\.)\S*[^\s.,;:!?)]", re.IGNORECASE),
                  "a web address", "Remove web addresses: a profile or a personal page can identify the writer."),
)
SECOND_DETECTOR_CHECKS: tuple[ResidualCheck, ...] = (
    ResidualCheck("note_second_detector_identifier", "high", None,
                  "an identifier that presidio-analyzer's recognizers (the second detector) find and the run's "
                  "detector missed",
                  "Run with the span detector 'presidio' (--span-detector presidio), or remove or mask these "
                  "identifiers in the text before training."),
    ResidualCheck("note_second_detector_date", "medium", None,
                  "a date that presidio-analyzer's recognizers (the second detector) find and the run's detector "
                  "missed",
                  "Run with the span detector 'presidio' (--span-detector presidio), or write dates in a form the "
                  "date rule takes."),
)


def residual_matches(note: str, kinds: Sequence[SpanType], detector: DetectorName = "rules",
                     cross_check: bool = False) -> dict[str, list[str]]:
    """Per check code, the stretches of ``note``'s public words (its detected spans removed) that match it.

    With ``cross_check``, presidio-analyzer also reads the public words, for every span type (an identifier left
    public identifies whether or not its type was declared sensitive).
    """
    public = public_text(note, detect(note, kinds, detector))
    found = {check.code: [m.group(0) for m in check.pattern.finditer(public)]
             for check in RESIDUAL_CHECKS if check.pattern is not None}
    if "sex" in kinds:
        found["note_clinician_pronoun"] = clinician_pronouns(note)
    if cross_check:
        for span in presidio_spans(public, SPAN_TYPES):
            found.setdefault(f"note_second_detector_{span.kind}", []).append(span.text)
    return {code: matches for code, matches in found.items() if matches}


def note_preflight(notes: Sequence[str], kinds: Sequence[SpanType], column: str, detector: DetectorName = "rules",
                   cross_check: bool = False) -> list[Finding]:
    """Findings about identifying words that survive ``detector`` in ``notes``, most severe first.

    Reads the notes' public words only (the detected spans are removed first). Each finding counts the notes
    holding the pattern and quotes up to ``MAX_EXAMPLES`` of them (``LOCAL_NOTE``). ``cross_check`` adds the
    second detector's findings (presidio-analyzer must be installed).
    """
    holding: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    for note in notes:
        for code, matches in residual_matches(note, kinds, detector, cross_check).items():
            holding[code] = holding.get(code, 0) + 1
            seen = examples.setdefault(code, [])
            seen += [m for m in matches if m not in seen][: MAX_EXAMPLES - len(seen)]
    findings = []
    for check in (*RESIDUAL_CHECKS, *SECOND_DETECTOR_CHECKS):
        count = holding.get(check.code, 0)
        if not count:
            continue
        quoted = ", ".join(f"“{example}”" for example in examples[check.code])
        findings.append(Finding(
            check.severity, check.code, (column,),
            f"{count} of {len(notes)} notes in {column!r} hold {check.what} (e.g. {quoted}). The detector leaves "
            f"it among the public words, which reach the model without noise and are not protected. {LOCAL_NOTE}",
            check.action))
    order = {"high": 0, "medium": 1, "low": 2}
    return sorted(findings, key=lambda f: order[f.severity])
