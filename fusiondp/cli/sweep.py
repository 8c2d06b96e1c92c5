"""``fusiondp sweep``: a grid of runs from a YAML file, streamed to ``runs.jsonl`` (resumable), summed up per ε."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fusiondp.cli.options import (
    Opt,
    QuietOpt,
    SensitiveOpt,
    SensitiveSpansOpt,
    SpanDetectorOpt,
    TargetOpt,
    TextColumnOpt,
    _roles_from_flags,
)
from fusiondp.cli.output import _print_curve


def sweep(
    grid: Annotated[Path, typer.Argument(help="YAML file: base: (a run config) and grid: (setting → list of values).")],
    out: Annotated[Path, Opt(help="Output folder: runs.jsonl (streamed), results.csv, grid.yaml.")] = Path(
        "fusiondp-sweep"),
    backend: Annotated[str, Opt(help="local (worker processes on this machine) or ray.")] = "local",
    workers: Annotated[int | None, Opt(help="Runs in parallel (default: one per CPU core).")] = None,
    address: Annotated[str | None, Opt(help="Ray cluster address, e.g. ray://head:10001 (backend ray).")] = None,
    resume: Annotated[bool, Opt(help="Skip the runs already finished in OUT/runs.jsonl.")] = False,
    quiet: QuietOpt = False,
    audit: Annotated[bool, Opt(help="Also attack each trained model (attribute and membership inference) and "
                                    "add the figures to its row; slower. Same as 'audit: true' in the grid file.")
                     ] = False,
    data: Annotated[Path | None, Opt(help="Table (replaces the grid's base data).")] = None,
    target: TargetOpt = None,
    sensitive: SensitiveOpt = None,
    text_column: TextColumnOpt = None,
    sensitive_spans: SensitiveSpansOpt = None,
    span_detector: SpanDetectorOpt = None,
) -> None:
    """Run a grid of configs (modes × ε × seeds × α, β, C …) and write one tidy table, one row per run.

    Roles given as flags (--target/--sensitive, or --text-column for notes) replace the grid base's."""
    from fusiondp.config import RunConfig
    from fusiondp.report import prepare_for_report
    from fusiondp.sweep import run_sweep
    from fusiondp.sweep_grid import SweepGrid, expand

    if backend not in ("local", "ray"):
        raise typer.BadParameter("--backend must be 'local' or 'ray'")
    spec = SweepGrid.from_yaml(grid)
    roles = _roles_from_flags(None, target, sensitive, None, None, text_column, sensitive_spans,
                              span_detector=span_detector)
    named = any(value is not None for value in roles.values())
    given = {**({"data": str(data)} if data else {}), **(roles if named else {})}
    if given:
        spec = spec.model_copy(update={"base": RunConfig.build(**{**spec.base.to_dict(), **given})})
    if audit:
        spec = spec.model_copy(update={"audit": True})
    typer.echo(f"{len(expand(spec))} runs (non-private modes once per seed, ignored knobs collapsed) · "
               f"backend {backend} · output {out}{' · audited' if spec.audit else ''}")
    try:
        table = run_sweep(spec, out, backend=backend, workers=workers, resume=resume, address=address,
                          progress=not quiet)
    except KeyboardInterrupt:
        typer.echo(f"\ninterrupted: finished runs are kept in {out / 'runs.jsonl'}; continue with "
                   f"fusiondp sweep {grid} --out {out} --resume", err=True)
        raise typer.Exit(130) from None
    results, selection = prepare_for_report(table)
    if selection:
        typer.echo(f"knob settings per mode, ε and seed: {selection}")
    _print_curve(results)
    typer.echo(f"\nresults: {out / 'results.csv'} · report: fusiondp report {out}")
