"""Model selection over a sweep's results, and what it costs in privacy.

``select_best`` keeps, per (mode, ε, seed), the knob setting with the best validation score; ``tuning_cost``
is the guarantee of that whole procedure: picking the best of K DP runs is post-processing of all K, so the
chosen model's (ε, δ) is the K runs composed (with a shared DP-synthetic support set counted once).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import pandas as pd

from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError, PrivacyError
from fusiondp.metrics import kind_of_metrics, validation_metric
from fusiondp.privacy.accounting import (
    GaussianSteps,
    Relation,
    compose_with_synthesizer,
    composed_epsilon,
    epsilon_spent,
)
from fusiondp.privacy.randomness import NO_GUARANTEE
from fusiondp.spec import TargetKind
from fusiondp.sweep_grid import NOT_KNOBS, PREPARE_FIELDS
from fusiondp.train.modes import get_mode

Selection = Literal["val_hybrid", "val_real"]
SELECTION_NONE = "none: every grid point reported"
SELECTION_LABELS = {
    "val_hybrid": "selected on imputed validation rows (public information); tuning composed in epsilon_tuning",
    "val_real": "not accounted: selected on real validation rows",
}


def selection_column(kind: TargetKind, by: Selection) -> str:
    """The column ``select_best(by=by)`` ranks a kind's runs by: ``fusiondp.metrics.validation_metric``
    (``val_auroc``; ``val_r2`` for regression) on the imputed validation rows, with ``_real`` on the real ones."""
    return validation_metric(kind) + ("_real" if by == "val_real" else "")



def knob_columns(results: pd.DataFrame) -> list[str]:
    """The swept RunConfig fields present in a results table (what ``select_best`` chooses among)."""
    return [c for c in results.columns if c in RunConfig.model_fields and c not in NOT_KNOBS]


@dataclasses.dataclass(frozen=True)
class TuningCost:
    """(ε, δ) of releasing the best of K candidate runs, and how it was composed."""

    epsilon: float | None
    delta: float | None
    method: str


def _ledger_relation(run: pd.Series) -> Relation:
    """The relation a run's ε was accounted under, read off its numbers.

    The ledger names its neighbouring relation in words; the accountant's relation is the one
    that reproduces the ε it spent: ``remove`` if it does, else ``replace`` (the larger ε).
    """
    remove = epsilon_spent(float(run["sigma"]), float(run["sampling_rate"]), int(run["steps"]), float(run["delta"]),
                           run["accountant"], "remove")
    return "remove" if remove >= float(run["epsilon_spent"]) * (1 - 1e-6) else "replace"


def _synthetic_support(candidates: pd.DataFrame) -> tuple[float, float, float | None, int] | None:
    """(ε_syn, δ_syn, ρ_syn, releases) of the DP-synthetic support sets behind the candidates.

    Candidates that share a preparation (no swept ``PREPARE_FIELDS``) share one synthetic set,
    synthesised once: it is one release, counted once however many runs used it. Candidates
    prepared differently used different releases of the same private rows, which add up.
    """
    if "epsilon_syn" not in candidates.columns or candidates["epsilon_syn"].isna().all():
        return None
    swept = [column for column in PREPARE_FIELDS if column in candidates.columns]
    releases = candidates.loc[candidates[swept].astype(str).drop_duplicates().index] if swept else candidates[:1]
    rho = releases["rho_syn"] if "rho_syn" in releases.columns else pd.Series([None] * len(releases))
    return (float(releases["epsilon_syn"].sum()), float(releases["delta_syn"].sum()),
            float(rho.sum()) if rho.notna().all() else None, len(releases))


def tuning_cost(candidates: pd.DataFrame, mode: str) -> TuningCost:
    """(ε, δ) of releasing the best of the candidate runs: their composition on the same training rows.

    Picking the best of K DP runs is post-processing of all K of them, so the chosen model's
    guarantee is the K runs composed, however public the selection rows are. The K runs'
    mechanisms (Poisson-subsampled Gaussians) are composed by the accountant and converted once
    at the runs' δ — not their (ε, δ) pairs added, which would cost K·δ. A DP-synthetic support
    set is added once per distinct release (``_synthetic_support``), as in each run's ledger.
    """
    spent = pd.to_numeric(candidates["epsilon_spent"], errors="coerce")
    if spent.isna().any():
        return TuningCost(None, None, "none: a candidate has no privacy guarantee")
    if "reproducible_noise" in candidates and candidates["reproducible_noise"].fillna(False).astype(bool).any():
        return TuningCost(None, None, f"none: {NO_GUARANTEE}")
    synthetic = _synthetic_support(candidates)
    if not get_mode(mode).is_private:
        if synthetic is None:
            return TuningCost(float(spent.max()), None, "no training budget: the candidates do not use the "
                                                         "sensitive values")
        return TuningCost(synthetic[0], synthetic[1], f"the DP-synthetic support set(s) only ({synthetic[3]})")
    deltas = pd.to_numeric(candidates["delta"], errors="coerce")
    relation: Relation = "remove"
    accountant: str | None = None
    events: tuple[GaussianSteps, ...] = ()
    if candidates[["sigma", "sampling_rate", "steps", "delta"]].isna().any().any():
        epsilon, delta = float(spent.sum()), float(deltas.sum())
        method = f"basic: the {len(candidates)} runs' ε and δ added (a candidate lacks σ, q or T)"
    else:
        delta = float(deltas.max())
        if "replace" in {_ledger_relation(run) for _, run in candidates.iterrows()} or (
                synthetic is not None and mode == "dpsgd"):  # dpsgd with a synthesizer: as in its ledger
            relation = "replace"
        accountants = set(candidates["accountant"])
        accountant = accountants.pop() if len(accountants) == 1 else "pld"
        steps: dict[tuple[float, float], int] = {}
        for _, run in candidates.iterrows():
            key = (float(run["sigma"]), float(run["sampling_rate"]))
            steps[key] = steps.get(key, 0) + int(run["steps"])
        events = tuple(GaussianSteps(sigma, q, t) for (sigma, q), t in steps.items())
        try:
            epsilon = composed_epsilon(events, delta, accountant, relation)
        except PrivacyError:  # PRV gives up above its range: PLD accounts the same mechanisms
            accountant = "pld"
            epsilon = composed_epsilon(events, delta, accountant, relation)
        method = (f"{len(candidates)} runs' Gaussian mechanisms composed ({accountant}, {relation} relation) "
                  f"at δ = {delta:g}")
    if synthetic is None:
        return TuningCost(epsilon, delta, method)
    one = events[0] if len(events) == 1 else None
    total = compose_with_synthesizer(
        epsilon, delta, synthetic[0], synthetic[1], synthetic[2], sigma=one.sigma if one else None,
        q=one.q if one else None, steps=one.steps if one else 0, accountant=accountant, relation=relation)
    return TuningCost(total.epsilon, total.delta,
                      f"{method}; with {synthetic[3]} DP-synthetic support release(s): {total.method}")


def select_best(results: pd.DataFrame, by: Selection = "val_hybrid") -> pd.DataFrame:
    """Per (mode, ε, seed), keep the knob setting (α, β, C, …) with the best validation score.

    The score is the target kind's ``fusiondp.metrics.selection_metric`` (AUROC; macro one-vs-rest
    AUROC for a multi-class target; R² for regression), read from ``selection_column``.
    ``val_hybrid`` (default) scores on validation rows whose sensitive columns are imputed:
    only public information. ``val_real`` uses the real validation rows, which no ledger
    covers, so every row it returns says "not accounted". Selecting per seed makes the sd
    over seeds include the variability of the tuning itself. ``epsilon_tuning`` at
    ``delta_tuning`` is the guarantee of the whole procedure (``tuning_cost``: all candidates
    composed, a shared DP-synthetic support once; how, in ``tuning_composition``); ``candidates`` is K.
    """
    if by not in SELECTION_LABELS:
        raise ConfigError(f"select_best: by must be 'val_hybrid' or 'val_real' (got {by!r}).")
    metric = selection_column(kind_of_metrics(results.columns), by)
    if metric not in results.columns or results[metric].isna().all():
        raise ConfigError(f"select_best(by={by!r}) needs the column {metric!r}, which these results lack; "
                          "rerun them with fusiondp sweep.")
    chosen = []
    for (mode, _, _), group in results.groupby(["mode", "epsilon", "seed"], dropna=False, sort=False):
        best = group.loc[group[metric].fillna(-math.inf).idxmax()].copy()
        cost = tuning_cost(group, mode)
        best["candidates"] = len(group)
        best["epsilon_tuning"], best["delta_tuning"], best["tuning_composition"] = cost.epsilon, cost.delta, cost.method
        best["selection"] = SELECTION_LABELS[by]
        chosen.append(best)
    return pd.DataFrame(chosen).reset_index(drop=True)


def needs_selection(results: pd.DataFrame) -> bool:
    """Whether some (mode, ε, seed) holds several knob settings, so curves need ``select_best`` first."""
    return bool(results.groupby(["mode", "epsilon", "seed"], dropna=False).size().max() > 1)
