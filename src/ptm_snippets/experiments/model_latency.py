"""Model latency: CPU time of a forward pass, and of one generated token, for real-size models.

Every model runs in one process, on ``num_threads`` CPU threads, under
``torch.inference_mode``. Two of them carry their real pre-trained weights (all-MiniLM-L6-v2
and SmolLM2-135M-Instruct, from the offline mirror). The others are built at their published
sizes (:func:`ptm_snippets.inspector.resolve_config`) with seeded random weights: the time a
forward pass takes depends on the shapes of the tensors, not on the values in them, so their
timings are those of the real checkpoints, while their outputs mean nothing.

Two phases are timed:

- ``forward``: one pass over a batch of ``batch_size`` inputs of ``seq_len`` tokens. For an
  encoder that is the whole job (classification, embedding). For a decoder it is the *prefill*
  of a prompt, with the output layer applied to the last position only. For an
  encoder-decoder it is the encoder plus the decoder's first step.
- ``decode``: one more token for a generating model (batch 1) that already holds a key/value
  cache of ``seq_len`` tokens: the cost of each word of an answer.

Models are interleaved: each repeat visits them in a fresh seeded order, so a burst of load
from other processes spreads over all of them instead of landing on one. The first
``warmup`` repeats are not recorded. Each row holds the median and the quartiles of the
recorded times.

The published run uses one torch thread and times the CPU time of that thread
(``time.thread_time``). With one thread, that is all the work a pass does, and it leaves out the
time the thread spent waiting for a core: on a shared machine, elapsed time measures the other
processes as much as the model. It is what the pass would take on a core of its own. Elapsed
(wall-clock) medians are recorded next to it (``wall_median_ms``).

Run it with ``python -m ptm_snippets.experiments model_latency``.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ptm_snippets.experiments.runner import Experiment, Progress, register
from ptm_snippets.hub import MINILM, REAL_MODELS, SMOLLM2, verify_package
from ptm_snippets.inspector import inspect_config, resolve_config

__all__ = [
    "EXPERIMENT",
    "FAST",
    "FULL",
    "LABELS",
    "ModelLatencyConfig",
    "plot",
    "run",
    "summarize",
]

LABELS: dict[str, str] = {
    MINILM.repo_id: "MiniLM-L6",
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2": "multilingual MiniLM-L12",
    "distilbert/distilbert-base-uncased": "DistilBERT",
    "google-bert/bert-base-uncased": "BERT-base",
    "FacebookAI/roberta-base": "RoBERTa-base",
    "google-t5/t5-small": "T5-small",
    "openai-community/gpt2": "GPT-2",
    SMOLLM2.repo_id: "SmolLM2-135M",
}
"""Short names for the figure and the tables, by hub id."""


@dataclass(frozen=True)
class ModelLatencyConfig:
    """Settings of the latency experiment.

    Attributes:
        models: Hub ids. Ids the mirror serves with real weights load them; every other id is
            built at its published size with random weights (seeded).
        shapes: ``(batch_size, seq_len)`` pairs timed in the ``forward`` phase.
        decode_contexts: Cache lengths at which one generated token is timed (batch 1); each
            must be a ``seq_len`` of a batch-1 shape, whose prefill builds the cache.
        decode_steps: Tokens generated (and timed) after each such prefill.
        repeats: Recorded passes over every model and shape.
        warmup: Unrecorded passes before them.
        num_threads: ``torch.set_num_threads`` during the run; 0 keeps torch's default.
        clock: ``"thread"`` times the CPU time of the calling thread (``time.thread_time``),
            which with one torch thread is all the work and leaves out the time spent waiting
            for a core on a busy machine; ``"wall"`` times elapsed time (``perf_counter``).
            Rows carry the chosen clock in ``median_ms`` and the wall clock in
            ``wall_median_ms`` either way.
        seeds: One seed: random weights, token ids and the visiting order.
    """

    models: tuple[str, ...] = tuple(LABELS)
    shapes: tuple[tuple[int, int], ...] = ((1, 16), (1, 128), (1, 512), (8, 16), (8, 128))
    decode_contexts: tuple[int, ...] = (16, 128, 512)
    decode_steps: int = 8
    repeats: int = 5
    warmup: int = 1
    num_threads: int = 1
    clock: str = "thread"
    seeds: tuple[int, ...] = (0,)

    def validate(self) -> None:
        """Check every field; raise ``ValueError`` naming the first bad one and what is valid.

        Examples:
            >>> ModelLatencyConfig(shapes=((1, 0),)).validate()
            Traceback (most recent call last):
            ...
            ValueError: shapes must be non-empty (batch_size, seq_len) pairs with batch_size in [1, 64] and seq_len in [1, 512], got ((1, 0),)
        """
        if not self.models or len(set(self.models)) != len(self.models):
            raise ValueError(f"models must be non-empty hub ids without repeats, got {self.models}")
        for model in self.models:
            if not isinstance(model, str) or model.count("/") != 1:
                raise ValueError(f"models must hold hub ids like 'org/name', got {model!r}")
        if (
            not self.shapes
            or len(set(self.shapes)) != len(self.shapes)
            or any(
                not (isinstance(s, tuple) and len(s) == 2)
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in s)
                or not 1 <= s[0] <= 64
                or not 1 <= s[1] <= 512
                for s in self.shapes
            )
        ):
            raise ValueError(
                "shapes must be non-empty (batch_size, seq_len) pairs with batch_size in [1, 64] "
                f"and seq_len in [1, 512], got {self.shapes}"
            )
        single = {length for batch, length in self.shapes if batch == 1}
        if any(c not in single for c in self.decode_contexts):
            raise ValueError(
                f"decode_contexts must be seq_lens of batch-1 shapes {sorted(single)}, "
                f"got {self.decode_contexts}"
            )
        if self.decode_contexts and self.decode_steps < 1:
            raise ValueError(f"decode_steps must be at least 1, got {self.decode_steps}")
        if self.repeats < 2:
            raise ValueError(
                f"repeats must be at least 2 (a median needs them), got {self.repeats}"
            )
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        if self.num_threads < 0:
            raise ValueError(
                f"num_threads must be >= 0 (0: torch's default), got {self.num_threads}"
            )
        if self.clock not in ("thread", "wall"):
            raise ValueError(f"clock must be 'thread' or 'wall', got {self.clock!r}")
        if self.clock == "thread" and self.num_threads != 1:
            raise ValueError(
                "clock 'thread' needs num_threads=1 (other threads' work would not be counted), "
                f"got num_threads={self.num_threads}"
            )
        if len(self.seeds) != 1 or self.seeds[0] < 0:
            raise ValueError(f"seeds must hold exactly one non-negative seed, got {self.seeds}")


FULL = ModelLatencyConfig()
"""The published run: eight models, five shapes, three decode contexts, five repeats, 1 thread."""

FAST = ModelLatencyConfig(
    models=(MINILM.repo_id, "openai-community/gpt2"),
    shapes=((1, 8), (1, 64)),
    decode_contexts=(64,),
    decode_steps=3,
    repeats=3,
    warmup=1,
)
"""The test suite's run: MiniLM (real) and GPT-2's size (random), two short lengths."""


# ----------------------------------------------------------------------------- models


@dataclass
class _Subject:
    repo_id: str
    kind: str
    weights: str
    parameters: int
    non_embedding_parameters: int
    model: torch.nn.Module
    vocab_size: int
    start_id: int


def _load(repo_id: str, seed: int) -> _Subject:
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    report = inspect_config(repo_id)
    auto = {
        "encoder": AutoModel,
        "decoder": AutoModelForCausalLM,
        "encoder-decoder": AutoModelForSeq2SeqLM,
    }[report.kind]
    if repo_id in REAL_MODELS:
        verify_package(REAL_MODELS[repo_id], log=lambda _: None)  # names a missing package
        model = auto.from_pretrained(repo_id)
        weights = "pretrained"
    else:
        torch.manual_seed(seed)
        model = auto.from_config(resolve_config(repo_id))  # type: ignore[no-untyped-call]
        weights = "random"
    model.eval()
    return _Subject(
        repo_id=repo_id,
        kind=report.kind,
        weights=weights,
        parameters=report.parameters,
        non_embedding_parameters=report.non_embedding_parameters,
        model=model,
        vocab_size=report.vocab_size,
        start_id=int(getattr(model.config, "decoder_start_token_id", None) or 0),
    )


def _inputs(subject: _Subject, batch: int, length: int, generator: torch.Generator) -> Any:
    # Ordinary token ids from the middle of the vocabulary; padding-free, as a full batch is.
    low, high = min(1000, subject.vocab_size // 4), min(20000, subject.vocab_size)
    ids = torch.randint(low, high, (batch, length), generator=generator)
    inputs: dict[str, Any] = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if subject.kind == "encoder-decoder":
        inputs["decoder_input_ids"] = torch.full((batch, 1), subject.start_id)
    elif subject.kind == "decoder":
        inputs["logits_to_keep"] = 1
    return inputs


_Times = tuple[float, float]  # (chosen clock, wall clock), milliseconds


def _now(clock: str) -> tuple[float, float]:
    return (time.thread_time() if clock == "thread" else time.perf_counter()), time.perf_counter()


def _since(start: tuple[float, float], clock: str) -> _Times:
    now = _now(clock)
    return (now[0] - start[0]) * 1000, (now[1] - start[1]) * 1000


def _time_forward(
    subject: _Subject, inputs: Any, use_cache: bool, clock: str
) -> tuple[_Times, Any]:
    if subject.kind != "encoder":
        inputs = {**inputs, "use_cache": use_cache}
    start = _now(clock)
    output = subject.model(**inputs)
    return _since(start, clock), output


def _time_decode(
    subject: _Subject, inputs: Any, output: Any, steps: int, clock: str
) -> list[_Times]:
    """Generate ``steps`` greedy tokens after a prefill; return each step's milliseconds."""
    from transformers.modeling_outputs import BaseModelOutput

    times: list[_Times] = []
    cache = output.cache
    token = output.logits[:, -1:].argmax(-1)
    encoder_outputs = (
        BaseModelOutput(last_hidden_state=output.encoder_last_hidden_state)
        if subject.kind == "encoder-decoder"
        else None
    )
    for _ in range(steps):
        start = _now(clock)
        if encoder_outputs is not None:
            output = subject.model(
                encoder_outputs=encoder_outputs,
                attention_mask=inputs["attention_mask"],
                decoder_input_ids=token,
                cache=cache,
                use_cache=True,
            )
        else:
            output = subject.model(input_ids=token, cache=cache, use_cache=True, logits_to_keep=1)
        times.append(_since(start, clock))
        cache = output.cache
        token = output.logits[:, -1:].argmax(-1)
    return times


