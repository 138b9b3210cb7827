"""PEFT on a decoder: SmolLM2-135M-Instruct taught to answer a ticket's category, full vs LoRA vs IA3.

The classification experiment (:mod:`ptm_snippets.experiments.peft_methods`) adapts an encoder
with a new head. This one adapts a causal language model the way instruction tuning does: the
model reads a prompt and is trained to generate the answer, here one word. Every prompt is

    Classify the customer support ticket as billing, delivery, account or technical.
    Ticket: <the ticket's text>
    Category:

and the answer is `` billing``, `` delivery``, `` account`` or `` technical`` (each one token in
SmolLM2's vocabulary). The loss is the cross-entropy of the answer token alone, over the whole
vocabulary ("completion-only" loss: the prompt's tokens are not trained on). The arms:

* ``zero_shot``: the instruct model as released, no training (the baseline);
* ``full``: every weight (134.5 M, the tied embedding and output matrix included);
* ``lora_qv_r8``: LoRA rank 8 on the attention ``q_proj`` and ``v_proj`` of all 30 layers;
* ``lora_all_r8``: LoRA rank 8 on every linear layer of the blocks (``"all-linear"``);
* ``ia3``: IA3 on ``peft``'s default layers for Llama-style models (``k_proj``, ``v_proj``,
  ``down_proj``).

Per arm and seed it records the trainable parameters, the size on disk of what must be saved, the
median wall and CPU time of a training step, the peak increase of resident memory while training
(in a fresh process, first seed only), and on held-out tickets: the accuracy of the category the
model ranks highest among the four (with its 95 % bootstrap interval), macro-F1 and calibration
error from :func:`ptm_snippets.evaluation.evaluate_classifier`, the share of tickets whose most
likely next token over the whole vocabulary is the right category (what greedy generation would
answer), and the mean negative log-likelihood of the right answer. It also measures the
perplexity of a fixed stretch of Python's language reference (text unrelated to the task), to
see how much of its general language modelling each arm gives up.

Run it with ``python -m ptm_snippets.experiments peft_causal_lm``.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ptm_snippets.experiments.runner import (
    Experiment,
    Progress,
    quiet_transformers,
    register,
    short_count,
)
from ptm_snippets.hub import SMOLLM2, model_path, verify_package
from ptm_snippets.tickets import LABELS, balanced_sample, even_subset, load_tickets

__all__ = [
    "ARMS",
    "CANDIDATE_RATES",
    "FAST",
    "FULL",
    "INSTRUCTION",
    "PeftCausalLmConfig",
    "answer_token_ids",
    "check_rates",
    "label_log_probs",
    "next_token_logits",
    "plot",
    "prompt",
    "run",
    "split_tickets",
    "summarize",
    "train_arm",
]

INSTRUCTION = "Classify the customer support ticket as billing, delivery, account or technical."
"""The first line of every prompt."""

ARMS: dict[str, dict[str, Any] | None] = {
    "zero_shot": None,
    "full": {},
    "lora_qv_r8": {"method": "lora", "rank": 8, "target_modules": ("q_proj", "v_proj")},
    "lora_all_r8": {"method": "lora", "rank": 8, "target_modules": "all-linear"},
    "ia3": {"method": "ia3"},
}
"""Each arm's :func:`ptm_snippets.adapters.make_peft_model` arguments (``{}``: every weight
trains; ``None``: no training)."""

_TRAIN_SIZE = 1300
_TEST_SIZE = 440


@dataclass(frozen=True)
class PeftCausalLmConfig:
    """Settings of the decoder PEFT experiment.

    Attributes:
        arms: Which arms of :data:`ARMS` to run, in this order.
        learning_rates: ``(arm, learning rate)`` pairs, one for every trained arm in ``arms``.
        seeds: Seeds for the training sample and the batch order (the zero-shot arm runs once).
        train_size: Class-balanced training tickets, drawn anew for every seed.
        steps: Optimizer steps per trained arm.
        batch_size: Prompts per step.
        warmup_steps: Steps of linear warm-up; the rate then decays linearly to zero.
        test_size: Held-out tickets scored, taken evenly from each split and label.
        validation_size: If above 0, score this many class-balanced tickets from the training
            file that the seed's training sample left out, instead of the test set (for choosing
            learning rates without looking at the test set).
        general_tokens: Tokens of Python's language reference whose perplexity is measured.
        isolate: Run each arm in a freshly spawned process
            (:func:`ptm_snippets.experiments.measure.run_isolated`) so that its memory peak is
            its own; ``False`` runs in this process and records no memory.
        num_threads: ``torch.set_num_threads`` while working; 0 keeps torch's default.
        repo_id: The causal LM to adapt.
    """

    arms: tuple[str, ...] = tuple(ARMS)
    learning_rates: tuple[tuple[str, float], ...] = (
        ("full", 5e-5),
        ("lora_qv_r8", 3e-3),
        ("lora_all_r8", 3e-3),
        ("ia3", 3e-2),
    )
    seeds: tuple[int, ...] = (0, 1, 2)
    train_size: int = 240
    steps: int = 30
    batch_size: int = 8
    warmup_steps: int = 3
    test_size: int = 200
    validation_size: int = 0
    general_tokens: int = 2048
    isolate: bool = True
    num_threads: int = 1
    repo_id: str = SMOLLM2.repo_id

    def learning_rate(self, arm: str) -> float:
        """The learning rate configured for ``arm``.

        Examples:
            >>> FULL.learning_rate("lora_qv_r8")
            0.003
        """
        return dict(self.learning_rates)[arm]

    def validate(self) -> None:
        """Check every field; raise ``ValueError`` naming the first bad one and its valid range.

        Examples:
            >>> PeftCausalLmConfig(steps=0).validate()
            Traceback (most recent call last):
            ...
            ValueError: steps must be at least 1, got 0
        """
        if (
            not self.arms
            or any(a not in ARMS for a in self.arms)
            or len(set(self.arms)) != len(self.arms)
        ):
            raise ValueError(
                f"arms must be a non-empty tuple of distinct names from {tuple(ARMS)}, "
                f"got {self.arms}"
            )
        rates = dict(self.learning_rates)
        for arm in self.arms:
            if ARMS[arm] is None:
                continue
            rate = rates.get(arm)
            if rate is None or isinstance(rate, bool) or not 0.0 < rate <= 1.0:
                raise ValueError(
                    "learning_rates must give every trained arm a rate in (0, 1]; "
                    f"arm {arm!r} has {rate!r}"
                )
        if not self.seeds or any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ValueError(
                f"seeds must hold at least one seed, each a non-negative int, got {self.seeds}"
            )
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must not repeat a seed, got {self.seeds}")
        if not len(LABELS) <= self.train_size <= _TRAIN_SIZE:
            raise ValueError(
                f"train_size must be in [{len(LABELS)}, {_TRAIN_SIZE}], got {self.train_size}"
            )
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_steps < self.steps:
            raise ValueError(
                f"warmup_steps must be in [0, steps={self.steps}), got {self.warmup_steps}"
            )
        if not 8 <= self.test_size <= _TEST_SIZE:
            raise ValueError(f"test_size must be in [8, {_TEST_SIZE}], got {self.test_size}")
        if self.validation_size and not 8 <= self.validation_size <= _TRAIN_SIZE - self.train_size:
            raise ValueError(
                f"validation_size must be 0 (score the test set) or in "
                f"[8, {_TRAIN_SIZE - self.train_size}] (what train_size leaves), "
                f"got {self.validation_size}"
            )
        if not 64 <= self.general_tokens <= 8192:
            raise ValueError(f"general_tokens must be in [64, 8192], got {self.general_tokens}")
        if self.num_threads < 0:
            raise ValueError(
                f"num_threads must be >= 0 (0: torch's default), got {self.num_threads}"
            )
        if not self.repo_id:
            raise ValueError("repo_id must name a model, got an empty string")


FULL = PeftCausalLmConfig()
"""The published run: five arms, three seeds, 240 training tickets, 30 steps of 8, 200 test tickets.

