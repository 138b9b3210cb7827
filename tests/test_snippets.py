"""Every lesson script runs top to bottom and prints exactly what its ``#>`` lines show."""

from pathlib import Path

import pytest

from tests.conftest import SNIPPETS, run_snippet


def test_there_are_lesson_scripts() -> None:
    assert SNIPPETS, "no snippets/lesson*.py found"


@pytest.mark.parametrize("script", SNIPPETS, ids=lambda p: p.name)
def test_script_runs_and_matches_its_outputs(script: Path) -> None:
    _, problems = run_snippet(script.name)
    assert not problems, "\n".join(map(str, problems)) + (
        "\nIf the change is intended: make outputs"
    )
