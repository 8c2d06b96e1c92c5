"""Privacy-utility figures (plotly): a metric against ε per mode, the training curves, FusionDP's gain.

The CLI (``fusiondp report``), the dashboard's Results page and the notebooks all draw with these functions,
so a curve looks the same everywhere (one colour per mode: ``MODE_COLORS``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fusiondp.metrics import METRIC_LABELS, summary_metrics
from fusiondp.result_tables import (
    GAIN_BASELINES,
    check_metric,
    check_one_setting,
    gain_table,
    is_private_mode,
    mode_order,
)
from fusiondp.train.modes import ALL_MODES

MODE_COLORS = dict(zip(ALL_MODES, ("#2ca02c", "#7f7f7f", "#17becf", "#1f77b4", "#ff7f0e", "#d62728", "#9467bd"),
                       strict=True))
"""One colour per mode in every figure, so the CLI, app and notebooks read alike."""


REFERENCE_LABELS = {"sgd_ori": "no privacy", "sgd_pub": "sensitive unused, ε = 0",
                    "sgd_hybrid": "imputed only, ε = 0"}
"""Legend labels of the horizontal references: what each one means for the sensitive columns."""


def _spread(sd: float, seeds: int) -> str:
    """The ± part of a hover label: one seed has no spread, which is not a spread of 0."""
    return "(one seed: no spread)" if seeds < 2 else f"± {sd:.3f} ({seeds} seeds)"


def privacy_utility_figure(results: pd.DataFrame, metric: str | None = None) -> go.Figure:
    """``metric`` against ε (log axis): a line with ± sd error bars per DP mode; the
    non-private modes as dashed horizontal lines at their mean (they do not depend on ε).

    ``metric`` defaults to the target kind's selection metric (AUROC; R² for regression)."""
    metric = metric or summary_metrics(results.columns)[0]
    check_metric(results, metric)
    check_one_setting(results)
    label = METRIC_LABELS.get(metric, metric)
    private = results[results["mode"].map(is_private_mode)]
    epsilons = np.sort(private["epsilon"].dropna().unique()) if len(private) else np.array([0.5, 8.0])
    fig = go.Figure()
    for mode in mode_order(private["mode"]):
        stats = (private[private["mode"] == mode].groupby("epsilon")[metric].agg(["mean", "std", "count"])
                 .reset_index().sort_values("epsilon"))
        fig.add_trace(go.Scatter(
            x=stats["epsilon"], y=stats["mean"], mode="lines+markers", name=mode,
            line={"color": MODE_COLORS.get(mode)},
            error_y={"type": "data", "array": stats["std"].fillna(0.0), "visible": True},
            customdata=[_spread(sd, count) for sd, count in zip(stats["std"], stats["count"], strict=True)],
            hovertemplate=f"{mode}<br>ε = %{{x}}<br>{label} = %{{y:.3f}} %{{customdata}}<extra></extra>",
        ))
    public = results[~results["mode"].map(is_private_mode)]
    for mode in mode_order(public["mode"]):
        values = public.loc[public["mode"] == mode, metric].astype(float)
        mean, sd = values.mean(), values.std() if len(values) > 1 else 0.0
        name = f"{mode} ({REFERENCE_LABELS.get(mode, 'reference')})"
        fig.add_trace(go.Scatter(
            x=[epsilons.min(), epsilons.max()], y=[mean, mean], mode="lines", name=name,
            line={"dash": "dash", "color": MODE_COLORS.get(mode)},
            hovertemplate=f"{mode}: {label} = {mean:.3f} {_spread(sd, len(values))}<extra></extra>",
        ))
    seeds = results["seed"].nunique()
    spread = "one seed: no spread" if seeds == 1 else f"mean ± sd over {seeds} seeds"
    fig.update_layout(title=f"{label} vs ε ({spread})",
                      yaxis_title=f"{label} on real test rows", legend_title="mode", template="plotly_white")
    fig.update_xaxes(type="log", title="target ε (log scale)", tickvals=list(epsilons),
                     ticktext=[f"{e:g}" for e in epsilons])
    return fig


EPSILON_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
"""Line styles told apart by ε, in grid order, within one mode's colour."""


LEGEND_ROW_PX = 30
"""Height of one legend row as the dashboard's plotly theme draws it (measured in chromium: about 29 px)."""


