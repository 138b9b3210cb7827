"""The "verified with" stamp each lesson page shows: versions, CPU, date, time and memory.

``python -m tests.harness.outputs --update`` runs each lesson script in a fresh process, rewrites
its ``#>`` lines and writes ``snippets/stamps/<script>.json`` plus the ``.md`` admonition the page
includes. Nothing in a stamp is typed by hand; a test fails when its versions differ from the
installed ones, or when the ``.md`` no longer renders its ``.json``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from ptm_snippets.experiments import cpu_model

STAMPED_PACKAGES = ("torch", "transformers", "tokenizers", "huggingface_hub", "safetensors", "peft")


def installed_versions() -> dict[str, str]:
    """Python and the versions of the packages a lesson's outputs depend on."""
    versions = {"python": platform.python_version()}
    for name in STAMPED_PACKAGES:
        try:
            versions[name] = metadata.version(name).split("+")[0]
        except metadata.PackageNotFoundError:
            continue
    return versions


def make_stamp(script: Path, wall_seconds: float) -> dict[str, Any]:
    """Describe the run that just produced a script's outputs (call at the end of that run)."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux reports KiB
    return {
        "script": script.name,
        "versions": installed_versions(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": _torch_threads(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "wall_seconds": round(wall_seconds, 1),
        "peak_memory_mib": round(peak_kib / 1024),
    }


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None


def render(stamp: dict[str, Any]) -> str:
    """The admonitions a lesson page includes, from a stamp: provenance and the notebook."""
    versions = ", ".join(f"{k} {v}" for k, v in stamp["versions"].items())
    stem = Path(stamp["script"]).stem
    return (
        '!!! info "Verified with"\n\n'
        f"    Every output on this page was produced by `snippets/{stamp['script']}` on "
        f"{stamp['date']}: {versions}; {stamp['cpu']} ({stamp['cores']} cores, "
        f"{stamp['threads']} torch threads). The whole script took {stamp['wall_seconds']} s "
        f"with a peak memory of {stamp['peak_memory_mib']} MiB.\n\n"
        '!!! tip "Run this lesson as a notebook"\n\n'
        f"    [Read the notebook](../notebooks/{stem}.ipynb) on this site or "
        f'<a href="../../notebooks/{stem}/{stem}.ipynb" download>download it</a>. '
        "It is generated from the same script, so it runs exactly the code shown here.\n"
    )


def stamp_paths(script: Path) -> tuple[Path, Path]:
    folder = script.parent / "stamps"
    return folder / f"{script.stem}.json", folder / f"{script.stem}.md"


def write(script: Path, stamp: dict[str, Any]) -> None:
    json_path, md_path = stamp_paths(script)
    json_path.parent.mkdir(exist_ok=True)
    json_path.write_text(json.dumps(stamp, indent=2) + "\n")
    md_path.write_text(render(stamp))


def read(script: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(stamp_paths(script)[0].read_text())
    return data
