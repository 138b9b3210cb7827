"""Fine-tuning strategies: what freezing, layer-wise decay and the learning rate cost and buy.

The same pre-trained all-MiniLM-L6-v2 (``AutoModelForSequenceClassification``, 4 labels) is
fine-tuned on one class-balanced sample of the support-tickets set in several ways, each an
*arm* (see :data:`ARMS`):

- ``feature_extraction``: the encoder frozen, only the head (pooler and classifier) learns;
- ``partial``: the head plus the top ``partial_layers`` transformer layers;
- ``full``: every parameter, one learning rate;
- ``layer_decay``: every parameter, learning rates shrinking by ``layer_decay`` per layer
  from the head down;
- ``gradual``: gradual unfreezing (ULMFiT): the head first, one more layer from the top every
  ``unfreeze_every`` steps;
- ``full_high_lr``: full fine-tuning with a learning rate several times larger, to show what
  that does to the encoder's general-purpose knowledge.

Every arm is trained with :func:`ptm_snippets.finetuning.fine_tune` for the same number of steps
and scored on the test set (overall and on its ``familiar`` and ``novel`` halves). Beside
accuracy, each row records the trainable parameters, the median time of one optimizer step,
the peak memory that training added, and *forgetting*: how well the fine-tuned encoder's
mean-pooled sentence similarities still rank a small general-domain set of sentence pairs
(``ptm_snippets/data/general_pairs.jsonl``, scored by hand from 0 to 5), as a Spearman
correlation, compared with the untouched encoder's.

With ``isolate=True`` every arm runs in a freshly spawned process
(:func:`ptm_snippets.experiments.measure.run_isolated`), so that its peak memory is its own.

Run it with ``python -m ptm_snippets.experiments finetuning_strategies``.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ptm_snippets.experiments.runner import Experiment, Progress, register
from ptm_snippets.hub import MINILM, model_path, verify_package
from ptm_snippets.pretraining import mean_pool
from ptm_snippets.tickets import LABELS, balanced_sample, even_subset, load_tickets

__all__ = [
    "ARMS",
    "FAST",
    "FULL",
    "FineTuningStrategiesConfig",
    "load_general_pairs",
    "plot",
    "run",
    "sentence_similarities",
    "similarity_spearman",
    "spearman",
    "summarize",
    "train_arm",
]

ARMS: tuple[str, ...] = (
    "feature_extraction",
    "partial",
    "full",
    "layer_decay",
    "gradual",
    "full_high_lr",
)
"""Every arm the experiment knows, in the order tables and figures show them."""

_TRAIN_SIZE = 1300
_TEST_SIZE = 440


@dataclass(frozen=True)
class FineTuningStrategiesConfig:
    """Settings of the fine-tuning-strategies experiment.

    Attributes:
        arms: Which arms to run (names from :data:`ARMS`), in this order.
        seeds: Seeds for the training sample, the new head, dropout and the batch order.
        train_size: Class-balanced training lines, drawn anew for every seed.
        steps: Optimizer steps for every arm.
        batch_size: Texts per step.
        max_length: Longest tokenised text; longer ones are cut.
        test_size: Test lines to score (``None``: all 440), taken evenly from each split and
            label.
        validation_size: If above 0, score on this many *training* lines that are not in the
            training sample instead of the test set (how the learning rates were chosen).
        partial_layers: Top layers the ``partial`` arm trains.
        layer_decay: Per-layer learning-rate factor of the ``layer_decay`` arm.
        unfreeze_every: Steps between unfreezing two layers in the ``gradual`` arm.
        lr_feature_extraction: Peak learning rate of ``feature_extraction``.
        lr_partial: Peak learning rate of ``partial``.
        lr_full: Peak learning rate of ``full``.
        lr_layer_decay: Peak learning rate of ``layer_decay`` (the head's; layer ``i`` of 6
            gets ``lr * layer_decay ** (6 - i)``).
        lr_gradual: Peak learning rate of ``gradual``.
        lr_full_high: Peak learning rate of ``full_high_lr``.
        warmup_ratio: Share of the steps with a rising learning rate (then linear decay).
        weight_decay: AdamW weight decay (not on biases and norms).
        isolate: Run each arm in a fresh process, so that its peak memory is its own; without
            it, arms run in this process and later arms' memory readings are unreliable.
        num_threads: ``torch.set_num_threads`` while training; 0 keeps torch's default.
        repo_id: The encoder to fine-tune.
    """

    arms: tuple[str, ...] = ARMS
    seeds: tuple[int, ...] = (0, 1, 2)
    train_size: int = 256
    steps: int = 48
    batch_size: int = 16
    max_length: int = 48
    test_size: int | None = None
    validation_size: int = 0
    partial_layers: int = 2
    layer_decay: float = 0.8
    unfreeze_every: int = 6
    lr_feature_extraction: float = 5e-3
    lr_partial: float = 2e-4
    lr_full: float = 1e-4
    lr_layer_decay: float = 2e-4
    lr_gradual: float = 2e-4
    lr_full_high: float = 5e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    isolate: bool = True
    num_threads: int = 1
    repo_id: str = MINILM.repo_id

    def validate(self) -> None:
        """Check every field; raise ``ValueError`` naming the first bad one and its valid range.

        Examples:
            >>> FineTuningStrategiesConfig(arms=("full", "lora")).validate()
            Traceback (most recent call last):
            ...
            ValueError: arms must be a non-empty tuple of distinct names from ('feature_extraction', 'partial', 'full', 'layer_decay', 'gradual', 'full_high_lr'), got ('full', 'lora')
        """
        if (
            not self.arms
            or any(arm not in ARMS for arm in self.arms)
            or len(set(self.arms)) != len(self.arms)
        ):
            raise ValueError(
                f"arms must be a non-empty tuple of distinct names from {ARMS}, got {self.arms}"
            )
        if (
            not self.seeds
            or any(not isinstance(s, int) or s < 0 for s in self.seeds)
            or len(set(self.seeds)) != len(self.seeds)
        ):
            raise ValueError(
                f"seeds must hold at least one seed, each a distinct non-negative int, got "
                f"{self.seeds}"
            )
        if not len(LABELS) <= self.train_size <= _TRAIN_SIZE // 2:
            raise ValueError(
                f"train_size must be in [{len(LABELS)}, {_TRAIN_SIZE // 2}] (half the "
                f"{_TRAIN_SIZE} training lines at most), got {self.train_size}"
            )
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 2 <= self.max_length <= 512:
            raise ValueError(f"max_length must be in [2, 512], got {self.max_length}")
        if self.test_size is not None and not 8 <= self.test_size <= _TEST_SIZE:
            raise ValueError(
                f"test_size must be None (all) or in [8, {_TEST_SIZE}], got {self.test_size}"
            )
        if not 0 <= self.validation_size <= _TRAIN_SIZE - self.train_size:
            raise ValueError(
                f"validation_size must be in [0, {_TRAIN_SIZE - self.train_size}] (training "
                f"lines left after the sample), got {self.validation_size}"
            )
        if not 1 <= self.partial_layers <= 6:
            raise ValueError(f"partial_layers must be in [1, 6], got {self.partial_layers}")
        if not 0 < self.layer_decay <= 1:
            raise ValueError(f"layer_decay must be in (0, 1], got {self.layer_decay}")
        if self.unfreeze_every < 1:
            raise ValueError(f"unfreeze_every must be at least 1, got {self.unfreeze_every}")
        for name in (
            "lr_feature_extraction",
            "lr_partial",
            "lr_full",
            "lr_layer_decay",
            "lr_gradual",
            "lr_full_high",
        ):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.num_threads < 0:
            raise ValueError(
                f"num_threads must be >= 0 (0: torch's default), got {self.num_threads}"
            )
        if not self.repo_id:
            raise ValueError("repo_id must name a model, got an empty string")


FULL = FineTuningStrategiesConfig()
"""The published run: six arms, three seeds, 256 training lines, 48 steps, all 440 test lines.

