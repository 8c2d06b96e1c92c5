"""Plotly figures of an imputation-quality report, shared by the CLI report, dashboard and notebooks.

Figures are drawn from a ``QualityReport`` alone (histogram counts and confusion matrices
are stored in it), so a saved ``imputation.json`` or ``results.json`` is enough to redraw
them. The HTML report embeds plotly.js: it must open on machines without network.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fusiondp.impute.quality import ColumnQuality, QualityReport
from fusiondp.metrics import METRIC_LABELS

QUALITY_LABELS = {**METRIC_LABELS, "missing_accuracy": "missingness accuracy"}
"""Readable names of the imputation-quality metrics (``QualityReport.to_frame``'s ``metric`` column)."""
REAL_COLOR = "#1f77b4"
IMPUTED_COLOR = "#ff7f0e"
_LEADING_NUMBER = re.compile(r"^[^\w+-]*([-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)")
"""A number at the start of a label, after symbols such as "$", "<" or "≥": "$20,000 to $24,999" → 20,000."""


def leading_number(label: Any) -> float | None:
    """The number a category label starts with ("$20,000 to $24,999" → 20000, "9-11th grade" → 9), else None."""
    match = _LEADING_NUMBER.match(str(label).strip())
    return float(match.group(1).replace(",", "")) if match else None


def category_order(labels: Sequence[Any], declared: Sequence[Any] | None = None) -> list[Any]:
    """``labels`` in their natural reading order, for axes and tables that list categories.

    The order declared for the column (its categories as written in the codebook, e.g. a
    config's ``sensitive_domains``) when there is one — labels it does not list follow, in the
    order below; otherwise by the number every label starts with (income bands "$5,000 to
    $9,999" before "$20,000 to $24,999" before "$100,000 and over"); otherwise alphabetically.
    Labels are compared as text, so a declared ``1`` matches a stored ``"1"``.
    """
    if declared:
        rank = {str(value): index for index, value in enumerate(declared)}
        listed = sorted((label for label in labels if str(label) in rank), key=lambda label: rank[str(label)])
        return listed + category_order([label for label in labels if str(label) not in rank])
    numbered = [(leading_number(label), str(label), label) for label in labels]
    if labels and all(number is not None for number, _, _ in numbered):
        return [label for _, _, label in sorted(numbered, key=lambda entry: (entry[0], entry[1]))]
    return sorted(labels, key=str)


def quality_table(report: QualityReport) -> pd.DataFrame:
    """The report's metrics for a reader: one row per sensitive column and metric, the metric by its readable
    name (``QUALITY_LABELS``: MAE, R², macro-F1, …), beside the imputer's and the trivial baseline's score."""
    frame = report.to_frame()
    if frame.empty:
        return frame
    return frame.assign(metric=frame["metric"].map(lambda metric: QUALITY_LABELS.get(metric, metric)))


def histogram_figure(column: ColumnQuality) -> go.Figure:
    """Real vs imputed values of a numeric column on support rows the imputer did not see, overlaid."""
    if column.histogram is None:
        raise ValueError(f"column {column.column!r} is {column.kind}; histograms are for numeric columns")
    edges = np.asarray(column.histogram["edges"])
    centers, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    figure = go.Figure()
    for name, color in (("real", REAL_COLOR), ("imputed", IMPUTED_COLOR)):
        figure.add_bar(x=centers, y=column.histogram[name], width=widths, name=name, marker_color=color, opacity=0.55)
    figure.update_layout(barmode="overlay", bargap=0, title=f"{column.column}: real vs imputed (unseen support rows)",
                         xaxis_title=column.column, yaxis_title="rows", legend_title_text="values")
    return figure


def confusion_figure(column: ColumnQuality, declared: Sequence[Any] | None = None) -> go.Figure:
    """Confusion heatmap of a categorical column: rows are real categories, columns imputed ones.

    Categories read in ``category_order`` (the ``declared`` order of the column's categories when given).
    """
    if column.confusion is None:
        raise ValueError(f"column {column.column!r} is {column.kind}; confusion matrices are for categorical columns")
    stored = [str(label) for label in column.confusion["labels"]]
    labels = category_order(stored, declared)
    index = [stored.index(label) for label in labels]
    matrix = np.asarray(column.confusion["matrix"])[np.ix_(index, index)]
    figure = go.Figure(go.Heatmap(z=matrix, x=labels, y=labels, colorscale="Blues", text=matrix,
                                  texttemplate="%{text}", hovertemplate="real %{y}<br>imputed %{x}<br>%{z} rows"
                                  "<extra></extra>"))
    # Category axes: labels such as "0" and "1" would otherwise be read as numbers, on an axis from -0.5 to 1.5.
    figure.update_layout(title=f"{column.column}: confusion matrix (unseen support rows)",
                         xaxis_title="imputed", yaxis_title="real", yaxis_autorange="reversed",
                         xaxis_type="category", yaxis_type="category")
    return figure


def column_figure(column: ColumnQuality, declared: Sequence[Any] | None = None) -> go.Figure:
    """The figure that fits the column's kind (``declared``: the order of a categorical column's categories)."""
    return histogram_figure(column) if column.kind == "numeric" else confusion_figure(column, declared)


def report_figures(report: QualityReport, declared: Mapping[str, Sequence[Any]] | None = None) -> dict[str, go.Figure]:
    """One figure per sensitive column, keyed by column name; ``declared`` maps a column to its categories' order."""
    declared = declared or {}
    return {column.column: column_figure(column, declared.get(column.column)) for column in report.columns}


def _metrics_table(report: QualityReport) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(row.column)}</td><td>{row.kind}</td><td>{row.metric}</td>"
        f"<td>{row.imputer:.3f}</td><td>{row.baseline:.3f}</td></tr>"
        for row in report.to_frame().itertuples()
    )
    return ("<table><tr><th>column</th><th>kind</th><th>metric</th><th>imputer</th><th>baseline</th></tr>"
            f"{rows}</table>")


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _selection_table(report: QualityReport) -> str:
    """Model or baseline per column and prediction task, with the cross-validated scores behind the choice."""
    rows = "".join(
        f"<tr><td>{html.escape(col.column)}</td><td>{task}</td><td>{decision['used']}</td><td>{decision['metric']}</td>"
        f"<td>{_score(decision['model'])}</td><td>{_score(decision['baseline'])}</td>"
        f"<td>{html.escape(decision['reason'])}</td></tr>"
        for col in report.columns if col.selection
        for task, decision in (("value", col.selection["value"]), ("missing", col.selection.get("missing")))
        if decision is not None
    )
    if not rows:
        return ""
    return ("<h2>Model or baseline (cross-validation on the support set)</h2><table><tr><th>column</th><th>task</th>"
            "<th>used</th><th>metric</th><th>model</th><th>baseline</th><th>why</th></tr>"
            f"{rows}</table>")


def report_html(report: QualityReport, choice: dict[str, Any] | None = None,
                declared: Mapping[str, Sequence[Any]] | None = None) -> str:
    """A self-contained HTML page: which imputer ran and why, metrics, notes, figures (plotly.js inline).

    ``declared`` maps a categorical column to the order of its categories (e.g. a config's ``sensitive_domains``).
    """
    header = f"<h1>Imputation quality: {html.escape(report.imputer)}</h1>"
    if choice:
        requested, reason = html.escape(str(choice.get("requested"))), html.escape(str(choice.get("reason")))
        header += f"<p>Requested: {requested}. Why this imputer: {reason}</p>"
    header += (f"<p>{html.escape(report.scored_on().capitalize())} (public sensitive values; never private training "
               "rows). Baseline: mean / majority class.</p>")
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in report.notes)
    body = [header, _metrics_table(report), _selection_table(report)]
    if notes:
        body.append(f"<h2>Notes</h2><ul>{notes}</ul>")
    for index, figure in enumerate(report_figures(report, declared).values()):
        # plotly.js goes inline once (first figure); the others reuse it.
        body.append(figure.to_html(full_html=False, include_plotlyjs=index == 0))
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Imputation quality</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
