"""Plotly figures in notebooks that also read outside Jupyter (nbconvert's HTML, GitHub, a plain viewer).

``static_fallback()`` makes every plotly figure a notebook displays carry two forms: plotly's own
JSON, drawn interactively wherever a plotly renderer runs (JupyterLab, Notebook 7, VS Code), and
a PNG, which is what nbconvert's HTML and other viewers without JavaScript show instead of a
blank cell. ``show_static`` displays the PNG alone: beside an ipywidgets control, whose live
output only a running kernel draws. The PNG is drawn by kaleido with a local Chrome or Chromium
(``pip install kaleido``); without one the figure carries a line saying so.
"""

from __future__ import annotations

import atexit
import logging
import warnings
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer, PlotlyRenderer, PngRenderer

RENDERER = "fusiondp"
"""The plotly renderer ``static_fallback`` registers and makes the default."""

logger = logging.getLogger(__name__)
_server: list[bool] = []


def _start_image_server() -> None:
    """Keep one headless browser for every image of the session (3 s for the first, ~0.3 s for the next)."""
    if _server:
        return
    import kaleido

    kaleido.start_sync_server(silence_warnings=True)
    atexit.register(kaleido.stop_sync_server, silence_warnings=True)
    _server.append(True)


def image_bundle(figure: go.Figure | dict[str, Any]) -> dict[str, Any]:
    """``{"image/png": …}`` for ``figure``, or ``{"text/plain": why not}`` when no image can be drawn here."""
    fig_dict = figure.to_dict() if isinstance(figure, go.Figure) else figure
    try:
        _start_image_server()
        with warnings.catch_warnings():  # "kopts is ignored if using a server": the server has its own
            warnings.simplefilter("ignore", UserWarning)
            return PngRenderer().to_mimebundle(fig_dict)
    except Exception as exc:  # kaleido missing, or no Chrome/Chromium for it: the interactive figure still shows
        logger.info("no static image of the figure: %s", exc)
        return {"text/plain": f"(No static image of this figure: {type(exc).__name__}: {exc}. Install kaleido and "
                              "Chrome or Chromium to have one outside Jupyter.)"}


class InteractiveWithImage(MimetypeRenderer):
    """Plotly's JSON (interactive in Jupyter) and a PNG (everywhere else) in one display bundle."""

    def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, Any]:
        return {**image_bundle(fig_dict), **PlotlyRenderer().to_mimebundle(fig_dict)}


def static_fallback() -> None:
    """Register ``InteractiveWithImage`` as plotly's default renderer for this session (a notebook's first cell)."""
    pio.renderers[RENDERER] = InteractiveWithImage()
    pio.renderers.default = RENDERER


def show_static(figure: go.Figure, caption: str) -> None:
    """Display ``figure`` as a PNG only, under ``caption`` (beside a widget whose live figure needs a kernel)."""
    from IPython.display import Markdown, display

    display(Markdown(caption))
    display(image_bundle(figure), raw=True)
