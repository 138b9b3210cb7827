"""Lesson 08's claims, checked on the values its script computed with the real models."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.conftest import run_snippet


@pytest.fixture(scope="module")
def lesson() -> dict[str, Any]:
    namespace, _ = run_snippet("lesson08_domain_adaptation.py")
    return namespace


# ----------------------------------------------------------------------------- corpus


def test_held_out_documentation_shares_no_module_or_topic_with_training(
    lesson: dict[str, Any],
) -> None:
    train_groups = {d.group for d in lesson["train_docs"]}
    heldout_groups = {d.group for d in lesson["heldout_docs"]}
    assert heldout_groups and not train_groups & heldout_groups
    assert len(lesson["domain_heldout"]) > 500 and len(lesson["domain_train"]) > 5000
    assert all(len(chunk.split()) <= 16 for chunk in lesson["domain_train"])
    # the task's modules never enter the domain corpus (no unlabelled test text in training)
    task_modules = {r["name"].split(".")[0] for r in lesson["task_test"]}
    assert not task_modules & {g.split(".")[0] for g in train_groups | heldout_groups}


# ----------------------------------------------------------------------------- fertility


def test_wordpiece_fragments_the_docs_more_and_code_trained_bpe_less(
    lesson: dict[str, Any],
) -> None:
    from ptm_snippets.domain import fertility

    wordpiece, bpe = lesson["tokenizers"].values()
    docs, tickets = lesson["domain_heldout"], lesson["general_heldout"]
    assert fertility(wordpiece, docs) > fertility(wordpiece, tickets) + 0.02
    assert fertility(bpe, docs) < fertility(bpe, tickets) - 0.05
    assert fertility(bpe, docs) < 1.0 < fertility(wordpiece, docs)
    words = [w for w, _, _ in lesson["costly"]]
    assert {"iterable", "tuple", "coroutine"} <= set(words)
    assert all(len(wordpiece.tokenize(w)) >= 2 for w in words)


# ----------------------------------------------------------------------------- head and DAPT


def test_the_checkpoint_has_no_mlm_head_until_it_is_fitted(lesson: dict[str, Any]) -> None:
    missing = set(lesson["info"]["missing_keys"])
    assert missing == {
        "cls.predictions.bias",
        "cls.predictions.decoder.bias",
        "cls.predictions.transform.dense.weight",
        "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.LayerNorm.weight",
        "cls.predictions.transform.LayerNorm.bias",
    }
    assert lesson["tied"]
    uniform = math.log(len(lesson["tokenizer"]))
    assert lesson["untrained"] > uniform  # a random head is worse than guessing
    assert max(lesson["before"]) < uniform - 3  # the fitted head predicts far better


def test_continued_pretraining_helps_the_domain_and_costs_general_text(
    lesson: dict[str, Any],
) -> None:
    (docs_before, tickets_before), (docs_after, tickets_after) = lesson["before"], lesson["after"]
    assert docs_after < docs_before - 0.1
    assert tickets_after > tickets_before + 0.1


def test_the_experiment_shows_the_trade_off_and_the_head_only_share(
    lesson: dict[str, Any],
) -> None:
    summary = lesson["results"]["summary"]
    assert summary["dapt"]["0"]["domain_loss_std"] < 1e-3  # every seed starts from one model
    changes = summary["changes"]
    assert changes["domain_loss"] < -0.5 and changes["general_loss"] > 0.0
    assert 0.2 < changes["head_only_share_of_domain_drop"] < 0.8  # head and encoder both count
    # no measurable downstream gain at this scale: within two standard deviations of zero
    cells = summary["dapt"]
    spread = max(c["accuracy_std"] for c in cells.values())
    assert abs(changes["accuracy"]) < 0.05 and abs(changes["accuracy"]) < 3 * spread + 0.01
    # the page: one seed of three has p < 0.05 (a drop); the others are far from it
    tests = changes["mcnemar"]
    assert len(tests) == 3
    significant = [t for t in tests if t["p_value"] < 0.05]
    assert len(significant) == 1
    assert significant[0]["only_before_right"] > significant[0]["only_after_right"]
    assert all(t["p_value"] > 0.2 for t in tests if t not in significant)


# ----------------------------------------------------------------------------- downstream


def test_the_docstring_task_is_learnable_from_either_encoder(lesson: dict[str, Any]) -> None:
    labels = {r["label"] for r in lesson["test_rows"]}
    assert len(lesson["test_rows"]) == 40 * len(labels) == 160
    for accuracy in lesson["probe_accuracy"].values():
        assert accuracy > 0.6  # chance is 0.25


# ----------------------------------------------------------------------------- vocabulary


def test_added_tokens_match_whole_words_only_with_single_word(lesson: dict[str, Any]) -> None:
    from transformers import AddedToken

    tok = lesson["copy"].deepcopy(lesson["tokenizer"])
    tok.add_tokens(["iterable"])
    assert tok.tokenize("Iterables") == ["iterable", "s"]
    tok = lesson["copy"].deepcopy(lesson["tokenizer"])
    tok.add_tokens([AddedToken("iterable", single_word=True)])
    assert tok.tokenize("Iterables") == lesson["tokenizer"].tokenize("Iterables")


def test_mean_of_pieces_initialisation_beats_random_and_vocabulary_mean(
    lesson: dict[str, Any],
) -> None:
    scores = lesson["scores"]  # init -> (loss at the new tokens, cosine to before)
    for other in ("random", "vocab"):
        assert scores["mean"][0] < scores[other][0] - 1.0
        assert scores["mean"][1] > scores[other][1] + 0.1
    assert scores["mean"][1] > 0.9
    assert scores["vocab"][0] > scores["random"][0]  # thirty identical rows split the mass
    mlm, tok = lesson["extended"]["mean"]
    assert len(tok) == len(lesson["tokenizer"]) + 30
    assert mlm.get_input_embeddings().weight.shape[0] == len(tok)
    assert mlm.get_output_embeddings().weight is mlm.get_input_embeddings().weight


def test_more_new_words_lower_domain_fertility_with_diminishing_returns(
    lesson: dict[str, Any],
) -> None:
    by_size = lesson["by_size"]  # size -> (docs, tickets)
    sizes = sorted(by_size)
    docs = [by_size[n][0] for n in sizes]
    assert docs == sorted(docs, reverse=True) and docs[-1] < docs[0] - 0.03
    assert abs(by_size[1000][1] - by_size[0][1]) < 0.01  # the tickets barely change
    first_gain = (by_size[0][0] - by_size[100][0]) / 100
    last_gain = (by_size[300][0] - by_size[1000][0]) / 700
    assert last_gain < first_gain / 2


def test_bpe_gains_most_on_the_help_topics_once_whitespace_is_collapsed(
    lesson: dict[str, Any],
) -> None:
    topics, docstrings = lesson["by_source"]["help() topics"], lesson["by_source"]["docstrings"]
    assert topics[1] < topics[0] - 0.05  # BPE beats WordPiece on the language reference
    assert docstrings[1] < docstrings[0]


def test_page_shows_the_experiment_figure() -> None:
    from tests.conftest import ROOT, SITE

    page = (SITE.docs_dir / "lessons" / "08-domain-adaptation.md").read_text()
    assert "(../assets/experiments/domain_adaptation.svg)" in page
    assert (ROOT / "docs" / "assets" / "experiments" / "domain_adaptation.svg").is_file()
