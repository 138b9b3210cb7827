"""The fine-tuning helpers in ptm_snippets.finetuning, on tiny random models built here."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import peft
import pytest
import torch
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    GPT2Config,
    GPT2ForSequenceClassification,
    LlamaConfig,
    LlamaForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
)

from ptm_snippets.finetuning import (
    SCHEDULES,
    FineTuneConfig,
    TextClassificationDataset,
    encode_dataset,
    evaluate,
    fine_tune,
    freeze,
    layer_groups,
    layerwise_lr_groups,
    pad_batch,
    predict,
)

LAYERS = 3
THREE_LABELS: dict[str, Any] = {"num_labels": 3}  # not a typed keyword of the configs
GROUPS = ["embeddings", *(f"layer.{i}" for i in range(LAYERS)), "head"]


@pytest.fixture(scope="module")
def tok() -> Any:
    return AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")


def tiny_bert(
    num_labels: int = 3, seed: int = 0, dropout: float = 0.1, layers: int = LAYERS
) -> Any:
    torch.manual_seed(seed)
    head: dict[str, Any] = {"num_labels": num_labels}
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        **head,
    )
    return BertForSequenceClassification(config)


def tiny_distilbert() -> Any:
    config = DistilBertConfig(
        vocab_size=50,
        dim=16,
        n_layers=LAYERS,
        n_heads=2,
        hidden_dim=32,
        max_position_embeddings=32,
        **THREE_LABELS,
    )
    return DistilBertForSequenceClassification(config)


def tiny_roberta() -> Any:
    config = RobertaConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=40,
        **THREE_LABELS,
    )
    return RobertaForSequenceClassification(config)


def tiny_gpt2() -> Any:
    config = GPT2Config(
        vocab_size=50,
        n_embd=16,
        n_layer=LAYERS,
        n_head=2,
        n_positions=32,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
        **THREE_LABELS,
    )
    return GPT2ForSequenceClassification(config)


def tiny_llama() -> Any:
    config = LlamaConfig(
        vocab_size=50,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        **THREE_LABELS,
    )
    return LlamaForSequenceClassification(config)  # type: ignore[no-untyped-call]


def token7_data(n: int, seed: int, *, flip: bool = False) -> TextClassificationDataset:
    """Label 1 when token 7 occurs in the text (half of the lines), else 0; ``flip`` swaps them."""
    g = torch.Generator().manual_seed(seed)
    ids, labels = [], []
    for i in range(n):
        length = int(torch.randint(3, 9, (1,), generator=g))
        seq = torch.randint(10, 50, (length,), generator=g).tolist()
        label = i % 2
        if label:
            seq[int(torch.randint(0, length, (1,), generator=g))] = 7
        ids.append([1, *seq, 2])
        labels.append(1 - label if flip else label)
    return TextClassificationDataset(ids, labels, num_labels=2)


def numel(model: torch.nn.Module, names: list[str]) -> int:
    parameters = dict(model.named_parameters())
    return sum(parameters[n].numel() for n in names)


def trainable_names(model: torch.nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def clone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- data


def test_encode_dataset_pairs_token_ids_with_labels(tok: Any) -> None:
    texts = ["parcel lost", "my parcel never arrived", "hi"]
    data = encode_dataset(tok, texts, [2, 0, 1], num_labels=3)
    assert len(data) == 3 and data.num_labels == 3
    for i, text in enumerate(texts):
        item = data[i]
        assert item["input_ids"] == tok(text)["input_ids"]
        assert item["attention_mask"] == [1] * len(item["input_ids"])
        assert item["labels"] == [2, 0, 1][i]
    assert tok.convert_ids_to_tokens(data[0]["input_ids"]) == ["[CLS]", "parcel", "lost", "[SEP]"]


def test_encode_dataset_truncates_to_max_length_keeping_special_tokens(tok: Any) -> None:
    long = "the parcel never arrived and nobody answered my emails for weeks"
    data = encode_dataset(tok, [long, "hi"], [0, 1], num_labels=2, max_length=5)
    tokens = tok.convert_ids_to_tokens(data[0]["input_ids"])
    assert tokens == ["[CLS]", "the", "parcel", "never", "[SEP]"]
    assert tok.convert_ids_to_tokens(data[1]["input_ids"]) == ["[CLS]", "hi", "[SEP]"]
    assert len(encode_dataset(tok, [long], [0], num_labels=1, max_length=64)[0]["input_ids"]) > 5


@pytest.mark.parametrize(
    ("texts", "labels", "kwargs", "message"),
    [
        ([], [], {}, r"^texts must be a non-empty"),
        ("ab", [0, 1], {}, r"^texts must be a non-empty sequence"),  # a str, same length
        (["a", "b"], [0], {}, r"^texts and labels must have the same length, got 2 and 1"),
        (["a", "b"], [0, 3], {}, r"^labels must be ints in \[0, 3\).*got 3"),
        (["a", "b"], [-1, 0], {}, r"^labels must be ints in \[0, 3\).*got -1"),
        (["a", "b"], [0, 1.0], {}, r"^labels must be ints.*got 1\.0"),
        (["a"], [0], {"num_labels": 0}, r"^num_labels must be at least 1"),
        (["a"], [0], {"max_length": 1}, r"^max_length must be at least 2"),
    ],
)
def test_encode_dataset_rejects_bad_arguments_by_name(
    tok: Any, texts: Any, labels: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        encode_dataset(tok, texts, labels, **{"num_labels": 3, **kwargs})


@pytest.mark.parametrize(
    ("input_ids", "labels", "message"),
    [
        ([], [], r"^input_ids must hold at least one"),
        ([[1], [2]], [0], r"^input_ids and labels must have the same length, got 2 and 1"),
        ([[1], [2]], [0, 2], r"^labels must be ints in \[0, 2\)"),
    ],
)
def test_dataset_rejects_bad_arguments_by_name(
    input_ids: list[list[int]], labels: list[int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        TextClassificationDataset(input_ids, labels, num_labels=2)


def test_pad_batch_pads_with_pad_id_and_masks_exactly_the_padding() -> None:
    # The pad id (9) also occurs as a real token: the mask must come from the lengths.
    items = [
        {"input_ids": [4, 9], "labels": 2},
        {"input_ids": [9, 5, 6, 7], "labels": 0},
        {"input_ids": [8], "labels": 1},
    ]
    batch = pad_batch(items, pad_id=9)
    assert batch["input_ids"].tolist() == [[4, 9, 9, 9], [9, 5, 6, 7], [8, 9, 9, 9]]
    assert batch["attention_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    assert batch["input_ids"].dtype == batch["attention_mask"].dtype == torch.long
    assert batch["labels"].tolist() == [2, 0, 1] and batch["labels"].dtype == torch.long


def test_pad_batch_without_labels_and_empty() -> None:
    batch = pad_batch([{"input_ids": [3]}, {"input_ids": [3, 4]}])
    assert set(batch) == {"input_ids", "attention_mask"}
    assert batch["input_ids"].tolist() == [[3, 0], [3, 4]]
    with pytest.raises(ValueError, match="items"):
        pad_batch([])


def test_padded_rows_give_the_logits_of_the_unpadded_lines() -> None:
    model = tiny_bert().eval()
    data = token7_data(4, seed=3)
    batch = pad_batch([data[i] for i in range(4)])
    assert (batch["attention_mask"] == 0).any()  # something is padded
    batch.pop("labels")
    with torch.no_grad():
        padded = model(**batch).logits
        for i in range(4):
            ids = torch.tensor([data[i]["input_ids"]])
            alone = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
            torch.testing.assert_close(padded[i], alone[0], atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- layers


@pytest.mark.parametrize(
    ("build", "embedding", "head"),
    [
        (tiny_bert, "bert.embeddings.word_embeddings.weight", "classifier.weight"),
        (tiny_distilbert, "distilbert.embeddings.word_embeddings.weight", "classifier.weight"),
        (tiny_roberta, "roberta.embeddings.word_embeddings.weight", "classifier.out_proj.weight"),
        (tiny_gpt2, "transformer.wte.weight", "score.weight"),
        (tiny_llama, "model.embed_tokens.weight", "score.weight"),
    ],
)
def test_layer_groups_split_every_parameter_once_in_depth_order(
    build: Callable[[], Any], embedding: str, head: str
) -> None:
    torch.manual_seed(0)
    model = build()
    groups = layer_groups(model)
    assert list(groups) == GROUPS
    # Concatenated in order the groups are exactly the parameters, each once, in model order.
    assert [n for names in groups.values() for n in names] == [
        n for n, _ in model.named_parameters()
    ]
    assert all(groups.values())
    assert embedding in groups["embeddings"] and head in groups["head"]
    for i in range(LAYERS):
        assert all(f".{i}." in n for n in groups[f"layer.{i}"])
    # Final norms (GPT-2's ln_f, Llama's norm) sit above the last block, in the head.
    assert not any(".ln_f." in n or n.startswith("model.norm.") for n in groups["embeddings"])


def test_layer_groups_order_ten_and_more_layers_numerically() -> None:
    groups = layer_groups(tiny_bert(layers=11))
    assert list(groups) == ["embeddings", *(f"layer.{i}" for i in range(11)), "head"]
    assert all(".layer.10." in n for n in groups["layer.10"])


def test_layer_groups_of_a_peft_model() -> None:
    base = tiny_bert()
    model = peft.get_peft_model(
        base, peft.LoraConfig(task_type="SEQ_CLS", r=2, target_modules=["query", "value"])
    )
    groups = layer_groups(model)
    assert list(groups) == GROUPS
    names = [n for n, _ in model.named_parameters()]
    assert [n for g in groups.values() for n in g] == names
    for i in range(LAYERS):
        loras = [n for n in names if f".layer.{i}." in n and "lora_" in n]
        assert len(loras) == 4 and set(loras) <= set(groups[f"layer.{i}"])
    assert "base_model.model.bert.embeddings.word_embeddings.weight" in groups["embeddings"]
    assert "base_model.model.classifier.modules_to_save.default.weight" in groups["head"]


def test_layer_groups_need_numbered_blocks() -> None:
    with pytest.raises(ValueError, match="no numbered transformer blocks"):
        layer_groups(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)))


@pytest.mark.parametrize(
    ("top", "embeddings"), [(0, False), (1, False), (2, True), (3, False), (3, True), (0, True)]
)
def test_freeze_trains_the_head_the_top_layers_and_maybe_the_embeddings(
    top: int, embeddings: bool
) -> None:
    model = tiny_bert()
    groups = layer_groups(model)
    chosen = ["head", *(f"layer.{i}" for i in range(LAYERS - top, LAYERS))]
    chosen += ["embeddings"] if embeddings else []
    expected = [n for g in chosen for n in groups[g]]
    count = freeze(model, train_top_layers=top, train_embeddings=embeddings)
    assert count == numel(model, expected)
    assert trainable_names(model) == set(expected)
    total = sum(p.numel() for p in model.parameters())
    assert (count == total) == (top == LAYERS and embeddings)


@pytest.mark.parametrize("top", [-1, LAYERS + 1])
def test_freeze_rejects_out_of_range_layers_and_changes_nothing(top: int) -> None:
    model = tiny_bert()
    with pytest.raises(ValueError, match=r"^train_top_layers must be in \[0, 3\].*got " + str(top)):
        freeze(model, train_top_layers=top)
    assert all(p.requires_grad for p in model.parameters())


def test_layerwise_rates_decay_from_the_head_down_without_decay_on_biases_and_norms() -> None:
    model = tiny_bert()
    parameters = dict(model.named_parameters())
    names = {id(p): n for n, p in parameters.items()}
    groups = layerwise_lr_groups(model, lr=1e-3, decay=0.5, weight_decay=0.05)
    depth = {"head": 0, "layer.2": 1, "layer.1": 2, "layer.0": 3, "embeddings": 4}
    seen: list[str] = []
    for group in groups:
        assert group["lr"] == pytest.approx(1e-3 * 0.5 ** depth[group["name"]], rel=1e-12)
        for p in group["params"]:
            name = names[id(p)]
            seen.append(name)
            assert name in layer_groups(model)[group["name"]]
            no_decay = name.endswith(".bias") or "LayerNorm" in name
            assert group["weight_decay"] == (0.0 if no_decay else 0.05), name
    assert sorted(seen) == sorted(parameters)  # every parameter exactly once
    assert any(g["weight_decay"] == 0.0 for g in groups if g["name"] == "embeddings")
    assert {g["name"] for g in groups} == set(depth)


def test_layerwise_groups_skip_frozen_parameters_unless_asked() -> None:
    model = tiny_bert()
    freeze(model, train_top_layers=1)
    names = {id(p): n for n, p in model.named_parameters()}
    trainable = [names[id(p)] for g in layerwise_lr_groups(model, lr=1e-3) for p in g["params"]]
    assert sorted(trainable) == sorted(trainable_names(model))
    assert len(trainable) == len(set(trainable))
    everything = layerwise_lr_groups(model, lr=1e-3, include_frozen=True)
    assert sum(len(g["params"]) for g in everything) == len(names)
    assert {g["lr"] for g in everything} == {1e-3}  # decay=1: one rate for all


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 0.0}, r"^lr must be positive"),
        ({"decay": 0.0}, r"^decay must be in \(0, 1\]"),
        ({"decay": 1.5}, r"^decay must be in \(0, 1\]"),
        ({"weight_decay": -0.1}, r"^weight_decay must be >= 0"),
    ],
)
def test_layerwise_groups_reject_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        layerwise_lr_groups(tiny_bert(), **{"lr": 1e-3, **kwargs})


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"learning_rate": 0.0}, r"^learning_rate must be positive"),
        ({"learning_rate": -1e-3}, r"^learning_rate must be positive"),
        ({"learning_rate": math.nan}, r"^learning_rate must be positive"),
        ({"max_steps": 0}, r"^max_steps must be at least 1"),
        ({"batch_size": 0}, r"^batch_size must be at least 1"),
        ({"log_every": 0}, r"^log_every must be at least 1"),
        ({"layer_decay": 0.0}, r"^layer_decay must be in \(0, 1\]"),
        ({"layer_decay": 1.01}, r"^layer_decay must be in \(0, 1\]"),
        ({"schedule": "exponential"}, r"^schedule must be one of .*'exponential'"),
        ({"warmup_ratio": -0.1}, r"^warmup_ratio must be in \[0, 1\)"),
        ({"warmup_ratio": 1.0}, r"^warmup_ratio must be in \[0, 1\)"),
        ({"weight_decay": -0.01}, r"^weight_decay must be >= 0"),
        ({"max_grad_norm": -1.0}, r"^max_grad_norm must be >= 0"),
        ({"seed": -1}, r"^seed must be >= 0"),
        ({"eval_every": -1}, r"^eval_every must be >= 0"),
        ({"patience": -1}, r"^patience must be >= 0"),
        ({"unfreeze_every": -1}, r"^unfreeze_every must be >= 0"),
        ({"patience": 2}, r"^patience needs eval_every > 0"),
    ],
)
def test_config_rejects_each_field_out_of_range(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FineTuneConfig(**fields).validate()


@pytest.mark.parametrize("warmup_ratio", [0.1, 0.5])
def test_constant_schedule_with_warmup_is_rejected_pointing_to_constant_with_warmup(
    warmup_ratio: float,
) -> None:
    with pytest.raises(ValueError) as error:
        FineTuneConfig(schedule="constant", warmup_ratio=warmup_ratio).validate()
    message = str(error.value)
    assert "schedule='constant'" in message
    assert f"warmup_ratio={warmup_ratio}" in message
    assert "constant_with_warmup" in message
    # The default warmup_ratio (0.1) with schedule="constant" is the common way to hit it.
    with pytest.raises(ValueError, match="constant_with_warmup"):
        FineTuneConfig(schedule="constant").validate()


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_schedule_is_valid_without_warmup(schedule: str) -> None:
    FineTuneConfig(schedule=schedule, warmup_ratio=0.0).validate()
    if schedule != "constant":
        FineTuneConfig(schedule=schedule, warmup_ratio=0.2).validate()


def test_defaults_and_edge_values_are_valid() -> None:
    FineTuneConfig().validate()
    FineTuneConfig(
        layer_decay=1.0,
        warmup_ratio=0.0,
        weight_decay=0.0,
        max_grad_norm=0.0,
        eval_every=1,
        patience=1,
    ).validate()


# ----------------------------------------------------------------------------- training


def test_fine_tune_learns_a_separable_task() -> None:
    model, train, held_out = tiny_bert(num_labels=2), token7_data(64, 0), token7_data(32, 1)
    before = evaluate(model, held_out)
    events: list[dict[str, Any]] = []
    config = FineTuneConfig(learning_rate=1e-2, max_steps=40, batch_size=16, eval_every=10)
    result = fine_tune(model, train, config, eval_data=held_out, log=events.append)
    after = evaluate(model, held_out)
    assert before <= 0.6 and after >= 0.8
    assert evaluate(model, train) >= 0.9
    assert result.steps == 40 and len(result.losses) == 40
    assert all(math.isfinite(x) for x in result.losses)
    assert sum(result.losses[-5:]) / 5 < sum(result.losses[:5]) / 5 - 0.3
    assert [s for s, _ in result.evaluations] == [10, 20, 30, 40]
    # No patience: nothing is restored, the last weights are kept and the last evaluation is theirs.
    assert result.evaluations[-1][1] == after
    assert result.best_step == 40 and not result.stopped_early
    assert result.shard == list(range(64)) and (result.rank, result.world_size) == (0, 1)
    assert result.trainable_parameters == sum(p.numel() for p in model.parameters())
    assert not model.training
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert [e["step"] for e in events if e["event"] == "train"] == [10, 20, 30, 40]
    assert all(e["rank"] == 0 for e in events)


def test_logged_lr_is_the_heads_with_warmup_and_layer_decay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    optimizers: list[torch.optim.Optimizer] = []
    adamw = torch.optim.AdamW

    def recording_adamw(*args: Any, **kwargs: Any) -> torch.optim.AdamW:
        optimizer = adamw(*args, **kwargs)
        optimizers.append(optimizer)
        return optimizer

    monkeypatch.setattr(torch.optim, "AdamW", recording_adamw)
    rates: list[tuple[float, float, float]] = []  # logged, head group's, embeddings group's

    def log(event: dict[str, Any]) -> None:
        if event["event"] == "train":
            by_name = {g["name"]: g["lr"] for g in optimizers[0].param_groups}
            rates.append((event["lr"], by_name["head"], by_name["embeddings"]))

    lr = 1e-3
    config = FineTuneConfig(
        learning_rate=lr, max_steps=8, batch_size=4, layer_decay=0.5, warmup_ratio=0.25, log_every=1
    )
    fine_tune(tiny_bert(num_labels=2), token7_data(16, 0), config, log=log)
    assert len(optimizers) == 1 and len(rates) == 8
    # Linear warm-up over floor(0.25 * 8) = 2 steps, then linear decay to 0 at step 8.
    factors = [0.5, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0.0]
    assert [r[0] for r in rates] == pytest.approx([lr * f for f in factors], abs=1e-12)
    assert rates[0][0] < lr  # the first logged rate is still warming up
    for logged, head, embeddings in rates:
        assert logged == head
        assert embeddings == pytest.approx(head * 0.5 ** (LAYERS + 1), abs=1e-15)
        if head > 0:
            assert logged > embeddings


def test_constant_schedule_logs_the_peak_rate_at_every_step() -> None:
    events: list[dict[str, Any]] = []
    config = FineTuneConfig(
        learning_rate=2e-3,
        max_steps=5,
        batch_size=4,
        schedule="constant",
        warmup_ratio=0.0,
        layer_decay=0.8,
        log_every=2,
    )
    fine_tune(tiny_bert(num_labels=2), token7_data(8, 0), config, log=events.append)
    train = [e for e in events if e["event"] == "train"]
    assert [e["step"] for e in train] == [2, 4, 5]  # every log_every steps, and the last
    assert all(e["lr"] == 2e-3 for e in train)


def test_early_stopping_restores_the_best_evaluated_weights() -> None:
    # Evaluating on flipped labels: the better the model learns, the worse it scores there.
    model = tiny_bert(num_labels=2)
    train, flipped = token7_data(64, 0), token7_data(32, 1, flip=True)
    snapshots: dict[int, dict[str, torch.Tensor]] = {}
    events: list[dict[str, Any]] = []

    def log(event: dict[str, Any]) -> None:
        events.append(event)
        if event["event"] == "eval":
            snapshots[event["step"]] = clone_state(model)

    config = FineTuneConfig(
        learning_rate=1e-2, max_steps=60, batch_size=16, eval_every=4, patience=2
    )
    result = fine_tune(model, train, config, eval_data=flipped, log=log)
    accuracies = [a for _, a in result.evaluations]
    best = max(accuracies)
    best_step = result.evaluations[accuracies.index(best)][0]
    assert result.stopped_early and result.steps < 60
    assert result.steps == result.evaluations[-1][0] == len(result.losses)
    assert result.best_step == best_step
    assert all(a <= best for a in accuracies[accuracies.index(best) + 1 :])
    assert len(accuracies) - accuracies.index(best) - 1 == 2  # patience evaluations, no better
    assert accuracies[-1] < best  # so the restore matters
    assert evaluate(model, flipped) == best
    assert same_state(clone_state(model), snapshots[best_step])
    assert events[-1] == {
        "rank": 0,
        "event": "end",
        "steps": result.steps,
        "best_step": best_step,
        "stopped_early": True,
    }


def test_gradual_unfreezing_grows_the_trainable_set_from_the_top(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = tiny_bert(num_labels=2)
    groups = layer_groups(model)
    initial = clone_state(model)
    counts: list[int] = []
    clipped: list[int] = []  # parameters whose gradients are clipped, at each step
    clip = torch.nn.utils.clip_grad_norm_

    def recording_clip(parameters: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        parameters = list(parameters)
        clipped.append(sum(p.numel() for p in parameters))
        return clip(parameters, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording_clip)

    def log(event: dict[str, Any]) -> None:
        if event["event"] == "train":
            counts.append(sum(p.numel() for p in model.parameters() if p.requires_grad))

    config = FineTuneConfig(
        learning_rate=1e-2, max_steps=9, batch_size=4, unfreeze_every=3, log_every=1
    )
    result = fine_tune(model, token7_data(16, 0), config, log=log)
    head = numel(model, groups["head"])
    top1 = head + numel(model, groups["layer.2"])
    top2 = top1 + numel(model, groups["layer.1"])
    assert counts == [head] * 3 + [top1] * 3 + [top2] * 3
    assert counts == sorted(counts)
    assert clipped == counts  # clipping follows the unfrozen set
    assert result.trainable_parameters == top2
    after = model.state_dict()
    for name in groups["embeddings"] + groups["layer.0"]:  # never unfrozen: untouched, no decay
        assert torch.equal(after[name], initial[name]), name
    for group in ("layer.1", "layer.2", "head"):
        assert any(not torch.equal(after[n], initial[n]) for n in groups[group]), group


def test_gradual_unfreezing_ends_with_the_embeddings() -> None:
    model = tiny_bert(num_labels=2)
    counts: list[int] = []

    def log(event: dict[str, Any]) -> None:
        if event["event"] == "train":
            counts.append(len(trainable_names(model)))

    config = FineTuneConfig(
        learning_rate=1e-3, max_steps=5, batch_size=4, unfreeze_every=1, log_every=1
    )
    result = fine_tune(model, token7_data(8, 0), config, log=log)
    assert counts == sorted(counts) and len(set(counts)) == LAYERS + 1
    assert trainable_names(model) == {n for n, _ in model.named_parameters()}
    assert result.trainable_parameters == sum(p.numel() for p in model.parameters())


def test_output_dir_gets_the_event_log_and_a_checkpoint_that_reloads(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = FineTuneConfig(learning_rate=1e-2, max_steps=3, batch_size=4, log_every=1)
    fine_tune(tiny_bert(num_labels=2), token7_data(8, 0), config, output_dir=out)  # overwritten
    model = tiny_bert(num_labels=2, seed=1)
    events: list[dict[str, Any]] = []
    fine_tune(model, token7_data(8, 0), config, output_dir=out, log=events.append)
    lines = (out / "log.jsonl").read_text(encoding="utf-8").splitlines()
    logged = [json.loads(line) for line in lines]
    assert logged == events  # one JSON object per line, the same events, this run's only
    assert [e["event"] for e in logged] == ["start", "train", "train", "train", "end"]
    reloaded: Any = BertForSequenceClassification.from_pretrained(out)
    reloaded.eval()
    batch = pad_batch([token7_data(8, 5)[i] for i in range(8)])
    batch.pop("labels")
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits)


def test_labels_beyond_the_head_are_refused_naming_the_argument() -> None:
    model = tiny_bert(num_labels=2)
    three = TextClassificationDataset([[1, 5], [1, 6], [1, 7]], [0, 1, 2], num_labels=3)
    fits = TextClassificationDataset([[1, 5], [1, 6]], [0, 1], num_labels=3)
    config = FineTuneConfig(max_steps=1, batch_size=2)
    before = clone_state(model)
    with pytest.raises(ValueError, match=r"^train has label 2 .*num_labels=2"):
        fine_tune(model, three, config)
    with pytest.raises(ValueError, match=r"^eval_data has label 2 .*num_labels=2"):
        fine_tune(model, fits, config, eval_data=three)
    with pytest.raises(ValueError, match="eval_every > 0 needs eval_data"):
        fine_tune(model, fits, FineTuneConfig(max_steps=1, eval_every=1))
    with pytest.raises(ValueError, match="constant_with_warmup"):
        fine_tune(model, fits, FineTuneConfig(max_steps=1, schedule="constant"))
    assert same_state(clone_state(model), before)  # refused before any step
    # A dataset declaring more classes is fine as long as its labels fit the head.
    assert fine_tune(model, fits, config).steps == 1


def test_simulated_two_processes_at_full_batch_equal_one_process() -> None:
    # Each simulated process draws its whole (equal) shard, so the averaged gradient is the
    # full-batch gradient: the weights must match a single process taking the whole set.
    data = token7_data(8, 0)
    one, two = tiny_bert(num_labels=2, dropout=0.0), tiny_bert(num_labels=2, dropout=0.0)
    config = FineTuneConfig(learning_rate=1e-2, max_steps=3, batch_size=8, warmup_ratio=0.0)
    r1 = fine_tune(one, data, config)
    r2 = fine_tune(two, data, dataclasses.replace(config, batch_size=4), simulate_world_size=2)
    assert r2.shard == list(range(8))
    assert r2.losses == pytest.approx(r1.losses, abs=1e-5)
    for (name, a), b in zip(one.named_parameters(), two.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)


def test_fine_tune_trains_only_the_adapter_of_a_peft_model() -> None:
    model = peft.get_peft_model(
        tiny_bert(num_labels=2), peft.LoraConfig(task_type="SEQ_CLS", r=2, target_modules=["query"])
    )
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = FineTuneConfig(learning_rate=1e-2, max_steps=3, batch_size=4, layer_decay=0.5)
    result = fine_tune(model, token7_data(8, 0), config)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert result.trainable_parameters == trainable < sum(p.numel() for p in model.parameters())
    for name, parameter in model.named_parameters():
        changed = not torch.equal(parameter, before[name])
        assert changed == parameter.requires_grad, name


@pytest.mark.parametrize(("extra_rows", "embeddings_saved"), [(0, False), (2, True)])
def test_a_peft_checkpoint_keeps_the_embeddings_only_when_the_vocabulary_grew(
    tmp_path: Path, extra_rows: int, embeddings_saved: bool
) -> None:
    import warnings

    from safetensors import safe_open

    base = tiny_bert(num_labels=2)
    base.resize_token_embeddings(30522 + extra_rows)  # MiniLM's vocabulary, or two rows more
    base.name_or_path = "sentence-transformers/all-MiniLM-L6-v2"  # its config is in the cache
    model = peft.get_peft_model(
        base, peft.LoraConfig(task_type="SEQ_CLS", r=2, target_modules=["query"])
    )
    assert model.peft_config["default"].base_model_name_or_path == base.name_or_path
    config = FineTuneConfig(learning_rate=1e-2, max_steps=1, batch_size=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fine_tune(model, token7_data(8, 0), config, output_dir=tmp_path)
    assert not [w for w in caught if "Could not find a config file" in str(w.message)]
    with safe_open(str(tmp_path / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert any("lora_A" in k for k in keys)
    assert any("word_embeddings" in k for k in keys) == embeddings_saved


# ----------------------------------------------------------------------------- prediction


class _LengthModel(torch.nn.Module):
    """Predicts (number of real tokens) mod 3: right only if the attention mask is."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        lengths = attention_mask.sum(1)
        return SimpleNamespace(logits=torch.nn.functional.one_hot(lengths % 3, 3).float())


def test_predict_passes_the_attention_mask_and_keeps_the_order() -> None:
    ids = [[5] * n for n in (4, 1, 2, 7, 3, 5, 6)]
    data = TextClassificationDataset(ids, [0] * 7, num_labels=3)
    expected = [len(x) % 3 for x in ids]
    for batch_size in (1, 3, 64):
        assert predict(_LengthModel(), data, batch_size=batch_size) == expected
    assert evaluate(_LengthModel(), data, batch_size=2) == expected.count(0) / 7


def test_predict_and_evaluate_agree_with_a_manual_argmax() -> None:
    model = tiny_bert(num_labels=3)
    g = torch.Generator().manual_seed(4)
    ids = [torch.randint(3, 50, (int(n),), generator=g).tolist() for n in range(2, 9)]
    labels = [0, 1, 2, 0, 1, 2, 0]
    data = TextClassificationDataset(ids, labels, num_labels=3)
    model.eval()
    with torch.no_grad():  # one unpadded line at a time
        logits = [model(**pad_batch([{"input_ids": x}])).logits[0] for x in ids]
    manual = [int(row.argmax()) for row in logits]
    assert len(set(manual)) > 1  # the check below is not a constant
    model.train()
    predictions = predict(model, data, batch_size=3)
    assert not model.training  # predict switches dropout off
    assert predictions == manual == predict(model, data)
    accuracy = sum(p == y for p, y in zip(manual, labels, strict=True)) / len(labels)
    assert evaluate(model, data, batch_size=2) == accuracy
    assert evaluate(model, TextClassificationDataset(ids, manual, num_labels=3)) == 1.0
    wrong = [(p + 1) % 3 for p in manual]
    assert evaluate(model, TextClassificationDataset(ids, wrong, num_labels=3)) == 0.0
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        predict(model, data, batch_size=0)


