"""Step 2: tag columns (target / sensitive / public / ignore), their types, and the support set."""

from __future__ import annotations

import contextlib

import pandas as pd
import streamlit as st

from dashboard import caches, defaults, messages, roles, settings, tables
from fusiondp import FusionDPError
from fusiondp.impute import available_imputers
from fusiondp.spec import DEFAULT_DELIMITER, TARGET_KINDS
from fusiondp.split import MIN_SUPPORT_ROWS
from fusiondp.text.detectors import PRESIDIO_PIP
from fusiondp.text.spans import DETECTOR
from fusiondp.text.spec import DETECTOR_NAMES, SPAN_TYPES
from fusiondp.verdicts import imputer_headline

# How the span detector selector names each detector.
DETECTOR_LABELS = {"rules": "Rules (built in)", "presidio": "Rules + Presidio (presidio-analyzer)"}

st.title("2 · Columns")
table: tables.Table | None = st.session_state.table
if table is None:
    st.info("Load a table on the Data page first.")
    st.page_link("views/data.py", label="Go to Data", icon=":material/arrow_back:")
    st.stop()
columns = list(table.frame.columns)

st.info(
    "**Sensitive** columns are the ones whose values must stay private: typically demographics such as "
    "age, sex, ethnicity, education or income. FusionDP protects *only* these columns with differential "
    "privacy. **Public** columns (e.g. lab values) are assumed non-sensitive and are used as they are. "
    "**Ignore** drops a column from the model. Suggestions come from the column names; check them."
)
with st.expander(settings.ROLES_FILE_LABEL):
    st.file_uploader(settings.ROLES_FILE_LABEL, type=["yaml", "yml"], key="roles_upload",
                     on_change=settings.load_settings_file, label_visibility="collapsed",
                     help="A column spec (target, sensitive, categorical, …, as in sample_data/*.spec.yaml) sets the "
                          "roles below; a run config saved from the Results page also sets the support set and the "
                          "Train page's ε, modes, seeds and knobs.")
if note := st.session_state.pop("roles_file_note", None):
    (st.error if note[0] == "error" else st.success)(note[1], icon=":material/description:")
