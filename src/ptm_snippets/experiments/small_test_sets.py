"""Small test sets: how far one accuracy number moves with the test set, and how to compare two models.

Two classifiers share one frozen encoder, all-MiniLM-L6-v2: a logistic regression on the
mean-pooled token vectors (model A) and one on the ``[CLS]`` vector (model B). Both are trained
on the support-tickets training lines and differ by a few points of accuracy on the 440 test
lines. The experiment then asks what a reader would have concluded from a smaller test set:
for every size in ``sizes`` it draws ``resamples`` test sets of that many lines, with
replacement, from the 440 (the bootstrap's stand-in for "another test set like this one") and
records

* the spread of each model's accuracy (2.5th to 97.5th percentile, and the full histogram);
* how often the worse model (B) ties or beats the better one (A);
* the width of the 95 % interval of the difference A - B, computed *paired* (both models on the
  same resampled lines) and *unpaired* (each on its own resample), which is what two separately
  reported intervals amount to.

A third model, A with much stronger regularisation (``strong_regularization``), has nearly the
same accuracy but is under-confident; its reliability table next to A's shows what the expected
calibration error measures. Everything is seeded; the figure has three panels (spread, interval
widths, reliability).

Run it with ``python -m ptm_snippets.experiments small_test_sets``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ptm_snippets.evaluation import evaluate_classifier, reliability_table
from ptm_snippets.experiments.runner import Experiment, Progress, register
from ptm_snippets.hub import MINILM, model_path, verify_package
from ptm_snippets.pretraining import mean_pool
from ptm_snippets.tickets import LABELS, load_tickets

__all__ = [
    "FAST",
    "FULL",
    "MODELS",
    "SmallTestSetsConfig",
    "plot",
    "resample_accuracies",
    "run",
    "summarize",
]

MODELS: tuple[str, ...] = ("mean_pooling", "cls_pooling", "mean_pooling_strong_l2")
"""Model A, model B, and A with strong regularisation (for the calibration panel)."""

_TRAIN_SIZE = 1300
_TEST_SIZE = 440


@dataclass(frozen=True)
class SmallTestSetsConfig:
    """Settings of the small-test-sets experiment.

    Attributes:
        sizes: Test-set sizes to simulate, each at most the number of test lines used.
        resamples: Simulated test sets per size.
        seeds: One seed: it draws the resamples, the bootstrap intervals and the training
            subset.
        train_size: Training lines (``None``: all 1,300), taken evenly from each label.
        test_size: Test lines scored (``None``: all 440), taken evenly from each split and label.
        regularization: Inverse regularisation strength ``C`` of models A and B.
        strong_regularization: ``C`` of the third, under-confident model.
        n_boot: Bootstrap resamples behind each model's reported interval.
        n_bins: Bins of the reliability tables and the ECE.
        max_length: Longest tokenised text; longer ones are cut.
        num_threads: ``torch.set_num_threads`` during the run; 0 keeps torch's default.
        repo_id: The encoder to load.
    """

    sizes: tuple[int, ...] = (20, 50, 100, 200, 440)
    resamples: int = 5000
    seeds: tuple[int, ...] = (0,)
    train_size: int | None = None
    test_size: int | None = None
    regularization: float = 1.0
    strong_regularization: float = 0.01
    n_boot: int = 2000
    n_bins: int = 10
    max_length: int = 48
    num_threads: int = 1
    repo_id: str = MINILM.repo_id

    def validate(self) -> None:
        """Check every field; raise ``ValueError`` naming the first bad one and its valid range.

        Examples:
            >>> SmallTestSetsConfig(sizes=(20, 500)).validate()
            Traceback (most recent call last):
            ...
            ValueError: sizes must be non-empty, increasing, each in [2, 440] (the test lines used), got (20, 500)
        """
        pool = self.test_size if self.test_size is not None else _TEST_SIZE
        if self.test_size is not None and not 8 <= self.test_size <= _TEST_SIZE:
            raise ValueError(
                f"test_size must be None (all) or in [8, {_TEST_SIZE}], got {self.test_size}"
            )
        if (
            not self.sizes
            or any(not isinstance(s, int) or not 2 <= s <= pool for s in self.sizes)
            or list(self.sizes) != sorted(set(self.sizes))
        ):
            raise ValueError(
                f"sizes must be non-empty, increasing, each in [2, {pool}] (the test lines "
                f"used), got {self.sizes}"
            )
        if self.resamples < 10:
            raise ValueError(f"resamples must be at least 10, got {self.resamples}")
        if len(self.seeds) != 1 or not isinstance(self.seeds[0], int) or self.seeds[0] < 0:
            raise ValueError(f"seeds must hold exactly one non-negative int, got {self.seeds}")
        if self.train_size is not None and not len(LABELS) * 2 <= self.train_size <= _TRAIN_SIZE:
            raise ValueError(
                f"train_size must be None (all) or in [{2 * len(LABELS)}, {_TRAIN_SIZE}], got "
                f"{self.train_size}"
            )
        for name in ("regularization", "strong_regularization"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.n_boot < 10:
            raise ValueError(f"n_boot must be at least 10, got {self.n_boot}")
        if self.n_bins < 1:
            raise ValueError(f"n_bins must be at least 1, got {self.n_bins}")
        if not 2 <= self.max_length <= 512:
            raise ValueError(f"max_length must be in [2, 512], got {self.max_length}")
        if self.num_threads < 0:
            raise ValueError(
                f"num_threads must be >= 0 (0: torch's default), got {self.num_threads}"
            )
        if not self.repo_id:
            raise ValueError("repo_id must name an encoder, got ''")


FULL = SmallTestSetsConfig()
"""The published run: all 1,300 training lines, all 440 test lines, 5,000 test sets per size."""

FAST = SmallTestSetsConfig(
    sizes=(20, 100),
    resamples=400,
    train_size=200,
    test_size=160,
    n_boot=200,
)
"""The test suite's run: 200 training lines, 160 test lines, 400 simulated test sets per size."""


