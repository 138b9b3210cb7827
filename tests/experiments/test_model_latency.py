"""The model-latency experiment on its fast configuration: real MiniLM and GPT-2's size.

Timings on a shared machine vary, so the assertions are about structure and about directions
with wide margins: GPT-2 (8 times MiniLM's non-embedding parameters) is slower, a longer input
is not faster, and one generated token costs less than reading a 64-token prompt.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from ptm_snippets.experiments import known_experiments, register, run_experiment, unregister

NAME = "model_latency"
MINILM, GPT2 = "MiniLM-L6", "GPT-2"


@pytest.fixture(scope="module")
def ml() -> Iterator[ModuleType]:
    """The experiment module, registered for this file's tests only if nothing else did."""
    registered_before = NAME in known_experiments()
    from ptm_snippets.experiments import model_latency

    register(model_latency.EXPERIMENT, replace=True)
    yield model_latency
    if not registered_before:
        unregister(NAME)


@pytest.fixture(scope="module")
def result(ml: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("experiments")
    data = run_experiment(NAME, fast=True, out_dir=out, progress_bar=False)
    assert json.loads((out / f"{NAME}.json").read_text()) == data
    svg = (out / f"{NAME}.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "Compute follows non-embedding parameters" in svg
    return data


def forward_ms(result: dict[str, Any], label: str, length: int) -> float:
    value: float = result["summary"]["forward_ms"][label][f"1x{length}"]
    return value


def test_one_row_per_model_phase_and_shape(ml: ModuleType, result: dict[str, Any]) -> None:
    rows = result["rows"]
    keys = {(r["label"], r["phase"], r["batch_size"], r["seq_len"]) for r in rows}
    assert keys == {
        (MINILM, "forward", 1, 8),
        (MINILM, "forward", 1, 64),
        (GPT2, "forward", 1, 8),
        (GPT2, "forward", 1, 64),
        (GPT2, "decode", 1, 64),  # an encoder generates nothing: no decode row
    }
    assert len(rows) == len(keys)
    fast = ml.FAST
    for row in rows:
        expected = fast.repeats * (fast.decode_steps if row["phase"] == "decode" else 1)
        assert row["samples"] == expected
        assert 0 < row["min_ms"] <= row["q1_ms"] <= row["median_ms"] <= row["q3_ms"]
        # Thread CPU time cannot exceed the elapsed time (a little slack for clock resolution).
        assert row["wall_median_ms"] >= 0.9 * row["median_ms"]
    weights = {r["label"]: r["weights"] for r in rows}
    assert weights == {MINILM: "pretrained", GPT2: "random"}
    stamp = result["stamp"]
    assert stamp["torch_threads"] == fast.num_threads == 1
    assert result["summary"]["clock"] == fast.clock == "thread"
    assert stamp["config"]["models"] == list(fast.models)


def test_parameter_counts_come_from_the_inspector(result: dict[str, Any]) -> None:
    by_label = {r["label"]: r for r in result["rows"]}
    assert by_label[MINILM]["parameters"] == 22_713_216
    assert by_label[GPT2]["parameters"] == 124_439_808
    ratio = (
        by_label[GPT2]["non_embedding_parameters"] / by_label[MINILM]["non_embedding_parameters"]
    )
    assert ratio > 7


def test_the_larger_model_is_slower(result: dict[str, Any]) -> None:
    for length in (8, 64):
        assert forward_ms(result, GPT2, length) > 1.5 * forward_ms(result, MINILM, length)


def test_a_longer_input_is_not_faster(result: dict[str, Any]) -> None:
    for label in (MINILM, GPT2):
        assert forward_ms(result, label, 64) > 0.8 * forward_ms(result, label, 8)
        growth = result["summary"]["length_growth"][label]
        assert (growth["from"], growth["to"], growth["length_ratio"]) == (8, 64, 8.0)


def test_one_new_token_costs_less_than_reading_the_prompt(result: dict[str, Any]) -> None:
    decode = result["summary"]["decode_ms"][GPT2]["64"]
    assert decode < forward_ms(result, GPT2, 64)
    assert set(result["summary"]["decode_ms"]) == {GPT2}


def test_throughput_columns_follow_from_the_median(result: dict[str, Any]) -> None:
    for row in result["rows"]:
        if row["phase"] == "forward":
            expected = 1000 * row["batch_size"] / row["median_ms"]
            assert row["sequences_per_s"] == pytest.approx(expected, abs=0.006)
        else:
            assert row["tokens_per_s"] == pytest.approx(1000 / row["median_ms"], abs=0.006)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"models": ()}, "models must be non-empty"),
        ({"models": ("a", "a")}, "models must be non-empty"),
        ({"models": ("nohub",)}, "models must hold hub ids"),
        ({"shapes": ()}, "shapes must be non-empty"),
        ({"shapes": ((0, 16),)}, "shapes must be non-empty"),
        ({"shapes": ((1, 1024),)}, "shapes must be non-empty"),
        ({"decode_contexts": (32,)}, "decode_contexts must be seq_lens of batch-1 shapes"),
        ({"decode_steps": 0}, "decode_steps must be at least 1"),
        ({"repeats": 1}, "repeats must be at least 2"),
        ({"warmup": -1}, "warmup must be >= 0"),
        ({"num_threads": -1}, "num_threads must be >= 0"),
        ({"seeds": (0, 1)}, "seeds must hold exactly one"),
        ({"clock": "cpu"}, "clock must be 'thread' or 'wall'"),
        ({"num_threads": 2}, "clock 'thread' needs num_threads=1"),
    ],
)
def test_config_rejects_bad_fields(ml: ModuleType, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ml.ModelLatencyConfig(**changes).validate()


def test_published_configuration_is_valid_and_module_is_registered(ml: ModuleType) -> None:
    ml.FULL.validate()
    assert ml.EXPERIMENT.full is ml.FULL
    assert NAME in known_experiments()
    assert set(ml.FULL.models) == set(ml.LABELS)
