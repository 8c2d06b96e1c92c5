"""AppTest suite: every page, the full flow on a small slice, and the bad inputs of issue 6."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from dashboard.messages import LOCAL_NOT_DP
from fusiondp.metrics import THRESHOLD_RULE
from fusiondp.privacy.audit_report import MEMBERSHIP_CAVEAT
from fusiondp.train.modes import ALL_MODES, MODES
from tests.apptest_steps import train_on_page, wait_for_training
from tests.pages import strings

pytestmark = pytest.mark.slow
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
EDUCATION = ["Less than 9th grade", "9-11th grade", "High school or GED", "Some college or AA degree",
             "College graduate or above"]


def upload(at: AppTest, name: str, content: bytes, mime: str = "text/csv") -> AppTest:
    return at.file_uploader(key="upload").set_value((name, content, mime)).run()


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def loaded(at: AppTest, csv: Path, target: str = "diabetes") -> AppTest:
    """Upload ``csv`` and confirm its target on the Columns page (it is never pre-selected), back on Data."""
    at = upload(at, csv.name, csv.read_bytes())
    at = at.switch_page("views/columns.py").run().selectbox(key="target").select(target).run()
    return at.switch_page("views/data.py").run()


def test_upload_shows_shape_and_missingness(app: AppTest, small_csv: Path) -> None:
    at = loaded(app, small_csv)
    assert not at.exception and not errors(at)
    assert [m.value for m in at.metric][:2] == ["400", "32"]
    assert at.session_state.table.name == "nhanes_small.csv"
    assert at.session_state.target == "diabetes"
    assert any(LOCAL_NOT_DP in w.value for w in at.warning), "the overview shows private values: say so"
    assert "age" in at.session_state.sensitive and "gender" in at.session_state.sensitive
    assert "gender" not in at.session_state.categorical, "a sensitive column is typed from the support set"
    assert "general_health" in at.session_state.categorical


def test_the_target_is_confirmed_never_guessed(app: AppTest, small_csv: Path) -> None:
    at = upload(app, small_csv.name, small_csv.read_bytes())
    assert at.session_state.target is None and at.session_state.suggested_target == "diabetes"
    at = at.switch_page("views/train.py").run()
    assert not at.exception
    assert any("Choose the target" in e for e in errors(at)), errors(at)
    assert not train_enabled(at)
    at = at.switch_page("views/columns.py").run()
    assert at.selectbox(key="target").value is None
    assert any("Choose the outcome column" in i.value and "`diabetes`" in i.value for i in at.info)
    assert not at.get("multiselect"), "nothing else to tag before the outcome is chosen"
    at = at.selectbox(key="target").select("diabetes").run()
    assert not any("Choose the outcome column" in i.value for i in at.info)
    at = at.slider(key="support_fraction").set_value(0.2).run().switch_page("views/train.py").run()
    assert not errors(at) and train_enabled(at)


def test_sidebar_stays_when_a_page_stops_early_and_lists_the_steps(app: AppTest) -> None:
    """The Data page stops early without a table; the sidebar is drawn before the page and stays, on every run.

    Every page's run goes through app.py: the page files are in views/, so no pages/ folder switches Streamlit
    (or AppTest) to the older multipage mode that runs a page file alone.
    """
    assert not (APP.parent / "pages").exists()
    for at in (app, app.switch_page("views/train.py").run(), app.switch_page("views/results.py").run()):
        assert not at.exception and at.session_state.table is None
        assert any(c.value == "No table loaded yet." for c in at.sidebar.caption)
        labels = [link.label for link in at.sidebar.get("page_link")]
        assert labels == ["1 · Data", "2 · Columns", "3 · Imputation preview", "4 · Train", "5 · Results",
                          "About feature-level DP"]


def test_sample_table_comes_with_its_spec(app: AppTest) -> None:
    at = app.selectbox(key="sample").select("NHANES 2017–2018 adults: diabetes").run()
    assert not at.exception and not errors(at)
    assert at.session_state.positive_class == "Yes"
    assert list(at.session_state.sensitive) == ["age", "gender", "race_ethnicity", "education", "marital_status",
                                                "income_poverty_ratio"]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("notes.pdf", b"%PDF-1.4 not a table", "unknown file type"),
    ("empty.csv", b"", "is empty"),
    ("binary.csv", b"\x00\x01\x02\x03" * 64, "binary file"),
    ("header_only.csv", b"a,b,c\n", "no rows"),
], ids=["pdf", "empty", "binary", "header-only"])
def test_bad_upload_keeps_previous_table(app: AppTest, small_csv: Path, name: str, content: bytes,
                                         message: str) -> None:
    at = upload(loaded(app, small_csv), name, content)
    assert not at.exception
    assert any(message in e for e in errors(at)), errors(at)
    assert at.session_state.table.name == "nhanes_small.csv"
    assert any("still in use" in i.value for i in at.info)


def test_upload_over_the_cap(app: AppTest) -> None:
    st_config.set_option("server.maxUploadSize", 1)
    try:
        at = upload(app, "big.csv", b"a,b\n" + b"1,2\n" * 300_000)
    finally:
        st_config.set_option("server.maxUploadSize", 200)
    assert any("over the 1 MB upload limit" in e for e in errors(at)), errors(at)
    assert at.session_state.table is None


@pytest.fixture
def quirky_csv(small_csv: Path, tmp_path: Path) -> Path:
    """The slice plus a constant column and a sensitive-looking column with no values."""
    table = pd.read_csv(small_csv).assign(site="A", blank_field=float("nan"))
    path = tmp_path / "quirky.csv"
    table.to_csv(path, index=False)
    return path


def on_columns(at: AppTest) -> AppTest:
    return at.switch_page("views/columns.py").run()


def test_every_tagged_column_is_listed_in_full_under_the_selectors(app: AppTest, small_csv: Path) -> None:
    """A selector shows one line of chips (the sixth sensitive column was hidden at 1400 px): the caption under the
    selectors lists every tagged column by name."""
    at = on_columns(loaded(app, small_csv))
    sensitive = ["age", "gender", "race_ethnicity", "education", "marital_status", "income_poverty_ratio", "weight_kg"]
    at = at.multiselect(key="sensitive").set_value(sensitive).run()
    summary = next(c.value for c in at.caption if c.value.startswith("**Sensitive ("))
    tagged, ignored, categorical = summary.split("  \n")
    assert tagged == "**Sensitive (7):** " + ", ".join(f"`{c}`" for c in sensitive)
    assert ignored == "**Ignored (0):** none"
    assert len(at.session_state.categorical) > 4
    assert categorical.startswith(f"**Categorical ({len(at.session_state.categorical)}):**")
    assert all(f"`{c}`" in categorical for c in at.session_state.categorical)


def test_train_page_names_the_modes_and_describes_the_chosen_ones_in_full(app: AppTest, small_csv: Path) -> None:
    """A chip holding a mode's description was cut off mid-sentence: chips name the modes, the caption describes."""
    at = loaded(app, small_csv).switch_page("views/train.py").run()
    at = at.multiselect(key="modes").set_value(["sgd_ori", "fusiondp"]).run()
    assert at.multiselect(key="modes").options == list(ALL_MODES)
    described = next(c.value for c in at.caption if c.value.startswith("**sgd_ori** — ")).split("  \n")
    assert described[:2] == [f"**{m}** — {MODES[m].description}" for m in ("sgd_ori", "fusiondp")]
    assert described[2].startswith("Non-private references")


