"""Data efficiency: a pre-trained encoder against the same network from random initialisation.

Both classifiers are all-MiniLM-L6-v2's architecture with mean pooling and a linear head,
fine-tuned end to end with AdamW on class-balanced samples of the support-tickets set
(``ptm_snippets/data/support_tickets``). One starts from the published weights, the other from
``AutoModel.from_config`` (seeded). They differ only in their learning rate, each chosen once by
a quick check (see :class:`DataEfficiencyConfig`). The number of steps grows with the training
set (``max(min_steps, epochs * size / batch_size)``) so that no size is under-trained by a fixed
budget. The whole test set is scored by :func:`ptm_snippets.evaluation.evaluate_classifier`
(accuracy with a 95 % bootstrap interval, macro-F1), and accuracy also on its ``familiar`` and
``novel`` halves.

Run it with ``python -m ptm_snippets.experiments data_efficiency``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ptm_snippets.experiments.runner import Experiment, Progress, register
from ptm_snippets.hub import MINILM, model_path, verify_package
from ptm_snippets.pretraining import count_parameters, mean_pool
from ptm_snippets.tickets import LABELS, balanced_sample, even_subset, load_tickets

__all__ = [
    "FAST",
    "FULL",
    "MODELS",
    "DataEfficiencyConfig",
    "data_multiple",
    "plot",
    "run",
    "steps_for",
    "summarize",
]

MODELS: tuple[str, ...] = ("pretrained", "random_init")
"""The two starting points compared, as they appear in the ``model`` column."""

_TRAIN_SIZE = 1300
_TEST_SIZE = 440


@dataclass(frozen=True)
class DataEfficiencyConfig:
    """Settings of the data-efficiency experiment.

    Attributes:
        sizes: Training-set sizes, each class-balanced, drawn anew for every seed.
        seeds: Seeds for the sample, the random initialisation, the head and the batch order.
        lr_pretrained: AdamW learning rate for the pre-trained encoder.
        lr_random_init: AdamW learning rate for the randomly initialised encoder (a randomly
            initialised transformer needs a larger one to leave chance in the step budget).
        batch_size: Texts per step.
        epochs: Passes over the training set; steps are ``max(min_steps, epochs * size /
            batch_size)``, rounded up.
        min_steps: The fewest steps any size gets (small sets repeat their examples).
        max_length: Longest tokenised text; longer ones are cut.
        test_size: How many test lines to score (``None``: all 440), taken evenly from each
            split and label.
        weight_decay: AdamW weight decay.
        warmup_fraction: Fraction of the steps spent warming the learning rate up linearly;
            it then decays linearly to zero.
        num_threads: ``torch.set_num_threads`` during the run; 0 keeps torch's default.
        repo_id: The encoder to load.
    """

    sizes: tuple[int, ...] = (16, 64, 256, 1024)
    seeds: tuple[int, ...] = (0, 1, 2)
    lr_pretrained: float = 1e-4
    lr_random_init: float = 1e-3
    batch_size: int = 16
    epochs: float = 3.0
    min_steps: int = 40
    max_length: int = 48
    test_size: int | None = None
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    num_threads: int = 1
    repo_id: str = MINILM.repo_id

    def validate(self) -> None:
        """Check every field; raise ``ValueError`` naming the first bad one and its valid range.

        Examples:
            >>> DataEfficiencyConfig(sizes=(16, 0)).validate()
            Traceback (most recent call last):
            ...
            ValueError: sizes must be non-empty, each in [4, 1300] (4 classes, 1300 training lines), got (16, 0)
        """
        if not self.sizes or any(
            not isinstance(s, int) or not len(LABELS) <= s <= _TRAIN_SIZE for s in self.sizes
        ):
            raise ValueError(
                f"sizes must be non-empty, each in [{len(LABELS)}, {_TRAIN_SIZE}] "
                f"({len(LABELS)} classes, {_TRAIN_SIZE} training lines), got {self.sizes}"
            )
        if len(set(self.sizes)) != len(self.sizes):
            raise ValueError(f"sizes must not repeat a size, got {self.sizes}")
        if not self.seeds or any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ValueError(
                f"seeds must hold at least one seed, each a non-negative int, got {self.seeds}"
            )
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must not repeat a seed, got {self.seeds}")
        for field in ("lr_pretrained", "lr_random_init"):
            value = getattr(self, field)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{field} must be in (0, 1], got {value}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not self.epochs > 0:
            raise ValueError(f"epochs must be positive, got {self.epochs}")
        if self.min_steps < 1:
            raise ValueError(f"min_steps must be at least 1, got {self.min_steps}")
        if not 2 <= self.max_length <= 512:
            raise ValueError(f"max_length must be in [2, 512], got {self.max_length}")
        if self.test_size is not None and not 8 <= self.test_size <= _TEST_SIZE:
            raise ValueError(
                f"test_size must be None (all) or in [8, {_TEST_SIZE}], got {self.test_size}"
            )
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.num_threads < 0:
            raise ValueError(
                f"num_threads must be >= 0 (0: torch's default), got {self.num_threads}"
            )


FULL = DataEfficiencyConfig()
"""The published run: sizes 16 to 1,024, three seeds, the whole test set.

