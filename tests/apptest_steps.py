"""Steps the dashboard's AppTest tests share: train from the Train page and wait for the worker thread."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest


def wait_for_training(at: AppTest, timeout: float = 120) -> AppTest:
    """Rerun the script (as the page's polling fragment would) until the worker thread is done."""
    deadline = time.monotonic() + timeout
    while not at.session_state.job.done:
        assert time.monotonic() < deadline, "training did not finish in time"
        time.sleep(0.3)
    return at.run()


def train_on_page(at: AppTest, modes: list[str], eps_range: tuple[float, float] = (1.0, 1.0),
                  epochs: int = 1, seeds: int = 1) -> AppTest:
    """On the Train page: choose ``modes``, the ε range, the epochs and the seeds (one by default: the dashboard's
    three triple every training), press Train and wait for the models."""
    at.multiselect(key="modes").set_value(modes).run()
    at.select_slider(key="eps_range").set_value(eps_range).run()
    at.slider(key="epochs").set_value(epochs).run()
    at.number_input(key="n_seeds").set_value(seeds).run()
    return wait_for_training(at.button(key="train").click().run())
