"""The embedding service as a real process on 127.0.0.1: answers, bad input, and a load test.

The server is started by the fixture (``python -m ptm_snippets.serving --port 0``, eager
backend, real MiniLM) and always stopped by it. Every wait has a deadline.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ptm_snippets.experiments.serving_benchmark import load_test, percentile
from ptm_snippets.serving import ServerProcess, ServingSettings

pytestmark = pytest.mark.enable_socket  # a client and a server on 127.0.0.1 only

LIMITS = ServingSettings()
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("service") / "server.log"
    process = ServerProcess(["--backend", "eager", "--threads", "2"], log_path=log)
    try:
        process.start(timeout=120)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            answer = requests.get(f"{process.url}/readyz", timeout=5)
            if answer.status_code == 200:
                break
            assert answer.status_code == 503, answer.text
            assert answer.json()["status"] == "loading", answer.text
            time.sleep(0.2)
        else:
            pytest.fail(f"not ready in 120 s; log:\n{process.log()[-2000:]}")
        yield process
    finally:
        code = process.stop(timeout=20)
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it: exit code -15.
        assert code in (None, 0, -signal.SIGTERM), process.log()[-2000:]
        assert "Traceback" not in process.log(), process.log()[-2000:]


def post(server: ServerProcess, path: str, body: Any, **options: Any) -> requests.Response:
    if "data" not in options:
        options["json"] = body
    return requests.post(f"{server.url}{path}", timeout=TIMEOUT, **options)


# ----------------------------------------------------------------------------- health


def test_health_and_readiness_name_the_model(server: ServerProcess) -> None:
    from ptm_snippets.hub import MINILM, model_path

    assert requests.get(f"{server.url}/healthz", timeout=5).json() == {"status": "ok"}
    model = requests.get(f"{server.url}/readyz", timeout=5).json()["model"]
    assert model["repo_id"] == MINILM.repo_id
    assert model["revision"] == model_path(MINILM.repo_id).name
    assert model["weights_sha256"] == MINILM.files["model.safetensors"]
    assert model["backend"] == "eager" and model["dimensions"] == 384
    assert len(model["warmup_ms"]) == LIMITS.warmup_rounds


# ----------------------------------------------------------------------------- answers


def test_related_sentences_score_higher_than_unrelated(server: ServerProcess) -> None:
    answer = post(
        server,
        "/similarity",
        {
            "query": "A man is eating food.",
            "texts": ["The new movie is awesome.", "A man is eating a piece of bread."],
        },
    )
    assert answer.status_code == 200, answer.text
    scores = answer.json()["scores"]
    assert answer.json()["best"] == 1
    assert scores[1] == pytest.approx(0.755, abs=0.002)  # the published pair
    assert scores[1] > scores[0] + 0.5


def test_embeddings_are_unit_vectors_in_request_order(server: ServerProcess) -> None:
    texts = ["Where is my parcel?", "Refund please.", "Where is my parcel?"]
    body = post(server, "/embed", {"texts": texts}).json()
    vectors = body["embeddings"]
    assert len(vectors) == 3 and body["dimensions"] == 384
    for vector in vectors:
        assert sum(x * x for x in vector) == pytest.approx(1.0, abs=1e-4)
    assert vectors[0] == pytest.approx(vectors[2], abs=1e-5)
    assert body["truncated"] == [False] * 3
    raw = post(server, "/embed", {"texts": texts[:1], "normalize": False}).json()
    assert sum(x * x for x in raw["embeddings"][0]) > 1.1  # mean pooling is not unit length


def test_over_long_text_is_truncated_and_reported(server: ServerProcess) -> None:
    long_text = "The courier left the parcel at the wrong door. " * 60  # about 600 tokens
    body = post(server, "/embed", {"texts": [long_text, "hi"]}).json()
    assert body["truncated"] == [True, False]
    assert body["tokens"] == [LIMITS.max_tokens, 3]
    # Everything past the limit is ignored: the same vector as the text cut by hand.
    cut = post(server, "/embed", {"texts": [long_text[: len(long_text) // 2]]}).json()
    assert cut["truncated"] == [True]
    assert cut["embeddings"][0] == pytest.approx(body["embeddings"][0], abs=1e-5)


# ----------------------------------------------------------------------------- bad input


BAD_BODIES = [
    ({"texts": []}, "texts", "at least 1 item"),
    ({"texts": [""]}, "texts.0", "at least 1 character"),
    ({"texts": ["   "]}, "texts.0", "non-blank"),
    ({"texts": [42]}, "texts.0", "valid string"),
    ({"texts": "one string"}, "texts", "valid list"),
    ({"texts": ["ok", None]}, "texts.1", "valid string"),
    ({"text": ["typo in the field name"]}, "text", "Extra inputs"),
    ({"texts": ["x"] * (LIMITS.max_texts + 1)}, "texts", f"at most {LIMITS.max_texts} items"),
    ({"texts": ["x" * (LIMITS.max_chars + 1)]}, "texts.0", f"at most {LIMITS.max_chars}"),
    ({"texts": ["ok"], "normalize": "yes"}, "normalize", "valid boolean"),
    (["a", "list"], "body", "valid dictionary"),
]


@pytest.mark.parametrize(("body", "field", "message"), BAD_BODIES)
def test_bad_embed_bodies_get_422_naming_the_field(
    server: ServerProcess, body: Any, field: str, message: str
) -> None:
    answer = post(server, "/embed", body)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert any(d["field"] == field and message in d["message"] for d in detail), detail
    assert len(answer.content) < 2_000  # the input is not echoed back


def test_bad_similarity_bodies_get_422(server: ServerProcess) -> None:
    for body, field in [
        ({"texts": ["a"]}, "query"),
        ({"query": "", "texts": ["a"]}, "query"),
        ({"query": "a", "texts": []}, "texts"),
        ({"query": "a", "texts": ["b"] * (LIMITS.max_texts + 1)}, "texts"),
    ]:
        answer = post(server, "/similarity", body)
        assert answer.status_code == 422, (body, answer.text)
        assert field in [d["field"] for d in answer.json()["detail"]]


@pytest.mark.parametrize(
    ("raw", "headers", "status", "message"),
    [
        (b'{"texts": ["caf\xe9"]}', {"content-type": "application/json"}, 400, "parsing the body"),
        (b'{"texts": ["\xff\xfe"]}', {"content-type": "application/json"}, 400, "parsing the body"),
        (b'{"texts": ["a"', {"content-type": "application/json"}, 422, "invalid JSON"),
        (b"texts=a", {"content-type": "application/json"}, 422, "invalid JSON"),
        (b'{"texts": ["\\ud800"]}', {"content-type": "application/json"}, 422, "unicode"),
        (b'{"texts": ["a"]}', {"content-type": "text/plain"}, 422, "content-type"),
        (b"", {"content-type": "application/json"}, 422, "Field required"),
    ],
    ids=[
        "latin1",
        "invalid-bytes",
        "truncated-json",
        "not-json",
        "lone-surrogate",
        "wrong-type",
        "empty",
    ],
)
def test_raw_bodies_that_are_not_utf8_json_get_4xx(
    server: ServerProcess, raw: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    answer = post(server, "/embed", None, data=raw, headers=headers)
    assert answer.status_code == status, answer.text
    assert message in json.dumps(answer.json()["detail"])


def test_body_over_the_size_limit_gets_413(server: ServerProcess) -> None:
    text = "x" * 9_000
    body = json.dumps({"texts": [text] * 60, "padding": "y" * LIMITS.max_body_bytes})
    answer = post(server, "/embed", None, data=body, headers={"content-type": "application/json"})
    assert answer.status_code == 413, answer.text[:300]


def test_unknown_routes_and_methods_are_4xx(server: ServerProcess) -> None:
    assert requests.get(f"{server.url}/embed", timeout=5).status_code == 405
    assert requests.get(f"{server.url}/nope", timeout=5).status_code == 404


# ----------------------------------------------------------------------------- load


def test_bounded_load_no_failures_correct_answers_flat_memory(server: ServerProcess) -> None:
    pairs = [
        ("My parcel never arrived.", "The package was not delivered.", "I forgot my password."),
        ("I was charged twice.", "There are two payments on my card.", "The app crashes on start."),
        ("I cannot log in.", "My password reset link does not work.", "Where is my order?"),
    ]
    payloads = [
        {"query": q, "texts": [unrelated, related] if i % 2 else [related, unrelated]}
        for i, (q, related, unrelated) in enumerate(pairs * 67)
    ][:200]

    def correct(payload: dict[str, Any], answer: dict[str, Any]) -> bool:
        related_index = 1 if payload["texts"][0] in {p[2] for p in pairs} else 0
        return bool(answer["best"] == related_index)

    load_test(f"{server.url}/similarity", payloads[:20], clients=4, timeout=TIMEOUT)  # warm
    before = server.rss_bytes()
    start = time.monotonic()
    result = load_test(
        f"{server.url}/similarity", payloads, clients=4, timeout=TIMEOUT, check=correct
    )
    elapsed = time.monotonic() - start
    after = server.rss_bytes()
    assert result["failures"] == [], result["failures"][:3]
    assert len(result["latencies_ms"]) == 200
    assert elapsed < 120, elapsed  # 4 clients x 50 requests, bounded in time
    assert after - before < 50e6, (before, after)  # flat: less than 50 MB of growth
    assert percentile(result["latencies_ms"], 95) < 10_000
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
