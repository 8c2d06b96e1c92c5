"""Step 4: choose the privacy budget and training knobs, then train with live progress."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
import torch

from dashboard import caches, defaults, jobs, messages, settings
from dashboard.defaults import CLIP_RULES, LR_SCHEDULES, NUMERIC_ENCODINGS
from fusiondp import FusionDPError, RunConfig
from fusiondp.errors import PrivacyError
from fusiondp.figures import training_figure
from fusiondp.glossary import TRAIN_TERMS, epsilon_band, epsilon_reading, glossary_markdown, help_text
from fusiondp.metrics import METRIC_DESCRIPTIONS, validation_metric
from fusiondp.privacy.accounting import ACCOUNTANTS
from fusiondp.runs import curve_runs
from fusiondp.train.modes import ALL_MODES, MODES
from fusiondp.train.settings import TrainSettings

st.title("4 · Train")
if st.session_state.table is None:
    st.info("Load a table on the Data page first.")
    st.stop()
job: jobs.TrainingJob | None = st.session_state.job
running = job is not None and not job.done

st.subheader("Privacy budget")
st.select_slider("ε range for the privacy-utility curve (log scale)", defaults.EPSILON_STEPS, key="eps_range",
                 value=defaults.DEFAULT_EPSILON_RANGE,
                 persist_state="session",
                 help=f"{help_text('epsilon')} One model per ε and private mode is trained.")
# value=None: an emptied box means "no extra ε" (not 0, which no budget can meet).
st.number_input("Add one more ε (optional; type a value, empty for none)", key="extra_epsilon", value=None,
                step=0.5, format="%g", persist_state="session")
grid = settings.epsilon_grid()
band = st.empty()  # filled below, only once every ε of the grid is known to be met
cols = st.columns(2)
cols[0].number_input("δ (probability the ε bound may fail; keep below 1/rows)", key="delta", format="%.0e",
                     step=1e-6, persist_state="session", help=help_text("delta"))
if (why_delta := defaults.delta_note(len(st.session_state.table.frame))) is not None:
    cols[0].caption(why_delta)
cols[1].selectbox("Accountant (how ε is computed)", ACCOUNTANTS, key="accountant", persist_state="session",
                  help="  \n".join([help_text("accountant"), *(f"**{a}**: {help_text(a)}" for a in ACCOUNTANTS)]))

with st.expander("What do ε, δ, α, β, C and the accountant mean? (glossary)"):
    st.markdown(glossary_markdown(TRAIN_TERMS))

st.subheader("Modes to compare")
# The chips show the modes' names (a description cut off mid-sentence reads worse than none); the chosen
# modes' descriptions are listed in full below, every mode's in the tooltip.
st.multiselect("Modes", ALL_MODES, key="modes", persist_state="session",
               help="  \n".join(f"**{m}** — {MODES[m].description}" for m in ALL_MODES))
st.caption("  \n".join([*(f"**{m}** — {MODES[m].description}" for m in st.session_state.modes),
                        "Non-private references (sgd_ori, sgd_pub, sgd_hybrid) are trained once and drawn as "
                        "horizontal lines; private modes are trained at every ε."]))

def _one_epoch_count() -> None:
    """Moving the epochs slider means one count for every mode: it clears "each mode's own"."""
    st.session_state.epochs_auto = False


with st.expander(f"Training knobs (defaults: each mode's own epochs, {defaults.mode_epochs_text()}, as the command "
                 f"line, and {defaults.FULL_COMPARISON['n_seeds']} seeds, so that Results can give an interval)"):
    cols = st.columns(3)
    cols[0].slider("α: weight of the private correction", 0.0, 10.0, step=0.5, key="alpha", persist_state="session",
                   help=help_text("alpha"))
    cols[1].slider("β: representation-consistency weight", 0.0, 5.0, step=0.1, key="beta", persist_state="session",
                   help=help_text("beta"))
    cols[2].slider("C: per-row clip norm", 0.1, 10.0, step=0.1, key="max_grad_norm", persist_state="session",
                   help=help_text("clip"))
    cols[2].radio("As ε grows, C", CLIP_RULES, key="clip_rule", horizontal=True, persist_state="session",
                  format_func=CLIP_RULES.__getitem__, help=help_text("clip"))
    if st.session_state.clip_rule == "noise_level":
        cols[2].slider("Noise level σ·C (C = max(C, this / σ))", 0.5, 30.0, step=0.5, key="noise_level",
                       persist_state="session", help=help_text("noise_level"))
    elif st.session_state.clip_rule == "auto":
        auto = TrainSettings(numeric_encoding=st.session_state.numeric_encoding)
        cols[2].caption("Noise level σ·C (C = max(C, this / σ)), each mode's own: " + ", ".join(
            f"{auto.noise_level_for(mode):g} for {mode}" for mode in ALL_MODES if MODES[mode].is_private) + ".",
            help=help_text("noise_level"))
    st.radio("Numeric columns", NUMERIC_ENCODINGS, key="numeric_encoding", horizontal=True, persist_state="session",
             format_func=NUMERIC_ENCODINGS.__getitem__,
             help=help_text("numeric_encoding"))
    st.radio("Learning-rate schedule", LR_SCHEDULES, key="lr_schedule", horizontal=True, persist_state="session",
             format_func=LR_SCHEDULES.__getitem__, help=help_text("lr_schedule"))
    cols = st.columns(5)
    cols[0].slider("Epochs", 1, 30, key="epochs", persist_state="session", on_change=_one_epoch_count,
                   help="Moving it trains every mode for this many epochs.")
    cols[0].checkbox(f"Each mode's own epochs ({defaults.mode_epochs_text()})", key="epochs_auto",
                     persist_state="session", help=help_text("epochs"))
    cols[1].number_input("Batch size", 1, 4096, key="batch_size", persist_state="session")
    cols[2].number_input("Learning rate", 1e-4, 1.0, key="lr", format="%g", persist_state="session")
    cols[3].number_input("First seed", 0, 10_000, key="seed", persist_state="session")
    cols[4].number_input("Seeds", 1, 10, key="n_seeds", persist_state="session")
    st.checkbox("Reproducible noise (teaching only: no DP guarantee)", key="reproducible_noise",
                persist_state="session",
                help="Derives the DP sampling and noise from the seed, so the same settings give the same models. "
                     "Anyone who knows the seed can then regenerate the noise and undo it: no ε holds, and every "
                     "result says so. Off (the default), the noise comes from the operating system's entropy and "
                     "is recorded nowhere.")

# Everything Train needs is checked here, before any training: roles and split, then σ for every private
# mode at every ε. A role or split problem shows its message and leaves the Train button disabled; an ε
# that no σ can meet is named and skipped, and the others train (disabled only when none is left).
configs: dict[float, RunConfig] | None
unmet: dict[float, str] = {}
try:
    configs = {epsilon: settings.current_config(epsilon) for epsilon in grid}
    caches.check_split()
    unmet = caches.unmet_budgets(configs)
    if len(unmet) == len(configs):
        raise PrivacyError(" ".join(unmet.values()) + " No ε of the grid can be met: nothing to train.")
except FusionDPError as exc:
    messages.show_error(exc)
    configs = None
if configs is not None:
    for epsilon, problem in unmet.items():
        st.warning(f"ε = {epsilon:g} will not be trained — {problem} The other ε values train as usual.")
    configs = {epsilon: config for epsilon, config in configs.items() if epsilon not in unmet}
    grid = list(configs)
    largest = max(grid)
    band.markdown(f":{epsilon_band(largest).colour}[{epsilon_reading(largest)}]")
    runs = curve_runs(configs[grid[0]].modes, configs[grid[0]].seeds, grid)
    st.caption(f"Device: **{'cuda (GPU)' if torch.cuda.is_available() else 'cpu'}** · {len(runs)} models to train.")
    full = defaults.FULL_COMPARISON
    few = defaults.short_epochs({mode: st.session_state.epochs for mode in st.session_state.modes}
                                if not st.session_state.epochs_auto else {})
    if few or st.session_state.n_seeds < full["n_seeds"]:
        st.caption(f":material/visibility: A quick look: fewer epochs than each mode's own "
                   f"({defaults.mode_epochs_text()}) or fewer than {full['n_seeds']} seeds. The Results page will say "
                   "that its ranking of the modes may change in the full comparison.")

start_col, cancel_col = st.columns(2)
if start_col.button("Train", type="primary", disabled=running or configs is None, key="train"):
    status, on_phase = caches.preparing("Preparing the data (imputation runs once per table and support set)…")
    try:
        with status:
            prepared = {epsilon: caches.prepared_for(config, on_phase) for epsilon, config in configs.items()}
    except FusionDPError as exc:
        status.update(label="Preparing the data failed", state="error")
        messages.show_error(exc)
        st.stop()
    status.update(label="Data prepared", state="complete", expanded=False)
    st.session_state.records = []
    job = jobs.TrainingJob(runs=runs, prepared=prepared)
    st.session_state.job = job
    job.start()
    running = True
if running and cancel_col.button("Cancel training", key="cancel"):
    job.cancel.set()


@st.fragment(run_every=1.0 if running else None)
def progress() -> None:
    """Polls the worker: the page stays responsive while it trains."""
    job: jobs.TrainingJob | None = st.session_state.job
    if job is None:
        return
    finished = sum(not record.cancelled for record in job.records)
    last = job.epochs[-1] if job.epochs else None
    fraction = len(job.records) / len(job.runs)
    if last is not None and not job.done:  # the models in training now, in lockstep: one per ε of a private mode
        fraction += last["epoch"] / last["epochs"] * max(len(job.epsilons), 1) / len(job.runs)
    st.progress(min(fraction, 1.0), text=f"{finished} of {len(job.runs)} models trained")
    if last is not None:
        # a private mode's ε train in lockstep: the reports of that epoch, one per ε
        current = [report for report in job.epochs[-max(len(job.epsilons), 1):]
                   if (report["mode"], report["seed"], report["epoch"]) == (last["mode"], last["seed"], last["epoch"])]
        epsilons = ", ".join(f"{r['epsilon']:g}" for r in current if r["epsilon"] is not None)
        epsilon = f" at ε = {epsilons}" if epsilons else ""
        spent = ("—" if last["epsilon_spent"] is None
                 else ", ".join(f"{r['epsilon_spent']:.3g}" for r in current))
        loss = ("" if len(current) > 1 or not math.isfinite(last["public_loss"])
                else f" · public loss {last['public_loss']:.4f}")
        st.markdown(f"{'Last' if job.done else 'Current'}: `{last['mode']}`{epsilon}, seed {last['seed']} · "
                    f"epoch {last['epoch']}/{last['epochs']}{loss} · ε spent so far {spent}")
        kind = next(iter(job.prepared.values())).tensors.task.kind
        # A copy: the worker appends to job.epochs while the frame is built.
        st.plotly_chart(training_figure(pd.DataFrame(list(job.epochs)), validation_metric(kind)), width="stretch",
                        key="live")
        st.caption(f"Validation {METRIC_DESCRIPTIONS[kind]} per epoch, on imputed validation rows (public "
                   "information). One colour per mode, one line style per ε.")
    if not job.done:
        return
    if st.session_state.records is not job.records:
        st.session_state.records = job.records
        st.rerun()
    if job.error:
        st.error(job.error, icon="⚠️")
    elif job.cancel.is_set():
        st.warning(f"Cancelled: {jobs.finished_count(job)}. The finished models' results are kept.")
    else:
        st.success(f"Done: {finished} models trained.")
    if job.records:
        st.page_link("views/results.py", label="See the results →", icon=":material/show_chart:")


progress()
