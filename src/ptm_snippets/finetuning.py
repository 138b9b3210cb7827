"""Fine-tuning helpers: labelled data, freezing, layer-wise learning rates and one training loop.

The loop, :func:`fine_tune`, is short plain PyTorch so that a reader can follow every step, and it
runs unchanged as one process or as several under ``torchrun`` or ``accelerate launch``: when
``torch.distributed`` is initialised it wraps the model in ``DistributedDataParallel`` (which
averages gradients across processes), gives each process a disjoint shard of the training set,
and lets only rank 0 write the log file and the checkpoint. Training is counted in *steps*, not
epochs, so every process takes the same number of steps even when the shards differ in size by
one line (a process that waits for a collective that another never calls would hang).

Models are Hugging Face sequence classifiers (anything whose forward takes ``input_ids``,
``attention_mask`` and ``labels`` and returns an output with ``.loss`` and ``.logits``), including
``peft`` models wrapped around one.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

__all__ = [
    "SCHEDULES",
    "FineTuneConfig",
    "FineTuneResult",
    "TextClassificationDataset",
    "encode_dataset",
    "evaluate",
    "fine_tune",
    "freeze",
    "layer_groups",
    "layerwise_lr_groups",
    "pad_batch",
    "predict",
    "shard_indices",
]

SCHEDULES: tuple[str, ...] = ("linear", "cosine", "constant", "constant_with_warmup")
"""Learning-rate schedules :class:`FineTuneConfig` accepts (names of ``transformers.get_scheduler``)."""

Example = dict[str, Any]


class TextClassificationDataset(Dataset[Example]):
    """Tokenised texts with integer labels: items are ``input_ids``, ``attention_mask``, ``labels``.

    Items are unpadded lists, so the same dataset feeds :func:`pad_batch`, a ``DataLoader`` with
    ``transformers.DataCollatorWithPadding``, and ``transformers.Trainer``. Build one with
    :func:`encode_dataset`.
    """

    def __init__(self, input_ids: list[list[int]], labels: list[int], num_labels: int) -> None:
        if not input_ids:
            raise ValueError("input_ids must hold at least one encoded text, got none")
        if len(input_ids) != len(labels):
            raise ValueError(
                f"input_ids and labels must have the same length, got {len(input_ids)} and "
                f"{len(labels)}"
            )
        bad = [y for y in labels if not isinstance(y, int) or not 0 <= y < num_labels]
        if bad:
            raise ValueError(
                f"labels must be ints in [0, {num_labels}) for num_labels={num_labels}, "
                f"got {bad[0]!r}"
            )
        self.input_ids = input_ids
        self.labels = labels
        self.num_labels = num_labels

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> Example:
        ids = self.input_ids[index]
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": self.labels[index]}


def encode_dataset(
    tokenizer: Any,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    num_labels: int,
    max_length: int = 64,
) -> TextClassificationDataset:
    """Tokenise ``texts`` (cut to ``max_length`` tokens) and pair them with ``labels``.

    Raises:
        ValueError: If ``texts`` is empty, the lengths differ, a label is outside
            ``[0, num_labels)``, or ``max_length`` is below 2.

    Examples:
        >>> from transformers import AutoTokenizer
        >>> tok = AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
        >>> data = encode_dataset(tok, ["refund please", "parcel lost"], [0, 1], num_labels=4)
        >>> len(data), data[1]["labels"], tok.convert_ids_to_tokens(data[1]["input_ids"])
        (2, 1, ['[CLS]', 'parcel', 'lost', '[SEP]'])
        >>> encode_dataset(tok, ["hi"], [4], num_labels=4)
        Traceback (most recent call last):
        ...
        ValueError: labels must be ints in [0, 4) for num_labels=4, got 4
    """
    if num_labels < 1:
        raise ValueError(f"num_labels must be at least 1, got {num_labels}")
    if max_length < 2:
        raise ValueError(
            f"max_length must be at least 2 (room for the special tokens), got {max_length}"
        )
    if isinstance(texts, str) or not texts:
        raise ValueError("texts must be a non-empty sequence of strings")
    if len(texts) != len(labels):
        raise ValueError(
            f"texts and labels must have the same length, got {len(texts)} and {len(labels)}"
        )
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    return TextClassificationDataset(list(encoded["input_ids"]), list(labels), num_labels)


def pad_batch(items: Sequence[Example], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad a list of dataset items to the longest one; return a batch of tensors.

    Examples:
        >>> batch = pad_batch([{"input_ids": [5, 6, 7], "labels": 1}, {"input_ids": [5], "labels": 0}])
        >>> batch["input_ids"].tolist(), batch["attention_mask"].tolist(), batch["labels"].tolist()
        ([[5, 6, 7], [5, 0, 0]], [[1, 1, 1], [1, 0, 0]], [1, 0])
    """
    if not items:
        raise ValueError("items must hold at least one example")
    width = max(len(item["input_ids"]) for item in items)
    input_ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, item in enumerate(items):
        n = len(item["input_ids"])
        input_ids[row, :n] = torch.tensor(item["input_ids"])
        mask[row, :n] = 1
    batch = {"input_ids": input_ids, "attention_mask": mask}
    if "labels" in items[0]:
        batch["labels"] = torch.tensor([int(item["labels"]) for item in items])
    return batch


