"""Shared fixtures: the sample table and small configs that train in seconds.

Every test process computes on one thread. The suite runs on two worker processes (pytest-xdist, ``-n 2`` in
pyproject.toml), and many tests start more (``fusiondp run`` and its workers, notebook kernels, a streamlit
server): with each on torch's, OpenMP's and BLAS's default of one thread per core, they contend for two cores
and the threads spin while they wait; the two-stage synthesizer's fit took 82 s that way and 12 s on one
thread. The variables are inherited by every subprocess a test starts; a value set beforehand is kept.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import ipaddress  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


def _one_core_per_worker() -> None:
    """Pin each pytest-xdist worker (and so everything it starts: ``fusiondp run`` and its pool, notebook kernels,
    a streamlit server, chromium) to a core of its own while there are no more workers than cores. The library
    sizes its worker pools by the cores a process may use (``fusiondp.parallel.usable_cores``), so a CLI run in a
    test trains in its own process instead of starting two pool workers (each importing torch again) that would
    contend with the other test worker for the same two cores."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not (worker.startswith("gw") and count.isdigit() and hasattr(os, "sched_setaffinity")):
        return
    cores = sorted(os.sched_getaffinity(0))
    if 1 < int(count) <= len(cores):
        os.sched_setaffinity(0, {cores[int(worker[2:]) % len(cores)]})


_one_core_per_worker()
if os.environ["OMP_NUM_THREADS"].isdigit():  # libraries a plugin loaded before this file read the variables already
    threadpool_limits(int(os.environ["OMP_NUM_THREADS"]))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

from fusiondp.config import RunConfig  # noqa: E402
from fusiondp.spec import TableSpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CSV = ROOT / "sample_data" / "nhanes_diabetes.csv"
SAMPLE_SPEC = ROOT / "sample_data" / "nhanes_diabetes.spec.yaml"


@pytest.fixture(scope="session")
def sample_table() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_CSV)


@pytest.fixture(scope="session")
def sample_spec() -> TableSpec:
    return TableSpec.from_yaml(SAMPLE_SPEC)


@pytest.fixture
def quick_config(sample_spec: TableSpec) -> RunConfig:
    """The sample data with a short schedule: a few seconds per mode."""
    return RunConfig.build(data=str(SAMPLE_CSV), spec=sample_spec, imputer="gbdt", epochs=2)


def _is_loopback(address: object) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str) or host.startswith("/"):
        return True  # Unix-domain sockets never leave the machine.
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def no_network() -> Iterator[None]:
    """The library must never reach the network at run time: refuse any non-loopback connection."""
    original = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise ConnectionRefusedError(f"test suite: outbound network access to {address!r} is blocked")
        return original(self, address)

    socket.socket.connect = guarded
    try:
        yield
    finally:
        socket.socket.connect = original


SHARED_MODULE_FIXTURES = ("cli_outcomes", "cli_sweep", "local_sweep")
"""Module-scoped fixtures that run the CLI or train for tens of seconds before their tests (test_bad_input,
test_target_sweeps, test_sweep). Under ``--dist loadgroup`` (pyproject.toml) the tests that share one of them
(one value of a parametrized one) go to one worker, which computes the fixture once; spread over both workers,
each would compute it."""


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks into the test ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for name in SHARED_MODULE_FIXTURES:
            if name in getattr(item, "fixturenames", ()):
                param = getattr(getattr(item, "callspec", None), "params", {}).get(name)
                group = f"{item.module.__name__}.{name}" + ("" if param is None else f".{param}")  # no "]": xdist
                item.add_marker(pytest.mark.xdist_group(group))
                break
