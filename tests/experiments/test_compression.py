"""The compression experiment on its fast configuration: real MiniLM weights, every method."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from ptm_snippets.experiments import known_experiments, register, run_experiment, unregister

NAME = "compression"


@pytest.fixture(scope="module")
def cx() -> Iterator[ModuleType]:
    """The experiment module, registered for this file's tests only if nothing else did.

    Until ``ptm_snippets.experiments`` imports the module itself, importing it here at
    collection time would register it for the whole session and change what other tests see in
    the registry; so it is imported and registered here, and unregistered afterwards.
    """
    registered_before = NAME in known_experiments()
    from ptm_snippets.experiments import compression

    register(compression.EXPERIMENT, replace=True)
    yield compression
    if not registered_before:
        unregister(NAME)


@pytest.fixture(scope="module")
def result(cx: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("experiments")
    data = run_experiment(NAME, fast=True, out_dir=out, progress_bar=False)
    assert json.loads((out / f"{NAME}.json").read_text()) == data
    svg = (out / f"{NAME}.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "Size on disk" in svg
    return data


def variants(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["method"]: r for r in result["rows"] if r["kind"] == "variant"}


def test_every_configured_variant_has_a_complete_row(
    cx: ModuleType, result: dict[str, Any]
) -> None:
    rows = variants(result)
    expected = {"fp32", "bf16", "onnx_fp32", "onnx_int8", "pruned_30", "pruned_90"}
    assert set(rows) == expected | {"student_embedding"}
    for method, row in rows.items():
        assert row["size_mb"] > 0, method
        for shape in ("batch", "single"):
            q1, median, q3 = (row[f"latency_{shape}{s}_ms"] for s in ("_q1", "", "_q3"))
            assert 0 < q1 <= median <= q3, (method, shape)
        for key in ("cosine", "neighbour_agreement", "accuracy", "macro_f1"):
            assert -1.0 <= row[key] <= 1.0, (method, key)
        assert row["accuracy_low"] <= row["accuracy"] <= row["accuracy_high"], method
        assert row["accuracy_high"] - row["accuracy_low"] > 0.01, method  # a bootstrap interval
    assert rows["fp32"]["cosine"] == pytest.approx(1.0)
    assert rows["fp32"]["neighbour_agreement"] == 1.0


def test_half_precision_halves_the_file_and_keeps_the_embeddings(result: dict[str, Any]) -> None:
    rows = variants(result)
    assert rows["bf16"]["size_mb"] == pytest.approx(rows["fp32"]["size_mb"] / 2, rel=0.01)
    assert rows["bf16"]["cosine"] > 0.999
    assert rows["bf16"]["parameters"] == rows["fp32"]["parameters"] == 22_713_216


def test_onnx_fp32_matches_and_int8_is_four_times_smaller_and_close(result: dict[str, Any]) -> None:
    rows = variants(result)
    assert rows["onnx_fp32"]["cosine"] > 0.99999  # the same computation, another runtime
    assert rows["onnx_fp32"]["size_mb"] == pytest.approx(rows["fp32"]["size_mb"], rel=0.01)
    assert rows["onnx_int8"]["size_mb"] < rows["fp32"]["size_mb"] / 3
    assert rows["onnx_int8"]["cosine"] > 0.98
    assert rows["onnx_int8"]["accuracy"] >= rows["fp32"]["accuracy"] - 0.1


def test_pruning_zeroes_weights_without_shrinking_the_file(result: dict[str, Any]) -> None:
    rows = variants(result)
    assert rows["pruned_30"]["nonzero_share"] == pytest.approx(0.7, abs=1e-3)
    assert rows["pruned_90"]["nonzero_share"] == pytest.approx(0.1, abs=1e-3)
    for method in ("pruned_30", "pruned_90"):
        assert rows[method]["size_mb"] == rows["fp32"]["size_mb"]  # dense storage, zeros and all
    assert rows["pruned_30"]["cosine"] > 0.8
    assert rows["pruned_90"]["cosine"] < rows["pruned_30"]["cosine"] - 0.3
    assert rows["pruned_90"]["accuracy"] < rows["fp32"]["accuracy"]


def test_students_are_small_and_learn(cx: ModuleType, result: dict[str, Any]) -> None:
    rows = variants(result)
    assert rows["student_embedding"]["size_mb"] < rows["fp32"]["size_mb"] / 10
    students = [r for r in result["rows"] if r["kind"] == "distillation"]
    assert [r["method"] for r in students] == list(cx.DISTILLATION_ARMS)
    for row in students:
        assert row["steps"] == cx.FAST.student_steps
        assert row["size_mb"] < rows["fp32"]["size_mb"] / 10
        assert 0.0 <= row["accuracy"] <= 1.0
        assert 0.0 <= row["macro_f1"] <= 1.0
    by_method = {r["method"]: r for r in students}
    assert by_method["student_labels"]["transfer_texts"] == cx.FAST.labelled
    assert by_method["student_soft"]["transfer_texts"] == cx.FAST.train_size
    assert by_method["student_soft"]["teacher_accuracy"] > 0.5


def test_summary_ratios_match_the_rows(result: dict[str, Any]) -> None:
    rows = variants(result)
    ratios = result["summary"]["ratios"]
    for method, row in rows.items():
        assert ratios[method]["size"] == pytest.approx(
            row["size_mb"] / rows["fp32"]["size_mb"], abs=1e-3
        )
    distillation = result["summary"]["distillation"]
    assert set(distillation) == {"student_labels", "student_hard", "student_soft"}
    assert result["summary"]["causal_lm"] == {}  # the fast run leaves the language model out
    assert result["stamp"]["seeds"] == [0]
    assert result["stamp"]["torch_threads"] == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"half_dtypes": ("int8",)}, "half_dtypes must be"),
        ({"prune_amounts": (0.0,)}, "prune_amounts must hold"),
        ({"prune_amounts": (0.5, 0.5)}, "prune_amounts must hold"),
        ({"train_size": 4}, "train_size must be"),
        ({"test_size": 8}, "test_size must be"),
        ({"labelled": 2000}, "labelled must be"),
        ({"student_steps": 0}, "student_steps and student_batch"),
        ({"temperature": 0.0}, "temperature must be"),
        ({"seeds": ()}, "seeds must be"),
        ({"num_threads": -1}, "num_threads must be"),
        ({"repo_id": ""}, "repo_id must name"),
        ({"lm_repo_id": ""}, "lm_repo_id must name"),
        ({"lm_texts": 0}, "lm_texts must be"),
        ({"lm_tokens": 2}, "lm_tokens must be"),
    ],
)
def test_config_rejects_bad_fields(cx: ModuleType, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cx.CompressionConfig(**changes).validate()


def test_published_configuration_is_valid_and_module_is_registered(cx: ModuleType) -> None:
    cx.FULL.validate()
    assert cx.EXPERIMENT.full is cx.FULL
    assert NAME in known_experiments()
