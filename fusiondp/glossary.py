"""The words of feature-level DP in plain language, one definition for the dashboard, notebooks and docs.

``TERMS`` holds each symbol and knob (ε, δ, α, β, C, C_h, σ, q, the accountants, the relation,
the support set, the reference view, λ) with one sentence or two; ``help_text`` is what a
control's tooltip says, ``glossary_markdown`` a list for an expander, a page or a notebook.
``EPSILON_BANDS`` is the one reading of ε's size (strong, moderate, weak) that every front-end
shows, and ``TUTORIAL`` the short explanation of each dashboard step in tutorial mode.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from fusiondp.train.settings import protocol_in_words


@dataclass(frozen=True)
class Term:
    """One glossary entry: how it is written (``label``) and what it means (``meaning``)."""

    label: str
    meaning: str


OWN = protocol_in_words()
"""The fair protocol's per-mode choices in words (what ``auto`` trains at)."""

TERMS: dict[str, Term] = {
    "epsilon": Term("ε (epsilon, the privacy budget)",
                    "How much the trained model may reveal about any one person's sensitive values: an observer's "
                    "odds about a value can grow by a factor of at most e^ε. Smaller is more private."),
    "delta": Term("δ (delta)",
                  "The small probability that the ε bound fails. Keep it below 1 / (number of rows), e.g. 1e-5."),
    "alpha": Term("α (alpha)",
                  "Weight of the private correction in each step: update = public gradient + α × noisy private "
                  "correction. 1 makes the two together an unbiased estimate of the gradient on the real rows; a "
                  "larger α also multiplies the noise."),
    "beta": Term("β (beta)",
                 "Weight of the representation-consistency term: it asks the model's internal representation of a "
                 "row to change little when the row's real sensitive values are replaced by their reference."),
    "clip": Term("C (clip norm)",
                 "Each private row's gradient is scaled down to at most this length before noise is added, which caps "
                 "any one person's influence on a step. The noise is σ·C, so a larger C lets more signal and more "
                 "noise through. By default C loosens as ε grows: where a large ε makes the noise σ·C smaller than "
                 "the noise level, C rises to noise level / σ, so clipping no longer caps what the extra budget "
                 "buys; a fixed C clips as much at ε 8 as at ε 0.5."),
    "epochs": Term("epochs",
                   "How many times training passes over the private rows, on average. More epochs mean more noisy "
                   "steps, so at the same ε each step gets more noise. By default each mode trains for the count the "
                   f"fair protocol chose for it on the benchmark tables: {OWN['epochs']}."),
    "noise_level": Term("noise level (σ·C)",
                        "The noise per step below which C loosens: C = max(C, noise level / σ). A larger value "
                        "loosens clipping from a smaller ε on, at the price of more noise there; it does not "
                        "change ε. By default each mode trains at the level the fair protocol chose for it on the "
                        f"benchmark tables at the encoding it reads: {OWN['noise_level']}."),
    "numeric_encoding": Term("numeric encoding",
                             "How numeric columns are scaled before training, fitted on the public support rows: "
                             "'standard' (z-scores: distance from the mean in standard deviations) or 'quantile' "
                             "(normal scores: a value's rank among the support rows, spread like a bell curve). A DP "
                             "step is capped in size, so a column squeezed into small values by a long tail is learned "
                             "slowly; normal scores give every column the same spread, whatever its units or skew. By "
                             "default ('auto') each mode reads the encoding the fair protocol chose for it on the "
                             f"benchmark tables: {OWN['numeric_encoding']} (the table is imputed once and encoded "
                             "both ways)."),
    "lr_schedule": Term("learning-rate schedule",
                        "How the step size moves during training: 'constant', or 'cosine' (it falls from the "
                        "learning rate to 0 by the last step, so the noise of the last steps moves the model less). "
                        "'auto' gives each mode the schedule chosen for it on the benchmark suite's validation rows: "
                        f"{OWN['lr_schedule']}. It does not change ε."),
    "rep_clip": Term("C_h (representation clip)",
                     "The scale of the consistency term: the distance between a row's internal representations (real "
                     "vs reference) counts up to C_h. Set from the support rows (their 90th percentile), never from "
                     "private ones."),
    "sigma": Term("σ (noise multiplier)",
                  "The Gaussian noise added to the sum of clipped gradients has standard deviation σ·C. The library "
                  "picks the smallest σ whose ε, after every step, stays within the target."),
    "q": Term("q (sampling rate)",
              "Each step trains on a random sample of the private rows: every row is taken independently with "
              "probability q = batch size / rows. A row left out of a step reveals nothing in it, which lowers ε."),
    "accountant": Term("Accountant",
                       "The method that turns σ, q and the number of steps into ε. rdp, prv and pld all give valid "
                       "upper bounds; they differ in how tight the bound is and how fast it is computed."),
    "rdp": Term("rdp (Rényi DP accountant)",
                "The default: fast and widely used, slightly conservative (its ε is a little above the exact value)."),
    "prv": Term("prv (privacy random variable accountant)",
                "Numerically near exact, a little slower than rdp."),
    "pld": Term("pld (privacy loss distribution accountant)",
                "Near exact with pessimistic rounding (ε never understated); the ledger's ε_replace always uses it."),
    "relation": Term("Relation (adjacency)",
                     "What two neighbouring datasets differ in, i.e. what ε protects. fusiondp and feature_dp: one "
                     "row's sensitive values against the same row with them missing (feature removal); "
                     "ε_replace: any change to them "
                     "(replace-one); dpsgd: a whole row added or removed."),
    "support": Term("Support set",
                    "Rows whose sensitive values are public: a share of your table you declare public, a separate "
                    "public table, or a DP-synthetic set. The imputer, the encoders and C_h are fitted on it, so "
                    "nothing learned there spends ε."),
    "reference": Term("Reference view",
                      "Each private row with its sensitive values missing, beside their imputation from its public "
                      "columns (the imputer's expected values, shrunk toward 'missing' by λ), which FusionDP's model "
                      "reads in input channels of its own. It is public information; the private term learns only "
                      "how the real values differ from it."),
    "lambda": Term("λ (shrinkage)",
                   "Per sensitive column, how far the imputation channels trust the imputation: 1 keeps it, 0 falls "
                   "back to 'missing' (the channel then says nothing). Chosen on the support rows."),
}
"""Every glossary entry, in reading order."""

