"""What a reader does, in headless Chromium (Debian's package) against the built site on 127.0.0.1.

Screenshots of the landing page and lesson 01 in both palettes go to ``build/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import json
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.conftest import ROOT, SNIPPETS
from tests.harness.notebooks import page_for

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "screenshots"
TIMEOUT_MS = 8000

pytestmark = [
    pytest.mark.enable_socket,  # the browser and the server talk over 127.0.0.1 only
    pytest.mark.allow_hosts(["127.0.0.1"]),
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(built_site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert CHROMIUM.exists(), "Chromium is missing: `make test` installs Debian's chromium"
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-gpu",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


def site_pages(built_site: Path) -> list[str]:
    return sorted(
        str(p.parent.relative_to(built_site)) + "/" if p.parent != built_site else ""
        for p in built_site.rglob("index.html")
        if "assets" not in p.parts
    )


def lesson_url(script: Path) -> str:
    return f"lessons/{page_for(script).stem}/"


def test_every_page_loads_cleanly_and_only_from_this_host(context: Any, built_site: Path) -> None:
    problems: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status}: {r.url}"))
    page.on(
        "request",
        lambda r: (
            urlparse(r.url).hostname not in (None, "127.0.0.1")
            and r.url.startswith("http")
            and problems.append(f"outside request: {r.url}")
        ),
    )
    pages = site_pages(built_site)
    assert "" in pages and lesson_url(SNIPPETS[0]) in pages
    for url in pages:
        response = page.goto(url, wait_until="load")
        assert response is not None and response.ok, url
        page.wait_for_load_state("networkidle")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("script", SNIPPETS, ids=lambda p: p.name)
def test_search_finds_each_lesson(context: Any, script: Path) -> None:
    title = next(
        line[2:].strip()
        for line in page_for(script).read_text().splitlines()
        if line.startswith("# ")
    )
    word = max((w for w in title.replace("-", " ").split() if w.isalpha()), key=len)
    page = context.new_page()
    page.goto("", wait_until="networkidle")
    page.keyboard.press("/")
    page.locator("input.md-search__input").press_sequentially(word, delay=20)  # key events
    results = page.locator(".md-search-result__item a")
    results.first.wait_for(timeout=30_000)  # the search index is built in a worker on first use
    hrefs = [results.nth(i).get_attribute("href") or "" for i in range(results.count())]
    assert any(lesson_url(script) in h for h in hrefs), hrefs


def test_palette_toggle_switches_and_survives_a_reload(context: Any) -> None:
    page = context.new_page()
    page.goto("")
    before = page.get_attribute("body", "data-md-color-scheme")
    page.locator("form[data-md-component=palette] label:visible").first.click()
    after = page.get_attribute("body", "data-md-color-scheme")
    assert {before, after} == {"default", "slate"}
    page.reload()
    assert page.get_attribute("body", "data-md-color-scheme") == after


def test_copy_button_copies_the_exact_snippet(browser: Any, base_url: str) -> None:
    context = browser.new_context(
        base_url=base_url, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    page.goto(lesson_url(SNIPPETS[0]))
    page.locator("button[data-clipboard-target]").first.click(force=True)
    copied = page.evaluate("navigator.clipboard.readText()")
    source = SNIPPETS[0].read_text()
    first = source.split("# --8<-- [start:", 1)[1].split("\n", 1)[1].split("# --8<-- [end:", 1)[0]
    assert copied.strip() == textwrap.dedent(first).strip()
    context.close()


def test_quiz_explains_an_answer_and_remembers_it(context: Any) -> None:
    script = SNIPPETS[0]
    quiz = json.loads((ROOT / "docs/assets/quizzes" / f"{script.stem}.json").read_text())
    question = quiz["questions"][0]
    page = context.new_page()
    page.goto(lesson_url(script))
    box = page.locator(f"fieldset[data-question='{question['id']}']")
    box.locator("button", has_text=question["answers"][1]["text"]).click()
    feedback = box.locator(".ptm-quiz__feedback")
    assert question["answers"][1]["explanation"] in feedback.inner_text()
    page.reload()
    assert question["answers"][1]["explanation"] in box.locator(".ptm-quiz__feedback").inner_text()
    assert "1 of" in page.locator(".ptm-quiz__score").inner_text()


def test_notebook_download_link_serves_a_valid_notebook(context: Any) -> None:
    page = context.new_page()
    page.goto(lesson_url(SNIPPETS[0]))
    href = page.locator("a[download]").first.get_attribute("href")
    response = page.request.get(page.url + href)
    notebook = json.loads(response.body())
    assert response.ok and notebook["nbformat"] == 4 and len(notebook["cells"]) > 5


def test_mobile_width_shows_the_navigation_drawer(browser: Any, base_url: str) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(lesson_url(SNIPPETS[0]))
    drawer_button = page.locator("label.md-header__button[for=__drawer]")
    assert drawer_button.is_visible()
    drawer_button.click()
    page.locator(".md-sidebar--primary .md-nav__link").first.wait_for(state="visible")
    context.close()


def test_screenshots_of_home_and_a_lesson_in_both_palettes(browser: Any, base_url: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        context = browser.new_context(
            base_url=base_url, color_scheme=scheme, viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        for name, url in (("home", ""), ("lesson01", lesson_url(SNIPPETS[0]))):
            page.goto(url, wait_until="networkidle")
            path = SCREENSHOTS / f"{name}-{scheme}.png"
            page.screenshot(path=str(path))
            assert path.stat().st_size > 10_000
        expected = "slate" if scheme == "dark" else "default"
        assert page.get_attribute("body", "data-md-color-scheme") == expected
        context.close()


def _loaded(page: Any, url: str) -> dict[str, int]:
    """URL -> body size of everything a fresh load of ``url`` fetched."""
    responses: list[Any] = []
    page.on("response", lambda response: responses.append(response))
    page.goto(url, wait_until="networkidle")
    return {r.url: len(r.body()) for r in responses if r.status == 200}


def test_each_lesson_page_weighs_under_a_megabyte(context: Any) -> None:
    """Bytes a lesson page adds on first load, beyond the assets every page shares."""
    shared = set(_loaded(context.new_page(), ""))
    weights = {}
    for script in SNIPPETS:
        loaded = _loaded(context.new_page(), lesson_url(script))
        weights[script.stem] = sum(size for url, size in loaded.items() if url not in shared)
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "page-weight.json").write_text(json.dumps(weights, indent=2) + "\n")
    for name, size in weights.items():
        assert 0 < size < 1_000_000, (name, size)
