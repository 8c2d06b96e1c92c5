"""The run record: one stable, versioned schema for every front-end (DESIGN.md).

A record holds one trained model's metrics, privacy ledger, imputer, timing and history.
``summarize`` folds records over seeds into the per-mode table the CLI prints.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fusiondp.metrics import summary_metrics

SCHEMA_VERSION = 1


@dataclass
class PrivacyLedger:
    """What a run spent, in the terms a DP reader expects (METHOD.md §4)."""

    epsilon_target: float | None
    epsilon_spent: float | None
    delta: float | None
    sigma: float | None
    sampling_rate: float | None
    steps: int
    max_grad_norm: float | None
    """The clip norm C the model was trained with (``TrainSettings.clip_norm``: max(max_grad_norm, noise_level / σ),
    or max_grad_norm where noise_level is None)."""
    accountant: str | None
    adjacency: str
    epsilon_replace: float | None = None
    epsilon_syn: float | None = None
    rep_clip: float | None = None
    notes: list[str] = field(default_factory=list)
    statement: str | None = None
    """Plain-language reading of this ledger (fusiondp.privacy.statement)."""
    delta_syn: float | None = None
    rho_syn: float | None = None
    """The marginal synthesizer's zCDP parameter (its (ε_syn, δ_syn) is a conversion of it); ``None`` for two_stage."""
    epsilon_total: float | None = None
    """ε of training and the DP-synthetic support together; ``None`` without a synthetic support set."""
    epsilon_total_replace: float | None = None
    """``epsilon_total`` under replace-one of one row's sensitive values: the relation on which every mode's total
    can be compared (feature_dp's and fusiondp's own totals read removal to missing, dpsgd's whole rows)."""
    delta_total: float | None = None
    composition: str | None = None
    """How ``epsilon_total`` was composed (basic, RDP or PLD); added in schema 1 with defaults: old records load."""
    synth_mechanism: str | None = None
    """How the DP-synthetic support set spent ε_syn, in a phrase (e.g. the zCDP marginals or the DP-SGD stages)."""
    relation: str | None = None
    """The accounting relation of ``epsilon_spent``: ``remove`` (sensitivity C) or ``replace`` (2C); ``None`` for a
    mode without noise."""
    sampling_group: str | None = None
    """An opaque id shared by the models that saw the same Poisson samples (one lockstep training), so that
    ``fusiondp.privacy.joint`` can account their joint release; unrelated to any random draw."""
    reproducible_noise: bool = False
    """The sampling and noise were derived from the seed (``RunConfig.reproducible_noise``): no guarantee holds."""


@dataclass
class RunRecord:
    mode: str
    seed: int
    config: dict[str, Any]
    metrics: dict[str, float]
    privacy: PrivacyLedger
    imputer: dict[str, Any]
    timing: dict[str, Any]
    history: list[dict[str, Any]]
    data: dict[str, Any]
    cancelled: bool = False
    schema_version: int = SCHEMA_VERSION
    lr_schedule: str | None = None
    """The learning-rate schedule the mode trained with: ``config``'s ``lr_schedule`` with ``auto`` resolved for this
    mode (``TrainSettings.schedule_for``); added in schema 1 with a default, so older records load."""
    epochs: int | None = None
    """The epochs the mode trained for: ``config``'s ``epochs`` with ``auto`` resolved for this mode
    (``TrainSettings.epochs_for``); added in schema 1 with a default (older records: ``config["epochs"]``)."""

    @property
    def trained_epochs(self) -> int:
        """The epochs this model trained for, from a record of any age."""
        return self.epochs if self.epochs is not None else int(self.config["epochs"])

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(asdict(self))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunRecord:
        """Read a record written by this or an older schema version."""
        values = dict(raw)
        values["privacy"] = PrivacyLedger(**values["privacy"])
        values.setdefault("cancelled", False)
        values["schema_version"] = values.get("schema_version", SCHEMA_VERSION)
        return cls(**values)


def _json_safe(value: Any) -> Any:
    """NaN and infinities become ``None`` so the JSON is standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def summarize(records: list[RunRecord]) -> pd.DataFrame:
    """One row per mode and target ε: metrics as mean and sd over seeds, the ledger, imputer and time.

    The metrics are the target kind's ``fusiondp.metrics.SUMMARY_METRICS`` (binary: AUROC, AUPRC, accuracy, F1).
    """
    rows = []
    metrics = summary_metrics({name for r in records for name in r.metrics})
    for mode, epsilon in dict.fromkeys((r.mode, r.privacy.epsilon_target) for r in records):
        group = [r for r in records if r.mode == mode and r.privacy.epsilon_target == epsilon]
        first = group[0]
        row: dict[str, Any] = {"mode": mode, "epsilon": epsilon, "seeds": len(group)}
        for metric in metrics:
            values = np.array([r.metrics.get(metric, np.nan) for r in group], dtype=float)
            row[f"{metric}_mean"] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
            row[f"{metric}_sd"] = float(np.nanstd(values, ddof=1)) if np.isfinite(values).sum() > 1 else 0.0
        spent = [r.privacy.epsilon_spent for r in group]
        row["epsilon_spent"] = None if any(s is None for s in spent) else float(np.max(spent))
        totals = [r.privacy.epsilon_total for r in group]
        row["epsilon_total"] = None if any(t is None for t in totals) else float(np.max(totals))
        replace_totals = [r.privacy.epsilon_total_replace for r in group]
        row["epsilon_total_replace"] = (None if any(t is None for t in replace_totals)
                                        else float(np.max(replace_totals)))
        for key in ("delta", "sigma", "sampling_rate", "steps", "accountant", "adjacency", "epsilon_replace",
                    "epsilon_syn"):
            row[key] = getattr(first.privacy, key)
        row["imputer"] = first.imputer.get("name")
        row["wall_time_s"] = float(np.mean([r.timing["wall_time_s"] for r in group]))
        rows.append(row)
    return pd.DataFrame(rows)


def write_json_atomic(path: str | Path, payload: Any) -> None:
    """Write JSON to a temporary file beside ``path`` and rename it, so no partial file is left."""
    write_text_atomic(path, json.dumps(_json_safe(payload), indent=2, allow_nan=False))


def write_text_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