def test_columns_page_validates_split(app: AppTest, small_csv: Path) -> None:
    at = on_columns(loaded(app, small_csv))
    assert any("The support set has 40 rows; at least 50 are needed" in e for e in errors(at)), errors(at)
    at = at.slider(key="support_fraction").set_value(0.2).run()
    assert not errors(at)
    assert "support 80, train 200, val 40, test 80" in at.success[0].value
    assert any(LOCAL_NOT_DP in c.value for c in at.caption), "the missing shares of sensitive columns are private"
    assert not any("https://" in c.value or ".cache" in c.value for c in at.caption), "imputers: one line each"


def test_a_chosen_but_missing_support_table_is_an_error_never_a_fallback(app: AppTest, small_csv: Path) -> None:
    at = on_columns(loaded(app, small_csv))
    at = at.radio(key="support_source").set_value("A separate public table").run()
    assert not at.exception
    assert any("none is uploaded yet" in e for e in errors(at)), errors(at)
    assert not any("Support:" in s.value for s in at.success), "no green 'public fraction' beside the warning"
    at = at.switch_page("views/train.py").run()
    assert not at.exception and not train_enabled(at)


@pytest.mark.parametrize(("change", "message"), [
    (lambda at: at.selectbox(key="target").select("site"), "has a single class"),
    (lambda at: at.multiselect(key="sensitive").set_value([]), "No sensitive column is tagged"),
    (lambda at: at.multiselect(key="sensitive").select("blank_field"), "entirely missing"),
    (lambda at: at.slider(key="support_fraction").set_value(0.05), "at least 50 are needed"),
], ids=["one-class-target", "no-sensitive", "empty-sensitive", "tiny-support"])
def test_bad_roles_show_message_and_keep_other_choices(app: AppTest, quirky_csv: Path, change,
                                                       message: str) -> None:
    at = on_columns(loaded(app, quirky_csv))
    at.slider(key="support_fraction").set_value(0.2).run()
    at.multiselect(key="ignore").select("sedentary_min").run()
    assert not errors(at)
    at = change(at).run()
    assert not at.exception
    assert any(message in e for e in errors(at)), errors(at)
    assert list(at.session_state.ignore) == ["sedentary_min"]
    at = on_columns(at.switch_page("views/train.py").run())
    assert list(at.session_state.ignore) == ["sedentary_min"]


