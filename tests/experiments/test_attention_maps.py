"""The attention-maps experiment on its fast configuration: real MiniLM weights, one sentence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import torch

from ptm_snippets.experiments import known_experiments, register, run_experiment, unregister

NAME = "attention_maps"


@pytest.fixture(scope="module")
def am() -> Iterator[ModuleType]:
    """The experiment module, registered for this file's tests only if nothing else did.

    Until ``ptm_snippets.experiments`` imports the module itself, importing it here at
    collection time would register it for the whole session and change what other tests see in
    the registry; so it is imported and registered here, and unregistered afterwards.
    """
    registered_before = NAME in known_experiments()
    from ptm_snippets.experiments import attention_maps

    register(attention_maps.EXPERIMENT, replace=True)
    yield attention_maps
    if not registered_before:
        unregister(NAME)


@pytest.fixture(scope="module")
def result(am: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("experiments")
    data = run_experiment("attention_maps", fast=True, out_dir=out, progress_bar=False)
    assert json.loads((out / "attention_maps.json").read_text()) == data
    svg = (out / "attention_maps.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "layer 0, head 2" in svg
    return data


def test_one_row_per_head_with_the_sentence_tokens(result: dict[str, Any]) -> None:
    rows = result["rows"]
    assert len(rows) == 6 * 12
    assert {(r["layer"], r["head"]) for r in rows} == {
        (layer, h) for layer in range(6) for h in range(12)
    }
    tokens = rows[0]["tokens"]
    assert tokens == ["[CLS]", "my", "parcel", "never", "arrived", ".", "[SEP]"]
    assert all(r["tokens"] == tokens for r in rows)


def test_kept_matrices_match_the_token_count_and_rows_sum_to_one(
    am: ModuleType, result: dict[str, Any]
) -> None:
    rows = result["rows"]
    kept = {(r["layer"], r["head"]): r["weights"] for r in rows if r["weights"] is not None}
    assert set(kept) == set(am.FAST.panels)
    n = len(rows[0]["tokens"])
    for weights in kept.values():
        matrix = torch.tensor(weights)
        assert matrix.shape == (n, n)
        assert (matrix >= 0).all()
        assert torch.allclose(matrix.sum(-1), torch.ones(n), atol=1e-3)  # 4-decimal rounding


def test_statistics_are_shares_and_agree_with_the_kept_matrices(
    am: ModuleType, result: dict[str, Any]
) -> None:
    for row in result["rows"]:
        for key in am.STATISTICS:
            assert 0.0 <= row[key] <= 1.0, (key, row["layer"], row["head"])
        assert 0.0 <= row["entropy"] <= torch.log(torch.tensor(len(row["tokens"]))).item() + 1e-6
        if row["weights"] is not None:
            recomputed = am.head_statistics(torch.tensor(row["weights"]))
            for key in am.STATISTICS:
                assert row[key] == pytest.approx(recomputed[key], abs=2e-3)


def test_the_previous_token_head_is_found(result: dict[str, Any]) -> None:
    # Layer 0, head 2 of all-MiniLM-L6-v2 reads almost only the token to its left.
    row = next(r for r in result["rows"] if (r["layer"], r["head"]) == (0, 2))
    assert row["to_previous"] > 0.6
    assert row["to_previous"] > 3 * max(row["to_next"], row["to_self"])


def test_summary_averages_every_head_of_each_layer(result: dict[str, Any]) -> None:
    per_layer = result["summary"]["per_layer"]
    assert list(per_layer) == [str(layer) for layer in range(6)]
    for layer, cell in per_layer.items():
        heads = [r for r in result["rows"] if r["layer"] == int(layer)]
        expected = sum(r["to_cls"] for r in heads) / len(heads)
        assert cell["to_cls"] == pytest.approx(expected, abs=1e-3)
    assert result["stamp"]["seeds"] == []


def test_head_statistics_of_a_uniform_head(am: ModuleType) -> None:
    stats = am.head_statistics(torch.full((4, 4), 0.25))
    assert stats["to_cls"] == stats["to_sep"] == stats["to_self"] == pytest.approx(0.25)
    assert stats["to_previous"] == pytest.approx(0.75 * 0.25)
    assert stats["entropy"] == pytest.approx(float(torch.log(torch.tensor(4.0))))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sentence": "one"}, "sentence must have 2 to 40 words"),
        ({"panels": ()}, "panels must be"),
        ({"panels": ((0, 12),)}, "panels must be"),
        ({"panels": ((0, 1), (0, 1))}, "panels must be"),
        ({"seeds": (0,)}, "seeds must be empty"),
        ({"repo_id": ""}, "repo_id must name"),
    ],
)
def test_config_rejects_bad_fields(am: ModuleType, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        am.AttentionMapsConfig(**changes).validate()


def test_head_statistics_rejects_a_non_square_matrix(am: ModuleType) -> None:
    with pytest.raises(ValueError, match="weights must be a square"):
        am.head_statistics(torch.ones(2, 3))


def test_published_configuration_is_valid_and_module_is_registered(am: ModuleType) -> None:
    am.FULL.validate()
    assert am.EXPERIMENT.full is am.FULL
    assert NAME in known_experiments()
