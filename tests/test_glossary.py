"""The glossary: its reading of ε (each sentence names the odds factor of its own ε), and the ``auto`` knobs described
from the tables they train at."""

from __future__ import annotations

import math
import re

import pytest

from fusiondp.glossary import EPSILON_BANDS, epsilon_bands_markdown, epsilon_reading, odds_factor


@pytest.mark.parametrize("epsilon", [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
def test_the_factor_is_e_to_the_epsilon_shown(epsilon: float) -> None:
    reading = epsilon_reading(epsilon)
    (factor,) = re.findall(r"e\^([\d.]+) ≈ ([\d.,]+(?: × 10\^\d+)?)", reading)
    assert float(factor[0]) == epsilon, "the factor of the ε the sentence is about"
    number = factor[1].replace(",", "")
    mantissa, _, exponent = number.partition(" × 10^")
    value = float(mantissa) * 10 ** int(exponent or 0)
    assert value == pytest.approx(math.exp(epsilon), rel=0.05)


def test_epsilon_four_reads_e_to_the_four() -> None:
    """Issue 29.8: the Train page said e^8 ≈ 3,000 for an ε of 4."""
    assert "e^4 ≈ 55" in epsilon_reading(4.0) and "e^8" not in epsilon_reading(4.0)
    assert odds_factor(8.0) == "e^8 ≈ 3,000" and odds_factor(1.0) == "e^1 ≈ 2.7"


def test_every_band_is_listed_with_the_factor_at_its_top() -> None:
    lines = epsilon_bands_markdown().splitlines()
    assert len(lines) == len(EPSILON_BANDS)
    assert "e^1 ≈ 2.7" in lines[0] and "e^8 ≈ 3,000" in lines[1] and "e^10 ≈ 22,000" in lines[2]


def test_the_auto_knobs_are_described_from_the_protocol_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The glossary, the config's field descriptions and the command line's help name each ``auto`` knob's per-mode
    choice as ``protocol_in_words`` reads it from the tables ``auto`` trains at, and those words follow the tables."""
    from typer.testing import CliRunner

    from fusiondp.cli import app
    from fusiondp.config import RunConfig
    from fusiondp.glossary import help_text
    from fusiondp.train import settings

    words = settings.protocol_in_words()
    assert words["noise_level"] == "12 for dpsgd, 3 for feature_dp, 3 for fusiondp"
    cli_help = " ".join(CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "400"}).output.split())
    for knob, text in words.items():
        assert text in help_text(knob) and text in RunConfig.model_fields[knob].description, knob
        assert text in cli_help, knob
    monkeypatch.setitem(settings.PROTOCOL_EPOCHS, "dpsgd", 30)
    monkeypatch.setitem(settings.PROTOCOL_ENCODINGS, "feature_dp", "quantile")
    moved = settings.protocol_in_words()
    assert moved["epochs"] == "30 for dpsgd, 13 for the others"
    assert moved["numeric_encoding"] == "z-scores for dpsgd, normal scores for feature_dp and fusiondp"
    assert moved["noise_level"] == "12 for dpsgd, 6 for feature_dp, 3 for fusiondp", "feature_dp not measured there"
