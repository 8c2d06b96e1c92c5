"""The one answer a run owes its reader: does fusiondp beat the best private baseline here, at each ε?

A table of means invites the wrong reading in both directions: one seed shows a gap of .11 that the
full comparison shrinks to .01, and a mean above a baseline hides seeds on which it is below. So the
answer is computed here, once, for the dashboard's Results page, the CLI's summary and any notebook:

* the same seed of fusiondp and of a baseline share their split, imputation and initialisation, so
  their difference *paired by seed* cancels what the seeds share, and its spread is the seeds' own;
* the baseline is the stronger of ``dpsgd`` and ``feature_dp`` at that ε (by mean over the paired seeds),
  so "helps" is claimed against the better of the two, never the weaker;
* the interval is Student's t on the paired differences (n − 1 degrees of freedom), so 3 seeds give a
  wide interval, as they should;
* one seed has no spread, hence no interval and no verdict: its line says so rather than calling a
  difference "beyond the seeds' spread".

A win is stated as plainly as a loss: "helps here" when the whole interval lies above 0, "does not help
here" when it lies below, "no clear difference" when it holds 0. The selection metric of the target kind
(AUROC; R² for regression; …) is compared, which is higher-is-better for every kind. Models whose training
was cancelled are left out: a model cut off mid-training says nothing about its mode.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from scipy import stats

from fusiondp.metrics import METRIC_LABELS, summary_metrics
from fusiondp.modality import modality_names
from fusiondp.record import RunRecord
from fusiondp.train.settings import ENCODING_LABELS, ENCODING_WORDS, PROTOCOL_ENCODINGS, TrainSettings

OURS = "fusiondp"
BASELINES = ("dpsgd", "feature_dp")
"""The private baselines fusiondp is compared with: row-level DP-SGD and feature-level DP with no imputation."""
LEVEL = 0.95

Verdict = Literal["helps", "does not help", "no clear difference", "one seed", "no fusiondp"]


def _signed(value: float) -> str:
    """``+0.012``; a difference that rounds to zero reads ``+0.000``, never ``-0.000``."""
    return f"{round(value, 3) + 0.0:+.3f}"


def t_interval(differences: Iterable[float], level: float = LEVEL) -> tuple[float, float] | None:
    """Student's t interval for the mean of ``differences``; ``None`` below two values (no spread to scale by)."""
    values = list(differences)
    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


@dataclass(frozen=True)
class Comparison:
    """fusiondp against the best private baseline at one ε, paired by seed."""

    epsilon: float
    metric: str
    baseline: str
    """The stronger of ``BASELINES`` at this ε."""
    seeds: tuple[int, ...]
    """The seeds both fusiondp and the baseline finished, in order."""
    differences: tuple[float, ...]
    """fusiondp − baseline, one per seed of ``seeds``."""
    level: float = LEVEL

    @property
    def mean(self) -> float:
        return math.fsum(self.differences) / len(self.differences) if self.differences else math.nan

    @property
    def interval(self) -> tuple[float, float] | None:
        return t_interval(self.differences, self.level)

    @property
    def verdict(self) -> Verdict:
        if not self.differences:
            return "no fusiondp"
        interval = self.interval
        if interval is None:
            return "one seed"
        low, high = interval
        return "helps" if low > 0 else "does not help" if high < 0 else "no clear difference"

    def sentence(self) -> str:
        """One line: the paired difference, its interval and what it means at this ε."""
        head = f"ε = {self.epsilon:g}: fusiondp vs the best private baseline"
        label = METRIC_LABELS.get(self.metric, self.metric)
        verdict = self.verdict
        if verdict == "no fusiondp":
            return f"{head} ({self.baseline}): no fusiondp model finished at this ε, so there is nothing to compare."
        head = f"{head} ({self.baseline}): {_signed(self.mean)} {label}"
        if verdict == "one seed":
            return (f"{head} on one seed — no interval, so no verdict: one seed cannot tell a difference from noise. "
                    "Train 3 or more seeds.")
        low, high = self.interval or (math.nan, math.nan)
        head += f" ({self.level:.0%} interval {_signed(low)} to {_signed(high)}, {len(self.seeds)} seeds paired)"
        if verdict == "helps":
            return f"{head} — helps here, because the whole interval lies above 0."
        if verdict == "does not help":
            return (f"{head} — does not help here, because the whole interval lies below 0: {self.baseline} is the "
                    "better private model at this ε.")
        return (f"{head} — no clear difference here, because the interval includes 0: with {len(self.seeds)} seeds "
                "neither is shown to be better (more seeds narrow the interval).")


def _scores(records: list[RunRecord], metric: str) -> dict[tuple[str, float], dict[int, float]]:
    """Finished private models' ``metric`` by (mode, target ε) and seed."""
    scores: dict[tuple[str, float], dict[int, float]] = {}
    for record in records:
        epsilon, value = record.privacy.epsilon_target, record.metrics.get(metric)
        if record.cancelled or epsilon is None or value is None or not math.isfinite(value):
            continue
        scores.setdefault((record.mode, float(epsilon)), {})[record.seed] = float(value)
    return scores


