"""What a first-time user tripped on (issue 29, dashboard items; issue 28, item 5), each replayed in AppTest.

A reload keeps the session and a roles file loads back; Results fills in when training ends and reads the finished
models only after a cancel; the exported config reproduces the run as its first line says; every sample comes with
its roles; the Train page reads ε with its own factor; the imputation page names types and codes in words; the
wording names the controls the user sees; the default comparison is the full one, and Results opens with fusiondp
against the best private baseline.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from dashboard import session, tutorial
from fusiondp.config import RunConfig
from fusiondp.verdicts import nothing_flagged
from tests.apptest_steps import train_on_page, wait_for_training
from tests.dashboard.conftest import APP, ROOT

pytestmark = pytest.mark.slow


def fresh(**query: str) -> AppTest:
    """A new browser session (a reload is one), with ``query`` in its URL."""
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(query)
    return at.run()


def upload(at: AppTest, csv: Path) -> AppTest:
    return at.file_uploader(key="upload").set_value((csv.name, csv.read_bytes(), "text/csv")).run()


def ready(at: AppTest, csv: Path) -> AppTest:
    """``csv`` uploaded, its target confirmed and a support set of 80 rows, on the Train page."""
    at = upload(at, csv).switch_page("views/columns.py").run()
    at = at.selectbox(key="target").select("diabetes").run()
    return at.slider(key="support_fraction").set_value(0.2).run().switch_page("views/train.py").run()


def texts(at: AppTest) -> list[str]:
    """Every text the page shows in markdown, captions, alerts and headings."""
    kinds = ("markdown", "caption", "info", "warning", "error", "success", "subheader", "title")
    return [element.value for kind in kinds for element in getattr(at, kind)]


def first_element_is_the_title(at: AppTest) -> bool:
    """Nothing but a note box (tutorial, session) comes before a page's title."""
    for element in at.main.children.values():
        name = type(element).__name__
        if name == "Title":
            return True
        if name not in ("Info", "Success", "Warning", "Block"):
            return False
    return False


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Every file a download button offers, by the file name the browser saves it under."""
    offered: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self: MemoryMediaFileStorage, path_or_data: Any, mimetype: str, kind: Any,
               filename: str | None = None) -> str:
        if filename is not None:
            offered[filename] = path_or_data if isinstance(path_or_data, bytes) else path_or_data.encode()
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    return offered


def test_a_reload_brings_back_table_roles_settings_and_results_and_exports_work_as_written(
        app: AppTest, small_csv: Path, downloads: dict[str, bytes], tmp_path: Path) -> None:
    """29.1, 29.4, 29.12 (one seed), 28.5 (the answer on one seed, the quick look): one short run, then a reload."""
    at = ready(app, small_csv)
    at = train_on_page(at, ["sgd_pub", "fusiondp", "dpsgd"])
    at = at.switch_page("views/results.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]

    # 28.5: one seed answers without an interval and claims nothing; the quick look says so and offers the full run.
    (answer,) = [m.value for m in at.markdown if "fusiondp vs the best private baseline" in m.value]
    assert "(dpsgd):" in answer and "on one seed — no interval, so no verdict" in answer
    assert not any("beyond the seeds' spread" in text or "helps here" in text for text in texts(at))
    (quick,) = [w.value for w in at.warning if w.value.startswith("A quick look:")]
    assert "1 epochs" in quick and "1 seed" in quick and "without feature_dp, sgd_hybrid" in quick
    # 29.12: a single seed reads "0.795 (1 seed)", not "0.795 ± —".
    metrics = at.dataframe[0].value
    assert metrics["AUROC"].str.fullmatch(r"\d\.\d{3} \(1 seed\)").all(), metrics["AUROC"]
    # 29.10: what ε refers to comes right after the mode, where a narrow window does not hide it.
    ledger = next(df.value for df in at.dataframe if "σ (noise)" in df.value.columns)
    assert list(ledger.columns[:2]) == ["mode", "what ε refers to"]

    # 29.4: downloads named after the dataset; the config's own first line reproduces the run as written.
    names = set(downloads)
    assert {"nhanes_small-config.yaml", "nhanes_small-run.py", "nhanes_small-results.zip",
            "nhanes_small-report.html"} <= names, names
    config_text = downloads["nhanes_small-config.yaml"].decode()
    first_line = config_text.splitlines()[0]
    assert first_line == ("# Reproduce with: fusiondp run --config nhanes_small-config.yaml (put nhanes_small.csv next "
                          "to it).")
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "nhanes_small-config.yaml").write_text(config_text, encoding="utf-8")
    shutil.copy(small_csv, folder / "nhanes_small.csv")
    command = first_line.removeprefix("# Reproduce with: ").split(" (")[0].split()
    result = subprocess.run([sys.executable, "-m", "fusiondp.cli", *command[1:3], str(folder / command[3]),
                             "--modes", "fusiondp", "--epochs", "1", "--seeds", "1", "--out", str(tmp_path / "out"),
                             "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out" / "results.json").read_text())["records"]

    # 29.1: a reload is a new session; the link's token brings the work back, training job and results included.
    token = at.query_params["session"][0] if isinstance(at.query_params["session"], list) else \
        at.query_params["session"]
    reloaded = fresh(session=token)
    assert any(s.value == session.RESUMED for s in reloaded.success)
    assert reloaded.session_state.table.name == "nhanes_small.csv"
    assert reloaded.session_state.target == "diabetes" and reloaded.session_state.support_fraction == 0.2
    assert [r.mode for r in reloaded.session_state.records] == [r.mode for r in at.session_state.records]
    reloaded = reloaded.switch_page("views/results.py").run()
    assert not reloaded.exception and any(s.value == "Read this first" for s in reloaded.subheader)
    # The old tab, still open, writes again: it forks a link of its own, and neither overwrites the other's work.
    at = at.switch_page("views/train.py").run()
    assert at.session_state.session_token != token and reloaded.session_state.session_token == token
    # A link the server no longer keeps says so, and starts empty.
    gone = fresh(session="no-such-session")
    assert any(w.value == session.EXPIRED for w in gone.warning) and gone.session_state.table is None

    # 28.5: the offer of the full run sets it up on the Train page.
    reloaded = reloaded.button(key="full_comparison").click().run()
    assert reloaded.session_state.epochs_auto and RunConfig.model_fields["epochs"].default == "auto"
    assert reloaded.session_state.n_seeds == 3
    assert {"dpsgd", "feature_dp", "sgd_hybrid", "sgd_pub", "fusiondp"} <= set(reloaded.session_state.modes)
    assert any(t.value == "4 · Train" for t in reloaded.title)


def test_a_roles_file_or_a_run_config_loads_back(app: AppTest, small_csv: Path, tmp_path: Path) -> None:
    """29.1: a spec.yaml sets the roles; a config.yaml also sets the support set and the Train page's settings."""
    at = upload(app, small_csv).switch_page("views/columns.py").run()
    spec = (ROOT / "sample_data" / "nhanes_diabetes.spec.yaml").read_bytes()
    at = at.file_uploader(key="roles_upload").set_value(("nhanes_diabetes.spec.yaml", spec, "application/x-yaml"))
    at = at.run()
    assert not at.exception and any("Loaded the column roles" in s.value for s in at.success)
    assert at.session_state.target == "diabetes" and at.session_state.positive_class == "Yes"
    assert list(at.session_state.sensitive) == ["age", "gender", "race_ethnicity", "education", "marital_status",
                                                "income_poverty_ratio"]
    assert "general_health" in at.session_state.categorical
    config = RunConfig.build(spec=yaml.safe_load(spec), modes=["fusiondp", "dpsgd"], seeds=[2, 3], epsilon=2.0,
                             epochs=5, lr=0.1, lr_schedule="constant", noise_level=3.0, support_fraction=0.25,
                             data="somewhere/else.csv").to_dict()
    at = at.file_uploader(key="roles_upload").set_value(
        ("run-config.yaml", yaml.safe_dump(config).encode(), "application/x-yaml")).run()
    assert not at.exception and any("training settings" in s.value for s in at.success)
    assert at.session_state.support_fraction == 0.25
    at = at.switch_page("views/train.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert (list(at.session_state.modes), at.session_state.seed, at.session_state.n_seeds) == (["fusiondp", "dpsgd"],
                                                                                              2, 2)
    assert (at.session_state.epochs, at.session_state.lr, at.session_state.eps_range) == (5, 0.1, (2.0, 2.0))
    assert at.session_state.lr_schedule == "constant", "a loaded schedule is not replaced by the page's default"
    assert (at.session_state.clip_rule, at.slider(key="noise_level").value) == ("noise_level", 3.0), \
        "a loaded noise level is one level for every mode, not each mode's own"
    at = at.switch_page("views/columns.py").run()
    wrong = yaml.safe_dump({"target": "diabetes", "sensitive": ["age", "no_such_column"]}).encode()
    at = at.file_uploader(key="roles_upload").set_value(("wrong.yaml", wrong, "application/x-yaml")).run()
    assert any("no_such_column" in e.value for e in at.error)
    assert "no_such_column" not in at.session_state.sensitive, "a bad file changes nothing"


