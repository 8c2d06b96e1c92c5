"""Imputation throughput: rows/s of each available imputer for 10k query rows of the sample data.

The imputers are fitted on a 10% support set of ``sample_data/nhanes_diabetes.csv`` (as the
pipeline's default ``support_fraction``) and impute the public columns of the table's rows,
repeated to ``--query-rows``. TabPFN runs through a tiny randomly initialised checkpoint
(emsize 32, 2 layers), so its timing shows the plumbing cost, not the real model's; real
weights, when present in TabPFN's cache, are timed as a separate row.

    python -m benchmarks.bench_impute [--query-rows 10000] [--device auto]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from benchmarks.common import SAMPLE_CSV, SAMPLE_SPEC, print_table, write_results
from fusiondp.errors import ImputerUnavailable
from fusiondp.impute.base import choose_imputer
from fusiondp.impute.quality import split_support
from fusiondp.impute.tabpfn import write_random_checkpoint
from fusiondp.spec import TableSpec

TINY_LABEL = "random-init tiny checkpoint (timing only, not the real model size)"


def time_imputer(name: str, params: dict[str, Any], spec: TableSpec, support: pd.DataFrame,
                 query: pd.DataFrame) -> dict[str, Any]:
    """Fit on ``support``, impute ``query``; wall-clock seconds of each."""
    imputer = choose_imputer(name, params).build(spec, seed=0)
    started = time.perf_counter()
    imputer.fit(support)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    imputed = imputer.transform(query)
    transform_s = time.perf_counter() - started
    if imputed[list(spec.sensitive)].isna().any().any():
        raise RuntimeError(f"{name} left sensitive values missing; its timing would not be comparable")
    return {"fit_s": round(fit_s, 3), "transform_s": round(transform_s, 3),
            "rows_per_s": round(len(query) / transform_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query-rows", type=int, default=10_000)
    parser.add_argument("--device", default="auto", help="TabPFN device: auto, cpu or cuda.")
    args = parser.parse_args()

    table = pd.read_csv(SAMPLE_CSV)
    spec = TableSpec.from_yaml(SAMPLE_SPEC).resolve(table)
    support, _ = split_support(table, holdout_fraction=0.9, seed=0)
    repeats = -(-args.query_rows // len(table))
    query = pd.concat([table[[*spec.public, spec.target]]] * repeats, ignore_index=True).iloc[:args.query_rows]

    with tempfile.TemporaryDirectory() as folder:
        write_random_checkpoint(Path(folder) / "tabpfn-v2-classifier-tiny.ckpt", "classifier")
        write_random_checkpoint(Path(folder) / "tabpfn-v2-regressor-tiny.ckpt", "regressor")
        tabpfn = {"n_estimators": 1, "device": args.device}
        runs: list[tuple[str, str, dict[str, Any], str]] = [
            ("gbdt", "gbdt", {}, "HistGradientBoosting, ≤ 100 rounds at rate 0.1, 63 bins, 1 OpenMP thread"),
            ("knn", "knn", {}, "15 neighbours, distance-weighted"),
            ("tabpfn-tiny", "tabpfn", {**tabpfn, "model_dir": folder}, TINY_LABEL),
        ]
        try:
            choose_imputer("tabpfn", tabpfn)
            runs.append(("tabpfn", "tabpfn", tabpfn, "TabPFN v2 weights from the local cache, n_estimators=1"))
        except ImputerUnavailable as exc:
            print(f"real TabPFN weights not timed: {exc}\n")
        results = []
        for label, name, params, note in runs:
            timing = time_imputer(name, params, spec, support, query)
            results.append({"imputer": label, "note": note, **timing})
            print(f"{label}: {timing}", flush=True)

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    path = write_results("impute", {
        "benchmark": "imputation throughput",
        "data": f"{SAMPLE_CSV.name}: fit on {len(support)} support rows, impute {len(query)} query rows "
                f"(the table's {len(table)} rows repeated), {len(spec.public)} public → {len(spec.sensitive)} "
                "sensitive columns",
        "tabpfn_device": device,
        "versions": {p: metadata.version(p) for p in ("fusiondp", "torch", "scikit-learn", "tabpfn")},
        "results": results,
    })
    print()
    print_table([{"imputer": r["imputer"], "fit s": r["fit_s"], "impute s": r["transform_s"],
                  "rows/s": round(r["rows_per_s"]), "note": r["note"]} for r in results])
    print(f"\nTabPFN device: {device} · results: {path}")


if __name__ == "__main__":
    main()
