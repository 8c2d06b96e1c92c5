"""The empirical audit detects memorisation when there is some, and none where there can be none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fusiondp.config import RunConfig
from fusiondp.pipeline import fit_run, prepare
from fusiondp.privacy.audit import audit_grid, audit_model
from fusiondp.spec import TableSpec


@pytest.fixture(scope="module")
def memorisable():
    """Labels independent of everything: a model can only do well on training rows by memorising."""
    rng = np.random.default_rng(0)
    n = 900
    table = pd.DataFrame({f"p{i}": rng.normal(size=n) for i in range(8)})
    table["secret"] = rng.choice(["a", "b", "c"], size=n)
    table["y"] = rng.integers(0, 2, size=n)
    spec = TableSpec(target="y", sensitive=("secret",), categorical=("secret",))
    config = RunConfig.build(spec=spec, imputer="gbdt", epochs=150, batch_size=32, lr=0.3, hidden=[128, 64],
                             param_bound=None, support_fraction=0.1, val_fraction=0.1, test_fraction=0.4)
    return prepare(config, table=table)


def test_overfit_model_leaks_membership_and_attributes(memorisable) -> None:
    _, model = fit_run(memorisable, "sgd_ori", 0)
    report = audit_model(memorisable, model, "sgd_ori", rows=300)
    assert report.membership_auc > 0.65
    assert 0 <= report.membership_tpr_at_1pct_fpr <= 1
    (leak,) = report.attribute
    assert leak.advantage > 0.05, leak
    assert 0.2 < leak.imputer_accuracy < 0.5, "the imputer cannot guess an independent attribute"


def test_public_only_model_cannot_leak_attributes(memorisable) -> None:
    _, model = fit_run(memorisable, "sgd_pub", 0)
    (leak,) = audit_model(memorisable, model, "sgd_pub", rows=300).attribute
    assert leak.candidates == 3
    assert abs(leak.advantage) < 0.1


def test_audit_grid_runs_non_private_modes_once(memorisable) -> None:
    table = audit_grid(memorisable, ["sgd_pub", "dpsgd"], [1.0, 4.0], rows=50)
    assert list(table["mode"]) == ["sgd_pub", "dpsgd", "dpsgd"]
    assert table.loc[table["mode"] == "dpsgd", "epsilon_spent"].max() <= 4.0
    assert table["membership_auc"].between(0, 1).all()
