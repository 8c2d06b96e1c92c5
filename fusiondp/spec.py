"""Column roles: which column is the target, which are sensitive, which are public.

A ``TableSpec`` is what the user declares; ``TableSpec.resolve(table)`` checks it against
a concrete table and returns a complete spec (public columns filled in, every used column
typed as categorical or numeric). Errors name the column at fault and say how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from fusiondp.errors import DataError, SpecError, validated
from fusiondp.yamlfile import read_yaml

MIN_NUMERIC_FRACTION = 0.95
"""Share of non-missing values that must parse as numbers for a text column to count as numeric."""
BOOLEAN_WORDS = {"True": "True", "TRUE": "True", "true": "True", "False": "False", "FALSE": "False", "false": "False"}
"""The words a CSV reader takes for true/false (pandas' defaults), each with the category text it stands for."""

ValueKind = Literal["boolean", "number", "text"]

TargetKind = Literal["binary", "multiclass", "multilabel", "regression"]
TARGET_KINDS: tuple[TargetKind, ...] = ("binary", "multiclass", "multilabel", "regression")
DEFAULT_DELIMITER = ";"
"""What separates a multi-label target's labels in one cell (``TableSpec.target_delimiter``), e.g. "I10;E11"."""
DELIMITER_HINTS = (";", ",", "|", "/", "+")
"""Separators a multi-label column's error suggests when the declared one occurs in no value."""
MAX_INFERRED_CLASSES = 10
"""A numeric target with more distinct values than this (or any non-integer value) is inferred to be regression."""
MAX_CLASSES = 100
"""The most classes a multi-class target may have (one output of the model per class)."""
MIN_CLASS_ROWS = 5
"""Each class of a multi-class target needs this many labelled rows, so that the split can leave some for training."""


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


class TableSpec(BaseModel):
    """The role of every column of a table.

    ``public`` left empty means "every column that is not the target, sensitive or
    ignored". ``categorical``/``numeric`` override the type inferred from the data.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    sensitive: tuple[str, ...]
    public: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    positive_class: str | int | float | bool | None = Field(
        default=None,
        description="Target value counted as the positive class; default: the larger of the two.",
    )
    target_kind: TargetKind | None = Field(
        default=None,
        description="binary, multiclass, multilabel or regression; default: inferred from the target's (public) "
        "values — two values: binary; a numeric column with more than 10 distinct values or any non-integer: "
        "regression; otherwise multiclass. multilabel is never inferred: declare it.",
    )
    target_delimiter: str | None = Field(
        default=None,
        description=f"Multilabel only: what separates the labels in one target cell (default {DEFAULT_DELIMITER!r}, "
        "as in 'I10;E11'). Labels are trimmed of spaces; an empty cell is a row with no label.",
    )
    target_bounds: tuple[float, float] | None = Field(
        default=None,
        description="Regression only: [low, high], the range the target can take, declared from public knowledge "
        "(e.g. [60, 260] for a systolic blood pressure in mm Hg), never read off the data. Labels outside it are "
        "clipped to it wherever the model sees a label (training, validation and test scores, the audit) and "
        "predictions stay inside it, so one mistyped or extreme label cannot pull the model.",
    )

    @field_validator("target_bounds")
    @classmethod
    def _ordered_bounds(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not (np.isfinite(value).all() and value[0] < value[1]):
            raise ValueError(f"target_bounds must be two finite numbers [low, high], low < high (got {list(value)})")
        return value

    @field_validator("target_delimiter")
    @classmethod
    def _visible_delimiter(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("target_delimiter must hold a visible character such as ';' (labels are trimmed of "
                             "spaces, so a space cannot separate them)")
        return value

    @property
    def delimiter(self) -> str:
        """The multi-label separator: ``target_delimiter`` or ``DEFAULT_DELIMITER``."""
        return self.target_delimiter or DEFAULT_DELIMITER

    @classmethod
    def from_yaml(cls, path: str | Path) -> TableSpec:
        """Read a spec file (YAML with the field names of this class)."""
        return cls.from_dict(read_yaml(path, "Spec file", SpecError), source=str(path))

    @classmethod
    def from_dict(cls, raw: Any, *, source: str = "spec") -> TableSpec:
        """Build a spec from a mapping, turning validation failures into a ``SpecError``."""
        if not isinstance(raw, dict):
            raise SpecError(f"{source}: expected a mapping with keys 'target', 'sensitive', ….")
        return validated(cls, raw, f"column spec ({source})", SpecError)

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")

    def to_dict(self) -> dict[str, Any]:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in self.model_dump().items()}

    @property
    def features(self) -> tuple[str, ...]:
        """Model inputs in a fixed order: public columns first, then sensitive ones."""
        return self.public + self.sensitive

    @property
    def is_resolved(self) -> bool:
        return bool(self.public) and set(self.features) <= set(self.categorical) | set(self.numeric)

    def is_categorical(self, column: str) -> bool:
        return column in self.categorical

    def with_roles(self, table: pd.DataFrame) -> TableSpec:
        """Check the roles against ``table``'s columns and target; fill in the public columns, no types.

        Reads column names and the (public) target only, so it is what splitting needs.
        """
        columns = [str(c) for c in table.columns]
        self._check_roles(columns)
        used = {self.target, *self.sensitive, *self.public, *self.ignore}
        public = self.public or tuple(c for c in columns if c not in used)
        if not public:
            raise SpecError(
                "No public column is left: every column is the target, sensitive or ignored. "
                "FusionDP imputes the sensitive columns from public ones, so tag at least one column public."
            )
        roles = self.model_copy(update={"public": public, "target_kind": self.kind_of(table[self.target])})
        roles.check_target(table[self.target])
        return roles

    def declaring(self, categorical: Iterable[str] = (), numeric: Iterable[str] = ()) -> TableSpec:
        """This spec with more columns' types declared (e.g. from declared domains and bounds)."""
        categorical, numeric = tuple(categorical), tuple(numeric)
        return self.model_copy(update={
            "categorical": tuple(dict.fromkeys(c for c in (*self.categorical, *categorical) if c not in numeric)),
            "numeric": tuple(dict.fromkeys(c for c in (*self.numeric, *numeric) if c not in categorical)),
        })

    def resolve(self, table: pd.DataFrame, type_rows: pd.DataFrame | None = None) -> TableSpec:
        """Check this spec against ``table`` and return it with every role and type filled in.

        ``type_rows`` are the rows whose values decide each undeclared column's type and are
        checked for unusable values: training passes the support set, whose values are public
        (METHOD.md §5: a type read off the private rows is itself a release — one private
        missing value can flip a boolean column to numeric). A column ``type_rows`` lacks must
        have a declared type. Without ``type_rows`` the whole ``table`` is read, which suits
        previews shown to the data owner only.
        """
        roles = self.with_roles(table)
        rows = table if type_rows is None else type_rows
        declared = set(self.categorical) | set(self.numeric)
        undeclared = [c for c in roles.features if c not in rows.columns and c not in declared]
        if undeclared:
            raise SpecError(f"Column(s) {undeclared} are not in the rows their type is read from (the support set); "
                            "add them to that table or declare them categorical or numeric in the spec.")
        categorical, numeric = [], []
        for column in roles.features:
            series = rows[column] if column in rows.columns else pd.Series(dtype=object)
            (categorical if self._column_is_categorical(series, column) else numeric).append(column)
        resolved = roles.model_copy(update={"categorical": tuple(categorical), "numeric": tuple(numeric)})
        resolved._check_values(rows)
        return resolved

    def _check_roles(self, columns: list[str]) -> None:
        if not self.sensitive:
            raise SpecError(
                "No sensitive column is tagged. Tag the columns whose values must be protected "
                "(e.g. age, sex, ethnicity) as sensitive; with none, plain SGD needs no privacy."
            )
        roles: dict[str, list[str]] = {}
        for role, names in (
            ("target", (self.target,)),
            ("sensitive", self.sensitive),
            ("public", self.public),
            ("ignore", self.ignore),
        ):
            for name in names:
                roles.setdefault(name, []).append(role)
        if self.target in self.sensitive:
            raise SpecError(
                f"The target {self.target!r} is also tagged sensitive. Feature-level DP protects input "
                "columns only; to protect the label, train with row-level DP-SGD (mode 'dpsgd') instead."
            )
        for name, tags in roles.items():
            if len(tags) > 1:
                raise SpecError(f"Column {name!r} is tagged twice ({' and '.join(tags)}); give it one role.")
        both = set(self.categorical) & set(self.numeric)
        if both:
            raise SpecError(f"Column(s) {sorted(both)} are declared both categorical and numeric; pick one.")
        declared = {name: ["declared categorical"] for name in self.categorical}
        declared.update({name: ["declared numeric"] for name in self.numeric})
        for name, tags in {**declared, **roles}.items():
            if name not in columns:  # named by its role: the roles may come from flags, not a spec file
                raise SpecError(f"Column {name!r} (given as {' and '.join(tags)}) is not in the table."
                                f"{_did_you_mean(name, columns)}")

    def _column_is_categorical(self, series: pd.Series, column: str) -> bool:
        """Declared type, else ``value_kind``: read off the values, never off the dtype (which other rows set)."""
        if column in self.categorical:
            return True
        if column in self.numeric:
            values = series.dropna()
            if not pd.api.types.is_numeric_dtype(series):
                parsed = pd.to_numeric(values, errors="coerce")
                junk = values[parsed.isna()]
                if len(junk):
                    examples = ", ".join(repr(v) for v in junk.unique()[:3])
                    raise DataError(
                        f"Column {column!r} is declared numeric but holds non-numeric values "
                        f"({examples}; {len(junk)} rows). Clean them, or declare the column categorical."
                    )
            return False
        return value_kind(series) != "number"

    def _check_values(self, table: pd.DataFrame) -> None:
        for column in self.sensitive:
            if column in table.columns and table[column].isna().all():
                raise DataError(
                    f"Sensitive column {column!r} is entirely missing: there is nothing to protect or "
                    "impute. Remove it from the sensitive columns or supply its values."
                )
        for column in self.numeric:
            series = table[column] if column in table.columns else pd.Series(dtype=float)
            if not pd.api.types.is_numeric_dtype(series):
                parsed = pd.to_numeric(series.dropna(), errors="coerce")
                junk = series.dropna()[parsed.isna()]
                if len(junk):
                    examples = ", ".join(repr(v) for v in junk.unique()[:3])
                    raise DataError(
                        f"Numeric column {column!r} holds non-numeric values ({examples}; {len(junk)} rows). "
                        "Clean them, or declare the column categorical."
                    )

    def kind_of(self, target: pd.Series) -> TargetKind:
        """The declared target kind, else the one ``infer_target_kind`` reads off the target's values."""
        return self.target_kind or infer_target_kind(target, self.target)

    def check_target(self, target: pd.Series) -> None:
        """Raise one clear error if ``target``'s values do not fit the spec's target kind (declared or inferred)."""
        kind = self.kind_of(target)
        if kind != "multilabel" and self.target_delimiter is not None:
            raise SpecError(f"target_delimiter is set but target {self.target!r} is {kind}; a delimiter separates "
                            "the labels of a multi-label target only. Remove target_delimiter or declare "
                            "target_kind 'multilabel'.")
        if kind != "regression" and self.target_bounds is not None:
            raise SpecError(f"target_bounds is set but target {self.target!r} is {kind}; bounds clip a regression "
                            "label only. Remove target_bounds or declare target_kind 'regression'.")
        if kind != "binary" and self.positive_class is not None:
            raise SpecError(f"positive_class is set but target {self.target!r} is {kind}; a positive class applies "
                            "to binary targets only. Remove positive_class or declare target_kind 'binary'.")
        if kind == "binary":
            self.target_classes(target)
        elif kind == "multiclass":
            self.class_values(target)
        elif kind == "multilabel":
            self.label_vocabulary(target)
        else:
            self.regression_values(target)

    def class_values(self, target: pd.Series, min_rows: int = MIN_CLASS_ROWS) -> tuple[Any, ...]:
        """The sorted classes of a multi-class target, each with ``min_rows`` rows or more; errors say what is wrong."""
        values = target.dropna()
        counts = values.value_counts()
        classes = tuple(sorted(counts.index.tolist(), key=lambda v: (str(type(v)), v)))
        if len(classes) < 2:
            raise DataError(f"Target column {self.target!r} has {len(classes)} class(es); a classifier needs at "
                            "least two. Pick another target or add rows of the other classes.")
        if len(classes) > MAX_CLASSES:
            raise DataError(f"Target column {self.target!r} has {len(classes)} distinct values, over the "
                            f"{MAX_CLASSES} classes a multi-class target may have. Merge classes, or declare "
                            "target_kind 'regression' if the values are numbers.")
        rare = counts[counts < min_rows]
        if len(rare):
            shown = _row_counts(rare)
            raise DataError(f"Target column {self.target!r} has class(es) with fewer than {min_rows} rows: "
                            f"{shown}. Each class needs rows for training, validation and testing; merge rare "
                            "classes into a neighbouring or an 'other' class, or drop those rows.")
        return classes

    def label_sets(self, target: pd.Series) -> list[tuple[str, ...]]:
        """Each row's labels of a multi-label target, split at ``delimiter`` and trimmed (a missing cell: none)."""
        return split_labels(target, self.delimiter)

    def label_vocabulary(self, target: pd.Series, min_rows: int = MIN_CLASS_ROWS) -> tuple[str, ...]:
        """The sorted labels of a multi-label target, each on ``min_rows`` rows or more; errors say what is wrong.

        The labels are read off the target column, which is public in this product (only the sensitive input
        columns are protected), as a multi-class target's classes are.
        """
        counts = pd.Series([label for labels in self.label_sets(target) for label in labels]).value_counts()
        labels = tuple(sorted(counts.index.tolist()))
        if len(labels) < 2:
            raise DataError(f"Target column {self.target!r} is declared multilabel but holds {len(labels)} label(s)"
                            f"{' (' + repr(labels[0]) + ')' if labels else ''}; a multi-label target needs at least "
                            "two. With one label, declare target_kind 'binary' (the label present or not).")
        values = target.dropna().astype(str)
        sep = self.delimiter
        if not values.str.contains(sep, regex=False).any():
            found = [d for d in DELIMITER_HINTS if d != sep and values.str.contains(d, regex=False).any()]
            hint = (f" Its values hold {' and '.join(repr(d) for d in found)}: set target_delimiter to the one that "
                    "separates the labels." if found else " If every row has at most one label, declare "
                    "target_kind 'multiclass'.")
            raise DataError(f"Target column {self.target!r} is declared multilabel with delimiter {sep!r}, but no "
                            f"value holds {sep!r}, so no row has two labels.{hint}")
        if len(labels) > MAX_CLASSES:
            raise DataError(f"Target column {self.target!r} has {len(labels)} distinct labels, over the "
                            f"{MAX_CLASSES} a multi-label target may have (one output of the model each). Keep the "
                            "most frequent labels (e.g. the top 50 codes) and drop or merge the rest.")
        rare = counts[counts < min_rows]
        if len(rare):
            shown = _row_counts(rare)
            raise DataError(f"Target column {self.target!r} has label(s) on fewer than {min_rows} rows: {shown}. "
                            "Each label needs rows for training, validation and testing; merge rare labels or "
                            "remove them from the cells.")
        return labels

    def regression_values(self, target: pd.Series) -> pd.Series:
        """A regression target's non-missing values as floats; errors say what is wrong."""
        values = target.dropna()
        if pd.api.types.is_bool_dtype(values):
            raise DataError(f"Target column {self.target!r} is declared regression but holds true/false values; "
                            "declare target_kind 'binary'.")
        numbers = pd.to_numeric(values, errors="coerce")
        junk = values[numbers.isna()]
        if len(junk):
            examples = ", ".join(repr(v) for v in junk.unique()[:3])
            raise DataError(f"Target column {self.target!r} is declared regression but holds non-numeric values "
                            f"({examples}; {len(junk)} rows). Clean them, or declare target_kind 'multiclass'.")
        if numbers.nunique() < 2:
            raise DataError(f"Target column {self.target!r} has {numbers.nunique()} distinct value(s); a regression "
                            "target needs at least two.")
        return numbers.astype(float)

    def target_classes(self, target: pd.Series) -> tuple[Any, Any]:
        """The (negative, positive) class values of a binary target; errors say what is wrong."""
        values = target.dropna()
        if values.empty:
            raise DataError(f"Target column {self.target!r} has no values; pick a column with a binary outcome.")
        classes = sorted(values.unique().tolist(), key=lambda v: (str(type(v)), v))
        if len(classes) == 1:
            raise DataError(
                f"Target column {self.target!r} has a single class ({classes[0]!r}); a classifier needs "
                "two. Pick another target or add rows of the other class."
            )
        if len(classes) > 2:
            shown = ", ".join(repr(c) for c in classes[:6])
            raise DataError(
                f"Target column {self.target!r} has {len(classes)} classes ({shown}…) but is declared binary. "
                "Declare target_kind 'multiclass', or merge the classes into two (e.g. one vs the rest)."
            )
        if self.positive_class is None:
            return classes[0], classes[1]
        matches = [c for c in classes if c == self.positive_class or str(c) == str(self.positive_class)]
        if not matches:
            raise SpecError(
                f"positive_class {self.positive_class!r} is not a value of target {self.target!r} "
                f"(values: {classes[0]!r}, {classes[1]!r})."
            )
        positive = matches[0]
        negative = classes[0] if positive == classes[1] else classes[1]
        return negative, positive


def value_kind(values: pd.Series) -> ValueKind:
    """Whether a column's non-missing values are true/false, numbers or text, read off the values themselves.

    A file reader types a column by all of the file's rows: one missing cell turns a True/False
    column into Python objects and integers into floats, one stray word turns numbers into text.
    Reading the values of the rows at hand instead (the support set) gives the type those rows
    alone would have had, so no other row — no private one — can change it (METHOD.md §5).
    Numbers are at least ``MIN_NUMERIC_FRACTION`` of the values parsing as numbers (the rest is junk
    that ``TableSpec.resolve`` reports); a column with no value is text.
    """
    present = values.dropna()
    if present.empty:
        return "text"
    if pd.api.types.is_bool_dtype(present) or pd.api.types.infer_dtype(present) == "boolean":
        return "boolean"
    if pd.api.types.is_numeric_dtype(present):
        return "number"
    if present.astype(str).isin(BOOLEAN_WORDS).all():
        return "boolean"
    return "number" if pd.to_numeric(present, errors="coerce").notna().mean() >= MIN_NUMERIC_FRACTION else "text"


def category_text(values: pd.Series, kind: ValueKind) -> pd.Series:
    """A categorical column's values as the text naming their category (``object``; missing stays missing).

    The text depends on the value and on ``kind`` — the ``value_kind`` of the support set's values
    — only, not on how the rest of the column was read: ``True`` is 'True' whether it came from a
    ``bool`` column, an ``object`` one or the word 'TRUE'; 3, 3.0 and (in a column of numbers) the
    text '3' or '03' are all '3'. The imputer's states, the encoder's levels and the notes all name
    categories by this text, so one private row cannot rename them.
    """
    if kind == "text" and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return values.astype(object)  # text is its own name: the common case, kept fast for every transform
    if values.dtype == object:  # a Python object per cell: True == 1 == 1.0, so name each by its own type
        names: dict[tuple[type, Any], str] = {}
        named: list[object] = []
        for value in values:
            key = (type(value), value)
            if key not in names:
                names[key] = np.nan if _missing(value) else _category_name(value, kind)
            named.append(names[key])
        return pd.Series(named, index=values.index, dtype=object)
    codes, uniques = pd.factorize(values)
    named = np.array([*(_category_name(v, kind) for v in uniques), np.nan], dtype=object)
    return pd.Series(named[codes], index=values.index, dtype=object)  # code -1 (missing) takes the last


def _category_name(value: Any, kind: ValueKind) -> str:
    """One present value's category text (``category_text``)."""
    if kind == "boolean" or isinstance(value, (bool, np.bool_)):
        return BOOLEAN_WORDS.get(str(value), str(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return _float_name(float(value))
    if kind == "number" and isinstance(value, str):
        try:
            return str(int(value))
        except ValueError:
            try:
                return _float_name(float(value))
            except ValueError:
                return value
    return str(value)


def _float_name(number: float) -> str:
    """An integral float named as the integer it is (3.0 → '3'), any other as Python writes it."""
    return str(int(number)) if np.isfinite(number) and number == round(number) else str(number)


def split_labels(cells: Iterable[Any], delimiter: str = DEFAULT_DELIMITER) -> list[tuple[str, ...]]:
    """Each multi-label cell's labels: split at ``delimiter``, trimmed, empty parts and repeats dropped; a missing
    cell has none."""
    return [() if _missing(cell) else tuple(dict.fromkeys(p.strip() for p in str(cell).split(delimiter) if p.strip()))
            for cell in cells]


def _missing(cell: Any) -> bool:
    return cell is None or cell is pd.NA or (isinstance(cell, float) and np.isnan(cell))


def infer_target_kind(target: pd.Series, name: str = "target") -> TargetKind:
    """Binary, multiclass or regression, read off a target's (public) values; ``TableSpec.target_kind`` overrides it.

    Two distinct values (or true/false): binary. Numbers (or text that is all numbers) with a
    non-integer value or more than ``MAX_INFERRED_CLASSES`` distinct values: regression. Other
    numbers, and text with up to ``MAX_CLASSES`` values: multiclass. Text with more values is
    ambiguous and raises an error that says what to declare.
    """
    values = target.dropna()
    if values.empty:
        raise DataError(f"Target column {name!r} has no values; pick a column with an outcome.")
    distinct = values.nunique()
    if distinct <= 2 or pd.api.types.is_bool_dtype(values):
        return "binary"
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all():
        numeric = numbers.to_numpy(dtype=float)
        if distinct > MAX_INFERRED_CLASSES or not np.array_equal(numeric, np.round(numeric)):
            return "regression"
        return "multiclass"
    if distinct <= MAX_CLASSES:
        return "multiclass"
    listed = values.astype(str).str.contains(DEFAULT_DELIMITER, regex=False).mean() > 0.1
    hint = (f" Many values hold {DEFAULT_DELIMITER!r}: if they list several labels, declare target_kind "
            "'multilabel'." if listed else "")
    raise DataError(f"Target column {name!r} holds {distinct} distinct text values: too many to read as classes. "
                    "Pick another target, merge its values into classes, or clean it into numbers (regression); "
                    f"target_kind in the spec says which it is.{hint}")


def _row_counts(counts: pd.Series) -> str:
    """``'a' (1 row), 'b' (3 rows)``: values with their row counts, for an error message."""
    return ", ".join(f"{value!r} ({count} row{'s' * (count > 1)})" for value, count in counts.items())
