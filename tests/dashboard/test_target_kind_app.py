"""The Columns page shows the target kind inferred from the target and lets the user change it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest_steps import train_on_page
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def glycemic_csv(tmp_path: Path) -> Path:
    path = tmp_path / "glycemic.csv"
    pd.read_csv(ROOT / "sample_data" / "nhanes_glycemic.csv").head(600).to_csv(path, index=False)
    return path


def test_columns_page_infers_and_changes_the_target_kind(app: AppTest, glycemic_csv: Path) -> None:
    at = app.file_uploader(key="upload").set_value((glycemic_csv.name, glycemic_csv.read_bytes(), "text/csv")).run()
    at = at.switch_page("views/columns.py").run().selectbox(key="target").select("glycemic_status").run()
    assert at.selectbox(key="target_kind").value == "multiclass"
    assert not [s for s in at.selectbox if s.key == "positive_class"], "a positive class is for binary targets only"
    at = at.selectbox(key="target_kind").select("regression").run()
    assert any("declared regression but holds non-numeric values" in e.value for e in at.error), \
        [e.value for e in at.error]
    at = at.selectbox(key="target").select("systolic_bp").run()
    assert at.selectbox(key="target_kind").value == "regression", "a new target starts from its own inferred kind"
    assert at.session_state.target_kind == "regression"


def test_train_page_live_chart_shows_the_regression_validation_metric(app: AppTest, tmp_path: Path) -> None:
    """A regression run's epochs carry ``val_r2`` (``val_auroc`` is undefined): the live chart plots and names it."""
    path = tmp_path / "systolic.csv"
    pd.read_csv(ROOT / "sample_data" / "nhanes_systolic_bp.csv").head(600).to_csv(path, index=False)
    at = app.file_uploader(key="upload").set_value((path.name, path.read_bytes(), "text/csv")).run()
    at = at.switch_page("views/columns.py").run().selectbox(key="target").select("systolic_bp").run()
    at = at.slider(key="support_fraction").set_value(0.2).run().switch_page("views/train.py").run()
    at = train_on_page(at, ["sgd_pub", "fusiondp"], epochs=2)
    assert not at.exception and not [e.value for e in at.error]
    assert any(c.value.startswith("Validation R² per epoch") for c in at.caption)
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert figure["layout"]["yaxis"]["title"]["text"] == "validation R²"
    values = np.concatenate([_numbers(trace["y"]) for trace in figure["data"]])
    assert len(values) == 4 and np.isfinite(values).all()


def _numbers(values: list | dict) -> np.ndarray:
    """A figure's data array, which plotly's JSON may hold as a base64 typed array."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values, dtype=float)


def _train(at: AppTest, modes: list[str]) -> AppTest:
    """Train ``modes`` for one epoch at ε = 1 from the Columns page (a 0.2 public fraction) and wait for them."""
    at = at.slider(key="support_fraction").set_value(0.2).run().switch_page("views/train.py").run()
    return train_on_page(at, modes)


def test_columns_page_declares_regression_bounds_that_reach_the_run(app: AppTest, tmp_path: Path) -> None:
    path = tmp_path / "systolic.csv"
    pd.read_csv(ROOT / "sample_data" / "nhanes_systolic_bp.csv").head(600).to_csv(path, index=False)
    at = app.file_uploader(key="upload").set_value((path.name, path.read_bytes(), "text/csv")).run()
    at = at.switch_page("views/columns.py").run().selectbox(key="target").select("systolic_bp").run()
    assert at.number_input(key="target_low").value is None and at.number_input(key="target_high").value is None
    at = at.number_input(key="target_low").set_value(60.0).run()
    assert any("Give both ends of the target's range" in e.value for e in at.error), [e.value for e in at.error]
    at = at.number_input(key="target_high").set_value(260.0).run()
    assert not [e.value for e in at.error]
    at = _train(at, ["sgd_pub"])
    assert not at.exception and not [e.value for e in at.error]
    (record,) = at.session_state.records
    assert list(record.config["spec"]["target_bounds"]) == [60.0, 260.0], "the bounds typed on Columns reach the run"
    at = at.switch_page("views/columns.py").run().selectbox(key="target").select("pulse_bpm").run()
    assert at.number_input(key="target_low").value is None, "bounds declared for one target never carry over"


def test_multilabel_target_trains_from_the_columns_page_and_reaches_readable_results(app: AppTest,
                                                                                     tmp_path: Path) -> None:
    path = tmp_path / "conditions.csv"
    pd.read_csv(ROOT / "sample_data" / "nhanes_conditions.csv").head(600).to_csv(path, index=False)
    at = app.file_uploader(key="upload").set_value((path.name, path.read_bytes(), "text/csv")).run()
    at = at.switch_page("views/columns.py").run().selectbox(key="target").select("conditions").run()
    assert at.selectbox(key="target_kind").value == "multiclass", "multilabel is never inferred"
    at = at.selectbox(key="target_kind").select("multilabel").run()
    assert at.text_input(key="target_delimiter").value == ";"
    at = at.text_input(key="target_delimiter").input(",").run()
    assert any("no value holds ','" in e.value for e in at.error), [e.value for e in at.error]
    at = at.text_input(key="target_delimiter").input(";").run()
    assert not [e.value for e in at.error]
    at = _train(at, ["sgd_pub", "fusiondp"])
    assert not at.exception and not [e.value for e in at.error], [e.value for e in at.error]
    assert any(c.value.startswith("Validation AUROC (macro over labels) per epoch") for c in at.caption)
    assert {r.config["spec"]["target_kind"] for r in at.session_state.records} == {"multilabel"}
    at = at.switch_page("views/results.py").run()
    assert not at.exception and not [e.value for e in at.error], [e.value for e in at.error]
    assert {"micro-F1", "macro-F1"} <= set(at.dataframe[0].value.columns)
    assert len(at.get("plotly_chart")) == 1
    assert any("that label's own threshold" in str(element.value) for element in (*at.caption, *at.markdown))
