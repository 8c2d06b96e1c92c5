"""Privacy-utility sweeps: many runs over a grid (modes × ε × seeds × knobs) → one tidy table.

Why this module exists: the question users bring ("what utility do I give up for this
much privacy, and does FusionDP beat DP-SGD on my data?") needs tens to hundreds of runs.
Three things keep that affordable and honest:

* Imputation and encoding are fitted once per (data, spec, support, imputer, split, δ) in
  the parent process and shipped to each worker once (a pickled ``PreparedData`` of a few
  MB loads in milliseconds, while re-imputing costs seconds per worker).
* Knobs that cannot change a mode's result are collapsed: non-private modes run once per
  seed, not once per ε; DP-SGD ignores α, β and the public batch; only the calibrated modes
  use β and C_h; with α = 0 the noised private term is multiplied by zero, so C, β, C_h and
  the accountant are ignored too. Their table cells are empty rather than repeated, and a
  collapsed run is trained — and counted among a selection's candidates — once.
* A private mode's runs that differ in ε alone train in lockstep (``lockstep_tasks``): one
  batched pass per step for all of them, each model at its own σ (``runs.fit_runs``).
* Every finished run is appended to ``runs.jsonl`` at once, so a killed sweep keeps its
  rows and ``resume=True`` skips them (runs are keyed by a digest of their full config; a
  lockstep group with a run left to do is trained whole again: with ``reproducible_noise`` its numbers
  then match an uninterrupted sweep; with secret noise the retrain is a new release, whose records
  carry their own ``sampling_group`` and compose with the earlier ones in the joint-release ε).

With ``audit: true`` each worker also attacks the model it just trained (``fusiondp.privacy.audit``:
attribute and loss-threshold membership inference) while the model is still in memory, and adds
the figures to the run's row (``AUDIT_FIELDS``). It is off by default: it costs extra time per run.

Backends: ``local`` (spawned worker processes, one torch thread each) and ``ray`` (a local
Ray instance, or a cluster given by ``address``). Every candidate draws its own secret noise, so
the candidates' releases compose (``select_best``'s ε with tuning, ``fusiondp.privacy.joint``); with
``reproducible_noise`` training is deterministic per seed and both backends give identical numbers.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
import logging
import math
import multiprocessing
import pickle
import sys
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import closing
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tqdm.auto import tqdm

from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError, FusionDPError, PrivacyError, validated
from fusiondp.metrics import KIND_METRICS, kind_of_metrics, selection_metric, target_metrics, validation_metric
from fusiondp.parallel import default_workers, one_thread
from fusiondp.preparation import prepare
from fusiondp.prepared import PreparedData
from fusiondp.privacy.accounting import (
    GaussianSteps,
    Relation,
    compose_with_synthesizer,
    composed_epsilon,
    epsilon_spent,
)
from fusiondp.privacy.audit import audit_model, real_features
from fusiondp.privacy.randomness import NO_GUARANTEE
from fusiondp.record import RunRecord, write_text_atomic
from fusiondp.runs import fit_runs, for_run, model_inputs
from fusiondp.spec import TableSpec, TargetKind
from fusiondp.train.loop import predict_proba
from fusiondp.train.modes import Mode, get_mode
from fusiondp.yamlfile import read_yaml

log = logging.getLogger(__name__)

Backend = Literal["local", "ray"]
Selection = Literal["val_hybrid", "val_real"]

PREPARE_FIELDS = ("data", "spec", "text", "support_source", "support_data", "support_fraction", "epsilon_syn",
                  "delta_syn", "sensitive_domains", "sensitive_bounds", "synth_bins", "synth_public_bins",
                  "synth_condition_on", "synthesizer", "synth_latent_dim", "synth_epochs", "synth_accountant",
                  "val_fraction", "test_fraction", "split_seed", "split_column", "imputer", "imputer_params",
                  "hybrid_data", "quality_holdout", "device", "delta", "reproducible_noise")
"""The config fields ``prepare`` depends on (δ through its "δ ≥ 1/N" note, as δ_syn's default, and, left to N,
resolved there: ``fusiondp.prepared.with_resolved_delta``)."""
LEDGER_FIELDS = ("epsilon_spent", "delta", "sigma", "sampling_rate", "steps", "accountant", "adjacency",
                 "epsilon_replace", "epsilon_total", "epsilon_total_replace", "epsilon_syn", "delta_syn", "rho_syn",
                 "reproducible_noise")
NOT_KNOBS = frozenset({"modes", "seeds", "epsilon", *LEDGER_FIELDS})
SELECTION_NONE = "none: every grid point reported"
SELECTION_LABELS = {
    "val_hybrid": "selected on imputed validation rows (public information); tuning composed in epsilon_tuning",
    "val_real": "not accounted: selected on real validation rows",
}
RAY_INSTALL_HINT = 'pip install "fusiondp[ray]"'
AUDIT_FIELDS = ("attribute_train_acc", "attribute_holdout_acc", "imputer_acc", "attribute_advantage",
                "membership_auc", "membership_tpr_at_1pct_fpr")
"""The audit figures a sweep row carries (names as in ``AuditReport.summary``); the learned and
shadow-calibrated attacks are left to ``fusiondp audit``, as each needs a shadow model per run."""


class SweepGrid(BaseModel):
    """A base ``RunConfig`` plus lists of values for some of its fields.

    ``grid`` maps a RunConfig field to the values to try; ``modes`` and ``seeds`` may be
    given there or in ``base`` (both are lists already). Every combination is one run.
    """

    model_config = ConfigDict(extra="forbid")

    base: RunConfig = Field(default_factory=RunConfig)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    audit: bool = False
    """Attack every trained model (attribute and membership inference) and add ``AUDIT_FIELDS`` to its row."""
    audit_rows: int = Field(500, ge=10)
    """Training and held-out rows attacked per model when ``audit`` is on."""

    @field_validator("base", mode="before")
    @classmethod
    def _spec_from_path(cls, value: Any) -> Any:
        """Let a grid file name its spec file (``spec: table.spec.yaml``) instead of inlining it."""
        if isinstance(value, dict) and isinstance(value.get("spec"), str):
            return {**value, "spec": TableSpec.from_yaml(value["spec"])}
        return value

    @field_validator("grid")
    @classmethod
    def _known_fields(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        fields = set(RunConfig.model_fields)
        for name, values in value.items():
            if name not in fields:
                close = difflib.get_close_matches(name, sorted(fields), n=3, cutoff=0.6)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise ValueError(f"{name!r} is not a RunConfig setting{hint}")
            if not isinstance(values, list) or not values:
                raise ValueError(f"{name!r} needs a non-empty list of values, e.g. {name}: [1, 2]")
        return value

    @classmethod
    def from_dict(cls, raw: Any, *, source: str = "sweep grid") -> SweepGrid:
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: expected a mapping with 'base:' (a run config) and 'grid:' (lists).")
        return validated(cls, raw, source, ConfigError)

    @classmethod
    def from_yaml(cls, path: str | Path) -> SweepGrid:
        """Read a grid file; relative data/spec paths are taken from the current folder, as in ``run``."""
        raw = read_yaml(path, "Sweep grid file", ConfigError)
        return cls.from_dict(raw, source=f"sweep grid {str(path)!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict(), "grid": self.grid, "audit": self.audit, "audit_rows": self.audit_rows}


@dataclasses.dataclass(frozen=True)
class SweepTask:
    """One run of a sweep: a single-mode, single-seed ``RunConfig`` and the knob values it stands for."""

    config: RunConfig
    knobs: dict[str, Any]
    """Swept fields (except modes/seeds/ε) → value, ``None`` where the mode ignores the field."""
    key: str
    """Digest of the full config: the identity used by ``resume``."""
    prepare_key: str
    """Digest of ``PREPARE_FIELDS``: runs with the same one share imputation and encoding."""

    @property
    def mode(self) -> str:
        return self.config.modes[0]

    @property
    def seed(self) -> int:
        return self.config.seeds[0]

    @property
    def epsilon(self) -> float | None:
        return self.config.epsilon if get_mode(self.mode).is_private else None


ALPHA_ZERO_IGNORED = frozenset({"accountant", "max_grad_norm", "beta", "rep_clip"})
"""What a run with a public term and α = 0 ignores: the loop adds α × the noised private term, so
the clip norm, β, C_h and the noise (σ from ε and the accountant) cannot move the model. ε stays an
axis all the same: such a run is a candidate at every ε, and its ledger is true (if vacuous) there."""


def ignored_fields(mode: Mode, alpha: float | None = None) -> frozenset[str]:
    """RunConfig fields that cannot change ``mode``'s result at this ``alpha`` (read off the training loop)."""
    ignored: set[str] = set()
    if not mode.is_private:
        ignored |= {"epsilon", "accountant", "max_grad_norm", "alpha", "beta", "rep_clip", "public_batch_size"}
    if mode.public_view is None:
        ignored |= {"alpha", "public_batch_size"}
    if mode.private_loss != "calibrated":
        ignored |= {"beta", "rep_clip"}
    if mode.is_private and mode.public_view is not None and alpha == 0:
        ignored |= ALPHA_ZERO_IGNORED
    return frozenset(ignored)


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _default(name: str) -> Any:
    return RunConfig.model_fields[name].get_default(call_default_factory=True)


