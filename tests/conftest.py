"""Shared fixtures: the project's site, its pages, and snippet runs cached per session."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.harness.outputs import Mismatch, check_source
from tests.harness.pages import Site

ROOT = Path(__file__).resolve().parent.parent
SITE = Site(ROOT / "mkdocs.yml")
SNIPPETS = sorted((ROOT / "snippets").glob("lesson*.py"))


@cache
def run_snippet(name: str) -> tuple[dict[str, Any], list[Mismatch]]:
    """Run ``snippets/<name>`` once per session; return its namespace and ``#>`` mismatches."""
    path = ROOT / "snippets" / name
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "__file__": str(path),
        "__builtins__": builtins,
    }
    return namespace, check_source(path.read_text(encoding="utf-8"), str(path), namespace)


def build_site(config_file: Path, site_dir: Path) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` in a fresh process, as CI and authors run it."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",  # never --quiet: it hides the warnings that --strict counts
            "-f",
            str(config_file),
            "-d",
            str(site_dir),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    result = build_site(SITE.config_file, site_dir)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    return site_dir
