"""Property-based tests of table parsing, splitting, encoding and spec resolution.

(a) ``read_table_bytes`` returns a usable table or raises ``DataError`` — never another exception;
(b) ``split_table`` gives disjoint, complete, seeded, two-class splits;
(c) ``TableEncoder`` has the documented width, depends on the rows it is given only, and codes
    unseen categories as all-zero blocks;
(d) ``TableSpec.resolve`` fills the public columns and types the columns from the data.
"""

from __future__ import annotations

import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fusiondp.data import read_table_bytes
from fusiondp.encode import MISSING_LEVEL, STANDARD_CLIP, TableEncoder
from fusiondp.errors import DataError
from fusiondp.spec import TableSpec
from fusiondp.split import MIN_SUPPORT_ROWS, split_table

FUZZ = settings(max_examples=200, deadline=None, database=None)
PROPERTY = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- (a) parsing never crashes


def parse_or_data_error(content: bytes, name: str = "x.csv") -> pd.DataFrame | None:
    """The table, checked for the guarantees ``read_table_bytes`` gives, or ``None`` after a ``DataError``."""
    try:
        table = read_table_bytes(content, name)
    except DataError as exc:
        assert str(exc).strip(), "a DataError must say what is wrong"
        return None
    assert isinstance(table, pd.DataFrame)
    assert table.shape[1] >= 2
    assert table.shape[0] >= 1
    names = list(table.columns)
    assert all(isinstance(c, str) and c for c in names)
    assert len(set(names)) == len(names)
    return table


CSV_ALPHABET = list(",;\t|\"' \n\r\r\nab1.-eé\x00\ufeff")
CELL = st.text(alphabet=list("ab12.-é \"'"), max_size=4)


@st.composite
def csv_like_text(draw: st.DrawFn) -> str:
    """Delimited rows of random cells, possibly ragged, with a random delimiter and line end."""
    delimiter = draw(st.sampled_from([",", ";", "\t", "|", " "]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    rows = draw(st.lists(st.lists(CELL, min_size=1, max_size=5), min_size=1, max_size=6))
    text = newline.join(delimiter.join(row) for row in rows)
    return draw(st.sampled_from(["", "\ufeff"])) + text + draw(st.sampled_from(["", newline]))


@FUZZ
@given(st.binary(max_size=600))
def test_arbitrary_bytes_parse_or_raise_data_error(content: bytes) -> None:
    parse_or_data_error(content)


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_utf8_text_parses_or_raises_data_error(text: str) -> None:
    parse_or_data_error(text.encode("utf-8"))


@FUZZ
@given(st.text(alphabet=CSV_ALPHABET, max_size=300), st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]))
def test_delimiter_heavy_text_parses_or_raises_data_error(text: str, encoding: str) -> None:
    parse_or_data_error(text.encode(encoding, errors="replace"))


@FUZZ
@given(csv_like_text(), st.sampled_from(["x.csv", "x.tsv", "x.txt", "x"]))
def test_csv_like_text_parses_or_raises_data_error(text: str, name: str) -> None:
    parse_or_data_error(text.encode("utf-8"), name)


NAME = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6)


