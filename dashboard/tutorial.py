"""Tutorial mode: the sidebar's toggle loads the sample table the tutorial explains, asking first when that would
replace a table the user loaded.
"""

from __future__ import annotations

import streamlit as st

from dashboard.session import set_table
from dashboard.tables import SAMPLES, Table, read_sample
from fusiondp import FusionDPError

TUTORIAL_SAMPLE = "NHANES 2017–2018 adults: diabetes"
"""The sample table tutorial mode loads (``fusiondp.glossary.TUTORIAL`` describes it)."""


def start_tutorial() -> None:
    """The tutorial toggle's callback: turned on, it loads the sample table — at once when nothing else is loaded,
    else only once the user agrees (``tutorial_question``), since it replaces the table and clears its results."""
    st.session_state.tutorial_question = False
    if not st.session_state.tutorial:
        return
    table: Table | None = st.session_state.table
    if table is None or table.name == f"sample_data/{SAMPLES[TUTORIAL_SAMPLE].csv.name}":
        load_tutorial_sample()
    else:
        st.session_state.tutorial_question = True


def load_tutorial_sample() -> None:
    """Load the tutorial's sample table, and show it as the sample chooser's choice."""
    st.session_state.tutorial_question = False
    try:
        st.session_state.switch_note = set_table(read_sample(TUTORIAL_SAMPLE))
    except FusionDPError as exc:
        st.session_state.load_error = str(exc)
        return
    st.session_state.sample = st.session_state.last_sample = TUTORIAL_SAMPLE


def keep_table_without_tutorial() -> None:
    """The answer "keep my table" to ``tutorial_question``: tutorial mode stays off, nothing is replaced."""
    st.session_state.tutorial_question = False
    st.session_state.tutorial = False


def tutorial_question() -> None:
    """Ask before tutorial mode replaces the user's table (and its results) with the sample."""
    if not st.session_state.get("tutorial_question"):
        return
    table: Table = st.session_state.table
    results = " and clears its results" if st.session_state.records or st.session_state.job else ""
    with st.container(border=True):
        st.warning(f"Tutorial mode explains each step on the sample table. Loading it replaces **{table.name}**"
                   f"{results}.", icon=":material/school:")
        answers = st.container(horizontal=True)
        answers.button("Load the sample table", key="tutorial_yes", on_click=load_tutorial_sample, type="primary")
        answers.button(f"Keep {table.name} (tutorial off)", key="tutorial_no", on_click=keep_table_without_tutorial)
