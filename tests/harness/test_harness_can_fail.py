"""The harness proves it can fail: each fixture page breaks one rule and must be caught."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
from pymdownx.snippets import SnippetMissingError

from tests.conftest import ROOT, build_site
from tests.harness.outputs import check_source, line_matches, rewrite
from tests.harness.pages import (
    Site,
    count_html_python_blocks,
    count_python_fences,
    expand,
    html_path,
    run_page,
    script_with_same_code,
)

FIXTURES = ROOT / "tests" / "fixtures"
BROKEN = Site(FIXTURES / "broken_site" / "mkdocs.yml")
MISSING = Site(FIXTURES / "missing_section_site" / "mkdocs.yml")


def page(name: str) -> Path:
    return BROKEN.docs_dir / name


def test_a_correct_page_passes() -> None:
    run = run_page(BROKEN, page("good.md"))
    assert run.mismatches == []
    assert run.executed_fences == 2


def test_a_wrong_output_line_fails() -> None:
    run = run_page(BROKEN, page("wrong_output.md"))
    assert len(run.mismatches) == 1
    assert "expected '51'" in str(run.mismatches[0]) and "got      '50'" in str(run.mismatches[0])


def test_a_wrong_expected_output_block_fails(tmp_path: Path) -> None:
    copy = tmp_path / "site_copy"
    shutil.copytree(BROKEN.root, copy)
    target = copy / "docs" / "good.md"
    target.write_text(target.read_text().replace("\n6\n", "\n7\n"))
    run = run_page(Site(copy / "mkdocs.yml"), target)
    assert any("expected output '7\\n'" in str(m) for m in run.mismatches)


def test_an_include_of_a_missing_section_fails(tmp_path: Path) -> None:
    with pytest.raises(SnippetMissingError, match="no_such_section"):
        expand(MISSING, MISSING.docs_dir / "index.md")
    result = build_site(MISSING.config_file, tmp_path / "site")
    assert result.returncode != 0
    assert "no_such_section" in result.stderr


def test_a_python_block_the_suite_does_not_run_is_caught(tmp_path: Path) -> None:
    result = build_site(BROKEN.config_file, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    target = page("untested_block.md")
    executed = run_page(BROKEN, target).executed_fences
    html = html_path(BROKEN, target, tmp_path / "site").read_text()
    assert executed == 0
    assert count_html_python_blocks(html) == 1 != executed
    assert count_python_fences(expand(BROKEN, target)) == 1


def test_a_call_that_raises_a_future_warning_fails() -> None:
    # The suite's filterwarnings turn FutureWarning into an error; reproduce that here.
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        with pytest.raises(FutureWarning, match="autocast"):
            run_page(BROKEN, page("future_warning.md"))


def test_unshown_output_and_stale_blocks_fail() -> None:
    unshown = check_source("print('hi')\n", "unshown.py")
    assert "no '#>' block follows" in str(unshown[0])
    stale = check_source("x = 1\n#> 1\n", "stale.py")
    assert "nothing printed above it" in str(stale[0])


def test_numbers_compare_within_the_stated_tolerance() -> None:
    assert line_matches("loss 0.123", "loss 0.124")  # within 2 units of the last digit
    assert not line_matches("loss 0.123", "loss 0.126")
    assert not line_matches("count 12", "count 13")  # integers are exact
    assert line_matches("ppl 21697.4", "ppl 21700.0")  # 0.1 % of the value
    assert not line_matches("tokens: a b", "tokens: a c")
    assert line_matches("saved to .../model.bin", "saved to /tmp/x/model.bin")
    assert line_matches("padded", "padded   ")  # stored #> lines carry no trailing spaces


def test_rewrite_fills_and_corrects_output_lines() -> None:
    # A print with no block gets one after its statement; an existing block is corrected.
    source = "for i in range(2):\n    print(i)\nx = 5\n#> wrong\nprint(x)\n"
    new = rewrite(source, "rewrite.py")
    assert new == "for i in range(2):\n    print(i)\nx = 5\n#> 0\n#> 1\nprint(x)\n#> 5\n"
    assert check_source(new, "rewrite.py") == []


def test_output_never_crosses_a_section_end() -> None:
    # The second section's block must not swallow the first section's print.
    source = (
        "# --8<-- [start:a]\nprint('from a')\n# --8<-- [end:a]\n"
        "# --8<-- [start:b]\nprint('from b')\n#> from b\n# --8<-- [end:b]\n"
    )
    problems = check_source(source, "sections.py")
    assert len(problems) == 1 and "printed 'from a' but no '#>' block follows" in str(problems[0])
    fixed = rewrite(source, "sections.py")
    assert "print('from a')\n#> from a\n# --8<-- [end:a]" in fixed
    assert check_source(fixed, "sections.py") == []


def test_a_page_is_run_once_with_its_script_only_when_the_code_is_identical(tmp_path: Path) -> None:
    copy = tmp_path / "site_copy"
    shutil.copytree(BROKEN.root, copy)
    site = Site(copy / "mkdocs.yml")
    names = ["add", "add_wrong", "stale_autocast"]
    fence = '```python title="example.py"\n--8<-- "example.py:{}"\n```\n'
    same = copy / "docs" / "same.md"
    same.write_text("# Same\n\n" + "\n".join(fence.format(n) for n in names))
    assert script_with_same_code(site, same) == copy / "snippets" / "example.py"
    reordered = copy / "docs" / "reordered.md"
    reordered.write_text("# Reordered\n\n" + "\n".join(fence.format(n) for n in reversed(names)))
    assert script_with_same_code(site, reordered) is None
    assert script_with_same_code(site, copy / "docs" / "good.md") is None  # has an inline block
    assert script_with_same_code(site, copy / "docs" / "wrong_output.md") is None  # a subset


def test_a_build_warning_fails_the_strict_build(tmp_path: Path) -> None:
    copy = tmp_path / "site_copy"
    shutil.copytree(BROKEN.root, copy)
    (copy / "docs" / "good.md").write_text("# Good\n\nSee [nowhere](no-such-page.md).\n")
    result = build_site(copy / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr
