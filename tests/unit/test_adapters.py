"""The PEFT helpers in ptm_snippets.adapters, on a tiny BERT and a tiny GPT-2 built here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
)

from ptm_snippets.adapters import (
    PEFT_METHODS,
    ParameterCount,
    adapter_size_bytes,
    linear_layer_names,
    make_peft_model,
    match_modules,
    trainable_parameters,
)

HIDDEN, LAYERS, LABELS = 32, 2, 3


def tiny_bert(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    fields: dict[str, Any] = {"num_labels": LABELS}
    config = BertConfig(
        vocab_size=50,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        **fields,
    )
    return BertForSequenceClassification(config).eval()  # type: ignore[no-untyped-call]


def tiny_gpt2(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=50, n_embd=HIDDEN, n_layer=LAYERS, n_head=2, n_positions=64)
    return GPT2LMHeadModel(config).eval()  # type: ignore[no-untyped-call]


INPUTS = {
    "input_ids": torch.tensor([[1, 5, 7, 2, 0]]),
    "attention_mask": torch.tensor([[1] * 4 + [0]]),
}
HEAD = HIDDEN * LABELS + LABELS


# ----------------------------------------------------------------------------- names


def test_linear_layer_names_lists_the_short_names_of_bert_and_gpt2() -> None:
    assert linear_layer_names(tiny_bert()) == ["classifier", "dense", "key", "query", "value"]
    # GPT-2's Conv1D layers count as linear; lm_head is a Linear.
    assert linear_layer_names(tiny_gpt2()) == ["c_attn", "c_fc", "c_proj", "lm_head"]


def test_match_modules_uses_peft_suffix_rule_and_regex() -> None:
    model = tiny_bert()
    found = match_modules(model, ["query", "attention.self.key", "uery", "pooler"])
    assert found["query"] == [f"bert.encoder.layer.{i}.attention.self.query" for i in range(LAYERS)]
    assert found["attention.self.key"] == [
        f"bert.encoder.layer.{i}.attention.self.key" for i in range(LAYERS)
    ]
    assert found["uery"] == []  # a suffix must start after a dot
    assert found["pooler"] == ["bert.pooler"]
    regex = r"bert\.encoder\.layer\.1\..*value"
    assert match_modules(model, regex) == {regex: ["bert.encoder.layer.1.attention.self.value"]}


# ----------------------------------------------------------------------------- building


def test_lora_counts_match_the_formula_and_the_start_equals_the_base() -> None:
    base = tiny_bert()
    with torch.no_grad():
        before = base(**INPUTS).logits
    model = make_peft_model(base, "lora", rank=4, target_modules=["query", "value"])
    count = trainable_parameters(model)
    assert count.trainable == LAYERS * 2 * 4 * (HIDDEN + HIDDEN) + HEAD
    with torch.no_grad():
        after = model(**INPUTS).logits
    torch.testing.assert_close(after, before)  # B starts at zero: the update is zero
    lora = model.base_model.model.bert.encoder.layer[0].attention.self.query
    assert lora.scaling["default"] == pytest.approx(2.0)  # alpha defaults to 2 * rank
    assert not lora.base_layer.weight.requires_grad


def test_alpha_and_dropout_reach_the_peft_config() -> None:
    model = make_peft_model(tiny_bert(), "lora", rank=2, alpha=8, dropout=0.1)
    config = model.peft_config["default"]
    assert (config.r, config.lora_alpha, config.lora_dropout) == (2, 8, 0.1)
    assert set(config.target_modules) == {"query", "value"}  # peft's default for BERT


@pytest.mark.parametrize("method", PEFT_METHODS)
def test_every_method_builds_trains_only_new_parameters_and_saves(
    method: str, tmp_path: Path
) -> None:
    options: dict[str, Any] = {"total_step": 10} if method == "adalora" else {}
    model = make_peft_model(tiny_bert(), method, **options)
    count = trainable_parameters(model)
    assert 0 < count.trainable < count.total / 5
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert all(
        "classifier" in n
        or "lora" in n
        or "ia3" in n
        or "hada" in n
        or "lokr" in n
        or "prompt" in n
        or "magnitude" in n
        for n in names
    ), names
    model.train()
    loss = model(**INPUTS, labels=torch.tensor([1])).loss
    loss.backward()
    assert any(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.save_pretrained(tmp_path, save_embedding_layers=False)
    size = adapter_size_bytes(tmp_path)
    assert size >= 4 * count.trainable  # float32, plus the safetensors header


def test_dora_adds_one_magnitude_vector_per_adapted_layer() -> None:
    lora = trainable_parameters(make_peft_model(tiny_bert(), "lora", rank=4))
    dora = trainable_parameters(make_peft_model(tiny_bert(), "dora", rank=4))
    assert dora.trainable - lora.trainable == LAYERS * 2 * HIDDEN  # query and value outputs


def test_prompt_tuning_trains_virtual_token_vectors() -> None:
    model = make_peft_model(tiny_bert(), "prompt_tuning", num_virtual_tokens=5)
    assert trainable_parameters(model).trainable == 5 * HIDDEN + HEAD


def test_modules_to_save_and_causal_lm_targets() -> None:
    model = make_peft_model(
        tiny_bert(),
        "lora",
        rank=2,
        target_modules=["query"],
        modules_to_save=["classifier", "pooler"],
    )
    pooler = HIDDEN * HIDDEN + HIDDEN
    assert trainable_parameters(model).trainable == LAYERS * 2 * (2 * HIDDEN) + HEAD + pooler
    gpt = make_peft_model(
        tiny_gpt2(),
        "lora",
        rank=2,
        target_modules=["c_attn"],
        task_type="CAUSAL_LM",
        fan_in_fan_out=True,
    )
    assert trainable_parameters(gpt).trainable == LAYERS * 2 * (HIDDEN + 3 * HIDDEN)


def test_parameter_count_share() -> None:
    assert ParameterCount(1, 4).share == 0.25
    assert ParameterCount(0, 0).share == 0.0


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("method", "kwargs", "message"),
    [
        ("lora", {"rank": 0}, "rank must be a positive int"),
        ("lora", {"rank": -2}, "rank must be a positive int"),
        ("lora", {"rank": 2.5}, "rank must be a positive int"),
        ("lora", {"rank": True}, "rank must be a positive int"),
        ("lora", {"alpha": 0}, "alpha must be a positive number"),
        ("lora", {"alpha": -16}, "alpha must be a positive number"),
        ("lora", {"dropout": 1.0}, r"dropout must be a probability in \[0, 1\)"),
        ("lora", {"dropout": -0.1}, r"dropout must be a probability in \[0, 1\)"),
        ("lora", {"target_modules": ["q_proj"]}, "target_modules entry 'q_proj' matches no module"),
        ("lora", {"target_modules": ["query", "q_proj"]}, "'q_proj' matches no module"),
        ("lora", {"target_modules": ["encoder"]}, "matches no layer peft can adapt"),
        ("lora", {"target_modules": []}, "target_modules must be a non-empty list"),
        ("lora", {"target_modules": r"nothing\..*"}, "matches no module"),
        ("lora", {"modules_to_save": ["head"]}, "modules_to_save entry 'head' matches no module"),
        ("lora", {"target_modules": ["query", "classifier"]}, "only matches layers inside"),
        (
            "lora",
            {"target_modules": ["value", "pooler.dense"], "modules_to_save": ["pooler"]},
            "'pooler.dense' only matches layers inside modules_to_save",
        ),
        ("lora", {"modules_to_save": "classifier"}, "modules_to_save must be a list"),
        ("lora", {"num_virtual_tokens": 4}, "num_virtual_tokens applies only"),
        ("ia3", {"rank": 4}, "rank does not apply to method 'ia3'"),
        ("ia3", {"dropout": 0.1}, "dropout does not apply to method 'ia3'"),
        ("loha", {"dropout": 0.1}, "dropout does not apply to method 'loha'"),
        ("prompt_tuning", {"alpha": 4}, "alpha does not apply"),
        ("prompt_tuning", {"target_modules": ["query"]}, "target_modules does not apply"),
        ("prompt_tuning", {"num_virtual_tokens": 0}, "num_virtual_tokens must be a positive int"),
        ("adalora", {}, "adalora needs total_step"),
        ("qlora", {}, "method must be one of"),
        ("lora", {"task_type": "CLASSIFY"}, "task_type must be one of"),
    ],
)
def test_bad_arguments_are_rejected_by_name(
    method: str, kwargs: dict[str, Any], message: str
) -> None:
    base = tiny_bert()
    with pytest.raises(ValueError, match=message):
        make_peft_model(base, method, **kwargs)
    # Nothing was injected: the model is still a plain BERT.
    assert type(base.bert.encoder.layer[0].attention.self.query) is torch.nn.Linear


def test_error_lists_the_layer_names_that_exist() -> None:
    with pytest.raises(ValueError) as info:
        make_peft_model(tiny_gpt2(), "lora", target_modules=["q_proj"], task_type="CAUSAL_LM")
    assert "['c_attn', 'c_fc', 'c_proj', 'lm_head']" in str(info.value)


def test_wrapping_twice_is_rejected() -> None:
    base = tiny_bert()
    model = make_peft_model(base, "lora", rank=2)
    with pytest.raises(ValueError, match="already a PeftModel"):
        make_peft_model(model, "lora", rank=2)
    with pytest.raises(ValueError, match="already holds peft layers"):
        make_peft_model(base, "lora", rank=2)  # the same base, changed in place by the first call


def test_not_a_module_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        make_peft_model("bert", "lora")  # type: ignore[arg-type]


def test_adapter_size_needs_an_adapter_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"holds no adapter_model\.safetensors"):
        adapter_size_bytes(tmp_path)
    (tmp_path / "adapter_model.safetensors").write_bytes(b"x" * 123)
    assert adapter_size_bytes(tmp_path) == 123
