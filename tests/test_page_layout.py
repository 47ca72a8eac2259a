"""Issue 24: the report's tables and the verdict page fit the window at 1400 and 800 px (no
column off the page, no text running off the side), and the verdict page says what its
words mean. Checked in headless Chromium (skipped without it, as tests/test_browser_report.py)."""

import sys

import pytest
from test_browser_report import _browser

from convergan.cli.main import main

# For every element: its right edge beyond the viewport while no scrolling container holds
# it, or text wider than its own box (a <pre> running off the side).
OVERFLOWS = """
const width = document.documentElement.clientWidth, found = [];
function scrolls(e) {
  for (let p = e.parentElement; p; p = p.parentElement) {
    const style = getComputedStyle(p);
    if (['auto', 'scroll'].includes(style.overflowX) && p.clientWidth <= width) return true;
  }
  return false;
}
for (const e of document.querySelectorAll('body *')) {
  const box = e.getBoundingClientRect();
  if (box.right > width + 1 && !scrolls(e)) found.push(e.tagName + ' ' + (e.id || ''));
  if (e.tagName === 'PRE' && e.scrollWidth > e.clientWidth + 1) found.push('PRE text');
}
if (document.documentElement.scrollWidth > width + 1) found.push('page');
return found;
"""


def overflows(browser, page, width):
    browser.set_window_size(width, 1200)
    browser.get(page.as_uri())
    return browser.execute_script(OVERFLOWS)


@pytest.fixture(scope="module")
def browser():
    driver = _browser()
    yield driver
    driver.quit()


def test_the_report_fits_at_1400_and_800_px(tmp_path, browser):
    from test_report_stats import fake_sweep

    from convergan.studies.report import write_report

    write_report(fake_sweep(tmp_path / "sweep"), tmp_path / "report")
    page = tmp_path / "report" / "report.html"
    for width in (1400, 800):
        assert overflows(browser, page, width) == [], width


def test_the_verdict_page_fits_and_explains_its_words(tmp_path, browser):
    run_dir = tmp_path / "run"
    argv = ["train", "toy2d/circle", "train.steps=40", "train.checkpoint_every=20",
            "model.width=8", "model.depth=1", "train.sample_every=0", "eval.metrics=[]",
            "eval.diagnostics.every=5", f"out_dir={run_dir}", "--quiet"]  # fmt: skip
    with pytest.raises(SystemExit) as stop:
        sys.exit(main(argv))
    assert stop.value.code == 0
    page = tmp_path / "verdict.html"
    argv = ["verdict", str(run_dir), "--no-spectrum", "--no-path-angle", "--quiet"]
    with pytest.raises(SystemExit) as stop:
        sys.exit(main([*argv, "--html", str(page)]))
    assert stop.value.code == 0
    for width in (1400, 800):
        assert overflows(browser, page, width) == [], width
    from selenium.webdriver.common.by import By

    words = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "dl#words dt")]
    assert words == [
        "converging",
        "at equilibrium",
        "at noise floor",
        "oscillating",
        "diverging",
        "inconclusive",
    ]


def test_the_report_header_gives_the_spec_as_the_specs_and_the_grid_as_run(tmp_path):
    """A sweep narrowed with --axis ran fewer cells than its spec's description says."""
    from test_report_stats import fake_sweep

    from convergan.studies.report import write_report

    report = write_report(fake_sweep(tmp_path / "sweep"), tmp_path / "report")
    for name in ("report.md", "report.html"):
        text = (report.out / name).read_text()
        spec, grid = text.index("Spec: A sweep written by hand."), text.index("As run: ")
        assert spec < grid