def expand(grid: SweepGrid) -> list[SweepTask]:
    """Every distinct run of ``grid``, in grid order, with ignored knobs collapsed."""
    base = grid.base.to_dict()
    modes = RunConfig.build(modes=grid.grid["modes"]).modes if "modes" in grid.grid else grid.base.modes
    seeds = grid.grid.get("seeds", grid.base.seeds)
    axes = {name: values for name, values in grid.grid.items() if name not in ("modes", "seeds")}
    tasks: dict[str, SweepTask] = {}
    for mode_name in modes:
        for combo in itertools.product(*axes.values()):
            values = dict(zip(axes, combo, strict=True))
            ignored = ignored_fields(get_mode(mode_name), values.get("alpha", grid.base.alpha))
            overrides = {k: (_default(k) if k in ignored else v) for k, v in values.items()}
            knobs = {k: (None if k in ignored else v) for k, v in values.items() if k not in NOT_KNOBS}
            for seed in seeds:
                try:
                    config = RunConfig.build(**{**base, **overrides, "modes": [mode_name], "seeds": [seed]})
                except ConfigError as exc:
                    raise ConfigError(f"Grid point {values} ({mode_name}, seed {seed}): {exc}") from exc
                resolved = config.to_dict()
                key = _digest(resolved)
                if key not in tasks:
                    tasks[key] = SweepTask(config, knobs, key, _digest({f: resolved[f] for f in PREPARE_FIELDS}))
    return list(tasks.values())