# ----------------------------------------------------------------------------- layers

_LAYER = re.compile(r"(?:^|\.)(?:layer|layers|h|block)\.(\d+)\.")


def layer_groups(model: torch.nn.Module) -> dict[str, list[str]]:
    """Split parameter names into ``embeddings``, ``layer.0`` ... ``layer.N-1`` and ``head``.

    A parameter inside a numbered transformer block (``.layer.3.``, ``.layers.3.``, ``.h.3.``,
    ``.block.3.``) belongs to that layer; parameters registered before the first block are the
    embeddings, and those after the last are the head (pooler, final norm, classifier). This
    works for BERT, DistilBERT, RoBERTa, GPT-2 and Llama-style models, and for ``peft`` models
    wrapped around them.

    Raises:
        ValueError: If the model has no numbered transformer blocks.

    Examples:
        >>> from transformers import AutoModelForSequenceClassification
        >>> model = AutoModelForSequenceClassification.from_pretrained(
        ...     "sentence-transformers/all-MiniLM-L6-v2", num_labels=4)
        >>> groups = layer_groups(model)
        >>> list(groups)[:2], list(groups)[-2:]
        (['embeddings', 'layer.0'], ['layer.5', 'head'])
        >>> groups["head"]
        ['bert.pooler.dense.weight', 'bert.pooler.dense.bias', 'classifier.weight', 'classifier.bias']
    """
    embeddings: list[str] = []
    layers: dict[int, list[str]] = {}
    head: list[str] = []
    for name, _ in model.named_parameters():
        match = _LAYER.search(name)
        if match:
            layers.setdefault(int(match.group(1)), []).append(name)
        elif layers:
            head.append(name)
        else:
            embeddings.append(name)
    if not layers:
        raise ValueError(
            "model has no numbered transformer blocks (.layer.N., .layers.N., .h.N. or .block.N.)"
        )
    groups = {"embeddings": embeddings}
    groups.update({f"layer.{i}": layers[i] for i in sorted(layers)})
    groups["head"] = head
    return groups


