"""Text-to-text with a tiny T5: prefixed tasks, a tokenizer with sentinels, training, evaluation.

One encoder-decoder model learns several tasks at once because every task is written as text in
and text out, told apart only by a prefix (``classify: ...``, ``count words: ...``,
``sort words: ...``). Everything is built from data the project ships:

* :func:`make_examples`: the prefixed tasks, with held-out examples the model never trains on.
* :func:`build_tokenizer`: a word-level tokenizer laid out like T5's (``<pad>`` 0, ``</s>`` 1,
  ``<unk>`` 2, and 100 sentinels ``<extra_id_0>`` ... counting down from the top id).
* :func:`corrupt_spans`: T5's span corruption on real text, with real sentinel ids (it reuses
  :func:`ptm_snippets.span_corruption`).
* :func:`tiny_t5_config`, :func:`make_batch`, :func:`train`: a ``T5ForConditionalGeneration``
  from a config and a plain training loop.
* :func:`predict`, :func:`accuracy`, :func:`evaluate`: greedy or beam decoding and per-task
  exact-match accuracy.
* :func:`save_checkpoint`, :func:`load_checkpoint`: the committed checkpoint in
  ``ptm_snippets/data/tiny_t5``, each file verified by the sha256 in its ``manifest.json``.

Command line (deterministic; a few minutes on one CPU core)::

    python -m ptm_snippets.text2text train --out src/ptm_snippets/data/tiny_t5
    python -m ptm_snippets.text2text verify
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import random
import re
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ptm_snippets.pretraining import IGNORE_INDEX, count_parameters, span_corruption

__all__ = [
    "CHECKPOINT_DIR",
    "FAST",
    "FULL",
    "PREFIXES",
    "TASKS",
    "CheckpointError",
    "Example",
    "SpanExample",
    "TrainConfig",
    "TrainResult",
    "accuracy",
    "build_tokenizer",
    "corrupt_spans",
    "evaluate",
    "load_checkpoint",
    "main",
    "make_batch",
    "make_examples",
    "predict",
    "save_checkpoint",
    "task_words",
    "tiny_t5_config",
    "train",
    "verify_checkpoint",
]

TASKS: tuple[str, ...] = ("classify", "count", "sort")
"""The tasks, in the order training cycles through them."""

PREFIXES: dict[str, str] = {
    "classify": "classify:",
    "count": "count words:",
    "sort": "sort words:",
}
"""The prefix that tells the model which task an input belongs to."""

LABELS: tuple[str, ...] = ("billing", "delivery", "account", "technical")
NUMBER_OF_SENTINELS = 100
SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "</s>", "<unk>")
CHECKPOINT_DIR = Path(str(resources.files("ptm_snippets").joinpath("data", "tiny_t5")))
"""Where the committed checkpoint lives (inside the installed package)."""

_WORD = re.compile(r"[a-z]+")
_COUNT_RANGE = (2, 6)  # words per "count words" input
_SORT_RANGE = (3, 4)  # words per "sort words" input
_HELD_OUT_SHARE = 5  # one in five word sequences is reserved for testing
_MANIFEST = "manifest.json"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete or does not match its manifest."""


@dataclass(frozen=True)
class Example:
    """One text-to-text example.

    Attributes:
        task: Which task it belongs to (one of :data:`TASKS`).
        source: The prefixed input text.
        target: The text the model should write.
        group: A finer split for reporting (``familiar`` or ``novel`` for test tickets).
    """

    task: str
    source: str
    target: str
    group: str = ""


def _tickets(split: str) -> list[dict[str, str]]:
    from ptm_snippets.tickets import load_tickets

    return load_tickets(split)


