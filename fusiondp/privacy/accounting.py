"""Privacy accounting for the Poisson-subsampled Gaussian mechanism.

``epsilon_spent`` answers "how much did these steps cost", ``calibrate_sigma`` answers
"how much noise do I need for this budget", both with the same accountant so that the
ε reported is the ε the noise was calibrated for. Accountants: ``rdp`` (opacus' Rényi
accountant, the default), ``prv`` (opacus' PRV accountant) and ``pld`` (dp-accounting's
privacy-loss-distribution accountant, the only one here that handles the replace-one
relation for Poisson sampling exactly).

Relations (METHOD.md §1): ``remove`` — one row's sensitive values present vs replaced by
their imputation, accounted as add/remove with sensitivity C; ``replace`` — one row's
sensitive values changed arbitrarily: two clipped gradients differ by up to 2C.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy.optimize import brentq

from fusiondp.errors import PrivacyError

Accountant = Literal["rdp", "prv", "pld"]
Relation = Literal["remove", "replace"]
ACCOUNTANTS: tuple[str, ...] = ("rdp", "prv", "pld")
SIGMA_MIN, SIGMA_MAX = 0.3, 1e3
"""Search range for σ. Below 0.3 the PLD accountant's grid explodes and ε is far beyond any
useful budget, so the search returns 0.3 (and reports the smaller ε it actually spends)."""
PLD_DISCRETISATION = 1e-3
"""dp-accounting's grid step for privacy losses; its rounding is pessimistic (ε never understated)."""
PRV_MAX_EPSILON = 10.0
"""Opacus' PRV discretisation breaks down for larger ε; beyond it we fall back to PLD."""


def _rdp_epsilon(sigma: float, q: float, steps: int, delta: float) -> float:
    from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent
    from opacus.accountants.rdp import RDPAccountant

    orders = RDPAccountant.DEFAULT_ALPHAS
    rdp = compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=orders)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order")
        epsilon, _ = get_privacy_spent(orders=orders, rdp=rdp, delta=delta)
    return float(epsilon)


def _prv_epsilon(sigma: float, q: float, steps: int, delta: float) -> float:
    from opacus.accountants import PRVAccountant

    accountant = PRVAccountant()
    accountant.history = [(sigma, q, steps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(accountant.get_epsilon(delta=delta))


def _pld_epsilon(sigma: float, q: float, steps: int, delta: float, relation: Relation) -> float:
    import dp_accounting
    from dp_accounting.pld import PLDAccountant

    relation_enum = dp_accounting.NeighboringRelation
    accountant = PLDAccountant(
        relation_enum.REPLACE_ONE if relation == "replace" else relation_enum.ADD_OR_REMOVE_ONE,
        value_discretization_interval=PLD_DISCRETISATION,
    )
    event = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma))
    accountant.compose(event, steps)
    return float(accountant.get_epsilon(delta))


@lru_cache(maxsize=4096)
def epsilon_spent(
    sigma: float, q: float, steps: int, delta: float, accountant: Accountant = "rdp", relation: Relation = "remove"
) -> float:
    """ε after ``steps`` Poisson-subsampled Gaussian steps (noise multiplier ``sigma``, rate ``q``).

    The replace relation with ``rdp`` or ``prv`` uses the group-privacy bound on the remove
    relation's guarantee (ε_r = 2ε at δ_r = (1 + e^ε)δ, solved for the requested δ).
    """
    if steps == 0 or q == 0:
        return 0.0
    if sigma <= 0:
        return math.inf
    if accountant == "pld":
        return _pld_epsilon(sigma, q, steps, delta, relation)
    if relation == "replace":
        return _group_replace_epsilon(sigma, q, steps, delta, accountant)
    if accountant == "rdp":
        return _rdp_epsilon(sigma, q, steps, delta)
    if accountant == "prv":
        try:
            epsilon = _prv_epsilon(sigma, q, steps, delta)
        except (ValueError, RuntimeError, OverflowError) as exc:
            raise PrivacyError(f"The PRV accountant failed here ({exc}); use accountant 'pld' or 'rdp'.") from exc
        if not math.isfinite(epsilon) or epsilon > PRV_MAX_EPSILON:
            raise PrivacyError(
                f"The PRV accountant is unreliable above ε = {PRV_MAX_EPSILON:g}; use accountant 'pld' or 'rdp'."
            )
        return epsilon
    raise PrivacyError(f"Unknown accountant {accountant!r}; choose one of {', '.join(ACCOUNTANTS)}.")


def _group_replace_epsilon(sigma: float, q: float, steps: int, delta: float, accountant: Accountant) -> float:
    """Group privacy of size 2: (ε, δ₁) for remove gives (2ε, (1+e^ε)δ₁) for replace.

    Find δ₁ with (1 + e^{ε(δ₁)})·δ₁ = δ by fixed-point iteration (δ₁ ≤ δ/2 always).
    """
    delta_one = delta / 2
    for _ in range(20):
        epsilon = epsilon_spent(sigma, q, steps, delta_one, accountant, "remove")
        updated = delta / (1 + math.exp(min(epsilon, 700)))
        if abs(updated - delta_one) <= 1e-6 * delta:
            break
        delta_one = updated
    return 2 * epsilon_spent(sigma, q, steps, delta_one, accountant, "remove")


