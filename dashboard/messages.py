"""How the pages say what the library says: its errors in the app's words (a config key named as the control that sets
it, a missing declaration pointing at the Columns page's box), never a traceback; and the wordings several pages share,
so that one thing reads the same everywhere.
"""

from __future__ import annotations

import re

import streamlit as st

from fusiondp.errors import MissingDeclarations
from fusiondp.verdicts import imputer_headline

LOCAL_NOT_DP = "Not differentially private: computed locally on your own table, for you only"
"""The label beside every view of the raw table (previews, counts, metrics): one wording on every page."""
DECLARED_VALUES_LABEL = "Declared values of each sensitive column (YAML, one line per column)"
"""The Columns page's box for the sensitive columns' values, named by the errors that ask for them."""
APP_CONTROLS = {"support_fraction": "“Public fraction of the table” (Columns page)"}
"""Config keys the library's messages name, as the control the user sees here."""


def in_app_words(text: str) -> str:
    """A library message with each config key it names replaced by its control on these pages (``APP_CONTROLS``)."""
    for key, control in APP_CONTROLS.items():
        text = re.sub(rf"\b{key}\b", control, text)
    return text


def error_message(exc: Exception) -> str:
    """A library error in the app's words: a missing declaration points at the Columns page's box, and a config
    key at its control (``in_app_words``), not at the config keys or the command line's flags."""
    if isinstance(exc, MissingDeclarations):
        lines = "\n".join(f"{column}: {shape}" for column, shape in exc.placeholders().items())
        return (f"{exc.problem()} On the Columns page, write one line per column in “{DECLARED_VALUES_LABEL}”:"
                f"\n```yaml\n{lines}\n```")
    return in_app_words(str(exc))


def show_error(exc: Exception) -> None:
    """Library errors are shown as their message (which says how to fix it), never as a traceback."""
    st.error(error_message(exc), icon="⚠️")


def imputer_line(name: str, reason: str) -> None:
    """Which imputer ran, in one line; the full reason (cache folders, download links) in a "details" expander."""
    headline = imputer_headline(reason)
    st.markdown(f"**Imputer that ran:** `{name}` — {headline}")
    if headline != reason.rstrip("."):
        with st.expander("Details: why this imputer"):
            for part in reason.split("; "):
                st.markdown(f"- {part}")
