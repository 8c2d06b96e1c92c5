"""The fused step engine (``ghost.step_gradients``) against autograd, ``torch.func`` and a per-row loop."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.nn.functional import binary_cross_entropy_with_logits

from fusiondp.models import build_model
from fusiondp.train.ghost import (
    pack_rows,
    parameter_names,
    row_layout,
    stacked_step_gradients,
    step_gradients,
    supports,
)
from fusiondp.train.loop import ModeStep, TrainSettings, TrainTensors
from fusiondp.train.modes import ALL_MODES, get_mode
from fusiondp.train.private import PrivateLoss, clip_and_sum, per_sample_gradients

BETA, REP_CLIP = 0.5, 0.3


def _rows(n_public: int, batch: int, features: int = 7, seed: int = 0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x_public = torch.randn(n_public, features, generator=gen, dtype=dtype)
    y_public = (torch.rand(n_public, generator=gen) < 0.4).to(dtype)
    x_real = torch.randn(batch, features, generator=gen, dtype=dtype)
    x_ref = x_real + 0.5 * torch.randn(batch, features, generator=gen, dtype=dtype)
    y = (torch.rand(batch, generator=gen) < 0.4).to(dtype)
    return x_public, y_public, x_real, x_ref, y


def _model(features: int = 7, seed: int = 0, dtype=torch.float64):
    return build_model(features, (16, 8), seed, torch.device("cpu")).to(dtype)


def _run(model, x_public, y_public, x_real, x_ref, y, views: int, max_norm: float):
    x, labels = pack_rows(x_public, y_public, [x_real, x_ref][:views], y)
    return step_gradients(model, x, labels, n_public=len(y_public), batch=len(y), views=views, beta=BETA,
                          rep_clip=REP_CLIP, max_norm=max_norm)


def _naive_sample_loss(model, x_real, x_ref, y, calibrated: bool) -> torch.Tensor:
    logit_r, h_r = model(x_real.unsqueeze(0))
    loss = binary_cross_entropy_with_logits(logit_r[0], y)
    if calibrated:
        logit_h, h_h = model(x_ref.unsqueeze(0))
        loss = loss - binary_cross_entropy_with_logits(logit_h[0], y)
        distance = (h_r[0] - h_h[0]).norm()
        loss = loss + BETA * (torch.clamp(REP_CLIP / distance, max=1.0) * distance) ** 2 / REP_CLIP**2
    return loss


@pytest.mark.parametrize("views", [1, 2])
@pytest.mark.parametrize("max_norm", [0.05, 1.0, 1e3])
@pytest.mark.parametrize("n_public", [0, 29])
def test_fused_pass_matches_a_per_row_loop_in_float64(views: int, max_norm: float, n_public: int) -> None:
    model = _model()
    x_public, y_public, x_real, x_ref, y = _rows(n_public, 23)
    out = _run(model, x_public, y_public, x_real, x_ref, y, views, max_norm)
    params = list(model.parameters())

    rows = [torch.autograd.grad(_naive_sample_loss(model, x_real[i], x_ref[i], y[i], views == 2), params)
            for i in range(len(y))]
    norms = torch.stack([torch.sqrt(sum(g.pow(2).sum() for g in row)) for row in rows])
    factors = (max_norm / (norms + 1e-12)).clamp(max=1.0)
    expected = [sum(f * row[j] for f, row in zip(factors, rows, strict=True)) for j in range(len(params))]
    losses = torch.stack([_naive_sample_loss(model, x_real[i], x_ref[i], y[i], views == 2) for i in range(len(y))])

    assert torch.allclose(out.norms, norms, rtol=1e-9, atol=1e-12)
    assert out.private_loss.item() == pytest.approx(losses.sum().item(), abs=1e-9)
    assert out.private is not None
    for name, got, want in zip(parameter_names(model), out.private, expected, strict=True):
        assert torch.allclose(got, want, rtol=1e-9, atol=1e-12), name

    if n_public:
        public_loss = binary_cross_entropy_with_logits(model(x_public)[0], y_public)
        assert out.public is not None and out.public_loss.item() == pytest.approx(public_loss.item(), abs=1e-12)
        for name, got, want in zip(parameter_names(model), out.public, torch.autograd.grad(public_loss, params),
                                   strict=True):
            assert torch.allclose(got, want, rtol=1e-9, atol=1e-12), name
    else:
        assert out.public is None


@pytest.mark.parametrize("views", [1, 2])
def test_fused_pass_matches_torch_func(views: int) -> None:
    model = _model()
    _, _, x_real, x_ref, y = _rows(0, 40)
    params = {k: v.detach() for k, v in model.named_parameters()}
    grads, losses = per_sample_gradients(PrivateLoss(model, views == 2, BETA, REP_CLIP), params, x_real, x_ref, y)
    expected, expected_norms = clip_and_sum(grads, 0.7)
    out = _run(model, x_real[:0], y[:0], x_real, x_ref, y, views, 0.7)
    assert out.private is not None
    assert out.private_loss.item() == pytest.approx(losses.sum().item(), abs=1e-9)
    assert torch.allclose(out.norms, expected_norms, rtol=1e-9, atol=1e-12)
    for name, got in zip(parameter_names(model), out.private, strict=True):
        assert torch.allclose(got, expected[name], rtol=1e-9, atol=1e-12), name


@pytest.mark.parametrize("batch", [1, 7, 33, 128, 131])
@pytest.mark.parametrize("n_public", [0, 37, 300, 3058])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_private_sum_is_exactly_zero_when_the_views_agree(batch: int, n_public: int, dtype: torch.dtype) -> None:
    model = _model(dtype=dtype)
    x_public, y_public, x_real, _, y = _rows(n_public, batch, dtype=dtype)
    out = _run(model, x_public, y_public, x_real, x_real.clone(), y, 2, 1.0)
    assert out.private is not None and all(torch.count_nonzero(g) == 0 for g in out.private)
    assert out.private_loss.item() == 0.0 and torch.count_nonzero(out.norms) == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_agreeing_views_cancel_exactly_in_every_model_of_a_stack(dtype: torch.dtype) -> None:
    """Three different models stepped in one batched pass: each one's private sum is exactly zero where the
    views agree, and each one's gradients are what its own pass gives."""
    models = [_model(seed=seed, dtype=dtype) for seed in range(3)]
    weights = [torch.stack(tensors) for tensors in zip(*(m.parameters() for m in models), strict=True)]
    x_public, y_public, x_real, x_ref, y = _rows(37, 33, dtype=dtype)
    for reference in (x_real.clone(), x_ref):
        x, labels = pack_rows(x_public, y_public, [x_real, reference], y)
        out = stacked_step_gradients(models[0], weights, x, labels, n_public=37, batch=33, views=2, beta=BETA,
                                     rep_clip=REP_CLIP)
        assert out.private is not None and out.public is not None and out.norms.shape == (3, 33)
        for index, model in enumerate(models):
            alone = _run(model, x_public, y_public, x_real, reference, y, 2, 1.0)
            assert alone.private is not None and alone.public is not None
            for stacked, single in zip(out.public + out.private, alone.public + alone.private, strict=True):
                assert torch.allclose(stacked[index], single, rtol=1e-5, atol=1e-6)
            if reference is x_ref:
                assert torch.count_nonzero(out.norms[index]) == 33  # the views differ: a real private term
            else:
                assert all(torch.count_nonzero(g[index]) == 0 for g in out.private)
                assert out.private_loss[index].item() == 0.0 and torch.count_nonzero(out.norms[index]) == 0


