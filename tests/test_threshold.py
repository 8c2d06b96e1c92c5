"""The decision threshold of a binary model: chosen on the imputed validation rows, not a fixed 0.5."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from fusiondp.config import RunConfig
from fusiondp.metrics import THRESHOLD_RULE, binary_metrics, f1_threshold
from fusiondp.preparation import prepare
from fusiondp.runs import train_run
from fusiondp.spec import TableSpec
from fusiondp.train.loop import predict_proba
from fusiondp.verdicts import threshold_note


@pytest.mark.parametrize("seed", range(20))
def test_f1_threshold_reaches_the_best_f1_of_any_cut(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(5, 60))
    y = (rng.random(rows) < rng.uniform(0.05, 0.5)).astype(int)
    y[0] = 1
    prob = np.round(rng.beta(1, 4, rows) + 0.2 * y * rng.random(rows), 2)  # ties, and mostly below 0.5
    chosen = f1_threshold(y, prob)
    best = max(f1_score(y, prob >= cut, zero_division=0) for cut in [*np.unique(prob), np.inf])
    assert f1_score(y, prob >= chosen, zero_division=0) == pytest.approx(best)


def test_f1_threshold_cuts_halfway_between_scores_and_falls_back_to_one_half() -> None:
    assert f1_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(0.25)
    assert f1_threshold(np.array([0, 0, 0]), np.array([0.1, 0.2, 0.3])) == 0.5
    assert f1_threshold(np.array([], dtype=int), np.array([])) == 0.5


@pytest.fixture(scope="module")
def prepared(sample_spec: TableSpec):
    from tests.conftest import SAMPLE_CSV

    return prepare(RunConfig.build(data=str(SAMPLE_CSV), spec=sample_spec, imputer="gbdt", epochs=2))


def test_a_binary_run_scores_accuracy_and_f1_at_the_validation_threshold(prepared) -> None:
    """The sample's positive class is a minority (16%): at 0.5 a short run never flags it, at the chosen one it does."""
    from fusiondp.runs import fit_run

    record, model = fit_run(prepared, "fusiondp", 0)
    tensors = prepared.for_mode("fusiondp").tensors.with_channels()  # the views (and encoding) fusiondp's model reads
    threshold = f1_threshold(tensors.y_val.cpu().numpy(), predict_proba(model, tensors.x_val_hybrid))
    assert record.metrics["threshold"] == threshold != 0.5
    test = binary_metrics(tensors.y_test.cpu().numpy(), predict_proba(model, tensors.x_test), threshold)
    assert {k: record.metrics[k] for k in test} == pytest.approx(test, nan_ok=True)
    assert record.metrics["f1"] > binary_metrics(tensors.y_test.cpu().numpy(),
                                                 predict_proba(model, tensors.x_test))["f1"]
    note = threshold_note([record, train_run(prepared, "sgd_pub", 0)])
    assert note is not None and THRESHOLD_RULE in note and "AUROC" in note.split(".")[0]
