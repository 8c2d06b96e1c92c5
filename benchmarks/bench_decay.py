"""Does training decay late, and would choosing the epoch on public validation rows help?

Why: issue 16 saw FusionDP's validation AUROC peak near epoch 10 and fall afterwards. This benchmark
trains the DP modes with the library defaults on the suite tables and, after every epoch, scores the
model three ways: on the validation rows' *hybrid* view (imputed sensitive values: public information,
what the loop reports and what an epoch choice may use for free), on the *real* validation rows (private
values: for this analysis only) and on the real test rows. It then compares the test AUROC of the last
epoch with that of the epoch the hybrid validation view would pick, and reports where the test AUROC
peaks and how often it falls after its peak by more than 0.005.

    python -m benchmarks.bench_decay [--tables a,b] [--seeds 3] [--epsilon 1] [--modes dpsgd,feature_dp,fusiondp]

Writes benchmarks/results/bench_decay.json (every epoch of every run and the summary) and prints the summary.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from benchmarks.common import RESULTS, machine, print_table
from benchmarks.suite import suite_tables
from fusiondp.ledger import privacy_plan
from fusiondp.metrics import binary_metrics
from fusiondp.preparation import prepare
from fusiondp.prepared import PreparedData
from fusiondp.record import write_json_atomic
from fusiondp.train.loop import ModeStep, predict_proba
from fusiondp.train.modes import get_mode

DROP = 0.005
"""A test AUROC this far below its run's peak at the last epoch counts as decay."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=lambda s: s.split(","), default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--modes", type=lambda s: s.split(","), default=["dpsgd", "feature_dp", "fusiondp"])
    parser.add_argument("--out", default=str(RESULTS / "bench_decay.json"))
    return parser.parse_args(argv)


def epoch_curves(prepared: PreparedData, mode_name: str, seed: int) -> list[dict[str, Any]]:
    """Train one model as ``train_models`` does and score it after every epoch on the three validation/test views."""
    mode, prepared = get_mode(mode_name), prepared.for_mode(mode_name)  # its encoding, under numeric_encoding: auto
    sigma, _, _, _ = privacy_plan(prepared, mode)
    tensors = prepared.tensors
    runner = ModeStep(tensors, mode, prepared.config.train_settings(), seed=seed, sigma=sigma)
    x_val_real = torch.as_tensor(prepared.encoder.transform(prepared.splits.val), dtype=torch.float32,
                                 device=prepared.device)
    if mode.public_view == "public_only":
        x_val_real = x_val_real[:, tensors.public_features]
    y_val, y_test = tensors.y_val.cpu().numpy(), tensors.y_test.cpu().numpy()
    curve, epoch = [], 0
    for step in range(1, runner.total_steps + 1):
        runner()
        if step == runner.epoch_ends[epoch]:
            epoch += 1
            curve.append({
                "epoch": epoch, "public_loss": runner.take_losses(),
                "val_hybrid": binary_metrics(y_val, predict_proba(runner.model, runner.x_eval_val))["auroc"],
                "val_real": binary_metrics(y_val, predict_proba(runner.model, x_val_real))["auroc"],
                "test": binary_metrics(y_test, predict_proba(runner.model, runner.x_eval_test))["auroc"],
            })
    return curve


def run_summary(curve: list[dict[str, Any]]) -> dict[str, Any]:
    frame = pd.DataFrame(curve)
    by_hybrid = int(frame["val_hybrid"].to_numpy().argmax())
    peak = int(frame["test"].to_numpy().argmax())
    return {"test_last": float(frame["test"].iloc[-1]), "test_at_hybrid_choice": float(frame["test"].iloc[by_hybrid]),
            "hybrid_choice_epoch": by_hybrid + 1, "test_peak_epoch": peak + 1,
            "decays": bool(frame["test"].iloc[peak] - frame["test"].iloc[-1] > DROP)}


def summary_table(runs: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for (table, mode), group in runs.groupby(["table", "mode"], sort=False):
        gain = group["test_at_hybrid_choice"] - group["test_last"]
        rows.append({"table": table, "mode": mode, "test_last": round(group["test_last"].mean(), 4),
                     "choice_gain": f"{gain.mean():+.4f} ± {gain.std(ddof=1) if len(gain) > 1 else 0:.4f}",
                     "peak_epoch": f"{group['test_peak_epoch'].mean():.1f}",
                     "hybrid_choice_epoch": f"{group['hybrid_choice_epoch'].mean():.1f}",
                     "decays": f"{int(group['decays'].sum())}/{len(group)}"})
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    tables = suite_tables()
    started = time.perf_counter()
    runs, curves = [], []
    for name in args.tables or list(tables):
        for seed in range(args.seeds):
            config = tables[name].sweep_grid(modes=args.modes, epsilon=[args.epsilon], seeds=[seed]).base
            config.split_seed = seed
            prepared = prepare(config)
            for mode in args.modes:
                curve = epoch_curves(prepared, mode, seed)
                curves.extend({"table": name, "seed": seed, "mode": mode, **point} for point in curve)
                runs.append({"table": name, "seed": seed, "mode": mode, **run_summary(curve)})
            print(f"{name} seed {seed} done ({time.perf_counter() - started:.0f} s)", flush=True)
    frame = pd.DataFrame(runs)
    summary = summary_table(frame)
    print_table(summary)
    gain = frame["test_at_hybrid_choice"] - frame["test_last"]
    overall = {mode: {"choice_gain_mean": float(g.mean()), "choice_gain_sd": float(g.std(ddof=1)),
                      "decaying_runs": int(frame.loc[g.index, "decays"].sum()), "runs": len(g)}
               for mode, g in gain.groupby(frame["mode"])}
    print(overall)
    write_json_atomic(args.out, {
        "benchmark": "bench_decay", "machine": machine(), "epsilon": args.epsilon, "seeds": args.seeds,
        "modes": args.modes, "drop": DROP, "wall_s": round(time.perf_counter() - started, 1),
        "summary": summary, "overall": overall, "runs": runs, "curves": curves,
    })


if __name__ == "__main__":
    main()