TRAIN_TERMS = ("epsilon", "delta", "accountant", "rdp", "prv", "pld", "alpha", "beta", "clip", "noise_level", "epochs",
               "numeric_encoding", "lr_schedule", "rep_clip", "sigma", "q", "relation")
"""The entries the Train page explains: its controls and what the ledger reports."""


def help_text(key: str) -> str:
    """A control's tooltip: the entry's meaning (``KeyError`` names an unknown entry)."""
    return TERMS[key].meaning


def glossary_markdown(keys: Iterable[str] | None = None) -> str:
    """A Markdown list of ``keys`` (default: every entry), each as **label**: meaning."""
    return "\n".join(f"- **{TERMS[key].label}**: {TERMS[key].meaning}" for key in (keys or TERMS))


@dataclass(frozen=True)
class EpsilonBand:
    """A range of ε (up to ``upper``, inclusive) and how strong a guarantee it reads as."""

    upper: float
    strength: str
    colour: str
    reading: str


EPSILON_BANDS = (
    EpsilonBand(1.0, "strong", "green", "the odds barely move"),
    EpsilonBand(8.0, "moderate", "orange", "common in practice; the bound is a worst case"),
    EpsilonBand(math.inf, "weak", "red", "the bound says little"),
)
"""The one reading of ε's size, for the Train page, the About page and the notebooks."""
WEAK_EXAMPLE = 10.0
"""The ε whose factor illustrates the unbounded weak band."""


