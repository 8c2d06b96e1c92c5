"""``RunConfig``: every knob of a run with its default, shared by the CLI, app and notebooks.

Saved as YAML next to the results; ``fusiondp run --config that.yaml`` reproduces the
run exactly (same seeds → same metrics).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fusiondp.errors import ConfigError, describe_validation_error
from fusiondp.spec import TableSpec
from fusiondp.train.loop import TrainSettings
from fusiondp.train.modes import ALL_MODES, get_mode


class RunConfig(BaseModel):
    """A complete, reproducible description of one experiment (modes × seeds on one table)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    data: str | None = Field(None, description="Path of the table (CSV, Parquet, Excel).")
    spec: TableSpec | None = Field(None, description="Column roles; see TableSpec.")
    support_data: str | None = Field(None, description="Separate public table used as the support set.")
    support_fraction: float = Field(0.1, ge=0, lt=1, description="Share of the table declared public support.")
    val_fraction: float = Field(0.1, ge=0, lt=1)
    test_fraction: float = Field(0.2, ge=0, lt=1, description="Share of real rows held out to score the model.")
    split_seed: int = Field(0, description="Seed of the support/train/val/test split.")
    imputer: str = Field(
        "auto", description="'auto' (TabPFN if its weights are present, else gbdt), 'gbdt', 'knn', 'tabpfn'."
    )
    imputer_params: dict[str, Any] = Field(default_factory=dict)
    quality_holdout: float = Field(0.2, gt=0, lt=1, description="Share of support rows held out to score the imputer.")
    modes: list[str] = Field(default_factory=lambda: ["fusiondp"])
    seeds: list[int] = Field(default_factory=lambda: [0])
    epsilon: float = Field(1.0, description="Target ε for the DP modes.")
    delta: float = Field(1e-5, description="Target δ; should be below 1/N.")
    accountant: Literal["rdp", "prv", "pld"] = "rdp"
    epochs: int = Field(13, ge=1)
    batch_size: int = Field(128, ge=1, description="Expected Poisson batch size B (q = B/N).")
    public_batch_size: int = Field(4096, ge=1, description="Hybrid rows per public-gradient step.")
    lr: float = Field(0.05, gt=0)
    alpha: float = Field(3.0, ge=0, description="Weight of the private correction.")
    beta: float = Field(0.5, ge=0, description="Weight of the representation-consistency term.")
    max_grad_norm: float = Field(1.8, gt=0, description="Per-sample clip norm C.")
    rep_clip: float | None = Field(None, gt=0, description="C_h; default: from the support set.")
    param_bound: float | None = Field(10.0, gt=0, description="Project each parameter tensor to norm ≤ M.")
    hidden: list[int] = Field(default_factory=lambda: [64, 32])
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu' or 'cuda'.")
    threads: int | None = Field(
        1, ge=1, description="CPU threads for training; small MLPs run fastest on one (None: torch's default)."
    )

    @field_validator("modes", mode="before")
    @classmethod
    def _expand_modes(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [m.strip() for m in value.split(",") if m.strip()]
        if isinstance(value, list) and "all" in value:
            return list(ALL_MODES)
        return value

    @field_validator("modes")
    @classmethod
    def _known_modes(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one mode is needed")
        for name in value:
            get_mode(name)
        return list(dict.fromkeys(value))

    @field_validator("seeds")
    @classmethod
    def _some_seeds(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("at least one seed is needed")
        return value

    @field_validator("epsilon")
    @classmethod
    def _finite_positive_epsilon(cls, value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"ε must be a positive finite number (got {value}); typical values are 0.5 to 8")
        return value

    @field_validator("delta")
    @classmethod
    def _delta_in_range(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError(f"δ must be in (0, 1) (got {value}); the usual choice is 1e-5 or below 1/N")
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value not in ("auto", "cpu") and not value.startswith("cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda' (got {value!r})")
        return value

    @model_validator(mode="after")
    def _fractions_leave_training_rows(self) -> RunConfig:
        total = self.val_fraction + self.test_fraction + (0 if self.support_data else self.support_fraction)
        if total >= 0.9:
            raise ValueError(f"support + val + test fractions add up to {total:.2f}; keep them below 0.9")
        return self

    def train_settings(self) -> TrainSettings:
        return TrainSettings(
            epochs=self.epochs, batch_size=self.batch_size, public_batch_size=self.public_batch_size, lr=self.lr,
            alpha=self.alpha, beta=self.beta, max_grad_norm=self.max_grad_norm, rep_clip=self.rep_clip,
            param_bound=self.param_bound, hidden=tuple(self.hidden),
        )

    @classmethod
    def build(cls, **values: Any) -> RunConfig:
        """Validate ``values``, turning pydantic's errors into one readable ``ConfigError``."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, "run configuration")) from exc

    @classmethod
    def from_yaml(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Config file {str(path)!r} does not exist.")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Config file {str(path)!r} is not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"Config file {str(path)!r} must hold a mapping of settings.")
        return cls.build(**raw)

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if self.spec is not None:
            data["spec"] = self.spec.to_dict()
        return data

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")

