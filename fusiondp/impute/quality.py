"""How good is an imputation? Metrics on support rows the imputation did not see, against a trivial baseline.

The pipeline scores the imputer's cross-fitted imputations of the support rows (each row predicted by a fit
on the other folds, ``CrossFitted``); ``split_support`` makes a plain held-out part for callers that fit on
the rest. Either way the rows are support rows (their sensitive values are public), so the report is
public information and may be shown anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
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

from fusiondp.impute.columnwise import MISSING_STATE, ColumnSelection
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

    ``metrics`` and ``baseline`` are scored on the held-out rows whose real value is present (numeric
    columns: where the imputed value is present too; an imputed "missing" for a present categorical
    value counts as an error). ``missing`` compares missingness when the fit rows, the held-out rows or
    the imputation hold any: real vs imputed missing rate, and the accuracy of the missing-vs-present
    state beside the majority state's. ``selection`` is the fitted imputer's model-vs-baseline choice
    (``ColumnSelection.to_dict``), when recorded.
    """

    column: str
    kind: str
    rows: int
    metrics: dict[str, float]
    baseline: dict[str, float]
    histogram: dict[str, list[float]] | None = None
    confusion: dict[str, list[Any]] | None = None
    missing: dict[str, float] | None = None
    selection: dict[str, Any] | None = None

    def beats_baseline(self) -> bool:
        """Whether the imputation beats the baseline: the imputer's own cross-validated choice when it made one
        (scored on these rows against this baseline, ``ColumnwiseImputer._choose``), so that the report gives one
        verdict, the one the hybrid view was built on; else this report's metrics."""
        decision = (self.selection or {}).get("value")
        if decision is not None and decision.get("model") is not None:
            return decision["used"] == "model"
        key = "r2" if self.kind == "numeric" else "accuracy"
        return self.metrics[key] > self.baseline[key]


