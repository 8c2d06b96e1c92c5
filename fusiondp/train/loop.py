"""One training loop for every mode: Poisson sampling, public term, private term, update.

Per step (METHOD.md §3): a public batch of the mode's public view gives an unclipped,
unnoised gradient; a Poisson sample of private rows gives per-sample gradients of the
mode's private loss, clipped to C, summed, noised with σC and divided by the expected
batch size; ``θ ← θ − η (g_pub + α g_priv)``, then each parameter tensor is projected
to norm ≤ M. Tensors stay on the device; losses are read back once per epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn.functional import binary_cross_entropy_with_logits

from fusiondp.metrics import binary_metrics
from fusiondp.models import TabularMLP, build_model
from fusiondp.train.modes import Mode
from fusiondp.train.private import PrivateLoss, noisy_private_gradient

EVAL_BATCH_ROWS = 16_384
REP_CLIP_QUANTILE = 0.9


@dataclass
class TrainTensors:
    """Encoded rows on the training device. Views of the same rows share row order."""

    x_real: torch.Tensor
    x_hybrid: torch.Tensor
    x_blank: torch.Tensor
    y: torch.Tensor
    x_val_hybrid: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    support_real: torch.Tensor
    """Held-out support rows (public sensitive values), real view: the source of C_h."""
    support_hybrid: torch.Tensor
    support_blank: torch.Tensor
    public_features: torch.Tensor

    def view(self, name: str) -> torch.Tensor:
        return {"real": self.x_real, "hybrid": self.x_hybrid, "uninformative": self.x_blank,
                "public_only": self.x_real[:, self.public_features]}[name]

    def support_view(self, name: str) -> torch.Tensor:
        return {"hybrid": self.support_hybrid, "uninformative": self.support_blank}[name]


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 13
    batch_size: int = 128
    public_batch_size: int = 4096
    lr: float = 0.05
    alpha: float = 3.0
    beta: float = 0.5
    max_grad_norm: float = 1.8
    rep_clip: float | None = None
    param_bound: float | None = 10.0
    hidden: tuple[int, ...] = (64, 32)


@dataclass
class EpochReport:
    mode: str
    seed: int
    epoch: int
    epochs: int
    step: int
    steps: int
    public_loss: float
    private_loss: float
    val_auroc: float
    epsilon_spent: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class TrainOutcome:
    model: TabularMLP
    metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    steps_done: int = 0
    rep_clip: float | None = None
    wall_time_s: float = 0.0
    cancelled: bool = False


def planned_steps(n_rows: int, settings: TrainSettings) -> tuple[float, int, list[int]]:
    """Sampling rate q = B/N, total steps T = ceil(epochs/q), and the step that ends each epoch."""
    q = min(1.0, settings.batch_size / n_rows)
    total = math.ceil(settings.epochs / q - 1e-9)
    ends = [min(total, math.ceil((e + 1) / q - 1e-9)) for e in range(settings.epochs)]
    return q, total, ends


@torch.no_grad()
def predict_proba(model: TabularMLP, x: torch.Tensor) -> np.ndarray:
    """Probabilities in deterministic order, in eval mode, batched; restores train mode."""
    model.eval()
    chunks = [torch.sigmoid(model(x[i:i + EVAL_BATCH_ROWS])[0]) for i in range(0, len(x), EVAL_BATCH_ROWS)]
    model.train()
    return torch.cat(chunks).cpu().numpy() if chunks else np.empty(0)


@torch.no_grad()
def support_rep_clip(model: TabularMLP, real: torch.Tensor, reference: torch.Tensor) -> float:
    """C_h: the 90th percentile of ‖h(x) − h(x̃)‖ on held-out *support* rows (public values)."""
    model.eval()
    distance = (model(real)[1] - model(reference)[1]).norm(dim=1)
    model.train()
    return max(float(torch.quantile(distance, REP_CLIP_QUANTILE)), 1e-3)


def train_mode(
    data: TrainTensors,
    mode: Mode,
    settings: TrainSettings,
    *,
    seed: int,
    sigma: float | None,
    epsilon_at: Callable[[int], float | None] = lambda steps: None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainOutcome:
    """Train one model in ``mode`` and score it on the real test rows."""
    device = data.y.device
    generator = torch.Generator(device=device).manual_seed(seed)
    public_only = mode.public_view == "public_only"
    x_public = data.view(mode.public_view) if mode.public_view else None
    x_eval_val = data.x_val_hybrid[:, data.public_features] if public_only else data.x_val_hybrid
    x_eval_test = data.x_test[:, data.public_features] if public_only else data.x_test
    model = build_model(x_eval_test.shape[1], settings.hidden, seed, device)
    params = dict(model.named_parameters())
    n_rows = len(data.y)
    q, total_steps, epoch_ends = planned_steps(n_rows, settings)

    rep_clip = None
    private_loss = None
    if mode.is_private:
        if sigma is None:
            raise ValueError(f"mode {mode.name} needs a noise multiplier")
        calibrated = mode.private_loss == "calibrated"
        if calibrated:
            rep_clip = settings.rep_clip or support_rep_clip(
                model, data.support_real, data.support_view(mode.private_view))
        private_loss = PrivateLoss(model, calibrated, settings.beta, rep_clip or 1.0)
        x_ref = data.view(mode.private_view)
    alpha = settings.alpha if mode.public_view else 1.0

    history: list[dict[str, Any]] = []
    started = time.perf_counter()
    step, epoch, cancelled = 0, 0, False
    public_loss_sum = torch.zeros((), device=device)
    private_loss_sum = torch.zeros((), device=device)
    private_rows = torch.zeros((), device=device)
    order = torch.randperm(n_rows, generator=generator, device=device)
    cursor = 0
    while step < total_steps:
        update = {name: torch.zeros_like(p) for name, p in params.items()}
        if x_public is not None:
            if mode.is_private:
                rows = torch.randperm(n_rows, generator=generator, device=device)[: settings.public_batch_size]
            else:
                if cursor >= n_rows:
                    order, cursor = torch.randperm(n_rows, generator=generator, device=device), 0
                rows, cursor = order[cursor:cursor + settings.batch_size], cursor + settings.batch_size
            logits, _ = model(x_public[rows])
            loss = binary_cross_entropy_with_logits(logits, data.y[rows])
            grads = torch.autograd.grad(loss, list(params.values()))
            for name, g in zip(params, grads, strict=True):
                update[name] += g
            public_loss_sum += loss.detach()
        if private_loss is not None:
            sampled = torch.nonzero(torch.rand(n_rows, generator=generator, device=device) < q).squeeze(1)
            detached = {name: p.detach() for name, p in params.items()}
            noisy, loss_sum = noisy_private_gradient(
                private_loss, detached, data.x_real[sampled], x_ref[sampled], data.y[sampled],
                max_norm=settings.max_grad_norm, sigma=sigma, expected_batch=q * n_rows, generator=generator,
            )
            for name, g in noisy.items():
                update[name] += alpha * g
            private_loss_sum += loss_sum.detach()
            private_rows += len(sampled)
        with torch.no_grad():
            for name, p in params.items():
                p -= settings.lr * update[name]
                if settings.param_bound is not None:
                    norm = p.norm()
                    p *= (settings.param_bound / norm).clamp(max=1.0)
        step += 1
        if step == epoch_ends[epoch]:
            steps_in_epoch = step - (epoch_ends[epoch - 1] if epoch else 0)
            report = EpochReport(
                mode=mode.name, seed=seed, epoch=epoch + 1, epochs=settings.epochs, step=step, steps=total_steps,
                public_loss=float(public_loss_sum) / steps_in_epoch if x_public is not None else float("nan"),
                private_loss=float(private_loss_sum / private_rows.clamp(min=1)) if private_loss else float("nan"),
                val_auroc=binary_metrics(data.y_val.cpu().numpy(), predict_proba(model, x_eval_val))["auroc"],
                epsilon_spent=epsilon_at(step),
            )
            history.append(report.to_dict())
            if on_epoch is not None:
                on_epoch(report)
            public_loss_sum.zero_(), private_loss_sum.zero_(), private_rows.zero_()
            epoch += 1
        if should_stop is not None and should_stop():
            cancelled = True
            break
    wall = time.perf_counter() - started
    metrics = binary_metrics(data.y_test.cpu().numpy(), predict_proba(model, x_eval_test))
    return TrainOutcome(model, metrics, history, step, rep_clip, wall, cancelled)
