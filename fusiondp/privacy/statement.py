"""A plain-language privacy statement for a trained model.

ε and δ mean little to most readers. The operational reading used here is the
hypothesis-testing one (Kairouz, Oh & Viswanath 2015; Dong, Roth & Su 2019, f-DP): an
attacker who sees the model and must decide between two neighbouring tables — here, "this
row's sensitive values were the real ones" vs "they were the imputed ones" — cannot reach a
true-positive rate above ``min_ε' (e^ε'·FPR + δ(ε'))`` at a given false-positive rate, where
δ(ε') is read from the mechanism's privacy-loss distribution (dp-accounting's PLD for the
Poisson-subsampled Gaussian with the run's σ, q and steps). That curve is tighter than the
single (ε, δ) pair; the (ε, δ)-only bound ``e^ε·FPR + δ`` is given beside it.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from fusiondp.privacy.randomness import NO_GUARANTEE
from fusiondp.record import PrivacyLedger
from fusiondp.spec import TableSpec
from fusiondp.train.modes import ADJACENCY_EXPLAINED, get_mode

FALSE_POSITIVE_RATES = (0.01, 0.05)
EPSILON_GRID = np.linspace(0.0, 20.0, 401)


@lru_cache(maxsize=256)
def _pld_deltas(sigma: float, q: float, steps: int, replace: bool) -> np.ndarray:
    import dp_accounting
    from dp_accounting.pld import privacy_loss_distribution

    relation = dp_accounting.NeighboringRelation
    pld = privacy_loss_distribution.from_gaussian_mechanism(
        sigma, sampling_prob=q, value_discretization_interval=1e-3,
        neighboring_relation=relation.REPLACE_ONE if replace else relation.ADD_OR_REMOVE_ONE,
    ).self_compose(steps)
    return np.asarray(pld.get_delta_for_epsilon(EPSILON_GRID), dtype=float)


def attacker_tpr_bound(ledger: PrivacyLedger, fpr: float, *, replace: bool = False) -> float:
    """Upper bound on any attacker's true-positive rate at false-positive rate ``fpr`` (PLD curve)."""
    deltas = _pld_deltas(ledger.sigma, ledger.sampling_rate, ledger.steps, replace)
    return float(min(1.0, np.min(np.exp(EPSILON_GRID) * fpr + deltas)))


def epsilon_delta_tpr_bound(epsilon: float, delta: float, fpr: float) -> float:
    """The same bound from the single (ε, δ) pair: TPR ≤ e^ε·FPR + δ."""
    return min(1.0, math.exp(min(epsilon, 700)) * fpr + delta)


def privacy_statement(ledger: PrivacyLedger, spec: TableSpec, mode_name: str, *, public_part: str | None = None,
                      proxies: tuple[str, ...] = ()) -> str:
    """What the model protects, what it spent, what that means, and what it does not protect.

    ``public_part`` names what is public besides the label when it is not a set of columns (a note's words
    outside its sensitive spans). ``proxies``: the preflight's high-severity proxies (``PreparedData.proxies``);
    a public column that nearly determines a sensitive one releases it without noise, so the statement opens
    with that condition (row-level ``dpsgd`` protects the public columns too, and ``sgd_ori`` claims nothing)."""
    statement = _statement(ledger, spec, mode_name, public_part)
    if proxies and mode_name != "sgd_ori" and (mode_name != "dpsgd" or ledger.epsilon_syn is not None):
        statement = (f"Unless a public column is a proxy — the preflight found {len(proxies)} ({'; '.join(proxies)}): "
                     "what follows does not hold for the sensitive values such a column determines, which it "
                     f"releases without noise. {statement}")
    if ledger.reproducible_noise and (get_mode(mode_name).is_private or ledger.epsilon_syn is not None):
        return f"NO DP GUARANTEE: {NO_GUARANTEE}. What follows holds only for secret noise. {statement}"
    return statement


