"""How the training defaults were chosen: a grid on the suite tables, scored on validation rows only.

Why: the defaults (α, C, lr) must suit the DP modes on tables nobody tuned to, and must not be
chosen on a test split. For each suite table and split seed this runs dpsgd, feature_dp and
fusiondp over a small grid at each ε, scores every model on the table's *real validation rows*
(``val_auroc_real``; the suite is public data, so using its real validation rows to pick a
library default is development, not a release), and ranks settings by their mean validation
AUROC across tables (each table's AUROCs centred on its own mean, so a large table does not
outweigh a small one). Test metrics are recorded for the record but play no part in the choice.

    python -m benchmarks.bench_defaults [--tables a,b] [--epsilons 1,4] [--seeds 2] [--workers 2]
        [--modes feature_dp,fusiondp] [--grid "alpha=0.5,1;beta=0,0.5"] [--out FILE]

Writes benchmarks/results/bench_defaults.json (every run, the ranking per mode) and prints the
ranking. ``--grid`` replaces the knobs compared (``GRID``); knobs it leaves out keep their defaults.
``none`` sets a knob to None (``noise_level=none,3,6,12``: a fixed clip norm beside the clip rule). ``|``
joins grids whose knobs differ, e.g. a fixed C against the rule at two floors:
``--grid "noise_level=none | noise_level=3,6;max_grad_norm=1,1.8"``; a run of one grid reads the other's
knobs as not applicable.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from benchmarks.common import RESULTS, machine, print_table
from benchmarks.suite import suite_tables
from fusiondp.record import write_json_atomic
from fusiondp.sweep import run_sweep

GRID = [{"alpha": [1.0, 3.0], "max_grad_norm": [0.5, 1.8], "lr": [0.05, 0.2]}]
"""The knobs compared: the reference code's values (α 3, C 1.8, lr 0.05) and one alternative each."""
MODES = ["dpsgd", "feature_dp", "fusiondp"]


def _grid_value(text: str) -> float | str | None:
    """A number where the text is one, None for ``none``, else the text (a choice such as
    ``numeric_encoding=quantile``)."""
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        return text.strip()