Each arm's learning rate is the one of :data:`CANDIDATE_RATES` that scored best in
:func:`check_rates` (one seed, 80 validation tickets from the training file, never the test set).
"""

FAST = PeftCausalLmConfig(
    arms=("zero_shot", "full", "lora_qv_r8"),
    seeds=(0,),
    train_size=32,
    steps=3,
    batch_size=4,
    warmup_steps=1,
    test_size=16,
    general_tokens=128,
    isolate=False,
)
"""The test suite's run: zero-shot, full and LoRA, one seed, 3 steps of 4, 16 test tickets."""


# ----------------------------------------------------------------------------- prompts


def prompt(text: str) -> str:
    """The prompt for one ticket; the model should continue it with a category.

    Examples:
        >>> print(prompt("Where is my parcel?"))
        Classify the customer support ticket as billing, delivery, account or technical.
        Ticket: Where is my parcel?
        Category:
    """
    return f"{INSTRUCTION}\nTicket: {text}\nCategory:"


def answer_token_ids(tokenizer: Any, labels: tuple[str, ...] = LABELS) -> list[int]:
    """The token id of each answer (`` billing``, ...); each must be a single token.

    Raises:
        ValueError: If an answer takes more than one token (the experiment scores one token).
    """
    ids: list[int] = []
    for label in labels:
        pieces = tokenizer(" " + label, add_special_tokens=False)["input_ids"]
        if len(pieces) != 1:
            raise ValueError(
                f"labels must each be one token after a space; {label!r} is {len(pieces)} tokens"
            )
        ids.append(int(pieces[0]))
    return ids


