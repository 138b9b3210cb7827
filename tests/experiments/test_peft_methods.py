"""The PEFT-methods experiment on its fast configuration: real MiniLM, four arms, one seed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from ptm_snippets.experiments import known_experiments, register, run_experiment, unregister

NAME = "peft_methods"
FIELDS = {
    "kind",
    "arm",
    "seed",
    "learning_rate",
    "trainable_parameters",
    "total_parameters",
    "saved_bytes",
    "step_seconds_median",
    "train_peak_increase_bytes",
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "macro_f1",
    "accuracy_familiar",
    "accuracy_novel",
    "train_loss_final",
    "steps",
    "seconds",
}
QV_LAYERS = 6 * 2  # query and value in each of MiniLM's six layers
HIDDEN = 384
HEAD = HIDDEN * HIDDEN + HIDDEN + HIDDEN * 4 + 4  # pooler and classifier, trained in every arm


@pytest.fixture(scope="module")
def pm() -> Iterator[ModuleType]:
    """The experiment module, registered for this file's tests only if nothing else did."""
    registered_before = NAME in known_experiments()
    from ptm_snippets.experiments import peft_methods

    register(peft_methods.EXPERIMENT, replace=True)
    yield peft_methods
    if not registered_before:
        unregister(NAME)


@pytest.fixture(scope="module")
def result(pm: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("experiments")
    data = run_experiment(NAME, fast=True, out_dir=out, progress_bar=False)
    assert json.loads((out / f"{NAME}.json").read_text()) == data
    svg = (out / f"{NAME}.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "lora_r8" in svg
    return data


def rows_by_arm(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["arm"]: row for row in result["rows"] if row["kind"] == "train"}


def test_every_row_is_valid(pm: ModuleType, result: dict[str, Any]) -> None:
    rows = [r for r in result["rows"] if r["kind"] == "train"]
    timing = [r for r in result["rows"] if r["kind"] == "timing"]
    assert [r["arm"] for r in rows] == list(pm.FAST.arms)
    assert [r["arm"] for r in timing] == list(pm.FAST.arms)
    assert len(rows) + len(timing) == len(result["rows"])
    for row in timing:
        assert row["timed_steps"] == pm.FAST.timing_rounds * pm.FAST.timing_steps
        assert row["step_seconds_median"] > 0
    for row in rows:
        assert row.keys() == FIELDS
        for key in ("accuracy", "macro_f1", "accuracy_familiar", "accuracy_novel"):
            assert 0.0 <= row[key] <= 1.0, (key, row)
        assert row["accuracy_low"] <= row["accuracy"] <= row["accuracy_high"], row
        assert row["accuracy_high"] - row["accuracy_low"] > 0.02, row  # 48 items: a wide interval
        assert row["steps"] == pm.FAST.steps
        assert row["step_seconds_median"] > 0 and row["seconds"] > 0
        assert row["train_peak_increase_bytes"] is None  # in-process: not measured
        assert row["learning_rate"] == pm.FAST.learning_rate(row["arm"])
        assert 0 < row["trainable_parameters"] <= row["total_parameters"]


def test_trainable_parameters_follow_the_lora_formula(result: dict[str, Any]) -> None:
    arms = rows_by_arm(result)
    for rank in (2, 8):
        assert arms[f"lora_r{rank}"]["trainable_parameters"] == (
            QV_LAYERS * rank * (HIDDEN + HIDDEN) + HEAD
        )
    assert arms["full"]["trainable_parameters"] == arms["full"]["total_parameters"]
    assert arms["ia3"]["trainable_parameters"] < arms["lora_r2"]["trainable_parameters"]


def test_adapters_are_a_hundredth_of_the_model_on_disk(result: dict[str, Any]) -> None:
    arms = rows_by_arm(result)
    for arm, row in arms.items():
        # float32: four bytes a parameter, plus a small safetensors header
        assert 4 * row["trainable_parameters"] <= row["saved_bytes"], arm
        assert row["saved_bytes"] < 4 * row["trainable_parameters"] + 100_000, arm
    assert arms["lora_r8"]["saved_bytes"] * 50 < arms["full"]["saved_bytes"]


def test_adapters_learn_and_train_faster_per_step_than_full_fine_tuning(
    result: dict[str, Any],
) -> None:
    arms = rows_by_arm(result)
    table = result["summary"]["table"]
    for arm in ("lora_r2", "lora_r8", "ia3"):
        assert arms[arm]["accuracy"] >= 0.5, arm  # chance is 0.25
        # interleaved timing: no backward pass into the frozen weights' gradients, no AdamW on them
        assert table[arm]["step_seconds_source"] == "interleaved"
        assert table[arm]["step_seconds"] < table["full"]["step_seconds"], arm


def test_summary_matches_rows(result: dict[str, Any]) -> None:
    table = result["summary"]["table"]
    arms = rows_by_arm(result)
    assert list(table) == list(arms)
    for arm, row in arms.items():
        assert table[arm]["accuracy_mean"] == pytest.approx(row["accuracy"], abs=1e-4)
        assert table[arm]["saved_bytes"] == row["saved_bytes"]
    assert table["full"]["vs_full"]["saved_bytes"] == 1.0
    assert table["lora_r8"]["vs_full"]["trainable_parameters"] < 0.02
    assert result["stamp"]["seeds"] == [0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"arms": ()}, "arms must be a non-empty tuple"),
        ({"arms": ("lora_r4",)}, "arms must be a non-empty tuple"),
        ({"arms": ("full", "full")}, "arms must be a non-empty tuple"),
        ({"learning_rates": (("full", 1e-4),)}, "arm 'head_only' has None"),
        ({"arms": ("full",), "learning_rates": (("full", 0.0),)}, "learning_rates must give"),
        ({"seeds": ()}, "seeds must hold"),
        ({"seeds": (1, 1)}, "seeds must not repeat"),
        ({"train_size": 2}, "train_size must be in"),
        ({"steps": 0}, "steps must be at least 1"),
        ({"timing_steps": 0}, "timing_steps must be at least 1"),
        ({"timing_rounds": -1}, "timing_rounds must be"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"max_length": 1}, "max_length must be in"),
        ({"test_size": 4}, "test_size must be None"),
        ({"num_threads": -1}, "num_threads must be"),
        ({"repo_id": ""}, "repo_id must name"),
    ],
)
def test_config_rejects_bad_fields(pm: ModuleType, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pm.PeftMethodsConfig(**changes).validate()


def test_train_arm_rejects_an_unknown_arm(pm: ModuleType) -> None:
    with pytest.raises(ValueError, match="arm must be one of"):
        pm.train_arm("qlora", pm.FAST, measure_memory=False)
    with pytest.raises(ValueError, match="arm must be one of"):
        pm._build("qlora", pm.FAST, seed=0)


def test_summary_ratios_to_full(pm: ModuleType) -> None:
    rows = [
        {
            "kind": "train",
            "arm": arm,
            "seed": seed,
            "trainable_parameters": n,
            "saved_bytes": 4 * n,
            "step_seconds_median": t,
            "train_peak_increase_bytes": memory if seed == 0 else None,
            "accuracy": acc,
            "macro_f1": acc - 0.05,
            "accuracy_familiar": acc,
            "accuracy_novel": acc - 0.1,
            "train_loss_final": 0.1,
        }
        for arm, n, t, memory, acc in [
            ("full", 1000, 0.4, 400, 0.9),
            ("lora_r8", 10, 0.1, 100, 0.8),
        ]
        for seed in (0, 1)
    ]
    rows += [
        {"kind": "timing", "arm": "full", "step_seconds_median": 0.5, "timed_steps": 4},
        {"kind": "timing", "arm": "lora_r8", "step_seconds_median": 0.125, "timed_steps": 4},
    ]
    cell = pm.summarize(rows)["table"]["lora_r8"]
    assert cell["step_seconds"] == 0.125 and cell["step_seconds_source"] == "interleaved"
    assert cell["vs_full"] == {
        "accuracy": pytest.approx(-0.1),
        "trainable_parameters": 0.01,
        "saved_bytes": 0.01,
        "step_seconds": 0.25,
        "train_peak_increase": 0.25,
    }
    assert cell["train_peak_increase_bytes"] == 100
    assert cell["accuracy_novel_mean"] == pytest.approx(0.7)
    assert cell["macro_f1_mean"] == pytest.approx(0.75)


def test_published_configuration_is_valid_and_module_is_registered(pm: ModuleType) -> None:
    pm.FULL.validate()
    assert set(pm.FULL.arms) == set(pm.ARMS) and len(pm.FULL.seeds) == 3
    assert pm.FULL.isolate and not pm.FAST.isolate
    assert pm.EXPERIMENT.full is pm.FULL
    assert NAME in known_experiments()
