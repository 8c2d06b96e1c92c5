"""Accounting: σ calibration and ε spent against opacus and dp-accounting."""

from __future__ import annotations

import math

import dp_accounting
import pytest
from dp_accounting.pld import PLDAccountant
from dp_accounting.rdp import RdpAccountant
from opacus.accountants.rdp import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

from fusiondp.errors import PrivacyError
from fusiondp.privacy.accounting import calibrate_sigma, check_budget, epsilon_spent

CASES = [(0.5, 0.04, 325), (1.0, 0.042, 311), (2.0, 0.01, 1300), (4.0, 0.1, 130), (8.0, 0.05, 260)]


@pytest.mark.parametrize(("epsilon", "q", "steps"), CASES)
def test_sigma_matches_opacus_get_noise_multiplier(epsilon: float, q: float, steps: int) -> None:
    ours = calibrate_sigma(epsilon, 1e-5, q, steps, "rdp", rtol=1e-6)
    theirs = get_noise_multiplier(target_epsilon=epsilon, target_delta=1e-5, sample_rate=q, steps=steps,
                                  accountant="rdp", epsilon_tolerance=1e-6)
    assert ours == pytest.approx(theirs, abs=1e-3)


@pytest.mark.parametrize(("epsilon", "q", "steps"), CASES[:3])
def test_calibrated_sigma_spends_at_most_the_target(epsilon: float, q: float, steps: int) -> None:
    for accountant in ("rdp", "pld"):
        sigma = calibrate_sigma(epsilon, 1e-5, q, steps, accountant)
        assert epsilon_spent(sigma, q, steps, 1e-5, accountant) <= epsilon
        assert epsilon_spent(sigma * 0.99, q, steps, 1e-5, accountant) > epsilon * 0.98


