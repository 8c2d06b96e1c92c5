"""Splitting a table into support / train / validation / test (``split_table``), and the ``Splits`` it gives.

The support set is a public fraction of the table, rows marked in a split column, a separate public table, or a
DP-synthetic one; the rest is split stratified by the target. Column types are read off the support set
(``typed_like_support``). Reading the file is ``fusiondp.data``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fusiondp.data import numbers_only
from fusiondp.errors import ConfigError, DataError, SpecError
from fusiondp.hybrid_data import imputed_column
from fusiondp.spec import TableSpec, TargetKind, _did_you_mean, category_text, value_kind
from fusiondp.synth import SynthesisSummary, SynthSettings, TwoStageSummary, make_synthesizer

logger = logging.getLogger(__name__)

MIN_SUPPORT_ROWS = 50
"""Fewer support rows than this cannot train a useful imputer nor a quality report."""

def row_hashes(table: pd.DataFrame, columns: list[str]) -> pd.Series:
    """A content hash per row over ``columns``, to detect the same row in two tables."""
    return pd.util.hash_pandas_object(table[columns].astype(str), index=False)


@dataclass
class Splits:
    """Disjoint parts of a table: support (public sensitive values), train (private), val, test."""

    support: pd.DataFrame
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    support_source: str
    dropped_rows: int = 0
    notes: list[str] = field(default_factory=list)
    synthetic: SynthesisSummary | TwoStageSummary | None = None
    """Set when the support set is DP-synthetic: its budget and how it was made (public facts)."""
    target_kind: TargetKind = "binary"
    """The target kind the table was split for (declared, or inferred from every labelled row)."""
    table_rows: int | None = None
    """Rows of the table split (a separate or synthetic support set aside): the N of the default δ."""

    def sizes(self) -> dict[str, int]:
        return {"support": len(self.support), "train": len(self.train), "val": len(self.val), "test": len(self.test)}


def _stratified_take(indices: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Pick ``count`` of ``indices`` keeping the label proportions (at least one per class when possible)."""
    picked = []
    for label in np.unique(labels):
        members = indices[labels == label]
        share = max(1, round(count * len(members) / len(indices))) if count else 0
        picked.append(rng.permutation(members)[: min(share, len(members))])
    chosen = np.concatenate(picked)
    return rng.permutation(chosen)[:count] if len(chosen) > count else chosen


SPLIT_PARTS = ("train", "val", "test", "support")
"""Values a split column may hold (case and surrounding spaces are ignored)."""


def check_split_column(spec: TableSpec, column: str, columns: pd.Index) -> None:
    """A split column is a column of the table that assigns rows to parts only: not the target nor a feature."""
    if column not in columns:
        raise SpecError(f"Split column {column!r} is not in the table.{_did_you_mean(column, map(str, columns))}")
    if column == spec.target or column in spec.features:
        role = "the target" if column == spec.target else ("sensitive" if column in spec.sensitive else "public")
        raise SpecError(f"Split column {column!r} is tagged {role}; a split column only assigns rows to parts and is "
                        "never a feature or the target. Give it no other role (it is left out of the features).")


