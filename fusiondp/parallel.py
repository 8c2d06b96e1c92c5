"""Worker processes for one command: they share the imputer's fits, then train its runs side by side.

A model of this size trains on one core at a time: its steps are too small for PyTorch's
intra-op threads to share, so ``fusiondp run --modes all --seeds 3`` left the second core of
a laptop idle through 21 sequential trainings, and the gradient-boosting imputer's fits
(Python-bound) left it idle through the preparation. ``TrainingPool`` gives each core a worker
process of its own (spawned, so nothing of the parent's thread pools is inherited) that runs
on one thread. It is started before the data are read, so that the workers start up on the
spare core meanwhile; the imputer hands them prediction tasks and fits the rest itself
(``ColumnwiseImputer.fit(executor=...)``); the prepared data then reach them once, through a
pickle file each worker loads on its first run, and every epoch's report streams back so
progress bars still move per epoch.

A curve's ε of one private (mode, seed) are one training (``lockstep_groups``): their models
step in lockstep through one batched pass (``runs.fit_runs``). Records are what
``runs.fit_runs`` returns in the parent: the same seeds, the same σ, the same ledger; only
the thread count differs (one per worker). Measured in ``benchmarks/bench_run.py``.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fusiondp.prepared import PreparedData
    from fusiondp.record import RunRecord
    from fusiondp.train.loop import EpochReport

Run = tuple[float, str, int]
"""``(ε, mode, seed)``, as ``runs.curve_runs`` lists them."""
EpochCallback = Callable[[int, "EpochReport"], None]
"""``on_epoch(run index, report)``: a run's epoch finished (in whichever process trained it)."""

_POLL_S = 0.2
"""How often the parent looks for epoch reports while it waits for runs."""

_WORKER_PROGRESS: Any = None
_WORKER_DATA: dict[str, PreparedData] = {}


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers(n_tasks: int) -> int:
    """One worker per usable core (each trains on one thread), never more than there are runs."""
    return max(1, min(usable_cores(), n_tasks))


SHARED_PREPARATION_BYTES = 4_000_000
"""A table file at least this large (≈ 10k rows × 37 columns as CSV) starts a worker even for one run: its
imputer's fits, shared with it, save more than the worker costs to start (≈ 2 s on the spare core)."""


def worker_processes(requested: int | None, trainings: int, device: str, data: str | Path | None = None) -> int:
    """Worker processes for a command (0: everything in this process).

    ``requested`` (``--workers``) counts the processes that train side by side, so 1 means this process alone.
    ``trainings`` counts ``lockstep_groups``: the ε of one (mode, seed) are one training. Otherwise, on CPU: one
    per core when there are several trainings; one fewer when there is one but a table large enough to share
    its imputation (this process fits its part too); none for one training on a small table.
    On a GPU the runs stay in this process: one device is shared better by one process than by several.
    """
    if requested is not None:
        return 0 if requested == 1 else requested
    cores = usable_cores()
    if cores < 2 or device == "cuda":
        return 0
    large = data is not None and Path(data).is_file() and Path(data).stat().st_size >= SHARED_PREPARATION_BYTES
    if trainings < 2 and not large:
        return 0
    if device == "auto":
        import torch

        if torch.cuda.is_available():
            return 0
    return cores if trainings >= 2 else cores - 1


def one_thread() -> None:
    """A worker is one core's worth, so the scoring and accounting around training (numpy,
    scikit-learn, torch) stay on one thread too (training itself runs on ``RunConfig.threads``)."""
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    torch.set_num_threads(1)


def _init_worker(progress: Any) -> None:
    global _WORKER_PROGRESS
    one_thread()
    # What the imputer's tasks need, imported now while the parent reads the table; torch comes with the first run.
    import fusiondp.impute.gbdt  # noqa: F401

    _WORKER_PROGRESS = progress


def _ready() -> None:
    """A no-op task: submitting one per worker makes the pool start its processes now."""


def lockstep_groups(runs: Sequence[Run]) -> list[list[int]]:
    """Indices into ``runs`` of the trainings a command does, in the order of ``runs``: the ε of one private
    (mode, seed) train in lockstep (``runs.fit_runs``), every other run alone."""
    from fusiondp.train.modes import get_mode

    groups: dict[tuple[str, int] | int, list[int]] = {}
    for index, (_, mode, seed) in enumerate(runs):
        groups.setdefault((mode, seed) if get_mode(mode).is_private else index, []).append(index)
    return list(groups.values())


