"""The small-test-sets experiment on its fast configuration: real MiniLM weights, 160 test lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from ptm_snippets.experiments import known_experiments, register, run_experiment, unregister

NAME = "small_test_sets"


@pytest.fixture(scope="module")
def sts() -> Iterator[ModuleType]:
    """The experiment module, registered for this file's tests only if nothing else did.

    Until ``ptm_snippets.experiments`` imports the module itself, importing it here at
    collection time would register it for the whole session and change what other tests see in
    the registry; so it is imported and registered here, and unregistered afterwards.
    """
    registered_before = NAME in known_experiments()
    from ptm_snippets.experiments import small_test_sets

    register(small_test_sets.EXPERIMENT, replace=True)
    yield small_test_sets
    if not registered_before:
        unregister(NAME)


@pytest.fixture(scope="module")
def result(sts: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("experiments")
    data = run_experiment(NAME, fast=True, out_dir=out, progress_bar=False)
    assert json.loads((out / f"{NAME}.json").read_text()) == data
    svg = (out / f"{NAME}.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "Reliability diagram" in svg
    return data


def rows_of(result: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in result["rows"] if r["kind"] == kind]


def test_rows_cover_every_model_size_and_bin(sts: ModuleType, result: dict[str, Any]) -> None:
    models = rows_of(result, "model")
    assert [r["model"] for r in models] == list(sts.MODELS)
    for row in models:
        assert row["test_lines"] == sts.FAST.test_size and row["train_lines"] == sts.FAST.train_size
        for metric in ("accuracy", "macro_f1"):
            cell = row[metric]
            assert 0 <= cell["low"] <= cell["estimate"] <= cell["high"] <= 1
        assert 0 <= row["ece"] <= 1
        assert sum(map(sum, row["confusion"])) == sts.FAST.test_size
    resampled = rows_of(result, "resampled")
    assert [r["size"] for r in resampled] == list(sts.FAST.sizes)
    for row in resampled:
        assert sum(row["histogram_a"]) == sts.FAST.resamples
        assert len(row["histogram_a"]) == row["size"] + 1
    bins = rows_of(result, "reliability")
    assert len(bins) == len(sts.MODELS) * sts.FAST.n_bins
    for model in sts.MODELS:
        assert sum(b["n"] for b in bins if b["model"] == model) == sts.FAST.test_size


def test_small_test_sets_spread_more_and_pairing_narrows_the_difference(
    result: dict[str, Any],
) -> None:
    small, large = rows_of(result, "resampled")
    assert small["size"] < large["size"]
    width = {r["size"]: r["accuracy_a"]["q975"] - r["accuracy_a"]["q025"] for r in (small, large)}
    assert width[small["size"]] > 1.5 * width[large["size"]]
    for row in (small, large):
        paired = row["difference_paired"]["q975"] - row["difference_paired"]["q025"]
        unpaired = row["difference_unpaired"]["q975"] - row["difference_unpaired"]["q025"]
        assert paired < unpaired
    assert small["share_b_ties_or_beats_a"] >= large["share_b_ties_or_beats_a"]


def test_models_are_accurate_and_strong_regularisation_is_under_confident(
    result: dict[str, Any],
) -> None:
    models = {r["model"]: r for r in rows_of(result, "model")}
    for row in models.values():
        assert row["accuracy"]["estimate"] > 0.7  # chance is 0.25
    timid = models["mean_pooling_strong_l2"]
    assert timid["mean_confidence"] < timid["accuracy"]["estimate"] - 0.1
    assert timid["ece"] > 2 * models["mean_pooling"]["ece"]


def test_summary_matches_rows(result: dict[str, Any]) -> None:
    summary = result["summary"]
    for row in rows_of(result, "resampled"):
        cell = summary["per_size"][str(row["size"])]
        assert cell["share_b_ties_or_beats_a"] == row["share_b_ties_or_beats_a"]
        assert cell["accuracy_a_q025"] == row["accuracy_a"]["q025"]
    assert result["stamp"]["seeds"] == [0]


def test_resample_accuracies_pairs_the_draws(sts: ModuleType) -> None:
    rng = np.random.default_rng(0)
    a = rng.random(50) < 0.9
    b = a.copy()
    b[:3] = ~b[:3]
    counts = sts.resample_accuracies(a, b, 30, 2000, np.random.default_rng(1))
    paired = np.std(counts["a"] - counts["b"])
    unpaired = np.std(counts["a"] - counts["b_unpaired"])
    assert paired < unpaired / 2
    with pytest.raises(ValueError, match="same length"):
        sts.resample_accuracies(a, b[:10], 5, 10, rng)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sizes": ()}, "sizes must be non-empty"),
        ({"sizes": (50, 20)}, "increasing"),
        ({"sizes": (20, 441)}, r"each in \[2, 440\]"),
        ({"test_size": 100, "sizes": (20, 200)}, r"each in \[2, 100\]"),
        ({"resamples": 5}, "resamples must be at least 10"),
        ({"seeds": (0, 1)}, "exactly one"),
        ({"train_size": 3}, "train_size must be"),
        ({"regularization": 0.0}, "regularization must be positive"),
        ({"n_bins": 0}, "n_bins"),
        ({"max_length": 1}, "max_length"),
        ({"repo_id": ""}, "repo_id must name"),
    ],
)
def test_config_rejects_bad_fields(sts: ModuleType, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sts.SmallTestSetsConfig(**changes).validate()


def test_published_configuration_is_valid_and_module_is_registered(sts: ModuleType) -> None:
    sts.FULL.validate()
    assert sts.EXPERIMENT.full is sts.FULL
    assert NAME in known_experiments()
