"""Step 3: fit the imputer on the support set and show how well it recovers the sensitive columns."""

from __future__ import annotations

import streamlit as st

from dashboard import caches, messages, notes, roles, settings
from fusiondp import FusionDPError
from fusiondp.impute.figures import quality_table, report_figures
from fusiondp.verdicts import coded_categories, imputation_verdicts

st.title("3 · Imputation preview")
if st.session_state.table is None:
    st.info("Load a table on the Data page first.")
    st.stop()
st.write(
    "FusionDP's model reads, beside each private row's sensitive values, predictions of them from its public "
    "columns. "
    "The predictor (the *imputer*) is fitted on the support set only, whose sensitive values are public."
)
status = None
try:
    config = settings.current_config()
    status, on_phase = caches.preparing("Fitting the imputer on the support set…")
    with status:
        prepared = caches.prepared_for(config, on_phase)
except FusionDPError as exc:
    if status is not None:
        status.update(label="Fitting the imputer failed", state="error")
    messages.show_error(exc)
    st.page_link("views/columns.py", label="Fix the column roles", icon=":material/arrow_back:")
    st.stop()
status.update(label="Imputer fitted", state="complete", expanded=False)
if config.text is not None:
    notes.show_preview(prepared)
    st.page_link("views/train.py", label="Next: train →", icon=":material/arrow_forward:")
    st.stop()

choice = prepared.imputer
messages.imputer_line(choice.used, choice.reason)
report = prepared.quality
st.warning(
    f"{messages.LOCAL_NOT_DP}. This preview scores the imputer on **support** rows it did not see: "
    f"{report.scored_on()}; never on the private training rows. Only the trained model carries the DP guarantee.",
    icon=":material/search:",
)
for note in [*report.notes, *prepared.notes]:
    st.caption(note)
for line in imputation_verdicts(report):
    st.warning(line, icon="⚠️")
st.subheader("Quality against the trivial baseline (mean / most frequent value)")
scores = st.column_config.NumberColumn(format="%.3f")
st.dataframe(quality_table(report), hide_index=True, width="stretch", height="content",
             column_order=("column", "metric", "imputer", "baseline"),  # the metric names the kind; fits 1024 px
             column_config={"column": st.column_config.Column(width="medium"),
                            "metric": st.column_config.Column(width="medium"), "imputer": scores, "baseline": scores})
st.caption("Higher accuracy, macro-F1 and R² are better; lower MAE and RMSE are better.")

st.subheader("Real vs imputed values on the support rows, each imputed by a fit that did not see it")
coded = coded_categories(report, prepared.splits.support)
for column, figure in report_figures(report, roles.declared_orders()).items():
    if column in coded:
        values = ", ".join(f"{value:g}" for value in coded[column])
        st.info(f"`{column}` holds only the values {values} on the support rows. If these numbers are codes for "
                "categories, add it to “Categorical columns” on the Columns page: it is then imputed as one of its "
                "codes and shown as a confusion matrix, not as a number between them in a histogram.",
                icon=":material/lightbulb:")
    st.plotly_chart(figure, width="stretch", key=f"impute_{column}")
st.page_link("views/train.py", label="Next: train →", icon=":material/arrow_forward:")
