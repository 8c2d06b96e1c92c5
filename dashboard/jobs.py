"""Work that outlives one run of the script: training in a worker thread that the pages poll, the audit of its models,
and its records moved into the session once it is done, whichever page is open.

The worker calls the library only, never Streamlit: a thread has no page to draw on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from dashboard.messages import error_message
from fusiondp import FusionDPError, RunRecord
from fusiondp.models import TabularMLP
from fusiondp.parallel import lockstep_groups
from fusiondp.prepared import PreparedData
from fusiondp.privacy.audit import AuditProgress, audit_model, shadow_data
from fusiondp.privacy.audit_report import AuditReport
from fusiondp.runs import fit_runs
from fusiondp.train.loop import EpochReport
from fusiondp.train.modes import MODES


def collect_finished_job() -> None:
    """Move a finished job's records into the session, whichever page the user is on."""
    job: TrainingJob | None = st.session_state.job
    if job is not None and job.done and st.session_state.records is not job.records:
        st.session_state.records = job.records


@dataclass
class TrainingJob:
    """Training running in a worker thread; the page polls it, the cancel button sets ``cancel``.

    The worker only calls the library and writes plain Python fields: no Streamlit calls.
    The trained models are kept (``models[i]`` belongs to ``records[i]``) so that the Results
    page can audit them; the job lives in this session's state, so no other session sees them.
    """

    runs: list[tuple[float, str, int]]
    prepared: dict[float, PreparedData]
    cancel: threading.Event = field(default_factory=threading.Event)
    records: list[RunRecord] = field(default_factory=list)
    models: list[TabularMLP] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    done: bool = False
    epsilons: list[float] = field(default_factory=list)
    """Target ε of the models in training now: a private mode's ε train in lockstep (empty for a non-private
    reference, which has none)."""

    def start(self) -> None:
        threading.Thread(target=self._work, name="fusiondp-training", daemon=True).start()

    def _work(self) -> None:
        try:
            for group in lockstep_groups(self.runs):
                _, mode, seed = self.runs[group[0]]
                epsilons = [self.runs[index][0] for index in group]
                self.epsilons = epsilons if MODES[mode].is_private else []

                def on_epoch(index: int, report: EpochReport, epsilons: list[float] = self.epsilons) -> None:
                    self.epochs.append({**report.to_dict(), "epsilon": epsilons[index] if epsilons else None})

                fitted = fit_runs(self.prepared[epsilons[0]], mode, seed, epsilons, on_epoch=on_epoch,
                                  should_stop=self.cancel.is_set)
                for record, model in fitted:  # the model first: a polling reader never finds a record without it
                    self.models.append(model)
                    self.records.append(record)
                if any(record.cancelled for record, _ in fitted):
                    break
        except FusionDPError as exc:
            self.error = error_message(exc)
        except Exception as exc:  # shown as a message: the app must keep working
            self.error = f"Training failed unexpectedly ({type(exc).__name__}: {exc})."
        finally:
            self.done = True


def finished_count(job: TrainingJob) -> str:
    """How far a job got, in the one wording the Train and Results pages share: "2 of 24 models finished, 1 stopped
    early" (a model stopped early is one whose training a cancel cut short)."""
    finished = sum(not record.cancelled for record in job.records)
    stopped = len(job.records) - finished
    return f"{finished} of {len(job.runs)} models finished" + (f", {stopped} stopped early" if stopped else "")


@dataclass
class AuditResults:
    """The audit of one training job's models, kept until the next training replaces the job."""

    job: TrainingJob
    rows: int
    shadow: bool
    reports: list[tuple[RunRecord, AuditReport]]


def audit_job(job: TrainingJob, rows: int, shadow: bool,
              progress: Callable[[int, RunRecord, str, float], None] | None = None) -> AuditResults:
    """Attack every finished model of ``job`` with the library's audit (on that model's own prepared data).

    ``shadow`` first builds the attacker's shadow data once (it depends on the data only) and
    then trains one shadow model per audited model; ``progress(i, record, step, fraction)`` hears each
    step of model ``i``'s audit (``fusiondp.privacy.audit.AuditProgress``), for the page's progress bar.
    """
    any_prepared = next(iter(job.prepared.values()))
    shadow_prepared = shadow_data(any_prepared, any_prepared.config.split_seed) if shadow else None
    reports = []
    finished = [(record, model) for record, model in zip(job.records, job.models, strict=True) if not record.cancelled]
    for index, (record, model) in enumerate(finished):
        heard: AuditProgress | None = None
        if progress is not None:
            def heard(step: str, fraction: float, index: int = index, record: RunRecord = record) -> None:
                progress(index, record, step, fraction)
        report = audit_model(job.prepared[record.config["epsilon"]], model, record.mode, rows=rows,
                             seed=record.seed, shadow=shadow_prepared, progress=heard)
        reports.append((record, report))
    return AuditResults(job, rows, shadow, reports)


def records_by_epsilon(records: list[RunRecord]) -> dict[float, list[RunRecord]]:
    """Private runs grouped by target ε; the non-private references are added to every group."""
    references = [r for r in records if not MODES[r.mode].is_private]
    grid = sorted({r.config["epsilon"] for r in records if MODES[r.mode].is_private})
    return {e: references + [r for r in records if MODES[r.mode].is_private and r.config["epsilon"] == e]
            for e in grid} or ({records[0].config["epsilon"]: references} if references else {})