def odds_factor(epsilon: float) -> str:
    """``e^ε`` in words that read at a glance: ``e^1 ≈ 2.7``, ``e^4 ≈ 55``, ``e^8 ≈ 3,000``, ``e^32 ≈ 7.9 × 10^13``.

    Every reading of ε names the factor of the ε it is about: the factor of another ε (e^8 beside an ε of 4)
    overstates or understates the bound by orders of magnitude."""
    factor = math.exp(epsilon)
    if factor < 10:
        shown = f"{factor:.1f}"
    elif factor < 1000:
        shown = f"{factor:.0f}"
    elif factor < 1e6:
        shown = f"{float(f'{factor:.2g}'):,.0f}"
    else:
        mantissa, exponent = f"{factor:.1e}".split("e")
        shown = f"{mantissa} × 10^{int(exponent)}"
    return f"e^{epsilon:g} ≈ {shown}"


def epsilon_band(epsilon: float) -> EpsilonBand:
    """The band ``epsilon`` falls in."""
    return next(band for band in EPSILON_BANDS if epsilon <= band.upper)


def epsilon_reading(largest: float) -> str:
    """One sentence on a grid whose largest ε is ``largest`` (what the Train page shows beside the ε choice), with
    the odds factor of that ε."""
    band = epsilon_band(largest)
    return (f"ε up to {largest:g}: a {band.strength} guarantee — an observer's odds about a sensitive value can grow "
            f"by a factor of at most {odds_factor(largest)}: {band.reading}.")


def epsilon_bands_markdown() -> str:
    """Every band as a Markdown list (the About page, the notebooks), each with the odds factor at its top."""
    lines, lower = [], None
    for band in EPSILON_BANDS:
        span = (f"ε ≤ {band.upper:g}" if lower is None else f"ε above {lower:g}" if math.isinf(band.upper)
                else f"{lower:g} < ε ≤ {band.upper:g}")
        example = WEAK_EXAMPLE if math.isinf(band.upper) else band.upper
        lines.append(f"- **{span}: {band.strength}** — {band.reading} (at ε = {example:g}, an observer's odds about a "
                     f"sensitive value can grow by a factor of {odds_factor(example)}).")
        lower = band.upper
    return "\n".join(lines)


TUTORIAL = {
    "data": "Tutorial, step 1 of 5 — the data. The sample table is loaded: NHANES adults, one row per person, the "
            "outcome is diabetes. Skim the columns and their missing shares, then go to Columns.",
    "columns": "Step 2 — who is protected. The target is what the model predicts. Sensitive columns (here age, "
               "gender, ethnicity, education, marital status, income) are the ones ε protects; the others are "
               "public and used as they are. The support set is a share of rows whose sensitive values you declare "
               "public: the imputer learns from it.",
    "imputation": "Step 3 — the imputation. Fitted on the support set, the imputer predicts each private row's "
                  "sensitive values from its public columns. The better it predicts, the less the noisy private "
                  "correction has to carry, and the more fusiondp gains over plain feature-level DP. These "
                  "previews read your raw table: they are for you, not private.",
    "train": "Step 4 — the budget. Choose the range of ε (smaller is more private) and the modes to compare: "
             "fusiondp is the method, sgd_ori (no privacy) and sgd_pub (no sensitive columns) are references, "
             "dpsgd protects whole rows. Hover over a control's ? for what it means. Then press Train.",
    "results": "Step 5 — reading the results. Start with the lines under 'Read this first', then the curve: "
               "utility (AUROC) against ε. A private mode earns its budget where it beats sgd_pub. The privacy "
               "statement says what ε protects; the audit plays an attacker against the trained models.",
    "about": "The background: what feature-level DP protects and what it does not, how to read ε, and the "
             "glossary of every symbol the app uses.",
}
"""Tutorial mode's explanation at the top of each dashboard page, by page."""