@dataclass
class QualityReport:
    """Per-sensitive-column quality of one imputer on support rows it did not see.

    ``holdout_rows`` counts the rows scored: held out, or with ``cross_fitted`` (the number of folds) every
    support row the imputer was fitted on, each predicted out of fold.
    """

    imputer: str
    fit_rows: int
    holdout_rows: int
    columns: list[ColumnQuality] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    synthetic: bool = False
    """The support set is DP-synthetic, so the scored rows' sensitive values are synthetic too."""
    cross_fitted: int = 0
    """Folds of the cross-fitting that made the scored imputations; 0 for a plain held-out split."""
    text_column: str | None = None
    """Set when the report scores a hybrid-note generator on the support notes of this column (``fusiondp.text``)."""

    def rows_used(self) -> str:
        if self.cross_fitted:
            rows = (f"cross-fitted support rows ({self.cross_fitted}-fold: each row imputed by a fit on the other "
                    "folds)")
        else:
            rows = "held-out support rows"
        if self.synthetic:
            return f"{rows}, DP-synthetic (synthetic sensitive values, not real ones), never private training rows"
        return f"{rows} (public sensitive values), never private training rows"

    def scored_on(self) -> str:
        """What the scores were computed on, for one line of output."""
        if self.text_column is not None:
            return (f"fitted on {self.fit_rows} support notes, scored on the same notes cross-fitted "
                    f"({self.cross_fitted}-fold, each note's values predicted by a fit that did not see it)")
        if self.cross_fitted:
            return (f"fitted on {self.fit_rows} support rows, scored on the same rows cross-fitted "
                    f"({self.cross_fitted}-fold, each row imputed by a fit that did not see it)")
        return f"fitted on {self.fit_rows} support rows, scored on {self.holdout_rows} held-out support rows"

    def to_dict(self) -> dict[str, Any]:
        return {
            "imputer": self.imputer,
            "fit_rows": self.fit_rows,
            "holdout_rows": self.holdout_rows,
            "rows_used": self.rows_used(),
            "synthetic": self.synthetic,
            "cross_fitted": self.cross_fitted,
            "text_column": self.text_column,
            "columns": [vars(c) for c in self.columns],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QualityReport:
        """Rebuild a report from ``to_dict`` output (e.g. a saved results.json), to redraw its figures."""
        return cls(data["imputer"], data["fit_rows"], data["holdout_rows"],
                   [ColumnQuality(**column) for column in data["columns"]], list(data.get("notes", [])),
                   bool(data.get("synthetic", False)), int(data.get("cross_fitted", 0)), data.get("text_column"))

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for col in self.columns:
            for metric, value in col.metrics.items():
                rows.append({"column": col.column, "kind": col.kind, "metric": metric,
                             "imputer": value, "baseline": col.baseline[metric]})
            if col.missing is not None:
                rows.append({"column": col.column, "kind": col.kind, "metric": "missing_accuracy",
                             "imputer": col.missing["accuracy"], "baseline": col.missing["baseline_accuracy"]})
        return pd.DataFrame(rows)

    def record_selection(self, selection: Mapping[str, ColumnSelection]) -> None:
        """Store the fitted imputer's per-column model-vs-baseline choice (its ``selection_``) with each column.

        Pass the selection of the imputer that made the hybrid view (fitted on the whole support set);
        recording twice replaces the first.
        """
        for col in self.columns:
            if col.column in selection:
                col.selection = selection[col.column].to_dict()


def _histogram(real: np.ndarray, imputed: np.ndarray) -> dict[str, list[float]]:
    edges = np.histogram_bin_edges(np.concatenate([real, imputed]), bins=HISTOGRAM_BINS)
    return {"edges": edges.tolist(), "real": np.histogram(real, edges)[0].tolist(),
            "imputed": np.histogram(imputed, edges)[0].tolist()}


def _confusion(real: pd.Series, imputed: pd.Series) -> dict[str, list[Any]]:
    labels = sorted(set(real) | set(imputed))
    return {"labels": labels, "matrix": confusion_matrix(real, imputed, labels=labels).tolist()}


def _missing_agreement(real: pd.Series, imputed: pd.Series, fit_values: pd.Series) -> dict[str, float] | None:
    """Real vs imputed missingness, and the majority state's accuracy beside it; ``None`` when nothing is missing."""
    real_missing, imputed_missing = real.isna().to_numpy(), imputed.isna().to_numpy()
    fit_rate = float(fit_values.isna().mean()) if len(fit_values) else 0.0
    if not (real_missing.any() or imputed_missing.any() or fit_rate > 0):
        return None
    majority_missing = fit_rate > 0.5
    return {"fit_rate": fit_rate, "real_rate": float(real_missing.mean()),
            "imputed_rate": float(imputed_missing.mean()), "accuracy": float((real_missing == imputed_missing).mean()),
            "baseline_accuracy": float((real_missing == majority_missing).mean())}


def score_column(column: str, categorical: bool, real: pd.Series, imputed: pd.Series,
                 fit_values: pd.Series) -> ColumnQuality:
    """Score one column's imputation and the trivial baseline (mean / majority of the fit rows)."""
    real, imputed = real.reset_index(drop=True), imputed.reset_index(drop=True)
    missing = _missing_agreement(real, imputed, fit_values)
    observed = real.notna().to_numpy()
    if not categorical:
        observed = observed & imputed.notna().to_numpy()
    real, imputed = real[observed], imputed[observed]
    histogram = confusion = None
    if categorical:
        real, imputed = real.astype(str), imputed.astype("string").fillna(MISSING_STATE).astype(str)
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

        if len(real):
            metrics, base = numeric(imputed.to_numpy()), numeric(baseline)
            histogram = _histogram(real.to_numpy(), imputed.to_numpy())
        else:  # every present value was imputed as missing: nothing to compare
            metrics = base = dict.fromkeys(("mae", "rmse", "r2"), float("nan"))
        kind = "numeric"
    return ColumnQuality(column, kind, int(observed.sum()),
                         {k: float(v) for k, v in metrics.items()}, {k: float(v) for k, v in base.items()},
                         histogram, confusion, missing)


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
                   holdout_imputed: pd.DataFrame, *, selection: Mapping[str, ColumnSelection] | None = None,
                   cross_fitted: int = 0) -> QualityReport:
    """Score ``holdout_imputed`` against the support rows ``holdout``, column by column.

    ``holdout`` is a held-out part of the support set, or — with ``cross_fitted`` folds — the support rows
    themselves (``fit_rows`` too), imputed out of fold. The baseline is the mean / majority of ``fit_rows``:
    in the cross-fitted case it has seen every row, which can only favour the baseline, never the imputer.
    ``selection``: the model-vs-baseline choice of the imputer that made the hybrid view (its
    ``selection_``), stored per column; it can also be added later with ``record_selection``.
    """
    report = QualityReport(imputer_name, len(fit_rows), len(holdout), cross_fitted=cross_fitted)
    for column in spec.sensitive:
        report.columns.append(score_column(column, spec.is_categorical(column), holdout[column],
                                           holdout_imputed[column], fit_rows[column]))
    for column, values in unseen_categories(spec, fit_rows, holdout, spec.sensitive).items():
        report.notes.append(f"Sensitive column {column!r}: held-out support rows hold {describe_categories(values)}, "
                            "absent from the rows the imputer was fitted on; it cannot predict them, so they count "
                            "as errors.")
    if selection is not None:
        report.record_selection(selection)
    return report


