"""Notes in the dashboard: tag a text column, see support notes' spans and hybrids, train, read the Results."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from fusiondp.config import RunConfig
from fusiondp.text import TextSpec
from fusiondp.text.pipeline import split_notes
from tests.apptest_steps import train_on_page
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
SPANS = ["age", "sex", "name"]


@pytest.fixture
def notes_csv(tmp_path: Path) -> Path:
    """500 drug reviews, two of which hold a phone-like number the identifier rule does not take."""
    table = pd.read_csv(ROOT / "sample_data" / "drug_reviews.csv").head(500)[["drug", "condition", "review",
                                                                              "positive"]]
    for row in (3, 7):
        table.loc[row, "review"] += " Call me at 5551234567 if you want to know more."
    path = tmp_path / "reviews.csv"
    table.to_csv(path, index=False)
    return path


def _note_text(fragment: str) -> str:
    """A highlighted note's HTML back to its text: type labels dropped, tags removed, entities decoded."""
    without_labels = re.sub(r"<sub[^>]*>.*?</sub>", "", fragment)
    return html.unescape(re.sub(r"<[^>]+>", "", without_labels.replace("<br>", "\n")))


def test_text_column_tags_previews_support_notes_trains_and_reaches_results(app: AppTest, notes_csv: Path) -> None:
    at = app.file_uploader(key="upload").set_value((notes_csv.name, notes_csv.read_bytes(), "text/csv")).run()
    at = at.switch_page("views/columns.py").run().selectbox(key="target").select("positive").run()
    at = at.selectbox(key="text_column").select("review").run()
    at = at.multiselect(key="sensitive_spans").set_value(SPANS).run()
    at = at.slider(key="support_fraction").set_value(0.2).run()
    assert not at.exception and not [e.value for e in at.error if "5551234567" not in e.value]
    assert not [s for s in at.multiselect if s.key == "sensitive"], "notes replace the sensitive columns"
    roles = at.dataframe[0].value.set_index("column")["role"]
    assert roles["review"].startswith("notes") and roles["drug"] == "not used" and roles["positive"] == "target"
    (finding,) = [e.value for e in at.error if "5551234567" in e.value]
    assert "2 of 500 notes in 'review'" in finding and "not differentially private" in finding
    assert any("**Notes:** `review` · spans: age, sex, name" in m.value for m in at.sidebar.markdown)

    at = at.switch_page("views/imputation.py").run()
    assert not at.exception and not [e.value for e in at.error], [e.value for e in at.error]
    choices = at.table[0].value
    assert list(choices["span type"]) == SPANS and choices["surrogate"].str.len().gt(0).all()
    fragments = [h.proto.body for h in at.get("html") if "<mark" in h.proto.body and "title=" in h.proto.body]
    assert len(fragments) == 6, "three support notes, each beside its hybrid"
    config = RunConfig.build(text=TextSpec(text_column="review", target="positive", sensitive_spans=SPANS),
                             support_fraction=0.2)
    splits = split_notes(config, pd.read_csv(notes_csv))
    support = set(splits.support["review"])
    shown = [_note_text(fragment) for fragment in fragments[::2]]
    assert all(note in support for note in shown), "only support notes (public spans) are shown"
    assert not set(shown) & set(pd.concat([splits.train, splits.val, splits.test])["review"])
    assert any('title="age"' in f or 'title="sex"' in f for f in fragments), "spans are highlighted"

    at = train_on_page(at.switch_page("views/train.py").run(), ["sgd_pub", "fusiondp"])
    assert not at.exception and not [e.value for e in at.error], [e.value for e in at.error]
    records = at.session_state.records
    assert [r.mode for r in records] == ["sgd_pub", "fusiondp"]
    assert all(r.config["text"]["text_column"] == "review" and r.config["spec"] is None for r in records)

    at = at.switch_page("views/results.py").run()
    assert not at.exception and not [e.value for e in at.error], [e.value for e in at.error]
    statement = next(m.value for m in at.markdown if m.value.startswith("Protected:"))
    assert "age spans of 'review'" in statement and "words of 'review' outside the detected spans" in statement
    assert len(at.get("download_button")) == 4
    assert any("span type it can guess (age group, sex, ethnicity group)" in m.value for m in at.markdown)
    at.number_input(key="audit_rows").set_value(50).run()
    at = at.button(key="audit").click().run()
    assert not at.exception and not [e.value for e in at.error], [e.value for e in at.error]
    tables = [df.value for df in at.dataframe if "reading" in df.value.columns]
    assert len(tables) == 2, "one audit table per mode"
    assert all("generator only" in table.columns and "imputer only" not in table.columns for table in tables)
    # The generator's guess reads no model: both models are attacked on the same notes, so it agrees.
    assert pd.concat(tables)["generator only"].nunique() == 1
    assert any("**Generator only**" in m.value and "public words" in m.value for m in at.markdown)
    per_type = [df.value for df in at.dataframe if "column" in df.value.columns and "candidates" in df.value.columns]
    assert {"age spans of 'review'", "sex spans of 'review'"} >= set(per_type[0]["column"]), per_type[0]


def test_the_span_detector_selector_reaches_the_prepared_notes(app: AppTest, notes_csv: Path) -> None:
    """Choosing Presidio on the Columns page: the hybrid notes are made with it and the Imputation page names it."""
    pytest.importorskip("presidio_analyzer")
    at = app.file_uploader(key="upload").set_value((notes_csv.name, notes_csv.read_bytes(), "text/csv")).run()
    at = at.switch_page("views/columns.py").run().selectbox(key="target").select("positive").run()
    at = at.selectbox(key="text_column").select("review").run()
    at = at.selectbox(key="span_detector").select("presidio").run()
    at = at.slider(key="support_fraction").set_value(0.2).run()
    assert not at.exception
    at = at.switch_page("views/imputation.py").run()
    assert not at.exception and not [e.value for e in at.error], [e.value for e in at.error]
    assert any("Span detector: presidio-analyzer" in c.value for c in at.caption), [c.value for c in at.caption]
