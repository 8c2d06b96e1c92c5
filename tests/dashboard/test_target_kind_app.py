"""The Columns page shows the target kind inferred from the target and lets the user change it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def glycemic_csv(tmp_path: Path) -> Path:
    path = tmp_path / "glycemic.csv"
    pd.read_csv(ROOT / "sample_data" / "nhanes_glycemic.csv").head(600).to_csv(path, index=False)
    return path


def test_columns_page_infers_and_changes_the_target_kind(app: AppTest, glycemic_csv: Path) -> None:
    at = app.file_uploader(key="upload").set_value((glycemic_csv.name, glycemic_csv.read_bytes(), "text/csv")).run()
    at = at.switch_page("pages/columns.py").run().selectbox(key="target").select("glycemic_status").run()
    assert at.selectbox(key="target_kind").value == "multiclass"
    assert not [s for s in at.selectbox if s.key == "positive_class"], "a positive class is for binary targets only"
    at = at.selectbox(key="target_kind").select("regression").run()
    assert any("declared regression but holds non-numeric values" in e.value for e in at.error), \
        [e.value for e in at.error]
    at = at.selectbox(key="target").select("systolic_bp").run()
    assert at.selectbox(key="target_kind").value == "regression", "a new target starts from its own inferred kind"
    assert at.session_state.target_kind == "regression"
