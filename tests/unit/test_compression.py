"""The compression helpers: sizes, ONNX export and int8, encoders, pruning and distillation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, BertConfig, BertModel

from ptm_snippets.compression import (
    OnnxEncoder,
    TorchEncoder,
    distillation_loss,
    export_onnx,
    mean_cosine,
    model_size_bytes,
    neighbour_agreement,
    prune_global,
    quantize_onnx_int8,
    sparsity,
)

TEXTS = [
    "the parcel never arrived.",
    "refund please",
    "the app crashes every time i open the basket page on my phone.",
    "i was charged twice for my order.",
    "password",
]


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")


def tiny_bert(seed: int = 0, vocab_size: int = 30522) -> Any:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model: Any = BertModel(config)
    return model.eval()


@pytest.fixture(scope="module")
def onnx_files(tokenizer: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("onnx")
    model = tiny_bert().train()  # export must switch dropout off, then restore the mode
    exported = export_onnx(model, tokenizer, folder / "tiny.onnx")
    assert model.training
    quantized = quantize_onnx_int8(exported, folder / "tiny-int8.onnx")
    return {"fp32": exported, "int8": quantized}


# ----------------------------------------------------------------------------- sizes


def test_model_size_counts_files_folders_and_modules(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"x" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"y" * 24)
    assert model_size_bytes(tmp_path / "a.bin") == 1000
    assert model_size_bytes(str(tmp_path)) == 1024
    layer = torch.nn.Linear(512, 512)
    full = model_size_bytes(layer)
    assert 512 * 513 * 4 <= full < 512 * 513 * 4 + 1000  # the numbers plus a small header
    assert model_size_bytes(layer.to(torch.bfloat16)) == pytest.approx(full / 2, rel=0.01)


def test_model_size_rejects_missing_paths_and_other_types() -> None:
    with pytest.raises(FileNotFoundError, match="source must be an existing file"):
        model_size_bytes("no/such/file.onnx")
    with pytest.raises(TypeError, match="source must be a path"):
        model_size_bytes(3)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- ONNX


def test_exported_graph_matches_pytorch_at_any_batch_and_length(
    tokenizer: Any, onnx_files: dict[str, Path]
) -> None:
    model = tiny_bert()
    torch_vectors = TorchEncoder(model, tokenizer, batch_size=2).encode(TEXTS)
    for batch_size in (1, 2, 5):  # sorted batches of 1, 2 and 5 texts of different lengths
        onnx_vectors = OnnxEncoder(onnx_files["fp32"], tokenizer, batch_size=batch_size).encode(
            TEXTS
        )
        torch.testing.assert_close(onnx_vectors, torch_vectors, atol=1e-4, rtol=1e-4)
    encoder = OnnxEncoder(onnx_files["fp32"], tokenizer)
    assert encoder.input_names == ["input_ids", "attention_mask"]
    assert [o.name for o in encoder.session.get_outputs()] == ["last_hidden_state"]
    assert encoder.session.get_inputs()[0].shape == ["batch", "sequence"]


def test_int8_file_is_smaller_and_close(tokenizer: Any, onnx_files: dict[str, Path]) -> None:
    assert model_size_bytes(onnx_files["int8"]) < model_size_bytes(onnx_files["fp32"]) / 3
    reference = OnnxEncoder(onnx_files["fp32"], tokenizer).encode(TEXTS)
    quantized = OnnxEncoder(onnx_files["int8"], tokenizer).encode(TEXTS)
    assert 0.9 < mean_cosine(reference, quantized) < 1.0


def test_export_and_quantize_reject_bad_paths(
    tokenizer: Any, onnx_files: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"path must be a path ending in \.onnx"):
        export_onnx(tiny_bert(), tokenizer, tmp_path / "model.bin")
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        export_onnx("bert", tokenizer, tmp_path / "model.onnx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sample_texts must hold at least two"):
        export_onnx(tiny_bert(), tokenizer, tmp_path / "model.onnx", sample_texts=["one"])
    with pytest.raises(FileNotFoundError, match="source must be an existing ONNX file"):
        quantize_onnx_int8(tmp_path / "missing.onnx", tmp_path / "out.onnx")
    with pytest.raises(ValueError, match="destination must differ from source"):
        quantize_onnx_int8(onnx_files["fp32"], onnx_files["fp32"])
    with pytest.raises(ValueError, match=r"destination must be a path ending in \.onnx"):
        quantize_onnx_int8(onnx_files["fp32"], tmp_path / "out.int8")


# ----------------------------------------------------------------------------- encoders


def test_encoder_keeps_input_order_and_ignores_padding(tokenizer: Any) -> None:
    encoder = TorchEncoder(tiny_bert(), tokenizer, batch_size=3)
    together = encoder.encode(TEXTS)
    alone = torch.cat([encoder.encode([text]) for text in TEXTS])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
    assert together.dtype == torch.float32 and together.shape == (len(TEXTS), 32)


def test_encoder_returns_float32_for_a_bfloat16_model(tokenizer: Any) -> None:
    model = tiny_bert().to(dtype=torch.bfloat16)
    vectors = TorchEncoder(model, tokenizer).encode(TEXTS[:2])
    assert vectors.dtype == torch.float32
    reference = TorchEncoder(tiny_bert(), tokenizer).encode(TEXTS[:2])
    assert mean_cosine(reference, vectors) > 0.99


def test_encoders_reject_bad_input(tokenizer: Any, onnx_files: dict[str, Path]) -> None:
    encoder = TorchEncoder(tiny_bert(), tokenizer)
    with pytest.raises(TypeError, match="texts must be a sequence of strings, not one string"):
        encoder.encode("refund please")
    with pytest.raises(ValueError, match="texts must hold at least one text"):
        encoder.encode([])
    with pytest.raises(TypeError, match="texts must hold only strings"):
        encoder.encode(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="max_length must be an int in"):
        TorchEncoder(tiny_bert(), tokenizer, max_length=1)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        TorchEncoder(tiny_bert(), tokenizer, batch_size=0)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        TorchEncoder("bert", tokenizer)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tokenizer must be a callable"):
        TorchEncoder(tiny_bert(), "tokenizer")
    with pytest.raises(ValueError, match="num_threads must be an int >= 0"):
        OnnxEncoder(onnx_files["fp32"], tokenizer, num_threads=-1)
    with pytest.raises(FileNotFoundError, match="path must be an existing ONNX file"):
        OnnxEncoder("missing.onnx", tokenizer)


# ----------------------------------------------------------------------------- quality


def test_mean_cosine_and_neighbour_agreement() -> None:
    a = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    assert mean_cosine(a, 5 * a) == pytest.approx(1.0)
    assert mean_cosine(a, -a) == pytest.approx(-1.0)
    assert neighbour_agreement(a, a) == 1.0
    swapped = a[[0, 2, 1, 3]]  # rows 1 and 2 now point elsewhere
    assert neighbour_agreement(a, swapped) < 1.0
    with pytest.raises(ValueError, match="reference and candidate must be 2-D"):
        mean_cosine(a, a[:2])
    with pytest.raises(ValueError, match="reference must have at least two rows"):
        neighbour_agreement(a[:1], a[:1])


# ----------------------------------------------------------------------------- pruning


def test_global_pruning_ranks_weights_across_layers() -> None:
    torch.manual_seed(0)
    net: Any = torch.nn.Sequential(torch.nn.Linear(20, 20), torch.nn.Linear(20, 20))
    with torch.no_grad():
        net[1].weight.mul_(0.01)  # the second layer's weights are all small
    prune_global(net, 0.5)
    assert sparsity(net) == pytest.approx(0.5)
    assert float((net[1].weight == 0).float().mean()) > 0.95  # it loses almost everything
    assert float((net[0].weight == 0).float().mean()) < 0.05
    assert all(not hasattr(m, "weight_orig") for m in net)  # masks folded in


def test_pruning_excludes_the_pooler_and_keeps_biases() -> None:
    model = tiny_bert()
    pooler_before = model.pooler.dense.weight.clone()
    bias_before = model.encoder.layer[0].attention.self.query.bias.clone()
    prune_global(model, 0.7)
    assert torch.equal(model.pooler.dense.weight, pooler_before)
    assert torch.equal(model.encoder.layer[0].attention.self.query.bias, bias_before)
    assert sparsity(model) == pytest.approx(0.7, abs=1e-3)
    assert sparsity(model, exclude=()) < 0.7  # counting the untouched pooler too


def test_temporary_pruning_keeps_the_original_and_a_mask_of_the_same_size() -> None:
    dense = tiny_bert()
    pruned = prune_global(tiny_bert(), 0.5, permanent=False)
    keys = set(pruned.state_dict())
    assert "encoder.layer.0.attention.self.query.weight_orig" in keys
    assert "encoder.layer.0.attention.self.query.weight_mask" in keys
    masked = sum(
        m.weight.numel()
        for name, m in dense.named_modules()
        if isinstance(m, torch.nn.Linear) and "pooler" not in name
    )
    extra = model_size_bytes(pruned) - model_size_bytes(dense)
    assert extra == pytest.approx(4 * masked, abs=4096)  # a float32 mask entry per weight, + names
    assert sparsity(pruned) == pytest.approx(0.5, abs=1e-3)  # the masked weight has the zeros


@pytest.mark.parametrize("amount", [1.0, -0.1, 1.5, True, "0.5"])
def test_pruning_rejects_amounts_outside_zero_to_one(amount: Any) -> None:
    with pytest.raises(ValueError, match=r"amount must be a number in \[0, 1\)"):
        prune_global(torch.nn.Linear(2, 2), amount)


def test_pruning_rejects_bad_models_and_excludes() -> None:
    with pytest.raises(ValueError, match=r"model must contain at least one torch\.nn\.Linear"):
        prune_global(torch.nn.Embedding(4, 2), 0.5)
    with pytest.raises(TypeError, match="exclude must be a sequence of name parts"):
        prune_global(torch.nn.Linear(2, 2), 0.5, exclude="pooler")
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        sparsity("model")  # type: ignore[arg-type]
    net = torch.nn.Linear(4, 4)
    before = net.weight.clone()
    assert prune_global(net, 0.0) is net and torch.equal(net.weight, before)


# ----------------------------------------------------------------------------- distillation


def test_distillation_loss_matches_the_formula() -> None:
    torch.manual_seed(0)
    student, teacher = torch.randn(6, 4), torch.randn(6, 4)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    t = 3.0
    soft = (
        F.softmax(teacher / t, -1)
        * (F.log_softmax(teacher / t, -1) - F.log_softmax(student / t, -1))
    ).sum(-1).mean() * t**2
    hard = F.cross_entropy(student, labels)
    got = distillation_loss(student, teacher, labels, temperature=t, alpha=0.3)
    assert float(got) == pytest.approx(float(0.3 * soft + 0.7 * hard), rel=1e-5)
    assert float(distillation_loss(student, teacher, labels, alpha=0.0)) == pytest.approx(
        float(hard)
    )
    assert float(distillation_loss(student, student.clone(), alpha=1.0)) == pytest.approx(
        0.0, abs=1e-6
    )


def test_distillation_loss_trains_only_the_student() -> None:
    student = torch.randn(3, 4, requires_grad=True)
    teacher = torch.randn(3, 4, requires_grad=True)
    distillation_loss(student, teacher, alpha=1.0).backward()  # type: ignore[no-untyped-call]
    assert student.grad is not None and float(student.grad.abs().sum()) > 0
    assert teacher.grad is None


def test_temperature_squared_keeps_soft_gradients_on_the_same_scale() -> None:
    # Without the T**2 factor the soft term's gradients shrink as 1 / T**2 (64 times from T=2 to
    # T=16); with it they stay within a factor of two.
    torch.manual_seed(1)
    teacher = torch.randn(64, 4) * 3
    norms = []
    for t in (2.0, 16.0):
        student = torch.zeros(64, 4, requires_grad=True)
        distillation_loss(student, teacher, alpha=1.0, temperature=t).backward()  # type: ignore[no-untyped-call]
        assert student.grad is not None
        norms.append(float(student.grad.norm()))
    assert 0.5 < norms[1] / norms[0] < 2.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"temperature": -1.0}, "temperature must be > 0"),
        ({"alpha": 1.5}, r"alpha must be in \[0, 1\]"),
        ({"alpha": 0.5, "labels": None}, "labels must be given unless alpha is 1"),
        ({"labels": torch.tensor([0, 1])}, r"labels must have shape \(batch,\)"),
    ],
)
def test_distillation_loss_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    logits = torch.zeros(3, 4)
    arguments: dict[str, Any] = {"labels": torch.tensor([0, 1, 2]), **kwargs}
    with pytest.raises(ValueError, match=message):
        distillation_loss(logits, logits, **arguments)


def test_distillation_loss_rejects_mismatched_logits() -> None:
    with pytest.raises(ValueError, match="student_logits and teacher_logits must both be"):
        distillation_loss(torch.zeros(3, 4), torch.zeros(3, 5), alpha=1.0)
