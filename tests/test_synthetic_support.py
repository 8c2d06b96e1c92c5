"""The DP-synthetic support set: privacy of the synthesizer, ε composition, config and a full run."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fusiondp.cli import app, error_message, main
from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError, MissingDeclarations
from fusiondp.preparation import prepare
from fusiondp.privacy.accounting import compose_with_synthesizer, epsilon_spent
from fusiondp.record import RunRecord
from fusiondp.runs import fit_run
from fusiondp.spec import TableSpec
from fusiondp.synth import MarginalSynthesizer, SynthSettings, rho_for_epsilon, zcdp_epsilon

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CSV = ROOT / "sample_data" / "nhanes_diabetes.csv"
SAMPLE_SPEC = ROOT / "sample_data" / "nhanes_diabetes.spec.yaml"

SAMPLE_DECLARATIONS = RunConfig.from_yaml(ROOT / "sample_data" / "nhanes_dp_synthetic.config.yaml")
"""User-declared domains and bounds, written down from the NHANES 2017-2018 codebook."""
SAMPLE_DOMAINS = SAMPLE_DECLARATIONS.sensitive_domains
SAMPLE_BOUNDS = SAMPLE_DECLARATIONS.sensitive_bounds

SPEC = TableSpec(target="y", sensitive=("group", "level"), public=("x", "z"), categorical=("group",),
                 numeric=("level", "x", "z"))
LEVELS = ["a", "b", "c"]


def toy_table(rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    """``group`` is a deterministic function of the public ``x``; ``level`` follows ``x`` too."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 3, rows)
    group = np.array(LEVELS)[np.minimum(x.astype(int), 2)]
    return pd.DataFrame({"x": x, "z": rng.normal(size=rows), "group": group,
                         "level": np.clip(10 * x / 3 + rng.normal(0, 0.5, rows), 0, 10),
                         "y": (x + rng.normal(size=rows) > 1.5).astype(int)})


def settings(epsilon: float, seed: int = 0, **changes: object) -> SynthSettings:
    values = dict(epsilon=epsilon, delta=1e-5, domains={"group": LEVELS}, bounds={"level": (0.0, 10.0)}, bins=5,
                  public_bins=3, condition_on=("x",), seed=seed,
                  reproducible_noise=True)  # these tests compare fits: replayable noise (no DP guarantee)
    values.update(changes)
    return SynthSettings(**values)


def synthesize(table: pd.DataFrame, epsilon: float, seed: int = 0, **changes: object) -> pd.DataFrame:
    return MarginalSynthesizer(SPEC, settings(epsilon, seed, **changes)).fit(table).sample(table)


def test_huge_budget_recovers_the_conditionals() -> None:
    table = toy_table()
    synthetic = synthesize(table, 1e5)
    real_share = pd.crosstab(pd.cut(table.x, [0, 1, 2, 3]), table.group, normalize="index")
    synthetic_share = pd.crosstab(pd.cut(synthetic.x, [0, 1, 2, 3]), synthetic.group, normalize="index")
    assert np.abs(real_share.to_numpy() - synthetic_share.to_numpy()).max() < 0.05
    assert abs(synthetic.level.mean() - table.level.mean()) < 0.2
    assert np.corrcoef(synthetic.x, synthetic.level)[0, 1] > 0.8


def test_tiny_budget_forgets_the_data() -> None:
    table = toy_table().assign(group="a")
    shares = [synthesize(table, 1e-4, seed=seed, public_bins=8).group.eq("a").mean() for seed in range(10)]
    assert abs(np.mean(shares) - 1 / 3) < 0.1


