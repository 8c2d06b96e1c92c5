"""What the pages offer and where their fields start: the ε steps, the modes, the support sources and synthesizers, the
session's starting values (``DEFAULTS``), δ that follows the table's size, and the full comparison those defaults make
(a run that falls short of it is a quick look).

The session's defaults and the run config built from the pages both read these values, so a default changes here, once.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from fusiondp import RunConfig, RunRecord
from fusiondp.privacy.accounting import default_delta
from fusiondp.text.spec import SPAN_TYPES
from fusiondp.train.modes import ALL_MODES
from fusiondp.train.settings import ENCODING_LABELS, EPOCHS, NOISE_LEVEL, TrainSettings, protocol_in_words

EPSILON_STEPS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
"""Log-spaced ε values offered by the range slider."""
DEFAULT_EPSILON_RANGE = (1.0, 4.0)
"""Set as the slider's value, not in ``DEFAULTS``: a tuple value is what makes it a range slider."""
DEFAULT_MODES = ["sgd_ori", "sgd_pub", "sgd_hybrid", "fusiondp", "dpsgd", "feature_dp"]
"""Every mode but naive_fusion (an ablation): fusiondp beside both private baselines and both zero-ε references."""
FULL_COMPARISON = {"epochs": RunConfig.model_fields["epochs"].default, "n_seeds": 3}
"""The defaults of a comparison whose ranking can be read: the CLI's epochs (``auto``: each mode's own), and three
seeds for an interval."""
AUTO_EPOCHS = TrainSettings(epochs="auto")
"""Each mode's own epochs (``TrainSettings.epochs_for``), what the full comparison trains."""
COMPARED_MODES = ("dpsgd", "feature_dp", "sgd_hybrid")
"""What fusiondp is measured against: both private baselines, and the reference that uses the imputation alone."""

SUPPORT_FRACTION = "A public fraction of this table"
SUPPORT_TABLE = "A separate public table"
SUPPORT_SYNTHETIC = "DP-synthetic: made from the private rows under its own ε (no public rows needed)"
SUPPORT_SOURCES = (SUPPORT_FRACTION, SUPPORT_TABLE, SUPPORT_SYNTHETIC)
SUPPORT_SOURCE_LABELS = {"fraction": SUPPORT_FRACTION, "table": SUPPORT_TABLE, "dp_synthetic": SUPPORT_SYNTHETIC}
SYNTHESIZERS = {
    "marginal": "marginal — noisy tables of each sensitive column given 2 public columns (fast)",
    "two_stage": "two-stage — DP autoencoder + noisy latent mixture, then a latent diffusion model (~10 s)",
}
CLIP_RULES = {"auto": "loosens, each mode's own level", "noise_level": "loosens (one noise level)",
              "fixed": "stays fixed"}
"""How the Train page sets C: at least C, more where σ·C would fall below a noise level (each mode's own, or one set on
the page), or C at every ε."""

OWN = protocol_in_words()
"""The fair protocol's per-mode choices in words (what the ``auto`` settings train at)."""

LR_SCHEDULES = {"auto": f"each mode's own ({OWN['lr_schedule']})", "constant": "constant", "cosine": "cosine"}
"""The Train page's learning-rate schedules (``RunConfig.lr_schedule``), as its radio labels them."""

NUMERIC_ENCODINGS = {"auto": f"each mode's own ({OWN['numeric_encoding']})", **ENCODING_LABELS}
"""The Train page's numeric encodings (``RunConfig.numeric_encoding``), as its radio labels them."""

def epochs_state(epochs: int | str) -> dict[str, Any]:
    """The Train page's "each mode's own epochs" box and epochs slider for a config's ``epochs``; the slider shows
    ``EPOCHS`` under ``auto``."""
    return {"epochs_auto": epochs == "auto", "epochs": EPOCHS if epochs == "auto" else epochs}


def epochs_setting() -> int | str:
    """The ``epochs`` the Train page sets (``epochs_state`` read back)."""
    return "auto" if st.session_state.epochs_auto else st.session_state.epochs


def mode_epochs_text() -> str:
    """Each mode's own epochs, in words: "26 for dpsgd, 13 for the others"."""
    return OWN["epochs"]


def short_epochs(trained: dict[str, int]) -> dict[str, int]:
    """The modes (of ``trained``: mode → epochs) that trained fewer epochs than their own count in the full run."""
    return {mode: epochs for mode, epochs in trained.items() if epochs < AUTO_EPOCHS.epochs_for(mode)}