def freeze(model: torch.nn.Module, *, train_top_layers: int, train_embeddings: bool = False) -> int:
    """Freeze the model except its head, its top ``train_top_layers`` blocks and, optionally, its embeddings.

    ``train_top_layers=0`` is feature extraction (only the head learns); all layers plus
    ``train_embeddings=True`` is full fine-tuning. Returns the number of trainable parameters.

    Raises:
        ValueError: If ``train_top_layers`` is outside ``[0, number of layers]``.

    Examples:
        >>> from transformers import AutoModelForSequenceClassification
        >>> model = AutoModelForSequenceClassification.from_pretrained(
        ...     "sentence-transformers/all-MiniLM-L6-v2", num_labels=4)
        >>> freeze(model, train_top_layers=0)  # the pooler and the classifier
        149380
        >>> freeze(model, train_top_layers=6, train_embeddings=True)
        22714756
        >>> freeze(model, train_top_layers=7)
        Traceback (most recent call last):
        ...
        ValueError: train_top_layers must be in [0, 6] (the model has 6 layers), got 7
    """
    groups = layer_groups(model)
    layer_names = [g for g in groups if g.startswith("layer.")]
    if not 0 <= train_top_layers <= len(layer_names):
        raise ValueError(
            f"train_top_layers must be in [0, {len(layer_names)}] (the model has "
            f"{len(layer_names)} layers), got {train_top_layers}"
        )
    trainable = set(groups["head"])
    for group in layer_names[len(layer_names) - train_top_layers :]:
        trainable.update(groups[group])
    if train_embeddings:
        trainable.update(groups["embeddings"])
    count = 0
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in trainable)
        count += parameter.numel() if name in trainable else 0
    return count


