"""Lesson 09: model compression. Runs top to bottom; the page includes its sections."""

# --8<-- [start:baseline]
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from transformers import AutoModel, AutoTokenizer

from ptm_snippets import count_parameters
from ptm_snippets.compression import (
    TorchEncoder,
    mean_cosine,
    model_size_bytes,
    neighbour_agreement,
)
from ptm_snippets.tickets import LABELS, load_tickets

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
tokenizer = AutoTokenizer.from_pretrained(MINILM)
model = AutoModel.from_pretrained(MINILM).eval()
scratch = tempfile.TemporaryDirectory(prefix="lesson09-")  # removed when the session ends
workdir = Path(scratch.name)

train = load_tickets("train")[:400]
test = load_tickets("test")[::4]  # 110 messages, familiar and novel wording
train_texts, test_texts = [t["text"] for t in train], [t["text"] for t in test]
train_labels = [LABELS.index(t["label"]) for t in train]
test_labels = torch.tensor([LABELS.index(t["label"]) for t in test])

encoder = TorchEncoder(model, tokenizer, max_length=48)  # mean-pooled sentence vectors
train_vectors = encoder.encode(train_texts)
reference = encoder.encode(test_texts)  # what every compressed variant is compared with
head = LogisticRegression(C=10.0, max_iter=3000)
head.fit(F.normalize(train_vectors, dim=-1).numpy(), train_labels)  # trained once, on fp32

results = {}


def report(name: str, size_bytes: int, vectors: torch.Tensor) -> str:
    """One table row: size on disk, closeness to the fp32 vectors, the fp32 head's accuracy."""
    predicted = torch.as_tensor(head.predict(F.normalize(vectors, dim=-1).numpy()))
    results[name] = {
        "mb": size_bytes / 1e6,
        "cosine": mean_cosine(reference, vectors),
        "neighbours": neighbour_agreement(reference, vectors),
        "accuracy": float((predicted == test_labels).float().mean()),
    }
    row = results[name]
    return f"{name:14} {row['mb']:7.1f} {row['cosine']:9.4f} {row['neighbours']:11.3f} {row['accuracy']:9.3f}"


print(f"{count_parameters(model):,} parameters, {len(train)} training and {len(test)} test messages")
#> 22,713,216 parameters, 400 training and 110 test messages
print(f"{'variant':14} {'MB':>7} {'cosine':>9} {'same top-1':>11} {'accuracy':>9}")
#> variant             MB    cosine  same top-1  accuracy
print(report("fp32", model_size_bytes(model), reference))
#> fp32              90.9    1.0000       1.000     0.964
# --8<-- [end:baseline]

# --8<-- [start:half_precision]
bf16 = AutoModel.from_pretrained(MINILM, dtype=torch.bfloat16).eval()
print(next(bf16.parameters()).dtype, f"{count_parameters(bf16):,} parameters")
#> torch.bfloat16 22,713,216 parameters
print(report("bf16", model_size_bytes(bf16), TorchEncoder(bf16, tokenizer, max_length=48).encode(test_texts)))
#> bf16              45.4    1.0000       1.000     0.964

fp16 = AutoModel.from_pretrained(MINILM, dtype=torch.float16).eval()
few = test_texts[:16]  # float16 matrix products are slow on most CPUs: a few texts suffice here
fp16_vectors = TorchEncoder(fp16, tokenizer, max_length=48).encode(few)
print(f"fp16 on {len(few)} texts: {model_size_bytes(fp16) / 1e6:.1f} MB, cosine to fp32 {mean_cosine(reference[:16], fp16_vectors):.5f}")
#> fp16 on 16 texts: 45.4 MB, cosine to fp32 1.00000

print(f"{'dtype':9} {'bits':>4} {'largest':>10} {'step after 1.0':>15}")
#> dtype     bits    largest  step after 1.0
for dtype in (torch.float32, torch.bfloat16, torch.float16):
    info = torch.finfo(dtype)
    print(f"{str(dtype)[6:]:9} {info.bits:4} {info.max:10.3g} {info.eps:15.3g}")
    #> float32     32    3.4e+38        1.19e-07
    #> bfloat16    16   3.39e+38         0.00781
    #> float16     16   6.55e+04        0.000977
big = torch.tensor([70_000.0, 1.0 + 1e-3])
print("float16:", big.to(torch.float16).tolist(), " bfloat16:", big.to(torch.bfloat16).tolist())
#> float16: [inf, 1.0009765625]  bfloat16: [70144.0, 1.0]
# --8<-- [end:half_precision]