def selection_column(kind: TargetKind, by: Selection) -> str:
    """The column ``select_best(by=by)`` ranks a kind's runs by: ``fusiondp.metrics.validation_metric``
    (``val_auroc``; ``val_r2`` for regression) on the imputed validation rows, with ``_real`` on the real ones."""
    return validation_metric(kind) + ("_real" if by == "val_real" else "")


def row_from_record(record: RunRecord, knobs: Mapping[str, Any] | None = None,
                    val_real: float | None = None) -> dict[str, Any]:
    """The tidy-table row of one run record (also used for folders written by ``fusiondp run``).

    It holds the test metrics of the record's target kind (``fusiondp.metrics.KIND_METRICS``) and the
    kind's validation metric on the imputed validation rows (``val_auroc``, or ``val_r2`` for regression)
    and, from ``val_real``, on the real ones (``val_auroc_real``, ``val_r2_real``).
    """
    privacy = record.privacy
    kind = kind_of_metrics(record.metrics)
    validation = validation_metric(kind)
    row: dict[str, Any] = {"mode": record.mode, "seed": record.seed, "epsilon": privacy.epsilon_target}
    row.update(knobs or {})
    row.update({metric: record.metrics.get(metric) for metric in KIND_METRICS[kind]})
    row[validation] = record.history[-1].get(validation) if record.history else None
    row[selection_column(kind, "val_real")] = val_real
    row.update({name: getattr(privacy, name) for name in LEDGER_FIELDS})
    row["imputer"] = record.imputer.get("name")
    row["imputer_reason"] = record.imputer.get("reason")
    row["wall_time_s"] = record.timing.get("wall_time_s")
    row["selection"] = SELECTION_NONE
    row["privacy_notes"] = "; ".join(privacy.notes)
    row["privacy_statement"] = privacy.statement
    return row