def test_epsilon_zero_typed(app: AppTest, small_csv: Path) -> None:
    at = on_columns(loaded(app, small_csv))
    at = at.slider(key="support_fraction").set_value(0.2).run().switch_page("views/train.py").run()
    at.slider(key="epochs").set_value(2).run()
    at = at.number_input(key="extra_epsilon").set_value(0.0).run()
    assert any("ε must be a positive finite number" in e for e in errors(at)), errors(at)
    assert at.session_state.epochs == 2
    assert not any("a moderate guarantee" in m.value for m in at.markdown), "no ε band beside an ε error"
    assert not train_enabled(at)
    at = at.number_input(key="extra_epsilon").set_value(None).run()  # clearing the box: no extra ε
    assert not at.exception and not errors(at), errors(at)
    assert at.session_state.extra_epsilon is None
    assert any("a moderate guarantee" in m.value for m in at.markdown)


def train_enabled(at: AppTest) -> bool:
    buttons = [b for b in at.button if b.key == "train"]
    return bool(buttons) and not buttons[0].disabled


@pytest.mark.parametrize(("change", "message"), [
    (lambda at: at.selectbox(key="target").select("site"), "has a single class"),
    (lambda at: at.multiselect(key="sensitive").set_value([]), "No sensitive column is tagged"),
], ids=["one-class-target", "no-sensitive"])
def test_bad_roles_never_reach_train(app: AppTest, quirky_csv: Path, change, message: str) -> None:
    at = on_columns(loaded(app, quirky_csv))
    at = at.slider(key="support_fraction").set_value(0.2).run().switch_page("views/train.py").run()
    assert not errors(at) and train_enabled(at)
    at = on_columns(at)
    at = change(at).run().switch_page("views/train.py").run()
    assert not at.exception
    assert any(message in e for e in errors(at)), errors(at)
    assert not train_enabled(at)
    assert not any("models to train" in c.value for c in at.caption)


