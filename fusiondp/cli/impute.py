"""``fusiondp impute``: fit the imputer on the support set alone and print its cross-fitted quality (notes:
the hybrid-note generator), before any training spends a privacy budget."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fusiondp.cli.options import (
    CategoricalOpt,
    ConfigOpt,
    DataOpt,
    IgnoreOpt,
    ImputerOpt,
    Opt,
    SensitiveOpt,
    SensitiveSpansOpt,
    SpanDetectorOpt,
    SpecOpt,
    SplitColumnOpt,
    SupportFractionOpt,
    TargetOpt,
    TextColumnOpt,
    _build_config,
    _require_roles,
    _roles_from_flags,
)
from fusiondp.cli.output import PhaseBars, _first_sentence

if TYPE_CHECKING:
    from fusiondp.config import RunConfig


def impute(
    data: DataOpt = None,
    spec: SpecOpt = None,
    target: TargetOpt = None,
    sensitive: SensitiveOpt = None,
    categorical: CategoricalOpt = None,
    ignore: IgnoreOpt = None,
    config: ConfigOpt = None,
    imputer: ImputerOpt = None,
    support_fraction: SupportFractionOpt = None,
    support_data: Annotated[Path | None, Opt()] = None,
    report: Annotated[Path | None, Opt(
        help="Folder for imputation.json and imputation.html (works offline); notes: support_hybrids.csv too.")
    ] = None,
    text_column: TextColumnOpt = None,
    sensitive_spans: SensitiveSpansOpt = None,
    span_detector: SpanDetectorOpt = None,
    split_column: SplitColumnOpt = None,
) -> None:
    """Fit the imputer on the support set and print its quality on its cross-fitted support rows (notes: the
    hybrid-note generator, and each support note's cross-fitted hybrid)."""
    from fusiondp.impute import format_quality_lines
    from fusiondp.impute.figures import report_html
    from fusiondp.preparation import prepare

    cfg = _build_config(config, dict(
        data=str(data) if data else None,
        **_roles_from_flags(spec, target, sensitive, categorical, ignore, text_column, sensitive_spans,
                            span_detector=span_detector),
        imputer=imputer, support_fraction=support_fraction, split_column=split_column,
        support_data=str(support_data) if support_data else None))
    _require_roles(cfg)
    if cfg.text is not None:
        _impute_notes(cfg, report)
        return
    prepared = prepare(cfg, progress=PhaseBars(quiet=False))
    quality = prepared.quality
    typer.echo(f"imputer: {prepared.imputer.used} ({_first_sentence(prepared.imputer.reason)})")
    typer.echo(quality.scored_on())
    for line in format_quality_lines(quality):
        typer.echo(line)
    for note in [*quality.notes, *prepared.notes]:
        typer.echo(f"note: {note}")
    if report is not None:
        from fusiondp.record import write_json_atomic, write_text_atomic

        summary = prepared.imputer_summary()
        write_json_atomic(report / "imputation.json", summary)
        write_text_atomic(report / "imputation.html", report_html(quality, summary, cfg.sensitive_domains))
        typer.echo(f"report: {report / 'imputation.json'} · {report / 'imputation.html'}")


def _impute_notes(cfg: RunConfig, report: Path | None) -> None:
    """``fusiondp impute`` for notes: split, fit the hybrid-note generator on the support notes, print its
    cross-fitted quality per span type and a few support notes beside their hybrids; with ``report``, write every
    support note's hybrid. Only support notes are shown or written: a private note's spans never are."""
    from fusiondp.impute import format_quality_lines
    from fusiondp.text.pipeline import generator_choice, generator_quality, load_notes, support_generator
    from fusiondp.text.preview import support_hybrids

    text = cfg.text
    assert text is not None
    splits = load_notes(cfg)
    generator = support_generator(cfg, splits)
    quality = generator_quality(generator, len(splits.support), text.text_column)
    choice = generator_choice(generator, len(splits.support))
    typer.echo(f"imputer: {choice.used} ({choice.reason})")
    typer.echo(f"support: {splits.support_source} · {quality.scored_on()}")
    for line in format_quality_lines(quality):
        typer.echo(line)
    for kind, made in generator.choices_.items():
        typer.echo(f"  {kind}: {made.reason}")
    hybrids = support_hybrids(generator)
    changed = hybrids[hybrids["note"] != hybrids["hybrid_note"]]
    typer.echo(f"{len(changed)} of {len(hybrids)} support notes differ from their cross-fitted hybrid; for example:")
    for _, row in changed.head(3).iterrows():
        note, hybrid = _excerpts(row["note"], row["hybrid_note"])
        typer.echo(f"  support note: {note}\n  hybrid note:  {hybrid}")
    if report is not None:
        from fusiondp.impute.figures import report_html
        from fusiondp.record import write_json_atomic, write_text_atomic

        summary = {**choice.to_dict(), "quality": quality.to_dict(), "support_source": splits.support_source}
        write_json_atomic(report / "imputation.json", summary)
        write_text_atomic(report / "imputation.html", report_html(quality, summary))
        write_text_atomic(report / "support_hybrids.csv", hybrids.to_csv(index=False))
        typer.echo(f"report: {report / 'imputation.json'} · {report / 'imputation.html'} · "
                   f"{report / 'support_hybrids.csv'} (support notes only)")


def _excerpts(note: str, hybrid: str, width: int = 120) -> tuple[str, str]:
    """The same stretch of a note and its hybrid, on one line each, starting a little before they first differ."""
    note, hybrid = " ".join(note.split()), " ".join(hybrid.split())
    first = next((i for i, (a, b) in enumerate(zip(note, hybrid, strict=False)) if a != b), 0)
    start = max(0, first - width // 3)

    def cut(text: str) -> str:
        return ("…" if start else "") + text[start:start + width] + ("…" if len(text) > start + width else "")

    return cut(note), cut(hybrid)
