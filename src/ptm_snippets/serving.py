"""A small, correct embedding service: FastAPI + uvicorn around a sentence encoder.

* :class:`ServingSettings`: every knob of the service (backend, limits, threads), checked by
  ``validate`` so a bad setting fails at start-up with a message naming it.
* :func:`create_app`: the FastAPI application. Its ``lifespan`` loads the model **once**, in a
  background thread, and warms it up; until then ``/readyz`` answers 503 while ``/healthz``
  already answers 200. ``POST /embed`` returns mean-pooled vectors, ``POST /similarity`` ranks
  texts against a query. Bad input gets a 4xx answer with a message naming the field.
* :func:`load_encoder`: the model behind the service, as eager PyTorch, ONNX float32 or ONNX
  int8 (the helpers of :mod:`ptm_snippets.compression`), loaded from safetensors with no remote
  code, and described by its hub revision and its files' sha256.
* :func:`onnx_files`: the ONNX float32 and int8 files of a model revision, exported once and
  cached.
* :func:`main`: ``python -m ptm_snippets.serving --port 8000 --backend onnx-int8`` runs it.

The policy for texts longer than the model reads: a text above ``max_chars`` characters is
refused (422, naming the text); any shorter text is cut to ``max_tokens`` tokens and the answer
says so (``truncated: true`` for that text).
"""

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

import torch
import torch.nn.functional as F

from ptm_snippets.hub import MINILM, mirror_dir, sha256_file

__all__ = [
    "BACKENDS",
    "LoadedEncoder",
    "ServerProcess",
    "ServingSettings",
    "TextEncoder",
    "create_app",
    "load_encoder",
    "main",
    "onnx_files",
    "resolve_snapshot",
    "token_counts",
]

BACKENDS: tuple[str, ...] = ("eager", "onnx", "onnx-int8")
"""The ways the service can run the model: PyTorch, ONNX Runtime float32, ONNX Runtime int8."""

# Files a BERT-family encoder needs; the hub repository may hold more (other formats, ONNX and
# OpenVINO exports, pickled weights): downloading only these skips them.
_ALLOW_PATTERNS = ("*.json", "*.txt", "*.safetensors", "1_Pooling/*")


