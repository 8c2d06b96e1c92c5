"""How good is an imputation? Metrics on held-out support rows against a trivial baseline.

The held-out rows are support rows (their sensitive values are public), so the report is
public information and may be shown anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score

from fusiondp.spec import TableSpec


def split_support(support: pd.DataFrame, holdout_fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded split of the support set into a part to fit on and a held-out part to score on."""
    order = np.random.default_rng(seed).permutation(len(support))
    n_holdout = max(1, round(holdout_fraction * len(support)))
    return (support.iloc[np.sort(order[n_holdout:])].reset_index(drop=True),
            support.iloc[np.sort(order[:n_holdout])].reset_index(drop=True))


@dataclass
class ColumnQuality:
    column: str
    kind: str
    rows: int
    metrics: dict[str, float]
    baseline: dict[str, float]

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "imputer": self.imputer,
            "fit_rows": self.fit_rows,
            "holdout_rows": self.holdout_rows,
            "rows_used": "held-out support rows (public sensitive values), never private training rows",
            "columns": [vars(c) for c in self.columns],
        }

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for col in self.columns:
            for metric, value in col.metrics.items():
                rows.append({"column": col.column, "kind": col.kind, "metric": metric,
                             "imputer": value, "baseline": col.baseline[metric]})
        return pd.DataFrame(rows)


def score_column(column: str, categorical: bool, real: pd.Series, imputed: pd.Series,
                 fit_values: pd.Series) -> ColumnQuality:
    """Score one column's imputation and the trivial baseline (mean / majority of the fit rows)."""
    observed = real.notna().to_numpy()
    real, imputed = real[observed], imputed[observed]
    if categorical:
        real, imputed = real.astype(str), imputed.astype(str)
        majority = fit_values.dropna().astype(str).mode().iloc[0]
        baseline = pd.Series(majority, index=real.index)
        metrics = {"accuracy": accuracy_score(real, imputed),
                   "macro_f1": f1_score(real, imputed, average="macro", zero_division=0)}
        base = {"accuracy": accuracy_score(real, baseline),
                "macro_f1": f1_score(real, baseline, average="macro", zero_division=0)}
        kind = "categorical"
    else:
        real, imputed = real.astype(float), imputed.astype(float)
        baseline = np.full(len(real), pd.to_numeric(fit_values, errors="coerce").mean())

        def numeric(pred: np.ndarray) -> dict[str, float]:
            return {"mae": mean_absolute_error(real, pred),
                    "rmse": float(np.sqrt(mean_squared_error(real, pred))),
                    "r2": r2_score(real, pred) if len(real) > 1 else float("nan")}

        metrics, base, kind = numeric(imputed.to_numpy()), numeric(baseline), "numeric"
    return ColumnQuality(column, kind, int(observed.sum()),
                         {k: float(v) for k, v in metrics.items()}, {k: float(v) for k, v in base.items()})


def quality_report(imputer_name: str, spec: TableSpec, fit_rows: pd.DataFrame, holdout: pd.DataFrame,
                   holdout_imputed: pd.DataFrame) -> QualityReport:
    report = QualityReport(imputer_name, len(fit_rows), len(holdout))
    for column in spec.sensitive:
        report.columns.append(score_column(column, spec.is_categorical(column), holdout[column],
                                           holdout_imputed[column], fit_rows[column]))
    return report
