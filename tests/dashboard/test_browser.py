"""Real-browser end-to-end test: Debian's chromium driven by playwright against a live server.

Uploads a CSV through the file input, tags a column, trains a tiny run and waits for the
privacy-utility curve. The screenshot lands in tests/dashboard/artifacts/ (gitignored).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect

from benchmarks.screenshots import dashboard

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).exists()), None)
if CHROMIUM is None and not os.environ.get("FUSIONDP_REQUIRE_BROWSER"):
    pytest.skip("Debian chromium is not installed (.ci/run installs it)", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Use the system chromium: `playwright install` cannot download here."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    """A tall viewport: Streamlit scrolls an inner container, so the screenshot shows what fits."""
    return {**browser_context_args, "viewport": {"width": 1400, "height": 2600}}


@pytest.fixture
def server() -> Iterator[tuple[str, float]]:
    """A fresh `streamlit run` per test (the screenshot script's ``dashboard``); yields its URL and start time."""
    started = time.monotonic()
    with dashboard() as url:
        yield url, started


@pytest.fixture(scope="session")
def browser_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 rows of the sample table: enough for a 60-row support set at the default fraction."""
    table = pd.read_csv(ROOT / "sample_data" / "nhanes_diabetes.csv")
    small = table.groupby("diabetes", group_keys=False).sample(frac=600 / len(table), random_state=1)
    path = tmp_path_factory.mktemp("browser") / "nhanes_600.csv"
    small.to_csv(path, index=False)
    return path


def go_to(page: Page, title: str) -> None:
    page.locator('[data-testid="stSidebar"] a', has_text=title).click()


def open_dashboard(page: Page, url: str) -> None:
    """Open the app with a minute's patience for every step (a cold server imports the library first)."""
    page.set_default_timeout(60_000)
    expect.set_options(timeout=60_000)
    page.goto(url)


def upload(page: Page, csv: Path) -> None:
    """Send ``csv`` through the Data page's file input and wait for its name as the page heading."""
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(csv)
    expect(page.get_by_role("heading", name=csv.name)).to_be_visible()


def choose(page: Page, label: str, option: str, typed: str | None = None) -> None:
    """Pick ``option`` in the select box labelled ``label``: its list is virtualised, so filter it by typing
    (``typed``, default the option itself) first."""
    box = page.locator('[data-testid="stSelectbox"]', has_text=label).first.locator("input")
    box.click()
    box.press_sequentially(typed or option)
    page.get_by_role("option", name=option, exact=True).click()


def one_seed(page: Page) -> None:
    """On the Train page: one seed instead of the default three (the knobs' expander holds the box)."""
    page.get_by_text("Training knobs").click()
    seeds = page.get_by_label("Seeds")
    seeds.fill("1")
    seeds.press("Enter")
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")


def test_upload_tag_train_curve(page: Page, server: tuple[str, float], browser_csv: Path) -> None:
    url, started = server
    open_dashboard(page, url)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("No table loaded yet.")).to_be_visible()
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0, "no list of page files"
    upload(page, browser_csv)
    expect(sidebar.get_by_text("not chosen yet")).to_be_visible()

    go_to(page, "2 · Columns")
    expect(page.get_by_text("Suggested from the column names and values: diabetes")).to_be_visible()
    expect(sidebar.get_by_text("Current run")).to_be_visible()  # the page stops early: the sidebar stays
    choose(page, "Target", "diabetes")
    ignore = page.locator('[data-testid="stMultiSelect"]', has_text="Ignore").locator("input")
    ignore.click()
    ignore.press_sequentially("sedentary")  # the option list is virtualised: filter it first
    page.get_by_role("option", name="sedentary_min").click()
    page.keyboard.press("Escape")
    expect(page.get_by_text("Rows per part: support 60")).to_be_visible()

    go_to(page, "3 · Imputation preview")
    expect(page.get_by_text("Imputer that ran:")).to_be_visible()

    go_to(page, "4 · Train")
    page.get_by_role("button", name="Remove sgd_pub").click()
    one_seed(page)
    expect(page.get_by_text("11 models to train")).to_be_visible()  # sgd_ori, sgd_hybrid; 3 private modes × 3 ε
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("Done: 11 models trained.")).to_be_visible(timeout=120_000)

    go_to(page, "5 · Results")
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible()
    seconds = time.monotonic() - started
    expect(page.get_by_text("Read this first")).to_be_visible()
    expect(page.get_by_text("Metrics (mean ± sd over seeds)")).to_be_visible()
    expect(page.get_by_role("button", name="Report (HTML)")).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "results.png", full_page=True)
    (ARTIFACTS / "timing.json").write_text(json.dumps({"server_start_to_curve_s": round(seconds, 1)}))