# --8<-- [start:onnx_export]
from ptm_snippets.compression import OnnxEncoder, export_onnx

onnx_path = export_onnx(model, tokenizer, workdir / "minilm.onnx")
onnx_encoder = OnnxEncoder(onnx_path, tokenizer, max_length=48)
for node in onnx_encoder.session.get_inputs() + onnx_encoder.session.get_outputs():
    print(f"{node.name:18} {node.type:14} {node.shape}")
    #> input_ids          tensor(int64)  ['batch', 'sequence']
    #> attention_mask     tensor(int64)  ['batch', 'sequence']
    #> last_hidden_state  tensor(float)  ['batch', 'sequence', 384]
onnx_vectors = onnx_encoder.encode(test_texts)
print("largest difference from PyTorch under 1e-4:", bool((onnx_vectors - reference).abs().max() < 1e-4))
#> largest difference from PyTorch under 1e-4: True
print(report("onnx fp32", model_size_bytes(onnx_path), onnx_vectors))
#> onnx fp32         91.0    1.0000       1.000     0.964
# --8<-- [end:onnx_export]

# --8<-- [start:onnx_int8]
from collections import Counter

import onnx

from ptm_snippets.compression import quantize_onnx_int8

int8_path = quantize_onnx_int8(onnx_path, workdir / "minilm-int8.onnx")
graph = onnx.load(int8_path).graph
stored = Counter()
for tensor in graph.initializer:
    array = onnx.numpy_helper.to_array(tensor)
    stored[str(array.dtype)] += array.nbytes
print({dtype: f"{size / 1e6:.1f} MB" for dtype, size in stored.most_common()})
#> {'uint8': '11.9 MB', 'int8': '10.6 MB', 'float32': '0.2 MB', 'int64': '0.0 MB', 'bool': '0.0 MB'}
operators = Counter(node.op_type for node in graph.node)
print({op: operators[op] for op in ("DynamicQuantizeLinear", "MatMulInteger", "MatMul", "Gather")})
#> {'DynamicQuantizeLinear': 24, 'MatMulInteger': 36, 'MatMul': 12, 'Gather': 3}
print(report("onnx int8", model_size_bytes(int8_path), OnnxEncoder(int8_path, tokenizer, max_length=48).encode(test_texts)))
#> onnx int8         23.4    0.9928       0.927     0.955
# --8<-- [end:onnx_int8]

# --8<-- [start:pruning]
import copy

from ptm_snippets.compression import prune_global, sparsity

for amount in (0.3, 0.5, 0.7, 0.9):
    pruned = prune_global(copy.deepcopy(model), amount)  # global L1 over the linear layers
    print(report(f"pruned {amount:.0%}", model_size_bytes(pruned), TorchEncoder(pruned, tokenizer, max_length=48).encode(test_texts)))
    #> pruned 30%        90.9    0.9359       0.791     0.955
    #> pruned 50%        90.9    0.7474       0.609     0.927
    #> pruned 70%        90.9    0.4083       0.400     0.627
    #> pruned 90%        90.9    0.2093       0.264     0.491
zeros = sum(int((p == 0).sum()) for p in pruned.parameters())
print(f"90% model: {sparsity(pruned):.3f} of the linear weights and {zeros / count_parameters(pruned):.3f} of all parameters are zero")
#> 90% model: 0.900 of the linear weights and 0.421 of all parameters are zero

masked = prune_global(copy.deepcopy(model), 0.5, permanent=False)  # masks not folded in
masked_bytes = sum(t.numel() * t.element_size() for t in masked.state_dict().values())
print(f"before prune.remove: {masked_bytes / 1e6:.1f} MB of tensors, keys like {[k for k in masked.state_dict() if 'layer.0.attention.self.query' in k]}")
#> before prune.remove: 133.3 MB of tensors, keys like ['encoder.layer.0.attention.self.query.bias', 'encoder.layer.0.attention.self.query.weight_orig', 'encoder.layer.0.attention.self.query.weight_mask']
# --8<-- [end:pruning]

