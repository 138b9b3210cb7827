"""The serving benchmark on its fast configuration: real servers, stable directions only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from ptm_snippets.experiments import known_experiments, register, run_experiment, unregister

NAME = "serving_benchmark"

pytestmark = pytest.mark.enable_socket  # the benchmark's clients talk to its servers on 127.0.0.1


@pytest.fixture(scope="module")
def sb() -> Iterator[ModuleType]:
    """The experiment module, registered for this file's tests only if nothing else did."""
    registered_before = NAME in known_experiments()
    from ptm_snippets.experiments import serving_benchmark

    register(serving_benchmark.EXPERIMENT, replace=True)
    yield serving_benchmark
    if not registered_before:
        unregister(NAME)


@pytest.fixture(scope="module")
def result(sb: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("experiments")
    data = run_experiment(NAME, fast=True, out_dir=out, progress_bar=False)
    assert json.loads((out / f"{NAME}.json").read_text()) == data
    svg = (out / f"{NAME}.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "texts per request" in svg
    return data


def test_one_row_per_backend_and_batch_size_and_no_failures(
    sb: ModuleType, result: dict[str, Any]
) -> None:
    rows = result["rows"]
    cells = {(r["backend"], r["batch_size"]) for r in rows}
    assert cells == {(b, n) for b in sb.FAST.backends for n in sb.FAST.batch_sizes}
    for row in rows:
        assert row["failures"] == 0, row
        assert row["requests"] == sb.FAST.requests * sb.FAST.rounds
        assert 0 < row["p50_ms"] <= row["p95_ms"], row
        assert row["texts_per_s"] == pytest.approx(
            row["requests_per_s"] * row["batch_size"], rel=0.01
        )
        assert row["rss_mb"] > 100 and row["startup_s"] > 0
        assert len(row["warmup_ms"]) == 3


def test_batched_requests_embed_more_texts_per_second(
    sb: ModuleType, result: dict[str, Any]
) -> None:
    by = {(r["backend"], r["batch_size"]): r for r in result["rows"]}
    small, large = min(sb.FAST.batch_sizes), max(sb.FAST.batch_sizes)
    for backend in sb.FAST.backends:
        assert by[(backend, large)]["texts_per_s"] > 1.5 * by[(backend, small)]["texts_per_s"]
    assert result["summary"]["batching_gain"]["eager"] > 1.5


def test_onnx_outputs_match_eager_and_int8_stays_close(result: dict[str, Any]) -> None:
    cosine = {r["backend"]: r["cosine_to_eager"] for r in result["rows"]}
    assert cosine["eager"] == pytest.approx(1.0, abs=1e-6)
    assert cosine["onnx"] > 0.99999
    assert 0.98 < cosine["onnx-int8"] < 0.99999


def test_percentile_and_config_checks(sb: ModuleType) -> None:
    assert sb.percentile([5.0], 95) == 5.0
    assert sb.percentile([1.0, 2.0, 3.0], 50) == 2.0
    with pytest.raises(ValueError, match="values must hold"):
        sb.percentile([], 50)
    with pytest.raises(ValueError, match="q must be"):
        sb.percentile([1.0], 101)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"backends": ("onnx",)}, "backends"),
        ({"backends": ("eager", "eager")}, "backends"),
        ({"batch_sizes": ()}, "batch_sizes"),
        ({"batch_sizes": (1, 65)}, "batch_sizes"),
        ({"clients": 0}, "clients"),
        ({"requests": 1}, "requests"),
        ({"startup_timeout_s": 0}, "startup_timeout_s"),
        ({"seeds": (0,)}, "seeds"),
    ]
    for changes, field in cases:
        with pytest.raises(ValueError, match=f"^{field} must"):
            sb.ServingBenchmarkConfig(**changes).validate()
    sb.FULL.validate()
    assert sb.EXPERIMENT.full is sb.FULL and NAME in known_experiments()