def parse_grid(text: str) -> list[dict[str, list[float | str | None]]]:
    """``"alpha=0.5,1;beta=0,0.5"`` as ``[{"alpha": [0.5, 1.0], "beta": [0.0, 0.5]}]``; ``|`` separates grids."""
    grids = []
    for part in text.split("|"):
        grid = {}
        for axis in part.split(";"):
            name, _, values = axis.partition("=")
            grid[name.strip()] = [_grid_value(value) for value in values.split(",")]
        grids.append(grid)
    return grids


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=lambda s: s.split(","), default=None)
    parser.add_argument("--epsilons", type=lambda s: [float(x) for x in s.split(",")], default=[1.0, 4.0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", type=lambda s: s.split(","), default=MODES)
    parser.add_argument("--grid", type=parse_grid, default=GRID)
    parser.add_argument("--work", type=Path, default=Path("/tmp/fusiondp-bench-defaults"))
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_defaults.json")
    return parser.parse_args(argv)


def ranking(rows: pd.DataFrame, knobs: list[str]) -> pd.DataFrame:
    """Per mode and setting: validation AUROC centred per (table, ε, seed), averaged; its worst-case regret;
    test AUROC beside them.

    The worst-case regret of a setting (METHOD.md §6, a fair comparison) is, over tables and ε, the largest
    shortfall of its validation AUROC (mean over split seeds) from the best setting of the same mode on that
    table and ε: a mode's settings are chosen by the smallest worst-case regret, each mode by the same rule,
    so no baseline is run at settings chosen for another mode. Sorted by it, then by the centred mean.
    """
    keyed = rows.copy()
    cell = ["table", "epsilon", "split_seed", "mode"]
    keyed["val_centred"] = keyed["val_auroc_real"] - keyed.groupby(cell)["val_auroc_real"].transform("mean")
    summary = (keyed.groupby(["mode", *knobs], dropna=False)
               .agg(val_centred=("val_centred", "mean"), val_auroc_real=("val_auroc_real", "mean"),
                    test_auroc=("auroc", "mean"), runs=("auroc", "size"))
               .reset_index())
    per_table = (keyed.groupby(["mode", *knobs, "table", "epsilon"], dropna=False)["val_auroc_real"].mean()
                 .reset_index())
    best = per_table.groupby(["mode", "table", "epsilon"])["val_auroc_real"].transform("max")
    per_table["regret"] = best - per_table["val_auroc_real"]
    worst = per_table.groupby(["mode", *knobs], dropna=False)["regret"].max().rename("worst_regret").reset_index()
    summary = summary.merge(worst, on=["mode", *knobs], how="left")
    return summary.sort_values(["mode", "worst_regret", "val_centred"], ascending=[True, True, False])


def _setting(value: object) -> float | str | None:
    """A knob's value as read back from the runs: a number, a choice's name, or None where a mode ignores it."""
    if pd.isna(value):
        return None
    return value if isinstance(value, str) else float(value)


def chosen_settings(summary: pd.DataFrame, knobs: list[str]) -> dict[str, dict[str, float | str | None]]:
    """Each mode's setting of least worst-case regret (``ranking``'s first row per mode)."""
    first = summary.groupby("mode", sort=False).head(1)
    return {row["mode"]: {k: _setting(row[k]) for k in knobs} for _, row in first.iterrows()}


BASELINES = ("dpsgd", "feature_dp")
"""The private baselines fusiondp is compared with."""


def paired_cells(runs: pd.DataFrame) -> Iterator[tuple[str, float, pd.DataFrame, list[str]]]:
    """Per table and ε: each mode's test AUROC per split seed (one column per mode, rows paired by seed) and the
    baselines among its modes."""
    wide = runs.pivot_table(index=["table", "epsilon", "split_seed"], columns="mode", values="auroc")
    for (table, epsilon), group in wide.groupby(level=[0, 1]):
        yield table, epsilon, group, [m for m in BASELINES if m in group.columns]


def at_chosen(rows: pd.DataFrame, chosen: dict[str, dict[str, float | str | None]], knobs: list[str]) -> pd.DataFrame:
    """Test AUROC per table and ε of each mode at its own chosen setting, mean ± sd over split seeds (reported
    once, after the choice) and fusiondp minus the better baseline, paired by split seed."""
    picked = []
    for mode, setting in chosen.items():
        mine = rows[rows["mode"] == mode]
        for knob, value in setting.items():
            mine = mine[mine[knob].isna()] if value is None else mine[mine[knob] == value]
        picked.append(mine)
    out = []
    for table, epsilon, group, baselines in paired_cells(pd.concat(picked, ignore_index=True)):
        row: dict[str, object] = {"table": table, "epsilon": epsilon}
        for mode in group.columns:
            row[mode] = f"{group[mode].mean():.3f} ± {group[mode].std(ddof=1):.3f}"
        if "fusiondp" in group.columns and baselines:
            gain = group["fusiondp"] - group[baselines].max(axis=1)
            row["fusiondp − best baseline"] = f"{gain.mean():+.3f} ± {gain.std(ddof=1):.3f}"
        out.append(row)
    return pd.DataFrame(out)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    tables = suite_tables()
    names = args.tables or list(tables)
    started = time.perf_counter()
    frames = []
    for name in names:
        for seed in range(args.seeds):
            for index, axes in enumerate(args.grid):
                grid = tables[name].sweep_grid(modes=args.modes, epsilon=args.epsilons, seeds=[seed], **axes)
                grid.base.split_seed = seed
                work = args.work / name / f"seed{seed}" / (f"grid{index}" if len(args.grid) > 1 else "")
                frame = run_sweep(grid, work, workers=args.workers, resume=True, progress=False)
                frames.append(frame.assign(table=name, split_seed=seed))
                print(f"{name} seed {seed}: {len(frame)} runs ({time.perf_counter() - started:.0f} s)", flush=True)
    rows = pd.concat(frames, ignore_index=True)
    knobs = list(dict.fromkeys(knob for axes in args.grid for knob in axes))
    summary = ranking(rows, knobs)
    chosen = chosen_settings(summary, knobs)
    comparison = at_chosen(rows, chosen, knobs)
    columns = ["table", "split_seed", "mode", "seed", "epsilon", *knobs, "val_auroc_real", "val_auroc", "auroc"]
    payload = {"benchmark": "bench_defaults", "machine": machine(), "grid": args.grid, "modes": args.modes,
               "epsilons": args.epsilons, "seeds": args.seeds, "tables": names,
               "wall_s": round(time.perf_counter() - started, 1),
               "selection": "per mode: least worst-case regret over tables and ε of real-validation AUROC (ties: "
                            "mean centred per table, ε and seed); test AUROC not used",
               "ranking": summary.to_dict(orient="records"), "chosen": chosen,
               "test_at_chosen": comparison.to_dict(orient="records"),
               "runs": rows[[c for c in columns if c in rows.columns]].to_dict(orient="records")}
    write_json_atomic(args.out, payload)
    print_table(summary.to_dict(orient="records"))
    print(f"\nchosen per mode (least worst-case regret): {chosen}\n")
    print_table(comparison.to_dict(orient="records"))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
