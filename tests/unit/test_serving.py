"""The serving helpers: settings checks, token counting, and the app driven in-process (ASGI).

The app tests use a small fake model, so they check the service's own logic (validation,
readiness, truncation reports, error bodies) in milliseconds; tests/service runs the real model
behind a real server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from ptm_snippets.serving import (
    LoadedEncoder,
    ServerProcess,
    ServingSettings,
    create_app,
    onnx_files,
    resolve_snapshot,
    token_counts,
)

# asyncio's event loop opens a socketpair to wake itself: no network is used.
pytestmark = pytest.mark.enable_socket


class WordTokenizer:
    """Splits on spaces; [CLS] and [SEP] count as two tokens; cuts at max_length."""

    def __call__(
        self, texts: list[str], truncation: bool = False, max_length: int = 512
    ) -> dict[str, list[list[int]]]:
        ids = [[0] + [1] * len(t.split()) + [2] for t in texts]
        return {"input_ids": [row[:max_length] if truncation else row for row in ids]}


class LetterEncoder:
    """A vector of letter counts: texts sharing letters point the same way."""

    def __init__(self) -> None:
        self.tokenizer = WordTokenizer()
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        self.calls += 1
        out = torch.zeros(len(texts), 26)
        for i, text in enumerate(texts):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out + 1e-3


def fake_loader(settings: ServingSettings) -> LoadedEncoder:
    return LoadedEncoder(
        LetterEncoder(), {"repo_id": settings.repo_id, "revision": "f" * 40, "backend": "fake"}
    )


def failing_loader(settings: ServingSettings) -> LoadedEncoder:
    raise OSError("no weights here")


async def _call(app: Any, method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(payload) if payload else None


def call_all(app: Any, requests: list[tuple[str, str, Any]]) -> list[tuple[int, Any]]:
    """Run the app's start-up, send each (method, path, body), shut down; return answers."""

    async def main() -> list[tuple[int, Any]]:
        answers = []
        async with app.router.lifespan_context(app):
            for method, path, body in requests:
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                headers = {"content-type": "application/json"} if body is not None else {}
                answers.append(await _call(app, method, path, raw, headers))
        return answers

    return asyncio.run(main())


def app_with(**changes: Any) -> Any:
    settings = ServingSettings(background_load=False, warmup_rounds=1, **changes)
    return create_app(settings, loader=fake_loader)


# ----------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"backend": "torchscript"}, "backend"),
        ({"repo_id": "no-slash"}, "repo_id"),
        ({"revision": ""}, "revision"),
        ({"model_file": "m.onnx"}, "model_file"),  # eager takes no ONNX file
        ({"backend": "onnx", "model_file": "m.bin"}, "model_file"),
        ({"expected_sha256": "ABC"}, "expected_sha256"),
        ({"max_texts": 0}, "max_texts"),
        ({"max_chars": True}, "max_chars"),
        ({"max_tokens": 513}, "max_tokens"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
        ({"batch_size": 0}, "batch_size"),
        ({"num_threads": -1}, "num_threads"),
        ({"warmup_rounds": 1.5}, "warmup_rounds"),
        ({"background_load": "yes"}, "background_load"),
    ],
)
def test_bad_settings_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must"):
        ServingSettings(**changes).validate()
    with pytest.raises(ValueError, match=rf"^{field} must"):
        create_app(ServingSettings(**changes))


def test_defaults_are_valid_and_create_app_rejects_other_types() -> None:
    ServingSettings().validate()
    ServingSettings(backend="onnx-int8", model_file="x.onnx", expected_sha256="a" * 64).validate()
    with pytest.raises(TypeError, match="settings must be a ServingSettings"):
        create_app({"backend": "eager"})  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- helpers


def test_token_counts_stop_just_past_the_limit() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
    assert token_counts(tokenizer, ["parcel", "parcel " * 1000], limit=8) == [3, 9]
    assert token_counts(tokenizer, [], limit=8) == []
    with pytest.raises(TypeError, match="not one string"):
        token_counts(tokenizer, "parcel", limit=8)
    with pytest.raises(ValueError, match="limit must be"):
        token_counts(tokenizer, ["parcel"], limit=1)


def test_snapshot_is_the_pinned_revision_and_onnx_needs_a_snapshot(tmp_path: Path) -> None:
    from ptm_snippets.hub import MINILM, model_path

    folder = resolve_snapshot(MINILM.repo_id)
    assert folder == model_path(MINILM.repo_id, folder.parents[2].parent)
    with pytest.raises(ValueError, match="repo_id must look like"):
        resolve_snapshot("no-slash")
    with pytest.raises(FileNotFoundError, match="folder must be a model snapshot"):
        onnx_files(tmp_path)