def _left_padded(prompts: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad token lists so every prompt ends at the last column; positions skip the padding."""
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, ids in enumerate(prompts):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        mask[row, width - len(ids) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return {"input_ids": input_ids, "attention_mask": mask, "position_ids": positions}


def next_token_logits(model: Any, prompts: list[list[int]], pad_id: int) -> torch.Tensor:
    """Logits of the token after each prompt, shape ``(len(prompts), vocabulary)``.

    The prompts are left-padded so that each ends in the last column, with position ids that
    skip the padding, and the model computes the output layer for that column alone
    (``logits_to_keep=1``): over a 49,152-token vocabulary that is most of the saving.
    Gradients flow, so training steps use it too.
    """
    batch = _left_padded(prompts, pad_id)
    out = model(**batch, logits_to_keep=1, use_cache=False)
    logits: torch.Tensor = out.logits[:, -1].float()
    return logits


@torch.no_grad()
def label_log_probs(
    model: Any, prompts: list[list[int]], answers: list[int], *, pad_id: int, batch_size: int = 16
) -> tuple[torch.Tensor, torch.Tensor]:
    """Score every prompt's possible answers in one forward pass each (batched).

    Returns:
        ``(answer_log_probs, top_is_answer)``: the log-probability of each answer token over
        the whole vocabulary, shape ``(len(prompts), len(answers))``, and the id of the most
        likely next token of every prompt, shape ``(len(prompts),)``.
    """
    was_training = model.training
    model.eval()
    scores: list[torch.Tensor] = []
    tops: list[torch.Tensor] = []
    for start in range(0, len(prompts), batch_size):
        logits = next_token_logits(model, prompts[start : start + batch_size], pad_id)
        log_probs = logits.log_softmax(-1)
        scores.append(log_probs[:, answers])
        tops.append(logits.argmax(-1))
    model.train(was_training)
    return torch.cat(scores), torch.cat(tops)


# ----------------------------------------------------------------------------- data


def split_tickets(
    config: PeftCausalLmConfig, seed: int
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """``(training sample, scored tickets)`` for one seed.

    The training sample is ``config.train_size`` class-balanced lines of the training file. The
    scored tickets are ``config.test_size`` test lines, or with ``config.validation_size`` that
    many class-balanced training-file lines the sample left out.

    Examples:
        >>> train, scored = split_tickets(replace(FAST, validation_size=12), seed=0)
        >>> len(train), len(scored), {r["text"] for r in train} & {r["text"] for r in scored}
        (32, 12, set())
    """
    train = load_tickets("train")
    sample = balanced_sample(train, config.train_size, seed)
    training = [train[i] for i in sample]
    if not config.validation_size:
        return training, even_subset(load_tickets("test"), config.test_size)
    taken = set(sample)
    rest = [r for i, r in enumerate(train) if i not in taken]
    chosen = balanced_sample(rest, config.validation_size, 10_000 + seed)
    return training, [rest[i] for i in chosen]


# ----------------------------------------------------------------------------- one arm


def _build(arm: str, config: PeftCausalLmConfig) -> Any:
    """Load the model and set up what trains for ``arm``."""
    import warnings

    from transformers import AutoModelForCausalLM

    from ptm_snippets.adapters import make_peft_model

    if arm not in ARMS:
        raise ValueError(f"arm must be one of {tuple(ARMS)}, got {arm!r}")
    model: Any = AutoModelForCausalLM.from_pretrained(model_path(config.repo_id))
    options = ARMS[arm]
    if options:
        options = dict(options)
        method = options.pop("method")
        with warnings.catch_warnings():
            warnings.filterwarnings(  # raised by peft under transformers 5; not our call
                "ignore",
                message="`is_gradient_checkpointing` is deprecated",
                category=FutureWarning,
            )
            model = make_peft_model(model, method, task_type="CAUSAL_LM", **options)
    return model


def _general_text_ids(tokenizer: Any, tokens: int) -> list[int]:
    """The first ``tokens`` tokens of Python's language-reference topics, in name order."""
    from ptm_snippets.domain import python_documents

    text = "\n\n".join(d.text for d in python_documents([], topics=True))
    ids: list[int] = tokenizer(text[: tokens * 8], add_special_tokens=False)["input_ids"]
    if len(ids) < tokens:
        raise ValueError(f"general_tokens={tokens} is more than the reference text holds")
    return ids[:tokens]


def _saved_bytes(model: Any, arm: str, folder: Path) -> int:
    from ptm_snippets.adapters import adapter_size_bytes

    model.save_pretrained(folder)
    if ARMS[arm]:
        return adapter_size_bytes(folder)
    return sum(f.stat().st_size for f in folder.glob("*.safetensors"))


def _train(
    model: Any,
    prompts: list[list[int]],
    answers: list[int],
    config: PeftCausalLmConfig,
    arm: str,
    seed: int,
    pad_id: int,
) -> tuple[list[float], list[float], list[float]]:
    """AdamW on the answer token's cross-entropy; return losses, wall and CPU step seconds."""
    torch.manual_seed(seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate(arm), weight_decay=0.0)
    warmup, total = config.warmup_steps, config.steps

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / (total - warmup))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    rng = random.Random(f"batches-{seed}")
    order: list[int] = []
    losses: list[float] = []
    wall: list[float] = []
    cpu: list[float] = []
    model.train()
    for _ in range(config.steps):
        if len(order) < config.batch_size:  # a new pass: reshuffle; never repeat within a batch
            fresh = list(range(len(prompts)))
            rng.shuffle(fresh)
            order = fresh
        picked, order = order[: config.batch_size], order[config.batch_size :]
        w0, c0 = time.perf_counter(), time.thread_time()
        logits = next_token_logits(model, [prompts[i] for i in picked], pad_id)
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([answers[i] for i in picked]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        schedule.step()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.thread_time() - c0)
        losses.append(loss.item())
    model.eval()
    return losses, wall, cpu