@dataclass(frozen=True)
class ServingSettings:
    """Settings of the embedding service.

    Attributes:
        repo_id: The hub id of the encoder.
        revision: A hub revision (a commit hash in production; ``None`` follows ``main``).
        backend: One of :data:`BACKENDS`.
        model_file: The ONNX file for the ``onnx`` and ``onnx-int8`` backends; ``None`` exports
            it once into the cache of :func:`onnx_files`.
        expected_sha256: If set, the sha256 the weights file must have: any other file makes
            the service fail its readiness check instead of serving unknown weights.
        max_texts: Most texts in one request (``/embed``) or candidates (``/similarity``).
        max_chars: Longest text accepted, in characters; longer ones are refused (422).
        max_tokens: Texts are cut to this many tokens (special tokens included) and reported as
            truncated; all-MiniLM-L6-v2 was trained on at most 256.
        max_body_bytes: Largest request body; a larger one gets 413 before it is parsed.
        batch_size: Texts per forward pass inside one request.
        num_threads: Threads for one forward pass (``torch.set_num_threads`` and ONNX
            Runtime's ``intra_op_num_threads``); 0 keeps the libraries' defaults.
        warmup_rounds: Forward passes run at start-up, before ``/readyz`` says ready.
        background_load: Load in a background thread so ``/healthz`` answers at once; ``False``
            loads before the server accepts requests.
    """

    repo_id: str = MINILM.repo_id
    revision: str | None = None
    backend: str = "eager"
    model_file: str | None = None
    expected_sha256: str | None = None
    max_texts: int = 64
    max_chars: int = 10_000
    max_tokens: int = 256
    max_body_bytes: int = 1_000_000
    batch_size: int = 32
    num_threads: int = 0
    warmup_rounds: int = 3
    background_load: bool = True

    def validate(self) -> None:
        """Check every field; raise ``ValueError`` naming the first bad one and what is valid.

        Examples:
            >>> ServingSettings(backend="tensorrt").validate()
            Traceback (most recent call last):
            ...
            ValueError: backend must be one of ('eager', 'onnx', 'onnx-int8'), got 'tensorrt'
            >>> ServingSettings(max_tokens=1024).validate()
            Traceback (most recent call last):
            ...
            ValueError: max_tokens must be an int in [2, 512], got 1024
        """
        if not isinstance(self.repo_id, str) or self.repo_id.count("/") != 1:
            raise ValueError(f"repo_id must look like 'org/name', got {self.repo_id!r}")
        if self.revision is not None and (not isinstance(self.revision, str) or not self.revision):
            raise ValueError(f"revision must be None or a non-empty string, got {self.revision!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.model_file is not None:
            if self.backend == "eager":
                raise ValueError(
                    "model_file must be None for the eager backend (it is an ONNX file)"
                )
            if not str(self.model_file).endswith(".onnx"):
                raise ValueError(f"model_file must end in .onnx, got {self.model_file!r}")
        if self.expected_sha256 is not None and (
            not isinstance(self.expected_sha256, str)
            or len(self.expected_sha256) != 64
            or any(c not in "0123456789abcdef" for c in self.expected_sha256)
        ):
            raise ValueError(
                f"expected_sha256 must be None or 64 lower-case hex digits, got {self.expected_sha256!r}"
            )
        limits = {
            "max_texts": (1, 10_000),
            "max_chars": (1, 10_000_000),
            "max_tokens": (2, 512),
            "max_body_bytes": (1_024, 1_000_000_000),
            "batch_size": (1, 4_096),
            "num_threads": (0, 1_024),
            "warmup_rounds": (0, 1_000),
        }
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an int in [{low}, {high}], got {value!r}")
        if not isinstance(self.background_load, bool):
            raise ValueError(f"background_load must be a bool, got {self.background_load!r}")


# ----------------------------------------------------------------------------- the model


class TextEncoder(Protocol):
    """What the service needs from a model: a tokenizer and ``encode(texts) -> (n, dim)``."""

    tokenizer: Any

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """One float32 vector per text."""


@dataclass
class LoadedEncoder:
    """An encoder ready to serve, and what the service reports about it.

    Attributes:
        encoder: The model behind ``encode``.
        info: JSON-ready facts: hub id, revision, backend, files and their sha256.
    """

    encoder: TextEncoder
    info: dict[str, Any] = field(default_factory=dict)


def resolve_snapshot(repo_id: str, revision: str | None = None) -> Path:
    """The local folder of one revision of a hub repository, downloaded if needed.

    Only the files an encoder needs are fetched (configs, vocabulary, safetensors weights); with
    ``HF_HUB_OFFLINE=1`` the cached snapshot is used. The folder's name is the revision's commit
    hash, which is what a service should report and pin.

    Raises:
        ValueError: If ``repo_id`` does not look like ``org/name``.

    Examples:
        >>> folder = resolve_snapshot("sentence-transformers/all-MiniLM-L6-v2")
        >>> len(folder.name), (folder / "model.safetensors").is_file()
        (40, True)
    """
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise ValueError(f"repo_id must look like 'org/name', got {repo_id!r}")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, revision=revision, allow_patterns=list(_ALLOW_PATTERNS)))


