"""Privacy preflight: catch what would make feature-level DP void in practice, before training.

Feature-level DP protects the columns tagged sensitive; public columns are released as they
are. If a public column nearly determines a sensitive one (a binned copy of age, a code that
encodes sex), the protection is void. The preflight looks for such proxies and for other
set-up problems, using only public information: the support set (whose sensitive values
are public), the public columns, the labels and the table's size.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from fusiondp.config import RunConfig
from fusiondp.errors import FusionDPError, PrivacyError
from fusiondp.impute.quality import QualityReport
from fusiondp.preparation import split_for, training_spec
from fusiondp.spec import TableSpec
from fusiondp.split import Splits

Severity = Literal["high", "medium", "low"]
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
PROXY_HIGH, PROXY_MEDIUM = 0.9, 0.6
"""Share of a sensitive column's variation one public column explains (R² on values or ranks, or
accuracy gain over the majority class), alone or added to the other public columns, above which it
is flagged."""
PROXY_SCREEN = 0.3
"""A public column must explain this much alone before its imputation gain is fitted (see ``proxy_scores``)."""
GAIN_TREES = 50
"""Boosting rounds of the small imputer that measures a column's gain: a few hundred support rows need no more."""
MAX_CATEGORIES = 250
"""More categories than the histogram model bins (255) are given to it as codes."""
SMALL_CELL = 10
USEFUL_SUPPORT_ROWS = 200
MAX_BINS = 20
IDENTIFYING_NAME = re.compile(
    r"(^|_)(id|ids|identifier|uuid|ssn|mrn|name|first_?name|last_?name|surname|dob|birth|birthdate|zip|zipcode|"
    r"postcode|postal|address|street|phone|email|e_?mail|date|datetime|timestamp)($|_)", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    columns: tuple[str, ...]
    evidence: str
    action: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _bins(values: pd.Series, categorical: bool) -> pd.Series:
    """A public column as at most ``MAX_BINS`` groups (categories, or numeric quantile bins)."""
    if categorical or values.nunique(dropna=True) <= MAX_BINS:
        return values.astype("string").fillna("<missing>")
    numbers = pd.to_numeric(values, errors="coerce")  # bin numbers, not interval labels: the same groups, 20× faster
    return pd.Series(pd.qcut(numbers, MAX_BINS, labels=False, duplicates="drop"), index=values.index).fillna(-1)


def _halves(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(rows)
    return order[: rows // 2], order[rows // 2:]


def _ranks(values: pd.Series) -> pd.Series:
    """A numeric column on its rank scale (share of support values at or below it, missing kept).

    On this scale a heavy tail cannot hide a proxy: decile bins of a length of stay pin each
    value's rank to within 0.1, however wide the top bin is in days.
    """
    return pd.to_numeric(values, errors="coerce").rank(pct=True)


def _group_score(groups: np.ndarray, target: np.ndarray, categorical: bool, seed: int) -> float:
    """Held-out share of ``target``'s variation that the group means (or majorities) explain,
    fitted on one half and scored on the other, both ways: R², or accuracy gain over the majority.

    Counted with ``np.bincount`` over integer codes (a column pair costs microseconds, not a pandas
    group-by); a majority tie goes to the smallest value, as ``Series.mode`` breaks it.
    """
    codes = pd.factorize(groups)[0]
    n_groups = int(codes.max(initial=0)) + 1
    if categorical:
        classes, target_codes = np.unique(target, return_inverse=True)
    scores = []
    halves = _halves(len(target), seed)
    for fit, test in (halves, halves[::-1]):
        seen = np.bincount(codes[fit], minlength=n_groups)
        if categorical:
            k = len(classes)
            counts = np.bincount(codes[fit] * k + target_codes[fit], minlength=n_groups * k).reshape(n_groups, k)
            fallback = int(np.bincount(target_codes[fit], minlength=k).argmax())
            guess = np.where(seen[codes[test]] > 0, counts.argmax(axis=1)[codes[test]], fallback)
            accuracy = float(np.mean(guess == target_codes[test]))
            base = float(np.mean(target_codes[test] == fallback))
            scores.append((accuracy - base) / (1 - base) if base < 1 else 0.0)
        else:
            means = np.bincount(codes[fit], weights=target[fit], minlength=n_groups) / np.maximum(seen, 1)
            guess = np.where(seen[codes[test]] > 0, means[codes[test]], float(np.mean(target[fit])))
            variance = float(np.var(target[test]))
            scores.append(1 - float(np.mean((guess - target[test]) ** 2)) / variance if variance > 0 else 0.0)
    return float(np.clip(np.mean(scores), 0.0, 1.0))


def proxy_strength(public: pd.Series, sensitive: pd.Series, *, public_categorical: bool,
                   sensitive_categorical: bool, seed: int = 0) -> float:
    """How well ``public`` alone predicts ``sensitive`` on held-out rows, in [0, 1].

    Group means (numeric) or majorities (categorical) of the sensitive column per group of the
    public column, scored on held-out rows: accuracy gain over the majority class for a
    categorical target; for a numeric one the larger of R² on its values and R² on its ranks.
    R² on values alone misses a binned copy of a skewed column (the top bin's spread swamps
    the variance); the rank scale measures how well the public column orders the values.
    """
    observed = sensitive.notna().to_numpy()
    if observed.sum() < 20:
        return 0.0
    groups = _bins(public[observed], public_categorical).to_numpy()
    if sensitive_categorical:
        return _group_score(groups, sensitive[observed].astype(str).to_numpy(), True, seed)
    values = pd.to_numeric(sensitive[observed], errors="coerce")
    return max(_group_score(groups, values.to_numpy(float), False, seed),
               _group_score(groups, _ranks(values).to_numpy(float), False, seed))


def _features(support: pd.DataFrame, spec: TableSpec, columns: list[str]) -> tuple[pd.DataFrame, list[bool]]:
    """Public columns and the target as gradient-boosting input: float codes for categories (marked
    categorical unless there are more than the histogram model bins), floats for numbers, NaN kept."""
    frame, categorical = {}, []
    for column in columns:
        values = support[column]
        if spec.is_categorical(column) or not pd.api.types.is_numeric_dtype(values):
            codes = pd.Categorical(values.astype(object).where(values.notna(), None)).codes
            frame[column] = np.where(codes < 0, np.nan, codes.astype(float))
            categorical.append(bool(codes.max(initial=0) < MAX_CATEGORIES))
        else:
            frame[column] = pd.to_numeric(values, errors="coerce").to_numpy(float)
            categorical.append(False)
    return pd.DataFrame(frame, index=support.index), categorical


def _imputation_quality(features: pd.DataFrame, categorical_features: list[bool], target: np.ndarray,
                        categorical: bool, halves: tuple[np.ndarray, np.ndarray], seed: int) -> float:
    """Held-out quality of a small gradient-boosted imputer on ``features``: R² on the rank scale
    (numeric) or accuracy gain over the majority class (categorical), in [0, 1]."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    fit, test = halves
    settings = {"max_iter": GAIN_TREES, "early_stopping": False, "random_state": seed,
                "categorical_features": np.asarray(categorical_features, dtype=bool)}
    if categorical:
        model = HistGradientBoostingClassifier(**settings).fit(features.iloc[fit], target[fit])
        majority = pd.Series(target[fit]).mode().iloc[0]
        base = float(np.mean(target[test] == majority))
        accuracy = float(np.mean(model.predict(features.iloc[test]) == target[test]))
        score = (accuracy - base) / (1 - base) if base < 1 else 0.0
    else:
        model = HistGradientBoostingRegressor(**settings).fit(features.iloc[fit], target[fit])
        variance = float(np.var(target[test]))
        error = float(np.mean((model.predict(features.iloc[test]) - target[test]) ** 2))
        score = 1 - error / variance if variance > 0 else 0.0
    return float(np.clip(score, 0.0, 1.0))


@dataclass(frozen=True)
class ProxyScore:
    """One public column against one sensitive column, on the support set (public information only)."""

    alone: float
    """``proxy_strength``: what the public column alone predicts."""
    without: float | None
    """Held-out imputation quality from the other public columns and the target (``None``: not checked)."""
    with_column: float | None
    """The same with this public column added."""

    @property
    def gain(self) -> float:
        """What releasing this column adds to what the rest of the public data already reveals."""
        return 0.0 if self.without is None or self.with_column is None else max(0.0, self.with_column - self.without)

    @property
    def strength(self) -> float:
        return max(self.alone, self.gain)


def proxy_scores(spec: TableSpec, support: pd.DataFrame, sensitive: str, seed: int = 0) -> dict[str, ProxyScore]:
    """Every public column's ``ProxyScore`` for ``sensitive``.

    Two views, because each misses what the other sees: ``alone`` (a rank or information
    measure of the pair) flags a column that nearly determines the sensitive one even when
    others say the same; the imputation gain flags a column whose information only shows
    combined with the others. The gain costs a model fit, so it is checked only where the
    column alone explains at least ``PROXY_SCREEN``: a column that explains almost nothing
    alone seldom adds most of a sensitive column to the others.
    """
    categorical = spec.is_categorical(sensitive)
    observed = support[support[sensitive].notna()]
    alone = {public: proxy_strength(support[public], support[sensitive], public_categorical=spec.is_categorical(
        public), sensitive_categorical=categorical, seed=seed) for public in spec.public}
    screened = [public for public, score in alone.items() if score >= PROXY_SCREEN]
    if len(observed) < 20 or not screened:
        return {public: ProxyScore(score, None, None) for public, score in alone.items()}
    target = (observed[sensitive].astype(str) if categorical else _ranks(observed[sensitive])).to_numpy()
    inputs = [*spec.public, spec.target]
    features, kinds = _features(observed, spec, inputs)
    halves = _halves(len(observed), seed)
    with_all = _imputation_quality(features, kinds, target, categorical, halves, seed)
    scores = {public: ProxyScore(score, None, None) for public, score in alone.items()}
    for public in screened:
        keep = [column != public for column in inputs]
        without = _imputation_quality(features.loc[:, keep], [k for k, kept in zip(kinds, keep, strict=True) if kept],
                                      target, categorical, halves, seed)
        scores[public] = ProxyScore(alone[public], without, with_all)
    return scores


def _proxy_evidence(spec: TableSpec, support: pd.DataFrame, public: str, sensitive: str, score: ProxyScore) -> str:
    categorical = spec.is_categorical(sensitive)
    measure = "accuracy gain over the majority class" if categorical else "R² (the larger of values and ranks)"
    evidence = (f"On the {len(support)} support rows, public column {public!r} alone predicts sensitive column "
                f"{sensitive!r} with {measure} {score.alone:.2f} on held-out rows")
    if score.without is not None and score.with_column is not None:
        quality = "accuracy gain" if categorical else "R² on the rank scale"
        # "raises … from 1.00 to 1.00" would read as a change that is none: the other columns already carry it.
        evidence += (f"; adding it to the other public columns raises the imputer's held-out {quality} from "
                     f"{score.without:.2f} to {score.with_column:.2f}"
                     if round(score.with_column, 2) > round(score.without, 2) else
                     f"; the other public columns predict it as well without it (the imputer's held-out {quality} is "
                     f"{score.without:.2f} without it, {score.with_column:.2f} with it)")
    return evidence + "."


def _proxy_findings(spec: TableSpec, support: pd.DataFrame) -> list[Finding]:
    findings = []
    for sensitive in spec.sensitive:
        for public, score in proxy_scores(spec, support, sensitive).items():
            if score.strength < PROXY_MEDIUM:
                continue
            findings.append(Finding(
                "high" if score.strength >= PROXY_HIGH else "medium", "proxy", (public, sensitive),
                _proxy_evidence(spec, support, public, sensitive, score),
                f"Public columns are released as they are: {public!r} reveals most of {sensitive!r}. Tag "
                f"{public!r} sensitive too, or drop it (ignore), unless {sensitive!r} is not really sensitive."))
    return findings


def _joint_findings(spec: TableSpec, support: pd.DataFrame, seed: int,
                    report: QualityReport | None = None) -> list[Finding]:
    """How well *all* public columns together predict each sensitive column: the run's cross-fitted
    imputation ``report`` when given, else the offline imputer fitted on part of the support set and
    scored on the rest."""
    if report is None:
        from fusiondp.impute import choose_imputer, quality_report, split_support

        fit_rows, holdout = split_support(support, 0.3, seed)
        imputer = choose_imputer("gbdt").build(spec, seed).fit(fit_rows)
        report = quality_report("gbdt", spec, fit_rows, holdout,
                                imputer.transform(holdout[[*spec.public, spec.target]]))
    findings = []
    for column in report.columns:
        if column.kind == "numeric":
            strength, measure = column.metrics["r2"], "R²"
        else:
            base = column.baseline["accuracy"]
            strength = (column.metrics["accuracy"] - base) / (1 - base) if base < 1 else 0.0
            measure = "accuracy gain over the majority class"
        if strength >= PROXY_HIGH:
            findings.append(Finding(
                "medium", "joint_proxy", (column.column,),
                f"Together, the public columns predict sensitive column {column.column!r} with {measure} "
                f"{strength:.2f} on held-out support rows.",
                f"Little of {column.column!r} stays private once the public columns are released: check whether "
                "some public columns should be tagged sensitive too."))
    return findings


def _identifying_findings(spec: TableSpec, table: pd.DataFrame) -> list[Finding]:
    findings = []
    for column in spec.public:
        values = table[column].dropna()
        reasons = []
        if IDENTIFYING_NAME.search(column):
            reasons.append("its name suggests an identifier, a date or contact details")
        if not pd.api.types.is_numeric_dtype(values) and len(values) > 50 and values.nunique() >= 0.9 * len(values):
            reasons.append(f"{values.nunique()} distinct values in {len(values)} rows (nearly one per row)")
        if reasons:
            findings.append(Finding(
                "low", "identifying", (column,), f"Public column {column!r}: " + "; ".join(reasons) + ".",
                "Identifiers and quasi-identifiers rarely help a model and can single out people: ignore the "
                "column unless it is needed (dismiss this if it is harmless)."))
    return findings


def _support_findings(spec: TableSpec, support: pd.DataFrame) -> list[Finding]:
    findings = []
    if len(support) < USEFUL_SUPPORT_ROWS:
        findings.append(Finding(
            "medium", "small_support", (), f"The support set has {len(support)} rows.",
            f"Imputers are weak below about {USEFUL_SUPPORT_ROWS} support rows, which makes FusionDP's private "
            "correction larger and noisier: supply a larger public table or raise support_fraction."))
    for column in spec.sensitive:
        if not spec.is_categorical(column):
            continue
        counts = support[column].astype("string").value_counts()
        small = counts[counts < SMALL_CELL]
        if len(small):
            findings.append(Finding(
                "low", "small_cells", (column,),
                f"Sensitive column {column!r}: {len(small)} categor{'y' if len(small) == 1 else 'ies'} with fewer "
                f"than {SMALL_CELL} support rows ({', '.join(f'{k!r}: {v}' for k, v in small.items())}).",
                "Rare categories are imputed poorly and their members stand out: consider merging them."))
    return findings


def preflight(table: pd.DataFrame, spec: TableSpec, *, support: pd.DataFrame | None = None,
              config: RunConfig | None = None, splits: Splits | None = None,
              quality: QualityReport | None = None) -> list[Finding]:
    """Findings about ``table`` and ``spec`` before training, most severe first.

    Reads the public columns, the target and the support set only — never the sensitive
    values of the private rows (the support set's sensitive values are public). Pass the
    ``splits`` that training will use (``fusiondp.preparation.split_for``) so that the table is
    split — and a DP-synthetic support set synthesised — once, and the run's cross-fitted
    imputation ``quality`` (``PreparedData.quality``) so that no second imputer is fitted.
    """
    config = (config or RunConfig()).model_copy(update={"spec": spec})
    if spec.target in spec.sensitive:
        return [Finding("high", "target_sensitive", (spec.target,),
                        f"The target {spec.target!r} is tagged sensitive.",
                        "Feature-level DP protects input columns only. To protect the label, train with "
                        "row-level DP-SGD (mode 'dpsgd') and untag the target.")]
    spec.with_roles(table)
    try:
        if splits is None:
            splits = split_for(config, table, support)
        resolved = training_spec(config, splits)
    except FusionDPError as exc:
        return [Finding("high", "split", (), str(exc), "Fix the split settings or the support table first.")]
    findings = _proxy_findings(resolved, splits.support) + _identifying_findings(resolved, table)
    findings += _support_findings(resolved, splits.support) + _joint_findings(resolved, splits.support,
                                                                              config.split_seed, quality)
    n_private = len(splits.train)
    if config.delta is not None and config.delta >= 1 / n_private:  # None: default_delta, below 1/N by design
        findings.append(Finding(
            "high", "delta", (), f"δ = {config.delta:g} is not below 1/N = {1 / n_private:.2g} ({n_private} private "
            "rows): a mechanism that publishes one row at random would meet it.",
            f"Use δ below {1 / n_private:.1g}, e.g. 1e-5 or 1/(10·N)."))
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])


def check_strict(findings: list[Finding]) -> None:
    """``--strict``: refuse to train while a high-severity finding stands."""
    high = [f for f in findings if f.severity == "high"]
    if high:
        raise PrivacyError("Preflight found high-severity problems (strict mode): "
                           + " ".join(f"{f.evidence} {f.action}" for f in high))
