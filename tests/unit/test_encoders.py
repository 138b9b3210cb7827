"""The encoder helpers in ptm_snippets.encoders: a restricted WordPiece vocabulary and MLM."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

from ptm_snippets import encoders
from ptm_snippets.encoders import mlm_loss, restrict_vocabulary, train_mlm

TEXTS = [
    "the parcel never arrived.",
    "the app crashes on start.",
    "i was charged twice for my order.",
    "i forgot my password.",
] * 4


@pytest.fixture(scope="module")
def full() -> Any:
    return AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def small(full: Any) -> Any:
    return restrict_vocabulary(full, TEXTS, keep_ascii_characters=False)


def tiny_model(vocab_size: int, seed: int = 0) -> BertForMaskedLM:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return BertForMaskedLM(config)


# ----------------------------------------------------------------------------- vocabulary


def test_restricted_vocabulary_splits_its_corpus_exactly_like_the_full_one(
    full: Any, small: Any
) -> None:
    for text in TEXTS:
        assert small.tokenize(text) == full.tokenize(text)
        assert small.decode(small(text)["input_ids"]) == full.decode(full(text)["input_ids"])


def test_restricted_vocabulary_is_small_contiguous_and_keeps_special_tokens(
    full: Any, small: Any
) -> None:
    vocab = small.get_vocab()
    assert sorted(vocab.values()) == list(range(len(vocab)))
    assert len(vocab) < 40
    for name in ("cls_token", "sep_token", "pad_token", "mask_token", "unk_token"):
        assert getattr(small, name) == getattr(full, name)
        assert getattr(small, f"{name}_id") is not None
    assert small.model_max_length == full.model_max_length
    # Original relative order is kept: [PAD] (id 0 in BERT) stays first.
    assert small.pad_token_id == 0


def test_ascii_characters_let_new_words_spell_out(full: Any) -> None:
    with_chars = restrict_vocabulary(full, TEXTS)
    without = restrict_vocabulary(full, TEXTS, keep_ascii_characters=False)
    assert "[UNK]" in without.tokenize("zebra")
    assert "[UNK]" not in with_chars.tokenize("zebra")
    assert len(with_chars) > len(without)


@pytest.mark.parametrize("texts", [[], "one string"])
def test_restrict_vocabulary_rejects_bad_texts(full: Any, texts: Any) -> None:
    with pytest.raises(ValueError, match="texts must be"):
        restrict_vocabulary(full, texts)


def test_restrict_vocabulary_rejects_a_tokenizer_without_bert_tokens() -> None:
    class NoMask:
        cls_token = "[CLS]"
        sep_token = "[SEP]"
        pad_token = "[PAD]"
        mask_token = None
        unk_token = "[UNK]"

        def get_vocab(self) -> dict[str, int]:
            return {}

    with pytest.raises(ValueError, match="tokenizer must be a BERT WordPiece tokenizer"):
        restrict_vocabulary(NoMask(), TEXTS)


# ----------------------------------------------------------------------------- training


def test_training_lowers_training_and_held_out_loss(small: Any) -> None:
    model = tiny_model(len(small))
    before = mlm_loss(model, TEXTS, small, mlm_probability=0.3)
    losses = train_mlm(
        model,
        TEXTS,
        small,
        steps=60,
        batch_size=8,
        lr=5e-3,
        mlm_probability=0.3,
        generator=torch.Generator().manual_seed(0),
    )
    after = mlm_loss(model, TEXTS, small, mlm_probability=0.3)
    assert len(losses) == 60 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 0.5
    assert after < before - 0.5
    assert not model.training  # left in eval mode


def test_training_is_reproducible_with_a_seeded_generator(small: Any) -> None:
    runs = []
    for _ in range(2):
        model = tiny_model(len(small))
        runs.append(
            train_mlm(
                model,
                TEXTS,
                small,
                steps=5,
                batch_size=4,
                generator=torch.Generator().manual_seed(3),
            )
        )
    assert runs[0] == pytest.approx(runs[1], abs=1e-6)


def test_sparse_prediction_gives_the_same_loss_as_the_model(small: Any) -> None:
    model = tiny_model(len(small)).eval()
    batch = small(TEXTS[:4], padding=True, return_tensors="pt")
    labels = batch["input_ids"].clone()
    labels[:, ::2] = -100
    labels[batch["attention_mask"] == 0] = -100
    with torch.no_grad():
        dense = model(**batch, labels=labels).loss
        sparse = encoders._masked_lm_loss(
            model, batch["input_ids"], batch["attention_mask"], labels
        )
    assert float(sparse) == pytest.approx(float(dense), abs=1e-5)


def test_mlm_loss_uses_the_same_masks_for_the_same_seed(small: Any) -> None:
    model = tiny_model(len(small)).eval()
    assert mlm_loss(model, TEXTS, small, seed=1) == mlm_loss(model, TEXTS, small, seed=1)
    assert mlm_loss(model, TEXTS, small, seed=1) != mlm_loss(model, TEXTS, small, seed=2)
    assert not model.training


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be"),
        ({"steps": 2.5}, "steps must be"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"lr": 0.0}, "lr must be in"),
        ({"lr": 2.0}, "lr must be in"),
        ({"mlm_probability": 0.0}, "mlm_probability must be in"),
        ({"max_length": 1}, "max_length must be at least 2"),
        ({"warmup_fraction": 1.0}, "warmup_fraction must be in"),
        ({"weight_decay": -0.1}, "weight_decay must be"),
        ({"texts": []}, "texts must be"),
        ({"texts": "a string"}, "texts must be"),
    ],
)
def test_train_mlm_rejects_bad_arguments(small: Any, kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"texts": TEXTS, "steps": 1, **kwargs}
    texts = args.pop("texts")
    with pytest.raises(ValueError, match=message):
        train_mlm(tiny_model(len(small)), texts, small, **args)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be"),
        ({"mlm_probability": 1.5}, "mlm_probability must be in"),
        ({"max_length": 0}, "max_length must be at least 2"),
    ],
)
def test_mlm_loss_rejects_bad_arguments(small: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mlm_loss(tiny_model(len(small)), TEXTS, small, **kwargs)


def test_a_tokenizer_without_a_mask_token_is_rejected(small: Any) -> None:
    class NoMask:
        mask_token_id = None

    with pytest.raises(ValueError, match="tokenizer must have a mask token"):
        train_mlm(tiny_model(len(small)), TEXTS, NoMask(), steps=1)


def test_mlm_loss_says_when_nothing_was_masked(small: Any) -> None:
    with pytest.raises(ValueError, match="no position was selected"):
        mlm_loss(tiny_model(len(small)), ["a"], small, mlm_probability=1e-9)


# ----------------------------------------------------------------------------- docs


def test_public_names_have_examples() -> None:
    for name in encoders.__all__:
        doc = getattr(encoders, name).__doc__
        assert doc and ">>>" in doc, name
