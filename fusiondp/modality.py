"""Data other than a table, as plug-ins: the core finds a modality by its package and imports it on first use.

A run's data is a table unless its config holds the spec of another modality: today notes (``RunConfig.text``).
A modality is a package ``fusiondp/<name>/`` with a module ``modality.py`` that provides ``Modality``; ``<name>``
is also the ``RunConfig`` field that holds its spec. The core knows that convention, never a modality: it lists
the packages that follow it (``modality_names``) and imports a modality's module with ``importlib`` when a config
or a run needs it. A modality builds on the core (``fusiondp.prepared``, the training loop, the accounting), so a
core module importing it back would close an import cycle, and a table run would load the notes' machinery for
nothing. ``tests/test_import_graph.py`` checks that only the command line imports one.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from pydantic import BaseModel, SerializeAsAny

if TYPE_CHECKING:
    import pandas as pd

    from fusiondp.config import RunConfig
    from fusiondp.prepared import PreparedData, Progress
    from fusiondp.privacy.audit_view import AuditView
    from fusiondp.split import Splits

ModalitySpec = SerializeAsAny[BaseModel]
"""A modality's spec as ``RunConfig`` holds it: a pydantic model of the modality's own class (``Modality.spec``
builds it), saved with that class's fields."""


class Modality(Protocol):
    """What a modality's module provides: its spec, split and preparation, what the audit reads of its data, and
    the words the core's messages use for it.

    Validating a config imports the module (for ``spec``): it should import its heavy parts (torch, models)
    inside the hooks that need them, so that reading a config stays quick."""

    ROWS: str
    """What the modality's rows are called, in the plural ("notes"), as the core's messages name them: "notes
    (text) take their support notes from the table …" (``RunConfig``'s refusals)."""

    IMPUTATION_CHECKED: str
    """What ``fusiondp.verdicts`` checked of the imputation's quality report when it flagged nothing ("the
    surrogates beat the majority value on every span type"; a table's: "the imputation beats its baseline on every
    sensitive column")."""

    def spec(self, value: Any) -> BaseModel:
        """The modality's spec from a config's value (a mapping, as YAML gives it, or a spec already built),
        validated by the spec's own pydantic class so that its errors name their field under the config's."""

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

    def shadow_rows(self, splits: Splits) -> tuple[pd.DataFrame, str]:
        """The rows whose sensitive values an attacker could plausibly hold, and what they are in words: the
        audit's shadow model (``fusiondp.privacy.audit.shadow_data``) trains on half of them. A table's are its
        support and validation rows."""


@functools.cache
def modality_names() -> tuple[str, ...]:
    """Every modality: each package of ``fusiondp`` with a ``modality.py``, by the package's name."""
    return tuple(sorted(path.parent.name for path in Path(__file__).parent.glob("*/modality.py")))


def modality(name: str) -> Modality:
    """The module of modality ``name`` (``fusiondp/<name>/modality.py``), imported on first use."""
    if name not in modality_names():
        raise LookupError(f"no modality {name!r}: a modality is a package fusiondp/{name}/ with a modality.py "
                          f"(found: {', '.join(modality_names()) or 'none'})")
    return cast("Modality", importlib.import_module(f"fusiondp.{name}.modality"))


def modality_of(config: RunConfig | Mapping[str, Any]) -> Modality | None:
    """The modality of ``config``'s data (the first whose field is set), its module imported on first use;
    ``None`` for a table. ``config`` is a ``RunConfig`` or its saved form (``RunConfig.to_dict``, as a run record
    holds it)."""
    def is_set(name: str) -> bool:
        return (config.get(name) if isinstance(config, Mapping) else getattr(config, name)) is not None

    return next((modality(name) for name in modality_names() if is_set(name)), None)
