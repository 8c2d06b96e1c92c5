"""Does fusiondp rise with ε when its clip norm C and step size lr may depend on ε? (issue 28, items 3 and 4)

Reads the grid written by

    python -m benchmarks.bench_defaults --modes dpsgd,feature_dp,fusiondp --epsilons 0.5,2,8 --seeds 2 \
        --grid "lr=0.05,0.2;max_grad_norm=1.8,8,32" --workers 1 --out benchmarks/results/bench_defaults_eps_aware.json

and prints, choosing every setting on the real validation rows (``val_auroc_real``) only, test AUROC as
mean ± sd over split seeds under four selection rules, each applied to every mode alike:

- ``per_eps``: per (table, mode, ε) the setting with the best mean validation AUROC (the most ε-aware choice);
- ``per_table``: per (table, mode) one setting for every ε (least worst-case regret over ε);
- ``eps_rule``: per (mode, ε) one setting for every table (least worst-case regret over tables): a library
  default that may depend on ε;
- ``fixed``: per mode one setting for every table and ε, ``bench_defaults.ranking``'s choice.

For each rule: the rise of every mode from the smallest to the largest ε (paired by split seed) and
fusiondp − max(dpsgd, feature_dp) (paired by split seed: the better baseline per seed, as ``bench_defaults``
reports it), and both averaged over tables. Then the settings each rule picks, the centred validation AUROC of every
(C, lr) per mode and ε, and the test AUROC of every (C, lr) at the largest ε (the direct test of "a larger C lets
fusiondp rise at large ε"). A second file, a ``bench_defaults`` run of the non-private modes (sgd_ori, sgd_pub,
sgd_hybrid; lr chosen per table on the same validation rows), prints their test AUROC beside it as a ceiling.

    python -m benchmarks.eps_aware_analysis [benchmarks/results/bench_defaults_eps_aware.json] [NONPRIVATE.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from benchmarks.bench_defaults import BASELINES, paired_cells, ranking
from benchmarks.common import RESULTS

DEFAULT = RESULTS / "bench_defaults_eps_aware.json"


def load(path: Path) -> tuple[pd.DataFrame, list[str]]:
    payload = json.loads(path.read_text())
    rows = pd.DataFrame(payload["runs"])
    knobs = [k for k in payload["grid"] if k in rows.columns and rows[k].notna().any()]
    return rows, knobs


def least_regret(rows: pd.DataFrame, knobs: list[str], over: list[str], by: list[str]) -> pd.DataFrame:
    """Per group ``by``: the setting whose worst shortfall (over ``over``) of mean validation AUROC from the best
    setting in each cell is smallest; ties broken by the higher mean validation AUROC."""
    cell = (rows.groupby([*by, *over, *knobs])["val_auroc_real"].mean().rename("val").reset_index())
    cell["regret"] = cell.groupby([*by, *over])["val"].transform("max") - cell["val"]
    score = cell.groupby([*by, *knobs]).agg(worst=("regret", "max"), val=("val", "mean")).reset_index()
    score = score.sort_values([*by, "worst", "val"], ascending=[True] * len(by) + [True, False])
    return score.groupby(by).head(1)[[*by, *knobs]]


def choices(rows: pd.DataFrame, knobs: list[str]) -> dict[str, pd.DataFrame]:
    """Per rule, the chosen setting per (table, mode, ε): a frame with those keys and the knobs."""
    cells = rows[["table", "mode", "epsilon"]].drop_duplicates()
    val = rows.groupby(["table", "mode", "epsilon", *knobs])["val_auroc_real"].mean().reset_index()
    per_eps = val.sort_values("val_auroc_real", ascending=False).groupby(["table", "mode", "epsilon"]).head(1)
    out = {"per_eps": per_eps.drop(columns="val_auroc_real")}
    out["per_table"] = cells.merge(least_regret(rows, knobs, ["epsilon"], ["table", "mode"]), on=["table", "mode"])
    out["eps_rule"] = cells.merge(least_regret(rows, knobs, ["table"], ["mode", "epsilon"]), on=["mode", "epsilon"])
    fixed = ranking(rows, knobs).groupby("mode", sort=False).head(1)[["mode", *knobs]]
    out["fixed"] = cells.merge(fixed, on="mode")
    return out


def picked_runs(rows: pd.DataFrame, chosen: pd.DataFrame, knobs: list[str]) -> pd.DataFrame:
    """The runs (both split seeds) at each (table, mode, ε)'s chosen setting."""
    return rows.merge(chosen, on=["table", "mode", "epsilon", *knobs])


def fmt(series: pd.Series) -> str:
    return f"{series.mean():+.3f} ± {series.std(ddof=1):.3f}" if len(series) > 1 else f"{series.mean():+.3f}"


