"""``numeric_encoding: auto``: one imputation, each mode trained at the encoding the fair protocol chose for it.

The property: under ``auto`` a mode's tensors, model, record and ledger are exactly what a run naming that mode's
encoding gives (same split, imputer and reproducible noise), so ``auto`` is "each mode at its own", not a third
encoding and not a second imputation; and the answer then carries no encoding caveat, while a run naming one
encoding for every mode does.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fusiondp.comparison import comparison_lines
from fusiondp.config import RunConfig
from fusiondp.preparation import prepare
from fusiondp.prepared import PreparedData
from fusiondp.runs import fit_run
from fusiondp.spec import TableSpec
from fusiondp.train.settings import PROTOCOL_ENCODINGS
from tests.conftest import SAMPLE_CSV

OWN = {"fusiondp": "quantile", "dpsgd": "standard", "feature_dp": "standard", "sgd_ori": "standard"}


@pytest.fixture(scope="module")
def prepared(sample_spec: TableSpec) -> dict[str, PreparedData]:
    """The sample prepared under ``auto`` and under each encoding named for every mode."""
    base = dict(data=str(SAMPLE_CSV), spec=sample_spec, imputer="gbdt", epochs=1, epsilon=2.0,
                reproducible_noise=True, modes=["fusiondp", "dpsgd", "feature_dp"])
    return {encoding: prepare(RunConfig.build(**base, numeric_encoding=encoding))
            for encoding in ("auto", "standard", "quantile")}


def _same_tensors(one: PreparedData, other: PreparedData) -> bool:
    a, b = one.tensors, other.tensors
    return all(torch.equal(getattr(a, name), getattr(b, name)) for name in
               ("x_real", "x_hybrid", "x_blank", "x_reference", "x_test", "support_real", "support_reference")) and \
        torch.equal(a.channels.train, b.channels.train) and torch.equal(a.channels.test, b.channels.test)


def test_auto_is_the_default_and_follows_the_protocol() -> None:
    assert RunConfig().numeric_encoding == "auto"
    assert {mode: PROTOCOL_ENCODINGS.get(mode, "standard") for mode in OWN} == OWN


def test_each_mode_reads_the_tensors_of_its_own_encoding(prepared: dict[str, PreparedData]) -> None:
    """A mode's view of the ``auto`` preparation is the preparation naming its encoding, tensors and λ alike; the two
    encodings differ on this table (else the equality would prove nothing), and the imputation is one."""
    auto = prepared["auto"]
    assert sorted(auto.views) == ["quantile", "standard"]
    assert not _same_tensors(prepared["standard"], prepared["quantile"])
    for mode, encoding in OWN.items():
        view = auto.for_mode(mode)
        assert view.config.numeric_encoding == encoding and view.encoder.numeric == encoding
        assert _same_tensors(view, prepared[encoding]), mode
        assert view.shrinkage == prepared[encoding].shrinkage
        assert view.hybrid_train is auto.hybrid_train and view.fitted_imputer is auto.fitted_imputer
        assert view.for_mode(mode) is view, "resolving twice changes nothing"
    assert prepared["standard"].for_mode("fusiondp") is prepared["standard"], "a named encoding serves every mode"


@pytest.mark.slow
def test_auto_trains_each_mode_as_a_run_naming_its_encoding(prepared: dict[str, PreparedData]) -> None:
    """Records, ledgers (C follows the level chosen for the mode's encoding) and metrics of ``auto`` are those of the
    run naming each mode's encoding; the answer then has no caveat, and the all-z-scores run has one for fusiondp."""
    auto_records, standard_records = [], []
    for mode, encoding in OWN.items():
        record = fit_run(prepared["auto"], mode, 0)[0]
        twin = fit_run(prepared[encoding], mode, 0)[0]
        assert record.config["numeric_encoding"] == encoding
        assert record.metrics == twin.metrics, mode
        unique = {"sampling_group": None}  # each training its own
        assert dataclasses.asdict(record.privacy) | unique == dataclasses.asdict(twin.privacy) | unique, mode
        auto_records.append(record)
        standard_records.append(record if encoding == "standard" else fit_run(prepared["standard"], mode, 0)[0])
    lambdas = {column: round(value, 4) for column, value in prepared["quantile"].shrinkage.items()}
    assert lambdas != {column: round(value, 4) for column, value in prepared["standard"].shrinkage.items()}
    assert all(r.imputer["reference_shrinkage"] == lambdas for r in auto_records), "fusiondp's λ in every record"
    fusiondp = next(r for r in auto_records if r.mode == "fusiondp")
    assert fusiondp.privacy.max_grad_norm == pytest.approx(max(1.8, 3.0 / fusiondp.privacy.sigma))
    (_, trained_at) = comparison_lines(auto_records)  # the answer at ε 2, then what each mode trained at
    assert trained_at == ("Each mode trained at: dpsgd 1 epoch, cosine rate, z-scores, C = max(1.8, 12/σ); feature_dp "
                          "1 epoch, constant rate, z-scores, C = max(1.8, 3/σ); fusiondp 1 epoch, constant rate, "
                          "normal scores, C = max(1.8, 3/σ).")
    lines = comparison_lines(standard_records)
    assert len(lines) == 3 and "fusiondp read z-scores (standard)" in lines[1]
    assert "fusiondp 1 epoch, constant rate, z-scores, C = max(1.8, 12/σ)." in lines[2]