def test_results_fill_in_when_training_ends_and_a_cancel_gives_one_count_and_no_verdict(
        app: AppTest, small_csv: Path) -> None:
    """29.2: during training Results polls instead of saying "No results yet"; 29.3: after a cancel, Train and Results
    give one count, and nothing is said about fusiondp, which did not finish."""
    at = ready(app, small_csv)
    at.multiselect(key="modes").set_value(["sgd_pub", "fusiondp"]).run()
    at.select_slider(key="eps_range").set_value((1.0, 1.0)).run()
    at.number_input(key="batch_size").set_value(8).run()
    at = at.slider(key="epochs").set_value(30).run()
    at = at.button(key="train").click().run().switch_page("views/results.py").run()
    job = at.session_state.job
    assert not job.done
    assert any(i.value.startswith("Training: 0 of 2 models finished so far.") for i in at.info)
    assert not any("No results yet" in i.value for i in at.info)
    deadline = time.monotonic() + 120
    while not job.records:
        assert time.monotonic() < deadline, "sgd_pub did not finish"
        time.sleep(0.1)
    at = at.switch_page("views/train.py").run()
    at = wait_for_training(at.button(key="cancel").click().run())
    assert [r.cancelled for r in job.records] == [False, True]
    count = "1 of 2 models finished, 1 stopped early"
    assert any(count in w.value for w in at.warning), [w.value for w in at.warning]
    at = at.switch_page("views/results.py").run()
    assert not at.exception and not at.error
    assert any(f"Training was cancelled: {count}." in i.value for i in at.info)
    said = " ".join(texts(at))
    assert not any(claim in said for claim in ("beats fusiondp", "above fusiondp", "no zero-ε reference"))
    assert "no fusiondp model finished, so nothing is said about it" in nothing_flagged(at.session_state.records)
    (curve,) = at.get("plotly_chart")
    figure = json.loads(curve.proto.spec)
    assert [trace["name"] for trace in figure["data"]] == ["sgd_pub (sensitive unused, ε = 0)"]
    assert all(y is not None for trace in figure["data"] for y in trace["y"]), "a curve of the finished models"
    assert len(at.dataframe[0].value) == 1, "the metrics of the finished model only"
    at.number_input(key="audit_rows").set_value(50).run()
    at = at.button(key="audit").click().run()
    assert [r.mode for r, _ in at.session_state.audit_results.reports] == ["sgd_pub"], "finished models only"
    audited = next(df.value for df in at.dataframe if "reading" in df.value.columns)
    assert list(audited.columns[:4]) == ["ε target", "seed", "reading", "advantage (95% interval)"], \
        "29.10: the reading first, where a narrow window does not hide it"