def test_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Test AUROC mean ± sd over split seeds per table, ε and mode; fusiondp − best baseline paired by seed."""
    out = []
    for table, epsilon, group, baselines in paired_cells(runs):
        row: dict[str, object] = {"table": table, "eps": epsilon}
        for mode in group.columns:
            row[mode] = f"{group[mode].mean():.3f} ± {group[mode].std(ddof=1):.3f}"
        if "fusiondp" in group.columns and baselines:
            row["fus − max(base)"] = fmt(group["fusiondp"] - group[baselines].max(axis=1))
            for mode in baselines:
                row[f"fus − {mode}"] = fmt(group["fusiondp"] - group[mode])
        out.append(row)
    return pd.DataFrame(out)


def rise_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per table and mode: test AUROC at the largest ε minus at the smallest, paired by split seed."""
    lo, hi = runs["epsilon"].min(), runs["epsilon"].max()
    wide = runs.pivot_table(index=["table", "mode", "split_seed"], columns="epsilon", values="auroc")
    rise = (wide[hi] - wide[lo]).rename("rise").reset_index()
    table = rise.groupby(["table", "mode"])["rise"].apply(fmt).unstack("mode")
    mean = rise.groupby("mode")["rise"].mean().map(lambda v: f"{v:+.3f}")
    table.loc["(mean over tables)"] = mean
    table.columns = [f"{m} ε{lo:g}→{hi:g}" for m in table.columns]
    return table.reset_index()


def mean_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per ε: each mode's test AUROC and fusiondp − max(baselines) (paired by seed), averaged over tables."""
    wide = runs.pivot_table(index=["table", "epsilon", "split_seed"], columns="mode", values="auroc")
    baselines = [m for m in BASELINES if m in wide.columns]
    if "fusiondp" in wide.columns and baselines:
        wide["fus − max(base)"] = wide["fusiondp"] - wide[baselines].max(axis=1)
    return wide.groupby(level="epsilon").mean().round(4)


def at_largest_eps(rows: pd.DataFrame, knobs: list[str]) -> pd.DataFrame:
    """Test AUROC (mean over split seeds) of every setting at the largest ε, per table and mode."""
    top = rows[rows["epsilon"] == rows["epsilon"].max()]
    return (top.groupby(["mode", *knobs[::-1], "table"])["auroc"].mean().unstack("table").round(3))


def nonprivate_table(path: Path) -> pd.DataFrame:
    """Non-private modes' test AUROC (mean ± sd over split seeds) at the lr with the best mean validation AUROC."""
    rows, knobs = load(path)
    val = rows.groupby(["table", "mode", *knobs])["val_auroc_real"].mean().reset_index()
    best = val.sort_values("val_auroc_real", ascending=False).groupby(["table", "mode"]).head(1)
    runs = rows.merge(best.drop(columns="val_auroc_real"), on=["table", "mode", *knobs])
    return (runs.groupby(["table", "mode"])["auroc"]
            .agg(lambda s: f"{s.mean():.3f} ± {s.std(ddof=1):.3f}").unstack("mode"))


def settings_table(chosen: pd.DataFrame, knobs: list[str]) -> pd.DataFrame:
    """The chosen setting per table, mode and ε, as its knobs' values in reverse grid order, e.g. 'C/lr' (one column
    per mode and ε)."""
    label = chosen.assign(setting=chosen[knobs[::-1]].apply(lambda r: "/".join(f"{v:g}" for v in r), axis=1))
    return label.pivot_table(index="table", columns=["mode", "epsilon"], values="setting", aggfunc="first")


def centred_grid(rows: pd.DataFrame, knobs: list[str]) -> pd.DataFrame:
    """Validation AUROC centred per (table, mode, ε, split seed), averaged over tables and seeds, per setting."""
    keyed = rows.copy()
    cell = ["table", "mode", "epsilon", "split_seed"]
    keyed["centred"] = keyed["val_auroc_real"] - keyed.groupby(cell)["val_auroc_real"].transform("mean")
    return (keyed.groupby(["mode", *knobs[::-1], "epsilon"])["centred"].mean().unstack("epsilon")
            .map(lambda v: f"{v:+.4f}"))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT
    rows, knobs = load(path)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    print(f"{path}: {len(rows)} runs, tables {sorted(rows['table'].unique())}, "
          f"ε {sorted(rows['epsilon'].unique().tolist())}, split seeds {sorted(rows['split_seed'].unique().tolist())}, "
          f"knobs {knobs}\n")
    rules = choices(rows, knobs)
    for rule, chosen in rules.items():
        runs = picked_runs(rows, chosen, knobs)
        print(f"=== rule {rule}: test AUROC (mean ± sd over split seeds), fusiondp − baselines paired by seed")
        print(test_table(runs).to_string(index=False))
        print(f"\n--- rule {rule}: rise from the smallest to the largest ε (paired by split seed)")
        print(rise_table(runs).to_string(index=False))
        print(f"\n--- rule {rule}: mean over tables (test AUROC; fusiondp − max(baselines) paired by seed)")
        print(mean_table(runs).to_string())
        print(f"\n--- rule {rule}: chosen setting, {'/'.join(knobs[::-1])}")
        print(settings_table(chosen, knobs).to_string())
        print()
    print("=== validation AUROC centred per (table, mode, ε, seed), mean over tables and seeds, per C and lr")
    print(centred_grid(rows, knobs).to_string())
    print(f"\n=== test AUROC of every setting at ε = {rows['epsilon'].max():g} (mean over split seeds)")
    print(at_largest_eps(rows, knobs).to_string())
    if len(args) > 1:
        print(f"\n=== non-private reference ({args[1]}): test AUROC at the lr chosen on validation rows")
        print(nonprivate_table(Path(args[1])).to_string())


if __name__ == "__main__":
    main()
