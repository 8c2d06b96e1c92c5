"""A run's privacy plan and ledger: the σ its ε calls for, and what its record says about privacy.

``privacy_plan`` calibrates σ before training; ``run_ledger`` writes the ledger after it: ε spent under the
relation the mode is accounted under, the composition with a DP-synthetic support set, and the notes that
qualify the claim (reproducible noise, proxies, replace-one).
"""

from __future__ import annotations

import time

from fusiondp.prepared import PreparedData
from fusiondp.privacy.accounting import Relation, calibrate_sigma, compose_with_synthesizer, epsilon_spent
from fusiondp.privacy.randomness import NO_GUARANTEE
from fusiondp.record import PrivacyLedger
from fusiondp.synth import TwoStageSummary
from fusiondp.train.loop import planned_steps
from fusiondp.train.modes import Mode


def training_relation(prepared: PreparedData, mode: Mode) -> Relation:
    """The relation ``mode``'s training is calibrated and accounted under on this data (``Mode.relation_for``)."""
    return mode.relation_for(prepared.splits.synthetic is not None)


def privacy_plan(prepared: PreparedData, mode: Mode) -> tuple[float | None, float, int, float]:
    """σ (``None`` for non-private modes), q, T and the calibration time for ``mode``."""
    config = prepared.config
    q, steps, _ = planned_steps(len(prepared.tensors.y), config.train_settings(), mode.name)
    if not mode.is_private:
        return None, q, steps, 0.0
    started = time.perf_counter()
    sigma = calibrate_sigma(config.epsilon, config.delta, q, steps, config.accountant,
                            training_relation(prepared, mode))
    return sigma, q, steps, time.perf_counter() - started


def run_ledger(prepared: PreparedData, mode: Mode, sigma: float | None, q: float, steps: int,
               rep_clip: float | None) -> PrivacyLedger:
    """The ledger of one model trained in ``mode`` with noise ``sigma`` for ``steps`` steps at rate ``q``; with a
    DP-synthetic support set, its training composed with the synthesizer's release (``epsilon_total``)."""
    ledger = _training_ledger(prepared, mode, sigma, q, steps, rep_clip)
    synthetic = prepared.splits.synthetic
    if synthetic is not None:
        # Both releases must be read under one relation about the sensitive values. dpsgd's own
        # relation (a whole row present or not) is not one: for a change of one row's sensitive
        # values its training is bounded by the replace-one ε of the same noise.
        relation = "replace" if mode.name == "dpsgd" else training_relation(prepared, mode)
        epsilon_train = ledger.epsilon_replace if mode.name == "dpsgd" else ledger.epsilon_spent
        total = compose_with_synthesizer(
            epsilon_train, ledger.delta or 0.0, synthetic.epsilon, synthetic.delta, synthetic.rho,
            synth_events=synthetic.events() if isinstance(synthetic, TwoStageSummary) else None,
            sigma=sigma, q=q, steps=steps, accountant=ledger.accountant, relation=relation)
        ledger.epsilon_syn, ledger.delta_syn, ledger.rho_syn = synthetic.epsilon, synthetic.delta, synthetic.rho
        ledger.synth_mechanism = synthetic.mechanism()
        ledger.epsilon_total, ledger.delta_total, ledger.composition = total.epsilon, total.delta, total.method
        if total.basic_epsilon is not None and total.epsilon != total.basic_epsilon:
            ledger.notes.append(f"basic composition would give ε_total = {total.basic_epsilon:.3g}")
        if relation == "replace" or ledger.epsilon_replace is None:
            ledger.epsilon_total_replace = ledger.epsilon_total
        else:  # the same total read under replace-one, the one relation every mode's total can be compared on
            ledger.epsilon_total_replace = compose_with_synthesizer(
                ledger.epsilon_replace, ledger.delta or 0.0, synthetic.epsilon, synthetic.delta, synthetic.rho,
                synth_events=synthetic.events() if isinstance(synthetic, TwoStageSummary) else None,
                sigma=sigma, q=q, steps=steps, accountant="pld", relation="replace").epsilon
    return ledger


def proxy_condition(proxies: tuple[str, ...]) -> str:
    """The clause that makes a claim about the sensitive values conditional on the preflight's proxies ('' without
    any): a public column that nearly determines a sensitive one releases it, whatever ε says."""
    if not proxies:
        return ""
    return f" — unless a public column is a proxy: the preflight found {len(proxies)} ({'; '.join(proxies)})"


def _training_ledger(prepared: PreparedData, mode: Mode, sigma: float | None, q: float, steps: int,
                     rep_clip: float | None) -> PrivacyLedger:
    config = prepared.for_mode(mode.name).config  # the encoding the mode read decides its noise level, hence C
    notes = [n for n in prepared.notes if "δ" in n]
    void = config.reproducible_noise and (mode.is_private or prepared.splits.synthetic is not None)
    if void:
        notes.insert(0, NO_GUARANTEE)
    unless = proxy_condition(prepared.proxies)
    if not mode.is_private:
        spent = None if mode.name == "sgd_ori" else 0.0
        if spent is None:
            notes.append("no privacy: trains on the real sensitive values")
        elif prepared.splits.synthetic is None:
            notes.append(f"ε = 0 for the sensitive columns: their real values never reach the model{unless}")
        else:
            notes.append("training spends ε = 0 on the sensitive columns; their real values reach the model only "
                         f"through the DP-synthetic support set the imputer was fitted on (ε_syn){unless}")
        return PrivacyLedger(None, spent, None, None, None, steps, None, None, mode.adjacency, notes=notes,
                             reproducible_noise=void)
    relation = training_relation(prepared, mode)
    if relation != mode.relation:
        notes.append("accounted under replace-one: the imputation that defines FusionDP's removal relation was "
                     "fitted on the DP-synthetic support set, so it depends on the synthesizer's randomness and "
                     "cannot serve as a fixed neighbouring table")
    if relation == "replace" and config.accountant != "pld":
        notes.append("replace-one relation accounted by group privacy over the remove relation (conservative)")
    if mode.name == "dpsgd" and prepared.splits.synthetic is not None:
        notes.append("the DP-synthetic support set copies the training rows' public columns and label, and the "
                     "imputer and encoders are fitted on it: the model protects the sensitive values only (the "
                     "total ε, replace-one), not whole rows")
    if unless and (mode.name != "dpsgd" or prepared.splits.synthetic is not None):  # whole rows: proxies included
        notes.append(f"ε bounds what the model reveals about the sensitive values{unless}")
    return PrivacyLedger(
        epsilon_target=config.epsilon,
        epsilon_spent=epsilon_spent(sigma, q, steps, config.delta, config.accountant, relation),
        delta=config.delta, sigma=sigma, sampling_rate=q, steps=steps,
        max_grad_norm=config.train_settings().clip_norm(sigma, mode.name),
        accountant=config.accountant, adjacency=mode.adjacency_for(prepared.splits.synthetic is not None,
                                                                   prepared.tensors.channels is not None),
        epsilon_replace=epsilon_spent(sigma, q, steps, config.delta, "pld", "replace"),
        rep_clip=rep_clip, notes=notes, relation=relation, reproducible_noise=void,
    )