def test_private_values_act_only_through_the_noisy_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    table = toy_table()
    changed = table.assign(group=table.group.iloc[::-1].to_numpy(), level=10 - table.level)

    def pure_noise(self: MarginalSynthesizer, cells: np.ndarray, n_cells: int, codes: np.ndarray, column: str,
                   noise: np.random.Generator) -> np.ndarray:
        return noise.normal(size=(n_cells, self._levels(column)))

    def noise_scores(self: MarginalSynthesizer, cells: list[np.ndarray], codes: np.ndarray, column: str,
                     scale: float, noise: np.random.Generator) -> np.ndarray:
        return noise.gumbel(0.0, scale, len(cells))

    for selected in (("x",), None):
        honest = synthesize(table, 1.0, condition_on=selected), synthesize(changed, 1.0, condition_on=selected)
        assert not honest[0].equals(honest[1])
    monkeypatch.setattr(MarginalSynthesizer, "_measure", pure_noise)
    monkeypatch.setattr(MarginalSynthesizer, "_noisy_scores", noise_scores)
    for selected in (("x",), None):
        pd.testing.assert_frame_equal(synthesize(table, 1.0, condition_on=selected),
                                      synthesize(changed, 1.0, condition_on=selected))


def test_one_row_changes_nothing_when_the_noise_is_overwhelming() -> None:
    table = toy_table()
    neighbour = table.copy()
    neighbour.loc[0, ["group", "level"]] = ["c", 9.5] if table.group[0] == "a" else ["a", 0.5]
    pd.testing.assert_frame_equal(synthesize(table, 1e-6), synthesize(neighbour, 1e-6))
    assert not synthesize(table, 1e5).equals(synthesize(neighbour.assign(group="a"), 1e5))


def test_dp_selection_finds_the_informative_public_column() -> None:
    table = toy_table()
    synthesizer = MarginalSynthesizer(SPEC, settings(1.0, condition_on=None)).fit(table)
    summary = synthesizer.summary(len(table))
    assert summary.condition_on["group"][0] == "x" and summary.condition_on["level"][0] == "x"
    assert summary.rho_selection == pytest.approx(0.1 * summary.rho)
    assert synthesizer.sigma == pytest.approx(math.sqrt(2 * 2) / math.sqrt(2 * 0.9 * summary.rho))


def test_outputs_stay_in_the_declared_domain() -> None:
    table = toy_table()
    table.loc[:99, "group"] = "secret-category"
    table.loc[:99, "level"] = 1e9
    synthetic = synthesize(table, 1e5)
    assert set(synthetic.group) <= set(LEVELS)
    assert synthetic.level.between(0, 10).all()
    pd.testing.assert_frame_equal(synthetic[["x", "z", "y"]], table[["x", "z", "y"]])


def test_missing_domain_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"sensitive_domains:\n  group") as caught:
        MarginalSynthesizer(SPEC, settings(1.0, domains={}))
    assert "never from the private rows" in str(caught.value)
    with pytest.raises(ConfigError, match="bounds of 'level'"):
        MarginalSynthesizer(SPEC, settings(1.0, bounds={}))
    with pytest.raises(ConfigError, match="not public columns"):
        MarginalSynthesizer(SPEC, settings(1.0, condition_on=("group",)))


def test_missing_declarations_carry_their_columns_and_each_front_end_phrases_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(MissingDeclarations) as caught:
        MarginalSynthesizer(SPEC, settings(1.0, domains={}, bounds={}))
    missing = caught.value
    assert (missing.categories, missing.bounds) == (("group",), ("level",))
    assert missing.placeholders() == {"group": "[<category>, <category>, …]", "level": "[<low>, <high>]"}
    assert "categories of 'group'; bounds of 'level'" in missing.problem() and "--" not in missing.problem()
    # The library speaks the config file; the command line adds its flags.
    assert str(missing).endswith("sensitive_domains:\n  group: [<category>, <category>, …]\n"
                                 "sensitive_bounds:\n  level: [<low>, <high>]") and "--sensitive" not in str(missing)
    assert error_message(missing).endswith("(or pass --sensitive-domain group=V1,V2,… --sensitive-bounds "
                                           "level=LOW:HIGH to `fusiondp run`).")
    assert error_message(ConfigError("plain")) == "plain"
    csv = tmp_path / "toy.csv"
    toy_table(300).to_csv(csv, index=False)
    monkeypatch.setattr(sys, "argv", ["fusiondp", "run", "--data", str(csv), "--target", "y", "--sensitive",
                                      "group,level", "--categorical", "group", "--support-source", "dp_synthetic",
                                      "--sensitive-bounds", "level=0:10", "--out", str(tmp_path / "out"), "--quiet"])
    with pytest.raises(SystemExit) as exit_status:
        main()
    assert exit_status.value.code == 2
    stderr = capsys.readouterr().err
    assert "Missing: categories of 'group'." in stderr and "--sensitive-domain group=V1,V2,…" in stderr
    assert "level" not in stderr.split("Missing:")[1], "a declared column is not asked for again"


