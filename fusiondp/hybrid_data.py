"""The user's imputed copy of the table (``RunConfig.hybrid_data``): their own imputations as the hybrid view.

``attach_imputations`` checks the copy against the table row for row and adds its sensitive values as
``imputed_column`` columns, so that they travel with their rows through the split; ``provided_imputations``
reads them back, after the split, in the layout of an imputer's output.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from fusiondp.errors import ConfigError, DataError
from fusiondp.spec import TableSpec

logger = logging.getLogger(__name__)

IMPUTED_PREFIX = "__fusiondp_imputed__"
"""Prefix of the columns that carry user-provided imputations through ``split_table`` beside their rows."""


def imputed_column(column: str) -> str:
    """The name under which the user-provided imputation of sensitive ``column`` travels with its row."""
    return IMPUTED_PREFIX + column


def attach_imputations(table: pd.DataFrame, imputed: pd.DataFrame, spec: TableSpec, name: str) -> pd.DataFrame:
    """``table`` with ``imputed``'s sensitive columns added as ``imputed_column`` columns, row by row.

    ``imputed`` is a precomputed imputed copy of ``table`` (same rows, same order). Its rows are
    aligned by position, so the public columns and the target must agree cell by cell (missing
    equals missing): a sorted, filtered or shuffled copy would pair one row's imputation with
    another row — the error names the first row and column that differ. ``spec`` gives the roles
    (its ``ignore`` must hold the ``imputed_column`` names, as ``preparation.declared_spec`` does).
    """
    if len(imputed) != len(table):
        raise DataError(f"The imputed copy {name} has {len(imputed)} rows but the table has {len(table)}; it must "
                        "hold the same rows in the same order.")
    lacking = [c for c in spec.sensitive if c not in imputed.columns]
    if lacking:
        raise DataError(f"The imputed copy {name} lacks sensitive column(s) {lacking}; they hold the imputations.")
    clashing = [imputed_column(c) for c in spec.sensitive if imputed_column(c) in table.columns]
    if clashing:
        raise DataError(f"The table already has column(s) {clashing}; rename them (that prefix is reserved).")
    attached = table.assign(**{imputed_column(c): imputed[c].to_numpy() for c in spec.sensitive})
    roles = spec.with_roles(attached)
    compared = [*roles.public, roles.target]
    lacking = [c for c in compared if c not in imputed.columns]
    if lacking:
        raise DataError(f"The imputed copy {name} lacks column(s) {lacking}; it needs every public column and the "
                        "target, unchanged, to be checked row by row against the table.")
    first: tuple[int, str] | None = None
    for column in compared:
        differs = np.flatnonzero(~_same_cells(table[column], imputed[column]))
        if len(differs) and (first is None or differs[0] < first[0]):
            first = (int(differs[0]), column)
    if first is not None:
        row, column = first
        raise DataError(
            f"The imputed copy {name} differs from the table in row {row + 1} (data rows counted from 1), column "
            f"{column!r}: the table has {table[column].iloc[row]!r}, the copy {imputed[column].iloc[row]!r}. Its "
            "public columns and target must equal the table's, row for row and in the same order; only the "
            "sensitive columns may differ.")
    return attached


def _same_cells(left: pd.Series, right: pd.Series) -> np.ndarray:
    """Cell-wise equality of two columns, missing equal to missing; numbers by value, anything else as text."""
    left_missing, right_missing = left.isna().to_numpy(), right.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(left) and pd.api.types.is_numeric_dtype(right):
        equal = left.to_numpy(dtype=float) == right.to_numpy(dtype=float)
    else:
        equal = left.astype(str).to_numpy() == right.astype(str).to_numpy()
    return (left_missing & right_missing) | (~left_missing & ~right_missing & equal)


def provided_imputations(spec: TableSpec, rows: pd.DataFrame, name: str) -> pd.DataFrame:
    """``rows``' public columns and target with the user's imputations (carried by ``split_for``) as sensitive values.

    The same layout as an imputer's ``transform``, so that the rest of the preparation cannot tell them apart.
    """
    carried = {column: imputed_column(column) for column in spec.sensitive}
    if not set(carried.values()) <= set(rows.columns):
        raise ConfigError(f"hybrid_data is {name!r} but these splits carry no imputations: split the table with "
                          "fusiondp.preparation.split_for, which checks the imputed copy and aligns its rows.")
    hybrid = rows[[*spec.public, spec.target]].assign(**{c: rows[carried[c]].to_numpy() for c in spec.sensitive})
    for column in spec.sensitive:
        if column in spec.numeric:
            values = hybrid[column].dropna()
            junk = values[pd.to_numeric(values, errors="coerce").isna()]
            if len(junk):
                examples = ", ".join(repr(v) for v in junk.unique()[:3])
                raise DataError(f"The imputed copy {name} holds non-numeric values in numeric sensitive column "
                                f"{column!r} ({examples}; {len(junk)} rows). Give numbers, or leave the cell empty "
                                "for 'missing'.")
    return hybrid
