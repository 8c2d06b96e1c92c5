"""Step 5: metrics with the privacy ledger, privacy-utility curves, and reproducible exports."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import streamlit as st
import yaml

from dashboard import state
from fusiondp import FusionDPError, RunRecord, save_results, summarize
from fusiondp.metrics import METRICS
from fusiondp.report import build_html_report, privacy_utility_figure
from fusiondp.sweep import row_from_record
from fusiondp.train.modes import ADJACENCY_EXPLAINED, MODES

st.title("5 · Results")
records = st.session_state.records
job: state.TrainingJob | None = st.session_state.job
if not records or job is None:
    st.info("No results yet: train on the Train page.")
    st.page_link("pages/train.py", label="Go to Train", icon="⬅️")
    st.stop()

first = records[0]
st.markdown(f"**Imputer that ran:** `{first.imputer['name']}` — {first.imputer['reason']}  \n"
            f"**Device:** {first.timing['device']} · **Data:** `{first.config['data']}`")
st.warning(
    "The metrics below are computed on real test rows of your own table, locally: they are **not** "
    "differentially private and are for your evaluation only. Only the trained models carry the DP guarantee "
    "stated in their ledger.", icon="🔎",
)

groups = state.records_by_epsilon(records)
tables = []
for epsilon, group in groups.items():
    private = [r for r in group if MODES[r.mode].is_private]
    if private:
        tables.append(summarize(private).assign(epsilon_target=epsilon))
references = [r for r in records if not MODES[r.mode].is_private]
if references:
    tables.append(summarize(references))
summary = pd.concat(tables, ignore_index=True)
first_columns = ["mode", "epsilon_target", "auroc_mean", "auprc_mean", "accuracy_mean", "f1_mean", "epsilon_spent",
                 "delta", "sigma", "sampling_rate", "steps", "accountant", "adjacency", "epsilon_replace", "imputer"]
summary = summary[[c for c in first_columns if c in summary] + [c for c in summary if c not in first_columns]]
st.subheader("Metrics and privacy ledger (mean ± sd over seeds)")
st.dataframe(summary, hide_index=True, width="stretch")
if any(r.cancelled for r in records):
    st.caption("A cancelled run is included with the epochs it completed; its ε spent is what those steps cost.")
with st.expander("What each ε refers to (adjacency)"):
    for adjacency in dict.fromkeys(summary["adjacency"]):
        st.markdown(f"- **{adjacency}**: {ADJACENCY_EXPLAINED[adjacency]}")

with st.expander("Privacy statement in plain words", expanded=True):
    for epsilon, group in groups.items():
        for record in group:
            if MODES[record.mode].is_private and record.seed == group[0].seed and record.privacy.statement:
                st.markdown(f"**{record.mode} at ε = {epsilon:g}.** {record.privacy.statement}")

tidy = pd.DataFrame([row_from_record(r) for r in records])
metric = st.selectbox("Metric", METRICS, key="curve_metric", persist_state="session")
try:
    st.plotly_chart(privacy_utility_figure(tidy, metric), width="stretch", key="curve")
except FusionDPError as exc:
    state.show_error(exc)
with st.expander("Every run"):
    st.dataframe(tidy, hide_index=True, width="stretch")

st.subheader("Downloads")
epsilon = st.selectbox("ε of the run config to export", list(groups), format_func=lambda e: f"{e:g}",
                       key="export_epsilon")
config = next((r.config for r in groups[epsilon] if MODES[r.mode].is_private), groups[epsilon][0].config)
header = (f"# Reproduce with: fusiondp run --config config.yaml (put {config['data']!r} next to it).\n"
          f"# Imputer that ran: {first.imputer['name']}.\n")


def exports(job: state.TrainingJob, records: list[RunRecord]) -> tuple[bytes, str]:
    """The results zip (``save_results`` per ε, what the CLI writes) and the library's HTML report."""
    zipped = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(zipped, "w") as archive:
        for eps, group in state.records_by_epsilon(records).items():
            written = save_results(Path(folder) / f"epsilon_{eps:g}", job.prepared[eps], group)
            for path in written.iterdir():
                archive.write(path, f"epsilon_{eps:g}/{path.name}")
        everything = save_results(Path(folder) / "all", next(iter(job.prepared.values())), records)
        report = build_html_report(everything).read_text(encoding="utf-8")
    return zipped.getvalue(), report


if st.session_state.get("exports_for") is not job:  # built once per training job, not on every rerun
    with st.spinner("Writing the exports…"):
        st.session_state.exports = exports(job, records)
    st.session_state.exports_for = job
zipped, report = st.session_state.exports
cols = st.columns(3)
cols[0].download_button("Run config (YAML)", header + yaml.safe_dump(config, sort_keys=False),
                        file_name="config.yaml", mime="application/x-yaml")
cols[1].download_button("Results (JSON per ε, zip)", zipped, file_name="fusiondp-results.zip",
                        mime="application/zip")
cols[2].download_button("Report (HTML)", report, file_name="fusiondp-report.html", mime="text/html")