Learning rates: 1e-4 (pre-trained) and 1e-3 (random init), from a one-seed check at sizes 16 and
64 (random init at 5e-4 stayed near 0.38 at 16; at 1e-3 it trained stably to loss 0.002 at 64).
Steps: ``max(40, 3 epochs)`` at batch 16, i.e. 40, 40, 48 and 192: about 0.55 s a step on one
core of the 2-core machine the published numbers came from, so the run takes about 20 minutes.
"""

FAST = DataEfficiencyConfig(
    sizes=(16, 64),
    seeds=(0,),
    test_size=80,
    batch_size=8,
    min_steps=8,
    epochs=1.0,
    lr_pretrained=2e-4,
)
"""The test suite's run: two sizes, one seed, 80 test lines, 8 steps of 8 texts each."""


# ----------------------------------------------------------------------------- data


def steps_for(size: int, config: DataEfficiencyConfig) -> int:
    """Training steps for a set of ``size`` lines: ``max(min_steps, ceil(epochs * size / batch))``.

    Examples:
        >>> [steps_for(n, FULL) for n in FULL.sizes]
        [40, 40, 48, 192]
    """
    return max(config.min_steps, math.ceil(config.epochs * size / config.batch_size))


# ----------------------------------------------------------------------------- model


class _Classifier(torch.nn.Module):
    """Encoder, mean pooling over real tokens, and a linear head."""

    def __init__(self, encoder: torch.nn.Module, hidden_size: int, num_labels: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(hidden_size, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(mean_pool(states, attention_mask))  # type: ignore[no-any-return]


def _pad(ids: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
    return input_ids, mask


def _build(kind: str, folder: Path, seed: int) -> _Classifier:
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    torch.manual_seed(seed)
    if kind == "pretrained":
        encoder = AutoModel.from_pretrained(folder)
    else:
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(folder))  # type: ignore[no-untyped-call]
    return _Classifier(encoder, encoder.config.hidden_size, len(LABELS))


def _train(
    model: _Classifier,
    ids: list[list[int]],
    labels: list[int],
    *,
    lr: float,
    steps: int,
    seed: int,
    pad_id: int,
    config: DataEfficiencyConfig,
    progress: Progress,
) -> float:
    """Fine-tune in place; return the mean loss of the last 10 steps."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=config.weight_decay)
    warmup = max(1, round(config.warmup_fraction * steps))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    generator = torch.Generator().manual_seed(seed)
    target = torch.tensor(labels)
    order: list[int] = []
    losses: list[float] = []
    model.train()
    for _ in range(steps):
        batch: list[int] = []
        while len(batch) < min(config.batch_size, len(ids)):
            if not order:
                order = torch.randperm(len(ids), generator=generator).tolist()
            batch.append(order.pop())
        input_ids, mask = _pad([ids[i] for i in batch], pad_id)
        loss = torch.nn.functional.cross_entropy(model(input_ids, mask), target[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        progress.update(1)
    return statistics.fmean(losses[-10:])


@torch.no_grad()
def _predict(model: _Classifier, ids: list[list[int]], pad_id: int) -> list[int]:
    model.eval()
    predictions: list[int] = []
    for start in range(0, len(ids), 64):
        input_ids, mask = _pad(ids[start : start + 64], pad_id)
        predictions += model(input_ids, mask).argmax(-1).tolist()
    return predictions


def _split_accuracy(pairs: list[tuple[int, int]], splits: list[str], split: str) -> float:
    chosen = [p == t for (p, t), s in zip(pairs, splits, strict=True) if s == split]
    return round(sum(chosen) / len(chosen), 4) if chosen else float("nan")


# ----------------------------------------------------------------------------- run


def run(config: DataEfficiencyConfig, progress: Progress) -> list[dict[str, Any]]:
    """Train both models at every size and seed; return one row per trained model.

    Each row has ``model``, ``train_size``, ``seed``, ``accuracy`` (with ``accuracy_low`` and
    ``accuracy_high``, one run's 95 % bootstrap interval), ``macro_f1``, ``accuracy_familiar``,
    ``accuracy_novel``, ``train_loss_final`` (mean of the last 10 steps), ``steps`` and
    ``seconds`` (training plus scoring).

    Raises:
        ValueError: If the configuration is out of range.
        ptm_snippets.hub.MirrorError: If the encoder's weights are not installed; the message
            names the package to install.
    """
    from transformers import AutoTokenizer

    from ptm_snippets.evaluation import evaluate_classifier

    config.validate()
    if config.repo_id == MINILM.repo_id:
        verify_package(MINILM, log=lambda _: None)  # names the package if it is missing
    folder = model_path(config.repo_id)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    pad_id = int(tokenizer.pad_token_id)

    def encode(texts: list[str]) -> list[list[int]]:
        out: list[list[int]] = tokenizer(texts, truncation=True, max_length=config.max_length)[
            "input_ids"
        ]
        return out

    train = load_tickets("train")
    test = even_subset(load_tickets("test"), config.test_size)
    label_id = {label: i for i, label in enumerate(LABELS)}
    train_ids = encode([r["text"] for r in train])
    test_ids = encode([r["text"] for r in test])
    test_labels = [label_id[r["label"]] for r in test]
    test_splits = [r["split"] for r in test]

    progress.reset(
        total=len(MODELS) * len(config.seeds) * sum(steps_for(n, config) for n in config.sizes)
    )
    threads_before = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    rows: list[dict[str, Any]] = []
    try:
        for size in config.sizes:
            for seed in config.seeds:
                picked = balanced_sample(train, size, seed)
                for kind in MODELS:
                    progress.set_postfix_str(f"{kind} n={size} seed={seed}")
                    t0 = time.perf_counter()
                    model = _build(kind, folder, seed)
                    steps = steps_for(size, config)
                    loss = _train(
                        model,
                        [train_ids[i] for i in picked],
                        [label_id[train[i]["label"]] for i in picked],
                        lr=config.lr_pretrained if kind == "pretrained" else config.lr_random_init,
                        steps=steps,
                        seed=seed,
                        pad_id=pad_id,
                        config=config,
                        progress=progress,
                    )
                    predictions = _predict(model, test_ids, pad_id)
                    report = evaluate_classifier(
                        test_labels, predictions=predictions, labels=LABELS, seed=seed
                    )
                    pairs = list(zip(predictions, test_labels, strict=True))
                    rows.append(
                        {
                            "model": kind,
                            "train_size": size,
                            "seed": seed,
                            "accuracy": round(report.accuracy.estimate, 4),
                            "accuracy_low": round(report.accuracy.low, 4),
                            "accuracy_high": round(report.accuracy.high, 4),
                            "macro_f1": round(report.macro_f1.estimate, 4),
                            "accuracy_familiar": _split_accuracy(pairs, test_splits, "familiar"),
                            "accuracy_novel": _split_accuracy(pairs, test_splits, "novel"),
                            "train_loss_final": round(loss, 4),
                            "steps": steps,
                            "seconds": round(time.perf_counter() - t0, 2),
                            "parameters": count_parameters(model),
                        }
                    )
    finally:
        torch.set_num_threads(threads_before)
    return rows


# ----------------------------------------------------------------------------- summary


_METRICS = ("accuracy", "macro_f1", "accuracy_familiar", "accuracy_novel", "train_loss_final")


def _group(rows: list[dict[str, Any]]) -> dict[str, dict[int, list[dict[str, Any]]]]:
    out: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for row in rows:
        out.setdefault(row["model"], {}).setdefault(row["train_size"], []).append(row)
    return out


def data_multiple(summary_table: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """How many times more labels random-init needs to match pre-trained at the smallest size.

    ``summary_table`` maps model -> size (as a string) -> ``{"accuracy_mean": ...}``. The
    multiple is the smallest size at which random-init's mean accuracy reaches pre-trained's
    mean at the smallest size, divided by that smallest size; ``None`` with
    ``never_within_range`` true if it never does.

    Examples:
        >>> table = {"pretrained": {"16": {"accuracy_mean": 0.8}},
        ...          "random_init": {"16": {"accuracy_mean": 0.4}, "64": {"accuracy_mean": 0.85}}}
        >>> data_multiple(table)["multiple"]
        4.0
    """
    sizes = sorted(int(s) for s in summary_table["pretrained"])
    smallest = sizes[0]
    target = summary_table["pretrained"][str(smallest)]["accuracy_mean"]
    random_sizes = sorted(int(s) for s in summary_table.get("random_init", {}))
    reached = [
        s for s in random_sizes if summary_table["random_init"][str(s)]["accuracy_mean"] >= target
    ]
    return {
        "pretrained_size": smallest,
        "pretrained_accuracy_mean": target,
        "random_init_size": reached[0] if reached else None,
        "multiple": reached[0] / smallest if reached else None,
        "never_within_range": not reached,
        "largest_size_tried": max(random_sizes) if random_sizes else None,
    }


def summarize(
    rows: list[dict[str, Any]], config: DataEfficiencyConfig | None = None
) -> dict[str, Any]:
    """Mean and sample standard deviation over seeds per model and size, plus the data multiple.

    Examples:
        >>> rows = [{"model": m, "train_size": 16, "seed": s, "accuracy": a,
        ...          "macro_f1": a, "accuracy_familiar": a, "accuracy_novel": a,
        ...          "train_loss_final": 0.1}
        ...         for m, s, a in [("pretrained", 0, 0.8), ("pretrained", 1, 0.9),
        ...                         ("random_init", 0, 0.3), ("random_init", 1, 0.3)]]
        >>> s = summarize(rows)
        >>> s["table"]["pretrained"]["16"]["accuracy_mean"], s["data_multiple"]["multiple"]
        (0.85, None)
    """
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for model, by_size in _group(rows).items():
        for size, group in sorted(by_size.items()):
            cell: dict[str, Any] = {"seeds": len(group)}
            for metric in _METRICS:
                values = [float(r[metric]) for r in group]
                cell[f"{metric}_mean"] = round(statistics.fmean(values), 4)
                cell[f"{metric}_std"] = (
                    round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
                )
            table.setdefault(model, {})[str(size)] = cell
    return {
        "std": "sample standard deviation over seeds (0 with one seed)",
        "table": table,
        "data_multiple": data_multiple(table) if "pretrained" in table else None,
    }


# ----------------------------------------------------------------------------- figure


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Draw learning curves: accuracy against training size (log2), all and novel test lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summarize(rows)["table"]
    styles = {
        "pretrained": ("pre-trained MiniLM", "tab:blue", "o"),
        "random_init": ("same network, random init", "tab:orange", "s"),
    }
    with plt.rc_context({"svg.hashsalt": "ptm-snippets", "svg.fonttype": "none"}):
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
        for ax, metric, title in (
            (axes[0], "accuracy", "All test lines"),
            (axes[1], "accuracy_novel", "Novel half (unseen words)"),
        ):
            for model, cells in table.items():
                label, color, marker = styles.get(model, (model, None, "o"))
                sizes = sorted(int(s) for s in cells)
                ax.errorbar(
                    sizes,
                    [cells[str(s)][f"{metric}_mean"] for s in sizes],
                    yerr=[cells[str(s)][f"{metric}_std"] for s in sizes],
                    label=label,
                    color=color,
                    marker=marker,
                    capsize=3,
                )
                ax.set_xscale("log", base=2)
                ax.set_xticks(sizes, [str(s) for s in sizes])
            ax.axhline(1 / len(LABELS), color="grey", linestyle=":", linewidth=1, label="chance")
            ax.set_title(title)
            ax.set_xlabel("training examples (log scale)")
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("accuracy (mean ± std over seeds)")
        axes[0].legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)


EXPERIMENT = register(
    Experiment(
        name="data_efficiency",
        run=run,
        plot=plot,
        full=FULL,
        fast=FAST,
        summarize=summarize,
        description=(
            "Pre-trained MiniLM vs the same network from random init, fine-tuned on 16 to 1,024 "
            "support tickets"
        ),
    )
)