def train_arm(arm: str, config: PeftCausalLmConfig, measure_memory: bool) -> list[dict[str, Any]]:
    """Train (unless zero-shot) and score one arm for every seed; return one row per run.

    With ``measure_memory`` the first seed's training records the peak increase of resident
    memory; :func:`run` sets it when each arm runs in a fresh process.

    Raises:
        ValueError: If ``arm`` is not in :data:`ARMS`.
    """
    from transformers import AutoTokenizer

    from ptm_snippets.adapters import trainable_parameters
    from ptm_snippets.evaluation import causal_lm_perplexity, evaluate_classifier
    from ptm_snippets.experiments.measure import PeakMemory, page_in

    if arm not in ARMS:
        raise ValueError(f"arm must be one of {tuple(ARMS)}, got {arm!r}")
    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(model_path(config.repo_id))
    pad_id = int(tokenizer.pad_token_id)
    answers = answer_token_ids(tokenizer)

    def encode(rows: list[dict[str, str]]) -> tuple[list[list[int]], list[int]]:
        prompts = [tokenizer(prompt(r["text"]))["input_ids"] for r in rows]
        return prompts, [LABELS.index(r["label"]) for r in rows]

    general = _general_text_ids(tokenizer, config.general_tokens)
    threads_before = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    rows: list[dict[str, Any]] = []
    try:
        seeds = config.seeds if ARMS[arm] is not None else config.seeds[:1]
        for k, seed in enumerate(seeds):
            t0 = time.perf_counter()
            torch.manual_seed(seed)  # the adapters' random initial factors
            model = _build(arm, config)
            count = trainable_parameters(model)
            losses: list[float] = []
            wall: list[float] = []
            cpu: list[float] = []
            memory_increase = None
            training, scored = split_tickets(config, seed)
            scored_prompts, scored_gold = encode(scored)
            if ARMS[arm] is not None:
                prompts, gold = encode(training)
                page_in(model)  # resident before measuring: the weights are not training's
                with PeakMemory() as memory:
                    losses, wall, cpu = _train(
                        model, prompts, [answers[g] for g in gold], config, arm, seed, pad_id
                    )
                if measure_memory and k == 0:
                    memory_increase = memory.peak - memory.start
            scores, tops = label_log_probs(model, scored_prompts, answers, pad_id=pad_id)
            probabilities = scores.softmax(-1)  # renormalised over the four answers
            report = evaluate_classifier(
                scored_gold, probabilities=probabilities.numpy(), labels=LABELS, seed=seed
            )
            right = torch.tensor([answers[g] for g in scored_gold])
            answer_nll = -scores[torch.arange(len(scored_gold)), torch.tensor(scored_gold)]
            perplexity = causal_lm_perplexity(model, general, window=256)
            saved = None
            if ARMS[arm] is not None and k == 0:
                with tempfile.TemporaryDirectory() as folder:
                    saved = _saved_bytes(model, arm, Path(folder))
            rows.append(
                {
                    "arm": arm,
                    "seed": seed,
                    "learning_rate": config.learning_rate(arm) if ARMS[arm] is not None else None,
                    "trainable_parameters": count.trainable if ARMS[arm] is not None else 0,
                    "total_parameters": count.total,
                    "saved_bytes": saved,
                    "step_seconds_median": round(statistics.median(wall), 4) if wall else None,
                    "step_cpu_seconds_median": round(statistics.median(cpu), 4) if cpu else None,
                    "train_peak_increase_bytes": memory_increase,
                    "accuracy": round(report.accuracy.estimate, 4),
                    "accuracy_low": round(report.accuracy.low, 4),
                    "accuracy_high": round(report.accuracy.high, 4),
                    "macro_f1": round(report.macro_f1.estimate, 4),
                    "ece": round(float(report.ece or 0.0), 4),
                    "greedy_answer_correct": round(float((tops == right).float().mean()), 4),
                    "answer_nll": round(float(answer_nll.mean()), 4),
                    "general_perplexity": round(perplexity.perplexity, 3),
                    "train_loss_first": round(statistics.fmean(losses[:3]), 4) if losses else None,
                    "train_loss_final": round(statistics.fmean(losses[-5:]), 4) if losses else None,
                    "steps": len(losses),
                    "seconds": round(time.perf_counter() - t0, 2),
                }
            )
    finally:
        torch.set_num_threads(threads_before)
    return rows


