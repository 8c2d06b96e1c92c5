"""FusionDP: feature-level differentially private learning.

Only the columns tagged sensitive are protected: a tabular model imputes them from the
public columns (fitted on a public support set), and a modified DP-SGD trains on the
imputed rows plus a clipped, noised correction from the real rows.
"""

from fusiondp.config import RunConfig
from fusiondp.data import load_table, split_table
from fusiondp.errors import (
    ConfigError,
    DataError,
    FusionDPError,
    ImputerUnavailable,
    PrivacyError,
    SpecError,
)
from fusiondp.pipeline import prepare, run, save_results, train_run
from fusiondp.privacy.accounting import calibrate_sigma, epsilon_spent
from fusiondp.record import RunRecord, summarize
from fusiondp.spec import TableSpec
from fusiondp.train.modes import ALL_MODES

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
