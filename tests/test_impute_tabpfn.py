"""The real TabPFN code path, offline, through tiny randomly initialised v2 checkpoints.

Random weights impute nonsense: these tests check the plumbing (loading, shapes, dtypes,
categories, batching, subsampling, device, errors), not quality.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError, FusionDPError, ImputerUnavailable
from fusiondp.impute import choose_imputer
from fusiondp.impute import tabpfn as tabpfn_module
from fusiondp.impute.base import CheckpointError, ImputerLimitError
from fusiondp.impute.tabpfn import TabPFNImputer, write_random_checkpoint
from fusiondp.preparation import prepare
from fusiondp.spec import TableSpec

FAST = {"n_estimators": 1, "device": "cpu"}
GROUPS = ("alpha", "beta", "gamma")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a random-init TabPFN v2 classifier and regressor (emsize 32, 2 layers, 2 heads)."""
    folder = tmp_path_factory.mktemp("tabpfn-tiny")
    write_random_checkpoint(folder / "tabpfn-v2-classifier-tiny.ckpt", "classifier")
    write_random_checkpoint(folder / "tabpfn-v2-regressor-tiny.ckpt", "regressor")
    return folder


@pytest.fixture
def no_tabpfn_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every place TabPFN looks for weights at empty folders."""
    for variable in ("HOME", "XDG_CACHE_HOME", "TABPFN_MODEL_CACHE_DIR"):
        folder = tmp_path / variable.lower()
        folder.mkdir()
        monkeypatch.setenv(variable, str(folder))
    return tmp_path


def make_table(rows: int, seed: int = 0) -> tuple[pd.DataFrame, TableSpec]:
    """Numeric + categorical sensitive columns, public columns with missing values."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows)
    table = pd.DataFrame({
        "x1": x1,
        "x2": rng.normal(size=rows),
        "site": rng.choice(["north", "south"], size=rows),
        "age": 50 + 10 * x1 + rng.normal(size=rows),
        "group": np.array(GROUPS)[(x1 > 0).astype(int) + (x1 > 1).astype(int)],
        "y": rng.integers(0, 2, size=rows),
    })
    table.loc[table.index % 7 == 0, "x2"] = np.nan
    table.loc[table.index % 11 == 0, "site"] = np.nan
    spec = TableSpec(target="y", sensitive=("age", "group"), categorical=("site", "group")).resolve(table)
    return table, spec


def test_tabpfn_imputes_numeric_and_categorical_columns_offline(tiny_model_dir: Path) -> None:
    table, spec = make_table(160)
    support, query = table.iloc[:120], table.iloc[120:].drop(columns=["age", "group"])
    imputer = TabPFNImputer(spec, model_dir=str(tiny_model_dir), **FAST).fit(support)
    imputed = imputer.transform(query)

    assert imputed.shape == (40, table.shape[1])
    assert imputed.index.equals(query.index)
    pd.testing.assert_frame_equal(imputed[list(spec.public)], query[list(spec.public)])
    assert pd.api.types.is_float_dtype(imputed["age"]) and imputed["age"].notna().all()
    assert all(isinstance(v, str) for v in imputed["group"])
    assert set(imputed["group"]) <= set(GROUPS)
    assert imputer.device_ == "cpu"
    assert imputer.notes_ == ["TabPFN ran on cpu with n_estimators=1."]


