"""Multi-class, multi-label and regression heads: the fused engine against ``torch.func`` and autograd in float64,
the exact-zero property of the private loss for each head, and a whole step against the exact path."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fusiondp.models import build_model
from fusiondp.task import BINARY, HUBER_DELTA, Task
from fusiondp.train.ghost import pack_rows, parameter_names, step_gradients
from fusiondp.train.loop import ModeStep, TrainSettings, TrainTensors
from fusiondp.train.modes import get_mode
from fusiondp.train.private import PrivateLoss, clip_and_sum, per_sample_gradients
from tests.test_step_engine import generator_states, set_generator_states

BETA, REP_CLIP = 0.5, 0.3
TASKS = {"multiclass": Task("multiclass", 4), "regression": Task("regression", center=3.0, scale=2.0),
         "multilabel": Task("multilabel", 5), "binary": BINARY}
KINDS = ["multiclass", "multilabel", "regression"]


def _labels(task: Task, rows: int, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    if task.kind == "multiclass":
        return torch.randint(task.classes, (rows,), generator=gen).to(dtype)
    if task.kind == "regression":
        return 1.5 * torch.randn(rows, generator=gen, dtype=dtype)  # some beyond the Huber knee
    if task.kind == "multilabel":
        return (torch.rand(rows, task.classes, generator=gen) < 0.3).to(dtype)  # a 0/1 row per label
    return (torch.rand(rows, generator=gen) < 0.4).to(dtype)


def _rows(task: Task, n_public: int, batch: int, features: int = 7, seed: int = 0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x_public = torch.randn(n_public, features, generator=gen, dtype=dtype)
    y_public = _labels(task, n_public, gen, dtype)
    x_real = torch.randn(batch, features, generator=gen, dtype=dtype)
    x_ref = x_real + 0.5 * torch.randn(batch, features, generator=gen, dtype=dtype)
    return x_public, y_public, x_real, x_ref, _labels(task, batch, gen, dtype)


def _model(task: Task, features: int = 7, dtype=torch.float64):
    return build_model(features, (16, 8), 0, torch.device("cpu"), task.outputs).to(dtype)


def _run(task, model, x_public, y_public, x_real, x_ref, y, views: int, max_norm: float):
    x, labels = pack_rows(x_public, y_public, [x_real, x_ref][:views], y)
    return step_gradients(model, x, labels, n_public=len(y_public), batch=len(y), views=views, beta=BETA,
                          rep_clip=REP_CLIP, max_norm=max_norm, task=task)


def test_heads_have_the_task_width_and_losses_their_known_values() -> None:
    multiclass, regression = TASKS["multiclass"], TASKS["regression"]
    assert _model(multiclass)(torch.zeros(3, 7, dtype=torch.float64))[0].shape == (3, 4)
    assert _model(regression)(torch.zeros(3, 7, dtype=torch.float64))[0].shape == (3,)
    uniform = torch.zeros(2, 4)
    assert torch.allclose(multiclass.losses(uniform, torch.tensor([0.0, 3.0])), torch.log(torch.tensor(4.0)))
    residual = torch.tensor([0.5, 3.0])
    assert torch.allclose(regression.losses(residual, torch.zeros(2)), torch.tensor([0.125, 3.0 - HUBER_DELTA / 2]))
    assert torch.allclose(regression.predictions(torch.tensor([1.0])), torch.tensor([5.0]))
    multilabel = TASKS["multilabel"]
    assert _model(multilabel)(torch.zeros(3, 7, dtype=torch.float64))[0].shape == (3, 5)
    labels = torch.tensor([[1.0, 0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(multilabel.losses(torch.zeros(2, 5), labels), 5 * torch.log(torch.tensor(2.0)))
    logits = torch.tensor([[2.0, -1.0, 0.5, 0.0, 3.0]])
    prob = torch.sigmoid(logits)
    per_label = -(labels[:1] * torch.log(prob) + (1 - labels[:1]) * torch.log(1 - prob))
    assert torch.allclose(multilabel.losses(logits, labels[:1]), per_label.sum(1))
    assert torch.allclose(multilabel.predictions(logits), torch.sigmoid(logits))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("views", [1, 2])
@pytest.mark.parametrize("max_norm", [0.05, 1e3])
def test_fused_pass_matches_torch_func_and_autograd_in_float64(kind: str, views: int, max_norm: float) -> None:
    task = TASKS[kind]
    model = _model(task)
    x_public, y_public, x_real, x_ref, y = _rows(task, 29, 40)
    params = {k: v.detach() for k, v in model.named_parameters()}
    grads, losses = per_sample_gradients(PrivateLoss(model, views == 2, BETA, REP_CLIP, task), params,
                                         x_real, x_ref, y)
    expected, expected_norms = clip_and_sum(grads, max_norm)
    out = _run(task, model, x_public, y_public, x_real, x_ref, y, views, max_norm)
    assert out.private is not None and out.public is not None
    assert out.private_loss.item() == pytest.approx(losses.sum().item(), abs=1e-9)
    assert torch.allclose(out.norms, expected_norms, rtol=1e-9, atol=1e-12)
    for name, got in zip(parameter_names(model), out.private, strict=True):
        assert torch.allclose(got, expected[name], rtol=1e-9, atol=1e-12), name
    public_loss = task.mean_loss(model(x_public)[0], y_public)
    assert out.public_loss.item() == pytest.approx(public_loss.item(), abs=1e-12)
    for name, got, want in zip(parameter_names(model), out.public,
                               torch.autograd.grad(public_loss, list(model.parameters())), strict=True):
        assert torch.allclose(got, want, rtol=1e-9, atol=1e-12), name


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch", [1, 33, 131])
@pytest.mark.parametrize("n_public", [0, 300])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_private_sum_is_exactly_zero_when_the_views_agree(kind: str, batch: int, n_public: int,
                                                          dtype: torch.dtype) -> None:
    task = TASKS[kind]
    model = _model(task, dtype=dtype)
    x_public, y_public, x_real, _, y = _rows(task, n_public, batch, dtype=dtype)
    out = _run(task, model, x_public, y_public, x_real, x_real.clone(), y, 2, 1.0)
    assert out.private is not None and all(torch.count_nonzero(g) == 0 for g in out.private)
    assert out.private_loss.item() == 0.0 and torch.count_nonzero(out.norms) == 0


def test_a_model_whose_head_does_not_fit_the_task_is_refused() -> None:
    model = _model(BINARY)
    x_public, y_public, *_ = _rows(BINARY, 8, 0)
    with pytest.raises(ValueError, match="multiclass task needs 4"):
        step_gradients(model, x_public, y_public, n_public=8, batch=0, views=0, task=TASKS["multiclass"])


def _tensors(task: Task, rows: int = 300, features: int = 9) -> TrainTensors:
    gen = torch.Generator().manual_seed(0)
    x_real = torch.randn(rows, features, generator=gen)
    hybrid = x_real.clone()
    hybrid[:, -3:] += 0.7 * torch.randn(rows, 3, generator=gen)
    y = _labels(task, rows, gen, torch.float32)
    support = torch.randn(40, features, generator=gen)
    return TrainTensors(x_real=x_real, x_hybrid=hybrid, x_blank=x_real * 0.0, y=y, x_val_hybrid=hybrid[:50],
                        y_val=y[:50], x_test=x_real[:50], y_test=y[:50], support_real=support,
                        support_hybrid=support + 0.1, support_blank=support * 0.0,
                        public_features=torch.arange(features - 3), task=task)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["fusiondp", "dpsgd", "sgd_ori"])
def test_fused_step_equals_the_float64_torch_func_step(kind: str, mode: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    data = _tensors(TASKS[kind])
    settings = TrainSettings(batch_size=32, public_batch_size=64, hidden=(16, 8), noise_level=None)
    sigma = 0.0 if get_mode(mode).is_private else None
    fused = ModeStep(data, get_mode(mode), settings, seed=3, sigma=sigma)
    reference = ModeStep(data, get_mode(mode), settings, seed=3, sigma=sigma)
    reference.model.double()
    reference.data = dataclasses.replace(data, x_real=data.x_real.double(), y=data.y.double())
    if reference.x_public is not None:
        reference.x_public = reference.x_public.double()
    if reference.private_loss is not None:
        loss = reference.private_loss
        reference.x_ref = reference.x_ref.double()
        reference.private_loss = lambda params, x_real, x_ref, y: loss(params, x_real, x_ref, y)
    reference.fused = False
    assert fused.fused

    def no_ghost(*args: object, **kwargs: object) -> None:
        raise AssertionError("the reference must not use the ghost engine")

    for _ in range(3):
        states = generator_states(fused)
        fused()
        set_generator_states(reference, states)
        with monkeypatch.context() as patch:
            patch.setattr("fusiondp.train.private.ghost_clipped_sum", no_ghost)
            reference()
        for a, b in zip(fused.param_list, reference.param_list, strict=True):
            assert torch.allclose(a.double(), b, rtol=1e-5, atol=1e-6)
