"""Reports: the privacy-utility figures and tables, and report.html from sweep and run folders."""

from __future__ import annotations

import html
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from fusiondp.cli import app
from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError, DataError
from fusiondp.figures import REFERENCE_LABELS, export_figure_images, privacy_utility_figure, training_figure
from fusiondp.privacy.audit_report import AttributeLeak, AuditReport
from fusiondp.report import build_html_report, load_results
from fusiondp.result_tables import gain_table, per_epsilon_table
from fusiondp.runs import run, save_results
from fusiondp.spec import TableSpec
from fusiondp.verdicts import run_verdicts
from tests.conftest import SAMPLE_CSV, SAMPLE_SPEC
from tests.pages import readable

EPSILONS = (0.5, 2.0, 8.0)
PRIVATE = {"dpsgd": 0.60, "feature_dp": 0.65, "fusiondp": 0.70}
PUBLIC = {"sgd_ori": 0.80, "sgd_pub": 0.62, "sgd_hybrid": 0.72}


def curve_results() -> pd.DataFrame:
    """Known numbers: private modes rise by 0.01 per ε step, seeds add 0 / +0.02 / −0.02."""
    rows = []
    for seed, offset in zip((0, 1, 2), (0.0, 0.02, -0.02), strict=True):
        for mode, level in PRIVATE.items():
            for step, epsilon in enumerate(EPSILONS):
                value = level + 0.01 * step + offset * (1 if mode != "dpsgd" else 0.5)
                rows.append({"mode": mode, "seed": seed, "epsilon": epsilon, "auroc": value, "auprc": value / 2,
                             "accuracy": 0.8, "f1": 0.1, "brier": 0.1, "epsilon_spent": epsilon * 0.999,
                             "adjacency": "feature removal", "selection": "none"})
        for mode, level in PUBLIC.items():
            rows.append({"mode": mode, "seed": seed, "epsilon": None, "auroc": level + offset, "auprc": level / 2,
                         "accuracy": 0.8, "f1": 0.1, "brier": 0.1, "epsilon_spent": None, "adjacency": "none",
                         "selection": "none"})
    return pd.DataFrame(rows)


def test_privacy_utility_figure_lines_error_bars_and_references() -> None:
    fig = privacy_utility_figure(curve_results())
    traces = {t.name: t for t in fig.data}
    assert set(traces) == {*PRIVATE, *(f"{m} ({REFERENCE_LABELS[m]})" for m in PUBLIC)}
    fusion = traces["fusiondp"]
    assert list(fusion.x) == list(EPSILONS)
    np.testing.assert_allclose(fusion.y, [0.70, 0.71, 0.72])
    np.testing.assert_allclose(fusion.error_y.array, [0.02] * 3)
    reference = traces["sgd_ori (no privacy)"]
    assert list(reference.x) == [0.5, 8.0] and list(reference.y) == pytest.approx([0.8, 0.8])
    assert reference.line.dash == "dash"
    assert fig.layout.xaxis.type == "log"
    assert "3 seeds" in fig.layout.title.text
    single = privacy_utility_figure(curve_results().query("seed == 0"))
    assert "one seed: no spread" in single.layout.title.text
    assert all("0.000" not in str(t.hovertemplate) and "1 seeds" not in str(t.hovertemplate) for t in single.data)


def test_per_epsilon_table_and_gain_are_paired_by_seed() -> None:
    results = curve_results()
    table = per_epsilon_table(results)
    row = table[(table["mode"] == "fusiondp") & (table["epsilon"] == 2.0)].iloc[0]
    assert row["auroc_mean"] == pytest.approx(0.71) and row["auroc_sd"] == pytest.approx(0.02)
    assert row["seeds"] == 3 and row["epsilon_spent"] == pytest.approx(1.998)
    assert table["epsilon"].isna().sum() == len(PUBLIC)  # references: one row each, listed last
    assert table["epsilon"].iloc[-len(PUBLIC):].isna().all()
    gains = gain_table(results).set_index(["baseline", "epsilon"])
    assert gains.loc[("dpsgd", 8.0), "gain_mean"] == pytest.approx(0.10)
    assert gains.loc[("dpsgd", 8.0), "gain_sd"] == pytest.approx(0.01)  # offsets differ by half per seed
    assert gains.loc[("feature_dp", 0.5), "gain_sd"] == pytest.approx(0.0, abs=1e-12)
    assert gains["pairs"].eq(3).all()