def test_the_columns_page_draws_no_stray_line_above_its_title(app: AppTest, small_csv: Path) -> None:
    """29.5: a string literal under a constant was drawn above the Columns page's title by Streamlit's magic."""
    at = ready(app, small_csv)
    for page in ("data", "columns", "imputation", "train", "results", "about"):
        at = at.switch_page(f"views/{page}.py").run()
        assert first_element_is_the_title(at), page
        assert not any("How the span detector selector names" in m.value for m in at.markdown), page


def test_tutorial_mode_asks_before_replacing_a_loaded_table(app: AppTest, small_csv: Path) -> None:
    """29.6: the tutorial replaced an uploaded table (and its results) without a word; 29.12: the sample chooser then
    still said "Pick a sample table"."""
    at = upload(app, small_csv).toggle(key="tutorial").set_value(True).run()
    assert at.session_state.table.name == "nhanes_small.csv", "nothing replaced before the answer"
    assert any("Loading it replaces **nhanes_small.csv**" in w.value for w in at.warning)
    at = at.button(key="tutorial_no").click().run()
    assert at.session_state.table.name == "nhanes_small.csv" and not at.session_state.tutorial
    at = at.toggle(key="tutorial").set_value(True).run().button(key="tutorial_yes").click().run()
    assert at.session_state.table.name == "sample_data/nhanes_diabetes.csv" and at.session_state.tutorial
    assert at.selectbox(key="sample").value == tutorial.TUTORIAL_SAMPLE
    assert not any("Loading it replaces" in w.value for w in at.warning)


