"""The domain-adaptation helpers in ptm_snippets.domain: corpus, split, fertility, new tokens, MLM."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

from ptm_snippets import domain
from ptm_snippets.domain import (
    DOMAIN_MODULES,
    TASK_FAMILIES,
    TASK_LABELS,
    Document,
    add_domain_tokens,
    chunk_words,
    docstring_task,
    fertility,
    fit_mlm_head,
    frequent_split_words,
    python_documents,
    split_documents,
)
from ptm_snippets.encoders import masked_token_losses, restrict_vocabulary

TEXTS = [
    "the iterable yields a tuple of keyword arguments.",
    "a coroutine awaits the descriptor of the iterable.",
    "pass kwargs to the function as a dict.",
    "the identifier names a keyword argument.",
] * 4
NEW_WORDS = ["iterable", "coroutine", "kwargs"]


@pytest.fixture(scope="module")
def full() -> Any:
    return AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def small(full: Any) -> Any:
    return restrict_vocabulary(full, TEXTS)


def tiny_model(vocab_size: int, seed: int = 0) -> Any:
    torch.manual_seed(seed)
    model: Any = BertForMaskedLM(
        BertConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
    )
    return model.eval()


# ----------------------------------------------------------------------------- corpus


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    return python_documents(["json", "textwrap"], topics=True)


def test_documents_hold_topics_and_one_document_per_object(documents: list[Document]) -> None:
    topics = [d for d in documents if d.group.startswith("topic:")]
    assert len(topics) > 50 and all(d.name == d.group for d in topics)
    by_name = {d.name: d for d in documents}
    assert by_name["topic:for"].text.startswith('The "for" statement')
    assert by_name["json"].group == "json" and "JSON" in by_name["json"].text
    wrapper = by_name["textwrap.TextWrapper"]  # the class and its methods' docstrings together
    assert wrapper.group == "textwrap" and "fill" in wrapper.text and "\n\n" in wrapper.text
    assert not any(d.name.startswith("textwrap.TextWrapper.") for d in documents)
    modules = [d for d in documents if not d.group.startswith("topic:")]
    assert len({d.text for d in modules}) == len(modules)  # a docstring met before is skipped


def test_documents_ignore_what_this_process_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    import textwrap

    def injected() -> None:
        """Injected by a test into textwrap."""

    injected.__module__ = "textwrap"
    monkeypatch.setattr(textwrap, "injected", injected, raising=False)
    monkeypatch.setattr(domain, "_DOCS_CACHE", {})  # read afresh, not from an earlier call
    docs = python_documents(["textwrap"], topics=False)
    assert docs and not any("Injected by a test" in d.text for d in docs)


def test_domain_modules_and_task_modules_do_not_overlap() -> None:
    task_modules = {m for modules in TASK_FAMILIES.values() for m in modules}
    assert not task_modules & set(DOMAIN_MODULES)
    assert tuple(TASK_FAMILIES) == TASK_LABELS


@pytest.mark.parametrize(
    ("modules", "message"),
    [("json", "modules must be a sequence"), (["no_such_module_xyz"], "modules names")],
)
def test_documents_reject_bad_modules(modules: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        python_documents(modules)


def test_split_keeps_groups_together_and_is_stable(documents: list[Document]) -> None:
    train, heldout = split_documents(documents, heldout_fraction=0.3)
    assert len(train) + len(heldout) == len(documents)
    assert not {d.group for d in train} & {d.group for d in heldout}
    assert heldout and train
    again = split_documents(documents, heldout_fraction=0.3)
    assert again == (train, heldout)
    other = split_documents(documents, heldout_fraction=0.3, seed=1)[1]
    assert {d.group for d in other} != {d.group for d in heldout}


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_split_rejects_a_bad_fraction(documents: list[Document], fraction: float) -> None:
    with pytest.raises(ValueError, match="heldout_fraction must be in"):
        split_documents(documents, heldout_fraction=fraction)


def test_split_rejects_no_documents() -> None:
    with pytest.raises(ValueError, match="documents must hold"):
        split_documents([])


def test_chunks_keep_every_word_in_order_and_respect_the_limit() -> None:
    texts = ["a b c d e f g\n\nh i\n\n\nj k l", "m n  o\np"]
    chunks = chunk_words(texts, max_words=3)
    assert all(1 <= len(c.split()) <= 3 for c in chunks)
    assert " ".join(chunks).split() == " ".join(texts).split()
    assert chunks == [
        "a b c",
        "d e f",
        "g h i",
        "j k l",
        "m n o",
        "p",
    ]  # "g" and "h i" fit together
    assert chunk_words(["one\n\ntwo"], max_words=5) == ["one two"]  # short paragraphs share


@pytest.mark.parametrize(
    ("texts", "max_words", "message"),
    [("one text", 3, "texts must be a sequence"), (["a"], 0, "max_words must be")],
)
def test_chunks_reject_bad_arguments(texts: Any, max_words: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        chunk_words(texts, max_words=max_words)


def test_docstring_task_is_labelled_deduplicated_and_split_by_object() -> None:
    train, test = docstring_task("train"), docstring_task("test")
    assert {r["label"] for r in train} == {r["label"] for r in test} == set(TASK_LABELS)
    assert not {r["text"] for r in train} & {r["text"] for r in test}

    def tops(rows: list[dict[str, str]]) -> set[str]:
        out = set()
        for row in rows:
            module = max(
                (
                    m
                    for ms in TASK_FAMILIES.values()
                    for m in ms
                    if f"{row['name']}.".startswith(m + ".")
                ),
                key=len,
            )
            out.add(".".join(row["name"].split(".")[: len(module.split(".")) + 1]))
        return out

    assert not tops(train) & tops(test)
    for row in train + test:
        assert len(row["text"].split()) >= 4 and "\n" not in row["text"]
        assert not row["text"].endswith(")") or " " in row["text"]  # no bare signatures
    texts = [r["text"] for r in train + test]
    assert len(set(texts)) == len(texts)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "valid"}, "split must be 'train' or 'test'"),
        ({"split": "train", "test_fraction": 1.0}, "test_fraction must be in"),
        ({"split": "train", "min_words": 0}, "min_words must be"),
    ],
)
def test_docstring_task_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        docstring_task(**kwargs)


# ----------------------------------------------------------------------------- fertility


def test_fertility_counts_tokens_per_word(full: Any) -> None:
    assert fertility(full, ["my parcel is late ."]) == 1.0
    # "kwargs" is 3 pieces: 3 + 1 ("use") + 1 (".") tokens over 3 words
    assert fertility(full, ["Use kwargs."]) == pytest.approx(5 / 3)
    assert fertility(full, ["a", "kwargs"]) == pytest.approx(4 / 2)  # totals, not a mean of ratios


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ("one string", "texts must be a non-empty"),
        ([], "texts must be a non-empty"),
        (["  "], "at least one word"),
    ],
)
def test_fertility_rejects_bad_texts(full: Any, texts: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fertility(full, texts)


def test_split_words_are_ranked_by_tokens_saved(full: Any) -> None:
    ranked = frequent_split_words(full, TEXTS, top_k=10)
    savings = [count * (pieces - 1) for _, count, pieces in ranked]
    assert savings == sorted(savings, reverse=True)
    words = [w for w, _, _ in ranked]
    assert words[0] == "iterable"  # 8 times, 3 pieces: saves 16 tokens
    assert "the" not in words and all(p >= 2 for _, _, p in ranked)
    assert all(p >= 3 for _, _, p in frequent_split_words(full, TEXTS, min_pieces=3))
    upper = frequent_split_words(full, [t.upper() for t in TEXTS], top_k=10)
    assert [w for w, _, _ in upper] == words  # an uncased tokenizer counts lower-cased words


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"top_k": 0}, "top_k must be"),
        ({"min_pieces": 1}, "min_pieces must be"),
        ({"min_length": 0}, "min_length must be"),
    ],
)
def test_split_words_reject_bad_numbers(full: Any, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        frequent_split_words(full, TEXTS, **kwargs)


# ----------------------------------------------------------------------------- new tokens


@pytest.mark.parametrize("init", domain.INITS)
def test_new_rows_follow_the_chosen_initialisation(small: Any, init: str) -> None:
    tok = copy.deepcopy(small)
    model = tiny_model(len(tok))
    with torch.no_grad():
        model.cls.predictions.bias.normal_()
    old_rows = model.get_input_embeddings().weight.detach().clone()
    old_bias = model.cls.predictions.bias.detach().clone()
    pieces = [tok(w, add_special_tokens=False)["input_ids"] for w in NEW_WORDS]
    torch.manual_seed(1)
    new_ids = add_domain_tokens(model, tok, NEW_WORDS, init=init)
    assert new_ids == list(range(len(small), len(small) + 3))
    rows = model.get_input_embeddings().weight
    assert rows.shape == (len(small) + 3, 32)
    assert model.get_output_embeddings().weight is rows  # still tied
    bias = model.cls.predictions.bias
    assert bias.shape == (len(small) + 3,)
    assert torch.equal(rows[: len(small)], old_rows)  # old rows untouched
    for new_id, ids in zip(new_ids, pieces, strict=True):
        if init == "mean":
            assert torch.allclose(rows[new_id], old_rows[ids].mean(0))
            assert torch.isclose(bias[new_id], old_bias[ids].mean())
        elif init == "vocab":
            assert torch.allclose(rows[new_id], old_rows.mean(0))
            assert torch.isclose(bias[new_id], old_bias.mean())
        else:
            assert not torch.allclose(rows[new_id], old_rows[ids].mean(0))
            assert float(bias[new_id].detach()) == 0.0
    if init == "random":
        assert 0.01 < float(rows[new_ids].detach().std()) < 0.03  # initializer_range 0.02
    # whole words only, after lower-casing; "Iterables" is cut as before
    assert tok.tokenize("Iterables") == small.tokenize("Iterables")
    assert small.tokenize("Iterables")[0] != "iterable"
    assert tok.tokenize("The Iterable, kwargs.") == ["the", "iterable", ",", "kwargs", "."]
    out = model(**tok("the iterable and kwargs", return_tensors="pt"))
    assert out.logits.shape[-1] == len(tok)


def test_new_rows_of_an_untied_output_layer_are_set_too(small: Any) -> None:
    tok = copy.deepcopy(small)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, tie_word_embeddings=False,
    )  # fmt: skip
    model: Any = BertForMaskedLM(config)
    output = model.get_output_embeddings()
    assert output.weight is not model.get_input_embeddings().weight
    old = output.weight.detach().clone()
    ids = tok("kwargs", add_special_tokens=False)["input_ids"]
    (new_id,) = add_domain_tokens(model, tok, ["kwargs"], init="mean")
    assert torch.allclose(model.get_output_embeddings().weight[new_id], old[ids].mean(0))


@pytest.mark.parametrize(
    ("words", "init", "message"),
    [
        (["kwargs"], "average", "init must be one of"),
        ("kwargs", "mean", "words must be a non-empty sequence"),
        ([], "mean", "words must be a non-empty sequence"),
        (["kwargs", "kwargs"], "mean", "words must not repeat"),
        (["two words"], "mean", "without whitespace"),
        (["the"], "mean", "already a single token"),
    ],
)
def test_add_domain_tokens_rejects_bad_input(
    small: Any, words: Any, init: str, message: str
) -> None:
    tok = copy.deepcopy(small)
    model = tiny_model(len(tok))
    with pytest.raises(ValueError, match=message):
        add_domain_tokens(model, tok, words, init=init)
    assert len(tok) == len(small)  # nothing was added


def test_add_domain_tokens_rejects_a_mismatched_model(small: Any) -> None:
    with pytest.raises(ValueError, match="model has 10 embedding rows but tokenizer has"):
        add_domain_tokens(tiny_model(10), copy.deepcopy(small), ["kwargs"])


# ----------------------------------------------------------------------------- masked-LM loss


def test_masked_losses_are_reproducible_and_match_the_full_output(small: Any) -> None:
    model = tiny_model(len(small))
    losses, labels = masked_token_losses(model, TEXTS, small, seed=3, mlm_probability=0.3)
    again, labels_again = masked_token_losses(model, TEXTS, small, seed=3, mlm_probability=0.3)
    assert torch.equal(losses, again) and torch.equal(labels, labels_again)
    other, _ = masked_token_losses(model, TEXTS, small, seed=4, mlm_probability=0.3)
    assert not torch.equal(losses, other) or len(other) != len(losses)

    class Plain(torch.nn.Module):  # no .bert/.cls: the full-output path
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, **kwargs: Any) -> Any:
            return self.inner(**kwargs)

    full_losses, full_labels = masked_token_losses(
        Plain(), TEXTS, small, seed=3, mlm_probability=0.3
    )
    assert torch.equal(labels, full_labels)
    assert torch.allclose(losses, full_losses, atol=1e-5)
    assert abs(float(losses.mean()) - math.log(len(small))) < 1.0  # untrained: near uniform


def test_masked_losses_at_chosen_ids_score_every_occurrence(small: Any) -> None:
    model = tiny_model(len(small))
    target = small.convert_tokens_to_ids("the")
    _, labels = masked_token_losses(model, TEXTS, small, mask_ids=[target])
    expected = sum(small(t)["input_ids"].count(target) for t in TEXTS)
    assert labels.tolist() == [target] * expected
    with pytest.raises(ValueError, match="no position was selected"):
        masked_token_losses(model, TEXTS, small, mask_ids=[small.convert_tokens_to_ids("z")])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mlm_probability": 0.0}, "mlm_probability must be in"),
        ({"max_length": 1}, "max_length must be"),
        ({"batch_size": 0}, "batch_size must be"),
    ],
)
def test_masked_losses_reject_bad_numbers(small: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        masked_token_losses(tiny_model(len(small)), TEXTS, small, **kwargs)


# ----------------------------------------------------------------------------- head fitting


def test_fitting_the_head_changes_only_the_head_and_lowers_the_loss(small: Any) -> None:
    model = tiny_model(len(small))
    model.bert.encoder.layer[0].output.dense.weight.requires_grad_(False)  # a flag to restore
    encoder = copy.deepcopy(model.bert.state_dict())
    head = {n: p.detach().clone() for n, p in model.cls.named_parameters()}
    before = float(masked_token_losses(model, TEXTS, small, mlm_probability=0.4)[0].mean())
    losses = fit_mlm_head(
        model, TEXTS, small, steps=60, positions_per_step=32, lr=1e-2,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert len(losses) == 60 and sum(losses[-10:]) < sum(losses[:10])
    after = float(masked_token_losses(model, TEXTS, small, mlm_probability=0.4)[0].mean())
    assert after < before - 0.5
    for name, value in model.bert.state_dict().items():
        assert torch.equal(value, encoder[name]), name
    changed = [n for n, p in model.cls.named_parameters() if not torch.equal(p, head[n])]
    assert "predictions.bias" in changed and "predictions.transform.dense.weight" in changed
    assert not model.bert.encoder.layer[0].output.dense.weight.requires_grad
    assert model.bert.encoder.layer[0].output.dense.bias.requires_grad
    assert not model.training


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be"),
        ({"steps": 1, "positions_per_step": 0}, "positions_per_step must be"),
        ({"steps": 1, "lr": 0.0}, "lr must be in"),
        ({"steps": 1, "mlm_probability": 1.5}, "mlm_probability must be in"),
    ],
)
def test_fitting_the_head_rejects_bad_numbers(
    small: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fit_mlm_head(tiny_model(len(small)), TEXTS, small, **kwargs)


def test_fitting_the_head_needs_a_bert_masked_lm(small: Any) -> None:
    with pytest.raises(ValueError, match="model must be a BertForMaskedLM"):
        fit_mlm_head(torch.nn.Linear(2, 2), TEXTS, small, steps=1)
