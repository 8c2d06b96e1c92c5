"""Entry point: ``streamlit run dashboard/app.py`` — one page per step, state per browser tab."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

from dashboard import jobs, session, sidebar, tutorial  # noqa: E402
from fusiondp.glossary import TUTORIAL  # noqa: E402

st.set_page_config(page_title="FusionDP Studio", page_icon="🛡️", layout="wide")
session.init_state()
session.resume_session()
jobs.collect_finished_job()
steps = {
    "data": st.Page("views/data.py", title="1 · Data", default=True),
    "columns": st.Page("views/columns.py", title="2 · Columns"),
    "imputation": st.Page("views/imputation.py", title="3 · Imputation preview"),
    "train": st.Page("views/train.py", title="4 · Train"),
    "results": st.Page("views/results.py", title="5 · Results"),
    "about": st.Page("views/about.py", title="About feature-level DP"),
}
pages = {"Steps": list(steps.values())[:-1], "Help": [steps["about"]]}
# The page list is drawn here, not by Streamlit (client.showSidebarNavigation is off in .streamlit/config.toml).
# The page files live in views/, not pages/: a pages/ folder switches Streamlit to its older multipage mode,
# in which a cold server runs a deep link's page file (/train) without this script and its session defaults.
page = st.navigation(pages, position="hidden")
for group, entries in pages.items():
    st.sidebar.caption(group)
    for entry in entries:
        st.sidebar.page_link(entry)
st.sidebar.toggle("Tutorial mode", key="tutorial", on_change=tutorial.start_tutorial,
                  help="Explains each step in a box at the top of its page, on the sample table (it asks before "
                       "replacing a table you loaded).")
summary = st.sidebar.empty()
sidebar.current_run(summary)  # drawn first: it stays when the page stops early (st.stop ends the script)
if note := st.session_state.pop("session_note", None):
    (st.success if note == session.RESUMED else st.warning)(note, icon=":material/restore:")
tutorial.tutorial_question()
if st.session_state.tutorial and not st.session_state.get("tutorial_question"):
    step = next(key for key, entry in steps.items() if entry.url_path == page.url_path)
    st.info(TUTORIAL[step], icon=":material/school:")
try:
    page.run()
finally:  # also when the page stops early or reruns: what this run changed is what a reload brings back
    session.keep_session()
sidebar.current_run(summary)  # redrawn after the page: a table loaded or a role changed by this run shows at once
