"""The learning-rate schedule: each step of the loop moves the weights by the rate its position sets."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError
from fusiondp.spec import TableSpec
from fusiondp.train.loop import ModeStep, TrainSettings, TrainTensors
from fusiondp.train.modes import get_mode


def _tensors(rows: int = 200, features: int = 6) -> TrainTensors:
    gen = torch.Generator().manual_seed(0)
    x_real = torch.randn(rows, features, generator=gen)
    hybrid = x_real.clone()
    hybrid[:, -2:] += 0.5 * torch.randn(rows, 2, generator=gen)
    blank = x_real.clone()
    blank[:, -2:] = 0.0
    y = (torch.rand(rows, generator=gen) < 0.4).float()
    support = torch.randn(30, features, generator=gen)
    return TrainTensors(x_real=x_real, x_hybrid=hybrid, x_blank=blank, y=y, x_val_hybrid=hybrid[:40],
                        y_val=y[:40], x_test=x_real[:40], y_test=y[:40], support_real=support,
                        support_hybrid=support + 0.1, support_blank=support * 0.0,
                        public_features=torch.arange(features - 2))


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_each_step_moves_the_weights_by_its_scheduled_rate(fused: bool, schedule: str) -> None:
    """With the update fixed at all-ones, step t moves every weight by exactly lr_at(t): the loop reads the
    schedule at the right position on both paths (fused buffer, autograd), from the full rate down to the last."""
    settings = TrainSettings(epochs=2, batch_size=25, hidden=(8,), lr=0.1, lr_schedule=schedule, param_bound=None,
                             noise_level=None)
    step = ModeStep(_tensors(), get_mode("fusiondp"), settings, seed=0, sigma=1.0)
    step.fused = fused
    step._fused_update = lambda: torch.ones_like(step.flat)
    step._autograd_update = lambda: [torch.ones_like(p) for p in step.param_list]
    moved = []
    for _ in range(step.total_steps):
        before = step.flat.clone()
        step()
        moved.append(before.double() - step.flat.double())
    assert step.total_steps == 16
    for index, delta in enumerate(moved):
        rate = settings.lr_at(index, step.total_steps)
        assert torch.allclose(delta, torch.full_like(delta, rate), rtol=0, atol=1e-6), index
    rates = [delta.mean().item() for delta in moved]
    assert rates[0] == pytest.approx(0.1, abs=1e-6)
    if schedule == "cosine":
        assert rates[-1] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 15 / 16)), abs=1e-6)
        assert all(later < earlier for earlier, later in itertools.pairwise(rates))
    else:
        assert rates == pytest.approx([0.1] * 16, abs=1e-6)


def test_an_unknown_schedule_is_one_config_error() -> None:
    with pytest.raises(ConfigError, match="lr_schedule"):
        RunConfig.build(spec=TableSpec(target="y", sensitive=["a"]), lr_schedule="linear")
    config = RunConfig.build(spec=TableSpec(target="y", sensitive=["a"]), lr_schedule="cosine")
    assert config.train_settings().lr_schedule == "cosine"
