"""The training loop's knobs, in a module of their own so that reading a config does not import torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainSettings:
    """What one training run needs besides data and noise (``RunConfig.train_settings`` fills it)."""

    epochs: int = 13
    batch_size: int = 128
    public_batch_size: int = 512
    lr: float = 0.05
    alpha: float = 1.0
    beta: float = 0.0
    max_grad_norm: float = 1.8
    rep_clip: float | None = None
    param_bound: float | None = 10.0
    hidden: tuple[int, ...] = (64, 32)
    reproducible_noise: bool = False
    """Derive Poisson sampling and the noise ξ from the seed (no DP guarantee: ``fusiondp.privacy.randomness``)."""
