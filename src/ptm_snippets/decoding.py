"""The logits-processing steps of decoding, written out so that each one can be read.

``model.generate`` turns the model's next-token scores (logits) into a choice of token through
a chain of small transformations. These functions are those steps, on a plain tensor:

* :func:`repetition_penalty`: make tokens that already occur less likely (CTRL's penalty).
* :func:`apply_temperature`: sharpen (< 1) or flatten (> 1) the distribution.
* :func:`top_k_filter`: keep only the ``top_k`` highest-scoring tokens.
* :func:`top_p_filter`: keep the smallest set of tokens whose probabilities add up to ``top_p``
  (nucleus sampling).
* :func:`candidates`: the token ids a filtered distribution can still sample.

Each agrees with the transformers class that ``generate`` uses for the same step
(``RepetitionPenaltyLogitsProcessor``, ``TemperatureLogitsWarper``, ``TopKLogitsWarper``,
``TopPLogitsWarper``); the unit tests check that on random logits. Filtered tokens get the score
``filter_value`` (``-inf`` by default), so that a softmax gives them probability zero.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "apply_temperature",
    "candidates",
    "repetition_penalty",
    "top_k_filter",
    "top_p_filter",
]


def _check_logits(logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or logits.dim() < 1:
        raise ValueError(
            "logits must be a floating-point torch.Tensor whose last dimension is the "
            "vocabulary, for example of shape (batch, vocab_size)"
        )


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide the logits by a temperature.

    Below 1 the distribution gets sharper (the top token gains probability), above 1 it gets
    flatter. The ranking of the tokens never changes, so greedy decoding is unaffected; the
    temperature only matters when sampling. Temperature 0 is not defined (it would divide by
    zero): use greedy decoding for that limit.

    Args:
        logits: Scores with the vocabulary as the last dimension.
        temperature: A finite number greater than 0.

    Returns:
        A new tensor, ``logits / temperature``.

    Raises:
        ValueError: If ``temperature`` is not a finite number greater than 0, or ``logits`` is
            not a floating-point tensor.

    Examples:
        >>> logits = torch.tensor([2.0, 1.0, 0.0])
        >>> apply_temperature(logits, 0.5).softmax(-1).round(decimals=3)
        tensor([0.8670, 0.1170, 0.0160])
        >>> apply_temperature(logits, 2.0).softmax(-1).round(decimals=3)
        tensor([0.5060, 0.3070, 0.1860])
    """
    _check_logits(logits)
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not math.isfinite(temperature)
        or temperature <= 0
    ):
        raise ValueError(
            f"temperature must be a finite number greater than 0, got {temperature!r} "
            "(for the temperature-0 limit, decode greedily: do_sample=False)"
        )
    return logits / temperature


def top_k_filter(
    logits: torch.Tensor, top_k: int, *, filter_value: float = -math.inf
) -> torch.Tensor:
    """Keep the ``top_k`` highest scores in each row and set every other score to ``filter_value``.

    Tokens tied with the ``top_k``-th score are kept too, as in transformers. A ``top_k`` at
    least as large as the vocabulary keeps everything.

    Args:
        logits: Scores with the vocabulary as the last dimension.
        top_k: How many tokens to keep, an integer of at least 1.
        filter_value: The score given to the removed tokens.

    Returns:
        A new tensor with the removed scores replaced.

    Raises:
        ValueError: If ``top_k`` is not an integer of at least 1, or ``logits`` is not a
            floating-point tensor.

    Examples:
        >>> top_k_filter(torch.tensor([[1.0, 3.0, 2.0, 0.5]]), top_k=2)
        tensor([[-inf, 3., 2., -inf]])
    """
    _check_logits(logits)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be an integer of at least 1, got {top_k!r}")
    k = min(top_k, logits.shape[-1])
    kth_best = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth_best, filter_value)


