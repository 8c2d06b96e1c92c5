"""FusionDP on notes: fusiondp vs dpsgd vs feature_dp vs sgd_hybrid on the drug-review corpus.

``sample_data/drug_reviews.csv`` (979 patients' reviews; target: a positive rating) is prepared once
with ``fusiondp.text`` — rule-based span detection, hybrid notes from surrogates fitted on a 20%
public support fraction (the generator needs support notes with spans), the notes' encoder on the
support notes — then every DP mode trains at each ε and seed, and the references (sgd_ori, sgd_pub,
sgd_hybrid) once per seed, with the library's defaults otherwise. Reported: AUROC and AUPRC on the
real test notes, mean and sd over seeds, and what the span detector and generator did.

    nice -n 10 python -m benchmarks.bench_text [--epsilons 1 5] [--seeds 3]

Measured (``results/text.json``, 2 shared CPU cores, 3 seeds, one split: 196 support, 489 train, 98 val,
196 test notes; AUROC mean ± sd): ε = 1: fusiondp 0.646 ± 0.043, feature_dp 0.640 ± 0.029, dpsgd
0.560 ± 0.052; ε = 5: fusiondp 0.665 ± 0.060, feature_dp 0.719 ± 0.033, dpsgd 0.558 ± 0.082; references
sgd_hybrid 0.692 ± 0.013, sgd_pub 0.657 ± 0.085, sgd_ori 0.642 ± 0.081. About 30 s in all.

fusiondp is above dpsgd by 1.6 dpsgd sd at ε = 1 and 1.3 at ε = 5, not 2, and feature_dp does as well or
better; the gain over dpsgd comes from the public words (the unnoised public term), not from the spans:
only 110 of 489 training notes have a detected span, the generator fell back to the majority age group and
sex (its models did not beat them on the 17 and 24 support notes with those spans), and sgd_pub, which
never sees a span, scores as well as sgd_ori. With 196 test notes the sd is large (the sex spans' encoding
change moved the means by up to 0.06); this corpus shows the machinery works, not that hybrid notes help.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import pandas as pd

from benchmarks.common import ROOT, print_table, write_results
from fusiondp.config import RunConfig
from fusiondp.pipeline import curve_runs, prepare, torch_threads, train_run, with_epsilon
from fusiondp.record import summarize
from fusiondp.text import TextSpec

CORPUS = ROOT / "sample_data" / "drug_reviews.csv"
MODES = ["sgd_ori", "sgd_pub", "sgd_hybrid", "dpsgd", "feature_dp", "fusiondp"]


def bench_notes(epsilons: list[float], seeds: int) -> tuple[list[dict[str, Any]], list[str]]:
    config = RunConfig.build(data=str(CORPUS), text=TextSpec(text_column="review", target="positive",
                                                             positive_class="yes"),
                             support_fraction=0.2, epsilon=epsilons[0])
    started = time.perf_counter()
    prepared = prepare(config)
    prepare_s = time.perf_counter() - started
    records = [train_run(with_epsilon(prepared, epsilon), mode, seed)
               for epsilon, mode, seed in curve_runs(MODES, list(range(seeds)), epsilons)]
    summary = summarize(records)
    rows = [{"mode": row["mode"], "epsilon": None if pd.isna(row["sigma"]) else row["epsilon"], "seeds": row["seeds"],
             **{f"{m}_{s}": round(row[f"{m}_{s}"], 4) for m in ("auroc", "auprc") for s in ("mean", "sd")},
             "epsilon_spent": row["epsilon_spent"], "train_s": round(row["wall_time_s"], 1),
             "prepare_s": round(prepare_s, 1)} for row in summary.to_dict(orient="records")]
    return rows, [f"sizes: {prepared.splits.sizes()}", f"generator: {prepared.imputer.used}", *prepared.notes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    with torch_threads(1):
        rows, notes = bench_notes(args.epsilons, args.seeds)
    path = write_results("text", {"corpus": str(CORPUS.relative_to(ROOT)), "epsilons": args.epsilons,
                                  "seeds": args.seeds, "modes": MODES, "notes": notes, "rows": rows})
    print_table(rows)
    for note in notes:
        print(f"note: {note}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
