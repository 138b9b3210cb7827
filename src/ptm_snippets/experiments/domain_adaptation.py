"""Domain adaptation: continued masked-LM pre-training of all-MiniLM-L6-v2 on Python's documentation.

The domain is Python's own documentation, which every interpreter ships: the language-reference
topics behind ``help()`` and the docstrings of 73 standard-library modules
(:func:`ptm_snippets.domain.python_documents`), split by document into training and held-out
parts (whole modules and whole topics are held out) and cut into chunks of at most
``max_words`` words. The general text is the project's support tickets.

all-MiniLM-L6-v2 is published without a masked-LM head, so the run first fits one on the frozen
encoder (the head's dense layer, LayerNorm and output bias; the output matrix is tied to the real
input embeddings) on an equal mix of general and domain training text, once, with a fixed seed
(:func:`ptm_snippets.domain.fit_mlm_head`). That model is the "general" starting point. Then,
for every seed:

* **Continued pre-training (DAPT).** All weights train by masked language modelling on the
  domain chunks, with AdamW, a linear warm-up over the first 10 % of the steps and a linear
  decay to zero at the last checkpoint. At each checkpoint in ``steps`` (0 is the starting point)
  the run scores the masked-LM loss on held-out domain chunks and on held-out support tickets
  (the same texts and masks for every checkpoint and seed), and fine-tunes a copy of the encoder
  on the docstring task (:func:`ptm_snippets.domain.docstring_task`: which module family a
  docstring summary comes from), ``train_per_label`` examples per label, scoring accuracy on a
  balanced test set. The classifier's pooler and head are the same for every checkpoint; only
  the encoder's weights differ.
* **Head-only control.** The same number of steps of domain text trains only the MLM head, the
  encoder frozen: how much of the domain-loss drop the head alone (domain word frequencies)
  explains.
* **Vocabulary extension.** The ``extension_words`` domain words that cost the WordPiece
  tokenizer the most tokens become new tokens, initialised three ways (``random``, ``vocab``,
  ``mean``: :func:`ptm_snippets.domain.add_domain_tokens`), and each extended model continues
  pre-training as above. At each of ``extension_steps`` the run scores the loss at the new
  tokens (every occurrence masked, in up to ``eval_texts`` held-out chunks that hold one) and on
  the held-out domain texts, and the cosine between those chunks' mean-pooled embeddings and the
  ones the unextended starting model gives them.

Run it with ``python -m ptm_snippets.experiments domain_adaptation``.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ptm_snippets.domain import (
    INITS,
    TASK_LABELS,
    add_domain_tokens,
    chunk_words,
    docstring_task,
    fit_mlm_head,
    frequent_split_words,
    python_documents,
    split_documents,
)
from ptm_snippets.encoders import masked_token_losses
from ptm_snippets.experiments.runner import Experiment, Progress, register
from ptm_snippets.hub import MINILM, model_path, verify_package
from ptm_snippets.pretraining import IGNORE_INDEX, mask_tokens, mean_pool

__all__ = [
    "FAST",
    "FULL",
    "PARTS",
    "DomainAdaptationConfig",
    "plot",
    "run",
    "summarize",
]

PARTS: tuple[str, ...] = ("dapt", "head_only", "extension")
"""The three kinds of row, as they appear in the ``part`` column."""


@dataclass(frozen=True)
class DomainAdaptationConfig:
    """Settings of the domain-adaptation experiment.

    Attributes:
        steps: Checkpoints of continued pre-training, in steps; the first must be 0 (the start).
        seeds: Seeds for the pre-training batches and masks, the task sample and fine-tuning.
        lr: Peak AdamW learning rate of continued pre-training (all weights).
        batch_size: Chunks per pre-training step.
        max_words: Words per chunk of documentation.
        max_length: Longest tokenised text.
        heldout_fraction: Expected share of documentation groups (modules, topics) held out.
        head_texts: Training texts of each kind (general, domain) for fitting the MLM head.
        head_steps: Steps of fitting the MLM head.
        head_lr: Learning rate of the MLM head (also used by the head-only control).
        eval_texts: Held-out texts of each kind scored at every checkpoint.
        train_per_label: Task training examples per label, sampled anew for every seed.
        test_per_label: Task test examples per label (the same for every seed).
        finetune_steps: Fine-tuning steps on the task.
        finetune_lr: Fine-tuning learning rate.
        finetune_batch_size: Fine-tuning batch size.
        extension_words: How many domain words become new tokens (0 skips the extension part).
        extension_steps: Checkpoints of continued pre-training after the extension; first is 0.
        num_threads: ``torch.set_num_threads`` during the run; 0 keeps torch's default.
        repo_id: The encoder to adapt.
    """

    steps: tuple[int, ...] = (0, 40, 80)
    seeds: tuple[int, ...] = (0, 1, 2)
    lr: float = 2e-4
    batch_size: int = 16
    max_words: int = 16
    max_length: int = 48
    heldout_fraction: float = 0.2
    head_texts: int = 192
    head_steps: int = 40
    head_lr: float = 5e-3
    eval_texts: int = 128
    train_per_label: int = 32
    test_per_label: int = 60
    finetune_steps: int = 32
    finetune_lr: float = 1e-4
    finetune_batch_size: int = 16
    extension_words: int = 30
    extension_steps: tuple[int, ...] = (0, 20)
    num_threads: int = 1
    repo_id: str = MINILM.repo_id

    def validate(self) -> None:
        """Check every field; raise ``ValueError`` naming the first bad one and its valid range.

        Examples:
            >>> DomainAdaptationConfig(steps=(10, 20)).validate()
            Traceback (most recent call last):
            ...
            ValueError: steps must start at 0 and strictly increase, got (10, 20)
        """
        for name in ("steps", "extension_steps"):
            value = getattr(self, name)
            if (
                not value
                or value[0] != 0
                or any(not isinstance(s, int) for s in value)
                or any(b <= a for a, b in itertools.pairwise(value))
            ):
                raise ValueError(f"{name} must start at 0 and strictly increase, got {value}")
        if len(self.steps) < 2:
            raise ValueError(
                f"steps must hold 0 and at least one later checkpoint, got {self.steps}"
            )
        if not self.seeds or any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ValueError(
                f"seeds must hold at least one seed, each a non-negative int, got {self.seeds}"
            )
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must not repeat a seed, got {self.seeds}")
        for name in ("lr", "head_lr", "finetune_lr"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        for name in (
            "batch_size",
            "max_words",
            "head_texts",
            "head_steps",
            "eval_texts",
            "train_per_label",
            "test_per_label",
            "finetune_steps",
            "finetune_batch_size",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int of at least 1, got {value!r}")
        if not 2 <= self.max_length <= 512:
            raise ValueError(f"max_length must be in [2, 512], got {self.max_length}")
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ValueError(f"heldout_fraction must be in (0, 1), got {self.heldout_fraction}")
        if not 0 <= self.extension_words <= 500:
            raise ValueError(
                f"extension_words must be in [0, 500] (0 skips the extension), got "
                f"{self.extension_words}"
            )
        if self.num_threads < 0:
            raise ValueError(
                f"num_threads must be >= 0 (0: torch's default), got {self.num_threads}"
            )
        if not self.repo_id:
            raise ValueError("repo_id must name a BERT-family checkpoint, got an empty string")


FULL = DomainAdaptationConfig()
"""The published run: checkpoints at 0, 40 and 80 steps of 16 chunks, three seeds.

