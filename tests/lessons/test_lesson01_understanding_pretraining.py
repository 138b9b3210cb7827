"""Lesson 01's claims, checked on the values its script computed with the real models."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.conftest import run_snippet


@pytest.fixture(scope="module")
def lesson() -> dict[str, Any]:
    namespace, _ = run_snippet("lesson01_understanding_pretraining.py")
    return namespace


def test_wordpiece_splits_a_rare_word_into_known_pieces(lesson: dict[str, Any]) -> None:
    assert lesson["tokens"][0] == "[CLS]" and lesson["tokens"][-1] == "[SEP]"
    pieces = lesson["tokens"][lesson["tokens"].index("un") : lesson["tokens"].index("text")]
    assert pieces == ["un", "##lab", "##elled"]


def test_masking_never_touches_special_tokens(lesson: dict[str, Any]) -> None:
    batch = lesson["batch"]
    assert batch.input_ids[0, 0] == lesson["tokenizer"].cls_token_id
    assert batch.input_ids[0, -1] == lesson["tokenizer"].sep_token_id
    assert batch.selected.any()


def test_the_pretrained_model_predicts_paris(lesson: dict[str, Any]) -> None:
    best = lesson["lm_tokenizer"].decode(lesson["top"].indices[0]).strip()
    assert best == "Paris" and float(lesson["top"].values[0]) > 0.5


def test_shuffling_words_makes_text_far_more_surprising(lesson: dict[str, Any]) -> None:
    natural, shuffled = (lesson["perplexity"](lesson[k]) for k in ("natural", "shuffled"))
    assert shuffled > 20 * natural


def test_generation_answers_the_question(lesson: dict[str, Any]) -> None:
    answer = lesson["lm_tokenizer"].decode(lesson["output"][0], skip_special_tokens=True).lower()
    assert "transfer learning" in answer and "model" in answer


def test_pretraining_separates_related_from_unrelated_sentences(lesson: dict[str, Any]) -> None:
    embed, pairs = lesson["embed"], lesson["pairs"]

    def gap(model: torch.nn.Module) -> float:
        sims = [float(embed(model, [a])[0] @ embed(model, [b])[0]) for a, b in pairs]
        return min(sims[0] - sims[1], sims[2] - sims[3])

    assert gap(lesson["pretrained"]) > 0.5  # related pairs clearly closer
    assert gap(lesson["random_init"]) < 0.1  # the same architecture untrained cannot tell


def test_nearest_neighbour_shares_meaning_not_words(lesson: dict[str, Any]) -> None:
    best = lesson["corpus"][int(lesson["scores"][0].argmax())]
    assert best == "My card was charged twice for one order."
    content_words = {"billed", "two", "times", "month"}  # the query's, minus function words
    assert content_words <= set(lesson["query"].lower().split())
    assert not content_words & set(best.lower().rstrip(".").split())


def test_contrastive_loss_rewards_the_true_pairing(lesson: dict[str, Any]) -> None:
    assert lesson["loss_right"] < 0.1 < 5 < lesson["loss_wrong"]


def test_counted_sizes_are_close_to_the_papers(lesson: dict[str, Any]) -> None:
    from transformers import AutoConfig

    from ptm_snippets import parameters_from_config, published_config

    for repo_id, paper in lesson["reported"].items():
        fields = published_config(repo_id)
        counted = parameters_from_config(AutoConfig.for_model(fields.pop("model_type"), **fields))
        assert abs(counted / 1e6 - paper) / paper < 0.07, repo_id


def test_exercise_solution_measures_the_mask_share(lesson: dict[str, Any]) -> None:
    assert abs(lesson["rate"] - 0.12) < 0.01


def test_published_experiment_backs_the_data_efficiency_claim(lesson: dict[str, Any]) -> None:
    table = lesson["results"]["summary"]["table"]
    assert list(table["pretrained"]) == ["16", "64", "256", "1024"]
    assert lesson["results"]["stamp"]["seeds"] == [0, 1, 2]
    for size, pre in table["pretrained"].items():
        rnd = table["random_init"][size]
        assert pre["accuracy_mean"] > rnd["accuracy_mean"], size
        assert pre["accuracy_novel_mean"] > rnd["accuracy_novel_mean"], size
    gap = lesson["results"]["summary"]["data_multiple"]
    assert gap["never_within_range"] or gap["multiple"] >= 4


def test_seed_spread_at_16_labels_rivals_one_runs_interval(lesson: dict[str, Any]) -> None:
    one = lesson["one"]
    assert (one["model"], one["train_size"]) == ("pretrained", 16)
    assert one["accuracy_low"] < one["accuracy"] < one["accuracy_high"]
    cell = lesson["results"]["summary"]["table"]["pretrained"]["16"]
    half_width = (one["accuracy_high"] - one["accuracy_low"]) / 2
    assert cell["accuracy_std"] >= half_width  # the page: "as large as the first"
    assert one["accuracy"] > cell["accuracy_mean"]  # the page: "above the three-seed mean"


def test_page_shows_the_experiment_figure() -> None:
    from tests.conftest import ROOT, SITE

    page = (SITE.docs_dir / "lessons" / "01-understanding-pretraining.md").read_text()
    assert "(../assets/experiments/data_efficiency.svg)" in page
    assert (ROOT / "docs" / "assets" / "experiments" / "data_efficiency.svg").is_file()
