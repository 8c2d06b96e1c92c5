"""Notes as fixed-width vectors: a public bag of words beside a block for the sensitive spans' values.

``NoteVectorizer`` is the notes' encoder, fitted on support notes only. A note's vector is
``[public block | span block]``:

- the public block is the TF-IDF (log term frequency, L2-normalised) of the note's words outside
  its sensitive spans — identical in the real, hybrid and uninformative views of a note, and the
  only block ``sgd_pub`` sees (``public_features``);
- the span block counts one token per span, ``type:value`` — an age group (``age:45-64``), a sex
  (``sex:female``: the value, not the word, so that a hybrid's token is the surrogate's whichever
  words the note used), an ethnicity group,
  a name / date / place / identifier's words where the support notes hold them — or the type
  placeholder (``age:[AGE]``), log-scaled and L2-normalised.

The MLP's first layer over this vector is an embedding-bag classifier. Vocabulary, IDF and the span
tokens come from the support notes and the declared value domains (age groups, sexes, ethnicity
groups, placeholders): a word or value that only private notes hold is not a feature.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from fusiondp.text.hybrid import AGE_GROUPS, PREDICTED, HybridNote, ParsedNote, age_group
from fusiondp.text.spans import ETHNICITY_TERMS, SEXES, Span, placeholder
from fusiondp.text.spec import SpanType, TextSpec


def span_token(span: Span, value: str | None) -> str:
    """A span's token given its type's value for the note (``None``: the placeholder)."""
    if value is None:
        return f"{span.kind}:{placeholder(span.kind)}"
    return f"{span.kind}:{value}"


def real_tokens(note: ParsedNote) -> list[str]:
    """The span tokens of a note as written (its own values)."""
    return [span_token(span, real_value(span)) for span in note.spans]


def real_value(span: Span) -> str:
    if span.kind == "age":
        return age_group(int(span.value or 0))
    if span.kind in ("sex", "ethnicity"):
        return str(span.value)
    return " ".join(span.text.lower().split())


def hybrid_tokens(note: HybridNote) -> list[str]:
    """The span tokens of a note's hybrid: surrogate values, or placeholders where the type has none."""
    return [span_token(span, note.surrogates.get(span.kind)) for span in note.parsed.spans]


def placeholder_tokens(note: ParsedNote) -> list[str]:
    """The span tokens of a note's uninformative view: every span its type placeholder."""
    return [span_token(span, None) for span in note.spans]


def guessed_tokens(note: ParsedNote, kind: SpanType, value: str) -> list[str]:
    """The note's own span tokens, except that every span of ``kind`` carries ``value`` (one value per note, as in
    its hybrid): the view an attacker queries the model with when guessing the note's ``kind``."""
    return [span_token(span, value if span.kind == kind else real_value(span)) for span in note.spans]


def declared_values(kind: SpanType) -> list[str]:
    """The values a predicted span type takes, known without reading any note: age groups, sexes, ethnicity groups
    (empty for the types that are not predicted)."""
    if kind == "age":
        return [label for _, _, label in AGE_GROUPS]
    if kind == "sex":
        return list(SEXES)
    if kind == "ethnicity":
        return list(ETHNICITY_TERMS)
    return []


def declared_tokens(kinds: Sequence[SpanType]) -> list[str]:
    """Span tokens known without reading any note: placeholders, age groups, sexes, ethnicity groups."""
    tokens = [f"{kind}:{placeholder(kind)}" for kind in kinds]
    return tokens + [f"{kind}:{value}" for kind in PREDICTED if kind in kinds for value in declared_values(kind)]


class NoteVectorizer:
    """The notes' encoder: ``[public bag of words | span tokens]``, fitted on support notes only."""

    def __init__(self, spec: TextSpec) -> None:
        self.spec = spec

    def fit(self, support: Sequence[ParsedNote]) -> NoteVectorizer:
        self.words_ = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=self.spec.max_features,
                                      ngram_range=(1, self.spec.ngram))
        self.words_.fit([note.public for note in support])
        seen = [token for note in support for token in real_tokens(note)]
        tokens = dict.fromkeys([*declared_tokens(self.spec.sensitive_spans), *sorted(set(seen))])
        self.span_vocabulary_ = {token: index for index, token in enumerate(tokens)}
        return self

    @property
    def n_public(self) -> int:
        return len(self.words_.vocabulary_)

    @property
    def n_features(self) -> int:
        return self.n_public + len(self.span_vocabulary_)

    @property
    def public_features(self) -> np.ndarray:
        """Indices of the public block (what ``sgd_pub`` sees)."""
        return np.arange(self.n_public)

    def public_block(self, notes: Sequence[ParsedNote]) -> np.ndarray:
        return self.words_.transform([note.public for note in notes]).toarray().astype(np.float32)

    def span_block(self, tokens: Sequence[Sequence[str]]) -> np.ndarray:
        counts = np.zeros((len(tokens), len(self.span_vocabulary_)), dtype=np.float64)
        for row, note_tokens in enumerate(tokens):
            for token in note_tokens:
                index = self.span_vocabulary_.get(token)
                if index is not None:
                    counts[row, index] += 1
        scaled = np.log1p(counts)
        norms = np.linalg.norm(scaled, axis=1, keepdims=True)
        return (scaled / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def transform(self, public: np.ndarray, tokens: Sequence[Sequence[str]]) -> np.ndarray:
        """One view: the notes' public block (shared by their views) beside this view's span tokens."""
        return np.hstack([public, self.span_block(tokens)])
