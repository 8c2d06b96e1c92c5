"""Why fusiondp reads the imputation in channels of its own: the reference view in place of the real values, clipped.

Why: issue 28 found fusiondp flat or *falling* in ε (nafld: AUROC 0.851 at ε 0.5, 0.768 at ε 8 with lr 0.2, β 0)
while feature_dp and dpsgd rose. Less noise cannot hurt a correct estimate, so the bias had to be in the
clipped term itself. The private term is ``clip(∇L(x) − ∇L(x̃))`` and the public term ``∇L(x̃)`` is not clipped:
for a row whose correction is clipped by a factor c < 1, a share 1 − c of the public term's pull on that row
stays uncancelled, so the model is trained on ``(1 − c)·x̃ + c·x``. With the imputation in the real values'
own input channels (the reference view before this change), that residue teaches the model the *imputed*
values' relation to the label in the channels that carry the real values at test time; the rows clipped
hardest are those whose imputation is furthest from the truth. feature_dp's reference ("missing") has its own
code, so its residue only trains the model's use of "missing". fusiondp now reads each sensitive column's
imputation in channels of its own and its reference is the row with its sensitive values missing
(``fusiondp.reference``): the residue only trains the model's use of the imputation, which real rows carry too.

This benchmark trains, on each table and split seed, the calibrated modes with the two placements —
``in_place`` (the imputation in the real values' channels: the former fusiondp) and ``channels`` (today's) —
at C = 1.8 without noise (σ = 0: the clipping bias alone), unclipped without noise (the step's expectation
is then the real rows' gradient), and with the noise of ε 0.5 and 8, beside sgd_ori (no privacy, real rows)
and feature_dp. It reports test AUROC (the rows no choice read). σ = 0 and reproducible noise carry no
guarantee: a diagnostic, never a release.

    python -m benchmarks.bench_channels [--tables nafld_death5y,flchain_death5y] [--seeds 2] [--lr 0.2]
        [--beta 0] [--out benchmarks/results/bench_channels.json]

Writes benchmarks/results/bench_channels.json (every run and the per-table summary) and prints the summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd

from benchmarks.bench_clipping import UNCLIPPED
from benchmarks.common import RESULTS, machine, print_table
from benchmarks.suite import suite_tables
from fusiondp.data import load_table
from fusiondp.ledger import privacy_plan
from fusiondp.preparation import prepare_splits, split_for
from fusiondp.prepared import PreparedData
from fusiondp.record import write_json_atomic
from fusiondp.runs import with_epsilon
from fusiondp.train.loop import train_models
from fusiondp.train.modes import Mode, get_mode

PLACEMENTS = {
    "in_place": dataclasses.replace(get_mode("fusiondp"), imputation_channels=False),
    "channels": get_mode("fusiondp"),
}
"""fusiondp with the imputation in the real values' channels (its reference view: the shrunk expected encoding) and
in channels of its own (its reference: the values missing)."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=lambda s: s.split(","),
                        default=["nafld_death5y", "flchain_death5y", "meps_uninsured", "yrbss_tv3h"])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--beta", type=float, default=0.0)
    parser.add_argument("--epsilons", type=lambda s: [float(x) for x in s.split(",")], default=[0.5, 8.0])
    parser.add_argument("--out", default=str(RESULTS / "bench_channels.json"))
    return parser.parse_args(argv)


def _auroc(prepared: PreparedData, mode: Mode, sigmas: list[float | None], clip: float) -> list[float]:
    prepared = prepared.for_mode(mode.name)  # its encoding, under numeric_encoding: auto
    settings = dataclasses.replace(prepared.config.train_settings(), max_grad_norm=clip)
    outcomes = train_models(prepared.tensors, mode, settings, seed=0, sigmas=sigmas,
                            epsilon_at=[lambda done: None] * len(sigmas))
    return [outcome.metrics["auroc"] for outcome in outcomes]


def table_runs(name: str, split_seed: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    table = suite_tables()[name]
    config = table.sweep_grid().base.model_copy(update={"split_seed": split_seed, "lr": args.lr, "beta": args.beta,
                                                        "reproducible_noise": True})
    prepared = prepare_splits(config, split_for(config, load_table(config.data)))
    rows = [{"variant": "sgd_ori", "noise": "none", "auroc": _auroc(prepared, get_mode("sgd_ori"), [None], 1.8)[0]}]
    modes = {"feature_dp": get_mode("feature_dp"), **{f"fusiondp_{key}": mode for key, mode in PLACEMENTS.items()}}
    for variant, mode in modes.items():
        sigmas = [privacy_plan(with_epsilon(prepared, epsilon), mode)[0] for epsilon in args.epsilons]
        unclipped = _auroc(prepared, mode, [0.0], UNCLIPPED)[0]
        rows.append({"variant": variant, "noise": "σ 0, unclipped", "auroc": unclipped})
        rows.append({"variant": variant, "noise": "σ 0, C 1.8", "auroc": _auroc(prepared, mode, [0.0], 1.8)[0]})
        for epsilon, auroc in zip(args.epsilons, _auroc(prepared, mode, sigmas, 1.8), strict=True):
            rows.append({"variant": variant, "noise": f"ε {epsilon:g}, C 1.8", "auroc": auroc})
    return [{"table": name, "split_seed": split_seed, **row} for row in rows]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    runs = []
    for name in args.tables:
        for split_seed in range(args.seeds):
            runs += table_runs(name, split_seed, args)
            print(f"{name} seed {split_seed} ({time.perf_counter() - started:.0f} s)", flush=True)
    frame = pd.DataFrame(runs)
    summary = (frame.groupby(["table", "variant", "noise"], sort=False)["auroc"].agg(["mean", "std"]).round(4)
               .reset_index())
    payload = {"benchmark": "bench_channels", "machine": machine(), "lr": args.lr, "beta": args.beta,
               "seeds": args.seeds, "epsilons": args.epsilons, "wall_s": round(time.perf_counter() - started, 1),
               "summary": summary.to_dict(orient="records"), "runs": runs}
    write_json_atomic(args.out, payload)
    print_table(summary.to_dict(orient="records"))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
