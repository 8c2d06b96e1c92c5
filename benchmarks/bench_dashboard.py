"""Seconds from the Train click to the first privacy-utility curve, in a real browser: ``python -m
benchmarks.bench_dashboard`` (``--repeats 2``). Writes benchmarks/results/dashboard.json.

Starts the dashboard (``benchmarks.screenshots.dashboard``) and drives Debian's chromium with playwright as a
user would: pick the sample table, open the Columns page (the roles come from the sample's spec), go straight
to Train and press Train with the page's defaults. Two clocks: ``train_click_to_done_s``, until the page
says the models are trained (the preparation, run after the click because the Imputation preview was not
opened, is included), and ``train_click_to_curve_s``, until the Results page has drawn its curve. Each
repeat is a fresh server, so nothing is cached from the one before.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import expect, sync_playwright

from benchmarks.common import machine, write_results
from benchmarks.screenshots import CHROMIUM, PAGES, SAMPLE, TIMEOUT_MS, dashboard, open_page


def first_curve(executable: str) -> dict[str, Any]:
    """One fresh server and browser: the sample, the Columns page, then Train with the defaults."""
    with dashboard() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        choice = page.locator('[data-testid="stSelectbox"]', has_text="sample table").locator("input")
        choice.click()
        page.get_by_role("option", name=SAMPLE).click()
        expect(page.get_by_role("heading", name="nhanes_diabetes.csv")).to_be_visible(timeout=TIMEOUT_MS)
        open_page(page, "columns")
        page.locator('[data-testid="stSidebar"] a', has_text=PAGES["train"][0]).click()
        planned = page.get_by_text(re.compile(r"\d+ models? to train")).first
        expect(planned).to_be_visible(timeout=TIMEOUT_MS)
        models = int(re.search(r"(\d+) models? to train", planned.inner_text()).group(1))
        started = time.monotonic()
        page.get_by_role("button", name="Train", exact=True).click()
        expect(page.get_by_text("models trained.")).to_be_visible(timeout=TIMEOUT_MS)
        done = time.monotonic() - started
        page.locator('[data-testid="stSidebar"] a', has_text=PAGES["results"][0]).click()
        expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible(timeout=TIMEOUT_MS)
        curve = time.monotonic() - started
        errors = page.locator('[data-testid="stException"]').count()
        browser.close()
    return {"models": models, "train_click_to_done_s": round(done, 1), "train_click_to_curve_s": round(curve, 1),
            "exceptions_shown": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="Fresh servers to time (default 2).")
    args = parser.parse_args()
    executable = next((path for path in CHROMIUM if Path(path).exists()), None)
    if executable is None:
        sys.exit("Debian chromium is not installed (apt-get install chromium)")
    runs = []
    for repeat in range(args.repeats):
        runs.append(first_curve(executable))
        print(f"repeat {repeat + 1}: {runs[-1]}", flush=True)
    curve = [run["train_click_to_curve_s"] for run in runs]
    summary = {"median_train_click_to_curve_s": statistics.median(curve), "goal_s": 30}
    print(f"Train click → first curve: median {summary['median_train_click_to_curve_s']} s (goal ≤ 30 s) over "
          f"{len(runs)} fresh servers, {runs[0]['models']} models with the Train page's defaults")
    write_results("dashboard", {"machine": machine(), "description": __doc__.splitlines()[0], "runs": runs,
                                **summary})


if __name__ == "__main__":
    main()