# --8<-- [start:sparse_storage]
weight = pruned.encoder.layer[0].intermediate.dense.weight.detach()  # from the 90% model
coo = weight.to_sparse()  # coordinate format: a (row, column) pair and a value per non-zero
coo_bytes = sum(t.numel() * t.element_size() for t in (coo.indices(), coo.values()))
print(f"{tuple(weight.shape)} weight, {float((weight == 0).float().mean()):.3f} zeros")
#> (1536, 384) weight, 0.883 zeros
print(f"dense {weight.numel() * 4 / 1e6:.2f} MB, sparse {coo_bytes / 1e6:.2f} MB ({coo.values().dtype} values, {coo.indices().dtype} indices)")
#> dense 2.36 MB, sparse 1.38 MB (torch.float32 values, torch.int64 indices)
print(f"sparse storage wins only when fewer than {4 / (4 + 2 * 8):.0%} of the weights remain")
#> sparse storage wins only when fewer than 20% of the weights remain


def two_four(weight: torch.Tensor) -> torch.Tensor:
    """Keep the 2 largest of every 4 consecutive weights in a row (NVIDIA's 2:4 pattern)."""
    groups = weight.reshape(-1, 4)
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(1, groups.abs().topk(2, dim=1).indices, True)
    return (groups * keep).reshape(weight.shape)


print([round(w, 2) for w in two_four(torch.tensor([[0.9, -0.1, 0.3, 0.05, 0.2, -0.7, 0.0, 0.4]]))[0].tolist()])
#> [0.9, -0.0, 0.3, 0.0, 0.0, -0.7, 0.0, 0.4]
structured = copy.deepcopy(model)
with torch.no_grad():
    for name, module in structured.named_modules():
        if isinstance(module, torch.nn.Linear) and "pooler" not in name:
            module.weight.copy_(two_four(module.weight))
print(report("2:4 (50%)", model_size_bytes(structured), TorchEncoder(structured, tokenizer, max_length=48).encode(test_texts)))
#> 2:4 (50%)         90.9    0.6426       0.491     0.855
# --8<-- [end:sparse_storage]

# --8<-- [start:measured_tradeoffs]
from ptm_snippets.experiments import load_results

measured = load_results("compression")  # docs/assets/experiments/, written by `make figures`
print(f"{'variant':18} {'MB':>6} {'batch ms':>9} {'1 text ms':>10} {'cosine':>7} {'accuracy [95% interval]':>24}")
#> variant                MB  batch ms  1 text ms  cosine  accuracy [95% interval]
for row in (r for r in measured["rows"] if r["kind"] == "variant"):
    print(
        f"{row['method']:18} {row['size_mb']:6.1f} {row['latency_batch_ms']:9.1f} "
        f"{row['latency_single_ms']:10.1f} {row['cosine']:7.3f} "
        f"{row['accuracy']:9.3f} [{row['accuracy_low']:.3f}, {row['accuracy_high']:.3f}]"
    )
    #> fp32                 90.9      65.5       11.3   1.000     0.959 [0.939, 0.975]
    #> bf16                 45.4      36.9        8.6   1.000     0.959 [0.939, 0.975]
    #> fp16                 45.4     279.9       19.5   1.000     0.959 [0.939, 0.975]
    #> onnx_fp32            91.0      54.9        5.5   1.000     0.959 [0.939, 0.975]
    #> onnx_int8            23.4      24.6        3.0   0.993     0.961 [0.943, 0.977]
    #> pruned_30            90.9      64.0       11.3   0.935     0.952 [0.932, 0.968]
    #> pruned_50            90.9      65.7       11.6   0.749     0.934 [0.909, 0.955]
    #> pruned_70            90.9      65.8       11.3   0.411     0.691 [0.645, 0.732]
    #> pruned_90            90.9      65.4       11.5   0.211     0.477 [0.432, 0.525]
    #> student_embedding     2.6       5.8        1.7   0.589     0.725 [0.682, 0.764]
stamp = measured["stamp"]
print(f"medians of {stamp['config']['latency_repeats']} interleaved runs, {stamp['torch_threads']} thread, on {stamp['cpu_model']}")
#> medians of 30 interleaved runs, 1 thread, on AMD EPYC
# --8<-- [end:measured_tradeoffs]

# --8<-- [start:measured_language_model]
language_model = [r for r in measured["rows"] if r["kind"] == "causal_lm"]
print(f"{language_model[0]['model']}: time to score {language_model[0]['latency_tokens']} tokens, perplexity on {measured['stamp']['config']['lm_texts']} test messages")
#> HuggingFaceTB/SmolLM2-135M-Instruct: time to score 32 tokens, perplexity on 40 test messages
print(f"{'variant':10} {'MB':>6} {'ms':>7} {'perplexity':>11} {'same top-1 token':>17}")
#> variant        MB      ms  perplexity  same top-1 token
for row in language_model:
    print(f"{row['method']:10} {row['size_mb']:6.0f} {row['latency_ms']:7.1f} {row['perplexity']:11.1f} {row['top1_agreement']:17.3f}")
    #> fp32          538   211.0       151.5             1.000
    #> bf16          269   122.9       152.3             0.969
    #> onnx_fp32     543   116.0       151.5             1.000
    #> onnx_int8     140    82.6       252.2             0.498
