"""Compression trade-offs of a real sentence encoder: size on disk, CPU latency and quality.

Every variant is made from ``sentence-transformers/all-MiniLM-L6-v2`` in one process:

* ``fp32``: the published weights (the reference);
* ``bf16`` and ``fp16``: the same weights loaded with ``dtype=torch.bfloat16`` / ``float16``;
* ``onnx_fp32``: exported with :func:`ptm_snippets.compression.export_onnx`, run by onnxruntime;
* ``onnx_int8``: that file after :func:`ptm_snippets.compression.quantize_onnx_int8` (dynamic
  int8, one scale per output channel);
* ``pruned_30`` ... ``pruned_90``: global L1 magnitude pruning of the encoder's linear layers
  (:func:`ptm_snippets.compression.prune_global`), masks folded in, saved dense;
* ``student_embedding``: a 2-layer, hidden-128 BERT from random initialisation with a WordPiece
  vocabulary restricted to the training texts, trained to reproduce the teacher's sentence
  embeddings (cosine loss, through a linear map to 384 dimensions), so it is a drop-in
  replacement that the same downstream classifier can read.

Quality is measured on the support-tickets test texts against the fp32 embeddings: the mean
cosine similarity, the nearest-neighbour agreement (the top hit of each text used as a query),
and the accuracy (with its 95 % bootstrap interval) and macro-F1 of one logistic-regression head
trained on fp32 embeddings of the training texts and applied unchanged to every variant's
embeddings, scored by :func:`ptm_snippets.evaluation.evaluate_classifier`. Latency is the median wall time of
``encode`` (tokenising, the forward pass and pooling) on a batch of 8 test texts and on one
text, with all variants interleaved in random order on every repeat, on ``num_threads``
threads for both PyTorch and onnxruntime. Size is the bytes on disk: the safetensors file of a
PyTorch model, or the ONNX file.

A second table compares three students of the same small architecture when only
``labelled`` tickets carry labels: trained on those labels alone (``student_labels``), on the
teacher's hard predictions for every training text (``student_hard``), and on the teacher's
temperature-softened probabilities for every training text (``student_soft``, Hinton et al.,
2015). The teacher is the fp32 encoder with a logistic-regression head fitted on the same
labelled tickets. All three take the same number of steps of the same batch size.

Run it with ``python -m ptm_snippets.experiments compression``.
"""

from __future__ import annotations

import copy
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ptm_snippets.compression import (
    OnnxEncoder,
    TorchEncoder,
    distillation_loss,
    export_onnx,
    mean_cosine,
    model_size_bytes,
    neighbour_agreement,
    onnx_session,
    prune_global,
    quantize_onnx_int8,
    sparsity,
)
from ptm_snippets.experiments.runner import Experiment, Progress, register
from ptm_snippets.finetuning import pad_batch
from ptm_snippets.hub import MINILM, SMOLLM2, model_path, verify_package
from ptm_snippets.pretraining import count_parameters, mean_pool
from ptm_snippets.tickets import LABELS, even_subset, load_tickets

__all__ = [
    "DISTILLATION_ARMS",
    "FAST",
    "FULL",
    "CompressionConfig",
    "Student",
    "plot",
    "run",
    "summarize",
]

DISTILLATION_ARMS: tuple[str, ...] = ("student_labels", "student_hard", "student_soft")
"""The few-labels comparison's arms, in the order the table shows them."""

_HALF = ("bfloat16", "float16")
_TRAIN_SIZE = 1300
_TEST_SIZE = 440


