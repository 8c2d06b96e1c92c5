"""The FusionDP step: per-sample gradients, clipping, noise, the private loss, determinism, hygiene."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.functional import binary_cross_entropy_with_logits

from fusiondp.config import RunConfig
from fusiondp.models import build_model
from fusiondp.preparation import prepare
from fusiondp.runs import train_run
from fusiondp.spec import TableSpec
from fusiondp.train.loop import planned_steps
from fusiondp.train.private import (
    PrivateLoss,
    clip_and_sum,
    consistency,
    noisy_private_gradient,
    per_sample_gradients,
)


def _setup(rows: int = 12, features: int = 7, seed: int = 0):
    model = build_model(features, (16, 8), seed, torch.device("cpu"))
    gen = torch.Generator().manual_seed(seed)
    x_real = torch.randn(rows, features, generator=gen)
    x_ref = x_real + 0.5 * torch.randn(rows, features, generator=gen)
    y = (torch.rand(rows, generator=gen) < 0.4).float()
    params = {k: v.detach() for k, v in model.named_parameters()}
    return model, params, x_real, x_ref, y


def _naive_private_loss(model, x_real, x_ref, y, beta, rep_clip):
    logit_r, h_r = model(x_real.unsqueeze(0))
    logit_h, h_h = model(x_ref.unsqueeze(0))
    loss = (binary_cross_entropy_with_logits(logit_r[0], y) - binary_cross_entropy_with_logits(logit_h[0], y))
    distance = (h_r[0] - h_h[0]).norm()
    clipped = torch.clamp(rep_clip / distance, max=1.0) * distance
    return loss + beta * clipped**2 / rep_clip**2


@pytest.mark.parametrize("calibrated", [True, False])
def test_per_sample_gradients_match_a_per_row_loop(calibrated: bool) -> None:
    model, params, x_real, x_ref, y = _setup()
    model = model.double()
    params = {k: v.detach() for k, v in model.named_parameters()}
    x_real, x_ref, y = x_real.double(), x_ref.double(), y.double()
    loss = PrivateLoss(model, calibrated, beta=0.5, rep_clip=0.3)
    grads, values = per_sample_gradients(loss, params, x_real, x_ref, y)
    for i in range(len(y)):
        if calibrated:
            expected = _naive_private_loss(model, x_real[i], x_ref[i], y[i], 0.5, 0.3)
        else:
            expected = binary_cross_entropy_with_logits(model(x_real[i].unsqueeze(0))[0][0], y[i])
        reference = torch.autograd.grad(expected, list(model.parameters()))
        assert values[i].item() == pytest.approx(expected.item(), abs=1e-9)
        for (name, g), ref in zip(grads.items(), reference, strict=True):
            assert torch.allclose(g[i], ref, atol=1e-6), name


def test_private_loss_and_gradient_are_exactly_zero_when_imputation_is_exact() -> None:
    model, params, x_real, _, y = _setup(rows=32)
    loss = PrivateLoss(model, True, beta=0.5, rep_clip=1.0)
    grads, values = per_sample_gradients(loss, params, x_real, x_real.clone(), y)
    assert torch.count_nonzero(values) == 0
    assert all(torch.count_nonzero(g) == 0 for g in grads.values())


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 20),
    scale=st.floats(1e-3, 1e3),
    max_norm=st.floats(1e-2, 10.0),
    seed=st.integers(0, 2**16),
)
def test_each_clipped_gradient_has_norm_at_most_c(rows: int, scale: float, max_norm: float, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    grads = {"w": scale * torch.randn(rows, 3, 4, generator=gen), "b": scale * torch.randn(rows, 4, generator=gen)}
    for i in range(rows):
        single = {k: v[i:i + 1] for k, v in grads.items()}
        clipped, norms = clip_and_sum(single, max_norm)
        clipped_norm = torch.sqrt(sum(v.pow(2).sum() for v in clipped.values()))
        assert clipped_norm <= max_norm * (1 + 1e-5)
        if norms[0] <= max_norm:
            assert all(torch.allclose(clipped[k], single[k][0]) for k in grads)
    summed, _ = clip_and_sum(grads, max_norm)
    assert torch.sqrt(sum(v.pow(2).sum() for v in summed.values())) <= rows * max_norm * (1 + 1e-5)


def test_consistency_term_matches_a_float64_hand_computation() -> None:
    """``R = min(1, C_h/‖d‖)²·‖d‖²/C_h²`` (METHOD.md §3), evaluated row by row in float64 from its definition,
    for ‖d‖ = 0, below, at and above C_h: 0, (‖d‖/C_h)², then exactly 1."""
    rep_clip = 0.5
    gen = torch.Generator().manual_seed(0)
    lengths = [0.0, 0.05, 0.2, 0.49, 0.5, 0.75, 40.0]
    directions = torch.nn.functional.normalize(torch.randn(len(lengths), 8, generator=gen, dtype=torch.float64), dim=1)
    h_ref = torch.randn(len(lengths), 8, generator=gen, dtype=torch.float64)
    h_real = h_ref + torch.tensor(lengths, dtype=torch.float64)[:, None] * directions
    expected = []
    for real, ref in zip(h_real.tolist(), h_ref.tolist(), strict=True):
        norm = sum((a - b) ** 2 for a, b in zip(real, ref, strict=True)) ** 0.5
        factor = 1.0 if norm == 0 else min(1.0, rep_clip / norm)
        expected.append(factor**2 * norm**2 / rep_clip**2)
    # the same numbers by hand: (0.05/0.5)² = 0.01, (0.2/0.5)² = 0.16, (0.49/0.5)² = 0.9604, then clipped to 1
    assert expected == pytest.approx([0.0, 0.01, 0.16, 0.9604, 1.0, 1.0, 1.0], abs=1e-12)
    assert consistency(h_real, h_ref, rep_clip).tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    single = consistency(h_real.float(), h_ref.float(), rep_clip)
    assert single.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert single[0].item() == 0.0 and torch.all(single[5:] == 1.0), "agreeing rows give 0; beyond C_h exactly 1"


def test_rows_equal_to_their_reference_add_nothing_to_a_mixed_batch() -> None:
    """A batch in which every third row equals its reference (its removal neighbour) and the others do not.

    Each agreeing row's gradient norm (the library's fused pass) and loss (``torch.func``) are exactly zero, and
    the batch's clipped sum (fused pass, reference architecture) equals the clipped sum over the other rows
    alone — which a per-row float64 autograd loop gives independently. Equal up to float rounding, not bit
    for bit: the two sums add rows in a different order, and the fused pass adds an agreeing row's real and
    reference gradients in separate per-view sums that cancel only after. Measured, relative to the sum's largest
    entry: ≤ 3e-15 in float64; in float32 ≤ 3e-6 at this batch size (≈ 6e-6 at B = 128), far below the
    noise σ·C a step adds. The tolerances below (1e-12, 1e-5) are those, with headroom. A row's own norm is a sum
    of per-view terms that nearly cancel where the row is close to its reference, and the batched products behind it
    round differently at another batch size and on another CPU: up to 5.5e-12 of the norm in float64 on an AMD EPYC
    (3e-15 where the tolerances were first measured), so the norms get 1e-10 there.
    """
    from fusiondp.train.ghost import ghost_clipped_sum

    rows, features, beta, rep_clip, max_norm = 48, 7, 0.5, 0.3, 1.0
    model = build_model(features, (64, 32), 0, torch.device("cpu")).double()
    gen = torch.Generator().manual_seed(0)
    x_real = torch.randn(rows, features, generator=gen, dtype=torch.float64)
    spread = torch.where(torch.arange(rows) % 2 == 0, 0.5, 0.01).double()[:, None]
    x_ref = x_real + spread * torch.randn(rows, features, generator=gen, dtype=torch.float64)
    y = (torch.rand(rows, generator=gen) < 0.4).double()
    agree = torch.arange(rows) % 3 == 0
    x_ref[agree] = x_real[agree]
    differ = ~agree
    with torch.no_grad():
        distance = (model(x_real)[1] - model(x_ref)[1]).norm(dim=1)
    below = distance[differ] < rep_clip
    assert below.any() and not below.all(), "rows that differ on both sides of C_h: R's gradient is on and off"

    # independent: per-row autograd in float64 over the rows that differ from their reference, clipped and summed
    params = list(model.parameters())
    per_row = [torch.autograd.grad(_naive_private_loss(model, x_real[i], x_ref[i], y[i], beta, rep_clip), params)
               for i in torch.nonzero(differ).flatten().tolist()]
    norms = [torch.sqrt(sum(g.pow(2).sum() for g in row)) for row in per_row]
    expected = [sum(min(1.0, max_norm / n.item()) * row[j] for n, row in zip(norms, per_row, strict=True))
                for j in range(len(params))]

    settings = dict(calibrated=True, beta=beta, rep_clip=rep_clip, max_norm=max_norm)
    for dtype, rounding, norm_rounding in ((torch.float64, 1e-12, 1e-10), (torch.float32, 1e-5, 1e-5)):
        model.to(dtype)
        mixed, mixed_loss, mixed_norms = ghost_clipped_sum(model, x_real.to(dtype), x_ref.to(dtype), y.to(dtype),
                                                           **settings)
        alone, alone_loss, alone_norms = ghost_clipped_sum(model, x_real[differ].to(dtype),
                                                           x_ref[differ].to(dtype), y[differ].to(dtype), **settings)
        assert torch.count_nonzero(mixed_norms[agree]) == 0, "an agreeing row's own gradient is exactly zero"
        assert torch.all(mixed_norms[differ] > 0)
        assert torch.allclose(mixed_norms[differ], alone_norms, rtol=norm_rounding, atol=0)
        scale = max(v.abs().max().item() for v in alone.values())
        assert scale > 0.1, "the rows that differ do contribute"
        for name, want in zip(mixed, expected, strict=True):
            assert (mixed[name] - alone[name]).abs().max().item() <= rounding * scale, (dtype, name)
            assert torch.allclose(mixed[name].double(), want, rtol=0, atol=rounding * scale * 10), (dtype, name)
        assert mixed_loss.item() == pytest.approx(alone_loss.item(), abs=rounding * rows)
    model.double()

    # the torch.func path (any other model): agreeing rows' loss and gradient are zero up to rounding (the loss
    # exactly zero on some CPUs; within a few ulps of 1 on an AMD EPYC, where the two forward passes of one input
    # round differently)
    detached = {k: v.detach() for k, v in model.named_parameters()}
    grads, values = per_sample_gradients(PrivateLoss(model, True, beta, rep_clip), detached, x_real, x_ref, y)
    assert values[agree].abs().max().item() <= 1e-15 and torch.count_nonzero(values[differ]) == int(differ.sum())
    assert max(g[agree].abs().max().item() for g in grads.values()) <= 1e-13


def test_noise_has_std_sigma_c_over_expected_batch() -> None:
    model = build_model(50, (200, 100), 0, torch.device("cpu"))
    params = {k: v.detach() for k, v in model.named_parameters()}
    x = torch.randn(4, 50)
    loss = PrivateLoss(model, True, beta=0.5, rep_clip=1.0)
    noisy, _ = noisy_private_gradient(loss, params, x, x.clone(), torch.ones(4), max_norm=1.8, sigma=2.0,
                                      expected_batch=64.0, generator=torch.Generator().manual_seed(1))
    values = torch.cat([v.flatten() for v in noisy.values()])
    assert values.std().item() == pytest.approx(2.0 * 1.8 / 64.0, rel=0.03)
    assert values.mean().abs().item() < 0.01 * 2.0 * 1.8 / 64.0 * 10


def test_planned_steps_follow_ceil_epochs_over_q() -> None:
    from fusiondp.train.loop import TrainSettings

    q, total, ends = planned_steps(3058, TrainSettings(epochs=13, batch_size=128), "fusiondp")
    assert q == pytest.approx(128 / 3058)
    assert total == int(np.ceil(13 * 3058 / 128)) == ends[-1]
    assert ends == sorted(ends) and len(ends) == 13


def test_auto_epochs_give_each_mode_the_protocols_count() -> None:
    """``epochs: auto`` (the default) plans 26 epochs of steps for dpsgd and 13 for every other mode, and a run's
    settings resolved for a mode (``for_mode``) say so; a number is every mode's count."""
    from fusiondp.train.loop import TrainSettings

    auto = RunConfig().train_settings()
    assert RunConfig().epochs == "auto"
    steps = {mode: planned_steps(3058, auto, mode)[1] for mode in ("dpsgd", "feature_dp", "fusiondp", "sgd_ori")}
    assert steps == {"dpsgd": math.ceil(26 * 3058 / 128), "feature_dp": math.ceil(13 * 3058 / 128),
                     "fusiondp": math.ceil(13 * 3058 / 128), "sgd_ori": math.ceil(13 * 3058 / 128)}
    assert auto.for_mode("dpsgd").epochs == 26 and auto.for_mode("fusiondp").epochs == 13
    assert {planned_steps(3058, TrainSettings(epochs=5), mode)[1] for mode in ("dpsgd", "fusiondp")} == \
        {math.ceil(5 * 3058 / 128)}


