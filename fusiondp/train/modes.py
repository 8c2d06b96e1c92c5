"""The training modes: FusionDP, its baselines and ablations, all run by one loop.

Each mode is a row of METHOD.md §3's table: which view of the rows the (unnoised) public
term uses, which per-sample private loss gets clipped and noised, and which neighbouring
relation its ε refers to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fusiondp.errors import ConfigError

View = Literal["real", "public_only", "hybrid", "reference", "uninformative"]
Relation = Literal["remove", "replace"]
"""The accounting relation of a noised term (``fusiondp.privacy.accounting`` names the same two)."""
PrivateLoss = Literal["none", "real", "calibrated"]


@dataclass(frozen=True)
class Mode:
    name: str
    public_view: View | None
    """Rows the unclipped, unnoised term trains on (``None``: no such term)."""
    private_loss: PrivateLoss
    """``real``: L(f(x)); ``calibrated``: L(f(x)) − L(f(x̃)) + β·R (FusionDP's correction)."""
    adjacency: str
    """Short name of the neighbouring relation its ε refers to; see ``ADJACENCY_EXPLAINED``."""
    description: str
    private_view: View = "hybrid"
    """The reference view x̃ of the calibrated private loss."""
    imputation_channels: bool = False
    """On a table, the model also reads each sensitive column's imputation from the public columns, in input
    channels of its own, and the reference view is the row with its sensitive values missing beside those
    channels (``fusiondp.reference``); notes have no channels and keep ``private_view``."""

    @property
    def is_private(self) -> bool:
        return self.private_loss != "none"

    @property
    def relation(self) -> Relation:
        """The accounting relation of the noised term with a public support set: ``remove`` (sensitivity C)
        or ``replace`` (2C). See ``relation_for`` for a DP-synthetic support set."""
        return "replace" if self.name == "naive_fusion" else "remove"

    def relation_for(self, synthetic_support: bool) -> Relation:
        """The relation training is calibrated and accounted under, given the support set's kind.

        FusionDP's removal relation replaces a row's sensitive values by their reference (the
        imputation, shrunk toward missing). With a DP-synthetic support set the imputer is fitted
        on the synthesizer's random output, so that reference moves with the synthesizer's draw: no single neighbouring
        table exists for adaptive composition, and a row still contributes a clipped gradient
        of norm up to C against any fixed neighbour — two views differ by up to 2C. Training
        is then accounted under replace-one. ``feature_dp``'s reference (missing values) and
        ``dpsgd``'s (no row) are fixed before training, so they keep ``remove``; so does ``fusiondp``
        on a table, whose reference is the values missing (its imputation channels move with the
        synthesizer's draw, but a row and its neighbour share them).
        """
        if (synthetic_support and self.private_loss == "calibrated" and self.private_view != "uninformative"
                and not self.imputation_channels):
            return "replace"
        return self.relation

    def adjacency_for(self, synthetic_support: bool, channels: bool = False) -> str:
        """``adjacency`` under the support set's kind (see ``relation_for``) and, with ``channels`` (a table's
        imputation channels), the relation of a mode that reads them: its reference is the values missing."""
        if self.relation_for(synthetic_support) == "replace":
            return "feature replace-one"
        if channels and self.imputation_channels:
            return "feature removal to missing"
        return self.adjacency


MODES: dict[str, Mode] = {
    mode.name: mode
    for mode in (
        Mode("sgd_ori", "real", "none", "none",
             "plain SGD on the real rows: no privacy for the sensitive columns (upper reference)"),
        Mode("sgd_pub", "public_only", "none", "n/a: sensitive unused",
             "SGD on the public columns only: the sensitive columns never reach the model"),
        Mode("sgd_hybrid", "hybrid", "none", "n/a: imputed only",
             "SGD on hybrid rows (sensitive columns imputed from a public support set)"),
        Mode("dpsgd", None, "real", "row add/remove",
             "standard DP-SGD on the real rows: protects whole rows, stronger than needed"),
        Mode("feature_dp", "uninformative", "calibrated", "feature removal to missing",
             "FusionDP's step with an uninformative view instead of imputation (feature-DP baseline)",
             private_view="uninformative"),
        Mode("fusiondp", "reference", "calibrated", "feature removal",
             "FusionDP: the model also reads each sensitive column's imputation from the public columns (its "
             "expected encoding, shrunk toward missing where the support set shows it is unreliable) in channels "
             "of its own; public loss on the reference view (sensitive values missing, imputation kept) + "
             "clipped, noised calibration on real − reference", private_view="reference",
             imputation_channels=True),
        Mode("naive_fusion", "hybrid", "real", "feature replace-one",
             "ablation: public loss on hybrid rows + DP-SGD on real rows, without the calibration term; "
             "the noised term does not vanish for a removed row (two clipped gradients differ by up to 2C), "
             "so it is accounted under the replace-one relation"),
    )
}
ALL_MODES = tuple(MODES)
PRIVATE_MODES = tuple(name for name, mode in MODES.items() if mode.is_private)

ADJACENCY_EXPLAINED = {
    "none": "no protection of the sensitive columns",
    "n/a: sensitive unused": "the sensitive columns never reach the model (ε = 0 for them)",
    "n/a: imputed only": "only imputed sensitive values, from a public support set, reach the model (ε = 0)",
    "row add/remove": "ordinary DP: ε bounds what the model reveals about the presence of any whole row",
    "feature removal": "feature-level DP: ε bounds what the model reveals about one row's sensitive values "
    "compared with their reference view — on a table, the values missing, while the model still reads their "
    "imputation from the row's public columns (public inputs, the same in both); in notes, the note with its "
    "sensitive spans imputed; ε_replace bounds arbitrary changes to them",
    "feature removal to missing": "feature-level DP: ε bounds what the model reveals about one row's sensitive "
    "values compared with those values being missing (the uninformative view: the feature-DP baseline's zero "
    "point, not the imputation); ε_replace bounds arbitrary changes to them",
    "feature replace-one": "feature-level DP: ε bounds what the model reveals about arbitrary changes to one "
    "row's sensitive values",
}


def get_mode(name: str) -> Mode:
    if name not in MODES:
        raise ConfigError(f"Unknown mode {name!r}. Choose from: {', '.join(ALL_MODES)} (or 'all').")
    return MODES[name]
