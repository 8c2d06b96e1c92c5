"""Step 1: load a table (upload or sample) and show its shape, types and missingness."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import messages, session, tables
from fusiondp import FusionDPError

st.title("1 · Data")
st.markdown(
    "**FusionDP Studio** trains a model on your table while protecting only its *sensitive* columns (age, sex, "
    "income, …) with differential privacy, and shows what that protection costs and buys against ordinary and "
    "fully private training."
)
st.write(
    "Upload the table you want to learn from, or start with a sample. The file is never written to disk: it is kept "
    "in this server's memory for this tab's link, so that reloading the page keeps your work, and other users of "
    "this server cannot see it (unless you share the link)."
)
cap_mb = tables.upload_cap_bytes() / 2**20
upload = st.file_uploader(
    f"Upload a table: CSV / TSV, Parquet or Excel, at most {cap_mb:.0f} MB", key="upload",
    help="One row per patient, one column per variable, a header row. Empty cells count as missing.",
    on_change=session.forget_sample_choice,
)
sample = st.selectbox("…or use a sample table", list(tables.SAMPLES), index=None, key="sample",
                      placeholder="Pick a sample table", persist_state="session",
                      help="Real public tables from sample_data/ (its README says where each comes from), each with "
                           "its column roles: a binary, a regression, a multi-class and a multi-label target, and "
                           "patients' drug reviews as notes.")

loaded: tables.Table | None = None
try:
    if upload is not None and st.session_state.get("last_upload") != upload.file_id:
        st.session_state.last_upload = upload.file_id
        st.session_state.load_error = None
        loaded = tables.read_upload(upload.name, upload.getvalue())
    elif sample is not None and st.session_state.get("last_sample") != sample:
        st.session_state.last_sample = sample
        st.session_state.load_error = None
        loaded = tables.read_sample(sample)
except FusionDPError as exc:
    st.session_state.load_error = str(exc)
if loaded is not None:
    st.session_state.switch_note = session.set_table(loaded)
if st.session_state.get("load_error"):
    st.error(st.session_state.load_error, icon="⚠️")
    if st.session_state.table is not None:
        st.info(f"The previously loaded table {st.session_state.table.name} is still in use.")
if st.session_state.get("switch_note"):
    st.warning(st.session_state.switch_note)

table: tables.Table | None = st.session_state.table
if table is None:
    st.stop()
frame = table.frame
st.subheader(f"{table.name}")
st.warning(f"{messages.LOCAL_NOT_DP}. The counts, missing shares, examples and first rows below read every row, "
           "sensitive columns included: nothing here is protected.", icon=":material/search:")
cols = st.columns(3)
cols[0].metric("Rows", f"{len(frame):,}")
cols[1].metric("Columns", frame.shape[1])
cols[2].metric("Missing cells", f"{frame.isna().mean().mean():.1%}")
overview = pd.DataFrame({
    "column": frame.columns,
    "type": [tables.plain_type(frame[c]) for c in frame.columns],
    "distinct values": [frame[c].nunique() for c in frame.columns],
    "missing": [f"{frame[c].isna().mean():.1%}" for c in frame.columns],
    "example": [tables.example_value(frame[c]) for c in frame.columns],
})
st.dataframe(overview, hide_index=True, width="stretch")
with st.expander("First rows"):
    st.dataframe(frame.head(20), width="stretch")
st.page_link("views/columns.py", label="Next: tag the columns →", icon=":material/arrow_forward:")
