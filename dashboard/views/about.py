"""Plain-words explanation of feature-level differential privacy and what it does not cover."""

from __future__ import annotations

import streamlit as st

from fusiondp.glossary import epsilon_bands_markdown, glossary_markdown

st.title("About feature-level DP")
st.markdown("""
**What is protected.** You tag some columns as *sensitive* (for example age, sex, ethnicity, income).
For every person in the private training rows, the trained model reveals at most a bounded amount about
*their values in those columns*. The bound is ε (with a small failure probability δ): with a small ε,
an observer of the model can hardly tell a person's real sensitive values from those values being missing.

**What is not protected.**
- The *public* columns and the *target* are used as they are: the guarantee says nothing about them.
- Whether a person is in the table at all (that needs row-level DP: the `dpsgd` mode).
- The *support set*: its sensitive values are treated as public, because you declare them so.
- Previews and test metrics in this app are computed on your raw table and are **not** private; they
  are for you, on your machine. Only the trained model carries the guarantee.

**How it works.** An imputer, fitted on the public support set, predicts each private row's sensitive
values from its public columns; the model reads these predictions as extra inputs of their own. Training
uses the rows with their sensitive values missing (predictions kept) freely, plus a correction from the real
rows whose gradients are clipped to a norm C and blurred with Gaussian noise: that noisy term is the only
way the real sensitive values reach the model, and the accountant turns noise, sampling rate and number of
steps into ε.
""")
st.subheader("Reading ε")
st.markdown(epsilon_bands_markdown())
st.subheader("Glossary")
st.markdown(glossary_markdown())
