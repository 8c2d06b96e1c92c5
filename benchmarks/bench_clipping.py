"""Is DP training step-size-bound, and does a column's share of the step follow its scale?

Why: issue 28 (deliver 3) found that at initialisation every private row is clipped (median per-row
gradient norm 2× C), so each step moves the weights by about lr·α·C whatever the gradient says, and a
sensitive column whose encoded scale happened to shrink stayed under-learned. This benchmark trains the
DP modes with the library's own loop (``ModeStep``, reproducible noise so runs replay) and records, per
epoch:

- **clipping**: the share of sampled private rows whose per-sample gradient norm exceeds C, the median and
  90th percentile of norm / C (norms from the library's fused per-sample pass, ``ghost.stacked_step_gradients``,
  on the very rows the step samples), and for the calibrated modes the share of rows whose gradient is exactly
  zero (real and reference views agree);
- **how far the private step is from its cap**: ``‖Σ_i clip(g_i)‖ / (C·|B_t|)`` (1: every row clipped and all
  pointing one way, so the step is lr·α·C|B_t|/B however large the gradients are) and
  ``‖Σ_i clip(g_i)‖ / ‖Σ_i g_i‖`` (how much clipping shrinks the summed private gradient);
- **each column's share of the step** in the first layer's weights: ``‖W[:, column]‖² / ‖W‖²`` summed over the
  epoch's steps, for the clipped private sum (before noise: the noise is isotropic and adds the same energy to
  every feature), the unclipped private sum, and the public gradient; a column groups its encoded features
  (one-hot levels, a value and its missing indicator). Compared with each column's scale — the sd of its
  encoded block, ``sqrt(Σ_f var_f)``, on the support rows (what the encoder was fitted on) and on the training
  rows' real view (what the gradient sees) — by a Spearman ρ across columns and by the slope of log share on
  log sd (2 when a share is proportional to the column's variance);
- **the step size**: ``‖θ_{t+1} − θ_t‖`` beside its parts lr·‖g_pub‖, lr·α·‖Σ clip(g_i)‖/B (private signal),
  its cap lr·α·C·|B_t|/B and the noise lr·α·σC‖ξ‖/B; ``step / bound`` with bound = lr·(‖g_pub‖ + α·C·|B_t|/B),
  and the private signal-to-noise ratio ``‖Σ clip(g_i)‖ / (σC‖ξ‖)``.

Clip fractions, norms and per-column shares are unnoised statistics of the private rows: a diagnostic for
this benchmark, never something the library shows or exports (and reproducible noise voids the guarantee).
Seeds vary initialisation, public batches, Poisson samples and noise on one split per table.
``--scale COLUMN=FACTOR`` multiplies a column's encoded block in every view (the issue's "double that column"
counterfactual) to see its share move.

    python -m benchmarks.bench_clipping [--tables sample,nass_driver_death] [--modes dpsgd,feature_dp,fusiondp]
        [--epochs 13] [--seeds 3] [--epsilon 1] [--lr 0.05] [--max-grad-norm 1.8] [--alpha 1]
        [--scale age=2] [--out benchmarks/results/bench_clipping.json]

Writes benchmarks/results/bench_clipping.json (every epoch of every run, the per-column tables and the
summary) and prints the summary and the per-column shares at the last epoch.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchmarks.common import RESULTS, machine, print_table, sample_config
from fusiondp.encode import NUMERIC_ENCODINGS
from fusiondp.ledger import privacy_plan
from fusiondp.metrics import binary_metrics
from fusiondp.preparation import prepare
from fusiondp.prepared import PreparedData
from fusiondp.record import write_json_atomic
from fusiondp.train.ghost import stacked_step_gradients
from fusiondp.train.loop import ModeStep, TrainTensors, predict_proba
from fusiondp.train.modes import get_mode
from fusiondp.train.settings import TrainSettings

SAMPLE = "sample"
"""``--tables`` name of the sample table (sample_data/nhanes_diabetes.csv with its spec)."""
UNCLIPPED = 1e30
"""A clip norm no gradient reaches: the pass then returns the plain per-sample sum."""
TENSOR_VIEWS = ("x_real", "x_hybrid", "x_blank", "x_val_hybrid", "x_test", "support_real", "support_hybrid",
                "support_blank", "x_reference", "support_reference")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=lambda s: s.split(","), default=[SAMPLE],
                        help="'sample' and/or suite tables (benchmarks/suite/tables.yaml; needs the bench extra)")
    parser.add_argument("--modes", type=lambda s: s.split(","), default=["dpsgd", "feature_dp", "fusiondp"])
    parser.add_argument("--epochs", type=int, default=13)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=None, help="default: the library's (RunConfig)")
    parser.add_argument("--max-grad-norm", type=float, default=None, help="C; default: the library's")
    parser.add_argument("--alpha", type=float, default=None, help="default: the library's")
    parser.add_argument("--numeric-encoding", choices=NUMERIC_ENCODINGS, default="standard",
                        help="one encoding for every mode, so that their per-column shares compare (default: z-scores, "
                             "whose column scales this measures)")
    parser.add_argument("--scale", action="append", default=[], metavar="COLUMN=FACTOR",
                        help="multiply a column's encoded features by FACTOR in every view (repeatable)")
    parser.add_argument("--out", default=str(RESULTS / "bench_clipping.json"))
    return parser.parse_args(argv)


def column_scales(tensors: TrainTensors, slices: dict[str, slice]) -> dict[str, dict[str, float]]:
    """Per column, the sd of its encoded block (``sqrt(Σ_f var_f)``) on the support rows and on the training
    rows' real view."""
    def sd(x: torch.Tensor, block: slice) -> float:
        return float(x[:, block].double().var(0, unbiased=False).sum().sqrt())
    return {column: {"sd_support": sd(tensors.support_real, block), "sd_train": sd(tensors.x_real, block)}
            for column, block in slices.items()}