def _finite(value: float) -> float | None:
    """``runs.jsonl`` is strict JSON (no NaN): an undefined figure is stored as null."""
    return value if math.isfinite(value) else None


def lockstep_tasks(tasks: Sequence[SweepTask]) -> list[list[SweepTask]]:
    """The tasks in trainings: a private mode's tasks that differ in ε alone train in lockstep
    (``runs.fit_runs``), every other task alone. Larger groups first, so the longest trainings start first."""
    groups: dict[str, list[SweepTask]] = {}
    for task in tasks:
        key = (_digest({**task.config.to_dict(), "epsilon": None}) if get_mode(task.mode).is_private
               else task.key)
        groups.setdefault(key, []).append(task)
    return sorted(groups.values(), key=len, reverse=True)


def execute_tasks(prepared: PreparedData, tasks: Sequence[SweepTask], audit_rows: int | None = None,
                  wanted: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Train one ``lockstep_tasks`` group on shared prepared data; return the ``runs.jsonl`` lines of its tasks
    whose key is ``wanted`` (default: all). A resumed sweep trains a group whole, so that a run's numbers do not
    depend on which of its group's runs an interrupted sweep had finished.

    Also scores each model on the *real* validation rows (``val_auroc_real``; ``val_r2_real`` for a
    regression target) so that ``select_best(by="val_real")`` is possible; that number is never used
    unless asked.
    With ``audit_rows`` each model is audited here, where it exists (workers return rows,
    not models), on that many training and held-out rows.
    """
    first = tasks[0]
    fitted = fit_runs(for_run(prepared, first.config), first.mode, first.seed,
                      [task.config.epsilon for task in tasks])
    stored = prepared.tensors.channels
    x_val = model_inputs(prepared, get_mode(first.mode), real_features(prepared, prepared.splits.val),
                         prepared.splits.val, None if stored is None else stored.val)
    target = prepared.tensors.task
    y_val = target.label_values(prepared.tensors.y_val.cpu().numpy())
    entries = []
    for task, (record, model) in zip(tasks, fitted, strict=True):
        if wanted is not None and task.key not in wanted:
            continue
        real = target_metrics(target.kind, y_val, predict_proba(model, x_val, target))[selection_metric(target.kind)]
        row = row_from_record(record, task.knobs, real)
        if audit_rows is not None:
            run_prepared = for_run(prepared, task.config)
            summary = audit_model(run_prepared, model, task.mode, rows=audit_rows, seed=task.seed).summary()
            row.update({name: _finite(summary[name]) for name in AUDIT_FIELDS})
        row["key"] = task.key
        entries.append({"key": task.key, "row": row, "record": record.to_dict()})
    return entries


_WORKER_DATA: dict[str, PreparedData] = {}


def _init_worker(payload: bytes) -> None:
    """Process-pool initializer: unpickle the shared prepared data once per worker."""
    one_thread()
    _WORKER_DATA.update(pickle.loads(payload))


def _run_in_worker(tasks: list[SweepTask], audit_rows: int | None, wanted: frozenset[str]) -> list[dict[str, Any]]:
    return execute_tasks(_WORKER_DATA[tasks[0].prepare_key], tasks, audit_rows, wanted)


class _RayRunner:
    """A Ray actor holding the prepared data, so each worker unpickles it once (like ``_init_worker``)."""

    def __init__(self, payload: bytes) -> None:
        one_thread()
        self.prepared: dict[str, PreparedData] = pickle.loads(payload)

    def run(self, tasks: list[SweepTask], audit_rows: int | None, wanted: frozenset[str]) -> list[dict[str, Any]]:
        return execute_tasks(self.prepared[tasks[0].prepare_key], tasks, audit_rows, wanted)


def _run_local(groups: Sequence[list[SweepTask]], wanted: frozenset[str], payload: bytes, workers: int,
               audit_rows: int | None) -> Iterator[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                             initargs=(payload,)) as pool:
        futures = [pool.submit(_run_in_worker, group, audit_rows, wanted) for group in groups]
        try:
            for future in as_completed(futures):
                yield from future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"The Ray backend needs Ray, which is not installed here: run `{RAY_INSTALL_HINT}` "
                          "(or use --backend local).") from exc
    return ray


def _run_ray(groups: Sequence[list[SweepTask]], wanted: frozenset[str], payload: bytes, workers: int | None,
             address: str | None, audit_rows: int | None) -> Iterator[dict[str, Any]]:
    ray = _import_ray()
    from ray.util import ActorPool

    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address)
        else:
            ray.init(num_cpus=workers or default_workers(len(groups)), include_dashboard=False)
    try:
        actors_wanted = workers or int(ray.cluster_resources().get("CPU", 1))
        shared = ray.put(payload)
        runner = ray.remote(num_cpus=1)(_RayRunner)
        pool = ActorPool([runner.remote(shared) for _ in range(max(1, min(actors_wanted, len(groups))))])
        try:
            for entries in pool.map_unordered(lambda actor, group: actor.run.remote(group, audit_rows, wanted),
                                              list(groups)):
                yield from entries
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, FusionDPError):
                raise exc.cause from None
            raise
    finally:
        if started_here:
            ray.shutdown()


def _read_runs(path: Path) -> dict[str, dict[str, Any]]:
    """Finished runs by key; a line cut short by a killed sweep is dropped (that run is redone)."""
    done: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return done
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            entry = json.loads(line)
            done[entry["key"]] = entry
        except (json.JSONDecodeError, KeyError, TypeError):
            log.warning("%s line %d is incomplete (interrupted write); that run will be redone", path, number)
    return done


def _audited(entry: dict[str, Any]) -> bool:
    """Whether a finished run carries audit figures: resuming with ``audit`` on redoes the runs that lack them."""
    return "attribute_advantage" in entry["row"]


def _prepare_all(tasks: Sequence[SweepTask]) -> dict[str, PreparedData]:
    prepared: dict[str, PreparedData] = {}
    for task in tasks:
        if task.prepare_key not in prepared:
            prepared[task.prepare_key] = prepare(task.config)
        n_train = len(prepared[task.prepare_key].splits.train)
        if task.config.batch_size > n_train:
            raise ConfigError(f"batch_size {task.config.batch_size} exceeds the {n_train} private training rows; "
                              "lower it in the grid.")
    return prepared


def run_sweep(
    grid: SweepGrid | str | Path,
    out_dir: str | Path,
    *,
    backend: Backend = "local",
    workers: int | None = None,
    resume: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    address: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run every task of ``grid`` and return the tidy table (also written to ``out_dir/results.csv``).

    ``on_result`` gets each finished row (the dashboard uses it for live progress);
    ``address`` is a Ray cluster address (``backend="ray"`` only). With ``grid.audit`` every
    model is also audited in its worker (``AUDIT_FIELDS`` in its row). The local backend
    spawns fresh interpreters, so a script that calls this needs the usual
    ``if __name__ == "__main__":`` guard (notebooks and the CLI need nothing).
    """
    if backend not in ("local", "ray"):
        raise ConfigError(f"Unknown backend {backend!r}; choose 'local' or 'ray'.")
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be at least 1 (got {workers}).")
    if address and backend != "ray":
        raise ConfigError("A cluster address only makes sense with backend 'ray'.")
    if backend == "ray":
        _import_ray()
    grid = grid if isinstance(grid, SweepGrid) else SweepGrid.from_yaml(grid)
    tasks = expand(grid)
    out_dir = Path(out_dir)
    runs_path = out_dir / "runs.jsonl"
    if not resume and runs_path.is_file() and runs_path.stat().st_size:
        raise ConfigError(f"{runs_path} already holds finished runs: pass --resume (resume=True) to skip them "
                          "and run the rest, or choose another output folder.")
    done = _read_runs(runs_path) if resume else {}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "grid.yaml", yaml.safe_dump(grid.to_dict(), sort_keys=False))
    # Rewrite the log without a torn last line so that appended lines stay whole.
    write_text_atomic(runs_path, "".join(json.dumps(entry, allow_nan=False) + "\n" for entry in done.values()))

    audit_rows = grid.audit_rows if grid.audit else None
    pending = frozenset(task.key for task in tasks
                        if task.key not in done or (grid.audit and not _audited(done[task.key])))
    if pending:
        groups = [group for group in lockstep_tasks(tasks) if any(task.key in pending for task in group)]
        payload = pickle.dumps(_prepare_all([task for group in groups for task in group]))
        n_workers = workers or default_workers(len(groups))
        results = (_run_local(groups, pending, payload, n_workers, audit_rows) if backend == "local"
                   else _run_ray(groups, pending, payload, workers, address, audit_rows))
        bar = tqdm(total=len(tasks), initial=len(tasks) - len(pending), unit="run", disable=not progress,
                   file=sys.stderr, desc=f"sweep ({backend})")
        with closing(results), open(runs_path, "a", encoding="utf-8") as log_file, bar:
            for entry in results:
                log_file.write(json.dumps(entry, allow_nan=False) + "\n")
                log_file.flush()
                done[entry["key"]] = entry
                bar.update(1)
                bar.set_postfix_str(f"{entry['row']['mode']} seed {entry['row']['seed']}")
                if on_result is not None:
                    on_result(entry["row"])
    table = pd.DataFrame([done[task.key]["row"] for task in tasks])
    write_text_atomic(out_dir / "results.csv", table.to_csv(index=False))
    return table