def onnx_files(
    folder: Path, cache_dir: Path | None = None, *, log: Callable[[str], None] = lambda _: None
) -> dict[str, Path]:
    """The ONNX float32 and int8 files of the model in ``folder``, exported once and cached.

    The cache key is the snapshot's revision (the folder name) and the torch version that
    exported it, so a new revision or a new exporter gives new files. Each file is written under
    a temporary name and renamed into place, so two servers starting at once never read half a
    file. Export uses :func:`ptm_snippets.compression.export_onnx` and
    :func:`ptm_snippets.compression.quantize_onnx_int8`.

    Args:
        folder: A snapshot folder (see :func:`resolve_snapshot`).
        cache_dir: Where to keep the files; default ``<mirror>/onnx``.
        log: Called with a line when a file is exported.

    Returns:
        ``{"onnx": float32 path, "onnx-int8": int8 path}``.

    Raises:
        FileNotFoundError: If ``folder`` has no ``config.json``.

    Examples:
        >>> onnx_files(Path("no/such/snapshot"))
        Traceback (most recent call last):
        ...
        FileNotFoundError: folder must be a model snapshot with a config.json, got 'no/such/snapshot'
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"folder must be a model snapshot with a config.json, got {str(folder)!r}"
        )
    base = Path(cache_dir) if cache_dir is not None else mirror_dir() / "onnx"
    target = base / folder.name / f"torch-{torch.__version__.split('+')[0]}"
    paths = {"onnx": target / "model.onnx", "onnx-int8": target / "model-int8.onnx"}
    if all(p.is_file() for p in paths.values()):
        return paths
    from transformers import AutoModel, AutoTokenizer

    from ptm_snippets.compression import export_onnx, quantize_onnx_int8

    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".export-") as scratch:
        if not paths["onnx"].is_file():
            log(f"exporting {folder.name} to ONNX")
            model = AutoModel.from_pretrained(folder, use_safetensors=True).eval()
            tokenizer = AutoTokenizer.from_pretrained(folder)
            os.replace(export_onnx(model, tokenizer, Path(scratch) / "model.onnx"), paths["onnx"])
        if not paths["onnx-int8"].is_file():
            log("quantizing to int8")
            int8 = quantize_onnx_int8(paths["onnx"], Path(scratch) / "model-int8.onnx")
            os.replace(int8, paths["onnx-int8"])
    return paths


def load_encoder(settings: ServingSettings) -> LoadedEncoder:
    """Load the settings' model safely, on its backend, with its thread count.

    Weights come only from safetensors files (``use_safetensors=True``: a repository that has
    only pickled weights fails instead of unpickling them) and no code from the repository runs
    (``trust_remote_code=False``). The returned ``info`` names the revision (the snapshot's
    commit hash) and the sha256 of the weights (and of the ONNX file), so ``/readyz`` says
    exactly which model answers.

    Raises:
        ValueError: If a setting is out of range, or ``expected_sha256`` is set and the weights
            file has another hash.

    Examples:
        >>> loaded = load_encoder(ServingSettings())
        >>> loaded.info["backend"], loaded.info["dimensions"], loaded.info["weights_sha256"][:12]
        ('eager', 384, '53aa51172d14')
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ptm_snippets.compression import OnnxEncoder, TorchEncoder

    settings.validate()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    folder = resolve_snapshot(settings.repo_id, settings.revision)
    weights = folder / "model.safetensors"
    digest = sha256_file(weights)
    if settings.expected_sha256 is not None and digest != settings.expected_sha256:
        raise ValueError(
            f"expected_sha256 is {settings.expected_sha256[:16]}..., but {weights.name} of "
            f"revision {folder.name[:12]} has {digest[:16]}...: refusing to serve other weights"
        )
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    info: dict[str, Any] = {
        "repo_id": settings.repo_id,
        "revision": folder.name,
        "backend": settings.backend,
        "weights_file": weights.name,
        "weights_sha256": digest,
        "max_tokens": settings.max_tokens,
        "threads": settings.num_threads or torch.get_num_threads(),
    }
    encoder: TextEncoder
    if settings.backend == "eager":
        model = AutoModel.from_pretrained(folder, use_safetensors=True, trust_remote_code=False)
        encoder = TorchEncoder(
            model, tokenizer, max_length=settings.max_tokens, batch_size=settings.batch_size
        )
        info["dimensions"] = int(model.config.hidden_size)
    else:
        path = (
            Path(settings.model_file)
            if settings.model_file is not None
            else onnx_files(folder)[settings.backend]
        )
        encoder = OnnxEncoder(
            path,
            tokenizer,
            max_length=settings.max_tokens,
            batch_size=settings.batch_size,
            num_threads=settings.num_threads,
        )
        info["model_file"] = path.name
        info["model_file_sha256"] = sha256_file(path)
        info["dimensions"] = int(encoder.encode(["dimension probe"]).shape[1])
    return LoadedEncoder(encoder, info)


def token_counts(tokenizer: Any, texts: Sequence[str], limit: int) -> list[int]:
    """Tokens per text with special tokens, counted up to ``limit + 1`` (enough to see a cut).

    Counting stops just past the limit, so a 10,000-character text costs no more than a short
    one and the tokenizer never warns about lengths beyond the model's.

    Examples:
        >>> from transformers import AutoTokenizer
        >>> tokenizer = AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
        >>> token_counts(tokenizer, ["Where is my parcel?", "parcel " * 100], limit=16)
        [7, 17]
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string: wrap it in [ ]")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 2:
        raise ValueError(f"limit must be an int >= 2, got {limit!r}")
    if not texts:
        return []
    ids = tokenizer(list(texts), truncation=True, max_length=limit + 1)["input_ids"]
    return [len(row) for row in ids]


# ----------------------------------------------------------------------------- the app


class _State:
    """What the request handlers share: the loaded model, its readiness, and one lock."""

    def __init__(self) -> None:
        self.status = "loading"
        self.error = ""
        self.loaded: LoadedEncoder | None = None
        self.lock = threading.Lock()  # one forward pass at a time: the cores are shared
        self.thread: threading.Thread | None = None


def _warm_up(loaded: LoadedEncoder, settings: ServingSettings) -> list[float]:
    """Run the model on short and long inputs; return each round's milliseconds."""
    texts = ["warm-up", "A longer warm-up sentence, so that bigger shapes are seen too. " * 4]
    timings = []
    for _ in range(settings.warmup_rounds):
        start = time.perf_counter()
        loaded.encoder.encode(texts)
        timings.append(round((time.perf_counter() - start) * 1000, 2))
    return timings