def _selection_text(selection: dict[str, Any] | None) -> str:
    if selection is None:
        return ""
    parts = []
    for task, decision in (("value", selection["value"]), ("missing", selection.get("missing"))):
        if decision is None:
            continue
        label = "" if task == "value" else "missing: "
        if decision["model"] is None:
            parts.append(f"{label}{decision['used']} ({decision['reason']})")
        else:  # the baseline is the line's own: its number is not repeated
            verdict = "beats" if decision["used"] == "model" else "does not beat"
            parts.append(f"{label}{decision['used']} (the model {verdict} the baseline by cross-validation: "
                         f"{decision['metric']} {decision['model']:.3g})")
    return " · used: " + ", ".join(parts)


def format_quality_lines(report: QualityReport) -> list[str]:
    """One line per sensitive column, quality vs baseline on support rows the imputer did not see, then warnings.

    For the CLI: a column at or below its baseline adds a ``WARNING:`` line (the hybrid view then
    carries no more about it than the mean / majority class), and so does a column whose fit rows are
    sometimes missing while the imputation never is (the hybrid view would never show "missing").
    """
    lines, warnings = [], []
    for col in report.columns:
        if col.kind == "numeric":
            text = (f"RMSE {col.metrics['rmse']:.3g} vs {col.baseline['rmse']:.3g} baseline (mean), "
                    f"R² {col.metrics['r2']:.3f} vs {col.baseline['r2']:.3f}")
            shown = f"RMSE {col.metrics['rmse']:.3g} vs {col.baseline['rmse']:.3g}"
        else:
            text = (f"accuracy {col.metrics['accuracy']:.3f} vs {col.baseline['accuracy']:.3f} baseline (majority), "
                    f"macro-F1 {col.metrics['macro_f1']:.3f} vs {col.baseline['macro_f1']:.3f}")
            shown = f"accuracy {col.metrics['accuracy']:.3f} vs {col.baseline['accuracy']:.3f}"
        if col.missing is not None:
            text += (f" · missing: {col.missing['real_rate']:.1%} real, {col.missing['imputed_rate']:.1%} imputed, "
                     f"state accuracy {col.missing['accuracy']:.3f} vs {col.missing['baseline_accuracy']:.3f}")
        lines.append(f"{col.column} ({col.kind}): {text}{_selection_text(col.selection)}")
        if not col.beats_baseline() and report.text_column is not None:
            warnings.append(f"WARNING: {col.column}: the surrogate model does no better than the majority value on "
                            f"the support notes, each predicted by a fit that did not see it ({shown}); the hybrid "
                            "notes carry the majority value for this span type, which tells nothing about a note.")
        elif not col.beats_baseline():
            warnings.append(f"WARNING: {col.column}: imputation at or below the trivial baseline on unseen support "
                            f"rows ({shown}); the hybrid view tells no more about this column than the "
                            f"{'mean' if col.kind == 'numeric' else 'majority class'}.")
        if col.missing is not None and col.missing["fit_rate"] > 0 and col.missing["imputed_rate"] == 0:
            warnings.append(f"WARNING: {col.column}: {col.missing['fit_rate']:.1%} of the support values are missing "
                            "but the imputation never is: the public columns do not make 'missing' the likeliest "
                            "state of any row, so the hybrid view never shows it.")
    return lines + warnings
