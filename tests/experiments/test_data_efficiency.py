"""The data-efficiency claim, on the fast configuration: pre-trained beats random init clearly."""

from __future__ import annotations

import json
import statistics
from typing import Any

import pytest

from ptm_snippets.experiments import run_experiment
from ptm_snippets.experiments.data_efficiency import FAST, MODELS, steps_for

FIELDS = {
    "model",
    "train_size",
    "seed",
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


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("experiments")
    data = run_experiment("data_efficiency", fast=True, out_dir=out, progress_bar=False)
    assert json.loads((out / "data_efficiency.json").read_text()) == data
    assert (out / "data_efficiency.svg").read_text().lstrip().startswith("<?xml")
    return data


def mean(rows: list[dict[str, Any]], model: str, size: int, metric: str = "accuracy") -> float:
    return statistics.fmean(
        r[metric] for r in rows if r["model"] == model and r["train_size"] == size
    )


def test_every_row_is_valid(result: dict[str, Any]) -> None:
    rows = result["rows"]
    assert len(rows) == len(MODELS) * len(FAST.sizes) * len(FAST.seeds)
    seen = set()
    for row in rows:
        assert row.keys() >= FIELDS
        assert row["model"] in MODELS
        assert row["train_size"] in FAST.sizes and row["seed"] in FAST.seeds
        for key in ("accuracy", "macro_f1", "accuracy_familiar", "accuracy_novel"):
            assert 0.0 <= row[key] <= 1.0, (key, row)
        assert row["accuracy_low"] <= row["accuracy"] <= row["accuracy_high"], row
        assert row["accuracy_high"] - row["accuracy_low"] > 0.02, row  # a bootstrap, not a point
        assert row["train_loss_final"] >= 0
        assert row["steps"] == steps_for(row["train_size"], FAST)
        assert row["seconds"] > 0
        seen.add((row["model"], row["train_size"], row["seed"]))
    assert len(seen) == len(rows)


def test_pretrained_beats_random_init_at_every_size(result: dict[str, Any]) -> None:
    rows = result["rows"]
    for size in FAST.sizes:
        gap = mean(rows, "pretrained", size) - mean(rows, "random_init", size)
        assert gap >= 0.15, (size, gap)
    assert mean(rows, "pretrained", 16) >= 0.25 + 0.25  # well above chance with 16 labels


def test_summary_matches_rows(result: dict[str, Any]) -> None:
    rows = result["rows"]
    table = result["summary"]["table"]
    for model in MODELS:
        for size in FAST.sizes:
            for metric in ("accuracy", "macro_f1"):
                assert table[model][str(size)][f"{metric}_mean"] == pytest.approx(
                    mean(rows, model, size, metric), abs=1e-4
                )
    multiple = result["summary"]["data_multiple"]
    assert multiple["pretrained_size"] == 16
    assert (multiple["multiple"] is None) == multiple["never_within_range"]
    assert result["stamp"]["seeds"] == list(FAST.seeds)