def test_missing_domain_in_a_run_config_is_a_config_error(sample_spec: TableSpec) -> None:
    config = RunConfig.build(data=str(SAMPLE_CSV), spec=sample_spec, support_source="dp_synthetic",
                             sensitive_bounds=SAMPLE_BOUNDS)
    with pytest.raises(ConfigError, match="categories of 'gender'"):
        prepare(config)


def test_zcdp_calibration_is_tighter_than_the_closed_form() -> None:
    rho = rho_for_epsilon(1.0, 1e-5)
    assert zcdp_epsilon(rho, 1e-5) == pytest.approx(1.0, abs=1e-4)
    closed_form = (math.sqrt(1 + math.log(1e5)) - math.sqrt(math.log(1e5))) ** 2
    assert closed_form < rho < 2 * closed_form


def test_composition_basic_and_rdp() -> None:
    sigma, q, steps, delta = 1.0, 0.02, 500, 1e-5
    train = epsilon_spent(sigma, q, steps, delta)
    rho = rho_for_epsilon(1.0, 1e-5)
    basic = compose_with_synthesizer(train, delta, 1.0, 1e-5, rho, sigma=sigma, q=q, steps=steps, accountant="pld")
    assert basic.epsilon == pytest.approx(train + 1.0)
    assert basic.delta == pytest.approx(2e-5)
    assert basic.method.startswith("basic")
    tight = compose_with_synthesizer(train, delta, 1.0, 1e-5, rho, sigma=sigma, q=q, steps=steps, accountant="rdp")
    assert tight.method.startswith("RDP")
    assert tight.basic_epsilon == pytest.approx(basic.epsilon)
    assert epsilon_spent(sigma, q, steps, 2e-5) < tight.epsilon < basic.epsilon - 0.2
    assert compose_with_synthesizer(0.0, delta, 1.0, 1e-5, rho).epsilon == 1.0
    assert compose_with_synthesizer(None, delta, 1.0, 1e-5, rho).epsilon is None


def test_support_source_settings() -> None:
    assert RunConfig.build().support_source == "fraction"
    assert RunConfig.build(support_data="public.csv").support_source == "table"
    with pytest.raises(ConfigError, match="support_source 'table' needs support_data"):
        RunConfig.build(support_source="table")
    with pytest.raises(ConfigError, match="support_data is set"):
        RunConfig.build(support_source="dp_synthetic", support_data="public.csv")
    with pytest.raises(ConfigError, match="ε_syn must be a positive"):
        RunConfig.build(support_source="dp_synthetic", epsilon_syn=0)
    wide = RunConfig.build(support_source="dp_synthetic", support_fraction=0.7, val_fraction=0.1, test_fraction=0.2)
    assert wide.synth_settings() is not None and wide.synth_settings().delta == wide.delta


def test_old_records_without_the_new_ledger_fields_load(tmp_path: Path) -> None:
    ledger = dict(epsilon_target=1.0, epsilon_spent=1.0, delta=1e-5, sigma=1.0, sampling_rate=0.1, steps=10,
                  max_grad_norm=1.0, accountant="rdp", adjacency="sensitive-remove", epsilon_syn=None)
    record = RunRecord.from_dict(dict(mode="fusiondp", seed=0, config={}, metrics={}, privacy=ledger, imputer={},
                                      timing={}, history=[], data={}))
    assert record.privacy.epsilon_total is None and record.privacy.composition is None


