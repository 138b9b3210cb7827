"""Lesson 06's claims, checked on the values its script computed with the real MiniLM."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch

from tests.conftest import ROOT, SITE, run_snippet

HIDDEN = 384
POOLER = HIDDEN * HIDDEN + HIDDEN
CLASSIFIER = HIDDEN * 4 + 4
QV_LAYERS = 12  # query and value in six layers


@pytest.fixture(scope="module")
def lesson() -> dict[str, Any]:
    namespace, _ = run_snippet("lesson06_parameter_efficient_fine_tuning.py")
    return namespace


def page() -> str:
    return (SITE.docs_dir / "lessons" / "06-parameter-efficient-fine-tuning.md").read_text()


# ----------------------------------------------------------------------------- LoRA itself


def test_hand_lora_starts_at_the_base_and_counts_r_times_in_plus_out(
    lesson: dict[str, Any],
) -> None:
    hand, query, x = lesson["hand"], lesson["query"], lesson["x"]
    assert lesson["lora"] == 8 * (HIDDEN + HIDDEN)
    assert hand.scaling == 2.0
    assert not any(p.requires_grad for p in hand.base.parameters())
    fresh = lesson["LoRALinear"](query, r=4, alpha=4)
    with torch.no_grad():
        assert torch.equal(fresh(x), query(x))  # B = 0: the update is exactly zero


def test_peft_config_adapts_query_and_value_and_trains_the_head(lesson: dict[str, Any]) -> None:
    assert len(lesson["wrapped"]) == QV_LAYERS
    assert all(name.endswith(("query", "value")) for name in lesson["wrapped"])
    assert lesson["by_part"] == {
        "LoRA A and B": QV_LAYERS * 8 * (HIDDEN + HIDDEN),
        "pooler": POOLER,
        "classifier": CLASSIFIER,
    }
    assert lesson["layer"].scaling["default"] == 2.0


def test_peft_layer_computes_the_hand_written_equation(lesson: dict[str, Any]) -> None:
    assert lesson["difference"] < 1e-5
    assert lesson["update"] > 1e-3  # the check is not trivially passing with B = 0
    # The model being trained kept B = 0 until training: only the copy got the hand's factors.
    assert not torch.equal(
        lesson["check"].lora_B["default"].weight, lesson["layer"].lora_B["default"].weight
    )


# ----------------------------------------------------------------------------- training, merging, files


def test_lora_training_learns_the_tickets(lesson: dict[str, Any]) -> None:
    losses = lesson["result"].losses
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.6
    from ptm_snippets.finetuning import evaluate

    assert evaluate(lesson["model"], lesson["test_data"]) >= 0.75  # chance is 0.25
    assert len(lesson["test_data"]) == 110


def test_merged_model_is_plain_and_agrees_with_the_adapter(lesson: dict[str, Any]) -> None:
    merged = lesson["merged"]
    assert type(merged).__name__ == "BertForSequenceClassification"
    assert not any("lora" in name for name, _ in merged.named_modules())
    assert sum(p.numel() for p in merged.parameters()) == 22_714_756
    assert torch.allclose(lesson["unmerged"], lesson["merged_logits"], atol=1e-3, rtol=1e-4)
    # merging a copy left the adapter model intact
    assert any(hasattr(m, "lora_A") for m in lesson["model"].modules())


def test_adapter_file_is_about_a_hundredth_of_the_model_and_reloads_exactly(
    lesson: dict[str, Any],
) -> None:
    adapter, full = lesson["adapter_bytes"], lesson["model_bytes"]
    trained = QV_LAYERS * 8 * (HIDDEN + HIDDEN) + POOLER + CLASSIFIER
    assert 4 * trained <= adapter < 4 * trained + 50_000  # float32 plus a small header
    assert 80 < full / adapter < 120
    assert torch.allclose(lesson["reloaded"], lesson["unmerged"], atol=1e-6)


def test_switching_adapters_switches_predictions(lesson: dict[str, Any]) -> None:
    columns, examples = lesson["columns"], lesson["examples"]
    truth = [row["label"] for row in examples]
    assert sum(a == b for a, b in zip(columns["topics"], truth, strict=True)) >= 3
    assert set(columns["orders"]) <= {"billing", "delivery"}  # the only classes it was taught
    assert columns["orders"] != columns["topics"]
    assert columns["adapters off"] != columns["topics"]  # the untrained base head
    assert sorted(lesson["server"].peft_config) == ["orders", "topics"]
    saved = lesson["workdir"] / "adapters"
    assert sorted(p.name for p in saved.iterdir() if p.is_dir()) == ["orders", "topics"]
    assert (saved / "orders" / "adapter_model.safetensors").is_file()


# ----------------------------------------------------------------------------- bad input


def test_peft_silently_drops_a_wrong_name_and_the_helper_does_not(lesson: dict[str, Any]) -> None:
    from ptm_snippets.adapters import trainable_parameters

    only_query = 6 * 8 * (HIDDEN + HIDDEN) + CLASSIFIER
    assert trainable_parameters(lesson["quiet"]).trainable == only_query
    from transformers import AutoModelForSequenceClassification

    from ptm_snippets.adapters import make_peft_model

    base = AutoModelForSequenceClassification.from_pretrained(lesson["MINILM"], num_labels=4)
    with pytest.raises(ValueError, match="'v_proj' matches no module"):
        make_peft_model(base, "lora", target_modules=["query", "v_proj"])


# ----------------------------------------------------------------------------- other methods


def test_other_methods_start_at_the_base_except_prompt_tuning(lesson: dict[str, Any]) -> None:
    overview = lesson["overview"]
    assert list(overview) == ["lora", "dora", "loha", "lokr", "ia3", "prompt_tuning"]
    for trainable, adapter, _ in overview.values():
        assert trainable - adapter == POOLER + CLASSIFIER  # every variant trains the same head
    counts = {method: adapter for method, (_, adapter, _) in overview.items()}
    lora = QV_LAYERS * 8 * (HIDDEN + HIDDEN)
    assert counts["lora"] == lora
    assert counts["dora"] == lora + QV_LAYERS * HIDDEN  # one magnitude per output unit
    assert counts["loha"] == 2 * lora  # two pairs of factors
    assert counts["prompt_tuning"] == 20 * HIDDEN
    assert counts["ia3"] < lora / 4 and counts["lokr"] < lora / 4
    assert {m: same for m, (_, _, same) in overview.items()} == {
        m: m != "prompt_tuning" for m in overview
    }


def test_adalora_spends_the_target_budget_unevenly(lesson: dict[str, Any]) -> None:
    kept = lesson["kept"]
    assert len(kept) == QV_LAYERS
    assert sum(kept.values()) == QV_LAYERS * 2  # target_r = 2 on average
    assert all(0 <= k <= 8 for k in kept.values())
    assert len(set(kept.values())) > 1
    top = sum(kept[f"{i}{name}"] for i in (3, 4, 5) for name in ("query", "value"))
    assert top > sum(kept.values()) / 2  # the top layers keep most of the budget
    assert sum(kept[f"{i}value"] for i in range(6)) > sum(kept[f"{i}query"] for i in range(6))


def test_prefix_tuning_builds_but_cannot_run_on_bert(lesson: dict[str, Any]) -> None:
    from ptm_snippets.adapters import trainable_parameters

    assert trainable_parameters(lesson["prefix"]).trainable == 10 * 6 * 2 * HIDDEN + CLASSIFIER
    with pytest.raises(ValueError, match="past key values"):
        lesson["prefix"](**lesson["batch"])


def test_qlora_is_shown_as_text_and_never_run() -> None:
    text = page()
    fences = re.findall(r"```(\w*)[^\n]*\n(.*?)```", text, flags=re.S)
    bnb = [lang for lang, body in fences if "BitsAndBytesConfig" in body]
    assert bnb == ["text"]
    assert "needs a CUDA GPU" in text


# ----------------------------------------------------------------------------- experiment


def test_page_shows_the_experiment_figure_and_table(lesson: dict[str, Any]) -> None:
    assert "(../assets/experiments/peft_methods.svg)" in page()
    assert (ROOT / "docs" / "assets" / "experiments" / "peft_methods.svg").is_file()
    from ptm_snippets.experiments.peft_methods import ARMS

    results = lesson["results"]
    assert list(lesson["table"]) == list(ARMS)
    assert results["configuration"] == "full"
    assert len(results["stamp"]["seeds"]) == 3
    assert all(cell["step_seconds_source"] == "interleaved" for cell in lesson["table"].values())


def test_experiment_supports_the_pages_trade_offs(lesson: dict[str, Any]) -> None:
    table = lesson["table"]
    full = table["full"]
    adapters = ("lora_r2", "lora_r8", "lora_r32", "dora_r8", "loha_r8", "ia3", "prompt_tuning")
    accuracy = {arm: cell["accuracy_mean"] for arm, cell in table.items()}
    for arm in adapters:
        ratio = table[arm]["vs_full"]
        # About a hundredth of the parameters and of the disk.
        assert ratio["saved_bytes"] < 0.03 and ratio["trainable_parameters"] < 0.03, arm
        # About half the training memory: no gradients or AdamW moments for frozen weights.
        assert 0.35 < ratio["train_peak_increase"] < 0.7, arm
    assert table["head_only"]["vs_full"]["train_peak_increase"] < 0.3
    # Steps: LoRA a little over half of full fine-tuning; prompt tuning no faster than LoRA.
    assert table["lora_r8"]["step_seconds"] < 0.8 * full["step_seconds"]
    assert table["head_only"]["step_seconds"] < table["lora_r8"]["step_seconds"]
    assert table["prompt_tuning"]["step_seconds"] > table["lora_r8"]["step_seconds"]
    # LoRA at rank 8 matches full fine-tuning; rank hardly matters; DoRA scores like LoRA.
    assert accuracy["lora_r8"] >= accuracy["full"] - 0.02
    assert abs(accuracy["lora_r2"] - accuracy["lora_r8"]) < 0.02
    assert accuracy["lora_r32"] <= accuracy["lora_r8"] + 0.005
    assert abs(accuracy["dora_r8"] - accuracy["lora_r8"]) < 0.01
    # The head carries much of the task; IA3 and LoHa land between the head and LoRA.
    assert accuracy["head_only"] < accuracy["lora_r8"] - 0.03
    assert accuracy["head_only"] > accuracy["full"] - 0.05
    for arm in ("ia3", "loha_r8"):
        assert accuracy["head_only"] <= accuracy[arm] <= accuracy["lora_r8"], arm
    # The frozen untrained pooler costs several points, varies more and never fits the training set.
    frozen = table["lora_r8_frozen_pooler"]
    assert frozen["accuracy_mean"] < accuracy["lora_r8"] - 0.05
    assert frozen["accuracy_std"] > table["lora_r8"]["accuracy_std"]
    assert frozen["train_loss_final_mean"] > 5 * table["lora_r8"]["train_loss_final_mean"]
    # Prompt tuning is the worst and least stable arm.
    assert accuracy["prompt_tuning"] < accuracy["head_only"] - 0.1
    assert table["prompt_tuning"]["accuracy_std"] == max(c["accuracy_std"] for c in table.values())
    # The novel half is not harder than the familiar half for any arm.
    for arm, cell in table.items():
        assert cell["accuracy_novel_mean"] >= cell["accuracy_familiar_mean"] - 0.01, arm
    # Prompt tuning's virtual tokens about double a typical ticket.
    lengths = lesson["lengths"]
    assert 15 <= sum(lengths) / len(lengths) <= 25


# ----------------------------------------------------------------------------- a decoder


def test_decoder_lora_learns_to_answer_with_a_small_adapter(lesson: dict[str, Any]) -> None:
    count = lesson["decoder"].get_base_model().config
    layers, hidden = count.num_hidden_layers, count.hidden_size
    kv = count.num_key_value_heads * (hidden // count.num_attention_heads)
    assert lesson["trainable_parameters"](lesson["decoder"]).trainable == layers * 8 * (
        2 * hidden + hidden + kv
    )
    (acc_before, right_before), (acc_after, right_after) = (
        lesson["decoder_before"],
        lesson["decoder_after"],
    )
    assert right_before < 0.01 < 0.3 < right_after  # the right answer token became far more likely
    assert acc_after >= acc_before  # ranking the four answers: slower to move (the page says so)
    losses = lesson["decoder_losses"]
    assert sum(losses[-4:]) < 0.25 * sum(losses[:4])
    assert len(set(lesson["answers"])) == 4
    size = lesson["adapter_size_bytes"](lesson["workdir"] / "smollm2-tickets")
    assert 4 * 460_800 <= size < 4 * 460_800 + 100_000


def test_page_shows_the_decoder_experiment(lesson: dict[str, Any]) -> None:
    assert "(../assets/experiments/peft_causal_lm.svg)" in page()
    assert (ROOT / "docs" / "assets" / "experiments" / "peft_causal_lm.svg").is_file()
    from ptm_snippets.experiments.peft_causal_lm import ARMS

    results, table = lesson["decoder_results"], lesson["decoder_table"]
    assert list(table) == list(ARMS) and results["configuration"] == "full"
    assert len(results["stamp"]["seeds"]) == 3


def test_decoder_experiment_supports_the_pages_claims(lesson: dict[str, Any]) -> None:
    table = lesson["decoder_table"]
    zero, full = table["zero_shot"], table["full"]
    adapters = ("lora_qv_r8", "lora_all_r8", "ia3")
    # Zero-shot: ranks the answers above chance but never generates one.
    assert zero["accuracy_mean"] > 0.4 and zero["greedy_answer_correct_mean"] == 0.0
    for arm in ("full", *adapters):
        cell = table[arm]
        assert cell["accuracy_mean"] > zero["accuracy_mean"] + 0.2, arm
        assert cell["greedy_answer_correct_mean"] == cell["accuracy_mean"], arm  # it now answers
    # Placement: q and v alone fall behind and vary most; every linear layer matches full.
    qv, every = table["lora_qv_r8"], table["lora_all_r8"]
    assert qv["accuracy_mean"] < full["accuracy_mean"] - 0.03
    assert qv["accuracy_std"] == max(table[a]["accuracy_std"] for a in adapters)
    assert every["accuracy_mean"] >= full["accuracy_mean"] - 0.01
    assert abs(table["ia3"]["accuracy_mean"] - full["accuracy_mean"]) < 0.02
    assert table["ia3"]["trainable_parameters"] == 57_600
    for arm in adapters:
        ratio = table[arm]["vs_full"]
        assert ratio["trainable_parameters"] < 0.02 and ratio["saved_bytes"] < 0.02, arm
        assert 0.4 < ratio["step_cpu_seconds"] < 0.7, arm  # about half; all layers about 0.6
    # Memory: a third for q/v and IA3, a half for every layer; full holds gradients and AdamW.
    assert table["lora_qv_r8"]["vs_full"]["train_peak_increase"] < 0.4
    assert table["ia3"]["vs_full"]["train_peak_increase"] < 0.4
    assert table["lora_all_r8"]["vs_full"]["train_peak_increase"] < 0.6
    assert full["train_peak_increase_bytes"] > 3 * 4 * full["trainable_parameters"]
    # Forgetting: full fine-tuning leaves the unrelated text's perplexity; the adapters raise it.
    assert abs(full["general_perplexity_vs_zero_shot"] - 1.0) < 0.02
    for arm in adapters:
        assert 1.15 < table[arm]["general_perplexity_vs_zero_shot"] < 1.7, arm
    from ptm_snippets.experiments.peft_causal_lm import FULL

    ratios = [FULL.learning_rate(arm) / FULL.learning_rate("full") for arm in adapters]
    assert min(ratios) == pytest.approx(60)  # the page: "60 to 600 times"
    assert max(ratios) == pytest.approx(600)


# ----------------------------------------------------------------------------- exercises


def test_exercise_lora_count_formula(lesson: dict[str, Any]) -> None:
    assert lesson["predicted"] == lesson["measured"] == 6 * 4 * (4 * 768 + 2 * (384 + 1536))


def test_exercise_updates_have_rank_r_and_merge_into_w(lesson: dict[str, Any]) -> None:
    assert lesson["ranks"] == {8}
    assert lesson["merged_ok"]
    assert all(0 < size < 0.2 for size in lesson["sizes"])