def test_a_regression_target_trains_and_reads_in_its_own_metric(page: Page, server: tuple[str, float],
                                                                 tmp_path: Path) -> None:
    """A new target kind in a real browser: the Columns page infers regression, the live chart plots the
    validation R² and the Results page draws the R² curve."""
    url, _ = server
    csv = tmp_path / "systolic_600.csv"
    pd.read_csv(ROOT / "sample_data" / "nhanes_systolic_bp.csv").sample(600, random_state=1).to_csv(csv, index=False)
    open_dashboard(page, url)
    upload(page, csv)

    go_to(page, "2 · Columns")
    choose(page, "Target", "systolic_bp", typed="systolic")
    expect(page.get_by_role("combobox", name="Target kind")).to_have_value("regression (a number)")
    expect(page.get_by_text("Positive class")).to_have_count(0)

    go_to(page, "4 · Train")
    one_seed(page)
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("Done: 12 models trained.")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("Validation R² per epoch").first).to_be_visible()  # a rerun may show two briefly

    go_to(page, "5 · Results")
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible()
    expect(page.locator('[data-testid="stPlotlyChart"]').get_by_text("R² vs ε")).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "results_regression.png", full_page=True)


def test_a_deep_link_on_a_cold_server_opens_its_page(page: Page, server: tuple[str, float]) -> None:
    """The first request a fresh server gets is /train: the page runs inside app.py, with the session's defaults."""
    url, _ = server
    page.set_default_timeout(60_000)
    page.goto(f"{url}/train")
    expect(page.get_by_text("Load a table on the Data page first.")).to_be_visible(timeout=60_000)
    expect(page.locator('[data-testid="stSidebar"]').get_by_text("No table loaded yet.")).to_be_visible()
    assert page.get_by_text("has no attribute").count() == 0


def test_notes_show_highlighted_spans_beside_hybrids_and_train(page: Page, server: tuple[str, float],
                                                               tmp_path: Path) -> None:
    """Notes in a real browser: a text column tagged on Columns, support notes with their spans highlighted beside
    their hybrid notes on the Imputation page, and a run to the Results page's statement about spans."""
    url, _ = server
    csv = tmp_path / "reviews_500.csv"
    table = pd.read_csv(ROOT / "sample_data" / "drug_reviews.csv").head(500)
    table[["drug", "review", "positive"]].to_csv(csv, index=False)
    open_dashboard(page, url)
    upload(page, csv)

    go_to(page, "2 · Columns")
    choose(page, "Target", "positive")
    choose(page, "Text column", "review")
    expect(page.get_by_text("Sensitive span types (protected inside the notes)")).to_be_visible()
    expect(page.get_by_text("Rows per part: support 50")).to_be_visible()
    expect(page.get_by_text("Sensitive columns (protected with feature-level DP)")).to_have_count(0)

    go_to(page, "3 · Imputation preview")
    expect(page.get_by_text("Support notes: detected spans, and each note's hybrid")).to_be_visible()
    expect(page.locator('mark[title="sex"]').first).to_be_visible()
    expect(page.get_by_text("Its hybrid note (surrogates from a fit that did not see it)").first).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "imputation_notes.png", full_page=True)

    go_to(page, "4 · Train")
    one_seed(page)
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("Done: 12 models trained.")).to_be_visible(timeout=120_000)

    go_to(page, "5 · Results")
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible()
    expect(page.get_by_text("words of 'review' outside the detected spans").first).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0


def test_results_fill_in_by_themselves_and_a_reload_keeps_the_session(page: Page, server: tuple[str, float],
                                                                      browser_csv: Path) -> None:
    """Issue 29.1 and 29.2: Results said "No results yet" until the user left the page and came back, and a reload
    wiped the table, roles and results."""
    url, _ = server
    open_dashboard(page, url)
    upload(page, browser_csv)
    go_to(page, "2 · Columns")
    choose(page, "Target", "diabetes")
    expect(page.get_by_text("Rows per part: support 60")).to_be_visible()
    go_to(page, "4 · Train")
    for mode in ("sgd_pub", "sgd_hybrid", "feature_dp"):
        page.get_by_role("button", name=f"Remove {mode}").click()
    one_seed(page)
    expect(page.get_by_text("7 models to train")).to_be_visible()
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("of 7 models trained")).to_be_visible()  # the data prepared, training under way
    go_to(page, "5 · Results")
    expect(page.get_by_text("This page shows the results as soon as training ends.")).to_be_visible()
    expect(page.get_by_text("No results yet")).to_have_count(0)
    expect(page.get_by_text("Read this first")).to_be_visible(timeout=120_000)  # no click, no page change
    expect(page.get_by_text("fusiondp vs the best private baseline (dpsgd)")).to_have_count(3)  # one line per ε
    assert "session=" in page.url
    page.reload()
    expect(page.get_by_text("Your session is back after the reload")).to_be_visible()
    expect(page.get_by_text("Read this first")).to_be_visible()
    expect(page.locator('[data-testid="stSidebar"]').get_by_text(browser_csv.name)).to_be_visible()
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
