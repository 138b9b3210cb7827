"""Lesson 07's claims, checked on the values its script computed and on the experiment's JSON."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import run_snippet

MULTILINGUAL = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"
SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
LLAMA = "meta-llama/Llama-3.1-8B"


@pytest.fixture(scope="module")
def lesson() -> dict[str, Any]:
    namespace, _ = run_snippet("lesson07_choosing_a_model.py")
    return namespace


# ----------------------------------------------------------------------------- inspector vs reality


def test_the_report_matches_the_loaded_minilm(lesson: dict[str, Any]) -> None:
    from ptm_snippets import count_parameters

    report = lesson["report"]
    assert report.parameters == count_parameters(lesson["model"]) == 22_713_216
    assert lesson["stored"] == report.weight_bytes("fp32") == 4 * report.parameters
    assert report.embedding_parameters / report.parameters > 0.5  # vocabulary-dominated
    assert (report.kind, report.layers, report.context_length) == ("encoder", 6, 512)


def test_candidates_span_the_three_families_and_sizes(lesson: dict[str, Any]) -> None:
    reports = lesson["reports"]
    assert {r.kind for r in reports.values()} == {"encoder", "decoder", "encoder-decoder"}
    assert reports[LLAMA].parameters == 8_030_261_248  # Meta's published total
    assert (
        reports[LLAMA].weight_bytes("bf16")
        > 16e9
        > reports["openai-community/gpt2-xl"].weight_bytes("fp32")
    )
    assert reports["google-t5/t5-small"].context_length is None
    assert reports["FacebookAI/roberta-base"].context_length == 512
    for r in reports.values():
        assert r.training_bytes() == 4 * r.weight_bytes("fp32")


def test_weights_and_training_state_were_measured_exactly(lesson: dict[str, Any]) -> None:
    smol, report = lesson["smol"], lesson["report"]
    assert lesson["distinct_bytes"](lesson["lm"].state_dict()) == smol.weight_bytes("bf16")
    assert lesson["weights"] == lesson["gradients"] == report.weight_bytes("fp32")
    assert lesson["moments"] == 2 * report.weight_bytes("fp32")
    total = lesson["weights"] + lesson["gradients"] + lesson["moments"]
    assert total == report.training_bytes() == 16 * report.parameters


def test_the_kv_cache_estimate_matches_and_can_exceed_the_weights(lesson: dict[str, Any]) -> None:
    smol = lesson["smol"]
    b, n = lesson["rows_in"], lesson["tokens_in"]
    assert lesson["cached"] == smol.kv_cache_bytes(batch_size=b, seq_len=n, dtype="bf16")
    llama = lesson["reports"][LLAMA]
    full = llama.kv_cache_bytes(batch_size=1, seq_len=llama.context_length, dtype="bf16")
    assert full > llama.weight_bytes("bf16")
    assert (smol.heads, smol.kv_heads) == (9, 3)


def test_context_limits_and_the_shorter_sentence_transformers_limit(lesson: dict[str, Any]) -> None:
    assert lesson["st_config"]["max_seq_length"] == 256 < lesson["report"].context_length
    counts = list(lesson["counts"].values())
    assert all(400 < c < 512 for c in counts)  # near the BERT-family limit, well inside SmolLM2's


# ----------------------------------------------------------------------------- latency


def test_latency_table_covers_every_model_and_shape(lesson: dict[str, Any]) -> None:
    from ptm_snippets.experiments.model_latency import FULL, LABELS

    latency = lesson["latency"]
    assert latency["configuration"] == "full"
    assert list(lesson["labels"]) == list(FULL.models) == list(LABELS)
    for label in LABELS.values():
        for batch, length in FULL.shapes:
            assert lesson["median_ms"](label, "forward", batch, length) > 0
    weights = {r["label"]: r["weights"] for r in latency["rows"]}
    assert {k for k, v in weights.items() if v == "pretrained"} == {"MiniLM-L6", "SmolLM2-135M"}
    assert latency["stamp"]["torch_threads"] == 1


def test_longer_inputs_cost_about_proportionally_more(lesson: dict[str, Any]) -> None:
    median_ms = lesson["median_ms"]
    for label in lesson["labels"].values():
        assert median_ms(label, "forward", 1, 512) > 2.5 * median_ms(label, "forward", 1, 128)
        assert median_ms(label, "forward", 1, 128) > median_ms(label, "forward", 1, 16)
    ratios = [g["time_ratio"] for g in lesson["summary"]["length_growth"].values()]
    assert sorted(ratios)[len(ratios) // 2] > 3.0  # the median model: about 4x for 4x the tokens


def test_batching_helps_short_inputs_more_than_long_ones(lesson: dict[str, Any]) -> None:
    gains = lesson["summary"]["batching_gain"]
    assert all(g["16"]["gain"] > 1.3 for g in gains.values())
    assert sum(g["16"]["gain"] > g["128"]["gain"] for g in gains.values()) >= 7


def test_compute_follows_non_embedding_parameters(lesson: dict[str, Any]) -> None:
    # The multilingual MiniLM has BERT-base's parameter count, a quarter of its compute.
    assert 0.9 < lesson["params"] < 1.2
    assert lesson["compute"] < 0.3
    assert lesson["time_ratio"] < 0.6
    median_ms = lesson["median_ms"]
    assert median_ms("MiniLM-L6", "forward", 1, 128) < median_ms("BERT-base", "forward", 1, 128) / 2


def test_a_new_token_costs_far_less_than_the_prompt(lesson: dict[str, Any]) -> None:
    median_ms = lesson["median_ms"]
    for label in ("T5-small", "GPT-2", "SmolLM2-135M"):
        assert median_ms(label, "decode", 1, 512) < median_ms(label, "forward", 1, 512) / 4


# ----------------------------------------------------------------------------- languages and scenarios


def test_fertility_grows_for_languages_the_vocabulary_does_not_cover(
    lesson: dict[str, Any],
) -> None:
    tokenizer, lm_tokenizer = lesson["tokenizer"], lesson["lm_tokenizer"]
    messages = lesson["same_message"]
    english = len(tokenizer.tokenize(messages["English"]))
    russian = len(tokenizer.tokenize(messages["Russian"]))
    assert russian > 3 * english
    for language in ("German", "Polish", "Russian"):
        assert len(tokenizer.tokenize(messages[language])) > 1.5 * english
        assert len(lm_tokenizer.tokenize(messages[language])) > 1.5 * len(
            lm_tokenizer.tokenize(messages["English"])
        )
    chinese = tokenizer.tokenize(messages["Chinese"])
    assert chinese.count("[UNK]") > len(chinese) / 2
    assert "[UNK]" not in tokenizer.tokenize(messages["Russian"])


def test_routing_picks_minilm_backed_by_lesson_01(lesson: dict[str, Any]) -> None:
    assert lesson["choice"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert lesson["accuracy"]["1024"]["accuracy_mean"] > 0.9
    assert lesson["typical"][-1] < 128  # every ticket is shorter than the budgeted length


def test_faq_search_needs_the_multilingual_model_and_its_memory(lesson: dict[str, Any]) -> None:
    assert lesson["embedders"] == ["sentence-transformers/all-MiniLM-L6-v2", MULTILINGUAL]
    ml = lesson["ml"]
    assert ml.embedding_parameters / ml.parameters > 0.8
    assert ml.weight_bytes("fp32") <= lesson["memory_budget"]
    assert ml.weight_bytes("fp32") > 5 * lesson["report"].weight_bytes("fp32") * 0.99


def test_summarisation_timings_rank_t5_small_first_and_fit_the_budget(
    lesson: dict[str, Any],
) -> None:
    median_ms = lesson["median_ms"]

    def seconds(label: str) -> float:
        prompt: float = median_ms(label, "forward", 1, 512)
        token: float = median_ms(label, "decode", 1, 512)
        return (prompt + 60 * token) / 1000

    assert seconds("T5-small") < seconds("GPT-2")
    assert seconds("T5-small") < seconds("SmolLM2-135M")
    assert seconds("SmolLM2-135M") < lesson["seconds_budget"]
    assert lesson["reports"][LLAMA].weight_bytes("bf16") > lesson["weight_budget"]


# ----------------------------------------------------------------------------- exercises and page


def test_exercise_partial_fine_tuning_fits_where_full_does_not(lesson: dict[str, Any]) -> None:
    xl = lesson["xl"]
    assert 0.05 < lesson["last_four"] / xl.parameters < 0.1
    assert xl.training_bytes() > 16e9 > xl.training_bytes(trainable=lesson["last_four"])


def test_exercise_longest_context(lesson: dict[str, Any]) -> None:
    smol = lesson["smol"]
    per_token = lesson["per_token"]
    assert per_token == 2 * 30 * 3 * 64 * 2
    one = int(lesson["memory_left"] // per_token)
    assert one > smol.context_length  # one sequence gets its full context


def test_page_shows_the_latency_figure() -> None:
    from tests.conftest import ROOT, SITE

    page = (SITE.docs_dir / "lessons" / "07-choosing-a-model.md").read_text()
    assert "(../assets/experiments/model_latency.svg)" in page
    assert (ROOT / "docs" / "assets" / "experiments" / "model_latency.svg").is_file()
    assert 'class="ptm-quiz"' in page and page.index("ptm-quiz") < page.index(
        "## Check your understanding"
    )


def test_numbers_in_the_prose_are_the_stored_measurements(lesson: dict[str, Any]) -> None:
    from tests.conftest import SITE

    page = " ".join((SITE.docs_dir / "lessons" / "07-choosing-a-model.md").read_text().split())
    summary = lesson["summary"]
    growth = [g["time_ratio"] for g in summary["length_growth"].values()]
    assert f"between {min(growth):.1f} and {max(growth):.1f} times the time" in page
    gains = [g["16"]["gain"] for g in summary["batching_gain"].values()]
    assert f"gave {min(gains):.1f} to {max(gains):.1f} times the throughput" in page
    bert_16 = lesson["median_ms"]("BERT-base", "forward", 1, 16)
    assert f"BERT-base needs {bert_16:.1f} ms for 16 tokens" in page
    assert lesson["median_ms"]("BERT-base", "forward", 1, 512) > 1000  # "over a second"