def knob_columns(results: pd.DataFrame) -> list[str]:
    """The swept RunConfig fields present in a results table (what ``select_best`` chooses among)."""
    return [c for c in results.columns if c in RunConfig.model_fields and c not in NOT_KNOBS]


@dataclasses.dataclass(frozen=True)
class TuningCost:
    """(ε, δ) of releasing the best of K candidate runs, and how it was composed."""

    epsilon: float | None
    delta: float | None
    method: str


def _ledger_relation(run: pd.Series) -> Relation:
    """The relation a run's ε was accounted under, read off its numbers.

    The ledger names its neighbouring relation in words; the accountant's relation is the one
    that reproduces the ε it spent: ``remove`` if it does, else ``replace`` (the larger ε).
    """
    remove = epsilon_spent(float(run["sigma"]), float(run["sampling_rate"]), int(run["steps"]), float(run["delta"]),
                           run["accountant"], "remove")
    return "remove" if remove >= float(run["epsilon_spent"]) * (1 - 1e-6) else "replace"


def _synthetic_support(candidates: pd.DataFrame) -> tuple[float, float, float | None, int] | None:
    """(ε_syn, δ_syn, ρ_syn, releases) of the DP-synthetic support sets behind the candidates.

    Candidates that share a preparation (no swept ``PREPARE_FIELDS``) share one synthetic set,
    synthesised once: it is one release, counted once however many runs used it. Candidates
    prepared differently used different releases of the same private rows, which add up.
    """
    if "epsilon_syn" not in candidates.columns or candidates["epsilon_syn"].isna().all():
        return None
    swept = [column for column in PREPARE_FIELDS if column in candidates.columns]
    releases = candidates.loc[candidates[swept].astype(str).drop_duplicates().index] if swept else candidates[:1]
    rho = releases["rho_syn"] if "rho_syn" in releases.columns else pd.Series([None] * len(releases))
    return (float(releases["epsilon_syn"].sum()), float(releases["delta_syn"].sum()),
            float(rho.sum()) if rho.notna().all() else None, len(releases))


