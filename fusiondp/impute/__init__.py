"""Imputers that predict sensitive columns from public ones, and their quality report."""

from fusiondp.impute import gbdt, knn, tabpfn  # noqa: F401  (registers the imputers)
from fusiondp.impute.base import (
    CheckpointError,
    Imputer,
    ImputerChoice,
    ImputerLimitError,
    available_imputers,
    choose_imputer,
    register_imputer,
)
from fusiondp.impute.columnwise import MISSING_STATE, ColumnSelection, Decision
from fusiondp.impute.quality import QualityReport, format_quality_lines, quality_report, split_support

__all__ = [
    "MISSING_STATE",
    "CheckpointError",
    "ColumnSelection",
    "Decision",
    "Imputer",
    "ImputerChoice",
    "ImputerLimitError",
    "QualityReport",
    "available_imputers",
    "choose_imputer",
    "format_quality_lines",
    "quality_report",
    "register_imputer",
    "split_support",
]
