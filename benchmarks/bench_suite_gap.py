"""Do a suite table's sensitive columns matter? ``sgd_ori`` − ``sgd_pub`` AUROC per table, with λ, skew and missingness.

Why: METHOD.md §6 asks for suite tables where the sensitive columns matter (the non-private model
with them beats the one without them by ≥ 0.03 AUROC on the real test rows) and for each table's
N, that gap and the imputability (the reference view's λ per sensitive column: fusiondp's, at the numeric encoding
it reads by default). This runs the two
non-private modes with the ``bench_utility`` protocol (seed *s* is one replicate with its own
split, ``split_seed = s``; gbdt imputer; library defaults) and writes per table: rows, the gap's
mean ± sd over seeds, per-seed AUROC, λ per sensitive column (per seed and mean), the imputer's
held-out quality, and each sensitive column's missing fraction and, where numeric, its skewness.

    python -m benchmarks.bench_suite_gap [--tables a,b] [--seeds 3] [--out benchmarks/results/suite_gap.json]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.bench_utility import git_state, imputation_quality, run_table
from benchmarks.common import RESULTS, machine, print_table
from benchmarks.suite import suite_tables
from fusiondp.record import write_json_atomic

MODES = ["sgd_ori", "sgd_pub"]
MIN_GAP = 0.03
"""METHOD.md §6: a table where the sensitive columns matter has sgd_ori − sgd_pub ≥ 0.03 AUROC."""


def shrinkage_per_seed(run_dir: Path) -> dict[str, float]:
    """The reference view's λ per sensitive column, chosen on this seed's support rows."""
    with (run_dir / "runs.jsonl").open(encoding="utf-8") as lines:
        record = json.loads(next(lines))["record"]
    return record["imputer"].get("reference_shrinkage", {})


def sensitive_profile(frame: pd.DataFrame, sensitive: Sequence[str], categorical: Sequence[str]) -> dict[str, Any]:
    """Missing fraction of every sensitive column; skewness (pandas, bias-corrected) of the numeric ones."""
    numeric = [c for c in sensitive if c not in categorical and pd.api.types.is_numeric_dtype(frame[c])]
    return {"missing_fraction": {c: round(float(frame[c].isna().mean()), 4) for c in sensitive},
            "skew": {c: round(float(frame[c].skew()), 3) for c in numeric}}


def measure(name: str, seeds: int, work: Path, command: str) -> dict[str, Any]:
    table = suite_tables()[name]
    frame = table.load()
    spec = table.spec().resolve(frame)
    args = argparse.Namespace(modes=MODES, epsilons=[1.0], seeds=seeds, workers=1, settings=[])
    rows, _ = run_table(table, args, work)
    auroc = rows.pivot_table(index="split_seed", columns="mode", values="auroc")
    gap = auroc["sgd_ori"] - auroc["sgd_pub"]
    lambdas = {f"seed{s}": shrinkage_per_seed(work / name / f"seed{s}") for s in range(seeds)}
    columns = list(next(iter(lambdas.values())))
    return {
        "name": name, "command": command, "rows": len(frame), "target": spec.target, "sensitive": list(spec.sensitive),
        "gap_auroc_mean": round(float(gap.mean()), 4), "gap_auroc_sd": round(float(gap.std()), 4),
        "passes_min_gap": bool(gap.mean() >= MIN_GAP),
        "auroc_per_seed": {f"seed{s}": {m: round(float(auroc.loc[s, m]), 4) for m in MODES} for s in auroc.index},
        "lambda_per_seed": lambdas,
        "lambda_mean": {c: round(sum(lam[c] for lam in lambdas.values()) / len(lambdas), 4) for c in columns},
        "imputation_quality_seed0": imputation_quality(work / name / "seed0"),
        **sensitive_profile(frame, list(spec.sensitive), list(spec.categorical)),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", help="comma-separated suite tables (default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1, each with its own split (default: 3)")
    parser.add_argument("--out", type=Path, default=RESULTS / "suite_gap.json")
    args = parser.parse_args(argv)
    names = args.tables.split(",") if args.tables else list(suite_tables())
    unknown = sorted(set(names) - set(suite_tables()))
    if unknown:
        parser.error(f"unknown table(s) {unknown}")
    command = "python -m benchmarks.bench_suite_gap " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    with tempfile.TemporaryDirectory(prefix="suite_gap_") as tmp:
        results = [measure(name, args.seeds, Path(tmp), command.strip()) for name in names]
    payload = {"command": command.strip(), "modes": MODES, "seeds": args.seeds, "min_gap": MIN_GAP,
               "protocol": "bench_utility: split_seed = seed, support 10%, val 10%, test 20%, gbdt imputer, "
                           "RunConfig defaults; AUROC on the real test rows",
               "git": git_state(), "machine": machine(), "tables": results}
    write_json_atomic(args.out, payload)
    print_table([{"table": r["name"], "rows": r["rows"], "gap": f"{r['gap_auroc_mean']:.3f}±{r['gap_auroc_sd']:.3f}",
                  "≥0.03": "yes" if r["passes_min_gap"] else "NO",
                  "λ": ", ".join(f"{c} {v:.2f}" for c, v in r["lambda_mean"].items()),
                  "skew": ", ".join(f"{c} {v:.2f}" for c, v in r["skew"].items()),
                  "missing": ", ".join(f"{c} {100 * v:.1f}%" for c, v in r["missing_fraction"].items() if v)}
                 for r in results])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
