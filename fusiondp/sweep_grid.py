"""What a sweep runs: the grid (a base ``RunConfig`` and lists of values) and its expansion into distinct tasks.

``expand`` collapses knobs that cannot change a mode's result (``ignored_fields``): a non-private mode runs once
per seed, not once per ε, and an ignored knob's cell is empty rather than repeated. Each task is keyed by a
digest of its full config (for resuming) and of the fields its preparation depends on (``PREPARE_FIELDS``),
so that the runs sharing a preparation share one. Running the tasks is ``fusiondp.sweep``.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError, validated
from fusiondp.modality import modality_names
from fusiondp.spec import TableSpec
from fusiondp.train.modes import Mode, get_mode
from fusiondp.yamlfile import read_yaml

PREPARE_FIELDS = ("data", "spec", *modality_names(), "support_source", "support_data", "support_fraction",
                  "epsilon_syn", "delta_syn", "sensitive_domains", "sensitive_bounds", "synth_bins",
                  "synth_public_bins", "synth_condition_on", "synthesizer", "synth_latent_dim", "synth_epochs",
                  "synth_accountant", "val_fraction", "test_fraction", "split_seed", "split_column", "imputer",
                  "imputer_params", "hybrid_data", "quality_holdout", "numeric_encoding", "device", "delta",
                  "reproducible_noise")
"""The config fields ``prepare`` depends on (δ through its "δ ≥ 1/N" note, as δ_syn's default, and, left to N,
resolved there: ``fusiondp.prepared.with_resolved_delta``), each modality's spec among them (its field is named like
it: ``fusiondp.modality.modality_names``)."""
LEDGER_FIELDS = ("epsilon_spent", "delta", "sigma", "sampling_rate", "steps", "accountant", "adjacency",
                 "epsilon_replace", "epsilon_total", "epsilon_total_replace", "epsilon_syn", "delta_syn", "rho_syn",
                 "reproducible_noise")
NOT_KNOBS = frozenset({"modes", "seeds", "epsilon", *LEDGER_FIELDS})


class SweepGrid(BaseModel):
    """A base ``RunConfig`` plus lists of values for some of its fields.

    ``grid`` maps a RunConfig field to the values to try; ``modes`` and ``seeds`` may be
    given there or in ``base`` (both are lists already). Every combination is one run.
    """

    model_config = ConfigDict(extra="forbid")

    base: RunConfig = Field(default_factory=RunConfig)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    audit: bool = False
    """Attack every trained model (attribute and membership inference) and add ``AUDIT_FIELDS`` to its row."""
    audit_rows: int = Field(500, ge=10)
    """Training and held-out rows attacked per model when ``audit`` is on."""

    @field_validator("base", mode="before")
    @classmethod
    def _spec_from_path(cls, value: Any) -> Any:
        """Let a grid file name its spec file (``spec: table.spec.yaml``) instead of inlining it."""
        if isinstance(value, dict) and isinstance(value.get("spec"), str):
            return {**value, "spec": TableSpec.from_yaml(value["spec"])}
        return value

    @field_validator("grid")
    @classmethod
    def _known_fields(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        fields = set(RunConfig.model_fields)
        for name, values in value.items():
            if name not in fields:
                close = difflib.get_close_matches(name, sorted(fields), n=3, cutoff=0.6)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise ValueError(f"{name!r} is not a RunConfig setting{hint}")
            if not isinstance(values, list) or not values:
                raise ValueError(f"{name!r} needs a non-empty list of values, e.g. {name}: [1, 2]")
        return value

    @classmethod
    def from_dict(cls, raw: Any, *, source: str = "sweep grid") -> SweepGrid:
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: expected a mapping with 'base:' (a run config) and 'grid:' (lists).")
        return validated(cls, raw, source, ConfigError)

    @classmethod
    def from_yaml(cls, path: str | Path) -> SweepGrid:
        """Read a grid file; relative data/spec paths are taken from the current folder, as in ``run``."""
        raw = read_yaml(path, "Sweep grid file", ConfigError)
        return cls.from_dict(raw, source=f"sweep grid {str(path)!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict(), "grid": self.grid, "audit": self.audit, "audit_rows": self.audit_rows}


@dataclasses.dataclass(frozen=True)
class SweepTask:
    """One run of a sweep: a single-mode, single-seed ``RunConfig`` and the knob values it stands for."""

    config: RunConfig
    knobs: dict[str, Any]
    """Swept fields (except modes/seeds/ε) → value, ``None`` where the mode ignores the field."""
    key: str
    """Digest of the full config: the identity used by ``resume``."""
    prepare_key: str
    """Digest of ``PREPARE_FIELDS``: runs with the same one share imputation and encoding."""

    @property
    def mode(self) -> str:
        return self.config.modes[0]

    @property
    def seed(self) -> int:
        return self.config.seeds[0]

    @property
    def epsilon(self) -> float | None:
        return self.config.epsilon if get_mode(self.mode).is_private else None


ALPHA_ZERO_IGNORED = frozenset({"accountant", "max_grad_norm", "noise_level", "beta", "rep_clip"})
"""What a run with a public term and α = 0 ignores: the loop adds α × the noised private term, so
the clip norm, β, C_h and the noise (σ from ε and the accountant) cannot move the model. ε stays an
axis all the same: such a run is a candidate at every ε, and its ledger is true (if vacuous) there."""


def ignored_fields(mode: Mode, alpha: float | None = None) -> frozenset[str]:
    """RunConfig fields that cannot change ``mode``'s result at this ``alpha`` (read off the training loop)."""
    ignored: set[str] = set()
    if not mode.is_private:
        ignored |= {"epsilon", "accountant", "max_grad_norm", "noise_level", "alpha", "beta", "rep_clip",
                    "public_batch_size"}
    if mode.public_view is None:
        ignored |= {"alpha", "public_batch_size"}
    if mode.private_loss != "calibrated":
        ignored |= {"beta", "rep_clip"}
    if mode.is_private and mode.public_view is not None and alpha == 0:
        ignored |= ALPHA_ZERO_IGNORED
    return frozenset(ignored)