def _statement(ledger: PrivacyLedger, spec: TableSpec, mode_name: str, public_part: str | None) -> str:
    mode = get_mode(mode_name)
    sensitive = ", ".join(spec.sensitive)
    group_level = ("group-level inference — the model may still learn how the sensitive columns relate to the "
                   "others across the population, and predict them for anyone")
    public = f"the {len(spec.public)} public columns" if spec.public else "the columns not tagged sensitive"
    if public_part is not None:
        public = public_part
    not_protected = f"Not protected: {public} and the label, which are treated as public; and {group_level}."
    if mode_name == "dpsgd":
        not_protected = f"Not protected: {group_level}."
        if ledger.epsilon_syn is not None:
            not_protected = (f"Not protected: {public}, the label and membership of each training row — the "
                             "DP-synthetic support set copies the training rows' public columns and label without "
                             f"noise, and the imputer and encoders are fitted on it; and {group_level}.")
    if not mode.is_private:
        if mode.name == "sgd_ori":
            return (f"No privacy protection: this model ({mode.name}) was trained on the real values of {sensitive} "
                    "without noise. It is a reference for comparison and must not be released.")
        return " ".join(filter(None, [f"This model ({mode.name}) never saw the real values of {sensitive}: "
                                      f"{ADJACENCY_EXPLAINED[mode.adjacency]}.", synthetic_support_statement(ledger),
                                      not_protected]))
    relation = "replace" if ledger.adjacency == "feature replace-one" else "remove"
    if mode.name == "dpsgd" and ledger.epsilon_syn is not None:
        protected = (f"Protected: the values of {sensitive} of every training row — not whole rows. The noised "
                     "training steps bound what the gradients reveal about any one whole row (ε below), but the "
                     "imputer and encoders were fitted on a support set synthesised from the training rows, which "
                     "copies their public columns and label; so the model protects the sensitive values only, with "
                     "the total below (synthesis and training, replace-one of one row's sensitive values).")
    elif mode.name == "dpsgd":
        protected = ("Protected: every training row as a whole (ordinary row-level DP): whether any single row was "
                     "in the training data at all.")
    elif ledger.adjacency == "feature removal to missing" and public_part is not None:
        protected = (f"Protected: the values of {sensitive} in every training note. Neighbouring datasets differ in "
                     "one note's sensitive spans, replaced by their type placeholders ([AGE], [SEX], …) (the "
                     "'removal to placeholders' relation: the feature-DP baseline's reference, not a surrogate).")
    elif ledger.adjacency == "feature removal to missing":
        protected = (f"Protected: the values of {sensitive} of every training row. Neighbouring tables differ in one "
                     "row's sensitive values, replaced by 'missing' (the 'removal to missing' relation: the "
                     "feature-DP baseline's reference, not an imputation).")
    elif relation == "remove" and public_part is not None:
        protected = (f"Protected: the values of {sensitive} in every training note. Neighbouring datasets differ in "
                     "one note's sensitive spans, replaced by their surrogates in its hybrid note — predicted from "
                     "the note's public words by a generator fitted on the public support notes, or type "
                     "placeholders where none is predicted (the 'removal' relation).")
    elif relation == "remove":
        protected = (f"Protected: the values of {sensitive} of every training row. Neighbouring tables differ in one "
                     "row's sensitive values, replaced by their reference values (the 'removal' relation).")
    else:
        protected = (f"Protected: the values of {sensitive} of every training row, against any change of one row's "
                     "sensitive values (the 'replace-one' relation).")
    spent = (f"Privacy spent: ε = {ledger.epsilon_spent:.3g}, δ = {ledger.delta:g} ({ledger.accountant.upper()} "
             f"accountant; noise σ = {ledger.sigma:.3g}, sampling rate q = {ledger.sampling_rate:.3g}, "
             f"{ledger.steps} steps, clip norm C = {ledger.max_grad_norm:.3g}).")
    bounds = []
    for fpr in FALSE_POSITIVE_RATES:
        tight = attacker_tpr_bound(ledger, fpr, replace=relation == "replace")
        loose = epsilon_delta_tpr_bound(ledger.epsilon_spent, ledger.delta, fpr)
        bounds.append(f"at most {tight:.1%} of the time when wrongly accusing {fpr:.0%} of the time "
                      f"(from (ε, δ) alone: {loose:.1%})")
    meaning = ("What it means: an attacker who sees the model and tries to tell, for one row, whether its protected "
               "values were in the training data can be right " + "; or ".join(bounds) + ". A coin flip achieves "
               "the same true- and false-positive rate, so the closer these numbers are to the false-positive "
               "rate, the stronger the protection (hypothesis-testing reading of DP: Kairouz, Oh & Viswanath 2015; "
               "bound computed from dp-accounting's privacy-loss distribution of this run). These bounds assume "
               "the attacker does not know the training's random draws: the Poisson samples and the noise were "
               "drawn from the operating system's entropy and recorded nowhere. They cover this model alone: "
               "several models released together are covered by their joint-release ε, not by this one.")
    extra = ""
    if relation == "remove" and ledger.epsilon_replace is not None:
        extra = (f" For an arbitrary change of one row's sensitive values (replace-one), the same noise gives "
                 f"ε = {ledger.epsilon_replace:.3g}.")
    return " ".join(filter(None, [protected, spent + extra, meaning, synthetic_support_statement(ledger),
                                  not_protected]))


def synthetic_support_statement(ledger: PrivacyLedger) -> str | None:
    """The DP-synthetic support set's own spend and the composed total; ``None`` without one.

    The attacker bounds above read the training's noise only; the synthesizer is a second
    release about the same sensitive values, so the total is what a reader must compare.
    """
    if ledger.epsilon_syn is None:
        return None
    made = (f"The imputer was fitted on a DP-synthetic support set generated from the private training rows under "
            f"its own budget ε_syn = {ledger.epsilon_syn:g}, δ_syn = {ledger.delta_syn:g} "
            f"({ledger.synth_mechanism}).")
    if ledger.epsilon_total is None:
        return made
    total = (f"Total privacy spent on the sensitive values, training and synthetic support together: "
             f"ε = {ledger.epsilon_total:.3g}, δ = {ledger.delta_total:g} ({ledger.composition}).")
    bound = ""
    if ledger.epsilon_spent:
        fpr = FALSE_POSITIVE_RATES[0]
        bound = (" The attacker bounds above cover the training alone; for both releases together, from (ε, δ): at "
                 f"most {epsilon_delta_tpr_bound(ledger.epsilon_total, ledger.delta_total, fpr):.1%} at a "
                 f"{fpr:.0%} false-positive rate.")
    return f"{made} {total}{bound}"
