"""The fine-tuning-strategies experiment on its fast configuration, plus its pieces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from ptm_snippets.experiments import known_experiments, register, run_experiment, unregister

NAME = "finetuning_strategies"
FIELDS = {
    "arm",
    "seed",
    "train_size",
    "steps",
    "learning_rate",
    "trainable_parameters",
    "total_parameters",
    "accuracy",
    "accuracy_familiar",
    "accuracy_novel",
    "train_loss_final",
    "step_seconds_median",
    "train_peak_mb",
    "process_peak_mb",
    "isolated",
    "similarity_spearman",
    "similarity_spearman_before",
    "forgetting",
    "cosine_unrelated",
}


@pytest.fixture(scope="module")
def fs() -> Iterator[ModuleType]:
    """The experiment module, registered for this file's tests only if nothing else did."""
    registered_before = NAME in known_experiments()
    from ptm_snippets.experiments import finetuning_strategies

    register(finetuning_strategies.EXPERIMENT, replace=True)
    yield finetuning_strategies
    if not registered_before:
        unregister(NAME)


@pytest.fixture(scope="module")
def result(fs: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("experiments")
    data = run_experiment(NAME, fast=True, out_dir=out, progress_bar=False)
    assert json.loads((out / f"{NAME}.json").read_text()) == data
    assert (out / f"{NAME}.svg").read_text().lstrip().startswith("<?xml")
    return data


def row(result: dict[str, Any], arm: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [r for r in result["rows"] if r["arm"] == arm]
    assert len(found) == 1, arm
    return found[0]


def test_every_row_is_valid(fs: ModuleType, result: dict[str, Any]) -> None:
    rows = result["rows"]
    assert [r["arm"] for r in rows] == list(fs.FAST.arms)
    for r in rows:
        assert r.keys() >= FIELDS
        for key in ("accuracy", "accuracy_familiar", "accuracy_novel", "macro_f1"):
            assert 0.0 <= r[key] <= 1.0, (key, r)
        assert r["accuracy_low"] <= r["accuracy"] <= r["accuracy_high"]
        assert r["accuracy_high"] - r["accuracy_low"] > 0.01  # a small test set: a real interval
        assert r["steps"] == fs.FAST.steps and r["train_size"] == fs.FAST.train_size
        assert r["step_seconds_median"] > 0 and r["train_peak_mb"] >= 0
        assert r["isolated"] is True and r["process_peak_mb"] > r["train_peak_mb"]
        assert r["forgetting"] == pytest.approx(
            r["similarity_spearman_before"] - r["similarity_spearman"], abs=1e-4
        )


def test_feature_extraction_is_cheaper_and_forgets_nothing(result: dict[str, Any]) -> None:
    frozen, full = row(result, "feature_extraction"), row(result, "full")
    assert frozen["trainable_parameters"] == 149_380
    assert full["trainable_parameters"] == full["total_parameters"] == 22_714_756
    # A frozen encoder skips the backward pass through six layers: several times faster.
    assert frozen["step_seconds_median"] < 0.7 * full["step_seconds_median"]
    # No gradients or AdamW state for 22.6 M parameters (about 270 MB in float32).
    assert frozen["train_peak_mb"] < full["train_peak_mb"] - 100
    assert frozen["forgetting"] == 0.0
    assert frozen["similarity_spearman_before"] > 0.85
    for r in (frozen, full):
        assert r["accuracy"] > 0.5  # chance is 0.25


def test_summary_matches_rows(fs: ModuleType, result: dict[str, Any]) -> None:
    table = result["summary"]["table"]
    assert list(table) == list(fs.FAST.arms)
    for arm, cell in table.items():
        r = row(result, arm)
        assert cell["accuracy_mean"] == r["accuracy"] and cell["accuracy_std"] == 0.0
        assert cell["trainable_share"] == pytest.approx(
            r["trainable_parameters"] / r["total_parameters"], abs=1e-5
        )
    assert result["stamp"]["seeds"] == list(fs.FAST.seeds)


def test_general_pairs_are_graded_by_kind(fs: ModuleType) -> None:
    pairs = fs.load_general_pairs()
    kinds = {"paraphrase": (4.0, 5.0), "related": (1.5, 4.0), "unrelated": (0.0, 1.0)}
    assert {p["kind"] for p in pairs} == set(kinds)
    for p in pairs:
        low, high = kinds[p["kind"]]
        assert low <= p["score"] <= high, p
        assert p["sentence1"] != p["sentence2"]
    ticket_words = {"refund", "parcel", "password", "invoice", "app"}
    text = " ".join(p["sentence1"] + " " + p["sentence2"] for p in pairs).lower()
    assert not ticket_words & set(text.replace(".", " ").split())


def test_spearman_handles_ties_and_rejects_constant_input(fs: ModuleType) -> None:
    assert fs.spearman([1, 1, 2], [1, 1, 2]) == pytest.approx(1.0)
    assert fs.spearman([0, 0, 1, 1], [1, 2, 3, 4]) == pytest.approx(0.8944, abs=1e-4)
    with pytest.raises(ValueError, match="two different values"):
        fs.spearman([1, 1, 1], [1, 2, 3])
    with pytest.raises(ValueError, match="same length"):
        fs.spearman([1, 2], [1, 2, 3])


def test_sentence_similarities_rejects_no_pairs(fs: ModuleType) -> None:
    with pytest.raises(ValueError, match="pairs must hold"):
        fs.sentence_similarities(None, None, [])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"arms": ()}, "arms must be"),
        ({"arms": ("full", "full")}, "arms must be"),
        ({"arms": ("lora",)}, "arms must be"),
        ({"seeds": ()}, "seeds must hold"),
        ({"train_size": 2}, "train_size must be"),
        ({"train_size": 700}, "train_size must be"),
        ({"steps": 0}, "steps must be"),
        ({"test_size": 4}, "test_size must be"),
        ({"validation_size": 2000}, "validation_size must be"),
        ({"partial_layers": 0}, "partial_layers must be"),
        ({"layer_decay": 0.0}, "layer_decay must be"),
        ({"unfreeze_every": 0}, "unfreeze_every must be"),
        ({"lr_full": 0.0}, "lr_full must be"),
        ({"warmup_ratio": 1.0}, "warmup_ratio must be"),
        ({"num_threads": -1}, "num_threads must be"),
        ({"repo_id": ""}, "repo_id must name"),
    ],
)
def test_config_rejects_bad_fields(fs: ModuleType, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fs.FineTuningStrategiesConfig(**changes).validate()


def test_train_arm_rejects_an_unknown_arm(fs: ModuleType) -> None:
    with pytest.raises(ValueError, match="arm must be one of"):
        fs.train_arm(fs.FAST, "adapters", 0)


def test_published_configuration_is_valid_and_module_is_registered(fs: ModuleType) -> None:
    fs.FULL.validate()
    assert fs.FULL.isolate and len(fs.FULL.seeds) >= 3
    assert {"feature_extraction", "partial", "full", "layer_decay"} <= set(fs.FULL.arms)
    assert fs.EXPERIMENT.full is fs.FULL
    assert NAME in known_experiments()