# ----------------------------------------------------------------------------- run


def _row(
    subject: _Subject, phase: str, batch: int, length: int, timed: list[_Times]
) -> dict[str, Any]:
    samples = [t[0] for t in timed]
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    row: dict[str, Any] = {
        "model": subject.repo_id,
        "label": LABELS.get(subject.repo_id, subject.repo_id),
        "kind": subject.kind,
        "weights": subject.weights,
        "parameters": subject.parameters,
        "non_embedding_parameters": subject.non_embedding_parameters,
        "phase": phase,
        "batch_size": batch,
        "seq_len": length,
        "median_ms": round(median, 3),
        "q1_ms": round(q1, 3),
        "q3_ms": round(q3, 3),
        "min_ms": round(min(samples), 3),
        "wall_median_ms": round(statistics.median(t[1] for t in timed), 3),
        "samples": len(samples),
    }
    if phase == "forward":
        row["sequences_per_s"] = round(1000 * batch / median, 2)
        row["tokens_per_s"] = round(1000 * batch * length / median, 1)
    else:
        row["tokens_per_s"] = round(1000 / median, 2)
    return row


def run(config: ModelLatencyConfig, progress: Progress) -> list[dict[str, Any]]:
    """Time every model at every shape; return one row per model, phase and shape.

    Each row has ``model``, ``label``, ``kind``, ``weights`` (``pretrained`` or ``random``),
    ``parameters``, ``non_embedding_parameters``, ``phase`` (``forward`` or ``decode``),
    ``batch_size``, ``seq_len`` (for ``decode``: the cache length), ``median_ms``, ``q1_ms``,
    ``q3_ms``, ``min_ms`` (all on ``config.clock``), ``wall_median_ms``, ``samples``,
    ``tokens_per_s`` and, for ``forward``, ``sequences_per_s``.

    Raises:
        ValueError: If the configuration is out of range.
        ptm_snippets.hub.MirrorError: If real weights are needed and not installed.
    """
    config.validate()
    seed = config.seeds[0]
    threads_before = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        subjects = [_load(repo_id, seed) for repo_id in config.models]
        decoding = [s for s in subjects if s.kind != "encoder"]
        per_pass = len(subjects) * len(config.shapes) + len(decoding) * len(config.decode_contexts)
        progress.reset(total=(config.warmup + config.repeats) * per_pass)
        generator = torch.Generator().manual_seed(seed)
        order_rng = random.Random(seed)
        forward: dict[tuple[str, int, int], list[_Times]] = {}
        decode: dict[tuple[str, int], list[_Times]] = {}
        with torch.inference_mode():
            for repeat in range(config.warmup + config.repeats):
                record = repeat >= config.warmup
                order = list(subjects)
                order_rng.shuffle(order)
                for subject in order:
                    progress.set_postfix_str(f"{LABELS.get(subject.repo_id, subject.repo_id)}")
                    for batch, length in config.shapes:
                        inputs = _inputs(subject, batch, length, generator)
                        then_decode = (
                            subject.kind != "encoder"
                            and batch == 1
                            and length in config.decode_contexts
                        )
                        ms, output = _time_forward(
                            subject, inputs, use_cache=then_decode, clock=config.clock
                        )
                        if record:
                            forward.setdefault((subject.repo_id, batch, length), []).append(ms)
                        progress.update(1)
                        if then_decode:
                            steps = _time_decode(
                                subject, inputs, output, config.decode_steps, config.clock
                            )
                            if record:
                                decode.setdefault((subject.repo_id, length), []).extend(steps)
                            progress.update(1)
                        del output
    finally:
        torch.set_num_threads(threads_before)
    by_id = {s.repo_id: s for s in subjects}
    rows = [
        _row(by_id[repo_id], "forward", batch, length, samples)
        for (repo_id, batch, length), samples in forward.items()
    ]
    rows += [
        _row(by_id[repo_id], "decode", 1, length, samples)
        for (repo_id, length), samples in decode.items()
    ]
    rank = {repo_id: i for i, repo_id in enumerate(config.models)}
    rows.sort(
        key=lambda r: (rank[r["model"]], r["phase"] != "forward", r["batch_size"], r["seq_len"])
    )
    return rows


