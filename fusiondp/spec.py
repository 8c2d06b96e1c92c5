"""Column roles: which column is the target, which are sensitive, which are public.

A ``TableSpec`` is what the user declares; ``TableSpec.resolve(table)`` checks it against
a concrete table and returns a complete spec (public columns filled in, every used column
typed as categorical or numeric). Errors name the column at fault and say how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field

from fusiondp.errors import DataError, SpecError, validated
from fusiondp.yamlfile import read_yaml

MIN_NUMERIC_FRACTION = 0.95
"""Share of non-missing values that must parse as numbers for a text column to count as numeric."""


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
        roles = self.model_copy(update={"public": public})
        roles.target_classes(table[self.target])
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
        for name in [*roles, *self.categorical, *self.numeric]:
            if name not in columns:
                raise SpecError(
                    f"Column {name!r} named in the spec is not in the table.{_did_you_mean(name, columns)}"
                )

    def _column_is_categorical(self, series: pd.Series, column: str) -> bool:
        if column in self.categorical:
            return True
        values = series.dropna()
        if column in self.numeric or pd.api.types.is_bool_dtype(series):
            if column in self.numeric and not pd.api.types.is_numeric_dtype(series):
                parsed = pd.to_numeric(values, errors="coerce")
                junk = values[parsed.isna()]
                if len(junk):
                    examples = ", ".join(repr(v) for v in junk.unique()[:3])
                    raise DataError(
                        f"Column {column!r} is declared numeric but holds non-numeric values "
                        f"({examples}; {len(junk)} rows). Clean them, or declare the column categorical."
                    )
            return pd.api.types.is_bool_dtype(series)
        if pd.api.types.is_numeric_dtype(series):
            return False
        parsed = pd.to_numeric(values, errors="coerce")
        return len(values) == 0 or parsed.notna().mean() < MIN_NUMERIC_FRACTION

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
                f"Target column {self.target!r} has {len(classes)} classes ({shown}…); only binary targets "
                "are supported so far. Merge the classes into two (e.g. one vs the rest)."
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
