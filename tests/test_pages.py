"""Every page's python blocks run as a reader meets them, and nothing on the site escapes that."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, SITE, SNIPPETS, run_snippet
from tests.harness.pages import (
    count_html_python_blocks,
    count_python_fences,
    expand,
    html_path,
    includes,
    is_skipped,
    python_blocks,
    run_page,
    script_with_same_code,
    sections,
)

PAGES = SITE.pages()


def _id(page: Path) -> str:
    return str(page.relative_to(SITE.docs_dir))


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_page_blocks_run_in_page_order(page: Path) -> None:
    script = script_with_same_code(SITE, page)
    if script is not None:  # the page's code is the script's, in the same order: run it once
        _, problems = run_snippet(script.name)
        assert not problems, "\n".join(map(str, problems))
        return
    run = run_page(SITE, page)
    assert not run.mismatches, "\n".join(map(str, run.mismatches))


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_built_page_shows_no_python_block_the_suite_skips(page: Path, built_site: Path) -> None:
    text = expand(SITE, page)
    skipped = [b for b in python_blocks(text) if is_skipped(b)]
    for block in skipped:  # allowed only with a stated reason, e.g. "needs a CUDA GPU"
        assert any("reason=" in mark for mark in block.marks), (
            f"skip without reason at {block.lineno}"
        )
    executed = count_python_fences(text, {"python"}) - len(skipped)
    html = html_path(SITE, page, built_site).read_text(encoding="utf-8")
    assert count_html_python_blocks(html) == executed + len(skipped)


def test_every_snippet_section_is_included_by_a_page() -> None:
    included = includes(SITE)
    orphans = [
        f"{script.name}:{name}"
        for script in SNIPPETS
        for name in sections(script)
        if (script.name, name) not in included
    ]
    assert not orphans, f"sections no page includes: {orphans}"


def test_every_include_names_an_existing_section() -> None:
    for (filename, section), pages in includes(SITE).items():
        script = ROOT / "snippets" / filename
        assert script.is_file(), f"{pages[0]} includes missing file {filename}"
        assert section is None or section in sections(script), f"{filename}:{section} missing"


def test_lesson_number_joins_page_script_and_test() -> None:
    lesson_pages = sorted((SITE.docs_dir / "lessons").glob("[0-9][0-9]-*.md"))
    assert lesson_pages
    for page in lesson_pages:
        number, slug = page.stem.split("-", 1)
        stem = f"lesson{number}_{slug.replace('-', '_')}"
        assert (ROOT / "snippets" / f"{stem}.py").is_file(), f"{page.name}: no snippets/{stem}.py"
        assert (ROOT / "tests" / "lessons" / f"test_{stem}.py").is_file(), f"{page.name}: no test"
    scripts = {p.stem for p in SNIPPETS}
    pages = {f"lesson{p.stem[:2]}_{p.stem[3:].replace('-', '_')}" for p in lesson_pages}
    assert scripts <= pages, f"scripts without a page: {sorted(scripts - pages)}"


_REQUESTING_TAG = re.compile(
    r"""<(?:script|link|img|iframe|source|audio|video)\b[^>]*?\b(?:src|href)=["']((?:https?:)?//[^"']+)"""
)
_CSS_URL = re.compile(r"""url\(\s*["']?((?:https?:)?//[^)"']+)""")


def test_no_page_or_stylesheet_loads_from_another_host(built_site: Path) -> None:
    """Links a reader clicks are fine; anything the browser fetches by itself must be local."""
    offenders = []
    for path in [*built_site.rglob("*.html"), *built_site.rglob("*.css")]:
        text = path.read_text(encoding="utf-8", errors="replace")
        pattern = _REQUESTING_TAG if path.suffix == ".html" else _CSS_URL
        offenders += [
            f"{path.relative_to(built_site)}: {url}"
            for url in pattern.findall(text)
            if not url.split("//", 1)[1].startswith("127.0.0.1")
        ]
    assert not offenders, "\n".join(offenders[:10])