def top_p_filter(
    logits: torch.Tensor,
    top_p: float,
    *,
    filter_value: float = -math.inf,
    min_tokens_to_keep: int = 1,
) -> torch.Tensor:
    """Nucleus filtering: keep the most probable tokens until their probabilities reach ``top_p``.

    Tokens are ranked by probability. A token is kept if the tokens ranked above it have a
    total probability below ``top_p``, so the kept set is the smallest prefix of the ranking
    whose total reaches ``top_p``. Unlike :func:`top_k_filter` the number kept adapts to the
    distribution: few tokens when the model is confident, many when it is not.

    Args:
        logits: Scores with the vocabulary as the last dimension.
        top_p: The probability mass to keep, in ``(0, 1]``; 1 keeps every token.
        filter_value: The score given to the removed tokens.
        min_tokens_to_keep: Always keep at least this many tokens (an integer of at least 1).

    Returns:
        A new tensor with the removed scores replaced.

    Raises:
        ValueError: If ``top_p`` is outside ``(0, 1]``, ``min_tokens_to_keep`` is not an integer
            of at least 1, or ``logits`` is not a floating-point tensor.

    Examples:
        >>> logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()
        >>> top_p_filter(logits, top_p=0.75).exp()
        tensor([0.5000, 0.3000, 0.0000, 0.0000])
        >>> top_p_filter(logits, top_p=0.9).exp()
        tensor([0.5000, 0.3000, 0.1500, 0.0000])
    """
    _check_logits(logits)
    if (
        isinstance(top_p, bool)
        or not isinstance(top_p, int | float)
        or not math.isfinite(top_p)
        or not 0.0 < top_p <= 1.0
    ):
        raise ValueError(f"top_p must be a number in (0, 1], got {top_p!r}")
    if (
        isinstance(min_tokens_to_keep, bool)
        or not isinstance(min_tokens_to_keep, int)
        or min_tokens_to_keep < 1
    ):
        raise ValueError(
            f"min_tokens_to_keep must be an integer of at least 1, got {min_tokens_to_keep!r}"
        )
    if top_p == 1.0:  # everything; rounding in the running sum must not drop the tail
        return logits.clone()
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_above = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked higher
    remove_sorted = mass_above >= top_p
    remove_sorted[..., :min_tokens_to_keep] = False
    remove = remove_sorted.scatter(-1, order, remove_sorted)  # back to vocabulary order
    return logits.masked_fill(remove, filter_value)


def repetition_penalty(
    logits: torch.Tensor, input_ids: torch.Tensor, penalty: float
) -> torch.Tensor:
    """Penalise every token that already occurs in ``input_ids`` (Keskar et al., 2019, CTRL).

    A positive score is divided by ``penalty`` and a negative one multiplied by it, so with
    ``penalty > 1`` a token that was already used always becomes less likely, whatever the
    sign of its score. A token is penalised once, however often it occurs. ``penalty`` below 1
    rewards repetition instead. As in transformers, the prompt counts as "already used".

    Args:
        logits: Scores of shape ``(batch, vocab_size)``, or ``(vocab_size,)`` for one sequence.
        input_ids: Integer ids of shape ``(batch, seq_len)``, or ``(seq_len,)``: the tokens so
            far.
        penalty: A finite number greater than 0; 1 changes nothing.

    Returns:
        A new tensor of the shape of ``logits``.

    Raises:
        ValueError: If ``penalty`` is not a finite number greater than 0, ``input_ids`` is not
            an integer tensor matching the batch of ``logits``, or ``logits`` is not a
            floating-point tensor.

    Examples:
        >>> logits = torch.tensor([2.0, -1.0, 0.5])
        >>> repetition_penalty(logits, torch.tensor([0, 1, 1]), penalty=2.0)
        tensor([ 1.0000, -2.0000,  0.5000])
    """
    _check_logits(logits)
    if (
        isinstance(penalty, bool)
        or not isinstance(penalty, int | float)
        or not math.isfinite(penalty)
        or penalty <= 0
    ):
        raise ValueError(f"penalty must be a finite number greater than 0, got {penalty!r}")
    if not isinstance(input_ids, torch.Tensor) or input_ids.is_floating_point():
        raise ValueError("input_ids must be an integer torch.Tensor of token ids")
    one_sequence = logits.dim() == 1
    scores = logits.unsqueeze(0) if one_sequence else logits
    ids = input_ids.unsqueeze(0) if input_ids.dim() == 1 else input_ids
    if scores.dim() != 2 or ids.dim() != 2 or ids.shape[0] != scores.shape[0]:
        raise ValueError(
            "logits must be (batch, vocab_size) and input_ids (batch, seq_len) with the same "
            f"batch, got logits {tuple(logits.shape)} and input_ids {tuple(input_ids.shape)}"
        )
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= scores.shape[-1]):
        raise ValueError(f"input_ids must be token ids in [0, {scores.shape[-1]}), the vocabulary")
    used = torch.zeros_like(scores, dtype=torch.bool).scatter(-1, ids, True)
    penalised = torch.where(scores < 0, scores * penalty, scores / penalty)
    out = torch.where(used, penalised, scores)
    return out.squeeze(0) if one_sequence else out


def candidates(logits: torch.Tensor) -> list[int]:
    """The token ids that a filtered one-row distribution can still sample, in ascending order.

    Args:
        logits: Filtered scores of shape ``(vocab_size,)`` or ``(1, vocab_size)``.

    Returns:
        The ids whose score is not ``-inf``.

    Raises:
        ValueError: If ``logits`` holds more than one row or is not a floating-point tensor.

    Examples:
        >>> candidates(top_k_filter(torch.tensor([1.0, 3.0, 2.0, 0.5]), top_k=2))
        [1, 2]
    """
    _check_logits(logits)
    if logits.dim() > 2 or (logits.dim() == 2 and logits.shape[0] != 1):
        raise ValueError(
            f"logits must be one row, (vocab_size,) or (1, vocab_size), got {tuple(logits.shape)}"
        )
    return torch.nonzero(logits.reshape(-1) > -math.inf).flatten().tolist()
