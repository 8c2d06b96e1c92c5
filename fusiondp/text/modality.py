"""The notes as a modality of the core (``fusiondp.modality.Modality``): what the table pipeline and the audit
hand a run whose config holds a text spec to."""

from __future__ import annotations

from fusiondp.prepared import PreparedData
from fusiondp.text.audit import NoteView
from fusiondp.text.pipeline import prepare_note_splits as prepare_splits
from fusiondp.text.pipeline import prepare_text as prepare
from fusiondp.text.pipeline import split_notes as split

__all__ = ["audit_view", "prepare", "prepare_splits", "split"]


def audit_view(prepared: PreparedData) -> NoteView:
    """The audit's reading of prepared notes."""
    return NoteView(prepared)
