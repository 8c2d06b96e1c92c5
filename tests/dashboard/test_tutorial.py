"""Tutorial mode and the glossary: the sample table, one explanation per page, tooltips from fusiondp.glossary."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from fusiondp import RunConfig
from fusiondp.glossary import TUTORIAL, epsilon_bands_markdown, epsilon_reading, glossary_markdown, help_text
from fusiondp.train.settings import NOISE_LEVEL

pytestmark = pytest.mark.slow
PAGES = {"data": "views/data.py", "columns": "views/columns.py", "imputation": "views/imputation.py",
         "train": "views/train.py", "results": "views/results.py", "about": "views/about.py"}


def boxes(at: AppTest) -> list[str]:
    return [box.value for box in at.info if box.value in TUTORIAL.values()]


def test_tutorial_mode_loads_the_sample_and_explains_every_page(app: AppTest) -> None:
    assert app.session_state.table is None and not boxes(app)
    at = app.toggle(key="tutorial").set_value(True).run()
    assert not at.exception
    assert at.session_state.table.name == "sample_data/nhanes_diabetes.csv"
    assert at.session_state.target == "diabetes", "the sample comes with its roles"
    for step, page in PAGES.items():
        at = at.switch_page(page).run()
        assert not at.exception and not at.error, step
        assert boxes(at) == [TUTORIAL[step]], step
    at = at.toggle(key="tutorial").set_value(False).run()
    assert not boxes(at) and at.session_state.table.name == "sample_data/nhanes_diabetes.csv"


def test_train_explains_its_controls_with_the_glossary(app: AppTest) -> None:
    at = app.toggle(key="tutorial").set_value(True).run().switch_page(PAGES["train"]).run()
    assert at.slider(key="alpha").help == help_text("alpha")
    assert at.slider(key="beta").help == help_text("beta")
    assert at.slider(key="max_grad_norm").help == help_text("clip")
    # by default C loosens as ε grows at each mode's own noise level (no slider); one level shows the slider, and a
    # fixed C hides it again
    assert at.session_state.clip_rule == "auto" and RunConfig().noise_level == "auto"
    assert not [s for s in at.slider if s.key == "noise_level"]
    assert any("12 for dpsgd, 3 for feature_dp, 3 for fusiondp, 6 for naive_fusion" in c.value for c in at.caption)
    assert at.radio(key="numeric_encoding").value == RunConfig().numeric_encoding == "auto"
    standard = at.radio(key="numeric_encoding").set_value("standard").run()  # fusiondp at z-scores: its level there
    assert any("12 for dpsgd, 3 for feature_dp, 12 for fusiondp, 6 for naive_fusion" in c.value
               for c in standard.caption)
    at = standard.radio(key="numeric_encoding").set_value("auto").run()
    one = at.radio(key="clip_rule").set_value("noise_level").run()
    assert one.slider(key="noise_level").help == help_text("noise_level")
    assert one.slider(key="noise_level").value == NOISE_LEVEL
    fixed = one.radio(key="clip_rule").set_value("fixed").run()
    assert not fixed.exception and fixed.slider(key="max_grad_norm").value == RunConfig().max_grad_norm
    assert not [s for s in fixed.slider if s.key == "noise_level"]
    # each mode trains for its own epochs until the slider moves, which sets one count for every mode
    assert at.checkbox(key="epochs_auto").value and at.checkbox(key="epochs_auto").help == help_text("epochs")
    moved = at.slider(key="epochs").set_value(5).run()
    assert not moved.exception and not moved.checkbox(key="epochs_auto").value
    at = moved.checkbox(key="epochs_auto").check().run()
    assert at.checkbox(key="epochs_auto").value and at.slider(key="epochs").value == 5
    assert at.radio(key="lr_schedule").help == help_text("lr_schedule")
    assert at.radio(key="lr_schedule").value == RunConfig().lr_schedule == "auto"
    assert at.number_input(key="delta").help == help_text("delta")
    accountant = at.selectbox(key="accountant").help
    assert all(help_text(key) in accountant for key in ("accountant", "rdp", "prv", "pld"))
    assert help_text("epsilon") in at.select_slider(key="eps_range").help
    glossary = next(e for e in at.expander if e.label.startswith("What do ε, δ, α, β, C"))
    assert glossary.markdown[0].value.startswith("- **ε (epsilon")
    assert any(m.value.endswith(f"[{epsilon_reading(4.0)}]") for m in at.markdown), "the band of the default grid"


def test_about_reads_epsilon_with_the_same_bands_and_shows_the_glossary(app: AppTest) -> None:
    at = app.switch_page(PAGES["about"]).run()
    shown = [m.value for m in at.markdown]
    assert epsilon_bands_markdown() in shown and glossary_markdown() in shown

