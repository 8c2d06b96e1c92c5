"""How good is an imputation? Metrics on held-out support rows against a trivial baseline.

The held-out rows are support rows (their sensitive values are public), so the report is
public information and may be shown anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
)

from fusiondp.spec import TableSpec

HISTOGRAM_BINS = 30
"""Bins of the real-vs-imputed histogram stored with each numeric column."""
SHOWN_CATEGORIES = 10
"""Unseen categories listed by name in a note; more are counted."""


def split_support(support: pd.DataFrame, holdout_fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded split of the support set into a part to fit on and a held-out part to score on."""
    order = np.random.default_rng(seed).permutation(len(support))
    n_holdout = max(1, round(holdout_fraction * len(support)))
    return (support.iloc[np.sort(order[n_holdout:])].reset_index(drop=True),
            support.iloc[np.sort(order[:n_holdout])].reset_index(drop=True))


@dataclass
class ColumnQuality:
    """Metrics of one sensitive column beside the trivial baseline, plus what the figures need.

    ``histogram`` (numeric: shared bin ``edges`` and ``real`` / ``imputed`` counts) and
    ``confusion`` (categorical: ``labels`` and ``matrix[real][imputed]``) are stored rather
    than the held-out values, so the JSON report alone is enough to redraw the figures.
    """

    column: str
    kind: str
    rows: int
    metrics: dict[str, float]
    baseline: dict[str, float]
    histogram: dict[str, list[float]] | None = None
    confusion: dict[str, list[Any]] | None = None

    def beats_baseline(self) -> bool:
        key = "r2" if self.kind == "numeric" else "accuracy"
        return self.metrics[key] > self.baseline[key]


@dataclass
class QualityReport:
    """Per-sensitive-column quality of one imputer on held-out support rows."""

    imputer: str
    fit_rows: int
    holdout_rows: int
    columns: list[ColumnQuality] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    synthetic: bool = False
    """The support set is DP-synthetic, so the held-out rows' sensitive values are synthetic too."""

    def rows_used(self) -> str:
        if self.synthetic:
            return ("held-out DP-synthetic support rows (synthetic sensitive values, not real ones), never private "
                    "training rows")
        return "held-out support rows (public sensitive values), never private training rows"

    def to_dict(self) -> dict[str, Any]:
        return {
            "imputer": self.imputer,
            "fit_rows": self.fit_rows,
            "holdout_rows": self.holdout_rows,
            "rows_used": self.rows_used(),
            "synthetic": self.synthetic,
            "columns": [vars(c) for c in self.columns],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QualityReport:
        """Rebuild a report from ``to_dict`` output (e.g. a saved results.json), to redraw its figures."""
        return cls(data["imputer"], data["fit_rows"], data["holdout_rows"],
                   [ColumnQuality(**column) for column in data["columns"]], list(data.get("notes", [])),
                   bool(data.get("synthetic", False)))

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for col in self.columns:
            for metric, value in col.metrics.items():
                rows.append({"column": col.column, "kind": col.kind, "metric": metric,
                             "imputer": value, "baseline": col.baseline[metric]})
        return pd.DataFrame(rows)


def _histogram(real: np.ndarray, imputed: np.ndarray) -> dict[str, list[float]]:
    edges = np.histogram_bin_edges(np.concatenate([real, imputed]), bins=HISTOGRAM_BINS)
    return {"edges": edges.tolist(), "real": np.histogram(real, edges)[0].tolist(),
            "imputed": np.histogram(imputed, edges)[0].tolist()}


def _confusion(real: pd.Series, imputed: pd.Series) -> dict[str, list[Any]]:
    labels = sorted(set(real) | set(imputed))
    return {"labels": labels, "matrix": confusion_matrix(real, imputed, labels=labels).tolist()}


def score_column(column: str, categorical: bool, real: pd.Series, imputed: pd.Series,
                 fit_values: pd.Series) -> ColumnQuality:
    """Score one column's imputation and the trivial baseline (mean / majority of the fit rows)."""
    observed = real.notna().to_numpy()
    real, imputed = real[observed], imputed[observed]
    histogram = confusion = None
    if categorical:
        real, imputed = real.astype(str), imputed.astype(str)
        majority = fit_values.dropna().astype(str).mode().iloc[0]
        baseline = pd.Series(majority, index=real.index)
        metrics = {"accuracy": accuracy_score(real, imputed),
                   "macro_f1": f1_score(real, imputed, average="macro", zero_division=0)}
        base = {"accuracy": accuracy_score(real, baseline),
                "macro_f1": f1_score(real, baseline, average="macro", zero_division=0)}
        kind = "categorical"
        confusion = _confusion(real, imputed)
    else:
        real, imputed = real.astype(float), imputed.astype(float)
        baseline = np.full(len(real), pd.to_numeric(fit_values, errors="coerce").mean())

        def numeric(pred: np.ndarray) -> dict[str, float]:
            return {"mae": mean_absolute_error(real, pred),
                    "rmse": float(np.sqrt(mean_squared_error(real, pred))),
                    "r2": r2_score(real, pred) if len(real) > 1 else float("nan")}

        metrics, base, kind = numeric(imputed.to_numpy()), numeric(baseline), "numeric"
        histogram = _histogram(real.to_numpy(), imputed.to_numpy())
    return ColumnQuality(column, kind, int(observed.sum()),
                         {k: float(v) for k, v in metrics.items()}, {k: float(v) for k, v in base.items()},
                         histogram, confusion)


def unseen_categories(spec: TableSpec, reference: pd.DataFrame, rows: pd.DataFrame,
                      columns: tuple[str, ...]) -> dict[str, list[str]]:
    """Per categorical column of ``columns``: values in ``rows`` that ``reference`` never shows.

    Imputers only predict categories they were fitted on, and the encoder maps unknown
    categories to an all-zero ("other") code, so such values never crash anything; they
    are reported so that the user can extend the support set or merge categories.
    """
    unseen = {}
    for column in columns:
        if spec.is_categorical(column) and column in rows and column in reference:
            new = sorted(set(rows[column].dropna().astype(str)) - set(reference[column].dropna().astype(str)))
            if new:
                unseen[column] = new
    return unseen


def describe_categories(values: list[str]) -> str:
    """``'a', 'b'`` — or the first few and a count, so that notes stay one line."""
    shown = ", ".join(repr(v) for v in values[:SHOWN_CATEGORIES])
    more = len(values) - SHOWN_CATEGORIES
    return shown + (f" and {more} more" if more > 0 else "")


def quality_report(imputer_name: str, spec: TableSpec, fit_rows: pd.DataFrame, holdout: pd.DataFrame,
                   holdout_imputed: pd.DataFrame) -> QualityReport:
    """Score ``holdout_imputed`` against the held-out support rows, column by column."""
    report = QualityReport(imputer_name, len(fit_rows), len(holdout))
    for column in spec.sensitive:
        report.columns.append(score_column(column, spec.is_categorical(column), holdout[column],
                                           holdout_imputed[column], fit_rows[column]))
    for column, values in unseen_categories(spec, fit_rows, holdout, spec.sensitive).items():
        report.notes.append(f"Sensitive column {column!r}: held-out support rows hold {describe_categories(values)}, "
                            "absent from the rows the imputer was fitted on; it cannot predict them, so they count "
                            "as errors.")
    return report