def test_an_impossible_epsilon_is_named_and_skipped_and_the_others_train(app: AppTest, small_csv: Path) -> None:
    at = on_columns(loaded(app, small_csv))
    at = at.slider(key="support_fraction").set_value(0.2).run().switch_page("views/train.py").run()
    at.multiselect(key="modes").set_value(["sgd_ori", "fusiondp"]).run()
    at.select_slider(key="eps_range").set_value((1.0, 2.0)).run()
    at.slider(key="epochs").set_value(1).run()
    at = at.number_input(key="extra_epsilon").set_value(0.001).run()
    assert not at.exception and not errors(at)
    skipped = [w.value for w in at.warning if "ε = 0.001 will not be trained" in w.value]
    assert len(skipped) == 1 and "fusiondp" in skipped[0], [w.value for w in at.warning]
    assert train_enabled(at)
    assert any("3 models to train" in c.value for c in at.caption)  # sgd_ori once, fusiondp at ε 1 and 2
    at = wait_for_training(at.button(key="train").click().run())
    trained = sorted((r.mode, r.config["epsilon"]) for r in at.session_state.job.records)
    assert [e for m, e in trained if m == "fusiondp"] == [1.0, 2.0]
    assert 0.001 not in {e for _, e in trained}


def test_switching_dataset_keeps_settings(app: AppTest, small_csv: Path, quirky_csv: Path) -> None:
    at = loaded(app, small_csv).switch_page("views/train.py").run()
    at.slider(key="epochs").set_value(3).run()
    at = loaded(at.switch_page("views/data.py").run(), quirky_csv)
    assert any("Switched dataset from nhanes_small.csv to quirky.csv" in w.value for w in at.warning)
    assert at.session_state.epochs == 3
    at = at.selectbox(key="sample").select("NHANES 2017–2018 adults: diabetes").run()
    assert any("reset to suggestions" in w.value for w in at.warning)
    assert at.session_state.epochs == 3


def test_sessions_are_isolated(small_csv: Path, quirky_csv: Path) -> None:
    """Same file name, different bytes: the content-hash cache key keeps the tables apart."""
    first = loaded(AppTest.from_file(str(APP), default_timeout=120).run(), small_csv)
    second = upload(AppTest.from_file(str(APP), default_timeout=120).run(), small_csv.name, quirky_csv.read_bytes())
    other = AppTest.from_file(str(APP), default_timeout=120).run()
    assert "site" not in first.session_state.table.frame.columns
    assert "site" in second.session_state.table.frame.columns
    assert other.session_state.table is None


def test_full_flow_preview_train_results(app: AppTest, small_csv: Path) -> None:
    at = on_columns(loaded(app, small_csv))
    at.slider(key="support_fraction").set_value(0.2).run()
    at.session_state.declared_values = f"education: {EDUCATION}"  # as a sample's codebook declares it
    at = at.switch_page("views/imputation.py").run()
    assert not at.exception and not errors(at)
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    education = next(f for f in figures if "education" in "\n".join(strings(f)))  # decoded, not the JSON text
    shown = education["data"][0]["x"]
    assert shown == [e for e in EDUCATION if e in shown], "categories in the codebook's order, not alphabetically"
    quality = table_with(at, "baseline")
    assert {"MAE", "R²", "macro-F1"} <= set(quality["metric"]) and not quality["metric"].str.contains("_").any()
    line = next(m.value for m in at.markdown if m.value.startswith("**Imputer that ran:** `gbdt` —"))
    assert "http" not in line and ".cache" not in line, "one line; the paths and links are under details"
    if "unavailable" in line:
        assert any(e.label == "Details: why this imputer" for e in at.expander)
    assert any("Not differentially private" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) == 6
    at = at.switch_page("views/train.py").run()
    at = train_on_page(at, ["sgd_ori", "fusiondp", "dpsgd"], (1.0, 2.0))
    assert not at.exception and not errors(at)
    assert any("Done: 5 models trained" in s.value for s in at.success)
    records = at.session_state.records
    assert sorted((r.mode, r.config["epsilon"]) for r in records) == [
        ("dpsgd", 1.0), ("dpsgd", 2.0), ("fusiondp", 1.0), ("fusiondp", 2.0), ("sgd_ori", 1.0)]
    at = at.switch_page("views/results.py").run()
    assert not at.exception and not errors(at)
    assert len(at.get("plotly_chart")) == 1
    metrics, ledger = at.dataframe[0].value, table_with(at, "σ (noise)")
    assert list(metrics.columns) == ["mode", "ε target", "seeds", "AUROC", "AUPRC", "accuracy", "F1"]
    assert metrics["AUROC"].str.endswith("(1 seed)").all(), "one seed: no spread, not ± 0.000"
    for column in ("ε spent", "δ", "σ (noise)", "q (sampling rate)", "steps", "accountant", "what ε refers to"):
        assert column in ledger.columns
    private = ledger[ledger["mode"] == "fusiondp"]
    assert (private["ε spent"].astype(float) <= private["ε target"].astype(float) + 1e-6).all()
    assert ledger.loc[ledger["mode"] == "sgd_ori", "σ (noise)"].item() == "—"
    assert any("—: not applicable" in c.value for c in at.caption)
    assert any(THRESHOLD_RULE in c.value for c in at.caption), "accuracy and F1 say how their threshold was chosen"
    statements = [m.value for m in at.markdown if m.value.startswith("Protected:")]
    assert len(statements) == 1 and "Not protected" in statements[0], "one statement, not one per model"
    assert at.selectbox(key="statement_for").options == ["fusiondp at ε = 1, seed 0", "fusiondp at ε = 2, seed 0",
                                                         "dpsgd at ε = 1, seed 0", "dpsgd at ε = 2, seed 0"]
    assert_readable(at)
    assert [b.proto.label for b in at.get("download_button")] == [
        "Run config (YAML)", "Python script (every ε)", "Results (JSON per ε, zip)", "Report (HTML)"]


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if column in df.value.columns)


