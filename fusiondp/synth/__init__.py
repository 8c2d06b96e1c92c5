"""DP-synthetic support sets: sensitive values released under ε_syn for the imputer to learn from.

Two synthesizers share one interface — ``Synthesizer(spec, settings).fit(train)``, then
``sample(rows)`` (the rows' public columns and target with synthetic sensitive values) and
``summary(rows)`` (the public facts for the ledger):

- ``MarginalSynthesizer`` (``marginal``): noisy conditional tables, ρ-zCDP;
- ``TwoStageSynthesizer`` (``two_stage``): a DP-SGD autoencoder and a noisy latent mixture
  (stage 1, the only stage that reads private rows), then a latent diffusion model trained
  on stage-1 outputs only (stage 2, post-processing).
"""

from __future__ import annotations

from fusiondp.spec import TableSpec
from fusiondp.synth.marginal import (
    MarginalSynthesizer,
    SynthesisSummary,
    rho_for_epsilon,
    zcdp_epsilon,
)
from fusiondp.synth.settings import SYNTH_METHODS, SynthSettings, check_domains, split_declarations
from fusiondp.synth.two_stage import TwoStageSummary, TwoStageSynthesizer

__all__ = [
    "SYNTH_METHODS",
    "MarginalSynthesizer",
    "SynthSettings",
    "SynthesisSummary",
    "TwoStageSummary",
    "TwoStageSynthesizer",
    "check_domains",
    "make_synthesizer",
    "rho_for_epsilon",
    "split_declarations",
    "zcdp_epsilon",
]


def make_synthesizer(spec: TableSpec, settings: SynthSettings) -> MarginalSynthesizer | TwoStageSynthesizer:
    """The synthesizer ``settings.method`` names, checked and ready to ``fit``."""
    if settings.method == "two_stage":
        return TwoStageSynthesizer(spec, settings)
    return MarginalSynthesizer(spec, settings)
