"""Size up a model from its configuration alone: parameters, shape, context and memory.

:func:`inspect_config` reads a ``transformers`` configuration (or a hub id) and returns a
:class:`ModelReport`. Nothing is downloaded but the small ``config.json``, and no weights are
allocated: the parameter count comes from building the network on PyTorch's ``meta`` device
(:func:`ptm_snippets.pretraining.parameters_from_config`). The report then turns the count into
bytes:

- weights for inference at a given precision (``BYTES_PER_PARAMETER``: fp32 4 bytes, fp16 and
  bf16 2, int8 1, int4 0.5; quantisation scales and zero points are not counted);
- full fine-tuning with AdamW in fp32: weights, gradients and two moment estimates, 16 bytes per
  parameter, or 4 bytes per frozen plus 16 per trainable one. Activations are *not* included:
  they depend on batch size, sequence length and checkpointing, and come on top;
- the key/value cache a generating model keeps, per layer, head and token.

Examples:
    >>> report = inspect_config("google-bert/bert-base-uncased")
    >>> report.kind, report.layers, report.context_length, f"{report.parameters:,}"
    ('encoder', 12, 512, '109,482,240')
    >>> format_bytes(report.weight_bytes("fp16"))
    '219.0 MB'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ptm_snippets.hub import published_config
from ptm_snippets.pretraining import parameters_from_config

__all__ = [
    "ADAMW_BYTES_PER_TRAINABLE",
    "BYTES_PER_PARAMETER",
    "EXTRA_CONFIGS",
    "KINDS",
    "ModelReport",
    "format_bytes",
    "format_reports",
    "inspect_config",
    "resolve_config",
]

BYTES_PER_PARAMETER: Mapping[str, float] = {
    "fp32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "int8": 1.0,
    "int4": 0.5,
}
"""Bytes one weight takes at each precision (quantisation scales not counted)."""

ADAMW_BYTES_PER_TRAINABLE = 12
"""Training state per trainable parameter on top of its fp32 weight: gradient 4, two moments 8."""

KINDS: tuple[str, ...] = ("encoder", "decoder", "encoder-decoder")
"""The three architecture families a report can name."""

_TORCH_DTYPES: Mapping[torch.dtype, str] = {
    torch.float32: "fp32",
    torch.float16: "fp16",
    torch.bfloat16: "bf16",
    torch.int8: "int8",
}

# Relative position buckets (T5 and its descendants): no position table, so no hard limit.
_RELATIVE_POSITION_TYPES = frozenset({"t5", "mt5", "umt5", "longt5"})
# These reserve the first positions for padding: usable length is max_position - pad_id - 1.
_PADDING_OFFSET_TYPES = frozenset({"roberta", "xlm-roberta", "camembert"})

EXTRA_CONFIGS: Mapping[str, Mapping[str, Any]] = {
    # Fields of the models' published config.json files on the Hugging Face Hub; the mirror
    # serves neither model, so their configurations ship here for offline inspection.
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2": {
        "model_type": "bert",
        "vocab_size": 250037,
        "hidden_size": 384,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
    },
    "meta-llama/Llama-3.1-8B": {
        "model_type": "llama",
        "vocab_size": 128256,
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "max_position_embeddings": 131072,
        "tie_word_embeddings": False,
    },
}
"""Published configuration fields of models the offline mirror does not serve."""


def _check_dtype(dtype: str | torch.dtype) -> str:
    if isinstance(dtype, torch.dtype) and dtype in _TORCH_DTYPES:
        return _TORCH_DTYPES[dtype]
    if isinstance(dtype, str) and dtype in BYTES_PER_PARAMETER:
        return dtype
    valid = ", ".join(repr(k) for k in BYTES_PER_PARAMETER)
    raise ValueError(
        f"dtype must be one of {valid} (or torch.float32/float16/bfloat16/int8), got {dtype!r}"
    )


def _check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def format_bytes(n: float) -> str:
    """Write a byte count in decimal units (1 MB = 10**6 bytes, 1 GB = 10**9).

    Examples:
        >>> format_bytes(90_852_864), format_bytes(16_060_522_496), format_bytes(512)
        ('90.9 MB', '16.1 GB', '512 B')
    """
    if isinstance(n, bool) or not isinstance(n, int | float) or n < 0:
        raise ValueError(f"n must be a non-negative number of bytes, got {n!r}")
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


@dataclass(frozen=True)
class ModelReport:
    """What a configuration implies about a model's size, shape and memory.

    Attributes:
        name: The hub id or the name the report was given.
        model_type: The configuration's ``model_type`` (``"bert"``, ``"llama"``, ...).
        kind: ``"encoder"``, ``"decoder"`` or ``"encoder-decoder"``.
        parameters: Parameters of the network counted as ``counted_as`` (tied weights once).
        embedding_parameters: Parameters of the token-embedding matrix (vocabulary x width);
            they cost memory but almost no compute, since a lookup reads one row per token.
        encoder_layers: Transformer blocks that read the input (0 for a decoder).
        decoder_layers: Transformer blocks that generate (0 for an encoder).
        hidden_size: Width of the token vectors.
        heads: Attention heads per layer.
        kv_heads: Key/value heads per layer (fewer than ``heads`` with grouped-query attention).
        head_dim: Width of one head's keys and values.
        context_length: Longest input the position encoding allows, in tokens; ``None`` when
            positions are relative and there is no fixed limit (T5).
        positions: How positions are encoded (``"learned absolute"``, ``"rotary"``, ...).
        vocab_size: Entries in the embedding matrix.
        counted_as: The model class the parameters were counted for.
    """

    name: str
    model_type: str
    kind: str
    parameters: int
    embedding_parameters: int
    encoder_layers: int
    decoder_layers: int
    hidden_size: int
    heads: int
    kv_heads: int
    head_dim: int
    context_length: int | None
    positions: str
    vocab_size: int
    counted_as: str

    @property
    def layers(self) -> int:
        """All transformer blocks, encoder and decoder together."""
        return self.encoder_layers + self.decoder_layers

    @property
    def non_embedding_parameters(self) -> int:
        """Parameters outside the token-embedding matrix: what every token is multiplied by."""
        return self.parameters - self.embedding_parameters

    def weight_bytes(self, dtype: str | torch.dtype = "fp32") -> int:
        """Bytes the weights take at ``dtype``.

        ``dtype`` is ``"fp32"``, ``"fp16"``, ``"bf16"``, ``"int8"``, ``"int4"`` or a torch dtype.

        Raises:
            ValueError: If ``dtype`` is not one of those.

        Examples:
            >>> r = inspect_config("openai-community/gpt2")
            >>> r.weight_bytes("fp32") == 4 * r.parameters, r.weight_bytes(torch.bfloat16)
            (True, 248879616)
        """
        return round(self.parameters * BYTES_PER_PARAMETER[_check_dtype(dtype)])

    def training_bytes(self, trainable: int | None = None) -> int:
        """Bytes for fine-tuning with AdamW in fp32, activations excluded.

        Every weight takes 4 bytes; each *trainable* one adds a gradient (4) and AdamW's two
        moment estimates (8): 16 bytes per parameter when all are trained.

        Args:
            trainable: Parameters that are trained (default: all). Freezing the rest, or
                training small adapters, shrinks the gradients and moments, not the weights.

        Raises:
            ValueError: If ``trainable`` is negative or larger than ``parameters``.

        Examples:
            >>> r = inspect_config("google-bert/bert-base-uncased")
            >>> r.training_bytes() == 16 * r.parameters
            True
            >>> format_bytes(r.training_bytes(trainable=0)), format_bytes(r.training_bytes())
            ('437.9 MB', '1.8 GB')
        """
        if trainable is None:
            trainable = self.parameters
        if (
            isinstance(trainable, bool)
            or not isinstance(trainable, int)
            or not 0 <= trainable <= self.parameters
        ):
            raise ValueError(
                f"trainable must be an int in [0, {self.parameters:,}] (the model's parameters), "
                f"got {trainable!r}"
            )
        return 4 * self.parameters + ADAMW_BYTES_PER_TRAINABLE * trainable

    def kv_cache_bytes(
        self,
        *,
        batch_size: int,
        seq_len: int,
        dtype: str | torch.dtype = "fp32",
        encoder_length: int = 0,
    ) -> int:
        """Bytes of the key/value cache a generating model holds after ``seq_len`` tokens.

        Each decoder layer keeps a key and a value vector per key/value head for every token:
        ``2 * decoder_layers * kv_heads * head_dim * seq_len * batch_size`` numbers. An
        encoder-decoder also keeps its cross-attention keys and values over the encoder's
        ``encoder_length`` tokens.

        Raises:
            ValueError: If the model is an encoder (it generates nothing and keeps no cache),
                or an argument is out of range; the message names it.

        Examples:
            >>> r = inspect_config("openai-community/gpt2")
            >>> format_bytes(r.kv_cache_bytes(batch_size=1, seq_len=1024))
            '75.5 MB'
        """
        if self.kind == "encoder":
            raise ValueError(
                f"{self.name} is an encoder: it generates nothing and keeps no key/value cache"
            )
        _check_positive("batch_size", batch_size)
        _check_positive("seq_len", seq_len)
        if isinstance(encoder_length, bool) or not isinstance(encoder_length, int):
            raise ValueError(f"encoder_length must be an int >= 0, got {encoder_length!r}")
        if encoder_length < 0 or (encoder_length and self.kind != "encoder-decoder"):
            raise ValueError(
                f"encoder_length must be >= 0, and 0 for a {self.kind}, got {encoder_length!r}"
            )
        per_token = 2 * self.decoder_layers * self.kv_heads * self.head_dim
        numbers = per_token * batch_size * (seq_len + encoder_length)
        return round(numbers * BYTES_PER_PARAMETER[_check_dtype(dtype)])

    def format(self, dtypes: Sequence[str] = ("fp32", "bf16", "int8")) -> str:
        """A short text summary: size, shape, context and memory at ``dtypes``.

        Examples:
            >>> print(inspect_config("distilbert/distilbert-base-uncased").format())
            distilbert/distilbert-base-uncased (distilbert, encoder)
              parameters   66,362,880, of which token embeddings 23,440,896 (35 %)
              layers       6, hidden size 768, 12 heads
              context      512 tokens (learned absolute positions)
              vocabulary   30,522
              weights      fp32 265.5 MB | bf16 132.7 MB | int8 66.4 MB
              AdamW        1.1 GB to fine-tune in fp32, plus activations
        """
        for dtype in dtypes:
            _check_dtype(dtype)
        if self.kind == "encoder-decoder":
            layers = f"{self.encoder_layers} encoder + {self.decoder_layers} decoder"
        else:
            layers = str(self.layers)
        heads = f"{self.heads} heads"
        if self.kv_heads != self.heads:
            heads += f" ({self.kv_heads} key/value heads)"
        if self.context_length is None:
            context = f"no fixed limit ({self.positions} positions)"
        else:
            context = f"{self.context_length:,} tokens ({self.positions} positions)"
        share = self.embedding_parameters / self.parameters
        weights = " | ".join(f"{d} {format_bytes(self.weight_bytes(d))}" for d in dtypes)
        lines = [
            f"{self.name} ({self.model_type}, {self.kind})",
            f"  parameters   {self.parameters:,}, of which token embeddings "
            f"{self.embedding_parameters:,} ({share:.0%})".replace("%", " %"),
            f"  layers       {layers}, hidden size {self.hidden_size}, {heads}",
            f"  context      {context}",
            f"  vocabulary   {self.vocab_size:,}",
            f"  weights      {weights}",
            f"  AdamW        {format_bytes(self.training_bytes())} to fine-tune in fp32, "
            "plus activations",
        ]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- reading configs


def resolve_config(config_or_id: Any) -> Any:
    """Return a ``transformers`` configuration for a configuration object or a hub id.

    A hub id is looked up, in order, in the published configurations bundled with this package
    (:func:`ptm_snippets.published_config`; it also covers the ids the test suite serves with
    tiny stand-ins, so their *real* sizes are used), in :data:`EXTRA_CONFIGS`, and finally with
    ``AutoConfig.from_pretrained`` (the cache, or the Hub when online).

    Raises:
        TypeError: If ``config_or_id`` is neither a configuration nor a string.
        ValueError: If the id is empty or no configuration can be found for it.

    Examples:
        >>> resolve_config("google-t5/t5-small").d_model
        512
        >>> resolve_config(42)
        Traceback (most recent call last):
        ...
        TypeError: config_or_id must be a transformers PretrainedConfig or a hub id string, got int
    """
    from transformers import AutoConfig, PretrainedConfig, PreTrainedModel

    if isinstance(config_or_id, PretrainedConfig):
        return config_or_id
    if isinstance(config_or_id, PreTrainedModel):
        raise TypeError(
            "config_or_id must be a configuration or a hub id, got a model: pass model.config"
        )
    if not isinstance(config_or_id, str):
        raise TypeError(
            "config_or_id must be a transformers PretrainedConfig or a hub id string, "
            f"got {type(config_or_id).__name__}"
        )
    if not config_or_id.strip():
        raise ValueError("config_or_id must be a non-empty hub id such as 'org/name', got ''")
    fields: dict[str, Any] | None = None
    try:
        fields = published_config(config_or_id)
    except KeyError:
        if config_or_id in EXTRA_CONFIGS:
            fields = dict(EXTRA_CONFIGS[config_or_id])
    if fields is not None:
        config = AutoConfig.for_model(fields.pop("model_type"), **fields)
        config._name_or_path = config_or_id
        return config
    try:
        return AutoConfig.from_pretrained(config_or_id)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"config_or_id {config_or_id!r}: no bundled configuration and "
            f"AutoConfig.from_pretrained failed ({type(error).__name__}: {error})"
        ) from None


def _kind(config: Any) -> str:
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:  # BERT-likes are in both maps
        return "encoder"
    if config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "decoder"
    architectures = " ".join(getattr(config, "architectures", None) or [])
    return "decoder" if "CausalLM" in architectures else "encoder"


def _positions(config: Any) -> tuple[int | None, str]:
    model_type = config.model_type
    if model_type in _RELATIVE_POSITION_TYPES:
        return None, "relative bucketed"
    limit = getattr(config, "max_position_embeddings", None)
    if limit is None:
        limit = getattr(config, "n_positions", None)
    if limit is not None and model_type in _PADDING_OFFSET_TYPES:
        limit -= (getattr(config, "pad_token_id", None) or 0) + 1
    if getattr(config, "rope_parameters", None) or getattr(config, "rope_theta", None):
        kind = "rotary"
    elif getattr(config, "sinusoidal_pos_embds", False):
        kind = "sinusoidal"
    else:
        kind = str(getattr(config, "position_embedding_type", None) or "absolute")
        kind = "learned absolute" if kind == "absolute" else kind
    return (int(limit) if limit is not None else None), kind


def _default_class(kind: str) -> Any:
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    return {
        "encoder": AutoModel,
        "decoder": AutoModelForCausalLM,  # counts an untied output layer, as generation needs
        "encoder-decoder": AutoModelForSeq2SeqLM,
    }[kind]


def inspect_config(
    config_or_id: Any, *, name: str | None = None, model_class: Any = None
) -> ModelReport:
    """Read a configuration (or a hub id) and report what it implies; no weights are loaded.

    Args:
        config_or_id: A ``transformers`` configuration, or a hub id (see
            :func:`resolve_config` for where ids are looked up).
        name: What to call the model in the report (default: the id or the configuration's
            ``name_or_path``, else its ``model_type``).
        model_class: The ``AutoModel*`` class to count parameters for. Default: ``AutoModel``
            for an encoder (the bare network), ``AutoModelForCausalLM`` for a decoder and
            ``AutoModelForSeq2SeqLM`` for an encoder-decoder, which include the output layer
            generation needs (it shares the embedding matrix when the weights are tied).

    Returns:
        A :class:`ModelReport`.

    Raises:
        TypeError: If ``config_or_id`` is not a configuration or a string.
        ValueError: If the id is unknown or offline and uncached; the message names it.

    Examples:
        >>> t5 = inspect_config("google-t5/t5-small")
        >>> t5.kind, t5.encoder_layers, t5.decoder_layers, t5.context_length
        ('encoder-decoder', 6, 6, None)
        >>> inspect_config("FacebookAI/roberta-base").context_length  # 514 positions, 2 reserved
        512
    """
    config = resolve_config(config_or_id)
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"name must be a non-empty string or None, got {name!r}")
    kind = _kind(config)
    model_class = model_class or _default_class(kind)
    parameters = parameters_from_config(config, model_class)
    hidden = int(config.hidden_size)
    heads = int(config.num_attention_heads)
    layers = int(config.num_hidden_layers)
    if kind == "encoder-decoder":
        encoder_layers = int(getattr(config, "encoder_layers", None) or layers)
        decoder_layers = int(
            getattr(config, "decoder_layers", None)
            or getattr(config, "num_decoder_layers", None)
            or encoder_layers
        )
    elif kind == "decoder":
        encoder_layers, decoder_layers = 0, layers
    else:
        encoder_layers, decoder_layers = layers, 0
    head_dim = getattr(config, "head_dim", None) or getattr(config, "d_kv", None)
    context_length, positions = _positions(config)
    vocab = int(config.vocab_size)
    width = int(getattr(config, "embedding_size", None) or hidden)  # ALBERT factorises it
    default_name = config_or_id if isinstance(config_or_id, str) else None
    return ModelReport(
        name=name or default_name or getattr(config, "name_or_path", "") or config.model_type,
        model_type=config.model_type,
        kind=kind,
        parameters=parameters,
        embedding_parameters=vocab * width,
        encoder_layers=encoder_layers,
        decoder_layers=decoder_layers,
        hidden_size=hidden,
        heads=heads,
        kv_heads=int(getattr(config, "num_key_value_heads", None) or heads),
        head_dim=int(head_dim or hidden // heads),
        context_length=context_length,
        positions=positions,
        vocab_size=vocab,
        counted_as=getattr(model_class, "__name__", str(model_class)),
    )


def format_reports(
    reports: Sequence[ModelReport], dtypes: Sequence[str] = ("fp32", "bf16", "int8")
) -> str:
    """A table of several reports: size, shape, context, weights at ``dtypes`` and AdamW.

    Raises:
        ValueError: If ``reports`` is empty or a ``dtypes`` entry is unknown.
        TypeError: If an entry of ``reports`` is not a :class:`ModelReport`.

    Examples:
        >>> print(format_reports([inspect_config("google-t5/t5-small")], dtypes=("fp32",)))
        model               kind             params  layers  context   vocab      fp32     AdamW
        google-t5/t5-small  encoder-decoder   60.5M     6+6  none     32,128  242.0 MB  968.1 MB
    """
    if not reports:
        raise ValueError("reports must hold at least one ModelReport, got none")
    for report in reports:
        if not isinstance(report, ModelReport):
            raise TypeError(f"reports must hold ModelReport objects, got {type(report).__name__}")
    for dtype in dtypes:
        _check_dtype(dtype)
    rows = [["model", "kind", "params", "layers", "context", "vocab", *dtypes, "AdamW"]]
    for r in reports:
        layers = f"{r.encoder_layers}+{r.decoder_layers}" if r.kind == "encoder-decoder" else ""
        rows.append(
            [
                r.name,
                r.kind,
                f"{r.parameters / 1e6:.1f}M"
                if r.parameters < 1e9
                else f"{r.parameters / 1e9:.2f}B",
                layers or str(r.layers),
                "none" if r.context_length is None else f"{r.context_length:,}",
                f"{r.vocab_size:,}",
                *(format_bytes(r.weight_bytes(d)) for d in dtypes),
                format_bytes(r.training_bytes()),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    left = {0, 1, 4}  # text columns; numbers are right-aligned
    lines = []
    for row in rows:
        cells = [
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