def clip_rule_state(noise_level: float | str | None) -> dict[str, Any]:
    """The Train page's clip-rule radio and noise-level slider for a config's ``noise_level``; the slider keeps
    ``NOISE_LEVEL`` where the rule sets no level of its own."""
    if noise_level is None or noise_level == "auto":
        return {"clip_rule": "fixed" if noise_level is None else "auto", "noise_level": NOISE_LEVEL}
    return {"clip_rule": "noise_level", "noise_level": noise_level}


def clip_rule_setting() -> float | str | None:
    """The ``noise_level`` the Train page's clip rule sets (``clip_rule_state`` read back)."""
    rule = st.session_state.clip_rule
    return {"auto": "auto", "fixed": None}.get(rule, st.session_state.noise_level)


DEFAULTS: dict[str, Any] = {
    "support_source": SUPPORT_FRACTION,
    "support_fraction": 0.1,
    "synthesizer": "marginal",
    "epsilon_syn": 1.0,
    "declared_values": "",
    "imputer": "auto",
    "extra_epsilon": None,
    "delta": 1e-5,
    "accountant": "rdp",
    "modes": DEFAULT_MODES,
    **epochs_state(FULL_COMPARISON["epochs"]),
    # the training knobs start at the library's defaults (RunConfig), which the fair protocol chose
    **{knob: RunConfig.model_fields[knob].default for knob in ("batch_size", "lr", "alpha", "beta", "max_grad_norm",
                                                                 "numeric_encoding", "lr_schedule")},
    **clip_rule_state(RunConfig.model_fields["noise_level"].default),
    "seed": 0,
    "n_seeds": FULL_COMPARISON["n_seeds"],
    "reproducible_noise": False,
    "audit_rows": 500,
    "audit_shadow": False,
    "tutorial": False,
    "text_column": None,
    "sensitive_spans": list(SPAN_TYPES),
    "span_detector": "rules",
}


def quick_look(records: list[RunRecord]) -> list[str]:
    """How these records fall short of the full comparison (``FULL_COMPARISON``, ``COMPARED_MODES``), in phrases;
    empty when they do not. A quick look may rank the modes differently from the full run."""
    short = []
    trained: dict[str, int] = {}
    for record in records:
        trained[record.mode] = min(trained.get(record.mode, record.trained_epochs), record.trained_epochs)
    if few := short_epochs(trained):
        counts = ", ".join(f"{mode} {epochs} epochs" for mode, epochs in few.items())
        short.append(f"{counts} (the full run: each mode's own, {mode_epochs_text()}, as the command line)")
    seeds = len({record.seed for record in records})
    if seeds < FULL_COMPARISON["n_seeds"]:
        short.append(f"{seeds} seed{'s' if seeds > 1 else ''} (the full run: {FULL_COMPARISON['n_seeds']}, for an "
                     "interval)")
    missing = [mode for mode in COMPARED_MODES if mode not in {record.mode for record in records}]
    if missing:
        short.append(f"without {', '.join(missing)}")
    return short


def set_up_full_comparison() -> None:
    """The Train page's fields for the full comparison: the default epochs and seeds, and ``COMPARED_MODES`` added to
    the chosen modes."""
    st.session_state.update(epochs_state(FULL_COMPARISON["epochs"]))
    st.session_state.n_seeds = max(st.session_state.n_seeds, FULL_COMPARISON["n_seeds"])
    chosen = {*st.session_state.modes, *COMPARED_MODES}
    st.session_state.modes = [mode for mode in ALL_MODES if mode in chosen]


def follow_table_delta(rows: int) -> None:
    """δ follows the table's size as the command line's does (``default_delta``: 1e-5, or 1/(10·N) where 1e-5 is
    not below 1/N), unless the user set δ by hand: a hand-set value is kept across tables."""
    auto = default_delta(rows)
    if st.session_state.get("delta") == st.session_state.get("delta_auto", DEFAULTS["delta"]):
        st.session_state.delta = auto
    st.session_state.delta_auto = auto


def delta_note(rows: int) -> str | None:
    """Why δ is what it is, where it is not the usual 1e-5: the table's size set it, or a hand-set δ is not below
    1/N."""
    delta = st.session_state.delta
    if delta == st.session_state.get("delta_auto") and delta != DEFAULTS["delta"]:
        return (f"δ = {delta:.0e}, set from the table's size: 1e-5 is not below 1/N for N = {rows:,} rows, so the "
                "default is 1/(10·N), rounded down (the command line does the same).")
    if delta >= 1 / max(rows, 1):
        return (f"δ = {delta:.0e} is not below 1/N for N = {rows:,} rows: a mechanism that publishes one row at "
                f"random would meet it. Use {default_delta(rows):.0e} or less.")
    return None
