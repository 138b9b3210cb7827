"""Measuring one experiment arm: in a fresh process, with its peak memory.

Peak memory of a training run cannot be read back from a process that has already trained
something else: freed memory often stays with the allocator, and the process's high-water mark
only ever rises. :func:`run_isolated` therefore runs a function in a freshly spawned Python
process and reports, beside the function's own result, that process's resident memory just
before the function started and its peak while the function ran (sampled every few
milliseconds).
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["IsolatedRun", "PeakMemory", "page_in", "run_isolated"]


class PeakMemory:
    """Sample this process's resident memory in a thread; ``peak`` and ``start`` in bytes.

    Examples:
        >>> import mmap
        >>> with PeakMemory() as memory:  # fresh pages: malloc could reuse resident freed memory
        ...     block = mmap.mmap(-1, 128 * 2**20)
        ...     for offset in range(0, len(block), mmap.PAGESIZE):
        ...         block[offset] = 1  # a page counts once it is written
        ...     time.sleep(0.05)
        >>> memory.peak - memory.start >= 120 * 2**20
        True
        >>> block.close()
    """

    def __init__(self, interval: float = 0.002) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be positive seconds, got {interval}")
        import psutil  # type: ignore[import-untyped]

        self._process = psutil.Process(os.getpid())
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.start = 0
        self.peak = 0

    def _rss(self) -> int:
        return int(self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self._interval)

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


@dataclass(frozen=True)
class IsolatedRun:
    """What :func:`run_isolated` measured.

    Attributes:
        value: What the function returned.
        rss_before: Resident memory (bytes) of the fresh process just before the call, after
            imports.
        peak_rss: Highest resident memory (bytes) seen during the call.
    """

    value: Any
    rss_before: int
    peak_rss: int

    @property
    def peak_increase(self) -> int:
        """Bytes the call added at its peak over what the process held before it."""
        return self.peak_rss - self.rss_before


def _child(target: str, kwargs: dict[str, Any]) -> tuple[Any, int, int]:
    module, _, name = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    with PeakMemory() as memory:
        value = function(**kwargs)
    return value, memory.start, memory.peak


def run_isolated(target: str, **kwargs: Any) -> IsolatedRun:
    """Call ``module:function`` with ``kwargs`` in a freshly spawned process; measure its memory.

    The function is named by its import path, so the child imports it itself (nothing is
    pickled but the arguments and the result). The module is imported before measuring starts,
    so the imports' memory is not counted. Exceptions in the child are raised here.

    Raises:
        ValueError: If ``target`` is not ``"module:function"``.

    Examples:
        >>> run = run_isolated("textwrap:dedent", text="    indented")
        >>> run.value, run.peak_rss >= run.rss_before > 0
        ('indented', True)
    """
    module, sep, name = target.partition(":")
    if not sep or not module or not name.isidentifier():
        raise ValueError(f"target must be 'module:function', got {target!r}")
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as pool:
        value, before, peak = pool.apply(_child, (target, kwargs))
    return IsolatedRun(value=value, rss_before=before, peak_rss=peak)


def page_in(model: Any) -> int:
    """Read every parameter and buffer of ``model`` once; return their size in bytes.

    ``from_pretrained`` memory-maps safetensors files, so a weight's pages become resident only
    when something first reads them. Call this before :class:`PeakMemory` to measure what
    training adds: otherwise the first forward pass pages the whole model in and the
    measurement counts the weights as memory that training used.

    Examples:
        >>> import torch
        >>> page_in(torch.nn.Linear(4, 2))  # 8 weights and 2 biases of 4 bytes
        40
    """
    import torch

    total = 0
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.sum()  # reads every element, so every page is mapped in
            total += tensor.numel() * tensor.element_size()
    return total