# ----------------------------------------------------------------------------- summary


def summarize(
    rows: list[dict[str, Any]], config: ModelLatencyConfig | None = None
) -> dict[str, Any]:
    """Tables by model label, and the ratios the lesson reads.

    ``forward_ms[label]["BxL"]`` and ``decode_ms[label][str(L)]`` hold medians;
    ``length_growth[label]`` is the batch-1 median at the longest length over the one at the
    next-longest, next to the ratio of the lengths (equal ratios: linear growth);
    ``batching_gain[label][str(L)]`` is the largest batch's throughput (sequences a second)
    over batch 1's at length ``L``.

    Examples:
        >>> rows = [{"label": "m", "phase": "forward", "batch_size": b, "seq_len": n,
        ...          "median_ms": ms, "sequences_per_s": 1000 * b / ms}
        ...         for b, n, ms in [(1, 16, 10.0), (1, 128, 40.0), (8, 128, 160.0)]]
        >>> s = summarize(rows)
        >>> s["length_growth"]["m"], s["batching_gain"]["m"]
        ({'from': 16, 'to': 128, 'length_ratio': 8.0, 'time_ratio': 4.0}, {'128': {'batch_size': 8, 'gain': 2.0}})
    """
    forward: dict[str, dict[str, float]] = {}
    decode: dict[str, dict[str, float]] = {}
    throughput: dict[str, dict[tuple[int, int], float]] = {}
    for row in rows:
        if row["phase"] == "forward":
            key = f"{row['batch_size']}x{row['seq_len']}"
            forward.setdefault(row["label"], {})[key] = row["median_ms"]
            throughput.setdefault(row["label"], {})[(row["batch_size"], row["seq_len"])] = row[
                "sequences_per_s"
            ]
        else:
            decode.setdefault(row["label"], {})[str(row["seq_len"])] = row["median_ms"]
    growth: dict[str, dict[str, Any]] = {}
    gain: dict[str, dict[str, dict[str, Any]]] = {}
    for label, cells in throughput.items():
        single = sorted(length for batch, length in cells if batch == 1)
        if len(single) >= 2:
            short, long = single[-2], single[-1]
            growth[label] = {
                "from": short,
                "to": long,
                "length_ratio": round(long / short, 3),
                "time_ratio": round(cells[(1, short)] / cells[(1, long)], 3),
            }
        for batch, length in sorted(cells):
            if batch > 1 and (1, length) in cells:  # the largest batch wins: sorted ascending
                gain.setdefault(label, {})[str(length)] = {
                    "batch_size": batch,
                    "gain": round(cells[(batch, length)] / cells[(1, length)], 3),
                }
    return {
        "median": "median over repeats (decode: over repeats and steps), milliseconds",
        "clock": None if config is None else config.clock,
        "forward_ms": forward,
        "decode_ms": decode,
        "length_growth": growth,
        "batching_gain": gain,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


# ----------------------------------------------------------------------------- figure


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Three panels: latency against length, against parameters, and per generated token."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    labels = list(dict.fromkeys(r["label"] for r in rows))
    colors = {label: plt.get_cmap("tab10")(i % 10) for i, label in enumerate(labels)}
    forward = [r for r in rows if r["phase"] == "forward" and r["batch_size"] == 1]
    decode = [r for r in rows if r["phase"] == "decode"]
    with plt.rc_context({"svg.hashsalt": "ptm-snippets", "svg.fonttype": "none"}):
        lengths = sorted({r["seq_len"] for r in forward})
        fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
        ax = axes[0]
        for label in labels:
            points = sorted((r["seq_len"], r["median_ms"]) for r in forward if r["label"] == label)
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=label, color=colors[label])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(lengths, [str(n) for n in lengths])
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("sequence length (tokens, batch 1)")
        ax.set_ylabel("forward pass, median ms")
        ax.set_title("Latency grows with length")
        ax.legend(fontsize=7)

        ax = axes[1]
        length = 128 if 128 in lengths else lengths[-1]
        for r in (r for r in forward if r["seq_len"] == length):
            c = colors[r["label"]]
            ax.plot(
                [r["non_embedding_parameters"] / 1e6, r["parameters"] / 1e6],
                [r["median_ms"]] * 2,
                color=c,
                linewidth=1,
                alpha=0.6,
            )
            ax.scatter(r["non_embedding_parameters"] / 1e6, r["median_ms"], color=c, zorder=3)
            ax.scatter(r["parameters"] / 1e6, r["median_ms"], facecolors="none", edgecolors=c)
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(ScalarFormatter())
            axis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("parameters, millions (filled: without token embeddings; open: all)")
        ax.set_ylabel(f"forward pass at {length} tokens, median ms")
        ax.set_title("Compute follows non-embedding parameters")

        ax = axes[2]
        for label in labels:
            points = sorted((r["seq_len"], r["median_ms"]) for r in decode if r["label"] == label)
            if points:
                ax.plot(*zip(*points, strict=True), marker="s", label=label, color=colors[label])
        ax.set_xscale("log", base=2)
        contexts = sorted({r["seq_len"] for r in decode})
        ax.set_xticks(contexts, [str(n) for n in contexts])
        ax.set_xlabel("tokens already in the cache")
        ax.set_ylabel("one generated token, median ms")
        ax.set_title("Generation: time per new token")
        ax.set_ylim(bottom=0)
        if decode:
            ax.legend(fontsize=7)
        for ax in axes:
            ax.grid(alpha=0.3, which="both")
        fig.tight_layout()
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)


EXPERIMENT = register(
    Experiment(
        name="model_latency",
        run=run,
        plot=plot,
        full=FULL,
        fast=FAST,
        summarize=summarize,
        description=(
            "CPU latency of a forward pass and of one generated token for eight real-size models at "
            "16 to 512 tokens"
        ),
    )
)