def task_words(size: int = 24) -> list[str]:
    """The word list the synthetic tasks draw from, in alphabetical order.

    It is the ``size`` most frequent words of 4 to 8 letters in the support-tickets training
    file (ties broken alphabetically), so the list is the same on every machine.

    Args:
        size: How many words, from 4 to 200.

    Returns:
        The words, sorted.

    Raises:
        ValueError: If ``size`` is out of range.

    Examples:
        >>> task_words(6)
        ['account', 'email', 'never', 'order', 'password', 'please']
    """
    if not 4 <= size <= 200:
        raise ValueError(f"size must be between 4 and 200, got {size}")
    counts = Counter(w for r in _tickets("train") for w in _WORD.findall(r["text"].lower()))
    ranked = sorted((w for w in counts if 4 <= len(w) <= 8), key=lambda w: (-counts[w], w))
    return sorted(ranked[:size])


def _held_out(words: Sequence[str]) -> bool:
    """True for the word sequences reserved for testing (a fixed one in five, by checksum)."""
    return zlib.crc32(" ".join(words).encode()) % _HELD_OUT_SHARE == 0


def _synthetic(task: str, rng: random.Random, words: Sequence[str], test: bool) -> Example:
    while True:
        if task == "count":
            chosen = [rng.choice(words) for _ in range(rng.randint(*_COUNT_RANGE))]
            target = str(len(chosen))
        else:
            chosen = rng.sample(list(words), rng.randint(*_SORT_RANGE))
            target = " ".join(sorted(chosen))
        if _held_out(chosen) == test:
            return Example(task, f"{PREFIXES[task]} {' '.join(chosen)}", target)