RAW_HEADERS = ("epsilon_target", "auroc_mean", "epsilon_spent", "sampling_rate", "train_accuracy", "advantage_low")


def assert_readable(at: AppTest) -> None:
    """Every table on the page has readable headers and no empty ("None"/NaN) cell: "—" says "not applicable"."""
    for frame in (df.value for df in at.dataframe):
        assert not [c for c in frame.columns if c in RAW_HEADERS or "_" in str(c)], list(frame.columns)
        assert not frame.isna().any().any(), frame
        assert not frame.astype(str).isin(["None", "nan", "NaN"]).any().any(), frame


def test_results_name_an_f1_zero_model_and_a_below_baseline_imputation(app: AppTest, small_csv: Path) -> None:
    """The verdicts read the records: an F1 = 0 model and an imputation at its baseline are called out first."""
    at = trained_small(app, small_csv, ["sgd_pub", "fusiondp"])
    records = at.session_state.records
    for record in records:
        record.metrics["f1"] = 0.0 if record.mode == "fusiondp" else 0.4
    column = records[0].imputer["quality"]["columns"][0]
    column["metrics"]["accuracy" if column["kind"] == "categorical" else "r2"] = -1.0
    decision = (column.get("selection") or {}).get("value")
    if decision is not None and decision.get("model") is not None:  # the verdict follows the imputer's own choice
        decision["used"] = "baseline"
    at = at.run()
    assert not at.exception and not errors(at)
    verdicts = [w.value for w in at.warning if not w.value.startswith(LOCAL_NOT_DP)]
    assert any(v.startswith("fusiondp: F1 = 0") for v in verdicts), verdicts
    assert any(v.startswith("Imputed no better than the trivial baseline") and column["column"] in v
               for v in verdicts), verdicts
    headings = [h.value for h in at.subheader]
    assert headings.index("Read this first") < headings.index("Metrics (mean ± sd over seeds)")


def test_cancel_stops_training(app: AppTest, small_csv: Path) -> None:
    at = on_columns(loaded(app, small_csv))
    at = at.slider(key="support_fraction").set_value(0.2).run().switch_page("views/train.py").run()
    at.multiselect(key="modes").set_value(["fusiondp"]).run()
    at.slider(key="epochs").set_value(30).run()
    at = at.button(key="train").click().run()
    at = wait_for_training(at.button(key="cancel").click().run())
    assert at.session_state.job.cancel.is_set()
    assert [w.value for w in at.warning if "Cancelled" in w.value] and not at.success, "one state: cancelled"
    records = at.session_state.records
    # fusiondp's three ε train in lockstep: cancelling stops all three, and each keeps what it trained
    assert records and all(r.cancelled and len(r.history) < 30 for r in records)
    assert [w.value for w in at.warning if f"0 of 3 models finished, {len(records)} stopped early" in w.value]
    at = at.switch_page("views/results.py").run()
    assert not at.exception and not errors(at)
    # Every model stopped early: nothing is compared, drawn or audited, and no empty statement box is shown.
    assert any(f"Training was cancelled: 0 of 3 models finished, {len(records)} stopped early" in i.value
               for i in at.info)
    assert any(w.value.startswith("No model finished before the cancel") for w in at.warning)
    assert not at.get("plotly_chart") and not [m for m in at.markdown if m.value.startswith("Protected:")]
    assert_readable(at)