def test_tabpfn_predictions_are_batched_and_batching_changes_nothing(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table, spec = make_table(200)
    support, query = table.iloc[:100], table.iloc[100:]
    imputer = TabPFNImputer(spec, model_dir=str(tiny_model_dir), **FAST).fit(support)
    whole = imputer.transform(query)

    sizes: list[int] = []
    model = imputer.models_["age"]
    original = model.predict

    def spy(features: np.ndarray) -> np.ndarray:
        sizes.append(len(features))
        return original(features)

    monkeypatch.setattr(model, "predict", spy)
    monkeypatch.setattr(tabpfn_module, "PREDICT_BATCH_ROWS", 32)
    batched = imputer.transform(query)

    assert sizes == [32, 32, 32, 4]
    np.testing.assert_allclose(batched["age"], whole["age"], rtol=1e-4)
    assert list(batched["group"]) == list(whole["group"])


def test_tabpfn_subsamples_a_large_support_set_with_its_seed(tiny_model_dir: Path) -> None:
    table, spec = make_table(150)

    def fitted(seed: int) -> TabPFNImputer:
        return TabPFNImputer(spec, model_dir=str(tiny_model_dir), max_support_rows=60, random_state=seed,
                             **FAST).fit(table)

    first, again, other = fitted(0), fitted(0), fitted(1)
    assert {c: len(r) for c, r in first.support_rows_.items()} == {"age": 60, "group": 60}
    np.testing.assert_array_equal(first.support_rows_["age"], again.support_rows_["age"])
    assert not np.array_equal(first.support_rows_["age"], other.support_rows_["age"])
    assert any("subsampled to 60" in note and "seed 0" in note for note in first.notes_)


def test_auto_picks_tabpfn_when_checkpoints_are_in_model_dir(tiny_model_dir: Path) -> None:
    choice = choose_imputer("auto", {"model_dir": str(tiny_model_dir), **FAST})
    assert choice.used == "tabpfn"
    assert choice.reason == "auto: tabpfn is available"


def test_without_weights_tabpfn_says_where_to_put_them_and_auto_falls_back(no_tabpfn_cache: Path) -> None:
    with pytest.raises(ImputerUnavailable) as caught:
        choose_imputer("tabpfn")
    message = str(caught.value)
    assert str(no_tabpfn_cache / "tabpfn_model_cache_dir") in message
    assert str(no_tabpfn_cache / "xdg_cache_home" / "tabpfn") in message
    assert "tabpfn-v2*-classifier*.ckpt" in message and "tabpfn-v2*-regressor*.ckpt" in message
    assert "tabpfn-v2-regressor.ckpt" in message

    choice = choose_imputer("auto")
    assert choice.used == "gbdt"
    assert "tabpfn unavailable: TabPFN weights not found" in choice.reason


def test_a_file_that_is_not_a_checkpoint_is_a_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    junk = tmp_path / "tabpfn-v2-classifier-junk.ckpt"
    junk.write_bytes(b"this is not a model")
    params = {"classifier_path": str(junk), "regressor_path": str(tiny_model_dir / "tabpfn-v2-regressor-tiny.ckpt")}
    with pytest.raises(CheckpointError, match="is not a TabPFN checkpoint: it cannot be read"):
        choose_imputer("tabpfn", params)

    torch.save({"weights": torch.zeros(3)}, junk)
    with pytest.raises(CheckpointError, match="lacks the 'state_dict' and 'config'"):
        choose_imputer("tabpfn", params)
    assert choose_imputer("auto", params).used == "gbdt"


def test_a_checkpoint_for_the_wrong_task_is_a_clear_error(tiny_model_dir: Path) -> None:
    classifier = str(tiny_model_dir / "tabpfn-v2-classifier-tiny.ckpt")
    regressor = str(tiny_model_dir / "tabpfn-v2-regressor-tiny.ckpt")
    with pytest.raises(CheckpointError, match=r"for numeric columns \(regressor\).*borders"):
        choose_imputer("tabpfn", {"classifier_path": classifier, "regressor_path": classifier})
    with pytest.raises(CheckpointError, match=r"for categorical columns \(classifier\).*no classification head"):
        choose_imputer("tabpfn", {"classifier_path": regressor, "regressor_path": regressor})
    fallback = choose_imputer("auto", {"classifier_path": regressor, "regressor_path": regressor})
    assert fallback.used == "gbdt" and "cannot serve as the TabPFN model" in fallback.reason


def test_more_classes_than_tabpfn_supports_is_a_clear_error(tiny_model_dir: Path) -> None:
    table, spec = make_table(120)
    table["group"] = [f"g{i % 12}" for i in range(len(table))]
    with pytest.raises(ImputerLimitError, match=r"'group'.*12.*Merge rare categories") as caught:
        TabPFNImputer(spec, model_dir=str(tiny_model_dir), **FAST).fit(table)
    assert isinstance(caught.value, FusionDPError)


def test_unknown_imputer_parameter_is_a_config_error(tiny_model_dir: Path) -> None:
    with pytest.raises(FusionDPError, match=r"no parameter\(s\) \['n_trees'\]"):
        choose_imputer("tabpfn", {"model_dir": str(tiny_model_dir), "n_trees": 3})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown on machines without a GPU")
def test_asking_for_cuda_without_a_gpu_is_a_config_error(tiny_model_dir: Path) -> None:
    table, spec = make_table(60)
    with pytest.raises(ConfigError, match="no CUDA GPU is available"):
        TabPFNImputer(spec, model_dir=str(tiny_model_dir), n_estimators=1, device="cuda").fit(table)


def test_the_pipeline_names_tabpfn_and_its_notes_in_the_imputer_report(tiny_model_dir: Path) -> None:
    table, _ = make_table(300)
    spec = TableSpec(target="y", sensitive=("age", "group"), categorical=("site", "group"))
    config = RunConfig.build(spec=spec, imputer="auto", imputer_params={"model_dir": str(tiny_model_dir), **FAST},
                             support_fraction=0.3, batch_size=32)
    prepared = prepare(config, table=table)
    summary = prepared.imputer_summary()
    assert (summary["requested"], summary["name"]) == ("auto", "tabpfn")
    assert "TabPFN ran on cpu with n_estimators=1." in summary["quality"]["notes"]
    assert set(prepared.hybrid_train["group"]) <= set(GROUPS)
    assert prepared.hybrid_train["age"].notna().all()


def test_tabpfn_predicts_missing_states_and_chooses_against_the_baseline(tiny_model_dir: Path) -> None:
    table, spec = make_table(160)
    table.loc[table["x1"] > 0.8, ["age", "group"]] = np.nan
    support, query = table.iloc[:120], table.iloc[120:].drop(columns=["age", "group"])
    imputer = TabPFNImputer(spec, model_dir=str(tiny_model_dir), n_estimators=1, device="cpu").fit(support)
    imputed = imputer.transform(query)
    soft = imputer.predict_proba_states(query)

    assert imputer.states_["group"][-1] == "<missing>" and "age" in imputer.missing_models_
    assert set(imputed["group"].dropna()) <= set(GROUPS) and pd.api.types.is_float_dtype(imputed["age"])
    assert {s.value.used for s in imputer.selection_.values()} <= {"model", "baseline"}
    assert all(s.value.baseline is not None and s.folds == 3 for s in imputer.selection_.values())
    np.testing.assert_allclose(soft["group"].sum(axis=1), 1.0, rtol=1e-5)
    assert ((soft["age"]["<missing>"] > 0.5) == imputed["age"].isna()).all()
