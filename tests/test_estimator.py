"""The scikit-learn style estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fusiondp.errors import DataError, SpecError
from fusiondp.estimator import FusionDPClassifier

SENSITIVE = ["age", "gender", "race_ethnicity", "education", "marital_status", "income_poverty_ratio"]


def test_fit_predict_and_ledger(sample_table: pd.DataFrame) -> None:
    X, y = sample_table.drop(columns=["diabetes"]), sample_table["diabetes"]
    train, test = slice(0, 3500), slice(3500, None)
    clf = FusionDPClassifier(epsilon=2.0, epochs=2, imputer="gbdt").fit(X[train], y[train], sensitive=SENSITIVE)
    proba = clf.predict_proba(X[test])
    assert proba.shape == (len(X[test]), 2) and np.allclose(proba.sum(1), 1)
    assert set(clf.predict(X[test])) <= {"No", "Yes"} and list(clf.classes_) == ["No", "Yes"]
    assert clf.epsilon_spent_ <= 2.0 and clf.noise_multiplier_ > 0 and len(clf.history_) == 2
    assert clf.imputer_used_ == "gbdt" and clf.privacy_["accountant"] == "rdp"
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y[test] == "Yes", proba[:, 1]) > 0.65


def test_estimator_errors_are_actionable(sample_table: pd.DataFrame) -> None:
    X, y = sample_table.drop(columns=["diabetes"]), sample_table["diabetes"]
    with pytest.raises(DataError, match="DataFrame"):
        FusionDPClassifier().fit(X.to_numpy(), y, sensitive=["age"])
    with pytest.raises(SpecError, match="not in the table"):
        FusionDPClassifier().fit(X, y, sensitive=["agee"])