# ----------------------------------------------------------------------------- data


def _balanced_train(train: list[dict[str, str]], size: int | None, seed: int) -> list[int]:
    if size is None:
        return list(range(len(train)))
    rng = random.Random(f"small-test-sets-{seed}-{size}")
    picked: list[int] = []
    for k, label in enumerate(LABELS):
        rows = [i for i, r in enumerate(train) if r["label"] == label]
        picked += rng.sample(rows, size // len(LABELS) + (1 if k < size % len(LABELS) else 0))
    return sorted(picked)


def _stratified_test(test: list[dict[str, str]], size: int | None) -> list[int]:
    """``size`` line indices round-robin over (split, label) groups, in file order."""
    if size is None:
        return list(range(len(test)))
    groups: dict[tuple[str, str], list[int]] = {}
    for i, row in enumerate(test):
        groups.setdefault((row["split"], row["label"]), []).append(i)
    out: list[int] = []
    depth = 0
    while len(out) < size:
        for key in sorted(groups):
            if depth < len(groups[key]) and len(out) < size:
                out.append(groups[key][depth])
        depth += 1
    return sorted(out)


@torch.inference_mode()
def _embed(
    texts: list[str], folder: Path, max_length: int, progress: Progress
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Mean-pooled and [CLS] vectors of every text (batched by length to limit padding)."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoder = AutoModel.from_pretrained(folder).eval()
    mean = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    cls = np.zeros_like(mean)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(texts), 64):
        rows = order[start : start + 64]
        batch = tokenizer(
            [texts[i] for i in rows],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        states = encoder(**batch).last_hidden_state
        mean[rows] = mean_pool(states, batch["attention_mask"]).numpy()
        cls[rows] = states[:, 0].numpy()
        progress.update(len(rows))
    return mean, cls


# ----------------------------------------------------------------------------- resampling


def resample_accuracies(
    correct_a: np.ndarray[Any, Any],
    correct_b: np.ndarray[Any, Any],
    size: int,
    resamples: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray[Any, Any]]:
    """Correct counts of A and B on ``resamples`` test sets of ``size`` lines drawn with replacement.

    ``a`` and ``b`` are scored on the same drawn lines (paired); ``b_unpaired`` on an
    independent draw, as if B had been evaluated on a different test set.

    Examples:
        >>> a = np.array([True] * 9 + [False])
        >>> counts = resample_accuracies(a, a, 5, 1000, np.random.default_rng(0))
        >>> bool((counts["a"] == counts["b"]).all()), sorted(counts)
        (True, ['a', 'b', 'b_unpaired'])
    """
    if correct_a.shape != correct_b.shape or correct_a.ndim != 1 or not len(correct_a):
        raise ValueError("correct_a and correct_b must be 1-D boolean arrays of the same length")
    rows = rng.integers(0, len(correct_a), size=(resamples, size))
    other = rng.integers(0, len(correct_a), size=(resamples, size))
    return {
        "a": correct_a[rows].sum(1),
        "b": correct_b[rows].sum(1),
        "b_unpaired": correct_b[other].sum(1),
    }


def _spread(values: np.ndarray[Any, Any]) -> dict[str, float]:
    q = np.quantile(values, [0.025, 0.25, 0.5, 0.75, 0.975])
    return {
        "mean": round(float(values.mean()), 5),
        "std": round(float(values.std(ddof=1)), 5),
        "q025": round(float(q[0]), 5),
        "q25": round(float(q[1]), 5),
        "median": round(float(q[2]), 5),
        "q75": round(float(q[3]), 5),
        "q975": round(float(q[4]), 5),
        "min": round(float(values.min()), 5),
        "max": round(float(values.max()), 5),
    }


# ----------------------------------------------------------------------------- run


def run(config: SmallTestSetsConfig, progress: Progress) -> list[dict[str, Any]]:
    """Train the three heads, score them, and simulate smaller test sets; return tidy rows.

    Rows have a ``kind``: ``"model"`` (one per model: full-test-set metrics with bootstrap
    intervals, ECE, accuracy per split), ``"resampled"`` (one per test-set size: the spread of
    A's and B's accuracy, how often B ties or beats A, paired and unpaired intervals of the
    difference, and histograms of the correct counts) and ``"reliability"`` (one per model and
    confidence bin).

    Raises:
        ValueError: If the configuration is out of range.
        ptm_snippets.hub.MirrorError: If the encoder's weights are not installed.
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    config.validate()
    if config.repo_id == MINILM.repo_id:
        verify_package(MINILM, log=lambda _: None)
    seed = config.seeds[0]
    train_all, test_all = load_tickets("train"), load_tickets("test")
    train = [train_all[i] for i in _balanced_train(train_all, config.train_size, seed)]
    test = [test_all[i] for i in _stratified_test(test_all, config.test_size)]
    texts = [r["text"] for r in train] + [r["text"] for r in test]
    progress.reset(total=len(texts) + len(MODELS) + len(config.sizes))
    threads_before = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        mean, cls = _embed(texts, model_path(config.repo_id), config.max_length, progress)
    finally:
        torch.set_num_threads(threads_before)
    y_train = [LABELS.index(r["label"]) for r in train]
    gold = np.array([LABELS.index(r["label"]) for r in test])
    novel = np.array([r["split"] == "novel" for r in test])
    n_train = len(train)
    features = {"mean_pooling": mean, "cls_pooling": cls, "mean_pooling_strong_l2": mean}
    strength = {
        "mean_pooling": config.regularization,
        "cls_pooling": config.regularization,
        "mean_pooling_strong_l2": config.strong_regularization,
    }
    rows: list[dict[str, Any]] = []
    correct: dict[str, np.ndarray[Any, Any]] = {}
    for name in MODELS:
        progress.set_postfix_str(name)
        x = features[name]
        with threadpool_limits(limits=1, user_api="blas"):  # small matrices: one thread is faster
            head = LogisticRegression(C=strength[name], max_iter=2000).fit(x[:n_train], y_train)
            probabilities = head.predict_proba(x[n_train:])
        report = evaluate_classifier(
            gold,
            labels=LABELS,
            probabilities=probabilities,
            n_boot=config.n_boot,
            seed=seed,
            n_bins=config.n_bins,
        )
        right = probabilities.argmax(1) == gold
        correct[name] = right
        rows.append(
            {
                "kind": "model",
                "model": name,
                "regularization": strength[name],
                "train_lines": n_train,
                "test_lines": len(test),
                "accuracy_familiar": round(float(right[~novel].mean()), 5),
                "accuracy_novel": round(float(right[novel].mean()), 5),
                "mean_confidence": round(float(probabilities.max(1).mean()), 5),
                **report.to_dict(),
            }
        )
        for bin_ in reliability_table(probabilities, gold, n_bins=config.n_bins):
            rows.append({"kind": "reliability", "model": name, **bin_._asdict()})
        progress.update(1)
    rng = np.random.default_rng(seed)
    a, b = correct["mean_pooling"], correct["cls_pooling"]
    for size in config.sizes:
        progress.set_postfix_str(f"n={size}")
        counts = resample_accuracies(a, b, size, config.resamples, rng)
        paired = (counts["a"] - counts["b"]) / size
        unpaired = (counts["a"] - counts["b_unpaired"]) / size
        rows.append(
            {
                "kind": "resampled",
                "size": size,
                "resamples": config.resamples,
                "accuracy_a": _spread(counts["a"] / size),
                "accuracy_b": _spread(counts["b"] / size),
                "difference_paired": _spread(paired),
                "difference_unpaired": _spread(unpaired),
                "share_b_ties_or_beats_a": round(float(np.mean(counts["b"] >= counts["a"])), 5),
                "share_b_beats_a": round(float(np.mean(counts["b"] > counts["a"])), 5),
                "histogram_a": np.bincount(counts["a"], minlength=size + 1).tolist(),
                "histogram_b": np.bincount(counts["b"], minlength=size + 1).tolist(),
            }
        )
        progress.update(1)
    return rows


# ----------------------------------------------------------------------------- summary


def summarize(
    rows: list[dict[str, Any]], config: SmallTestSetsConfig | None = None
) -> dict[str, Any]:
    """Headline numbers: each model's full-set scores, and per size the spread and the widths.

    Examples:
        >>> rows = [{"kind": "model", "model": "m", "accuracy": {"estimate": 0.9, "low": 0.8,
        ...          "high": 0.95}, "macro_f1": {"estimate": 0.9, "low": 0.8, "high": 0.95},
        ...          "ece": 0.02},
        ...         {"kind": "resampled", "size": 20, "accuracy_a": {"q025": 0.8, "q975": 1.0},
        ...          "difference_paired": {"q025": -0.05, "q975": 0.15},
        ...          "difference_unpaired": {"q025": -0.2, "q975": 0.25},
        ...          "share_b_ties_or_beats_a": 0.3}]
        >>> summarize(rows)["per_size"]["20"]["paired_width"]
        0.2
    """
    models = {
        r["model"]: {
            "accuracy": r["accuracy"],
            "macro_f1": r["macro_f1"],
            "ece": r["ece"],
        }
        for r in rows
        if r["kind"] == "model"
    }
    per_size = {}
    for r in rows:
        if r["kind"] != "resampled":
            continue
        per_size[str(r["size"])] = {
            "accuracy_a_q025": r["accuracy_a"]["q025"],
            "accuracy_a_q975": r["accuracy_a"]["q975"],
            "accuracy_a_range": round(r["accuracy_a"]["q975"] - r["accuracy_a"]["q025"], 5),
            "share_b_ties_or_beats_a": r["share_b_ties_or_beats_a"],
            "paired_width": round(
                r["difference_paired"]["q975"] - r["difference_paired"]["q025"], 5
            ),
            "unpaired_width": round(
                r["difference_unpaired"]["q975"] - r["difference_unpaired"]["q025"], 5
            ),
        }
    return {
        "models": models,
        "per_size": per_size,
        "resampling": "test sets drawn with replacement from the scored test lines; "
        "ranges are 2.5th to 97.5th percentiles",
    }


# ----------------------------------------------------------------------------- figure

_NAMES = {
    "mean_pooling": "A: mean pooling",
    "cls_pooling": "B: [CLS] vector",
    "mean_pooling_strong_l2": "A, strong L2 (C small)",
}
_COLORS = {
    "mean_pooling": "tab:blue",
    "cls_pooling": "tab:orange",
    "mean_pooling_strong_l2": "tab:green",
}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Three panels: accuracy spread per test size, interval widths, reliability diagram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = {r["model"]: r for r in rows if r["kind"] == "model"}
    resampled = sorted((r for r in rows if r["kind"] == "resampled"), key=lambda r: r["size"])
    sizes = [r["size"] for r in resampled]
    with plt.rc_context({"svg.hashsalt": "ptm-snippets", "svg.fonttype": "none"}):
        fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.2), layout="constrained")

        ax = axes[0]
        positions = np.arange(len(sizes))
        for offset, key, model in (
            (-0.12, "accuracy_a", "mean_pooling"),
            (0.12, "accuracy_b", "cls_pooling"),
        ):
            color = _COLORS[model]
            for x, r in zip(positions + offset, resampled, strict=True):
                s = r[key]
                ax.vlines(x, s["q025"], s["q975"], color=color, linewidth=1.5)
                ax.vlines(x, s["q25"], s["q75"], color=color, linewidth=5)
                ax.plot(x, s["median"], "o", color="white", markeredgecolor=color, markersize=4)
            ax.axhline(
                models[model]["accuracy"]["estimate"],
                color=color,
                linestyle="--",
                linewidth=0.8,
                label=f"{_NAMES[model]} (all {models[model]['test_lines']} lines: "
                f"{models[model]['accuracy']['estimate']:.3f})",
            )
        for x, r in zip(positions, resampled, strict=True):
            ax.annotate(
                f"B≥A\n{r['share_b_ties_or_beats_a']:.0%}",
                (x, 1.0),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7,
            )
        ax.set_xticks(positions, [str(s) for s in sizes])
        ax.set_xlabel("test-set size (lines, drawn with replacement)")
        ax.set_ylabel("accuracy: 95 % range (thin), middle 50 % (thick)")
        low = min(r["accuracy_b"]["q025"] for r in resampled)
        ax.set_ylim(max(0.0, low - 0.05), 1.08)
        ax.set_title("Accuracy measured on a random test set", fontsize=10)
        ax.legend(loc="lower right", fontsize=7)
        ax.grid(alpha=0.3, axis="y")

        ax = axes[1]
        series = (
            ("accuracy_a", "accuracy of A alone", "tab:blue", "o"),
            ("difference_unpaired", "A - B, unpaired (two separate test sets)", "tab:red", "s"),
            ("difference_paired", "A - B, paired (same test lines)", "tab:purple", "^"),
        )
        for key, label, color, marker in series:
            widths = [r[key]["q975"] - r[key]["q025"] for r in resampled]
            ax.plot(sizes, widths, marker=marker, color=color, label=label)
        first = resampled[0]["accuracy_a"]
        ref = first["q975"] - first["q025"]
        guide = [ref * (sizes[0] / s) ** 0.5 for s in sizes]
        ax.plot(sizes, guide, color="grey", linestyle=":", label="∝ 1/√n")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.minorticks_off()
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ticks = [0.02, 0.05, 0.1, 0.2, 0.5]
        ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
        ax.set_xlabel("test-set size (lines, log scale)")
        ax.set_ylabel("width of the 95 % interval (log scale)")
        ax.set_title("Interval widths shrink like 1/√n", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, which="both")

        ax = axes[2]
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
        for model in MODELS:
            if model not in models:
                continue
            bins = [
                r for r in rows if r["kind"] == "reliability" and r["model"] == model and r["n"] > 0
            ]
            color = _COLORS[model]
            ax.plot(
                [b["confidence"] for b in bins],
                [b["accuracy"] for b in bins],
                color=color,
                linewidth=1,
                label=f"{_NAMES[model]}: ECE {models[model]['ece']:.3f}, "
                f"accuracy {models[model]['accuracy']['estimate']:.3f}",
            )
            ax.scatter(
                [b["confidence"] for b in bins],
                [b["accuracy"] for b in bins],
                s=[8 + 1.5 * b["n"] ** 0.5 * 8 for b in bins],
                color=color,
                alpha=0.7,
            )
        ax.set_xlim(0.2, 1.0)
        ax.set_ylim(0.2, 1.02)
        ax.set_xlabel("mean confidence in the bin (top probability)")
        ax.set_ylabel("accuracy in the bin")
        ax.set_title("Reliability diagram (bins of width 0.1; area ~ lines)", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)


EXPERIMENT = register(
    Experiment(
        name="small_test_sets",
        run=run,
        plot=plot,
        full=FULL,
        fast=FAST,
        summarize=summarize,
        description=(
            "How much accuracy moves on small test sets, paired vs unpaired comparison of two "
            "frozen-MiniLM heads, and their calibration"
        ),
    )
)
