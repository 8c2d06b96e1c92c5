"""tests.pages reads a page's figures the same whichever JSON serializer plotly used (orjson or the standard
library's json, which writes ε as \\u03b5): the report tests that rely on it then hold on every machine."""

from __future__ import annotations

import importlib.util

import plotly.graph_objects as go
import plotly.io as pio
import pytest

from tests.pages import plotly_figures, readable, title

ENGINES = ["json", *(["orjson"] if importlib.util.find_spec("orjson") else [])]


def _page(engine: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(pio.json.config, "default_engine", engine)
    first = go.Figure(go.Scatter(x=[1, 2], y=[0.5, 0.7], name="fusiondp </b> ± 0.01", hovertemplate="ε = %{x}"))
    first.update_layout(title="R² vs ε (mean ± sd)", yaxis_title="R² on real test rows")
    second = go.Figure(go.Bar(x=["a"], y=[1]))
    second.update_layout(title={"text": "AUROC / accuracy"})
    body = "".join(figure.to_html(full_html=False, include_plotlyjs=False) for figure in (first, second))
    return f"<html><body><h1>Report &amp; ε</h1>{body}<p>after</p></body></html>"


@pytest.mark.parametrize("engine", ENGINES)
def test_figures_decode_whichever_serializer_wrote_them(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    page = _page(engine, monkeypatch)
    if engine == "json":
        assert "R² vs ε" not in page, "the standard library escapes non-ASCII: a raw search would miss it"
    figures = plotly_figures(page)
    assert [title(figure) for figure in figures] == ["R² vs ε (mean ± sd)", "AUROC / accuracy"]
    assert figures[0]["layout"]["yaxis"]["title"]["text"] == "R² on real test rows"
    assert figures[0]["data"][0]["name"] == "fusiondp </b> ± 0.01"


@pytest.mark.parametrize("engine", ENGINES)
def test_readable_keeps_the_html_and_decodes_the_figures(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = readable(_page(engine, monkeypatch))
    for shown in ("R² vs ε (mean ± sd)", "R² on real test rows", "fusiondp </b> ± 0.01", "ε = %{x}",
                  "AUROC / accuracy"):
        assert shown in text, shown
    assert "<h1>Report &amp; ε</h1>" in text and text.endswith("<p>after</p></body></html>")
    assert "\\u" not in text and "Plotly.newPlot(" in text
    assert plotly_figures("<p>no figure</p>") == [] and readable("<p>no figure</p>") == "<p>no figure</p>"
