"""Loading tables: a CSV, Parquet or Excel file (or uploaded bytes) read into a checked ``DataFrame``.

Splitting the table is ``fusiondp.split``. Files are only ever read. Every problem a messy export can have
(empty file, wrong delimiter or encoding, duplicate or blank column names) becomes a ``DataError`` that says
what to change.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from fusiondp.errors import DataError
from fusiondp.spec import TableSpec, value_kind

logger = logging.getLogger(__name__)

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
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a folder, not a table file: give the path of a CSV, TSV, Parquet or "
                        "Excel file inside it.")
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
        # Cells as stored, typed as a CSV's are: pandas' own Excel typing turns a True/False column with one
        # blank cell into 1.0/0.0, so one private row's missing value would make a categorical column numeric.
        sheets = _read_binary(lambda data: pd.read_excel(data, sheet_name=None, dtype=object), content, name, "Excel")
        table = _one_sheet(sheets, name).infer_objects()
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


BINARY_SIGNATURES = {b"%PDF-": "a PDF document", b"PK\x03\x04": "a ZIP archive (an .xlsx workbook or a Word document)",
                     b"\xd0\xcf\x11\xe0": "an old Office file (.xls or .doc)", b"PAR1": "a Parquet file",
                     b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
                     b"{\\rtf": "an RTF document"}
"""Leading bytes of file types that are sometimes renamed .csv, and what each is."""


def _decode(content: bytes, name: str) -> str:
    kind = next((kind for signature, kind in BINARY_SIGNATURES.items() if content.startswith(signature)), None)
    if kind is not None or b"\x00" in content[:4096]:
        raise DataError(f"{name} is not a CSV or text file: it looks like {kind or 'a binary file'}. Export the "
                        "table as CSV (a Parquet or Excel file is read too, under its own extension).")
    for encoding in ENCODINGS:
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding != ENCODINGS[0]:  # not UTF-8: accented names may read wrong, and the reader should know why
            logger.warning("%s is not UTF-8; read as %s. Check that accented names and categories look right, or "
                           "save the file as UTF-8 CSV.", name, encoding)
        return text
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
    return _decimal_commas(table, delimiter, name) if delimiter != "," else table


DECIMAL_COMMA = r"^\s*[-+]?\d+,\d+\s*$"
"""A number written with a decimal comma ('0,82'), as spreadsheets in many locales export beside ';'."""


def _decimal_commas(table: pd.DataFrame, delimiter: str, name: str) -> pd.DataFrame:
    """Text columns whose values are numbers written with a decimal comma, read as numbers (with a warning).

    A ';'-separated export usually writes 0,82 for 0.82; read as text, each number would become its own
    category of a categorical column, and the model would silently learn nothing from it.
    """
    converted = []
    text = [column for column, dtype in table.dtypes.items()
            if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype)]
    for column in text:
        present = table[column].dropna().astype(str)
        if present.empty or not present.str.contains(",").any():
            continue
        decimal = present.str.replace(",", ".", regex=False)
        if present.str.match(DECIMAL_COMMA).any() and pd.to_numeric(decimal, errors="coerce").notna().all():
            table[column] = pd.to_numeric(table[column].astype("string").str.replace(",", ".", regex=False))
            converted.append(column)
    if converted:
        logger.warning("%s is separated by %r and writes numbers with a decimal comma: column(s) %s read as numbers.",
                       name, delimiter, converted)
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
    counts = pd.Series(np.isinf(numeric.to_numpy(dtype=float)).sum(axis=0), index=numeric.columns)
    infinite = counts[counts > 0]
    if len(infinite):
        logger.warning("%s: infinite values are read as missing: %s.", name, cell_counts(infinite, len(table)))
        table[list(infinite.index)] = table[list(infinite.index)].replace([np.inf, -np.inf], np.nan)
    return table


def cell_counts(counts: pd.Series, rows: int) -> str:
    """``{'x1': 3}`` → ``'x1' (3 of 300 rows)``: how much of each column a cleaning step changed."""
    return ", ".join(f"{column!r} ({count} of {rows} rows)" for column, count in counts.items())


def numbers_only(table: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """``table`` with the non-numeric cells of its numeric feature columns read as missing, with a warning that
    counts them per column.

    A public column is numeric when declared so, or when its values are numbers (``value_kind``) and it is not
    declared categorical; a column of numbers with more text than that is categorical, and said so. A stray word
    ('abc', 'n/a') among numbers was read as missing silently on private rows and refused on support rows, while
    ±inf got a warning: now both are read as missing and both are counted, before the split. A sensitive column
    is cleaned only when declared numeric: otherwise its type is read off the support set alone (METHOD.md §5),
    which the private rows' values must not change.
    """
    junk: dict[str, int] = {}
    mixed: dict[str, int] = {}
    examples: list[str] = []
    cleaned = table
    for column in spec.features:
        series = table[column] if column in table.columns else None
        if (series is None or column in spec.categorical or pd.api.types.is_numeric_dtype(series)
                or (column in spec.sensitive and column not in spec.numeric)):
            continue
        parsed = pd.to_numeric(series, errors="coerce")
        bad = series.notna() & parsed.isna()
        if not bad.any():
            continue
        if column in spec.numeric or value_kind(series) == "number":
            junk[column] = int(bad.sum())
            cleaned = cleaned.assign(**{column: parsed})
        elif parsed.notna().sum() >= bad.sum():  # mostly numbers, too much text to be stray: a category, said so
            mixed[column] = int(bad.sum())
        else:
            continue
        examples.extend(repr(v) for v in series[bad].astype(str).unique()[:2])
    shown = ", ".join(dict.fromkeys(examples))
    if junk:
        logger.warning("Non-numeric values (%s) in numeric columns are read as missing: %s. Clean them, or declare "
                       "the column categorical.", shown, cell_counts(pd.Series(junk), len(table)))
    if mixed:
        logger.warning("Columns of numbers hold text (%s): %s; each is read as categorical. Declare it numeric to "
                       "read the text as missing, or clean it.", shown, cell_counts(pd.Series(mixed), len(table)))
    return cleaned