left, right = st.columns(2)
with left:
    st.selectbox("Target (the outcome to predict)", columns, key="target", index=None,
                 placeholder="Choose the outcome column", persist_state="session", on_change=roles.forget_target_kind)
    suggested = st.session_state.get("suggested_target")
    if st.session_state.target is None:
        hint = f" Suggested from the column names and values: `{suggested}`." if suggested else ""
        st.info(f"Choose the outcome column to continue: the target is never picked for you.{hint}",
                icon=":material/touch_app:")
        st.stop()
    inferred, why = roles.inferred_target_kind(table.frame[st.session_state.target])
    if st.session_state.get("target_kind") not in TARGET_KINDS:
        st.session_state.target_kind = inferred
    st.selectbox("Target kind", TARGET_KINDS, key="target_kind", persist_state="session",
                 format_func=roles.TARGET_KIND_LABELS.get,
                 help=f"{why} Change it if the values mean something else (e.g. a 1–5 score to treat as a number).")
    if st.session_state.target_kind == "binary":
        target_values = sorted(table.frame[st.session_state.target].dropna().unique().tolist(), key=str)[:50]
        if st.session_state.positive_class not in target_values:
            st.session_state.positive_class = target_values[-1] if target_values else None
        st.selectbox("Positive class", target_values, key="positive_class", persist_state="session",
                     help="The outcome value counted as 'positive' for AUROC, AUPRC and F1.")
    elif st.session_state.target_kind == "regression":
        for key in ("target_low", "target_high"):
            st.session_state.setdefault(key, None)
        bounds_help = ("Optional: the range the target can take, declared from public knowledge (e.g. 60 and 260 for "
                       "a systolic blood pressure in mm Hg), never read off the data. Labels outside it are clipped "
                       "into it wherever the model sees a label, and predictions stay inside it. Leave both empty "
                       "for no bounds.")
        st.number_input("Lowest possible target value", key="target_low", persist_state="session", help=bounds_help)
        st.number_input("Highest possible target value", key="target_high", persist_state="session",
                        help=bounds_help)
    elif st.session_state.target_kind == "multilabel":
        st.session_state.setdefault("target_delimiter", DEFAULT_DELIMITER)
        st.text_input("Label delimiter", key="target_delimiter", persist_state="session", max_chars=5,
                      help="What separates the labels in one target cell, e.g. ';' in 'I10;E11'. Labels are trimmed "
                           "of spaces; an empty cell is a row with no label.")
    features = [c for c in columns if c != st.session_state.target]
    if st.session_state.get("text_column") not in features:
        st.session_state.text_column = None
    st.selectbox("Text column (notes): protect sensitive spans inside free text instead of sensitive columns",
                 features, key="text_column", index=None, placeholder="None: a table of columns",
                 persist_state="session",
                 help="Pick the column that holds free text (clinical notes, reviews). Ages, sex words and pronouns, "
                      "ethnicity terms, names, dates, places and identifiers found in it are protected; every other "
                      "word of the note is public. The model then reads the notes only.")
    if roles.text_mode():
        st.multiselect("Sensitive span types (protected inside the notes)", SPAN_TYPES, key="sensitive_spans",
                       persist_state="session",
                       help="Spans of these types found by the span detector are protected. What it misses stays "
                            "in the public words.")
        st.selectbox("Span detector", DETECTOR_NAMES, key="span_detector", persist_state="session",
                     format_func=DETECTOR_LABELS.get,
                     help=f"{DETECTOR_LABELS['rules']}: {DETECTOR}. {DETECTOR_LABELS['presidio']}: the same rules "
                          "plus presidio-analyzer's recognizers (MIT licence, run offline, no NER model) for phone "
                          "numbers, e-mails, cards, SSN/ITIN, IBAN, IP addresses, URLs and numeric dates; needs "
                          f"{PRESIDIO_PIP}.")
        st.caption("With a text column the model reads the notes only: the other columns are not used. Words outside "
                   "the detected spans are public and reach the model without noise; the preflight below looks for "
                   "identifiers the detector misses.")
    else:
        for key in ("sensitive", "ignore", "categorical"):
            st.session_state[key] = [c for c in st.session_state[key] if c in features]
        st.multiselect("Sensitive columns (protected with feature-level DP)", features, key="sensitive",
                       persist_state="session")
        st.multiselect("Ignore (not used at all)", features, key="ignore", persist_state="session")
        used = [c for c in features if c not in st.session_state.ignore]
        st.multiselect("Categorical columns (the others are numeric)", used, key="categorical",
                       persist_state="session",
                       help="Categorical columns are one-hot encoded; numeric ones are standardised. A sensitive "
                            "column not listed here gets its type from the support set's values, never from the "
                            "private rows.")
        # The boxes above show as many column names as fit on one line: every tagged column is listed here in full.
        st.caption("  \n".join(
            f"**{label} ({len(chosen)}):** {', '.join(f'`{c}`' for c in chosen) if chosen else 'none'}"
            for label, chosen in (("Sensitive", st.session_state.sensitive), ("Ignored", st.session_state.ignore),
                                  ("Categorical", st.session_state.categorical))))
