"""Pre-training objectives and model measurements the lessons build on.

* :func:`mask_tokens`: BERT's masked-language-model corruption with its 80/10/10 rule.
* :func:`span_corruption`: T5's span corruption with sentinel tokens.
* :func:`mean_pool`: sentence embeddings from token states, ignoring padding.
* :func:`count_parameters` and :func:`parameters_from_config`: model sizes, the latter on
  PyTorch's meta device so even an 11-billion-parameter configuration costs no memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "IGNORE_INDEX",
    "MaskedBatch",
    "SpanCorruption",
    "count_parameters",
    "mask_tokens",
    "mean_pool",
    "parameters_from_config",
    "span_corruption",
]

IGNORE_INDEX = -100
"""Label value that PyTorch's cross-entropy (and every transformers head) skips."""


@dataclass(frozen=True)
class MaskedBatch:
    """The result of :func:`mask_tokens`.

    Attributes:
        input_ids: The corrupted ids the model reads.
        labels: The original id at each selected position, ``IGNORE_INDEX`` elsewhere.
        selected: True where a position was chosen for prediction.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    selected: torch.Tensor


def mask_tokens(
    input_ids: torch.Tensor,
    *,
    mask_token_id: int,
    vocab_size: int,
    special_ids: Iterable[int] = (),
    mlm_probability: float = 0.15,
    generator: torch.Generator | None = None,
) -> MaskedBatch:
    """Corrupt token ids for masked language modelling, as BERT does.

    Each ordinary token is selected with probability ``mlm_probability``. Of the selected
    tokens, 80 % become ``[MASK]``, 10 % become a random token and 10 % stay unchanged; the
    model must predict the original token at every selected position. Special tokens
    (``[CLS]``, ``[SEP]``, padding) are never selected.

    Args:
        input_ids: Integer tensor of token ids, any shape.
        mask_token_id: Id of the ``[MASK]`` token.
        vocab_size: Number of ids random replacements are drawn from.
        special_ids: Ids that must never be selected.
        mlm_probability: Chance that an ordinary token is selected, in ``(0, 1]``.
        generator: Source of randomness, for reproducible masks.

    Returns:
        The corrupted ids, the labels, and the selection mask.

    Raises:
        ValueError: If ``mlm_probability`` is outside ``(0, 1]``, ``vocab_size`` is not
            positive, or ``input_ids`` is not an integer tensor.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> ids = torch.tensor([[101, 7592, 2088, 102]])
        >>> batch = mask_tokens(ids, mask_token_id=103, vocab_size=30522,
        ...                     special_ids=[101, 102], mlm_probability=1.0, generator=g)
        >>> batch.labels.tolist()
        [[-100, 7592, 2088, -100]]
    """
    if not isinstance(input_ids, torch.Tensor) or input_ids.is_floating_point():
        raise ValueError("input_ids must be an integer torch.Tensor of token ids")
    if not 0.0 < mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability must be in (0, 1], got {mlm_probability}")
    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    special = torch.zeros_like(input_ids, dtype=torch.bool)
    for token_id in special_ids:
        special |= input_ids == token_id

    def draw(p: float) -> torch.Tensor:
        return torch.rand(input_ids.shape, generator=generator) < p

    selected = draw(mlm_probability) & ~special
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    to_mask = selected & draw(0.8)
    # Half of the remaining 20 % get a random token; the rest keep the original.
    to_random = selected & ~to_mask & draw(0.5)
    corrupted = input_ids.clone()
    corrupted[to_mask] = mask_token_id
    random_ids = torch.randint(
        vocab_size, input_ids.shape, generator=generator, dtype=input_ids.dtype
    )
    corrupted[to_random] = random_ids[to_random]
    return MaskedBatch(corrupted, labels, selected)


@dataclass(frozen=True)
class SpanCorruption:
    """The result of :func:`span_corruption`: what the encoder reads and the decoder writes."""

    inputs: list[str]
    targets: list[str]


def span_corruption(
    tokens: Sequence[str],
    *,
    noise_density: float = 0.15,
    mean_span_length: float = 3.0,
    generator: torch.Generator | None = None,
) -> SpanCorruption:
    """Drop random spans and replace each with a sentinel, as in T5's pre-training objective.

    About ``noise_density`` of the tokens are removed, in spans of about ``mean_span_length``.
    The input keeps the text with ``<extra_id_0>``, ``<extra_id_1>``, ... where spans were cut;
    the target lists each sentinel followed by the tokens it replaced, and ends with a final
    sentinel.

    Args:
        tokens: The token strings of one text (at least two).
        noise_density: Fraction of tokens to corrupt, in ``(0, 1)``.
        mean_span_length: Average length of a corrupted span, at least 1.
        generator: Source of randomness, for reproducible corruption.

    Returns:
        The input and target token lists.

    Raises:
        ValueError: On fewer than two tokens or out-of-range settings.

    Examples:
        >>> g = torch.Generator().manual_seed(1)
        >>> out = span_corruption("a b c d e f g h i j".split(), generator=g)
        >>> out.targets[-1].startswith("<extra_id_")
        True
    """
    n = len(tokens)
    if n < 2:
        raise ValueError(f"tokens must hold at least 2 tokens, got {n}")
    if not 0.0 < noise_density < 1.0:
        raise ValueError(f"noise_density must be in (0, 1), got {noise_density}")
    if mean_span_length < 1.0:
        raise ValueError(f"mean_span_length must be at least 1, got {mean_span_length}")
    num_noise = min(max(1, round(n * noise_density)), n - 1)
    num_spans = max(1, min(num_noise, round(num_noise / mean_span_length)))
    # Split the noise and the kept tokens into num_spans pieces each, then interleave them.
    noise_lengths = _random_partition(num_noise, num_spans, generator)
    keep_lengths = _random_partition(n - num_noise, num_spans, generator)
    inputs: list[str] = []
    targets: list[str] = []
    position = 0
    for span, (keep, noise) in enumerate(zip(keep_lengths, noise_lengths, strict=True)):
        inputs += tokens[position : position + keep]
        position += keep
        sentinel = f"<extra_id_{span}>"
        inputs.append(sentinel)
        targets.append(sentinel)
        targets += tokens[position : position + noise]
        position += noise
    targets.append(f"<extra_id_{num_spans}>")
    return SpanCorruption(inputs, targets)


def _random_partition(total: int, parts: int, generator: torch.Generator | None) -> list[int]:
    """Split ``total`` into ``parts`` positive integers at random (``parts <= total``)."""
    cuts = torch.randperm(total - 1, generator=generator)[: parts - 1] + 1
    edges = [0, *sorted(cuts.tolist()), total]
    return [b - a for a, b in itertools.pairwise(edges)]


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average token vectors into one vector per text, ignoring padding.

    Args:
        last_hidden_state: ``(batch, tokens, hidden)`` float tensor from an encoder.
        attention_mask: ``(batch, tokens)`` tensor, 1 for real tokens and 0 for padding.

    Returns:
        A ``(batch, hidden)`` tensor.

    Raises:
        ValueError: If the shapes do not line up.

    Examples:
        >>> states = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [9.0, 9.0]]])
        >>> mean_pool(states, torch.tensor([[1, 1, 0]])).tolist()
        [[2.0, 2.0]]
    """
    if last_hidden_state.dim() != 3 or attention_mask.shape != last_hidden_state.shape[:2]:
        raise ValueError(
            "last_hidden_state must be (batch, tokens, hidden) and attention_mask (batch, tokens);"
            f" got {tuple(last_hidden_state.shape)} and {tuple(attention_mask.shape)}"
        )
    weights = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    return (last_hidden_state * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def count_parameters(model: torch.nn.Module, *, trainable_only: bool = False) -> int:
    """Count a model's parameters, each shared tensor once.

    Examples:
        >>> count_parameters(torch.nn.Linear(3, 2))
        8
    """
    seen: set[int] = set()
    total = 0
    for parameter in model.parameters():
        if id(parameter) in seen or (trainable_only and not parameter.requires_grad):
            continue
        seen.add(id(parameter))
        total += parameter.numel()
    return total


def parameters_from_config(config: Any, model_class: Any = None) -> int:
    """Count the parameters a configuration implies without allocating any weights.

    The model is built on PyTorch's ``meta`` device, where tensors have shapes but no storage,
    so an 11-billion-parameter configuration is counted in milliseconds.

    Args:
        config: A ``transformers`` configuration object.
        model_class: The class to build (default ``AutoModel``: the bare network, no task head).

    Returns:
        The number of parameters, tied weights counted once.

    Examples:
        >>> from transformers import BertConfig
        >>> parameters_from_config(BertConfig(hidden_size=32, num_hidden_layers=1,
        ...     num_attention_heads=2, intermediate_size=64, vocab_size=100))
        29312
    """
    if model_class is None:
        from transformers import AutoModel

        model_class = AutoModel
    with torch.device("meta"):
        model = model_class.from_config(config)
    return count_parameters(model)
