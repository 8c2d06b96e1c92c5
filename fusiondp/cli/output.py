"""What the commands print: the progress bars, the results tables and curves, the preparation's summary.

``run`` prints a summary and a curve, ``sweep`` and ``report`` the same per-ε table, ``impute`` and ``audit`` the
imputer's one-line reason: one place for the terminal's wording and column widths. The library is imported inside
each function, when there is something to print.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

import typer

from fusiondp.train.modes import ADJACENCY_EXPLAINED

if TYPE_CHECKING:
    from fusiondp.prepared import PreparedData


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell(value: Any, digits: int = 3) -> str:
    """A table cell: "—" for missing values, short numbers, strings as they are."""
    if _missing(value):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.{digits}f}"
    return str(value)


class PhaseBars:
    """``Progress`` for the terminal: one tqdm bar per preparation phase on stderr, left showing its seconds.

    Phases that take long (imputation, preflight, σ calibration) were silent before: a user could not tell
    a slow step from a hang. ``quiet`` shows nothing.
    """

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bars: dict[str, Any] = {}

    def __call__(self, phase: str, fraction: float) -> None:
        if self.quiet:
            return
        from tqdm.auto import tqdm

        bar = self.bars.get(phase)
        if bar is None:
            bar = self.bars[phase] = tqdm(total=100, desc=phase, file=sys.stderr,
                                          bar_format="{desc}: {percentage:3.0f}%|{bar:20}| {elapsed_s:.1f} s")
        bar.update(round(100 * min(fraction, 1.0)) - bar.n)
        if fraction >= 1:
            bar.close()


def _first_sentence(reason: str) -> str:
    """An imputer's reason in one line; the full text (paths, download links) is in ``fusiondp info``."""
    from fusiondp.verdicts import imputer_headline

    head = imputer_headline(reason)
    return head if head == reason.rstrip(".") else f"{head}; details: fusiondp info"


def _print_preparation(prepared: PreparedData) -> None:
    """The imputer used and its quality, the reference view's λ, the split sizes and the preparation's notes."""
    from fusiondp.impute import format_quality_lines

    imputer_info = prepared.imputer
    typer.echo(f"imputer: {imputer_info.used} ({_first_sentence(imputer_info.reason)})")
    for line in format_quality_lines(prepared.quality):
        typer.echo(f"  {line}")
    if prepared.builtin_quality is not None:
        typer.echo(f"  built-in imputer {prepared.builtin_quality.imputer} on the same support rows (cross-fitted), "
                   "for comparison (not used):")
        for line in format_quality_lines(prepared.builtin_quality):
            typer.echo(f"    {line}")
    if prepared.channel_shrinkage:
        typer.echo("  fusiondp imputation channels, share of the imputation kept per column (λ, from support rows): "
                   + ", ".join(f"{column} {value:.2f}" for column, value in prepared.channel_shrinkage.items()))
    typer.echo(f"rows: {prepared.splits.sizes()} · support: {prepared.splits.support_source} · "
               f"device: {prepared.device}")
    for note in prepared.notes:
        typer.echo(f"note: {note}")