with right:
    st.radio("Support set (rows whose sensitive values are public, used to fit the imputer)",
             defaults.SUPPORT_SOURCES, key="support_source", persist_state="session")
    if st.session_state.support_source == defaults.SUPPORT_FRACTION:
        st.slider("Public fraction of the table", 0.02, 0.5, step=0.01, key="support_fraction",
                  persist_state="session",
                  help=f"These rows are declared public and removed from the private training rows. "
                       f"At least {MIN_SUPPORT_ROWS} rows are needed.")
    elif st.session_state.support_source == defaults.SUPPORT_TABLE:
        support_upload = st.file_uploader("Public support table (same columns)", key="support_upload")
        if support_upload is not None and st.session_state.get("last_support") != support_upload.file_id:
            st.session_state.last_support = support_upload.file_id
            try:
                st.session_state.support_table = tables.read_upload(support_upload.name, support_upload.getvalue())
                st.session_state.support_error = None
            except FusionDPError as exc:
                st.session_state.support_error = str(exc)
        if st.session_state.get("support_error"):
            st.error(st.session_state.support_error, icon="⚠️")
        if st.session_state.support_table is None:
            st.warning("Upload the public support table, or use a public fraction of this table.")
    else:
        st.caption(
            "The support set is synthesised from the private training rows under its own privacy budget ε_syn: "
            "their public columns are kept, their sensitive values are drawn anew by a DP mechanism. ε_syn is "
            "spent on top of the training ε, and the Results page reports the composed total."
        )
        st.selectbox("Synthesizer", list(defaults.SYNTHESIZERS), format_func=defaults.SYNTHESIZERS.get,
                     key="synthesizer", persist_state="session")
        st.select_slider("ε_syn (budget of the synthetic support set)", defaults.EPSILON_STEPS, key="epsilon_syn",
                         persist_state="session")
        if not st.session_state.declared_values.strip() and st.session_state.sensitive:
            with contextlib.suppress(FusionDPError):  # invalid roles are reported under "Column roles" below
                st.session_state.declared_values = roles.declared_template(
                    roles.current_spec().resolve(table.frame))
        st.text_area(
            messages.DECLARED_VALUES_LABEL, key="declared_values",
            persist_state="session", height=160,
            help="Categories of a categorical column (`gender: [Female, Male]`) or the range of a numeric one "
                 "(`age: [20, 80]`), taken from public knowledge such as the data's codebook — never read from "
                 "the private rows, whose own categories, minimum and maximum would leak. Values outside the "
                 "declared domain are treated as missing.")
    if roles.text_mode():
        st.caption("Notes need no imputer: each note's hybrid replaces its spans by surrogates predicted from its "
                   "public words by a generator fitted on the support notes only (the Imputation page shows them).")
    else:
        status = available_imputers()
        st.selectbox("Imputer", ["auto", *status], key="imputer", persist_state="session",
                     help="'auto' uses TabPFN when its weights are on this machine, otherwise gradient boosting.")
        st.caption(" · ".join(f"`{name}` available" if reason is None
                              else imputer_headline(f"{name} unavailable: {reason}")
                              for name, reason in status.items()))
        unavailable = {name: reason for name, reason in status.items() if reason is not None}
        if unavailable:
            with st.expander("Details: unavailable imputers"):
                for name, reason in unavailable.items():
                    st.markdown(f"- `{name}`: {reason}")

sensitive_types = caches.support_types(st.session_state.sensitive)
role_table = pd.DataFrame({
    "column": columns,
    "role": ["target" if c == st.session_state.target
             else ("notes: spans protected, other words public" if c == st.session_state.text_column else "not used")
             if roles.text_mode() else "sensitive" if c in st.session_state.sensitive
             else "ignore" if c in st.session_state.ignore else "public" for c in columns],
    "type": ["" if c == st.session_state.target or c in st.session_state.ignore
             else "categorical" if c in st.session_state.categorical
             else sensitive_types[c] if c in st.session_state.sensitive
             else "categorical" if not pd.api.types.is_numeric_dtype(table.frame[c]) else "numeric" for c in columns],
    "missing": [f"{table.frame[c].isna().mean():.1%}" for c in columns],
    "suggested sensitive": [bool(roles.SENSITIVE_NAME.search(c)) for c in columns],
})
st.subheader("Column roles")
try:
    st.success(caches.check_split(), icon=":material/check_circle:")
    ok = True
except FusionDPError as exc:
    messages.show_error(exc)
    ok = False
st.dataframe(role_table, hide_index=True, width="stretch")
st.caption(f":material/search: {messages.LOCAL_NOT_DP}: the missing shares read every row, sensitive columns included.")
if ok:
    st.subheader("Privacy preflight")
    if roles.text_mode():
        st.caption("Looks in the notes' public words (each note with its detected spans removed) for identifiers "
                   "the span detector misses: names after titles it does not take, ID- and phone-like numbers, "
                   "ages in words, web addresses.")
    else:
        st.caption("Checks for public columns that give a sensitive one away, identifiers and set-up problems. "
                   "It reads the public columns, the labels and the support set only.")
    findings = caches.preflight_findings()
    if not findings:
        st.success("No identifier found outside the detected spans (the rules can still miss some: read a few "
                   "notes on the Imputation page)." if roles.text_mode()
                   else "No proxy, identifier or set-up problem found.", icon=":material/check_circle:")
    show = {"high": st.error, "medium": st.warning, "low": st.info}
    for finding in findings:
        show[finding.severity](messages.in_app_words(f"**{finding.severity}** · {finding.evidence} {finding.action}"))
if ok:
    st.page_link("views/imputation.py", label="Next: preview the imputation →", icon=":material/arrow_forward:")
