"""Read a generated HTML page for its content, not for how a serializer spelt it.

plotly writes each figure into the page as JSON, and how that JSON spells text depends on the serializer that
happens to be installed: with ``orjson`` an ε stays an ε, with the standard library's ``json`` it becomes
``\\u03b5``, and either way ``<``, ``>`` and ``/`` become ``\\u003c``, ``\\u003e`` and ``\\u002f``. A test that
searches the page's raw text for a figure's title passes on one machine and fails on the next. These helpers
decode the figures' JSON, so a test asks about what the reader sees.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

_NEW_PLOT = re.compile(r"Plotly\.newPlot\(\s*")
_DECODER = json.JSONDecoder()


def _arguments(page: str, start: int) -> tuple[list[Any], int]:
    """The JSON arguments of one ``Plotly.newPlot(`` call that opens at ``start``, and where the call ends."""
    arguments, position = [], start
    while True:
        value, position = _DECODER.raw_decode(page, position)
        arguments.append(value)
        while page[position].isspace():
            position += 1
        if page[position] == ")":
            return arguments, position + 1
        if page[position] != ",":
            raise ValueError(f"unexpected {page[position]!r} in a Plotly.newPlot call at {position}")
        position += 1
        while page[position].isspace():
            position += 1


def _calls(page: str) -> Iterator[tuple[int, int, list[Any]]]:
    for match in _NEW_PLOT.finditer(page):
        arguments, end = _arguments(page, match.end())
        yield match.end(), end, arguments


def plotly_figures(page: str) -> list[dict[str, Any]]:
    """Each figure drawn in ``page``, decoded: ``{"data": [...], "layout": {...}}`` in page order."""
    figures = []
    for _, _, arguments in _calls(page):
        # Plotly.newPlot(div_id, data, layout, config)
        figures.append({"data": arguments[1], "layout": arguments[2] if len(arguments) > 2 else {}})
    return figures


def strings(value: Any) -> Iterator[str]:
    """Every string value inside decoded JSON (keys left out), depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def title(figure: dict[str, Any]) -> str:
    """A decoded figure's title text ('' when it has none)."""
    found = figure["layout"].get("title", "")
    return found.get("text", "") if isinstance(found, dict) else str(found)


def readable(page: str) -> str:
    """``page`` with each figure's JSON replaced by the figure's decoded strings, one a line.

    The rest of the page (the HTML the project writes itself) is left as it is, escapes included, so ``text in
    readable(page)`` finds a figure's title, axis label or hover text whichever JSON serializer wrote it, and
    ``text not in readable(page)`` cannot pass because a serializer escaped the text.
    """
    pieces, done = [], 0
    for start, end, arguments in _calls(page):
        pieces.append(page[done:start])
        pieces.append("\n".join(text for argument in arguments[1:] for text in strings(argument)))
        pieces.append(")")
        done = end
    pieces.append(page[done:])
    return "".join(pieces)
