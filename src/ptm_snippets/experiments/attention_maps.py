"""Attention maps: where all-MiniLM-L6-v2's heads look when it reads one sentence.

The encoder reads one sentence with ``output_attentions=True`` (eager attention, the only
implementation that returns the weights). Every (layer, head) gets a row of statistics: the
average share of attention each query token puts on ``[CLS]``, on ``[SEP]``, on itself, on the
previous token and on the next token, and the mean entropy of its attention distributions.
The rows of the heads chosen in ``panels`` also carry the full ``tokens x tokens`` weight
matrix, which :func:`plot` draws as labelled heatmaps. Nothing is random: the run is
deterministic up to floating-point rounding.

Run it with ``python -m ptm_snippets.experiments attention_maps``.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ptm_snippets.experiments.runner import Experiment, Progress, register
from ptm_snippets.hub import MINILM, model_path, verify_package

__all__ = [
    "FAST",
    "FULL",
    "STATISTICS",
    "AttentionMapsConfig",
    "head_statistics",
    "plot",
    "run",
    "summarize",
]

STATISTICS: tuple[str, ...] = ("to_cls", "to_sep", "to_self", "to_previous", "to_next")
"""The attention shares every row holds (mean over query tokens), besides ``entropy``."""

_LAYERS = 6  # all-MiniLM-L6-v2
_HEADS = 12


@dataclass(frozen=True)
class AttentionMapsConfig:
    """Settings of the attention-maps experiment.

    Attributes:
        sentence: The text the encoder reads (one sentence, a few words to about 40).
        panels: ``(layer, head)`` pairs, counted from 0, whose full weight matrices are kept
            and drawn; the statistics cover every head regardless.
        repo_id: The encoder to load.
        seeds: Unused (the experiment draws nothing at random); kept empty for the runner.
    """

    sentence: str = "The customer said the parcel was late, so she asked for a refund."
    panels: tuple[tuple[int, int], ...] = ((0, 2), (1, 8), (0, 3), (2, 9), (3, 11), (5, 9))
    repo_id: str = MINILM.repo_id
    seeds: tuple[int, ...] = ()

    def validate(self) -> None:
        """Check every field; raise ``ValueError`` naming the first bad one and its valid range.

        Examples:
            >>> AttentionMapsConfig(panels=((6, 0),)).validate()
            Traceback (most recent call last):
            ...
            ValueError: panels must be 1 to 12 distinct (layer, head) pairs with layer in ...
        """
        words = self.sentence.split()
        if not 2 <= len(words) <= 40:
            raise ValueError(f"sentence must have 2 to 40 words, got {len(words)}")
        ok = (
            1 <= len(self.panels) <= 12
            and len(set(self.panels)) == len(self.panels)
            and all(
                isinstance(p, tuple) and len(p) == 2 and 0 <= p[0] < _LAYERS and 0 <= p[1] < _HEADS
                for p in self.panels
            )
        )
        if not ok:
            raise ValueError(
                f"panels must be 1 to 12 distinct (layer, head) pairs with layer in "
                f"[0, {_LAYERS - 1}] and head in [0, {_HEADS - 1}], got {self.panels}"
            )
        if self.seeds:
            raise ValueError(f"seeds must be empty (nothing here is random), got {self.seeds}")
        if not self.repo_id:
            raise ValueError("repo_id must name an encoder, got an empty string")


FULL = AttentionMapsConfig()
"""The published figure: six heads with distinct patterns, chosen after looking at all 72.

Layer 0 head 2 looks at the previous token, layer 1 head 8 at the next one, layer 0 head 3
spreads its weight widely, layer 2 head 9 parks most of it on ``[CLS]``, layer 3 head 11 on the
full stop, and layer 5 head 9 on two content words ("late", "##und"). The statistics in the
JSON cover all 72 heads, so the per-layer averages do not depend on this choice.
"""

FAST = AttentionMapsConfig(sentence="My parcel never arrived.", panels=((0, 2), (1, 8)))
"""The test suite's run: a five-word sentence and two panels."""


def head_statistics(weights: torch.Tensor) -> dict[str, float]:
    """Summarise one head's ``(tokens, tokens)`` attention matrix (rows are query tokens).

    ``to_cls`` is the mean weight on the first token, ``to_sep`` on the last, ``to_self`` on
    the diagonal; ``to_previous`` and ``to_next`` average the weight on the neighbour over all
    query tokens (a token with no such neighbour contributes 0); ``entropy`` is the mean
    entropy of the rows in nats.

    Raises:
        ValueError: If ``weights`` is not a square matrix of at least 2 tokens.

    Examples:
        >>> eye = torch.eye(4)
        >>> stats = head_statistics(torch.roll(eye, shifts=-1, dims=0))  # row i looks at i+1
        >>> stats.get("to_next"), stats.get("to_self")
        (0.75, 0.0)
    """
    if weights.dim() != 2 or weights.shape[0] != weights.shape[1] or weights.shape[0] < 2:
        raise ValueError(
            f"weights must be a square (tokens, tokens) matrix, tokens >= 2; got "
            f"{tuple(weights.shape)}"
        )
    w = weights.double()
    n = w.shape[0]
    entropy = -(w * w.clamp_min(1e-12).log()).sum(-1).mean()
    return {
        "to_cls": float(w[:, 0].mean()),
        "to_sep": float(w[:, -1].mean()),
        "to_self": float(w.diagonal().mean()),
        "to_previous": float(w.diagonal(-1).sum() / n),
        "to_next": float(w.diagonal(1).sum() / n),
        "entropy": float(entropy),
    }


