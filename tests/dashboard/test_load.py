"""Load: five dashboard sessions with different tables train at the same time without mixing up.

Each session is an ``AppTest`` (its own session state, as a browser tab has). ``AppTest.run``
swaps process-wide globals (the mock ``Runtime``, the pages manager) for the length of a
script run, so the script runs are driven round-robin from this thread rather than from five
threads; the part that runs for a long time, training, overlaps: all five sessions' worker
threads train at once, against the one ``st.cache_data`` store they share.

Two of the tables have the same file name, columns and roles and differ only in their values:
every cache key except the content hash is equal, so they would receive each other's parsed
table or prepared (imputed, encoded) data if the hash were missing from a key. Every file the
process opens for writing meanwhile is recorded (an audit hook): uploads and results may only
touch a temporary folder that is gone by the end.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
STATUS = Path("/proc/self/status")
SESSIONS = 5
ROWS = 300
MEMORY_BOUND_MB = 300
"""Allowed RSS growth for five sessions (tables, prepared data, records, exports): measured at about
80 MB while they are live and 20 MB once they are dropped; generous because each worker thread gets
its own malloc arena, which keeps freed memory mapped."""


def rss_mb() -> float:
    """Resident memory of this process (Linux), which hosts every AppTest session and worker thread."""
    line = next(line for line in STATUS.read_text().splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def training_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "fusiondp-training" and t.is_alive()]


def session_table(index: int) -> tuple[pd.DataFrame, dict[str, object]]:
    """A table and its roles for session ``index``; values of ``lab_a`` lie in [1000·index, 1000·index + 10).

    Sessions 0 and 1 share column names and roles; the others each have their own columns.
    """
    rng = np.random.default_rng(index)
    prefix = "" if index < 2 else f"s{index}_"
    sensitive, target = f"{prefix}sex", f"{prefix}outcome"
    frame = pd.DataFrame({
        f"{prefix}lab_a": 1000 * index + rng.uniform(0, 10, ROWS),
        f"{prefix}lab_b": rng.normal(size=ROWS),
        sensitive: rng.choice([f"level{index}_x", f"level{index}_y"], ROWS),
    })
    frame[target] = np.where(rng.normal(size=ROWS) + frame[f"{prefix}lab_b"] > 0, "yes", "no")
    return frame, {"target": target, "sensitive": [sensitive], "lab": f"{prefix}lab_a"}


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f} s"
        time.sleep(0.2)


class FileWrites:
    """Paths opened for writing, renamed to or created as folders by any thread while active.

    Seen through ``sys.addaudithook`` (``os.replace`` raises the ``os.rename`` event), which
    covers the library's atomic writes: a temporary file, then a rename.

    Audit hooks cannot be removed, so the hook stays installed and only records while active.
    """

    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND

    def __init__(self) -> None:
        self.paths: set[Path] = set()
        self.active = False
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[object, ...]) -> None:
        if not self.active:
            return
        if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            _, mode, flags = args
            if (isinstance(mode, str) and set(mode) & set("wax+")) or (isinstance(flags, int)
                                                                      and flags & self.WRITE_FLAGS):
                self.paths.add(Path(os.fsdecode(args[0])).absolute())
        elif event in ("os.rename", "os.mkdir"):
            self.paths.add(Path(os.fsdecode(args[1] if event == "os.rename" else args[0])).absolute())

    def __enter__(self) -> FileWrites:
        self.active = True
        return self

    def __exit__(self, *_: object) -> None:
        self.active = False


def upload(at: AppTest, frame: pd.DataFrame) -> AppTest:
    content = frame.to_csv(index=False).encode()
    return at.file_uploader(key="upload").set_value(("upload.csv", content, "text/csv")).run()


def tag(at: AppTest, roles: dict[str, object]) -> AppTest:
    at = at.switch_page("views/columns.py").run()
    at.selectbox(key="target").set_value(roles["target"]).run()
    at.multiselect(key="sensitive").set_value(roles["sensitive"]).run()
    return at.slider(key="support_fraction").set_value(0.2).run()


def preview_and_set_up(at: AppTest) -> AppTest:
    """The imputation preview (which prepares and caches the data), then the training knobs.

    Two models: the non-private reference and fusiondp at ε = 2; small batches make each session
    train for a few seconds, long enough for the five sessions' training to overlap.
    """
    at = at.switch_page("views/imputation.py").run().switch_page("views/train.py").run()
    at.multiselect(key="modes").set_value(["sgd_ori", "fusiondp"]).run()
    at.select_slider(key="eps_range").set_value((2.0, 2.0)).run()
    at.number_input(key="batch_size").set_value(8).run()
    at.number_input(key="n_seeds").set_value(1).run()
    return at.slider(key="epochs").set_value(10).run()


class ThreadPeak:
    """Samples the number of live training threads in the background; keeps the largest."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="load-test-sampler", daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, len(training_threads()))

    def __enter__(self) -> ThreadPeak:
        self._sampler.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._sampler.join()