@pytest.mark.parametrize("noise_level", [None, 1.2])
@pytest.mark.parametrize("mode", [name for name in ALL_MODES if get_mode(name).is_private])
def test_models_in_lockstep_train_as_separate_runs_would(mode: str, noise_level: float | None) -> None:
    """One ModeStep with three σ lands, step after step, where three runs with the same seed do: the same
    initialisation, public rows and Poisson samples, each model its own ξ scaled by its own σ (with
    reproducible noise, each model's ξ is keyed by its σ, so a separate run at that σ draws it too) and,
    when C follows σ, each model clipped at its own C = max(max_grad_norm, noise_level / σ)."""
    data = _tensors()
    settings = TrainSettings(batch_size=32, public_batch_size=64, hidden=(16, 8), reproducible_noise=True,
                             max_grad_norm=0.5, noise_level=noise_level)
    sigmas = [0.6, 1.5, 4.0]
    together = ModeStep(data, get_mode(mode), settings, seed=3, sigma=sigmas)
    apart = [ModeStep(data, get_mode(mode), settings, seed=3, sigma=sigma) for sigma in sigmas]
    assert together.clip_norms == pytest.approx([2.0, 0.8, 0.5] if noise_level else [0.5] * 3)
    for _ in range(6):
        together()
        for step in apart:
            step()
    for model, step in zip(together.models, apart, strict=True):
        for a, b in zip(model.parameters(), step.model.parameters(), strict=True):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    first, last = (torch.cat([p.flatten() for p in m.parameters()]) for m in (together.models[0], together.models[-1]))
    assert not torch.allclose(first, last, atol=1e-3), "different σ must give different models"
    assert together.take_losses() == pytest.approx([loss for step in apart for loss in step.take_losses()],
                                                   rel=1e-5, nan_ok=True)