# ----------------------------------------------------------------------------- learning rates

CANDIDATE_RATES: dict[str, tuple[float, ...]] = {
    "full": (2e-5, 5e-5, 1e-4),
    "lora_qv_r8": (1e-3, 3e-3, 1e-2),
    "lora_all_r8": (3e-4, 1e-3, 3e-3),
    "ia3": (3e-3, 1e-2, 3e-2),
}
"""The learning rates :func:`check_rates` tries per arm. :data:`FULL` uses, per arm, the rate with
the best validation accuracy, the lower rate on a tie (it moves the model less). A first look
scored on 80 test tickets, before the validation split existed, had ruled out full fine-tuning
at 1e-5 and LoRA on q and v at 3e-4 (both far behind after 30 steps); nothing else was chosen
on the test set."""


def check_rates(
    rates: dict[str, tuple[float, ...]] | None = None,
    config: PeftCausalLmConfig = FULL,
    validation_size: int = 80,
) -> list[dict[str, Any]]:
    """Train each arm at each candidate rate (first seed) and score it on validation tickets.

    The validation tickets come from the training file, outside the seed's training sample, so
    choosing the rate never looks at the test set. Returns one :func:`train_arm` row per
    ``(arm, rate)``; runs in this process (no memory measurement).
    """
    rows: list[dict[str, Any]] = []
    for arm, candidates in (rates or CANDIDATE_RATES).items():
        for rate in candidates:
            checked = replace(
                config,
                arms=(arm,),
                learning_rates=((arm, rate),),
                seeds=config.seeds[:1],
                validation_size=validation_size,
                isolate=False,
            )
            checked.validate()
            rows += train_arm(arm, checked, measure_memory=False)
    return rows