def make_examples(
    task: str, split: str, *, size: int | None = None, seed: int = 0, words: int = 24
) -> list[Example]:
    """Build prefixed examples of one task.

    ``classify`` uses the support-tickets files: ``train`` lines for training, ``test`` lines
    (grouped ``familiar`` and ``novel``) for testing, in file order. ``count`` and ``sort`` draw
    word sequences from :func:`task_words`; a fixed fifth of all possible sequences is reserved
    for ``test``, so no test input is ever seen in training.

    Args:
        task: One of :data:`TASKS`.
        split: ``train`` or ``test``.
        size: How many examples (default: every ticket for ``classify``, 200 otherwise). For
            ``classify`` a smaller size takes the first lines of the file.
        seed: Seeds the random word sequences (ignored for ``classify``).
        words: Size of the word list for the synthetic tasks.

    Returns:
        The examples.

    Raises:
        ValueError: If ``task``, ``split`` or ``size`` is invalid.

    Examples:
        >>> make_examples("sort", "train", size=1, seed=3, words=6)[0]
        Example(task='sort', source='sort words: please order never', target='never order please', group='')
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if size is not None and size < 1:
        raise ValueError(f"size must be positive, got {size}")
    if task == "classify":
        lines = _tickets(split)[:size]
        return [
            Example(task, f"{PREFIXES[task]} {r['text']}", r["label"], r.get("split", ""))
            for r in lines
        ]
    rng = random.Random(f"{task}-{split}-{seed}")
    vocabulary = task_words(words)
    return [_synthetic(task, rng, vocabulary, split == "test") for _ in range(size or 200)]


def build_tokenizer(*, min_frequency: int = 2, words: int = 24) -> Any:
    """A word-level tokenizer with T5's layout of special tokens, built from the shipped data.

    Text is lower-cased and split into words, punctuation marks and single digits. The
    vocabulary holds ``<pad>`` (0), ``</s>`` (1) and ``<unk>`` (2), the prefix words, labels
    and digits, every word seen at least ``min_frequency`` times in the training tickets, and
    finally 100 sentinels, ``<extra_id_0>`` taking the highest id as in T5. Every encoded text
    ends with ``</s>``. The vocabulary is built in a fixed order, so the ids are the same on
    every machine.

    Args:
        min_frequency: How often a word must occur in the training tickets to get an id.
        words: Size of the synthetic tasks' word list (all of it enters the vocabulary).

    Returns:
        A ``transformers.PreTrainedTokenizerFast``.

    Raises:
        ValueError: If ``min_frequency`` is below 1.

    Examples:
        >>> tokenizer = build_tokenizer()
        >>> tokenizer.tokenize("classify: My parcel is late!")
        ['classify', ':', 'my', 'parcel', 'is', 'late', '!']
        >>> tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id
        (0, 1, 2)
        >>> tokenizer.convert_tokens_to_ids("<extra_id_0>") == len(tokenizer) - 1
        True
    """
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be at least 1, got {min_frequency}")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Punctuation(),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )

    def split(text: str) -> list[str]:
        return [p for p, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))]

    counts = Counter(piece for r in _tickets("train") for piece in split(r["text"]))
    fixed = [*(p for prefix in PREFIXES.values() for p in split(prefix)), *LABELS]
    fixed += [str(d) for d in range(10)] + task_words(words)
    frequent = sorted(
        (p for p, c in counts.items() if c >= min_frequency), key=lambda p: (-counts[p], p)
    )
    sentinels = [f"<extra_id_{i}>" for i in reversed(range(NUMBER_OF_SENTINELS))]
    vocab: dict[str, int] = {}
    for token in [*SPECIAL_TOKENS, *fixed, *frequent, *sentinels]:
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.normalizer = normalizer
    backend.pre_tokenizer = pre_tokenizer
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    backend.add_special_tokens([*SPECIAL_TOKENS, *sentinels])
    wrapper: Any = PreTrainedTokenizerFast
    return wrapper(
        tokenizer_object=backend,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=512,
    )


@dataclass(frozen=True)
class SpanExample:
    """A span-corrupted text: what T5's encoder reads and what its decoder must write.

    Attributes:
        input_ids: Encoder ids, sentinels in place of the dropped spans, ending with ``</s>``.
        labels: Decoder target ids: each sentinel and the tokens it hid, then ``</s>``.
        inputs: ``input_ids`` as token strings.
        targets: ``labels`` as token strings.
    """

    input_ids: list[int]
    labels: list[int]
    inputs: list[str]
    targets: list[str]


def corrupt_spans(
    text: str,
    tokenizer: Any,
    *,
    noise_density: float = 0.15,
    mean_span_length: float = 3.0,
    random_roll: bool = False,
    generator: torch.Generator | None = None,
) -> SpanExample:
    """Apply T5's span corruption to a text at the token level, with the tokenizer's sentinels.

    The text is tokenized, :func:`ptm_snippets.span_corruption` drops random spans of tokens
    and names each ``<extra_id_k>``, and both sides are mapped to ids, so the sentinels get the
    tokenizer's real ids (for T5's layout, ``<extra_id_0>`` is the highest id).

    Spans alternate between kept and dropped tokens, starting with kept ones, as in T5's
    preprocessing; so when one span is enough (short texts), it is always the last tokens.
    ``random_roll=True`` shifts the pattern by a random offset, as the ``random_roll`` option
    of T5's later preprocessing code does, so spans can fall anywhere.

    Args:
        text: The text to corrupt (at least two tokens).
        tokenizer: A tokenizer whose vocabulary holds ``<extra_id_0>``, ``<extra_id_1>``, ...
        noise_density: Fraction of tokens to drop, in ``(0, 1)``.
        mean_span_length: Average length of a dropped span, at least 1.
        random_roll: Shift the dropped positions by a random offset (wrapping around).
        generator: Source of randomness, for reproducible corruption.

    Returns:
        The encoder input and decoder target, as ids and as token strings.

    Raises:
        ValueError: If the text is too short, a setting is out of range, or the tokenizer lacks
            a sentinel that the corruption needs.

    Examples:
        >>> tok = build_tokenizer()
        >>> out = corrupt_spans("my parcel never arrived at my address", tok,
        ...                     generator=torch.Generator().manual_seed(0))
        >>> out.inputs
        ['my', 'parcel', 'never', 'arrived', 'at', 'my', '<extra_id_0>', '</s>']
        >>> out.targets
        ['<extra_id_0>', 'address', '<extra_id_1>', '</s>']
        >>> out.labels[0] == len(tok) - 1  # <extra_id_0> has the highest id
        True
    """
    tokens = tokenizer.tokenize(text)
    spans = span_corruption(
        tokens,
        noise_density=noise_density,
        mean_span_length=mean_span_length,
        generator=generator,
    )
    # Recover which tokens were dropped, optionally roll that mask, then rebuild both sides.
    hidden: dict[str, int] = {}
    for token in spans.targets:
        if token.startswith("<extra_id_"):
            current = token
            hidden[current] = 0
        else:
            hidden[current] += 1
    mask: list[bool] = []
    for token in spans.inputs:
        mask += [True] * hidden[token] if token in hidden else [False]
    if random_roll:
        offset = int(torch.randint(len(mask), (1,), generator=generator))
        mask = mask[len(mask) - offset :] + mask[: len(mask) - offset]
    inputs, targets = [], []
    sentinel = 0
    for position, (token, dropped) in enumerate(zip(tokens, mask, strict=True)):
        if dropped and (position == 0 or not mask[position - 1]):
            inputs.append(f"<extra_id_{sentinel}>")
            targets.append(f"<extra_id_{sentinel}>")
            sentinel += 1
        (targets if dropped else inputs).append(token)
    targets.append(f"<extra_id_{sentinel}>")
    vocabulary = tokenizer.get_vocab()
    for token in targets:
        if token.startswith("<extra_id_") and token not in vocabulary:
            raise ValueError(f"tokenizer has no sentinel {token}: its vocabulary needs extra ids")
    eos = tokenizer.eos_token
    inputs, targets = [*inputs, eos], [*targets, eos]
    return SpanExample(
        tokenizer.convert_tokens_to_ids(inputs),
        tokenizer.convert_tokens_to_ids(targets),
        inputs,
        targets,
    )


def tiny_t5_config(
    tokenizer: Any,
    *,
    d_model: int = 128,
    d_ff: int = 256,
    num_layers: int = 2,
    num_heads: int = 4,
    dropout_rate: float = 0.0,
) -> Any:
    """A small ``T5Config`` that matches a tokenizer, with the ids transformers 5 needs.

    ``decoder_start_token_id`` is set to the pad id (0), as in T5: transformers 5 leaves it
    unset for a config built by hand, and then training fails with an ``AttributeError`` and
    ``generate`` with a ``ValueError``.

    Args:
        tokenizer: The tokenizer; its size becomes ``vocab_size``.
        d_model: Width of the residual stream (a multiple of ``num_heads``).
        d_ff: Width of the feed-forward layers.
        num_layers: Layers in the encoder, and again in the decoder.
        num_heads: Attention heads per layer.
        dropout_rate: Dropout probability, in ``[0, 1)``.

    Returns:
        A ``transformers.T5Config``.

    Raises:
        ValueError: If a size is not positive, ``d_model`` is not a multiple of ``num_heads``,
            or ``dropout_rate`` is out of range.

    Examples:
        >>> config = tiny_t5_config(build_tokenizer())
        >>> config.d_model, config.num_layers, config.num_decoder_layers, config.decoder_start_token_id
        (128, 2, 2, 0)
    """
    from transformers import T5Config

    for name, value in [
        ("d_model", d_model),
        ("d_ff", d_ff),
        ("num_layers", num_layers),
        ("num_heads", num_heads),
    ]:
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    if d_model % num_heads:
        raise ValueError(f"d_model must be a multiple of num_heads ({num_heads}), got {d_model}")
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")
    settings: dict[str, Any] = dict(
        vocab_size=len(tokenizer),
        d_model=d_model,
        d_kv=d_model // num_heads,
        d_ff=d_ff,
        num_layers=num_layers,
        num_decoder_layers=num_layers,
        num_heads=num_heads,
        dropout_rate=dropout_rate,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    return T5Config(**settings)


def make_batch(
    examples: Sequence[Example], tokenizer: Any, *, max_source_length: int = 64
) -> dict[str, torch.Tensor]:
    """Tokenize examples into a training batch: padded inputs and labels padded with -100.

    Label padding uses ``IGNORE_INDEX`` (-100), not the pad id: the loss skips -100, while a
    label equal to the pad id would train the model to write padding. The model builds its own
    ``decoder_input_ids`` from the labels (shifted right, starting with
    ``decoder_start_token_id``).

    Args:
        examples: The examples (at least one).
        tokenizer: The model's tokenizer.
        max_source_length: Inputs longer than this many tokens are cut.

    Returns:
        ``input_ids``, ``attention_mask`` and ``labels``.

    Raises:
        ValueError: If ``examples`` is empty or ``max_source_length`` is below 2.

    Examples:
        >>> tok = build_tokenizer()
        >>> batch = make_batch([Example("count", "count words: order page", "2"),
        ...                     Example("sort", "sort words: page order", "order page")], tok)
        >>> labels = batch["labels"]
        >>> labels.tolist()
        [[14, 1, -100], [31, 32, 1]]
    """
    if not examples:
        raise ValueError("examples must not be empty")
    if max_source_length < 2:
        raise ValueError(f"max_source_length must be at least 2, got {max_source_length}")
    encoded = tokenizer(
        [e.source for e in examples],
        padding=True,
        truncation=True,
        max_length=max_source_length,
        return_tensors="pt",
    )
    targets = tokenizer([e.target for e in examples], padding=True, return_tensors="pt")
    labels = targets["input_ids"].masked_fill(targets["attention_mask"] == 0, IGNORE_INDEX)
    return {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        "labels": labels,
    }


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a multi-task training run.

    Attributes:
        tasks: The tasks to mix; each optimizer step sees one micro-batch of every task.
        steps: Optimizer steps.
        batch_per_task: Examples of each task per step.
        learning_rate: Peak AdamW learning rate (linear warm-up, then linear decay to 0).
        warmup_steps: Steps of warm-up.
        weight_decay: AdamW weight decay.
        d_model: Model width (see :func:`tiny_t5_config`).
        d_ff: Feed-forward width.
        num_layers: Encoder layers, and again decoder layers.
        num_heads: Attention heads.
        dropout_rate: Dropout during training.
        max_source_length: Longest input in tokens.
        words: Size of the synthetic tasks' word list.
        seed: Seeds the initial weights and the order of the examples.
    """

    tasks: tuple[str, ...] = TASKS
    steps: int = 1500
    batch_per_task: int = 16
    learning_rate: float = 3e-3
    warmup_steps: int = 50
    weight_decay: float = 0.01
    d_model: int = 128
    d_ff: int = 256
    num_layers: int = 2
    num_heads: int = 4
    dropout_rate: float = 0.0
    max_source_length: int = 64
    words: int = 24
    seed: int = 0

    def __post_init__(self) -> None:
        """Check every setting, naming the bad one."""
        if not self.tasks or any(t not in TASKS for t in self.tasks):
            raise ValueError(f"tasks must be a non-empty subset of {TASKS}, got {self.tasks}")
        for name in ("steps", "batch_per_task", "d_model", "d_ff", "num_layers", "num_heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must not be negative, got {self.warmup_steps}")


