"""Two processes on one CPU: ``torchrun`` against one process, on the same data and effective batch.

Each seed trains MiniLM on the support tickets three ways with
:mod:`ptm_snippets.train_classifier`, every run in fresh processes:

* ``one_process``: one process, the whole effective batch per step, all of torch's threads;
* ``simulated``: one process, one thread, reproducing the two-process run step for step
  (``--simulate-world-size 2``: both processes' batches, gradients averaged);
* ``torchrun``: ``torchrun --standalone --nproc_per_node 2``, half the batch per process, one
  thread each (what torchrun sets by default), gradients averaged by ``DistributedDataParallel``.

The rows hold each process's report (rank, shard, weight hash, accuracy, training seconds). The
summary gives the time ratio of ``torchrun`` to ``one_process`` and whether ``torchrun``'s ranks
and the simulation ended with identical weights. Two processes sharing two cores is not a model
of scaling over GPUs: they compete for the same cores and memory bandwidth, and exchange
gradients through local sockets.

Run it with ``python -m ptm_snippets.experiments distributed_cpu``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptm_snippets.experiments.runner import Experiment, Progress, register

__all__ = ["FAST", "FULL", "MODES", "DistributedConfig", "launch", "plot", "run", "summarize"]

MODES: tuple[str, ...] = ("one_process", "simulated", "torchrun")
"""The three ways the same training is run, as they appear in the ``mode`` column."""


@dataclass(frozen=True)
class DistributedConfig:
    """Settings of the two-process experiment.

    Attributes:
        seeds: One training per mode per seed.
        train_size: Class-balanced training lines (odd sizes give shards one line apart).
        test_size: Class-balanced test lines.
        max_steps: Optimizer steps.
        batch_size: Lines per process per step; the effective batch is twice this.
        max_length: Longest tokenised text.
        learning_rate: AdamW learning rate.
        timeout: Seconds any launch may take before it is killed.
    """

    seeds: tuple[int, ...] = (0, 1)
    train_size: int = 257
    test_size: int = 200
    max_steps: int = 60
    batch_size: int = 8
    max_length: int = 48
    learning_rate: float = 1e-4
    timeout: float = 900.0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field out of range.

        Examples:
            >>> DistributedConfig(train_size=1).validate()
            Traceback (most recent call last):
            ...
            ValueError: train_size must be in [2, 1300] (two processes need a line each), got 1
        """
        if (
            not self.seeds
            or any(s < 0 for s in self.seeds)
            or len(set(self.seeds)) != len(self.seeds)
        ):
            raise ValueError(f"seeds must be distinct non-negative ints, got {self.seeds}")
        if not 2 <= self.train_size <= 1300:
            raise ValueError(
                f"train_size must be in [2, 1300] (two processes need a line each), got {self.train_size}"
            )
        if not 4 <= self.test_size <= 440:
            raise ValueError(f"test_size must be in [4, 440], got {self.test_size}")
        for name in ("max_steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 8 <= self.max_length <= 512:
            raise ValueError(f"max_length must be in [8, 512], got {self.max_length}")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be positive seconds, got {self.timeout}")


FULL = DistributedConfig()
"""The published run: 257 lines (shards of 129 and 128), 60 steps, two seeds."""

FAST = DistributedConfig(
    seeds=(0,), train_size=33, test_size=40, max_steps=6, batch_size=4, max_length=32
)
"""The test suite's run: 33 lines (shards of 17 and 16), 6 steps of 2 x 4 lines."""


def launch(
    mode: str,
    out_dir: Path,
    *,
    options: dict[str, Any],
    processes: int = 2,
    timeout: float = 600.0,
    launcher: str = "torchrun",
) -> tuple[list[dict[str, Any]], float]:
    """Run :mod:`ptm_snippets.train_classifier` one way; return each process's report and the wall time.

    ``mode`` is one of :data:`MODES`; ``launcher`` (``torchrun`` or ``accelerate``) only matters
    for ``torchrun`` mode. ``options`` become ``--key value`` flags (underscores to hyphens).
    The launch is killed after ``timeout`` seconds, so a run that hangs fails instead.

    Raises:
        ValueError: If ``mode`` or ``launcher`` is unknown.
        RuntimeError: If the launch exits with an error (its output is in the message).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if launcher not in ("torchrun", "accelerate"):
        raise ValueError(f"launcher must be 'torchrun' or 'accelerate', got {launcher!r}")
    flags = [f"--out={out_dir}"] + [
        f"--{key.replace('_', '-')}={value}" for key, value in options.items()
    ]
    module = ["-m", "ptm_snippets.train_classifier", *flags]
    env = dict(os.environ)
    if mode == "one_process":
        command = [sys.executable, *module]
    elif mode == "simulated":
        command = [sys.executable, *module, f"--simulate-world-size={processes}"]
    elif launcher == "torchrun":
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={processes}", *module]  # fmt: skip
    else:
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                   f"--num_processes={processes}", "--num_machines=1", "--mixed_precision=no",
                   "--dynamo_backend=no", *module]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"{mode} run exited with {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    decoder, reports, text = json.JSONDecoder(), [], done.stdout
    start = text.find('{"rank"')
    while start != -1:  # reports may share a line if another process wrote in between
        report, end = decoder.raw_decode(text, start)
        reports.append(report)
        start = text.find('{"rank"', end)
    return sorted(reports, key=lambda r: r["rank"]), seconds


def run(
    config: DistributedConfig, progress: Progress, work_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Train every mode for every seed; return one row per process.

    Each run's files (rank 0's log, checkpoint and ``result.json``) go to
    ``<work_dir>/<mode>-<seed>``; without ``work_dir`` to a temporary folder removed afterwards.
    """
    progress.reset(total=len(config.seeds) * len(MODES))
    rows: list[dict[str, Any]] = []
    work = work_dir if work_dir is not None else Path(tempfile.mkdtemp(prefix="distributed_cpu-"))
    try:
        for seed in config.seeds:
            for mode in MODES:
                progress.set_postfix_str(f"{mode} seed {seed}")
                batch = config.batch_size * (2 if mode == "one_process" else 1)
                options = {
                    "train_size": config.train_size,
                    "test_size": config.test_size,
                    "max_steps": config.max_steps,
                    "batch_size": batch,
                    "max_length": config.max_length,
                    "learning_rate": config.learning_rate,
                    "seed": seed,
                    # torchrun gives each process one thread; the simulation matches it
                    "threads": 0 if mode == "one_process" else 1,
                }
                reports, seconds = launch(
                    mode, work / f"{mode}-{seed}", options=options, timeout=config.timeout
                )
                for report in reports:
                    rows.append(
                        {"mode": mode, "seed": seed, "wall_seconds": round(seconds, 2), **report}
                    )
                progress.update(1)
    finally:
        if work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return rows


def summarize(rows: list[dict[str, Any]], config: DistributedConfig) -> dict[str, Any]:
    """Per mode: mean training seconds and accuracy; the torchrun/one-process time ratio."""
    out: dict[str, Any] = {}
    for mode in MODES:
        mine = [r for r in rows if r["mode"] == mode]
        per_seed: dict[int, float] = {}
        for r in mine:  # a multi-process run lasts as long as its slowest rank
            per_seed[r["seed"]] = max(per_seed.get(r["seed"], 0.0), r["train_seconds"])
        out[mode] = {
            "train_seconds": round(sum(per_seed.values()) / len(per_seed), 2),
            "accuracy": round(
                sum(r["accuracy"] for r in mine if r["rank"] == 0) / len(per_seed), 4
            ),
        }
    out["torchrun_over_one_process"] = round(
        out["torchrun"]["train_seconds"] / out["one_process"]["train_seconds"], 2
    )
    out["torchrun_matches_simulation"] = all(
        len({r["weights"] for r in rows if r["seed"] == seed and r["mode"] != "one_process"}) == 1
        for seed in config.seeds
    )
    return out


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Bar chart of training seconds per mode (mean over seeds, slowest rank)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = []
    for mode in MODES:
        per_seed: dict[int, float] = {}
        for r in rows:
            if r["mode"] == mode:
                per_seed[r["seed"]] = max(per_seed.get(r["seed"], 0.0), r["train_seconds"])
        seconds.append(sum(per_seed.values()) / len(per_seed))
    labels = ["1 process\n(2 threads)", "1 process,\nsimulating 2", "torchrun\n2 processes"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bars = ax.bar(labels, seconds, color=["#4c72b0", "#8c8c8c", "#dd8452"])
    ax.bar_label(bars, fmt="%.1f s")
    ax.set_ylabel("training time (s)")
    ax.set_title("Same data, same effective batch, 2-core CPU")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


EXPERIMENT = register(
    Experiment(
        name="distributed_cpu",
        run=run,
        plot=plot,
        full=FULL,
        fast=FAST,
        summarize=summarize,
        description="torchrun with 2 CPU processes against 1 process on the same effective batch",
    ),
    replace=True,
)