def scaled_tensors(tensors: TrainTensors, slices: dict[str, slice], factors: dict[str, float]) -> TrainTensors:
    """A copy of ``tensors`` with each named column's encoded block multiplied by its factor in every view."""
    if not factors:
        return tensors
    unknown = set(factors) - set(slices)
    if unknown:
        raise ValueError(f"unknown column(s) {sorted(unknown)}; columns: {', '.join(slices)}")
    changed = {}
    for name in TENSOR_VIEWS:
        x = getattr(tensors, name)
        if x is None:
            continue
        x = x.clone()
        for column, factor in factors.items():
            x[:, slices[column]] *= factor
        changed[name] = x
    return dataclasses.replace(tensors, **changed)


class _Epoch:
    """Running sums of one epoch's per-step measurements (tensors, read back once per epoch)."""

    def __init__(self, features: int) -> None:
        self.norms: list[torch.Tensor] = []
        self.energy = {kind: torch.zeros(features, dtype=torch.float64) for kind in ("private", "unclipped", "public")}
        self.steps: list[dict[str, torch.Tensor | float]] = []


class ClipProbe(ModeStep):
    """``ModeStep`` that measures each step it takes, on the step's own rows, before the update.

    The library's step computes the same per-sample norms and clipped sum but keeps them to itself, so the probe
    runs the fused pass once more on the rows the step gathered (same weights, same rows: the same numbers) and
    once with no clipping; then it lets the step update the weights as it would have.
    """

    def __init__(self, data: TrainTensors, mode_name: str, settings: TrainSettings, *, seed: int,
                 sigma: float | None) -> None:
        super().__init__(data, get_mode(mode_name), settings, seed=seed, sigma=sigma)
        self.features = self.x_eval_test.shape[1]
        self.epoch = _Epoch(self.features)
        self._pending: dict[str, torch.Tensor | float] = {}
        self.epochs_taken = 0
        self.clip_norm = self.clip_norms[0] if self.clip_norms else settings.max_grad_norm
        """The C this model is clipped at (``TrainSettings.clip_norm``: it may follow σ)."""

    def _pass(self, x: torch.Tensor, y: torch.Tensor, n_public: int, batch: int, max_norm: float) -> Any:
        return stacked_step_gradients(self.model, self.weights, x, y, n_public=n_public, batch=batch, views=self.views,
                                      beta=self.settings.beta, rep_clip=self.rep_clip or 1.0, max_norm=max_norm,
                                      task=self.data.task)

    def _step_rows(self) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        x, y, n_public, batch = super()._step_rows()
        out = self._pass(x, y, n_public, batch, self.clip_norm)
        record: dict[str, torch.Tensor | float] = {"batch": float(batch)}
        if out.public is not None:
            self.epoch.energy["public"] += out.public[0][0].double().pow(2).sum(0)
            record["public_norm"] = torch.linalg.vector_norm(torch.cat([g[0].reshape(-1) for g in out.public]))
        if out.private is not None:
            self.epoch.norms.append(out.norms[0].clone())
            self.epoch.energy["private"] += out.private[0][0].double().pow(2).sum(0)
            record["clipped_norm"] = torch.linalg.vector_norm(torch.cat([g[0].reshape(-1) for g in out.private]))
            if batch:
                free = self._pass(x, y, n_public, batch, UNCLIPPED)
                assert free.private is not None
                self.epoch.energy["unclipped"] += free.private[0][0].double().pow(2).sum(0)
                record["unclipped_norm"] = torch.linalg.vector_norm(
                    torch.cat([g[0].reshape(-1) for g in free.private]))
            else:
                record["unclipped_norm"] = torch.zeros(())
        self._pending = record
        return x, y, n_public, batch

    def __call__(self) -> None:
        before = self.flat[0].clone()
        lr = self.settings.lr_at(self.steps_taken, self.total_steps, self.mode.name)  # the step's, under a schedule
        super().__call__()
        record = self._pending
        record["lr"] = lr
        record["step_norm"] = torch.linalg.vector_norm(self.flat[0] - before)
        if self.private_loss is not None:
            record["noise_norm"] = torch.linalg.vector_norm(self.noise[0])
        self.epoch.steps.append(record)

    def take_epoch(self) -> dict[str, Any]:
        """The epoch's measurements (see the module docstring), and a fresh epoch."""
        epoch, self.epoch = self.epoch, _Epoch(self.features)
        self.epochs_taken += 1
        expected_batch = self.q * self.n_rows
        steps = pd.DataFrame([{k: float(v) for k, v in r.items()} for r in epoch.steps])
        lr_public = steps["lr"] * steps["public_norm"] if "public_norm" in steps else 0.0 * steps["step_norm"]
        result: dict[str, Any] = {"steps": len(steps), "step_norm": float(steps["step_norm"].mean()),
                                  "lr_public_norm": float(np.mean(lr_public))}
        if self.private_loss is not None:
            c, sigma = self.clip_norm, float(self.sigma or 0.0)
            norms = torch.cat(epoch.norms).double() if epoch.norms else torch.zeros(0, dtype=torch.float64)
            rows = max(len(norms), 1)
            cap = steps["lr"] * self.alpha * c * steps["batch"] / expected_batch
            signal = steps["lr"] * self.alpha * steps["clipped_norm"] / expected_batch
            noise = steps["lr"] * self.alpha * sigma * c * steps["noise_norm"] / expected_batch
            sampled = steps["batch"] > 0
            result.update({
                "rows": len(norms),
                "clip_fraction": float((norms > c).sum()) / rows,
                "zero_fraction": float((norms == 0).sum()) / rows,
                "median_norm_over_c": float(norms.median()) / c if len(norms) else math.nan,
                "p90_norm_over_c": float(torch.quantile(norms, 0.9)) / c if len(norms) else math.nan,
                "signal_over_cap": float((steps["clipped_norm"][sampled] / (c * steps["batch"][sampled])).mean()),
                "clipped_over_unclipped": float((steps["clipped_norm"][sampled]
                                                 / steps["unclipped_norm"][sampled].clip(lower=1e-30)).mean()),
                "snr": float((steps["clipped_norm"] / (sigma * c * steps["noise_norm"])).mean()) if sigma else math.inf,
                "lr_private_signal": float(signal.mean()), "lr_private_cap": float(cap.mean()),
                "lr_noise": float(noise.mean()),
                "step_over_bound": float((steps["step_norm"] / (lr_public + cap)).mean()),
            })
            first = epoch.norms[0].double() if epoch.norms and self.epochs_taken == 1 else None
            if first is not None and len(first):  # at initialisation: the run's first step alone
                result.update(first_step_clip_fraction=float((first > c).sum()) / len(first),
                              first_step_median_norm_over_c=float(first.median()) / c)
        else:
            result["step_over_bound"] = float((steps["step_norm"] / lr_public).mean())
        result["energy"] = {kind: energy.numpy() for kind, energy in epoch.energy.items()}
        return result


