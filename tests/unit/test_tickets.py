"""The support-tickets set and the two ways the experiments draw from it."""

from __future__ import annotations

from collections import Counter

import pytest

from ptm_snippets.tickets import LABELS, balanced_sample, even_subset, load_tickets


def test_the_shipped_files_have_every_label_and_both_test_halves() -> None:
    train, test = load_tickets("train"), load_tickets("test")
    assert set(Counter(r["label"] for r in train)) == set(LABELS)
    assert Counter(r["split"] for r in test) == {"familiar": 220, "novel": 220}
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'dev'"):
        load_tickets("dev")


def test_samples_are_class_balanced_and_differ_by_seed_and_stream() -> None:
    train = load_tickets("train")
    picked = balanced_sample(train, 64, seed=0)
    assert sorted(Counter(train[i]["label"] for i in picked).values()) == [16, 16, 16, 16]
    assert len(set(picked)) == 64
    assert picked == balanced_sample(train, 64, seed=0)
    assert set(picked) != set(balanced_sample(train, 64, seed=1))
    assert set(picked) != set(balanced_sample(train, 64, seed=0, stream="other"))
    odd = balanced_sample(train, 6, seed=0)  # the remainder goes to the first labels
    assert Counter(train[i]["label"] for i in odd) == {
        "billing": 2,
        "delivery": 2,
        "account": 1,
        "technical": 1,
    }


def test_skip_keeps_a_second_sample_disjoint() -> None:
    train = load_tickets("train")
    first = balanced_sample(train, 200, seed=3)
    second = balanced_sample(train, 80, seed=3, skip=first)
    assert not set(first) & set(second)
    assert len(second) == 80


@pytest.mark.parametrize("size", [0, -4, 2.5])
def test_sample_size_must_be_positive(size: object) -> None:
    with pytest.raises(ValueError, match="size must be a positive int"):
        balanced_sample(load_tickets("train"), size, seed=0)  # type: ignore[arg-type]


def test_sample_larger_than_a_label_names_the_label() -> None:
    rows = [{"label": label} for label in LABELS] * 2
    with pytest.raises(ValueError, match="needs 3 rows labelled 'billing' but only 2"):
        balanced_sample(rows, 12, seed=0)


def test_even_subset_is_even_fixed_and_checked() -> None:
    test = load_tickets("test")
    subset = even_subset(test, 120)
    assert len(subset) == 120
    assert len({(r["split"], r["label"]) for r in subset}) == 8
    assert sum(r["split"] == "novel" for r in subset) == 60
    assert subset == even_subset(test, 120)
    assert even_subset(test, None) is test
    for size in (0, 441):
        with pytest.raises(ValueError, match=r"size must be None or in \[1, 440\]"):
            even_subset(test, size)