@pytest.mark.slow
def test_cli_run_with_dp_synthetic_support(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole run from the command line; the AUROC it writes is scikit-learn's on the trained model's
    predictions for the real test rows (the model captured in this process, where ``--workers 1`` trains it)."""
    import torch
    from sklearn.metrics import roc_auc_score

    import fusiondp.runs

    trained = []
    fit_runs = fusiondp.runs.fit_runs

    def keep_models(prepared, *args, **kwargs):  # type: ignore[no-untyped-def]
        runs = fit_runs(prepared, *args, **kwargs)
        trained.extend((prepared.for_mode(args[0]), model) for _, model in runs)  # the views its mode read
        return runs

    monkeypatch.setattr(fusiondp.runs, "fit_runs", keep_models)
    domains = [f"--sensitive-domain={column}={','.join(values)}" for column, values in SAMPLE_DOMAINS.items()]
    bounds = [f"--sensitive-bounds={column}={low:g}:{high:g}" for column, (low, high) in SAMPLE_BOUNDS.items()]
    result = CliRunner().invoke(app, [
        "run", "--data", str(SAMPLE_CSV), "--spec", str(SAMPLE_SPEC), "--imputer", "gbdt", "--epochs", "2",
        "--modes", "fusiondp", "--support-source", "dp_synthetic", "--epsilon-syn", "1", *domains, *bounds,
        "--out", str(tmp_path / "out"), "--quiet", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "ε_total" in result.output and "DP-synthetic" in result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    privacy = results["records"][0]["privacy"]
    assert privacy["epsilon_syn"] == 1.0 and privacy["delta_total"] == pytest.approx(2e-5)
    # fusiondp's reference is "missing", fixed whatever the synthesizer drew: its removal relation holds
    assert privacy["adjacency"] == "feature removal to missing"
    assert privacy["epsilon_spent"] < privacy["epsilon_total"] <= privacy["epsilon_spent"] + 1.0 + 1e-9
    assert "Total privacy spent" in privacy["statement"]
    quality = results["imputer"]["quality"]
    assert quality["synthetic"] and "synthetic" in quality["rows_used"]
    assert any("support rows scored here are synthetic" in note for note in quality["notes"])
    sizes = results["data"]["sizes"]
    assert sizes["support"] == sizes["train"]
    (prepared, model), = trained
    assert len(prepared.tensors.y_test) == sizes["test"]
    model.eval()
    with torch.no_grad():
        logits = model(prepared.tensors.with_channels().x_test)[0].double().flatten().numpy()  # as fusiondp reads it
    expected = roc_auc_score(prepared.tensors.y_test.numpy(), logits)
    assert results["records"][0]["metrics"]["auroc"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.slow
def test_synthetic_support_comes_from_training_rows_only(sample_spec: TableSpec) -> None:
    config = RunConfig.build(data=str(SAMPLE_CSV), spec=sample_spec, imputer="gbdt", support_source="dp_synthetic",
                             sensitive_domains=SAMPLE_DOMAINS, sensitive_bounds=SAMPLE_BOUNDS, epochs=1)
    splits = prepare(config).splits
    public = list(splits.train.columns.difference(sample_spec.sensitive))
    pd.testing.assert_frame_equal(splits.support[public], splits.train[public])
    for column, values in SAMPLE_DOMAINS.items():
        assert set(splits.support[column]) <= set(values)
    assert splits.synthetic is not None and splits.synthetic.epsilon == 1.0


@pytest.mark.slow
def test_every_modes_total_is_also_stated_under_replace_one(sample_spec: TableSpec) -> None:
    """m4: feature_dp's and fusiondp's own totals read removal to missing, naive_fusion's replace-one; side by side
    they are not comparable, so each ledger also states its total under replace-one."""
    config = RunConfig.build(data=str(SAMPLE_CSV), spec=sample_spec, imputer="gbdt", support_source="dp_synthetic",
                             sensitive_domains=SAMPLE_DOMAINS, sensitive_bounds=SAMPLE_BOUNDS, epochs=1)
    prepared = prepare(config)
    baseline = fit_run(prepared, "feature_dp", 0)[0].privacy
    naive = fit_run(prepared, "naive_fusion", 0)[0].privacy
    assert naive.adjacency == "feature replace-one" and naive.epsilon_total_replace == naive.epsilon_total
    assert baseline.adjacency == fit_run(prepared, "fusiondp", 0)[0].privacy.adjacency == "feature removal to missing"
    assert baseline.epsilon_total < baseline.epsilon_total_replace
    assert baseline.epsilon_replace < baseline.epsilon_total_replace <= baseline.epsilon_replace + 1.0 + 1e-9
