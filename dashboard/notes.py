"""The Imputation page for notes: support notes with their spans highlighted, each beside its hybrid note.

Only support notes are shown (their spans are public); the private notes' spans never reach this
page. What is drawn comes from ``fusiondp.text.preview``.
"""

from __future__ import annotations

import json

import streamlit as st

from dashboard import messages
from fusiondp.prepared import PreparedData
from fusiondp.text.preview import SPAN_COLOURS, SupportPreview, highlight_html, support_preview


@st.cache_data(max_entries=8, show_spinner="Refitting the hybrid-note generator on the support notes…")
def _preview(table_hash: str, settings: str, examples: int, _prepared: PreparedData) -> SupportPreview:
    """``support_preview`` keyed on the table's hash, the run's settings and the number of notes shown."""
    return support_preview(_prepared, examples)


def show_preview(prepared: PreparedData) -> None:
    """The generator's choices and quality on the support notes, then a few support notes beside their hybrids."""
    messages.imputer_line("hybrid notes", prepared.imputer.reason)
    st.info("Each private note's **hybrid** replaces its detected spans by surrogates predicted from its public "
            "words, by a generator fitted on the **support notes** only (their spans are public), or by a type "
            "placeholder such as `[NAME]` where nothing predicts the type. Only support notes are shown below; "
            "the private notes' spans are never shown.", icon=":material/edit_note:")
    examples = st.slider("Support notes shown", 1, 10, 3, key="notes_shown", persist_state="session")
    settings = json.dumps(prepared.config.to_dict(), sort_keys=True, default=str)
    preview = _preview(st.session_state.table.digest, settings, examples, prepared)
    st.caption(f"{preview.notes_with_spans} of {preview.support_notes} support notes have a detected span.")
    for note in prepared.notes:
        st.caption(note)
    st.subheader("What stands in for each span type")
    st.table(preview.choices_table(), hide_index=True)  # a table wraps its "why" cells; a data frame cuts them off
    quality = prepared.quality.to_frame()
    if len(quality):
        st.caption(f"The generator scored on the support notes, each predicted by a fit that did not see it "
                   f"({prepared.quality.scored_on()}), beside the majority value:")
        st.dataframe(quality, hide_index=True, width="stretch")
    st.subheader("Support notes: detected spans, and each note's hybrid")
    st.html(" ".join(f'<mark style="background:{colour};padding:0 4px;border-radius:3px">{kind}</mark>'
                     for kind, colour in SPAN_COLOURS.items()))
    if not preview.examples:
        st.warning("No support note has a detected span: the hybrid notes equal the notes, and only the public "
                   "words reach the model.", icon="⚠️")
    for example in preview.examples:
        with st.container(border=True):
            real, hybrid = st.columns(2)
            real.caption(f"Support note {example.row + 1} as written")
            real.html(highlight_html(example.real))
            hybrid.caption("Its hybrid note (surrogates from a fit that did not see it)")
            hybrid.html(highlight_html(example.hybrid))
