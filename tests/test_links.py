"""A link check of the built site: every internal link, image and anchor resolves."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

from bs4 import BeautifulSoup

SKIP_SCHEMES = ("mailto:", "javascript:", "data:")


def _target(site: Path, page: Path, ref: str) -> tuple[Path, str] | None:
    """The file and anchor that ``ref`` on ``page`` points to, or None for outside links."""
    if ref.startswith(SKIP_SCHEMES):
        return None
    base = "http://site/" + str(page.relative_to(site).parent).strip(".") + "/"
    url = urlparse(urljoin(base.replace("//site//", "//site/"), ref))
    if url.netloc != "site":
        return None
    path = site / unquote(url.path).lstrip("/")
    if path.is_dir() or url.path.endswith("/"):
        path = path / "index.html"
    return path, url.fragment


def test_every_internal_link_and_anchor_resolves(built_site: Path) -> None:
    broken: list[str] = []
    ids: dict[Path, set[str]] = {}

    def anchors(path: Path) -> set[str]:
        if path not in ids:
            soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
            ids[path] = {str(tag["id"]) for tag in soup.find_all(id=True)}
        return ids[path]

    pages = sorted(built_site.rglob("*.html"))
    assert len(pages) >= 5
    for page in pages:
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for tag, attr in (("a", "href"), ("img", "src"), ("script", "src"), ("link", "href")):
            for element in soup.find_all(tag):
                ref = element.get(attr)
                if not ref or not isinstance(ref, str):
                    continue
                found = _target(built_site, page, ref)
                if found is None:
                    continue
                path, fragment = found
                where = f"{page.relative_to(built_site)}: {ref}"
                if not path.exists():
                    broken.append(f"{where} (missing {path.relative_to(built_site)})")
                elif fragment and path.suffix == ".html" and fragment not in anchors(path):
                    broken.append(f"{where} (no anchor #{fragment})")
    assert not broken, "\n".join(broken[:20])


def test_llms_txt_lists_every_lesson(built_site: Path) -> None:
    text = (built_site / "llms.txt").read_text(encoding="utf-8")
    lessons = sorted((Path(__file__).parents[1] / "docs" / "lessons").glob("*.md"))
    assert lessons
    for lesson in lessons:
        assert f"/lessons/{lesson.stem}/" in text, lesson.name
    assert (built_site / "llms-full.txt").stat().st_size > 10_000
