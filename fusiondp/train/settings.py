"""The training loop's knobs, in a module of their own so that reading a config does not import torch."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

LrSchedule = Literal["auto", "constant", "cosine"]
NoiseLevel = float | Literal["auto"] | None
"""A noise level σ·C, ``auto`` (each mode's own, ``PROTOCOL_NOISE_LEVELS``) or None (a fixed clip norm)."""
Epochs = int | Literal["auto"]
"""A number of epochs for every mode, or ``auto`` (each mode's own, ``PROTOCOL_EPOCHS``)."""

PROTOCOL_SCHEDULES: dict[str, Literal["constant", "cosine"]] = {"dpsgd": "cosine"}
"""Each mode's learning-rate schedule under ``auto``: the fair protocol's choice on the suite's validation rows
(docs/method.md §7, ``benchmarks/results/bench_defaults_schedule_*.json``). dpsgd, whose every step is noised, chose
cosine; feature_dp and fusiondp, whose step is led by a noise-free public term, chose a constant rate. A mode not
listed (the non-private ones, naive_fusion: not measured) keeps a constant rate."""

EPOCHS = 13
"""The epochs of every mode the protocol did not give a count of its own (``PROTOCOL_EPOCHS``)."""

PROTOCOL_EPOCHS: dict[str, int] = {"dpsgd": 26}
"""Each mode's epochs under ``auto`` where the fair protocol chose other than ``EPOCHS`` (docs/method.md §7,
``benchmarks/results/bench_defaults_epochs_*.json``): dpsgd chose 26, feature_dp and fusiondp 13. The epochs set the
number of steps T, hence σ; each model is calibrated for its own T, so the guarantee holds per model as before."""

PROTOCOL_ENCODINGS: dict[str, str] = {"dpsgd": "standard", "feature_dp": "standard", "fusiondp": "quantile"}
"""Each private mode's numeric encoding under ``numeric_encoding: auto`` (docs/method.md §7,
``bench_defaults_numeric.json``): z-scores for the baselines, normal scores for fusiondp. A mode not listed (the
non-private ones, naive_fusion: not measured) reads z-scores. Unlike the epochs and the noise level, the encoding is
fixed when the table is prepared, so an ``auto`` preparation encodes the table once per encoding some mode reads,
after one imputation (``encodings_for``, ``fusiondp.preparation.prepare_splits``, ``PreparedData.for_mode``)."""

DEFAULT_ENCODING = "standard"
"""The encoding of a mode ``PROTOCOL_ENCODINGS`` does not list, and of a preparation with nothing to encode (notes)."""


def encoding_for(numeric_encoding: str, mode: str) -> str:
    """The encoding ``mode`` reads under the setting ``numeric_encoding``: the protocol's choice for it under
    ``auto`` (``PROTOCOL_ENCODINGS``), else the one set."""
    return PROTOCOL_ENCODINGS.get(mode, DEFAULT_ENCODING) if numeric_encoding == "auto" else numeric_encoding


def encodings_for(numeric_encoding: str) -> list[str]:
    """Every encoding a preparation holds under the setting ``numeric_encoding``, the default first (the one its own
    encoder and tensors hold): under ``auto`` every encoding some mode reads, so that any mode trains on it whatever
    modes it was prepared for (encoding costs a fraction of a second beside the imputation it follows)."""
    if numeric_encoding != "auto":
        return [numeric_encoding]
    return sorted({DEFAULT_ENCODING, *PROTOCOL_ENCODINGS.values()}, key=lambda encoding: encoding != DEFAULT_ENCODING)


NOISE_LEVEL = 6.0
"""The noise per step σ·C below which the clip norm loosens, C = max(max_grad_norm, noise level / σ)
(``TrainSettings.clip_norm``), for a mode the protocol did not compare (naive_fusion) and where a user sets a level
without choosing one (the dashboard's slider starts here)."""

PROTOCOL_NOISE_LEVELS: dict[str, dict[str, float]] = {
    "standard": {"dpsgd": 12.0, "feature_dp": 3.0, "fusiondp": 12.0},
    "quantile": {"fusiondp": 3.0},
}
"""Each private mode's noise level under ``auto``, by numeric encoding: the fair protocol's choice on the suite's
validation rows, by worst-case regret (docs/method.md §7, ``benchmarks/results/bench_defaults_clip_rule*.json``).
dpsgd chose 12 and feature_dp 3 with z-scores (their encoding); fusiondp chose 3 with normal scores (its encoding)
and 12 with z-scores. A mode and encoding not measured (naive_fusion; dpsgd or feature_dp with normal scores) take
``NOISE_LEVEL``."""


@dataclass(frozen=True)
class TrainSettings:
    """What one training run needs besides data and noise (``RunConfig.train_settings`` fills it)."""

    epochs: Epochs = "auto"
    batch_size: int = 128
    public_batch_size: int = 512
    lr: float = 0.05
    lr_schedule: LrSchedule = "auto"
    alpha: float = 1.0
    beta: float = 0.0
    max_grad_norm: float = 1.8
    """The clip norm C, or its floor when it follows σ (``clip_norm``)."""
    noise_level: NoiseLevel = "auto"
    numeric_encoding: str = "auto"
    """How the numeric columns are encoded (``RunConfig.numeric_encoding``; ``auto``: each mode its own,
    ``encoding_for``): the protocol chose the noise level per encoding (``PROTOCOL_NOISE_LEVELS``)."""
    rep_clip: float | None = None
    param_bound: float | None = 10.0
    hidden: tuple[int, ...] = (64, 32)
    reproducible_noise: bool = False
    """Derive Poisson sampling and the noise ξ from the seed (no DP guarantee: ``fusiondp.privacy.randomness``)."""

    def noise_level_for(self, mode: str) -> float | None:
        """The noise level ``mode`` trains at: under ``auto`` the protocol's choice for it at the encoding it reads
        (``PROTOCOL_NOISE_LEVELS``, ``encoding_for``), else the one set (None: a fixed clip norm)."""
        if self.noise_level == "auto":
            encoding = encoding_for(self.numeric_encoding, mode)
            return PROTOCOL_NOISE_LEVELS.get(encoding, {}).get(mode, NOISE_LEVEL)
        return self.noise_level

    def clip_norm(self, sigma: float | None, mode: str) -> float:
        """The clip norm C of a ``mode`` model trained with noise multiplier σ: max(max_grad_norm, noise level / σ),
        at the mode's noise level (``noise_level_for``).

        Why C follows σ: at a fixed C nearly every row is clipped at initialisation, each step moves the
        weights by about lr·C whatever the gradients say, and the clipping bias, not the noise, caps what a
        large ε buys (clipped without noise, every DP mode lands where it does at ε 8; noised without
        clipping, at ``sgd_ori``). Where σ·max_grad_norm is below the noise level (a large ε), C grows to
        noise level / σ: the noise per step stays at that level and clipping loosens; at a small ε C stays
        at max_grad_norm. C depends on σ and the mode's name, hence only on ε, δ, q, the number of steps and
        public settings, so the guarantee is unchanged: the sensitivity is C and the noise σC. A noise level of
        None: a fixed C.
        """
        level = self.noise_level_for(mode)
        if level is None:
            return self.max_grad_norm
        if sigma is None or sigma <= 0:
            raise ValueError(f"a clip norm that follows σ needs a positive noise multiplier, got {sigma}; "
                             "set noise_level to None for a fixed one")
        return max(self.max_grad_norm, level / sigma)

    def epochs_for(self, mode: str) -> int:
        """The epochs ``mode`` trains for: under ``auto`` the protocol's count for it (``PROTOCOL_EPOCHS``, else
        ``EPOCHS``), else the one set."""
        return PROTOCOL_EPOCHS.get(mode, EPOCHS) if self.epochs == "auto" else self.epochs

    def for_mode(self, mode: str) -> TrainSettings:
        """These settings with every ``auto`` resolved to what ``mode`` trains at: its epochs, noise level, schedule
        and encoding (``epochs_for``, ``noise_level_for``, ``schedule_for``, ``encoding_for``; the privacy plan and
        the ledger call the first two directly, so they see the same T and C as the training loop, which reads
        these)."""
        return dataclasses.replace(self, epochs=self.epochs_for(mode), noise_level=self.noise_level_for(mode),
                                   lr_schedule=self.schedule_for(mode),
                                   numeric_encoding=encoding_for(self.numeric_encoding, mode))

    def schedule_for(self, mode: str) -> Literal["constant", "cosine"]:
        """The schedule ``mode`` trains with: its protocol choice under ``auto`` (``PROTOCOL_SCHEDULES``), else the
        one set."""
        return PROTOCOL_SCHEDULES.get(mode, "constant") if self.lr_schedule == "auto" else self.lr_schedule

    def lr_at(self, step: int, total_steps: int, mode: str) -> float:
        """The learning rate of ``mode`` at step ``step`` (0-based) of ``total_steps``.

        ``cosine`` falls from lr at the first step to near 0 at the last: the weights a run releases are its
        last iterate, and each step adds noise of a size fixed by ε, so smaller late steps leave less of it in
        them. The rate depends on the step count only (public), so it is post-processing of the noised
        gradients and the guarantee does not change.
        """
        if self.schedule_for(mode) == "constant":
            return self.lr
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))


