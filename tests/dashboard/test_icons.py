"""Every icon the dashboard draws renders on a machine without an emoji font (the browser walk of issue 29 found
"🔎" and "➡️" drawn as empty boxes in Debian's chromium): icons are Material Symbols, which Streamlit ships."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ICON = re.compile(r"""\bicon=(["'])(?P<icon>.*?)\1""")
EMOJI_IN_TEXT = re.compile("[\U0001F300-\U0001FAFF\u23F3\u2B05\u27A1]")
"""Pictographs that need an emoji font (and the arrows and hourglass Streamlit pages used), outside ``page_icon``."""


def test_dashboard_icons_are_material_symbols() -> None:
    found = []
    for path in sorted((ROOT / "dashboard").rglob("*.py")):
        text = path.read_text()
        found += [(path.name, m["icon"]) for m in ICON.finditer(text)
                  if not m["icon"].startswith(":material/") and m["icon"] not in ("⚠️", "ℹ️")]
        found += [(path.name, line.strip()) for line in text.splitlines()
                  if EMOJI_IN_TEXT.search(line) and "page_icon=" not in line]
    assert found == []