The learning rate, 2e-4, came from a one-seed check of 20 steps (held-out domain loss fell by about
0.45 nats); the head settings from a check of its held-out loss, which flattened after about 40
steps of 256 positions. The published run used 16 minutes of CPU time (one torch thread) and took
17 minutes of wall time on a 2-core machine shared with other jobs (load average 2 to 3).
"""

FAST = DomainAdaptationConfig(
    steps=(0, 6),
    seeds=(0,),
    lr=3e-4,
    head_texts=32,
    head_steps=10,
    eval_texts=32,
    train_per_label=8,
    test_per_label=8,
    finetune_steps=4,
    finetune_batch_size=8,
    extension_words=8,
    extension_steps=(0,),
)
"""The test suite's run: one seed, 6 steps of pre-training, the extension scored untrained, a tiny task."""


# ----------------------------------------------------------------------------- data


@dataclass
class _Data:
    domain_train: list[str]
    domain_heldout: list[str]
    domain_eval: list[str]
    general_train: list[str]
    general_eval: list[str]
    task_train: list[dict[str, str]]
    task_test: list[dict[str, str]]


def _load_data(config: DomainAdaptationConfig) -> _Data:
    from ptm_snippets.tickets import load_tickets

    train_docs, heldout_docs = split_documents(
        python_documents(), heldout_fraction=config.heldout_fraction
    )
    domain_train = chunk_words([d.text for d in train_docs], max_words=config.max_words)
    domain_heldout = chunk_words([d.text for d in heldout_docs], max_words=config.max_words)
    general_train = [t["text"] for t in load_tickets("train")]
    general_heldout = [t["text"] for t in load_tickets("test")]
    pick = random.Random("eval")
    test = docstring_task("test")
    by_label = {label: [r for r in test if r["label"] == label] for label in TASK_LABELS}
    short = {
        label: len(rows) for label, rows in by_label.items() if len(rows) < config.test_per_label
    }
    if short:
        raise ValueError(
            f"test_per_label must be at most the smallest label's test count, got "
            f"{config.test_per_label} (available: {short})"
        )
    return _Data(
        domain_train=domain_train,
        domain_heldout=domain_heldout,
        domain_eval=pick.sample(domain_heldout, min(config.eval_texts, len(domain_heldout))),
        general_train=general_train,
        general_eval=pick.sample(general_heldout, min(config.eval_texts, len(general_heldout))),
        task_train=docstring_task("train"),
        task_test=[r for label in TASK_LABELS for r in by_label[label][: config.test_per_label]],
    )


