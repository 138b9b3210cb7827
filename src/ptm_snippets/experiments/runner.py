"""The experiment registry and runner: run, stamp, write atomically, load back.

An experiment is a registered :class:`Experiment`: a ``run(config, progress)`` function that
returns tidy rows (one ``dict`` per measurement), a ``plot(rows, path)`` function that draws
them, and two frozen configurations, ``full`` (the published numbers) and ``fast`` (the test
suite's). :func:`run_experiment` runs one, then writes ``<out_dir>/<name>.json`` (rows, an
optional summary, and a stamp saying where and when they were measured) and
``<out_dir>/<name>.svg``. Both files are written to temporary files in the same folder first
and moved into place with :func:`os.replace`, so a run that fails never overwrites the last
good results.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "DEFAULT_OUT_DIR",
    "Experiment",
    "ExperimentConfig",
    "Progress",
    "cpu_model",
    "get_experiment",
    "known_experiments",
    "load_results",
    "main",
    "quiet_transformers",
    "register",
    "run_experiment",
    "short_count",
    "unregister",
]

DEFAULT_OUT_DIR = Path("docs") / "assets" / "experiments"
"""Where results go unless told otherwise, relative to the working directory."""


class Progress(Protocol):
    """What an experiment may call on its progress bar (a ``tqdm`` bar satisfies it)."""

    def reset(self, total: float | None = None) -> None:
        """Start over with a new total number of units."""

    def update(self, n: float | None = 1) -> bool | None:
        """Advance by ``n`` units."""

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Show what is running now."""


class ExperimentConfig(Protocol):
    """A frozen dataclass of settings; ``validate`` raises ``ValueError`` naming a bad field."""

    seeds: tuple[int, ...]

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first out-of-range field."""


Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Experiment:
    """One registered experiment.

    Attributes:
        name: The name used on the command line and for the output files.
        run: ``run(config, progress) -> rows``: measures and returns tidy rows.
        plot: ``plot(rows, path)``: writes a figure of the rows to ``path`` (an ``.svg`` path).
        full: The configuration behind the published numbers.
        fast: A small configuration for the test suite.
        summarize: Optional ``summarize(rows, config) -> dict`` stored as ``"summary"``.
        description: One line saying what the experiment shows.
    """

    name: str
    run: Callable[[Any, Progress], Rows]
    plot: Callable[[Rows, Path], None]
    full: Any
    fast: Any
    summarize: Callable[[Rows, Any], dict[str, Any]] | None = None
    description: str = ""


_REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment, *, replace: bool = False) -> Experiment:
    """Add an experiment to the registry and return it.

    Both configurations are validated first, so a broken one fails at import time.

    Raises:
        ValueError: If the name is empty or already taken (and ``replace`` is false), or a
            configuration is out of range.

    Examples:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class Cfg:
        ...     seeds: tuple[int, ...] = (0,)
        ...     def validate(self) -> None: ...
        >>> exp = register(Experiment("doc_demo", lambda c, p: [], lambda r, p: None,
        ...                           Cfg(), Cfg()))
        >>> "doc_demo" in known_experiments()
        True
        >>> unregister("doc_demo")
    """
    if not experiment.name or not experiment.name.isidentifier():
        raise ValueError(f"name must be a non-empty identifier, got {experiment.name!r}")
    if experiment.name in _REGISTRY and not replace:
        raise ValueError(f"an experiment named {experiment.name!r} is already registered")
    experiment.full.validate()
    experiment.fast.validate()
    _REGISTRY[experiment.name] = experiment
    return experiment


def unregister(name: str) -> None:
    """Remove an experiment from the registry (no error if it is not there)."""
    _REGISTRY.pop(name, None)


def known_experiments() -> list[str]:
    """Return the registered experiment names, sorted.

    Examples:
        >>> "data_efficiency" in known_experiments()
        True
    """
    return sorted(_REGISTRY)


def get_experiment(name: str) -> Experiment:
    """Return the registered experiment called ``name``.

    Raises:
        KeyError: If no experiment has that name; the message lists the known names.

    Examples:
        >>> get_experiment("no_such_thing")
        Traceback (most recent call last):
        ...
        KeyError: "unknown experiment 'no_such_thing'; known experiments: ..."
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(known_experiments()) or "(none registered)"
        raise KeyError(f"unknown experiment {name!r}; known experiments: {known}") from None


