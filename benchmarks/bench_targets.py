"""Targets beyond binary: fusiondp vs dpsgd vs feature_dp on the multi-class and regression sample tables.

For ``sample_data/nhanes_glycemic.csv`` (3-class HbA1c status) and
``sample_data/nhanes_systolic_bp.csv`` (systolic blood pressure, mm Hg): each table is
prepared once (default settings, gbdt imputer, 10% public support), then every DP mode
trains at each ε and seed, and the non-private references (sgd_ori, sgd_pub, sgd_hybrid)
once per seed. Reported: the kind's summary metrics on the real test rows, mean and sd over
seeds (multi-class: AUROC one-vs-rest, accuracy, macro-F1; regression: R², RMSE, MAE).

    nice -n 10 python -m benchmarks.bench_targets [--epsilons 1 4] [--seeds 3]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchmarks.common import ROOT, print_table, write_results
from fusiondp.config import RunConfig
from fusiondp.metrics import summary_metrics
from fusiondp.pipeline import curve_runs, prepare, torch_threads, train_run, with_epsilon
from fusiondp.record import summarize
from fusiondp.spec import TableSpec

TABLES = ("nhanes_glycemic", "nhanes_systolic_bp")
MODES = ["sgd_ori", "sgd_pub", "sgd_hybrid", "dpsgd", "feature_dp", "fusiondp"]


def bench_table(name: str, epsilons: list[float], seeds: int) -> list[dict[str, Any]]:
    data = ROOT / "sample_data" / f"{name}.csv"
    config = RunConfig.build(data=str(data), spec=TableSpec.from_yaml(data.with_suffix(".spec.yaml")),
                             imputer="gbdt", epsilon=epsilons[0])
    started = time.perf_counter()
    prepared = prepare(config)
    prepare_s = time.perf_counter() - started
    records = []
    for epsilon, mode, seed in curve_runs(MODES, list(range(seeds)), epsilons):
        records.append(train_run(with_epsilon(prepared, epsilon), mode, seed))
    summary = summarize(records)
    shown = summary_metrics(summary.columns)
    rows = []
    for row in summary.to_dict(orient="records"):
        rows.append({"table": name, "kind": prepared.spec.target_kind, "mode": row["mode"],
                     "epsilon": row["epsilon"] if row["sigma"] is not None else None, "seeds": row["seeds"],
                     **{f"{m}_{s}": round(row[f"{m}_{s}"], 4) for m in shown for s in ("mean", "sd")},
                     "epsilon_spent": row["epsilon_spent"], "train_s": round(row["wall_time_s"], 1)})
    rows[0]["prepare_s"] = round(prepare_s, 1)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    results = []
    with torch_threads(1):
        for name in TABLES:
            rows = bench_table(name, args.epsilons, args.seeds)
            print_table(rows)
            results.extend(rows)
    path = write_results("targets", {"epsilons": args.epsilons, "seeds": args.seeds, "modes": MODES,
                                     "rows": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
