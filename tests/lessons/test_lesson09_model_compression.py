"""Lesson 09's claims, checked on the values its script computed with the real MiniLM."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.conftest import run_snippet


@pytest.fixture(scope="module")
def lesson() -> dict[str, Any]:
    namespace, _ = run_snippet("lesson09_model_compression.py")
    return namespace


def row(lesson: dict[str, Any], name: str) -> dict[str, float]:
    result: dict[str, float] = lesson["results"][name]
    return result


# ----------------------------------------------------------------------------- baseline


def test_baseline_is_the_real_model_with_a_strong_head(lesson: dict[str, Any]) -> None:
    from ptm_snippets import count_parameters

    assert count_parameters(lesson["model"]) == 22_713_216
    fp32 = row(lesson, "fp32")
    assert fp32["mb"] == pytest.approx(22_713_216 * 4 / 1e6, rel=0.005)  # 4 bytes a weight
    assert fp32["cosine"] == pytest.approx(1.0) and fp32["neighbours"] == 1.0
    assert fp32["accuracy"] > 0.9
    assert len(lesson["test_texts"]) == 110 and len(lesson["train_texts"]) == 400


# ----------------------------------------------------------------------------- half precision


def test_half_precision_halves_the_file_and_keeps_the_embeddings(lesson: dict[str, Any]) -> None:
    bf16 = row(lesson, "bf16")
    assert bf16["mb"] == pytest.approx(row(lesson, "fp32")["mb"] / 2, rel=0.01)
    assert bf16["cosine"] > 0.999
    assert bf16["accuracy"] >= row(lesson, "fp32")["accuracy"] - 0.02
    assert next(lesson["fp16"].parameters()).dtype == torch.float16
    assert lesson["fp16_vectors"].dtype == torch.float32  # the encoder returns float32
    from ptm_snippets.compression import mean_cosine

    assert mean_cosine(lesson["reference"][:16], lesson["fp16_vectors"]) > 0.999


def test_float16_overflows_where_bfloat16_rounds(lesson: dict[str, Any]) -> None:
    big = lesson["big"]
    assert big.to(torch.float16)[0].isinf()
    assert float(big.to(torch.bfloat16)[0]) == 70144.0
    assert float(big.to(torch.bfloat16)[1]) == 1.0  # 1.001 is below bfloat16's step
    assert float(big.to(torch.float16)[1]) > 1.0


# ----------------------------------------------------------------------------- ONNX and int8


def test_onnx_export_matches_pytorch_with_dynamic_axes(lesson: dict[str, Any]) -> None:
    assert float((lesson["onnx_vectors"] - lesson["reference"]).abs().max()) < 1e-4
    session = lesson["onnx_encoder"].session
    assert [i.shape for i in session.get_inputs()] == [["batch", "sequence"]] * 2
    assert not lesson["onnx_path"].with_suffix(".onnx.data").exists()  # one file
    assert row(lesson, "onnx fp32")["mb"] == pytest.approx(row(lesson, "fp32")["mb"], rel=0.01)


def test_int8_is_four_times_smaller_and_close(lesson: dict[str, Any]) -> None:
    int8, fp32 = row(lesson, "onnx int8"), row(lesson, "fp32")
    assert int8["mb"] < fp32["mb"] / 3.5
    assert int8["cosine"] > 0.98
    assert int8["accuracy"] >= fp32["accuracy"] - 0.03
    stored = lesson["stored"]
    integer = stored["int8"] + stored.get("uint8", 0)
    assert integer > 0.95 * sum(stored.values())
    assert lesson["operators"]["MatMulInteger"] >= 6 * 6  # q, k, v, out, up, down in 6 layers


def test_per_tensor_int8_loses_more_than_per_channel(lesson: dict[str, Any]) -> None:
    per_channel, per_tensor = row(lesson, "onnx int8"), row(lesson, "int8 per tensor")
    assert per_tensor["mb"] == pytest.approx(per_channel["mb"], rel=0.02)
    assert per_tensor["cosine"] < per_channel["cosine"] - 0.01
    assert per_tensor["neighbours"] < per_channel["neighbours"]


# ----------------------------------------------------------------------------- pruning


def test_pruning_quality_falls_with_sparsity_and_the_file_stays(lesson: dict[str, Any]) -> None:
    names = ["fp32", "pruned 30%", "pruned 50%", "pruned 70%", "pruned 90%"]
    cosines = [row(lesson, n)["cosine"] for n in names]
    assert cosines == sorted(cosines, reverse=True)
    assert cosines[1] > 0.85 and cosines[4] < 0.4
    assert row(lesson, "pruned 90%")["accuracy"] < row(lesson, "fp32")["accuracy"] - 0.2
    assert {row(lesson, n)["mb"] for n in names} == {row(lesson, "fp32")["mb"]}
    from ptm_snippets.compression import sparsity

    assert sparsity(lesson["pruned"]) == pytest.approx(0.9, abs=1e-3)
    assert 0.3 < lesson["zeros"] / 22_713_216 < 0.5  # the embeddings are not pruned


def test_unremoved_masks_make_the_saved_model_larger(lesson: dict[str, Any]) -> None:
    keys = set(lesson["masked"].state_dict())
    assert "encoder.layer.0.attention.self.query.weight_orig" in keys
    assert lesson["masked_bytes"] > 1.4 * row(lesson, "fp32")["mb"] * 1e6


def test_sparse_storage_pays_only_at_high_sparsity(lesson: dict[str, Any]) -> None:
    weight, coo_bytes = lesson["weight"], lesson["coo_bytes"]
    kept = float((weight != 0).float().mean())
    assert coo_bytes == pytest.approx(int((weight != 0).sum()) * (8 + 8 + 4), rel=1e-6)
    assert (coo_bytes < weight.numel() * 4) == (kept < 0.2)


def test_two_four_keeps_two_of_every_four_and_costs_more_than_free_pruning(
    lesson: dict[str, Any],
) -> None:
    torch.manual_seed(0)
    masked = lesson["two_four"](torch.randn(6, 8))
    assert ((masked.reshape(-1, 4) != 0).sum(1) == 2).all()
    layer = lesson["structured"].encoder.layer[2].output.dense.weight
    assert ((layer.reshape(-1, 4) != 0).sum(1) <= 2).all()
    assert row(lesson, "2:4 (50%)")["cosine"] < row(lesson, "pruned 50%")["cosine"]


def test_exercise_global_pruning_is_uneven_across_layer_kinds(lesson: dict[str, Any]) -> None:
    shares = {kind: zeros / total for kind, (zeros, total) in lesson["by_kind"].items()}
    assert set(shares) == {"attention.self", "attention.output", "intermediate", "output"}
    assert max(shares.values()) - min(shares.values()) > 0.1
    assert shares["output"] > shares["attention.self"]
    assert all(0.4 < s < 0.6 for s in lesson["layers"])


# ----------------------------------------------------------------------------- measured


def test_the_stored_experiment_supports_the_page(lesson: dict[str, Any]) -> None:
    variants = lesson["measured"]["summary"]["variants"]
    fp32 = variants["fp32"]
    assert variants["onnx_int8"]["latency_batch_ms"] < fp32["latency_batch_ms"]
    assert variants["onnx_fp32"]["latency_batch_ms"] < fp32["latency_batch_ms"]
    assert variants["fp16"]["latency_batch_ms"] > fp32["latency_batch_ms"]
    for method in ("pruned_50", "pruned_90"):  # zeros do not make dense math faster
        assert variants[method]["latency_batch_ms"] == pytest.approx(
            fp32["latency_batch_ms"], rel=0.3
        )
        assert variants[method]["size_mb"] == fp32["size_mb"]
    assert variants["student_embedding"]["size_mb"] < fp32["size_mb"] / 20
    lm = lesson["measured"]["summary"]["causal_lm"]
    assert lm["bf16"]["perplexity"] < 1.05 * lm["fp32"]["perplexity"]
    assert lm["onnx_int8"]["perplexity"] > 1.2 * lm["fp32"]["perplexity"]


def test_the_stored_students_show_both_benefits_of_the_teacher(lesson: dict[str, Any]) -> None:
    students = lesson["measured"]["summary"]["distillation"]
    labels, hard, soft = (
        students[m]["accuracy_mean"] for m in ("student_labels", "student_hard", "student_soft")
    )
    assert hard > labels + 0.05  # more (teacher-labelled) text
    assert soft > labels + 0.05


# ----------------------------------------------------------------------------- distillation


def test_temperature_softens_the_teacher(lesson: dict[str, Any]) -> None:
    import torch.nn.functional as F

    logits = lesson["teacher_logits"][lesson["example"]]
    top = [float(F.softmax(logits / t, dim=-1).max()) for t in (1.0, 2.0, 4.0)]
    assert top == sorted(top, reverse=True) and top[0] > 0.5


def test_soft_targets_beat_the_labels_alone(lesson: dict[str, Any]) -> None:
    results = lesson["results"]
    assert len(lesson["labelled"]) == 40
    assert results["soft targets"]["accuracy"] > results["labels only"]["accuracy"] + 0.08
    assert results["labels only"]["accuracy"] > 0.3  # above chance (0.25)
    for name in ("labels only", "soft targets"):
        assert results[name]["mb"] < row(lesson, "fp32")["mb"] / 20
    teacher_accuracy = float((lesson["teacher_test"] == lesson["test_labels"]).float().mean())
    assert teacher_accuracy > 0.85


def test_page_shows_the_figure_and_the_quiz() -> None:
    from tests.conftest import ROOT, SITE

    page = (SITE.docs_dir / "lessons" / "09-model-compression.md").read_text()
    assert "(../assets/experiments/compression.svg)" in page
    assert (ROOT / "docs" / "assets" / "experiments" / "compression.svg").is_file()
    assert "lesson09_model_compression.json" in page
