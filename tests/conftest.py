"""Shared fixtures: the sample table and small configs that train in seconds."""

from __future__ import annotations

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
