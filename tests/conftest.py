"""Shared fixtures: the sample table and small configs that train in seconds."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from fusiondp.config import RunConfig
from fusiondp.spec import TableSpec

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