def _load(
    state: _State, settings: ServingSettings, loader: Callable[[ServingSettings], LoadedEncoder]
) -> None:
    try:
        start = time.perf_counter()
        loaded = loader(settings)
        loaded.info["load_seconds"] = round(time.perf_counter() - start, 2)
        loaded.info["warmup_ms"] = _warm_up(loaded, settings)
        state.loaded = loaded
        state.status = "ready"
    except Exception as error:  # reported by /readyz; the process stays up to say why
        state.error = f"{type(error).__name__}: {error}"
        state.status = "failed"


def _field_name(location: Sequence[Any]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def create_app(
    settings: ServingSettings | None = None,
    *,
    loader: Callable[[ServingSettings], LoadedEncoder] = load_encoder,
) -> Any:
    """Build the FastAPI application of the embedding service.

    Routes:

    * ``GET /healthz``: 200 ``{"status": "ok"}`` while the process serves requests (liveness).
    * ``GET /readyz``: 200 with the model's id, revision, backend and file hashes once it is
      loaded and warmed up; 503 with ``"loading"`` or ``"failed"`` and the error before that.
    * ``POST /embed`` ``{"texts": [...], "normalize": true}``: one vector per text, the tokens
      each text used and whether it was truncated.
    * ``POST /similarity`` ``{"query": "...", "texts": [...]}``: the cosine similarity of the
      query to each text and the index of the best match.

    Bad input never reaches the model: 422 (with ``detail``: a list of ``field`` and
    ``message``) for wrong types, missing or unknown fields, empty or blank texts, too many
    texts, texts over ``max_chars`` and malformed JSON; 400 for a body that is not UTF-8; 413 (plain
    text, from FastAPI's ``max_body_size``) for a body over ``max_body_bytes``; 503 while the
    model loads.

    Args:
        settings: The service's settings (validated here); default :class:`ServingSettings`.
        loader: Builds the model from the settings; tests pass a small fake.

    Returns:
        A ``fastapi.FastAPI`` application; run it with uvicorn (see :func:`main`).

    Raises:
        ValueError: If a setting is out of range.
        TypeError: If ``settings`` is not a :class:`ServingSettings`.

    Examples:
        >>> app = create_app(ServingSettings(max_texts=8))
        >>> sorted(r.path for r in app.routes if r.path.startswith("/") and "doc" not in r.path)
        ['/embed', '/healthz', '/openapi.json', '/readyz', '/similarity']
        >>> create_app(ServingSettings(max_texts=0))
        Traceback (most recent call last):
        ...
        ValueError: max_texts must be an int in [1, 10000], got 0
    """
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

    config = ServingSettings() if settings is None else settings
    if not isinstance(config, ServingSettings):
        raise TypeError(f"settings must be a ServingSettings, got {type(config).__name__}")
    config.validate()
    state = _State()

    def _not_blank(text: str) -> str:
        if not text.strip():
            raise ValueError("text must contain at least one non-blank character")
        return text

    # A text: a JSON string (no numbers turned into strings), 1 to max_chars characters, not
    # all blanks. Lone surrogates ("\ud800", legal JSON escapes) are refused by pydantic itself.
    Text = Annotated[  # a type, built from the settings
        str,
        StringConstraints(strict=True, min_length=1, max_length=config.max_chars),
        AfterValidator(_not_blank),
    ]

    class EmbedRequest(BaseModel):
        """Texts to embed."""

        model_config = ConfigDict(extra="forbid")
        texts: list[Text] = Field(min_length=1, max_length=config.max_texts)
        normalize: StrictBool = True

    class SimilarityRequest(BaseModel):
        """A query and the texts to compare it with."""

        model_config = ConfigDict(extra="forbid")
        query: Text
        texts: list[Text] = Field(min_length=1, max_length=config.max_texts)

    class EmbedResponse(BaseModel):
        """Vectors, in request order, and how each text was read."""

        model: str
        revision: str
        backend: str
        dimensions: int
        embeddings: list[list[float]]
        tokens: list[int]
        truncated: list[bool]

    class SimilarityResponse(BaseModel):
        """Cosine similarity of the query to each text, in request order."""

        model: str
        revision: str
        scores: list[float]
        best: int
        query_truncated: bool
        truncated: list[bool]

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        if config.background_load:
            state.thread = threading.Thread(
                target=_load, args=(state, config, loader), name="load-model", daemon=True
            )
            state.thread.start()
        else:
            _load(state, config, loader)
        yield

    app = FastAPI(
        title="Sentence embeddings",
        version="1",
        lifespan=lifespan,
        max_body_size=config.max_body_bytes,
    )
    app.state.settings = config
    app.state.serving = state

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's default answer echoes the input back (a 10,000-character text, a list of
        # a thousand texts); this one names each field and what is wrong with it.
        json_body = "json" in request.headers.get("content-type", "")
        detail = []
        for e in error.errors():
            location, message = e.get("loc", ()), str(e.get("msg", ""))
            if e.get("type") == "json_invalid":
                location = ("body",)
                message = (
                    f"invalid JSON at character {e['loc'][-1]}: {e.get('ctx', {}).get('error', '')}"
                )
            elif tuple(location) == ("body",) and not json_body:
                message = "body must be a JSON object sent with content-type: application/json"
            detail.append({"field": _field_name(location), "message": message})
        return JSONResponse({"detail": detail}, status_code=422)

    def ready_encoder() -> LoadedEncoder:
        if state.status != "ready" or state.loaded is None:
            raise HTTPException(
                status_code=503,
                detail=f"model is {state.status}; ask /readyz",
                headers={"Retry-After": "1"},
            )
        return state.loaded

    def run(texts: list[str]) -> tuple[torch.Tensor, list[int]]:
        loaded = ready_encoder()
        with state.lock:
            counts = token_counts(loaded.encoder.tokenizer, texts, config.max_tokens)
            vectors = loaded.encoder.encode(texts)
        return vectors, counts

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        if state.status == "ready" and state.loaded is not None:
            return JSONResponse({"status": "ready", "model": state.loaded.info})
        body = (
            {"status": state.status, "error": state.error}
            if state.error
            else {"status": state.status}
        )
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    @app.post("/embed")
    def embed(request: EmbedRequest) -> EmbedResponse:
        vectors, counts = run(request.texts)
        if request.normalize:
            vectors = F.normalize(vectors, dim=-1)
        info = ready_encoder().info
        return EmbedResponse(
            model=info["repo_id"],
            revision=info["revision"],
            backend=info["backend"],
            dimensions=int(vectors.shape[1]),
            embeddings=vectors.tolist(),
            tokens=[min(c, config.max_tokens) for c in counts],
            truncated=[c > config.max_tokens for c in counts],
        )

    @app.post("/similarity")
    def similarity(request: SimilarityRequest) -> SimilarityResponse:
        vectors, counts = run([request.query, *request.texts])
        unit = F.normalize(vectors, dim=-1)
        scores = (unit[1:] @ unit[0]).tolist()
        info = ready_encoder().info
        return SimilarityResponse(
            model=info["repo_id"],
            revision=info["revision"],
            scores=[round(s, 6) for s in scores],
            best=max(range(len(scores)), key=scores.__getitem__),
            query_truncated=counts[0] > config.max_tokens,
            truncated=[c > config.max_tokens for c in counts[1:]],
        )

    return app


# ----------------------------------------------------------------------------- serve


def _parser() -> argparse.ArgumentParser:
    defaults = ServingSettings()
    parser = argparse.ArgumentParser(
        prog="python -m ptm_snippets.serving",
        description="Serve sentence embeddings over HTTP (FastAPI + uvicorn).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one")
    parser.add_argument("--backend", choices=BACKENDS, default=defaults.backend)
    parser.add_argument("--model-file", default=None, help="ONNX file for the onnx backends")
    parser.add_argument("--repo-id", default=defaults.repo_id)
    parser.add_argument("--revision", default=None, help="hub revision (commit hash) to pin")
    parser.add_argument("--expected-sha256", default=None, help="refuse other weights")
    parser.add_argument("--max-texts", type=int, default=defaults.max_texts)
    parser.add_argument("--max-chars", type=int, default=defaults.max_chars)
    parser.add_argument("--max-tokens", type=int, default=defaults.max_tokens)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--threads", type=int, default=defaults.num_threads)
    parser.add_argument("--warmup-rounds", type=int, default=defaults.warmup_rounds)
    parser.add_argument("--log-level", default="warning", help="uvicorn's log level")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service with uvicorn until interrupted (SIGINT or SIGTERM: graceful stop).

    The first line on standard output is ``serving on http://HOST:PORT``, with the real port
    when ``--port 0`` asked for a free one. Set ``OMP_WAIT_POLICY=PASSIVE`` in the environment
    when the machine is shared (PyTorch reads it when it starts).

    Returns:
        0 after a clean shutdown.

    Examples:
        >>> main(["--backend", "onnx", "--model-file", "model.bin"])
        Traceback (most recent call last):
        ...
        SystemExit: 2
    """
    import uvicorn

    args = _parser().parse_args(argv)
    settings = ServingSettings(
        repo_id=args.repo_id,
        revision=args.revision,
        backend=args.backend,
        model_file=args.model_file,
        expected_sha256=args.expected_sha256,
        max_texts=args.max_texts,
        max_chars=args.max_chars,
        max_tokens=args.max_tokens,
        batch_size=args.batch_size,
        num_threads=args.threads,
        warmup_rounds=args.warmup_rounds,
    )
    try:
        settings.validate()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    app = create_app(settings)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)  # connections wait in the queue until uvicorn accepts them
    port = sock.getsockname()[1]
    print(f"serving on http://{args.host}:{port}", flush=True)
    config = uvicorn.Config(app, log_level=args.log_level, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


class ServerProcess:
    """The service in a child process (``python -m ptm_snippets.serving``), for tests and demos.

    :meth:`start` launches it on a free port of 127.0.0.1 and waits (with a deadline) for the
    line that names its address; the model then loads in the background, so poll ``/readyz``.
    :meth:`stop` sends SIGTERM (uvicorn's graceful shutdown), waits, and kills the process if it
    does not exit in time. Standard output and error go to ``log_path``.

    Args:
        args: Extra command-line options, e.g. ``["--backend", "onnx-int8"]``.
        log_path: File for the server's output; default a temporary file.
        env: Extra environment variables; ``OMP_WAIT_POLICY=PASSIVE`` is set unless given.

    Examples:
        >>> server = ServerProcess(["--max-texts", "0"])
        >>> server.start(timeout=60)
        Traceback (most recent call last):
        ...
        RuntimeError: the server exited with code 2 before serving: error: max_texts must be an int in [1, 10000], got 0
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        log_path: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        if isinstance(args, str):
            raise TypeError("args must be a sequence of strings, not one string")
        self.args = [str(a) for a in args]
        if log_path is None:
            fd, raw = tempfile.mkstemp(prefix="ptm-serving-", suffix=".log")
            os.close(fd)
            log_path = raw
        self.log_path = Path(log_path)
        self.env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def log(self) -> str:
        """The server's output so far."""
        return (
            self.log_path.read_text(encoding="utf-8", errors="replace")
            if self.log_path.is_file()
            else ""
        )

    def start(self, timeout: float = 120.0) -> str:
        """Launch the server and return its base URL once it listens.

        Raises:
            RuntimeError: If the process exits first, or ``timeout`` seconds pass.
        """
        if self.process is not None:
            raise RuntimeError("start must be called once; this server was already started")
        command = [sys.executable, "-m", "ptm_snippets.serving", "--port", "0", *self.args]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log().splitlines():
                if line.startswith("serving on "):
                    self.url = line.split()[-1]
                    return self.url
            code = self.process.poll()
            if code is not None:
                tail = self.log().strip().splitlines()[-1:] or [""]
                raise RuntimeError(f"the server exited with code {code} before serving: {tail[0]}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"the server did not listen within {timeout} s; log: {self.log()[-500:]}"
        )

    def stop(self, timeout: float = 20.0) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` s); return its exit code.

        uvicorn finishes the requests in flight, runs the lifespan's shutdown, then re-raises
        SIGTERM, so a clean stop returns ``-15`` (``-signal.SIGTERM``).
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        return self.process.returncode

    def rss_bytes(self) -> int:
        """The server process's resident memory now (needs ``psutil``)."""
        import psutil  # type: ignore[import-untyped]

        if self.process is None:
            raise RuntimeError("the server is not started")
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def __enter__(self) -> "ServerProcess":
        """Start on entry."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop on exit, whatever happened."""
        self.stop()


if __name__ == "__main__":
    raise SystemExit(main())
