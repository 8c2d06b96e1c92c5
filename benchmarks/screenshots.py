"""Screenshots of every dashboard page, for acceptance notes: ``python -m benchmarks.screenshots OUT``.

Starts ``streamlit run dashboard/app.py`` on a free port (``dashboard``, which the browser test uses too),
drives Debian's chromium with playwright through one session: the sample table, its column roles,
the imputation preview, a training run with the Train page's defaults (the full comparison: the default
modes at ε 1, 2 and 4, each mode's own epochs, 3 seeds) and its audit, the Results and About pages. Each page
is then saved at every width, with tutorial mode off and on, as ``OUT/<page>_<width>[_tutorial].png``, the whole page at
once (the window is made as tall as the page). Not a test: look at the images.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
SAMPLE = "NHANES 2017–2018 adults: diabetes"
PAGES = {
    "data": ("1 · Data", "nhanes_diabetes.csv"),
    "columns": ("2 · Columns", "Rows per part"),
    "imputation": ("3 · Imputation preview", "Real vs imputed values"),
    "train": ("4 · Train", "models trained"),
    "results": ("5 · Results", "Read this first"),
    "about": ("About feature-level DP", "What is protected."),
}
"""Page key → (its sidebar link, a text shown once the page has drawn)."""
TIMEOUT_MS = 300_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def dashboard() -> Iterator[str]:
    """A fresh ``streamlit run`` of the dashboard; yields its URL and stops it afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "streamlit did not start (run `streamlit run dashboard/app.py` to see why)") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def settle(page: Page) -> None:
    """Wait until the script run is over (no 'Running…' widget) and the charts have drawn."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT_MS)
    charts = page.locator('[data-testid="stPlotlyChart"]')
    for index in range(charts.count()):
        expect(charts.nth(index).locator(".main-svg").first).to_be_attached(timeout=TIMEOUT_MS)
    page.wait_for_timeout(800)


def open_page(page: Page, key: str) -> None:
    link, ready = PAGES[key]
    page.locator('[data-testid="stSidebar"] a', has_text=link).click()
    expect(page.get_by_text(ready).first).to_be_visible(timeout=TIMEOUT_MS)
    settle(page)


def shoot(page: Page, path: Path, width: int) -> None:
    """The whole page: the window is made as tall as the main area's content, then captured."""
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_timeout(500)
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": width, "height": min(max(int(height), 900), 16_000)})
    page.wait_for_timeout(800)
    page.screenshot(path=path)


def prepare_run(page: Page, url: str) -> None:
    """Load the sample, open each step once, train with the Train page's defaults and audit the models."""
    page.goto(url)
    choice = page.locator('[data-testid="stSelectbox"]', has_text="sample table").locator("input")
    choice.click()
    page.get_by_role("option", name=SAMPLE).click()
    expect(page.get_by_role("heading", name="nhanes_diabetes.csv")).to_be_visible(timeout=TIMEOUT_MS)
    for key in ("columns", "imputation"):
        open_page(page, key)
    page.locator('[data-testid="stSidebar"] a', has_text=PAGES["train"][0]).click()
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("models trained.")).to_be_visible(timeout=TIMEOUT_MS)
    open_page(page, "results")
    page.get_by_role("button", name="Audit the trained models").click()
    expect(page.get_by_text("Attack accuracy").first).to_be_visible(timeout=TIMEOUT_MS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNG files (created if missing)")
    parser.add_argument("--widths", type=int, nargs="+", default=[1400, 1024], help="window widths in pixels")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    executable = next((path for path in CHROMIUM if Path(path).exists()), None)
    if executable is None:
        sys.exit("Debian chromium is not installed (apt-get install chromium)")
    with dashboard() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        page = browser.new_page(viewport={"width": max(args.widths), "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        started = time.monotonic()
        prepare_run(page, url)
        print(f"sample loaded and trained in {time.monotonic() - started:.0f} s", flush=True)
        for tutorial in (False, True):
            if tutorial:
                page.locator('[data-testid="stSidebar"] label', has_text="Tutorial mode").click()
                settle(page)
            for key in PAGES:
                open_page(page, key)
                for width in args.widths:
                    path = args.out / f"{key}_{width}{'_tutorial' if tutorial else ''}.png"
                    shoot(page, path, width)
                    print(path, flush=True)
        browser.close()


if __name__ == "__main__":
    main()