@pytest.fixture(scope="module")
def prepared(sample_spec: TableSpec):
    from tests.conftest import SAMPLE_CSV

    return prepare(RunConfig.build(data=str(SAMPLE_CSV), spec=sample_spec, imputer="gbdt", epochs=2))


def test_same_seed_gives_same_metrics_and_other_seed_differs(prepared) -> None:
    """With reproducible noise a seed replays its run exactly (secret noise: tests/test_secret_noise.py)."""
    prepared = dataclasses.replace(prepared, config=prepared.config.model_copy(update={"reproducible_noise": True}))
    first = train_run(prepared, "fusiondp", 3)
    again = train_run(prepared, "fusiondp", 3)
    other = train_run(prepared, "fusiondp", 4)
    assert first.metrics == again.metrics
    assert [h["public_loss"] for h in first.history] == [h["public_loss"] for h in again.history]
    assert first.metrics != other.metrics


def test_every_mode_trains_and_reports_its_ledger(prepared) -> None:
    for mode in ("sgd_ori", "sgd_pub", "sgd_hybrid", "dpsgd", "feature_dp", "fusiondp", "naive_fusion"):
        record = train_run(prepared, mode, 0)
        assert 0.5 < record.metrics["auroc"] <= 1.0, mode
        assert len(record.history) == 2
        ledger = record.privacy
        if mode in ("dpsgd", "feature_dp", "fusiondp", "naive_fusion"):
            assert ledger.epsilon_spent <= prepared.config.epsilon + 1e-9
            assert ledger.sigma > 0 and ledger.steps == planned_steps(len(prepared.tensors.y),
                                                                       prepared.config.train_settings(), mode)[1]
            assert ledger.epsilon_replace > ledger.epsilon_spent or mode == "naive_fusion"
            assert [h["epsilon_spent"] for h in record.history] == sorted(h["epsilon_spent"] for h in record.history)
        else:
            assert ledger.sigma is None
    assert record.privacy.adjacency == "feature replace-one"


