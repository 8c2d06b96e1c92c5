"""``fusiondp report``: the HTML report and the main curve's images from a folder that ``run`` or ``sweep`` wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fusiondp.cli.options import Opt
from fusiondp.cli.output import _print_curve


def report(
    results_dir: Annotated[Path, typer.Argument(help="Folder written by fusiondp sweep or fusiondp run (--out).")],
    select: Annotated[str, Opt(help="How to pick α, β, C per ε when the sweep tuned them: val_hybrid (imputed "
                                    "validation rows, public) or val_real (real rows: not accounted).")] = "val_hybrid",
) -> None:
    """Write report.html (curves, FusionDP gain, per-ε table, ledger, imputation) and the main curve as SVG/PNG."""
    from fusiondp.figures import export_figure_images, privacy_utility_figure
    from fusiondp.metrics import summary_metrics
    from fusiondp.report import build_html_report, curve_stem, load_results, prepare_for_report

    if select not in ("val_hybrid", "val_real"):
        raise typer.BadParameter("--select must be 'val_hybrid' or 'val_real'")
    path = build_html_report(results_dir, select)
    results, selection = prepare_for_report(load_results(results_dir)[0], select)
    if selection:
        typer.echo(f"knob settings per mode, ε and seed: {selection}")
    _print_curve(results)
    typer.echo(f"\nreport: {path}")
    metric = summary_metrics(results.columns)[0]  # the kind's selection metric: AUROC, or R² for regression
    written, problem = export_figure_images(privacy_utility_figure(results, metric), results_dir / curve_stem(metric))
    for image in written:
        typer.echo(f"curve: {image}")
    if problem:
        typer.echo(f"warning: the main curve was not saved as SVG/PNG: {problem}. The HTML report holds the "
                   "interactive figure (its camera button saves a PNG).", err=True)
