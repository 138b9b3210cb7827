"""The text-to-text helpers in ptm_snippets.text2text: tasks, tokenizer, spans, training, checkpoint."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from ptm_snippets import IGNORE_INDEX, text2text
from ptm_snippets.text2text import (
    CHECKPOINT_DIR,
    FAST,
    FULL,
    PREFIXES,
    TASKS,
    CheckpointError,
    Example,
    TrainConfig,
    accuracy,
    build_tokenizer,
    corrupt_spans,
    evaluate,
    load_checkpoint,
    main,
    make_batch,
    make_examples,
    predict,
    task_words,
    tiny_t5_config,
    train,
    verify_checkpoint,
)


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return build_tokenizer()


@pytest.fixture(scope="module")
def tiny() -> text2text.TrainResult:
    return train(dataclasses.replace(FAST, steps=2, batch_per_task=4))


# ---------------------------------------------------------------- tasks


def test_task_words_are_sorted_frequent_words_and_stable() -> None:
    words = task_words()
    assert len(words) == 24 and words == sorted(words) == task_words()
    assert all(4 <= len(w) <= 8 and w.isalpha() for w in words)
    assert {"refund", "parcel", "password"} <= set(words)


@pytest.mark.parametrize("size", [3, 201])
def test_task_words_rejects_a_bad_size(size: int) -> None:
    with pytest.raises(ValueError, match="size"):
        task_words(size)


def test_every_task_has_a_distinct_prefix() -> None:
    assert set(PREFIXES) == set(TASKS)
    assert len(set(PREFIXES.values())) == len(TASKS)
    for task in TASKS:
        for split in ("train", "test"):
            assert all(
                e.source.startswith(PREFIXES[task] + " ")
                for e in make_examples(task, split, size=20)
            )


def test_classify_uses_the_ticket_files() -> None:
    train_set, test_set = make_examples("classify", "train"), make_examples("classify", "test")
    assert (len(train_set), len(test_set)) == (1300, 440)
    assert {e.target for e in train_set} == {"billing", "delivery", "account", "technical"}
    assert [sum(e.group == g for e in test_set) for g in ("familiar", "novel")] == [220, 220]
    assert not {e.source for e in train_set} & {e.source for e in test_set}


def test_synthetic_targets_are_correct() -> None:
    for e in make_examples("count", "train", size=100, seed=5):
        assert int(e.target) == len(e.source.split(":", 1)[1].split())
    for e in make_examples("sort", "test", size=100, seed=5):
        words = e.source.split(":", 1)[1].split()
        assert e.target.split() == sorted(words) and len(set(words)) == len(words)


def test_held_out_sequences_never_appear_in_training() -> None:
    for task in ("count", "sort"):
        test_inputs = {e.source for e in make_examples(task, "test", size=300)}
        train_inputs = {e.source for e in make_examples(task, "train", size=3000, seed=1)}
        assert test_inputs and not test_inputs & train_inputs


def test_examples_are_reproducible() -> None:
    assert make_examples("sort", "train", size=5, seed=2) == make_examples(
        "sort", "train", size=5, seed=2
    )
    assert make_examples("sort", "train", size=5, seed=2) != make_examples(
        "sort", "train", size=5, seed=3
    )


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"task": "reverse", "split": "train"}, "task"),
        ({"task": "count", "split": "dev"}, "split"),
        ({"task": "count", "split": "train", "size": 0}, "size"),
    ],
)
def test_make_examples_rejects_bad_arguments(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make_examples(**kwargs)


# ---------------------------------------------------------------- tokenizer and spans


def test_tokenizer_has_t5s_layout(tokenizer: Any) -> None:
    ids = tokenizer.convert_tokens_to_ids(["<pad>", "</s>", "<unk>"])
    assert ids == [0, 1, 2]
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    top = len(tokenizer) - 1
    for k in range(100):
        assert tokenizer.convert_tokens_to_ids(f"<extra_id_{k}>") == top - k
    assert tokenizer("sort words: order page")["input_ids"][-1] == 1
    assert tokenizer.tokenize("my <extra_id_3> parcel") == ["my", "<extra_id_3>", "parcel"]
    assert tokenizer.tokenize("zzzz") == ["<unk>"]


def test_tokenizer_is_deterministic_and_covers_the_tasks(tokenizer: Any) -> None:
    assert build_tokenizer().get_vocab() == tokenizer.get_vocab()
    for task in TASKS:
        for e in make_examples(task, "train", size=30):
            if task != "classify":
                assert tokenizer.unk_token not in tokenizer.tokenize(e.source)
            assert tokenizer.unk_token not in tokenizer.tokenize(e.target)


def test_tokenizer_rejects_a_bad_min_frequency() -> None:
    with pytest.raises(ValueError, match="min_frequency"):
        build_tokenizer(min_frequency=0)


def test_span_corruption_hides_spans_behind_real_sentinels(tokenizer: Any) -> None:
    text = "The courier left my parcel at the wrong address and the tracking page says delivered."
    original = tokenizer.tokenize(text)
    for seed in range(20):
        out = corrupt_spans(text, tokenizer, generator=torch.Generator().manual_seed(seed))
        assert out.input_ids == tokenizer.convert_tokens_to_ids(out.inputs)
        assert out.labels == tokenizer.convert_tokens_to_ids(out.targets)
        assert out.inputs[-1] == out.targets[-1] == "</s>"
        # Putting each hidden span back at its sentinel rebuilds the text.
        pieces: dict[str, list[str]] = {}
        current = ""
        for token in out.targets[:-1]:
            if token.startswith("<extra_id_"):
                current = token
                pieces[current] = []
            else:
                pieces[current].append(token)
        rebuilt = [t for token in out.inputs[:-1] for t in pieces.get(token, [token])]
        assert rebuilt == original
        assert out.labels[0] == len(tokenizer) - 1  # <extra_id_0>


def test_span_corruption_needs_sentinels_in_the_vocabulary() -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, "a": 3, "b": 4, "c": 5}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    plain = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    with pytest.raises(ValueError, match="sentinel"):
        corrupt_spans("a b c a b c", plain, generator=torch.Generator().manual_seed(0))


def test_span_corruption_rejects_bad_settings(tokenizer: Any) -> None:
    with pytest.raises(ValueError, match="noise_density"):
        corrupt_spans("a parcel never came", tokenizer, noise_density=1.5)
    with pytest.raises(ValueError, match="tokens"):
        corrupt_spans("parcel", tokenizer)


# ---------------------------------------------------------------- model, batch, training


def test_config_sets_the_ids_transformers_5_needs(tokenizer: Any) -> None:
    config = tiny_t5_config(tokenizer, d_model=64, num_heads=2)
    assert config.decoder_start_token_id == 0 == config.pad_token_id
    assert config.eos_token_id == 1 and config.vocab_size == len(tokenizer)
    assert config.d_kv * config.num_heads == config.d_model


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"d_model": 0}, "d_model"),
        ({"d_model": 130, "num_heads": 4}, "d_model"),
        ({"num_layers": 0}, "num_layers"),
        ({"num_heads": 0}, "num_heads"),
        ({"d_ff": -1}, "d_ff"),
        ({"dropout_rate": 1.0}, "dropout_rate"),
    ],
)
def test_config_rejects_bad_sizes(tokenizer: Any, kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        tiny_t5_config(tokenizer, **kwargs)


def test_batch_pads_labels_with_ignore_index(tokenizer: Any) -> None:
    examples = [
        Example("count", "count words: order", "1"),
        Example("sort", "sort words: page order email", "email order page"),
    ]
    batch = make_batch(examples, tokenizer)
    assert batch["labels"].shape == (2, 4)
    assert batch["labels"][0].tolist() == [*tokenizer("1")["input_ids"], IGNORE_INDEX, IGNORE_INDEX]
    assert (batch["labels"] != tokenizer.pad_token_id).all()
    assert batch["attention_mask"][0].tolist() == [1, 1, 1, 1, 1, 0, 0]
    long = make_batch([Example("classify", "classify: " + "word " * 100, "billing")], tokenizer)
    assert long["input_ids"].shape[1] == 64


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"examples": []}, "examples"), ({"max_source_length": 1}, "max_source")]
)
def test_batch_rejects_bad_arguments(tokenizer: Any, kwargs: dict[str, Any], name: str) -> None:
    arguments = {"examples": [Example("count", "count words: a", "1")], **kwargs}
    with pytest.raises(ValueError, match=name):
        make_batch(arguments.pop("examples"), tokenizer, **arguments)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"tasks": ()}, "tasks"),
        ({"tasks": ("reverse",)}, "tasks"),
        ({"steps": 0}, "steps"),
        ({"batch_per_task": 0}, "batch_per_task"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"warmup_steps": -1}, "warmup_steps"),
    ],
)
def test_train_config_rejects_bad_settings(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        TrainConfig(**kwargs)


def test_training_is_deterministic_and_leaves_global_rng_alone() -> None:
    config = dataclasses.replace(FULL, steps=3, batch_per_task=4)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = train(config)
    after = torch.rand(1)
    second = train(config)
    assert before == after
    assert first.losses == second.losses and len(first.losses) == 3
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_fast_config_learns_classify_well_above_chance() -> None:
    result = train(FAST)
    assert result.losses[-1] < result.losses[0] / 4
    scores = evaluate(result.model, result.tokenizer, make_examples("classify", "test"), by="group")
    assert scores["classify/familiar"] > 0.5  # chance is 0.25
    assert scores["classify/novel"] > 0.35


def test_predict_keeps_input_order_and_checks_arguments(tiny: text2text.TrainResult) -> None:
    sources = ["classify: " + "parcel " * n for n in (9, 1, 5)]
    answers = predict(tiny.model, tiny.tokenizer, sources, batch_size=1)
    assert answers == [predict(tiny.model, tiny.tokenizer, [s])[0] for s in sources]
    for name in ("max_new_tokens", "num_beams", "batch_size"):
        with pytest.raises(ValueError, match=name):
            predict(tiny.model, tiny.tokenizer, sources, **{name: 0})


def test_accuracy_per_task_and_group() -> None:
    examples = [
        Example("classify", "classify: a", "billing", "familiar"),
        Example("classify", "classify: b", "account", "novel"),
        Example("count", "count words: a", "1"),
    ]
    assert accuracy(examples, ["billing", "billing", "1"]) == {"classify": 0.5, "count": 1.0}
    assert accuracy(examples, ["billing", "billing", " 1 "], by="group") == {
        "classify/familiar": 1.0,
        "classify/novel": 0.0,
        "count": 1.0,
    }
    with pytest.raises(ValueError, match="by"):
        accuracy(examples, ["a", "b", "c"], by="label")
    with pytest.raises(ValueError, match="predictions"):
        accuracy(examples, ["a"])


# ---------------------------------------------------------------- checkpoint


def test_committed_checkpoint_matches_its_manifest() -> None:
    manifest = verify_checkpoint()
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(manifest["files"])
    size = sum((CHECKPOINT_DIR / name).stat().st_size for name in manifest["files"])
    assert size < 5 * 2**20
    assert manifest["train_config"] == dataclasses.asdict(FULL) | {"tasks": list(FULL.tasks)}


def test_committed_checkpoint_uses_the_tokenizer_the_code_builds(tokenizer: Any) -> None:
    model, loaded = load_checkpoint()
    assert loaded.get_vocab() == tokenizer.get_vocab()
    assert model.config.decoder_start_token_id == 0 and not model.training


def test_committed_checkpoint_beats_the_baselines_on_held_out_data() -> None:
    model, loaded = load_checkpoint()
    examples = [e for task in TASKS for e in make_examples(task, "test")]
    scores = evaluate(model, loaded, examples, by="group")
    recorded = verify_checkpoint()["held_out_accuracy"]
    assert scores.keys() == recorded.keys()
    for key, value in scores.items():
        assert abs(value - recorded[key]) < 0.02, key
    assert scores["classify/familiar"] > 0.6 and scores["classify/novel"] > 0.4
    assert scores["count"] > 0.4 and scores["sort"] > 0.6


def test_a_changed_file_or_missing_manifest_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "tiny_t5"
    shutil.copytree(CHECKPOINT_DIR, copy)
    config = copy / "config.json"
    config.write_text(config.read_text().replace("128", "129", 1))
    with pytest.raises(CheckpointError, match=r"config\.json"):
        load_checkpoint(copy)
    (copy / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="train"):
        load_checkpoint(copy)


def test_save_and_load_round_trip(tiny: text2text.TrainResult, tmp_path: Path) -> None:
    manifest = text2text.save_checkpoint(tiny, tmp_path, info={"note": "test"})
    assert manifest["note"] == "test" and manifest["parameters"] > 0
    model, loaded = load_checkpoint(tmp_path)
    sources = [e.source for e in make_examples("sort", "test", size=8)]
    assert predict(model, loaded, sources) == predict(tiny.model, tiny.tokenizer, sources)


def test_command_line_trains_and_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--out", str(tmp_path), "--steps", "2"]) == 0
    assert "model.safetensors" in capsys.readouterr().out
    assert main(["verify", str(tmp_path)]) == 0
    assert "match their sha256" in capsys.readouterr().out
