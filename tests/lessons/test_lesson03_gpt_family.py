"""Lesson 03's claims, checked on the values its script computed with the real SmolLM2."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.conftest import run_snippet


@pytest.fixture(scope="module")
def lesson() -> dict[str, Any]:
    namespace, _ = run_snippet("lesson03_gpt_family.py")
    return namespace


def test_the_causal_mask_is_lower_triangular_and_attention_obeys_it(lesson: dict[str, Any]) -> None:
    n = lesson["n"]
    assert torch.equal(lesson["mask"], torch.tril(torch.ones(n, n, dtype=torch.long)))
    for layer in lesson["attentions"]:  # every block, every head
        assert float(layer[0].triu(diagonal=1).abs().max()) == 0.0
        torch.testing.assert_close(layer[0].sum(-1), torch.ones(layer.shape[1], n))


def test_changing_a_token_only_changes_later_predictions(lesson: dict[str, Any]) -> None:
    a, b = lesson["a"], lesson["b"]
    torch.testing.assert_close(a[0], b[0])  # "The" sees only itself in both sentences
    assert all(float((a[i] - b[i]).abs().max()) > 1.0 for i in range(1, lesson["n"]))


def test_the_loss_is_the_shifted_cross_entropy(lesson: dict[str, Any]) -> None:
    assert len(lesson["targets"]) == lesson["enc"]["input_ids"].shape[1] - 1
    assert abs(float(lesson["out"].loss) - float(lesson["manual"])) < 1e-4
    probs, targets = lesson["probs"], lesson["targets"]
    tokens = [lesson["tokenizer"].decode(t) for t in targets]
    first, second = (i for i, t in enumerate(tokens) if t == " capital")
    # The second " capital" is far more predictable: the pattern is in the context.
    assert probs[second, targets[second]] > 10 * probs[first, targets[first]]


def test_byte_level_bpe_is_lossless_and_spaces_belong_to_tokens(lesson: dict[str, Any]) -> None:
    tokenizer = lesson["tokenizer"]
    assert tokenizer("Hello")["input_ids"] != tokenizer(" Hello")["input_ids"]
    assert tokenizer.decode(lesson["emoji_ids"]) == lesson["emoji"]
    assert len("🤗".encode()) == 4
    partial = [tokenizer.decode([i]) for i in lesson["emoji_ids"]]
    assert sum("\ufffd" in piece for piece in partial) == 3  # the emoji's bytes span 3 tokens
    assert len(tokenizer.tokenize(" " + lesson["rare"])) > 2


def test_english_is_the_cheapest_text_per_character(lesson: dict[str, Any]) -> None:
    tokenizer = lesson["tokenizer"]
    ratio = {k: len(v) / len(tokenizer(v)["input_ids"]) for k, v in lesson["samples"].items()}
    assert ratio["English"] > ratio["Python"] > ratio["French"]


def test_the_generation_prompt_opens_the_assistant_turn(lesson: dict[str, Any]) -> None:
    assert lesson["rendered"][len(lesson["without"]) :] == "<|im_start|>assistant\n"
    assert lesson["tokenizer"].pad_token == lesson["tokenizer"].eos_token == "<|im_end|>"


def test_greedy_loops_and_the_repetition_penalty_breaks_the_loop(lesson: dict[str, Any]) -> None:
    greedy = lesson["greedy"]
    first, second = greedy.split("\n")[:2]
    assert first[3:].rstrip(".") == second[3:].rstrip(".")  # "1. X" then "2. X": X again
    lines = [line[3:] for line in lesson["penalised"].split("\n") if line.strip()]
    assert len(set(lines)) == len(lines)


def test_seeded_sampling_is_reproducible(lesson: dict[str, Any]) -> None:
    torch.manual_seed(0)
    again = lesson["answer"](max_new_tokens=20, do_sample=True, top_p=0.9, top_k=0)
    assert again == lesson["sampled"]["top-p 0.9"]
    assert len(set(lesson["sampled"].values())) == len(lesson["sampled"])  # settings matter


def test_my_logits_processors_keep_the_same_candidates(lesson: dict[str, Any]) -> None:
    from ptm_snippets.decoding import candidates

    assert candidates(lesson["mine"]) == candidates(lesson["theirs"])
    assert 1 < len(candidates(lesson["mine"])) < 50  # top-p cut below top-k's 50
    assert int(lesson["draw"][0]) == int(lesson["draw"][1])


def test_the_kv_cache_changes_the_work_not_the_tokens(lesson: dict[str, Any]) -> None:
    runs, p = lesson["runs"], lesson["prompt_length"]
    assert torch.equal(runs[True][0], runs[False][0])
    new = runs[True][0].shape[1] - p
    assert runs[True][1] == [p] + [1] * (new - 1)
    assert runs[False][1] == [p + i for i in range(new)]
    assert runs[True][2] < runs[False][2]  # loosely: the cache is faster


def test_few_shot_results_are_what_the_page_says(lesson: dict[str, Any]) -> None:
    accuracy, calibrated, predictions = (
        lesson["accuracy"],
        lesson["calibrated"],
        lesson["predictions"],
    )
    assert len(lesson["subset"]) == 32
    assert accuracy[0] > 0.25 and accuracy[4] > 0.25  # both above chance
    assert accuracy[4] > accuracy[0]
    assert (predictions[8] == predictions[8][0]).all()  # eight examples: one label for all
    assert accuracy[8] == 0.25
    assert all(calibrated[k] > accuracy[k] for k in accuracy)


def test_counted_sizes(lesson: dict[str, Any]) -> None:
    assert 134e6 < lesson["total"] < 135e6
    assert 0.2 < lesson["embedding"] / lesson["total"] < 0.22


def test_exercise_greedy_by_hand_equals_generate(lesson: dict[str, Any]) -> None:
    tokenizer, p = lesson["tokenizer"], lesson["prompt_length"]
    assert tokenizer.decode(lesson["by_hand"][0, p:], skip_special_tokens=True) == lesson["greedy"]