@pytest.mark.parametrize(("label", "target", "kind"), [
    ("NHANES 2017–2018 adults: diabetes", "diabetes", None),
    ("NHANES adults: systolic blood pressure (regression)", "systolic_bp", "regression"),
    ("NHANES adults: glycemic status (multi-class)", "glycemic_status", "multiclass"),
    ("NHANES adults: cardiometabolic conditions (multi-label)", "conditions", "multilabel"),
    ("Drug reviews: patients' notes, rated positive or not (notes)", "positive", "binary"),
])
def test_every_sample_table_is_offered_with_its_roles(app: AppTest, label: str, target: str,
                                                      kind: str | None) -> None:
    """29.7: only the diabetes table was offered, and the notes sample's suggested target was source_split."""
    assert label in app.selectbox(key="sample").options
    at = app.selectbox(key="sample").select(label).run()
    assert not at.exception and not at.error
    assert at.session_state.target == target and at.session_state.target_kind == kind
    if label.endswith("(notes)"):
        assert at.session_state.text_column == "review" and at.session_state.positive_class == "yes"
        at = at.switch_page("views/columns.py").run()
        assert not at.exception and any("Rows per part" in s.value for s in at.success)


def test_the_train_page_reads_epsilon_with_its_own_factor_and_the_defaults_compare_fully(app: AppTest,
                                                                                         small_csv: Path) -> None:
    """29.8: ε up to 4 was read as e^8 ≈ 3,000; 28.5: the default comparison has both baselines and sgd_hybrid, the
    command line's epochs and three seeds."""
    defaults = fresh()
    assert list(defaults.session_state.modes) == ["sgd_ori", "sgd_pub", "sgd_hybrid", "fusiondp", "dpsgd",
                                                  "feature_dp"]
    assert (defaults.session_state.epochs_auto, defaults.session_state.n_seeds) == (True, 3)
    assert defaults.session_state.epochs == 13, "the slider shows the feature-level modes' own count"
    at = ready(app, small_csv)
    (band,) = [m.value for m in at.markdown if "guarantee" in m.value and m.value.startswith(":")]
    assert "e^4 ≈ 55" in band and "e^8" not in band
    at = at.select_slider(key="eps_range").set_value((1.0, 8.0)).run()
    assert any("e^8 ≈ 3,000" in m.value for m in at.markdown)


