"""Step 5: metrics with the privacy ledger, privacy-utility curves, an empirical audit, and reproducible exports."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import streamlit as st
import yaml

from dashboard import defaults, jobs, messages, tables
from fusiondp import FusionDPError, RunConfig, RunRecord, save_results, summarize
from fusiondp.comparison import comparison_lines
from fusiondp.figures import privacy_utility_figure
from fusiondp.metrics import METRIC_LABELS
from fusiondp.privacy.audit_report import MEMBERSHIP_CAVEAT, AuditReport, below_baseline_note, membership_scope
from fusiondp.privacy.joint import joint_release_of_records
from fusiondp.privacy.randomness import NO_GUARANTEE
from fusiondp.report import build_html_report, dataset_name
from fusiondp.result_tables import (
    ALL_METRICS,
    NOT_APPLICABLE_NOTE,
    ONE_SEED_NOTE,
    attribute_table,
    audit_table,
    ledger_table,
    metrics_table,
    runs_table,
    tidy_runs,
)
from fusiondp.script import python_script
from fusiondp.train.modes import ADJACENCY_EXPLAINED, MODES
from fusiondp.verdicts import nothing_flagged, run_verdicts, threshold_note

# The audit table's reading of an advantage interval that holds 0 (the library's "no measurable leak").
NONE_SEEN = "none seen at this size"

st.title("5 · Results")
job: jobs.TrainingJob | None = st.session_state.job
if job is not None and not job.done:

    @st.fragment(run_every=1.0)
    def wait_for_training() -> None:
        """Polls the worker, and reruns the whole page once training ends: the results then show by themselves."""
        if job.done:
            st.rerun()
        st.info(f"Training: {jobs.finished_count(job)} so far. This page shows the results as soon as training ends.",
                icon=":material/hourglass_top:")

    wait_for_training()
    st.page_link("views/train.py", label="Watch the training on the Train page", icon=":material/arrow_back:")
    st.stop()
records: list[RunRecord] = st.session_state.records
if not records or job is None:
    st.info("No results yet: train on the Train page.")
    st.page_link("views/train.py", label="Go to Train", icon=":material/arrow_back:")
    st.stop()

first = records[0]
messages.imputer_line(first.imputer["name"], first.imputer["reason"])
st.caption(f"Device: {first.timing['device']} · Data: {dataset_name(records)}")
# A model cut off mid-training says nothing about its mode: everything below reads the finished models only.
finished = [record for record in records if not record.cancelled]
if job.cancel.is_set():
    st.info(f"Training was cancelled: {jobs.finished_count(job)}. What follows reads the finished models only; "
            "those stopped early are listed under “Every run”.", icon="ℹ️")
if not finished:
    st.warning("No model finished before the cancel, so there is nothing to compare, draw or audit. Train again on the "
               "Train page.", icon="⚠️")
    with st.expander("Every run (one row per model and seed)"):
        st.dataframe(runs_table(records), hide_index=True, width="stretch", height="content")
    st.stop()

st.subheader("Read this first")
if any(r.privacy.reproducible_noise for r in finished):
    st.error(f"No DP guarantee for these models: {NO_GUARANTEE}.", icon=":material/block:")
answers = comparison_lines(records)  # it leaves out models stopped early, and says so where fusiondp is one
if answers:
    with st.container(border=True):
        st.markdown("\n".join(f"- {line}" for line in answers))
elif "fusiondp" in {r.mode for r in records}:
    st.caption("Add dpsgd or feature_dp to the modes on the Train page to compare fusiondp with a private baseline.")
if short := defaults.quick_look(records):
    st.warning(f"A quick look: {'; '.join(short)}. The ranking of the modes may change in the full comparison.",
               icon=":material/visibility:")
    if st.button("Set up the full comparison on the Train page", key="full_comparison"):
        defaults.set_up_full_comparison()
        st.switch_page("views/train.py")
notes = run_verdicts(records)
for line in notes:
    st.warning(line, icon="⚠️")
if not notes:
    st.caption(nothing_flagged(records))

tidy = tidy_runs(finished)
curve_metrics = [m for m in ALL_METRICS if m in tidy and tidy[m].notna().any()]
metric = st.selectbox("Metric", curve_metrics, key="curve_metric", persist_state="session",
                      format_func=lambda m: METRIC_LABELS.get(m, m))
try:
    st.plotly_chart(privacy_utility_figure(tidy, metric), width="stretch", key="curve")
except FusionDPError as exc:
    messages.show_error(exc)
st.warning(
    f"{messages.LOCAL_NOT_DP}: the metrics on this page are computed on real test rows of your own table, for your "
    "evaluation only. Only the trained models carry the DP guarantee stated below.", icon=":material/search:",
)

summary = summarize(finished)
st.subheader("Metrics (mean ± sd over seeds)")
st.dataframe(metrics_table(summary), hide_index=True, width="stretch", height="content")
notes_below = [NOT_APPLICABLE_NOTE] if summary["epsilon"].isna().any() else []
if threshold := threshold_note(finished):
    notes_below.append(threshold)
if (summary["seeds"] < 2).any():
    notes_below.append(ONE_SEED_NOTE)
if notes_below:
    st.caption("  \n".join(notes_below))
with st.expander("Every run (one row per model and seed)"):
    st.dataframe(runs_table(records), hide_index=True, width="stretch", height="content")

st.subheader("Privacy guarantee")
private = [r for r in finished if MODES[r.mode].is_private and r.privacy.statement]
if private:
    default = next((i for i, r in enumerate(private) if r.mode == "fusiondp"), 0)
    chosen = st.selectbox("Statement for", range(len(private)), index=default, key="statement_for",
                          format_func=lambda i: f"{private[i].mode} at ε = {private[i].privacy.epsilon_target:g}, "
                                                f"seed {private[i].seed}")
    with st.container(border=True):
        st.markdown(private[chosen].privacy.statement)
    st.caption("One statement at a time: at the other ε values only the numbers change (table below); other "
               "modes may also differ in what they protect (the table's second column).")
else:
    st.info("No private model finished, so there is no privacy statement: the models here are non-private "
            "references, which carry no guarantee.", icon="ℹ️")
ledger = ledger_table(summary)
# What ε refers to comes second: it is what a row's numbers mean, and the last column of a wide table is the one a
# narrow window hides.
order = ["mode", "what ε refers to", *(c for c in ledger.columns if c not in ("mode", "what ε refers to"))]
st.dataframe(ledger[order], hide_index=True, width="stretch", height="content",
             column_config={"what ε refers to": st.column_config.Column(width="medium")})
st.caption(NOT_APPLICABLE_NOTE)
if (joint := joint_release_of_records(finished)) is not None:
    st.markdown(f"**Joint release.** {joint.line()}")
    st.caption(f"How: {joint.method}. Each row's ε above covers that model alone; download or share several "
               "models and this is the ε that holds for them together.")
with st.expander("What each ε refers to (adjacency)"):
    for adjacency in dict.fromkeys(summary["adjacency"]):
        st.markdown(f"- **{adjacency}**: {ADJACENCY_EXPLAINED[adjacency]}")

st.subheader("Audit: what could an attacker learn from these models?")
notes_run = next(iter(job.prepared.values())).config.text is not None
# Notes: the attacked features are span types, and the model-free guess is the hybrid-note generator's.
features, hidden, held_out, baseline, guessed_by, candidates = (
    ("sensitive span types", "for each span type it can guess (age group, sex, ethnicity group) it hides a note's "
     "real value, keeps the rest of the note,", "notes", "Generator only",
     "the hybrid-note generator's guess from the note's public words",
     "the span type's declared values (five age groups, two sexes, five ethnicity groups); names, dates, places and "
     "identifiers have no such set and are not attacked") if notes_run else
    ("sensitive columns", "for each sensitive column it hides a person's real value,", "rows", "Imputer only",
     "a guess from the public columns",
     "the categories, or ten deciles of a numeric column; a numeric guess counts as right when it hits the nearest "
     "decile"))
st.markdown(
    f"The audit plays the attacker: {hidden} asks the model which value best explains that person's outcome, and "
    f"counts how often the guess is right: for people the model was **trained on** and for people it **never saw** "
    f"(held-out {held_out}). It also checks whether the model's errors give away **who was in the training data** "
    "(membership)."
)
audit_rows = st.number_input("Rows attacked per model (training and held-out each)", 50, 5000, step=50,
                             key="audit_rows", persist_state="session", width=360,
                             help="Capped by the number of training and test rows. More rows: steadier numbers.")
audit_shadow = st.checkbox(
    "Also train a shadow model per audited model (stronger, learned attacks; slower)", key="audit_shadow",
    persist_state="session",
    help="The attacker trains its own model, the same way, on rows whose sensitive values it could know, and learns "
         "from it how much to trust the audited model's answers.")
if st.button("Audit the trained models", key="audit"):
    bar = st.progress(0.0, text="Preparing the attack (the audit reads your real training rows, locally)…")

    def show_progress(index: int, record: RunRecord, step: str, fraction: float) -> None:
        epsilon_text = "" if record.privacy.epsilon_target is None else f" at ε = {record.privacy.epsilon_target:g}"
        bar.progress(min((index + fraction) / len(finished), 1.0),
                     text=f"Model {index + 1} of {len(finished)}: {record.mode}{epsilon_text}, seed {record.seed} — "
                          f"{step}")

    try:
        st.session_state.audit_results = jobs.audit_job(job, int(audit_rows), audit_shadow, show_progress)
        bar.progress(1.0, text=f"Audited {len(finished)} models.")
    except FusionDPError as exc:
        bar.empty()
        messages.show_error(exc)
    except Exception as exc:  # shown as a message, as training does: the page must keep working
        bar.empty()
        st.error(f"The audit failed unexpectedly ({type(exc).__name__}: {exc}). The results above are unaffected.",
                 icon="⚠️")

audit: jobs.AuditResults | None = st.session_state.get("audit_results")
if audit is not None and audit.job is job:
    st.warning("Computed on the real sensitive values of your training rows: an evaluation for you, on your "
               "machine, not a differentially private release.", icon=":material/search:")
    attacked = " or ".join(str(rows) for rows in sorted({report.rows for _, report in audit.reports}))
    st.caption(f"Rows attacked per model: {attacked} training rows and as many held-out rows.")
    # "no measurable leak" would read as "no leak": the attack only failed to see one at this size.
    table = audit_table(audit.reports, audit.shadow).replace({"reading": {"no measurable leak": NONE_SEEN}})
    # Shorter headers (the full names in their tooltips) so that a mode's table fits the page without scrolling.
    short = {"attack accuracy: training": "attack: training", "attack accuracy: held-out": "attack: held-out",
             "membership TPR @ 1% FPR": "TPR @ 1% FPR"}
    headers = {name: st.column_config.Column(label, help=name.capitalize()) for name, label in short.items()}
    # The reading and the advantage it reads come first: a narrow window hides a wide table's last columns.
    shown = ["ε target", "seed", "reading", "advantage (95% interval)"]
    shown += [c for c in table.columns if c not in (*shown, "mode", "rows attacked")]
    for mode in dict.fromkeys(table["mode"]):
        st.markdown(f"**{mode}** — {MODES[mode].description}. Membership vs ε: {membership_scope(mode)}.")
        st.dataframe(table.loc[table["mode"] == mode, shown], hide_index=True, width="stretch", height="content",
                     column_config=headers)
    unseen = [record for record, report in audit.reports  # models that protect nothing, yet show no leak
              if MODES[record.mode].adjacency == "none" and report.reading() == "no measurable leak"]
    if unseen:
        names = ", ".join(dict.fromkeys(record.mode for record in unseen))
        epochs = unseen[0].trained_epochs
        st.warning(f"{names}: no protection at all, yet the attack reads “{NONE_SEEN}”. After {epochs} epochs and "
                   f"with {attacked} rows attacked, this attack cannot see what the model memorised — which does not "
                   "mean it memorised nothing. Judge the protection by the ε in the ledger, not by the audit.",
                   icon="⚠️")
    if below := below_baseline_note([report for _, report in audit.reports]):
        st.info(below, icon="ℹ️")
    st.markdown(
        f"- **Attack accuracy** (averaged over the {features}): how often the attacker guesses a "
        "person's sensitive value right, for people in the training data and for people the model never saw.\n"
        f"- **{baseline}**: how often {guessed_by} alone is right, with no trained model at all (what a public model "
        "already infers). An attack that does no better than this learns nothing from the model beyond public "
        "information.\n"
        "- **Advantage** = training − held-out accuracy: what the model gives away about the people it was trained "
        "on in particular, with a 95% interval. **An interval that includes 0 reads “none seen at this size”: no "
        "measurable leak for this attack on this many rows, not proof that there is none**; one entirely above 0 "
        "means the model reveals something about its training rows.\n"
        "- **Membership AUC**: how well the attacker tells training rows from unseen ones by the model's error on "
        f"them. 0.5 is a coin flip; 1 is perfect. Not the leak ε speaks to for fusiondp, feature_dp or naive_fusion: "
        f"{MEMBERSHIP_CAVEAT} (*membership vs ε* above each table).\n"
        "- **Membership TPR @ 1% FPR**: the share of training rows the attacker picks out while wrongly accusing "
        "only 1% of outsiders. About 0.01 is chance."
    )
    st.info("An audit can only show a leak, never prove its absence: a cleverer attacker might do better than these "
            "attacks. The guarantee is the ε in the privacy ledger; a non-private model that shows no measurable "
            "leak here is still not private.", icon="ℹ️")
    with st.expander("Per sensitive span type" if notes_run else "Per sensitive column"):
        st.caption(f"candidates: how many values the attacker chooses from ({candidates}).")
        for record, report in audit.reports:
            epsilon_text = "" if record.privacy.epsilon_target is None else f" at ε = {record.privacy.epsilon_target:g}"
            st.markdown(f"**{record.mode}{epsilon_text}, seed {record.seed}** ({report.rows} rows attacked)")
            st.dataframe(attribute_table(report), hide_index=True, width="stretch", height="content")

st.subheader("Downloads")
groups = jobs.records_by_epsilon(finished)
epsilon = st.selectbox("ε of the run config to export", list(groups), format_func=lambda e: f"{e:g}",
                       key="export_epsilon")
config = dict(next((r.config for r in groups[epsilon] if MODES[r.mode].is_private), groups[epsilon][0].config))
# The table by its bare name, read next to the config file (fusiondp.config.beside_config), wherever the command runs.
beside = [Path(config[key]).name for key in ("data", "support_data") if config.get(key)]
config.update({key: Path(config[key]).name for key in ("data", "support_data") if config.get(key)})
config_name = tables.export_name(config["data"], "config.yaml")
header = (f"# Reproduce with: fusiondp run --config {config_name} (put {' and '.join(beside)} next to it).\n"
          f"# Imputer that ran: {first.imputer['name']}.\n")


def exports(job: jobs.TrainingJob, records: list[RunRecord],
            audited: list[tuple[RunRecord, AuditReport]] | None) -> tuple[bytes, str]:
    """The results zip (``save_results`` per ε, what the CLI writes) and the library's HTML report (with the
    audit when one was run)."""
    zipped = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(zipped, "w") as archive:
        for eps, group in jobs.records_by_epsilon(records).items():
            written = save_results(Path(folder) / f"epsilon_{eps:g}", job.prepared[eps], group)
            for path in written.iterdir():
                archive.write(path, f"epsilon_{eps:g}/{path.name}")
        everything = save_results(Path(folder) / "all", next(iter(job.prepared.values())), records)
        report = build_html_report(everything, audit=audited).read_text(encoding="utf-8")
    return zipped.getvalue(), report


audited = audit.reports if audit is not None and audit.job is job else None
built_for = st.session_state.get("exports_for")
if built_for is None or built_for[0] is not job or built_for[1] is not audited:  # once per job and audit
    with st.spinner("Writing the exports…"):
        st.session_state.exports = exports(job, finished, audited)
    st.session_state.exports_for = (job, audited)
zipped, report = st.session_state.exports
script_name = tables.export_name(config["data"], "run.py")
buttons = st.container(horizontal=True)  # one row that wraps on a narrow window instead of cutting labels
buttons.download_button("Run config (YAML)", header + yaml.safe_dump(config, sort_keys=False),
                        file_name=config_name, mime="application/x-yaml")
script = python_script(RunConfig.build(**config), [e for e, _, _ in job.runs], imputer=first.imputer["name"])
buttons.download_button("Python script (every ε)", script, file_name=script_name, mime="text/x-python",
                        help=f"Reruns this whole run (every mode, ε and seed) with the fusiondp library: "
                             f"python {script_name} {config['data']}")
buttons.download_button("Results (JSON per ε, zip)", zipped,
                        file_name=tables.export_name(config["data"], "results.zip"), mime="application/zip")
buttons.download_button("Report (HTML)", report, file_name=tables.export_name(config["data"], "report.html"),
                        mime="text/html")