# ----------------------------------------------------------------------------- stamp


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it (for stamps).

    Examples:
        >>> isinstance(cpu_model(), str)
        True
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def quiet_transformers() -> None:
    """Silence transformers' progress bars and info logs, so an experiment's own bar stays readable.

    Examples:
        >>> from transformers.utils import logging as hf_logging
        >>> quiet_transformers()
        >>> hf_logging.get_verbosity() == hf_logging.ERROR
        True
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]


def short_count(n: float) -> str:
    """A count or size for a figure label, in the style 134.5M or 461k.

    Examples:
        >>> short_count(134_515_008), short_count(460_800)
        ('134.5M', '461k')
    """
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def _version(module: str) -> str | None:
    try:
        return str(__import__(module).__version__)
    except ImportError:
        return None


def _stamp(config: Any, wall_seconds: float, started: dt.datetime) -> dict[str, Any]:
    import torch

    try:
        load: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "date_utc": started.isoformat(timespec="seconds"),
        "wall_seconds": round(wall_seconds, 1),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        # The experiment may pin its own thread count (and restore it before this runs).
        "torch_threads": getattr(config, "num_threads", 0) or torch.get_num_threads(),
        "load_average_at_end": load,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": _version("transformers"),
        "seeds": list(getattr(config, "seeds", ())),
        "config": _jsonable(dataclasses.asdict(config)),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# ----------------------------------------------------------------------------- writing


@contextlib.contextmanager
def _temp_path(directory: Path, name: str, suffix: str) -> Iterator[Path]:
    """Yield a fresh temporary path in ``directory``; delete it on the way out if still there."""
    fd, raw = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=suffix)
    os.close(fd)
    path = Path(raw)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def run_experiment(
    name: str,
    fast: bool = False,
    out_dir: str | os.PathLike[str] = DEFAULT_OUT_DIR,
    *,
    config: Any = None,
    progress_bar: bool = True,
) -> dict[str, Any]:
    """Run a registered experiment and write ``<out_dir>/<name>.json`` and ``<name>.svg``.

    Nothing is written until the run and the figure have both succeeded; then each file is
    moved into place with :func:`os.replace`, so the previous results survive any failure.

    Args:
        name: A registered experiment (see :func:`known_experiments`).
        fast: Use the experiment's ``fast`` configuration instead of ``full``.
        out_dir: The folder for the two files (created if missing).
        config: A configuration to use instead of ``full``/``fast``.
        progress_bar: Show a ``tqdm`` progress bar on standard error.

    Returns:
        The dict written to the JSON file: ``name``, ``rows``, ``summary`` and ``stamp``.

    Raises:
        KeyError: If ``name`` is not registered; the message lists the known names.
        ValueError: If the configuration is out of range; the message names the field.
        ptm_snippets.hub.MirrorError: If the experiment needs weights that are not installed.

    Examples:
        >>> run_experiment("nope", out_dir="unused")
        Traceback (most recent call last):
        ...
        KeyError: "unknown experiment 'nope'; known experiments: ..."
    """
    from tqdm.auto import tqdm

    experiment = get_experiment(name)
    variant = "custom" if config is not None else ("fast" if fast else "full")
    if config is None:
        config = experiment.fast if fast else experiment.full
    config.validate()
    out = Path(out_dir)
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    with tqdm(desc=name, disable=not progress_bar, unit="step", dynamic_ncols=True) as bar:
        rows = experiment.run(config, bar)
    wall = time.perf_counter() - t0
    result: dict[str, Any] = {
        "name": name,
        "description": experiment.description,
        "configuration": variant,
        "rows": rows,
        "summary": experiment.summarize(rows, config) if experiment.summarize else None,
        "stamp": _stamp(config, wall, started),
    }
    text = json.dumps(result, indent=2, allow_nan=False) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    with (
        _temp_path(out, name, ".svg") as svg_tmp,
        _temp_path(out, name, ".json") as json_tmp,
    ):
        experiment.plot(rows, svg_tmp)
        json_tmp.write_text(text, encoding="utf-8")
        for tmp in (svg_tmp, json_tmp):
            tmp.chmod(0o644)  # mkstemp makes files private; results are published files
        os.replace(svg_tmp, out / f"{name}.svg")
        os.replace(json_tmp, out / f"{name}.json")
    return result


def load_results(name: str, directory: str | os.PathLike[str] = DEFAULT_OUT_DIR) -> dict[str, Any]:
    """Read back what :func:`run_experiment` wrote, for pages that print its numbers.

    Args:
        name: The experiment name (the file is ``<directory>/<name>.json``).
        directory: The folder the results were written to.

    Returns:
        The dict with ``rows``, ``summary`` and ``stamp``.

    Raises:
        FileNotFoundError: If the file is missing; the message says how to make it.

    Examples:
        >>> load_results("nope", "no/such/folder")
        Traceback (most recent call last):
        ...
        FileNotFoundError: no results for 'nope' in no/such/folder; run `python -m ptm_snippets.experiments nope --out no/such/folder`
    """
    path = Path(directory) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no results for {name!r} in {directory}; run "
            f"`python -m ptm_snippets.experiments {name} --out {directory}`"
        )
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# ----------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m ptm_snippets.experiments [NAME ...] [--fast] [--out DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m ptm_snippets.experiments",
        description="Run experiments and write <out>/<name>.json and <out>/<name>.svg.",
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"experiments to run (default: all of {', '.join(known_experiments())})",
    )
    parser.add_argument("--fast", action="store_true", help="use the small test configuration")
    parser.add_argument(
        "--out", default=str(DEFAULT_OUT_DIR), help=f"output folder (default: {DEFAULT_OUT_DIR})"
    )
    args = parser.parse_args(argv)
    names = args.names or known_experiments()
    unknown = [n for n in names if n not in _REGISTRY]
    if unknown:
        parser.error(
            f"unknown experiment(s): {', '.join(unknown)}; known experiments: "
            f"{', '.join(known_experiments())}"
        )
    for name in names:
        result = run_experiment(name, fast=args.fast, out_dir=args.out)
        print(
            f"{name}: {len(result['rows'])} rows in {result['stamp']['wall_seconds']} s "
            f"-> {Path(args.out) / name}.json, .svg"
        )
    return 0