# ----------------------------------------------------------------------------- batch drawing


class _Recorder(torch.nn.Module):
    """A classifier that records the lines (first token = line id) of every training batch."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(20, 4)
        self.layers = torch.nn.ModuleList([torch.nn.Linear(4, 4)])
        self.head = torch.nn.Linear(4, 2)
        self.batches: list[list[int]] = []

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: Any = None
    ) -> Any:
        if self.training:
            self.batches.append(input_ids[:, 0].tolist())
        logits = self.head(self.layers[0](self.embed(input_ids).mean(1)))
        loss = None if labels is None else torch.nn.functional.cross_entropy(logits, labels)
        return SimpleNamespace(loss=loss, logits=logits)


@pytest.mark.parametrize(("lines", "batch_size"), [(5, 3), (7, 4), (3, 2), (8, 4)])
def test_batches_never_repeat_a_line_and_every_pass_covers_the_shard(
    lines: int, batch_size: int
) -> None:
    data = TextClassificationDataset(
        [[i] for i in range(1, lines + 1)], [i % 2 for i in range(lines)], num_labels=2
    )
    model = _Recorder()
    steps = 3 * lines  # several passes, most of them ending mid-batch
    fine_tune(
        model, data, FineTuneConfig(learning_rate=1e-3, max_steps=steps, batch_size=batch_size)
    )
    assert len(model.batches) == steps
    assert all(len(set(batch)) == len(batch) == batch_size for batch in model.batches)
    drawn = [line for batch in model.batches for line in batch]
    for start in range(0, len(drawn) - lines + 1, lines):  # each pass is a permutation
        assert sorted(drawn[start : start + lines]) == list(range(1, lines + 1))


@pytest.mark.parametrize("field", ["weight_decay", "max_grad_norm", "learning_rate"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_validate_rejects_nan_and_infinity(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be"):
        FineTuneConfig(**{field: value}).validate()  # type: ignore[arg-type]
