"""The decoder PEFT experiment on its fast configuration: real SmolLM2, three arms, one seed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import torch

from ptm_snippets.experiments import known_experiments, register, run_experiment, unregister

NAME = "peft_causal_lm"
FIELDS = {
    "arm",
    "seed",
    "learning_rate",
    "trainable_parameters",
    "total_parameters",
    "saved_bytes",
    "step_seconds_median",
    "step_cpu_seconds_median",
    "train_peak_increase_bytes",
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "macro_f1",
    "ece",
    "greedy_answer_correct",
    "answer_nll",
    "general_perplexity",
    "train_loss_first",
    "train_loss_final",
    "steps",
    "seconds",
}


@pytest.fixture(scope="module")
def pcl() -> Iterator[ModuleType]:
    """The experiment module, registered for this file's tests only if nothing else did."""
    registered_before = NAME in known_experiments()
    from ptm_snippets.experiments import peft_causal_lm

    register(peft_causal_lm.EXPERIMENT, replace=True)
    yield peft_causal_lm
    if not registered_before:
        unregister(NAME)


@pytest.fixture(scope="module")
def result(pcl: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("experiments")
    data = run_experiment(NAME, fast=True, out_dir=out, progress_bar=False)
    assert json.loads((out / f"{NAME}.json").read_text()) == data
    svg = (out / f"{NAME}.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "lora_qv_r8" in svg
    return data


@pytest.fixture(scope="module")
def smollm2() -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ptm_snippets.hub import SMOLLM2, model_path

    folder = model_path(SMOLLM2.repo_id)
    return AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder)


def by_arm(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["arm"]: row for row in result["rows"]}


def test_every_row_is_valid(pcl: ModuleType, result: dict[str, Any]) -> None:
    rows = result["rows"]
    assert [r["arm"] for r in rows] == list(pcl.FAST.arms)  # one seed: one row an arm
    for row in rows:
        assert row.keys() == FIELDS
        assert row["accuracy_low"] <= row["accuracy"] <= row["accuracy_high"], row
        assert 0.0 <= row["macro_f1"] <= 1.0 and 0.0 <= row["greedy_answer_correct"] <= 1.0
        assert row["answer_nll"] > 0 and row["train_peak_increase_bytes"] is None
        # a real model on English prose: far from the vocabulary's 49,152 of a uniform guess
        assert 2.0 < row["general_perplexity"] < 100.0, row
    zero = by_arm(result)["zero_shot"]
    assert zero["steps"] == 0 and zero["trainable_parameters"] == 0
    assert zero["saved_bytes"] is None and zero["step_cpu_seconds_median"] is None


def test_lora_parameters_follow_the_formula(
    smollm2: tuple[Any, Any], result: dict[str, Any]
) -> None:
    config = smollm2[1].config
    hidden, layers = config.hidden_size, config.num_hidden_layers
    kv = config.num_key_value_heads * (hidden // config.num_attention_heads)
    rank = 8
    expected = (
        layers * rank * ((hidden + hidden) + (hidden + kv))
    )  # q: hidden->hidden, v: hidden->kv
    rows = by_arm(result)
    assert rows["lora_qv_r8"]["trainable_parameters"] == expected
    assert rows["full"]["trainable_parameters"] == rows["full"]["total_parameters"]
    assert rows["lora_qv_r8"]["total_parameters"] == rows["full"]["total_parameters"] + expected


def test_the_adapter_is_a_small_file_and_the_full_model_a_large_one(result: dict[str, Any]) -> None:
    rows = by_arm(result)
    lora, full = rows["lora_qv_r8"], rows["full"]
    assert (
        4 * lora["trainable_parameters"]
        <= lora["saved_bytes"]
        < 4 * lora["trainable_parameters"] + 100_000
    )
    # the tied embedding and output matrix is stored once
    assert (
        4 * full["trainable_parameters"]
        <= full["saved_bytes"]
        < 4.01 * full["trainable_parameters"]
    )
    assert lora["saved_bytes"] * 100 < full["saved_bytes"]


def test_training_moves_the_answer_and_lora_steps_are_cheaper(result: dict[str, Any]) -> None:
    rows = by_arm(result)
    for arm in ("full", "lora_qv_r8"):
        assert rows[arm]["steps"] == 3
        # three steps on the answer token already make the right answer far more likely
        assert rows[arm]["answer_nll"] < rows["zero_shot"]["answer_nll"] - 1.0, arm
    assert rows["lora_qv_r8"]["step_cpu_seconds_median"] < rows["full"]["step_cpu_seconds_median"]
    table = result["summary"]["table"]
    assert table["lora_qv_r8"]["vs_full"]["trainable_parameters"] < 0.01
    assert table["zero_shot"]["general_perplexity_vs_zero_shot"] == 1.0


def test_batched_left_padded_scoring_equals_one_prompt_at_a_time(
    pcl: ModuleType, smollm2: tuple[Any, Any]
) -> None:
    tokenizer, model = smollm2
    answers = pcl.answer_token_ids(tokenizer)
    texts = [
        "I was charged twice.",
        "My parcel never arrived at the depot near my house.",
        "Reset my password",
    ]
    prompts = [tokenizer(pcl.prompt(t))["input_ids"] for t in texts]
    assert len({len(p) for p in prompts}) == 3  # different lengths: padding is exercised
    batched, tops = pcl.label_log_probs(model, prompts, answers, pad_id=tokenizer.pad_token_id)
    for i, ids in enumerate(prompts):
        with torch.no_grad():
            alone = model(input_ids=torch.tensor([ids])).logits[0, -1].float().log_softmax(-1)
        torch.testing.assert_close(batched[i], alone[answers], atol=1e-4, rtol=1e-4)
        assert int(tops[i]) == int(alone.argmax())


def test_answers_must_be_single_tokens(pcl: ModuleType, smollm2: tuple[Any, Any]) -> None:
    tokenizer = smollm2[0]
    assert len(set(pcl.answer_token_ids(tokenizer))) == 4
    with pytest.raises(ValueError, match="'refund request' is"):
        pcl.answer_token_ids(tokenizer, ("billing", "refund request"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"arms": ()}, "arms must be a non-empty tuple"),
        ({"arms": ("qlora",)}, "arms must be a non-empty tuple"),
        ({"arms": ("full", "full")}, "arms must be a non-empty tuple"),
        ({"learning_rates": (("full", 1e-5),)}, "arm 'lora_qv_r8' has None"),
        ({"arms": ("zero_shot",), "learning_rates": ()}, None),  # nothing trains: no rate needed
        ({"seeds": ()}, "seeds must hold"),
        ({"seeds": (2, 2)}, "seeds must not repeat"),
        ({"train_size": 3}, "train_size must be in"),
        ({"steps": 0}, "steps must be at least 1"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"warmup_steps": 30}, "warmup_steps must be in"),
        ({"test_size": 4}, "test_size must be in"),
        ({"validation_size": 4}, "validation_size must be 0"),
        ({"train_size": 1300, "validation_size": 8}, "validation_size must be 0"),
        ({"general_tokens": 10}, "general_tokens must be in"),
        ({"num_threads": -1}, "num_threads must be"),
        ({"repo_id": ""}, "repo_id must name"),
    ],
)
def test_config_rejects_bad_fields(
    pcl: ModuleType, changes: dict[str, Any], message: str | None
) -> None:
    config = pcl.PeftCausalLmConfig(**changes)
    if message is None:
        config.validate()
        return
    with pytest.raises(ValueError, match=message):
        config.validate()


