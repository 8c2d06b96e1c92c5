"""Settings shared by the DP-synthetic support-set synthesizers, and the check of declared domains.

Both synthesizers encode a sensitive column on a *user-declared* domain (categories) or
*user-declared* bounds — never on the private values' own categories, minimum or maximum
(METHOD.md §5) — so both need the same declarations, checked here once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from fusiondp.errors import ConfigError, MissingDeclarations
from fusiondp.spec import TableSpec

SYNTH_METHODS: tuple[str, ...] = ("marginal", "two_stage")


@dataclass(frozen=True)
class SynthSettings:
    """What a synthesizer may know besides the private rows: budget, declared domains, its knobs.

    ``method`` picks the synthesizer: ``marginal`` (noisy conditional tables, zCDP) or
    ``two_stage`` (a DP-SGD autoencoder plus a noisy latent mixture, then a diffusion model
    trained on stage-1 outputs only). Both bin a numeric sensitive column into ``bins``
    equal-width bins of its declared range; ``public_bins``/``condition_on`` are the marginal
    synthesizer's knobs, ``latent_dim``/``epochs``/``accountant``/``diffusion`` the two-stage one's.
    """

    epsilon: float
    delta: float
    domains: Mapping[str, Sequence[Any]]
    bounds: Mapping[str, Sequence[float]]
    bins: int = 10
    public_bins: int = 4
    condition_on: tuple[str, ...] | None = None
    seed: int = 0
    method: Literal["marginal", "two_stage"] = "marginal"
    latent_dim: int = 4
    epochs: int = 20
    accountant: Literal["pld", "prv", "rdp"] = "pld"
    diffusion: bool = True
    reproducible_noise: bool = False
    """Derive the synthesizer's DP noise from ``seed`` (no guarantee; ``fusiondp.privacy.randomness``)."""
    """Two-stage only: ``False`` samples latents straight from the released mixture (an ablation of stage 2)."""


def declared_codes(spec: TableSpec, settings: SynthSettings, column: str, values: pd.Series,
                   bins: int | None = None) -> np.ndarray:
    """Each value's index among the column's declared categories, or its bin among ``bins`` (default
    ``settings.bins``) equal-width bins of the declared bounds, values beyond them clipped to the end bins.

    −1 when missing or outside the declared categories: a synthesizer can only release
    values the user declared.
    """
    if spec.is_categorical(column):
        names = pd.Index([str(v) for v in settings.domains[column]])
        return names.get_indexer(values.astype("string").fillna("\0")).astype(np.int64)
    bins = settings.bins if bins is None else bins
    low, high = settings.bounds[column]
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    codes = np.floor((np.clip(numbers, low, high) - low) / (high - low) * bins)
    return np.clip(np.nan_to_num(codes, nan=-1.0), -1, bins - 1).astype(np.int64)


def check_domains(spec: TableSpec, settings: SynthSettings) -> None:
    """Every sensitive column needs a declared domain (categorical) or bounds (numeric)."""
    categorical = [c for c in spec.sensitive if spec.is_categorical(c)]
    numeric = [c for c in spec.sensitive if not spec.is_categorical(c)]
    unknown = sorted(set(settings.domains) - set(categorical)) + sorted(set(settings.bounds) - set(numeric))
    if unknown:
        raise ConfigError(f"sensitive_domains / sensitive_bounds name {unknown}, which are not sensitive columns of "
                          "that kind: declare categories (sensitive_domains) for the categorical sensitive columns "
                          f"{categorical} and [low, high] bounds (sensitive_bounds) for the numeric ones {numeric}.")
    missing_domains = [c for c in categorical if not settings.domains.get(c)]
    missing_bounds = [c for c in numeric if c not in settings.bounds]
    if missing_domains or missing_bounds:
        raise MissingDeclarations(missing_domains, missing_bounds)
    for column in categorical:
        names = [str(v) for v in settings.domains[column]]
        if len(set(names)) != len(names):
            raise ConfigError(f"sensitive_domains[{column!r}] lists a category twice; list each once.")
    for column in numeric:
        bounds = list(settings.bounds[column])
        if len(bounds) != 2 or not all(math.isfinite(b) for b in bounds) or not bounds[0] < bounds[1]:
            raise ConfigError(f"sensitive_bounds[{column!r}] must be [low, high] with finite low < high; got "
                              f"{bounds}.")


def split_declarations(spec: TableSpec, declared: Any) -> tuple[dict[str, list[Any]], dict[str, tuple[float, float]]]:
    """Sort one mapping ``{column: values}`` into domains (categorical sensitive columns) and bounds (numeric).

    Front-ends let a user declare every sensitive column in one place — ``gender: [Female,
    Male]``, ``age: [20, 80]`` — and the column's type in ``spec`` (resolved) decides which
    it is. ``check_domains`` then checks completeness.
    """
    if declared is None:
        return {}, {}
    if not isinstance(declared, Mapping):
        raise ConfigError("Declare the sensitive columns' values as a mapping, one line per column, e.g.\n"
                          "  gender: [Female, Male]\n  age: [20, 80]")
    domains: dict[str, list[Any]] = {}
    bounds: dict[str, tuple[float, float]] = {}
    for column, values in declared.items():
        if column not in spec.sensitive:
            raise ConfigError(f"{column!r} is declared but is not a sensitive column; declare only "
                              f"{', '.join(spec.sensitive)}.")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{column!r}: give a list, e.g. {column}: [a, b, c] for categories or "
                              f"{column}: [low, high] for a numeric range.")
        if spec.is_categorical(column):
            domains[column] = values
            continue
        try:
            low, high = (float(v) for v in values)
        except (TypeError, ValueError):
            raise ConfigError(f"{column!r} is numeric: declare its range as [low, high] with two numbers; got "
                              f"{values}.") from None
        bounds[column] = (low, high)
    return domains, bounds
