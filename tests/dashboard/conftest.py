"""Fixtures for the dashboard tests: a small slice of the sample table and an AppTest driver."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"
SAMPLE_CSV = ROOT / "sample_data" / "nhanes_diabetes.csv"
SMALL_ROWS = 400


@pytest.fixture(scope="session")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 400-row stratified slice of the sample table: trains in about a second per model."""
    table = pd.read_csv(SAMPLE_CSV)
    small = table.groupby("diabetes", group_keys=False).sample(frac=SMALL_ROWS / len(table), random_state=0)
    path = tmp_path_factory.mktemp("dashboard") / "nhanes_small.csv"
    small.to_csv(path, index=False)
    return path


@pytest.fixture
def app() -> AppTest:
    """The dashboard, training one seed per model: the default three triple every training, so a test that reads
    seeds sets them (the defaults themselves are tested on a session of their own)."""
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["n_seeds"] = 1
    return at.run()