def test_train_arm_rejects_an_unknown_arm(pcl: ModuleType) -> None:
    with pytest.raises(ValueError, match="arm must be one of"):
        pcl.train_arm("qlora", pcl.FAST, measure_memory=False)


def test_validation_tickets_come_from_the_training_file_outside_the_sample(pcl: ModuleType) -> None:
    from dataclasses import replace

    from ptm_snippets.tickets import LABELS, load_tickets

    config = replace(pcl.FAST, validation_size=20)
    training, validation = pcl.split_tickets(config, seed=3)
    test_texts = {r["text"] for r in load_tickets("test")}
    assert not {r["text"] for r in validation} & (test_texts | {r["text"] for r in training})
    assert sorted(r["label"] for r in validation) == sorted(LABELS * 5)  # balanced
    assert pcl.split_tickets(pcl.FAST, seed=3)[1] == pcl.split_tickets(pcl.FAST, seed=4)[1]
    assert pcl.split_tickets(config, seed=3)[1] != pcl.split_tickets(config, seed=4)[1]


def test_check_rates_trains_each_candidate_once(pcl: ModuleType) -> None:
    rows = pcl.check_rates({"lora_qv_r8": (1e-3, 3e-3)}, pcl.FAST, validation_size=12)
    assert [(r["arm"], r["learning_rate"], r["steps"]) for r in rows] == [
        ("lora_qv_r8", 1e-3, 3),
        ("lora_qv_r8", 3e-3, 3),
    ]