def _print_summary(records: list) -> None:
    from fusiondp.comparison import comparison_lines
    from fusiondp.metrics import METRIC_LABELS, summary_metrics
    from fusiondp.privacy.joint import joint_release_of_records
    from fusiondp.record import summarize
    from fusiondp.verdicts import run_verdicts, threshold_note

    table = summarize(records)
    notes = run_verdicts(records)
    comparisons = comparison_lines(records)
    joint = joint_release_of_records(records)
    shown = summary_metrics(table.columns)
    headers = ["mode", *(METRIC_LABELS[m] for m in shown), "ε spent", "δ", "σ", "q", "steps", "accountant",
               "adjacency", "imputer", "time s"]
    rows = []
    for row in table.to_dict(orient="records"):
        metrics = [f"{row[f'{m}_mean']:.3f} ± {row[f'{m}_sd']:.3f}" for m in shown]
        spent = "∞ (none)" if _missing(row["epsilon_spent"]) else _cell(row["epsilon_spent"])
        ledger = [row[key] for key in ("delta", "sigma", "sampling_rate", "steps", "accountant", "adjacency")]
        rows.append([row["mode"], *metrics, spent, *map(_cell, ledger), row["imputer"], f"{row['wall_time_s']:.1f}"])
    if table.loc[table["sigma"].notna(), "epsilon"].nunique() > 1:
        headers.insert(1, "target ε")
        for row, values in zip(rows, table.to_dict(orient="records"), strict=True):
            row.insert(1, _cell(values["epsilon"]) if not _missing(values["sigma"]) else "—")
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    typer.echo(line)
    typer.echo("-" * len(line))
    for row in rows:
        typer.echo("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))
    typer.echo("")
    if threshold := threshold_note(records):
        typer.echo(f"  {threshold}")
    lockstep = max(record.timing.get("models_in_lockstep", 1) for record in records)
    if lockstep > 1:
        typer.echo(f"  time s: a DP mode's ε of one seed trained in lockstep ({lockstep} models, one training); "
                   "each of their rows shows that training's time")
    for adjacency in dict.fromkeys(table["adjacency"]):
        typer.echo(f"  {adjacency}: {ADJACENCY_EXPLAINED[adjacency]}")
    records = table.to_dict(orient="records")
    totals = {r["mode"]: r["epsilon_total"] for r in records if not _missing(r["epsilon_total"])}
    if totals:
        typer.echo("  ε_total (training composed with the DP-synthetic support set's ε_syn, each under its mode's "
                   "relation): " + ", ".join(f"{m} {_cell(e)}" for m, e in totals.items()))
        replace_totals = {r["mode"]: r["epsilon_total_replace"] for r in records
                          if not _missing(r.get("epsilon_total_replace"))}
        if replace_totals:
            typer.echo("  ε_total under replace-one (any change of one row's sensitive values; comparable across "
                       "modes): " + ", ".join(f"{m} {_cell(e)}" for m, e in replace_totals.items()))
    several = len({r["epsilon"] for r in records if not _missing(r["sigma"])}) > 1
    replace = {(f"{r['mode']} at ε {r['epsilon']:g}" if several else r["mode"]): r["epsilon_replace"]
               for r in records if not _missing(r["epsilon_replace"])}
    if replace:
        typer.echo("  ε_replace (same noise, any change to one row's sensitive values, PLD accountant): "
                   + ", ".join(f"{m} {_cell(e)}" for m, e in replace.items()))
    if joint is not None:
        typer.echo(f"  joint release: {joint.line()}")
    for line in notes:
        typer.echo(f"note: {line}")
    for line in comparisons:
        typer.echo(f"note: {line}")


def _print_run_curve(records: list) -> None:
    """The selection metric (AUROC; R² for regression; mean ± sd over seeds) per ε and mode: one run's curve."""
    from fusiondp.metrics import METRIC_LABELS, summary_metrics
    from fusiondp.record import summarize

    table = summarize(records)
    private = table[table["epsilon_spent"].notna() & (table["sigma"].notna())]
    references = table[table["sigma"].isna()]
    modes = list(dict.fromkeys(private["mode"]))
    metric = summary_metrics(table.columns)[0]
    typer.echo(f"\nPrivacy-utility curve ({METRIC_LABELS[metric]} on the real test rows, mean ± sd over seeds):")
    typer.echo("  " + "ε".ljust(6) + "".join(m.ljust(16) for m in modes))
    for value, group in private.groupby("epsilon", sort=True):
        cells = {row["mode"]: f"{row[f'{metric}_mean']:.3f} ± {row[f'{metric}_sd']:.3f}"
                 for _, row in group.iterrows()}
        typer.echo("  " + f"{value:g}".ljust(6) + "".join(cells.get(m, "—").ljust(16) for m in modes))
    for _, row in references.iterrows():
        typer.echo(f"  reference {row['mode']}: {row[f'{metric}_mean']:.3f} ± {row[f'{metric}_sd']:.3f} (no ε: "
                   f"{ADJACENCY_EXPLAINED[row['adjacency']]})")


def _print_curve(results: Any) -> None:
    """The per-ε table (the kind's first two summary metrics, mean ± sd over seeds: AUROC and AUPRC for a
    binary target, AUROC and accuracy for a multi-class one, AUROC and micro-F1 for a multi-label one, R² and RMSE
    for regression)."""
    from fusiondp.metrics import METRIC_LABELS, summary_metrics
    from fusiondp.result_tables import per_epsilon_table

    table = per_epsilon_table(results)
    shown = summary_metrics(table.columns)[:2]
    tuned = "epsilon_tuning" in table.columns  # a selected model's guarantee is its tuning's, shown beside ε spent
    headers = ["ε", "mode", "seeds", *(METRIC_LABELS[m] for m in shown), "ε spent",
               *(["ε with tuning", "δ with tuning", "K"] * tuned)]
    rows = [["ref" if _missing(r["epsilon"]) else f"{r['epsilon']:g}", r["mode"], str(r["seeds"]),
             *(f"{r[f'{m}_mean']:.3f} ± {r[f'{m}_sd']:.3f}" for m in shown), _cell(r.get("epsilon_spent")),
             *([_cell(r["epsilon_tuning"]), _cell(r["delta_tuning"]), _cell(r["candidates"], 0)] if tuned else [])]
            for r in table.to_dict(orient="records")]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    typer.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        typer.echo("  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)))
