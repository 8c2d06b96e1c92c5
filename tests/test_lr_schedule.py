"""The learning-rate schedule: each step of the loop moves the weights by the rate its position sets."""

from __future__ import annotations

import math

import pytest
import torch

from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError
from fusiondp.record import RunRecord
from fusiondp.runs import run
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
@pytest.mark.parametrize(("mode", "schedule", "trained"), [
    ("fusiondp", "constant", "constant"), ("fusiondp", "cosine", "cosine"), ("dpsgd", "auto", "cosine"),
    ("fusiondp", "auto", "constant"), ("feature_dp", "auto", "constant"), ("sgd_ori", "auto", "constant")])
def test_each_step_moves_the_weights_by_its_scheduled_rate(fused: bool, mode: str, schedule: str,
                                                           trained: str) -> None:
    """With the update fixed at all-ones, step t of T moves every weight by exactly the rate of the schedule the mode
    trains with — lr throughout, or lr·½(1 + cos(πt/T)) — on both paths (fused buffer, autograd); ``auto`` gives
    dpsgd the cosine schedule the protocol chose for it and every other mode a constant rate."""
    settings = TrainSettings(epochs=2, batch_size=25, hidden=(8,), lr=0.1, lr_schedule=schedule, param_bound=None,
                             noise_level=None)
    step = ModeStep(_tensors(), get_mode(mode), settings, seed=0, sigma=1.0 if get_mode(mode).is_private else None)
    step.fused = fused
    step._fused_update = lambda: torch.ones_like(step.flat)
    step._autograd_update = lambda: [torch.ones_like(p) for p in step.param_list]
    total = step.total_steps
    expected = [0.1 if trained == "constant" else 0.1 * 0.5 * (1 + math.cos(math.pi * t / total))
                for t in range(total)]
    for index, rate in enumerate(expected):
        before = step.flat.clone()
        step()
        moved = before.double() - step.flat.double()
        assert torch.allclose(moved, torch.full_like(moved, rate), rtol=0, atol=1e-6), index
    assert settings.schedule_for(mode) == trained
    assert total == 16


def test_a_record_names_the_schedule_each_mode_trained_with(quick_config: RunConfig) -> None:
    """Each record keeps the run's config as given (``auto``, so that it reproduces the run for every mode) and names
    the schedule its own mode trained with; a record saved before the field loads without it."""
    config = RunConfig.build(**{**quick_config.to_dict(), "modes": ["dpsgd", "fusiondp"], "epochs": 1})
    _, records = run(config)
    assert {record.config["lr_schedule"] for record in records} == {"auto"}
    assert {record.mode: record.lr_schedule for record in records} == {"dpsgd": "cosine", "fusiondp": "constant"}
    saved = records[0].to_dict()
    assert RunRecord.from_dict(saved).lr_schedule == "cosine"
    del saved["lr_schedule"]
    assert RunRecord.from_dict(saved).lr_schedule is None


def test_an_unknown_schedule_is_one_config_error() -> None:
    with pytest.raises(ConfigError, match="lr_schedule"):
        RunConfig.build(spec=TableSpec(target="y", sensitive=["a"]), lr_schedule="linear")
    config = RunConfig.build(spec=TableSpec(target="y", sensitive=["a"]), lr_schedule="cosine")
    assert config.train_settings().lr_schedule == "cosine"
