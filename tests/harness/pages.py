"""Read docs pages the way the build does, and run their python blocks in page order.

A page is expanded with ``pymdownx.snippets`` using the exact ``mdx_configs`` that
``mkdocs.yml`` gives the build, then parsed by pytest-codeblocks' own parser, so the code run
here is the code a reader sees, with the authors' markers intact.
"""

from __future__ import annotations

import ast
import builtins
import io
import re
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import markdown
from bs4 import BeautifulSoup
from mkdocs.config import load_config
from pytest_codeblocks.main import CodeBlock, extract_from_buffer

from tests.harness.outputs import Mismatch, assign_output, compare, execute, find_output_blocks

PYTHON_SYNTAXES = {"python", "py", "python3", "py3", "pycon"}
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)")
_INCLUDE = re.compile(r"""(?<!;)--8<--\s+["']([^"':]+)(?::([\w-]+))?["']""")
_SECTION = re.compile(r"#\s*--8<--\s*\[start:([\w-]+)\]")
# Material renders a fenced block as <div class="language-XXX highlight">.
_HTML_BLOCK = re.compile(r'<div class="language-([\w+-]+) highlight')


@dataclass(frozen=True)
class Site:
    """Paths of one MkDocs project: its config, docs and snippet folders."""

    config_file: Path

    @property
    def root(self) -> Path:
        return self.config_file.parent

    @property
    def config(self) -> Any:
        return _load(self.config_file)

    @property
    def docs_dir(self) -> Path:
        return Path(self.config["docs_dir"])

    def pages(self) -> list[Path]:
        return sorted(self.docs_dir.rglob("*.md"))

    def snippet_dirs(self) -> list[Path]:
        return [Path(p) for p in self.config["mdx_configs"]["pymdownx.snippets"]["base_path"]]


@cache
def _load(config_file: Path) -> Any:
    return load_config(str(config_file))


def expand(site: Site, page: Path) -> str:
    """Return the page's markdown with every ``--8<--`` include replaced, as the build does."""
    mdx = site.config["mdx_configs"]
    md = markdown.Markdown(
        extensions=["pymdownx.snippets"],
        extension_configs={"pymdownx.snippets": mdx["pymdownx.snippets"]},
    )
    lines = page.read_text(encoding="utf-8").split("\n")
    return "\n".join(md.preprocessors["snippet"].run(lines))


def syntax_of(block: CodeBlock) -> str:
    """The fence's language without attributes: ``python title="x.py"`` -> ``python``."""
    return (block.syntax or "").split()[0] if block.syntax else ""


def python_blocks(text: str) -> list[CodeBlock]:
    """Python blocks of expanded markdown, attributes allowed, as pytest-codeblocks parses them."""
    return [b for b in extract_from_buffer(io.StringIO(text)) if syntax_of(b) == "python"]


def count_python_fences(text: str, syntaxes: frozenset[str] | set[str] = PYTHON_SYNTAXES) -> int:
    """Count fences in ``syntaxes``: by default every one a reader sees as Python.

    Fences inside other fences (a markdown example showing a python fence) are content, not
    blocks, and are not counted.
    """
    count, open_fence = 0, ""
    for line in text.split("\n"):
        match = _FENCE.match(line)
        stripped = line.strip()
        if open_fence:
            if stripped.startswith(open_fence) and stripped.strip(open_fence[0]) == "":
                open_fence = ""
        elif match:
            open_fence = match.group(1)
            count += match.group(2) in syntaxes
    return count


def count_html_python_blocks(html: str) -> int:
    """Count the Python code blocks the page's own markdown put in a built page.

    Blocks that mkdocstrings renders from docstrings (inside ``div.doc``) are left out: their
    examples run as doctests and their source listings are the library the unit tests cover.
    """
    soup = BeautifulSoup(html, "html.parser")
    for generated in soup.select("div.doc"):
        generated.decompose()
    return sum(1 for lang in _HTML_BLOCK.findall(str(soup)) if lang in PYTHON_SYNTAXES)


def is_skipped(block: CodeBlock) -> bool:
    return any(mark.startswith(("pytest.mark.skip", "pytest.mark.skipif")) for mark in block.marks)


@dataclass
class PageRun:
    """What running a page produced."""

    executed_fences: int
    skipped: int
    mismatches: list[Mismatch]


