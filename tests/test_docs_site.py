"""The docs site in a real browser: the site built by ``mkdocs build --strict`` (``make docs``),
opened from disk in Debian's headless Chromium, every page reached from the home page, and every
internal link followed: a missing page or a missing anchor fails, and so does any request to
another host (the site works offline)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from test_browser_report import _browser

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "site"
SOURCES = [
    p
    for p in [
        ROOT / "mkdocs.yml",
        *(ROOT / "docs").rglob("*"),
        *(ROOT / "src").rglob("*.py"),
        *(ROOT / "benchmarks" / "results").rglob("*.png"),  # published figures
    ]
    if "__pycache__" not in p.parts
]


def _site(tmp_path: Path) -> Path:
    """``make docs``'s build when it is newer than every source; else a fresh strict build."""
    newest = max(p.stat().st_mtime for p in SOURCES if p.is_file())
    stamp = BUILT / "index.html"
    if stamp.is_file() and stamp.stat().st_mtime > newest:
        return BUILT
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (make install)")
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    env["NO_MKDOCS_2_WARNING"] = "1"
    build = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(site)]
    done = subprocess.run(build, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return site


def _local(url: str, site: Path) -> tuple[Path, str] | None:
    """The file and fragment of a link into the site; ``None`` for any other link."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    path = Path(unquote(parts.path))
    if not path.is_relative_to(site):
        return None
    return (path / "index.html" if path.is_dir() else path), unquote(parts.fragment)


COLLECT = """
return [(document.readyState == 'loading' ? 'loading ' : 'loaded ') + location.href, document.title,
        Array.from(document.querySelectorAll('[id]')).map(e => e.id),
        Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
        performance.getEntriesByType('resource').map(e => e.name)]
"""


def problems_of(site: Path, browser) -> list[str]:
    """Every page reached from ``site/index.html`` by its links, in the browser: the links to
    missing files or anchors, the pages no link reaches, and requests to other hosts."""
    pages = {p for p in site.rglob("*.html") if p.name != "404.html"}
    ids: dict[Path, set[str]] = {}
    links: list[tuple[Path, Path, str]] = []  # (from page, to file, fragment)
    queue, problems = [site / "index.html"], []
    while queue:
        page = queue.pop()
        if page in ids:
            continue
        state, title, found, hrefs, requests = _open(browser, page)
        if state != f"loaded {page.as_uri()}":
            problems.append(f"{page.relative_to(site)}: did not load ({state})")
        if "convergan" not in title:
            problems.append(f"{page.relative_to(site)}: title {title!r}")
        ids[page] = set(found)
        problems += [f"request to another host: {r}" for r in requests if not r.startswith(LOCAL)]
        for href in hrefs:
            target = _local(href, site)
            if target is not None:
                links.append((page, *target))
                if target[0].suffix == ".html" and target[0].is_file():
                    queue.append(target[0])
    for page, path, fragment in links:
        link = f"{page.relative_to(site)} -> {path.relative_to(site)}"
        if not path.is_file():
            problems.append(f"missing file: {link}")
        elif fragment and path.suffix == ".html" and fragment not in ids[path]:
            problems.append(f"missing anchor: {link}#{fragment}")
    problems += [f"no link reaches {p.relative_to(site)}" for p in sorted(pages - set(ids))]
    return sorted(set(problems))


LOCAL = ("file:", "data:", "blob:")


def _open(browser, page: Path) -> list:
    """The page's load state, title, ids, links and requests, once it has loaded (``get`` can
    return while a file is still loading)."""
    browser.get(page.as_uri())
    found = browser.execute_script(COLLECT)
    for _ in range(100):
        if found[0] != f"loading {page.as_uri()}":
            break
        time.sleep(0.1)
        found = browser.execute_script(COLLECT)
    return found


@pytest.mark.slow  # builds the site, then a browser
def test_every_internal_link_of_the_docs_site_resolves_in_headless_chromium(tmp_path):
    browser = _browser()  # skips when there is no headless Chromium
    try:
        site = _site(tmp_path)
        problems = problems_of(site, browser)
    finally:
        browser.quit()
    assert not problems, "\n".join(problems)


def test_the_link_check_finds_missing_pages_and_anchors(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(
        "<title>convergan</title><h1 id='top'>x</h1><a href='other.html#nowhere'>a</a>"
        "<a href='other.html#here'>b</a><a href='gone.html'>c</a><a href='#top'>d</a>"
        "<a href='https://example.org/'>e</a>"
    )
    (site / "other.html").write_text("<title>convergan</title><h1 id='here'>y</h1>")
    (site / "lost.html").write_text("<title>convergan</title>")
    browser = _browser()
    try:
        problems = problems_of(site, browser)
    finally:
        browser.quit()
    assert problems == [
        "missing anchor: index.html -> other.html#nowhere",
        "missing file: index.html -> gone.html",
        "no link reaches lost.html",
    ]
