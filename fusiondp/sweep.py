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
the candidates' releases compose (``fusiondp.selection.select_best``'s ε with tuning, ``fusiondp.privacy.joint``); with
``reproducible_noise`` training is deterministic per seed and both backends give identical numbers.
"""

from __future__ import annotations

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
from tqdm.auto import tqdm

from fusiondp.errors import ConfigError, FusionDPError
from fusiondp.metrics import KIND_METRICS, kind_of_metrics, selection_metric, target_metrics, validation_metric
from fusiondp.parallel import default_workers, one_thread
from fusiondp.preparation import prepare
from fusiondp.prepared import PreparedData
from fusiondp.privacy.audit import audit_model, real_features
from fusiondp.record import RunRecord, write_text_atomic
from fusiondp.runs import fit_runs, for_run, model_inputs
from fusiondp.selection import SELECTION_NONE, selection_column
from fusiondp.sweep_grid import LEDGER_FIELDS, SweepGrid, SweepTask, config_digest, expand
from fusiondp.train.loop import predict_proba
from fusiondp.train.modes import get_mode

log = logging.getLogger(__name__)

Backend = Literal["local", "ray"]
RAY_INSTALL_HINT = 'pip install "fusiondp[ray]"'
AUDIT_FIELDS = ("attribute_train_acc", "attribute_holdout_acc", "imputer_acc", "attribute_advantage",
                "membership_auc", "membership_tpr_at_1pct_fpr")
"""The audit figures a sweep row carries (names as in ``AuditReport.summary``); the learned and
shadow-calibrated attacks are left to ``fusiondp audit``, as each needs a shadow model per run."""


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
        key = (config_digest({**task.config.to_dict(), "epsilon": None}) if get_mode(task.mode).is_private
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
    prepared = for_run(prepared, first.config).for_mode(first.mode)  # the mode's encoding, for its validation rows
    fitted = fit_runs(prepared, first.mode, first.seed, [task.config.epsilon for task in tasks])
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