FULL = TrainConfig()
"""The committed checkpoint's settings: three tasks, 1,500 steps (a few minutes on one core)."""

FAST = TrainConfig(tasks=("classify",), steps=80, batch_per_task=32, learning_rate=3e-3)
"""A configuration for tests: ``classify`` only, learns well above chance in seconds."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: The trained ``T5ForConditionalGeneration``, in eval mode.
        tokenizer: Its tokenizer.
        losses: The training loss of every step (mean over the tasks' micro-batches).
        config: The settings used.
    """

    model: Any
    tokenizer: Any
    losses: list[float]
    config: TrainConfig


def train(
    config: TrainConfig = FULL,
    *,
    tokenizer: Any = None,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train a tiny T5 from random initialisation on several prefixed tasks at once.

    Each step takes one micro-batch of every task (so short synthetic inputs are not padded to
    the length of support tickets), adds their losses and makes one AdamW step. Training data:
    every training ticket for ``classify`` (reshuffled each epoch) and fresh random word
    sequences, never a held-out one, for ``count`` and ``sort``. The global random state is left
    untouched; the result depends only on ``config`` (and the machine's floating point).

    Args:
        config: The settings.
        tokenizer: The tokenizer to use (default :func:`build_tokenizer`).
        on_step: Called after every step with the step number and its loss.

    Returns:
        The model, tokenizer, losses and settings.

    Examples:
        >>> result = train(dataclasses.replace(FAST, steps=2, batch_per_task=4))
        >>> len(result.losses), result.model.training
        (2, False)
    """
    from transformers import T5ForConditionalGeneration

    tokenizer = tokenizer if tokenizer is not None else build_tokenizer(words=config.words)
    model_config = tiny_t5_config(
        tokenizer,
        d_model=config.d_model,
        d_ff=config.d_ff,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        dropout_rate=config.dropout_rate,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model: Any = T5ForConditionalGeneration(model_config)
        losses = _train_loop(model, tokenizer, config, on_step)
    model.eval()
    return TrainResult(model, tokenizer, losses, config)


def _train_loop(
    model: Any,
    tokenizer: Any,
    config: TrainConfig,
    on_step: Callable[[int, float], None] | None,
) -> list[float]:
    rng = random.Random(f"train-{config.seed}")
    vocabulary = task_words(config.words)
    tickets = make_examples("classify", "train") if "classify" in config.tasks else []
    order: list[Example] = []

    def next_batch(task: str) -> list[Example]:
        if task != "classify":
            return [
                _synthetic(task, rng, vocabulary, test=False) for _ in range(config.batch_per_task)
            ]
        batch = []
        for _ in range(config.batch_per_task):
            if not order:
                order.extend(rng.sample(tickets, len(tickets)))
            batch.append(order.pop())
        return batch

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )

    def schedule(step: int) -> float:
        warm = min(1.0, (step + 1) / max(1, config.warmup_steps))
        return warm * max(0.0, 1.0 - step / config.steps)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model.train()
    losses: list[float] = []
    for step in range(config.steps):
        total = 0.0
        for task in config.tasks:
            batch = make_batch(
                next_batch(task), tokenizer, max_source_length=config.max_source_length
            )
            loss = model(**batch).loss / len(config.tasks)
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(total)
        if on_step is not None:
            on_step(step, total)
    return losses


def predict(
    model: Any,
    tokenizer: Any,
    sources: Sequence[str],
    *,
    max_new_tokens: int = 8,
    num_beams: int = 1,
    batch_size: int = 64,
    max_source_length: int = 64,
) -> list[str]:
    """Generate an answer for each input text (greedy, or beam search with ``num_beams > 1``).

    Inputs are batched by length to save padding; answers come back in input order, decoded
    without special tokens. ``max_new_tokens`` is always passed to ``generate``: without it
    transformers falls back to a default length and warns.

    Args:
        model: A ``T5ForConditionalGeneration``.
        tokenizer: Its tokenizer.
        sources: The prefixed input texts.
        max_new_tokens: Longest answer, in tokens.
        num_beams: 1 for greedy decoding, more for beam search.
        batch_size: Inputs per ``generate`` call.
        max_source_length: Inputs longer than this many tokens are cut.

    Returns:
        One answer per input.

    Raises:
        ValueError: If ``max_new_tokens``, ``num_beams`` or ``batch_size`` is below 1.

    Examples:
        >>> result = train(dataclasses.replace(FAST, steps=1, batch_per_task=2))
        >>> len(predict(result.model, result.tokenizer, ["classify: hi", "classify: bye"]))
        2
    """
    for name, value in [
        ("max_new_tokens", max_new_tokens),
        ("num_beams", num_beams),
        ("batch_size", batch_size),
    ]:
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    lengths = [len(tokenizer.tokenize(s)) for s in sources]
    order = sorted(range(len(sources)), key=lambda i: lengths[i])
    answers = [""] * len(sources)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        encoded = tokenizer(
            [sources[i] for i in chunk],
            padding=True,
            truncation=True,
            max_length=max_source_length,
            return_tensors="pt",
        )
        with torch.no_grad():
            output = model.generate(
                **encoded, max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=False
            )
        for i, text in zip(
            chunk, tokenizer.batch_decode(output, skip_special_tokens=True), strict=True
        ):
            answers[i] = text.strip()
    return answers


def accuracy(
    examples: Sequence[Example], predictions: Sequence[str], *, by: str = "task"
) -> dict[str, float]:
    """Exact-match accuracy per task (``by="task"``) or per task and group (``by="group"``).

    Args:
        examples: The examples, with their targets.
        predictions: One answer per example.
        by: ``task``, or ``group`` for keys such as ``classify/novel``.

    Returns:
        Accuracy per key, keys in order of first appearance.

    Raises:
        ValueError: If the lengths differ, there are no examples, or ``by`` is unknown.

    Examples:
        >>> ex = [Example("count", "count words: a b", "2"), Example("count", "count words: a", "1")]
        >>> accuracy(ex, ["2", "3"])
        {'count': 0.5}
    """
    if by not in ("task", "group"):
        raise ValueError(f"by must be 'task' or 'group', got {by!r}")
    if not examples or len(examples) != len(predictions):
        raise ValueError(
            f"examples and predictions must be non-empty and equally long, got {len(examples)}"
            f" and {len(predictions)}"
        )
    right: dict[str, list[bool]] = {}
    for example, answer in zip(examples, predictions, strict=True):
        key = (
            example.task if by == "task" or not example.group else f"{example.task}/{example.group}"
        )
        right.setdefault(key, []).append(answer.strip() == example.target)
    return {key: sum(hits) / len(hits) for key, hits in right.items()}


def evaluate(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    *,
    by: str = "task",
    num_beams: int = 1,
) -> dict[str, float]:
    """Generate answers for examples and score them: :func:`predict` then :func:`accuracy`.

    Examples:
        >>> result = train(dataclasses.replace(FAST, steps=1, batch_per_task=2))
        >>> sorted(evaluate(result.model, result.tokenizer, make_examples("count", "test", size=4)))
        ['count']
    """
    answers = predict(model, tokenizer, [e.source for e in examples], num_beams=num_beams)
    return accuracy(examples, answers, by=by)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_checkpoint(
    result: TrainResult, folder: str | Path, *, info: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Save a trained model and tokenizer with a manifest of every file's sha256.

    Args:
        result: What :func:`train` returned.
        folder: Where to write (created if needed; files of an older save are replaced).
        info: Extra facts to record in the manifest (for example held-out accuracies).

    Returns:
        The manifest written to ``folder/manifest.json``.

    Examples:
        >>> import tempfile
        >>> result = train(dataclasses.replace(FAST, steps=1, batch_per_task=2))
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     manifest = save_checkpoint(result, folder)
        >>> "model.safetensors" in manifest["files"]
        True
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.is_file():
            old.unlink()
    result.model.save_pretrained(folder)
    result.tokenizer.save_pretrained(folder)
    files = {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}
    manifest = {
        "train_config": dataclasses.asdict(result.config),
        "parameters": count_parameters(result.model),
        "final_loss": round(sum(result.losses[-20:]) / len(result.losses[-20:]), 4),
        **(info or {}),
        "files": files,
    }
    (folder / _MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def verify_checkpoint(folder: str | Path = CHECKPOINT_DIR) -> dict[str, Any]:
    """Check every file of a checkpoint against its manifest; return the manifest."""
    folder = Path(folder)
    path = folder / _MANIFEST
    if not path.is_file():
        raise CheckpointError(
            f"{path} not found: train a checkpoint with "
            f"`python -m ptm_snippets.text2text train --out {folder}`"
        )
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for name, expected in manifest["files"].items():
        file = folder / name
        if not file.is_file():
            raise CheckpointError(f"{file} is missing; retrain or restore the checkpoint")
        if _sha256(file) != expected:
            raise CheckpointError(f"{file} does not match the sha256 in {path}")
    return manifest


def load_checkpoint(folder: str | Path = CHECKPOINT_DIR, **model_kwargs: Any) -> tuple[Any, Any]:
    """Load the trained tiny T5 and its tokenizer after verifying every file's sha256.

    Args:
        folder: The checkpoint folder (default: the one committed in the package).
        **model_kwargs: Passed to ``T5ForConditionalGeneration.from_pretrained`` (for example
            ``attn_implementation="eager"`` to get attention weights back).

    Returns:
        The model, in eval mode, and its tokenizer.

    Raises:
        CheckpointError: If the folder has no manifest or a file does not match it.

    Examples:
        >>> model, tokenizer = load_checkpoint()
        >>> model.config.d_model, len(tokenizer) == model.config.vocab_size
        (128, True)
    """
    from transformers import PreTrainedTokenizerFast, T5ForConditionalGeneration

    verify_checkpoint(folder)
    model: Any = T5ForConditionalGeneration.from_pretrained(folder, **model_kwargs)
    model.eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    return model, tokenizer


def _held_out_examples(words: int = 24) -> list[Example]:
    """Every task's test examples: all 440 test tickets, 200 of each synthetic task."""
    return [e for task in TASKS for e in make_examples(task, "test", words=words)]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``train`` a checkpoint, or ``verify`` one against its manifest."""
    parser = argparse.ArgumentParser(prog="python -m ptm_snippets.text2text", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train the tiny T5 and save a checkpoint")
    train_cmd.add_argument("--out", type=Path, default=CHECKPOINT_DIR)
    train_cmd.add_argument("--steps", type=int, default=FULL.steps)
    train_cmd.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    verify_cmd = commands.add_parser("verify", help="check a checkpoint's files and accuracies")
    verify_cmd.add_argument("folder", type=Path, nargs="?", default=CHECKPOINT_DIR)
    args = parser.parse_args(argv)
    if args.command == "verify":
        manifest = verify_checkpoint(args.folder)
        print(f"{args.folder}: {len(manifest['files'])} files match their sha256")
        return 0
    config = dataclasses.replace(FULL, steps=args.steps)
    start = time.perf_counter()

    def report(step: int, loss: float) -> None:
        if step % 100 == 0 or step == config.steps - 1:
            elapsed = time.perf_counter() - start
            print(f"step {step:5d}  loss {loss:.4f}  {elapsed:6.0f} s", file=sys.stderr, flush=True)

    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        result = train(config, on_step=report)
        held_out = _held_out_examples(config.words)
        scores = evaluate(result.model, result.tokenizer, held_out, by="group")
    finally:
        torch.set_num_threads(threads)
    print(json.dumps({k: round(v, 3) for k, v in scores.items()}), file=sys.stderr)
    manifest = save_checkpoint(
        result,
        args.out,
        info={"held_out_accuracy": {k: round(v, 4) for k, v in scores.items()}},
    )
    for name, digest in manifest["files"].items():
        print(f"{digest}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
