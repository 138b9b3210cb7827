"""Fine-tune MiniLM on the support tickets: one command for one process, torchrun and accelerate.

The same file runs unchanged under every launcher::

    python -m ptm_snippets.train_classifier --out runs/single
    torchrun --standalone --nproc_per_node=2 -m ptm_snippets.train_classifier --out runs/ddp
    accelerate launch --multi_gpu --num_processes 2 -m ptm_snippets.train_classifier --out runs/acc

A launcher starts the processes and tells each one its ``RANK``, ``WORLD_SIZE`` and where to meet
(``MASTER_ADDR``, ``MASTER_PORT``); :func:`init_distributed` reads them and joins the group (gloo
on a CPU). The training itself is :func:`ptm_snippets.finetuning.fine_tune`, which shards the
data, averages gradients through ``DistributedDataParallel`` and lets rank 0 alone write the log
and the checkpoint. Every process prints one JSON line describing what it did (its rank, its
shard, a hash of its final weights, its test accuracy); rank 0 also writes ``result.json``.

``--lora-rank R`` trains a LoRA adapter (``peft``) instead of the whole model; rank 0 then saves
only the adapter. ``--simulate-world-size N`` in one process reproduces an ``N``-process run step
for step (see :func:`~ptm_snippets.finetuning.fine_tune`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ptm_snippets.finetuning import FineTuneConfig, encode_dataset, evaluate, fine_tune

__all__ = ["balanced_subset", "init_distributed", "main", "weights_digest"]

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def init_distributed(timeout_s: float = 60.0) -> tuple[int, int]:
    """Join the process group a launcher set up; return ``(rank, world_size)``.

    Without ``WORLD_SIZE`` (or with 1) this is a single process and nothing is initialised. A
    missing rendezvous variable is an error here rather than a hang later, and a process that
    waits for partners who never come gives up after ``timeout_s`` seconds.

    Raises:
        RuntimeError: If ``WORLD_SIZE`` > 1 but ``RANK``, ``MASTER_ADDR`` or ``MASTER_PORT``
            is missing.

    Examples:
        >>> import os
        >>> "WORLD_SIZE" in os.environ, init_distributed()
        (False, (0, 1))
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return 0, 1
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
    if missing:
        raise RuntimeError(
            f"WORLD_SIZE={world_size} but {', '.join(missing)} not set: start the processes with "
            "torchrun or accelerate launch, which set the rendezvous variables"
        )
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=dt.timedelta(seconds=timeout_s))
    return dist.get_rank(), dist.get_world_size()


def balanced_subset(rows: list[dict[str, str]], size: int, labels: tuple[str, ...]) -> list[int]:
    """The first ``size`` rows taken in turn from each label (deterministic, class-balanced).

    Examples:
        >>> rows = [{"label": l} for l in "aabbab"]
        >>> balanced_subset(rows, 4, ("a", "b"))
        [0, 2, 1, 3]
    """
    if not 1 <= size <= len(rows):
        raise ValueError(f"size must be in [1, {len(rows)}], got {size}")
    queues = [[i for i, r in enumerate(rows) if r["label"] == label] for label in labels]
    picked: list[int] = []
    depth = 0
    while len(picked) < size:
        if all(depth >= len(q) for q in queues):
            raise ValueError(f"only {len(picked)} rows carry one of the labels {labels}")
        for queue in queues:
            if depth < len(queue) and len(picked) < size:
                picked.append(queue[depth])
        depth += 1
    return picked


def weights_digest(model: torch.nn.Module, *, trainable_only: bool = False) -> str:
    """A sha256 of the model's parameters, to compare weights across processes.

    Examples:
        >>> a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
        >>> _ = b.load_state_dict(a.state_dict())
        >>> weights_digest(a) == weights_digest(b)
        True
    """
    digest = hashlib.sha256()
    for name, parameter in model.named_parameters():
        if parameter.requires_grad or not trainable_only:
            digest.update(name.encode())
            digest.update(parameter.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ptm_snippets.train_classifier")
    parser.add_argument("--out", type=Path, required=True, help="folder for rank 0's files")
    parser.add_argument("--train-size", type=int, default=256, help="class-balanced lines")
    parser.add_argument("--test-size", type=int, default=200, help="class-balanced test lines")
    parser.add_argument("--max-steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=8, help="per process")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lora-rank", type=int, default=0, help="0: full fine-tuning")
    parser.add_argument("--simulate-world-size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for peers")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, train, evaluate and report; return the exit status."""
    args = _parser().parse_args(argv)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ptm_snippets.tickets import LABELS, load_tickets

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    rank, world_size = init_distributed(args.timeout)
    train_rows, test_rows = load_tickets("train"), load_tickets("test")
    train_rows = [train_rows[i] for i in balanced_subset(train_rows, args.train_size, LABELS)]
    test_rows = [test_rows[i] for i in balanced_subset(test_rows, args.test_size, LABELS)]
    label_id = {label: i for i, label in enumerate(LABELS)}
    tokenizer = AutoTokenizer.from_pretrained(MODEL_ID)

    def encode(rows: list[dict[str, str]]) -> Any:
        return encode_dataset(
            tokenizer,
            [r["text"] for r in rows],
            [label_id[r["label"]] for r in rows],
            num_labels=len(LABELS),
            max_length=args.max_length,
        )

    train, test = encode(train_rows), encode(test_rows)
    torch.manual_seed(args.seed)
    model: torch.nn.Module = AutoModelForSequenceClassification.from_pretrained(
        MODEL_ID,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id=label_id,
    )
    if args.lora_rank:
        from peft import LoraConfig, TaskType, get_peft_model

        lora = LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=args.lora_rank,
            lora_alpha=2 * args.lora_rank,
            target_modules=["query", "value"],
        )
        model = get_peft_model(model, lora)
    config = FineTuneConfig(
        learning_rate=args.learning_rate,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        seed=args.seed,
        log_every=max(1, args.max_steps // 4),
    )
    train_started = time.perf_counter()
    result = fine_tune(
        model,
        train,
        config,
        output_dir=args.out,
        pad_id=tokenizer.pad_token_id,
        simulate_world_size=args.simulate_world_size,
    )
    train_seconds = time.perf_counter() - train_started
    accuracy = evaluate(model, test, pad_id=tokenizer.pad_token_id)
    report = {
        "rank": rank,
        "world_size": world_size,
        "simulated_world_size": args.simulate_world_size,
        "shard": result.shard,
        "steps": result.steps,
        "effective_batch": args.batch_size * max(world_size, args.simulate_world_size),
        "final_loss": round(result.losses[-1], 6),
        "weights": weights_digest(model, trainable_only=bool(args.lora_rank)),
        "accuracy": accuracy,
        "train_seconds": round(train_seconds, 3),
        "seconds": round(time.perf_counter() - started, 2),
    }
    # One write per report: a pipe keeps writes under 4 KiB whole, so ranks never interleave.
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    if rank == 0:
        (args.out / "result.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if world_size > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
