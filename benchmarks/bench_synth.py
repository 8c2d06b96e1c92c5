"""DP-synthetic support sets on the sample data: fidelity, imputation quality and FusionDP AUROC.

For each ε_syn, the two-stage synthesizer (and its ablation without the diffusion stage,
latents drawn straight from the released mixture) and the marginal-based synthesizer make
a support set from the private training rows; a real public support set (10% of the
table) is the reference. For each: 1-way and 2-way total-variation distance of the
support's sensitive values to the training rows' real ones, the imputer's quality on the
real test rows (accuracy of the categorical columns, R² of the numeric ones), and the test
AUROC of ``fusiondp`` at training ε = 1. Fidelity and imputation scores read real
sensitive values: they are an evaluation, not something a run may show.

    python -m benchmarks.bench_synth [--epsilons 0.5 1 2 4] [--seeds 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from typing import Any

import numpy as np

from benchmarks.common import ROOT, print_table, sample_config, write_results
from fusiondp.config import RunConfig
from fusiondp.data import load_table
from fusiondp.impute.quality import score_column
from fusiondp.preparation import prepare_splits
from fusiondp.prepared import PreparedData, torch_threads
from fusiondp.runs import train_run
from fusiondp.split import split_table
from fusiondp.synth.fidelity import fidelity
from fusiondp.synth.settings import SynthSettings

DECLARED = RunConfig.from_yaml(ROOT / "sample_data" / "nhanes_dp_synthetic.config.yaml")
"""The sample's sensitive domains and bounds, declared from the NHANES 2017-2018 codebook."""
DOMAINS, BOUNDS = DECLARED.sensitive_domains, DECLARED.sensitive_bounds
SOURCES = {"two_stage": {"method": "two_stage"}, "two_stage_no_diffusion": {"method": "two_stage", "diffusion": False},
           "marginal": {"method": "marginal"}}


def evaluate(prepared: PreparedData, settings: SynthSettings, seeds: int) -> dict[str, Any]:
    """Fidelity to the training rows, imputation quality on the test rows, fusiondp test AUROC."""
    spec, splits = prepared.spec, prepared.splits
    close = fidelity(spec, settings, splits.train, splits.support)
    imputed = prepared.fitted_imputer.transform(splits.test)
    scores = [score_column(c, spec.is_categorical(c), splits.test[c], imputed[c], splits.support[c])
              for c in spec.sensitive]
    aurocs = [train_run(prepared, "fusiondp", seed).metrics["auroc"] for seed in range(seeds)]
    return {
        "tvd_marginal": round(close.marginal, 4), "tvd_pairs_sensitive": round(close.pairwise_sensitive, 4),
        "tvd_pairs_public": round(close.pairwise_public, 4),
        "impute_accuracy": round(float(np.mean([s.metrics["accuracy"] for s in scores if s.kind == "categorical"])),
                                 4),
        "impute_r2": round(float(np.mean([s.metrics["r2"] for s in scores if s.kind == "numeric"])), 4),
        "fusiondp_auroc": round(statistics.mean(aurocs), 4),
        "fusiondp_auroc_sd": round(statistics.stdev(aurocs), 4) if len(aurocs) > 1 else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0])
    parser.add_argument("--seeds", type=int, default=2, help="fusiondp training seeds per support set")
    args = parser.parse_args()

    real_config = sample_config(epsilon=1.0)
    table = load_table(real_config.data)
    spec = real_config.spec.resolve(table)
    reference = SynthSettings(epsilon=1.0, delta=1e-5, domains=DOMAINS, bounds=BOUNDS)
    rows: list[dict[str, Any]] = []
    with torch_threads(1):
        splits = split_table(table, spec, seed=0)
        started = time.perf_counter()
        prepared = prepare_splits(real_config, splits)
        rows.append({"support": "real public (10%)", "epsilon_syn": None, "synth_s": 0.0,
                     "prepare_s": round(time.perf_counter() - started, 1), **evaluate(prepared, reference, args.seeds)})
        print_table(rows[-1:])
        for epsilon_syn in args.epsilons:
            config = sample_config(epsilon=1.0, support_source="dp_synthetic", epsilon_syn=epsilon_syn,
                                   sensitive_domains=DOMAINS, sensitive_bounds=BOUNDS)
            for name, changes in SOURCES.items():
                settings = dataclasses.replace(config.synth_settings(), **changes)
                started = time.perf_counter()
                splits = split_table(table, spec, seed=0, synthesize=settings)
                synth_s = time.perf_counter() - started
                prepared = prepare_splits(config, splits)
                rows.append({"support": name, "epsilon_syn": epsilon_syn, "synth_s": round(synth_s, 1),
                             "prepare_s": round(time.perf_counter() - started, 1),
                             **evaluate(prepared, settings, args.seeds)})
                print_table(rows[-1:])
    print()
    print_table(rows)
    path = write_results("bench_synth", {"seeds": args.seeds, "training_epsilon": 1.0, "rows": rows})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