@dataclass(frozen=True)
class CompressionConfig:
    """Settings of the compression experiment.

    Attributes:
        half_dtypes: Half-precision dtypes to load the model in (``bfloat16``, ``float16``).
        onnx: Export to ONNX and quantize to int8 (the slowest step to set up: 10-30 s).
        prune_amounts: Shares of the linear weights to zero, each in (0, 1).
        train_size: Training texts used (class-balanced, file order): the downstream head is
            fitted on their fp32 embeddings and the students learn from them.
        test_size: Test texts to measure quality on (``None``: all 440), taken evenly over
            the familiar/novel splits and the labels.
        max_length: Longest tokenised text.
        latency_batch: Texts in the batched latency measurement.
        latency_repeats: Timed repeats per variant (after ``latency_warmup`` untimed ones).
        latency_warmup: Untimed repeats per variant.
        labelled: Labelled tickets in the few-labels distillation comparison (class-balanced).
        student_steps: Training steps of every student.
        student_batch: Texts per student step.
        student_lr: AdamW learning rate of the students.
        temperature: Softening temperature of ``student_soft``.
        seeds: Seeds of the distillation comparison (labelled sample, initialisation, batch
            order); the embedding student and the latency order use the first.
        num_threads: Threads for PyTorch and onnxruntime; 0 keeps their defaults.
        repo_id: The encoder to compress.
        causal_lm: Also compress a small causal language model (bf16, ONNX fp32 and int8) and
            measure its size, the latency of scoring one text, its perplexity on test texts and
            how often its top next-token prediction matches fp32's. The export takes minutes.
        lm_repo_id: That language model.
        lm_texts: Test texts its perplexity and agreement are measured on.
        lm_tokens: Length of the text whose scoring is timed (batch 1).
    """

    half_dtypes: tuple[str, ...] = _HALF
    onnx: bool = True
    prune_amounts: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9)
    train_size: int = _TRAIN_SIZE
    test_size: int | None = None
    max_length: int = 48
    latency_batch: int = 8
    latency_repeats: int = 30
    latency_warmup: int = 3
    labelled: int = 100
    student_steps: int = 400
    student_batch: int = 32
    student_lr: float = 1e-3
    temperature: float = 2.0
    seeds: tuple[int, ...] = (0, 1, 2)
    num_threads: int = 1
    repo_id: str = MINILM.repo_id
    causal_lm: bool = True
    lm_repo_id: str = SMOLLM2.repo_id
    lm_texts: int = 40
    lm_tokens: int = 32

    def validate(self) -> None:
        """Check every field; raise ``ValueError`` naming the first bad one and its valid range.

        Examples:
            >>> CompressionConfig(prune_amounts=(0.5, 1.0)).validate()
            Traceback (most recent call last):
            ...
            ValueError: prune_amounts must hold distinct shares in (0, 1), got (0.5, 1.0)
        """
        if any(d not in _HALF for d in self.half_dtypes) or len(set(self.half_dtypes)) != len(
            self.half_dtypes
        ):
            raise ValueError(
                f"half_dtypes must be distinct names among {_HALF}, got {self.half_dtypes}"
            )
        if any(not 0 < a < 1 for a in self.prune_amounts) or len(set(self.prune_amounts)) != len(
            self.prune_amounts
        ):
            raise ValueError(
                f"prune_amounts must hold distinct shares in (0, 1), got {self.prune_amounts}"
            )
        if not 2 * len(LABELS) <= self.train_size <= _TRAIN_SIZE:
            raise ValueError(
                f"train_size must be in [{2 * len(LABELS)}, {_TRAIN_SIZE}], got {self.train_size}"
            )
        if self.test_size is not None and not 16 <= self.test_size <= _TEST_SIZE:
            raise ValueError(
                f"test_size must be None (all) or in [16, {_TEST_SIZE}], got {self.test_size}"
            )
        if not 8 <= self.max_length <= 512:
            raise ValueError(f"max_length must be in [8, 512], got {self.max_length}")
        if not 1 <= self.latency_batch <= 16:
            raise ValueError(f"latency_batch must be in [1, 16], got {self.latency_batch}")
        if self.latency_repeats < 1 or self.latency_warmup < 0:
            raise ValueError(
                "latency_repeats must be >= 1 and latency_warmup >= 0, got "
                f"{self.latency_repeats} and {self.latency_warmup}"
            )
        if not len(LABELS) <= self.labelled <= self.train_size:
            raise ValueError(
                f"labelled must be in [{len(LABELS)}, train_size={self.train_size}], got "
                f"{self.labelled}"
            )
        if self.student_steps < 1 or self.student_batch < 1:
            raise ValueError(
                "student_steps and student_batch must be >= 1, got "
                f"{self.student_steps} and {self.student_batch}"
            )
        if not 0 < self.student_lr <= 1:
            raise ValueError(f"student_lr must be in (0, 1], got {self.student_lr}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(
                f"seeds must be distinct non-negative ints, at least one, got {self.seeds}"
            )
        if self.num_threads < 0:
            raise ValueError(
                f"num_threads must be >= 0 (0: the libraries' default), got {self.num_threads}"
            )
        if not self.repo_id:
            raise ValueError("repo_id must name an encoder, got an empty string")
        if self.causal_lm and not self.lm_repo_id:
            raise ValueError("lm_repo_id must name a causal LM when causal_lm is true")
        if not 1 <= self.lm_texts <= _TEST_SIZE:
            raise ValueError(f"lm_texts must be in [1, {_TEST_SIZE}], got {self.lm_texts}")
        if not 4 <= self.lm_tokens <= 256:
            raise ValueError(f"lm_tokens must be in [4, 256], got {self.lm_tokens}")


FULL = CompressionConfig()
"""The published run: every variant, all 440 test texts, three seeds of the students."""

FAST = CompressionConfig(
    half_dtypes=("bfloat16",),
    prune_amounts=(0.3, 0.9),
    train_size=120,
    test_size=32,
    latency_repeats=2,
    latency_warmup=0,
    labelled=40,
    student_steps=20,
    seeds=(0,),
    causal_lm=False,
)
"""The test suite's run: bf16, ONNX fp32 and int8, two sparsities, short student training."""


# ----------------------------------------------------------------------------- data


