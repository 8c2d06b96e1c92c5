"""Data other than a table, as plug-ins: the core finds a modality's module by name and imports it on first use.

A run's data is a table unless its config holds the spec of another modality: today notes (``RunConfig.text``,
``fusiondp.text``). The table pipeline and the audit hand such a run to the modality's module, which provides
``Modality``. The core keeps only that module's dotted path and imports it with ``importlib`` when a run needs
it: a modality builds on the core (``fusiondp.prepared``, the training loop, the accounting), so a core module
importing it back would close an import cycle, and a table run would load the notes' machinery for nothing.
``tests/test_import_graph.py`` checks that only the command line and ``RunConfig`` (whose ``text`` field is the
notes' spec) import one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    import pandas as pd

    from fusiondp.config import RunConfig
    from fusiondp.prepared import PreparedData, Progress
    from fusiondp.privacy.audit_view import AuditView
    from fusiondp.split import Splits

MODULES: dict[str, str] = {"text": "fusiondp.text.modality"}
"""Each modality by the ``RunConfig`` field that holds its spec, and the module that provides its ``Modality``."""


class Modality(Protocol):
    """What a modality's module provides: its split, its preparation, and how the audit's attacks read it."""

    def split(self, config: RunConfig, table: pd.DataFrame, support: pd.DataFrame | None = None) -> Splits:
        """``table`` (and a separate support table) split by ``config``, as ``fusiondp.preparation.split_for``
        splits a table."""

    def prepare(self, config: RunConfig, table: pd.DataFrame | None = None, support: pd.DataFrame | None = None,
                progress: Progress | None = None) -> PreparedData:
        """Load, split and prepare, as ``fusiondp.preparation.prepare`` does a table."""

    def prepare_splits(self, config: RunConfig, splits: Splits, progress: Progress | None = None) -> PreparedData:
        """Prepare split data whose δ is resolved (``fusiondp.prepared.resolve_delta``), as
        ``fusiondp.preparation.prepare_splits`` does a table's."""

    def audit_view(self, prepared: PreparedData) -> AuditView:
        """How ``fusiondp.privacy.audit``'s attacks read ``prepared`` (a table's is ``TableView``)."""


def modality_of(config: RunConfig) -> Modality | None:
    """The modality of ``config``'s data, its module imported on first use; ``None`` for a table."""
    for name, module in MODULES.items():
        if getattr(config, name) is not None:
            return cast("Modality", importlib.import_module(module))
    return None
