"""The notes as a modality of the core (``fusiondp.modality.Modality``): what ``RunConfig.text`` is validated by,
and what the table pipeline and the audit hand a run whose config holds a text spec to.

Validating a config imports this module, so it imports only the notes' spec at first: each hook imports the
notes' pipeline (torch, scikit-learn) when it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fusiondp.text.spec import TextSpec

if TYPE_CHECKING:
    import pandas as pd

    from fusiondp.config import RunConfig
    from fusiondp.prepared import PreparedData, Progress
    from fusiondp.split import Splits
    from fusiondp.text.audit import NoteView


ROWS = "notes"
"""What the core's messages call the notes' rows."""

IMPUTATION_CHECKED = "the surrogates beat the majority value on every span type"
"""What ``fusiondp.verdicts`` checked of the hybrid-note generator's quality report when it flagged nothing."""


def spec(value: Any) -> TextSpec:
    """``RunConfig.text`` from a config's mapping (or a ``TextSpec`` as given)."""
    return TextSpec.model_validate(value)


def split(config: RunConfig, table: pd.DataFrame, support: pd.DataFrame | None = None) -> Splits:
    """The notes split as tables are (``text.pipeline.split_notes``)."""
    from fusiondp.text.pipeline import split_notes

    return split_notes(config, table, support)


def prepare(config: RunConfig, table: pd.DataFrame | None = None, support: pd.DataFrame | None = None,
            progress: Progress | None = None) -> PreparedData:
    """Load, split and prepare the notes (``text.pipeline.prepare_text``)."""
    from fusiondp.text.pipeline import prepare_text

    return prepare_text(config, table, support, progress)


def prepare_splits(config: RunConfig, splits: Splits, progress: Progress | None = None) -> PreparedData:
    """Hybrid notes and the notes' encoder, fitted on the support notes (``text.pipeline.prepare_note_splits``)."""
    from fusiondp.text.pipeline import prepare_note_splits

    return prepare_note_splits(config, splits, progress)


def audit_view(prepared: PreparedData) -> NoteView:
    """The audit's reading of prepared notes."""
    from fusiondp.text.audit import NoteView

    return NoteView(prepared)


def shadow_rows(splits: Splits) -> tuple[pd.DataFrame, str]:
    """The support notes only, not the validation notes: a note's spans are public only in the support notes,
    and the audit trains nothing — not even the attacker's own model — on a private note's real spans."""
    return splits.support, "the support notes"
