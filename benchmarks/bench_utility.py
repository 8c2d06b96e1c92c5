"""Utility on the benchmark suite: every mode at every ε, several seeds, every suite table.

Why: a utility change is judged by whether FusionDP holds its ground against the baselines on
real tables of different kinds (benchmarks/suite/), not on the sample alone (METHOD.md §6). Per
table and ε this reports AUROC and AUPRC on the real test rows (mean ± sd over seeds) and the
issue's two acceptance checks, paired by seed (fusiondp − baseline on the same split and seed): fusiondp ≥ the
better of dpsgd and feature_dp − 1 sd of those differences, and fusiondp above each of dpsgd, feature_dp and
sgd_hybrid by more than 2 sd. With few seeds the first check fails by chance alone for a method exactly as good
as its baselines (17.6 % of cells at 3 seeds, 1 % at 10: ``benchmarks.chance``); the report says how many.
Per table it also reads fusiondp's curve (``curve_checks``): its rise from the smallest to the largest ε, and
where the sensitive columns matter whether the largest ε closes half the distance to sgd_ori, with an interval.

Each seed is one replicate: its own support/train/val/test split (``split_seed``) and its own
initialisation and sampling, so the sd includes how much the numbers move with the split. Per
table and seed the data are prepared (split, imputed, encoded) once and shared by every mode and
ε (``fusiondp.sweep.run_sweep``); non-private modes run once per seed. Training settings are the
library defaults (``RunConfig``) unless a table's grid file states otherwise, or ``--settings`` gives each
private mode its own (a ``bench_defaults`` result: the fair protocol's per-mode choice on validation rows,
docs/method.md §7); nothing is selected on the test split.

    python -m benchmarks.bench_utility [--quick] [--tables a,b] [--epsilons 1,4] [--seeds 3]
        [--modes sgd_pub,fusiondp] [--workers 2] [--settings benchmarks/results/bench_defaults_eps_aware.json]
        [--out benchmarks/results/bench_utility.json] [--work DIR]

Writes the JSON named by --out (raw per-run rows, summary, checks, table metadata, git commit,
settings) and a plotly HTML beside it (one privacy-utility panel per table and metric), and prints
a compact table. ``--quick`` is a smoke run (one small table, ε ∈ {1, 4}, two seeds). ``--replot`` recomputes the
summary and checks of the JSON named by --out; ``--merge A.json B.json`` joins results of the same seeds into it
(a later file's runs replace an earlier one's for the same table, mode, ε and seed: one mode rerun at new
settings), then replots.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from plotly.offline import get_plotlyjs

import fusiondp
from benchmarks.chance import chance_below
from benchmarks.common import RESULTS, ROOT, machine, print_table
from benchmarks.suite import SuiteTable, suite_tables
from fusiondp.comparison import BASELINES as COMPARED_BASELINES
from fusiondp.comparison import t_interval
from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError
from fusiondp.figures import privacy_utility_figure
from fusiondp.metrics import METRIC_LABELS
from fusiondp.record import write_json_atomic
from fusiondp.sweep import run_sweep
from fusiondp.sweep_grid import ignored_fields
from fusiondp.train.modes import get_mode
from fusiondp.train.settings import TrainSettings

MODES = ("sgd_ori", "sgd_pub", "sgd_hybrid", "dpsgd", "feature_dp", "fusiondp")
EPSILONS = (0.5, 1.0, 2.0, 4.0, 8.0)
SEEDS = 3
QUICK = {"tables": ["hmda_deny"], "epsilons": [1.0, 4.0], "seeds": 2}
METRICS = ("auroc", "auprc")
MATCHED = COMPARED_BASELINES
"""What FusionDP must match, the private baselines ``fusiondp.comparison`` compares it with: its mean paired
difference to the better of them ≥ −1 sd (issue 28's acceptance)."""
BASELINES = ("dpsgd", "feature_dp", "sgd_hybrid")
"""What FusionDP must beat, each by more than 2 sd of the paired differences, to count as a clear win."""
CHECKS = {"matched": list(MATCHED), "beaten": list(BASELINES),
          "sd": "paired: sd over seeds of fusiondp − baseline, same split and seed"}
GAP_MATTERS = 0.03
"""sgd_ori − sgd_pub (test AUROC) from which a table's sensitive columns matter: there fusiondp's curve must close at
least half the distance from its smallest-ε value to sgd_ori (issue 28's acceptance)."""
ROW_FIELDS = ("table", "split_seed", "mode", "seed", "epsilon", "auroc", "auprc", "accuracy", "f1", "brier",
              "val_auroc", "epsilon_spent", "epsilon_replace", "sigma", "sampling_rate", "steps", "accountant",
              "adjacency", "imputer", "wall_time_s")
"""The per-run fields kept in the JSON (the long privacy statement of each run is left out)."""
PLOTLY_JS = "plotly.min.js"


def _csv(kind: type) -> Any:
    return lambda text: [kind(item) for item in text.split(",") if item.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=_csv(str), help="comma-separated suite tables (default: all)")
    parser.add_argument("--epsilons", type=_csv(float), help=f"target ε values (default: {EPSILONS})")
    parser.add_argument("--seeds", type=int, help=f"seeds 0..N-1, each with its own split (default: {SEEDS})")
    parser.add_argument("--modes", type=_csv(str), help=f"modes (default: {','.join(MODES)})")
    parser.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_utility.json",
                        help="JSON to write; the HTML goes beside it")
    parser.add_argument("--work", type=Path, help="keep every run's record here and resume from it (default: a "
                        "temporary folder); use a fresh folder after changing the code, runs are keyed by config")
    parser.add_argument("--replot", action="store_true", help="train nothing: recompute the summary and checks "
                        "from the runs in the JSON named by --out, and rewrite it, the HTML and the printed table")
    parser.add_argument("--merge", type=Path, nargs="+", help="train nothing: join these results (same seeds) into "
                        "--out, a later file's runs replacing an earlier file's for the same table, mode, ε and seed "
                        "(e.g. one mode rerun at new settings); each mode must keep runs of one setting")
    parser.add_argument("--settings", type=Path, action="append", default=[], help="a bench_defaults result whose "
                        "per-mode choice ('chosen') each private mode trains at (default: every mode at the library "
                        "defaults); repeat for results that chose for different modes (a later file wins for a mode "
                        "both chose for)")
    parser.add_argument("--quick", action="store_true", help="smoke run: hmda_deny, ε ∈ {1, 4}, 2 seeds "
                        "(options given explicitly still win)")
    args = parser.parse_args(argv)
    quick = QUICK if args.quick else {}
    args.tables = args.tables or quick.get("tables") or list(suite_tables())
    args.epsilons = args.epsilons or quick.get("epsilons") or list(EPSILONS)
    args.seeds = args.seeds or quick.get("seeds") or SEEDS
    args.modes = args.modes or list(MODES)
    unknown = sorted(set(args.tables) - set(suite_tables()))
    if unknown:
        parser.error(f"unknown table(s) {unknown}; the suite has {', '.join(suite_tables())}")
    for mode in args.modes:
        get_mode(mode)  # an unknown mode fails here, not after the first table has trained
    return args