def _task_sample(rows: list[dict[str, str]], per_label: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(f"task-{seed}")
    picked: list[dict[str, str]] = []
    for label in TASK_LABELS:
        pool = [r for r in rows if r["label"] == label]
        if len(pool) < per_label:
            raise ValueError(
                f"train_per_label must be at most {len(pool)} (label {label!r}), got {per_label}"
            )
        picked += rng.sample(pool, per_label)
    rng.shuffle(picked)
    return picked


# ----------------------------------------------------------------------------- training


def _pretrain(
    model: torch.nn.Module,
    texts: Sequence[str],
    tokenizer: Any,
    *,
    checkpoints: Sequence[int],
    lr: float,
    batch_size: int,
    max_length: int,
    seed: int,
    at_checkpoint: Callable[[int], None],
    progress: Progress,
) -> None:
    """Masked-LM training of every weight, calling ``at_checkpoint(step)`` at each checkpoint.

    One schedule covers the whole run: linear warm-up over the first 10 % of the last
    checkpoint's steps, then linear decay to zero there. Masks are drawn afresh every step
    (15 %, BERT's 80/10/10), and the head runs only at the masked positions.
    """
    total = checkpoints[-1]
    generator = torch.Generator().manual_seed(seed)
    ids: dict[int, list[int]] = {}  # tokenised when first drawn: a short run reads few chunks
    pad_id = int(tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, math.ceil(0.1 * total))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    order: list[int] = []
    for step in range(total + 1):
        if step in checkpoints:
            at_checkpoint(step)
        if step == total:
            break
        model.train()
        picked: list[int] = []
        while len(picked) < batch_size:
            if not order:
                order = torch.randperm(len(texts), generator=generator).tolist()
            picked.append(order.pop())
        for i in picked:
            if i not in ids:
                ids[i] = tokenizer(texts[i], truncation=True, max_length=max_length)["input_ids"]
        width = max(len(ids[i]) for i in picked)
        input_ids = torch.full((batch_size, width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((batch_size, width), dtype=torch.long)
        for row, i in enumerate(picked):
            input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
            attention_mask[row, : len(ids[i])] = 1
        batch = mask_tokens(
            input_ids,
            mask_token_id=int(tokenizer.mask_token_id),
            vocab_size=len(tokenizer),
            special_ids=tokenizer.all_special_ids,
            generator=generator,
        )
        chosen = batch.labels != IGNORE_INDEX
        states = model.bert(  # type: ignore[operator]
            input_ids=batch.input_ids, attention_mask=attention_mask
        ).last_hidden_state
        loss = torch.nn.functional.cross_entropy(
            model.cls(states[chosen]),  # type: ignore[operator]
            batch.labels[chosen],
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        progress.update(1)
    model.eval()


def _loss(model: torch.nn.Module, texts: Sequence[str], tokenizer: Any, max_length: int) -> float:
    losses, _ = masked_token_losses(model, texts, tokenizer, max_length=max_length)
    return round(float(losses.mean()), 4)


@torch.no_grad()
def _embed(
    model: torch.nn.Module, texts: Sequence[str], tokenizer: Any, max_length: int
) -> torch.Tensor:
    model.eval()
    out = []
    for start in range(0, len(texts), 32):
        batch = tokenizer(
            list(texts[start : start + 32]),
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        states = model.bert(**batch).last_hidden_state  # type: ignore[operator]
        out.append(mean_pool(states, batch["attention_mask"]))
    return torch.cat(out)


def _task_accuracy(
    encoder_state: dict[str, torch.Tensor],
    folder: Path,
    tokenizer: Any,
    train: list[dict[str, str]],
    test: list[dict[str, str]],
    config: DomainAdaptationConfig,
    seed: int,
    progress: Progress,
) -> dict[str, Any]:
    """Fine-tune MiniLM's classifier with ``encoder_state`` loaded into its encoder; score it.

    Returns the evaluation harness's accuracy (with its bootstrap interval) and macro-F1, and
    the test predictions, so that two checkpoints can be compared item by item.
    """
    from transformers import AutoModelForSequenceClassification

    from ptm_snippets.evaluation import evaluate_classifier
    from ptm_snippets.finetuning import FineTuneConfig, encode_dataset, fine_tune, predict

    torch.manual_seed(seed)
    classifier = AutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=len(TASK_LABELS)
    )
    result = classifier.bert.load_state_dict(encoder_state, strict=False)
    if result.unexpected_keys or any(not k.startswith("pooler.") for k in result.missing_keys):
        raise RuntimeError(f"encoder weights do not fit the classifier: {result}")

    def dataset(rows: list[dict[str, str]]) -> Any:
        return encode_dataset(
            tokenizer,
            [r["text"] for r in rows],
            [TASK_LABELS.index(r["label"]) for r in rows],
            num_labels=len(TASK_LABELS),
            max_length=config.max_length,
        )

    settings = FineTuneConfig(
        learning_rate=config.finetune_lr,
        max_steps=config.finetune_steps,
        batch_size=config.finetune_batch_size,
        seed=seed,
        log_every=config.finetune_steps,
    )
    fine_tune(classifier, dataset(train), settings, pad_id=int(tokenizer.pad_token_id))
    progress.update(config.finetune_steps)
    test_data = dataset(test)
    predictions = predict(classifier, test_data, pad_id=int(tokenizer.pad_token_id))
    report = evaluate_classifier(
        test_data.labels, predictions=predictions, labels=TASK_LABELS, n_boot=1000, seed=seed
    )
    return {
        "accuracy": round(report.accuracy.estimate, 4),
        "accuracy_low": round(report.accuracy.low, 4),
        "accuracy_high": round(report.accuracy.high, 4),
        "macro_f1": round(report.macro_f1.estimate, 4),
        "predictions": predictions,
        "gold": list(test_data.labels),
    }


# ----------------------------------------------------------------------------- run


def run(config: DomainAdaptationConfig, progress: Progress) -> list[dict[str, Any]]:
    """Fit the MLM head once, then for every seed adapt, control and extend; return tidy rows.

    Rows have ``part`` (one of :data:`PARTS`), ``seed``, ``steps`` and ``seconds`` (since the
    part started for that seed), plus:

    * ``dapt``: ``domain_loss``, ``general_loss`` (held-out masked-LM loss, nats per masked
      token) and ``accuracy`` (docstring task, fine-tuned from this checkpoint's encoder);
    * ``head_only``: ``domain_loss`` and ``general_loss`` after training only the head;
    * ``extension``: ``init``, ``new_token_loss`` (every new token masked), ``domain_loss``
      (with the extended tokenizer), ``embedding_cosine`` (mean cosine to the unextended
      starting model's sentence embeddings) and ``new_tokens``.

    Raises:
        ValueError: If the configuration is out of range.
        ptm_snippets.hub.MirrorError: If the encoder's weights are not installed; the message
            names the package to install.
    """
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    config.validate()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if config.repo_id == MINILM.repo_id:
        verify_package(MINILM, log=lambda _: None)  # names the package if it is missing
    folder = model_path(config.repo_id)
    threads_before = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        data = _load_data(config)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        last, ext_last = config.steps[-1], config.extension_steps[-1]
        per_seed = (
            last
            + len(config.steps) * config.finetune_steps
            + last
            + (len(INITS) * ext_last if config.extension_words else 0)
        )
        progress.reset(total=config.head_steps + len(config.seeds) * per_seed)

        progress.set_postfix_str("fitting the MLM head")
        torch.manual_seed(0)
        start = AutoModelForMaskedLM.from_pretrained(folder)
        pick = random.Random("head")
        head_texts = pick.sample(data.general_train, config.head_texts) + pick.sample(
            data.domain_train, config.head_texts
        )
        fit_mlm_head(
            start,
            head_texts,
            tokenizer,
            steps=config.head_steps,
            lr=config.head_lr,
            max_length=config.max_length,
            generator=torch.Generator().manual_seed(0),
        )
        progress.update(config.head_steps)

        words = [
            w
            for w, _, _ in frequent_split_words(
                tokenizer, data.domain_train, top_k=max(1, config.extension_words)
            )
        ]
        rows: list[dict[str, Any]] = []
        for seed in config.seeds:
            rows += _dapt_rows(start, tokenizer, folder, data, config, seed, progress)
            rows += _head_only_rows(start, tokenizer, data, config, seed, progress)
            if config.extension_words:
                rows += _extension_rows(start, tokenizer, words, data, config, seed, progress)
    finally:
        torch.set_num_threads(threads_before)
    return rows


def _dapt_rows(
    start: torch.nn.Module,
    tokenizer: Any,
    folder: Path,
    data: _Data,
    config: DomainAdaptationConfig,
    seed: int,
    progress: Progress,
) -> list[dict[str, Any]]:
    model = copy.deepcopy(start)
    train = _task_sample(data.task_train, config.train_per_label, seed)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()

    def checkpoint(step: int) -> None:
        progress.set_postfix_str(f"dapt seed={seed} step={step}")
        bert: torch.nn.Module = model.bert  # type: ignore[assignment]
        encoder = {k: v.detach().clone() for k, v in bert.state_dict().items()}
        rows.append(
            {
                "part": "dapt",
                "seed": seed,
                "steps": step,
                "domain_loss": _loss(model, data.domain_eval, tokenizer, config.max_length),
                "general_loss": _loss(model, data.general_eval, tokenizer, config.max_length),
                **_task_accuracy(
                    encoder, folder, tokenizer, train, data.task_test, config, seed, progress
                ),
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )

    _pretrain(
        model,
        data.domain_train,
        tokenizer,
        checkpoints=config.steps,
        lr=config.lr,
        batch_size=config.batch_size,
        max_length=config.max_length,
        seed=seed,
        at_checkpoint=checkpoint,
        progress=progress,
    )
    return rows


def _head_only_rows(
    start: torch.nn.Module,
    tokenizer: Any,
    data: _Data,
    config: DomainAdaptationConfig,
    seed: int,
    progress: Progress,
) -> list[dict[str, Any]]:
    """The control: as many domain chunks as the longest DAPT run reads, training only the head."""
    progress.set_postfix_str(f"head-only seed={seed}")
    t0 = time.perf_counter()
    model = copy.deepcopy(start)
    steps = config.steps[-1]
    pick = random.Random(f"head-only-{seed}")
    texts = pick.sample(data.domain_train, min(len(data.domain_train), steps * config.batch_size))
    fit_mlm_head(
        model,
        texts,
        tokenizer,
        steps=steps,
        positions_per_step=256,
        lr=config.head_lr,
        mlm_probability=0.15,
        max_length=config.max_length,
        generator=torch.Generator().manual_seed(seed),
    )
    progress.update(steps)
    return [
        {
            "part": "head_only",
            "seed": seed,
            "steps": steps,
            "domain_loss": _loss(model, data.domain_eval, tokenizer, config.max_length),
            "general_loss": _loss(model, data.general_eval, tokenizer, config.max_length),
            "seconds": round(time.perf_counter() - t0, 2),
        }
    ]


def _extension_rows(
    start: torch.nn.Module,
    tokenizer: Any,
    words: list[str],
    data: _Data,
    config: DomainAdaptationConfig,
    seed: int,
    progress: Progress,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    probe: list[str] = []
    reference = torch.empty(0)
    for init in INITS:
        t0 = time.perf_counter()
        model = copy.deepcopy(start)
        extended = copy.deepcopy(tokenizer)
        torch.manual_seed(seed)  # the random init draws from the global generator
        new_ids = add_domain_tokens(model, extended, words, init=init)
        if not probe:  # the same words, hence the same texts and ids, for every init
            new_set = set(new_ids)
            encoded = extended(data.domain_heldout)["input_ids"]
            probe = [
                t for t, ids in zip(data.domain_heldout, encoded, strict=True) if new_set & set(ids)
            ]
            if not probe:
                raise ValueError(
                    "no held-out domain text contains a new token; raise extension_words"
                )
            probe = random.Random("probe").sample(probe, min(len(probe), config.eval_texts))
            reference = _embed(start, probe, tokenizer, config.max_length)

        def checkpoint(
            step: int,
            init: str = init,
            model: torch.nn.Module = model,
            extended: Any = extended,
            probe: list[str] = probe,
            new_ids: list[int] = new_ids,
            reference: torch.Tensor = reference,
            t0: float = t0,
        ) -> None:
            progress.set_postfix_str(f"extension {init} seed={seed} step={step}")
            new_losses, _ = masked_token_losses(
                model, probe, extended, max_length=config.max_length, mask_ids=new_ids
            )
            cosine = torch.nn.functional.cosine_similarity(
                _embed(model, probe, extended, config.max_length), reference, dim=-1
            )
            rows.append(
                {
                    "part": "extension",
                    "seed": seed,
                    "init": init,
                    "steps": step,
                    "new_token_loss": round(float(new_losses.mean()), 4),
                    "new_tokens": len(new_losses),
                    "domain_loss": _loss(model, data.domain_eval, extended, config.max_length),
                    "embedding_cosine": round(float(cosine.mean()), 4),
                    "seconds": round(time.perf_counter() - t0, 2),
                }
            )

        _pretrain(
            model,
            data.domain_train,
            extended,
            checkpoints=config.extension_steps,
            lr=config.lr,
            batch_size=config.batch_size,
            max_length=config.max_length,
            seed=seed,
            at_checkpoint=checkpoint,
            progress=progress,
        )
    return rows


# ----------------------------------------------------------------------------- summary

_METRICS = {
    "dapt": ("domain_loss", "general_loss", "accuracy", "macro_f1"),
    "head_only": ("domain_loss", "general_loss"),
    "extension": ("new_token_loss", "domain_loss", "embedding_cosine"),
}


def _cell(group: list[dict[str, Any]], metrics: Sequence[str]) -> dict[str, Any]:
    cell: dict[str, Any] = {"seeds": len(group)}
    for metric in metrics:
        values = [float(r[metric]) for r in group if metric in r]
        if not values:
            continue
        cell[f"{metric}_mean"] = round(statistics.fmean(values), 4)
        cell[f"{metric}_std"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
    return cell


def _paired_tests(dapt: list[dict[str, Any]], first: int, last: int) -> list[dict[str, Any]]:
    """McNemar's test per seed: the classifier on the last checkpoint against the first one."""
    from ptm_snippets.evaluation import mcnemar_test

    tests = []
    for a in dapt:
        if a["steps"] != first or "predictions" not in a:
            continue
        for b in dapt:
            if b["steps"] == last and b["seed"] == a["seed"] and "predictions" in b:
                result = mcnemar_test(a["gold"], a["predictions"], b["predictions"])
                tests.append(
                    {
                        "seed": a["seed"],
                        "only_before_right": result.a_only,
                        "only_after_right": result.b_only,
                        "p_value": round(result.p_value, 4),
                    }
                )
    return tests


def summarize(
    rows: list[dict[str, Any]], config: DomainAdaptationConfig | None = None
) -> dict[str, Any]:
    """Mean and sample standard deviation over seeds, per part and checkpoint (and init).

    ``dapt`` maps steps (as strings) to cells, ``head_only`` is one cell, ``extension`` maps
    init to steps to cells; ``changes`` gives the DAPT differences between the first and the last
    checkpoint (mean over seeds of the per-seed differences) and the share of the domain-loss drop
    that the head-only control reaches.

    Examples:
        >>> rows = [{"part": "dapt", "seed": s, "steps": n, "domain_loss": d, "general_loss": g,
        ...          "accuracy": a} for s, n, d, g, a in [(0, 0, 6.0, 6.5, 0.8), (0, 10, 5.0, 7.0, 0.9),
        ...                                              (1, 0, 6.0, 6.5, 0.8), (1, 10, 5.5, 6.9, 0.8)]]
        >>> rows.append({"part": "head_only", "seed": 0, "steps": 10, "domain_loss": 5.8,
        ...              "general_loss": 6.6})
        >>> s = summarize(rows)
        >>> s["dapt"]["10"]["domain_loss_mean"], s["changes"]["domain_loss"]
        (5.25, -0.75)
        >>> s["changes"]["head_only_share_of_domain_drop"]
        0.2667
    """
    out: dict[str, Any] = {"std": "sample standard deviation over seeds (0 with one seed)"}
    dapt = [r for r in rows if r["part"] == "dapt"]
    steps = sorted({r["steps"] for r in dapt})
    out["dapt"] = {
        str(n): _cell([r for r in dapt if r["steps"] == n], _METRICS["dapt"]) for n in steps
    }
    head = [r for r in rows if r["part"] == "head_only"]
    out["head_only"] = _cell(head, _METRICS["head_only"]) if head else None
    extension = [r for r in rows if r["part"] == "extension"]
    out["extension"] = {
        init: {
            str(n): _cell(
                [r for r in extension if r["init"] == init and r["steps"] == n],
                _METRICS["extension"],
            )
            for n in sorted({r["steps"] for r in extension if r["init"] == init})
        }
        for init in INITS
        if any(r["init"] == init for r in extension)
    }
    changes: dict[str, Any] = {}
    if len(steps) >= 2:
        first, last = steps[0], steps[-1]
        for metric in _METRICS["dapt"]:
            diffs = [
                float(b[metric]) - float(a[metric])
                for a in dapt
                if a["steps"] == first
                for b in dapt
                if b["steps"] == last and b["seed"] == a["seed"] and metric in a and metric in b
            ]
            changes[metric] = round(statistics.fmean(diffs), 4) if diffs else None
        changes["mcnemar"] = _paired_tests(dapt, first, last)
        drop = -(changes.get("domain_loss") or 0.0)
        if head and drop > 0:
            start = out["dapt"][str(first)]["domain_loss_mean"]
            head_drop = start - out["head_only"]["domain_loss_mean"]
            changes["head_only_share_of_domain_drop"] = round(head_drop / drop, 4)
    out["changes"] = changes
    return out


# ----------------------------------------------------------------------------- figure


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Three panels: held-out losses and task accuracy against steps; the new tokens' loss per init."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarize(rows)
    dapt = summary["dapt"]
    steps = [int(s) for s in dapt]
    with plt.rc_context({"svg.hashsalt": "ptm-snippets", "svg.fonttype": "none"}):
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
        ax = axes[0]
        for metric, label, color in (
            ("domain_loss", "held-out Python docs", "tab:blue"),
            ("general_loss", "held-out support tickets", "tab:orange"),
        ):
            ax.errorbar(
                steps,
                [dapt[str(s)][f"{metric}_mean"] for s in steps],
                yerr=[dapt[str(s)][f"{metric}_std"] for s in steps],
                label=label,
                color=color,
                marker="o",
                capsize=3,
            )
            if summary["head_only"] is not None:
                ax.plot(
                    [steps[-1]],
                    [summary["head_only"][f"{metric}_mean"]],
                    marker="x",
                    markersize=9,
                    linestyle="none",
                    color=color,
                    label=f"head only ({label.split(' ', 1)[1]})",
                )
        ax.set_title("Held-out masked-LM loss", fontsize=10)
        ax.set_xlabel("continued pre-training steps (16 chunks each)")
        ax.set_ylabel("nats per masked token")
        ax.legend(fontsize=7)
        ax = axes[1]
        ax.errorbar(
            steps,
            [dapt[str(s)]["accuracy_mean"] for s in steps],
            yerr=[dapt[str(s)]["accuracy_std"] for s in steps],
            color="tab:green",
            marker="o",
            capsize=3,
            label="fine-tuned on the docstring task",
        )
        ax.axhline(1 / len(TASK_LABELS), color="grey", linestyle=":", linewidth=1, label="chance")
        ax.set_ylim(0, 1)
        ax.set_title("Downstream accuracy from each checkpoint", fontsize=10)
        ax.set_xlabel("pre-training steps before fine-tuning")
        ax.set_ylabel("test accuracy (mean ± std over seeds)")
        ax.legend(fontsize=7, loc="lower right")
        ax = axes[2]
        colors = {"random": "tab:red", "vocab": "tab:purple", "mean": "tab:blue"}
        for init, cells in summary["extension"].items():
            ext_steps = [int(s) for s in cells]
            ax.errorbar(
                ext_steps,
                [cells[str(s)]["new_token_loss_mean"] for s in ext_steps],
                yerr=[cells[str(s)]["new_token_loss_std"] for s in ext_steps],
                color=colors.get(init),
                marker="o",
                capsize=3,
                label=f"init: {init}",
            )
        ax.set_title("Loss at the new tokens, by initialisation", fontsize=10)
        ax.set_xlabel("pre-training steps after adding the tokens")
        ax.set_ylabel("nats per masked new token")
        ax.legend(fontsize=7)
        for ax in axes:
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)


EXPERIMENT = register(
    Experiment(
        name="domain_adaptation",
        run=run,
        plot=plot,
        full=FULL,
        fast=FAST,
        summarize=summarize,
        description=(
            "Continued masked-LM pre-training of MiniLM on Python's documentation: held-out "
            "domain and general loss, downstream accuracy, and new-token initialisations"
        ),
    )
)
