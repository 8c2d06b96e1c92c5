"""One fused pass for ``TabularMLP``: the public gradient and the clipped private sum of a step.

A FusionDP step needs the gradient of the mean public loss and, for each sampled private
row, the gradient of ``ℓ_i = L(f(x_i)) − L(f(x̃_i)) + β·R_i``, clipped to C and summed.
Both are computed here from one forward and one backward pass over the rows
``[public | real | reference]``, written out for the MLP's three layer kinds (linear,
layer norm, exact GELU) instead of recorded by autograd: at this model size a step is
dominated by per-operation overhead, and a hand-written pass has no graph to build.

Per-sample gradients are never materialised ("ghost clipping"). A linear layer's gradient
for one row is the outer product ``δ aᵀ`` of the backpropagated signal and the layer input,
and a sample's gradient sums its real and reference rows, so with Gram matrices
``D_jk = δ_j·δ_k`` and ``A_jk = a_j·a_k`` over the sample's rows,
``‖Σ_j δ_j a_jᵀ‖² = Σ_jk D_jk A_jk`` and the bias part is ``Σ_jk D_jk``; a layer norm's
affine gradient is ``Σ_j δ_j ⊙ x̂_j``, small enough to form per sample. The clipped sum is
then one batched product per layer with each row's δ scaled by its sample's clip factor.

A sample whose two views agree must contribute nothing, as the removal relation assumes
(METHOD.md §3). Its gradient norm here is exactly zero, and a batch of such samples sums
to exactly zero. In a batch that also holds other samples its real and reference
gradients still enter the clipped sum — each view's rows summed on their own, then the
two sums added — so they cancel up to float rounding, not bit for bit: the sum with and
without the sample differs by up to ≈ 6e-6 of its largest entry in float32 at B = 128
(≈ 1e-15 in float64; see the tests), far below the noise σ·C added to it.
Two things would break the exact zeros in a batched pass: the real and reference rows
being summed in one reduction, and an elementwise kernel computing a row differently by
where it sits (PyTorch's CPU loops run SIMD over whole vectors and a scalar loop over the
tail). So the rows are laid out in blocks of a multiple of ``ALIGN_ROWS`` rows
(``row_layout``): public rows, then one block per view, each padded at its end. Every
row of every view then sits at the same offset modulo the vector width and no row falls
in a tail; padding rows get a zero loss gradient, so they contribute exactly nothing.
The public gradient comes from the public rows' slices alone, so it carries nothing of
the private rows.
The result equals ``clip_and_sum(per_sample_gradients(...))`` and autograd's public
gradient (checked in the tests against a per-row loop, in float64).

``stacked_step_gradients`` is the pass itself, for K models of one shape at once (a leading model
axis on every tensor, batched products): the ε of a curve, trained in lockstep on the same rows.
``step_gradients`` is its one-model case.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.functional import gelu

from fusiondp.models import TabularMLP
from fusiondp.task import BINARY, Task

_aten = torch.ops.aten

ALIGN_ROWS = 32
"""Block granularity in rows: a multiple of any CPU loop's SIMD step (two AVX-512 vectors of float32)."""


