"""The TabPFN imputer: a tabular foundation model predicts each sensitive column.

Weights are never downloaded here (hospital machines are often offline, and TabPFN's own
download path retries for ~25 s before failing). They are looked up, in order, at the
explicit ``classifier_path`` / ``regressor_path``, in ``model_dir``, in
``$TABPFN_MODEL_CACHE_DIR`` and in TabPFN's own cache directory. A file that is found is
loaded once through TabPFN's own loader before it is accepted, so a stray or wrong-task file
is an ``ImputerUnavailable`` with a readable reason (``imputer="auto"`` then falls back)
rather than a traceback in the middle of a run.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from fusiondp.errors import ConfigError, ImputerUnavailable
from fusiondp.impute.base import CheckpointError, ImputerLimitError, register_imputer
from fusiondp.impute.columnwise import DEFAULT_CV_FOLDS, ColumnwiseImputer
from fusiondp.impute.gbdt import PublicFeatureCoder
from fusiondp.spec import TableSpec

Task = Literal["classifier", "regressor"]
CHECKPOINT_PATTERNS: dict[Task, str] = {
    "classifier": "tabpfn-v2*-classifier*.ckpt",
    "regressor": "tabpfn-v2*-regressor*.ckpt",
}
DOWNLOADS: dict[Task, str] = {
    "classifier": "https://huggingface.co/Prior-Labs/TabPFN-v2-clf/resolve/main/"
                  "tabpfn-v2-classifier-finetuned-zk73skhh.ckpt",
    "regressor": "https://huggingface.co/Prior-Labs/TabPFN-v2-reg/resolve/main/tabpfn-v2-regressor.ckpt",
}
PREDICT_BATCH_ROWS = 1024
"""Query rows per ``predict`` call: bounds the attention memory whatever the table size."""
MAX_SUPPORT_ROWS = 10_000
"""TabPFN v2 was pre-trained on at most 10,000 rows; larger support sets are subsampled."""
MAX_PUBLIC_FEATURES = 500
"""TabPFN v2's feature limit."""


def _default_model_dirs() -> list[Path]:
    """``$TABPFN_MODEL_CACHE_DIR``, then TabPFN's default cache (``$XDG_CACHE_HOME/tabpfn`` or ``~/.cache/tabpfn``).

    Mirrors ``tabpfn.model_loading.get_cache_dir`` on Linux without importing tabpfn,
    which takes seconds and is not needed to answer "are the weights here?".
    """
    dirs = []
    if os.environ.get("TABPFN_MODEL_CACHE_DIR", "").strip():
        dirs.append(Path(os.environ["TABPFN_MODEL_CACHE_DIR"]))
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    dirs.append(Path(xdg) / "tabpfn" if xdg else Path.home() / ".cache" / "tabpfn")
    return dirs


@functools.lru_cache(maxsize=16)
def _checkpoint_problem(path: str, identity: tuple[int, int], task: Task) -> str | None:
    """Why TabPFN cannot build a ``task`` model from ``path``, or ``None`` if it can.

    Cached on the file's (mtime, size), so each file is loaded once per process however
    often the imputer is chosen.
    """
    from tabpfn.checkpoint import Checkpoint
    from tabpfn.model_loading import load_model

    try:
        content = Checkpoint(path).load()
    except Exception as exc:  # any failure to unpickle means "not a checkpoint"; the reason goes in the message
        return (f"{path} is not a TabPFN checkpoint: it cannot be read as a torch-saved file "
                f"({type(exc).__name__}: {exc}).")
    if not isinstance(content, dict) or not {"state_dict", "config"} <= set(content):
        return (f"{path} is not a TabPFN checkpoint: it lacks the 'state_dict' and 'config' entries that "
                "TabPFN's checkpoints hold.")
    try:
        load_model(path=Path(path), estimator_type=task)
    except Exception as exc:  # TabPFN's own loader is the judge; its message names the mismatch
        kind = "categorical columns (classifier)" if task == "classifier" else "numeric columns (regressor)"
        return f"{path} cannot serve as the TabPFN model for {kind}: {exc}"
    return None


def validate_checkpoint(path: Path, task: Task) -> None:
    """Raise ``CheckpointError`` unless TabPFN can load ``path`` as a ``task`` model."""
    stat = path.stat()
    problem = _checkpoint_problem(str(path.resolve()), (stat.st_mtime_ns, stat.st_size), task)
    if problem is not None:
        raise CheckpointError(problem)


def find_checkpoints(params: dict[str, Any]) -> dict[Task, Path]:
    """Locate and validate a classifier and a regressor checkpoint, or raise ``ImputerUnavailable``."""
    found: dict[Task, Path] = {}
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
        names = " and ".join(f"a file named like {CHECKPOINT_PATTERNS[t]} (TabPFN's default: {DOWNLOADS[t]})"
                             for t in missing)
        raise ImputerUnavailable(
            f"TabPFN weights not found: no {' or '.join(missing)} checkpoint in {where}. On a connected machine "
            f"download {names}, and copy the file(s) into one of those folders, or set TABPFN_MODEL_CACHE_DIR, or "
            "pass classifier_path / regressor_path. The weights are licensed separately from the tabpfn code."
        )
    for task, path in found.items():
        validate_checkpoint(path, task)
    return found