def test_the_imputation_page_speaks_of_types_and_codes_in_words(app: AppTest, small_csv: Path,
                                                                tmp_path: Path) -> None:
    """29.9: pandas type names on the Data page, −0.5…1.5 axes for categories coded as numbers, no hint that a 0/1
    column may be a category; 29.12: no line said what the app is; "raise support_fraction" named no control."""
    table = pd.read_csv(small_csv)
    table["female"] = (table["gender"] == "Female").astype(int)
    table["smoker"] = (table["smoked_100_cigs"] == "Yes").astype(int)
    csv = tmp_path / "coded.csv"
    table.drop(columns=["gender"]).to_csv(csv, index=False)
    at = upload(app, csv)
    assert any(m.value.startswith("**FusionDP Studio** trains a model") for m in at.markdown)
    types = at.dataframe[0].value.set_index("column")["type"]
    assert (types["age"], types["bmi"], types["diabetes"]) == ("whole number", "number", "text / category")
    assert not set(types) & {"int64", "float64", "str", "object"}
    examples = at.dataframe[0].value.set_index("column")["example"]
    assert examples["pulse_bpm"] == str(int(table["pulse_bpm"].dropna().iloc[0])), "a whole number read as 52.0"
    at = at.switch_page("views/columns.py").run().selectbox(key="target").select("diabetes").run()
    assert any("“Public fraction of the table” (Columns page)" in e.value for e in at.error), "40 support rows"
    assert not any("support_fraction" in e.value for e in at.error)
    at = at.multiselect(key="sensitive").set_value(["age", "female", "smoker"]).run()
    at = at.multiselect(key="categorical").set_value([*at.session_state.categorical, "female"]).run()
    roles = at.dataframe[-1].value.set_index("column")["type"]
    assert roles["age"] == "read from the support rows once the split works", "40 support rows: no split yet"
    at = at.slider(key="support_fraction").set_value(0.3).run()
    roles = at.dataframe[-1].value.set_index("column")["type"]
    assert (roles["age"], roles["female"]) == ("numeric (from the support rows)", "categorical"), "the type, in words"
    at = at.switch_page("views/imputation.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (hint,) = [i.value for i in at.info if "holds only the values" in i.value]
    assert hint.startswith("`smoker` holds only the values 0, 1 on the support rows")
    figures = {json.loads(c.proto.spec)["layout"]["title"]["text"].split(":")[0]: json.loads(c.proto.spec)
               for c in at.get("plotly_chart")}
    female = figures["female"]["layout"]
    assert female["xaxis"]["type"] == "category" and female["yaxis"]["type"] == "category"


def test_delta_follows_the_tables_size_like_the_command_line_unless_set_by_hand(app: AppTest, small_csv: Path,
                                                                                 tmp_path: Path) -> None:
    """29.24: the dashboard kept δ = 1e-5 for a table of 110,000 rows (not below 1/N); the command line's default,
    1/(10·N), now applies here too and is explained, while a δ the user typed is kept when the table changes."""
    small = pd.read_csv(small_csv)[["age", "gender", "bmi", "diabetes"]]
    big = tmp_path / "big.csv"
    pd.concat([small] * (110_000 // len(small)), ignore_index=True).to_csv(big, index=False)
    at = upload(app, big)
    assert at.session_state.delta == 9e-07
    at = at.switch_page("views/train.py").run()
    assert any("δ = 9e-07, set from the table's size" in caption.value and "N = 110,000 rows" in caption.value
               for caption in at.caption)
    at = upload(at.switch_page("views/data.py").run(), small_csv)
    assert at.session_state.delta == 1e-5
    at = at.switch_page("views/train.py").run()
    at = at.number_input(key="delta").set_value(1e-6).run()
    at = upload(at.switch_page("views/data.py").run(), big)
    assert at.session_state.delta == 1e-6
