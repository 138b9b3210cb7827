"""Lesson 05's claims, checked on the values its script computed with the real MiniLM."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from tests.conftest import run_snippet


@pytest.fixture(scope="module")
def lesson() -> dict[str, Any]:
    namespace, problems = run_snippet("lesson05_fine_tuning_strategies.py")
    assert not problems, "\n".join(map(str, problems))
    return namespace


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------- data


def test_splits_are_balanced_and_disjoint(lesson: dict[str, Any]) -> None:
    train, valid, test = lesson["train"], lesson["valid"], lesson["test"]
    assert (len(train), len(valid), len(test)) == (128, 48, 80)
    for data, per_label in ((train, 32), (valid, 12), (test, 20)):
        assert [data.labels.count(i) for i in range(4)] == [per_label] * 4
    train_texts = {t["text"] for t in lesson["train_rows"]}
    assert not train_texts & {t["text"] for t in lesson["valid_rows"]}
    assert {t["split"] for t in lesson["test_rows"]} == {"familiar", "novel"}


def test_padding_masks_exactly_the_pad_positions(lesson: dict[str, Any]) -> None:
    batch, train = lesson["padded"], lesson["train"]
    lengths = [len(train[i]["input_ids"]) for i in range(4)]
    assert batch["attention_mask"].sum(1).tolist() == lengths
    assert batch["input_ids"].shape[1] == max(lengths)
    assert bool((batch["input_ids"][batch["attention_mask"] == 0] == 0).all())


# ----------------------------------------------------------------------------- strategies


def test_feature_extraction_trains_the_head_only_and_leaves_the_encoder(
    lesson: dict[str, Any],
) -> None:
    frozen = lesson["frozen"]
    assert trainable(frozen) == 149_380
    assert trainable(frozen) / lesson["total"] < 0.01
    names = [n for n, p in frozen.named_parameters() if p.requires_grad]
    assert all(n.startswith(("bert.pooler.", "classifier.")) for n in names)
    before, after = lesson["before"], dict(frozen.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert lesson["evaluate"](frozen, lesson["test"]) > 0.7  # chance is 0.25


def test_layer_groups_and_freezing_counts(lesson: dict[str, Any]) -> None:
    partial = lesson["partial"]
    groups = lesson["layer_groups"](partial)
    assert list(groups) == ["embeddings", *(f"layer.{i}" for i in range(6)), "head"]
    assert trainable(partial) == 149_380 + 2 * 1_774_464  # the head and the top 2 layers
    assert all(not p.requires_grad for n, p in partial.named_parameters() if "layer.3." in n)
    assert lesson["evaluate"](partial, lesson["test"]) > 0.75


def test_layerwise_rates_shrink_by_the_decay_per_layer(lesson: dict[str, Any]) -> None:
    rates = lesson["rates"]
    order = ["head", *(f"layer.{i}" for i in reversed(range(6))), "embeddings"]
    assert list(reversed(rates)) == order
    for depth, name in enumerate(order):
        assert rates[name] == pytest.approx(2e-4 * 0.8**depth)
    for group in lesson["groups"]:
        assert all((p.ndim < 2) == (group["weight_decay"] == 0) for p in group["params"])


def test_schedules_warm_up_then_decay(lesson: dict[str, Any]) -> None:
    from transformers import get_scheduler

    def rates(name: str) -> list[float]:
        dummy = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
        scheduler = get_scheduler(name, dummy, num_warmup_steps=10, num_training_steps=100)
        out = []
        for _ in range(100):
            out.append(scheduler.get_last_lr()[0])
            dummy.step()
            scheduler.step()
        return out

    for name in ("constant_with_warmup", "linear", "cosine"):
        lrs = rates(name)
        assert lrs[0] == 0 and lrs[5] == pytest.approx(5e-5) and lrs[10] == pytest.approx(1e-4)
    assert rates("constant_with_warmup")[99] == pytest.approx(1e-4)
    assert rates("linear")[99] < 2e-6 and rates("cosine")[99] < 1e-7
    assert rates("cosine")[25] > rates("linear")[25]  # cosine stays high longer
    assert lesson["lrs"] == rates("cosine")  # the script's last loop


def test_plain_loop_learns(lesson: dict[str, Any]) -> None:
    assert lesson["steps"] == 16  # two epochs of 128 lines in batches of 16
    assert lesson["evaluate"](lesson["model"], lesson["test"]) > 0.75


def test_fine_tune_stops_early_and_keeps_the_best_weights(lesson: dict[str, Any]) -> None:
    stopped, config = lesson["stopped"], lesson["early"]
    assert stopped.stopped_early and stopped.steps < config.max_steps
    best = max(accuracy for _, accuracy in stopped.evaluations)
    assert dict(stopped.evaluations)[stopped.best_step] == best
    assert stopped.best_step == min(s for s, a in stopped.evaluations if a == best)
    later = [a for s, a in stopped.evaluations if s > stopped.best_step]
    assert len(later) == config.patience and all(a <= best for a in later)
    assert lesson["evaluate"](lesson["packaged"], lesson["valid"]) == pytest.approx(best)
    assert lesson["evaluate"](lesson["packaged"], lesson["test"]) > 0.85


def test_bad_input_is_rejected_with_the_argument_named(lesson: dict[str, Any]) -> None:
    encode_dataset, tokenizer = lesson["encode_dataset"], lesson["tokenizer"]
    with pytest.raises(ValueError, match="texts must be a non-empty"):
        encode_dataset(tokenizer, [], [], num_labels=4)
    with pytest.raises(ValueError, match=r"labels must be ints in \[0, 4\)"):
        encode_dataset(tokenizer, ["x"], [4], num_labels=4)
    with pytest.raises(ValueError, match=r"train has label 5 .* num_labels=4"):
        lesson["fine_tune"](lesson["packaged"], encode_dataset(tokenizer, ["x"], [5], num_labels=6))
    with pytest.raises(ValueError, match="patience needs eval_every"):
        lesson["FineTuneConfig"](patience=2).validate()
    with pytest.raises(ValueError, match="train_top_layers must be in"):
        lesson["freeze"](lesson["packaged"], train_top_layers=8)


def test_trainer_keeps_the_best_checkpoint(lesson: dict[str, Any]) -> None:
    trainer = lesson["trainer"]
    evaluations = [
        (e["step"], e["eval_accuracy"]) for e in trainer.state.log_history if "eval_accuracy" in e
    ]
    best = max(a for _, a in evaluations)
    first_best = min(s for s, a in evaluations if a == best)
    assert trainer.state.best_model_checkpoint.endswith(f"checkpoint-{first_best}")
    assert trainer.state.global_step < lesson["args"].max_steps  # early stopping ended it
    # Trainer and evaluate() batch and pad differently, so allow one prediction to flip.
    accuracy = lesson["evaluate"](lesson["trained_by_trainer"], lesson["valid"])
    assert accuracy == pytest.approx(best, abs=1 / 48 + 1e-9)


def test_gradual_unfreezing_adds_one_layer_at_a_time(lesson: dict[str, Any]) -> None:
    counts = [count for _, count in lesson["trainable_at"]]
    assert counts[0] == 149_380
    steps = [b - a for a, b in itertools.pairwise(counts[:-1])]
    assert steps == [1_774_464] * 5
    assert counts[-1] == lesson["total"]  # the last layer comes with the embeddings
    assert lesson["evaluate"](lesson["gradual"], lesson["test"]) > 0.75


def test_dropout_makes_training_mode_random(lesson: dict[str, Any]) -> None:
    assert lesson["model"].config.hidden_dropout_prob == 0.1
    assert not lesson["same_in_train"] and lesson["same_in_eval"]


# ----------------------------------------------------------------------------- forgetting


def test_forgetting_measurement(lesson: dict[str, Any]) -> None:
    similarities, spearman = lesson["sentence_similarities"], lesson["spearman"]
    tokenizer, pairs, scores = lesson["tokenizer"], lesson["pairs"], lesson["scores"]
    measured = {
        name: similarities(encoder, tokenizer, pairs)
        for name, encoder in lesson["encoders"].items()
    }
    base = measured["pre-trained MiniLM"]
    assert spearman(base, scores) > 0.85  # the encoder was trained for this
    assert measured["feature extraction"] == base  # a frozen encoder forgets nothing

    def unrelated(values: list[float]) -> float:
        kept = [v for v, p in zip(values, pairs, strict=True) if p["kind"] == "unrelated"]
        return sum(kept) / len(kept)

    # Fine-tuning pulls unrelated sentences together, even where the ranking survives.
    assert unrelated(measured["full, Trainer"]) > unrelated(base) + 0.05
    assert all(spearman(v, scores) > 0.8 for v in measured.values())


def test_experiment_table_comes_from_the_json(lesson: dict[str, Any]) -> None:
    results = lesson["results"]
    table = results["summary"]["table"]
    rows = results["rows"]
    for arm, cell in table.items():
        accuracies = [r["accuracy"] for r in rows if r["arm"] == arm]
        assert cell["accuracy_mean"] == pytest.approx(sum(accuracies) / len(accuracies), abs=1e-4)
    assert table["feature_extraction"]["trainable_share"] < 0.01
    assert table["feature_extraction"]["forgetting_mean"] == 0
    # the page: one model's bootstrap interval is over ten times the gaps between the four
    # strategies that train the encoder, whose mean accuracies are within half a point
    four = [table[arm]["accuracy_mean"] for arm in ("partial", "full", "layer_decay", "gradual")]
    one = lesson["one"]
    width = one["accuracy_high"] - one["accuracy_low"]
    assert max(four) - min(four) < 0.005 and width > 10 * (max(four) - min(four))
    assert one["accuracy_low"] < one["accuracy"] < one["accuracy_high"]
    # costs the prose reads from the table: frozen < partial < full in time and memory
    step = {arm: cell["step_seconds_median_mean"] for arm, cell in table.items()}
    memory = {arm: cell["train_peak_mb_mean"] for arm, cell in table.items()}
    assert step["feature_extraction"] < step["partial"] < step["full"]
    assert memory["feature_extraction"] < memory["partial"] < 0.5 * memory["full"]


def test_page_shows_the_experiment_figure() -> None:
    from tests.conftest import ROOT, SITE

    page = (SITE.docs_dir / "lessons" / "05-fine-tuning-strategies.md").read_text()
    assert "(../assets/experiments/finetuning_strategies.svg)" in page
    assert (ROOT / "docs" / "assets" / "experiments" / "finetuning_strategies.svg").is_file()
    assert "(../assets/experiments/distributed_cpu.svg)" in page  # the scaling-out section
    for config in ("one_gpu", "eight_gpus", "eight_gpus_fsdp", "two_nodes"):
        assert f'--8<-- "accelerate/{config}.yaml"' in page
        assert (ROOT / "snippets" / "accelerate" / f"{config}.yaml").is_file()


def test_scaling_out_shards_and_reads_the_distributed_results(lesson: dict[str, Any]) -> None:
    from ptm_snippets.experiments import load_results

    sizes = [len(lesson["shard_indices"](257, rank, world_size=2)) for rank in range(2)]
    assert sizes == [129, 128]
    assert lesson["summary"] == load_results("distributed_cpu")["summary"]
    assert lesson["summary"]["torchrun_matches_simulation"] is True
    # the launcher's scaling trap the page warns about is really there in this transformers
    assert lesson["args"].average_tokens_across_devices
    assert lesson["trainer"].model_accepts_loss_kwargs


# ----------------------------------------------------------------------------- exercises


def test_exercise_mean_pooled_probe_beats_the_untrained_pooler(lesson: dict[str, Any]) -> None:
    assert lesson["probe_accuracy"] > 0.85
    assert lesson["probe_accuracy"] > lesson["frozen_accuracy"]


def test_exercise_replay_agrees_with_fine_tune(lesson: dict[str, Any]) -> None:
    stopped = lesson["stopped"]
    assert lesson["replay"](lesson["history"], 2) == (stopped.best_step, stopped.steps)
    assert lesson["replay"]([(1, 0.5), (2, 0.6), (3, 0.6)], 5) == (2, None)