Learning rates were chosen once per arm, on seed 0 with ``validation_size=300`` (300 held-out
*training* lines, never the test set), from a small grid: feature extraction 1e-3, 2e-3, 5e-3,
1e-2, 2e-2 (a frozen encoder's new head starts from scratch and needs a large rate); partial
1e-4, 2e-4, 5e-4; full 5e-5, 1e-4, 2e-4; layer decay 1e-4, 2e-4, 4e-4 (its lower layers get 0.8
to 0.21 of it); gradual 1e-4, 2e-4. Rule: the best validation accuracy, where rates within one
line (1/300) of the best count as tied and the smallest of them is kept, since it moves the
pre-trained weights least. Validation accuracy saturated at 1.0 for every arm but feature
extraction (where 5e-3 scored 0.943 and 2e-2 0.947), so the rule mostly picked the smallest rate
that reached 1.0. ``full_high_lr`` is five times ``full``'s rate, on purpose. 48 steps of 16 are
three passes over the 256 lines. Each arm runs in its own process on one thread.
"""

FAST = FineTuningStrategiesConfig(
    arms=("feature_extraction", "full"),
    seeds=(0,),
    train_size=64,
    steps=10,
    batch_size=8,
    test_size=64,
    lr_full=2e-4,
)
"""The test suite's run: feature extraction against full fine-tuning, 10 steps, each arm in a
fresh process (in one process the second arm reuses memory the first freed, and measures none)."""


# ----------------------------------------------------------------------------- similarity


def load_general_pairs() -> list[dict[str, Any]]:
    """The general-domain sentence pairs used to measure forgetting (nothing about tickets).

    Each pair has ``sentence1``, ``sentence2``, a ``score`` from 0 (unrelated) to 5 (same
    meaning) assigned by hand, and its ``kind``: ``paraphrase``, ``related`` or ``unrelated``.

    Examples:
        >>> pairs = load_general_pairs()
        >>> len(pairs), sorted({p["kind"] for p in pairs})
        (48, ['paraphrase', 'related', 'unrelated'])
    """
    text = resources.files("ptm_snippets").joinpath("data", "general_pairs.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 0, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2
        start = end + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of ``x`` and ``y`` (ties get their average rank).

    Raises:
        ValueError: If the lengths differ, there are fewer than 2 values, or one side is
            constant (its ranks have no spread).

    Examples:
        >>> spearman([1, 2, 3, 4], [10, 20, 30, 40])
        1.0
        >>> spearman([1, 2, 3, 4], [4, 3, 2, 1])
        -1.0
        >>> round(spearman([1, 2, 3, 4], [1, 3, 2, 4]), 2)
        0.8
    """
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(
            f"x and y must have the same length, at least 2, got {len(x)} and {len(y)}"
        )
    rx, ry = _ranks(x), _ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sx = sum((a - mx) ** 2 for a in rx)
    sy = sum((b - my) ** 2 for b in ry)
    if sx == 0 or sy == 0:
        raise ValueError("x and y must each hold at least two different values")
    covariance = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    return float(covariance / math.sqrt(sx * sy))


@torch.no_grad()
def sentence_similarities(
    encoder: torch.nn.Module, tokenizer: Any, pairs: Sequence[dict[str, Any]]
) -> list[float]:
    """Cosine similarity of each pair's mean-pooled sentence vectors, as ``encoder`` sees them.

    ``encoder`` is a bare encoder (``AutoModel``), or a classifier's encoder such as
    ``model.bert`` of a ``BertForSequenceClassification``. It is put in eval mode.

    Examples:
        >>> from transformers import AutoModel, AutoTokenizer
        >>> repo = "sentence-transformers/all-MiniLM-L6-v2"
        >>> pairs = [{"sentence1": "A man is eating food.",
        ...           "sentence2": "A man is eating a piece of bread."}]
        >>> [round(s, 3) for s in sentence_similarities(
        ...     AutoModel.from_pretrained(repo), AutoTokenizer.from_pretrained(repo), pairs)]
        [0.755]
    """
    if not pairs:
        raise ValueError("pairs must hold at least one sentence pair")
    encoder.eval()
    vectors = []
    for key in ("sentence1", "sentence2"):
        batch = tokenizer([p[key] for p in pairs], padding=True, return_tensors="pt")
        states = encoder(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        vectors.append(
            torch.nn.functional.normalize(mean_pool(states, batch["attention_mask"]), dim=-1)
        )
    similarities: list[float] = (vectors[0] * vectors[1]).sum(-1).tolist()
    return similarities


def similarity_spearman(
    encoder: torch.nn.Module, tokenizer: Any, pairs: Sequence[dict[str, Any]] | None = None
) -> float:
    """How well ``encoder``'s cosine similarities rank the pairs' hand-given scores (Spearman).

    ``pairs`` defaults to :func:`load_general_pairs`. 1 means the same order as the scores.

    Examples:
        >>> from transformers import AutoModel, AutoTokenizer
        >>> repo = "sentence-transformers/all-MiniLM-L6-v2"
        >>> encoder, tokenizer = AutoModel.from_pretrained(repo), AutoTokenizer.from_pretrained(repo)
        >>> round(similarity_spearman(encoder, tokenizer), 2)
        0.92
    """
    pairs = load_general_pairs() if pairs is None else pairs
    return spearman(
        sentence_similarities(encoder, tokenizer, pairs), [float(p["score"]) for p in pairs]
    )


# ----------------------------------------------------------------------------- data


def _learning_rate(config: FineTuningStrategiesConfig, arm: str) -> float:
    field = {
        "feature_extraction": "lr_feature_extraction",
        "partial": "lr_partial",
        "full": "lr_full",
        "layer_decay": "lr_layer_decay",
        "gradual": "lr_gradual",
        "full_high_lr": "lr_full_high",
    }[arm]
    value: float = getattr(config, field)
    return value


# ----------------------------------------------------------------------------- one arm


def train_arm(config: FineTuningStrategiesConfig, arm: str, seed: int) -> dict[str, Any]:
    """Fine-tune one arm with one seed and measure it; return its row (see :func:`run`).

    This is the function each isolated process runs; it is public so that it can be named as
    ``"ptm_snippets.experiments.finetuning_strategies:train_arm"``.

    Raises:
        ValueError: If the configuration is out of range or ``arm`` is not one of
            :data:`ARMS`.

    Examples:
        >>> train_arm(FAST, "lora", 0)
        Traceback (most recent call last):
        ...
        ValueError: arm must be one of ('feature_extraction', 'partial', 'full', 'layer_decay', 'gradual', 'full_high_lr'), got 'lora'
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ptm_snippets.evaluation import evaluate_classifier
    from ptm_snippets.experiments.measure import PeakMemory, page_in
    from ptm_snippets.finetuning import (
        FineTuneConfig,
        encode_dataset,
        fine_tune,
        freeze,
        layer_groups,
        predict,
    )

    config.validate()
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    threads_before = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        folder = model_path(config.repo_id)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        train = load_tickets("train")
        picked = balanced_sample(train, config.train_size, seed, stream="strategies")
        if config.validation_size:
            held = balanced_sample(
                train, config.validation_size, 10_000 + seed, stream="strategies", skip=picked
            )
            scored = [{**train[i], "split": "validation"} for i in held]
        else:
            scored = even_subset(load_tickets("test"), config.test_size)
        scored = sorted(scored, key=lambda r: len(r["text"]))  # less padding when scoring
        data = encode_dataset(
            tokenizer,
            [train[i]["text"] for i in picked],
            [LABELS.index(train[i]["label"]) for i in picked],
            num_labels=len(LABELS),
            max_length=config.max_length,
        )
        test = encode_dataset(
            tokenizer,
            [r["text"] for r in scored],
            [LABELS.index(r["label"]) for r in scored],
            num_labels=len(LABELS),
            max_length=config.max_length,
        )
        torch.manual_seed(seed)
        model = AutoModelForSequenceClassification.from_pretrained(
            folder,
            num_labels=len(LABELS),
            id2label=dict(enumerate(LABELS)),
            label2id={label: i for i, label in enumerate(LABELS)},
        )
        depth = model.config.num_hidden_layers
        if arm == "feature_extraction":
            freeze(model, train_top_layers=0)
        elif arm == "partial":
            freeze(model, train_top_layers=min(config.partial_layers, depth))
        else:  # full, layer_decay, full_high_lr; gradual sets its own from step 1
            freeze(model, train_top_layers=depth, train_embeddings=True)
        settings = FineTuneConfig(
            learning_rate=_learning_rate(config, arm),
            max_steps=config.steps,
            batch_size=config.batch_size,
            layer_decay=config.layer_decay if arm == "layer_decay" else 1.0,
            warmup_ratio=config.warmup_ratio,
            weight_decay=config.weight_decay,
            seed=seed,
            unfreeze_every=config.unfreeze_every if arm == "gradual" else 0,
            log_every=1,
        )
        stamps: list[float] = []

        def log(event: dict[str, Any]) -> None:
            if event["event"] in ("start", "train"):
                stamps.append(time.perf_counter())

        page_in(model)  # resident before measuring: the weights are not training's
        started = time.perf_counter()
        with PeakMemory() as memory:
            result = fine_tune(model, data, settings, pad_id=int(tokenizer.pad_token_id), log=log)
        train_seconds = time.perf_counter() - started
        step_times = [b - a for a, b in itertools.pairwise(stamps)]
        predictions = predict(model, test, pad_id=int(tokenizer.pad_token_id))
        correct = [p == y for p, y in zip(predictions, test.labels, strict=True)]
        report = evaluate_classifier(
            test.labels, predictions=predictions, labels=LABELS, n_boot=1000, seed=seed
        )

        def accuracy(split: str | None) -> float | None:
            hits = [c for c, r in zip(correct, scored, strict=True) if split in (None, r["split"])]
            return round(sum(hits) / len(hits), 4) if hits else None

        pairs = load_general_pairs()
        similarities = sentence_similarities(model.base_model, tokenizer, pairs)
        kinds = {
            kind: round(
                statistics.fmean(
                    s for s, p in zip(similarities, pairs, strict=True) if p["kind"] == kind
                ),
                4,
            )
            for kind in ("paraphrase", "related", "unrelated")
        }
        head = set(layer_groups(model)["head"])
        trainable_at_start = (
            sum(p.numel() for n, p in model.named_parameters() if n in head)
            if arm == "gradual"
            else None
        )
        return {
            "arm": arm,
            "seed": seed,
            "train_size": config.train_size,
            "steps": result.steps,
            "learning_rate": settings.learning_rate,
            "layer_decay": settings.layer_decay,
            "trainable_parameters": result.trainable_parameters,
            "trainable_parameters_at_start": trainable_at_start,
            "total_parameters": sum(p.numel() for p in model.parameters()),
            "scored_on": "validation" if config.validation_size else "test",
            "accuracy": accuracy(None),
            "accuracy_low": round(report.accuracy.low, 4),
            "accuracy_high": round(report.accuracy.high, 4),
            "macro_f1": round(report.macro_f1.estimate, 4),
            "accuracy_familiar": accuracy("familiar"),
            "accuracy_novel": accuracy("novel"),
            "train_loss_final": round(statistics.fmean(result.losses[-10:]), 4),
            "step_seconds_median": round(statistics.median(step_times), 4),
            "train_seconds": round(train_seconds, 2),
            "train_peak_mb": round((memory.peak - memory.start) / 2**20, 1),
            "similarity_spearman": round(
                spearman(similarities, [float(p["score"]) for p in pairs]), 4
            ),
            "cosine_paraphrase": kinds["paraphrase"],
            "cosine_related": kinds["related"],
            "cosine_unrelated": kinds["unrelated"],
        }
    finally:
        torch.set_num_threads(threads_before)


# ----------------------------------------------------------------------------- run


def run(config: FineTuningStrategiesConfig, progress: Progress) -> list[dict[str, Any]]:
    """Train every arm with every seed; return one row per trained model.

    Each row has ``arm``, ``seed``, ``train_size``, ``steps``, ``learning_rate``,
    ``layer_decay``, ``trainable_parameters`` (at the end; gradual unfreezing starts with
    ``trainable_parameters_at_start``), ``total_parameters``, ``accuracy``
    with its 95 % bootstrap interval (``accuracy_low``, ``accuracy_high``) and ``macro_f1``
    from :func:`ptm_snippets.evaluate_classifier`, ``accuracy_familiar``, ``accuracy_novel``, ``train_loss_final`` (mean of the last 10
    steps), ``step_seconds_median``, ``train_seconds``, ``train_peak_mb`` (resident memory that
    training added at its peak), ``process_peak_mb`` and ``isolated`` (whether the arm had a
    process of its own), ``similarity_spearman`` (on the general pairs after fine-tuning),
    ``similarity_spearman_before`` (the untouched encoder), ``forgetting`` (before minus
    after) and the mean cosine of paraphrase, related and unrelated pairs.

    Raises:
        ValueError: If the configuration is out of range.
        ptm_snippets.hub.MirrorError: If the encoder's weights are not installed; the message
            names the package to install.
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ptm_snippets.experiments.measure import run_isolated

    config.validate()
    if config.repo_id == MINILM.repo_id:
        verify_package(MINILM, log=lambda _: None)  # names the package if it is missing
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    folder = model_path(config.repo_id)
    threads_before = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        before = round(
            similarity_spearman(
                AutoModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
            ),
            4,
        )
    finally:
        torch.set_num_threads(threads_before)
    progress.reset(total=len(config.arms) * len(config.seeds))
    rows: list[dict[str, Any]] = []
    for seed in config.seeds:
        for arm in config.arms:
            progress.set_postfix_str(f"{arm} seed={seed}")
            if config.isolate:
                measured = run_isolated(
                    "ptm_snippets.experiments.finetuning_strategies:train_arm",
                    config=config,
                    arm=arm,
                    seed=seed,
                )
                row = dict(measured.value)
                row["process_peak_mb"] = round(measured.peak_rss / 2**20, 1)
            else:
                row = train_arm(config, arm, seed)
                row["process_peak_mb"] = None
            row["isolated"] = config.isolate
            row["similarity_spearman_before"] = before
            row["forgetting"] = round(before - row["similarity_spearman"], 4)
            rows.append(row)
            progress.update(1)
    return rows


# ----------------------------------------------------------------------------- summary


_METRICS = (
    "accuracy",
    "macro_f1",
    "accuracy_familiar",
    "accuracy_novel",
    "train_loss_final",
    "step_seconds_median",
    "train_peak_mb",
    "similarity_spearman",
    "forgetting",
    "cosine_unrelated",
)


def summarize(
    rows: list[dict[str, Any]], config: FineTuningStrategiesConfig | None = None
) -> dict[str, Any]:
    """Per arm: mean and sample standard deviation over seeds, trainable parameters and share.

    Examples:
        >>> rows = [{"arm": "full", "seed": s, "trainable_parameters": 10, "total_parameters": 40,
        ...          "learning_rate": 1e-4, "similarity_spearman_before": 0.9,
        ...          **{m: a for m in _METRICS}} for s, a in [(0, 0.8), (1, 0.9)]]
        >>> cell = summarize(rows)["table"]["full"]
        >>> cell["accuracy_mean"], cell["accuracy_std"], cell["trainable_share"]
        (0.85, 0.0707, 0.25)
    """
    table: dict[str, dict[str, Any]] = {}
    order = [a for a in ARMS if any(r["arm"] == a for r in rows)]
    for arm in order:
        group = [r for r in rows if r["arm"] == arm]
        cell: dict[str, Any] = {
            "seeds": len(group),
            "learning_rate": group[0]["learning_rate"],
            "trainable_parameters": group[0]["trainable_parameters"],
            "trainable_share": round(
                group[0]["trainable_parameters"] / group[0]["total_parameters"], 5
            ),
        }
        for metric in _METRICS:
            values = [float(r[metric]) for r in group if r.get(metric) is not None]
            if not values:
                continue
            cell[f"{metric}_mean"] = round(statistics.fmean(values), 4)
            cell[f"{metric}_std"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
        table[arm] = cell
    return {
        "std": "sample standard deviation over seeds (0 with one seed)",
        "similarity_spearman_before": rows[0]["similarity_spearman_before"] if rows else None,
        "table": table,
    }


# ----------------------------------------------------------------------------- figure

_NAMES = {
    "feature_extraction": "feature\nextraction",
    "partial": "partial\n(top 2)",
    "full": "full",
    "layer_decay": "layer-wise\ndecay",
    "gradual": "gradual\nunfreezing",
    "full_high_lr": "full,\n5x LR",
}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Four panels per arm: accuracy, step time, peak training memory, general similarity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarize(rows)
    table = summary["table"]
    arms = list(table)
    x = list(range(len(arms)))
    labels = [_NAMES.get(a, a) for a in arms]

    def bars(ax: Any, metric: str, color: str, offset: float = 0.0, width: float = 0.6) -> None:
        ax.bar(
            [i + offset for i in x],
            [table[a].get(f"{metric}_mean", 0.0) for a in arms],
            width=width,
            yerr=[table[a].get(f"{metric}_std", 0.0) for a in arms],
            color=color,
            capsize=3,
        )

    with plt.rc_context({"svg.hashsalt": "ptm-snippets", "svg.fonttype": "none"}):
        fig, axes = plt.subplots(2, 2, figsize=(10, 7))
        ax = axes[0][0]
        bars(ax, "accuracy", "tab:blue", -0.2, 0.4)
        bars(ax, "accuracy_novel", "tab:cyan", 0.2, 0.4)
        ax.legend(["all test lines", "novel half"], loc="upper center", ncol=2, fontsize=8)
        low = min(table[a].get("accuracy_novel_mean", 1.0) for a in arms)
        ax.set_ylim(max(0.0, round(low - 0.15, 1)), 1.05)
        ax.set_title("Test accuracy (mean ± std over seeds)")
        ax = axes[0][1]
        bars(ax, "step_seconds_median", "tab:orange")
        ax.set_title("Median time of one training step (s)")
        ax = axes[1][0]
        bars(ax, "train_peak_mb", "tab:green")
        ax.set_title("Peak memory added by training (MiB)")
        ax = axes[1][1]
        bars(ax, "similarity_spearman", "tab:purple")
        before = summary["similarity_spearman_before"]
        if before is not None:
            ax.axhline(before, color="black", linestyle="--", linewidth=1)
            ax.text(
                len(arms) - 0.5, before, "before fine-tuning", ha="right", va="bottom", fontsize=8
            )
        ax.set_ylim(0, 1)
        ax.set_title("General sentence similarity (Spearman)")
        for ax in axes.flat:
            ax.set_xticks(x, labels, fontsize=8)
            ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)


EXPERIMENT = register(
    Experiment(
        name="finetuning_strategies",
        run=run,
        plot=plot,
        full=FULL,
        fast=FAST,
        summarize=summarize,
        description=(
            "Feature extraction vs partial freezing vs full fine-tuning vs layer-wise decay vs "
            "gradual unfreezing of MiniLM on 256 support tickets: accuracy, trainable "
            "parameters, step time, peak memory and forgetting"
        ),
    )
)