def shares(energy: np.ndarray, slices: dict[str, slice]) -> dict[str, float]:
    """Each column's share of the summed squared first-layer weight update (they sum to 1)."""
    total = float(energy.sum())
    return {column: (float(energy[block].sum()) / total if total > 0 else math.nan) for column, block in slices.items()}


def scale_fit(share: dict[str, float], scale: dict[str, float]) -> dict[str, float]:
    """Spearman ρ between the columns' shares and scales, and the slope of log share on log scale."""
    frame = pd.DataFrame({"share": share, "scale": scale}).dropna()
    frame = frame[(frame["share"] > 0) & (frame["scale"] > 0)]
    if len(frame) < 3:
        return {"spearman": math.nan, "loglog_slope": math.nan}
    slope = float(np.polyfit(np.log(frame["scale"]), np.log(frame["share"]), 1)[0])
    return {"spearman": float(frame["share"].corr(frame["scale"], method="spearman")), "loglog_slope": slope}


def measure(tensors: TrainTensors, mode_name: str, settings: TrainSettings, *, seed: int, sigma: float | None,
            slices: dict[str, slice]) -> list[dict[str, Any]]:
    """Train one model of ``mode_name`` with the library's loop and measure every epoch (module docstring).

    ``slices`` maps each column to its encoded features (``TableEncoder.column_slices``). Each epoch's entry holds
    the scalar measurements, ``shares`` (per kind — private, unclipped, public — per column) and their fit to the
    columns' scales, and the hybrid-validation AUROC for a binary target.
    """
    probe = ClipProbe(tensors, mode_name, settings, seed=seed, sigma=sigma)
    scales = column_scales(tensors, slices)
    binary = tensors.task.kind == "binary"
    y_val = tensors.y_val.cpu().numpy()
    epochs, epoch = [], 0
    for step in range(1, probe.total_steps + 1):
        probe()
        if step != probe.epoch_ends[epoch]:
            continue
        epoch += 1
        point = probe.take_epoch()
        energy = point.pop("energy")
        point["shares"] = {kind: shares(e, slices) for kind, e in energy.items() if e.sum() > 0}
        point["fit"] = {kind: {ref: scale_fit(share, {c: v[ref] for c, v in scales.items()})
                               for ref in ("sd_support", "sd_train")} for kind, share in point["shares"].items()}
        if binary and len(y_val):
            point["val_auroc_hybrid"] = binary_metrics(y_val, predict_proba(probe.model, probe.x_eval_val))["auroc"]
        if binary and epoch == len(probe.epoch_ends):
            point["test_auroc"] = binary_metrics(tensors.y_test.cpu().numpy(),
                                                 predict_proba(probe.model, probe.x_eval_test))["auroc"]
        epochs.append({"epoch": epoch, **point})
    return epochs