def test_per_epsilon_table_has_audit_columns_only_when_audited() -> None:
    results = curve_results()
    assert not any(c.startswith(("attribute_advantage", "membership")) for c in per_epsilon_table(results).columns)
    audited = results.assign(attribute_advantage=results["seed"] * 0.01, membership_auc=0.5,
                             membership_tpr_at_1pct_fpr=0.01)
    table = per_epsilon_table(audited)
    row = table[(table["mode"] == "fusiondp") & (table["epsilon"] == 2.0)].iloc[0]
    assert row["attribute_advantage_mean"] == pytest.approx(0.01)
    assert row["attribute_advantage_sd"] == pytest.approx(0.01)
    assert row["membership_auc_mean"] == pytest.approx(0.5) and row["membership_tpr_at_1pct_fpr_mean"] == 0.01


def test_cli_sweep_audit_flag_turns_the_audit_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fusiondp.sweep
    from fusiondp.sweep_grid import SweepGrid

    seen = []

    def fake_sweep(grid: SweepGrid, *args: object, **kwargs: object) -> pd.DataFrame:
        seen.append(grid.audit)
        return curve_results()

    monkeypatch.setattr(fusiondp.sweep, "run_sweep", fake_sweep)
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"base": {"data": str(SAMPLE_CSV), "spec": str(SAMPLE_SPEC)},
                                    "grid": {"modes": ["fusiondp"]}}), encoding="utf-8")
    for flags in ([], ["--audit"]):
        result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out"), *flags])
        assert result.exit_code == 0, result.output
    assert seen == [False, True]
    assert "audited" in result.output


def test_figures_refuse_several_settings_per_epsilon() -> None:
    results = curve_results()
    doubled = pd.concat([results.assign(alpha=1.0), results.assign(alpha=3.0)], ignore_index=True)
    with pytest.raises(ConfigError, match="select_best"):
        privacy_utility_figure(doubled)
    with pytest.raises(ConfigError, match="Unknown metric"):
        privacy_utility_figure(results, "auc")


def test_report_needs_a_results_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"neither runs\.jsonl"):
        build_html_report(tmp_path)


