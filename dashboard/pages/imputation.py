"""Step 3: fit the imputer on the support set and show how well it recovers the sensitive columns."""

from __future__ import annotations

import streamlit as st

from dashboard import state
from fusiondp import FusionDPError
from fusiondp.impute.figures import report_figures

st.title("3 · Imputation preview")
if st.session_state.table is None:
    st.info("Load a table on the Data page first.")
    st.stop()
st.write(
    "FusionDP replaces each private row's sensitive values by predictions from its public columns. "
    "The predictor (the *imputer*) is fitted on the support set only, whose sensitive values are public."
)
try:
    config = state.current_config()
    with st.spinner("Fitting the imputer on the support set…"):
        prepared = state.prepared_for(config)
except FusionDPError as exc:
    state.show_error(exc)
    st.page_link("pages/columns.py", label="Fix the column roles", icon="⬅️")
    st.stop()

choice = prepared.imputer
st.markdown(f"**Imputer that ran:** `{choice.used}` — {choice.reason}")
report = prepared.quality
st.warning(
    f"{state.LOCAL_NOT_DP}. This preview scores the "
    f"imputer on {report.holdout_rows} held-out **support** rows (fitted on the other {report.fit_rows} "
    f"support rows), never on the private training rows. Only the trained model carries the DP guarantee.",
    icon="🔎",
)
for note in [*report.notes, *prepared.notes]:
    st.caption(note)
st.subheader("Quality against the trivial baseline (mean / most frequent value)")
frame = report.to_frame()
st.dataframe(frame, hide_index=True, width="stretch")
st.caption("Higher accuracy, macro-F1 and R² are better; lower MAE and RMSE are better.")

st.subheader("Real vs imputed values on the held-out support rows")
for column, figure in report_figures(report).items():
    st.plotly_chart(figure, width="stretch", key=f"impute_{column}")
st.page_link("pages/train.py", label="Next: train →", icon="➡️")
