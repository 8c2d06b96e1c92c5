"""Notebook figures carry a static PNG beside plotly's interactive JSON (fusiondp.notebook)."""

from __future__ import annotations

import base64

import plotly.graph_objects as go
import plotly.io as pio
import pytest

from fusiondp import notebook

PLOTLY = "application/vnd.plotly.v1+json"


def test_the_default_renderer_carries_the_interactive_figure_and_a_png(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("kaleido")
    monkeypatch.setattr(pio.renderers, "default", pio.renderers.default)
    notebook.static_fallback()
    figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2]))
    bundle = figure._repr_mimebundle_()
    assert bundle[PLOTLY]["data"][0]["y"] == [3, 1, 2]
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")


def test_without_an_image_backend_the_figure_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_browser() -> None:
        raise RuntimeError("no Chrome found")

    monkeypatch.setattr(notebook, "_start_image_server", no_browser)
    bundle = notebook.InteractiveWithImage().to_mimebundle(go.Figure().to_dict())
    assert PLOTLY in bundle and "image/png" not in bundle
    assert "no Chrome found" in bundle["text/plain"] and "kaleido" in bundle["text/plain"]
