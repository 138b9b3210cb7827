"""Lesson 04's claims, checked on the values its script computed with its trained tiny T5."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from tests.conftest import run_snippet


@pytest.fixture(scope="module")
def lesson() -> dict[str, Any]:
    namespace, _ = run_snippet("lesson04_t5_and_unified_models.py")
    return namespace


def test_one_prefix_per_task(lesson: dict[str, Any]) -> None:
    from ptm_snippets.text2text import PREFIXES

    assert list(lesson["TASKS"]) == ["classify", "count", "sort"]
    assert lesson["example"].source.startswith(PREFIXES["sort"])


def test_sentinels_count_down_from_the_top_id(lesson: dict[str, Any]) -> None:
    tokenizer = lesson["tokenizer"]
    ids = tokenizer.convert_tokens_to_ids(lesson["special"])
    assert ids[:3] == [0, 1, 2]
    assert ids[3:] == [len(tokenizer) - 1, len(tokenizer) - 2, len(tokenizer) - 100]
    assert tokenizer.tokenize("I want a reimbursement")[-1] == "<unk>"


def test_span_corruption_targets_are_the_hidden_tokens(lesson: dict[str, Any]) -> None:
    spans, tokenizer = lesson["spans"], lesson["tokenizer"]
    sentinels = [t for t in spans.inputs if t.startswith("<extra_id_")]
    assert sentinels and [t for t in spans.targets if t.startswith("<extra_id_")][:-1] == sentinels
    hidden = [t for t in spans.targets if not t.startswith("<") and t != "</s>"]
    kept = [t for t in spans.inputs if not t.startswith("<") and t != "</s>"]
    assert len(hidden) + len(kept) == len(tokenizer.tokenize(lesson["ticket"]))
    assert len(spans.labels) < len(spans.input_ids)  # targets are short: only the spans
    assert spans.labels[0] == len(tokenizer) - 1


def test_three_kinds_of_attention_have_the_shapes_the_page_explains(lesson: dict[str, Any]) -> None:
    out, config = lesson["out"], lesson["config"]
    source_len = lesson["source"].input_ids.shape[1]
    target_len = lesson["decoder_input_ids"].shape[1]
    heads = config.num_heads
    assert len(out.encoder_attentions) == config.num_layers == 2
    assert out.encoder_attentions[0].shape == (1, heads, source_len, source_len)
    assert out.decoder_attentions[0].shape == (1, heads, target_len, target_len)
    assert out.cross_attentions[0].shape == (1, heads, target_len, source_len)
    for layer in out.decoder_attentions:  # causal: nothing above the diagonal
        assert torch.triu(layer[0], diagonal=1).abs().max() == 0
    for layer in out.encoder_attentions:  # bidirectional: the first token looks ahead
        assert layer[0, :, 0, 1:].sum() > 0
    for layer in out.cross_attentions:
        assert torch.allclose(layer.sum(-1), torch.ones(1, heads, target_len))
    assert lesson["decoder_input_ids"][0, 0] == config.decoder_start_token_id == 0


def test_real_t5_small_shapes_come_from_its_published_config(lesson: dict[str, Any]) -> None:
    meta_out = lesson["meta_out"]
    assert len(meta_out.encoder_attentions) == 6
    assert meta_out.cross_attentions[0].shape == (1, 8, 3, 12)
    assert meta_out.logits.shape == (1, 3, 32128) and meta_out.logits.device.type == "meta"


def test_labels_are_padded_with_ignore_index(lesson: dict[str, Any]) -> None:
    labels = lesson["batch"]["labels"]
    assert labels[0].tolist()[-2:] == [-100, -100]
    assert not (labels == 0).any()
    assert lesson["trained_loss"] < 0.5
    # Random weights do no better than a uniform guess over the vocabulary.
    assert lesson["untrained_loss"] > math.log(len(lesson["tokenizer"])) - 0.5


def test_a_short_run_already_lowers_the_loss(lesson: dict[str, Any]) -> None:
    losses = lesson["run"].losses
    assert len(losses) == 30 and losses[-1] < losses[0] / 2


def test_generate_starts_with_the_decoder_start_token(lesson: dict[str, Any]) -> None:
    ids = lesson["generated"][0].tolist()
    assert ids[0] == 0 and ids[-1] == 1
    assert lesson["tokenizer"].batch_decode(lesson["generated"], skip_special_tokens=True) == [
        "delivery"
    ]


def test_one_model_beats_every_baseline_on_held_out_data(lesson: dict[str, Any]) -> None:
    scores, held_out, baseline = lesson["scores"], lesson["held_out"], lesson["baseline"]
    assert set(scores) == {"classify/familiar", "classify/novel", "count", "sort"}
    for key, score in scores.items():
        group = [e for e in held_out if key in (e.task, f"{e.task}/{e.group}")]
        assert score > baseline(group) + 0.15, key
    assert scores["classify/familiar"] > scores["classify/novel"]  # unseen words are <unk>


def test_the_prefix_chooses_the_task(lesson: dict[str, Any]) -> None:
    predict, model, tokenizer = lesson["predict"], lesson["model"], lesson["tokenizer"]
    words = lesson["words"]
    assert predict(model, tokenizer, [f"count words: {words}"]) == ["4"]
    assert predict(model, tokenizer, [f"sort words: {words}"]) == [" ".join(sorted(words.split()))]
    assert predict(model, tokenizer, [f"classify: {lesson['message']}"]) == ["billing"]
    # A prefix the model never saw is not an instruction: it falls back to a task it knows.
    assert predict(model, tokenizer, [f"reverse words: {words}"]) == [
        " ".join(sorted(words.split()))
    ]


def test_t5_parameter_shares(lesson: dict[str, Any]) -> None:
    from transformers import AutoConfig, T5Model

    from ptm_snippets import count_parameters, published_config

    shares = []
    for name, paper in lesson["reported"].items():
        fields = published_config(f"google-t5/{name}")
        with torch.device("meta"):
            bare = T5Model(AutoConfig.for_model(fields.pop("model_type"), **fields))
        total = count_parameters(bare)
        embedding = bare.shared.weight.numel()
        encoder = count_parameters(bare.encoder) - embedding
        decoder = count_parameters(bare.decoder) - embedding
        assert abs(total / 1e6 - paper) / paper < 0.06, name
        assert decoder > encoder
        shares.append(embedding / total)
        if name == "t5-large":  # the paper's 770M is the count with a separate output layer
            assert abs((total + embedding) / 1e6 - paper) < 1
    assert shares == sorted(shares, reverse=True) and shares[0] > 0.25 > 0.01 > shares[-1]


def test_beam_search_barely_changes_short_answers(lesson: dict[str, Any]) -> None:
    for task in lesson["TASKS"]:
        assert abs(lesson["greedy"][task] - lesson["beam"][task]) < 0.05
    assert lesson["changed"] < 0.1 * len(lesson["held_out"])


def test_checkpoint_tokenizer_is_the_one_the_code_builds(lesson: dict[str, Any]) -> None:
    built = lesson["build_tokenizer"]()
    assert built.get_vocab() == lesson["tokenizer"].get_vocab()


def test_counting_mistakes_on_repeats_count_distinct_words(lesson: dict[str, Any]) -> None:
    outcomes = lesson["outcomes"]
    repeated, different = "with a repeated word", "all words different"
    distinct = outcomes[repeated, "wrong, counted distinct words"]
    assert distinct > 5 * outcomes[repeated, "wrong"]
    assert distinct > outcomes[repeated, "right"]
    right_rate = {
        kind: outcomes[kind, "right"] / sum(n for (k, _), n in outcomes.items() if k == kind)
        for kind in (repeated, different)
    }
    assert right_rate[different] > 2 * right_rate[repeated]