def layerwise_lr_groups(
    model: torch.nn.Module,
    *,
    lr: float,
    decay: float = 1.0,
    weight_decay: float = 0.01,
    include_frozen: bool = False,
) -> list[dict[str, Any]]:
    """Optimizer parameter groups with layer-wise learning-rate decay.

    The head gets ``lr``, the top layer ``lr * decay``, the next ``lr * decay**2`` and so on down
    to the embeddings, which get ``lr * decay**(layers + 1)``: lower layers hold the most general
    features and move least. ``decay=1`` gives every parameter ``lr``. Biases and normalisation
    weights get no weight decay. Frozen parameters are left out unless ``include_frozen`` (used by
    gradual unfreezing, which switches them on later).

    Raises:
        ValueError: If ``lr`` is not positive, ``decay`` is outside ``(0, 1]`` or
            ``weight_decay`` is negative.

    Examples:
        >>> from transformers import AutoModelForSequenceClassification
        >>> model = AutoModelForSequenceClassification.from_pretrained(
        ...     "sentence-transformers/all-MiniLM-L6-v2", num_labels=4)
        >>> groups = layerwise_lr_groups(model, lr=1e-4, decay=0.5)
        >>> sorted({round(g["lr"], 8) for g in groups}, reverse=True)[:3]
        [0.0001, 5e-05, 2.5e-05]
        >>> min(g["lr"] for g in groups) == 1e-4 * 0.5**7
        True
    """
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not 0 < decay <= 1:
        raise ValueError(f"decay must be in (0, 1], got {decay}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    groups = layer_groups(model)
    depth = len(groups) - 2
    scale = {"head": 1.0, "embeddings": decay ** (depth + 1)}
    scale.update({f"layer.{i}": decay ** (depth - i) for i in range(depth)})
    parameters = dict(model.named_parameters())
    out: list[dict[str, Any]] = []
    for group, names in groups.items():
        chosen = [n for n in names if include_frozen or parameters[n].requires_grad]
        no_decay = [n for n in chosen if parameters[n].ndim < 2]
        with_decay = [n for n in chosen if parameters[n].ndim >= 2]
        for subset, wd in ((with_decay, weight_decay), (no_decay, 0.0)):
            if subset:
                out.append(
                    {
                        "params": [parameters[n] for n in subset],
                        "lr": lr * scale[group],
                        "weight_decay": wd,
                        "name": group,
                    }
                )
    return out


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True)
class FineTuneConfig:
    """Settings of :func:`fine_tune`.

    Attributes:
        learning_rate: Peak learning rate of the head (lower layers get less with ``layer_decay``).
        max_steps: Optimizer steps per process. Steps, not epochs, so that every process of a
            distributed run takes the same number.
        batch_size: Examples per step per process; the effective batch is ``batch_size`` times
            the number of processes.
        layer_decay: Layer-wise learning-rate decay in ``(0, 1]``; 1 is none.
        schedule: One of :data:`SCHEDULES`.
        warmup_ratio: Share of the steps over which the learning rate rises from 0 (must be 0
            with ``schedule="constant"``, which has no warm-up).
        weight_decay: AdamW weight decay (not applied to biases and norms).
        max_grad_norm: Gradient clipping threshold; 0 turns clipping off.
        seed: Seeds the shuffling (plus the process rank) and dropout.
        eval_every: Evaluate on ``eval_data`` every this many steps; 0 never.
        patience: Early stopping: stop after this many evaluations without a better accuracy
            and restore the best weights; 0 never stops early.
        unfreeze_every: Gradual unfreezing: start with only the head trainable and unfreeze one
            more layer, from the top, every this many steps; 0 leaves ``requires_grad`` as it is.
            Single process only.
        log_every: Report the loss every this many steps.
    """

    learning_rate: float = 5e-5
    max_steps: int = 100
    batch_size: int = 16
    layer_decay: float = 1.0
    schedule: str = "linear"
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    eval_every: int = 0
    patience: int = 0
    unfreeze_every: int = 0
    log_every: int = 10

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field out of range.

        Examples:
            >>> FineTuneConfig(schedule="exponential").validate()
            Traceback (most recent call last):
            ...
            ValueError: schedule must be one of ('linear', 'cosine', 'constant', 'constant_with_warmup'), got 'exponential'
        """
        if not 0 < self.learning_rate < math.inf:
            raise ValueError(f"learning_rate must be positive and finite, got {self.learning_rate}")
        for name in ("max_steps", "batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.layer_decay <= 1:
            raise ValueError(f"layer_decay must be in (0, 1], got {self.layer_decay}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.schedule == "constant" and self.warmup_ratio > 0:
            raise ValueError(
                f"schedule='constant' has no warm-up, but warmup_ratio={self.warmup_ratio}: "
                "use schedule='constant_with_warmup', or warmup_ratio=0"
            )
        for name in ("weight_decay", "max_grad_norm", "seed", "eval_every", "patience"):
            if not 0 <= getattr(self, name) < math.inf:  # also catches NaN
                raise ValueError(f"{name} must be >= 0 and finite, got {getattr(self, name)}")
        if self.unfreeze_every < 0:
            raise ValueError(f"unfreeze_every must be >= 0, got {self.unfreeze_every}")
        if self.patience and not self.eval_every:
            raise ValueError("patience needs eval_every > 0 (early stopping needs evaluations)")


@dataclass
class FineTuneResult:
    """What :func:`fine_tune` did, seen from one process.

    Attributes:
        rank: This process's rank (0 in a single process).
        world_size: How many processes trained together.
        shard: The training-set indices this process drew from.
        steps: Optimizer steps taken (fewer than ``max_steps`` after early stopping).
        losses: Training loss at every step, on this process's batches.
        evaluations: ``(step, accuracy)`` for each evaluation.
        best_step: The step whose weights were kept (the last step without early stopping).
        stopped_early: Whether early stopping ended the run.
        trainable_parameters: Parameters with ``requires_grad`` at the end.
    """

    rank: int
    world_size: int
    shard: list[int]
    steps: int = 0
    losses: list[float] = field(default_factory=list)
    evaluations: list[tuple[int, float]] = field(default_factory=list)
    best_step: int = 0
    stopped_early: bool = False
    trainable_parameters: int = 0


def shard_indices(size: int, rank: int, world_size: int) -> list[int]:
    """The lines of a ``size``-line dataset that process ``rank`` of ``world_size`` trains on.

    Lines are dealt round-robin, so the shards are disjoint, together cover every line, and
    differ in length by at most one (nothing is repeated or dropped, unlike
    ``DistributedSampler``'s padding).

    Raises:
        ValueError: If ``rank`` is outside ``[0, world_size)`` or a process would get no line.

    Examples:
        >>> [shard_indices(5, r, 2) for r in range(2)]
        [[0, 2, 4], [1, 3]]
        >>> shard_indices(1, 1, 2)
        Traceback (most recent call last):
        ...
        ValueError: a dataset of 1 lines cannot feed world_size=2 processes: each needs at least one line
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(
            f"rank must be in [0, world_size), got rank={rank}, world_size={world_size}"
        )
    if size < world_size:
        raise ValueError(
            f"a dataset of {size} lines cannot feed world_size={world_size} processes: each needs "
            "at least one line"
        )
    return list(range(rank, size, world_size))


def _distributed() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _batches(shard: list[int], batch_size: int, generator: torch.Generator) -> Iterator[list[int]]:
    """Endless batches from ``shard``, reshuffled at every pass; a batch never repeats a line."""
    order: list[int] = []
    while True:
        batch: list[int] = []
        while len(batch) < min(batch_size, len(shard)):
            if not order:
                order = [shard[i] for i in torch.randperm(len(shard), generator=generator).tolist()]
                if batch:  # a pass ended mid-batch: lines already in it go last in the new pass
                    order = [i for i in order if i in batch] + [i for i in order if i not in batch]
            batch.append(order.pop())
        yield batch


def _check_labels(model: torch.nn.Module, data: TextClassificationDataset, argument: str) -> None:
    num_labels = getattr(getattr(model, "config", None), "num_labels", None)
    if num_labels is not None and data.num_labels > num_labels:
        top = max(data.labels)
        if top >= num_labels:
            raise ValueError(
                f"{argument} has label {top} but the model's head has num_labels={num_labels} "
                f"outputs (valid labels: 0 to {num_labels - 1})"
            )


def _embeddings_resized(model: Any) -> bool | str:
    """Whether a PEFT model's vocabulary differs from its base's; ``"auto"`` if unknown."""
    from transformers import AutoConfig

    name = model.peft_config[model.active_adapter].base_model_name_or_path
    if not name:
        return False  # built from a config: no base checkpoint to differ from (peft agrees)
    try:
        base = AutoConfig.from_pretrained(name)
    except (OSError, ValueError):
        return "auto"  # peft decides, with its own warning
    rows = model.get_input_embeddings().num_embeddings
    return bool(rows != getattr(base, "vocab_size", rows))


def _save(model: torch.nn.Module, out: Path) -> None:
    """``save_pretrained``; a PEFT model keeps its embeddings only if the vocabulary was resized.

    peft's own check (``save_embedding_layers="auto"``) asks the Hub for the base config, which
    offline only warns; the base config in the local cache answers the same question.
    """
    from peft import PeftModel

    if isinstance(model, PeftModel):
        model.save_pretrained(str(out), save_embedding_layers=_embeddings_resized(model))
    else:
        model.save_pretrained(out)  # type: ignore[operator]


def fine_tune(
    model: torch.nn.Module,
    train: TextClassificationDataset,
    config: FineTuneConfig | None = None,
    *,
    eval_data: TextClassificationDataset | None = None,
    output_dir: str | Path | None = None,
    pad_id: int = 0,
    log: Callable[[dict[str, Any]], None] | None = None,
    simulate_world_size: int = 1,
) -> FineTuneResult:
    """Fine-tune ``model`` in place with AdamW, warm-up and a schedule; the same code on 1 or N processes.

    Each step draws ``config.batch_size`` lines from this process's shard (see
    :func:`shard_indices`), computes the loss, back-propagates (``DistributedDataParallel``
    averages the gradients across processes), clips, and steps the optimizer and the schedule.
    With ``eval_every`` it measures accuracy on ``eval_data`` (every process scores the whole
    set, so all reach the same early-stopping decision); with ``patience`` it stops early and
    restores the best weights. ``log`` receives one ``dict`` per event on every process; with
    ``output_dir``, rank 0 alone appends the events to ``log.jsonl`` and saves the model there
    (``save_pretrained``).

    ``simulate_world_size=N`` in a single process reproduces an ``N``-process run step for step:
    each step accumulates the gradients of the ``N`` batches the ``N`` processes would draw
    (each with its own dropout random state), divided by ``N``, which is what
    ``DistributedDataParallel``'s averaging computes.

    Raises:
        ValueError: If the config is invalid, a label is outside the model's head, the data
            cannot be sharded over the processes, gradual unfreezing is asked for on more than
            one process, ``eval_every`` is set without ``eval_data``, or
            ``simulate_world_size`` is below 1 or used inside a distributed run.

    Examples:
        >>> from transformers import AutoModelForSequenceClassification, AutoTokenizer
        >>> repo = "sentence-transformers/all-MiniLM-L6-v2"
        >>> tok = AutoTokenizer.from_pretrained(repo)
        >>> _ = torch.manual_seed(0)
        >>> model = AutoModelForSequenceClassification.from_pretrained(repo, num_labels=2)
        >>> data = encode_dataset(tok, ["refund my money", "my parcel is late"] * 4,
        ...                       [0, 1] * 4, num_labels=2)
        >>> result = fine_tune(model, data, FineTuneConfig(learning_rate=1e-3, max_steps=8,
        ...                    batch_size=4))
        >>> result.steps, result.losses[-1] < result.losses[0], evaluate(model, data)
        (8, True, 1.0)
    """
    config = config or FineTuneConfig()
    config.validate()
    rank, world_size = _distributed()
    _check_labels(model, train, "train")
    if eval_data is not None:
        _check_labels(model, eval_data, "eval_data")
    if config.eval_every and eval_data is None:
        raise ValueError("eval_every > 0 needs eval_data to evaluate on")
    if config.unfreeze_every and world_size > 1:
        raise ValueError(
            "unfreeze_every > 0 (gradual unfreezing) is single-process only: "
            "DistributedDataParallel fixes the trainable parameters when it wraps the model"
        )
    if simulate_world_size < 1 or (simulate_world_size > 1 and world_size > 1):
        raise ValueError(
            "simulate_world_size must be at least 1, and 1 inside a distributed run "
            f"(world_size={world_size}), got {simulate_world_size}"
        )
    ranks = list(range(simulate_world_size)) if simulate_world_size > 1 else [rank]
    shards = {r: shard_indices(len(train), r, max(world_size, simulate_world_size)) for r in ranks}
    shard = sorted(i for r in ranks for i in shards[r])
    result = FineTuneResult(rank=rank, world_size=world_size, shard=shard)
    out = Path(output_dir) if output_dir is not None else None
    if out is not None and rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "log.jsonl").write_text("", encoding="utf-8")

    def emit(event: dict[str, Any]) -> None:
        event = {"rank": rank, **event}
        if log is not None:
            log(event)
        if out is not None and rank == 0:
            with (out / "log.jsonl").open("a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\n")

    emit({"event": "start", "world_size": world_size, "shard_size": len(shard), "shard": shard})

    from transformers import get_scheduler

    torch.manual_seed(config.seed)
    layers = [g for g in layer_groups(model) if g.startswith("layer.")]
    if config.unfreeze_every:
        freeze(model, train_top_layers=0)
    groups = layerwise_lr_groups(
        model,
        lr=config.learning_rate,
        decay=config.layer_decay,
        weight_decay=config.weight_decay,
        include_frozen=bool(config.unfreeze_every),
    )
    optimizer = torch.optim.AdamW(groups)
    scheduler = get_scheduler(
        config.schedule,
        optimizer,
        num_warmup_steps=math.floor(config.warmup_ratio * config.max_steps),
        num_training_steps=config.max_steps,
    )
    runner: torch.nn.Module = model
    if world_size > 1:
        runner = torch.nn.parallel.DistributedDataParallel(model)
    streams = {
        r: _batches(
            shards[r], config.batch_size, torch.Generator().manual_seed(config.seed * 1000 + r)
        )
        for r in ranks
    }
    random_states = {r: torch.get_rng_state() for r in ranks}  # dropout, per (simulated) process
    best_accuracy, best_state, bad_evaluations = -1.0, None, 0
    trainable = [p for p in model.parameters() if p.requires_grad]
    runner.train()
    for step in range(1, config.max_steps + 1):
        if config.unfreeze_every and step > 1 and (step - 1) % config.unfreeze_every == 0:
            unfrozen = min(len(layers), (step - 1) // config.unfreeze_every)
            freeze(model, train_top_layers=unfrozen, train_embeddings=unfrozen == len(layers))
            trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for r in ranks:
            if len(ranks) > 1:
                torch.set_rng_state(random_states[r])
            batch = pad_batch([train[i] for i in next(streams[r])], pad_id)
            loss = runner(**batch).loss
            (loss / len(ranks)).backward()
            step_loss += loss.item() / len(ranks)
            if len(ranks) > 1:
                random_states[r] = torch.get_rng_state()
        if config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        result.losses.append(step_loss)
        result.steps = step
        if step % config.log_every == 0 or step == config.max_steps:
            emit(
                {
                    "event": "train",
                    "step": step,
                    "loss": round(step_loss, 4),
                    "lr": max(scheduler.get_last_lr()),  # the head's; lower layers get less
                }
            )
        if config.eval_every and (step % config.eval_every == 0 or step == config.max_steps):
            assert eval_data is not None
            accuracy = evaluate(model, eval_data, pad_id=pad_id)
            runner.train()
            result.evaluations.append((step, accuracy))
            emit({"event": "eval", "step": step, "accuracy": accuracy})
            if accuracy > best_accuracy:
                best_accuracy, bad_evaluations, result.best_step = accuracy, 0, step
                if config.patience:
                    best_state = copy.deepcopy(model.state_dict())
            else:
                bad_evaluations += 1
                if config.patience and bad_evaluations >= config.patience:
                    result.stopped_early = True
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_step = result.steps
    model.eval()
    result.trainable_parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    emit(
        {
            "event": "end",
            "steps": result.steps,
            "best_step": result.best_step,
            "stopped_early": result.stopped_early,
        }
    )
    if out is not None and rank == 0:
        _save(model, out)
    if world_size > 1:
        import torch.distributed as dist

        dist.barrier()  # nobody reads the checkpoint before rank 0 has written it
    return result


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    data: TextClassificationDataset,
    *,
    batch_size: int = 64,
    pad_id: int = 0,
) -> list[int]:
    """Predicted label ids for every line of ``data``, in order (the model is left in eval mode).

    Examples:
        >>> class Always(torch.nn.Module):
        ...     def forward(self, input_ids, attention_mask, labels=None):
        ...         from types import SimpleNamespace
        ...         return SimpleNamespace(logits=torch.tensor([[0.0, 1.0]]).repeat(len(input_ids), 1))
        >>> predict(Always(), TextClassificationDataset([[1], [2, 3]], [0, 1], num_labels=2))
        [1, 1]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model.eval()
    out: list[int] = []
    for start in range(0, len(data), batch_size):
        items = [data[i] for i in range(start, min(start + batch_size, len(data)))]
        batch = pad_batch(items, pad_id)
        batch.pop("labels")
        out += model(**batch).logits.argmax(-1).tolist()
    return out


def evaluate(
    model: torch.nn.Module,
    data: TextClassificationDataset,
    *,
    batch_size: int = 64,
    pad_id: int = 0,
) -> float:
    """Accuracy of ``model`` on ``data`` (the share of lines whose predicted label is right).

    Examples:
        >>> class Always(torch.nn.Module):
        ...     def forward(self, input_ids, attention_mask, labels=None):
        ...         from types import SimpleNamespace
        ...         return SimpleNamespace(logits=torch.tensor([[0.0, 1.0]]).repeat(len(input_ids), 1))
        >>> evaluate(Always(), TextClassificationDataset([[1], [2], [3]], [0, 1, 1], num_labels=2))
        0.6666666666666666
    """
    predictions = predict(model, data, batch_size=batch_size, pad_id=pad_id)
    return sum(p == y for p, y in zip(predictions, data.labels, strict=True)) / len(data)
