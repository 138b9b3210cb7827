"""The model inspector's estimates, checked against real models loaded on this machine.

Parameter counts and byte counts of weights, gradients, AdamW state and key/value caches are
exact, so they must match exactly. Resident memory, measured by the operating system in a
fresh process, is checked within a stated tolerance.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM

from ptm_snippets.hub import MINILM, SMOLLM2, STAND_IN_IDS
from ptm_snippets.inspector import (
    BYTES_PER_PARAMETER,
    EXTRA_CONFIGS,
    ModelReport,
    format_bytes,
    format_reports,
    inspect_config,
    resolve_config,
)


def unique_tensor_bytes(tensors: dict[str, torch.Tensor]) -> int:
    """Bytes of the distinct storages in a state dict (tied weights appear under two keys)."""
    seen: dict[int, int] = {}
    for tensor in tensors.values():
        seen[tensor.data_ptr()] = tensor.numel() * tensor.element_size()
    return sum(seen.values())


@pytest.fixture(scope="module")
def minilm() -> Any:
    return AutoModel.from_pretrained(MINILM.repo_id)


@pytest.fixture(scope="module")
def smollm2() -> Any:
    model: Any = AutoModelForCausalLM.from_pretrained(SMOLLM2.repo_id)
    return model.eval()


# ----------------------------------------------------------------------------- parameters


def test_parameter_counts_equal_the_loaded_real_models(minilm: Any, smollm2: Any) -> None:
    for repo_id, model in ((MINILM.repo_id, minilm), (SMOLLM2.repo_id, smollm2)):
        report = inspect_config(repo_id)
        assert report.parameters == sum(p.numel() for p in model.parameters()), repo_id
    assert inspect_config(MINILM.repo_id).parameters == 22_713_216
    assert inspect_config(SMOLLM2.repo_id).parameters == 134_515_008


@pytest.mark.parametrize("repo_id", STAND_IN_IDS)
def test_parameter_counts_equal_each_architecture_built_for_real(repo_id: str) -> None:
    # The stand-ins are tiny, but they are the real classes: count their loaded weights.
    auto = {
        "openai-community/gpt2": AutoModelForCausalLM,
        "google-t5/t5-small": AutoModelForSeq2SeqLM,
    }
    model = auto.get(repo_id, AutoModel).from_pretrained(repo_id)
    report = inspect_config(model.config)
    assert report.parameters == sum(p.numel() for p in model.parameters())
    assert report.counted_as == auto.get(repo_id, AutoModel).__name__


def test_published_totals_are_reproduced() -> None:
    # Meta's figure for Llama 3.1 8B, and the size of the multilingual MiniLM's published
    # fp32 safetensors file (471 MB, which adds a small header to the weights).
    assert inspect_config("meta-llama/Llama-3.1-8B").parameters == 8_030_261_248
    multilingual = inspect_config("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2")
    assert abs(multilingual.weight_bytes("fp32") / 471e6 - 1) < 0.005
    assert multilingual.embedding_parameters / multilingual.parameters > 0.8


def test_kinds_context_lengths_and_shapes() -> None:
    expected = {
        "google-bert/bert-base-uncased": ("encoder", 12, 0, 512, "learned absolute"),
        "FacebookAI/roberta-base": ("encoder", 12, 0, 512, "learned absolute"),
        "distilbert/distilbert-base-uncased": ("encoder", 6, 0, 512, "learned absolute"),
        "openai-community/gpt2": ("decoder", 0, 12, 1024, "learned absolute"),
        "google-t5/t5-small": ("encoder-decoder", 6, 6, None, "relative bucketed"),
        SMOLLM2.repo_id: ("decoder", 0, 30, 8192, "rotary"),
        "meta-llama/Llama-3.1-8B": ("decoder", 0, 32, 131072, "rotary"),
    }
    for repo_id, (kind, enc, dec, context, positions) in expected.items():
        r = inspect_config(repo_id)
        assert (r.kind, r.encoder_layers, r.decoder_layers) == (kind, enc, dec), repo_id
        assert (r.context_length, r.positions) == (context, positions), repo_id
        assert r.layers == enc + dec
    smol = inspect_config(SMOLLM2.repo_id)
    assert (smol.heads, smol.kv_heads, smol.head_dim, smol.hidden_size) == (9, 3, 64, 576)
    t5 = inspect_config("google-t5/t5-small")
    assert (t5.heads, t5.kv_heads, t5.head_dim, t5.vocab_size) == (8, 8, 64, 32128)


def test_embedding_parameters_are_the_token_matrix(minilm: Any) -> None:
    report = inspect_config(MINILM.repo_id)
    assert report.embedding_parameters == minilm.get_input_embeddings().weight.numel()
    assert report.non_embedding_parameters == report.parameters - 30522 * 384


# ----------------------------------------------------------------------------- memory


def test_weight_bytes_equal_the_state_dict_in_fp32_bf16_and_fp16() -> None:
    classes: tuple[tuple[str, Any], ...] = (
        (MINILM.repo_id, AutoModel),
        (SMOLLM2.repo_id, AutoModelForCausalLM),
    )
    for repo_id, auto in classes:
        report = inspect_config(repo_id)
        model = auto.from_pretrained(repo_id)
        assert unique_tensor_bytes(model.state_dict()) == report.weight_bytes("fp32"), repo_id
        model.to(torch.bfloat16)
        assert unique_tensor_bytes(model.state_dict()) == report.weight_bytes("bf16"), repo_id
        assert unique_tensor_bytes(model.state_dict()) == report.weight_bytes(torch.bfloat16)
        model.to(torch.float16)
        assert unique_tensor_bytes(model.state_dict()) == report.weight_bytes("fp16"), repo_id
    assert BYTES_PER_PARAMETER["int8"] == 1 and BYTES_PER_PARAMETER["int4"] == 0.5


def adamw_step(model: torch.nn.Module) -> torch.optim.AdamW:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    ids = torch.tensor([[101, 2026, 3477, 12952, 2038, 102]] * 2)
    output = model(input_ids=ids)
    # Use the pooler too: a parameter that gets no gradient gets no AdamW state either.
    (output.last_hidden_state.pow(2).mean() + output.pooler_output.pow(2).mean()).backward()
    optimizer.step()
    return optimizer


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    moments = ("exp_avg", "exp_avg_sq")
    return sum(
        state[name].numel() * state[name].element_size()
        for state in optimizer.state.values()
        for name in moments
    )


def test_adamw_state_and_gradients_after_one_step_match_the_estimate() -> None:
    torch.manual_seed(0)
    model = AutoModel.from_pretrained(MINILM.repo_id).train()
    report = inspect_config(MINILM.repo_id)
    optimizer = adamw_step(model)
    grads = sum(
        p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None
    )
    weights = unique_tensor_bytes(dict(model.named_parameters()))
    assert state_bytes(optimizer) == 2 * 4 * report.parameters
    assert grads == 4 * report.parameters
    assert weights + grads + state_bytes(optimizer) == report.training_bytes()
    assert report.training_bytes() == 16 * report.parameters


def test_freezing_the_embeddings_shrinks_only_gradients_and_moments() -> None:
    torch.manual_seed(0)
    model = AutoModel.from_pretrained(MINILM.repo_id).train()
    model.embeddings.requires_grad_(False)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    report = inspect_config(MINILM.repo_id)
    optimizer = adamw_step(model)
    grads = sum(
        p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None
    )
    weights = unique_tensor_bytes(dict(model.named_parameters()))
    assert weights + grads + state_bytes(optimizer) == report.training_bytes(trainable=trainable)
    assert report.training_bytes(trainable=trainable) < 0.65 * report.training_bytes()


def cache_bytes(cache: Any) -> int:
    caches = (
        [cache.self_attention_cache, cache.cross_attention_cache]
        if hasattr(cache, "cross_attention_cache")
        else [cache]
    )
    return sum(
        t.numel() * t.element_size()
        for c in caches
        for layer in c.layers
        for t in (layer.keys, layer.values)
    )


def test_kv_cache_estimate_equals_the_real_cache(smollm2: Any) -> None:
    report = inspect_config(SMOLLM2.repo_id)
    ids = torch.randint(1000, 2000, (2, 37), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out = smollm2(input_ids=ids, use_cache=True, logits_to_keep=1)
    assert cache_bytes(out.cache) == report.kv_cache_bytes(batch_size=2, seq_len=37)
    # Grouped-query attention: 3 key/value heads instead of 9 makes the cache 3 times smaller.
    assert report.kv_cache_bytes(batch_size=1, seq_len=100) * 3 == 2 * 30 * 9 * 64 * 100 * 4


def test_kv_cache_estimate_equals_the_real_cache_of_an_encoder_decoder() -> None:
    model = AutoModelForSeq2SeqLM.from_pretrained("google-t5/t5-small").eval()
    report = inspect_config(model.config)
    with torch.inference_mode():
        out = model(
            input_ids=torch.tensor([[5, 6, 7, 8, 9, 10, 11]]),
            decoder_input_ids=torch.tensor([[0, 4, 5]]),
            use_cache=True,
        )
    assert cache_bytes(out.cache) == report.kv_cache_bytes(
        batch_size=1, seq_len=3, encoder_length=7
    )


RSS_SCRIPT = textwrap.dedent(
    """
    import gc, json, sys
    import psutil, torch
    from transformers import AutoConfig, AutoModelForCausalLM
    repo = sys.argv[1]
    process = psutil.Process()
    # Import and run the model code once at a tiny size, so only the weights are measured.
    tiny = AutoConfig.from_pretrained(repo, hidden_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, head_dim=32, intermediate_size=64, vocab_size=100)
    with torch.inference_mode():
        AutoModelForCausalLM.from_config(tiny)(input_ids=torch.tensor([[1, 2, 3]]))
    gc.collect()
    before = process.memory_full_info()
    model = AutoModelForCausalLM.from_pretrained(repo).eval()
    gc.collect()
    loaded = process.memory_full_info()
    with torch.inference_mode():
        model(input_ids=torch.tensor([[1, 2, 3]]))  # the output layer reads every embedding row
    gc.collect()
    used = process.memory_full_info()
    model.to(torch.bfloat16)
    gc.collect()
    converted = process.memory_full_info()
    print(json.dumps({
        "rss_after_load": loaded.rss - before.rss,
        "rss_after_forward": used.rss - before.rss,
        "uss_after_bf16": converted.uss - before.uss,
    }))
    """
)


def test_resident_memory_follows_the_estimate_once_the_weights_are_touched() -> None:
    result = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, SMOLLM2.repo_id],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    report = inspect_config(SMOLLM2.repo_id)
    # The weights are memory-mapped from the safetensors file: pages become resident when read.
    assert measured["rss_after_load"] < 0.25 * report.weight_bytes("fp32")
    # After a forward pass every weight has been read: within 10 % of the fp32 estimate.
    assert abs(measured["rss_after_forward"] / report.weight_bytes("fp32") - 1) < 0.10
    # Converting to bf16 copies the weights into private memory: within 10 % of that estimate.
    assert abs(measured["uss_after_bf16"] / report.weight_bytes("bf16") - 1) < 0.10


# ----------------------------------------------------------------------------- resolving


def test_hub_ids_resolve_to_real_sizes_not_the_stand_ins() -> None:
    assert resolve_config("google-bert/bert-base-uncased").hidden_size == 768
    assert AutoModel.from_pretrained("google-bert/bert-base-uncased").config.hidden_size < 768
    for repo_id in EXTRA_CONFIGS:
        assert resolve_config(repo_id).name_or_path == repo_id
    assert inspect_config("google-t5/t5-small").name == "google-t5/t5-small"
    assert inspect_config(resolve_config("google-t5/t5-small"), name="t5").name == "t5"


def test_format_and_table_show_the_figures() -> None:
    report = inspect_config(MINILM.repo_id)
    text = report.format()
    assert text.splitlines()[0] == f"{MINILM.repo_id} (bert, encoder)"
    assert "22,713,216" in text and "512 tokens" in text and "fp32 90.9 MB" in text
    assert "no fixed limit" in inspect_config("google-t5/t5-small").format()
    assert "(3 key/value heads)" in inspect_config(SMOLLM2.repo_id).format()
    table = format_reports([report, inspect_config("meta-llama/Llama-3.1-8B")]).splitlines()
    assert table[0].split() == [
        "model",
        "kind",
        "params",
        "layers",
        "context",
        "vocab",
        "fp32",
        "bf16",
        "int8",
        "AdamW",
    ]
    assert "8.03B" in table[2] and "131,072" in table[2] and "128.5 GB" in table[2]
    assert format_bytes(999) == "999 B" and format_bytes(1_500) == "1.5 kB"


# ----------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def bert() -> ModelReport:
    return inspect_config("google-bert/bert-base-uncased")


@pytest.fixture(scope="module")
def gpt2() -> ModelReport:
    return inspect_config("openai-community/gpt2")


def test_unknown_dtypes_are_rejected_naming_the_argument(bert: ModelReport) -> None:
    for bad in ("float64", "FP32", torch.float64, 4):
        with pytest.raises(ValueError, match="dtype must be one of 'fp32'"):
            bert.weight_bytes(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dtype must be one of"):
        bert.format(dtypes=("fp8",))
    with pytest.raises(ValueError, match="dtype must be one of"):
        format_reports([bert], dtypes=("int2",))


def test_cache_arguments_are_checked(bert: ModelReport, gpt2: ModelReport) -> None:
    with pytest.raises(ValueError, match="is an encoder"):
        bert.kv_cache_bytes(batch_size=1, seq_len=8)
    for bad in (0, -3, True, 2.0):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            gpt2.kv_cache_bytes(batch_size=bad, seq_len=8)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="seq_len must be a positive int"):
            gpt2.kv_cache_bytes(batch_size=1, seq_len=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encoder_length must be >= 0, and 0 for a decoder"):
        gpt2.kv_cache_bytes(batch_size=1, seq_len=8, encoder_length=4)
    with pytest.raises(ValueError, match="dtype must be one of"):
        gpt2.kv_cache_bytes(batch_size=1, seq_len=8, dtype="fp64")


def test_trainable_must_be_within_the_parameter_count(bert: ModelReport) -> None:
    for bad in (-1, bert.parameters + 1, 0.5, True):
        with pytest.raises(ValueError, match="trainable must be an int in"):
            bert.training_bytes(trainable=bad)  # type: ignore[arg-type]


def test_unsupported_inputs_are_rejected_naming_the_argument(minilm: Any) -> None:
    with pytest.raises(TypeError, match="config_or_id must be a transformers PretrainedConfig"):
        inspect_config(42)
    with pytest.raises(TypeError, match=r"pass model\.config"):
        inspect_config(minilm)
    with pytest.raises(ValueError, match="config_or_id must be a non-empty hub id"):
        inspect_config(" ")
    with pytest.raises(ValueError, match="config_or_id 'no-such/model': no bundled configuration"):
        inspect_config("no-such/model")
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        inspect_config("google-t5/t5-small", name="")
    with pytest.raises(ValueError, match="reports must hold at least one"):
        format_reports([])
    with pytest.raises(TypeError, match="reports must hold ModelReport objects"):
        format_reports(["bert"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="n must be a non-negative number"):
        format_bytes(-1)
