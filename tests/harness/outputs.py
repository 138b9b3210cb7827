"""Run lesson code and check (or rewrite) the ``#>`` output lines that follow its prints.

Convention: a ``print`` in a snippet or a page block is followed, lower in the same code, by a
block of ``#>`` comment lines holding what it printed. Every print's output goes to the first
``#>`` block below the line that called it (so a loop's prints collect under a block after the
loop). Output that no block shows, and a block that receives no output, are both errors.

Trailing whitespace is ignored. Numbers are compared with a tolerance: integers exactly, a decimal with ``d`` printed decimals
within ``2 * 10**-d`` (two units in its last printed digit) or 0.1 % of its value, whichever is
larger. ``...`` in an expected line matches any text.

Rewrite after an intended change (this also rewrites the script's "verified with" stamp)::

    python -m tests.harness.outputs --update snippets/lesson01_understanding_pretraining.py
"""

from __future__ import annotations

import argparse
import ast
import builtins
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUTPUT_MARK = "#>"
_END = re.compile(r"^\s*#\s*--8<--\s*\[end:[\w-]+\]")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
ABS_DIGITS = 2  # units in the last printed digit
REL_TOL = 1e-3


@dataclass
class OutputBlock:
    """Consecutive ``#>`` lines: ``start`` and ``end`` are 1-based, inclusive."""

    start: int
    end: int
    indent: str
    expected: list[str]
    actual: list[str] = field(default_factory=list)
    received: bool = False


@dataclass
class Mismatch:
    """One difference between a ``#>`` block and what the code printed."""

    filename: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}: {self.message}"


def find_output_blocks(source: str) -> list[OutputBlock]:
    """Return every run of ``#>`` comment lines in ``source``."""
    blocks: list[OutputBlock] = []
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.lstrip()
        if not stripped.startswith(OUTPUT_MARK):
            continue
        text = stripped[len(OUTPUT_MARK) :]
        text = text[1:] if text.startswith(" ") else text
        if blocks and blocks[-1].end == number - 1:
            blocks[-1].end = number
            blocks[-1].expected.append(text)
        else:
            indent = line[: len(line) - len(stripped)]
            blocks.append(OutputBlock(number, number, indent, [text]))
    return blocks


class PrintCapture:
    """A ``print`` replacement that records which line of ``filename`` produced each text."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.events: list[tuple[int, str]] = []

    def __call__(
        self,
        *args: Any,
        sep: str | None = " ",
        end: str | None = "\n",
        file: Any = None,
        flush: bool = False,
    ) -> None:
        if file is not None and file is not sys.stdout:
            builtins.print(*args, sep=sep, end=end, file=file, flush=flush)
            return
        text = (" " if sep is None else sep).join(str(a) for a in args)
        text += "\n" if end is None else end
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename != self.filename:
            frame = frame.f_back  # type: ignore[assignment]
        line = frame.f_lineno if frame is not None else 0
        self.events.append((line, text))


def execute(source: str, filename: str, namespace: dict[str, Any]) -> PrintCapture:
    """Run ``source`` in ``namespace`` with ``print`` captured; exceptions propagate."""
    capture = PrintCapture(filename)
    namespace["print"] = capture
    try:
        exec(compile(source, filename, "exec"), namespace)
    finally:
        namespace.pop("print", None)
    return capture


def section_ends(source: str) -> list[int]:
    """Lines of ``# --8<-- [end:name]`` markers: output never crosses a section's end."""
    return [n for n, line in enumerate(source.splitlines(), start=1) if _END.match(line)]


def assign_output(
    blocks: list[OutputBlock], capture: PrintCapture, ends: list[int] | None = None
) -> list[tuple[int, str]]:
    """Give each printed text to its block; return the (line, text) events no block can take.

    A print's block is the first ``#>`` block below it that lies in the same section.
    """
    orphans: list[tuple[int, str]] = []
    texts: dict[int, list[str]] = {}
    for line, text in capture.events:
        limit = next((e for e in ends or [] if e > line), None)
        target = next(
            (
                i
                for i, b in enumerate(blocks)
                if b.start > line and (limit is None or b.start < limit)
            ),
            None,
        )
        if target is None:
            orphans.append((line, text))
        else:
            texts.setdefault(target, []).append(text)
    for i, block in enumerate(blocks):
        if i in texts:
            block.received = True
            block.actual = "".join(texts[i]).rstrip("\n").split("\n")
    return orphans


def line_matches(expected: str, actual: str) -> bool:
    """Compare one output line, numbers within tolerance, ``...`` as a wildcard.

    Trailing whitespace is not significant (``#>`` lines are stored without it).
    """
    expected, actual = expected.rstrip(), actual.rstrip()
    if expected == actual:
        return True
    if "..." in expected:
        pattern = ".*".join(re.escape(part) for part in expected.split("..."))
        if re.fullmatch(pattern, actual):
            return True
    exp_nums, act_nums = _NUMBER.findall(expected), _NUMBER.findall(actual)
    if len(exp_nums) != len(act_nums) or _NUMBER.sub("#", expected) != _NUMBER.sub("#", actual):
        return False
    return all(_number_matches(e, a) for e, a in zip(exp_nums, act_nums, strict=True))


