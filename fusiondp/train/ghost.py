"""Clipped per-sample gradient sums for ``TabularMLP`` without materialising per-sample gradients.

For a linear layer a row's gradient is the outer product ``δ aᵀ`` of the backpropagated
signal and the layer input, so its norm and any weighted sum over rows follow from small
matrix products ("ghost clipping"). FusionDP's private loss pairs each real row with its
reference view, so a sample's gradient is the sum of two rows' contributions:
``‖δaᵀ + δ'a'ᵀ‖² = ‖δ‖²‖a‖² + ‖δ'‖²‖a'‖² + 2(δ·δ')(a·a')``. One forward and one backward
pass over the 2B rows replace B vectorised per-sample backward passes; the result equals
``clip_and_sum(per_sample_gradients(...))`` (checked in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits, layer_norm, linear

from fusiondp.models import TabularMLP


@dataclass
class _Layer:
    name: str
    kind: str
    """``linear`` or ``layernorm``."""
    inputs: torch.Tensor
    """Layer input (linear) or normalised input (layer norm), detached."""
    output: torch.Tensor
    """Pre-activation output whose gradient gives δ."""


def _forward(model: TabularMLP, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[_Layer]]:
    layers: list[_Layer] = []
    h = x
    for index, module in enumerate(model.body):
        name = f"body.{index}"
        if isinstance(module, nn.Linear):
            out = linear(h, module.weight, module.bias)
            layers.append(_Layer(name, "linear", h.detach(), out))
        elif isinstance(module, nn.LayerNorm):
            normalised = layer_norm(h, module.normalized_shape, eps=module.eps)
            out = normalised * module.weight + module.bias
            layers.append(_Layer(name, "layernorm", normalised.detach(), out))
        else:
            out = module(h)
        h = out
    logit = linear(h, model.head.weight, model.head.bias)
    layers.append(_Layer("head", "linear", h.detach(), logit))
    return logit.squeeze(-1), h, layers


def _pair(t: torch.Tensor, paired: bool, batch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    return (t[:batch], t[batch:]) if paired else (t, None)


def ghost_clipped_sum(
    model: TabularMLP,
    x_real: torch.Tensor,
    x_ref: torch.Tensor,
    y: torch.Tensor,
    *,
    calibrated: bool,
    beta: float,
    rep_clip: float,
    max_norm: float,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """``Σ_i g_i·min(1, C/‖g_i‖)`` per parameter, the summed per-row loss, and the per-row norms."""
    batch = len(y)
    x = torch.cat([x_real, x_ref]) if calibrated else x_real
    logits, h, layers = _forward(model, x)
    if calibrated:
        losses = (binary_cross_entropy_with_logits(logits[:batch], y, reduction="none")
                  - binary_cross_entropy_with_logits(logits[batch:], y, reduction="none"))
        if beta:
            distance = (h[:batch] - h[batch:]).pow(2).sum(-1) / rep_clip**2
            losses = losses + beta * distance.clamp(max=1.0)
    else:
        losses = binary_cross_entropy_with_logits(logits, y, reduction="none")
    deltas = torch.autograd.grad(losses.sum(), [layer.output for layer in layers])

    squared = torch.zeros(batch, dtype=x.dtype, device=x.device)
    pieces = []
    for layer, delta in zip(layers, deltas, strict=True):
        d, d2 = _pair(delta.reshape(len(x), -1), calibrated, batch)
        a, a2 = _pair(layer.inputs, calibrated, batch)
        if layer.kind == "linear":
            weight_sq = d.pow(2).sum(1) * a.pow(2).sum(1)
            bias = d if d2 is None else d + d2
            if d2 is not None:
                weight_sq = weight_sq + d2.pow(2).sum(1) * a2.pow(2).sum(1) + 2 * (d * d2).sum(1) * (a * a2).sum(1)
            squared += weight_sq + bias.pow(2).sum(1)
        else:
            weight = d * a if d2 is None else d * a + d2 * a2
            bias = d if d2 is None else d + d2
            squared += weight.pow(2).sum(1) + bias.pow(2).sum(1)
        pieces.append((layer, d, d2, a, a2))
    norms = squared.clamp(min=0).sqrt()  # rounding can push an exactly-zero paired norm slightly negative
    factors = (max_norm / (norms + 1e-12)).clamp(max=1.0)

    summed: dict[str, torch.Tensor] = {}
    for layer, d, d2, a, a2 in pieces:
        weighted = d * factors[:, None]
        weighted2 = None if d2 is None else d2 * factors[:, None]
        if layer.kind == "linear":
            weight = weighted.T @ a if weighted2 is None else weighted.T @ a + weighted2.T @ a2
        else:
            weight = (weighted * a).sum(0) if weighted2 is None else (weighted * a + weighted2 * a2).sum(0)
        bias = weighted.sum(0) if weighted2 is None else (weighted + weighted2).sum(0)
        summed[f"{layer.name}.weight"] = weight
        summed[f"{layer.name}.bias"] = bias
    return summed, losses.detach().sum(), norms.detach()
