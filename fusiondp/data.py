"""Loading tables and splitting them into support / train / validation / test.

Files are only ever read. Every problem a messy export can have (empty file, wrong
delimiter or encoding, duplicate or blank column names) becomes a ``DataError`` that
says what to change.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fusiondp.errors import ConfigError, DataError
from fusiondp.spec import TableSpec
from fusiondp.synth import SynthesisSummary, SynthSettings, TwoStageSummary, make_synthesizer

logger = logging.getLogger(__name__)

MIN_SUPPORT_ROWS = 50
"""Fewer support rows than this cannot train a useful imputer nor a quality report."""

MAX_FILE_BYTES = 200 * 1024 * 1024
"""Default upper bound on the size of a table file (the dashboard states the same cap)."""
MAX_COLUMNS = 10_000
"""More columns than this is a transposed or mis-delimited file, not a table FusionDP could model."""

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xls"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")


def load_table(path: str | Path, *, max_bytes: int = MAX_FILE_BYTES) -> pd.DataFrame:
    """Read a CSV / TSV, Parquet or Excel file into a DataFrame, validating its shape."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Table file {str(path)!r} does not exist.")
    size = path.stat().st_size
    if size > max_bytes:
        raise DataError(
            f"{path.name} is {size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit. "
            "Sample or compress the table (Parquet is much smaller than CSV)."
        )
    return read_table_bytes(path.read_bytes(), path.name)


def read_table_bytes(content: bytes, name: str) -> pd.DataFrame:
    """Parse a table held in memory (an upload or a file's bytes); ``name`` gives the format."""
    suffix = Path(name).suffix.lower()
    if not content.strip():
        raise DataError(f"{name} is empty. Export the table again with its header and rows.")
    if suffix in PARQUET_SUFFIXES:
        table = _read_binary(pd.read_parquet, content, name, "Parquet")
    elif suffix in EXCEL_SUFFIXES:
        table = _one_sheet(_read_binary(lambda data: pd.read_excel(data, sheet_name=None), content, name, "Excel"),
                           name)
    elif suffix in CSV_SUFFIXES or not suffix:
        table = _read_delimited(content, name)
    else:
        raise DataError(f"{name}: unknown file type {suffix!r}. Use CSV, TSV, Parquet or Excel (.xlsx).")
    return _check_table(table, name)


def _read_binary(reader, content: bytes, name: str, kind: str) -> pd.DataFrame:
    try:
        return reader(io.BytesIO(content))
    except Exception as exc:
        raise DataError(f"{name} could not be read as {kind}: {exc}. Check that the file is not damaged.") from exc


def _one_sheet(sheets: dict[str, pd.DataFrame], name: str) -> pd.DataFrame:
    """The workbook's only sheet; with several, which one holds the table is the user's call, not ours."""
    if len(sheets) != 1:
        listed = ", ".join(repr(s) for s in sheets)
        raise DataError(f"{name} has {len(sheets)} sheets ({listed}); FusionDP reads one table per file. Save the "
                        "sheet that holds the table as its own file (CSV or a one-sheet workbook).")
    return next(iter(sheets.values()))


def _decode(content: bytes, name: str) -> str:
    if b"\x00" in content[:4096]:
        raise DataError(f"{name} looks like a binary file, not a text table. Export it as CSV.")
    for encoding in ENCODINGS:
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DataError(f"{name}: unknown text encoding. Save the file as UTF-8 CSV.")


