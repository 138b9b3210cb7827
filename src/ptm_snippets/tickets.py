"""The support-tickets set that the lessons and experiments train and score on.

1,300 training and 440 test messages in four classes. Every line has ``text`` and ``label``;
test lines also have ``split``: ``familiar`` (the training set's vocabulary) or ``novel``
(synonyms the training set never uses). The files ship inside the package
(``ptm_snippets/data/support_tickets``), so nothing is downloaded.

Examples:
    >>> train = load_tickets("train")
    >>> picked = balanced_sample(train, 8, seed=0)
    >>> sorted(train[i]["label"] for i in picked)
    ['account', 'account', 'billing', 'billing', 'delivery', 'delivery', 'technical', 'technical']
"""

from __future__ import annotations

import json
import random
from collections.abc import Collection
from importlib import resources

__all__ = ["LABELS", "balanced_sample", "even_subset", "load_tickets"]

LABELS: tuple[str, ...] = ("billing", "delivery", "account", "technical")
"""The four classes of the support-tickets set, in label-id order."""


def load_tickets(split: str) -> list[dict[str, str]]:
    """Read ``train`` or ``test`` lines of the support-tickets set.

    Examples:
        >>> len(load_tickets("train")), len(load_tickets("test"))
        (1300, 440)
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    text = (
        resources.files("ptm_snippets")
        .joinpath("data", "support_tickets", f"{split}.jsonl")
        .read_text(encoding="utf-8")
    )
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def balanced_sample(
    rows: list[dict[str, str]],
    size: int,
    seed: int,
    *,
    stream: str = "sample",
    skip: Collection[int] = (),
) -> list[int]:
    """Pick ``size`` row indices, as evenly over :data:`LABELS` as the size allows, shuffled.

    The draw depends only on ``stream``, ``seed`` and ``size``, so an experiment that names its
    own ``stream`` gets samples independent of another's. Indices in ``skip`` are never picked
    (a validation set drawn after the training set, for example).

    Raises:
        ValueError: If ``size`` is below 1, or a label has fewer rows left than its share.

    Examples:
        >>> rows = [{"label": label} for label in LABELS * 3]
        >>> picked = balanced_sample(rows, 5, seed=0)
        >>> len(picked), len(set(picked)), picked == balanced_sample(rows, 5, seed=0)
        (5, 5, True)
        >>> balanced_sample(rows, 12, seed=0, skip={0})
        Traceback (most recent call last):
        ...
        ValueError: size 12 needs 3 rows labelled 'billing' but only 2 are left after skip
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    rng = random.Random(f"{stream}-{seed}-{size}")
    excluded = set(skip)
    picked: list[int] = []
    for k, label in enumerate(LABELS):
        pool = [i for i, row in enumerate(rows) if row["label"] == label and i not in excluded]
        share = size // len(LABELS) + (1 if k < size % len(LABELS) else 0)
        if share > len(pool):
            raise ValueError(
                f"size {size} needs {share} rows labelled {label!r} but only {len(pool)} are "
                "left after skip"
            )
        picked += rng.sample(pool, share)
    rng.shuffle(picked)
    return picked


def even_subset(rows: list[dict[str, str]], size: int | None) -> list[dict[str, str]]:
    """Take ``size`` test lines round-robin over the (split, label) groups, in file order.

    ``None`` keeps every line. The result is the same on every call: test sets must not move.

    Raises:
        ValueError: If ``size`` is not ``None`` and outside ``[1, len(rows)]``.

    Examples:
        >>> subset = even_subset(load_tickets("test"), 16)
        >>> sorted({(r["split"], r["label"]) for r in subset}) == sorted(
        ...     {(s, label) for s in ("familiar", "novel") for label in LABELS})
        True
    """
    if size is None:
        return rows
    if not isinstance(size, int) or not 1 <= size <= len(rows):
        raise ValueError(f"size must be None or in [1, {len(rows)}], got {size!r}")
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in rows:
        groups.setdefault((row["split"], row["label"]), []).append(row)
    keys = sorted(groups)
    out: list[dict[str, str]] = []
    depth = 0
    while len(out) < size:
        for key in keys:
            if depth < len(groups[key]) and len(out) < size:
                out.append(groups[key][depth])
        depth += 1
    return out