@pytest.mark.parametrize(("sigma", "q", "steps"), [(1.0, 0.0256, 1000), (3.17, 0.042, 311), (0.8, 0.1, 50)])
def test_rdp_epsilon_matches_dp_accounting(sigma: float, q: float, steps: int) -> None:
    accountant = RdpAccountant(orders=RDPAccountant.DEFAULT_ALPHAS)
    accountant.compose(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
    assert epsilon_spent(sigma, q, steps, 1e-5, "rdp") == pytest.approx(accountant.get_epsilon(1e-5), rel=2e-2)


def test_recipes_reference_numbers() -> None:
    """RECIPES.md: 10k rows, batch 256, 20 epochs, σ = 1, δ = 1e-5 → RDP 5.01, PLD 4.51, PRV 4.51."""
    q, steps = 256 / 10_000, math.ceil(20 / (256 / 10_000))
    assert epsilon_spent(1.0, q, steps, 1e-5, "rdp") == pytest.approx(5.01, abs=0.05)
    assert epsilon_spent(1.0, q, steps, 1e-5, "pld") == pytest.approx(4.51, abs=0.05)
    assert epsilon_spent(1.0, q, steps, 1e-5, "prv") == pytest.approx(4.51, abs=0.05)


def _opacus_rdp_epsilon(sigma: float, q: float, steps: int, delta: float) -> float:
    """Opacus' own RDP accountant, through its public API."""
    accountant = RDPAccountant()
    accountant.history = [(sigma, q, steps)]
    return accountant.get_epsilon(delta)


@pytest.mark.parametrize(("sigma", "q", "steps"), [(3.0, 0.04, 300), (8.0, 1.0, 10)])
def test_replace_epsilon_matches_dp_accounting_and_the_group_bound_an_explicit_computation(
        sigma: float, q: float, steps: int) -> None:
    """Replace-one ε, computed independently of our code.

    PLD: dp-accounting's ``PLDAccountant`` under ``REPLACE_ONE`` at its default discretisation (ours is
    coarser: within 1%). RDP: the group-privacy bound written out — opacus' remove-relation ε at the δ₁ that
    solves (1 + e^ε(δ₁))·δ₁ = δ, found by bisection here, doubled.
    """
    delta = 1e-5
    relation = dp_accounting.NeighboringRelation
    event = dp_accounting.GaussianDpEvent(sigma)
    if q < 1:
        event = dp_accounting.PoissonSampledDpEvent(q, event)
    theirs = PLDAccountant(relation.REPLACE_ONE).compose(event, steps).get_epsilon(delta)
    removal = PLDAccountant(relation.ADD_OR_REMOVE_ONE).compose(event, steps).get_epsilon(delta)
    ours = epsilon_spent(sigma, q, steps, delta, "pld", "replace")
    assert ours == pytest.approx(theirs, rel=1e-2)
    assert abs(ours - removal) > 0.05 * removal, "the replace figure is not the removal one"

    low, high = 1e-30, delta
    for _ in range(60):  # (1 + e^ε(δ₁))·δ₁ grows with δ₁ here; 60 halvings of its log-range
        middle = (low * high) ** 0.5
        if (1 + math.exp(_opacus_rdp_epsilon(sigma, q, steps, middle))) * middle > delta:
            high = middle
        else:
            low = middle
    delta_one = low
    assert (1 + math.exp(_opacus_rdp_epsilon(sigma, q, steps, delta_one))) * delta_one <= delta
    group = 2 * _opacus_rdp_epsilon(sigma, q, steps, delta_one)
    assert epsilon_spent(sigma, q, steps, delta, "rdp", "replace") == pytest.approx(group, rel=1e-4)


def test_replace_equals_double_sensitivity_without_subsampling() -> None:
    """With q = 1, replace-one is add/remove with sensitivity 2C, i.e. noise multiplier σ/2."""
    sigma, steps, delta = 8.0, 10, 1e-5
    assert epsilon_spent(sigma, 1.0, steps, delta, "pld", "replace") == pytest.approx(
        epsilon_spent(sigma / 2, 1.0, steps, delta, "pld", "remove"), rel=1e-2)


def test_epsilon_grows_with_steps_and_shrinks_with_noise() -> None:
    assert epsilon_spent(2.0, 0.05, 100, 1e-5) < epsilon_spent(2.0, 0.05, 200, 1e-5)
    assert epsilon_spent(3.0, 0.05, 200, 1e-5) < epsilon_spent(2.0, 0.05, 200, 1e-5)
    assert epsilon_spent(2.0, 0.05, 0, 1e-5) == 0.0


@pytest.mark.parametrize("epsilon", [0.0, -1.0, float("nan"), float("inf")])
def test_invalid_epsilon_is_rejected(epsilon: float) -> None:
    with pytest.raises(PrivacyError, match="ε must be a positive finite number"):
        check_budget(epsilon, 1e-5)


@pytest.mark.slow
def test_impossible_budget_says_what_to_change() -> None:
    with pytest.raises(PrivacyError, match="cannot be met"):
        calibrate_sigma(1e-4, 1e-5, 0.5, 10_000)


def test_prv_refuses_large_epsilon_with_advice() -> None:
    with pytest.raises(PrivacyError, match="use accountant 'pld' or 'rdp'"):
        calibrate_sigma(20.0, 1e-5, 0.05, 100, "prv")


GRID = [(q, sigma, steps) for q in (0.01, 0.05, 0.2) for sigma in (0.8, 1.5, 4.0) for steps in (50, 400)]


@pytest.mark.parametrize(("q", "sigma", "steps"), GRID)
def test_accountants_agree_and_order_as_theory_says(q: float, sigma: float, steps: int) -> None:
    from opacus.accountants import RDPAccountant as OpacusRDP

    delta = 1e-5
    opacus = OpacusRDP()
    opacus.history = [(sigma, q, steps)]
    rdp = epsilon_spent(sigma, q, steps, delta, "rdp")
    assert rdp == pytest.approx(opacus.get_epsilon(delta=delta), abs=1e-6)
    pld = epsilon_spent(sigma, q, steps, delta, "pld")
    assert pld <= rdp * 1.001
    if rdp < 8:
        assert epsilon_spent(sigma, q, steps, delta, "prv") <= rdp * 1.001
    assert epsilon_spent(sigma, q, steps, delta, "pld", "replace") >= pld
    assert epsilon_spent(sigma, q, steps, delta, "rdp", "replace") >= rdp


def test_rdp_accountant_is_opacus_own_code_without_its_package_import() -> None:
    """The ``rdp`` accountant loads opacus' analysis module by file (skipping opacus' package import): the
    same file, the same orders, the same ε as opacus' RDPAccountant, and a run's accounting imports no opacus."""
    import subprocess
    import sys

    import opacus.accountants.analysis.rdp as opacus_analysis

    from fusiondp.privacy.accounting import OPACUS_RDP_ORDERS, opacus_rdp

    assert tuple(RDPAccountant.DEFAULT_ALPHAS) == OPACUS_RDP_ORDERS
    assert opacus_rdp().__file__ == opacus_analysis.__file__
    for epsilon, q, steps in CASES:
        sigma = calibrate_sigma(epsilon, 1e-5, q, steps)
        accountant = RDPAccountant()
        accountant.history = [(sigma, q, steps)]
        assert epsilon_spent(sigma, q, steps, 1e-5) == accountant.get_epsilon(1e-5)
    code = ("import sys; from fusiondp.privacy.accounting import calibrate_sigma, epsilon_spent; "
            "epsilon_spent(calibrate_sigma(1.0, 1e-5, 0.01, 500), 0.01, 500, 1e-5); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'opacus'))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
