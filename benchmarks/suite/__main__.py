"""Derive every suite table that is not there yet and list the suite: ``python -m benchmarks.suite``."""

from __future__ import annotations

from benchmarks.common import print_table
from benchmarks.suite import suite_tables
from benchmarks.suite.sources import SourceUnavailable


def main() -> None:
    rows = []
    for table in suite_tables().values():
        try:
            meta = table.metadata(table.load())
        except SourceUnavailable as exc:
            print(f"{table.name}: not available ({exc})")
            continue
        missing = max(meta["sensitive_missing_pct"].values())
        rows.append({"table": meta["name"], "rows": meta["rows"], "target": meta["target"],
                     "positive_%": round(100 * meta["positive_rate"], 1), "sensitive": ",".join(meta["sensitive"]),
                     "max_missing_sensitive_%": missing, "file": meta["data"]})
    print_table(rows)


if __name__ == "__main__":
    main()
