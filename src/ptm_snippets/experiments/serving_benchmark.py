"""Serving benchmark: the embedding service under load, eager PyTorch vs ONNX vs ONNX int8.

One run starts one real server per backend (``python -m ptm_snippets.serving`` on 127.0.0.1,
``OMP_WAIT_POLICY=PASSIVE``, the same thread count), waits until each says it is ready, and then
sends the same fixed number of ``POST /embed`` requests from several concurrent clients, for
each backend and each number of texts per request. Rounds are interleaved (round 1 of every
cell, then round 2, ...), so a change in the machine's load hits every cell alike. For each
cell it records requests and texts per second, the 50th and 95th percentile latency seen by the
clients, failed requests, the server's resident memory, and how close the backend's vectors are
to eager PyTorch's on the same texts.

The clients run in this process, on the same two cores as the server: the numbers are for the
whole loop (JSON, HTTP, tokenising, the model), as a caller sees it.

Run it with ``python -m ptm_snippets.experiments serving_benchmark``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptm_snippets.experiments.runner import Experiment, Progress, register

__all__ = [
    "FAST",
    "FULL",
    "ServingBenchmarkConfig",
    "load_test",
    "percentile",
    "plot",
    "run",
    "summarize",
]

_BACKENDS = ("eager", "onnx", "onnx-int8")


@dataclass(frozen=True)
class ServingBenchmarkConfig:
    """Settings of the serving benchmark.

    Attributes:
        backends: Backends to start, among ``eager``, ``onnx`` and ``onnx-int8``; ``eager`` must
            be one of them (the others' vectors are compared with it).
        batch_sizes: Texts per request, one cell each.
        clients: Concurrent clients (threads, each with its own connection).
        requests: Requests per cell and round.
        rounds: Interleaved rounds; a cell's numbers pool its rounds.
        num_threads: Threads of each server's model (``--threads``).
        startup_timeout_s: Longest wait for a server to listen and then to be ready.
        request_timeout_s: Longest wait for one answer; a slower one counts as failed.
        seeds: Unused (the texts are fixed); kept for the runner's stamp.
    """

    backends: tuple[str, ...] = _BACKENDS
    batch_sizes: tuple[int, ...] = (1, 16)
    clients: int = 4
    requests: int = 60
    rounds: int = 3
    num_threads: int = 2
    startup_timeout_s: float = 180.0
    request_timeout_s: float = 30.0
    seeds: tuple[int, ...] = ()

    def validate(self) -> None:
        """Check every field; raise ``ValueError`` naming the first bad one and its valid range.

        Examples:
            >>> ServingBenchmarkConfig(backends=("onnx",)).validate()
            Traceback (most recent call last):
            ...
            ValueError: backends must include 'eager' and only ('eager', 'onnx', 'onnx-int8'), without repeats, got ('onnx',)
        """
        if (
            "eager" not in self.backends
            or any(b not in _BACKENDS for b in self.backends)
            or len(set(self.backends)) != len(self.backends)
        ):
            raise ValueError(
                f"backends must include 'eager' and only {_BACKENDS}, without repeats, "
                f"got {self.backends}"
            )
        if (
            not self.batch_sizes
            or any(not isinstance(b, int) or not 1 <= b <= 64 for b in self.batch_sizes)
            or len(set(self.batch_sizes)) != len(self.batch_sizes)
        ):
            raise ValueError(
                f"batch_sizes must be non-empty, distinct ints in [1, 64], got {self.batch_sizes}"
            )
        for name, low, high in (
            ("clients", 1, 64),
            ("requests", 2, 100_000),
            ("rounds", 1, 100),
            ("num_threads", 0, 256),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an int in [{low}, {high}], got {value!r}")
        for name in ("startup_timeout_s", "request_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.seeds:
            raise ValueError(f"seeds must be empty (the texts are fixed), got {self.seeds}")


FULL = ServingBenchmarkConfig()
"""The published run: three backends, 1 and 16 texts per request, 4 clients, 3 x 60 requests."""

FAST = ServingBenchmarkConfig(batch_sizes=(1, 8), clients=2, requests=12, rounds=1)
"""The test suite's run: 1 and 8 texts per request, 2 clients, 12 requests per cell."""


# ----------------------------------------------------------------------------- load


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks.

    Examples:
        >>> percentile([10.0, 20.0, 30.0, 40.0], 50), percentile([10.0, 20.0, 30.0, 40.0], 95)
        (25.0, 38.5)
    """
    if not values:
        raise ValueError("values must hold at least one number")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def load_test(
    url: str,
    payloads: Sequence[dict[str, Any]],
    *,
    clients: int,
    timeout: float = 30.0,
    check: Any = None,
) -> dict[str, Any]:
    """Send every payload to ``url`` (``POST``) from ``clients`` concurrent clients.

    Each client has its own ``requests.Session`` (one kept-alive connection) and takes the next
    payload until none are left. A request fails if it raises, times out, answers other than
    200, or if ``check(payload, answer_json)`` returns false.

    Returns:
        ``{"latencies_ms": [...], "failures": [...], "wall_s": ...}``, latencies in send order.

    Examples:
        >>> load_test("http://127.0.0.1:9/embed", [], clients=0)
        Traceback (most recent call last):
        ...
        ValueError: clients must be an int >= 1, got 0
    """
    if isinstance(clients, bool) or not isinstance(clients, int) or clients < 1:
        raise ValueError(f"clients must be an int >= 1, got {clients!r}")
    import threading

    import requests

    latencies: list[float | None] = [None] * len(payloads)
    failures: list[str] = []
    lock = threading.Lock()
    queue = list(range(len(payloads)))[::-1]

    def client() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    if not queue:
                        return
                    index = queue.pop()
                start = time.perf_counter()
                try:
                    answer = session.post(url, json=payloads[index], timeout=timeout)
                    elapsed = (time.perf_counter() - start) * 1000
                    ok = answer.status_code == 200 and (
                        check is None or bool(check(payloads[index], answer.json()))
                    )
                    problem = "" if ok else f"{answer.status_code}: {answer.text[:200]}"
                except requests.RequestException as error:
                    elapsed, problem = (time.perf_counter() - start) * 1000, repr(error)
                with lock:
                    latencies[index] = elapsed
                    if problem:
                        failures.append(problem)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    return {
        "latencies_ms": [x for x in latencies if x is not None],
        "failures": failures,
        "wall_s": time.perf_counter() - start,
    }


def _texts() -> list[str]:
    """The support-ticket test messages: real lengths, fixed order."""
    from ptm_snippets.tickets import load_tickets

    return [t["text"] for t in load_tickets("test")]


def _wait_ready(url: str, deadline: float) -> dict[str, Any]:
    import requests

    while time.monotonic() < deadline:
        try:
            answer = requests.get(f"{url}/readyz", timeout=5)
            if answer.status_code == 200:
                ready: dict[str, Any] = answer.json()["model"]
                return ready
            if answer.json().get("status") == "failed":
                raise RuntimeError(f"{url} failed to load: {answer.json()}")
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} was not ready in time")


# ----------------------------------------------------------------------------- run


def run(config: ServingBenchmarkConfig, progress: Progress) -> list[dict[str, Any]]:
    """Start one server per backend, load-test each cell, and return one row per cell.

    Each row has ``backend``, ``batch_size``, ``clients``, ``requests``, ``failures``,
    ``requests_per_s``, ``texts_per_s``, ``p50_ms``, ``p95_ms``, ``mean_ms``, ``rss_mb`` (the
    server's resident memory after the run), ``rss_growth_mb`` (after minus before the
    measurements), ``startup_s`` (launch to ready), ``warmup_ms`` (the warm-up passes the
    server timed) and ``cosine_to_eager`` (mean cosine of its vectors to eager's on 32 texts).

    Raises:
        ValueError: If the configuration is out of range.
        RuntimeError: If a server fails to start or to get ready in time.
    """
    import requests
    import torch

    from ptm_snippets.serving import ServerProcess, onnx_files, resolve_snapshot

    config.validate()
    texts = _texts()
    onnx_files(resolve_snapshot("sentence-transformers/all-MiniLM-L6-v2"))  # export once, first
    servers = {
        backend: ServerProcess(["--backend", backend, "--threads", str(config.num_threads)])
        for backend in config.backends
    }
    cells = [(b, n) for b in config.backends for n in config.batch_sizes]
    progress.reset(total=len(cells) * config.rounds * config.requests)
    measured: dict[tuple[str, int], list[dict[str, Any]]] = {cell: [] for cell in cells}
    info: dict[str, dict[str, Any]] = {}
    rss_before: dict[str, int] = {}
    vectors: dict[str, torch.Tensor] = {}
    try:
        launched = {}
        for backend, server in servers.items():
            launched[backend] = time.monotonic()
            server.start(timeout=config.startup_timeout_s)
        for backend, server in servers.items():
            info[backend] = _wait_ready(server.url, time.monotonic() + config.startup_timeout_s)
            info[backend]["startup_s"] = round(time.monotonic() - launched[backend], 2)
            answer = requests.post(
                f"{server.url}/embed", json={"texts": texts[:32]}, timeout=config.request_timeout_s
            )
            answer.raise_for_status()
            vectors[backend] = torch.tensor(answer.json()["embeddings"])
            rss_before[backend] = server.rss_bytes()
        for round_index in range(config.rounds):
            for backend, batch in cells:
                progress.set_postfix_str(f"{backend} x{batch} round {round_index + 1}")
                offset = round_index * config.requests * batch
                payloads = [
                    {"texts": [texts[(offset + i * batch + j) % len(texts)] for j in range(batch)]}
                    for i in range(config.requests)
                ]
                result = load_test(
                    f"{servers[backend].url}/embed",
                    payloads,
                    clients=config.clients,
                    timeout=config.request_timeout_s,
                    check=lambda p, a: len(a["embeddings"]) == len(p["texts"]),
                )
                measured[(backend, batch)].append(result)
                progress.update(config.requests)
        rss_after = {backend: server.rss_bytes() for backend, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    rows = []
    for backend, batch in cells:
        results = measured[(backend, batch)]
        latencies = [x for r in results for x in r["latencies_ms"]]
        wall = sum(r["wall_s"] for r in results)
        done = len(latencies)
        cosine = torch.nn.functional.cosine_similarity(vectors[backend], vectors["eager"], dim=-1)
        rows.append(
            {
                "backend": backend,
                "batch_size": batch,
                "clients": config.clients,
                "requests": done,
                "failures": sum(len(r["failures"]) for r in results),
                "requests_per_s": round(done / wall, 2),
                "texts_per_s": round(done * batch / wall, 1),
                "p50_ms": round(percentile(latencies, 50), 2),
                "p95_ms": round(percentile(latencies, 95), 2),
                "mean_ms": round(statistics.fmean(latencies), 2),
                "rss_mb": round(rss_after[backend] / 1e6, 1),
                "rss_growth_mb": round((rss_after[backend] - rss_before[backend]) / 1e6, 1),
                "startup_s": info[backend]["startup_s"],
                "warmup_ms": info[backend]["warmup_ms"],
                "cosine_to_eager": round(float(cosine.mean()), 5),
                "revision": info[backend]["revision"],
            }
        )
    return rows


# ----------------------------------------------------------------------------- summary


def summarize(
    rows: list[dict[str, Any]], config: ServingBenchmarkConfig | None = None
) -> dict[str, Any]:
    """Per backend: texts/s at the largest batch over texts/s at one text, and speed-ups.

    Examples:
        >>> rows = [{"backend": b, "batch_size": n, "texts_per_s": t, "p50_ms": p}
        ...         for b, n, t, p in [("eager", 1, 50.0, 20.0), ("eager", 8, 150.0, 50.0),
        ...                            ("onnx", 1, 75.0, 12.0), ("onnx", 8, 300.0, 25.0)]]
        >>> s = summarize(rows)
        >>> s["batching_gain"]["eager"], s["speedup_vs_eager"]["onnx"]["8"]
        (3.0, 2.0)
    """
    by = {(r["backend"], r["batch_size"]): r for r in rows}
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    sizes = sorted({r["batch_size"] for r in rows})
    return {
        "batching_gain": {
            b: round(by[(b, sizes[-1])]["texts_per_s"] / by[(b, sizes[0])]["texts_per_s"], 2)
            for b in backends
        },
        "speedup_vs_eager": {
            b: {
                str(n): round(by[(b, n)]["texts_per_s"] / by[("eager", n)]["texts_per_s"], 2)
                for n in sizes
            }
            for b in backends
            if ("eager", sizes[0]) in by
        },
        "note": "texts_per_s ratios; latencies are client-side, in ms",
    }


# ----------------------------------------------------------------------------- figure


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Draw texts per second and p50/p95 latency per backend, one group per batch size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = list(dict.fromkeys(r["backend"] for r in rows))
    sizes = sorted({r["batch_size"] for r in rows})
    by = {(r["backend"], r["batch_size"]): r for r in rows}
    colors = {"eager": "tab:blue", "onnx": "tab:orange", "onnx-int8": "tab:green"}
    width = 0.8 / len(backends)
    with plt.rc_context({"svg.hashsalt": "ptm-snippets", "svg.fonttype": "none"}):
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
        for k, backend in enumerate(backends):
            xs = [i + (k - (len(backends) - 1) / 2) * width for i in range(len(sizes))]
            color = colors.get(backend)
            axes[0].bar(
                xs,
                [by[(backend, n)]["texts_per_s"] for n in sizes],
                width,
                label=backend,
                color=color,
            )
            p50 = [by[(backend, n)]["p50_ms"] for n in sizes]
            p95 = [by[(backend, n)]["p95_ms"] for n in sizes]
            axes[1].bar(xs, p50, width, label=f"{backend} p50", color=color)
            axes[1].bar(
                xs,
                [b - a for a, b in zip(p50, p95, strict=True)],
                width,
                bottom=p50,
                color=color,
                alpha=0.35,
                label=f"{backend} p95",
            )
        for ax in axes:
            ax.set_xticks(range(len(sizes)), [f"{n} text{'s' if n > 1 else ''}" for n in sizes])
            ax.set_xlabel("texts per request")
            ax.grid(alpha=0.3, axis="y")
        axes[0].set_ylabel("texts per second (higher is better)")
        axes[0].set_title("Throughput")
        axes[1].set_ylabel("latency, ms (lower is better)")
        axes[1].set_title("Latency: p50 (solid) to p95 (light)")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)


EXPERIMENT = register(
    Experiment(
        name="serving_benchmark",
        run=run,
        plot=plot,
        full=FULL,
        fast=FAST,
        summarize=summarize,
        description=(
            "The MiniLM embedding service under concurrent load: eager PyTorch vs ONNX vs int8, "
            "one text vs a batch per request"
        ),
    )
)
