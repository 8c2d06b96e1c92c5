"""``TextSpec``: a table with a free-text column whose sensitive *spans* are protected.

A note's sensitive features are spans inside it — ages, sex and gender words and pronouns,
ethnicity terms, names, dates, places, identifiers — rather than whole columns. The rest
of the note and the target are public. The spec names the text column, the target and the
span types to protect, and the size of the notes' bag of words.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fusiondp.errors import SpecError, validated
from fusiondp.spec import TableSpec, TargetKind

SpanType = Literal["age", "sex", "ethnicity", "name", "date", "place", "identifier"]
SPAN_TYPES: tuple[SpanType, ...] = ("age", "sex", "ethnicity", "name", "date", "place", "identifier")
DetectorName = Literal["rules", "presidio"]
DETECTOR_NAMES: tuple[DetectorName, ...] = ("rules", "presidio")
"""``rules``: our regular expressions and word lists; ``presidio``: those plus Microsoft Presidio's recognizers
(``fusiondp.text.detectors``), an optional extra."""


class TextSpec(BaseModel):
    """Which column holds the notes, which is the target, and which span types are sensitive."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text_column: str
    target: str
    sensitive_spans: tuple[SpanType, ...] = Field(
        default=SPAN_TYPES, description="Span types protected by feature-level DP; every other word is public.")
    positive_class: str | int | float | bool | None = Field(
        default=None, description="Target value counted as the positive class; default: the larger of the two.")
    target_kind: TargetKind | None = Field(
        default=None, description="binary or multiclass; default: inferred from the target's values.")
    max_features: int = Field(
        2000, ge=16, le=100_000,
        description="Words (and word pairs with ngram 2) kept in the public bag of words, the most frequent in "
        "the support notes.")
    ngram: Literal[1, 2] = Field(1, description="1: single words; 2: single words and adjacent pairs.")
    detector: DetectorName = Field(
        "rules", description="Span detector: 'rules' (built in) or 'presidio' (the rules plus presidio-analyzer's "
        "recognizers for identifiers and dates; pip install \"fusiondp[presidio]\").")

    @field_validator("sensitive_spans", mode="before")
    @classmethod
    def _split_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("sensitive_spans")
    @classmethod
    def _some_spans(cls, value: tuple[SpanType, ...]) -> tuple[SpanType, ...]:
        if not value:
            raise ValueError(f"name at least one sensitive span type among {', '.join(SPAN_TYPES)}")
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _distinct_columns(self) -> TextSpec:
        if self.text_column == self.target:
            raise ValueError(f"the text column and the target are both {self.target!r}; name two columns")
        if self.target_kind in ("regression", "multilabel"):
            raise ValueError(f"a text target must be binary or multiclass ({self.target_kind} targets on notes are "
                             "not offered yet)")
        return self

    @classmethod
    def build(cls, **values: Any) -> TextSpec:
        """Validate ``values``, turning pydantic's errors into one ``SpecError``."""
        return validated(cls, values, "text spec", SpecError)

    def to_dict(self) -> dict[str, Any]:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in self.model_dump().items()}

    def span_labels(self) -> tuple[str, ...]:
        """How the protected features are named in ledgers and statements: ``age spans of 'note'``, …"""
        return tuple(f"{kind} spans of {self.text_column!r}" for kind in self.sensitive_spans)

    def public_part(self) -> str:
        """What is public besides the label, in one phrase."""
        return f"the words of {self.text_column!r} outside the detected spans"

    def split_spec(self) -> TableSpec:
        """The roles for splitting the table (as tables are split): the target, and the note as one column."""
        return TableSpec(target=self.target, sensitive=(self.text_column,), positive_class=self.positive_class,
                         target_kind=self.target_kind)

    def ledger_spec(self, target_kind: TargetKind) -> TableSpec:
        """The roles as ledgers, statements and labels read them: the target and the protected span types."""
        return TableSpec(target=self.target, sensitive=self.span_labels(), public=(self.public_part(),),
                         categorical=(self.public_part(),), positive_class=self.positive_class,
                         target_kind=target_kind)
