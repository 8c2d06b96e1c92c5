"""The TabPFN imputer: a tabular foundation model predicts each sensitive column.

Weights are never downloaded here. They are looked up, in order, at the explicit
``classifier_path`` / ``regressor_path``, in ``model_dir``, in ``$TABPFN_MODEL_CACHE_DIR``
and in TabPFN's own cache directory; when none is found, ``ImputerUnavailable`` says
where to put them, and ``imputer="auto"`` falls back to the offline imputer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fusiondp.errors import ImputerUnavailable
from fusiondp.impute.base import register_imputer
from fusiondp.impute.gbdt import PublicFeatureCoder
from fusiondp.spec import TableSpec

CHECKPOINT_PATTERNS = {"classifier": "tabpfn-v2*-classifier*.ckpt", "regressor": "tabpfn-v2*-regressor*.ckpt"}
PREDICT_BATCH_ROWS = 1024


def _default_model_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("TABPFN_MODEL_CACHE_DIR", "").strip():
        dirs.append(Path(os.environ["TABPFN_MODEL_CACHE_DIR"]))
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    dirs.append(Path(xdg) / "tabpfn" if xdg else Path.home() / ".cache" / "tabpfn")
    return dirs


def find_checkpoints(params: dict[str, Any]) -> dict[str, Path]:
    """Locate a classifier and a regressor checkpoint, or raise ``ImputerUnavailable``."""
    found: dict[str, Path] = {}
    searched: list[str] = []
    for task, pattern in CHECKPOINT_PATTERNS.items():
        explicit = params.get(f"{task}_path")
        if explicit:
            if not Path(explicit).is_file():
                raise ImputerUnavailable(f"TabPFN {task} checkpoint {explicit!s} does not exist.")
            found[task] = Path(explicit)
            continue
        dirs = [Path(params["model_dir"])] if params.get("model_dir") else _default_model_dirs()
        searched.extend(str(d) for d in dirs)
        for directory in dirs:
            matches = sorted(directory.glob(pattern)) if directory.is_dir() else []
            if matches:
                found[task] = matches[0]
                break
    missing = [task for task in CHECKPOINT_PATTERNS if task not in found]
    if missing:
        where = ", ".join(dict.fromkeys(searched))
        raise ImputerUnavailable(
            f"TabPFN weights not found (no {' or '.join(missing)} checkpoint in {where}). Download "
            "tabpfn-v2-classifier.ckpt and tabpfn-v2-regressor.ckpt on a connected machine and copy them "
            "into one of those folders (or set TABPFN_MODEL_CACHE_DIR, or pass classifier_path / "
            "regressor_path)."
        )
    return found


class TabPFNImputer:
    """TabPFN v2 classifier / regressor per sensitive column, fitted on the support set."""

    name = "tabpfn"

    def __init__(self, spec: TableSpec, *, random_state: int = 0, classifier_path: str | None = None,
                 regressor_path: str | None = None, model_dir: str | None = None, n_estimators: int = 4,
                 device: str = "auto", max_support_rows: int = 10_000) -> None:
        self.spec = spec
        self.random_state = random_state
        self.classifier_path = classifier_path
        self.regressor_path = regressor_path
        self.model_dir = model_dir
        self.n_estimators = n_estimators
        self.device = device
        self.max_support_rows = max_support_rows

    def fit(self, support: pd.DataFrame) -> TabPFNImputer:
        from tabpfn import TabPFNClassifier, TabPFNRegressor

        checkpoints = find_checkpoints(
            {"classifier_path": self.classifier_path, "regressor_path": self.regressor_path,
             "model_dir": self.model_dir}
        )
        rng = np.random.default_rng(self.random_state)
        self.coder_ = PublicFeatureCoder(self.spec).fit(support)
        features = self.coder_.transform(support)
        self.models_: dict[str, Any] = {}
        for column in self.spec.sensitive:
            observed = np.flatnonzero(support[column].notna().to_numpy())
            if len(observed) > self.max_support_rows:
                observed = np.sort(rng.choice(observed, self.max_support_rows, replace=False))
            categorical = self.spec.is_categorical(column)
            target = support[column].iloc[observed]
            target = target.astype(str) if categorical else pd.to_numeric(target, errors="coerce")
            if categorical and target.nunique() == 1:
                self.models_[column] = target.iloc[0]
                continue
            estimator = (TabPFNClassifier if categorical else TabPFNRegressor)(
                model_path=str(checkpoints["classifier" if categorical else "regressor"]),
                n_estimators=self.n_estimators, device=self.device, random_state=self.random_state,
                ignore_pretraining_limits=True,
            )
            self.models_[column] = estimator.fit(features[observed], target.to_numpy())
        return self

    def transform(self, table: pd.DataFrame) -> pd.DataFrame:
        if table.empty:
            return table.assign(**dict.fromkeys(self.spec.sensitive, np.nan))
        features = self.coder_.transform(table[list(self.spec.public)])
        imputed = table.copy()
        for column, model in self.models_.items():
            if isinstance(model, str):
                imputed[column] = model
                continue
            batches = [model.predict(features[start:start + PREDICT_BATCH_ROWS])
                       for start in range(0, len(features), PREDICT_BATCH_ROWS)]
            imputed[column] = np.concatenate(batches) if batches else []
        return imputed


register_imputer("tabpfn", check_available=find_checkpoints)(TabPFNImputer)
