"""The clip norm that follows σ (issue 28.3): C = max(max_grad_norm, noise_level / σ) per model, exactly a fixed
C of that value, reported as the C the model was trained with, and a fixed C where noise_level is None."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError
from fusiondp.preparation import prepare
from fusiondp.prepared import PreparedData
from fusiondp.runs import fit_runs, with_epsilon


@pytest.fixture(scope="module")
def prepared(sample_spec) -> PreparedData:
    from tests.conftest import SAMPLE_CSV

    return prepare(RunConfig.build(data=str(SAMPLE_CSV), spec=sample_spec, imputer="gbdt", epochs=1,
                                   reproducible_noise=True))


def _replace_config(prepared: PreparedData, **update: object) -> PreparedData:
    return dataclasses.replace(prepared, config=prepared.config.model_copy(update=update))


def _params(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@pytest.mark.slow
def test_a_clip_norm_that_follows_sigma_is_a_fixed_one_of_noise_level_over_sigma(prepared: PreparedData) -> None:
    """Each ε of a curve gets C = max(max_grad_norm, noise_level / σ): the floor where σ is large, σ·C =
    noise_level where it is small (C grows with ε); the ledger reports that C; and the model is the one a fixed
    C of that value trains (same seed, same noise)."""
    rule = _replace_config(prepared, max_grad_norm=1.0, noise_level=3.0)
    fitted = fit_runs(rule, "fusiondp", 0, [0.2, 1.0, 4.0])
    ledgers = [record.privacy for record, _ in fitted]
    assert ledgers[0].sigma > 3.0 and ledgers[0].max_grad_norm == 1.0, "σ·C would fall below 3 at the floor"
    assert [ledger.sigma * ledger.max_grad_norm for ledger in ledgers[1:]] == pytest.approx([3.0, 3.0])
    assert ledgers[2].max_grad_norm > ledgers[1].max_grad_norm > 1.0, "less noise per unit of C at a larger ε"
    for (record, model), epsilon in list(zip(fitted, (0.2, 1.0, 4.0), strict=True))[::2]:
        fixed = _replace_config(with_epsilon(prepared, epsilon), max_grad_norm=record.privacy.max_grad_norm,
                                noise_level=None)
        (twin_record, twin), = fit_runs(fixed, "fusiondp", 0, [epsilon])
        assert twin_record.privacy.sigma == pytest.approx(record.privacy.sigma)
        assert torch.allclose(_params(model), _params(twin), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_fixed_clip_norm_stays_fixed_across_epsilon(prepared: PreparedData) -> None:
    fixed = _replace_config(prepared, max_grad_norm=1.8, noise_level=None)
    assert [record.privacy.max_grad_norm for record, _ in fit_runs(fixed, "dpsgd", 0, [1.0, 4.0])] == [1.8, 1.8]


def test_the_rule_reads_its_two_knobs() -> None:
    settings = RunConfig.build(max_grad_norm=1.8, noise_level=6.0).train_settings()
    assert settings.clip_norm(6.0, "fusiondp") == 1.8 and settings.clip_norm(0.5, "dpsgd") == pytest.approx(12.0)
    assert RunConfig.build(noise_level=None).train_settings().clip_norm(0.5, "dpsgd") == RunConfig().max_grad_norm
    with pytest.raises(ValueError, match="positive noise multiplier"):
        settings.clip_norm(0.0, "fusiondp")


@pytest.mark.parametrize(("mode", "encoding", "level"), [
    ("dpsgd", "standard", 12.0), ("feature_dp", "standard", 3.0), ("fusiondp", "standard", 12.0),
    ("fusiondp", "quantile", 3.0), ("naive_fusion", "standard", 6.0), ("dpsgd", "quantile", 6.0),
    ("fusiondp", "auto", 3.0), ("dpsgd", "auto", 12.0), ("feature_dp", "auto", 3.0), ("naive_fusion", "auto", 6.0)])
def test_auto_gives_each_mode_the_noise_level_the_protocol_chose(mode: str, encoding: str, level: float) -> None:
    """The default ``auto`` clips each private mode at the level the protocol chose for it at the encoding it reads
    (``PROTOCOL_NOISE_LEVELS``; under ``numeric_encoding: auto`` its own; a mode or encoding not compared at
    ``NOISE_LEVEL``); a level set in the config applies to every mode alike."""
    auto = RunConfig.build(numeric_encoding=encoding).train_settings()
    assert RunConfig().noise_level == "auto"
    assert auto.noise_level_for(mode) == level
    assert auto.clip_norm(0.25, mode) == pytest.approx(level / 0.25) and auto.clip_norm(10.0, mode) == 1.8
    assert RunConfig.build(noise_level=4.0).train_settings().clip_norm(0.25, mode) == pytest.approx(16.0)


@pytest.mark.parametrize("bad", [0, -1, "high", float("inf"), float("nan"), True])
def test_a_noise_level_that_is_not_one_is_a_single_config_error(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"noise_level: got .*'auto' \(each mode at the level the protocol chose"):
        RunConfig.build(noise_level=bad)


@pytest.mark.slow
def test_one_run_clips_each_mode_at_its_own_level_and_reports_it(prepared: PreparedData) -> None:
    """At an ε where σ·C would fall below both levels, dpsgd's ledger reports C = 12 / σ and feature_dp's C = 3 / σ
    from one run under ``auto``; each record's config keeps ``auto``, so it reproduces every mode."""
    auto = _replace_config(prepared, noise_level="auto", max_grad_norm=0.5)
    for mode, level in (("dpsgd", 12.0), ("feature_dp", 3.0)):
        (record, _), = fit_runs(auto, mode, 0, [8.0])
        assert record.privacy.sigma * 0.5 < level
        assert record.privacy.max_grad_norm == pytest.approx(level / record.privacy.sigma)
        assert record.config["noise_level"] == "auto"


def test_fixed_clip_unsets_a_config_files_noise_level(tmp_path) -> None:
    """``fusiondp run --fixed-clip`` gives the C of configs saved before the rule, even over a config file that names
    a noise level (a flag left out is None, so only ``unset`` can say "none"); beside --noise-level it is one error
    line (``tests/test_cli_errors.py``)."""
    from fusiondp.cli.options import _build_config

    config = tmp_path / "config.yaml"
    config.write_text("noise_level: 3.0\nmax_grad_norm: 2.5\n")
    assert _build_config(config, {"noise_level": None}).noise_level == 3.0
    fixed = _build_config(config, {"noise_level": None}, unset=("noise_level",))
    assert fixed.noise_level is None and fixed.train_settings().clip_norm(0.1, "dpsgd") == 2.5