def config_digest(payload: Any) -> str:
    """A short key of ``payload`` (a config's dict): equal payloads, equal keys, across processes and runs."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _default(name: str) -> Any:
    return RunConfig.model_fields[name].get_default(call_default_factory=True)


def expand(grid: SweepGrid) -> list[SweepTask]:
    """Every distinct run of ``grid``, in grid order, with ignored knobs collapsed."""
    base = grid.base.to_dict()
    modes = RunConfig.build(modes=grid.grid["modes"]).modes if "modes" in grid.grid else grid.base.modes
    seeds = grid.grid.get("seeds", grid.base.seeds)
    axes = {name: values for name, values in grid.grid.items() if name not in ("modes", "seeds")}
    tasks: dict[str, SweepTask] = {}
    for mode_name in modes:
        for combo in itertools.product(*axes.values()):
            values = dict(zip(axes, combo, strict=True))
            ignored = ignored_fields(get_mode(mode_name), values.get("alpha", grid.base.alpha))
            overrides = {k: (_default(k) if k in ignored else v) for k, v in values.items()}
            knobs = {k: (None if k in ignored else v) for k, v in values.items() if k not in NOT_KNOBS}
            for seed in seeds:
                try:
                    config = RunConfig.build(**{**base, **overrides, "modes": [mode_name], "seeds": [seed]})
                except ConfigError as exc:
                    raise ConfigError(f"Grid point {values} ({mode_name}, seed {seed}): {exc}") from exc
                resolved = config.to_dict()
                key = config_digest(resolved)
                if key not in tasks:
                    tasks[key] = SweepTask(config, knobs, key, config_digest({f: resolved[f] for f in PREPARE_FIELDS}))
    return list(tasks.values())
