"""The ε of releasing several DP models together, accounted for how they were trained (METHOD.md §5c).

Each ledger's ε covers its own model. Models that leave together — a curve's ε, fusiondp beside
feature_dp, a sweep's candidates — are one release, and its ε is not the sum a reader would assume:

- models trained separately draw their Poisson samples and noise independently (secret streams,
  ``fusiondp.privacy.randomness``), so their releases compose: the privacy-loss distributions of their
  subsampled Gaussians are composed (dp-accounting's PLD, exact for this mechanism);
- the models of one lockstep training (one ``sampling_group``: a private mode's ε of one seed) see the
  same Poisson samples and each adds its own noise. Model k releases ``g_k + σ_k C_k ξ_k`` about the same
  sampled rows (C_k its own clip norm, which may follow σ_k); together that is one Gaussian mechanism whose
  sensitivity, measured in each model's own noise, is ``√(Σ_k ‖Δg_k‖²/(σ_k C_k)²) ≤ √(Σ_k σ_k⁻²)``, as
  ‖Δg_k‖ ≤ C_k: one subsampled Gaussian with noise multiplier
  ``σ_eff = (Σ_k σ_k⁻²)^−½`` per step;
- models with ``reproducible_noise`` (noise derivable from the seed) have no guarantee, alone or
  together; records written before this accounting existed (no ``sampling_group``) may share their noise
  and are not covered either.

The joint ε is stated under the models' own relation when they all share one (e.g. fusiondp's and
feature_dp's removal to missing on a table); otherwise under replace-one of one row's sensitive values,
which bounds every DP mode (two clipped gradients differ by at most 2C, dpsgd's whole row included).
The replace-one figure is always given too. A DP-synthetic support set is one release shared by all the
models: it is added once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from fusiondp.privacy.accounting import SIGMA_MIN, GaussianSteps, Relation, composed_epsilon
from fusiondp.privacy.randomness import NO_GUARANTEE
from fusiondp.record import PrivacyLedger, RunRecord

REPLACE_ONE = "feature replace-one (any change of one row's sensitive values)"
"""The relation a mixed release is stated under: every DP mode's noise bounds it."""


@dataclass(frozen=True)
class JointRelease:
    """What releasing ``models`` DP models together costs: results.json's ``joint_release``."""

    epsilon: float | None
    """``None``: no guarantee (reproducible noise, or models that may share their noise)."""
    delta: float
    relation: str
    models: int
    trainings: int
    """Independent trainings among them (lockstep models count once: they shared their samples)."""
    epsilon_replace: float | None
    accountant: str
    method: str
    epsilon_sum: float
    """The sum of the models' ε under ``relation``: what a reader adding them up would assume (basic composition:
    valid at δ = models·δ, not at ``delta``)."""
    epsilon_total: float | None = None
    """With a DP-synthetic support set: the joint release plus the synthesizer's, once (basic composition)."""
    delta_total: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One sentence for the CLI summary, the report and the dashboard."""
        if self.epsilon is None:
            return f"Releasing these {self.models} DP models together: no guarantee ({self.method})."
        total = ""
        if self.epsilon_total is not None:
            total = (f"; with the DP-synthetic support set, ε_total = {self.epsilon_total:.3g} at "
                     f"δ = {self.delta_total:g}")
        return (f"Releasing these {self.models} DP models together: ε = {self.epsilon:.3g} at δ = {self.delta:g} "
                f"({self.relation}; {self.trainings} independent training{'s' if self.trainings != 1 else ''}, "
                f"{self.accountant.upper()}){total}. Each model's own ε covers that model alone; adding them up "
                f"gives {self.epsilon_sum:.3g}, and only at δ = {self.models * self.delta:g}.")


def joint_release(ledgers: Sequence[PrivacyLedger]) -> JointRelease | None:
    """The joint-release ε of the DP models among ``ledgers``; ``None`` with fewer than two."""
    private = [ledger for ledger in ledgers
               if ledger.sigma is not None and ledger.sampling_rate and ledger.steps > 0]
    if len(private) < 2:
        return None
    delta = max(float(ledger.delta or 0.0) for ledger in private)
    groups: dict[str, list[PrivacyLedger]] = {}
    for index, ledger in enumerate(private):
        groups.setdefault(ledger.sampling_group or f"unknown-{index}", []).append(ledger)
    adjacencies = {ledger.adjacency for ledger in private}
    relations = {ledger.relation for ledger in private}
    own = next(iter(relations)) if len(adjacencies) == 1 and len(relations) == 1 else None
    relation_text = next(iter(adjacencies)) if own is not None else REPLACE_ONE
    spent = [ledger.epsilon_spent if own is not None else ledger.epsilon_replace for ledger in private]
    epsilon_sum = math.inf if any(e is None for e in spent) else float(sum(e for e in spent if e is not None))
    common = {"delta": delta, "models": len(private), "trainings": len(groups), "epsilon_sum": epsilon_sum}
    if any(ledger.reproducible_noise for ledger in private):
        return JointRelease(None, relation=relation_text, epsilon_replace=None, accountant="none",
                            method=NO_GUARANTEE, **common)
    if any(ledger.sampling_group is None for ledger in private):
        return JointRelease(None, relation=relation_text, epsilon_replace=None, accountant="none",
                            method="some records were written before each model drew its own noise, so models of "
                                   "one seed may share it; retrain them to release them together", **common)
    events = tuple(_group_event(group) for group in groups.values())
    accountant = "pld" if min(e.sigma for e in events) >= SIGMA_MIN else "rdp"
    replace = composed_epsilon(events, delta, accountant, "replace")
    epsilon = replace if own is None else composed_epsilon(events, delta, accountant, _relation(own))
    method = (f"{len(events)} independent subsampled Gaussian mechanism{'s' if len(events) != 1 else ''} composed "
              f"({accountant.upper()}); models that shared their Poisson samples counted as one mechanism with "
              "σ_eff = (Σσ⁻²)^−½")
    synthetic = next((ledger for ledger in private if ledger.epsilon_syn is not None), None)
    total = total_delta = None
    if synthetic is not None:
        # the same shared support set under replace-one: add it once to the replace-one joint release
        total = replace + float(synthetic.epsilon_syn or 0.0)
        total_delta = delta + float(synthetic.delta_syn or 0.0)
    return JointRelease(epsilon, relation=relation_text, epsilon_replace=replace, accountant=accountant,
                        method=method, epsilon_total=total, delta_total=total_delta, **common)


def joint_release_of_records(records: Sequence[RunRecord]) -> JointRelease | None:
    """``joint_release`` of the records' ledgers (a run's or a sweep's records, read back or fresh)."""
    return joint_release([record.privacy for record in records])


def _group_event(group: list[PrivacyLedger]) -> GaussianSteps:
    """One subsampled Gaussian for models that saw the same samples: σ_eff = (Σ σ_k⁻²)^−½, their rate and steps."""
    sigma = sum(float(ledger.sigma) ** -2 for ledger in group if ledger.sigma) ** -0.5
    return GaussianSteps(sigma, max(float(ledger.sampling_rate or 0.0) for ledger in group),
                         max(ledger.steps for ledger in group))


def _relation(value: str | None) -> Relation:
    return "replace" if value == "replace" else "remove"
