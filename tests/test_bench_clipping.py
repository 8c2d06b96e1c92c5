"""benchmarks/bench_clipping.py: its clip fraction, per-column shares and step sizes measure what they say.

The core (``measure``) runs on a small synthetic table built here (no imputer: a few seconds); one slow test
runs the script end to end on the sample table.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from benchmarks.bench_clipping import ClipProbe, main, measure, scaled_tensors
from fusiondp.train.loop import ModeStep, TrainTensors
from fusiondp.train.modes import get_mode
from fusiondp.train.settings import TrainSettings

SLICES = {"a": slice(0, 1), "b": slice(1, 2), "c": slice(2, 4), "s": slice(4, 6)}
"""Three public columns (c two features wide) and a sensitive one with a value and a missing indicator."""
SETTINGS = TrainSettings(epochs=2, batch_size=32, public_batch_size=64, hidden=(8, 4), reproducible_noise=True,
                         noise_level=None)


def synthetic(rows: int = 256, seed: int = 0) -> TrainTensors:
    generator = torch.Generator().manual_seed(seed)

    def block(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x = torch.randn(n, 6, generator=generator)
        x[:, 5] = (torch.rand(n, generator=generator) < 0.2).float()  # the sensitive column's missing indicator
        logit = x[:, 0] - x[:, 2] + 1.5 * x[:, 4]
        y = (torch.rand(n, generator=generator) < torch.sigmoid(logit)).float()
        hybrid = x.clone()
        hybrid[:, 4] = 0.5 * x[:, 0]  # an imputation from a public column
        blank = x.clone()
        blank[:, 4], blank[:, 5] = 0.0, 1.0  # missing
        return x, hybrid, blank, y

    x, hybrid, blank, y = block(rows)
    _, val_hybrid, _, y_val = block(64)
    x_test, _, _, y_test = block(64)
    support, support_hybrid, support_blank, _ = block(64)
    return TrainTensors(x_real=x, x_hybrid=hybrid, x_blank=blank, y=y, x_val_hybrid=val_hybrid, y_val=y_val,
                        x_test=x_test, y_test=y_test, support_real=support, support_hybrid=support_hybrid,
                        support_blank=support_blank, public_features=torch.arange(4))


def run(mode: str, tensors: TrainTensors | None = None, sigma: float | None = 1.0, **settings: float | None) -> list:
    return measure(tensors or synthetic(), mode, dataclasses.replace(SETTINGS, **settings), seed=0, sigma=sigma,
                   slices=SLICES)


@pytest.mark.parametrize("mode", ["dpsgd", "feature_dp", "fusiondp"])
def test_clip_fraction_is_zero_for_a_huge_clip_norm_and_every_moving_row_for_a_tiny_one(mode: str) -> None:
    loose, tight = run(mode, max_grad_norm=1e6), run(mode, max_grad_norm=1e-6)
    assert len(loose) == len(tight) == SETTINGS.epochs
    assert (loose[0]["first_step_clip_fraction"], tight[0]["first_step_clip_fraction"]) == (0.0, 1.0)
    assert "first_step_clip_fraction" not in loose[1]
    for epoch in loose:
        assert epoch["rows"] > 0
        assert epoch["clip_fraction"] == 0.0
        assert epoch["median_norm_over_c"] < 1e-3
        assert epoch["clipped_over_unclipped"] == pytest.approx(1.0, rel=1e-4)
    for epoch in tight:
        # a row whose views agree has gradient exactly zero and is never clipped; here no row's do
        assert epoch["zero_fraction"] == 0.0
        assert epoch["clip_fraction"] == 1.0
        assert epoch["signal_over_cap"] <= 1.0 + 1e-4  # ‖Σ clip(g_i)‖ ≤ C·|B|
        assert epoch["clipped_over_unclipped"] < 1e-3


def test_a_row_whose_views_agree_counts_as_zero_not_clipped() -> None:
    tensors = synthetic()
    agreeing = dataclasses.replace(tensors, x_blank=tensors.x_real.clone())  # feature_dp's reference = the real row
    for epoch in run("feature_dp", agreeing, max_grad_norm=1e-6):
        assert epoch["zero_fraction"] == 1.0
        assert epoch["clip_fraction"] == 0.0


@pytest.mark.parametrize("mode", ["dpsgd", "fusiondp"])
def test_column_shares_sum_to_one_and_are_fitted_to_scale(mode: str) -> None:
    kinds = {"dpsgd": {"private", "unclipped"}, "fusiondp": {"private", "unclipped", "public"}}[mode]
    for epoch in run(mode):
        assert set(epoch["shares"]) == kinds
        for share in epoch["shares"].values():
            assert set(share) == set(SLICES)
            assert all(value >= 0 for value in share.values())
            assert sum(share.values()) == pytest.approx(1.0, abs=1e-9)
        for fit in epoch["fit"].values():
            assert -1.0 <= fit["sd_support"]["spearman"] <= 1.0
            assert math.isfinite(fit["sd_train"]["loglog_slope"])


def test_a_column_scaled_tenfold_takes_a_larger_share_of_each_step() -> None:
    tensors = synthetic()
    bigger = scaled_tensors(tensors, SLICES, {"b": 10.0})
    assert torch.equal(bigger.x_real[:, 1], 10 * tensors.x_real[:, 1])
    assert torch.equal(bigger.support_blank[:, 1], 10 * tensors.support_blank[:, 1])
    assert torch.equal(bigger.x_real[:, 2:], tensors.x_real[:, 2:])
    base, scaled = run("fusiondp", tensors), run("fusiondp", bigger)
    for kind in ("public", "unclipped"):
        assert scaled[0]["shares"][kind]["b"] > 3 * base[0]["shares"][kind]["b"], kind
    dp_base, dp_scaled = run("dpsgd", tensors), run("dpsgd", bigger)
    assert dp_scaled[0]["shares"]["private"]["b"] > 2 * dp_base[0]["shares"]["private"]["b"]
    with pytest.raises(ValueError, match="unknown column"):
        scaled_tensors(tensors, SLICES, {"nope": 2.0})


def test_step_size_matches_the_library_step_it_measures() -> None:
    """Without noise or projection a DP-SGD step is exactly lr·α·Σ clip(g_i)/B: the probe's clipped sum is the
    library's, measured on the same rows before the update."""
    for epoch in run("dpsgd", sigma=0.0, param_bound=None, max_grad_norm=0.05):
        assert epoch["lr_private_signal"] == pytest.approx(epoch["step_norm"], rel=1e-4)
        assert epoch["lr_noise"] == 0.0
        assert epoch["step_norm"] <= epoch["lr_private_cap"] * (1 + 1e-4)
        assert epoch["step_over_bound"] <= 1.0 + 1e-4
    for epoch in run("fusiondp", sigma=0.0, param_bound=None):
        assert epoch["step_over_bound"] <= 1.0 + 1e-4  # ‖Δθ‖ ≤ lr·(‖g_pub‖ + α·C·|B|/B)


