"""The domain-adaptation experiment on its fast configuration: real MiniLM weights, Python docs."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from ptm_snippets.experiments import known_experiments, register, run_experiment, unregister

NAME = "domain_adaptation"


@pytest.fixture(scope="module")
def da() -> Iterator[ModuleType]:
    """The experiment module, registered for this file's tests only if nothing else did.

    Until ``ptm_snippets.experiments`` imports the module itself, importing it here at
    collection time would register it for the whole session and change what other tests see in
    the registry; so it is imported and registered here, and unregistered afterwards.
    """
    registered_before = NAME in known_experiments()
    from ptm_snippets.experiments import domain_adaptation

    register(domain_adaptation.EXPERIMENT, replace=True)
    yield domain_adaptation
    if not registered_before:
        unregister(NAME)


@pytest.fixture(scope="module")
def result(da: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("experiments")
    data = run_experiment(NAME, fast=True, out_dir=out, progress_bar=False)
    assert json.loads((out / f"{NAME}.json").read_text()) == data
    svg = (out / f"{NAME}.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "Downstream accuracy" in svg
    return data


def rows_of(result: dict[str, Any], part: str) -> list[dict[str, Any]]:
    return [r for r in result["rows"] if r["part"] == part]


def test_rows_cover_every_part_checkpoint_and_init(da: ModuleType, result: dict[str, Any]) -> None:
    fast = da.FAST
    assert {r["part"] for r in result["rows"]} == set(da.PARTS)
    dapt = rows_of(result, "dapt")
    assert sorted((r["seed"], r["steps"]) for r in dapt) == sorted(
        (s, n) for s in fast.seeds for n in fast.steps
    )
    for row in dapt:
        assert 0.0 <= row["accuracy"] <= 1.0
        assert 0.0 < row["domain_loss"] < 12.0 and 0.0 < row["general_loss"] < 12.0
    head = rows_of(result, "head_only")
    assert [(r["seed"], r["steps"]) for r in head] == [(s, fast.steps[-1]) for s in fast.seeds]
    extension = rows_of(result, "extension")
    assert sorted((r["init"], r["steps"]) for r in extension) == sorted(
        (i, n) for i in da.INITS for n in fast.extension_steps
    )
    for row in extension:
        assert row["new_tokens"] > 0 and -1.0 <= row["embedding_cosine"] <= 1.0


def test_continued_pretraining_moves_the_model_toward_the_domain(result: dict[str, Any]) -> None:
    dapt = {r["steps"]: r for r in rows_of(result, "dapt")}
    first, last = dapt[min(dapt)], dapt[max(dapt)]
    domain_change = last["domain_loss"] - first["domain_loss"]
    general_change = last["general_loss"] - first["general_loss"]
    assert domain_change < -0.05  # held-out documentation got easier
    assert general_change > domain_change + 0.1  # far less so, or harder, for the tickets


def test_the_mean_of_pieces_is_the_best_starting_point_for_new_tokens(
    result: dict[str, Any],
) -> None:
    start = {r["init"]: r for r in rows_of(result, "extension") if r["steps"] == 0}
    for other in ("random", "vocab"):
        assert start["mean"]["new_token_loss"] < start[other]["new_token_loss"] - 1.0
        assert start["mean"]["embedding_cosine"] > start[other]["embedding_cosine"] + 0.05
    assert start["mean"]["embedding_cosine"] > 0.9
    # before any training, the new rows barely touch the loss elsewhere in the text
    losses = [r["domain_loss"] for r in start.values()]
    assert max(losses) - min(losses) < 0.1


def test_summary_matches_rows(da: ModuleType, result: dict[str, Any]) -> None:
    summary = result["summary"]
    dapt = rows_of(result, "dapt")
    for steps, cell in summary["dapt"].items():
        group = [r for r in dapt if r["steps"] == int(steps)]
        assert cell["seeds"] == len(group)
        assert cell["accuracy_mean"] == pytest.approx(
            statistics.fmean(r["accuracy"] for r in group), abs=1e-4
        )
    first, last = min(r["steps"] for r in dapt), max(r["steps"] for r in dapt)
    change = statistics.fmean(
        b["domain_loss"] - a["domain_loss"]
        for a in dapt
        if a["steps"] == first
        for b in dapt
        if b["steps"] == last and b["seed"] == a["seed"]
    )
    assert summary["changes"]["domain_loss"] == pytest.approx(change, abs=1e-4)
    for row in dapt:  # scored by the evaluation harness: interval around the point, macro-F1
        assert row["accuracy_low"] <= row["accuracy"] <= row["accuracy_high"]
        assert 0.0 <= row["macro_f1"] <= 1.0 and len(row["predictions"]) == len(row["gold"])
        hits = sum(p == g for p, g in zip(row["predictions"], row["gold"], strict=True))
        assert row["accuracy"] == pytest.approx(hits / len(row["gold"]), abs=1e-4)
    tests = summary["changes"]["mcnemar"]
    assert [t["seed"] for t in tests] == sorted({r["seed"] for r in dapt})
    for test in tests:
        a = next(r for r in dapt if r["seed"] == test["seed"] and r["steps"] == first)
        b = next(r for r in dapt if r["seed"] == test["seed"] and r["steps"] == last)
        right = [
            (x == g, y == g)
            for x, y, g in zip(a["predictions"], b["predictions"], a["gold"], strict=True)
        ]
        assert test["only_before_right"] == sum(x and not y for x, y in right)
        assert test["only_after_right"] == sum(y and not x for x, y in right)
        assert 0.0 < test["p_value"] <= 1.0
    assert set(summary["extension"]) == set(da.INITS)
    assert result["stamp"]["seeds"] == list(da.FAST.seeds)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"steps": (10, 20)}, "steps must start at 0"),
        ({"steps": (0,)}, "steps must hold 0 and at least one later"),
        ({"extension_steps": (0, 5, 5)}, "extension_steps must start at 0 and strictly increase"),
        ({"seeds": ()}, "seeds must hold at least one seed"),
        ({"seeds": (1, 1)}, "seeds must not repeat"),
        ({"lr": 0.0}, "lr must be in"),
        ({"finetune_lr": 2.0}, "finetune_lr must be in"),
        ({"batch_size": 0}, "batch_size must be an int of at least 1"),
        ({"max_length": 1}, "max_length must be in"),
        ({"heldout_fraction": 1.0}, "heldout_fraction must be in"),
        ({"extension_words": -1}, "extension_words must be in"),
        ({"num_threads": -1}, "num_threads must be >= 0"),
        ({"repo_id": ""}, "repo_id must name"),
    ],
)
def test_config_rejects_bad_fields(da: ModuleType, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        da.DomainAdaptationConfig(**changes).validate()


def test_published_configuration_is_valid_and_module_is_registered(da: ModuleType) -> None:
    da.FULL.validate()
    assert da.EXPERIMENT.full is da.FULL
    assert NAME in known_experiments()
