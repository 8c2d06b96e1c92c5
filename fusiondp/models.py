"""The model: an MLP that returns both its output and its penultimate representation.

FusionDP's consistency term compares representations of the real and the hybrid view of
a row, so the model exposes ``h`` alongside the output in one forward pass. The head has
one output (a binary logit or a regression value) or one logit per class (``fusiondp.task``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

REFERENCE_HIDDEN = (64, 32)


class TabularMLP(nn.Module):
    """``d → h₁ (LayerNorm, GELU) → … → h_k (LayerNorm, GELU) → outputs``; forward gives ``(output, h)``.

    With one output, ``output`` is ``(rows,)``; with several, ``(rows, outputs)``.
    """

    def __init__(self, n_features: int, hidden: Sequence[int] = REFERENCE_HIDDEN, outputs: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.LayerNorm(size), nn.GELU()]
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, outputs)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        representation = self.body(x)
        output = self.head(representation)
        return (output.squeeze(-1) if self.head.out_features == 1 else output), representation


def build_model(n_features: int, hidden: Sequence[int], seed: int, device: torch.device,
                outputs: int = 1) -> TabularMLP:
    """A freshly initialised model whose weights depend only on ``seed`` (no global RNG state)."""
    model = TabularMLP(n_features, hidden, outputs)
    seeded_init(model, torch.Generator().manual_seed(seed))
    return model.to(device)


def seeded_init(model: nn.Module, generator: torch.Generator) -> None:
    """Re-draw every linear layer's weights and biases from U(±1/√fan_in) with ``generator``.

    PyTorch's own initialisation reads the global RNG; drawing from an explicit generator
    makes a model depend only on its seed.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                bound = 1.0 / module.in_features**0.5
                module.weight.copy_(torch.empty_like(module.weight).uniform_(-bound, bound, generator=generator))
                module.bias.copy_(torch.empty_like(module.bias).uniform_(-bound, bound, generator=generator))


def resolve_device(requested: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)
