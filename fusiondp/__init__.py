"""FusionDP: feature-level differentially private learning.

Only the columns tagged sensitive are protected: a tabular model imputes them from the
public columns (fitted on a public support set), and a modified DP-SGD trains on the
imputed rows plus a clipped, noised correction from the real rows.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fusiondp.config import RunConfig
    from fusiondp.data import load_table
    from fusiondp.errors import ConfigError, DataError, FusionDPError, ImputerUnavailable, PrivacyError, SpecError
    from fusiondp.preparation import prepare
    from fusiondp.privacy.accounting import calibrate_sigma, epsilon_spent
    from fusiondp.record import RunRecord, summarize
    from fusiondp.runs import run, save_results, train_run
    from fusiondp.spec import TableSpec
    from fusiondp.split import split_table
    from fusiondp.train.modes import ALL_MODES

_EXPORTS = {
    "RunConfig": "fusiondp.config", "load_table": "fusiondp.data", "split_table": "fusiondp.split",
    "ConfigError": "fusiondp.errors", "DataError": "fusiondp.errors", "FusionDPError": "fusiondp.errors",
    "ImputerUnavailable": "fusiondp.errors", "PrivacyError": "fusiondp.errors", "SpecError": "fusiondp.errors",
    "prepare": "fusiondp.preparation", "run": "fusiondp.runs", "save_results": "fusiondp.runs",
    "train_run": "fusiondp.runs", "calibrate_sigma": "fusiondp.privacy.accounting",
    "epsilon_spent": "fusiondp.privacy.accounting", "RunRecord": "fusiondp.record", "summarize": "fusiondp.record",
    "TableSpec": "fusiondp.spec", "ALL_MODES": "fusiondp.train.modes",
}
"""Public names and the module that defines each: imported on first use (PEP 562), so that
``fusiondp --help`` or reading a config does not load torch, scikit-learn and the synthesizers."""


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fusiondp' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "ALL_MODES",
    "ConfigError",
    "DataError",
    "FusionDPError",
    "ImputerUnavailable",
    "PrivacyError",
    "RunConfig",
    "RunRecord",
    "SpecError",
    "TableSpec",
    "calibrate_sigma",
    "epsilon_spent",
    "load_table",
    "prepare",
    "run",
    "save_results",
    "split_table",
    "summarize",
    "train_run",
]
