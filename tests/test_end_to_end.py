"""End to end: the CLI on the sample data, and a rerun from the saved config (same draws but the secret noise)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import SAMPLE_CSV, SAMPLE_SPEC

pytestmark = pytest.mark.slow


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fusiondp.cli", *args], capture_output=True, text=True, timeout=600)


def test_cli_run_all_modes_then_reproduce_from_config(tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = SAMPLE_CSV.read_bytes()
    result = _cli("run", "--data", str(SAMPLE_CSV), "--spec", str(SAMPLE_SPEC), "--epsilon", "1", "--modes", "all",
                  "--seeds", "2", "--epochs", "2", "--imputer", "auto", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert SAMPLE_CSV.read_bytes() == before, "the input table must never be modified"
    for mode in ("sgd_ori", "sgd_pub", "sgd_hybrid", "dpsgd", "feature_dp", "fusiondp", "naive_fusion"):
        assert f"\n{mode} " in result.stdout
    assert "imputer: gbdt (tabpfn unavailable (TabPFN weights not found); using gbdt; details: fusiondp info)" \
        in result.stdout
    assert "epoch" in result.stderr, "a progress bar reports epochs"

    results = json.loads((out / "results.json").read_text())
    assert len(results["records"]) == 14
    summary = {row["mode"]: row for row in results["summary"]}
    fusion = summary["fusiondp"]
    assert fusion["epsilon_spent"] <= 1.0 and fusion["accountant"] == "rdp" and fusion["delta"] == 1e-5
    assert fusion["sigma"] > 0 and 0 < fusion["sampling_rate"] < 1 and fusion["steps"] > 0
    assert summary["sgd_ori"]["epsilon_spent"] is None
    record = results["records"][0]
    assert record["schema_version"] == 1 and record["imputer"]["name"] == "gbdt"
    assert set(record["metrics"]) >= {"auroc", "auprc", "accuracy", "f1"}
    assert record["imputer"]["quality"]["columns"], "the imputation quality report travels with every record"

    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["epsilon"] == 1.0 and saved["spec"]["target"] == "diabetes"
    again = tmp_path / "again"
    rerun = _cli("run", "--config", str(out / "config.yaml"), "--modes", "fusiondp,sgd_ori", "--out", str(again))
    assert rerun.returncode == 0, rerun.stderr
    rerun_records = json.loads((again / "results.json").read_text())["records"]
    original = {(r["mode"], r["seed"]): r for r in results["records"]}
    for r in rerun_records:  # the seed replays the split, imputation and public draws; the DP noise is secret
        first = original[(r["mode"], r["seed"])]
        assert (r["metrics"] == first["metrics"]) is (r["mode"] == "sgd_ori"), r["mode"]
        assert r["privacy"]["sigma"] == first["privacy"]["sigma"]
    joint = results["joint_release"]  # 4 DP modes × 2 seeds, each its own training
    assert joint["models"] == 8 and joint["trainings"] == 8
    assert max(r["privacy"]["epsilon_replace"] or 0 for r in results["records"]) < joint["epsilon"]
    assert "joint release: Releasing these 8 DP models together" in result.stdout


def test_cli_inline_roles_impute_and_accountant(tmp_path: Path) -> None:
    result = _cli("impute", "--data", str(SAMPLE_CSV), "--target", "diabetes", "--sensitive", "age,gender",
                  "--categorical", "gender", "--report", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "age" in result.stdout and "gender" in result.stdout and "baseline" in result.stdout
    report = json.loads((tmp_path / "imputation.json").read_text())
    assert {c["column"] for c in report["quality"]["columns"]} == {"age", "gender"}

    calc = _cli("accountant", "--epsilon", "1", "--batch-size", "128", "--rows", "3058", "--epochs", "13")
    assert calc.returncode == 0, calc.stderr
    assert "rdp: σ = 3.17" in calc.stdout and "pld:" in calc.stdout

    info = _cli("info")
    assert info.returncode == 0 and "imputer gbdt: available" in info.stdout


def test_cli_multi_epsilon_prepares_once_and_prints_the_curve(tmp_path: Path) -> None:
    out = tmp_path / "curve"
    result = _cli("run", "--data", str(SAMPLE_CSV), "--spec", str(SAMPLE_SPEC), "--epsilon", "2,0.5",
                  "--modes", "fusiondp,dpsgd,sgd_pub", "--seeds", "2", "--epochs", "1", "--imputer", "gbdt",
                  "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("imputer: gbdt") == 1, "one preparation serves every ε"
    assert "Privacy-utility curve" in result.stdout and "reference sgd_pub" in result.stdout
    assert "WARNING: income_poverty_ratio" in result.stdout, "a column whose imputation loses its missingness is named"
    assert "trained in lockstep (2 models, one training)" in result.stdout, "the shared time column is explained"
    records = json.loads((out / "results.json").read_text())["records"]
    assert {r["mode"]: r["timing"]["models_in_lockstep"] for r in records} == {"fusiondp": 2, "dpsgd": 2, "sgd_pub": 1}
    runs = sorted((r["mode"], r["privacy"]["epsilon_target"], r["seed"]) for r in records)
    assert runs == sorted([(m, e, s) for m in ("fusiondp", "dpsgd") for e in (0.5, 2.0) for s in (0, 1)]
                          + [("sgd_pub", None, 0), ("sgd_pub", None, 1)])
    spent = {(r["mode"], r["privacy"]["epsilon_target"]): r["privacy"]["epsilon_spent"] for r in records}
    assert spent[("fusiondp", 0.5)] <= 0.5 < spent[("fusiondp", 2.0)] <= 2.0
    bad = _cli("run", "--data", str(SAMPLE_CSV), "--spec", str(SAMPLE_SPEC), "--epsilon", "0.5,lots")
    message = " ".join(re.sub(r"[│╭╮╰╯─]", " ", bad.stderr + bad.stdout).split())  # rich wraps it in a box
    assert bad.returncode == 2 and "comma-separated numbers" in message and "'0.5,lots'" in message
