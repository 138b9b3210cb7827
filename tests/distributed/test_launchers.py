"""The fine-tuning command under torchrun and accelerate launch: two real CPU processes (gloo).

One small configuration (33 lines: shards of 17 and 16) runs one process, one process simulating
two, and two processes under torchrun; a LoRA run goes through accelerate launch. Every launch has
a timeout, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from ptm_snippets.experiments import distributed_cpu as exp

CONFIG = exp.FAST
ACCURACY_TOLERANCE = 0.1  # 4 of 40 test lines: other batches after 6 steps move a few predictions
TIMEOUT = 300


class _Quiet:
    def reset(self, total: float | None = None) -> None: ...
    def update(self, n: float | None = 1) -> bool | None: ...
    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None: ...


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("distributed")


@pytest.fixture(scope="module")
def rows(work: Path) -> list[dict[str, Any]]:
    return exp.run(CONFIG, _Quiet(), work_dir=work)


def _by(rows: list[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["mode"] == mode]


def test_both_ranks_take_part_on_disjoint_complete_shards(rows: list[dict[str, Any]]) -> None:
    ranks = _by(rows, "torchrun")
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["world_size"] == 2 for r in ranks)
    first, second = (set(r["shard"]) for r in ranks)
    assert not first & second
    assert first | second == set(range(CONFIG.train_size))
    assert sorted(len(r["shard"]) for r in ranks) == [16, 17]  # uneven shards, no hang
    assert all(r["steps"] == CONFIG.max_steps for r in ranks)


def test_gradients_are_averaged_so_both_ranks_end_identical(rows: list[dict[str, Any]]) -> None:
    ranks = _by(rows, "torchrun")
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["final_loss"] != ranks[1]["final_loss"]  # different data, same weights


def test_two_processes_equal_one_process_simulating_them(
    rows: list[dict[str, Any]], work: Path
) -> None:
    from safetensors.torch import load_file

    ddp = load_file(work / "torchrun-0" / "model.safetensors")
    sim = load_file(work / "simulated-0" / "model.safetensors")
    assert ddp.keys() == sim.keys()
    worst = max((ddp[k] - sim[k]).abs().max().item() for k in ddp)
    assert worst < 1e-5, worst
    start = load_file(work / "one_process-0" / "model.safetensors")
    assert max((ddp[k] - start[k]).abs().max().item() for k in ddp) > 1e-4  # other batches


def test_accuracy_matches_one_process_at_the_same_effective_batch(
    rows: list[dict[str, Any]],
) -> None:
    one = _by(rows, "one_process")[0]
    two = _by(rows, "torchrun")[0]
    assert one["effective_batch"] == two["effective_batch"] == 2 * CONFIG.batch_size
    assert abs(one["accuracy"] - two["accuracy"]) <= ACCURACY_TOLERANCE
    assert two["accuracy"] > 0.25 + 0.1  # four classes: it learned something


def test_only_rank_zero_writes_the_log_and_checkpoint(work: Path) -> None:
    run = work / "torchrun-0"
    assert sorted(p.name for p in run.iterdir()) == [
        "config.json",
        "log.jsonl",
        "model.safetensors",
        "result.json",
    ]
    events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert {e["rank"] for e in events} == {0}
    assert events[0]["event"] == "start" and events[-1]["event"] == "end"
    assert len([e for e in events if e["event"] == "start"]) == 1
    assert json.loads((run / "result.json").read_text())["rank"] == 0


def test_summary_and_figure(rows: list[dict[str, Any]], tmp_path: Path) -> None:
    summary = exp.summarize(rows, CONFIG)
    assert summary["torchrun_matches_simulation"] is True
    assert summary["torchrun_over_one_process"] > 0
    exp.plot(rows, tmp_path / "f.svg")
    assert "torchrun" in (tmp_path / "f.svg").read_text()


def test_lora_under_accelerate_launch_matches_the_single_process_adapter(work: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    options = {
        "train_size": CONFIG.train_size,
        "test_size": CONFIG.test_size,
        "max_steps": CONFIG.max_steps,
        "batch_size": CONFIG.batch_size,
        "max_length": CONFIG.max_length,
        "learning_rate": 1e-3,
        "lora_rank": 4,
    }
    ranks, _ = exp.launch(
        "torchrun", work / "lora-acc", options=options, launcher="accelerate", timeout=TIMEOUT
    )
    single, _ = exp.launch("simulated", work / "lora-sim", options=options, timeout=TIMEOUT)
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["weights"] == ranks[1]["weights"]
    assert (work / "lora-acc" / "adapter_model.safetensors").is_file()
    assert not (work / "lora-acc" / "model.safetensors").exists()  # the adapter only

    tokenizer = AutoTokenizer.from_pretrained(exp_model_id())
    batch = tokenizer(
        ["I was charged twice", "my parcel is lost"], return_tensors="pt", padding=True
    )
    logits = []
    for folder in ("lora-acc", "lora-sim"):
        torch.manual_seed(0)
        base = AutoModelForSequenceClassification.from_pretrained(exp_model_id(), num_labels=4)
        model = PeftModel.from_pretrained(base, work / folder).eval()
        with torch.no_grad():
            logits.append(model(**batch).logits)
    assert torch.allclose(logits[0], logits[1], atol=1e-4), (logits[0] - logits[1]).abs().max()
    assert single[0]["accuracy"] == pytest.approx(ranks[0]["accuracy"], abs=ACCURACY_TOLERANCE)


def exp_model_id() -> str:
    from ptm_snippets.train_classifier import MODEL_ID

    return MODEL_ID


def _command(tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ptm_snippets.train_classifier", f"--out={tmp_path}", *extra]


def test_missing_rendezvous_is_an_error_naming_it(tmp_path: Path) -> None:
    env = {**os.environ, "WORLD_SIZE": "2", "RANK": "0"}
    env.pop("MASTER_ADDR", None)
    env.pop("MASTER_PORT", None)
    done = subprocess.run(
        _command(tmp_path), env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert "MASTER_ADDR, MASTER_PORT not set" in done.stderr
    assert "torchrun" in done.stderr


@pytest.mark.enable_socket  # only to find a free port on 127.0.0.1
def test_a_peer_that_never_comes_times_out_instead_of_hanging(tmp_path: Path) -> None:
    with socket.socket() as s:  # a free port: nobody else will join
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "WORLD_SIZE": "2",
        "RANK": "0",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }
    done = subprocess.run(
        _command(tmp_path, "--timeout=3"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "timeout" in done.stderr.lower() or "timed out" in done.stderr.lower()
    assert not (tmp_path / "model.safetensors").exists()
