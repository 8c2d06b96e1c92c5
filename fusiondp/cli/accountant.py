"""``fusiondp accountant``: σ ↔ ε for the Poisson-subsampled Gaussian under every accountant, with no table."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from fusiondp.cli.options import Opt
from fusiondp.errors import FusionDPError


def accountant(
    epsilon: Annotated[float | None, Opt(help="Target ε → σ.")] = None,
    sigma: Annotated[float | None, Opt(help="Noise multiplier σ → ε.")] = None,
    delta: Annotated[float, Opt()] = 1e-5,
    sample_rate: Annotated[float | None, Opt("--q", help="Sampling rate q (or --batch-size with --rows).")] = None,
    batch_size: Annotated[int | None, Opt()] = None,
    rows: Annotated[int | None, Opt(help="Private training rows N.")] = None,
    epochs: Annotated[float | None, Opt()] = None,
    steps: Annotated[int | None, Opt()] = None,
) -> None:
    """σ ↔ ε calculator for the Poisson-subsampled Gaussian, with every accountant."""
    from fusiondp.privacy.accounting import ACCOUNTANTS, calibrate_sigma, epsilon_spent

    if (epsilon is None) == (sigma is None):
        raise typer.BadParameter("give exactly one of --epsilon (to get σ) or --sigma (to get ε)")
    if sample_rate is None:
        if not (batch_size and rows):
            raise typer.BadParameter("give --q, or both --batch-size and --rows")
        sample_rate = batch_size / rows
    if steps is None:
        if epochs is None:
            raise typer.BadParameter("give --steps or --epochs")
        steps = math.ceil(epochs / sample_rate - 1e-9)
    typer.echo(f"q = {sample_rate:.5g}, steps = {steps}, δ = {delta:g}")
    for name in ACCOUNTANTS:
        try:
            if epsilon is not None:
                noise = calibrate_sigma(epsilon, delta, sample_rate, steps, name)
                spent = epsilon_spent(noise, sample_rate, steps, delta, name)
            else:
                noise, spent = sigma, epsilon_spent(sigma, sample_rate, steps, delta, name)
            replace = epsilon_spent(noise, sample_rate, steps, delta, "pld", "replace")
            typer.echo(f"  {name}: σ = {noise:.4f} → ε = {spent:.4f} (remove relation); "
                       f"ε_replace = {replace:.4f} (PLD)")
        except FusionDPError as exc:
            typer.echo(f"  {name}: {exc}")