def run_sessions(tables: list[tuple[pd.DataFrame, dict[str, object]]]) -> tuple[list[AppTest], int]:
    """Every session uploads, tags and starts training, in turn; then all train at once until done.

    Returns the sessions on their Results page and the most training threads alive together.
    """
    sessions = [AppTest.from_file(str(APP), default_timeout=120).run() for _ in tables]
    sessions = [tag(upload(at, frame), roles) for at, (frame, roles) in zip(sessions, tables, strict=True)]
    sessions = [preview_and_set_up(at) for at in sessions]
    for at in sessions:
        assert not at.exception and not [e.value for e in at.error], [e.value for e in at.error]
    with ThreadPeak() as threads:
        sessions = [at.button(key="train").click().run() for at in sessions]
        wait_until(lambda: all(at.session_state.job.done for at in sessions), 120, "training of all sessions")
    return [at.run().switch_page("views/results.py").run() for at in sessions], threads.peak


@pytest.mark.skipif(not STATUS.exists(), reason="reads the resident set size from /proc")
def test_five_concurrent_sessions_stay_isolated_and_bounded() -> None:
    run_sessions([session_table(SESSIONS)])  # warm-up: imports, compiled pages, first-use allocations
    wait_until(lambda: not training_threads(), 10, "the warm-up's training thread ending")
    gc.collect()
    threads_before = threading.active_count()
    memory_before = rss_mb()
    started = time.monotonic()
    tables = [session_table(i) for i in range(SESSIONS)]
    with FileWrites() as writes:
        sessions, overlapping = run_sessions(tables)
    wall_s = time.monotonic() - started
    temporary = Path(tempfile.gettempdir()).resolve()
    assert writes.paths, "the Results page's exports should have been seen being written"
    for path in writes.paths:
        assert path.resolve().is_relative_to(temporary) and not path.exists(), f"{path} written and left behind"
    memory_live = rss_mb()

    for i, at in enumerate(sessions):
        frame, roles = tables[i]
        assert not at.exception and not [e.value for e in at.error], (i, [e.value for e in at.error])
        pd.testing.assert_frame_equal(at.session_state.table.frame, frame, check_exact=False)
        assert at.session_state.target == roles["target"]
        assert list(at.session_state.sensitive) == roles["sensitive"]
        records = at.session_state.records
        assert sorted(r.mode for r in records) == ["fusiondp", "sgd_ori"]
        assert all(r.config["spec"]["target"] == roles["target"] and not r.cancelled for r in records)
        lab = roles["lab"]
        for prepared in at.session_state.job.prepared.values():  # the cached preparation is this table's own
            for part in (prepared.splits.support, prepared.splits.train, prepared.splits.test):
                assert part[lab].between(1000 * i, 1000 * i + 10).all(), (i, part[lab].describe())
        summary = at.dataframe[0].value
        assert set(summary["mode"]) == {"fusiondp", "sgd_ori"}
        assert len(at.get("download_button")) == 4  # YAML, Python script, results zip, report

    training_s = [round(sum(r.timing["wall_time_s"] for r in at.session_state.records), 1) for at in sessions]
    wait_until(lambda: not training_threads(), 10, "every training thread ending")
    del sessions
    gc.collect()
    memory_after = rss_mb()
    print(f"\n{SESSIONS} sessions, at most {overlapping} training at once, training s per session {training_s}, "
          f"wall {wall_s:.1f} s, RSS {memory_before:.0f} MB before, {memory_live:.0f} MB with the sessions live, "
          f"{memory_after:.0f} MB after")
    assert overlapping >= 2, "the sessions' training did not overlap"
    assert memory_live - memory_before < MEMORY_BOUND_MB
    assert memory_after - memory_before < MEMORY_BOUND_MB
    assert threading.active_count() <= threads_before


def test_cancelled_training_ends_its_thread() -> None:
    """Cancelling mid-run ends the worker thread; nothing keeps training in the background."""
    frame, roles = session_table(0)
    at = tag(upload(AppTest.from_file(str(APP), default_timeout=120).run(), frame), roles)
    at = at.switch_page("views/train.py").run()
    at.multiselect(key="modes").set_value(["fusiondp", "dpsgd"]).run()
    at.select_slider(key="eps_range").set_value((0.5, 8.0)).run()
    at.slider(key="epochs").set_value(30).run()
    threads_before = threading.active_count()
    at = at.button(key="train").click().run()
    job = at.session_state.job
    (worker,) = training_threads()
    wait_until(lambda: bool(job.epochs), 60, "the first epoch")
    at = at.button(key="cancel").click().run()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the cancelled worker thread is still running"
    assert job.done and job.cancel.is_set()
    assert len(job.records) < len(job.runs) and job.records[-1].cancelled
    assert threading.active_count() <= threads_before
    at = at.run()
    assert any("Cancelled" in w.value for w in at.warning)