ENCODING_WORDS = {"standard": "z-scores", "quantile": "normal scores"}
"""Each numeric encoding as the docs and the front ends call it."""

ENCODING_LABELS = {encoding: f"{words} ({encoding})" for encoding, words in ENCODING_WORDS.items()}
"""Each numeric encoding in words with its setting's name: "z-scores (standard)"."""

COMPARED_MODES = ("dpsgd", "feature_dp", "fusiondp")
"""The private modes the fair protocol chose settings for."""


def protocol_in_words() -> dict[str, str]:
    """Each ``auto`` knob's per-mode choice in words ("26 for dpsgd, 13 for the others"), read from the protocol's
    tables above, so that help texts, the glossary and the dashboard cannot drift from what ``auto`` trains at.
    The noise levels are each mode's at its own encoding."""
    by_encoding: dict[str, list[str]] = {}
    for mode in COMPARED_MODES:
        by_encoding.setdefault(encoding_for("auto", mode), []).append(mode)
    auto = TrainSettings()
    return {
        "epochs": ", ".join([*(f"{count} for {mode}" for mode, count in PROTOCOL_EPOCHS.items()),
                             f"{EPOCHS} for the others"]),
        "lr_schedule": ", ".join([*(f"{schedule} for {mode}" for mode, schedule in PROTOCOL_SCHEDULES.items()),
                                  "constant for the others"]),
        "numeric_encoding": ", ".join(f"{ENCODING_WORDS[encoding]} for {' and '.join(modes)}"
                                      for encoding, modes in by_encoding.items()),
        "noise_level": ", ".join(f"{auto.noise_level_for(mode):g} for {mode}" for mode in COMPARED_MODES),
    }
