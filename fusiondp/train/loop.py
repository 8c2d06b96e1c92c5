"""One training loop for every mode: Poisson sampling, public term, private term, update.

Per step (METHOD.md §3): a public batch of the mode's public view gives an unclipped,
unnoised gradient; a Poisson sample of private rows gives per-sample gradients of the
mode's private loss, clipped to C, summed, noised with σC and divided by the expected
batch size; ``θ ← θ − η (g_pub + α g_priv)``, then each parameter tensor is projected
to norm ≤ M. Tensors stay on the device; losses are read back once per epoch.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from fusiondp.metrics import f1_threshold, label_thresholds, target_metrics
from fusiondp.models import TabularMLP, build_model
from fusiondp.privacy.randomness import protective_torch_generator
from fusiondp.task import BINARY, Task
from fusiondp.train.ghost import row_layout, stacked_step_gradients, supports
from fusiondp.train.modes import Mode
from fusiondp.train.private import PrivateLoss, noisy_private_gradient
from fusiondp.train.settings import TrainSettings

EVAL_BATCH_ROWS = 16_384
REP_CLIP_QUANTILE = 0.9


@dataclass
class ImputationChannels:
    """Per part of the table, FusionDP's imputation channels (``fusiondp.reference.imputation_channels``): the
    sensitive block of each row's shrunk expected encoding, a function of its public columns only."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    support: torch.Tensor
    """The support rows' channels from their cross-fitted imputation (as far from the real values as a private
    row's are from its own)."""


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
    x_reference: torch.Tensor | None = None
    """FusionDP's reference view (``fusiondp.reference``); the hybrid view when not given."""
    support_reference: torch.Tensor | None = None
    task: Task = BINARY
    """The target kind: the head's width, the loss, and how the labels ``y`` are coded (``fusiondp.task``)."""
    channels: ImputationChannels | None = None
    """A table's imputation channels, read by the modes that take them (``Mode.imputation_channels``); notes have
    none and keep their reference view."""

    def with_channels(self) -> TrainTensors:
        """Every view with the imputation channels appended as public features, and the reference view the rows
        with their sensitive values missing (the uninformative view) beside their channels."""
        channels = self.channels
        if channels is None:
            return self
        width = self.x_real.shape[1]

        def joined(x: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
            return torch.cat((x, extra), 1)

        added = torch.arange(width, width + channels.train.shape[1], device=self.public_features.device)
        return dataclasses.replace(
            self, x_real=joined(self.x_real, channels.train), x_hybrid=joined(self.x_hybrid, channels.train),
            x_blank=joined(self.x_blank, channels.train), x_val_hybrid=joined(self.x_val_hybrid, channels.val),
            x_test=joined(self.x_test, channels.test), support_real=joined(self.support_real, channels.support),
            support_hybrid=joined(self.support_hybrid, channels.support),
            support_blank=joined(self.support_blank, channels.support),
            public_features=torch.cat((self.public_features, added)),
            x_reference=joined(self.x_blank, channels.train),
            support_reference=joined(self.support_blank, channels.support), channels=None)

    def view(self, name: str) -> torch.Tensor:
        if name == "reference":
            return self.x_hybrid if self.x_reference is None else self.x_reference
        return {"real": self.x_real, "hybrid": self.x_hybrid, "uninformative": self.x_blank,
                "public_only": self.x_real[:, self.public_features]}[name]

    def support_view(self, name: str) -> torch.Tensor:
        if name == "reference":
            return self.support_hybrid if self.support_reference is None else self.support_reference
        return {"hybrid": self.support_hybrid, "uninformative": self.support_blank}[name]


@dataclass
class EpochReport:
    mode: str
    seed: int
    epoch: int
    epochs: int
    step: int
    steps: int
    public_loss: float
    """Mean loss of the public term (public rows or views: no private value enters it)."""
    val_auroc: float
    """AUROC on the validation rows' hybrid view (imputed sensitive values: public information); multi-class:
    macro one-vs-rest; NaN for a regression target, scored by ``val_r2`` instead."""
    epsilon_spent: float | None
    val_r2: float | None = None
    """R² on the validation rows' hybrid view, for a regression target (``None`` for classification)."""

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


def poisson_sample(n_rows: int, q: float, generator: torch.Generator) -> torch.Tensor:
    """Indices of a Poisson sample: each of ``n_rows`` rows independently with probability ``q``.

    Drawn as geometric gaps between successive chosen rows, so a step costs O(qN) rather
    than O(N) — the same distribution as ``rand(N) < q``, without touching every row.
    """
    device = generator.device
    if q >= 1:
        return torch.arange(n_rows, device=device)
    expected = q * n_rows
    chunk = int(expected + 8 * expected**0.5 + 16)
    # float64: positions are exact integers far beyond any table size (float32 stops at 2**24)
    gaps = torch.empty(chunk, dtype=torch.float64, device=device).geometric_(q, generator=generator)
    positions = torch.cumsum(gaps, 0)
    while positions[-1] <= n_rows:
        more = torch.empty(chunk, dtype=torch.float64, device=device).geometric_(q, generator=generator)
        positions = torch.cat([positions, positions[-1] + torch.cumsum(more, 0)])
    return (positions[positions <= n_rows] - 1).long()


def planned_steps(n_rows: int, settings: TrainSettings, mode: str) -> tuple[float, int, list[int]]:
    """Sampling rate q = B/N, total steps T = ceil(epochs/q) at ``mode``'s epochs (``TrainSettings.epochs_for``), and
    the step that ends each epoch."""
    epochs = settings.epochs_for(mode)
    q = min(1.0, settings.batch_size / n_rows)
    total = math.ceil(epochs / q - 1e-9)
    ends = [min(total, math.ceil((e + 1) / q - 1e-9)) for e in range(epochs)]
    return q, total, ends


@torch.no_grad()
def predict_proba(model: TabularMLP, x: torch.Tensor, task: Task = BINARY) -> np.ndarray:
    """``task.predictions`` in deterministic order, in eval mode, batched; restores train mode.

    Binary: the positive class's probability; multi-class: a probability per class; multi-label: a
    probability per label; regression: the predicted value in the target's units. No rows: an empty
    array of that shape (the estimators train without validation rows).
    """
    model.eval()
    chunks = [task.predictions(model(x[i:i + EVAL_BATCH_ROWS])[0]) for i in range(0, len(x), EVAL_BATCH_ROWS)]
    model.train()
    return torch.cat(chunks).cpu().numpy() if chunks else np.empty((0, task.outputs) if task.outputs > 1 else 0)


@torch.no_grad()
def support_rep_clip(model: TabularMLP, real: torch.Tensor, reference: torch.Tensor) -> float:
    """C_h: the 90th percentile of ‖h(x) − h(x̃)‖ on *support* rows (public values), against
    their cross-fitted reference."""
    model.eval()
    distance = (model(real)[1] - model(reference)[1]).norm(dim=1)
    model.train()
    return max(float(torch.quantile(distance, REP_CLIP_QUANTILE)), 1e-3)


def _shared_parameters(models: list[TabularMLP]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One ``(models, parameters)`` buffer holding every model's parameters, and its per-tensor views.

    Each model's parameters are made views of its row (so evaluating a model reads the buffer as
    trained); the returned views are ``(models, *shape)``, in ``parameters()`` order, as the fused pass
    takes them. Entries follow ``parameters()`` order, the layout a noise draw of one vector has.
    """
    params = [list(model.parameters()) for model in models]
    flat = torch.stack([torch.cat([p.detach().reshape(-1) for p in row]) for row in params])
    weights, offset = [], 0
    for index, first in enumerate(params[0]):
        size = first.numel()
        weights.append(flat[:, offset:offset + size].view(len(models), *first.shape))
        for row, model_params in enumerate(params):
            model_params[index].data = flat[row, offset:offset + size].view(first.shape)
        offset += size
    return flat, weights


class ModeStep:
    """One optimisation step of a mode, for one model or several trained in lockstep, kept on the device.

    Holds the models, the generators, the minibatch order of the non-private modes
    and the running loss sums, which are read back (one host sync) once per epoch. For the
    library's MLP a step is one fused pass (``ghost.stacked_step_gradients``) over the rows
    ``[public | real | reference]``, gathered into a buffer reused across steps; other
    models take autograd for the public term and ``torch.func`` for the private one.

    Randomness of two kinds (``fusiondp.privacy.randomness``): the seed governs the initialisation,
    the public rows and the minibatch order; the Poisson samples come from a protective stream of
    their own and every model draws its own standard normal ξ from another, both seeded from the
    OS's entropy and recorded nowhere (with ``settings.reproducible_noise``: derived from the seed,
    the mode and the model's σ, so a run can be replayed — and carries no guarantee).

    ``sigma`` may list several noise multipliers (one model each: the ε of a curve). The models
    start from the seed's one initialisation, see the same public rows and the same Poisson
    samples, and each adds its own ξ scaled by its own σ; their parameters live side by side in one
    ``(models, parameters)`` buffer, so one fused pass and a few whole-buffer operations step them
    all. Releasing several of them is one subsampled Gaussian of σ_eff = (Σσ_k⁻²)^−½ per step
    (``fusiondp.privacy.joint``).
    """

    def __init__(self, data: TrainTensors, mode: Mode, settings: TrainSettings, *, seed: int,
                 sigma: float | Sequence[float] | None) -> None:
        if mode.imputation_channels:
            data = data.with_channels()
        settings = settings.for_mode(mode.name)
        self.data, self.mode, self.settings = data, mode, settings
        sigmas = list(sigma) if isinstance(sigma, Sequence) else [sigma]
        if not sigmas or (len(sigmas) > 1 and not mode.is_private):
            raise ValueError(f"mode {mode.name} trains one model per run (got {len(sigmas)} noise multipliers)")
        self.sigma = sigmas[0]
        device = data.y.device
        self.generator = torch.Generator(device=device).manual_seed(seed)
        """Public randomness: minibatch order and public rows."""
        keyed = settings.reproducible_noise
        self.sampling_generator = protective_torch_generator(device, (seed, mode.name, "sampling") if keyed else None)
        self.noise_generators = [
            protective_torch_generator(device, (seed, mode.name, "noise", float(s or 0.0)) if keyed else None)
            for s in sigmas]
        """One protective stream per model: no two models share their ξ, even in one batched pass."""
        public_only = mode.public_view == "public_only"
        self.x_eval_val = data.x_val_hybrid[:, data.public_features] if public_only else data.x_val_hybrid
        self.x_eval_test = data.x_test[:, data.public_features] if public_only else data.x_test
        self.model = build_model(self.x_eval_test.shape[1], settings.hidden, seed, device, data.task.outputs)
        self.models = [self.model] + [copy.deepcopy(self.model) for _ in sigmas[1:]]
        self.params = dict(self.model.named_parameters())
        self.param_list = list(self.model.parameters())
        self.flat, self.weights = _shared_parameters(self.models)
        self.noise = torch.empty_like(self.flat)
        self.n_rows = len(data.y)
        self.q, self.total_steps, self.epoch_ends = planned_steps(self.n_rows, settings, mode.name)
        self.steps_taken = 0
        self.x_public = data.view(mode.public_view) if mode.public_view else None
        self.rep_clip: float | None = None
        self.private_loss: PrivateLoss | None = None
        self.views = 0
        self.clip_norms: list[float] = []
        """Each model's clip norm C (``TrainSettings.clip_norm``: max(max_grad_norm, noise_level / σ), or fixed);
        none without noise."""
        self.max_norm: float | torch.Tensor = 1.0
        if mode.is_private:
            if any(s is None for s in sigmas):
                raise ValueError(f"mode {mode.name} needs a noise multiplier")
            self.clip_norms = [settings.clip_norm(s, mode.name) for s in sigmas]
            self.max_norm = torch.tensor(self.clip_norms, dtype=self.flat.dtype, device=device).unsqueeze(1)
            self.noise_scale = torch.tensor(sigmas, dtype=self.flat.dtype, device=device).unsqueeze(1).mul_(
                self.max_norm)
            calibrated = mode.private_loss == "calibrated"
            if calibrated:
                self.rep_clip = settings.rep_clip or support_rep_clip(
                    self.model, data.support_real, data.support_view(mode.private_view))
            self.private_loss = PrivateLoss(self.model, calibrated, settings.beta, self.rep_clip or 1.0, data.task)
            self.x_ref = data.view(mode.private_view)
            self.views = 2 if calibrated else 1
        self.alpha = settings.alpha if mode.public_view else 1.0
        self.public_loss_sum = torch.zeros(len(self.models), device=device)
        self.public_steps = 0
        self.order = torch.randperm(self.n_rows, generator=self.generator, device=device)
        self.cursor = 0
        self.fused = supports(self.model)
        if len(self.models) > 1 and not self.fused:
            raise ValueError("several models train in lockstep only through the fused pass (the library's MLP)")
        self.model_tensors = [weight[index] for index in range(len(self.models)) for weight in self.weights]
        """Every model's parameter tensors, as views of the buffer: what the norm bound projects."""
        self.every_public_row = (self.x_public is not None and mode.is_private
                                 and settings.public_batch_size >= self.n_rows)
        width = (self.x_public if self.x_public is not None else data.x_real).shape[1]
        self.x_rows = torch.empty(0, width, device=device, dtype=data.x_real.dtype)
        # multilabel labels are (rows, labels)
        self.y_rows = torch.empty(0, *data.y.shape[1:], device=device, dtype=data.y.dtype)

    def _public_rows(self) -> torch.Tensor | slice:
        device = self.data.y.device
        if self.mode.is_private:
            if self.every_public_row:
                return slice(None)
            return torch.randint(self.n_rows, (self.settings.public_batch_size,), generator=self.generator,
                                 device=device)
        if self.cursor >= self.n_rows:
            self.order, self.cursor = torch.randperm(self.n_rows, generator=self.generator, device=device), 0
        rows = self.order[self.cursor:self.cursor + self.settings.batch_size]
        self.cursor += self.settings.batch_size
        return rows

    def __call__(self) -> None:
        update = self._fused_update() if self.fused else self._autograd_update()
        lr = self.settings.lr_at(self.steps_taken, self.total_steps, self.mode.name)
        self.steps_taken += 1
        with torch.no_grad():
            if self.fused:
                self.flat.sub_(update, alpha=lr)
                tensors = self.model_tensors
            else:
                tensors = self.param_list
                torch._foreach_add_(tensors, update, alpha=-lr)
            if self.settings.param_bound is not None:  # each parameter tensor of each model to norm ≤ M
                norms = torch.stack(torch._foreach_norm(tensors))
                torch._foreach_mul_(tensors, (self.settings.param_bound / norms).clamp(max=1.0).unbind())

    def _sample_private_rows(self) -> torch.Tensor:
        return poisson_sample(self.n_rows, self.q, self.sampling_generator)

    def _draw_noise(self) -> torch.Tensor:
        """ξ ~ N(0, I), ``(models, parameters)``: each model's row from its own stream."""
        for row, generator in zip(self.noise, self.noise_generators, strict=True):
            torch.randn(row.shape, generator=generator, device=row.device, dtype=row.dtype, out=row)
        return self.noise

    def _reserve_rows(self, rows: int) -> None:
        """Grow the row buffer to ``rows`` (rarely: a Poisson sample larger than any before).

        Zero-filled, so padding rows are finite; afterwards they may hold earlier rows,
        which the fused pass weights by exactly zero.
        """
        if rows <= len(self.x_rows):
            return
        rows = max(rows, 2 * len(self.x_rows))
        self.x_rows = self.x_rows.new_zeros(rows, self.x_rows.shape[1])
        self.y_rows = self.y_rows.new_zeros(rows, *self.y_rows.shape[1:])
        if self.every_public_row and self.x_public is not None:
            self.x_rows[:self.n_rows] = self.x_public
            self.y_rows[:self.n_rows] = self.data.y

    def _step_rows(self) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """This step's rows and labels in ``row_layout`` order, the public count and the sample size.

        When the public batch is every row, that block stays in the buffer from step to step
        and only the sampled private rows are written behind it.
        """
        rows: torch.Tensor | slice | None = None
        n_public = batch = 0
        if self.x_public is not None:
            rows = self._public_rows()
            n_public = self.n_rows if isinstance(rows, slice) else len(rows)
        if self.private_loss is not None:
            sampled = self._sample_private_rows()
            batch = len(sampled)
        first, block, total = row_layout(n_public, batch, self.views)
        self._reserve_rows(total)
        if isinstance(rows, torch.Tensor) and self.x_public is not None:
            torch.index_select(self.x_public, 0, rows, out=self.x_rows[:n_public])
            torch.index_select(self.data.y, 0, rows, out=self.y_rows[:n_public])
        if batch:
            for view, source in enumerate((self.data.x_real, self.x_ref)[:self.views]):
                start = first + view * block
                torch.index_select(source, 0, sampled, out=self.x_rows[start:start + batch])
            torch.index_select(self.data.y, 0, sampled, out=self.y_rows[first:first + batch])
            if self.views == 2:
                self.y_rows[first + block:first + block + batch] = self.y_rows[first:first + batch]
        return self.x_rows[:total], self.y_rows[:total], n_public, batch

    def _fused_update(self) -> torch.Tensor:
        """``g_pub + α (Σ_i clip(g_i) + σCξ) / B`` for every model, ``(models, parameters)``, from one pass."""
        x, y, n_public, batch = self._step_rows()
        out = stacked_step_gradients(self.model, self.weights, x, y, n_public=n_public, batch=batch,
                                     views=self.views, beta=self.settings.beta, rep_clip=self.rep_clip or 1.0,
                                     max_norm=self.max_norm, task=self.data.task)
        models = len(self.models)
        update = None
        if out.public is not None:
            update = torch.cat([g.reshape(models, -1) for g in out.public], 1)
            self.public_loss_sum += out.public_loss
            self.public_steps += 1
        if out.private is not None:
            noised = torch.cat([g.reshape(models, -1) for g in out.private], 1).addcmul_(self.noise_scale,
                                                                                          self._draw_noise())
            weight = self.alpha / (self.q * self.n_rows)
            update = noised.mul_(weight) if update is None else update.add_(noised, alpha=weight)
        assert update is not None, "every mode has a public or a private term"
        return update

    def _autograd_update(self) -> list[torch.Tensor]:
        """The same update for any model: autograd for the public term, ``torch.func`` for the private one."""
        params = self.param_list
        update: list[torch.Tensor] | None = None
        if self.x_public is not None:
            rows = self._public_rows()
            logits, _ = self.model(self.x_public[rows])
            loss = self.data.task.mean_loss(logits, self.data.y[rows])
            update = list(torch.autograd.grad(loss, params))
            self.public_loss_sum += loss.detach()
            self.public_steps += 1
        if self.private_loss is not None:
            assert self.sigma is not None
            sampled = self._sample_private_rows()
            detached = {name: p.detach() for name, p in self.params.items()}
            noisy, _ = noisy_private_gradient(
                self.private_loss, detached, self.data.x_real[sampled], self.x_ref[sampled], self.data.y[sampled],
                max_norm=self.clip_norms[0], sigma=self.sigma, expected_batch=self.q * self.n_rows,
                generator=self.noise_generators[0],
            )
            private = [noisy[name] for name in self.params]
            if update is None:
                update = torch._foreach_mul(private, self.alpha)
            else:
                torch._foreach_add_(update, private, alpha=self.alpha)
        assert update is not None, "every mode has a public or a private term"
        return update

    def take_losses(self) -> list[float]:
        """Each model's mean public loss per step since the last call.

        The private loss is never read back: Σ ℓ_i over the sampled rows is an unnoised
        statistic of the private rows, and whatever leaves the loop may be shown or exported
        (METHOD.md §5).
        """
        steps = self.public_steps or float("nan")
        public = [float(total) / steps for total in self.public_loss_sum.cpu()]
        self.public_loss_sum.zero_()
        self.public_steps = 0
        return public


def train_models(
    data: TrainTensors,
    mode: Mode,
    settings: TrainSettings,
    *,
    seed: int,
    sigmas: Sequence[float | None],
    epsilon_at: Sequence[Callable[[int], float | None]],
    on_epoch: Callable[[int, EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[TrainOutcome]:
    """Train one model per noise multiplier in ``mode``, in lockstep (``ModeStep``), and score each on the
    real test rows. ``epsilon_at[k]`` and ``on_epoch(k, report)`` speak for model k; each outcome's wall
    time is the whole lockstep training's."""
    runner = ModeStep(data, mode, settings, seed=seed, sigma=list(sigmas))
    histories: list[list[dict[str, Any]]] = [[] for _ in runner.models]
    started = time.perf_counter()
    step, epoch, cancelled = 0, 0, False
    task = data.task
    y_val = task.label_values(data.y_val.cpu().numpy())
    while step < runner.total_steps:
        runner()
        step += 1
        if step == runner.epoch_ends[epoch]:
            for index, (model, public_loss) in enumerate(zip(runner.models, runner.take_losses(), strict=True)):
                val = target_metrics(task.kind, y_val, predict_proba(model, runner.x_eval_val, task))
                report = EpochReport(
                    mode=mode.name, seed=seed, epoch=epoch + 1, epochs=runner.settings.epochs, step=step,
                    steps=runner.total_steps, public_loss=public_loss, val_auroc=val.get("auroc", float("nan")),
                    epsilon_spent=epsilon_at[index](step), val_r2=val.get("r2"),
                )
                histories[index].append(report.to_dict())
                if on_epoch is not None:
                    on_epoch(index, report)
            epoch += 1
        if should_stop is not None and should_stop():
            cancelled = True
            break
    wall = time.perf_counter() - started
    return [TrainOutcome(model, _test_metrics(model, runner, y_val), history, step, runner.rep_clip, wall, cancelled)
            for model, history in zip(runner.models, histories, strict=True)]


def _test_metrics(model: TabularMLP, runner: ModeStep, y_val: np.ndarray) -> dict[str, float]:
    """A trained model's metrics on the real test rows, at the threshold its validation rows choose."""
    task = runner.data.task
    threshold: float | np.ndarray = 0.5
    if task.kind == "binary":  # metrics.THRESHOLD_RULE: chosen on validation rows, public information
        threshold = f1_threshold(y_val, predict_proba(model, runner.x_eval_val, task))
    elif task.kind == "multilabel":  # the same rule, label by label
        threshold = label_thresholds(y_val, predict_proba(model, runner.x_eval_val, task))
    metrics = target_metrics(task.kind, task.label_values(runner.data.y_test.cpu().numpy()),
                             predict_proba(model, runner.x_eval_test, task), threshold)
    if task.kind == "binary":
        metrics["threshold"] = threshold
    return metrics