def test_image_export_says_why_without_kaleido(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kaleido", None)
    written, problem = export_figure_images(privacy_utility_figure(curve_results()), tmp_path / "curve")
    assert written == [] and "pip install kaleido" in problem
    assert not list(tmp_path.iterdir())


def _assert_report(path: Path) -> str:
    """The page's text with its figures decoded (tests.pages.readable), after the checks every report passes."""
    page = path.read_text(encoding="utf-8")
    assert page.count("* plotly.js v") == 1 and 'src="http' not in page  # plotly.js inline, once: works offline
    text = readable(page)
    for section in ("Privacy-utility curves", "Per-ε table", "Privacy ledger", "Imputation", "gbdt"):
        assert section in text, section
    return text


@pytest.mark.slow
def test_cli_sweep_then_report_from_the_sweep_folder(tmp_path: Path) -> None:
    grid = {"base": {"data": str(SAMPLE_CSV), "spec": str(SAMPLE_SPEC), "imputer": "gbdt",
                     "imputer_params": {"max_iter": 20}, "epochs": 1},
            "grid": {"modes": ["sgd_ori", "fusiondp"], "epsilon": [1, 4], "beta": [0.5, 1]}}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid), encoding="utf-8")
    out = tmp_path / "out"
    swept = CliRunner().invoke(app, ["sweep", str(tmp_path / "grid.yaml"), "--out", str(out), "--workers", "1",
                                     "--quiet"])
    assert swept.exit_code == 0, swept.output
    assert "5 runs" in swept.output and (out / "results.csv").is_file()
    result = CliRunner().invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    page = _assert_report(out / "report.html")
    assert "selected on imputed validation rows" in page and "ε with tuning" in page
    assert "fusiondp" in result.output and "report.html" in result.output
    images = [out / "privacy_utility_auroc.svg", out / "privacy_utility_auroc.png"]
    assert all(p.is_file() for p in images) or "was not saved as SVG/PNG" in result.output
    real = CliRunner().invoke(app, ["report", str(out), "--select", "val_real"])
    assert real.exit_code == 0, real.output
    assert "not accounted: selected on real validation rows" in real.output
    assert "Not accounted:" in readable((out / "report.html").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_report_from_run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = RunConfig.build(data=str(SAMPLE_CSV), spec=TableSpec.from_yaml(SAMPLE_SPEC), imputer="gbdt",
                             imputer_params={"max_iter": 20}, epochs=1, modes=["sgd_hybrid", "dpsgd", "fusiondp"],
                             seeds=[0, 1], epsilon=2)
    save_results(tmp_path, *run(config))
    table, records = load_results(tmp_path)
    assert len(table) == len(records) == 6
    assert set(table.loc[table["mode"] != "sgd_hybrid", "epsilon"]) == {2.0}
    assert table["val_auroc"].notna().all()
    monkeypatch.setitem(sys.modules, "kaleido", None)
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    _assert_report(tmp_path / "report.html")
    assert "was not saved as SVG/PNG: kaleido is not installed" in result.output


def test_live_training_chart_is_tall_enough_for_its_whole_legend() -> None:
    """Eight lines (three references, two private modes at three ε) once cut the legend off at the sixth."""
    runs = [("sgd_ori", np.nan), ("sgd_pub", np.nan), ("sgd_hybrid", np.nan),
            *((mode, epsilon) for mode in ("fusiondp", "dpsgd") for epsilon in (1.0, 2.0, 4.0))]
    epochs = pd.DataFrame([{"mode": mode, "epsilon": epsilon, "seed": seed, "epoch": epoch, "val_auroc": 0.7}
                           for mode, epsilon in runs for seed in (0, 1) for epoch in (1, 2)])
    figure = training_figure(epochs)
    assert sum(trace.showlegend for trace in figure.data) == 9
    rows = 9 + 1  # the legend's title and one row per line
    assert figure.layout.height - figure.layout.margin.t - figure.layout.margin.b >= rows * 29
    assert training_figure(epochs[epochs["mode"] == "sgd_ori"]).layout.height == 260


@pytest.mark.slow
def test_html_report_carries_the_privacy_statement(tmp_path) -> None:

    from fusiondp.report import build_html_report
    from tests.cli_runner import run_cli
    from tests.conftest import SAMPLE_CSV, SAMPLE_SPEC

    done = run_cli("run", "--data", SAMPLE_CSV, "--spec", SAMPLE_SPEC, "--modes", "fusiondp,sgd_ori", "--epochs", "1",
                   "--imputer", "knn", "--out", tmp_path, "--quiet")
    assert done.returncode == 0, done.stderr
    page = readable(build_html_report(tmp_path).read_text(encoding="utf-8"))
    assert page.count("Privacy statement in plain words") == 1
    assert "fusiondp at ε = 1" in page and "Protected: the values of age" in page
    assert "<title>FusionDP report: nhanes_diabetes.csv</title>" in page
    assert str(tmp_path) not in page and str(SAMPLE_CSV.parent) not in page, "no local or temporary path"
    assert "(1 seed)" in page and "± 0.000" not in page, "one seed has no spread, not a spread of 0"
    _, records = load_results(tmp_path)
    notes = run_verdicts(records)
    assert all(html.escape(line) in page for line in notes) and ("Read this first" in page) == bool(notes)
    assert "Audit: what could an attacker learn" not in page
    leak = AttributeLeak("age", 10, 0.2, 0.2, 0.4, train_rows=100, holdout_rows=100)
    audited = [(records[0], AuditReport(records[0].mode, 100, [leak], 0.51, 0.012))]
    page = readable(build_html_report(tmp_path, audit=audited).read_text(encoding="utf-8"))
    assert "Audit: what could an attacker learn" in page
    low, high = audited[0][1].advantage_interval()
    assert "<td>no measurable leak</td>" in page and f"<td>+0.000 ({low:+.3f} to {high:+.3f})</td>" in page
    assert "Attack accuracy below the imputer alone" in page
