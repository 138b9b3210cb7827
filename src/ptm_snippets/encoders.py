"""Encoder (BERT-family) helpers: a small WordPiece vocabulary and masked-LM training.

* :func:`restrict_vocabulary`: a WordPiece tokenizer that keeps only the pieces a corpus uses,
  so a tiny model trained here needs an output layer of a few thousand entries, not 30,522.
* :func:`train_mlm`: pre-train a masked language model (for example ``BertForMaskedLM``) on a
  list of texts with BERT's 80/10/10 masking (:func:`ptm_snippets.mask_tokens`).
* :func:`mlm_loss`: the masked-LM loss on held-out texts, with masks fixed by a seed so that
  two measurements of the same model are comparable; :func:`masked_token_losses` keeps the
  loss of every masked position (or masks exactly the positions of chosen token ids).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from ptm_snippets.pretraining import IGNORE_INDEX, mask_tokens

__all__ = ["masked_token_losses", "mlm_loss", "restrict_vocabulary", "train_mlm"]


def restrict_vocabulary(
    tokenizer: Any, texts: Sequence[str], *, keep_ascii_characters: bool = True
) -> Any:
    """Build a WordPiece tokenizer that keeps only the pieces ``texts`` use.

    The new vocabulary holds the special tokens, every piece the tokenizer produces on
    ``texts`` and, by default, every single ASCII character with its ``##`` continuation, so
    that new words still spell out instead of becoming ``[UNK]``. Pieces keep their original
    relative order and get new, contiguous ids. Because WordPiece always takes the longest piece
    present in the vocabulary, the restricted tokenizer splits ``texts`` exactly as the original
    does; other text may split into more, shorter pieces.

    Args:
        tokenizer: A BERT WordPiece tokenizer (``BertTokenizer`` from ``AutoTokenizer``).
        texts: The corpus whose pieces to keep (at least one text).
        keep_ascii_characters: Also keep every one-character ASCII piece and its ``##`` form.

    Returns:
        A ``transformers.BertTokenizer`` with the smaller vocabulary and the same lower-casing,
        special tokens and maximum length.

    Raises:
        ValueError: If ``texts`` is empty or ``tokenizer`` is not a WordPiece tokenizer with
            ``[CLS]``, ``[SEP]``, ``[PAD]``, ``[MASK]`` and ``[UNK]``.

    Examples:
        >>> from transformers import AutoTokenizer
        >>> full = AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
        >>> small = restrict_vocabulary(full, ("My parcel never arrived.",))
        >>> len(full), len(small)
        (30522, 145)
        >>> small.tokenize("My parcel never arrived.") == full.tokenize("My parcel never arrived.")
        True
    """
    from transformers import BertTokenizer

    if isinstance(texts, str) or not texts:
        raise ValueError("texts must be a non-empty sequence of strings (not one string)")
    needed = ("cls_token", "sep_token", "pad_token", "mask_token", "unk_token")
    missing = [name for name in needed if getattr(tokenizer, name, None) is None]
    if missing or not hasattr(tokenizer, "get_vocab"):
        raise ValueError(
            "tokenizer must be a BERT WordPiece tokenizer with [CLS], [SEP], [PAD], [MASK] and "
            f"[UNK]; this one lacks {', '.join(missing) or 'get_vocab'}"
        )
    full: dict[str, int] = tokenizer.get_vocab()
    keep = {getattr(tokenizer, name) for name in needed}
    for text in texts:
        keep.update(tokenizer.tokenize(text))
    if keep_ascii_characters:
        keep.update(
            piece
            for piece in full
            if piece.removeprefix("##").isascii() and len(piece.removeprefix("##")) == 1
        )
    ordered = sorted(keep, key=lambda piece: full[piece])
    return BertTokenizer(
        vocab={piece: i for i, piece in enumerate(ordered)},
        do_lower_case=bool(getattr(tokenizer, "do_lower_case", True)),
        unk_token=tokenizer.unk_token,
        sep_token=tokenizer.sep_token,
        pad_token=tokenizer.pad_token,
        cls_token=tokenizer.cls_token,
        mask_token=tokenizer.mask_token,
        model_max_length=tokenizer.model_max_length,
    )


def _check_common(
    texts: Sequence[str], tokenizer: Any, mlm_probability: float, max_length: int
) -> None:
    if isinstance(texts, str) or not texts:
        raise ValueError("texts must be a non-empty sequence of strings (not one string)")
    if getattr(tokenizer, "mask_token_id", None) is None:
        raise ValueError("tokenizer must have a mask token (mask_token_id is None)")
    if not 0.0 < mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability must be in (0, 1], got {mlm_probability}")
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2 ([CLS] and [SEP]), got {max_length}")


def _encode(texts: Sequence[str], tokenizer: Any, max_length: int) -> list[list[int]]:
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    return [list(ids) for ids in encoded["input_ids"]]


def _pad(ids: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        attention_mask[i, : len(x)] = 1
    return input_ids, attention_mask


def _corrupt(
    input_ids: torch.Tensor, tokenizer: Any, mlm_probability: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    batch = mask_tokens(
        input_ids,
        mask_token_id=int(tokenizer.mask_token_id),
        vocab_size=len(tokenizer),
        special_ids=tokenizer.all_special_ids,
        mlm_probability=mlm_probability,
        generator=generator,
    )
    return batch.input_ids, batch.labels


def _logits_at(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    chosen: torch.Tensor,
) -> torch.Tensor:
    """Output logits at the ``chosen`` positions only, shape ``(chosen.sum(), vocab)``.

    A ``BertForMaskedLM`` runs its prediction head only there (what transformers' ModernBERT
    calls ``sparse_prediction``): the same numbers as the full output for a fraction of the
    head's compute. Any other model computes every position and is indexed.
    """
    from transformers import BertForMaskedLM

    if isinstance(model, BertForMaskedLM):
        states = model.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits: torch.Tensor = model.cls(states[chosen])
        return logits
    full: torch.Tensor = model(input_ids=input_ids, attention_mask=attention_mask).logits
    return full[chosen]


def _masked_lm_loss(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
) -> torch.Tensor:
    """Mean cross-entropy at the selected positions (a zero loss with a graph if there are none)."""
    chosen = labels != IGNORE_INDEX
    logits = _logits_at(model, input_ids, attention_mask, chosen)
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    return torch.nn.functional.cross_entropy(logits, labels[chosen])


def train_mlm(
    model: torch.nn.Module,
    texts: Sequence[str],
    tokenizer: Any,
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    mlm_probability: float = 0.15,
    max_length: int = 128,
    warmup_fraction: float = 0.1,
    weight_decay: float = 0.01,
) -> list[float]:
    """Pre-train ``model`` in place by masked language modelling on ``texts``.

    Every step draws ``batch_size`` texts (shuffled passes over the corpus), pads them,
    corrupts them afresh with BERT's 80/10/10 rule (dynamic masking, as in RoBERTa) and takes
    one AdamW step on the cross-entropy at the selected positions. The learning rate rises
    linearly over the first ``warmup_fraction`` of the steps, then falls linearly to zero;
    gradients are clipped to norm 1. The model is left in ``eval`` mode. A ``BertForMaskedLM``
    runs its prediction head only at the selected positions (sparse prediction): the same loss
    for less compute, which matters when the output layer is a large share of a tiny model.

    Args:
        model: A masked-LM model called as ``model(input_ids=..., attention_mask=...,
            labels=...)`` that returns an object with ``.loss`` (``BertForMaskedLM`` does).
            Its vocabulary must match ``tokenizer``.
        texts: Training texts (at least one).
        tokenizer: The tokenizer that turns ``texts`` into ids; needs a mask token.
        steps: Optimizer steps, at least 1.
        batch_size: Texts per step, at least 1.
        lr: Peak AdamW learning rate, in ``(0, 1]``.
        generator: Source of randomness for batch order and masks (seed it to reproduce a
            run). Dropout, if the model has any, draws from torch's global generator.
        mlm_probability: Chance that an ordinary token is selected, in ``(0, 1]``.
        max_length: Longest tokenised text (longer ones are truncated), at least 2.
        warmup_fraction: Share of the steps spent warming up, in ``[0, 1)``.
        weight_decay: AdamW weight decay, at least 0.

    Returns:
        The training loss of every step, in order.

    Raises:
        ValueError: If an argument is out of range; the message names it and the valid range.

    Examples:
        >>> from transformers import AutoTokenizer, BertConfig, BertForMaskedLM
        >>> full = AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
        >>> texts = ("the parcel never arrived.", "the app crashes on start.") * 8
        >>> tok = restrict_vocabulary(full, texts, keep_ascii_characters=False)
        >>> _ = torch.manual_seed(0)
        >>> model = BertForMaskedLM(BertConfig(vocab_size=len(tok), hidden_size=32,
        ...     num_hidden_layers=1, num_attention_heads=2, intermediate_size=64))
        >>> losses = train_mlm(model, texts, tok, steps=40, batch_size=8, lr=3e-3,
        ...                    mlm_probability=0.5, generator=torch.Generator().manual_seed(0))
        >>> first, *_, last = losses
        >>> len(losses), last < first
        (40, True)
    """
    _check_common(texts, tokenizer, mlm_probability, max_length)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int of at least 1, got {steps!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int of at least 1, got {batch_size!r}")
    if not 0.0 < lr <= 1.0:
        raise ValueError(f"lr must be in (0, 1], got {lr}")
    if not 0.0 <= warmup_fraction < 1.0:
        raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    ids = _encode(texts, tokenizer, max_length)
    pad_id = int(tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    warmup = math.ceil(warmup_fraction * steps)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    order: list[int] = []
    losses: list[float] = []
    model.train()
    for _ in range(steps):
        picked: list[int] = []
        while len(picked) < batch_size:
            if not order:
                order = torch.randperm(len(ids), generator=generator).tolist()
            picked.append(order.pop())
        input_ids, attention_mask = _pad([ids[i] for i in picked], pad_id)
        corrupted, labels = _corrupt(input_ids, tokenizer, mlm_probability, generator)
        loss = _masked_lm_loss(model, corrupted, attention_mask, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


@torch.no_grad()
def mlm_loss(
    model: torch.nn.Module,
    texts: Sequence[str],
    tokenizer: Any,
    *,
    seed: int = 0,
    mlm_probability: float = 0.15,
    max_length: int = 128,
    batch_size: int = 64,
) -> float:
    """Mean masked-LM cross-entropy over ``texts``, with masks fixed by ``seed``.

    The texts are corrupted once with :func:`ptm_snippets.mask_tokens` from a generator seeded
    with ``seed``, so measuring two models (or one model before and after training) scores
    exactly the same masked positions. The loss is averaged over all selected positions of all
    texts. A model that guesses uniformly scores ``log(len(tokenizer))``.

    Args:
        model: A masked-LM model returning ``.logits`` of shape ``(batch, tokens, vocab)``.
        texts: Held-out texts (at least one).
        tokenizer: The model's tokenizer; needs a mask token.
        seed: Seed of the masks.
        mlm_probability: Chance that an ordinary token is selected, in ``(0, 1]``.
        max_length: Longest tokenised text, at least 2.
        batch_size: Texts per forward pass, at least 1.

    Returns:
        The mean cross-entropy in nats per masked token.

    Raises:
        ValueError: If an argument is out of range, or no position was selected (use more
            text or a larger ``mlm_probability``).

    Examples:
        >>> from transformers import AutoTokenizer, BertConfig, BertForMaskedLM
        >>> full = AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
        >>> tok = restrict_vocabulary(full, ("a b c",), keep_ascii_characters=False)
        >>> _ = torch.manual_seed(0)
        >>> model = BertForMaskedLM(BertConfig(vocab_size=len(tok), hidden_size=32,
        ...     num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)).eval()
        >>> loss = mlm_loss(model, ("a b c",) * 20, tok)
        >>> abs(loss - math.log(len(tok))) < 0.5  # untrained: close to uniform guessing
        True
    """
    losses, _ = masked_token_losses(
        model,
        texts,
        tokenizer,
        seed=seed,
        mlm_probability=mlm_probability,
        max_length=max_length,
        batch_size=batch_size,
    )
    return float(losses.mean())


@torch.no_grad()
def masked_token_losses(
    model: torch.nn.Module,
    texts: Sequence[str],
    tokenizer: Any,
    *,
    seed: int = 0,
    mlm_probability: float = 0.15,
    max_length: int = 48,
    batch_size: int = 32,
    mask_ids: Iterable[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The masked-LM cross-entropy at every masked position of ``texts``, with masks fixed by ``seed``.

    The texts are corrupted once with BERT's 80/10/10 rule (:func:`ptm_snippets.mask_tokens`)
    from a generator seeded with ``seed``, so two models, or one model before and after training,
    are scored on exactly the same positions. The mean of the losses is the held-out masked-LM
    loss and its exponential the masked-LM perplexity; keeping every position lets a caller
    average a subset, for example the positions whose original token is a new vocabulary entry.
    A ``BertForMaskedLM`` runs its prediction head only at the masked positions, which gives the
    same numbers as the full output for a fraction of the compute.

    With ``mask_ids``, nothing is random: every position whose token is one of ``mask_ids`` (new
    vocabulary entries, say) is replaced by ``[MASK]`` and scored, and no other position is.

    Args:
        model: A masked-LM model (``BertForMaskedLM`` or any model returning ``.logits``).
        texts: Held-out texts (at least one).
        tokenizer: The model's tokenizer; needs a mask token.
        seed: Seed of the masks.
        mlm_probability: Chance that an ordinary token is selected, in ``(0, 1]``.
        max_length: Longest tokenised text (longer ones are cut), at least 2.
        batch_size: Texts per forward pass, at least 1.
        mask_ids: If given, mask exactly the positions holding these token ids.

    Returns:
        ``(losses, labels)``: the loss in nats at each masked position and the original token id
        there, both 1-D and in the same order.

    Raises:
        ValueError: If an argument is out of range, ``tokenizer`` has no mask token, or no
            position was selected (pass more text, or ids that occur in it).

    Examples:
        >>> from transformers import AutoModelForMaskedLM, AutoTokenizer
        >>> repo = "sentence-transformers/all-MiniLM-L6-v2"
        >>> tok = AutoTokenizer.from_pretrained(repo)
        >>> _ = torch.manual_seed(0)
        >>> model = AutoModelForMaskedLM.from_pretrained(repo)  # its MLM head is new, untrained
        >>> losses, labels = masked_token_losses(model, ["The for statement loops."] * 8, tok)
        >>> losses.shape == labels.shape, losses.mean().item() > 9  # about log(30522) = 10.3
        (True, True)
        >>> statement = tok.convert_tokens_to_ids("statement")
        >>> _, labels = masked_token_losses(model, ["The for statement loops."], tok,
        ...                                 mask_ids=[statement])
        >>> tok.convert_ids_to_tokens(labels.tolist())
        ['statement']
    """
    _check_common(texts, tokenizer, mlm_probability, max_length)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int of at least 1, got {batch_size!r}")
    targets = None if mask_ids is None else torch.tensor(sorted(set(mask_ids)), dtype=torch.long)
    ids = _encode(texts, tokenizer, max_length)
    pad_id = int(tokenizer.pad_token_id)
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    all_losses: list[torch.Tensor] = []
    all_labels: list[torch.Tensor] = []
    for start in range(0, len(ids), batch_size):
        input_ids, attention_mask = _pad(ids[start : start + batch_size], pad_id)
        if targets is None:
            corrupted, labels = _corrupt(input_ids, tokenizer, mlm_probability, generator)
            chosen = labels != IGNORE_INDEX
        else:
            chosen = torch.isin(input_ids, targets) & (attention_mask == 1)
            corrupted = input_ids.masked_fill(chosen, int(tokenizer.mask_token_id))
        if not chosen.any():
            continue
        logits = _logits_at(model, corrupted, attention_mask, chosen)
        all_losses.append(
            torch.nn.functional.cross_entropy(logits, input_ids[chosen], reduction="none")
        )
        all_labels.append(input_ids[chosen])
    model.train(was_training)
    if not all_labels:
        raise ValueError(
            "no position was selected for scoring; pass more texts, a larger mlm_probability, "
            "or mask_ids that occur in the texts"
        )
    return torch.cat(all_losses), torch.cat(all_labels)
