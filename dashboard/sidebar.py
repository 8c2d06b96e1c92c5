"""The sidebar's summary of the current run (dataset, target, protected columns, budget), on every page."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.roles import text_mode
from dashboard.settings import epsilon_grid
from dashboard.tables import Table


def current_run(placeholder: Any) -> None:
    """The current dataset, spec and budget, on every page (drawn into ``placeholder``, replacing what it held)."""
    table: Table | None = st.session_state.table
    with placeholder.container():
        st.subheader("Current run")
        if table is None:
            st.caption("No table loaded yet.")
            return
        st.markdown(f"**Dataset:** `{table.name}`  \n{len(table.frame):,} rows × {table.frame.shape[1]} columns")
        sensitive = st.session_state.get("sensitive", [])
        target = st.session_state.get("target")
        protected = (f"**Notes:** `{st.session_state.text_column}` · spans: "
                     f"{', '.join(st.session_state.sensitive_spans) or '—'}" if text_mode()
                     else f"**Sensitive ({len(sensitive)}):** {', '.join(sensitive) or '—'}")
        st.markdown(f"**Target:** {f'`{target}`' if target else 'not chosen yet'}  \n{protected}")
        grid = ", ".join(f"{e:g}" for e in epsilon_grid())
        st.markdown(f"**Budget:** ε ∈ {{{grid}}}, δ = {st.session_state.delta:g}")
