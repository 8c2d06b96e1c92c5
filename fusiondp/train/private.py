"""The private term of a DP step: per-sample losses, their gradients, clipping and noise.

Per-sample gradients come from ``torch.func.vmap(grad(...))`` over one forward pass per
sample that carries both views (real and reference) as a batch of two, so the real and
reference losses share every parameter tensor and ``ℓ_i`` vanishes when the views agree — its
gradient up to float rounding (≈1e-7 in float32: a batched kernel may round its two rows
differently); the library's MLP takes the fused ghost path (``fusiondp.train.ghost``), where such
a sample's gradient norm is exactly zero (and a batch sum with or without it agrees up to float
rounding, not bit for bit).
Clipping and summation are one vectorised contraction; nothing keeps autograd history (METHOD.md §5b).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from fusiondp.models import TabularMLP
from fusiondp.task import BINARY, Task
from fusiondp.train.ghost import ghost_clipped_sum

Params = dict[str, torch.Tensor]


def consistency(h_real: torch.Tensor, h_ref: torch.Tensor, rep_clip: float) -> torch.Tensor:
    """``R = min(1, C_h/‖d‖)²·‖d‖²/C_h² = min(1, ‖d‖²/C_h²)`` with ``d = h_real − h_ref``."""
    return ((h_real - h_ref).pow(2).sum(-1) / rep_clip**2).clamp(max=1.0)


@dataclass(frozen=True)
class PrivateLoss:
    """A per-sample private loss ``ℓ(params; x_real, x_ref, y)`` for one row."""

    model: nn.Module
    calibrated: bool
    beta: float = 0.0
    rep_clip: float = 1.0
    task: Task = BINARY

    def __call__(self, params: Params, x_real: torch.Tensor, x_ref: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if not self.calibrated:
            logit, _ = functional_call(self.model, params, (x_real.unsqueeze(0),))
            return self.task.losses(logit, y.unsqueeze(0))[0]
        logits, h = functional_call(self.model, params, (torch.stack((x_real, x_ref)),))
        losses = self.task.losses(logits, y.expand(2, *y.shape))
        loss = losses[0] - losses[1]
        if self.beta:
            loss = loss + self.beta * consistency(h[0], h[1], self.rep_clip)
        return loss


def per_sample_gradients(
    loss: Callable[..., torch.Tensor], params: Params, x_real: torch.Tensor, x_ref: torch.Tensor, y: torch.Tensor
) -> tuple[Params, torch.Tensor]:
    """Gradients of ``loss`` for each row (leading batch dimension) and the per-row losses."""
    return vmap(grad_and_value(loss), in_dims=(None, 0, 0, 0))(params, x_real, x_ref, y)


def clip_and_sum(grads: Params, max_norm: float) -> tuple[Params, torch.Tensor]:
    """``Σ_i g_i·min(1, C/‖g_i‖)`` per parameter, and the per-row norms before clipping."""
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads.values()))
    factors = (max_norm / (norms + 1e-12)).clamp(max=1.0)
    return {name: torch.einsum("b,b...->...", factors, g) for name, g in grads.items()}, norms


def noisy_private_gradient(
    loss: Callable[..., torch.Tensor],
    params: Params,
    x_real: torch.Tensor,
    x_ref: torch.Tensor,
    y: torch.Tensor,
    *,
    max_norm: float,
    sigma: float,
    expected_batch: float,
    generator: torch.Generator,
) -> tuple[Params, torch.Tensor]:
    """``(Σ_i clip(g_i) + N(0, σ²C²I)) / B`` and the summed per-row loss (for logging).

    For the library's MLP the clipped sum comes from ``ghost_clipped_sum`` (no per-sample
    gradients materialised, same result); other models use ``torch.func``.
    """
    if len(y) and isinstance(loss, PrivateLoss) and isinstance(loss.model, TabularMLP):
        summed, loss_sum, _ = ghost_clipped_sum(loss.model, x_real, x_ref, y, calibrated=loss.calibrated,
                                                beta=loss.beta, rep_clip=loss.rep_clip, max_norm=max_norm,
                                                task=loss.task)
    elif len(y):
        grads, losses = per_sample_gradients(loss, params, x_real, x_ref, y)
        summed, _ = clip_and_sum(grads, max_norm)
        loss_sum = losses.sum()
    else:
        summed = {name: torch.zeros_like(p) for name, p in params.items()}
        loss_sum = torch.zeros((), device=y.device)
    noisy = {}
    for name, total in summed.items():
        noise = torch.randn(total.shape, generator=generator, device=total.device, dtype=total.dtype)
        noisy[name] = (total + sigma * max_norm * noise) / expected_batch
    return noisy, loss_sum