def test_public_only_and_uninformative_views_carry_no_sensitive_information(prepared) -> None:
    tensors = prepared.tensors
    n_public = len(tensors.public_features)
    assert tensors.view("public_only").shape[1] == n_public < tensors.x_real.shape[1]
    assert torch.equal(tensors.view("public_only"), tensors.x_real[:, :n_public])
    blank = tensors.x_blank[:, n_public:]
    assert torch.equal(blank, blank[:1].expand_as(blank)), "the uninformative view must not vary with the row"


@pytest.mark.slow
def test_changing_private_sensitive_values_changes_no_public_artifact(sample_table, sample_spec) -> None:
    """METHOD.md §5: types, encoders, imputations, C_h and defaults never see the private rows' real values.

    The scramble writes values the column never held — new categories, text into numeric
    columns (flipping their dtype), missing values — so that a type, vocabulary or scaler
    read off the private rows would change.
    """
    table = sample_table.assign(row_id=np.arange(len(sample_table)))
    spec = sample_spec.model_copy(update={"ignore": (*sample_spec.ignore, "row_id")})
    config = RunConfig.build(spec=spec, imputer="gbdt", epochs=1)
    base = prepare(config, table=table)
    train_ids = set(base.splits.train["row_id"])
    rng = np.random.default_rng(123)
    scrambled = table.copy()
    rows = scrambled["row_id"].isin(train_ids)
    for column in spec.sensitive:
        novel = np.array([f"secret-{i}" for i in rng.integers(0, 50, int(rows.sum()))], dtype=object)
        novel[rng.random(len(novel)) < 0.2] = None
        scrambled[column] = scrambled[column].astype(object)
        scrambled.loc[rows, column] = novel
    assert any(scrambled[c].dtype != table[c].dtype for c in spec.sensitive), "the scramble must flip a dtype"
    changed = prepare(config, table=scrambled)

    assert not torch.equal(base.tensors.x_real, changed.tensors.x_real), "the scramble must reach the real view"
    assert base.spec == changed.spec, "column types come from the support set"
    assert base.encoder.state() == changed.encoder.state()
    assert base.quality.to_dict() == changed.quality.to_dict()
    pd.testing.assert_frame_equal(base.hybrid_train, changed.hybrid_train)
    for name in ("x_hybrid", "x_blank", "x_val_hybrid", "x_test", "support_real", "support_hybrid", "support_blank",
                 "x_reference", "support_reference"):
        assert torch.equal(getattr(base.tensors, name), getattr(changed.tensors, name)), name
    assert base.shrinkage == changed.shrinkage
    for mode in ("fusiondp", "feature_dp"):
        assert train_run(base, mode, 0).privacy.rep_clip == train_run(changed, mode, 0).privacy.rep_clip


