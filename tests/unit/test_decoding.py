"""The logits-processing steps in ptm_snippets.decoding, checked against transformers' own."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from transformers import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from ptm_snippets.decoding import (
    apply_temperature,
    candidates,
    repetition_penalty,
    top_k_filter,
    top_p_filter,
)

VOCAB = 300


def random_logits(seed: int, batch: int = 4, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(batch, VOCAB, generator=torch.Generator().manual_seed(seed)) * scale


def random_ids(seed: int, batch: int = 4, length: int = 25) -> torch.Tensor:
    return torch.randint(VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("temperature", [0.3, 0.7, 1.0, 1.5])
def test_temperature_matches_transformers(seed: int, temperature: float) -> None:
    logits, ids = random_logits(seed), random_ids(seed)
    expected = TemperatureLogitsWarper(temperature)(ids, logits.clone())
    torch.testing.assert_close(apply_temperature(logits, temperature), expected)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("top_k", [1, 5, 50, VOCAB, VOCAB + 10])
def test_top_k_matches_transformers(seed: int, top_k: int) -> None:
    logits, ids = random_logits(seed), random_ids(seed)
    expected = TopKLogitsWarper(top_k)(ids, logits.clone())
    torch.testing.assert_close(top_k_filter(logits, top_k), expected)


def test_top_k_keeps_ties_with_the_kth_score_like_transformers() -> None:
    logits = torch.tensor([[3.0, 1.0, 1.0, 0.0]])
    expected = TopKLogitsWarper(2)(torch.tensor([[0]]), logits.clone())
    torch.testing.assert_close(top_k_filter(logits, 2), expected)
    assert candidates(top_k_filter(logits, 2)) == [0, 1, 2]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("top_p", [0.05, 0.5, 0.9, 0.95, 1.0])
@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_top_p_matches_transformers(seed: int, top_p: float, scale: float) -> None:
    logits, ids = random_logits(seed, scale=scale), random_ids(seed)
    expected = TopPLogitsWarper(top_p)(ids, logits.clone())
    torch.testing.assert_close(top_p_filter(logits, top_p), expected)


@pytest.mark.parametrize("min_tokens_to_keep", [1, 3, 10])
def test_top_p_min_tokens_to_keep_matches_transformers(min_tokens_to_keep: int) -> None:
    logits, ids = random_logits(7, scale=8.0), random_ids(7)  # peaked: top_p keeps very few
    warper = TopPLogitsWarper(0.1, min_tokens_to_keep=min_tokens_to_keep)
    expected = warper(ids, logits.clone())
    mine = top_p_filter(logits, 0.1, min_tokens_to_keep=min_tokens_to_keep)
    torch.testing.assert_close(mine, expected)
    assert ((mine > -math.inf).sum(-1) >= min_tokens_to_keep).all()


def test_top_p_keeps_the_smallest_set_reaching_the_mass() -> None:
    probs = torch.tensor([0.1, 0.4, 0.2, 0.3])
    assert candidates(top_p_filter(probs.log(), 0.4)) == [1]  # 0.4 alone reaches 0.4
    assert candidates(top_p_filter(probs.log(), 0.69)) == [1, 3]  # 0.4 + 0.3 passes 0.69
    assert candidates(top_p_filter(probs.log(), 0.71)) == [1, 2, 3]
    assert candidates(top_p_filter(probs.log(), 1.0)) == [0, 1, 2, 3]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("penalty", [0.8, 1.0, 1.2, 2.0])
def test_repetition_penalty_matches_transformers(seed: int, penalty: float) -> None:
    logits, ids = random_logits(seed), random_ids(seed)
    expected = RepetitionPenaltyLogitsProcessor(penalty)(ids, logits.clone())
    torch.testing.assert_close(repetition_penalty(logits, ids, penalty), expected)


def test_repetition_penalty_applies_once_per_token_and_does_not_modify_its_input() -> None:
    logits = torch.tensor([[4.0, -2.0, 1.0]])
    before = logits.clone()
    out = repetition_penalty(logits, torch.tensor([[0, 0, 0, 1]]), 2.0)
    torch.testing.assert_close(out, torch.tensor([[2.0, -4.0, 1.0]]))
    torch.testing.assert_close(logits, before)
    one_row = repetition_penalty(logits[0], torch.tensor([0, 1]), 2.0)
    torch.testing.assert_close(one_row, out[0])


def test_filters_compose_like_the_transformers_chain() -> None:
    logits, ids = random_logits(11), random_ids(11)
    expected = logits.clone()
    for step in (
        RepetitionPenaltyLogitsProcessor(1.3),
        TemperatureLogitsWarper(0.8),
        TopKLogitsWarper(40),
        TopPLogitsWarper(0.9),
    ):
        expected = step(ids, expected)
    mine = top_p_filter(
        top_k_filter(apply_temperature(repetition_penalty(logits, ids, 1.3), 0.8), 40), 0.9
    )
    torch.testing.assert_close(mine, expected)


def test_filters_accept_a_custom_filter_value() -> None:
    out = top_k_filter(torch.tensor([1.0, 2.0, 3.0]), 1, filter_value=-1e4)
    torch.testing.assert_close(out, torch.tensor([-1e4, -1e4, 3.0]))
    out = top_p_filter(torch.tensor([0.0, 0.0, 9.0]), 0.5, filter_value=-1e4)
    torch.testing.assert_close(out, torch.tensor([-1e4, -1e4, 9.0]))


def test_candidates_lists_the_surviving_ids() -> None:
    assert candidates(torch.tensor([[-math.inf, 0.0, 1.0, -math.inf]])) == [1, 2]
    with pytest.raises(ValueError, match="logits must be one row"):
        candidates(torch.zeros(2, 3))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: apply_temperature(x, 0.0), "temperature must be a finite number greater"),
        (lambda x: apply_temperature(x, -1.0), "temperature must be"),
        (lambda x: apply_temperature(x, math.inf), "temperature must be"),
        (lambda x: apply_temperature(x, True), "temperature must be"),
        (lambda x: top_k_filter(x, 0), "top_k must be an integer of at least 1"),
        (lambda x: top_k_filter(x, 2.5), "top_k must be an integer"),
        (lambda x: top_p_filter(x, 0.0), r"top_p must be a number in \(0, 1\]"),
        (lambda x: top_p_filter(x, 1.5), "top_p must be"),
        (lambda x: top_p_filter(x, 0.5, min_tokens_to_keep=0), "min_tokens_to_keep must be"),
        (lambda x: repetition_penalty(x, torch.tensor([[1]]), 0.0), "penalty must be a finite"),
        (lambda x: repetition_penalty(x, torch.tensor([[0.5]]), 1.2), "input_ids must be an int"),
        (lambda x: repetition_penalty(x, torch.tensor([[1], [2]]), 1.2), "same batch"),
        (lambda x: repetition_penalty(x, torch.tensor([[VOCAB]]), 1.2), "token ids in"),
        (lambda x: apply_temperature(x.long(), 1.0), "logits must be a floating-point"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_the_argument(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(random_logits(0, batch=1))