def _read_delimited(content: bytes, name: str) -> pd.DataFrame:
    text = _decode(content, name)
    sample = text[:65536]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        # newline="" lets the csv module see bare "\r" line ends instead of failing on them.
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    except csv.Error as exc:
        raise DataError(f"{name}: the header line cannot be parsed ({exc}). Save the file as a plain CSV.") from exc
    _check_width(len(header), name)
    _check_header([h.strip() for h in header], name)
    try:
        table = pd.read_csv(io.StringIO(text), sep=delimiter, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(
            f"{name} is not a well-formed table: {exc}. Check the delimiter and that every row has "
            "the same number of fields."
        ) from exc
    table.columns = [str(c).strip() for c in table.columns]
    return table


def _check_width(columns: int, name: str) -> None:
    if columns > MAX_COLUMNS:
        raise DataError(f"{name} has {columns:,} columns, over the limit of {MAX_COLUMNS:,}. A table this wide is "
                        "usually transposed or read with the wrong delimiter: put one row per record and one column "
                        "per variable.")


def _check_header(header: list[str], name: str) -> None:
    blank = [i + 1 for i, h in enumerate(header) if not h]
    if blank:
        raise DataError(f"{name}: column(s) {blank} have no name. Give every column a header.")
    seen: set[str] = set()
    duplicates = sorted({h for h in header if h in seen or seen.add(h)})
    if duplicates:
        raise DataError(f"{name}: duplicate column name(s) {duplicates}. Rename them so each is unique.")


def _check_table(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """Shape, names and cell types every front-end relies on; ±inf become missing values (with a log line)."""
    names = [str(c) for c in table.columns]
    _check_width(len(names), name)
    _check_header([n if not n.startswith("Unnamed: ") else "" for n in names], name)
    if table.shape[1] < 2:
        raise DataError(
            f"{name} has a single column. If it should have several, the delimiter was not recognised: "
            "use comma, semicolon, tab or '|'."
        )
    if table.empty:
        raise DataError(f"{name} has a header but no rows.")
    table.columns = names
    nested = [c for c in names if table[c].dtype == object
              and table[c].map(lambda v: isinstance(v, (dict, list, tuple, set, np.ndarray))).any()]
    if nested:
        raise DataError(f"{name}: column(s) {nested} hold nested values (lists or records). Flatten them into plain "
                        "columns, one value per cell, before loading.")
    numeric = table.select_dtypes("number")
    infinite = numeric.columns[np.isinf(numeric.to_numpy(dtype=float)).any(axis=0)].tolist()
    if infinite:
        logger.warning("%s: infinite values in %s are treated as missing.", name, infinite)
        table[infinite] = table[infinite].replace([np.inf, -np.inf], np.nan)
    return table


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
) -> Splits:
    """Split ``table`` into disjoint, label-stratified parts with a seeded generator.

    With ``support`` given (a separate public table) or ``synthesize`` (a DP-synthetic
    support set made from the private training rows — never from validation or test rows,
    which are scored on), no rows of ``table`` are used as support; otherwise a
    ``support_fraction`` of ``table`` is declared public and removed from the private
    training set.
    """
    if support is not None and synthesize is not None:
        raise ConfigError("Both a separate support table and a DP-synthetic support set were requested; choose one "
                          "support_source.")
    own_fraction = support is None and synthesize is None
    for label, value in (("support_fraction", support_fraction), ("val_fraction", val_fraction),
                         ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise ConfigError(f"{label} must be in [0, 1); got {value}.")
    held_out = val_fraction + test_fraction + (support_fraction if own_fraction else 0)
    if held_out >= 0.9:
        raise ConfigError(
            f"support + val + test fractions add up to {held_out:.2f}, leaving (almost) no private "
            "training rows. Keep their sum below 0.9."
        )
    labelled = table[table[spec.target].notna()].reset_index(drop=True)
    dropped = len(table) - len(labelled)
    notes = [f"{dropped} rows with a missing target were left out."] if dropped else []
    negative, positive = spec.target_classes(labelled[spec.target])
    labels = (labelled[spec.target] == positive).to_numpy()
    rng = np.random.default_rng(seed)
    remaining = np.arange(len(labelled))
    parts: dict[str, np.ndarray] = {}
    fractions = {"test": test_fraction, "val": val_fraction}
    if own_fraction:
        fractions["support"] = support_fraction
    for part, fraction in fractions.items():
        count = round(fraction * len(labelled))
        taken = _stratified_take(remaining, labels[remaining], count, rng)
        parts[part] = np.sort(taken)
        remaining = np.setdiff1d(remaining, taken)
    train = labelled.iloc[remaining].reset_index(drop=True)
    synthetic = None
    if own_fraction:
        support_rows = labelled.iloc[parts["support"]].reset_index(drop=True)
        source = f"public fraction {support_fraction:g} of the table ({len(support_rows)} rows, disjoint from train)"
    elif synthesize is not None:
        synthesizer = make_synthesizer(spec, synthesize).fit(train)
        support_rows = synthesizer.sample(train)
        synthetic = synthesizer.summary(len(support_rows))
        source = synthetic.describe()
    else:
        support_rows = _check_separate_support(support, train, spec)
        source = f"separate public table ({len(support_rows)} rows)"
    if len(support_rows) < MIN_SUPPORT_ROWS:
        raise DataError(
            f"The support set has {len(support_rows)} rows; at least {MIN_SUPPORT_ROWS} are needed to fit "
            "and check the imputer. Raise support_fraction or supply a larger public table."
        )
    if len(train) < MIN_SUPPORT_ROWS:
        raise DataError(f"Only {len(train)} private training rows remain; at least {MIN_SUPPORT_ROWS} are needed.")
    train_labels = labels[remaining]
    if train_labels.all() or not train_labels.any():
        rare_is_positive = not train_labels.any()
        rare = positive if rare_is_positive else negative
        raise DataError(
            f"Target {spec.target!r} has only {int((labels == rare_is_positive).sum())} labelled row(s) of class "
            f"{rare!r}, and none is left for training after the support, validation and test rows are set "
            "aside. Add rows of that class or lower support_fraction / val_fraction / test_fraction."
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
    )


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
