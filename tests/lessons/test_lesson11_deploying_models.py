"""Lesson 11's claims, checked on the values its script computed with the real model and service."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.conftest import run_snippet


@pytest.fixture(scope="module")
def lesson() -> dict[str, Any]:
    namespace, _ = run_snippet("lesson11_deploying_models.py")
    return namespace


# ----------------------------------------------------------------------------- loading


def test_loaded_the_pinned_revision_from_safetensors_without_code(lesson: dict[str, Any]) -> None:
    from ptm_snippets.hub import MINILM, model_path

    folder = lesson["folder"]
    assert folder == model_path(MINILM.repo_id, folder.parents[2].parent)
    assert lesson["weights_sha256"] == MINILM.files["model.safetensors"]
    assert not list(folder.rglob("*.py")) and not list(folder.glob("*.bin"))
    assert lesson["model"].training is False


def test_safetensors_header_describes_every_weight(lesson: dict[str, Any]) -> None:
    tensors = lesson["tensors"]
    state = lesson["model"].state_dict()
    assert set(tensors) - set(state) <= {"embeddings.position_ids"}  # a buffer the old file kept
    assert set(state) - set(tensors) <= {"pooler.dense.weight", "pooler.dense.bias"}
    entry = tensors["embeddings.word_embeddings.weight"]
    assert entry["dtype"] == "F32" and entry["shape"] == [30522, 384]


def test_pickle_runs_code_unless_weights_only(capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import pickle

    import torch

    class Surprise:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (print, ("ran",))

    blob = io.BytesIO()
    torch.save({"extra": Surprise()}, blob)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(io.BytesIO(blob.getvalue()))
    torch.load(io.BytesIO(blob.getvalue()), weights_only=False)
    assert capsys.readouterr().out == "ran\n"


# ----------------------------------------------------------------------------- limits and batching


def test_serving_limit_is_the_trained_length_and_truncation_is_counted(
    lesson: dict[str, Any],
) -> None:
    assert lesson["trained"] == 256 == lesson["settings"].max_tokens
    assert lesson["tokenizer"].model_max_length == 512
    assert lesson["counts"] == [7, 257]
    assert 3.0 < lesson["characters"] / lesson["pieces"] < 5.0


def test_sorting_by_length_removes_most_padding(lesson: dict[str, Any]) -> None:
    real, arrival, by_length = lesson["real"], lesson["arrival"], lesson["by_length"]
    assert real <= by_length < arrival
    assert 1 - real / by_length < 0.05 < 0.2 < 1 - real / arrival
    assert float((lesson["batched"] - lesson["one_by_one"]).abs().max()) < 1e-5


def test_onnx_matches_eager_and_int8_stays_close(lesson: dict[str, Any]) -> None:
    from ptm_snippets.compression import mean_cosine

    reference, sample = lesson["reference"], lesson["sample"]
    assert float((lesson["onnx_fp32"].encode(sample) - reference).abs().max()) < 1e-4
    assert 0.98 < mean_cosine(reference, lesson["onnx_int8"].encode(sample)) < 0.9999
    files = lesson["files"]
    assert files["onnx-int8"].stat().st_size < files["onnx"].stat().st_size / 3


# ----------------------------------------------------------------------------- the service


def test_service_was_ready_with_the_same_model_and_stopped_cleanly(lesson: dict[str, Any]) -> None:
    model = lesson["ready"]["model"]
    assert model["revision"] == lesson["folder"].name
    assert model["weights_sha256"] == lesson["weights_sha256"]
    assert lesson["server"].process.returncode == -signal.SIGTERM
    assert "Traceback" not in lesson["server"].log()


def test_related_texts_rank_first(lesson: dict[str, Any]) -> None:
    ranked = [text for text, _ in lesson["ranked"]]
    assert set(ranked[:2]) == {
        "My package never arrived.",
        "Tracking says delivered but nothing came.",
    }
    scores = [score for _, score in lesson["ranked"]]
    assert scores[1] > scores[2] + 0.1


def test_every_bad_request_got_a_4xx_and_the_service_stayed_up(lesson: dict[str, Any]) -> None:
    statuses = lesson["bad_statuses"]
    assert len(statuses) == len(lesson["bad_requests"]) == 12
    assert all(400 <= s < 500 for s in statuses.values()), statuses
    assert statuses["invalid UTF-8"] == 400 and statuses["2 MB body"] == 413
    assert lesson["health_after"] == (200, {"status": "ok"})


# ----------------------------------------------------------------------------- measured


def test_measured_table_comes_from_the_experiment(lesson: dict[str, Any]) -> None:
    rows = lesson["bench"]["rows"]
    assert {(r["backend"], r["batch_size"]) for r in rows} == {
        (b, n) for b in ("eager", "onnx", "onnx-int8") for n in (1, 16)
    }
    assert all(r["failures"] == 0 for r in rows)
    by = {(r["backend"], r["batch_size"]): r for r in rows}
    for backend in ("eager", "onnx", "onnx-int8"):
        assert by[(backend, 16)]["texts_per_s"] > by[(backend, 1)]["texts_per_s"]
        assert by[(backend, 16)]["p50_ms"] > by[(backend, 1)]["p50_ms"]
    assert by[("onnx-int8", 16)]["texts_per_s"] > by[("eager", 16)]["texts_per_s"]
    assert by[("onnx-int8", 1)]["rss_mb"] < by[("eager", 1)]["rss_mb"]
    assert lesson["replicas"] >= 1


def test_page_shows_the_benchmark_figure() -> None:
    from tests.conftest import ROOT, SITE

    page = (SITE.docs_dir / "lessons" / "11-deploying-models.md").read_text()
    assert "(../assets/experiments/serving_benchmark.svg)" in page
    assert (ROOT / "docs" / "assets" / "experiments" / "serving_benchmark.svg").is_file()


# ----------------------------------------------------------------------------- exercises


def test_exercise_client_plan_respects_the_limits(lesson: dict[str, Any]) -> None:
    chunks, refused = lesson["chunks"], lesson["refused"]
    settings = lesson["settings"]
    assert refused == [150, 151]
    assert all(len(c) <= settings.max_texts for c in chunks)
    assert sorted(i for c in chunks for i in c) == list(range(150))


def test_exercise_latency_budget_reads_the_json(lesson: dict[str, Any]) -> None:
    assert lesson["budget_ms"] == 300
    assert any(r["p95_ms"] <= 300 for r in lesson["bench"]["rows"])