def table_config(name: str, args: argparse.Namespace) -> Any:
    overrides = {"epochs": args.epochs, "epsilon": args.epsilon, "reproducible_noise": True,
                 "numeric_encoding": args.numeric_encoding,
                 **{k: v for k, v in (("lr", args.lr), ("max_grad_norm", args.max_grad_norm), ("alpha", args.alpha))
                    if v is not None}}
    if name == SAMPLE:
        return sample_config(**overrides)
    from benchmarks.suite import suite_tables

    config = suite_tables()[name].sweep_grid(modes=args.modes, epsilon=[args.epsilon], seeds=[0]).base
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def run_table(prepared: PreparedData, modes: list[str], seeds: int, factors: dict[str, float],
              ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every (mode, seed) run's epochs on one prepared table, and the table's columns (role, width, scales)."""
    slices = prepared.encoder.column_slices()
    tensors = scaled_tensors(prepared.tensors, slices, factors)
    scales = column_scales(tensors, slices)
    sensitive = set(prepared.spec.sensitive)
    columns = {c: {"sensitive": c in sensitive, "width": s.stop - s.start, **scales[c]} for c, s in slices.items()}
    settings = prepared.config.train_settings()
    runs = []
    for mode_name in modes:
        sigma, _, _, _ = privacy_plan(prepared, get_mode(mode_name))
        for seed in range(seeds):
            epochs = measure(tensors, mode_name, settings, seed=seed, sigma=sigma, slices=slices)
            runs.append({"mode": mode_name, "seed": seed, "sigma": sigma, "epochs": epochs})
    return runs, columns


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def summary_rows(table: str, arm: str, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per mode, seed means at the first and last epoch."""
    rows = []
    for mode in dict.fromkeys(r["mode"] for r in runs):
        group = [r for r in runs if r["mode"] == mode]

        def at(index: int, key: str, group: list[dict[str, Any]] = group) -> float:
            return _mean([r["epochs"][index].get(key, math.nan) for r in group])

        def fit(index: int, kind: str, group: list[dict[str, Any]] = group) -> float:
            return _mean([r["epochs"][index]["fit"].get(kind, {}).get("sd_support", {}).get("spearman", math.nan)
                          for r in group])

        rows.append({"table": table, "arm": arm, "mode": mode,
                     "clip_t1": at(0, "first_step_clip_fraction"), "med/C_t1": at(0, "first_step_median_norm_over_c"),
                     "clip_e1": at(0, "clip_fraction"), "clip_end": at(-1, "clip_fraction"),
                     "med/C_e1": at(0, "median_norm_over_c"), "med/C_end": at(-1, "median_norm_over_c"),
                     "zero_e1": at(0, "zero_fraction"),
                     "sig/cap_e1": at(0, "signal_over_cap"), "sig/cap_end": at(-1, "signal_over_cap"),
                     "clip/raw_e1": at(0, "clipped_over_unclipped"),
                     "clip/raw_end": at(-1, "clipped_over_unclipped"), "snr_end": at(-1, "snr"),
                     "step/bound": at(-1, "step_over_bound"),
                     "rho_priv": fit(-1, "private"), "rho_pub": fit(-1, "public"),
                     "val_auroc": at(-1, "val_auroc_hybrid"), "test_auroc": at(-1, "test_auroc")})
    return rows


def last_share(runs: list[dict[str, Any]], mode: str, kind: str, column: str, epoch: int = -1) -> float:
    """A column's share of one kind of step at an epoch (default the last), mean over the mode's seeds (NaN: no
    such step)."""
    return _mean([r["epochs"][epoch]["shares"].get(kind, {}).get(column, math.nan)
                  for r in runs if r["mode"] == mode])


def column_rows(table: str, runs: list[dict[str, Any]], columns: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per column: its scale and, per mode, its mean share of the clipped private step and of the public step at
    the last epoch (seed means), sorted by the support-set scale."""
    rows = []
    for column, info in columns.items():
        row = {"table": table, "column": column + (" *" if info["sensitive"] else ""), "width": info["width"],
               "sd_support": info["sd_support"], "sd_train": info["sd_train"]}
        for mode in dict.fromkeys(r["mode"] for r in runs):
            for kind, label in (("private", "priv"), ("public", "pub")):
                value = last_share(runs, mode, kind, column)
                if not math.isnan(value):
                    row[f"{mode}_{label}"] = value
        rows.append(row)
    return sorted(rows, key=lambda r: r["sd_support"])


def share_elasticity(before: float, after: float, factor: float) -> float:
    """k in ``odds(after) = factor^k · odds(before)``: how a column's share responds to multiplying its scale by
    ``factor`` while the other columns stay as they are (2: the share follows the column's variance; 0: scale
    does not matter). NaN when either share is 0, 1 or undefined."""
    if not (0 < before < 1 and 0 < after < 1) or factor in (0.0, 1.0):
        return math.nan
    return math.log((after / (1 - after)) / (before / (1 - before))) / math.log(abs(factor))


def scaled_rows(table: str, base: list[dict[str, Any]], scaled: list[dict[str, Any]],
                factors: dict[str, float]) -> list[dict[str, Any]]:
    """Per mode and scaled column: its share of each step at the last epoch, the share's elasticity to the scale at
    the first and the last epoch, and the test AUROC, before → after scaling."""
    rows = []
    for mode in dict.fromkeys(r["mode"] for r in base):
        auroc = [_mean([r["epochs"][-1].get("test_auroc", math.nan) for r in arm if r["mode"] == mode])
                 for arm in (base, scaled)]
        for column, factor in factors.items():
            row: dict[str, Any] = {"table": table, "mode": mode, "column": column, "factor": factor}
            for kind, label in (("private", "priv"), ("public", "pub")):
                first = [last_share(arm, mode, kind, column, 0) for arm in (base, scaled)]
                before, after = (last_share(arm, mode, kind, column) for arm in (base, scaled))
                row[f"{label}_share"] = "n/a" if math.isnan(before) else f"{before:.3f} → {after:.3f}"
                row[f"{label}_k_e1"] = share_elasticity(*first, factor)
                row[f"{label}_k_end"] = share_elasticity(before, after, factor)
            row["test_auroc"] = f"{auroc[0]:.4f} → {auroc[1]:.4f}"
            rows.append(row)
    return rows


def _significant(value: Any, digits: int = 4) -> Any:
    """Floats rounded to ``digits`` significant digits, all through lists and dicts (keeps the JSON small)."""
    if isinstance(value, float):
        return value if not math.isfinite(value) or value == 0 else round(value, digits - 1 - math.floor(
            math.log10(abs(value))))
    if isinstance(value, dict):
        return {k: _significant(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_significant(v, digits) for v in value]
    return value


def stored_runs(runs: list[dict[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
    """Runs as the JSON keeps them (small): every epoch's scalars; the shares, as lists in ``columns`` order, and
    their fit to scale at the first and last epoch only (``share_curves`` has every epoch's, seed means); 4
    significant digits."""
    stored = []
    for run_ in runs:
        epochs = []
        for index, e in enumerate(run_["epochs"]):
            if index in (0, len(run_["epochs"]) - 1):
                lists = {kind: [share[c] for c in columns] for kind, share in e["shares"].items()}
                epochs.append({**e, "shares": lists})
            else:
                epochs.append({k: v for k, v in e.items() if k not in ("shares", "fit")})
        stored.append(_significant({**run_, "epochs": epochs}))
    return stored


def share_curves(runs: list[dict[str, Any]], columns: list[str]) -> dict[str, dict[str, list[list[float]]]]:
    """Per mode and kind of step, each epoch's per-column shares (``columns`` order), mean over seeds."""
    curves: dict[str, dict[str, list[list[float]]]] = {}
    for mode in dict.fromkeys(r["mode"] for r in runs):
        group = [r for r in runs if r["mode"] == mode]
        kinds = group[0]["epochs"][-1]["shares"]
        curves[mode] = {kind: [[_mean([r["epochs"][e]["shares"][kind][c] for r in group]) for c in columns]
                               for e in range(len(group[0]["epochs"]))] for kind in kinds}
    return _significant(curves)


def main(argv: Sequence[str] | None = None) -> None:
    torch.set_num_threads(1)
    args = parse_args(argv)
    factors = {column: float(factor) for column, factor in (item.split("=", 1) for item in args.scale)}
    started = time.perf_counter()
    tables: dict[str, Any] = {}
    summary, per_column, counterfactual = [], [], []
    for name in args.tables:
        prepared = prepare(table_config(name, args))
        slices = prepared.encoder.column_slices()
        present = {c: f for c, f in factors.items() if c in slices}
        if set(factors) - set(present):
            print(f"{name}: no column(s) {sorted(set(factors) - set(present))}; scaling {sorted(present) or 'none'}")
        arms = {"base": {}, **({"scaled": present} if present else {})}
        entry: dict[str, Any] = {"rows_train": len(prepared.tensors.y), "features": prepared.encoder.n_features,
                                 "settings": dataclasses.asdict(prepared.config.train_settings()), "arms": {}}
        measured = {}
        for arm, arm_factors in arms.items():
            runs, columns = run_table(prepared, args.modes, args.seeds, arm_factors)
            measured[arm] = runs
            entry["arms"][arm] = {"scale": arm_factors, "columns": columns, "runs": stored_runs(runs, list(columns)),
                                  "share_curves": share_curves(runs, list(columns))}
            summary += summary_rows(name, arm, runs)
            if arm == "base":
                per_column += column_rows(name, runs, columns)
        if "scaled" in measured:
            counterfactual += scaled_rows(name, measured["base"], measured["scaled"], present)
        tables[name] = entry
        print(f"{name} done ({time.perf_counter() - started:.0f} s)", flush=True)
    print("\nPer-column share of the first layer's step at the last epoch (* sensitive; sorted by sd on support):")
    print_table(per_column)
    print("\nClipping and step size (seed means; t1 = first step, e1 = first epoch, end = last; rho = Spearman of the"
          " clipped private / public step's per-column share with the column's sd on the support rows):")
    print_table(summary)
    if counterfactual:
        print("\nA scaled column's share at the last epoch and the test AUROC, base → scaled (seed means; elasticity"
              " k: odds of the share × factor^k, 2 = the share follows the column's variance):")
        print_table(counterfactual)
    write_json_atomic(args.out, {
        "benchmark": "bench_clipping", "machine": machine(), "epsilon": args.epsilon, "epochs": args.epochs,
        "seeds": args.seeds, "modes": args.modes, "scale": factors, "reproducible_noise": True,
        "note": "clip fractions, norms and shares are unnoised statistics of private rows (a diagnostic); "
                "reproducible noise: no DP guarantee",
        "wall_s": round(time.perf_counter() - started, 1), "summary": summary, "per_column": per_column,
        "counterfactual": counterfactual, "tables": tables,
    })


if __name__ == "__main__":
    main()