# --8<-- [end:measured_language_model]

# --8<-- [start:distillation_teacher]
labelled = [i for k in range(len(LABELS)) for i in [j for j, y in enumerate(train_labels) if y == k][:10]]
teacher = LogisticRegression(C=10.0, max_iter=3000)
teacher.fit(F.normalize(train_vectors[labelled], dim=-1).numpy(), [train_labels[i] for i in labelled])
teacher_logits = torch.as_tensor(teacher.decision_function(F.normalize(train_vectors, dim=-1).numpy()), dtype=torch.float32)
teacher_test = torch.as_tensor(teacher.predict(F.normalize(reference, dim=-1).numpy()))
print(f"teacher: MiniLM + a head fitted on {len(labelled)} labelled messages, test accuracy {float((teacher_test == test_labels).float().mean()):.3f}")
#> teacher: MiniLM + a head fitted on 40 labelled messages, test accuracy 0.945

example = 3
print(train_texts[example], "->", LABELS[train_labels[example]])
#> I reinstalled the app twice and it still crashes on start on iOS 17. Thx -> technical
for temperature in (1.0, 2.0, 4.0):
    probabilities = F.softmax(teacher_logits[example] / temperature, dim=-1)
    print(f"T={temperature:.0f}:", {label: round(float(p), 3) for label, p in zip(LABELS, probabilities, strict=True)})
    #> T=1: {'billing': 0.032, 'delivery': 0.012, 'account': 0.041, 'technical': 0.915}
    #> T=2: {'billing': 0.123, 'delivery': 0.076, 'account': 0.14, 'technical': 0.661}
    #> T=4: {'billing': 0.193, 'delivery': 0.152, 'account': 0.207, 'technical': 0.448}
# --8<-- [end:distillation_teacher]

# --8<-- [start:distillation_train]
from transformers import BertConfig, BertModel

from ptm_snippets import mean_pool
from ptm_snippets.compression import distillation_loss
from ptm_snippets.encoders import restrict_vocabulary
from ptm_snippets.finetuning import pad_batch

student_tokenizer = restrict_vocabulary(tokenizer, train_texts)  # the student's own, smaller vocabulary
student_ids = student_tokenizer(train_texts, truncation=True, max_length=48)["input_ids"]
test_ids = pad_batch([{"input_ids": ids} for ids in student_tokenizer(test_texts, truncation=True, max_length=48)["input_ids"]])


class Student(torch.nn.Module):
    """Two layers of width 128 from random initialisation, mean pooling, a linear head."""

    def __init__(self) -> None:
        super().__init__()
        config = BertConfig(vocab_size=len(student_tokenizer), hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=512, max_position_embeddings=128)
        self.encoder = BertModel(config, add_pooling_layer=False)
        self.head = torch.nn.Linear(128, len(LABELS))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(mean_pool(states, attention_mask))


