"""The training loop's knobs, in a module of their own so that reading a config does not import torch."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

LrSchedule = Literal["auto", "constant", "cosine"]

PROTOCOL_SCHEDULES: dict[str, Literal["constant", "cosine"]] = {"dpsgd": "cosine"}
"""Each mode's learning-rate schedule under ``auto``: the fair protocol's choice on the suite's validation rows
(docs/method.md §7, ``benchmarks/results/bench_defaults_schedule_*.json``). dpsgd, whose every step is noised, chose
cosine; feature_dp and fusiondp, whose step is led by a noise-free public term, chose a constant rate. A mode not
listed (the non-private ones, naive_fusion: not measured) keeps a constant rate."""

NOISE_LEVEL = 6.0
"""The noise per step σ·C below which the clip norm loosens: C = max(max_grad_norm, NOISE_LEVEL / σ)
(``TrainSettings.clip_norm``)."""


@dataclass(frozen=True)
class TrainSettings:
    """What one training run needs besides data and noise (``RunConfig.train_settings`` fills it)."""

    epochs: int = 13
    batch_size: int = 128
    public_batch_size: int = 512
    lr: float = 0.05
    lr_schedule: LrSchedule = "auto"
    alpha: float = 1.0
    beta: float = 0.0
    max_grad_norm: float = 1.8
    """The clip norm C, or its floor when it follows σ (``clip_norm``)."""
    noise_level: float | None = NOISE_LEVEL
    rep_clip: float | None = None
    param_bound: float | None = 10.0
    hidden: tuple[int, ...] = (64, 32)
    reproducible_noise: bool = False
    """Derive Poisson sampling and the noise ξ from the seed (no DP guarantee: ``fusiondp.privacy.randomness``)."""

    def clip_norm(self, sigma: float | None) -> float:
        """The clip norm C of a model trained with noise multiplier σ: max(max_grad_norm, noise_level / σ).

        Why C follows σ: at a fixed C nearly every row is clipped at initialisation, each step moves the
        weights by about lr·C whatever the gradients say, and the clipping bias, not the noise, caps what a
        large ε buys (clipped without noise, every DP mode lands where it does at ε 8; noised without
        clipping, at ``sgd_ori``). Where σ·max_grad_norm is below ``noise_level`` (a large ε), C grows to
        noise_level / σ: the noise per step stays at noise_level and clipping loosens; at a small ε C stays
        at max_grad_norm. C depends on σ, hence only on ε, δ, q and the number of steps (public), so the
        guarantee is unchanged: the sensitivity is C and the noise σC. ``noise_level`` None: a fixed C.
        """
        if self.noise_level is None:
            return self.max_grad_norm
        if sigma is None or sigma <= 0:
            raise ValueError(f"a clip norm that follows σ needs a positive noise multiplier, got {sigma}; "
                             "set noise_level to None for a fixed one")
        return max(self.max_grad_norm, self.noise_level / sigma)

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
