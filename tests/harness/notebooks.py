"""Generate each lesson's notebook from its snippet script (never keep a hand-made copy).

The notebook holds, in order: a title cell linking back to the lesson page, a cell that pins
and checks the tested library versions, then one markdown cell per page heading and one code
cell per included section, in the order the script defines them.

    python -m tests.harness.notebooks          # rewrite docs/notebooks/*.ipynb
    python -m tests.harness.notebooks --check  # exit 1 if a committed notebook is stale
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import nbformat

from tests.harness.pages import section_bodies
from tests.harness.stamps import installed_versions

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "docs" / "notebooks"
_HEADING = re.compile(r"^(#{1,3}) (.+)$")


def page_for(script: Path) -> Path:
    """``snippets/lesson01_x_y.py`` -> ``docs/lessons/01-x-y.md``."""
    number, slug = script.stem.removeprefix("lesson").split("_", 1)
    return ROOT / "docs" / "lessons" / f"{number}-{slug.replace('_', '-')}.md"


def notebook_path(script: Path) -> Path:
    return NOTEBOOK_DIR / f"{script.stem}.ipynb"


def _headings_by_section(page: Path, script_name: str) -> tuple[str, dict[str, str]]:
    """The page title, and for each included section the heading it sits under."""
    title, current, found = "", "", {}
    include = re.compile(rf'--8<-- "{re.escape(script_name)}:([\w-]+)"')
    for line in page.read_text(encoding="utf-8").splitlines():
        heading = _HEADING.match(line)
        if heading:
            if heading.group(1) == "#":
                title = heading.group(2)
            current = heading.group(2)
        match = include.search(line)
        if match:
            found[match.group(1)] = current
    return title, found


def build(script: Path) -> str:
    """Return the notebook for ``script`` as the exact JSON text that is committed."""
    page = page_for(script)
    title, headings = _headings_by_section(page, script.name)
    versions = {k: v for k, v in installed_versions().items() if k != "python"}
    pins = "\n".join(f"    {name!r}: {version!r}," for name, version in versions.items())
    cells = [
        nbformat.v4.new_markdown_cell(
            f"# {title}\n\nThis notebook is generated from "
            f"`snippets/{script.name}`, the script behind the lesson page "
            f"[{title}](../../lessons/{page.stem}/). The page explains every step; here you can "
            "run and change the code. Lines starting with `#>` show what each `print` wrote "
            "when the test suite last ran it.\n\n"
            "Set up as the lesson's *Run it yourself* section says (the offline model mirror, "
            "`HF_HOME`, `HF_HUB_OFFLINE=1`), and start Jupyter from the repository root."
        ),
        nbformat.v4.new_code_cell(
            "# The versions these outputs were produced and tested with.\n"
            "from importlib.metadata import version\n\n"
            f"TESTED = {{\n{pins}\n}}\n"
            "for name, tested in TESTED.items():\n"
            "    installed = version(name).split('+')[0]\n"
            "    if installed != tested:\n"
            "        print(f'note: {name} {installed} is installed; the outputs were made with "
            "{tested}')"
        ),
    ]
    last_heading = None
    for name, body in section_bodies(script.read_text(encoding="utf-8")):
        heading = headings.get(name)
        if heading and heading != last_heading and heading != title:
            # Plain text: the notebook renderer's permalinks drop inline code, its ids do not.
            cells.append(nbformat.v4.new_markdown_cell(f"## {heading.replace('`', '')}"))
            last_heading = heading
        cells.append(nbformat.v4.new_code_cell(body))
    for index, cell in enumerate(cells):
        cell["id"] = f"cell-{index:03d}"  # stable ids: regenerating gives identical files
    notebook = nbformat.v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.validate(notebook)
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def scripts() -> list[Path]:
    return sorted((ROOT / "snippets").glob("lesson*.py"))


def main(argv: list[str] | None = None) -> int:
    """Rewrite each lesson's notebook (or the named scripts'), or with ``--check`` report stale ones."""
    parser = argparse.ArgumentParser(prog="python -m tests.harness.notebooks")
    parser.add_argument("--check", action="store_true", help="only report stale notebooks")
    parser.add_argument("scripts", nargs="*", type=Path, help="only these (default: every lesson)")
    args = parser.parse_args(argv)
    stale = 0
    NOTEBOOK_DIR.mkdir(parents=True, exist_ok=True)
    for script in [p.resolve() for p in args.scripts] or scripts():
        path, text = notebook_path(script), build(script)
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current == text:
            continue
        stale += 1
        if args.check:
            print(f"{path.relative_to(ROOT)} is stale: run `make notebooks`")
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