def test_wrong_expected_hash_refuses_to_load() -> None:
    from ptm_snippets.serving import load_encoder

    with pytest.raises(ValueError, match="refusing to serve other weights"):
        load_encoder(ServingSettings(expected_sha256="0" * 64))


def test_server_process_reports_a_failed_start(tmp_path: Path) -> None:
    server = ServerProcess(["--backend", "eager", "--max-chars", "0"], log_path=tmp_path / "log")
    with pytest.raises(RuntimeError, match="max_chars must be an int"):
        server.start(timeout=60)
    assert server.stop() == 2
    with pytest.raises(TypeError, match="args must be a sequence"):
        ServerProcess("--backend eager")


# ----------------------------------------------------------------------------- the app


def test_answers_after_start_up_with_truncation_reported() -> None:
    long_text = "word " * 300
    (health, ready, embed, similar) = call_all(
        app_with(max_tokens=16),
        [
            ("GET", "/healthz", None),
            ("GET", "/readyz", None),
            ("POST", "/embed", {"texts": ["abc", long_text]}),
            ("POST", "/similarity", {"query": "cab", "texts": ["xyz", "abc"]}),
        ],
    )
    assert health == (200, {"status": "ok"})
    assert ready[0] == 200 and ready[1]["model"]["backend"] == "fake"
    assert len(ready[1]["model"]["warmup_ms"]) == 1
    status, body = embed
    assert status == 200
    assert body["tokens"] == [3, 16] and body["truncated"] == [False, True]
    assert body["dimensions"] == 26 and body["revision"] == "f" * 40
    assert sum(x * x for x in body["embeddings"][0]) == pytest.approx(1.0, abs=1e-5)
    status, body = similar
    assert status == 200 and body["best"] == 1 and body["scores"][1] == pytest.approx(1.0)
    assert body["query_truncated"] is False


def test_validation_errors_are_422_with_field_and_no_echo() -> None:
    answers = call_all(
        app_with(max_texts=2, max_chars=10),
        [
            ("POST", "/embed", {"texts": ["a", "b", "c"]}),
            ("POST", "/embed", {"texts": ["x" * 11]}),
            ("POST", "/embed", {"texts": ["\t \n"]}),
            ("POST", "/embed", b'{"texts": [}'),
            ("POST", "/embed", b'{"texts": ["\xe9"]}'),
            ("POST", "/similarity", {"query": 3, "texts": ["a"]}),
        ],
    )
    statuses = [status for status, _ in answers]
    assert statuses == [422, 422, 422, 422, 400, 422]
    fields = [[d["field"] for d in body["detail"]] for _, body in answers if _ == 422]
    assert fields == [["texts"], ["texts.0"], ["texts.0"], ["body"], ["query"]]
    assert "at most 2 items" in answers[0][1]["detail"][0]["message"]
    assert "x" * 11 not in json.dumps(answers[1][1])


def test_not_ready_is_503_and_a_failed_load_is_reported() -> None:
    app = create_app(ServingSettings(background_load=False, warmup_rounds=0), loader=failing_loader)
    ready, embed, health = call_all(
        app,
        [("GET", "/readyz", None), ("POST", "/embed", {"texts": ["a"]}), ("GET", "/healthz", None)],
    )
    assert ready == (503, {"status": "failed", "error": "OSError: no weights here"})
    assert embed[0] == 503 and "model is failed" in embed[1]["detail"]
    assert health[0] == 200  # alive, not ready: an orchestrator stops routing, does not restart


def test_background_load_answers_health_before_the_model_is_ready() -> None:
    import threading

    release = threading.Event()

    def slow_loader(settings: ServingSettings) -> LoadedEncoder:
        assert release.wait(10)
        return fake_loader(settings)

    app = create_app(ServingSettings(warmup_rounds=0), loader=slow_loader)

    async def main() -> list[Any]:
        async with app.router.lifespan_context(app):
            early = [await _call(app, "GET", p, b"", {}) for p in ("/healthz", "/readyz")]
            release.set()
            app.state.serving.thread.join(10)
            late = await _call(app, "GET", "/readyz", b"", {})
        return [*early, late]

    health, early, late = asyncio.run(main())
    assert health[0] == 200
    assert early == (503, {"status": "loading"})
    assert late[0] == 200
