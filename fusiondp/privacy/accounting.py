"""Privacy accounting for the Poisson-subsampled Gaussian mechanism.

``epsilon_spent`` answers "how much did these steps cost", ``calibrate_sigma`` answers
"how much noise do I need for this budget", both with the same accountant so that the
ε reported is the ε the noise was calibrated for. Accountants: ``rdp`` (opacus' Rényi
accountant, the default), ``prv`` (opacus' PRV accountant) and ``pld`` (dp-accounting's
privacy-loss-distribution accountant, the only one here that handles the replace-one
relation for Poisson sampling exactly).

Relations (METHOD.md §1): ``remove`` — one row's sensitive values present vs replaced by
their reference (missing; in notes the hybrid note), accounted as add/remove with sensitivity C; ``replace`` — one row's
sensitive values changed arbitrarily: two clipped gradients differ by up to 2C.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Literal

import numpy as np

from fusiondp.errors import PrivacyError

Accountant = Literal["rdp", "prv", "pld"]
Relation = Literal["remove", "replace"]
ACCOUNTANTS: tuple[str, ...] = ("rdp", "prv", "pld")
SIGMA_MIN, SIGMA_MAX = 0.3, 1e3
"""Search range for σ. Below 0.3 the PLD accountant's grid explodes and ε is far beyond any
useful budget, so the search returns 0.3 (and reports the smaller ε it actually spends)."""
PLD_DISCRETISATION = 1e-3
"""dp-accounting's grid step for privacy losses; its rounding is pessimistic (ε never understated)."""
MAX_EPSILON = 100.0
"""Budgets above this are refused: the (ε, δ) guarantee no longer bounds anything an attacker could learn."""
PRV_MAX_EPSILON = 10.0
"""Opacus' PRV discretisation breaks down for larger ε; beyond it we fall back to PLD."""


@dataclass(frozen=True)
class GaussianSteps:
    """``steps`` releases of a noisy sum of per-row contributions, each of norm at most 1.

    The noise is Gaussian with standard deviation ``sigma`` (a noise multiplier: in units of
    the contribution bound) and each release sums a Poisson sample of the rows taken at rate
    ``q`` (1: every row). DP-SGD is one such block (clip norm C, noise σ·C); a noisy sum of
    bounded statistics is another with q = 1 and steps = 1.
    """

    sigma: float
    q: float
    steps: int


OPACUS_RDP_ORDERS: tuple[float, ...] = (*(1 + x / 10.0 for x in range(1, 100)), *range(12, 64))
"""Opacus' ``RDPAccountant.DEFAULT_ALPHAS``, the orders of the ``rdp`` accountant (a test checks they agree)."""
RDP_ORDERS: tuple[float, ...] = (*OPACUS_RDP_ORDERS, 80, 100, 128, 160, 200, 256, 384, 512, 768, 1024)
"""Opacus' default RDP orders plus larger ones, for ρ-zCDP (the marginal synthesizer's ε_syn, alone and added to
the training's RDP curve): small ρ (ε_syn ≲ 0.5) is tightest at orders beyond 64."""