@FUZZ
@given(
    names=st.lists(NAME, min_size=2, max_size=6, unique=True),
    n_rows=st.integers(1, 8),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    seed=st.integers(0, 2**16),
)
def test_well_formed_table_round_trips(names: list[str], n_rows: int, delimiter: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(rng.integers(-50, 50, (n_rows, len(names))), columns=names)
    parsed = read_table_bytes(table.to_csv(index=False, sep=delimiter).encode(), "x.csv")
    pd.testing.assert_frame_equal(parsed, table, check_dtype=False)


# ---------------------------------------------------------------- (b) splitting

LABEL_PAIRS = [(0, 1), ("no", "yes"), (False, True), (1.0, 2.0)]


@st.composite
def labelled_tables(draw: st.DrawFn, min_minority: int = 1) -> tuple[pd.DataFrame, int, int]:
    """A table with an ``id`` column and a binary target ``y``; the number of missing labels and of minority rows."""
    n = draw(st.integers(240, 400))
    n_missing = draw(st.integers(0, n // 10))
    minority = draw(st.integers(min_minority, (n - n_missing) // 2))
    negative, positive = draw(st.sampled_from(LABEL_PAIRS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    order = rng.permutation(n)
    labels = np.array([negative] * n, dtype=object)
    labels[order[:n_missing]] = None
    labels[order[n_missing : n_missing + minority]] = positive
    table = pd.DataFrame(
        {
            "id": np.arange(n),
            "p": rng.normal(size=n),
            "s": rng.choice(["a", "b", "c"], n),
            "y": pd.Series(labels, dtype=object),
        }
    )
    return table, n_missing, minority


FRACTIONS = dict(
    support_fraction=st.floats(0.25, 0.4),
    val_fraction=st.floats(0.0, 0.15),
    test_fraction=st.floats(0.05, 0.2),
)
SPLIT_SPEC = TableSpec(target="y", sensitive=("s",))
PARTS = ("support", "train", "val", "test")


@PROPERTY
@given(data=labelled_tables(), seed=st.integers(0, 2**31 - 1), **FRACTIONS)
def test_split_is_disjoint_complete_seeded_and_two_class(
    data: tuple[pd.DataFrame, int, int], seed: int, support_fraction: float, val_fraction: float, test_fraction: float
) -> None:
    table, n_missing, minority = data
    fractions = dict(support_fraction=support_fraction, val_fraction=val_fraction, test_fraction=test_fraction)
    try:
        splits = split_table(table, SPLIT_SPEC, seed=seed, **fractions)
    except DataError as exc:
        # Only a class too rare to reach the training rows is a reason to refuse these tables.
        assert minority < 5, exc
        assert f"only {minority} labelled row(s)" in str(exc) and "none is left for training" in str(exc)
        return
    labelled_ids = set(table.loc[table["y"].notna(), "id"])

    ids = {part: list(getattr(splits, part)["id"]) for part in PARTS}
    assert all(len(v) == len(set(v)) for v in ids.values())
    for i, first in enumerate(PARTS):
        for second in PARTS[i + 1 :]:
            assert not set(ids[first]) & set(ids[second]), (first, second)
    assert set().union(*map(set, ids.values())) == labelled_ids
    assert sum(splits.sizes().values()) == len(labelled_ids) == len(table) - n_missing
    assert splits.dropped_rows == n_missing
    for part in PARTS:
        assert getattr(splits, part)["y"].notna().all()

    n = len(labelled_ids)
    assert abs(len(splits.test) - round(test_fraction * n)) <= 2
    assert abs(len(splits.val) - round(val_fraction * n)) <= 2
    assert len(splits.support) >= MIN_SUPPORT_ROWS and len(splits.train) >= MIN_SUPPORT_ROWS
    assert splits.train["y"].nunique() == 2

    again = split_table(table.copy(), SPLIT_SPEC, seed=seed, **fractions)
    for part in PARTS:
        pd.testing.assert_frame_equal(getattr(again, part), getattr(splits, part))


@PROPERTY
@given(data=labelled_tables(min_minority=5), seed=st.integers(0, 2**31 - 1))
def test_split_with_separate_support_uses_no_table_rows(data: tuple[pd.DataFrame, int, int], seed: int) -> None:
    table, _, _ = data
    spec = SPLIT_SPEC.resolve(table)
    rng = np.random.default_rng(seed)
    support = pd.DataFrame({"id": -1 - np.arange(80), "p": rng.normal(size=80) + 100, "s": rng.choice(["a", "b"], 80)})
    splits = split_table(table, spec, seed=seed, support=support)
    assert splits.support_source.startswith("separate public table")
    assert list(splits.support["id"]) == list(support["id"])
    labelled = len(table) - splits.dropped_rows
    assert len(splits.train) + len(splits.val) + len(splits.test) == labelled


# ---------------------------------------------------------------- (c) encoding

CATEGORIES = ["a", "b", "c", "d"]


@st.composite
def encoder_problems(draw: st.DrawFn) -> tuple[TableSpec, pd.DataFrame, np.ndarray, np.ndarray]:
    """A resolved spec, a table, and the rows fitted as public rows / as sensitive rows."""
    kinds = {
        "public": draw(st.lists(st.sampled_from(["num", "cat"]), min_size=1, max_size=3)),
        "sensitive": draw(st.lists(st.sampled_from(["num", "cat"]), min_size=1, max_size=3)),
    }
    n = draw(st.integers(4, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    missing_share = draw(st.sampled_from([0.0, 0.2]))
    columns: dict[str, np.ndarray] = {}
    categorical, numeric = [], []
    for role, role_kinds in kinds.items():
        for i, kind in enumerate(role_kinds):
            name = f"{role}_{kind}_{i}"
            if kind == "num":
                values = rng.normal(rng.uniform(-10, 10), rng.uniform(0.1, 5), n)
                numeric.append(name)
            else:
                values = rng.choice(CATEGORIES[: rng.integers(1, 5)], n).astype(object)
                categorical.append(name)
            values[rng.random(n) < missing_share] = np.nan if kind == "num" else None
            columns[name] = values
    columns["y"] = rng.integers(0, 2, n)
    table = pd.DataFrame(columns)
    public = tuple(c for c in table.columns if c.startswith("public_"))
    sensitive = tuple(c for c in table.columns if c.startswith("sensitive_"))
    spec = TableSpec(target="y", sensitive=sensitive, public=public, categorical=tuple(categorical),
                     numeric=tuple(numeric))
    public_rows = np.flatnonzero(draw(hnp.arrays(np.bool_, n)))
    sensitive_rows = np.flatnonzero(draw(hnp.arrays(np.bool_, n)))
    assume(len(public_rows) and len(sensitive_rows))
    return spec, table, public_rows, sensitive_rows


def expected_width(column: pd.Series, categorical: bool, sensitive: bool) -> int:
    """One-hot levels (plus ``<missing>``), or the value (plus a missing indicator); sensitive columns always
    carry the missing code, public ones when their fitting rows have missing values."""
    missing_code = int(sensitive or column.isna().any())
    return column.dropna().astype(str).nunique() + missing_code if categorical else 1 + missing_code


def block_slices(encoder: TableEncoder) -> dict[str, slice]:
    return encoder.column_slices()


def fit(spec: TableSpec, table: pd.DataFrame, public_rows: np.ndarray, sensitive_rows: np.ndarray) -> TableEncoder:
    return TableEncoder(spec).fit(
        public_rows=table.iloc[public_rows].reset_index(drop=True),
        sensitive_rows=table.iloc[sensitive_rows].reset_index(drop=True),
    )


@PROPERTY
@given(encoder_problems())
def test_encoded_width_is_one_hot_widths_plus_numeric_count(
    problem: tuple[TableSpec, pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    spec, table, public_rows, sensitive_rows = problem
    encoder = fit(spec, table, public_rows, sensitive_rows)
    widths = {
        column: expected_width(table.iloc[public_rows if column in spec.public else sensitive_rows][column],
                               spec.is_categorical(column), column in spec.sensitive)
        for column in spec.features
    }
    assert encoder.n_features == sum(widths.values()) == len(encoder.feature_names_)
    assert list(encoder.public_features) == list(range(sum(widths[c] for c in spec.public)))
    encoded = encoder.transform(table)
    assert encoded.shape == (len(table), encoder.n_features)
    assert encoded.dtype == np.float32
    assert np.isfinite(encoded).all()
    assert np.abs(encoded).max() <= STANDARD_CLIP
    slices = block_slices(encoder)
    for column in spec.categorical:
        row_sums = encoded[:, slices[column]].sum(axis=1)
        assert set(np.unique(row_sums)) <= {0.0, 1.0}
        fitted_on = public_rows if column in spec.public else sensitive_rows
        assert (row_sums[fitted_on] == 1).all(), "values seen in fit are one-hot"
    blank = encoder.transform_uninformative(table)
    assert blank.shape == encoded.shape
    np.testing.assert_array_equal(blank[:, encoder.public_features], encoded[:, encoder.public_features])


def scramble(table: pd.DataFrame, columns: tuple[str, ...], rows: np.ndarray, seed: int) -> pd.DataFrame:
    """``table`` with the values of ``columns`` in ``rows`` replaced by very different ones."""
    rng = np.random.default_rng(seed)
    changed = table.copy()
    for column in columns:
        if pd.api.types.is_numeric_dtype(table[column]):
            changed.loc[rows, column] = rng.normal(1e6, 1e5, len(rows))
        else:
            changed.loc[rows, column] = [f"secret-{i}" for i in rng.integers(0, 1000, len(rows))]
    return changed


@PROPERTY
@given(encoder_problems(), st.integers(0, 2**16))
def test_encoder_state_depends_only_on_the_rows_it_is_given(
    problem: tuple[TableSpec, pd.DataFrame, np.ndarray, np.ndarray], seed: int
) -> None:
    spec, table, public_rows, sensitive_rows = problem
    state = fit(spec, table, public_rows, sensitive_rows).state()
    rows = np.arange(len(table))
    # The sensitive values of rows not fitted as sensitive rows (even if fitted as public rows) do not matter …
    other = scramble(table, spec.sensitive, np.setdiff1d(rows, sensitive_rows), seed)
    assert fit(spec, other, public_rows, sensitive_rows).state() == state
    # … nor do the public values of rows not fitted as public rows.
    other = scramble(table, spec.public, np.setdiff1d(rows, public_rows), seed)
    assert fit(spec, other, public_rows, sensitive_rows).state() == state
    # Changing the sensitive rows that are passed in does change it (the check above is not vacuous).
    other = scramble(table, spec.sensitive, sensitive_rows, seed)
    assert fit(spec, other, public_rows, sensitive_rows).state() != state


@PROPERTY
@given(encoder_problems())
def test_unseen_categories_encode_as_all_zero_blocks(
    problem: tuple[TableSpec, pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    spec, table, public_rows, sensitive_rows = problem
    encoder = fit(spec, table, public_rows, sensitive_rows)
    unseen = table.copy()
    for column in spec.categorical:
        unseen[column] = "never-seen"
    encoded, reference = encoder.transform(unseen), encoder.transform(table)
    slices = block_slices(encoder)
    for column in spec.features:
        if column in spec.categorical:
            assert not encoded[:, slices[column]].any(), column
        else:
            np.testing.assert_array_equal(encoded[:, slices[column]], reference[:, slices[column]])
    for column in spec.categorical:
        if MISSING_LEVEL not in encoder.levels_[column]:
            missing = table.copy()
            missing[column] = None
            assert not encoder.transform(missing)[:, slices[column]].any()


# ---------------------------------------------------------------- (d) spec resolution

KIND_VALUES = {
    "float": lambda rng, n: rng.normal(size=n),
    "int": lambda rng, n: rng.integers(0, 100, n),
    "text": lambda rng, n: rng.choice(["red", "green", "blue"], n).astype(object),
    "numeric-text": lambda rng, n: rng.integers(0, 100, n).astype(str).astype(object),
    "bool": lambda rng, n: rng.random(n) < 0.5,
}
CATEGORICAL_KINDS = {"text", "bool"}


@st.composite
def spec_problems(draw: st.DrawFn) -> tuple[pd.DataFrame, TableSpec, dict[str, str]]:
    names = draw(st.lists(NAME, min_size=4, max_size=9, unique=True))
    kinds = {name: draw(st.sampled_from(sorted(KIND_VALUES))) for name in names[1:]}
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = 30
    columns = {name: KIND_VALUES[kind](rng, n) for name, kind in kinds.items()}
    target = names[0]
    columns[target] = np.arange(n) % 2
    order = draw(st.permutations(names))
    table = pd.DataFrame({name: columns[name] for name in order})
    rest = names[1:]
    n_sensitive = draw(st.integers(1, len(rest) - 1))
    n_ignore = draw(st.integers(0, len(rest) - n_sensitive - 1))
    shuffled = draw(st.permutations(rest))
    spec = TableSpec(
        target=target,
        sensitive=tuple(shuffled[:n_sensitive]),
        ignore=tuple(shuffled[n_sensitive : n_sensitive + n_ignore]),
    )
    return table, spec, kinds


@PROPERTY
@given(spec_problems())
def test_resolve_fills_public_and_types_columns(problem: tuple[pd.DataFrame, TableSpec, dict[str, str]]) -> None:
    table, spec, kinds = problem
    resolved = spec.resolve(table)
    roles = {spec.target, *spec.sensitive, *spec.ignore}
    assert resolved.public == tuple(c for c in table.columns if c not in roles)
    assert resolved.sensitive == spec.sensitive and resolved.target == spec.target and resolved.ignore == spec.ignore
    assert resolved.features == resolved.public + resolved.sensitive
    assert resolved.is_resolved
    assert set(resolved.categorical) | set(resolved.numeric) == set(resolved.features)
    assert not set(resolved.categorical) & set(resolved.numeric)
    for column in resolved.features:
        assert resolved.is_categorical(column) == (kinds[column] in CATEGORICAL_KINDS), (column, kinds[column])
    for column in resolved.features:
        if table[column].dtype == object:
            assert resolved.is_categorical(column) == (kinds[column] == "text")
    assert resolved.resolve(table) == resolved, "resolving twice changes nothing"


@PROPERTY
@given(spec_problems(), st.data())
def test_declared_types_override_inference(
    problem: tuple[pd.DataFrame, TableSpec, dict[str, str]], data: st.DataObject
) -> None:
    table, spec, kinds = problem
    numeric_columns = [c for c in spec.sensitive if kinds[c] in ("float", "int", "numeric-text")]
    assume(numeric_columns)
    forced = data.draw(st.sampled_from(numeric_columns))
    resolved = spec.model_copy(update={"categorical": (forced,)}).resolve(table)
    assert resolved.is_categorical(forced)


@pytest.mark.parametrize("values", [["red", "green", "red"] * 10, ["1", "x", "y"] * 10, ["a", None, "b"] * 10])
def test_object_columns_are_categorical(values: list[str]) -> None:
    table = pd.DataFrame({"y": np.arange(30) % 2, "colour": values, "s": np.arange(30.0)})
    resolved = TableSpec(target="y", sensitive=("s",)).resolve(table)
    assert resolved.public == ("colour",)
    assert resolved.categorical == ("colour",)
    assert resolved.numeric == ("s",)


def test_mostly_numeric_text_with_junk_is_a_data_error() -> None:
    table = pd.DataFrame({"y": np.arange(40) % 2, "dose": ["n/a"] + [str(i) for i in range(39)], "s": np.arange(40.0)})
    with pytest.raises(DataError, match=r"'dose'.*'n/a'.*declare the column categorical"):
        TableSpec(target="y", sensitive=("s",)).resolve(table)
    resolved = TableSpec(target="y", sensitive=("s",), categorical=("dose",)).resolve(table)
    assert resolved.categorical == ("dose",)