@pytest.mark.parametrize("mode", ["dpsgd", "fusiondp"])
def test_the_probe_trains_exactly_as_the_library_loop(mode: str) -> None:
    tensors = synthetic()
    plain = ModeStep(tensors, get_mode(mode), SETTINGS, seed=3, sigma=1.0)
    probe = ClipProbe(tensors, mode, SETTINGS, seed=3, sigma=1.0)
    for _ in range(plain.total_steps):
        plain()
        probe()
    assert torch.equal(plain.flat, probe.flat)


def test_runs_replay_with_reproducible_noise() -> None:
    first, second = run("fusiondp"), run("fusiondp")
    assert [e["clip_fraction"] for e in first] == [e["clip_fraction"] for e in second]
    assert [e["step_norm"] for e in first] == [e["step_norm"] for e in second]


@pytest.mark.slow
def test_script_writes_json_on_the_sample(tmp_path: Path) -> None:
    out = tmp_path / "clipping.json"
    main(["--epochs", "1", "--seeds", "1", "--modes", "dpsgd,fusiondp", "--scale", "age=2", "--out", str(out)])
    result = json.loads(out.read_text())
    assert [(r["arm"], r["mode"]) for r in result["summary"]] == [
        ("base", "dpsgd"), ("base", "fusiondp"), ("scaled", "dpsgd"), ("scaled", "fusiondp")]
    sample = result["tables"]["sample"]
    assert sample["settings"]["reproducible_noise"] is True
    assert sample["arms"]["scaled"]["columns"]["age"]["sd_support"] == pytest.approx(
        2 * sample["arms"]["base"]["columns"]["age"]["sd_support"], rel=1e-5)
    assert {r["column"].rstrip(" *") for r in result["per_column"]} == set(sample["arms"]["base"]["columns"])
    assert all(0.0 <= r["clip_e1"] <= 1.0 for r in result["summary"])
    assert [r["column"] for r in result["counterfactual"]] == ["age", "age"]