@lru_cache(maxsize=1)
def opacus_rdp() -> ModuleType:
    """Opacus' RDP analysis (``opacus.accountants.analysis.rdp``: ``compute_rdp``, ``get_privacy_spent``).

    Imported the usual way, it runs opacus' package ``__init__``, whose optimizers import torch.distributed:
    0.9 s of every run's start-up (and of every worker's) for a module of numpy and scipy. So it is loaded from
    its file, opacus' own code unchanged, without the package around it (a test checks it is the same code).
    """
    loaded = sys.modules.get("opacus.accountants.analysis.rdp")
    if loaded is not None:
        return loaded
    package = importlib.util.find_spec("opacus")
    if package is None or not package.submodule_search_locations:
        raise ImportError("opacus is not installed: pip install opacus")
    path = Path(package.submodule_search_locations[0]) / "accountants" / "analysis" / "rdp.py"
    spec = importlib.util.spec_from_file_location("fusiondp.privacy._opacus_rdp", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rdp_to_epsilon(orders: np.ndarray | tuple[float, ...], rdp: np.ndarray, delta: float) -> float:
    """ε at ``delta`` of an RDP curve, by opacus' conversion (its "optimal order at the edge" warning muted:
    the orders include large ones, and the bound holds at whichever order is best)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order")
        epsilon, _ = opacus_rdp().get_privacy_spent(orders=orders, rdp=rdp, delta=delta)
    return float(epsilon)


@lru_cache(maxsize=1024)
def _rdp_per_step(q: float, sigma: float) -> np.ndarray:
    """Opacus' RDP of one subsampled Gaussian step at its default orders (read-only: it is cached).

    ``compute_rdp`` returns the one-step vector times ``steps``, so scaling this cached vector is the
    same arithmetic; the per-epoch ε of a run and the replace bound's δ search then cost no new series.
    """
    rdp = np.asarray(opacus_rdp().compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=OPACUS_RDP_ORDERS))
    rdp.setflags(write=False)
    return rdp


def _rdp_epsilon(events: tuple[GaussianSteps, ...], delta: float) -> float:
    return rdp_to_epsilon(OPACUS_RDP_ORDERS, sum(_rdp_per_step(e.q, e.sigma) * e.steps for e in events), delta)


def _prv_epsilon(events: tuple[GaussianSteps, ...], delta: float) -> float:
    from opacus.accountants import PRVAccountant

    accountant = PRVAccountant()
    accountant.history = [(e.sigma, e.q, e.steps) for e in events]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(accountant.get_epsilon(delta=delta))


def _pld_epsilon(events: tuple[GaussianSteps, ...], delta: float, relation: Relation) -> float:
    import dp_accounting
    from dp_accounting.pld import PLDAccountant

    relation_enum = dp_accounting.NeighboringRelation
    accountant = PLDAccountant(
        relation_enum.REPLACE_ONE if relation == "replace" else relation_enum.ADD_OR_REMOVE_ONE,
        value_discretization_interval=PLD_DISCRETISATION,
    )
    for e in events:
        gaussian = dp_accounting.GaussianDpEvent(e.sigma)
        accountant.compose(gaussian if e.q >= 1 else dp_accounting.PoissonSampledDpEvent(e.q, gaussian), e.steps)
    return float(accountant.get_epsilon(delta))


@lru_cache(maxsize=4096)
def epsilon_spent(
    sigma: float, q: float, steps: int, delta: float, accountant: Accountant = "rdp", relation: Relation = "remove"
) -> float:
    """ε after ``steps`` Poisson-subsampled Gaussian steps (noise multiplier ``sigma``, rate ``q``)."""
    if steps == 0 or q == 0:
        return 0.0
    if sigma <= 0:
        return math.inf
    return composed_epsilon((GaussianSteps(sigma, q, steps),), delta, accountant, relation)


@lru_cache(maxsize=4096)
def composed_epsilon(
    events: tuple[GaussianSteps, ...], delta: float, accountant: Accountant = "rdp", relation: Relation = "remove"
) -> float:
    """ε of ``events`` run one after another (adaptively) on the same rows, at ``delta``.

    The replace relation with ``rdp`` or ``prv`` uses the group-privacy bound on the remove
    relation's guarantee (ε_r = 2ε at δ_r = (1 + e^ε)δ, solved for the requested δ); ``pld``
    accounts for it exactly.
    """
    events = tuple(e for e in events if e.steps > 0 and e.q > 0)
    if not events:
        return 0.0
    if any(e.sigma <= 0 for e in events):
        return math.inf
    if accountant == "pld":
        return _pld_epsilon(events, delta, relation)
    if relation == "replace":
        return _group_replace_epsilon(events, delta, accountant)
    if accountant == "rdp":
        return _rdp_epsilon(events, delta)
    if accountant == "prv":
        try:
            epsilon = _prv_epsilon(events, delta)
        except (ValueError, RuntimeError, OverflowError) as exc:
            raise PrivacyError(f"The PRV accountant failed here ({exc}); use accountant 'pld' or 'rdp'.") from exc
        if not math.isfinite(epsilon) or epsilon > PRV_MAX_EPSILON:
            raise PrivacyError(
                f"The PRV accountant is unreliable above ε = {PRV_MAX_EPSILON:g}; use accountant 'pld' or 'rdp'."
            )
        return epsilon
    raise PrivacyError(f"Unknown accountant {accountant!r}; choose one of {', '.join(ACCOUNTANTS)}.")


def _group_replace_epsilon(events: tuple[GaussianSteps, ...], delta: float, accountant: Accountant) -> float:
    """Group privacy of size 2: (ε, δ₁) for remove gives (2ε, (1+e^ε)δ₁) for replace.

    Find δ₁ with (1 + e^{ε(δ₁)})·δ₁ = δ by fixed-point iteration (δ₁ ≤ δ/2 always).
    """
    delta_one = delta / 2
    for _ in range(20):
        epsilon = composed_epsilon(events, delta_one, accountant, "remove")
        updated = delta / (1 + math.exp(min(epsilon, 700)))
        if abs(updated - delta_one) <= 1e-6 * delta:
            break
        delta_one = updated
    return 2 * composed_epsilon(events, delta_one, accountant, "remove")


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

    return smallest_sigma(eps, target_epsilon, rtol, f"with {steps} steps at sampling rate {q:.4g}",
                          "Raise ε, train fewer epochs or use a smaller batch.")


def smallest_sigma(eps: Callable[[float], float], target_epsilon: float, rtol: float, what: str, fix: str) -> float:
    """The smallest noise multiplier in [``SIGMA_MIN``, ``SIGMA_MAX``] with ``eps(σ) ≤ target_epsilon``.

    ``eps`` must decrease in σ. Brent's method on log σ (ε is smooth and monotone in σ) needs
    far fewer accountant calls than bisection; the final loop guarantees the σ returned
    never overspends. ``what`` and ``fix`` complete the error raised when even σ = 1000 fails.
    """
    low, high = 1.0, 1.0
    while eps(high) > target_epsilon and high < SIGMA_MAX:
        low, high = high, min(2 * high, SIGMA_MAX)
    if eps(high) > target_epsilon:
        raise PrivacyError(
            f"ε = {target_epsilon:g} cannot be met {what}: even noise σ = {high:g} spends ε = {eps(high):.3g}. {fix}"
        )
    while eps(low) <= target_epsilon:
        if low <= SIGMA_MIN:
            return SIGMA_MIN
        high, low = low, max(low / 2, SIGMA_MIN)
    from scipy.optimize import brentq  # scipy costs ~0.4 s to import: only when calibrating

    root = math.exp(brentq(lambda log_sigma: eps(math.exp(log_sigma)) - target_epsilon, math.log(low),
                           math.log(high), xtol=rtol / 4))
    sigma = min(max(root, low), high)
    while eps(sigma) > target_epsilon:
        sigma = min(sigma * (1 + rtol / 4), high)
    return sigma


USUAL_EPSILON = "Typical values are 0.5 to 8; the sgd_ori mode is the unprotected reference."


def check_epsilon(epsilon: float, name: str = "ε", usual: str = USUAL_EPSILON) -> None:
    """Reject an ε that is not a positive finite number, or too large to mean anything (``usual``: what to use)."""
    if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and epsilon > 0):
        raise PrivacyError(f"{name} must be a positive finite number; got {epsilon!r}. {usual}")
    if epsilon > MAX_EPSILON:
        raise PrivacyError(f"{name} = {epsilon:g} is not a meaningful budget: above {MAX_EPSILON:g} the guarantee "
                           f"says nothing. {usual}")


DEFAULT_DELTA = 1e-5
"""The usual δ, kept as the default while it is below 1/N."""


def default_delta(n_rows: int) -> float:
    """The δ of a run that names none, for a table of ``n_rows`` rows: ``DEFAULT_DELTA`` while it is below 1/N,
    else 1/(10·N) rounded down to one significant digit (4e-07 for 215,000 rows).

    δ ≥ 1/N would be met by a mechanism that publishes one row at random (METHOD.md §4), so a fixed
    1e-5 is no default for a table of 100,000 rows or more. N is the table's row count, at least the
    number of private training rows the guarantee is about.
    """
    if 1 / max(n_rows, 1) > DEFAULT_DELTA:
        return DEFAULT_DELTA
    exact = 1 / (10 * n_rows)
    scale = 10.0 ** math.floor(math.log10(exact))
    return float(f"{math.floor(exact / scale * (1 + 1e-12)) * scale:.1g}")


def check_budget(epsilon: float, delta: float) -> None:
    """Reject budgets that no mechanism can meet or that make no sense."""
    check_epsilon(epsilon)
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
    rho_syn: float | None,
    *,
    synth_events: tuple[GaussianSteps, ...] | None = None,
    sigma: float | None = None,
    q: float | None = None,
    steps: int = 0,
    accountant: str | None = None,
    relation: Relation = "remove",
) -> Composition:
    """Compose training with the synthesizer (both protect one row's sensitive values).

    Basic composition always holds: ε = ε_train + ε_syn at δ = δ_train + δ_syn. Two tighter
    routes convert the joint privacy curve once at that same total δ:

    - the marginal synthesizer is ρ-zCDP (RDP ρ·α at every order α): with the RDP accountant
      and the remove relation, ρ·α is added to the training's RDP curve;
    - the two-stage synthesizer is a list of Gaussian releases (``synth_events``, accounted
      under the replace relation, which covers any change of one row's sensitive values):
      its privacy-loss distribution is composed with the training's (under the training's
      relation) by dp-accounting's PLD, whatever accountant calibrated the training noise —
      the accountant is an analysis of the same mechanism.

    All are valid guarantees at that δ, so the smallest is reported. ``epsilon_train``
    ``None`` means no guarantee (no total); 0 means training spends nothing on the
    sensitive values, so the total is the synthesizer's.
    """
    delta = delta_train + delta_syn
    if epsilon_train is None:
        return Composition(None, delta, None, "none: training uses the real sensitive values without noise")
    if epsilon_train == 0:
        return Composition(epsilon_syn, delta_syn, epsilon_syn,
                           "synthesizer only: training spends ε = 0 on the sensitive values")
    basic = epsilon_train + epsilon_syn
    if sigma is None or q is None or steps == 0:
        return Composition(basic, delta, basic, "basic: ε_train + ε_syn, δ_train + δ_syn (no training curve)")
    if synth_events is not None:
        tight = _pld_composition(GaussianSteps(sigma, q, steps), relation, synth_events, delta)
        method = ("PLD: the training's and the two-stage synthesizer's privacy-loss distributions composed, "
                  "converted at δ_train + δ_syn")
    elif rho_syn is not None and accountant == "rdp" and relation == "remove":
        tight = _rdp_composition(GaussianSteps(sigma, q, steps), rho_syn, delta)
        method = ("RDP: the synthesizer's ρ-zCDP (ρ·α) added to the training RDP curve, converted at "
                  "δ_train + δ_syn")
    else:
        why = "the training accountant is not RDP" if accountant != "rdp" else "replace-one relation"
        return Composition(basic, delta, basic, f"basic: ε_train + ε_syn, δ_train + δ_syn ({why})")
    if tight < basic:
        return Composition(tight, delta, basic, method)
    return Composition(basic, delta, basic, f"basic: ε_train + ε_syn, δ_train + δ_syn (tighter than {method[:3]})")


def _rdp_composition(train: GaussianSteps, rho_syn: float, delta: float) -> float:
    orders = np.asarray(RDP_ORDERS)
    rdp = np.asarray(opacus_rdp().compute_rdp(q=train.q, noise_multiplier=train.sigma, steps=train.steps,
                                              orders=orders))
    return rdp_to_epsilon(orders, rdp + rho_syn * orders, delta)


def _pld_composition(train: GaussianSteps, relation: Relation, synth: tuple[GaussianSteps, ...],
                     delta: float) -> float:
    import dp_accounting
    from dp_accounting.pld import privacy_loss_distribution

    relations = dp_accounting.NeighboringRelation

    def pld(event: GaussianSteps, relation: Relation) -> privacy_loss_distribution.PrivacyLossDistribution:
        single = privacy_loss_distribution.from_gaussian_mechanism(
            event.sigma, sampling_prob=event.q, value_discretization_interval=PLD_DISCRETISATION,
            neighboring_relation=relations.REPLACE_ONE if relation == "replace" else relations.ADD_OR_REMOVE_ONE)
        return single.self_compose(event.steps)

    total = pld(train, relation)
    for event in synth:
        total = total.compose(pld(event, "replace"))
    return float(total.get_epsilon_for_delta(delta))
