"""The training modes: FusionDP, its baselines and ablations, all run by one loop.

Each mode is a row of METHOD.md §3's table: which view of the rows the (unnoised) public
term uses, which per-sample private loss gets clipped and noised, and which neighbouring
relation its ε refers to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fusiondp.errors import ConfigError

View = Literal["real", "public_only", "hybrid", "uninformative"]
PrivateLoss = Literal["none", "real", "calibrated"]


@dataclass(frozen=True)
class Mode:
    name: str
    public_view: View | None
    """Rows the unclipped, unnoised term trains on (``None``: no such term)."""
    private_loss: PrivateLoss
    """``real``: L(f(x)); ``calibrated``: L(f(x)) − L(f(x̃)) + β·R (FusionDP's correction)."""
    adjacency: str
    description: str
    private_view: View = "hybrid"
    """The reference view x̃ of the calibrated private loss."""

    @property
    def is_private(self) -> bool:
        return self.private_loss != "none"

    @property
    def relation(self) -> str:
        """The accounting relation of the noised term: ``remove`` (sensitivity C) or ``replace`` (2C)."""
        return "replace" if self.name == "naive_fusion" else "remove"


MODES: dict[str, Mode] = {
    mode.name: mode
    for mode in (
        Mode("sgd_ori", "real", "none", "none",
             "plain SGD on the real rows: no privacy for the sensitive columns (upper reference)"),
        Mode("sgd_pub", "public_only", "none", "not applicable (sensitive columns unused)",
             "SGD on the public columns only: the sensitive columns never reach the model"),
        Mode("sgd_hybrid", "hybrid", "none", "not applicable (only imputed sensitive values used)",
             "SGD on hybrid rows (sensitive columns imputed from a public support set)"),
        Mode("dpsgd", None, "real", "add/remove one row (row-level DP)",
             "standard DP-SGD on the real rows: protects whole rows, stronger than needed"),
        Mode("feature_dp", "uninformative", "calibrated", "feature-level, removal (sensitive values → default)",
             "FusionDP's step with an uninformative view instead of imputation (feature-DP baseline)",
             private_view="uninformative"),
        Mode("fusiondp", "hybrid", "calibrated", "feature-level, removal (sensitive values → imputation)",
             "FusionDP: public loss on hybrid rows + clipped, noised calibration on real − hybrid"),
        Mode("naive_fusion", "hybrid", "real", "feature-level, replace-one (the noised term does not vanish "
             "for a removed row, so two clipped gradients can differ by 2C)",
             "ablation: public loss on hybrid rows + DP-SGD on real rows, without the calibration term"),
    )
}
ALL_MODES = tuple(MODES)


def get_mode(name: str) -> Mode:
    if name not in MODES:
        raise ConfigError(f"Unknown mode {name!r}. Choose from: {', '.join(ALL_MODES)} (or 'all').")
    return MODES[name]