def git_state() -> dict[str, Any]:
    """The commit benchmarked and whether the library had uncommitted changes (then the commit is not the code)."""
    def git(*command: str) -> str:
        return subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    changed = git("status", "--porcelain", "--", "fusiondp")
    return {"commit": git("rev-parse", "HEAD"), "fusiondp_uncommitted_changes": bool(changed),
            "changed_files": changed.splitlines(), "fusiondp_imported_from": str(Path(fusiondp.__file__).parent)}


def imputation_quality(run_dir: Path) -> list[dict[str, Any]]:
    """Per sensitive column: the imputer's score vs the trivial baseline on held-out support rows (public rows)."""
    with (run_dir / "runs.jsonl").open(encoding="utf-8") as lines:
        record = json.loads(next(lines))["record"]
    return [{"column": c["column"], "kind": c["kind"], "metrics": c["metrics"], "baseline": c["baseline"]}
            for c in record["imputer"]["quality"]["columns"]]


def mode_settings(paths: Sequence[Path]) -> dict[str, dict[str, float | str]]:
    """Each private mode's own training settings, from ``bench_defaults`` results (their ``chosen``: the fair
    protocol's per-mode choice on validation rows, docs/method.md §7; a later result wins for a mode both chose
    for); none given: every mode at the defaults. A None is kept where the knob may be None (``noise_level``:
    a fixed C) and read as "not applicable to this mode" elsewhere (α for dpsgd), which keeps its default."""
    settings = {}
    for path in paths:
        chosen = json.loads(path.read_text(encoding="utf-8"))["chosen"]
        settings.update({mode: {knob: value for knob, value in knobs.items() if value is not None or _nullable(knob)}
                         for mode, knobs in chosen.items()})
    return settings