def tuning_cost(candidates: pd.DataFrame, mode: str) -> TuningCost:
    """(ε, δ) of releasing the best of the candidate runs: their composition on the same training rows.

    Picking the best of K DP runs is post-processing of all K of them, so the chosen model's
    guarantee is the K runs composed, however public the selection rows are. The K runs'
    mechanisms (Poisson-subsampled Gaussians) are composed by the accountant and converted once
    at the runs' δ — not their (ε, δ) pairs added, which would cost K·δ. A DP-synthetic support
    set is added once per distinct release (``_synthetic_support``), as in each run's ledger.
    """
    spent = pd.to_numeric(candidates["epsilon_spent"], errors="coerce")
    if spent.isna().any():
        return TuningCost(None, None, "none: a candidate has no privacy guarantee")
    if "reproducible_noise" in candidates and candidates["reproducible_noise"].fillna(False).astype(bool).any():
        return TuningCost(None, None, f"none: {NO_GUARANTEE}")
    synthetic = _synthetic_support(candidates)
    if not get_mode(mode).is_private:
        if synthetic is None:
            return TuningCost(float(spent.max()), None, "no training budget: the candidates do not use the "
                                                         "sensitive values")
        return TuningCost(synthetic[0], synthetic[1], f"the DP-synthetic support set(s) only ({synthetic[3]})")
    deltas = pd.to_numeric(candidates["delta"], errors="coerce")
    relation: Relation = "remove"
    accountant: str | None = None
    events: tuple[GaussianSteps, ...] = ()
    if candidates[["sigma", "sampling_rate", "steps", "delta"]].isna().any().any():
        epsilon, delta = float(spent.sum()), float(deltas.sum())
        method = f"basic: the {len(candidates)} runs' ε and δ added (a candidate lacks σ, q or T)"
    else:
        delta = float(deltas.max())
        if "replace" in {_ledger_relation(run) for _, run in candidates.iterrows()} or (
                synthetic is not None and mode == "dpsgd"):  # dpsgd with a synthesizer: as in its ledger
            relation = "replace"
        accountants = set(candidates["accountant"])
        accountant = accountants.pop() if len(accountants) == 1 else "pld"
        steps: dict[tuple[float, float], int] = {}
        for _, run in candidates.iterrows():
            key = (float(run["sigma"]), float(run["sampling_rate"]))
            steps[key] = steps.get(key, 0) + int(run["steps"])
        events = tuple(GaussianSteps(sigma, q, t) for (sigma, q), t in steps.items())
        try:
            epsilon = composed_epsilon(events, delta, accountant, relation)
        except PrivacyError:  # PRV gives up above its range: PLD accounts the same mechanisms
            accountant = "pld"
            epsilon = composed_epsilon(events, delta, accountant, relation)
        method = (f"{len(candidates)} runs' Gaussian mechanisms composed ({accountant}, {relation} relation) "
                  f"at δ = {delta:g}")
    if synthetic is None:
        return TuningCost(epsilon, delta, method)
    one = events[0] if len(events) == 1 else None
    total = compose_with_synthesizer(
        epsilon, delta, synthetic[0], synthetic[1], synthetic[2], sigma=one.sigma if one else None,
        q=one.q if one else None, steps=one.steps if one else 0, accountant=accountant, relation=relation)
    return TuningCost(total.epsilon, total.delta,
                      f"{method}; with {synthetic[3]} DP-synthetic support release(s): {total.method}")


