"""Model compression helpers: sizes on disk, ONNX export and int8, pruning, distillation.

* :func:`model_size_bytes`: how many bytes a model takes on disk (a file, a folder, or a module
  saved as safetensors).
* :func:`export_onnx` and :func:`quantize_onnx_int8`: a BERT-family encoder to one ONNX file with
  dynamic batch and sequence axes, then onnxruntime's dynamic int8 quantization of it.
* :class:`TorchEncoder` and :class:`OnnxEncoder`: mean-pooled sentence embeddings from a PyTorch
  model or from an ONNX file run by onnxruntime, behind the same ``encode(texts)`` interface.
* :func:`prune_global` and :func:`sparsity`: global L1 (magnitude) pruning of the linear layers
  and the share of zero weights it leaves.
* :func:`distillation_loss`: Hinton et al.'s temperature-scaled soft-target loss mixed with the
  ordinary cross-entropy on labels.
* :func:`mean_cosine` and :func:`neighbour_agreement`: how close a compressed model's embeddings
  stay to the original's.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ptm_snippets.pretraining import mean_pool

__all__ = [
    "OnnxEncoder",
    "TorchEncoder",
    "distillation_loss",
    "export_onnx",
    "mean_cosine",
    "model_size_bytes",
    "neighbour_agreement",
    "onnx_session",
    "prune_global",
    "quantize_onnx_int8",
    "sparsity",
]

PathLike = str | os.PathLike[str]


# ----------------------------------------------------------------------------- size on disk


def model_size_bytes(source: PathLike | torch.nn.Module) -> int:
    """Bytes a model takes on disk.

    A file counts its own size and a folder the sizes of every file under it. A module is saved
    with ``safetensors`` (its ``state_dict``: parameters and persistent buffers, each stored in
    its own dtype) to a temporary folder and measured there, so the number is what
    ``save_pretrained`` would write for the weights.

    Args:
        source: A path to a file or a folder, or a ``torch.nn.Module``.

    Returns:
        The size in bytes.

    Raises:
        FileNotFoundError: If ``source`` is a path that does not exist.
        TypeError: If ``source`` is neither a path nor a module.

    Examples:
        >>> layer = torch.nn.Linear(256, 256)  # 65,792 float32 numbers
        >>> model_size_bytes(layer) > 256 * 257 * 4, model_size_bytes(layer.half()) < 256 * 257 * 3
        (True, True)
        >>> model_size_bytes("no/such/model.onnx")
        Traceback (most recent call last):
        ...
        FileNotFoundError: source must be an existing file or folder, got 'no/such/model.onnx'
    """
    if isinstance(source, torch.nn.Module):
        from safetensors.torch import save_model

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.safetensors"
            save_model(source, str(path))
            return path.stat().st_size
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"source must be a path (str or os.PathLike) or a torch.nn.Module, got "
            f"{type(source).__name__}"
        )
    path = Path(source)
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    raise FileNotFoundError(f"source must be an existing file or folder, got {str(source)!r}")


# ----------------------------------------------------------------------------- ONNX


class _OneOutput(torch.nn.Module):
    """Wrap an encoder so that export sees two tensors in and one tensor out."""

    def __init__(self, model: torch.nn.Module, output: str) -> None:
        super().__init__()
        self.model = model
        self.output = output

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        options = {"use_cache": False} if self.output == "logits" else {}
        result = self.model(input_ids=input_ids, attention_mask=attention_mask, **options)
        return getattr(result, self.output)  # type: ignore[no-any-return]


def _onnx_path(value: PathLike, argument: str) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"{argument} must be a path ending in .onnx, got {type(value).__name__}")
    path = Path(value)
    if path.suffix != ".onnx":
        raise ValueError(f"{argument} must be a path ending in .onnx, got {str(value)!r}")
    return path


def export_onnx(
    model: torch.nn.Module,
    tokenizer: Any,
    path: PathLike,
    *,
    sample_texts: Sequence[str] = ("Where is my parcel?", "Refund please."),
    output: str = "last_hidden_state",
) -> Path:
    """Export a transformer to one ONNX file with dynamic batch and sequence axes.

    The graph takes ``input_ids`` and ``attention_mask`` (int64, shape ``(batch, sequence)``)
    and returns one tensor: by default ``last_hidden_state`` of an encoder (float, ``(batch,
    sequence, hidden)``; pool it yourself, or use :class:`OnnxEncoder`), or with
    ``output="logits"`` the next-token logits of a causal language model at every position
    (``(batch, sequence, vocabulary)``, exported without a key-value cache, so it suits
    scoring a text, not fast token-by-token generation). The export traces the model with ``torch.export`` (the
    default ``dynamo`` exporter, which needs the ``onnx`` and ``onnxscript`` packages) on the
    tokenised ``sample_texts``; both axes are named dynamic, so any batch and length up to the
    model's position limit run. The model is exported in eval mode (dropout off) and put back in
    the mode it was in. Weights are stored inside the file (``external_data=False``): fine below
    ONNX's 2 GB limit on one file.

    Args:
        model: An encoder whose output has ``last_hidden_state`` (``AutoModel`` of BERT,
            DistilBERT, MiniLM, ...), or a causal LM (``AutoModelForCausalLM``) with
            ``output="logits"``.
        tokenizer: The model's tokenizer.
        path: Where to write the file; must end in ``.onnx``. Parent folders are created.
        sample_texts: At least two texts of different lengths to trace with (a batch or a
            length of 1 would be fixed in the graph as a constant).
        output: The model output to export: ``"last_hidden_state"`` or ``"logits"``.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        TypeError: If ``model`` is not a ``torch.nn.Module``.
        ValueError: If ``path`` does not end in ``.onnx``, ``sample_texts`` has fewer than two
            texts, or ``output`` is not one of the two names.

    Examples:
        >>> export_onnx(torch.nn.Linear(2, 2), None, "model.bin")
        Traceback (most recent call last):
        ...
        ValueError: path must be a path ending in .onnx, got 'model.bin'
    """
    target = _onnx_path(path, "path")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if output not in ("last_hidden_state", "logits"):
        raise ValueError(f"output must be 'last_hidden_state' or 'logits', got {output!r}")
    if isinstance(sample_texts, str) or len(sample_texts) < 2:
        raise ValueError(
            "sample_texts must hold at least two texts (a batch of one would be fixed in the "
            f"graph), got {sample_texts!r}"
        )
    inputs = tokenizer(list(sample_texts), padding=True, return_tensors="pt")
    if inputs["input_ids"].shape[1] < 2:
        raise ValueError("sample_texts must tokenise to at least two tokens")
    target.parent.mkdir(parents=True, exist_ok=True)
    wrapper = _OneOutput(model, output)
    was_training = model.training
    wrapper.eval()
    # Both inputs share the sequence axis, so naming it twice makes the exporter warn; the
    # mask's sequence axis is a plain dynamic hint and takes the name "sequence" from input_ids.
    dynamic = torch.export.Dim.DYNAMIC
    dynamic_shapes = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: dynamic},
    }
    try:
        program = torch.onnx.export(
            wrapper,
            (inputs["input_ids"], inputs["attention_mask"]),
            None,
            input_names=["input_ids", "attention_mask"],
            output_names=[output],
            dynamic_shapes=dynamic_shapes,
            verbose=False,
        )
    finally:
        model.train(was_training)
    assert program is not None  # the dynamo exporter always returns its ONNXProgram
    program.save(target, external_data=False)
    return target


class _DropLogMessage(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


@contextmanager
def _without_root_log(prefix: str) -> Iterator[None]:
    root = logging.getLogger()
    dropper = _DropLogMessage(prefix)
    root.addFilter(dropper)
    try:
        yield
    finally:
        root.removeFilter(dropper)


def quantize_onnx_int8(
    source: PathLike, destination: PathLike, *, per_channel: bool = True
) -> Path:
    """Quantize an ONNX model's weights to int8 with onnxruntime's dynamic quantization.

    The weights of every ``MatMul`` (and ``Gemm``, ``Attention``, ...) are stored as int8 with
    one scale per output channel (``per_channel=True``) or per tensor. At run time onnxruntime
    quantizes each activation tensor on the fly with a scale from its current range (that is
    the *dynamic* part: no calibration data is needed) and multiplies with integer kernels.
    Embedding tables, LayerNorm and the softmax stay in float32.

    Args:
        source: An ONNX file, for example one written by :func:`export_onnx`.
        destination: Where to write the quantized model; must end in ``.onnx`` and differ from
            ``source``.
        per_channel: One scale per output channel (more accurate) instead of one per tensor.

    Returns:
        ``destination`` as a ``Path``.

    Raises:
        FileNotFoundError: If ``source`` does not exist.
        ValueError: If a path does not end in ``.onnx`` or both name the same file.

    Examples:
        >>> quantize_onnx_int8("missing.onnx", "missing-int8.onnx")
        Traceback (most recent call last):
        ...
        FileNotFoundError: source must be an existing ONNX file, got 'missing.onnx'
    """
    src = _onnx_path(source, "source")
    dst = _onnx_path(destination, "destination")
    if not src.is_file():
        raise FileNotFoundError(f"source must be an existing ONNX file, got {str(source)!r}")
    if dst.resolve() == src.resolve():
        raise ValueError(f"destination must differ from source, got {str(destination)!r} twice")
    from onnxruntime.quantization import (  # type: ignore[import-untyped]
        QuantType,
        quantize_dynamic,
    )

    dst.parent.mkdir(parents=True, exist_ok=True)
    # onnxruntime logs advice to run its shape pre-processing first; on exported transformer
    # graphs that step fails (incomplete symbolic shape inference), so the advice is dropped.
    with _without_root_log("Please consider to run pre-processing"):
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=per_channel)
    return dst


def onnx_session(path: PathLike, *, num_threads: int = 0) -> Any:
    """Open an ONNX file in an onnxruntime CPU session.

    Worker threads sleep instead of spinning while they wait for work (as
    ``OMP_WAIT_POLICY=PASSIVE`` does for PyTorch): a little slower on an idle machine, far
    better on one that other processes share.

    Args:
        path: The ONNX file.
        num_threads: Threads for one operator (onnxruntime's ``intra_op_num_threads``); 0 lets
            onnxruntime use every core.

    Returns:
        An ``onnxruntime.InferenceSession``: ``session.run(None, {name: array, ...})``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If ``path`` does not end in ``.onnx`` or ``num_threads`` is negative.

    Examples:
        >>> onnx_session("missing.onnx")
        Traceback (most recent call last):
        ...
        FileNotFoundError: path must be an existing ONNX file, got 'missing.onnx'
    """
    file = _onnx_path(path, "path")
    if not file.is_file():
        raise FileNotFoundError(f"path must be an existing ONNX file, got {str(path)!r}")
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 0:
        raise ValueError(f"num_threads must be an int >= 0 (0: all cores), got {num_threads!r}")
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])


# ----------------------------------------------------------------------------- encoders


class _Encoder:
    """The shared loop: tokenise in batches (shortest first), run, mean-pool, restore order."""

    def __init__(self, tokenizer: Any, *, max_length: int, batch_size: int) -> None:
        if not callable(tokenizer):
            raise TypeError(
                f"tokenizer must be a callable tokenizer, got {type(tokenizer).__name__}"
            )
        if not isinstance(max_length, int) or not 2 <= max_length <= 512:
            raise ValueError(f"max_length must be an int in [2, 512], got {max_length!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size

    def _last_hidden_state(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Return one mean-pooled float32 vector per text, shape ``(len(texts), hidden)``.

        Raises:
            TypeError: If ``texts`` is a single string or holds something else than strings.
            ValueError: If ``texts`` is empty.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string: wrap it in [ ]")
        if len(texts) == 0:
            raise ValueError("texts must hold at least one text, got none")
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must hold only strings")
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        chunks: list[torch.Tensor] = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                rows = order[start : start + self.batch_size]
                inputs = self.tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                states = self._last_hidden_state(inputs).float()
                chunks.append(mean_pool(states, inputs["attention_mask"]))
        pooled = torch.cat(chunks)
        out = torch.empty_like(pooled)
        out[torch.tensor(order)] = pooled
        return out


class TorchEncoder(_Encoder):
    """Mean-pooled sentence embeddings from a PyTorch encoder (any dtype; float32 out).

    Args:
        model: An encoder whose output has ``last_hidden_state``; it is put in eval mode.
        tokenizer: The model's tokenizer.
        max_length: Longest tokenised text; longer texts are cut.
        batch_size: Texts per forward pass.

    Raises:
        TypeError: If ``model`` is not a module or ``tokenizer`` is not callable.
        ValueError: If ``max_length`` is outside [2, 512] or ``batch_size`` is below 1.

    Examples:
        >>> from transformers import AutoModel, AutoTokenizer
        >>> name = "sentence-transformers/all-MiniLM-L6-v2"
        >>> encoder = TorchEncoder(AutoModel.from_pretrained(name), AutoTokenizer.from_pretrained(name))
        >>> vectors = encoder.encode(["A man is eating food.", "A man is eating a piece of bread."])
        >>> vectors.shape, round(mean_cosine(vectors[:1], vectors[1:]), 3)
        (torch.Size([2, 384]), 0.755)
    """

    def __init__(
        self, model: torch.nn.Module, tokenizer: Any, *, max_length: int = 128, batch_size: int = 32
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        super().__init__(tokenizer, max_length=max_length, batch_size=batch_size)
        self.model = model.eval()

    def _last_hidden_state(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        output = self.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        return output.last_hidden_state  # type: ignore[no-any-return]


class OnnxEncoder(_Encoder):
    """Mean-pooled sentence embeddings from an ONNX encoder run by onnxruntime on the CPU.

    The same interface as :class:`TorchEncoder`, for files written by :func:`export_onnx` or
    :func:`quantize_onnx_int8` (inputs ``input_ids`` and ``attention_mask``, and optionally
    ``token_type_ids``, which is fed zeros; the first output is the last hidden state).

    Args:
        path: The ONNX file.
        tokenizer: The tokenizer of the model the file was exported from.
        max_length: Longest tokenised text; longer texts are cut.
        batch_size: Texts per run.
        num_threads: onnxruntime's intra-op threads; 0 lets onnxruntime choose (all cores).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the graph has an input other than the three above, or a setting is out
            of range.

    Examples:
        >>> OnnxEncoder("missing.onnx", tokenizer=str)
        Traceback (most recent call last):
        ...
        FileNotFoundError: path must be an existing ONNX file, got 'missing.onnx'
    """

    _KNOWN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

    def __init__(
        self,
        path: PathLike,
        tokenizer: Any,
        *,
        max_length: int = 128,
        batch_size: int = 32,
        num_threads: int = 0,
    ) -> None:
        super().__init__(tokenizer, max_length=max_length, batch_size=batch_size)
        self.session = onnx_session(path, num_threads=num_threads)
        self.path = Path(path)
        self.input_names = [i.name for i in self.session.get_inputs()]
        unknown = [n for n in self.input_names if n not in self._KNOWN_INPUTS]
        if unknown or "input_ids" not in self.input_names:
            raise ValueError(
                f"path must hold an encoder with inputs among {list(self._KNOWN_INPUTS)} "
                f"(input_ids required), got {self.input_names}"
            )

    def _last_hidden_state(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        feed = {}
        for name in self.input_names:
            tensor = inputs.get(name)
            if tensor is None:  # token_type_ids: one segment
                tensor = torch.zeros_like(inputs["input_ids"])
            feed[name] = tensor.numpy().astype("int64")
        output = self.session.run(None, feed)[0]
        return torch.from_numpy(output)


# ----------------------------------------------------------------------------- quality


def _same_shape_2d(reference: torch.Tensor, candidate: torch.Tensor) -> None:
    if reference.dim() != 2 or reference.shape != candidate.shape:
        raise ValueError(
            "reference and candidate must be 2-D tensors of the same shape (texts, hidden), "
            f"got {tuple(reference.shape)} and {tuple(candidate.shape)}"
        )


def mean_cosine(reference: torch.Tensor, candidate: torch.Tensor) -> float:
    """The mean cosine similarity between matching rows (1.0: the same directions).

    Examples:
        >>> mean_cosine(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[3.0, 0.0], [1.0, 1.0]]))
        0.853553...
    """
    _same_shape_2d(reference, candidate)
    return float(F.cosine_similarity(reference.float(), candidate.float(), dim=-1).mean())


def neighbour_agreement(reference: torch.Tensor, candidate: torch.Tensor) -> float:
    """Share of rows whose nearest other row (by cosine) is the same in both sets of vectors.

    This is what a semantic search over the same texts would notice: the top hit for each text
    used as a query, before and after compression.

    Raises:
        ValueError: If the shapes differ or there are fewer than two rows.

    Examples:
        >>> a = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
        >>> neighbour_agreement(a, a), neighbour_agreement(a, torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.1, 0.9]]))
        (1.0, 0.333...)
    """
    _same_shape_2d(reference, candidate)
    if reference.shape[0] < 2:
        raise ValueError(f"reference must have at least two rows, got {reference.shape[0]}")

    def nearest(v: torch.Tensor) -> torch.Tensor:
        unit = F.normalize(v.float(), dim=-1)
        return (unit @ unit.T).fill_diagonal_(-2.0).argmax(1)

    return float((nearest(reference) == nearest(candidate)).float().mean())


# ----------------------------------------------------------------------------- pruning


def _prunable(model: torch.nn.Module, exclude: Sequence[str]) -> list[tuple[str, torch.nn.Linear]]:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(exclude, str):
        raise TypeError("exclude must be a sequence of name parts, not one string: wrap it in ( )")
    found = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not any(part in name for part in exclude)
    ]
    if not found:
        raise ValueError(
            f"model must contain at least one torch.nn.Linear outside exclude={list(exclude)}"
        )
    return found


def prune_global(
    model: torch.nn.Module,
    amount: float,
    *,
    exclude: Sequence[str] = ("pooler",),
    permanent: bool = True,
) -> torch.nn.Module:
    """Zero the ``amount`` share of smallest-magnitude linear weights, ranked across all layers.

    Global L1 unstructured pruning (``torch.nn.utils.prune.global_unstructured``) over the
    ``weight`` of every ``torch.nn.Linear`` whose qualified name contains none of ``exclude``
    (by default BERT's pooler, which a mean-pooled sentence encoder never uses). Ranking across
    layers lets layers with many small weights lose more than others. Biases, embeddings and
    LayerNorms are left alone. The model is changed in place; copy it first to keep the
    original.

    With ``permanent=True`` (the default) ``prune.remove`` then folds each mask into its weight,
    leaving ordinary dense tensors with zeros in them. With ``permanent=False`` each layer keeps
    ``weight_orig`` and a ``weight_mask`` buffer (so pruning can continue, or be undone), and
    its ``state_dict`` holds both: twice the size on disk.

    Args:
        model: The model to prune.
        amount: Share of the selected weights to zero, in [0, 1).
        exclude: Substrings of module names to leave out.
        permanent: Fold the masks into the weights.

    Returns:
        ``model`` itself.

    Raises:
        TypeError: If ``model`` is not a module or ``exclude`` is a single string.
        ValueError: If ``amount`` is outside [0, 1) or no linear layer is selected.

    Examples:
        >>> torch.manual_seed(0) and None
        >>> net = torch.nn.Sequential(torch.nn.Linear(10, 10), torch.nn.Linear(10, 10))
        >>> round(sparsity(prune_global(net, 0.5)), 2)
        0.5
        >>> prune_global(net, 1.0)
        Traceback (most recent call last):
        ...
        ValueError: amount must be a number in [0, 1) (the share of weights to zero), got 1.0
    """
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not 0 <= amount < 1:
        raise ValueError(
            f"amount must be a number in [0, 1) (the share of weights to zero), got {amount!r}"
        )
    from torch.nn.utils import prune

    selected = _prunable(model, exclude)
    if amount == 0:
        return model
    prune.global_unstructured(
        [(module, "weight") for _, module in selected],
        pruning_method=prune.L1Unstructured,
        amount=float(amount),
    )
    if permanent:
        for _, module in selected:
            prune.remove(module, "weight")  # type: ignore[no-untyped-call]
    return model


def sparsity(model: torch.nn.Module, *, exclude: Sequence[str] = ("pooler",)) -> float:
    """Share of exact zeros among the weights :func:`prune_global` would select.

    Examples:
        >>> layer = torch.nn.Linear(2, 2)
        >>> with torch.no_grad():
        ...     _ = layer.weight.copy_(torch.tensor([[0.0, 1.0], [2.0, 0.0]]))
        >>> sparsity(layer)
        0.5
    """
    selected = _prunable(model, exclude)
    zeros = sum(int((module.weight == 0).sum()) for _, module in selected)
    total = sum(module.weight.numel() for _, module in selected)
    return zeros / total


# ----------------------------------------------------------------------------- distillation


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    temperature: float = 2.0,
    alpha: float = 0.5,
) -> torch.Tensor:
    """Knowledge-distillation loss (Hinton, Vinyals & Dean, 2015).

    ``alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T))`` plus
    ``(1 - alpha) * cross_entropy(student, labels)``. Dividing both sets of logits by the
    temperature ``T > 1`` softens the teacher's distribution, so the student also learns how
    the teacher ranks the wrong classes; the ``T**2`` keeps the soft term's gradients on the
    same scale as the hard term's whatever ``T`` is. The teacher's logits are detached.

    Args:
        student_logits: ``(batch, classes)`` logits of the model being trained.
        teacher_logits: ``(batch, classes)`` logits of the teacher.
        labels: ``(batch,)`` class ids; may be ``None`` only when ``alpha`` is 1 (soft targets
            alone).
        temperature: The softening temperature ``T``, above 0 (1: the plain softmax).
        alpha: Weight of the soft-target term, in [0, 1] (0: labels alone).

    Returns:
        A scalar tensor.

    Raises:
        ValueError: If the shapes disagree, ``temperature`` is not above 0, ``alpha`` is outside
            [0, 1], or ``labels`` is missing while ``alpha < 1``.

    Examples:
        >>> student = torch.tensor([[2.0, 0.0, -1.0]])
        >>> round(float(distillation_loss(student, student.clone(), alpha=1.0)), 6)
        0.0
        >>> distillation_loss(student, student, temperature=0.0)
        Traceback (most recent call last):
        ...
        ValueError: temperature must be > 0, got 0.0
    """
    if student_logits.dim() != 2 or student_logits.shape != teacher_logits.shape:
        raise ValueError(
            "student_logits and teacher_logits must both be (batch, classes) with the same "
            f"shape, got {tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1] (weight of the soft targets), got {alpha}")
    if labels is None and alpha < 1:
        raise ValueError(
            f"labels must be given unless alpha is 1 (soft targets only), got alpha={alpha}"
        )
    if labels is not None and labels.shape != student_logits.shape[:1]:
        raise ValueError(
            f"labels must have shape (batch,) = ({student_logits.shape[0]},), got "
            f"{tuple(labels.shape)}"
        )
    loss = student_logits.new_zeros(())
    if alpha > 0:
        soft = F.kl_div(
            F.log_softmax(student_logits / temperature, dim=-1),
            F.log_softmax(teacher_logits.detach() / temperature, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
        loss = loss + alpha * temperature**2 * soft
    if alpha < 1:
        assert labels is not None
        loss = loss + (1 - alpha) * F.cross_entropy(student_logits, labels)
    return loss