def _nullable(knob: str) -> bool:
    """Whether a RunConfig knob takes None as a setting of its own (rather than None meaning "not applicable")."""
    try:
        RunConfig.build(**{knob: None})
    except ConfigError:
        return False
    return True


def setting_groups(modes: Sequence[str], settings: dict[str, dict[str, float | str]]
                   ) -> dict[str, tuple[list[str], dict]]:
    """Modes that train at the same settings, by a folder name for their runs (``defaults`` for the library's own):
    one sweep per group shares its preparation among the group's modes."""
    defaults = RunConfig().to_dict()
    groups: dict[str, tuple[list[str], dict]] = {}
    for mode in modes:
        own = {knob: value for knob, value in settings.get(mode, {}).items() if defaults.get(knob) != value}
        name = "_".join(f"{knob}{value}" if isinstance(value, str | None) else f"{knob}{value:g}"
                        for knob, value in sorted(own.items())) or "defaults"
        groups.setdefault(name, ([], own))[0].append(mode)
    return groups


def seed_base(base: RunConfig, own: dict[str, Any], seed: int) -> RunConfig:
    """A table's base config at a mode group's own settings and a seed's split, validated as a config file is: a
    setting read back from JSON (``epochs`` 26.0) becomes its field's type, and one out of range stops the run."""
    return RunConfig.build(**{**base.to_dict(), **own, "split_seed": seed})