def write_random_checkpoint(path: str | Path, task: Task, *, emsize: int = 32, nlayers: int = 2, nhead: int = 2,
                            num_buckets: int = 100, seed: int = 0) -> Path:
    """Save a randomly initialised TabPFN v2 checkpoint of ``task`` at ``path``.

    Random weights impute nonsense; the file exists so that tests and benchmarks run the
    real TabPFN loading and inference code without network or licensed weights. TabPFN
    reads the model version from the file name, so ``path`` should look like
    ``tabpfn-v2-classifier-tiny.ckpt`` (no "v2.5", "v2.6" or "v3").
    """
    import dataclasses

    import torch
    from tabpfn.architectures import tabpfn_v2
    from tabpfn.architectures.shared.bar_distribution import FullSupportBarDistribution

    regressor = task == "regressor"
    # A regressor needs max_num_classes=0 (the default -1 would still select the
    # classification path) and a bar distribution whose borders are saved as criterion state.
    config, _ = tabpfn_v2.parse_config({"emsize": emsize, "nlayers": nlayers, "nhead": nhead,
                                        "max_num_classes": 0 if regressor else 10,
                                        "num_buckets": num_buckets if regressor else -1})
    torch.manual_seed(seed)
    state = tabpfn_v2.get_architecture(config).state_dict()
    if regressor:
        borders = torch.linspace(-5.0, 5.0, num_buckets + 1)
        state.update({f"criterion.{k}": v for k, v in FullSupportBarDistribution(borders).state_dict().items()})
    path = Path(path)
    torch.save({"state_dict": state, "config": dataclasses.asdict(config), "architecture_name": "tabpfn_v2"}, path)
    return path


class TabPFNImputer(ColumnwiseImputer):
    """TabPFN v2 classifier / regressor per sensitive column, fitted on the support set.

    Categorical columns: a classifier of the states ("missing" included when the support set has missing
    values); numeric columns: a missing-vs-present classifier when needed, and a regressor on the rows
    where the value is present. Per column, the model or the baseline, whichever wins a ``cv_folds``-fold
    cross-validation on the support set (see ``fusiondp.impute.columnwise``).

    ``device="auto"`` uses CUDA when available. After ``fit``, ``notes_`` says which device
    ran and whether the support set was subsampled (for the imputation report), and
    ``support_rows_`` holds the support positions each column's model was fitted on.
    ``fit_mode="fit_with_cache"`` (TabPFN's option) keeps the support set's attention keys
    and values after ``fit``, so the batched predictions do not recompute them: measured 2×
    faster on CPU for 2,048 query rows in two batches.
    """

    name = "tabpfn"
    parallel_safe = False  # a worker process per task would load the network (and the GPU) again

    def __init__(self, spec: TableSpec, *, random_state: int = 0, classifier_path: str | None = None,
                 regressor_path: str | None = None, model_dir: str | None = None, n_estimators: int = 4,
                 device: str = "auto", max_support_rows: int = MAX_SUPPORT_ROWS,
                 fit_mode: str = "fit_with_cache", cv_folds: int = DEFAULT_CV_FOLDS) -> None:
        super().__init__(spec, random_state=random_state, cv_folds=cv_folds, max_support_rows=max_support_rows)
        self.classifier_path = classifier_path
        self.regressor_path = regressor_path
        self.model_dir = model_dir
        self.n_estimators = n_estimators
        self.device = device
        self.fit_mode = fit_mode

    def _begin_fit(self, support: pd.DataFrame) -> np.ndarray:
        self.checkpoints_ = find_checkpoints(
            {"classifier_path": self.classifier_path, "regressor_path": self.regressor_path,
             "model_dir": self.model_dir}
        )
        self.coder_ = PublicFeatureCoder(self.spec).fit(support)
        features = self.coder_.transform(support)
        if features.shape[1] > MAX_PUBLIC_FEATURES:
            raise ImputerLimitError(f"TabPFN supports at most {MAX_PUBLIC_FEATURES} public columns; this table has "
                                    f"{features.shape[1]}. Use imputer 'gbdt' or 'knn', or ignore some columns.")
        self.device_ = self._resolve_device()
        self.notes_.append(f"TabPFN ran on {self.device_} with n_estimators={self.n_estimators}.")
        return features

    def _features(self, table: pd.DataFrame) -> np.ndarray:
        return self.coder_.transform(table)

    def _make_model(self, categorical: bool, target: np.ndarray) -> Any:
        from tabpfn import TabPFNClassifier, TabPFNRegressor

        indices = [i for i, column in enumerate(self.spec.public) if column in self.coder_.levels]
        return (TabPFNClassifier if categorical else TabPFNRegressor)(
            model_path=str(self.checkpoints_["classifier" if categorical else "regressor"]),
            n_estimators=self.n_estimators, device=self.device_, random_state=self.random_state,
            ignore_pretraining_limits=True, categorical_features_indices=indices or None, fit_mode=self.fit_mode,
        )

    def _fit_model(self, model: Any, column: str, features: np.ndarray, target: np.ndarray) -> Any:
        from tabpfn.errors import TabPFNUserError

        try:
            return model.fit(features, target)
        except TabPFNUserError as exc:  # e.g. more classes than TabPFN supports: fixable by the user
            raise ImputerLimitError(f"TabPFN cannot impute sensitive column {column!r}: {exc} Merge rare "
                                    "categories, or use imputer 'gbdt' or 'knn'.") from exc

    def _predict(self, model: Any, features: np.ndarray, method: str = "predict") -> np.ndarray:
        """Predict in batches of ``PREDICT_BATCH_ROWS`` query rows, which bounds the attention memory."""
        batches = [getattr(model, method)(features[start:start + PREDICT_BATCH_ROWS])
                   for start in range(0, len(features), PREDICT_BATCH_ROWS)]
        return np.concatenate(batches)

    def _resolve_device(self) -> str:
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"TabPFN device {self.device!r} was requested but no CUDA GPU is available; "
                              "use device 'auto' or 'cpu'.")
        return self.device


register_imputer("tabpfn", check_available=find_checkpoints)(TabPFNImputer)
