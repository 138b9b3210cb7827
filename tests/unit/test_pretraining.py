"""The objectives and measurements in ptm_snippets.pretraining."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModel, BertConfig

import ptm_snippets
from ptm_snippets import (
    IGNORE_INDEX,
    count_parameters,
    mask_tokens,
    mean_pool,
    parameters_from_config,
    span_corruption,
)

MASK, VOCAB, CLS, SEP, PAD = 103, 30522, 101, 102, 0


def corrupt(ids: torch.Tensor, p: float = 0.15, seed: int = 0) -> ptm_snippets.MaskedBatch:
    return mask_tokens(
        ids,
        mask_token_id=MASK,
        vocab_size=VOCAB,
        special_ids=[CLS, SEP, PAD],
        mlm_probability=p,
        generator=torch.Generator().manual_seed(seed),
    )


def test_special_tokens_are_never_selected() -> None:
    ids = torch.tensor([[CLS, 2000, 2001, 2002, SEP, PAD, PAD]] * 500)
    out = corrupt(ids, p=0.9)
    assert not out.selected[:, [0, 4, 5, 6]].any()
    assert torch.equal(out.input_ids[:, [0, 4, 5, 6]], ids[:, [0, 4, 5, 6]])


def test_labels_hold_the_original_only_where_selected() -> None:
    ids = torch.randint(1000, 20000, (64, 64), generator=torch.Generator().manual_seed(1))
    out = corrupt(ids)
    assert torch.equal(out.labels[out.selected], ids[out.selected])
    assert (out.labels[~out.selected] == IGNORE_INDEX).all()
    assert torch.equal(out.input_ids[~out.selected], ids[~out.selected])


def test_the_80_10_10_rule_holds_in_frequency() -> None:
    ids = torch.randint(1000, 20000, (400, 256), generator=torch.Generator().manual_seed(2))
    out = corrupt(ids)
    chosen = out.selected
    n = chosen.sum()
    assert abs(float(chosen.float().mean()) - 0.15) < 0.005
    masked = float(((out.input_ids == MASK) & chosen).sum() / n)
    kept = float(((out.input_ids == ids) & chosen).sum() / n)
    assert abs(masked - 0.8) < 0.01 and abs(kept - 0.1) < 0.01
    assert abs(1 - masked - kept - 0.1) < 0.01


def test_masking_is_reproducible_with_a_seeded_generator() -> None:
    ids = torch.randint(1000, 20000, (8, 32), generator=torch.Generator().manual_seed(3))
    assert torch.equal(corrupt(ids, seed=5).input_ids, corrupt(ids, seed=5).input_ids)
    assert not torch.equal(corrupt(ids, seed=5).input_ids, corrupt(ids, seed=6).input_ids)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mlm_probability": 0.0}, "mlm_probability must be in"),
        ({"mlm_probability": 1.5}, "mlm_probability must be in"),
        ({"vocab_size": 0}, "vocab_size must be positive"),
    ],
)
def test_mask_tokens_rejects_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    args = {"mask_token_id": MASK, "vocab_size": VOCAB, **kwargs}
    with pytest.raises(ValueError, match=message):
        mask_tokens(torch.tensor([[5, 6]]), **args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="input_ids must be an integer"):
        mask_tokens(torch.tensor([[0.5]]), mask_token_id=MASK, vocab_size=VOCAB)


@pytest.mark.parametrize("seed", range(20))
def test_span_corruption_loses_nothing(seed: int) -> None:
    words = [f"w{i}" for i in range(int(torch.randint(2, 40, (1,))))]
    out = span_corruption(
        words,
        noise_density=0.3,
        mean_span_length=2.5,
        generator=torch.Generator().manual_seed(seed),
    )
    # Put each sentinel's span back where the sentinel stands: the original text returns.
    spans: dict[str, list[str]] = {}
    current = ""
    for token in out.targets:
        if token.startswith("<extra_id_"):
            current = token
            spans[current] = []
        else:
            spans[current].append(token)
    rebuilt = [t for tok in out.inputs for t in (spans.get(tok, [tok]))]
    assert rebuilt == words
    sentinels = [t for t in out.inputs if t.startswith("<extra_id_")]
    assert sentinels == [f"<extra_id_{i}>" for i in range(len(sentinels))]
    assert out.targets[-1] == f"<extra_id_{len(sentinels)}>"


def test_span_corruption_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least 2 tokens"):
        span_corruption(["one"])
    with pytest.raises(ValueError, match="noise_density must be in"):
        span_corruption(["a", "b"], noise_density=1.0)
    with pytest.raises(ValueError, match="mean_span_length must be at least 1"):
        span_corruption(["a", "b"], mean_span_length=0.5)


def test_mean_pool_ignores_padding_and_checks_shapes() -> None:
    states = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    pooled = mean_pool(states, mask)
    torch.testing.assert_close(pooled, torch.tensor([[2.0, 3.0], [6.0, 7.0]]))
    with pytest.raises(ValueError, match="attention_mask"):
        mean_pool(states, torch.ones(2, 4))


def test_counts_on_the_meta_device_equal_counts_of_real_weights() -> None:
    config = BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=500,
    )
    assert parameters_from_config(config) == count_parameters(AutoModel.from_config(config))


def test_tied_weights_are_counted_once() -> None:
    config = AutoConfig.from_pretrained("openai-community/gpt2")
    from transformers import GPT2LMHeadModel

    lm = GPT2LMHeadModel(config)
    assert lm.lm_head.weight is lm.transformer.wte.weight
    assert count_parameters(lm) == sum(p.numel() for p in lm.parameters())
    frozen = torch.nn.Linear(4, 4)
    frozen.weight.requires_grad_(False)
    assert count_parameters(frozen, trainable_only=True) == 4