def test_only_private_modes_take_several_noise_multipliers() -> None:
    with pytest.raises(ValueError, match="one model per run"):
        ModeStep(_tensors(), get_mode("sgd_ori"), TrainSettings(hidden=(16, 8)), seed=0, sigma=[1.0, 2.0])


def test_each_clipped_sample_gradient_has_norm_at_most_c() -> None:
    model = _model(dtype=torch.float32)
    x_public, y_public, x_real, x_ref, y = _rows(50, 30, dtype=torch.float32)
    for i in range(len(y)):
        for views in (1, 2):
            out = _run(model, x_public, y_public, x_real[i:i + 1], 10 * x_ref[i:i + 1], y[i:i + 1], views, 0.05)
            assert out.private is not None
            assert torch.sqrt(sum(g.double().pow(2).sum() for g in out.private)) <= 0.05 * (1 + 1e-5)


def test_public_gradient_carries_nothing_of_the_private_rows() -> None:
    model = _model(dtype=torch.float32)
    x_public, y_public, x_real, x_ref, y = _rows(64, 16, dtype=torch.float32)
    first = _run(model, x_public, y_public, x_real, x_ref, y, 2, 1.0)
    other = _run(model, x_public, y_public, x_real + 3.0, x_ref, 1 - y, 2, 1.0)
    alone = _run(model, x_public, y_public, x_real[:0], x_ref[:0], y[:0], 0, 1.0)
    assert first.public is not None and other.public is not None and alone.public is not None
    assert all(torch.equal(a, b) for a, b in zip(first.public, other.public, strict=True))
    assert torch.equal(first.public_loss, other.public_loss)
    assert all(torch.allclose(a, b, rtol=1e-6, atol=1e-9) for a, b in zip(first.public, alone.public, strict=True))


def test_an_empty_private_sample_gives_a_zero_sum() -> None:
    model = _model()
    x_public, y_public, _, _, y = _rows(10, 0)
    x, labels = pack_rows(x_public, y_public, [x_public[:0]] * 2, y)
    out = step_gradients(model, x, labels, n_public=10, batch=0, views=2)
    assert out.private is not None and all(torch.count_nonzero(g) == 0 for g in out.private)
    with pytest.raises(ValueError):
        step_gradients(model, x_public, y_public, n_public=10, batch=0, views=0)


def test_padding_rows_change_nothing() -> None:
    """Whatever finite values the padding rows hold, the result is the same, bit for bit."""
    model = _model(dtype=torch.float32)
    x_public, y_public, x_real, x_ref, y = _rows(45, 21, dtype=torch.float32)
    x, labels = pack_rows(x_public, y_public, [x_real, x_ref], y)
    first, block, _ = row_layout(45, 21, 2)
    noisy_x, noisy_y = x.clone(), labels.clone()
    pad = torch.ones(len(x), dtype=torch.bool)
    pad[:45] = False
    pad[first:first + 21] = pad[first + block:first + block + 21] = False
    noisy_x[pad] = 100 * torch.randn(int(pad.sum()), x.shape[1])
    noisy_y[pad] = 1.0
    a, b = (step_gradients(model, xs, ys, n_public=45, batch=21, views=2, beta=BETA, rep_clip=REP_CLIP)
            for xs, ys in ((x, labels), (noisy_x, noisy_y)))
    assert a.public is not None and b.public is not None and a.private is not None and b.private is not None
    assert all(torch.equal(u, v) for u, v in zip(a.public + a.private, b.public + b.private, strict=True))
    assert torch.equal(a.norms, b.norms) and len(a.norms) == 21
    assert torch.equal(a.private_loss, b.private_loss) and torch.equal(a.public_loss, b.public_loss)


