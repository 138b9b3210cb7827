"""Each lesson's notebook is generated from its script, committed up to date, and runs."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT, SNIPPETS
from tests.harness import notebooks


@pytest.mark.parametrize("script", SNIPPETS, ids=lambda p: p.name)
def test_committed_notebook_is_what_the_generator_makes(script: Path) -> None:
    path = notebooks.notebook_path(script)
    assert path.is_file(), f"no {path.relative_to(ROOT)}: run `make notebooks`"
    assert path.read_text(encoding="utf-8") == notebooks.build(script), "stale: make notebooks"


@pytest.mark.parametrize("script", SNIPPETS, ids=lambda p: p.name)
def test_notebook_has_the_pins_the_link_and_every_section(script: Path) -> None:
    notebook = nbformat.reads(notebooks.build(script), as_version=4)
    first, pins = notebook.cells[0], notebook.cells[1]
    assert f"(../../lessons/{notebooks.page_for(script).stem}/)" in first.source
    assert "TESTED = {" in pins.source and "'transformers'" in pins.source
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    for line in script.read_text().splitlines():
        if line.strip() and not line.startswith(("# --8<--", '"""')):
            assert line.strip() in code


@pytest.mark.enable_socket  # the kernel talks to this process over 127.0.0.1 only
@pytest.mark.allow_hosts(["127.0.0.1"])
@pytest.mark.parametrize("script", SNIPPETS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(script: Path) -> None:
    notebook = nbformat.read(notebooks.notebook_path(script), as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    printed = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert "30522 entries in the vocabulary" in printed or not script.name.startswith("lesson01")