def calibrate_sigma(
    target_epsilon: float,
    delta: float,
    q: float,
    steps: int,
    accountant: Accountant = "rdp",
    relation: Relation = "remove",
    rtol: float = 1e-4,
) -> float:
    """The smallest noise multiplier σ whose ε after ``steps`` steps is at most ``target_epsilon``.

    Bisection on log σ; ε is decreasing in σ. Raises ``PrivacyError`` when no σ ≤ 1000
    meets the budget (the budget is too small for this many steps).
    """
    check_budget(target_epsilon, delta)
    if not 0 < q <= 1:
        raise PrivacyError(f"The sampling rate q must be in (0, 1]; got {q}. Lower the batch size.")
    if steps < 1:
        raise PrivacyError("At least one training step is needed; raise the number of epochs.")

    if accountant == "prv" and target_epsilon > PRV_MAX_EPSILON:
        raise PrivacyError(
            f"The PRV accountant is unreliable above ε = {PRV_MAX_EPSILON:g}; use accountant 'pld' or 'rdp'."
        )

    def eps(sigma: float) -> float:
        try:
            return epsilon_spent(sigma, q, steps, delta, accountant, relation)
        except PrivacyError:
            if accountant == "prv":
                return math.inf  # PRV fails only far above the target: the noise is too small.
            raise

    low, high = 1.0, 1.0
    while eps(high) > target_epsilon and high < SIGMA_MAX:
        low, high = high, min(2 * high, SIGMA_MAX)
    if eps(high) > target_epsilon:
        raise PrivacyError(
            f"ε = {target_epsilon:g} cannot be met with {steps} steps at sampling rate {q:.4g}: even noise "
            f"σ = {high:g} spends ε = {eps(high):.3g}. Raise ε, train fewer epochs or use a smaller batch."
        )
    while eps(low) <= target_epsilon:
        if low <= SIGMA_MIN:
            return SIGMA_MIN
        high, low = low, max(low / 2, SIGMA_MIN)
    # Brent's method on log σ (ε is smooth and monotone in σ) needs far fewer accountant calls
    # than bisection; the final loop guarantees the σ returned never overspends.
    root = math.exp(brentq(lambda log_sigma: eps(math.exp(log_sigma)) - target_epsilon, math.log(low),
                           math.log(high), xtol=rtol / 4))
    sigma = min(max(root, low), high)
    while eps(sigma) > target_epsilon:
        sigma = min(sigma * (1 + rtol / 4), high)
    return sigma


def check_budget(epsilon: float, delta: float) -> None:
    """Reject budgets that no mechanism can meet or that make no sense."""
    if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and epsilon > 0):
        raise PrivacyError(f"ε must be a positive finite number; got {epsilon!r}. Typical values are 0.5 to 8.")
    if not (isinstance(delta, (int, float)) and 0 < delta < 1):
        raise PrivacyError(f"δ must be in (0, 1); got {delta!r}. The usual choice is below 1/N, e.g. 1e-5.")


@dataclass(frozen=True)
class Composition:
    """Total (ε, δ) of training plus a DP-synthetic support set, and how it was obtained."""

    epsilon: float | None
    delta: float
    basic_epsilon: float | None
    method: str


def compose_with_synthesizer(
    epsilon_train: float | None,
    delta_train: float,
    epsilon_syn: float,
    delta_syn: float,
    rho_syn: float,
    *,
    sigma: float | None = None,
    q: float | None = None,
    steps: int = 0,
    accountant: str | None = None,
    relation: Relation = "remove",
) -> Composition:
    """Compose training with the synthesizer (both protect one row's sensitive values).

    Basic composition always holds: ε = ε_train + ε_syn at δ = δ_train + δ_syn. With the RDP
    accountant and the remove relation the training's RDP curve is known, so the
    synthesizer's ρ-zCDP (RDP ρ·α at every order α) is added to it and the sum converted once
    at the same total δ; that is usually much tighter. Both are valid guarantees at that δ,
    so the smaller is reported. ``epsilon_train`` ``None`` means no guarantee (no total);
    0 means training spends nothing on the sensitive values, so the total is the synthesizer's.
    """
    delta = delta_train + delta_syn
    if epsilon_train is None:
        return Composition(None, delta, None, "none: training uses the real sensitive values without noise")
    if epsilon_train == 0:
        return Composition(epsilon_syn, delta_syn, epsilon_syn,
                           "synthesizer only: training spends ε = 0 on the sensitive values")
    basic = epsilon_train + epsilon_syn
    if accountant != "rdp" or relation != "remove" or sigma is None or q is None or steps == 0:
        why = ("the training accountant is not RDP" if accountant != "rdp" else
               "replace-one relation" if relation == "replace" else "no training curve")
        return Composition(basic, delta, basic, f"basic: ε_train + ε_syn, δ_train + δ_syn ({why})")
    from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

    from fusiondp.synth import RDP_ORDERS

    orders = np.asarray(RDP_ORDERS)
    rdp = np.asarray(compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=orders)) + rho_syn * orders
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order")
        tight, _ = get_privacy_spent(orders=orders, rdp=rdp, delta=delta)
    if float(tight) < basic:
        return Composition(float(tight), delta, basic,
                           "RDP: the synthesizer's ρ-zCDP (ρ·α) added to the training RDP curve, converted at "
                           "δ_train + δ_syn")
    return Composition(basic, delta, basic, "basic: ε_train + ε_syn, δ_train + δ_syn (tighter than RDP here)")