def run(config: AttentionMapsConfig, progress: Progress) -> list[dict[str, Any]]:
    """Read the sentence once; return one row per (layer, head) of the encoder.

    Each row has ``layer``, ``head``, ``tokens`` (the WordPiece tokens, with ``[CLS]`` and
    ``[SEP]``), the :func:`head_statistics` fields rounded to 4 decimals, and ``weights``: the
    ``tokens x tokens`` matrix rounded to 4 decimals for the heads in ``config.panels``,
    ``None`` for the others.

    Raises:
        ValueError: If the configuration is out of range, or the model's shape does not match
            the panels asked for.
        ptm_snippets.hub.MirrorError: If the encoder's weights are not installed.
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    config.validate()
    if config.repo_id == MINILM.repo_id:
        verify_package(MINILM, log=lambda _: None)
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    folder = model_path(config.repo_id)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    # Only eager attention materialises the weights; sdpa returns no attentions.
    model = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    encoded = tokenizer(config.sentence, return_tensors="pt")
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    with torch.no_grad():
        attentions = model(**encoded, output_attentions=True).attentions
    layers, heads = len(attentions), attentions[0].shape[1]
    if any(layer >= layers or head >= heads for layer, head in config.panels):
        raise ValueError(f"panels {config.panels} do not fit a model of {layers}x{heads} heads")
    progress.reset(total=layers * heads)
    wanted = set(config.panels)
    rows: list[dict[str, Any]] = []
    for layer, per_layer in enumerate(attentions):
        for head in range(heads):
            matrix = per_layer[0, head]
            row: dict[str, Any] = {"layer": layer, "head": head, "tokens": tokens}
            row.update({k: round(v, 4) for k, v in head_statistics(matrix).items()})
            row["weights"] = (
                [[round(float(x), 4) for x in r] for r in matrix]
                if (layer, head) in wanted
                else None
            )
            rows.append(row)
            progress.update(1)
    return rows


def summarize(
    rows: list[dict[str, Any]], config: AttentionMapsConfig | None = None
) -> dict[str, Any]:
    """Per layer, the mean of every statistic over its heads; plus the sentence's tokens.

    Examples:
        >>> rows = list(
        ...     dict(layer=0, head=h, tokens=("[CLS]", "a", "[SEP]"), to_cls=c, to_sep=0.0,
        ...          to_self=0.0, to_previous=0.0, to_next=0.0, entropy=1.0)
        ...     for h, c in ((0, 0.2), (1, 0.4))
        ... )
        >>> summarize(rows).get("per_layer").get("0").get("to_cls")
        0.3
    """
    per_layer: dict[str, dict[str, float]] = {}
    for layer in sorted({r["layer"] for r in rows}):
        group = [r for r in rows if r["layer"] == layer]
        per_layer[str(layer)] = {
            key: round(statistics.fmean(float(r[key]) for r in group), 4)
            for key in (*STATISTICS, "entropy")
        }
    return {
        "tokens": rows[0]["tokens"] if rows else [],
        "averaged_over": "all heads of the layer and all query tokens",
        "per_layer": per_layer,
    }


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Draw the kept heads as heatmaps: query tokens down, attended tokens across."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.get("weights") is not None]
    if not shown:
        raise ValueError("no row carries a weight matrix; give the configuration some panels")
    columns = min(3, len(shown))
    lines = math.ceil(len(shown) / columns)
    tokens = shown[0]["tokens"]
    with plt.rc_context({"svg.hashsalt": "ptm-snippets", "svg.fonttype": "none"}):
        fig, axes = plt.subplots(
            lines,
            columns,
            figsize=(3.9 * columns, 3.9 * lines),
            squeeze=False,
            layout="constrained",
        )
        for ax in axes.flat[len(shown) :]:
            ax.set_visible(False)
        image = None
        for ax, row in zip(axes.flat, shown, strict=False):
            image = ax.imshow(row["weights"], cmap="viridis", vmin=0.0, vmax=1.0)
            ticks = range(len(tokens))
            ax.set_xticks(ticks, tokens, rotation=90, fontsize=6)
            ax.set_yticks(ticks, tokens, fontsize=6)
            received = [statistics.fmean(column) for column in zip(*row["weights"], strict=True)]
            top = max(range(len(tokens)), key=received.__getitem__)
            ax.set_title(
                f"layer {row['layer']}, head {row['head']}\n"
                f"most attended: {tokens[top]} ({received[top]:.2f}); "
                f"previous {row['to_previous']:.2f}, next {row['to_next']:.2f}",
                fontsize=7,
            )
            ax.set_xlabel("attended token (key)", fontsize=7)
            ax.set_ylabel("reading token (query)", fontsize=7)
        if image is not None:
            fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)


EXPERIMENT = register(
    Experiment(
        name="attention_maps",
        run=run,
        plot=plot,
        full=FULL,
        fast=FAST,
        summarize=summarize,
        description="Where all-MiniLM-L6-v2's attention heads look when it reads one sentence",
    )
)
