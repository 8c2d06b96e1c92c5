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
from fusiondp.impute.quality import QualityReport, quality_report, split_support

__all__ = [
    "CheckpointError",
    "Imputer",
    "ImputerChoice",
    "ImputerLimitError",
    "QualityReport",
    "available_imputers",
    "choose_imputer",
    "quality_report",
    "register_imputer",
    "split_support",
]