def _tensors(rows: int = 300, features: int = 9, seed: int = 0) -> TrainTensors:
    gen = torch.Generator().manual_seed(seed)
    x_real = torch.randn(rows, features, generator=gen)
    hybrid = x_real.clone()
    hybrid[:, -3:] += 0.7 * torch.randn(rows, 3, generator=gen)
    blank = x_real.clone()
    blank[:, -3:] = 0.0
    y = (torch.rand(rows, generator=gen) < 0.4).float()
    support = torch.randn(40, features, generator=gen)
    return TrainTensors(x_real=x_real, x_hybrid=hybrid, x_blank=blank, y=y, x_val_hybrid=hybrid[:50],
                        y_val=y[:50], x_test=x_real[:50], y_test=y[:50], support_real=support,
                        support_hybrid=support + 0.1, support_blank=support * 0.0,
                        public_features=torch.arange(features - 3))


def _float64_torch_func(step: ModeStep) -> None:
    """Make ``step`` an independent reference: model, rows and views in float64, the public term by
    autograd and the private term by ``torch.func`` per-sample gradients — not the ghost engine.

    Wrapping the private loss in a plain function is what sends ``noisy_private_gradient`` down its
    ``torch.func`` path (the ghost shortcut is taken only for the library's ``PrivateLoss``)."""
    step.model.double()
    step.data = dataclasses.replace(step.data, x_real=step.data.x_real.double(), y=step.data.y.double())
    if step.x_public is not None:
        step.x_public = step.x_public.double()
    if step.private_loss is not None:
        loss = step.private_loss
        step.x_ref = step.x_ref.double()
        step.private_loss = lambda params, x_real, x_ref, y: loss(params, x_real, x_ref, y)
    step.fused = False


def generator_states(step: ModeStep) -> list[torch.Tensor]:
    """The states of a step's public, sampling and noise generators, to replay one step on another path."""
    return [g.get_state() for g in (step.generator, step.sampling_generator, *step.noise_generators)]


def set_generator_states(step: ModeStep, states: list[torch.Tensor]) -> None:
    for generator, state in zip((step.generator, step.sampling_generator, *step.noise_generators), states,
                                strict=True):
        generator.set_state(state)


@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("public_batch_size", [64, 4096])
def test_fused_step_equals_the_autograd_step(mode: str, public_batch_size: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """With σ = 0 the fused float32 step lands where float64 autograd + ``torch.func`` does, step after step."""
    data = _tensors()
    settings = TrainSettings(batch_size=32, public_batch_size=public_batch_size, hidden=(16, 8), noise_level=None)
    sigma = 0.0 if get_mode(mode).is_private else None
    fused = ModeStep(data, get_mode(mode), settings, seed=3, sigma=sigma)
    reference = ModeStep(data, get_mode(mode), settings, seed=3, sigma=sigma)
    _float64_torch_func(reference)
    assert fused.fused and supports(fused.model)

    def no_ghost(*args: object, **kwargs: object) -> None:
        raise AssertionError("the reference must not use the ghost engine")

    for _ in range(3):
        states = generator_states(fused)  # the paths draw the (here zero) noise in different layouts
        fused()
        set_generator_states(reference, states)
        with monkeypatch.context() as patch:
            patch.setattr("fusiondp.train.private.ghost_clipped_sum", no_ghost)
            reference()
        for a, b in zip(fused.param_list, reference.param_list, strict=True):
            assert b.dtype == torch.float64
            assert torch.allclose(a.double(), b, rtol=1e-5, atol=1e-6)
    assert fused.take_losses() == pytest.approx(reference.take_losses(), rel=1e-5, nan_ok=True)
