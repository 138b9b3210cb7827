"""Each lesson page shows a "verified with" stamp that the outputs command wrote, and it is current."""

from pathlib import Path

import pytest

from tests.conftest import SNIPPETS
from tests.harness import stamps
from tests.harness.notebooks import page_for


@pytest.mark.parametrize("script", SNIPPETS, ids=lambda p: p.name)
def test_stamp_matches_the_installed_versions(script: Path) -> None:
    stamp = stamps.read(script)
    assert stamp["versions"] == stamps.installed_versions(), (
        "the outputs were last verified with other versions: run `make outputs`"
    )
    assert stamp["script"] == script.name and stamp["wall_seconds"] > 0
    assert stamp["peak_memory_mib"] > 0 and stamp["cpu"]


@pytest.mark.parametrize("script", SNIPPETS, ids=lambda p: p.name)
def test_page_shows_the_stamp_rendered_from_its_json(script: Path) -> None:
    _, md_path = stamps.stamp_paths(script)
    assert md_path.read_text() == stamps.render(stamps.read(script))
    page = page_for(script)
    assert f'--8<-- "stamps/{md_path.name}"' in page.read_text()