def run_table(table: SuiteTable, args: argparse.Namespace, work: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every (mode, ε, seed) of one table: per seed one sweep per group of modes sharing settings (one only,
    at the defaults, unless ``--settings`` gives modes their own), each seed on its own split."""
    frames, quality = [], {}
    groups = setting_groups(args.modes, mode_settings(args.settings))
    for seed in range(args.seeds):
        for name, (modes, own) in groups.items():
            grid = table.sweep_grid(modes=modes, epsilon=args.epsilons, seeds=[seed])
            grid.base = seed_base(grid.base, own, seed)
            run_dir = work / table.name / f"seed{seed}" / ("" if len(groups) == 1 else name)
            frame = run_sweep(grid, run_dir, workers=args.workers, resume=True, progress=False)
            frames.append(frame.assign(table=table.name, split_seed=seed))
            quality.setdefault(f"seed{seed}", imputation_quality(run_dir))
    rows = pd.concat(frames, ignore_index=True)
    return rows[[c for c in ROW_FIELDS if c in rows.columns]], quality


def summarize_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd (ddof 1) and count of each metric per table, mode and ε (ε empty for the non-private modes)."""
    keyed = rows.assign(epsilon=rows["epsilon"].astype(float))
    stats = keyed.groupby(["table", "mode", "epsilon"], dropna=False, sort=False)[list(METRICS)].agg(
        ["mean", "std", "count"])
    stats.columns = [f"{metric}_{stat if stat != 'std' else 'sd'}" for metric, stat in stats.columns]
    return stats.reset_index()


def _stat(summary: pd.DataFrame, table: str, mode: str, epsilon: float, metric: str) -> tuple[float, float] | None:
    """(mean, sd) of one mode: at ``epsilon`` for a DP mode, its only value for a reference."""
    rows = summary[(summary["table"] == table) & (summary["mode"] == mode)]
    if get_mode(mode).is_private:
        rows = rows[rows["epsilon"] == epsilon]
    if rows.empty:
        return None
    row = rows.iloc[0]
    sd = row[f"{metric}_sd"]
    return float(row[f"{metric}_mean"]), float(sd) if math.isfinite(sd) else 0.0


def _seed_series(rows: pd.DataFrame, table: str, mode: str, epsilon: float | None, metric: str) -> pd.Series:
    """One mode's ``metric`` per seed on ``table``: at ``epsilon``, or every run of it where that is None."""
    picked = rows[(rows["table"] == table) & (rows["mode"] == mode)]
    if epsilon is not None:
        picked = picked[picked["epsilon"] == epsilon]
    return picked.set_index("seed")[metric]


def _paired(diff: pd.Series) -> dict[str, Any]:
    """Mean, sd and the 95 % t interval (None below two seeds) of per-seed differences."""
    diff = diff.dropna()
    return {"mean": float(diff.mean()), "sd": float(diff.std()) if len(diff) > 1 else 0.0, "seeds": len(diff),
            "interval": t_interval(diff.tolist())}


def _paired_gain(rows: pd.DataFrame, table: str, baseline: str, epsilon: float, metric: str) -> dict[str, Any]:
    """fusiondp − baseline per seed (same split, same seed), as ``_paired`` reads it."""
    def per_seed(mode: str) -> pd.Series:
        return _seed_series(rows, table, mode, epsilon if get_mode(mode).is_private else None, metric)

    return _paired(per_seed("fusiondp") - per_seed(baseline))


def acceptance(rows: pd.DataFrame, summary: pd.DataFrame, epsilons: Sequence[float]) -> list[dict[str, Any]]:
    """Per table, ε and metric, paired by seed: fusiondp against the better of ``MATCHED`` (within 1 sd) and
    against each of ``BASELINES`` (by more than 2 sd)."""
    checks = []
    for table in dict.fromkeys(rows["table"]):
        for epsilon in epsilons:
            for metric in METRICS:
                fusion = _stat(summary, table, "fusiondp", epsilon, metric)
                means = {b: s[0] for b in BASELINES if (s := _stat(summary, table, b, epsilon, metric)) is not None}
                matched = [b for b in MATCHED if b in means]
                if fusion is None or not matched:
                    continue
                best = max(matched, key=means.__getitem__)
                gains = {b: _paired_gain(rows, table, b, epsilon, metric) for b in means}
                checks.append({
                    "table": table, "epsilon": epsilon, "metric": metric, "fusiondp_mean": fusion[0],
                    "fusiondp_sd": fusion[1], "best_baseline": best, "best_baseline_mean": means[best],
                    "within_1sd_of_best": gains[best]["mean"] >= -gains[best]["sd"],
                    "beats_all_by_2sd": all(gain["mean"] > 2 * gain["sd"] for gain in gains.values()),
                    "baselines_compared": sorted(means), "paired_gain": gains,
                })
    return checks


def curve_checks(rows: pd.DataFrame, epsilons: Sequence[float], metric: str = "auroc") -> list[dict[str, Any]]:
    """Per table, fusiondp's curve, paired by seed: its rise from the smallest to the largest ε (met when the mean is
    ≥ 0), and where the sensitive columns matter (sgd_ori − sgd_pub ≥ ``GAP_MATTERS``) the share of the distance
    from its smallest-ε value to sgd_ori that the largest ε closes. That share is met at ½ exactly when the mean of
    largest-ε − (smallest-ε + sgd_ori) / 2 is ≥ 0, a per-seed difference with an interval of its own, so a miss
    within the seeds' noise reads differently from one beyond it."""
    low, high = min(epsilons), max(epsilons)
    checks = []
    for table in dict.fromkeys(rows["table"]):
        start, end = (_seed_series(rows, table, "fusiondp", eps, metric) for eps in (low, high))
        if start.empty or end.empty or low == high:
            continue
        rise = _paired(end - start)
        check: dict[str, Any] = {"table": table, "metric": metric, "epsilon_low": low, "epsilon_high": high,
                                 "fusiondp_low": float(start.mean()), "fusiondp_high": float(end.mean()),
                                 "rise": rise, "rises": rise["mean"] >= 0}
        ori, pub = (_seed_series(rows, table, mode, None, metric) for mode in ("sgd_ori", "sgd_pub"))
        if not ori.empty and not pub.empty:
            gap = float((ori - pub).dropna().mean())
            check.update(sgd_ori=float(ori.mean()), gap=gap, matters=gap >= GAP_MATTERS)
            if gap >= GAP_MATTERS:
                halfway = _paired(end - (start + ori) / 2)
                distance = float(ori.mean() - start.mean())
                check.update(closed=float(end.mean() - start.mean()) / distance if distance > 0 else math.nan,
                             beyond_halfway=halfway, half_distance=halfway["mean"] >= 0)
        checks.append(check)
    return checks


def derived_checks(rows: pd.DataFrame, epsilons: Sequence[float]) -> dict[str, Any]:
    """What a result derives from its runs: the summary, the per-cell checks and fusiondp's curve checks (a run and
    ``--replot``/``--merge`` alike)."""
    summary = summarize_runs(rows)
    return {"summary": summary.to_dict(orient="records"), "checks": acceptance(rows, summary, epsilons),
            "curve_checks": curve_checks(rows, epsilons)}


def _interval_phrase(paired: dict[str, Any]) -> str:
    interval = paired["interval"]
    spread = f"{paired['mean']:+.3f} ± {paired['sd']:.3f}"
    return spread if interval is None else f"{spread} (95 % interval {interval[0]:+.3f} to {interval[1]:+.3f})"


CURVE_RULE = (f"rises: its largest-ε value ≥ its smallest-ε value on average; where sgd_ori − sgd_pub ≥ {GAP_MATTERS}, "
              "half the distance: its largest-ε value ≥ the halfway point between its smallest-ε value and sgd_ori "
              "on average (closed: the share of that distance it covers)")


def curve_rows(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per table: the rise and, where the sensitive columns matter, the half-distance check."""
    lines = []
    for check in checks:
        line = {"table": check["table"], "sgd_ori − sgd_pub": f"{check['gap']:+.3f}" if "gap" in check else "",
                f"fusiondp ε {check['epsilon_low']:g} → {check['epsilon_high']:g}":
                    f"{check['fusiondp_low']:.3f} → {check['fusiondp_high']:.3f}",
                "rise": _interval_phrase(check["rise"]), "rises": "yes" if check["rises"] else "NO"}
        matters = check.get("matters", False)
        line.update({"closed": f"{check['closed']:.0%}" if matters else "",
                     "ε high − halfway to sgd_ori": _interval_phrase(check["beyond_halfway"]) if matters else "",
                     "half the distance": ("yes" if check["half_distance"] else "NO") if matters else ""})
        lines.append(line)
    return lines


def chance_failures(checks: list[dict[str, Any]], seeds: int, metric: str = "auroc") -> str:
    """How many of ``checks``' cells fail ≥best−1sd, beside how many would by chance alone at ``seeds`` seeds for a
    method exactly as good as its baselines (``benchmarks.chance``)."""
    cells = [c for c in checks if c["metric"] == metric]
    failed = sum(not c["within_1sd_of_best"] for c in cells)
    found = (f"{METRIC_LABELS[metric]}: fusiondp is below the better of {' and '.join(MATCHED)} by more than 1 "
             f"paired sd in {failed} of {len(cells)} cells")
    if seeds < 2:
        return f"{found}; one seed has no spread, so no cell can be judged."
    rate = chance_below(seeds, len(MATCHED))
    return (f"{found}; a method exactly as good as both would be in {rate:.1%} of cells at {seeds} seeds, about "
            f"{rate * len(cells):.1f} of {len(cells)}, by chance alone.")


def _cell(stat: tuple[float, float] | None) -> str:
    return "" if stat is None else f"{stat[0]:.3f}±{stat[1]:.3f}"


def compact_rows(summary: pd.DataFrame, checks: list[dict[str, Any]], modes: Sequence[str], metric: str
                 ) -> list[dict[str, Any]]:
    """One line per table and ε: each mode's mean ± sd and the two acceptance checks."""
    order = [m for m in ("fusiondp", "dpsgd", "feature_dp", "sgd_hybrid", "sgd_pub", "sgd_ori") if m in modes]
    lines = []
    for check in (c for c in checks if c["metric"] == metric):
        line: dict[str, Any] = {"table": check["table"], "ε": f"{check['epsilon']:g}"}
        line.update({mode: _cell(_stat(summary, check["table"], mode, check["epsilon"], metric)) for mode in order})
        line["≥best−1sd"] = "yes" if check["within_1sd_of_best"] else "NO"
        line[">all+2sd"] = "yes" if check["beats_all_by_2sd"] else "no"
        lines.append(line)
    return lines


def write_html(path: Path, rows: pd.DataFrame, summary: pd.DataFrame, checks: list[dict[str, Any]],
               tables: dict[str, Any], settings: dict[str, Any], chance_line: str,
               curves: list[dict[str, Any]] | None = None) -> Path:
    """One privacy-utility panel per table and metric (the library's own figure), the checks with ``chance_line``
    (``chance_failures``) and fusiondp's curve checks (``curve_rows``), the tables.

    plotly.js is written once beside the page instead of inline (the page works offline and a
    re-run does not add another 4.8 MB copy to the repository).
    """
    script = path.parent / PLOTLY_JS
    plotly_js = get_plotlyjs()
    if not script.is_file() or script.read_text(encoding="utf-8") != plotly_js:
        script.write_text(plotly_js, encoding="utf-8")
    panels = []
    for table in dict.fromkeys(rows["table"]):
        meta = tables[table]
        figures = []
        for metric in METRICS:
            fig = privacy_utility_figure(rows[rows["table"] == table], metric)
            fig.update_layout(title=f"{table}: {METRIC_LABELS[metric]} (mean ± sd over {settings['seeds']} seeds)",
                              height=520, legend={"orientation": "h", "yanchor": "top", "y": -0.2, "title": None})
            figures.append(fig.to_html(full_html=False, include_plotlyjs=False, default_width="100%"))
        missing = ", ".join(f"{c} {p:g}%" for c, p in meta["sensitive_missing_pct"].items() if p > 0) or "none"
        panels.append(f"<h2>{html.escape(table)}</h2><p>{html.escape(meta['title'])}: {meta['rows']:,} rows, "
                      f"target <code>{html.escape(meta['target'])}</code> ({100 * meta['positive_rate']:.1f}% "
                      f"positive); sensitive {html.escape(', '.join(meta['sensitive']))}; missing in sensitive "
                      f"columns: {html.escape(missing)}. Source: {html.escape(meta['package'])}; licence: "
                      f"{html.escape(meta['licence'])}.</p><div class='row'>{''.join(figures)}</div>")
    checks_html = "".join(
        f"<h3>{METRIC_LABELS[metric]}</h3>"
        + pd.DataFrame(compact_rows(summary, checks, settings["modes"], metric)).to_html(index=False, classes="table")
        for metric in METRICS if checks)
    curves_html = "" if not curves else (
        f"<h3>fusiondp's curve</h3><p>{html.escape(CURVE_RULE)}.</p>"
        + pd.DataFrame(curves).to_html(index=False, classes="table"))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>FusionDP benchmark suite: utility</title>
<script src="{PLOTLY_JS}"></script>
<style>body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em}}
.row{{display:grid;grid-template-columns:1fr 1fr;gap:1em}}
.table{{border-collapse:collapse;font-size:0.85em;margin:1em 0}}
.table td,.table th{{padding:0.25em 0.6em;border-bottom:1px solid #ddd;text-align:left}}</style></head><body>
<h1>FusionDP benchmark suite: privacy-utility</h1>
<p>{_commit_phrase(settings)}{' (with uncommitted library changes)'
    if settings['git']['fusiondp_uncommitted_changes'] else ''}; ε ∈ {{{', '.join(f'{e:g}' for e in
    settings['epsilons'])}}}; {settings['seeds']} seeds, each with its own split; metrics on the real test rows;
{html.escape(_settings_phrase(settings))}. Dashed lines: the non-private references (they do not depend on ε).</p>
<h2>Acceptance checks</h2>
<p><b>≥best−1sd</b>: fusiondp − the better of dpsgd and feature_dp, per seed (same split and seed): its mean ≥
−1 sd. <b>&gt;all+2sd</b>: fusiondp − each of dpsgd, feature_dp and sgd_hybrid, per seed: every mean above 2 sd.
{html.escape(chance_line)}</p>{checks_html}{curves_html}
{''.join(panels)}
</body></html>"""
    html_path = path.with_suffix(".html")
    html_path.write_text(page, encoding="utf-8")
    return html_path


def _commit_phrase(settings: dict[str, Any]) -> str:
    """The commit the runs were trained at, or each source's for results joined with ``--merge``."""
    merged = settings.get("merged_from")
    if not merged:
        return f"Commit <code>{html.escape(settings['git']['commit'][:12])}</code>"
    commits = ", ".join(f"<code>{html.escape(commit[:12])}</code>"
                        for commit in dict.fromkeys(source["commit"] for source in merged))
    return f"Runs of {len(merged)} results joined with --merge, trained at commits {commits}"


def _settings_phrase(settings: dict[str, Any]) -> str:
    """The training settings of a run, in words: the library defaults, or each private mode's own."""
    own = settings.get("mode_settings") or {}
    if not own:
        return "every mode at the library's default training settings"
    chosen = "; ".join(f"{mode}: " + ", ".join(f"{knob} {value:g}" if isinstance(value, float) else f"{knob} {value}"
                                               for knob, value in knobs.items())
                       for mode, knobs in own.items())
    return f"each private mode at the settings the fair protocol chose for it ({chosen}), the rest at the defaults"


def report(out: Path, payload: dict[str, Any]) -> None:
    """Write the HTML beside the JSON ``out`` and print the compact tables."""
    rows, settings = pd.DataFrame(payload["runs"]), payload["settings"]
    summary = summarize_runs(rows)
    chance_line = chance_failures(payload["checks"], settings["seeds"])
    curves = curve_rows(payload.get("curve_checks", []))
    html_path = write_html(out, rows, summary, payload["checks"], payload["tables"], settings, chance_line, curves)
    for metric in METRICS:
        lines = compact_rows(summary, payload["checks"], settings["modes"], metric)
        if lines:
            print(f"\n{METRIC_LABELS[metric]} on the real test rows, mean ± sd over {settings['seeds']} seeds:")
            print_table(lines)
    print(f"\n{chance_line}")
    if curves:
        print(f"\nfusiondp's curve (AUROC, paired by seed; {CURVE_RULE}):")
        print_table(curves)
    print(f"\n{len(rows)} runs in {settings['wall_s']} s; wrote {out} and {html_path}")


RUN_KEY = ["table", "mode", "epsilon", "seed"]


def _trained_at(settings: dict[str, Any], mode: str) -> dict[str, Any]:
    """What ``mode`` was trained at in one result: the library's defaults of its commit, under the mode's own
    settings, with ``auto`` resolved to what the mode trains at (the epochs, noise level, schedule and encoding) and
    the knobs the mode ignores left out (``ignored_fields``: a non-private mode's noise level). A knob the commit did
    not have yet is absent (only knobs both results know are compared)."""
    knobs = {**settings.get("run_config_defaults", {}), **settings["mode_settings"].get(mode, {})}
    per_mode = {knob: knobs[knob] for knob in ("epochs", "noise_level", "lr_schedule") if knob in knobs}
    resolved = TrainSettings(**per_mode, numeric_encoding=knobs.get("numeric_encoding", "standard")).for_mode(mode)
    knobs.update({knob: getattr(resolved, knob) for knob in (*per_mode, "numeric_encoding") if knob in knobs})
    ignored = ignored_fields(get_mode(mode), knobs.get("alpha"))
    return {key: value for key, value in knobs.items() if key not in ignored}


def merge_results(paths: Sequence[Path]) -> dict[str, Any]:
    """One payload from several ``bench_utility`` results of the same seeds: runs keyed by table, mode, ε and seed,
    a later file's replacing an earlier file's; each mode's settings from the files its kept runs came from, which
    must agree, defaults of their commits included (a mode half at one setting and half at another would be
    reported as one), and are reported against the last file's defaults, which the payload keeps (a knob an
    older commit did not have ran as it does at its default). The summary and checks are recomputed by the
    caller; ``merged_from`` names every source with its commit and training time."""
    payloads = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    seeds = {payload["settings"]["seeds"] for payload in payloads}
    if len(seeds) != 1:
        raise SystemExit(f"--merge: the results have different seed counts {sorted(seeds)}; merge runs of one seed "
                         "count only")
    frames = [pd.DataFrame(payload["runs"]).assign(_source=index) for index, payload in enumerate(payloads)]
    rows = pd.concat(frames, ignore_index=True)
    rows = rows.drop_duplicates(subset=RUN_KEY, keep="last")
    first = payloads[0]["settings"]
    reported_defaults = payloads[-1]["settings"].get("run_config_defaults", {})
    mode_settings_out: dict[str, Any] = {}
    for mode, sources in rows.groupby("mode")["_source"].unique().items():
        trained = [_trained_at(payloads[source]["settings"], mode) for source in sources]
        differ = sorted({key for a in trained for b in trained for key in a.keys() & b.keys() if a[key] != b[key]})
        if differ:
            raise SystemExit(f"--merge: {mode}'s kept runs come from results at different settings ({', '.join(differ)}"
                             " differ); rerun that mode in full or merge it from one result")
        own = dict(payloads[sources[0]]["settings"]["mode_settings"].get(mode, {}))
        reported = _trained_at({"run_config_defaults": reported_defaults, "mode_settings": {}}, mode)
        own.update({key: value for key, value in trained[0].items() if key in reported and reported[key] != value})
        mode_settings_out[mode] = own
    settings = {**first,
                "tables": list(dict.fromkeys(t for p in payloads for t in p["settings"]["tables"])),
                "modes": list(dict.fromkeys(m for p in payloads for m in p["settings"]["modes"])),
                "epsilons": sorted({e for p in payloads for e in p["settings"]["epsilons"]}),
                "mode_settings": {mode: own for mode, own in mode_settings_out.items() if own},
                "mode_settings_from": list(dict.fromkeys(f for p in payloads
                                                         for f in p["settings"]["mode_settings_from"])),
                "wall_s": sum(p["settings"]["wall_s"] for p in payloads),
                "merged_from": [{"file": path.name, "commit": p["settings"]["git"]["commit"],
                                 "wall_s": p["settings"]["wall_s"], "wall_note": p["settings"].get("wall_note"),
                                 "runs_kept": int((rows["_source"] == index).sum())}
                                for index, (path, p) in enumerate(zip(paths, payloads, strict=True))]}
    settings["run_config_defaults"] = reported_defaults
    settings["git"] = {**first["git"], "fusiondp_uncommitted_changes": any(
        p["settings"]["git"].get("fusiondp_uncommitted_changes") for p in payloads)}
    settings.pop("wall_note", None)
    tables = {name: meta for payload in payloads for name, meta in payload["tables"].items()}
    return {"machine": payloads[-1]["machine"], "settings": settings, "tables": tables,
            "runs": rows.drop(columns="_source").to_dict(orient="records")}


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.replot or args.merge:
        payload = merge_results(args.merge) if args.merge else json.loads(args.out.read_text(encoding="utf-8"))
        payload.update(derived_checks(pd.DataFrame(payload["runs"]), payload["settings"]["epsilons"]))
        payload["settings"]["checks"] = CHECKS
        write_json_atomic(args.out, payload)
        report(args.out, payload)
        return
    git = git_state()
    if git["fusiondp_uncommitted_changes"]:
        print(f"note: fusiondp/ has uncommitted changes; the results are not those of commit {git['commit'][:12]}")
    settings = {"tables": args.tables, "modes": args.modes, "epsilons": args.epsilons, "seeds": args.seeds,
                "split": "seed s uses split_seed s", "workers": args.workers, "git": git,
                "run_config_defaults": RunConfig().to_dict(),
                "mode_settings": mode_settings(args.settings),
                "mode_settings_from": [path.resolve().relative_to(ROOT).as_posix() for path in args.settings],
                "checks": CHECKS}
    started = time.perf_counter()
    suite = suite_tables()
    all_rows, tables = [], {}
    with tempfile.TemporaryDirectory(prefix="bench_utility_") as scratch:
        work = args.work or Path(scratch)
        for name in args.tables:
            table_started = time.perf_counter()
            table = suite[name]
            meta = table.metadata(table.load())
            rows, quality = run_table(table, args, work)
            tables[name] = {**meta, "imputation_quality": quality, "wall_s": round(time.perf_counter() - table_started)}
            all_rows.append(rows)
            print(f"{name}: {len(rows)} runs in {tables[name]['wall_s']} s", flush=True)
    rows = pd.concat(all_rows, ignore_index=True)
    settings["wall_s"] = round(time.perf_counter() - started)
    payload = {"machine": machine(), "settings": settings, "tables": tables, **derived_checks(rows, args.epsilons),
               "runs": rows.to_dict(orient="records")}
    write_json_atomic(args.out, payload)
    report(args.out, json.loads(args.out.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