def test_columns_page_shows_the_preflight_and_flags_a_planted_proxy() -> None:
    from tests.conftest import SAMPLE_CSV

    table = pd.read_csv(SAMPLE_CSV).head(800)
    table["age_band"] = (table["age"] // 10 * 10).astype(str)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.file_uploader(key="upload").set_value(("proxy.csv", table.to_csv(index=False).encode(), "text/csv")).run()
    at.switch_page("views/columns.py").run()
    at.selectbox(key="target").set_value("diabetes").run()
    at.multiselect(key="sensitive").set_value(["age", "gender"]).run()
    assert not at.exception
    assert any("Privacy preflight" in s.value for s in at.subheader)
    assert any("age_band" in e.value and "high" in e.value for e in at.error)


def trained_small(app: AppTest, small_csv: Path, modes: list[str]) -> AppTest:
    """The small slice trained for one epoch in ``modes`` at ε ∈ {1, 2}, then on the Results page."""
    at = on_columns(loaded(app, small_csv))
    at.slider(key="support_fraction").set_value(0.2).run()
    at = at.switch_page("views/train.py").run()
    at = train_on_page(at, modes, (1.0, 2.0))
    return at.switch_page("views/results.py").run()


def test_results_page_audits_the_trained_models(app: AppTest, small_csv: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard import jobs
    from fusiondp import DataError

    at = trained_small(app, small_csv, ["sgd_pub", "fusiondp"])
    assert not at.exception and not errors(at)
    assert len(at.session_state.job.models) == len(at.session_state.records) == 3
    assert not any("advantage (the leak)" in df.value.columns for df in at.dataframe)  # nothing until asked

    def refuse(*args: object, **kwargs: object) -> None:
        raise DataError("the audit needs more held-out rows; lower the test fraction")

    monkeypatch.setattr(jobs, "audit_model", refuse)
    at = at.button(key="audit").click().run()
    assert not at.exception
    assert any("the audit needs more held-out rows" in e for e in errors(at)), errors(at)
    monkeypatch.undo()

    at.number_input(key="audit_rows").set_value(60).run()
    at.checkbox(key="audit_shadow").check().run()
    at = at.button(key="audit").click().run()
    assert not at.exception and not errors(at)
    headings = [m.value for m in at.markdown if m.value.startswith(("**sgd_pub** —", "**fusiondp** —"))]
    assert [h.split("**")[1] for h in headings] == ["sgd_pub", "fusiondp"]  # one table per mode, in training order
    tables = [df.value for df in at.dataframe if "reading" in df.value.columns]
    assert len(tables) == 2
    public, fusion = tables
    assert list(public["ε target"]) == ["—"]
    assert sorted(fusion["ε target"]) == ["1", "2"]
    assert any("Rows attacked per model: 60 training rows" in c.value for c in at.caption)
    for table in tables:
        assert "rows attacked" not in table.columns, "said once above the tables, which then fit the page"
        assert table["reading"].isin(["measurable leak", "none seen at this size"]).all()
        number = r"[+-]\d\.\d{3}"
        assert table["advantage (95% interval)"].str.fullmatch(rf"{number} \({number} to {number}\)").all()
    # The imputer's guess reads no model: every model is attacked on the same rows, so it agrees everywhere.
    assert pd.concat(tables)["imputer only"].nunique() == 1
    # Membership is outside a feature-level ε: said beside the figure, not only in the notes.
    assert "Membership vs ε: outside the guarantee (feature-level ε)." in headings[1]
    assert "Membership vs ε: no guarantee." in headings[0]
    assert any(MEMBERSHIP_CAVEAT in m.value for m in at.markdown)
    assert any("no measurable leak" in m.value for m in at.markdown)
    assert_readable(at)
    assert any("never prove its absence" in i.value for i in at.info)
    # Per sensitive column: one table per audited model, one row per sensitive column.
    per_column = [df.value for df in at.dataframe if "candidates" in df.value.columns]
    assert len(per_column) == 3 and all(len(t) == len(at.session_state.sensitive) for t in per_column)


def test_dp_synthetic_support_needs_declared_values_then_trains_with_a_composed_total(
        app: AppTest, small_csv: Path) -> None:
    at = on_columns(loaded(app, small_csv))
    at = at.radio(key="support_source").set_value(
        "DP-synthetic: made from the private rows under its own ε (no public rows needed)").run()
    assert not at.exception
    template = at.session_state.declared_values
    assert "# age: [<low>, <high>]" in template and "# gender: [<category>, <category>, …]" in template
    missing = next(e for e in errors(at) if "bounds of 'age'" in e)
    assert "never from the private rows" in missing and "age: [<low>, <high>]" in missing
    assert "On the Columns page, write one line per column in “Declared values of each sensitive column" in missing
    assert "--" not in missing and "sensitive_bounds" not in missing, "app wording: no CLI flags or config keys"
    at = at.text_area(key="declared_values").set_value("age: [20, 80\ngender: [Female, Male]").run()
    assert any("not valid YAML" in e for e in errors(at)), errors(at)
    at = at.text_area(key="declared_values").set_value("""
age: [20, 80]
gender: [Female, Male]
race_ethnicity: [Mexican American, Other Hispanic, Non-Hispanic White, Non-Hispanic Black, Non-Hispanic Asian,
  Other or multiracial]
education: [Less than 9th grade, 9-11th grade, High school or GED, Some college or AA degree,
  College graduate or above]
marital_status: [Married, Widowed, Divorced, Separated, Never married, Living with partner]
income_poverty_ratio: [0, 5]
""").run()
    assert not errors(at), errors(at)
    assert "Support: DP-synthetic (" in at.success[0].value
    at = at.selectbox(key="synthesizer").select("two_stage").run()
    assert not errors(at), errors(at)
    assert "Support: DP-synthetic, two-stage" in at.success[0].value
    at = at.switch_page("views/train.py").run()
    at = train_on_page(at, ["fusiondp"])
    assert not at.exception and not errors(at)
    ledger = at.session_state.records[0].privacy
    assert ledger.epsilon_syn <= 1.0 and ledger.epsilon_total < ledger.epsilon_spent + ledger.epsilon_syn
    at = at.switch_page("views/results.py").run()
    assert "ε total (with ε_syn)" in table_with(at, "σ (noise)").columns
    assert any("two stages: a DP-SGD autoencoder" in m.value for m in at.markdown)


def test_sample_table_brings_its_codebook_declarations(app: AppTest) -> None:
    at = app.selectbox(key="sample").select("NHANES 2017–2018 adults: diabetes").run()
    assert "gender: [Female, Male]" in at.session_state.declared_values
    assert "age: [20, 80]" in at.session_state.declared_values


@pytest.mark.parametrize(("sample", "target", "metric"), [("nhanes_systolic_bp.csv", "systolic_bp", "R²"),
                                                          ("nhanes_glycemic.csv", "glycemic_status", "macro-F1")],
                         ids=["regression", "multiclass"])
def test_a_non_binary_target_reaches_readable_results(app: AppTest, tmp_path: Path, sample: str, target: str,
                                                     metric: str) -> None:
    path = tmp_path / sample
    pd.read_csv(APP.parents[1] / "sample_data" / sample).head(600).to_csv(path, index=False)
    at = on_columns(loaded(app, path, target=target))
    at = at.slider(key="support_fraction").set_value(0.2).run().switch_page("views/train.py").run()
    at = train_on_page(at, ["sgd_pub", "fusiondp"])
    assert not at.exception and not errors(at), errors(at)
    at = at.switch_page("views/results.py").run()
    assert not at.exception and not errors(at), errors(at)
    assert metric in at.dataframe[0].value.columns
    assert len(at.get("plotly_chart")) == 1
    assert_readable(at)
