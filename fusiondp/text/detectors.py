"""Span detectors chosen by name: ``rules`` (ours, the default) or ``presidio`` (Presidio's recognizers added to ours).

Why Presidio (``presidio-analyzer``, MIT licence, Microsoft's maintained PII toolkit): of the
registries' PHI/PII tools it is the one that runs fully offline here and is kept up to date.
``philter-lite`` (BSD-3) tags parts of speech with NLTK's perceptron tagger, whose data is
downloaded at first use from outside the registries; ``medspacy`` pins spaCy below 3.8 on Python
3.11, which downgrades numpy below 2; ``scrubadub`` (last release 2023) pins textblob 0.15.3 and its
e-mail detector takes "at all" for an address. The measured comparison is in docs/method.md §8.

Presidio runs here on a *blank* spaCy English pipeline (a tokenizer, no trained model: spaCy's
models are not on the registries), so its NER-backed entities (person, location, NRP) never fire;
what it adds is its pattern and checksum recognizers — phone numbers in international and dotted
forms, e-mails, credit cards (Luhn), SSN/ITIN, IBAN, IP and MAC addresses, NHS numbers, schema
URLs, numeric dates. The ``presidio`` detector therefore keeps our rules for every type and adds
Presidio's detections, overlaps settled by ``resolve_overlaps`` as the rules' own are.

Nothing is fitted: the recognizers, the entity mapping and the score floors are fixed here, so no
note — private or support — changes what is detected in another note.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from fusiondp.errors import FusionDPError
from fusiondp.text.spans import DETECTOR, Span, candidate_spans, detect_spans, resolve_overlaps
from fusiondp.text.spec import SPAN_TYPES, DetectorName, SpanType

PRESIDIO_PIP = 'pip install "fusiondp[presidio]"'
PRESIDIO_ENTITIES: dict[str, SpanType] = {
    "EMAIL_ADDRESS": "identifier",
    "PHONE_NUMBER": "identifier",
    "US_SSN": "identifier",
    "US_ITIN": "identifier",
    "CREDIT_CARD": "identifier",
    "IBAN_CODE": "identifier",
    "IP_ADDRESS": "identifier",
    "MAC_ADDRESS": "identifier",
    "UK_NHS": "identifier",
    "MEDICAL_LICENSE": "identifier",
    "CRYPTO": "identifier",
    "URL": "identifier",
    "DATE_TIME": "date",
}
"""Presidio entity → our span type. Left out: US_DRIVER_LICENSE, US_PASSPORT and US_BANK_NUMBER, whose patterns
score 0.3 or less without the context words a blank pipeline cannot lemmatise, and take "B12", "L4" or any long
number on the drug reviews."""
MIN_SCORE = 0.4
"""Presidio's score below which a detection is dropped: its phone recognizer scores 0.4."""
MIN_SCORES: dict[str, float] = {"URL": 0.6}
"""Higher floors: a URL without a scheme scores 0.5 and matches "time...na" (".na" is a domain); 0.6 keeps
``https://…`` and quoted URLs."""


class DetectorUnavailable(FusionDPError, RuntimeError):
    """The chosen span detector's package is not installed; the message names the pip command."""


@functools.cache
def _presidio() -> tuple[Any, str]:
    """Presidio's analyzer on a blank spaCy pipeline, and its name with versions; loaded once."""
    try:
        import spacy
        import tldextract.tldextract
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
    except ImportError as error:
        raise DetectorUnavailable(
            f"The span detector 'presidio' needs presidio-analyzer, which is not installed "
            f"({error.name} is missing): {PRESIDIO_PIP}, or choose the detector 'rules'."
        ) from error
    # The e-mail recognizer validates domains with tldextract, which would fetch the public-suffix list from the
    # web at first use; with no URL it reads the snapshot shipped in its wheel, so detection stays offline.
    tldextract.tldextract.TLD_EXTRACTOR.suffix_list_urls = ()
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank:en"}])
    engine.nlp = {"en": spacy.blank("en")}
    # Its loader warns once for each recognizer of a language other than English (a dozen lines on every run).
    log = logging.getLogger("presidio-analyzer")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    finally:
        log.setLevel(level)
    name = (
        f"presidio-analyzer {metadata.version('presidio-analyzer')} (MIT licence) pattern and checksum "
        f"recognizers on a blank spaCy {spacy.__version__} pipeline (no NER model), added to the {DETECTOR}"
    )
    return analyzer, name


def presidio_spans(text: str, kinds: Iterable[SpanType] = SPAN_TYPES) -> list[Span]:
    """Presidio's detections in ``text`` mapped to our span types (``PRESIDIO_ENTITIES``), overlaps included."""
    wanted = set(kinds)
    entities = [entity for entity, kind in PRESIDIO_ENTITIES.items() if kind in wanted]
    if not entities:
        return []
    analyzer, _ = _presidio()
    return [
        Span(found.start, found.end, PRESIDIO_ENTITIES[found.entity_type], text[found.start : found.end])
        for found in analyzer.analyze(text, language="en", entities=entities)
        if found.score >= MIN_SCORES.get(found.entity_type, MIN_SCORE)
    ]


def detect(text: str, kinds: Iterable[SpanType] = SPAN_TYPES, detector: DetectorName = "rules") -> list[Span]:
    """The sensitive spans of ``text`` of the given types found by ``detector``, in order, never overlapping."""
    kinds = tuple(kinds)
    if detector == "rules":
        return detect_spans(text, kinds)
    return resolve_overlaps([*candidate_spans(text, kinds), *presidio_spans(text, kinds)])


def describe(detector: DetectorName) -> str:
    """The detector's name as every output shows it, with the package's version where one is used."""
    return DETECTOR if detector == "rules" else _presidio()[1]


def presidio_installed() -> bool:
    """Whether presidio-analyzer can be imported: the preflight's second detector runs only then, and says so."""
    return importlib.util.find_spec("presidio_analyzer") is not None
