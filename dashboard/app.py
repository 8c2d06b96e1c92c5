"""Entry point: ``streamlit run dashboard/app.py`` — one page per step, state per browser tab."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

from dashboard import state  # noqa: E402

st.set_page_config(page_title="FusionDP Studio", page_icon="🛡️", layout="wide")
state.init_state()
state.collect_finished_job()
pages = {
    "Steps": [
        st.Page("pages/data.py", title="1 · Data", default=True),
        st.Page("pages/columns.py", title="2 · Columns"),
        st.Page("pages/imputation.py", title="3 · Imputation preview"),
        st.Page("pages/train.py", title="4 · Train"),
        st.Page("pages/results.py", title="5 · Results"),
    ],
    "Help": [st.Page("pages/about.py", title="About feature-level DP")],
}
page = st.navigation(pages)
summary = st.sidebar.container()
try:
    page.run()
finally:  # after the page, so a table loaded by this run is shown; also when the page stops early
    state.sidebar(summary)
