"""This tab's session: its starting values, the table it works on, and its work kept in this server's memory so that a
reload brings it back.

Everything a user chose or uploaded lives in ``st.session_state`` (one per browser tab), so two tabs never see each
other's data.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard.defaults import DEFAULTS, follow_table_delta
from dashboard.roles import ROLE_KEYS, suggest_roles
from dashboard.tables import Table

SESSION_PARAM = "session"
"""The URL query parameter naming this tab's kept session: a reload of the page (or the link) brings it back."""
KEPT_SESSIONS = 32
"""Sessions this server keeps for a reload, the least recently used forgotten first."""
KEPT_FOR_S = 12 * 3600
"""A session not used for this long is forgotten."""
KEPT_KEYS = (*DEFAULTS, *ROLE_KEYS, "table", "support_table", "records", "job", "audit_results", "eps_range",
             "target_kind", "suggested_target", "target_low", "target_high", "target_delimiter", "sample",
             "last_sample", "last_support", "curve_metric", "delta_auto")
"""What a reload keeps: the table, roles, settings, training job and results (not the uploader widgets, which a
browser cannot be given a file back in)."""
RESUMED = "Your session is back after the reload: table, column roles, settings and results."
EXPIRED = ("This link's session is no longer kept on this server (the server restarted, or the session was unused "
           "for 12 hours): load the table again. A run config downloaded from Results loads its roles and settings "
           "back on the Columns page.")


@dataclass
class KeptSession:
    """A tab's work, kept in this server's memory (never on disk) under its link's ``SESSION_PARAM``."""

    values: dict[str, Any]
    owner: str
    """The browser session that last wrote it: another one writing the same link forks its own."""
    saved: float


_kept: OrderedDict[str, KeptSession] = OrderedDict()
_kept_lock = threading.Lock()


def _session_id() -> str:
    """This browser session's own id (a reload starts a new session, hence a new id)."""
    return st.session_state.setdefault("session_id", secrets.token_hex(8))


def resume_session() -> None:
    """Give this tab a link that brings its work back after a reload, and bring it back when the link names one.

    Streamlit starts a new, empty session on every reload; the values of ``KEPT_KEYS`` are kept in this server's
    memory under a random token in the URL, so the new session takes them over (a training job goes on in its
    thread meanwhile). Whoever has the link can resume the session, as with any session link.
    """
    if "session_token" not in st.session_state:
        token = st.query_params.get(SESSION_PARAM)
        with _kept_lock:
            kept = _kept.get(token) if token else None
            if kept is not None:
                kept.owner = _session_id()
        if kept is not None:
            st.session_state.update(kept.values)
            st.session_state.session_note = RESUMED
        else:
            st.session_state.session_note = EXPIRED if token else None
            token = secrets.token_urlsafe(16)
        st.session_state.session_token = token
    if st.query_params.get(SESSION_PARAM) != st.session_state.session_token:
        st.query_params[SESSION_PARAM] = st.session_state.session_token


def keep_session() -> None:
    """Keep this tab's work for a reload (``resume_session``); called after every run of the script."""
    token = st.session_state.get("session_token")
    if token is None:
        return
    values = {key: st.session_state[key] for key in KEPT_KEYS if key in st.session_state}
    me, now = _session_id(), time.monotonic()
    with _kept_lock:
        kept = _kept.get(token)
        if kept is not None and kept.owner != me:  # another tab opened this link: each keeps its own work
            token = st.session_state.session_token = secrets.token_urlsafe(16)
            st.query_params[SESSION_PARAM] = token
        _kept[token] = KeptSession(values, me, now)
        _kept.move_to_end(token)
        for stale in [key for key, session in _kept.items() if now - session.saved > KEPT_FOR_S]:
            del _kept[stale]
        while len(_kept) > KEPT_SESSIONS:
            _kept.popitem(last=False)


def init_state() -> None:
    """Fill in defaults once per session; widgets then read and write these keys."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    st.session_state.setdefault("table", None)
    st.session_state.setdefault("support_table", None)
    st.session_state.setdefault("records", [])
    st.session_state.setdefault("job", None)


def set_table(table: Table) -> str | None:
    """Make ``table`` the current dataset; return a message when this switches datasets mid-way.

    Training settings are kept. Column roles are kept when every tagged column exists in the
    new table, otherwise they are reset to suggestions; results of the old table are cleared.
    """
    old: Table | None = st.session_state.table
    if old is not None and old.digest == table.digest:
        return None
    st.session_state.table = table
    st.session_state.records = []
    st.session_state.job = None
    tagged = [st.session_state.get("target"), st.session_state.get("text_column"),
              *st.session_state.get("sensitive", []),
              *st.session_state.get("ignore", []), *st.session_state.get("categorical", [])]
    keep = (old is not None and table.spec is None and not table.text_roles
            and all(c in table.frame.columns for c in tagged if c))
    if not keep:
        st.session_state.update(suggest_roles(table))
    st.session_state.declared_values = table.declared_values
    follow_table_delta(len(table.frame))
    if old is None:
        return None
    roles = "kept (every tagged column exists in the new table)" if keep else "reset to suggestions for the new table"
    return (f"Switched dataset from {old.name} to {table.name}. Column roles were {roles}; training settings "
            "were kept; results of the previous table were cleared.")


def forget_sample_choice() -> None:
    """The uploader's callback: a new upload replaces the sample, so the sample chooser stops naming one."""
    st.session_state.sample = st.session_state.last_sample = None
