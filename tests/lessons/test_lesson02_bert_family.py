"""Lesson 02's claims, checked on the values its script computed with the real models."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from tests.conftest import run_snippet


@pytest.fixture(scope="module")
def lesson() -> dict[str, Any]:
    namespace, _ = run_snippet("lesson02_bert_family.py")
    return namespace


# ----------------------------------------------------------------------------- tokenizer


def test_wordpiece_splits_rare_words_and_lower_cases(lesson: dict[str, Any]) -> None:
    tokenizer = lesson["tokenizer"]
    assert len(tokenizer) == 30522 and tokenizer.do_lower_case
    assert tokenizer.tokenize("parcel") == ["parcel"]
    assert tokenizer.tokenize("refund") == ["ref", "##und"]
    assert tokenizer.tokenize("PayPal") == ["pay", "##pal"]
    tokens = tokenizer.convert_ids_to_tokens(lesson["encoded"]["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    word_ids = lesson["encoded"].word_ids()
    assert word_ids[0] is None and word_ids[-1] is None
    assert word_ids.count(1) == 2  # "PayPal" -> two pieces of word 1


def test_pairs_get_token_types_and_padding_gets_masked(lesson: dict[str, Any]) -> None:
    tokenizer = lesson["tokenizer"]
    pair = lesson["pair"]
    tokens = tokenizer.convert_ids_to_tokens(pair["input_ids"])
    first_sep = tokens.index("[SEP]")
    assert set(pair["token_type_ids"][: first_sep + 1]) == {0}
    assert set(pair["token_type_ids"][first_sep + 1 :]) == {1}
    mask = lesson["batch"]["attention_mask"]
    ids = lesson["batch"]["input_ids"]
    assert torch.equal(mask == 0, ids == tokenizer.pad_token_id)
    assert int(mask[0].sum()) < int(mask[1].sum()) == mask.shape[1]


def test_truncation_keeps_the_question_and_the_length_limit(lesson: dict[str, Any]) -> None:
    tokenizer = lesson["tokenizer"]
    assert len(tokenizer.tokenize(lesson["passage"])) > tokenizer.model_max_length == 512
    cut = lesson["cut"]
    assert len(cut["input_ids"]) == 24
    assert tokenizer.decode(cut["input_ids"]).startswith("[CLS] where is my parcel? [SEP]")


# ----------------------------------------------------------------------------- encoder


def test_encoder_shape_and_parameter_split(lesson: dict[str, Any]) -> None:
    from ptm_snippets import count_parameters

    model = lesson["model"]
    assert (model.config.num_hidden_layers, model.config.hidden_size) == (6, 384)
    assert count_parameters(model) == 22_713_216
    assert count_parameters(model.embeddings) > count_parameters(model) / 2  # vocab-dominated
    assert len(lesson["out"].hidden_states) == model.config.num_hidden_layers + 1


def test_right_context_changes_a_tokens_vector(lesson: dict[str, Any]) -> None:
    sims = lesson["bank"] @ lesson["bank"].T
    assert (sims[~torch.eye(4, dtype=torch.bool)] < 0.99).all()  # a causal model: exactly 1
    # Each sentence's nearest other sentence is the one with the same sense of "bank".
    partner = sims.masked_fill(torch.eye(4, dtype=torch.bool), -1).argmax(1).tolist()
    assert partner == [1, 0, 3, 2]


def test_attention_rows_are_distributions_and_cls_is_the_sink(lesson: dict[str, Any]) -> None:
    attentions = lesson["attentions"]
    n = lesson["n"]
    assert len(attentions) == 6 and attentions[0].shape == (1, 12, n, n)
    for weights in attentions:
        assert torch.allclose(weights.sum(-1), torch.ones(1, 12, n), atol=1e-5)
    to_cls = [float(w[0, ..., 0].mean()) for w in attentions]
    to_sep = [float(w[0, ..., -1].mean()) for w in attentions]
    assert all(0.45 < share < 0.56 for share in to_cls[1:5])
    assert all(c > 5 * s for c, s in zip(to_cls[1:], to_sep[1:], strict=True))
    previous = float(attentions[0][0, 2].diagonal(-1).sum() / n)
    assert previous > 0.9  # layer 0, head 2: the previous-token head of the figure
    assert lesson["model"].config._attn_implementation == "sdpa"  # switched back


def test_page_shows_the_attention_figure() -> None:
    from tests.conftest import ROOT, SITE

    page = (SITE.docs_dir / "lessons" / "02-bert-family.md").read_text()
    assert "(../assets/experiments/attention_maps.svg)" in page
    assert (ROOT / "docs" / "assets" / "experiments" / "attention_maps.svg").is_file()


# ----------------------------------------------------------------------------- pooling


def test_mean_pooling_beats_cls_and_the_untrained_pooler(lesson: dict[str, Any]) -> None:
    import torch.nn.functional as F

    vectors, labels = lesson["vectors"], lesson["labels"]

    def neighbour_accuracy(v: torch.Tensor) -> float:
        unit = F.normalize(v, dim=-1)
        cosine = (unit @ unit.T).fill_diagonal_(-2)
        return float((labels[cosine.argmax(1)] == labels).float().mean())

    accuracy = {name: neighbour_accuracy(v) for name, v in vectors.items()}
    assert accuracy["mean"] > 0.9
    assert accuracy["mean"] > accuracy["cls"] + 0.05
    assert accuracy["mean"] > accuracy["pooler"] + 0.05
    assert bool((lesson["model"].pooler.dense.bias == 0).all())


def test_semantic_search_finds_same_label_hits(lesson: dict[str, Any]) -> None:
    assert lesson["hits"] >= 10  # of 12
    assert len(lesson["corpus"]) == 440


# ----------------------------------------------------------------------------- heads and family


def test_task_heads_have_the_documented_shapes_and_sizes(lesson: dict[str, Any]) -> None:
    from transformers import AutoConfig

    from ptm_snippets import parameters_from_config, published_config

    batch, length = lesson["inputs"]["input_ids"].shape
    fields = published_config(lesson["BERT"])
    fields.pop("model_type")
    bare = lesson["bare"]
    expected_shapes = {
        "sequence classification": {"logits": (batch, 4)},
        "token classification": {"logits": (batch, length, 9)},
        "question answering": {"start_logits": (batch, length), "end_logits": (batch, length)},
    }
    pooler = 768 * 768 + 768
    expected_delta = {
        "sequence classification": 768 * 4 + 4,
        "token classification": 768 * 9 + 9 - pooler,
        "question answering": 768 * 2 + 2 - pooler,
    }
    for task, (auto_class, options) in lesson["heads"].items():
        model = auto_class.from_pretrained(lesson["BERT"], **options)
        with torch.no_grad():
            output = model(**lesson["inputs"])
        assert {k: tuple(v.shape) for k, v in output.items()} == expected_shapes[task]
        config = AutoConfig.for_model("bert", **fields, **options)
        assert parameters_from_config(config, auto_class) - bare == expected_delta[task]


def test_family_sizes_are_close_to_the_papers(lesson: dict[str, Any]) -> None:
    from transformers import AutoConfig

    from ptm_snippets import parameters_from_config, published_config

    reported = {  # millions, as the papers state them
        "google-bert/bert-base-uncased": 110,
        "google-bert/bert-large-uncased": 340,
        "distilbert/distilbert-base-uncased": 66,
        "FacebookAI/roberta-base": 125,
    }
    assert list(reported) == lesson["family"]
    for repo_id, paper in reported.items():
        fields = published_config(repo_id)
        counted = parameters_from_config(AutoConfig.for_model(fields.pop("model_type"), **fields))
        assert abs(counted / 1e6 - paper) / paper < 0.02, repo_id


# ----------------------------------------------------------------------------- tiny BERT


def test_restricted_vocabulary_keeps_the_tickets_tokenization(lesson: dict[str, Any]) -> None:
    small, full = lesson["small_tokenizer"], lesson["tokenizer"]
    assert len(small) < len(full) / 10
    for text in lesson["train_texts"][:50]:
        assert small.tokenize(text) == full.tokenize(text)


def test_tiny_bert_learns_from_context(lesson: dict[str, Any]) -> None:
    vocabulary = len(lesson["small_tokenizer"])
    assert lesson["before"] > math.log(vocabulary) - 0.2  # untrained: no better than uniform
    assert lesson["after"] < lesson["before"] - 2.5
    assert lesson["after"] < lesson["unigram"] - 1.0  # beats word frequencies: uses context
    losses = lesson["losses"]
    assert len(losses) == 400
    assert sum(losses[-20:]) / 20 < sum(losses[:20]) / 20 - 2.5


def test_trained_fill_mask_guesses_fit_the_sentences(lesson: dict[str, Any]) -> None:
    fill, probes = lesson["fill"], lesson["probes"]
    top3 = [[guess["token_str"] for guess in fill(probe, top_k=3)] for probe in probes]
    assert "charged" in top3[0]
    assert "password" in top3[1]
    assert {"parcel", "package"} & set(top3[3])


# ----------------------------------------------------------------------------- exercises


def test_exercise_novel_words_split_more(lesson: dict[str, Any]) -> None:
    tickets = lesson["tickets"]
    familiar = lesson["pieces_per_word"]([t["text"] for t in tickets if t["split"] == "familiar"])
    novel = lesson["pieces_per_word"]([t["text"] for t in tickets if t["split"] == "novel"])
    assert 1.0 < familiar[0] < novel[0] < 1.3
    assert familiar[1] < novel[1]
    assert "reimbursement" in novel[2]


def test_exercise_masked_mean_matches_the_unpadded_embedding(lesson: dict[str, Any]) -> None:
    import torch.nn.functional as F

    alone, naive, masked = lesson["alone"], lesson["naive"], lesson["masked"]
    assert float(F.cosine_similarity(alone, masked, dim=0)) > 0.999
    assert float(F.cosine_similarity(alone, naive, dim=0)) < 0.9