def _round_up(rows: int) -> int:
    return -(-rows // ALIGN_ROWS) * ALIGN_ROWS


def row_layout(n_public: int, batch: int, views: int) -> tuple[int, int, int]:
    """``(first private row, rows per view block, total rows)`` of a step's row buffer.

    Public rows ``[0, n_public)``; view ``v``'s sample rows start at ``first + v·block``;
    everything else is padding (any finite values).
    """
    first = _round_up(n_public)
    block = _round_up(batch) if views else 0
    return first, block, first + views * block


def pack_rows(x_public: torch.Tensor, y_public: torch.Tensor, views_x: list[torch.Tensor],
              y_private: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows and labels in ``row_layout`` order, padding zero-filled (a fresh buffer each call).

    Labels are ``(rows,)``, or ``(rows, labels)`` for a multi-label target."""
    first, block, total = row_layout(len(y_public), len(y_private), len(views_x))
    x = x_public.new_zeros(total, x_public.shape[1])
    y = y_public.new_zeros(total, *y_private.shape[1:])
    x[:len(y_public)], y[:len(y_public)] = x_public, y_public
    for v, rows in enumerate(views_x):
        start = first + v * block
        x[start:start + len(y_private)], y[start:start + len(y_private)] = rows, y_private
    return x, y


@dataclass(frozen=True)
class StepGradients:
    """What one fused pass returns; gradient lists follow ``model.parameters()`` order."""

    public: list[torch.Tensor] | None
    """Gradient of the mean public loss, or ``None`` without public rows."""
    private: list[torch.Tensor] | None
    """``Σ_i g_i·min(1, C/‖g_i‖)`` over the private samples, or ``None`` without a private term."""
    public_loss: torch.Tensor
    """Mean public loss (zero without public rows)."""
    private_loss: torch.Tensor
    """Summed per-sample private loss (zero without private rows)."""
    norms: torch.Tensor
    """Per-sample private gradient norms before clipping."""


def _blocks(model: nn.Module) -> list[tuple[nn.Linear, nn.LayerNorm]] | None:
    """The ``(Linear, LayerNorm)`` pairs of a ``TabularMLP`` whose pass this module writes out, else ``None``."""
    if not isinstance(model, TabularMLP) or len(model.body) % 3:
        return None
    body = list(model.body)
    blocks = []
    for linear, norm, act in zip(body[0::3], body[1::3], body[2::3], strict=True):
        if not (isinstance(linear, nn.Linear) and linear.bias is not None and isinstance(norm, nn.LayerNorm)
                and norm.weight is not None and norm.bias is not None
                and isinstance(act, nn.GELU) and act.approximate == "none"):
            return None
        blocks.append((linear, norm))
    return blocks if model.head.bias is not None else None


def supports(model: nn.Module) -> bool:
    """Whether ``step_gradients`` can run ``model`` (the library's MLP with its reference layers)."""
    return _blocks(model) is not None


def parameter_names(model: nn.Module) -> list[str]:
    """Names of the tensors in ``step_gradients``' lists, in order."""
    return [name for name, _ in model.named_parameters()]


def _gram(t: torch.Tensor) -> torch.Tensor:
    """``(K, m, b, k) → (K, m, m, b)``: dot products between the m rows of each sample, per model."""
    return torch.linalg.vecdot(t.unsqueeze(2), t.unsqueeze(1))


def _blockwise_sum(weighted: torch.Tensor) -> torch.Tensor:
    """``(K, views, rows, …) → (K, …)``: sum over rows within each view first, then over views, so a batch whose
    views all agree sums to exactly zero (an agreeing sample among others cancels up to float rounding)."""
    return weighted.sum(2).sum(1)


def step_gradients(
    model: TabularMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    n_public: int,
    batch: int,
    views: int,
    beta: float = 0.0,
    rep_clip: float = 1.0,
    max_norm: float | torch.Tensor = 1.0,
    task: Task = BINARY,
) -> StepGradients:
    """Public gradient and clipped private sum from one pass over rows laid out by ``row_layout``.

    ``x`` and its labels ``y`` hold ``n_public`` public rows and ``views`` blocks of
    ``batch`` private rows: the real rows, and with ``views == 2`` their reference rows in
    the same order (the calibrated loss ``L(f(x)) − L(f(x̃)) + β·R``; with one view the
    loss is ``L(f(x))``). ``views == 0``: no private term. An empty sample gives a zero sum.
    ``task`` gives the loss ``L`` and the head's width: one output, or one logit per class, whose
    per-row gradient is a vector (the head's ghost norm then takes its Gram matrix like any layer's).
    """
    weights = [p.unsqueeze(0) for p in model.parameters()]
    out = stacked_step_gradients(model, weights, x, y, n_public=n_public, batch=batch, views=views, beta=beta,
                                 rep_clip=rep_clip, max_norm=max_norm, task=task)
    return StepGradients(None if out.public is None else [g[0] for g in out.public],
                         None if out.private is None else [g[0] for g in out.private],
                         out.public_loss[0], out.private_loss[0], out.norms[0])


@torch.no_grad()
def stacked_step_gradients(
    model: TabularMLP,
    weights: list[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    n_public: int,
    batch: int,
    views: int,
    beta: float = 0.0,
    rep_clip: float = 1.0,
    max_norm: float | torch.Tensor = 1.0,
    task: Task = BINARY,
) -> StepGradients:
    """``step_gradients`` for K models of ``model``'s shape at once, on the same rows.

    ``weights`` are the K models' parameters in ``model.parameters()`` order, each stacked on a
    leading axis of K (``model`` gives the layer structure only); every tensor returned has that
    leading axis too. The K passes run as batched products, so a step of K models costs little more
    than a step of one: at this model size a step is per-operation overhead, paid once here. Each
    model's rows sit in their own aligned blocks, so agreeing views cancel as in a one-model pass.
    ``max_norm`` is one clip norm for every model or a ``(K, 1)`` tensor of one each.
    """
    blocks = _blocks(model)
    if blocks is None:
        raise TypeError("step_gradients runs TabularMLP (Linear, LayerNorm, exact GELU) only")
    if model.head.out_features != task.outputs:
        raise ValueError(f"the model has {model.head.out_features} output(s); a {task.kind} task needs {task.outputs}")
    first, block, total = row_layout(n_public, batch, views)
    if views not in (0, 1, 2) or (batch and not views) or len(x) != total or len(y) != total:
        raise ValueError(f"{len(x)} rows, {len(y)} labels: expected {total} for {n_public} public rows "
                         f"and {views} view(s) of {batch}")
    models = len(weights[0])
    layers = [weights[4 * index:4 * index + 4] for index in range(len(blocks))]
    head_weight, head_bias = weights[-2:]

    saved = []
    a = x.expand(models, *x.shape)
    for (linear_weight, linear_bias, gamma, shift), (_, norm) in zip(layers, blocks, strict=True):
        z = torch.baddbmm(linear_bias.unsqueeze(1), a, linear_weight.transpose(1, 2))
        normalised, mean, rstd = torch.native_layer_norm(z, norm.normalized_shape, None, None, norm.eps)
        out = torch.addcmul(shift.unsqueeze(1), normalised, gamma.unsqueeze(1))
        saved.append((a, z, normalised, out, mean, rstd))
        a = gelu(out)
    h = a
    single = model.head.out_features == 1
    logit = torch.baddbmm(head_bias.unsqueeze(1), h, head_weight.transpose(1, 2))
    if single:
        logit = logit.view(models, -1)

    flat_losses, flat_dlogit = task.losses_and_gradient(logit.reshape(models * total, *logit.shape[2:]),
                                                        y.expand(models, *y.shape).reshape(models * total,
                                                                                           *y.shape[1:]))
    losses, dlogit = flat_losses.view(models, total), flat_dlogit.view(logit.shape)  # dlogit: d loss / d output
    public_loss = private_loss = logit.new_zeros(models)
    if n_public:
        public_loss = losses[:, :n_public].mean(1)
        dlogit[:, :n_public].div_(n_public)
    dlogit[:, n_public:first] = 0.0
    if views:
        per_view = dlogit[:, first:].view(models, views, block, *dlogit.shape[2:])
        per_view[:, :, batch:] = 0.0
        view_losses = losses[:, first:].view(models, views, block)[:, :, :batch].sum(2)
        private_loss = view_losses[:, 0] if views == 1 else view_losses[:, 0] - view_losses[:, 1]
        if views == 2:
            per_view[:, 1].neg_()
    grad = dlogit.unsqueeze(2) * head_weight if single else torch.bmm(dlogit, head_weight)
    if views == 2 and beta and batch:
        # β·min(1, ‖d‖²/C_h²): gradient ±2β d/C_h² on the two views where the clamp is inactive
        real, ref = slice(first, first + batch), slice(first + block, first + block + batch)
        diff = h[:, real] - h[:, ref]
        distance = torch.linalg.vecdot(diff, diff) / rep_clip**2
        private_loss = private_loss + beta * distance.clamp(max=1.0).sum(1)
        push = diff * ((distance <= 1.0).to(diff.dtype) * (2 * beta / rep_clip**2)).unsqueeze(2)
        grad[:, real] += push
        grad[:, ref] -= push

    deltas = []
    for index in reversed(range(len(blocks))):
        (linear_weight, _, gamma, _), (_, norm) = layers[index], blocks[index]
        _, z, _, out, mean, rstd = saved[index]
        d_out = _aten.gelu_backward(grad, out)
        d_z = _aten.native_layer_norm_backward(d_out * gamma.unsqueeze(1), z, norm.normalized_shape, mean, rstd,
                                               None, None, [True, False, False])[0]
        deltas.append((d_out, d_z))
        if index:
            grad = torch.bmm(d_z, linear_weight)
    deltas.reverse()

    public = None
    if n_public:
        public = []
        rows = slice(None, n_public)
        for (a_in, _, normalised, _, _, _), (d_out, d_z) in zip(saved, deltas, strict=True):
            public += [torch.bmm(d_z[:, rows].transpose(1, 2), a_in[:, rows]), d_z[:, rows].sum(1),
                       (d_out[:, rows] * normalised[:, rows]).sum(1), d_out[:, rows].sum(1)]
        if single:
            public += [torch.bmm(dlogit[:, rows].unsqueeze(1), h[:, rows]), dlogit[:, rows].sum(1, keepdim=True)]
        else:
            public += [torch.bmm(dlogit[:, rows].transpose(1, 2), h[:, rows]), dlogit[:, rows].sum(1)]

    private, norms = None, logit.new_zeros(models, 0)
    if batch:
        private, norms = _clipped_private_sum(saved, deltas, dlogit, h, first, views, block, max_norm)
        norms = norms[:, :batch]
    elif views:
        private = [torch.zeros_like(w) for w in weights]
    return StepGradients(public, private, public_loss, private_loss, norms)


def _clipped_private_sum(
    saved: list[tuple[torch.Tensor, ...]],
    deltas: list[tuple[torch.Tensor, torch.Tensor]],
    dlogit: torch.Tensor,
    h: torch.Tensor,
    first: int,
    views: int,
    block: int,
    max_norm: float | torch.Tensor,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per-sample norms from Gram matrices, then ``Σ_i clip factor_i · g_i`` per parameter, for each model.

    Rows from ``first`` on are viewed as ``(models, views, block, width)``: row i of every view
    belongs to sample i (padding samples have zero gradients and add nothing).
    """
    models = len(h)
    shape = (models, views, block, -1)
    rows = slice(first, None)
    linears, norms_ = [], []
    for (a_in, _, normalised, _, _, _), (d_out, d_z) in zip(saved, deltas, strict=True):
        linears.append((d_z[:, rows].reshape(shape), a_in[:, rows].reshape(shape)))
        norms_.append((d_out[:, rows].reshape(shape), normalised[:, rows].reshape(shape)))
    linears.append((dlogit[:, rows].reshape(shape), h[:, rows].reshape(shape)))

    squared = [torch.linalg.vecdot(_gram(d), _gram(a) + 1, dim=1).sum(1) for d, a in linears]
    for d, normalised in norms_:
        per_sample = torch.cat([(d * normalised).sum(1), d.sum(1)], 2)  # the sample's (γ, β) gradient
        squared.append(torch.linalg.vecdot(per_sample, per_sample))
    # rounding can push an exactly-zero paired norm slightly negative
    norms = torch.stack(squared).sum(0).clamp_(min=0).sqrt_()
    factors = (max_norm / (norms + 1e-12)).clamp_(max=1.0).view(models, 1, block, 1)

    summed = []
    for index, (d, a) in enumerate(linears):
        weighted = d * factors
        summed += [torch.matmul(weighted.transpose(2, 3), a).sum(1), _blockwise_sum(weighted)]
        if index < len(norms_):
            d_norm, normalised = norms_[index]
            weighted_norm = d_norm * factors
            summed += [_blockwise_sum(weighted_norm * normalised), _blockwise_sum(weighted_norm)]
    return summed, norms


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
    task: Task = BINARY,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """``Σ_i g_i·min(1, C/‖g_i‖)`` per parameter, the summed per-row loss, and the per-row norms.

    The private term alone (no public rows), keyed by parameter name like ``clip_and_sum``.
    """
    x, labels = pack_rows(x_real[:0], y[:0], [x_real, x_ref] if calibrated else [x_real], y)
    out = step_gradients(model, x, labels, n_public=0, batch=len(y), views=2 if calibrated else 1, beta=beta,
                         rep_clip=rep_clip, max_norm=max_norm, task=task)
    return dict(zip(parameter_names(model), out.private or [], strict=True)), out.private_loss, out.norms