def training_figure(epochs: pd.DataFrame, metric: str = "val_auroc") -> go.Figure:
    """Live training curves: one line per (mode, ε, seed) of ``metric`` against the run's epoch.

    ``epochs`` holds one row per finished epoch (``EpochReport.to_dict()`` plus the run's target
    ``epsilon``, empty for a non-private reference). A mode keeps its colour (``MODE_COLORS``) however many
    runs start, and each ε gets its own line style, so runs of one mode at different ε are never joined.
    """
    fig = go.Figure()
    grid = sorted(e for e in epochs["epsilon"].dropna().unique())
    shown = set()
    for (mode, epsilon, seed), run in epochs.groupby(["mode", "epsilon", "seed"], dropna=False, sort=False):
        name = mode if pd.isna(epsilon) else f"{mode}, ε = {epsilon:g}"
        dash = "solid" if pd.isna(epsilon) else EPSILON_DASHES[grid.index(epsilon) % len(EPSILON_DASHES)]
        fig.add_trace(go.Scatter(
            x=run["epoch"], y=run[metric], mode="lines+markers", name=name, legendgroup=name,
            showlegend=name not in shown, line={"color": MODE_COLORS.get(mode), "dash": dash},
            hovertemplate=f"{name}, seed {seed}<br>epoch %{{x}}<br>%{{y:.3f}}<extra></extra>",
        ))
        shown.add(name)
    # Tall enough for the whole legend (its title and one row per line): plotly cuts off what does not fit.
    fig.update_layout(height=max(260, 50 + LEGEND_ROW_PX * (len(shown) + 1)), margin={"t": 10, "b": 40},
                      template="plotly_white", legend_title="run",
                      yaxis_title=f"validation {METRIC_LABELS.get(metric.removeprefix('val_'), metric)}")
    fig.update_xaxes(title="epoch", dtick=1)
    return fig


def gain_figure(results: pd.DataFrame, metric: str = "auroc") -> go.Figure:
    """The "FusionDP gain": fusiondp − dpsgd and fusiondp − feature_dp at each ε, ± sd over seeds."""
    gains = gain_table(results, metric)
    label = METRIC_LABELS.get(metric, metric)
    fig = go.Figure()
    for baseline in GAIN_BASELINES:
        part = gains[gains["baseline"] == baseline].sort_values("epsilon")
        if part.empty:
            continue
        fig.add_trace(go.Scatter(
            x=part["epsilon"], y=part["gain_mean"], mode="lines+markers", name=f"fusiondp − {baseline}",
            line={"color": MODE_COLORS[baseline]},
            error_y={"type": "data", "array": part["gain_sd"], "visible": True},
        ))
    if gains.empty:
        fig.add_annotation(text="needs fusiondp and dpsgd or feature_dp runs at the same ε and seeds",
                           showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.add_hline(y=0, line={"color": "grey", "width": 1})
    if not gains.empty and not gains["same_replace"].fillna(True).all():
        fig.add_annotation(text="some pairs differ in ε_replace (different noise): not like for like",
                           showarrow=False, xref="paper", yref="paper", x=0.5, y=1.0, yanchor="bottom")
    fig.update_layout(title=f"FusionDP gain in {label} (paired by seed, mean ± sd)",
                      yaxis_title=f"Δ {label}", template="plotly_white")
    epsilons = sorted(gains["epsilon"].unique())
    fig.update_xaxes(type="log", title="target ε (log scale)", tickvals=epsilons, ticktext=[f"{e:g}" for e in epsilons])
    return fig


def export_figure_images(fig: go.Figure, stem: str | Path) -> tuple[list[Path], str | None]:
    """Write ``stem``.svg and .png with kaleido when it can run here; else say why not.

    kaleido drives a local Chrome/Chromium; without one (or without kaleido) the images
    cannot be made offline, and the caller must tell the user rather than fail silently.
    """
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return [], "kaleido is not installed (pip install kaleido; it also needs Chrome or Chromium installed)"
    written = []
    for suffix in (".svg", ".png"):
        path = Path(stem).with_suffix(suffix)
        try:
            fig.write_image(path)
        except Exception as exc:  # kaleido/choreographer raise many types (no browser, timeout, crash)
            return written, f"kaleido could not export {suffix[1:].upper()}: {exc}"
        written.append(path)
    return written, None

