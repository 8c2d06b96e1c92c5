"""A Python script that reproduces a run with the library API: the dashboard's "Python script" download.

The script holds the resolved ``RunConfig`` and the ε grid, prepares the table once (split,
imputation, encoding: nothing there reads ε) and trains every (ε, mode, seed) of
``fusiondp.runs.curve_runs`` (a DP mode's ε in lockstep, ``fusiondp.parallel.train_sequentially``),
as the dashboard and ``fusiondp run --epsilon`` do, so the same table and seeds give the same splits,
imputation, initialisation and public batches — and, with ``reproducible_noise``, the same records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fusiondp.config import RunConfig

TEMPLATE = '''"""Reproduce a FusionDP Studio run with the fusiondp library ({summary}).

    python {filename} [TABLE] [--support TABLE] [--out FOLDER]

TABLE defaults to the file the run was made on, {data!r}: put it next to this script or
give its path. With --out the results are written as `fusiondp run --out` writes them (results.json,
summary.csv, config.yaml). The same table, settings and seeds give the same splits, imputation and
privacy ledger; the DP models draw fresh secret noise, so their metrics differ as a rerun's would
(identical records only with reproducible_noise, which voids the guarantee); the imputer is chosen
again on this machine ({imputer} ran the first time).
"""

from __future__ import annotations

import argparse

from fusiondp import RunConfig
from fusiondp.parallel import train_sequentially
from fusiondp.preparation import prepare
from fusiondp.record import summarize
from fusiondp.runs import curve_runs, save_results
from fusiondp.verdicts import run_verdicts

CONFIG = {config}
"""Every setting of the run (``RunConfig``); ``epsilon`` is replaced by each value of ``EPSILONS``."""

EPSILONS = {epsilons}
"""Target ε of the privacy-utility curve: the DP modes train at each, the references once."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", nargs="?", default=CONFIG["data"], help="the table (CSV, Parquet, Excel)")
    parser.add_argument("--support", default=CONFIG["support_data"], help="the separate public support table")
    parser.add_argument("--out", help="folder to write results.json, summary.csv and config.yaml into")
    args = parser.parse_args()
    config = RunConfig.build(**{{**CONFIG, "data": args.table, "support_data": args.support}})
    prepared = prepare(config)
    runs = curve_runs(config.modes, config.seeds, EPSILONS)
    print(f"training {{len(runs)}} models (each DP mode's ε in lockstep, one seed at a time)", flush=True)
    records = train_sequentially(prepared, runs)
    summary = summarize(records)
    shown = [c for c in ("mode", "epsilon", "seeds", "auroc_mean", "auprc_mean", "accuracy_mean", "f1_mean",
                         "micro_f1_mean", "macro_f1_mean", "r2_mean", "rmse_mean", "epsilon_spent") if c in summary]
    print(summary[shown].to_string(index=False))
    for line in run_verdicts(records):
        print("-", line)
    if args.out:
        print("written to", save_results(args.out, prepared, records))


if __name__ == "__main__":
    main()
'''


def _literal(values: dict[str, Any], indent: int = 4) -> str:
    """``values`` as a Python dict literal, one key per line (nested dicts too)."""
    shown = {key: _literal(value, indent + 4) if isinstance(value, dict) and value else repr(value)
             for key, value in values.items()}
    lines = [f"{' ' * indent}{key!r}: {value}," for key, value in shown.items()]
    return "{\n" + "\n".join(lines) + "\n" + " " * (indent - 4) + "}"


def python_script(config: RunConfig, epsilons: Sequence[float], *, imputer: str | None = None,
                  filename: str = "fusiondp_run.py") -> str:
    """The source of a script that reruns ``config`` at every ε of ``epsilons`` with the library API.

    ``imputer`` names the imputer that actually ran (said in the script's docstring: ``auto``
    chooses again on the machine that runs it); ``filename`` is what its usage line calls it.
    """
    values = config.to_dict()
    grid = sorted({float(epsilon) for epsilon in epsilons})
    summary = f"modes {', '.join(config.modes)}; ε {', '.join(f'{e:g}' for e in grid)}; seeds " + ", ".join(
        map(str, config.seeds))
    return TEMPLATE.format(summary=summary, filename=filename, data=values["data"], imputer=imputer or config.imputer,
                           config=_literal(values), epsilons=grid)