def split_assignments(table: pd.DataFrame, spec: TableSpec, column: str) -> np.ndarray:
    """Each row's part named by ``table[column]``, lower-cased; errors name the rows or values at fault."""
    check_split_column(spec, column, table.columns)
    values = table[column]
    missing = np.flatnonzero(values.isna().to_numpy())
    if len(missing):
        shown = ", ".join(str(i + 1) for i in missing[:5]) + (" …" if len(missing) > 5 else "")
        raise DataError(f"Split column {column!r} is empty in {len(missing)} row(s) (data rows {shown}, counted from "
                        f"1); every row needs one of {', '.join(SPLIT_PARTS)}. Fill them in, or drop those rows.")
    parts = values.astype(str).str.strip().str.lower()
    bad = sorted(set(values[~parts.isin(SPLIT_PARTS)].astype(str)))
    if bad:
        shown = ", ".join(repr(v) for v in bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise DataError(f"Split column {column!r} holds value(s) {shown}; allowed are {', '.join(SPLIT_PARTS)} "
                        "(any case).")
    return parts.to_numpy()


def _parts_by_fraction(labels: np.ndarray, support_fraction: float | None, val_fraction: float, test_fraction: float,
                       seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Seeded, label-stratified test / val / (support) indices and the remaining (train) ones."""
    rng = np.random.default_rng(seed)
    remaining = np.arange(len(labels))
    parts: dict[str, np.ndarray] = {}
    fractions = {"test": test_fraction, "val": val_fraction}
    if support_fraction is not None:
        fractions["support"] = support_fraction
    for part, fraction in fractions.items():
        count = round(fraction * len(labels))
        taken = _stratified_take(remaining, labels[remaining], count, rng)
        parts[part] = np.sort(taken)
        remaining = np.setdiff1d(remaining, taken)
    return parts, remaining


def _parts_by_column(assigned: np.ndarray, column: str, own_support: bool,
                     separate_support: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The indices of each part as ``assigned`` names them, and the train indices.

    'support' rows are refused unless the support set comes from the table itself: beside a
    separate public table they would be ambiguous (public or private?), and a DP-synthetic
    support set is synthesised from the private rows, so rows declared public have no place there.
    """
    parts = {part: np.flatnonzero(assigned == part) for part in SPLIT_PARTS}
    if not own_support and len(parts["support"]):
        instead = ("the support set is the separate public table" if separate_support
                   else "the support set is DP-synthetic (support_source 'dp_synthetic')")
        raise ConfigError(f"Column {column!r} marks {len(parts['support'])} row(s) 'support', but {instead}. Mark "
                          "those rows train, val or test, or use them as the support set (support_source "
                          "'fraction' with this split column).")
    return parts, parts.pop("train")


def split_table(
    table: pd.DataFrame,
    spec: TableSpec,
    *,
    support_fraction: float = 0.1,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    support: pd.DataFrame | None = None,
    synthesize: SynthSettings | None = None,
    split_column: str | None = None,
) -> Splits:
    """Split ``table`` into disjoint, label-stratified parts with a seeded generator.

    With ``support`` given (a separate public table) or ``synthesize`` (a DP-synthetic
    support set made from the private training rows — never from validation or test rows,
    which are scored on), no rows of ``table`` are used as support; otherwise a
    ``support_fraction`` of ``table`` is declared public and removed from the private
    training set.

    With ``split_column``, that column of ``table`` assigns every row to a part (``SPLIT_PARTS``)
    and the fractions and ``seed`` are not used: a user who already has a split (a published
    benchmark's, a hospital's consented subset) must get exactly it. Rows marked 'support' are
    public and not trained on, as with a support fraction. The column must not be a feature or
    the target of ``spec`` (the pipeline adds it to ``ignore``).
    """
    if support is not None and synthesize is not None:
        raise ConfigError("Both a separate support table and a DP-synthetic support set were requested; choose one "
                          "support_source.")
    own_fraction = support is None and synthesize is None
    for label, value in (("support_fraction", support_fraction), ("val_fraction", val_fraction),
                         ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise ConfigError(f"{label} must be in [0, 1); got {value}.")
    _check_usable_columns(table, spec, support is None)
    table = numbers_only(table, spec)
    # a multi-label row with an empty cell has no label (TableSpec.target_delimiter), not a missing one
    has_target = (table[spec.target].notna() if spec.target_kind != "multilabel"
                  else pd.Series(True, index=table.index))
    _check_table_size(int(has_target.sum()), own_fraction, val_fraction, test_fraction, split_column)
    held_out = val_fraction + test_fraction + (support_fraction if own_fraction else 0)
    if split_column is None and held_out >= 0.9:
        raise ConfigError(
            f"support + val + test fractions add up to {held_out:.2f}, leaving (almost) no private "
            "training rows. Keep their sum below 0.9."
        )
    assigned = None if split_column is None else split_assignments(table, spec, split_column)
    labelled = table[has_target].reset_index(drop=True)
    dropped = len(table) - len(labelled)
    notes = [f"{dropped} rows with a missing target were left out."] if dropped else []
    kind = spec.kind_of(labelled[spec.target])
    roles = spec.model_copy(update={"target_kind": kind})
    roles.check_target(labelled[spec.target])
    labels, names = strata(roles, labelled[spec.target])
    if assigned is None:
        parts, remaining = _parts_by_fraction(labels, support_fraction if own_fraction else None, val_fraction,
                                              test_fraction, seed)
    else:
        parts, remaining = _parts_by_column(assigned[has_target.to_numpy()], split_column, own_fraction,
                                            support is not None)
        carved = own_fraction and not len(parts["support"])
        if carved:  # no row marked 'support': the fraction carves the support set out of the rows marked 'train'
            parts["support"] = np.sort(_stratified_take(remaining, labels[remaining],
                                                        round(support_fraction * len(remaining)),
                                                        np.random.default_rng(seed)))
            remaining = np.setdiff1d(remaining, parts["support"])
        unused = ("val_fraction, test_fraction" if carved
                  else "support_fraction, val_fraction, test_fraction and split_seed")
        notes.append(f"Split taken from column {split_column!r}; {unused} are not used for splitting.")
    train = labelled.iloc[remaining].reset_index(drop=True)
    synthetic = None
    if own_fraction:
        support_rows = labelled.iloc[parts["support"]].reset_index(drop=True)
        declared = (f"public fraction {support_fraction:g} of the table" if assigned is None
                    else f"public fraction {support_fraction:g} of the rows marked 'train' in column "
                         f"{split_column!r} (none is marked 'support')" if carved
                    else f"rows marked 'support' in column {split_column!r}")
        source = f"{declared} ({len(support_rows)} rows, disjoint from train)"
    elif synthesize is not None:
        synthesizer = make_synthesizer(spec, synthesize).fit(train)
        support_rows = synthesizer.sample(train)
        synthetic = synthesizer.summary(len(support_rows))
        source = synthetic.describe()
    else:
        support_rows = _check_separate_support(support, train, spec)
        source = f"separate public table ({len(support_rows)} rows)"
    fix_split = (f"mark more rows 'support' in column {split_column!r}" if assigned is not None
                 else "raise support_fraction")
    if len(support_rows) < MIN_SUPPORT_ROWS:
        raise DataError(
            f"The support set has {len(support_rows)} rows; at least {MIN_SUPPORT_ROWS} are needed to fit "
            f"and check the imputer. {fix_split[0].upper()}{fix_split[1:]} or supply a larger public table."
        )
    if len(train) < MIN_SUPPORT_ROWS:
        where = f" (rows marked 'train' in column {split_column!r})" if assigned is not None else ""
        raise DataError(f"Only {len(train)} private training rows remain{where}; at least {MIN_SUPPORT_ROWS} are "
                        "needed.")
    absent = [stratum for stratum in range(len(names)) if kind in ("binary", "multiclass")
              and not (labels[remaining] == stratum).any()]
    if kind == "multilabel":
        _check_training_labels(roles, labelled[spec.target], remaining, split_column if assigned is not None else None)
    if absent:
        rare = names[absent[0]]
        fix = (f"mark rows of that class 'train' in column {split_column!r}" if assigned is not None
               else "lower support_fraction / val_fraction / test_fraction")
        raise DataError(
            f"Target {spec.target!r} has only {int((labels == absent[0]).sum())} labelled row(s) of class "
            f"{rare!r}, and none is left for training after the support, validation and test rows are set "
            f"aside. Add rows of that class or {fix}."
        )
    return Splits(
        support=support_rows,
        train=train,
        val=labelled.iloc[parts["val"]].reset_index(drop=True),
        test=labelled.iloc[parts["test"]].reset_index(drop=True),
        support_source=source,
        dropped_rows=dropped,
        notes=notes,
        synthetic=synthetic,
        target_kind=kind,
        table_rows=len(table),
    )


def minimum_table_rows(own_support: bool, val_fraction: float, test_fraction: float) -> int:
    """The fewest labelled rows that any split can serve: ``MIN_SUPPORT_ROWS`` private training rows, as many
    support rows when the support set comes from the table, and the validation and test fractions beside them."""
    needed = MIN_SUPPORT_ROWS * (2 if own_support else 1)
    return math.ceil(needed / max(1 - val_fraction - test_fraction, 1e-9))


def _check_table_size(rows: int, own_support: bool, val_fraction: float, test_fraction: float,
                      split_column: str | None) -> None:
    """Refuse a table too small for any split before any fraction is blamed: "raise the support fraction"
    cannot help a table of 6 rows."""
    minimum = (MIN_SUPPORT_ROWS * (2 if own_support else 1) if split_column is not None
               else minimum_table_rows(own_support, val_fraction, test_fraction))
    if rows >= minimum:
        return
    parts = "the support set and the private training rows need" if own_support else "the private training rows need"
    each = " each" if own_support else ""
    beside = ("" if split_column is not None
              else f", and with val_fraction {val_fraction:g} and test_fraction {test_fraction:g} beside them")
    raise DataError(f"The table has {rows} labelled row(s), too few for any split: {parts} at least "
                    f"{MIN_SUPPORT_ROWS} rows{each}{beside}, the table needs at least {minimum} labelled rows. "
                    "Use a larger table.")


def _check_usable_columns(table: pd.DataFrame, spec: TableSpec, own_support: bool) -> None:
    """Columns with no value in any row, said by name before the split rather than found later in its parts: a
    sensitive one is refused (nothing to protect or impute), a public one is said to carry nothing (it trains as
    an all-missing feature). A sensitive column is checked only when the support set comes from this table (an
    empty one then leaves the support set empty too, which would be refused after the split): beside a separate
    support table, its values in the private rows are nobody's business."""
    empty = [column for column in spec.features if column in table.columns and table[column].isna().all()]
    sensitive = [column for column in empty if column in spec.sensitive and own_support]
    if sensitive:
        raise DataError(f"Sensitive column(s) {sensitive} are entirely missing (no value in any row): there is "
                        "nothing to protect or impute. Remove them from the sensitive columns or supply their values.")
    public = [column for column in empty if column in spec.public]
    if public:
        logger.warning("Column(s) %s have no value in any row: they carry nothing for the model. Leave them out "
                       "(the spec's ignore list, or --ignore).", public)


def typed_like_support(splits: Splits, spec: TableSpec) -> Splits:
    """``splits`` with each categorical feature column written as category text, alike in every part.

    How a reader writes a cell depends on the rest of its column, i.e. on every row of the file (CSV,
    Parquet or Excel alike): one missing cell turns True/False into Python objects and 3 into 3.0, one
    word turns numbers into text. Each column's form is read off the support set's values instead
    (``value_kind``) and every part — user-provided imputations (``imputed_column``) included — is
    written by it (``category_text``), so that no private row can rename a category for the imputer,
    the encoder or the notes (METHOD.md §5). ``spec`` must be resolved (its types read from the support set).
    """
    kinds = {column: value_kind(splits.support[column]) for column in spec.categorical
             if column in splits.support.columns}

    def written(frame: pd.DataFrame) -> pd.DataFrame:
        columns = {name: kind for column, kind in kinds.items() for name in (column, imputed_column(column))
                   if name in frame.columns}
        return frame.assign(**{name: category_text(frame[name], kind) for name, kind in columns.items()})

    return dataclasses.replace(splits, **{part: written(getattr(splits, part)) for part in SPLIT_PARTS})


REGRESSION_STRATA = 5
"""A regression target is split stratified by this many quantile bins of its (public) values."""


def strata(spec: TableSpec, target: pd.Series) -> tuple[np.ndarray, list[object]]:
    """Each row's stratum for a label-stratified split, and the strata's names.

    Binary: 1 for the positive class, 0 otherwise (names: negative, positive); multi-class: the
    class's index; multi-label: the row's rarest label (its index; rows without a label: one more
    stratum), so that every label reaches every part; regression: the quantile bin of the value
    (the target is public information).
    """
    kind = spec.kind_of(target)
    if kind == "binary":
        negative, positive = spec.target_classes(target)
        return (target == positive).to_numpy(), [negative, positive]
    if kind == "multiclass":
        classes = list(spec.class_values(target))
        return pd.Categorical(target, categories=classes).codes.astype(int), classes
    if kind == "multilabel":
        vocabulary = list(spec.label_vocabulary(target))
        sets = spec.label_sets(target)
        frequency = pd.Series([label for labels in sets for label in labels]).value_counts()
        index = {label: k for k, label in enumerate(vocabulary)}
        rarest = [index[min(labels, key=lambda label: (frequency[label], label))] if labels else len(vocabulary)
                  for labels in sets]
        return np.asarray(rarest, dtype=int), [*vocabulary, "(no label)"]
    values = spec.regression_values(target)
    bins = pd.qcut(values.rank(method="first"), min(REGRESSION_STRATA, len(values)), labels=False)
    return bins.to_numpy(dtype=int), list(range(REGRESSION_STRATA))


def _check_training_labels(spec: TableSpec, target: pd.Series, remaining: np.ndarray, split_column: str | None) -> None:
    """Every label of a multi-label target on at least one private training row (the model learns its labels there)."""
    trained = {label for labels in spec.label_sets(target.iloc[remaining]) for label in labels}
    missing = [label for label in spec.label_vocabulary(target) if label not in trained]
    if missing:
        fix = (f"mark rows with that label 'train' in column {split_column!r}" if split_column is not None
               else "lower support_fraction / val_fraction / test_fraction")
        raise DataError(f"Target {spec.target!r}: label(s) {missing} occur on no private training row after the "
                        f"support, validation and test rows are set aside. Add rows with those labels or {fix}.")


def _check_separate_support(support: pd.DataFrame, train: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    needed = list(spec.public + spec.sensitive)
    missing = [c for c in needed if c not in support.columns]
    if missing:
        raise DataError(f"The support table lacks column(s) {missing}; it needs every public and sensitive column.")
    if support[list(spec.sensitive)].isna().all().any():
        empty = [c for c in spec.sensitive if support[c].isna().all()]
        raise DataError(f"The support table has no values in sensitive column(s) {empty}; nothing to learn from.")
    overlap = row_hashes(support, needed).isin(set(row_hashes(train, needed)))
    if overlap.any():
        raise DataError(
            f"{int(overlap.sum())} support row(s) also appear among the private training rows. The support "
            "set must be public data disjoint from the private rows; remove the shared rows."
        )
    return support.reset_index(drop=True)