@contextmanager
def _stdout_to(buffer: io.StringIO) -> Iterator[None]:
    old = sys.stdout
    sys.stdout = buffer
    try:
        yield
    finally:
        sys.stdout = old


def run_page(site: Site, page: Path) -> PageRun:
    """Run every python block of ``page`` in page order, in one namespace.

    Each block's ``#>`` lines and any pytest-codeblocks expected-output block are checked.
    Exceptions (and warnings turned into errors) propagate with the block named in the note.
    """
    text = expand(site, page)
    blocks = python_blocks(text)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    mismatches: list[Mismatch] = []
    skipped = 0
    rel = page.relative_to(site.root)
    for index, block in enumerate(blocks, start=1):
        if is_skipped(block):
            skipped += 1
            continue
        if block.importorskip:
            __import__(block.importorskip)
        filename = f"{rel}:block{index}@line{block.lineno}"
        outputs = find_output_blocks(block.code)
        stdout = io.StringIO()
        try:
            with _stdout_to(stdout):
                capture = execute(block.code, filename, namespace)
        except BaseException as err:
            err.add_note(f"in {filename} (expanded page line {block.lineno}):\n{block.code}")
            raise
        orphans = assign_output(outputs, capture)
        if block.expected_output is not None:
            orphans = []  # the expected-output block below shows this block's output
            got = "".join(t for _, t in capture.events) + stdout.getvalue()
            want = block.expected_output
            if block.expected_output_ignore_whitespace:
                got, want = "".join(got.split()), "".join(want.split())
            if got != want:
                mismatches.append(
                    Mismatch(filename, block.lineno, f"expected output {want!r}, got {got!r}")
                )
        mismatches += compare(outputs, orphans, filename)
    return PageRun(count_python_fences(text, {"python"}) - skipped, skipped, mismatches)


def includes(site: Site) -> dict[tuple[str, str | None], list[Path]]:
    """Map every (file, section) that some page includes to the pages that include it."""
    found: dict[tuple[str, str | None], list[Path]] = {}
    for page in site.pages():
        for match in _INCLUDE.finditer(page.read_text(encoding="utf-8")):
            found.setdefault((match.group(1), match.group(2)), []).append(page)
    return found


def sections(script: Path) -> list[str]:
    """Names of the ``# --8<-- [start:name]`` sections of a snippet script."""
    return _SECTION.findall(script.read_text(encoding="utf-8"))


def html_path(site: Site, page: Path, site_dir: Path) -> Path:
    """Where the build writes a page (``use_directory_urls`` layout)."""
    rel = page.relative_to(site.docs_dir).with_suffix("")
    if rel.name in ("index", "README"):
        return site_dir / rel.parent / "index.html"
    return site_dir / rel / "index.html"


_SECTION_BODY = re.compile(
    r"^[ \t]*# --8<-- \[start:(?P<name>[\w-]+)\][^\n]*\n(?P<body>.*?)^[ \t]*# --8<-- \[end:(?P=name)\]",
    re.M | re.S,
)


def section_bodies(source: str) -> list[tuple[str, str]]:
    """Each ``# --8<-- [start:name]`` ... ``[end:name]`` section: its name and dedented body."""
    return [
        (m.group("name"), textwrap.dedent(m.group("body")).strip("\n"))
        for m in _SECTION_BODY.finditer(source)
    ]


def script_with_same_code(site: Site, page: Path) -> Path | None:
    """The snippet script whose run is exactly the page's run, if there is one.

    That holds when the page's python blocks are all the script's sections, each once, in the
    script's order, with nothing else, and the script has no code outside its sections. Running
    the page would then repeat the script's run statement for statement, so the suite runs it
    once.
    """
    blocks = [b.code for b in python_blocks(expand(site, page))]
    if not blocks or count_python_fences(expand(site, page)) != len(blocks):
        return None
    for folder in site.snippet_dirs():
        for script in sorted(folder.glob("*.py")):
            source = script.read_text(encoding="utf-8")
            bodies = [body for _, body in section_bodies(source)]
            outside = _SECTION_BODY.sub("", source)
            statements = ast.parse(outside).body
            only_docstring = all(
                isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) for s in statements
            )
            if only_docstring and bodies == [b.strip("\n") for b in blocks]:
                return script
    return None