def _train_group(prepared: PreparedData, runs: Sequence[Run], group: list[int],
                 on_epoch: EpochCallback | None) -> list[RunRecord]:
    """The records of ``runs[i]`` for ``i`` in ``group`` (one mode and seed), trained in lockstep."""
    from fusiondp.runs import fit_runs

    _, mode, seed = runs[group[0]]
    callback = None if on_epoch is None else (lambda k, report: on_epoch(group[k], report))
    return [record for record, _ in fit_runs(prepared, mode, seed, [runs[i][0] for i in group], on_epoch=callback)]


def _train_in_worker(data_path: str, runs: Sequence[Run], group: list[int]) -> list[RunRecord]:
    if data_path not in _WORKER_DATA:
        _WORKER_DATA.clear()
        _WORKER_DATA[data_path] = pickle.loads(Path(data_path).read_bytes())

    def on_epoch(index: int, report: EpochReport) -> None:
        _WORKER_PROGRESS.put((index, report))

    return _train_group(_WORKER_DATA[data_path], runs, group, on_epoch)


def train_sequentially(prepared: PreparedData, runs: Sequence[Run],
                       on_epoch: EpochCallback | None = None) -> list[RunRecord]:
    """Every run in this process (one run, a GPU, or no worker processes), the ε of a (mode, seed) in lockstep."""
    groups = lockstep_groups(runs)
    return _in_run_order(groups, [_train_group(prepared, runs, group, on_epoch) for group in groups])


def _in_run_order(groups: Sequence[list[int]], trained: Sequence[list[RunRecord]]) -> list[RunRecord]:
    """The records of ``trained[g]`` (those of ``groups[g]``), back in the order of the runs."""
    records = {index: record for group, group_records in zip(groups, trained, strict=True)
               for index, record in zip(group, group_records, strict=True)}
    return [records[index] for index in range(len(records))]


class TrainingPool:
    """``processes`` worker processes that train runs of a preparation in parallel (a context manager).

    Start it early (``TrainingPool(2)``), prepare the data, then ``train(prepared, runs)``.
    With ``processes`` 0 none is started and ``train`` trains in this process.
    """

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._shipped = 0
        self._pool: ProcessPoolExecutor | None = None
        if processes > 0:
            context = multiprocessing.get_context("spawn")
            self._progress = context.Queue()
            self._pool = ProcessPoolExecutor(max_workers=processes, mp_context=context, initializer=_init_worker,
                                             initargs=(self._progress,))
            for _ in range(processes):
                self._pool.submit(_ready)

    @property
    def executor(self) -> ProcessPoolExecutor | None:
        """The worker processes, for other work of the same command (the imputer's fits); ``None`` without."""
        return self._pool

    def __enter__(self) -> TrainingPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (cancelling runs not started) and delete the shipped data."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def train(self, prepared: PreparedData, runs: Sequence[Run],
              on_epoch: EpochCallback | None = None) -> list[RunRecord]:
        """The records of ``runs`` in their order; ``on_epoch`` hears every epoch as it finishes.

        A pool trains once: the workers are then told to exit, in the background (before training when it runs
        here), so that ``close`` does not wait for their interpreters to shut down.
        """
        if not self.trains_side_by_side(prepared, runs):
            self._release()
            return train_sequentially(prepared, runs, on_epoch)
        self._folder = self._folder or tempfile.TemporaryDirectory(prefix="fusiondp-runs-")
        self._shipped += 1  # a new file name per preparation: workers cache what they loaded by its path
        data_path = Path(self._folder.name) / f"prepared-{self._shipped}.pkl"
        data_path.write_bytes(pickle.dumps(prepared, protocol=pickle.HIGHEST_PROTOCOL))
        groups = sorted(lockstep_groups(runs), key=len, reverse=True)  # the longest trainings start first
        futures: list[Future[list[RunRecord]]] = [self._pool.submit(_train_in_worker, str(data_path), runs, group)
                                                  for group in groups]
        pending: set[Future[list[RunRecord]]] = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
            self._relay(on_epoch)
            for future in finished:
                future.result()  # a failed run stops the command here, with its own error
        self._relay(on_epoch)
        self._release()
        return _in_run_order(groups, [future.result() for future in futures])

    def trains_side_by_side(self, prepared: PreparedData, runs: Sequence[Run]) -> bool:
        """Whether ``train`` hands ``runs`` to the workers (several trainings on CPU) or trains them here."""
        return self._pool is not None and len(lockstep_groups(runs)) > 1 and prepared.device.type == "cpu"

    def _release(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def _relay(self, on_epoch: EpochCallback | None) -> None:
        while True:
            try:
                index, report = self._progress.get_nowait()
            except queue.Empty:
                return
            if on_epoch is not None:
                on_epoch(index, report)
