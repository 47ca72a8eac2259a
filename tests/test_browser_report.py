"""The report page in a real browser: Debian's headless Chromium, driven by selenium through
the system chromedriver, opens report.html from disk (no server, no network) and finds every
table row and every figure rendered; a screenshot is kept beside the page."""

import json
import shutil
from pathlib import Path

import pytest

from convergan.studies.report import write_report

INSTALL = (
    "no headless browser: install Debian's chromium and its driver "
    "(apt-get install chromium chromium-driver) and selenium (pip install selenium)"
)


def _browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip(INSTALL)
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.skip(INSTALL)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--window-size=1300,2000")
    # Nothing but the file itself may load: any network request would be a bug in the page.
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND")
    return webdriver.Chrome(service=Service(driver), options=options)


def test_every_row_and_figure_renders_in_headless_chromium(tmp_path):
    from test_report_stats import fake_sweep

    report = write_report(fake_sweep(tmp_path / "sweep"), tmp_path / "report")
    page = tmp_path / "report" / "report.html"
    html = page.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html
    browser = _browser()
    try:
        from selenium.webdriver.common.by import By

        browser.get(page.as_uri())
        assert browser.title == "fake: convergan report"
        summary = browser.find_elements(By.CSS_SELECTOR, "table#summary tbody tr")
        assert [row.get_attribute("data-cell") for row in summary] == [
            c.label for c in report.cells
        ]
        first = [td.text for td in summary[0].find_elements(By.TAG_NAME, "td")]
        assert first[:4] == ["gan", "3", "3", "0.7 ± 0.5"] and "no linear convergence" in first[-1]
        runs = browser.find_elements(By.CSS_SELECTOR, "table#runs tbody tr")
        assert [row.get_attribute("data-run") for row in runs] == [
            r.name for r in report.sweep.runs
        ]
        diverged = browser.find_elements(By.CSS_SELECTOR, "table#runs td.status-diverged")
        assert len(diverged) == 1 and diverged[0].text == "diverged"
        comparisons = browser.find_elements(By.CSS_SELECTOR, "table#comparisons tbody tr")
        assert len(comparisons) == len(report.comparisons) == 1
        figures = browser.find_elements(By.CSS_SELECTOR, "figure[data-figure]")
        assert sorted(f.get_attribute("data-figure") for f in figures) == sorted(
            name for name, _, _ in report.figures
        )
        for figure in figures:
            image = figure.find_element(By.TAG_NAME, "img")
            # decoded and laid out: a broken data URI has naturalWidth 0
            size = browser.execute_script(
                "return [arguments[0].complete, arguments[0].naturalWidth,"
                " arguments[0].getBoundingClientRect().height]",
                image,
            )
            assert size[0] and size[1] > 100 and size[2] > 50, size
        shot = tmp_path / "report" / "screenshot.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        # Nothing was fetched from anywhere but the file itself.
        entries = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert all(e.startswith(("data:", "file:")) for e in entries), json.dumps(entries)
    finally:
        browser.quit()
    assert Path(shot).is_file()