def _balanced(labels: list[int], size: int, seed: int) -> list[int]:
    """``size`` indices, as evenly over the labels as the size allows, drawn with ``seed``."""
    rng = random.Random(f"labelled-{seed}-{size}")
    picked: list[int] = []
    for k in range(len(LABELS)):
        pool = [i for i, y in enumerate(labels) if y == k]
        picked += rng.sample(pool, size // len(LABELS) + (1 if k < size % len(LABELS) else 0))
    rng.shuffle(picked)
    return picked


# ----------------------------------------------------------------------------- students


class Student(torch.nn.Module):
    """A small BERT encoder with mean pooling, a class head and a map to the teacher's width.

    Args:
        vocab_size: Size of the student's own WordPiece vocabulary.
        teacher_width: Width of the teacher's sentence embeddings (the ``project`` output).
        num_labels: Classes of the ``head``.
        hidden_size: The student's width.
        layers: Transformer layers.

    Examples:
        >>> student = Student(vocab_size=500, teacher_width=384, num_labels=4)
        >>> ids = torch.tensor([[2, 7, 3, 0]])
        >>> student(ids, (ids != 0).long()).shape
        torch.Size([1, 128])
    """

    def __init__(
        self,
        vocab_size: int,
        teacher_width: int,
        num_labels: int,
        *,
        hidden_size: int = 128,
        layers: int = 2,
    ) -> None:
        from transformers import BertConfig, BertModel

        super().__init__()
        config = BertConfig(
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            num_hidden_layers=layers,
            num_attention_heads=max(1, hidden_size // 32),
            intermediate_size=4 * hidden_size,
            max_position_embeddings=128,
        )
        self.encoder = BertModel(config, add_pooling_layer=False)
        self.head = torch.nn.Linear(hidden_size, num_labels)
        self.project = torch.nn.Linear(hidden_size, teacher_width)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The mean-pooled sentence vector, ``(batch, hidden_size)``."""
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return mean_pool(states, attention_mask)


class _ProjectedStudent(torch.nn.Module):
    """Expose a student as an encoder whose ``last_hidden_state`` is in the teacher's space.

    Mean pooling commutes with the linear map, so pooling the projected token states gives the
    projection of the pooled vector: the student then fits :class:`TorchEncoder` unchanged.
    """

    def __init__(self, student: Student) -> None:
        super().__init__()
        self.student = student

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        from transformers.modeling_outputs import BaseModelOutput

        states = self.student.encoder(
            input_ids=input_ids, attention_mask=attention_mask
        ).last_hidden_state
        return BaseModelOutput(last_hidden_state=self.student.project(states))


def _train_student(
    student: Student,
    ids: list[list[int]],
    pool: list[int],
    loss_of: Callable[[Student, torch.Tensor, dict[str, torch.Tensor]], torch.Tensor],
    config: CompressionConfig,
    seed: int,
    progress: Progress,
) -> float:
    """Train in place on batches drawn from ``pool``; return the mean loss of the last 10 steps."""
    optimizer = torch.optim.AdamW(student.parameters(), lr=config.student_lr)
    generator = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    order: list[int] = []
    student.train()
    for _ in range(config.student_steps):
        batch: list[int] = []
        while len(batch) < min(config.student_batch, len(pool)):
            if not order:
                order = [pool[i] for i in torch.randperm(len(pool), generator=generator).tolist()]
            batch.append(order.pop())
        rows = torch.tensor(batch)
        inputs = pad_batch([{"input_ids": ids[i]} for i in batch])
        loss = loss_of(student, rows, inputs)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(loss.item())
        progress.update(1)
    student.eval()
    return statistics.fmean(losses[-10:])


@torch.inference_mode()
def _student_vectors(student: Student, ids: list[list[int]]) -> torch.Tensor:
    out = []
    for start in range(0, len(ids), 64):
        inputs = pad_batch([{"input_ids": x} for x in ids[start : start + 64]])
        out.append(student(inputs["input_ids"], inputs["attention_mask"]))
    return torch.cat(out)


# ----------------------------------------------------------------------------- measuring


class _Head:
    """A logistic-regression head on L2-normalised embeddings (scikit-learn)."""

    def __init__(self, vectors: torch.Tensor, labels: list[int]) -> None:
        from sklearn.linear_model import LogisticRegression

        self.model = LogisticRegression(C=10.0, max_iter=3000)
        self.model.fit(F.normalize(vectors, dim=-1).numpy(), labels)

    def logits(self, vectors: torch.Tensor) -> torch.Tensor:
        scores = self.model.decision_function(F.normalize(vectors, dim=-1).numpy())
        return torch.as_tensor(scores, dtype=torch.float32)

    def predict(self, vectors: torch.Tensor) -> list[int]:
        predicted: list[int] = self.logits(vectors).argmax(-1).tolist()
        return predicted


def _accuracies(predicted: list[int], labels: list[int], splits: list[str]) -> dict[str, float]:
    from ptm_snippets.evaluation import evaluate_classifier

    report = evaluate_classifier(labels, predictions=predicted, labels=LABELS)
    right = [p == y for p, y in zip(predicted, labels, strict=True)]

    def share(keep: str) -> float:
        picked = [r for r, s in zip(right, splits, strict=True) if s == keep]
        return round(sum(picked) / len(picked), 4) if picked else float("nan")

    return {
        "accuracy": round(report.accuracy.estimate, 4),
        "accuracy_low": round(report.accuracy.low, 4),
        "accuracy_high": round(report.accuracy.high, 4),
        "macro_f1": round(report.macro_f1.estimate, 4),
        "accuracy_familiar": share("familiar"),
        "accuracy_novel": share("novel"),
    }


def _time_ms(encode: Callable[[list[str]], torch.Tensor], texts: list[str]) -> float:
    t0 = time.perf_counter()
    encode(texts)
    return (time.perf_counter() - t0) * 1000


# ----------------------------------------------------------------------------- run

LossFn = Callable[[Student, torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]


def _class_loss(targets: torch.Tensor, *, soft: bool, temperature: float) -> LossFn:
    """Cross-entropy on class ids, or the soft-target loss on a teacher's logits (``soft``)."""

    def loss(student: Student, rows: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = student.head(student(inputs["input_ids"], inputs["attention_mask"]))
        if soft:
            return distillation_loss(logits, targets[rows], temperature=temperature, alpha=1.0)
        return F.cross_entropy(logits, targets[rows])

    return loss


def _embedding_loss(targets: torch.Tensor) -> LossFn:
    """One minus the cosine between the projected student vector and the teacher's."""

    def loss(student: Student, rows: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        pooled = student(inputs["input_ids"], inputs["attention_mask"])
        return 1 - F.cosine_similarity(student.project(pooled), targets[rows], dim=-1).mean()

    return loss


@dataclass
class _Data:
    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]
    test_splits: list[str]


def _data(config: CompressionConfig) -> _Data:
    train = load_tickets("train")
    labels = [LABELS.index(r["label"]) for r in train]
    train = [train[i] for i in sorted(_balanced(labels, config.train_size, 0))]
    test = even_subset(load_tickets("test"), config.test_size)
    return _Data(
        train_texts=[r["text"] for r in train],
        train_labels=[LABELS.index(r["label"]) for r in train],
        test_texts=[r["text"] for r in test],
        test_labels=[LABELS.index(r["label"]) for r in test],
        test_splits=[r["split"] for r in test],
    )


def _variants(
    config: CompressionConfig, folder: Path, tokenizer: Any, work: Path, progress: Progress
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Build every compressed variant; return encoders and static facts, by method."""
    from transformers import AutoModel

    encoders: dict[str, Any] = {}
    facts: dict[str, dict[str, Any]] = {}

    def add(method: str, family: str, encoder: Any, size: int, model: Any) -> None:
        encoders[method] = encoder
        is_module = isinstance(model, torch.nn.Module)
        facts[method] = {
            "family": family,
            "size_mb": round(size / 1e6, 2),
            "parameters": count_parameters(model) if is_module else None,
            "nonzero_share": round(1 - sparsity(model), 4) if is_module else None,
        }

    def torch_encoder(model: torch.nn.Module) -> TorchEncoder:
        return TorchEncoder(model, tokenizer, max_length=config.max_length)

    progress.set_postfix_str("fp32")
    fp32 = AutoModel.from_pretrained(folder).eval()
    add("fp32", "baseline", torch_encoder(fp32), model_size_bytes(fp32), fp32)
    for name in config.half_dtypes:
        progress.set_postfix_str(name)
        half = AutoModel.from_pretrained(folder, dtype=getattr(torch, name)).eval()
        method = {"bfloat16": "bf16", "float16": "fp16"}[name]
        add(method, "half precision", torch_encoder(half), model_size_bytes(half), half)
    if config.onnx:
        progress.set_postfix_str("onnx export and int8")
        exported = export_onnx(fp32, tokenizer, work / "minilm.onnx")
        quantized = quantize_onnx_int8(exported, work / "minilm-int8.onnx")
        for method, path in (("onnx_fp32", exported), ("onnx_int8", quantized)):
            encoder = OnnxEncoder(
                path, tokenizer, max_length=config.max_length, num_threads=config.num_threads
            )
            add(method, "onnx runtime", encoder, model_size_bytes(path), None)
    for amount in config.prune_amounts:
        progress.set_postfix_str(f"prune {amount}")
        pruned = prune_global(copy.deepcopy(fp32), amount)
        method = f"pruned_{round(100 * amount)}"
        add(method, "pruning", torch_encoder(pruned), model_size_bytes(pruned), pruned)
    return encoders, facts


def _latency(
    encoders: dict[str, Any], texts: list[str], config: CompressionConfig, progress: Progress
) -> dict[str, dict[str, float]]:
    """Interleaved timing of ``encode`` on a batch and on one text; quartiles by method."""
    batch, single = texts[: config.latency_batch], texts[:1]
    samples: dict[tuple[str, str], list[float]] = {}
    order_rng = random.Random(config.seeds[0])
    methods = list(encoders)
    for repeat in range(config.latency_warmup + config.latency_repeats):
        order_rng.shuffle(methods)
        for method in methods:
            progress.set_postfix_str(f"latency {method}")
            timed = {
                "batch": _time_ms(encoders[method].encode, batch),
                "single": _time_ms(encoders[method].encode, single),
            }
            if repeat >= config.latency_warmup:
                for shape, ms in timed.items():
                    samples.setdefault((method, shape), []).append(ms)
            progress.update(1)
    out: dict[str, dict[str, float]] = {}
    for (method, shape), values in samples.items():
        q1, median, q3 = (
            statistics.quantiles(values, n=4, method="inclusive")
            if len(values) > 1
            else [values[0]] * 3
        )
        cell = out.setdefault(method, {})
        cell[f"latency_{shape}_ms"] = round(median, 3)
        cell[f"latency_{shape}_q1_ms"] = round(q1, 3)
        cell[f"latency_{shape}_q3_ms"] = round(q3, 3)
    return out


def _few_labels(
    config: CompressionConfig,
    data: _Data,
    reference_train: torch.Tensor,
    reference_test: torch.Tensor,
    small: Any,
    progress: Progress,
) -> list[dict[str, Any]]:
    """Train the three students per seed with ``labelled`` labelled tickets; one row each."""
    ids = small(data.train_texts, truncation=True, max_length=config.max_length)["input_ids"]
    test_ids = small(data.test_texts, truncation=True, max_length=config.max_length)["input_ids"]
    every_text = list(range(len(data.train_texts)))
    rows: list[dict[str, Any]] = []
    for seed in config.seeds:
        labelled = _balanced(data.train_labels, config.labelled, seed)
        teacher = _Head(reference_train[labelled], [data.train_labels[i] for i in labelled])
        teacher_logits = teacher.logits(reference_train)
        teacher_test = teacher.predict(reference_test)
        arms: dict[str, tuple[LossFn, list[int]]] = {
            "student_labels": (
                _class_loss(torch.tensor(data.train_labels), soft=False, temperature=1.0),
                labelled,
            ),
            "student_hard": (
                _class_loss(teacher_logits.argmax(-1), soft=False, temperature=1.0),
                every_text,
            ),
            "student_soft": (
                _class_loss(teacher_logits, soft=True, temperature=config.temperature),
                every_text,
            ),
        }
        for method in DISTILLATION_ARMS:
            loss_of, pool = arms[method]
            progress.set_postfix_str(f"{method} seed={seed}")
            torch.manual_seed(seed)
            student = Student(len(small), reference_train.shape[1], len(LABELS))
            final = _train_student(student, ids, pool, loss_of, config, seed, progress)
            with torch.inference_mode():
                predicted = student.head(_student_vectors(student, test_ids)).argmax(-1).tolist()
            agree = sum(p == t for p, t in zip(predicted, teacher_test, strict=True))
            classifier = torch.nn.ModuleList([student.encoder, student.head])
            rows.append(
                {
                    "kind": "distillation",
                    "method": method,
                    "seed": seed,
                    "labelled": config.labelled,
                    "transfer_texts": len(pool),
                    "steps": config.student_steps,
                    **_accuracies(predicted, data.test_labels, data.test_splits),
                    "teacher_agreement": round(agree / len(predicted), 4),
                    "teacher_accuracy": _accuracies(
                        teacher_test, data.test_labels, data.test_splits
                    )["accuracy"],
                    "train_loss_final": round(final, 4),
                    "size_mb": round(model_size_bytes(classifier) / 1e6, 2),
                    "parameters": count_parameters(classifier),
                }
            )
    return rows


def _causal_lm(config: CompressionConfig, work: Path, progress: Progress) -> list[dict[str, Any]]:
    """Size, scoring latency, perplexity and top-1 agreement of a causal LM's variants."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if config.lm_repo_id == SMOLLM2.repo_id:
        verify_package(SMOLLM2, log=lambda _: None)
    folder = model_path(config.lm_repo_id)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    texts = [r["text"] for r in load_tickets("test")[: config.lm_texts]]
    encoded = [tokenizer(t, return_tensors="pt") for t in texts]
    long_text = " ".join(r["text"] for r in load_tickets("test")[:20])
    timed = tokenizer(long_text, return_tensors="pt", truncation=True, max_length=config.lm_tokens)

    progress.set_postfix_str("causal LM: load and export")
    fp32: Any = AutoModelForCausalLM.from_pretrained(folder)
    bf16: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
    fp32.eval()
    bf16.eval()
    exported = export_onnx(
        fp32, tokenizer, work / "lm.onnx", sample_texts=texts[:2], output="logits"
    )
    quantized = quantize_onnx_int8(exported, work / "lm-int8.onnx")
    sessions = {
        m: onnx_session(p, num_threads=config.num_threads)
        for m, p in (("onnx_fp32", exported), ("onnx_int8", quantized))
    }

    def logits(method: str, inputs: Any) -> torch.Tensor:
        if method in sessions:
            feed = {k: inputs[k].numpy() for k in ("input_ids", "attention_mask")}
            return torch.from_numpy(sessions[method].run(None, feed)[0]).float()
        model = fp32 if method == "fp32" else bf16
        out: torch.Tensor = model(**inputs, use_cache=False).logits.float()
        return out

    sizes = {
        "fp32": model_size_bytes(fp32),
        "bf16": model_size_bytes(bf16),
        "onnx_fp32": model_size_bytes(exported),
        "onnx_int8": model_size_bytes(quantized),
    }
    methods = list(sizes)
    rows: list[dict[str, Any]] = []
    with torch.inference_mode():
        reference = [logits("fp32", inputs) for inputs in encoded]
        scores: dict[str, dict[str, float]] = {}
        for method in methods:
            progress.set_postfix_str(f"causal LM {method}")
            nll, count, same = 0.0, 0, 0
            for inputs, ref in zip(encoded, reference, strict=True):
                out = logits(method, inputs)
                target = inputs["input_ids"][0, 1:]
                nll -= float(out[0, :-1].log_softmax(-1).gather(-1, target[:, None]).sum())
                count += len(target)
                same += int((out[0].argmax(-1) == ref[0].argmax(-1)).sum())
            total = sum(len(x["input_ids"][0]) for x in encoded)
            scores[method] = {
                "perplexity": round(float(torch.tensor(nll / count).exp()), 3),
                "top1_agreement": round(same / total, 4),
            }
        samples: dict[str, list[float]] = {m: [] for m in methods}
        order_rng = random.Random(config.seeds[0])
        for repeat in range(config.latency_warmup + config.latency_repeats):
            order_rng.shuffle(methods)
            for method in methods:
                t0 = time.perf_counter()
                logits(method, timed)
                if repeat >= config.latency_warmup:
                    samples[method].append((time.perf_counter() - t0) * 1000)
    for method in sizes:
        rows.append(
            {
                "kind": "causal_lm",
                "model": config.lm_repo_id,
                "method": method,
                "size_mb": round(sizes[method] / 1e6, 2),
                "latency_ms": round(statistics.median(samples[method]), 3),
                "latency_tokens": int(timed["input_ids"].shape[1]),
                **scores[method],
            }
        )
    return rows


def run(config: CompressionConfig, progress: Progress) -> list[dict[str, Any]]:
    """Build every variant, measure it, and train the students; return one row per result.

    Variant rows (``kind == "variant"``) have ``method``, ``family``, ``size_mb``,
    ``parameters`` (``None`` for ONNX files), ``nonzero_share`` (the share of non-zero weights
    in the prunable linear layers; PyTorch models only), ``latency_texts`` (the batch size),
    ``latency_batch_ms`` and ``latency_single_ms`` (medians) with their quartiles
    (``..._q1_ms``, ``..._q3_ms``), ``cosine``, ``neighbour_agreement``, ``accuracy``,
    ``accuracy_familiar`` and ``accuracy_novel``. Distillation rows (``kind ==
    "distillation"``) have ``method``, ``seed``, ``labelled``, ``transfer_texts``, ``steps``,
    the three accuracies, ``teacher_agreement`` (share of test texts where the student predicts
    the teacher's class), ``teacher_accuracy``, ``train_loss_final``, ``size_mb`` and
    ``parameters``. With ``causal_lm``, language-model rows (``kind == "causal_lm"``) have
    ``model``, ``method``, ``size_mb``, ``latency_ms`` (median time to score
    ``latency_tokens`` tokens, batch 1), ``perplexity`` on the first ``lm_texts`` test texts
    and ``top1_agreement`` (share of positions whose most likely next token matches fp32's).

    Raises:
        ValueError: If the configuration is out of range.
        ptm_snippets.hub.MirrorError: If the encoder's weights are not installed.
    """
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ptm_snippets.encoders import restrict_vocabulary

    config.validate()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if config.repo_id == MINILM.repo_id:
        verify_package(MINILM, log=lambda _: None)  # names the package if it is missing
    folder = model_path(config.repo_id)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    data = _data(config)
    seed0 = config.seeds[0]
    n_variants = 2 + len(config.half_dtypes) + 2 * config.onnx + len(config.prune_amounts)
    progress.reset(
        total=n_variants * (config.latency_warmup + config.latency_repeats)
        + config.student_steps * (1 + len(DISTILLATION_ARMS) * len(config.seeds))
    )
    threads_before = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        with tempfile.TemporaryDirectory(prefix="ptm-compression-") as scratch:
            encoders, facts = _variants(config, folder, tokenizer, Path(scratch), progress)
            progress.set_postfix_str("embeddings")
            reference_train = encoders["fp32"].encode(data.train_texts)
            head = _Head(reference_train, data.train_labels)

            # A student that learns the teacher's embedding space, read by the same head.
            small = restrict_vocabulary(tokenizer, data.train_texts)
            ids = small(data.train_texts, truncation=True, max_length=config.max_length)
            torch.manual_seed(seed0)
            student = Student(len(small), reference_train.shape[1], len(LABELS))
            progress.set_postfix_str("embedding student")
            every_text = list(range(len(data.train_texts)))
            loss_of = _embedding_loss(reference_train)
            _train_student(student, ids["input_ids"], every_text, loss_of, config, seed0, progress)
            encoders["student_embedding"] = TorchEncoder(
                _ProjectedStudent(student), small, max_length=config.max_length
            )
            kept = torch.nn.ModuleList([student.encoder, student.project])
            facts["student_embedding"] = {
                "family": "distillation",
                "size_mb": round(model_size_bytes(kept) / 1e6, 2),
                "parameters": count_parameters(kept),
                "nonzero_share": None,
            }

            vectors = {m: encoder.encode(data.test_texts) for m, encoder in encoders.items()}
            with torch.inference_mode():
                timing = _latency(encoders, data.test_texts, config, progress)
            reference = vectors["fp32"]
            rows: list[dict[str, Any]] = []
            for method, encoder in encoders.items():
                rows.append(
                    {
                        "kind": "variant",
                        "method": method,
                        **facts[method],
                        "latency_texts": config.latency_batch,
                        **timing[method],
                        "cosine": round(mean_cosine(reference, vectors[method]), 5),
                        "neighbour_agreement": round(
                            neighbour_agreement(reference, vectors[method]), 4
                        ),
                        **_accuracies(
                            head.predict(vectors[method]), data.test_labels, data.test_splits
                        ),
                    }
                )
                del encoder
            rows += _few_labels(config, data, reference_train, reference, small, progress)
            if config.causal_lm:
                rows += _causal_lm(config, Path(scratch), progress)
    finally:
        torch.set_num_threads(threads_before)
    return rows


# ----------------------------------------------------------------------------- summary


def summarize(
    rows: list[dict[str, Any]], config: CompressionConfig | None = None
) -> dict[str, Any]:
    """The variant table by method, the students' means over seeds, and the headline ratios.

    ``variants[method]`` repeats the row's measurements; ``ratios[method]`` gives size, batch
    latency and single-text latency as multiples of fp32's (below 1: smaller or faster);
    ``distillation[method]`` holds the mean and sample standard deviation of each accuracy
    over seeds; ``causal_lm[method]`` repeats the language-model rows.

    Examples:
        >>> rows = [{"kind": "variant", "method": m, "size_mb": s, "latency_batch_ms": b,
        ...          "latency_single_ms": b / 4, "cosine": c, "accuracy": 0.9}
        ...         for m, s, b, c in [("fp32", 90.0, 20.0, 1.0), ("onnx_int8", 23.0, 10.0, 0.99)]]
        >>> summarize(rows)["ratios"]["onnx_int8"]
        {'size': 0.256, 'latency_batch': 0.5, 'latency_single': 0.5}
    """
    variants = {
        r["method"]: {k: v for k, v in r.items() if k not in ("kind", "method")}
        for r in rows
        if r["kind"] == "variant"
    }
    ratios: dict[str, dict[str, float]] = {}
    base = variants.get("fp32")
    if base:
        for method, measured in variants.items():
            ratios[method] = {
                "size": round(measured["size_mb"] / base["size_mb"], 3),
                "latency_batch": round(measured["latency_batch_ms"] / base["latency_batch_ms"], 3),
                "latency_single": round(
                    measured["latency_single_ms"] / base["latency_single_ms"], 3
                ),
            }
    distillation: dict[str, dict[str, Any]] = {}
    for method in DISTILLATION_ARMS:
        group = [r for r in rows if r["kind"] == "distillation" and r["method"] == method]
        if not group:
            continue
        cell: dict[str, Any] = {
            "seeds": len(group),
            "transfer_texts": group[0]["transfer_texts"],
            "labelled": group[0]["labelled"],
        }
        for metric in (
            "accuracy",
            "macro_f1",
            "accuracy_familiar",
            "accuracy_novel",
            "teacher_agreement",
            "teacher_accuracy",
        ):
            values = [float(r[metric]) for r in group]
            cell[f"{metric}_mean"] = round(statistics.fmean(values), 4)
            cell[f"{metric}_std"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
        cell["size_mb"] = group[0]["size_mb"]
        cell["parameters"] = group[0]["parameters"]
        distillation[method] = cell
    return {
        "latency": "median milliseconds of encode() (tokenise, forward, pool); batch = latency_batch test texts",
        "std": "sample standard deviation over seeds (0 with one seed)",
        "variants": variants,
        "ratios": ratios,
        "distillation": distillation,
        "causal_lm": {
            r["method"]: {k: v for k, v in r.items() if k not in ("kind", "method")}
            for r in rows
            if r["kind"] == "causal_lm"
        },
    }


# ----------------------------------------------------------------------------- figure

_COLORS = {
    "baseline": "tab:gray",
    "half precision": "tab:blue",
    "onnx runtime": "tab:green",
    "pruning": "tab:red",
    "distillation": "tab:purple",
}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Four panels: size, batch latency, quality per variant; the few-labels students."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = [r for r in rows if r["kind"] == "variant"]
    names = [r["method"] for r in variants]
    colors = [_COLORS.get(r["family"], "tab:orange") for r in variants]
    y = list(range(len(variants)))
    with plt.rc_context({"svg.hashsalt": "ptm-snippets", "svg.fonttype": "none"}):
        fig, axes = plt.subplots(2, 2, figsize=(11, 8))
        ax = axes[0][0]
        ax.barh(y, [r["size_mb"] for r in variants], color=colors)
        ax.set_title("Size on disk (MB)")
        ax = axes[0][1]
        medians = [r["latency_batch_ms"] for r in variants]
        low = [m - r["latency_batch_q1_ms"] for m, r in zip(medians, variants, strict=True)]
        high = [r["latency_batch_q3_ms"] - m for m, r in zip(medians, variants, strict=True)]
        ax.barh(y, medians, xerr=[low, high], color=colors, capsize=2)
        ax.set_title(
            f"CPU latency, batch of {variants[0]['latency_texts']} texts\n(median ms, quartiles)"
        )
        ax = axes[1][0]
        ax.barh(
            [i + 0.2 for i in y],
            [r["accuracy"] for r in variants],
            height=0.4,
            color=colors,
            label="accuracy (same head)",
        )
        ax.barh(
            [i - 0.2 for i in y],
            [r["cosine"] for r in variants],
            height=0.4,
            color=colors,
            alpha=0.45,
            hatch="//",
            label="cosine to fp32",
        )
        ax.set_xlim(0, 1.02)
        ax.set_title("Quality: accuracy (solid) and cosine to fp32 (hatched)")
        for ax in (axes[0][0], axes[0][1], axes[1][0]):
            ax.set_yticks(y, names)
            ax.invert_yaxis()
            ax.grid(alpha=0.3, axis="x")

        ax = axes[1][1]
        students = [r for r in rows if r["kind"] == "distillation"]
        arms = [m for m in DISTILLATION_ARMS if any(r["method"] == m for r in students)]
        for i, method in enumerate(arms):
            group = [r for r in students if r["method"] == method]
            for j, metric in enumerate(("accuracy", "accuracy_novel")):
                values = [r[metric] for r in group]
                mean = statistics.fmean(values)
                std = statistics.stdev(values) if len(values) > 1 else 0.0
                ax.bar(
                    i + (j - 0.5) * 0.38,
                    mean,
                    width=0.36,
                    yerr=std,
                    capsize=3,
                    color="tab:purple",
                    alpha=1.0 if j == 0 else 0.5,
                    label=("all test texts" if j == 0 else "novel half") if i == 0 else None,
                )
        if students:
            teacher = statistics.fmean(r["teacher_accuracy"] for r in students)
            ax.axhline(teacher, color="tab:gray", linestyle="--", label="teacher (MiniLM + head)")
            seeds = len({r["seed"] for r in students})
            ax.set_title(
                f"Students with {students[0]['labelled']} labelled tickets\n"
                f"(mean ± std over {seeds} seeds)"
            )
        ax.axhline(1 / len(LABELS), color="grey", linestyle=":", linewidth=1, label="chance")
        texts = {m: max(r["transfer_texts"] for r in students if r["method"] == m) for m in arms}
        arm_names = {
            "student_labels": "labels only",
            "student_hard": "teacher's hard\nlabels",
            "student_soft": "teacher's soft\ntargets",
        }
        ax.set_xticks(range(len(arms)), [f"{arm_names[m]}\n({texts[m]:,} texts)" for m in arms])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3, axis="y")
        fig.tight_layout()
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)


EXPERIMENT = register(
    Experiment(
        name="compression",
        run=run,
        plot=plot,
        full=FULL,
        fast=FAST,
        summarize=summarize,
        description=(
            "all-MiniLM-L6-v2 compressed by half precision, ONNX int8, magnitude pruning and "
            "distillation: size on disk, CPU latency, embedding cosine and accuracy"
        ),
    )
)
