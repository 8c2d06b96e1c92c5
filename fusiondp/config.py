"""``RunConfig``: every knob of a run with its default, shared by the CLI, app and notebooks.

Saved as YAML next to the results; ``fusiondp run --config that.yaml`` reruns it with the same
settings and seeds: the same splits, imputation, initialisation and public batches, but fresh secret
DP noise, so the DP models differ by their noise (exactly the same records only with
``reproducible_noise``, which voids the guarantee: ``fusiondp.privacy.randomness``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator, model_validator

from fusiondp.errors import ConfigError, validated
from fusiondp.modality import ModalitySpec, modality, modality_names
from fusiondp.privacy.accounting import check_epsilon
from fusiondp.spec import TableSpec
from fusiondp.train.modes import ALL_MODES, get_mode
from fusiondp.train.settings import NOISE_LEVEL, LrSchedule, TrainSettings, protocol_in_words
from fusiondp.yamlfile import read_yaml

if TYPE_CHECKING:
    from fusiondp.synth import SynthSettings


FILE_FIELDS = ("data", "support_data", "hybrid_data")
"""The settings that name a file."""


def beside_config(value: str, folder: Path) -> str:
    """A config file's relative path as written when it exists from the working folder, else the file of that name
    in the config's own ``folder`` when that one exists: "put the table next to config.yaml" then holds wherever
    the command runs. A path found in neither place is kept as written, so that the error names it."""
    written = Path(value)
    if written.is_absolute() or written.exists() or not (folder / written).exists():
        return value
    return str(folder / written)


class _Data(BaseModel):
    """The first settings of a ``RunConfig``: the table and its roles."""

    data: str | None = Field(None, description="Path of the table (CSV, Parquet, Excel).")
    spec: TableSpec | None = Field(None, description="Column roles; see TableSpec.")


_DataAndModalities = create_model(
    "_DataAndModalities", __base__=_Data, __module__=__name__,
    **{name: (ModalitySpec | None, Field(None, description=f"The spec of the {name} modality (fusiondp/{name}/) "
                                         "instead of a table's column roles; replaces spec."))
       for name in modality_names()},
)
"""``_Data`` and one field per modality, after ``spec``: each package ``fusiondp.modality.modality_names()`` finds
(today ``text``, the notes) gives ``RunConfig`` a field named like it, holding its spec (``ModalitySpec``, validated
by the modality's ``spec`` hook: ``RunConfig._modality_spec``). The fields are made here, from the packages, so that
a new modality needs no edit of this module; in a class between ``_Data`` and ``RunConfig`` so that a saved config
keeps them where they were written by hand (``data``, ``spec``, ``text``, ``support_source``, …)."""


def _whole(value: float | str) -> bool:
    """Whether ``value`` reads as a whole number (``26``, ``26.0``, ``"26"``), as a file or a flag may give it."""
    try:
        number = float(value)
    except ValueError:
        return False
    return math.isfinite(number) and number == int(number)


OWN = protocol_in_words()
"""The fair protocol's per-mode choices in words, for the descriptions of the ``auto`` knobs."""


class RunConfig(_DataAndModalities):
    """A complete, reproducible description of one experiment (modes × seeds on one table).

    Its first fields are ``data`` and ``spec`` (``_Data``), then one per modality (``_DataAndModalities``: today
    ``text``, notes instead of columns: a ``fusiondp.text.TextSpec`` with the text column, target and sensitive span
    types), then those below."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    support_source: Literal["fraction", "table", "dp_synthetic"] = Field(
        "fraction", description="'fraction' (a public share of the table), 'table' (support_data) or 'dp_synthetic' "
        "(synthesised from the private training rows under epsilon_syn). Default: 'table' when support_data is set.",
    )
    support_data: str | None = Field(None, description="Separate public table used as the support set.")
    support_fraction: float = Field(0.1, ge=0, lt=1, description="Share of the table declared public support "
                                    "(not used with split_column).")
    epsilon_syn: float = Field(1.0, description="ε of the DP-synthetic support set, spent on top of the training ε.")
    delta_syn: float | None = Field(
        None, description="δ of the DP-synthetic support set (default: δ); the total δ is δ + δ_syn."
    )
    sensitive_domains: dict[str, list[str | int | float | bool]] = Field(
        default_factory=dict, description="Declared categories of each categorical sensitive column (dp_synthetic)."
    )
    sensitive_bounds: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="Declared [low, high] of each numeric sensitive column (dp_synthetic)."
    )
    synth_bins: int = Field(10, ge=2, le=100, description="Equal-width bins of a numeric sensitive column.")
    synth_public_bins: int = Field(4, ge=2, le=20, description="Quantile bins of a public conditioning column.")
    synth_condition_on: list[str] | None = Field(
        None, description="Public columns (1 to 3) every synthetic sensitive column is conditioned on (default: 2 per "
        "sensitive column, selected under DP with 10% of ε_syn's budget)."
    )
    synthesizer: Literal["marginal", "two_stage"] = Field(
        "marginal", description="DP-synthetic support: 'marginal' (noisy conditional tables) or 'two_stage' (a DP-SGD "
        "autoencoder with a noisy latent mixture, then a latent diffusion model trained on those DP outputs only)."
    )
    synth_latent_dim: int = Field(4, ge=1, le=32, description="Latent width of the two-stage synthesizer.")
    synth_epochs: int = Field(20, ge=1, le=500, description="DP-SGD epochs of the two-stage synthesizer's stage 1.")
    synth_accountant: Literal["pld", "prv", "rdp"] = Field(
        "pld", description="Accountant calibrating the two-stage synthesizer under the replace relation ('pld' exact; "
        "'prv' and 'rdp' via group privacy, conservative)."
    )
    val_fraction: float = Field(0.1, ge=0, lt=1, description="Share of rows held out for validation (not used with "
                                "split_column).")
    test_fraction: float = Field(0.2, ge=0, lt=1, description="Share of real rows held out to score the model (not "
                                 "used with split_column).")
    split_seed: int = Field(0, description="Seed of the support/train/val/test split (not used for splitting with "
                            "split_column; it still seeds the imputer and its cross-validation folds).")
    split_column: str | None = Field(
        None, description="Column whose values (train, val, test, support; any case) assign each row to a part, "
        "instead of the fractions and split_seed. Never a feature. 'support' rows are public and not trained on "
        "(support_source 'fraction'); they are refused with a separate support table or a DP-synthetic support set.",
    )
    imputer: str = Field(
        "auto", description="'auto' (TabPFN if its weights are present, else gbdt), 'gbdt', 'knn', 'tabpfn'."
    )
    imputer_params: dict[str, Any] = Field(default_factory=dict)
    hybrid_data: str | None = Field(
        None, description="Path of a precomputed imputed copy of the table (same rows and order, same public "
        "columns and target, imputations in the sensitive columns), used as the hybrid view instead of the "
        "built-in imputer's. Its provenance is the user's statement: computed from public columns only, with a "
        "public support set. Needs support rows from the table (support_source 'fraction').",
    )
    quality_holdout: float = Field(0.2, gt=0, lt=1, description="Not read any more: the imputer is scored on its "
                                   "cross-fitted support rows. Accepted so that older config files load.")
    modes: list[str] = Field(default_factory=lambda: ["fusiondp"])
    seeds: list[int] = Field(default_factory=lambda: [0])
    epsilon: float = Field(1.0, description="Target ε for the DP modes.")
    delta: float | None = Field(None, description="Target δ; should be below 1/N. None: chosen from the table's N "
                                "when the data is prepared (fusiondp.privacy.accounting.default_delta: 1e-5 while "
                                "it is below 1/N, else 1/(10·N)), and written back here.")
    accountant: Literal["rdp", "prv", "pld"] = "rdp"
    epochs: int | Literal["auto"] = Field("auto", description=(
        "Passes over the private training rows (T = ceil(epochs / q) steps, so σ grows with them). 'auto': each mode "
        f"at the count the fair protocol chose for it on the suite's validation rows ({OWN['epochs']}); a number: "
        "that count for every mode."))
    batch_size: int = Field(128, ge=1, description="Expected Poisson batch size B (q = B/N).")
    public_batch_size: int = Field(512, ge=1, description="Reference-view rows per public-gradient step (every "
                                   "row when the private rows are fewer).")
    lr: float = Field(0.05, gt=0)
    lr_schedule: LrSchedule = Field(
        "auto", description="How the learning rate moves over the steps: 'constant', 'cosine' (from lr down to 0 by "
        "the last step, so the last steps' noise moves the weights less), or 'auto': each mode at the schedule the "
        f"fair protocol chose for it on the suite's validation rows ({OWN['lr_schedule']}). A function of the step "
        "count only: the privacy guarantee is the same.")
    alpha: float = Field(1.0, ge=0, description=(
        "Weight of the private correction. 1 makes public term + correction an unbiased estimate of the real-row "
        "gradient; the reference code's 3 triples the noise (chosen on the suite's validation rows: "
        "benchmarks/bench_defaults.py)."))
    beta: float = Field(0.0, ge=0, description="Weight of the representation-consistency term.")
    max_grad_norm: float = Field(1.8, gt=0, description=(
        "Per-sample clip norm C: the smallest C when noise_level is set, the C at every ε when it is not."))
    noise_level: float | Literal["auto"] | None = Field("auto", description=(
        "Lets C follow the noise multiplier σ: C = max(max_grad_norm, noise_level / σ), so where ε is large enough "
        "that σ·max_grad_norm falls below it, clipping loosens and the noise per step stays at noise_level. "
        "'auto': each mode at the level the fair protocol chose for it on the suite's validation rows at the numeric "
        f"encoding it reads ({OWN['noise_level']} at their own encodings; a mode or encoding not measured: "
        f"{NOISE_LEVEL:g}); null: C = max_grad_norm at every ε."))
    rep_clip: float | None = Field(None, gt=0, description="C_h; default: from the support set.")
    param_bound: float | None = Field(10.0, gt=0, description="Project each parameter tensor to norm ≤ M.")
    numeric_encoding: Literal["auto", "standard", "quantile"] = Field(
        "auto", description="How numeric columns are scaled, fitted on the support set: 'standard' (z-scores), "
        "'quantile' (normal scores of the support rows' distribution: the same spread for every column, and the same "
        "encoding for a column or any increasing transform of it, e.g. its log), or 'auto': each mode at the encoding "
        f"the fair protocol chose for it on the suite's validation rows ({OWN['numeric_encoding']}; the table is "
        "imputed once and encoded both ways).")
    hidden: list[int] = Field(default_factory=lambda: [64, 32])
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu' or 'cuda'.")
    threads: int | None = Field(
        1, ge=1, description="CPU threads for training; small MLPs run fastest on one (None: torch's default)."
    )
    reproducible_noise: bool = Field(
        False, description="Derive the DP sampling and noise (training and synthesizers) from the seeds instead of "
        "the OS's entropy, so a run can be replayed exactly. For teaching and benchmarks only: the noise can then be "
        "regenerated by anyone who knows the seed, so no ε holds and every output says so.")

    @model_validator(mode="before")
    @classmethod
    def _infer_support_source(cls, values: Any) -> Any:
        """Configs written before ``support_source`` existed meant 'table' whenever support_data was set."""
        if isinstance(values, dict) and values.get("support_source") is None:
            values = {**values, "support_source": "table" if values.get("support_data") else "fraction"}
        return values

    @field_validator(*modality_names(), mode="before")
    @classmethod
    def _modality_spec(cls, value: Any, info: ValidationInfo) -> Any:
        """Each modality's spec, validated by the modality named like the field (``fusiondp.modality``): the config
        never imports a modality, whose package builds on the core."""
        return None if value is None else modality(str(info.field_name)).spec(value)

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

    @field_validator("epochs", mode="before")
    @classmethod
    def _epochs(cls, value: Any) -> Any:
        """One line for any value that is not a whole number of epochs or 'auto'."""
        if value == "auto":
            return value
        whole = isinstance(value, int) or (isinstance(value, float | str) and _whole(value))
        if isinstance(value, bool) or not whole:
            raise ValueError(f"got {value!r}; give a whole number of epochs (1 or more) or 'auto' (each mode at the "
                             f"count the protocol chose for it: {OWN['epochs']})")
        if int(float(value)) < 1:
            raise ValueError(f"got {value!r}; at least 1 epoch is needed (or 'auto')")
        return int(float(value))

    @field_validator("noise_level", mode="before")
    @classmethod
    def _noise_level(cls, value: Any) -> Any:
        """One line for any value that is not a level, 'auto' or null (pydantic would list each branch of the union)."""
        if value is None or value == "auto":
            return value
        try:
            level = math.nan if isinstance(value, bool) else float(value)
        except (TypeError, ValueError):
            level = math.nan
        if not (math.isfinite(level) and level > 0):
            raise ValueError(f"got {value!r}; give a positive number (the noise per step σ·C below which the "
                             "clip norm loosens), 'auto' (each mode at the level the protocol chose for it) or null "
                             "(C fixed at max_grad_norm)")
        return level

    @field_validator("seeds")
    @classmethod
    def _some_seeds(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("at least one seed is needed")
        return value

    @field_validator("epsilon", "epsilon_syn")
    @classmethod
    def _meaningful_epsilon(cls, value: float, info: ValidationInfo) -> float:
        if info.field_name == "epsilon_syn":
            check_epsilon(value, "ε_syn", "The reference used 0.1 to 2.")
        else:
            check_epsilon(value)
        return value

    @field_validator("delta", "delta_syn")
    @classmethod
    def _delta_in_range(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value < 1:
            raise ValueError(f"δ must be in (0, 1) (got {value}); the usual choice is 1e-5 or below 1/N")
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value not in ("auto", "cpu") and not value.startswith("cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda' (got {value!r})")
        return value

    @model_validator(mode="after")
    def _one_kind_of_roles(self) -> RunConfig:
        """The roles come from one spec: a table's (``spec``) or one modality's, whose support rows are real ones."""
        given = [name for name in modality_names() if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give the roles as one spec, not {' and '.join(given)} together")
        for name in given:
            if self.spec is not None:
                article = "an" if name[0] in "aeiou" else "a"
                raise ValueError(f"give the roles either as a column spec (spec) or as {article} {name} spec ({name}), "
                                 "not both")
            if self.support_source == "dp_synthetic" or self.hybrid_data is not None:
                rows = modality(name).ROWS
                raise ValueError(f"{rows} ({name}) take their support {rows} from the table (support_source "
                                 "'fraction' or a split column) or a separate table; dp_synthetic and hybrid_data are "
                                 "for tables")
        return self

    @model_validator(mode="after")
    def _support_source_consistent(self) -> RunConfig:
        if self.support_source == "table" and not self.support_data:
            raise ValueError("support_source 'table' needs support_data, the path of the public support table")
        if self.support_source != "table" and self.support_data:
            raise ValueError(f"support_data is set but support_source is {self.support_source!r}; use "
                             "support_source 'table' to use that table, or drop support_data")
        return self

    @model_validator(mode="after")
    def _fractions_leave_training_rows(self) -> RunConfig:
        own_support = self.support_source == "fraction"
        total = self.val_fraction + self.test_fraction + (self.support_fraction if own_support else 0)
        if total >= 0.9:
            held_out = self.val_fraction + self.test_fraction
            parts = (f"support_fraction {self.support_fraction:g} + " if own_support else "") + \
                f"val_fraction {self.val_fraction:g} + test_fraction {self.test_fraction:g}"
            room = (f"; beside these val_fraction and test_fraction, support_fraction can be at most "
                    f"{max(0.0, 0.9 - held_out - 0.01):.2f}" if own_support and held_out < 0.85 else "")
            raise ValueError(f"{parts} = {total:.2f} leaves (almost) no private training rows: keep the sum below "
                             f"0.9{room}. A table too small for its support set needs more rows, not a larger "
                             "fraction")
        return self

    def synth_settings(self) -> SynthSettings | None:
        """The synthesizer's settings when the support set is DP-synthetic, else ``None``."""
        if self.support_source != "dp_synthetic":
            return None
        from fusiondp.synth.settings import SynthSettings  # the synthesizers import torch: only when used

        return SynthSettings(
            epsilon=self.epsilon_syn, delta=self.delta if self.delta_syn is None else self.delta_syn,
            domains=self.sensitive_domains, bounds=self.sensitive_bounds, bins=self.synth_bins,
            public_bins=self.synth_public_bins,
            condition_on=None if self.synth_condition_on is None else tuple(self.synth_condition_on),
            seed=self.split_seed, method=self.synthesizer, latent_dim=self.synth_latent_dim,
            epochs=self.synth_epochs, accountant=self.synth_accountant, reproducible_noise=self.reproducible_noise,
        )

    def train_settings(self) -> TrainSettings:
        return TrainSettings(
            epochs=self.epochs, batch_size=self.batch_size, public_batch_size=self.public_batch_size, lr=self.lr,
            lr_schedule=self.lr_schedule,
            alpha=self.alpha, beta=self.beta, max_grad_norm=self.max_grad_norm,
            noise_level=self.noise_level, numeric_encoding=self.numeric_encoding, rep_clip=self.rep_clip,
            param_bound=self.param_bound, hidden=tuple(self.hidden), reproducible_noise=self.reproducible_noise,
        )

    @classmethod
    def build(cls, **values: Any) -> RunConfig:
        """Validate ``values``, turning pydantic's errors into one readable ``ConfigError``."""
        return validated(cls, values, "run configuration", ConfigError)

    @classmethod
    def from_yaml(cls, path: str | Path) -> RunConfig:
        """Read a config file; its file paths are read as ``beside_config`` says."""
        raw = read_yaml(path, "Config file", ConfigError) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"Config file {str(path)!r} must hold a mapping of settings.")
        for key in FILE_FIELDS:
            if isinstance(raw.get(key), str):
                raw[key] = beside_config(raw[key], Path(path).parent)
        return cls.build(**raw)

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")  # a modality's spec saved by its own class's fields (``ModalitySpec``)
        if self.spec is not None:
            data["spec"] = self.spec.to_dict()
        return data

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")