def test_poisson_sample_includes_each_row_independently_with_probability_q() -> None:
    from fusiondp.train.loop import poisson_sample

    generator = torch.Generator().manual_seed(0)
    draws = [poisson_sample(500, 0.1, generator) for _ in range(4000)]
    sizes = torch.tensor([len(d) for d in draws], dtype=torch.float64)
    assert sizes.mean().item() == pytest.approx(50, abs=0.6)
    assert sizes.var().item() == pytest.approx(500 * 0.1 * 0.9, rel=0.1)
    counts = torch.bincount(torch.cat(draws), minlength=500).double() / len(draws)
    assert counts.min() > 0.08 and counts.max() < 0.12
    assert all(torch.equal(d, torch.unique(d)) and (d.min() >= 0) and (d.max() < 500) for d in draws[:100])
    assert torch.equal(poisson_sample(7, 1.0, generator), torch.arange(7))


@pytest.mark.parametrize("calibrated", [True, False])
@pytest.mark.parametrize("max_norm", [0.05, 1.0, 1e3])
def test_ghost_clipping_equals_materialised_per_sample_gradients(calibrated: bool, max_norm: float) -> None:
    from fusiondp.train.ghost import ghost_clipped_sum

    model, params, x_real, x_ref, y = _setup(rows=40)
    model = model.double()
    params = {k: v.detach() for k, v in model.named_parameters()}
    x_real, x_ref, y = x_real.double(), x_ref.double(), y.double()
    grads, values = per_sample_gradients(PrivateLoss(model, calibrated, beta=0.5, rep_clip=0.3), params,
                                         x_real, x_ref, y)
    expected, expected_norms = clip_and_sum(grads, max_norm)
    summed, loss_sum, norms = ghost_clipped_sum(model, x_real, x_ref, y, calibrated=calibrated, beta=0.5,
                                                rep_clip=0.3, max_norm=max_norm)
    assert set(summed) == set(expected)
    assert torch.allclose(norms, expected_norms, rtol=1e-9, atol=1e-12)
    assert loss_sum.item() == pytest.approx(values.sum().item(), abs=1e-9)
    for name in expected:
        assert torch.allclose(summed[name], expected[name], rtol=1e-9, atol=1e-12), name


def test_ghost_private_term_is_exactly_zero_when_imputation_is_exact() -> None:
    from fusiondp.train.ghost import ghost_clipped_sum

    model, _, x_real, _, y = _setup(rows=32)
    summed, loss_sum, norms = ghost_clipped_sum(model, x_real, x_real.clone(), y, calibrated=True, beta=0.5,
                                                rep_clip=1.0, max_norm=1.0)
    assert loss_sum.item() == 0.0 and torch.all(torch.isfinite(norms))
    assert all(torch.count_nonzero(v) == 0 for v in summed.values())