def _number_matches(expected: str, actual: str) -> bool:
    if expected == actual:
        return True
    is_int = not any(c in expected for c in ".eE")
    if is_int:
        return False
    decimals = len(expected.split(".")[1].split("e")[0].split("E")[0]) if "." in expected else 0
    e, a = float(expected), float(actual)
    return abs(e - a) <= max(ABS_DIGITS * 10.0**-decimals, REL_TOL * abs(e))


def compare(
    blocks: list[OutputBlock], orphans: list[tuple[int, str]], filename: str
) -> list[Mismatch]:
    """List every difference between the blocks' expected and actual output."""
    problems = [
        Mismatch(filename, line, f"printed {text.rstrip()!r} but no '#>' block follows")
        for line, text in orphans
    ]
    for block in blocks:
        if not block.received:
            problems.append(
                Mismatch(filename, block.start, "'#>' block, but nothing printed above it")
            )
            continue
        if len(block.expected) != len(block.actual) or not all(
            line_matches(e, a) for e, a in zip(block.expected, block.actual, strict=False)
        ):
            diff = "\n".join(
                f"    {'ok ' if line_matches(e, a) else 'BAD'} expected {e!r}\n        got      {a!r}"
                for e, a in zip(
                    block.expected + [""] * len(block.actual),
                    block.actual + [""] * len(block.expected),
                    strict=False,
                )
                if e or a
            )
            problems.append(Mismatch(filename, block.start, f"output differs:\n{diff}"))
    return problems


def check_source(
    source: str, filename: str, namespace: dict[str, Any] | None = None
) -> list[Mismatch]:
    """Run ``source`` and return its ``#>`` mismatches (empty when all outputs match)."""
    blocks = find_output_blocks(source)
    capture = execute(
        source, filename, namespace if namespace is not None else _main_namespace(filename)
    )
    return compare(blocks, assign_output(blocks, capture, section_ends(source)), filename)


def _main_namespace(filename: str) -> dict[str, Any]:
    return {"__name__": "__main__", "__file__": filename, "__builtins__": builtins}


def rewrite(source: str, filename: str) -> str:
    """Run ``source`` and return it with every ``#>`` block replaced by the actual output.

    Prints without a block get a new block after the statement that made them.
    """
    blocks = find_output_blocks(source)
    capture = execute(source, filename, _main_namespace(filename))
    orphans = assign_output(blocks, capture, section_ends(source))
    lines = source.splitlines()
    edits: list[tuple[int, int, list[str]]] = []  # (start index, end index exclusive, new lines)
    for block in blocks:
        new = (
            [f"{block.indent}{OUTPUT_MARK} {t}".rstrip() for t in block.actual]
            if block.received
            else []
        )
        edits.append((block.start - 1, block.end, new))
    statements = _statement_spans(source)
    grouped: dict[int, tuple[str, list[str]]] = {}
    for line, text in orphans:
        end, indent = statements.get(line, (line, ""))
        grouped.setdefault(end, (indent, []))[1].append(text)
    for end, (indent, texts) in grouped.items():
        out = "".join(texts).rstrip("\n").split("\n")
        edits.append((end, end, [f"{indent}{OUTPUT_MARK} {t}".rstrip() for t in out]))
    for start, stop, new in sorted(edits, key=lambda e: e[0], reverse=True):
        lines[start:stop] = new
    return "\n".join(lines) + "\n"


def _statement_spans(source: str) -> dict[int, tuple[int, str]]:
    """Map each line to the end line and indent of the innermost simple statement holding it."""
    spans: dict[int, tuple[int, str]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.stmt) and not hasattr(node, "body"):
            end = node.end_lineno or node.lineno
            for line in range(node.lineno, end + 1):
                spans[line] = (end, " " * node.col_offset)
    return spans


def update(script: Path) -> bool:
    """Rewrite one script's ``#>`` lines and its stamp; return whether the outputs changed."""
    from tests.harness import stamps

    source = script.read_text()
    started = time.perf_counter()
    new = rewrite(source, str(script))
    stamp = stamps.make_stamp(script, time.perf_counter() - started)
    script.write_text(new)
    stamps.write(script, stamp)
    return new != source


def main(argv: list[str] | None = None) -> int:
    """Check, or with ``--update`` rewrite, the ``#>`` lines of snippet scripts."""
    parser = argparse.ArgumentParser(prog="python -m tests.harness.outputs")
    parser.add_argument("scripts", nargs="*", type=Path, help="default: every snippets/lesson*.py")
    parser.add_argument("--update", action="store_true", help="rewrite the #> lines in place")
    args = parser.parse_args(argv)
    scripts = args.scripts or sorted(Path("snippets").glob("lesson*.py"))
    if args.update and len(scripts) > 1:
        # One fresh process per script, so each stamp's time and peak memory are its own.
        for script in scripts:
            subprocess.run(
                [sys.executable, "-m", "tests.harness.outputs", "--update", str(script)], check=True
            )
        return 0
    failed = 0
    for script in scripts:
        if args.update:
            changed = update(script)
            print(f"{script}: {'rewritten' if changed else 'unchanged'}; stamp written")
        else:
            problems = check_source(script.read_text(), str(script))
            failed += bool(problems)
            for problem in problems:
                print(problem)
            print(f"{script}: {'FAILED' if problems else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
