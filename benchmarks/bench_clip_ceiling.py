"""What caps a DP mode at a large ε: the clipping, the noise, or the method?

Why: issue 28 found every DP mode flat in ε from ε 2 on, below ``sgd_ori``. This trains each private mode at
ε 8 four ways on the same preparation, seed and split, and ``sgd_ori`` beside them:

- ``dp``: clipped at C and noised with the σ that ε 8 needs — the ordinary run, at a fixed C;
- ``clipped, no noise``: clipped at C, σ = 0 (not private: it isolates the clipping);
- ``noised, not clipped``: noise of the same σ·C, clipping off (C = 10⁶, σ scaled down to keep σ·C; not
  private: it isolates the noise);
- ``neither``: the same loop without clipping or noise;
- ``dp, C follows σ``: the library's default rule, C = max(max_grad_norm, noise_level / σ) (private).

If ``clipped, no noise`` lands where ``dp`` does and ``noised, not clipped`` where ``sgd_ori`` does, the
clipping, not the noise, is what a larger ε cannot buy at a fixed C. Test AUROC on the real test rows (the
comparison is between training regimes on public benchmark tables, not a release).

    python -m benchmarks.bench_clip_ceiling [--tables flchain_death5y,nafld_death5y] [--split-seeds 0,1]
        [--epsilon 8] [--max-grad-norm 1.8] [--out benchmarks/results/bench_clip_ceiling.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from benchmarks.common import RESULTS, machine, print_table
from benchmarks.suite import suite_tables
from fusiondp.ledger import privacy_plan
from fusiondp.preparation import prepare
from fusiondp.record import write_json_atomic
from fusiondp.runs import with_epsilon
from fusiondp.train.loop import train_models
from fusiondp.train.modes import get_mode

PRIVATE_MODES = ("dpsgd", "feature_dp", "fusiondp")
UNCLIPPED = 1e6
"""A clip norm no per-sample gradient reaches: clipping off."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=lambda s: s.split(","), default=["flchain_death5y", "nafld_death5y"])
    parser.add_argument("--split-seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1])
    parser.add_argument("--epsilon", type=float, default=8.0)
    parser.add_argument("--max-grad-norm", type=float, default=1.8)
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_clip_ceiling.json")
    return parser.parse_args(argv)


def variants(sigma: float, clip: float) -> dict[str, tuple[float, float, float | None]]:
    """Name → (σ, C, noise_level) of each regime; σ·C of the noised ones equals the ordinary run's."""
    return {"dp": (sigma, clip, None), "clipped, no noise": (0.0, clip, None),
            "noised, not clipped": (sigma * clip / UNCLIPPED, UNCLIPPED, None), "neither": (0.0, UNCLIPPED, None),
            "dp, C follows σ": (sigma, clip, "default")}


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    suite = suite_tables()
    started, rows = time.perf_counter(), []
    for name in args.tables:
        for split_seed in args.split_seeds:
            grid = suite[name].sweep_grid(modes=["fusiondp"], epsilon=[args.epsilon], seeds=[0])
            prepared = prepare(grid.base.model_copy(update={"split_seed": split_seed, "epsilon": args.epsilon,
                                                            "max_grad_norm": args.max_grad_norm}))
            for mode_name in ("sgd_ori", *PRIVATE_MODES):
                mode, moded = get_mode(mode_name), prepared.for_mode(mode_name)  # its encoding, under auto
                base = moded.config.train_settings()
                if not mode.is_private:
                    regimes = {"no privacy": (None, base.max_grad_norm, None)}
                else:
                    regimes = variants(privacy_plan(with_epsilon(prepared, args.epsilon), mode)[0], args.max_grad_norm)
                for regime, (sigma, clip, level) in regimes.items():
                    settings = dataclasses.replace(base, max_grad_norm=clip,
                                                   noise_level=base.noise_level if level == "default" else None)
                    outcome = train_models(moded.tensors, mode, settings, seed=0, sigmas=[sigma],
                                           epsilon_at=[lambda done: None])[0]
                    clip_norm = settings.clip_norm(sigma, mode.name) if mode.is_private else None
                    rows.append({"table": name, "split_seed": split_seed, "mode": mode_name, "regime": regime,
                                 "sigma": sigma, "clip_norm": clip_norm, "auroc": outcome.metrics["auroc"]})
                    print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    summary = (frame.groupby(["mode", "regime"], sort=False)["auroc"].agg(["mean", "std", "count"]).reset_index())
    write_json_atomic(args.out, {"benchmark": "bench_clip_ceiling", "machine": machine(), "epsilon": args.epsilon,
                                 "max_grad_norm": args.max_grad_norm, "tables": args.tables,
                                 "split_seeds": args.split_seeds, "wall_s": round(time.perf_counter() - started, 1),
                                 "note": "the 'no noise' and 'not clipped' regimes are not private: they isolate "
                                         "what caps the private runs",
                                 "summary": summary.to_dict(orient="records"), "runs": rows})
    print_table(summary.to_dict(orient="records"))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