def select_best(results: pd.DataFrame, by: Selection = "val_hybrid") -> pd.DataFrame:
    """Per (mode, ε, seed), keep the knob setting (α, β, C, …) with the best validation score.

    The score is the target kind's ``fusiondp.metrics.selection_metric`` (AUROC; macro one-vs-rest
    AUROC for a multi-class target; R² for regression), read from ``selection_column``.
    ``val_hybrid`` (default) scores on validation rows whose sensitive columns are imputed:
    only public information. ``val_real`` uses the real validation rows, which no ledger
    covers, so every row it returns says "not accounted". Selecting per seed makes the sd
    over seeds include the variability of the tuning itself. ``epsilon_tuning`` at
    ``delta_tuning`` is the guarantee of the whole procedure (``tuning_cost``: all candidates
    composed, a shared DP-synthetic support once; how, in ``tuning_composition``); ``candidates`` is K.
    """
    if by not in SELECTION_LABELS:
        raise ConfigError(f"select_best: by must be 'val_hybrid' or 'val_real' (got {by!r}).")
    metric = selection_column(kind_of_metrics(results.columns), by)
    if metric not in results.columns or results[metric].isna().all():
        raise ConfigError(f"select_best(by={by!r}) needs the column {metric!r}, which these results lack; "
                          "rerun them with fusiondp sweep.")
    chosen = []
    for (mode, _, _), group in results.groupby(["mode", "epsilon", "seed"], dropna=False, sort=False):
        best = group.loc[group[metric].fillna(-math.inf).idxmax()].copy()
        cost = tuning_cost(group, mode)
        best["candidates"] = len(group)
        best["epsilon_tuning"], best["delta_tuning"], best["tuning_composition"] = cost.epsilon, cost.delta, cost.method
        best["selection"] = SELECTION_LABELS[by]
        chosen.append(best)
    return pd.DataFrame(chosen).reset_index(drop=True)


def needs_selection(results: pd.DataFrame) -> bool:
    """Whether some (mode, ε, seed) holds several knob settings, so curves need ``select_best`` first."""
    return bool(results.groupby(["mode", "epsilon", "seed"], dropna=False).size().max() > 1)