def train_student(pool: list[int], soft: bool, steps: int = 60) -> Student:
    """Same seed, steps and batch size for both arms; only the targets and the texts differ."""
    torch.manual_seed(0)
    student = Student()
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    hard = torch.tensor(train_labels)
    for _ in range(steps):
        rows = [pool[i] for i in torch.randint(len(pool), (32,), generator=generator)]
        batch = pad_batch([{"input_ids": student_ids[i]} for i in rows])
        logits = student(batch["input_ids"], batch["attention_mask"])
        if soft:  # the teacher's probabilities at T=2 on any text: no labels needed
            loss = distillation_loss(logits, teacher_logits[rows], temperature=2.0, alpha=1.0)
        else:  # the ordinary loss, on the labelled messages only
            loss = F.cross_entropy(logits, hard[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return student.eval()


students = {"labels only": train_student(labelled, soft=False), "soft targets": train_student(list(range(len(train_texts))), soft=True)}
print(f"{'student':13} {'texts':>5} {'MB':>5} {'accuracy':>9} {'agrees with teacher':>20}")
#> student       texts    MB  accuracy  agrees with teacher
for (name, student), texts in zip(students.items(), (len(labelled), len(train_texts)), strict=True):
    with torch.no_grad():
        predicted = student(test_ids["input_ids"], test_ids["attention_mask"]).argmax(-1)
    accuracy = float((predicted == test_labels).float().mean())
    agreement = float((predicted == teacher_test).float().mean())
    results[name] = {"accuracy": accuracy, "mb": model_size_bytes(student) / 1e6}
    print(f"{name:13} {texts:5} {model_size_bytes(student) / 1e6:5.1f} {accuracy:9.3f} {agreement:20.3f}")
    #> labels only      40   2.2     0.445                0.473
    #> soft targets    400   2.2     0.618                0.618
print(f"{count_parameters(students['soft targets']):,} parameters, {model_size_bytes(model) / model_size_bytes(students['soft targets']):.0f}x smaller than the teacher")
#> 542,340 parameters, 42x smaller than the teacher
# --8<-- [end:distillation_train]

# --8<-- [start:measured_distillation]
students_measured = measured["summary"]["distillation"]
first = next(iter(students_measured.values()))
print(f"{first['labelled']} labelled messages, {first['seeds']} seeds, {measured['stamp']['config']['student_steps']} steps each; teacher accuracy {first['teacher_accuracy_mean']:.3f}")
#> 100 labelled messages, 3 seeds, 400 steps each; teacher accuracy 0.947
print(f"{'student':15} {'texts':>5} {'accuracy':>15} {'novel half':>11} {'agrees with teacher':>20}")
#> student         texts        accuracy  novel half  agrees with teacher
for method, cell in students_measured.items():
    print(
        f"{method:15} {cell['transfer_texts']:5} {cell['accuracy_mean']:8.3f} ± {cell['accuracy_std']:.3f} "
        f"{cell['accuracy_novel_mean']:11.3f} {cell['teacher_agreement_mean']:20.3f}"
    )
    #> student_labels    100    0.501 ± 0.017       0.329                0.511
    #> student_hard     1300    0.638 ± 0.023       0.426                0.656
    #> student_soft     1300    0.718 ± 0.006       0.550                0.730
embedding_student = measured["summary"]["variants"]["student_embedding"]
print(f"embedding student: {embedding_student['size_mb']:.1f} MB, cosine to fp32 {embedding_student['cosine']:.3f}, accuracy with the fp32 head {embedding_student['accuracy']:.3f}")
#> embedding student: 2.6 MB, cosine to fp32 0.589, accuracy with the fp32 head 0.725
print(f"  familiar wording {embedding_student['accuracy_familiar']:.3f}, novel wording {embedding_student['accuracy_novel']:.3f}")
#>   familiar wording 0.914, novel wording 0.536
# --8<-- [end:measured_distillation]

# --8<-- [start:exercise_per_tensor_solution]
per_tensor_path = quantize_onnx_int8(onnx_path, workdir / "minilm-int8-per-tensor.onnx", per_channel=False)
print(report("int8 per tensor", model_size_bytes(per_tensor_path), OnnxEncoder(per_tensor_path, tokenizer, max_length=48).encode(test_texts)))
#> int8 per tensor    23.3    0.9653       0.782     0.945
print(f"per channel keeps cosine {results['onnx int8']['cosine']:.4f}; per tensor {results['int8 per tensor']['cosine']:.4f}")
#> per channel keeps cosine 0.9928; per tensor 0.9653
# --8<-- [end:exercise_per_tensor_solution]

# --8<-- [start:exercise_layer_sparsity_solution]
half_pruned = prune_global(copy.deepcopy(model), 0.5)
by_kind: dict[str, list[int]] = {}
for name, module in half_pruned.named_modules():
    if isinstance(module, torch.nn.Linear) and "pooler" not in name:
        kind = ".".join(name.split(".")[3:-1]) if "attention" in name else name.split(".")[3]
        zeros_total = by_kind.setdefault(kind, [0, 0])
        zeros_total[0] += int((module.weight == 0).sum())
        zeros_total[1] += module.weight.numel()
for kind, (zero_count, total) in sorted(by_kind.items(), key=lambda item: -item[1][0] / item[1][1]):
    print(f"{kind:22} {zero_count / total:.3f} zero")
    #> output                 0.625 zero
    #> attention.output       0.568 zero
    #> intermediate           0.443 zero
    #> attention.self         0.387 zero
layers = [sparsity(layer) for layer in half_pruned.encoder.layer]
print("by layer:", [round(s, 3) for s in layers])
#> by layer: [0.5, 0.481, 0.482, 0.499, 0.504, 0.534]
# --8<-- [end:exercise_layer_sparsity_solution]