def compare(records: list[RunRecord], level: float = LEVEL) -> list[Comparison]:
    """One ``Comparison`` per target ε at which a private baseline finished, in ε order; none without a baseline,
    or when the run did not train fusiondp (a fusiondp model that was cancelled still asks for its line)."""
    names = {name for record in records for name in record.metrics}
    if not names or not any(record.mode == OURS for record in records):
        return []
    metric = summary_metrics(names)[0]
    scores = _scores(records, metric)
    comparisons = []
    for epsilon in sorted({eps for mode, eps in scores if mode in BASELINES}):
        ours = scores.get((OURS, epsilon), {})
        candidates = []
        for baseline in BASELINES:
            theirs = scores.get((baseline, epsilon))
            if theirs is None:
                continue
            seeds = tuple(sorted(set(ours) & set(theirs)))
            paired = [theirs[seed] for seed in seeds] or list(theirs.values())
            candidates.append((math.fsum(paired) / len(paired), baseline, seeds, theirs))
        _, baseline, seeds, theirs = max(candidates, key=lambda candidate: candidate[0])
        comparisons.append(Comparison(epsilon, metric, baseline, seeds,
                                      tuple(ours[seed] - theirs[seed] for seed in seeds), level))
    return comparisons


def _compared(records: list[RunRecord]) -> dict[str, RunRecord]:
    """The first finished record of each compared mode (fusiondp and the private baselines; a mode's records share
    its settings), or nothing when fusiondp or every baseline is missing: then there is no comparison to qualify."""
    first: dict[str, RunRecord] = {}
    for record in records:
        if not record.cancelled and record.mode in {OURS, *BASELINES}:
            first.setdefault(record.mode, record)
    return first if OURS in first and first.keys() & set(BASELINES) else {}


def _reads_numbers(record: RunRecord) -> bool:
    """Whether the record's model read numeric columns through the numeric encoding: not another modality (notes),
    and not a table without numeric columns."""
    return bool(record.data.get("numeric_columns")) and not any(record.config.get(name) for name in modality_names())


def encoding_caveat(records: list[RunRecord]) -> str | None:
    """Which compared modes ran at an encoding the fair protocol did not choose for them, and what to do; ``None``
    when none did (``numeric_encoding: auto``, the default, gives each its own), when the run has no numeric columns
    to encode, or when the records do not say. A run with one encoding named for every mode tilts the comparison
    against the modes that chose the other (``PROTOCOL_ENCODINGS``); saying so keeps the answer honest about which
    way."""
    compared = _compared(records)
    if not compared or not all(_reads_numbers(record) for record in records):
        return None  # another modality (notes), or a table without numeric columns: the encoding changed nothing
    read = {mode: record.config.get("numeric_encoding") for mode, record in compared.items()}
    second = sorted(mode for mode, encoding in read.items() if encoding in ENCODING_LABELS
                    and encoding != PROTOCOL_ENCODINGS[mode])
    if not second:
        return None
    who, their = " and ".join(second), "their" if len(second) > 1 else "its"
    ran = "; ".join(f"{mode} read {ENCODING_LABELS[read[mode]]}, its own is {ENCODING_LABELS[PROTOCOL_ENCODINGS[mode]]}"
                    for mode in second)
    return (f"{who} ran at {their} second-choice encoding of the numeric columns here ({ran}: what did best on the "
            f"benchmark tables, docs/method.md §7), so the answer above is tilted against {who}. Rerun with "
            "numeric_encoding: auto to give every mode its own.")


def settings_line(records: list[RunRecord]) -> str | None:
    """What each compared mode trained at, from its records: epochs, learning-rate schedule, numeric encoding (on a
    table with numeric columns) and clip rule, each with ``auto`` resolved. The defaults give each mode its own, so
    the settings differ by mode; the answer names them, as it names the imputer. ``None`` without a comparison."""
    parts = []
    for mode, record in sorted(_compared(records).items(), key=lambda item: (item[0] == OURS, item[0])):
        config, encoding = record.config, record.config.get("numeric_encoding")
        epochs = record.epochs if record.epochs is not None else config.get("epochs")
        said = [f"{epochs:g} epoch{'' if epochs == 1 else 's'}"] if isinstance(epochs, int | float) else []
        if record.lr_schedule:
            said.append(f"{record.lr_schedule} rate")
        if encoding in ENCODING_WORDS and _reads_numbers(record):
            said.append(ENCODING_WORDS[encoding])
        floor = config.get("max_grad_norm")
        if floor is not None and "noise_level" in config:
            level = TrainSettings(noise_level=config["noise_level"],
                                  numeric_encoding=encoding or "standard").noise_level_for(mode)
            said.append(f"C = {floor:g}" if level is None else f"C = max({floor:g}, {level:g}/σ)")
        if said:
            parts.append(f"{mode} {', '.join(said)}")
    return f"Each mode trained at: {'; '.join(parts)}." if parts else None


def comparison_lines(records: list[RunRecord], level: float = LEVEL) -> list[str]:
    """``Comparison.sentence`` per ε (none when the run trained no private baseline), then ``encoding_caveat`` where
    some compared mode ran at its second-choice encoding, then what each compared mode trained at
    (``settings_line``)."""
    lines = [comparison.sentence() for comparison in compare(records, level)]
    if not lines:
        return lines
    return [*lines, *(line for line in (encoding_caveat(records), settings_line(records)) if line)]