# ----------------------------------------------------------------------------- run


def run(config: PeftCausalLmConfig, progress: Progress) -> list[dict[str, Any]]:
    """Run every arm (each in a fresh process when ``config.isolate``); return the rows.

    Raises:
        ValueError: If the configuration is out of range.
        ptm_snippets.hub.MirrorError: If SmolLM2 is not installed; the message names the
            package to install.
    """
    from ptm_snippets.experiments.measure import run_isolated

    config.validate()
    if config.repo_id == SMOLLM2.repo_id:
        verify_package(SMOLLM2, log=lambda _: None)
    progress.reset(total=len(config.arms))
    rows: list[dict[str, Any]] = []
    for arm in config.arms:
        progress.set_postfix_str(arm)
        if config.isolate:
            rows += run_isolated(
                "ptm_snippets.experiments.peft_causal_lm:train_arm",
                arm=arm,
                config=config,
                measure_memory=True,
            ).value
        else:
            rows += train_arm(arm, config, measure_memory=False)
        progress.update(1)
    return rows


# ----------------------------------------------------------------------------- summary

_METRICS = (
    "accuracy",
    "macro_f1",
    "ece",
    "greedy_answer_correct",
    "answer_nll",
    "general_perplexity",
)


def summarize(
    rows: list[dict[str, Any]], config: PeftCausalLmConfig | None = None
) -> dict[str, Any]:
    """Per arm: mean and sample std over seeds, sizes, step times, memory, and ratios.

    ``vs_full`` compares each arm with full fine-tuning (accuracy difference; ratios of
    trainable parameters, saved bytes, CPU step time and training memory);
    ``general_perplexity_vs_zero_shot`` is each arm's general-text perplexity over the
    untrained model's.

    Examples:
        >>> rows = [{"arm": a, "seed": s, "trainable_parameters": n, "total_parameters": 100,
        ...          "saved_bytes": 4 * n or None, "step_seconds_median": t,
        ...          "step_cpu_seconds_median": t, "train_peak_increase_bytes": m,
        ...          "accuracy": acc, "accuracy_low": acc - 0.1, "accuracy_high": acc + 0.1,
        ...          "macro_f1": acc, "ece": 0.1, "greedy_answer_correct": acc, "answer_nll": 1.0,
        ...          "general_perplexity": ppl, "train_loss_final": 0.5}
        ...         for a, n, t, m, acc, ppl in [("zero_shot", 0, None, None, 0.5, 10.0),
        ...                                      ("full", 100, 2.0, 400, 0.9, 20.0),
        ...                                      ("lora_qv_r8", 1, 1.0, 100, 0.9, 11.0)]
        ...         for s in ((0,) if a == "zero_shot" else (0, 1))]
        >>> table = summarize(rows)["table"]
        >>> table["lora_qv_r8"]["vs_full"]["train_peak_increase"], table["full"]["general_perplexity_vs_zero_shot"]
        (0.25, 2.0)
    """
    table: dict[str, dict[str, Any]] = {}
    for arm in dict.fromkeys(r["arm"] for r in rows):
        group = [r for r in rows if r["arm"] == arm]
        cell: dict[str, Any] = {"seeds": len(group)}
        for metric in _METRICS:
            values = [float(r[metric]) for r in group]
            cell[f"{metric}_mean"] = round(statistics.fmean(values), 4)
            cell[f"{metric}_std"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
        first = group[0]
        cell["accuracy_interval_first_seed"] = [first["accuracy_low"], first["accuracy_high"]]
        for key in ("trainable_parameters", "total_parameters", "saved_bytes"):
            cell[key] = first[key]
        for key in ("step_seconds_median", "step_cpu_seconds_median"):
            values = [r[key] for r in group if r[key] is not None]
            cell[key.removesuffix("_median")] = (
                round(statistics.median(values), 4) if values else None
            )
        memory = [r["train_peak_increase_bytes"] for r in group if r["train_peak_increase_bytes"]]
        cell["train_peak_increase_bytes"] = memory[0] if memory else None
        losses = [r["train_loss_final"] for r in group if r.get("train_loss_final") is not None]
        cell["train_loss_final_mean"] = round(statistics.fmean(losses), 4) if losses else None
        table[arm] = cell
    if "zero_shot" in table:
        reference = table["zero_shot"]["general_perplexity_mean"]
        for cell in table.values():
            cell["general_perplexity_vs_zero_shot"] = round(
                cell["general_perplexity_mean"] / reference, 4
            )
    full = table.get("full")
    if full is not None:

        def ratio(a: float | None, b: float | None) -> float | None:
            return round(a / b, 4) if a and b else None

        for arm, cell in table.items():
            if arm == "zero_shot":
                continue
            cell["vs_full"] = {
                "accuracy": round(cell["accuracy_mean"] - full["accuracy_mean"], 4),
                "trainable_parameters": ratio(
                    cell["trainable_parameters"], full["trainable_parameters"]
                ),
                "saved_bytes": ratio(cell["saved_bytes"], full["saved_bytes"]),
                "step_cpu_seconds": ratio(cell["step_cpu_seconds"], full["step_cpu_seconds"]),
                "train_peak_increase": ratio(
                    cell["train_peak_increase_bytes"], full["train_peak_increase_bytes"]
                ),
            }
    return {
        "std": "sample standard deviation over seeds (0 with one seed)",
        "memory": "peak increase of resident memory while training, first seed, fresh process",
        "step_cpu_seconds": (
            "median CPU time of one training step on the calling thread (one torch thread): "
            "steadier than wall time on a shared machine"
        ),
        "table": table,
    }


# ----------------------------------------------------------------------------- figure

_COLORS = {
    "zero_shot": "tab:gray",
    "full": "tab:red",
    "lora_qv_r8": "tab:blue",
    "lora_all_r8": "#08306b",
    "ia3": "tab:orange",
}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Draw, per arm: accuracy (mean ± std), training memory, and general-text perplexity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summarize(rows)["table"]
    arms = list(table)
    colors = [_COLORS.get(a, "tab:blue") for a in arms]
    labels = [
        f"{arm}\n{short_count(table[arm]['trainable_parameters'])} trained"
        if table[arm]["trainable_parameters"]
        else f"{arm}\nnothing trained"
        for arm in arms
    ]
    positions = list(range(len(arms)))
    with plt.rc_context({"svg.hashsalt": "ptm-snippets", "svg.fonttype": "none"}):
        fig, axes = plt.subplots(
            1,
            3,
            figsize=(12, 0.5 * len(arms) + 1.6),
            sharey=True,
            gridspec_kw={"width_ratios": [1.3, 1, 1]},
        )
        ax = axes[0]
        for y, arm, color in zip(positions, arms, colors, strict=True):
            cell = table[arm]
            ax.errorbar(
                cell["accuracy_mean"],
                y,
                xerr=cell["accuracy_std"],
                marker="o",
                color=color,
                capsize=3,
                linestyle="none",
            )
        ax.axvline(0.25, color="black", linestyle=":", linewidth=1)
        ax.set_xlim(0.0, 1.0)
        ax.set_title("Held-out accuracy (mean ± std over seeds)", fontsize=10)
        ax.set_yticks(positions, labels, fontsize=8)
        ax.invert_yaxis()
        memory = [(table[a]["train_peak_increase_bytes"] or 0) / 2**20 for a in arms]
        axes[1].barh(positions, memory, color=colors)
        axes[1].set_title("Peak memory added by training (MiB)", fontsize=10)
        if not any(memory):
            axes[1].text(
                0.5,
                0.5,
                "not measured\n(in-process run)",
                ha="center",
                va="center",
                transform=axes[1].transAxes,
            )
        axes[2].barh(positions, [table[a]["general_perplexity_mean"] for a in arms], color=colors)
        axes[2].set_title("Perplexity on Python's language reference", fontsize=10)
        for ax in axes:
            ax.grid(alpha=0.3, axis="x")
        fig.tight_layout()
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)


EXPERIMENT = register(
    Experiment(
        name="peft_causal_lm",
        run=run,
        plot=plot,
        full=FULL,
        fast=FAST,
        summarize=summarize,
        description=(
            "SmolLM2-135M taught to answer a ticket's category: zero-shot vs full fine-tuning vs "
            "LoRA (q/v, all linear) vs IA3"
        ),
    )
)
"""The decoder PEFT experiment, registered when this module is imported."""
