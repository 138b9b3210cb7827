"""Evaluation: classification metrics, calibration, honest comparisons, perplexity and text overlap.

Every metric here is written out in a few lines of NumPy or PyTorch so that it can be read, and
each is checked in the unit tests against the library that readers would otherwise use
(scikit-learn for the classification metrics, ``sacrebleu`` for BLEU and chrF, ``rouge-score``
for ROUGE-L, SciPy for the exact binomial test):

* :func:`accuracy`, :func:`precision_recall_f1` (``average`` in ``"macro"``, ``"micro"``,
  ``"weighted"`` or ``None`` for per-class scores) and :func:`confusion_matrix`;
* :func:`expected_calibration_error`, :func:`reliability_table` and :func:`fit_temperature`
  (calibration, Guo et al., 2017);
* :func:`bootstrap_ci` (a seeded percentile bootstrap of any metric), :func:`paired_bootstrap`
  (two systems on the same items, Koehn, 2004) and :func:`mcnemar_test` (exact);
* :func:`perplexity_from_log_likelihoods` and :func:`causal_lm_perplexity` (a causal language
  model over a token stream, in sliding or disjoint windows);
* :func:`bleu`, :func:`chrf` and :func:`rouge_l` for generated text;
* :func:`evaluate_classifier`, a small harness that turns gold labels and predictions (or
  probabilities) into an :class:`EvaluationReport` with bootstrap intervals, and
  :func:`evaluate_model`, the same for a :mod:`ptm_snippets.finetuning` classifier.

Metric helpers reject bad input with a ``ValueError`` (or ``TypeError``) that names the argument
and says what is valid: sequences of different lengths, empty inputs, an unknown averaging mode,
or a label outside the declared ``labels``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, overload

import numpy as np
import torch
from numpy.typing import NDArray

__all__ = [
    "AVERAGES",
    "BleuScore",
    "EvaluationReport",
    "Interval",
    "McNemarResult",
    "PairedComparison",
    "PerplexityResult",
    "ReliabilityBin",
    "Scores",
    "accuracy",
    "bleu",
    "bootstrap_ci",
    "causal_lm_perplexity",
    "chrf",
    "classifier_probabilities",
    "confusion_matrix",
    "evaluate_classifier",
    "evaluate_model",
    "expected_calibration_error",
    "fit_temperature",
    "mcnemar_test",
    "paired_bootstrap",
    "perplexity_from_log_likelihoods",
    "precision_recall_f1",
    "reliability_table",
    "rouge_l",
]

AVERAGES: tuple[str | None, ...] = ("macro", "micro", "weighted", None)
"""The ``average`` modes :func:`precision_recall_f1` accepts (``None``: one score per class)."""

Average = Literal["macro", "micro", "weighted"]
LabelSeq = Sequence[Any] | NDArray[Any] | torch.Tensor
"""Labels: a sequence (list, tuple, NumPy array) of hashable values such as strings or ints."""


# ----------------------------------------------------------------------------- checks


def _as_list(values: Any, name: str) -> list[Any]:
    if isinstance(values, str | bytes):
        raise TypeError(f"{name} must be a sequence of labels, not a single string")
    if isinstance(values, torch.Tensor):
        values = values.tolist()
    try:
        out = list(values)
    except TypeError:
        raise TypeError(
            f"{name} must be a sequence of labels, got {type(values).__name__}"
        ) from None
    if not out:
        raise ValueError(f"{name} must hold at least one label, got an empty sequence")
    return out


def _same_length(**columns: Sequence[Any]) -> int:
    lengths = {name: len(column) for name, column in columns.items()}
    if len(set(lengths.values())) > 1:
        described = " and ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"{' and '.join(lengths)} must have the same length, got: {described}")
    return next(iter(lengths.values()))


def _resolve_labels(labels: Sequence[Any] | None, **columns: list[Any]) -> tuple[Any, ...]:
    """The declared labels (checked), or the sorted union of the values seen."""
    if labels is None:
        seen = {v for column in columns.values() for v in column}
        try:
            return tuple(sorted(seen))
        except TypeError:  # values that do not sort: keep the order they first appear in
            order: dict[Any, None] = {}
            for column in columns.values():
                order.update(dict.fromkeys(column))
            return tuple(order)
    if isinstance(labels, str):
        raise TypeError("labels must be a sequence of labels, not a single string")
    declared = tuple(labels)
    if not declared:
        raise ValueError("labels must declare at least one label, got an empty sequence")
    if len(set(declared)) != len(declared):
        raise ValueError(f"labels must not repeat a label, got {declared}")
    allowed = set(declared)
    for name, column in columns.items():
        for value in column:
            if value not in allowed:
                raise ValueError(
                    f"{name} holds {value!r}, which is not one of the declared labels {declared}"
                )
    return declared


def _encode(values: list[Any], labels: tuple[Any, ...]) -> NDArray[np.intp]:
    index = {label: i for i, label in enumerate(labels)}
    return np.fromiter((index[v] for v in values), dtype=np.intp, count=len(values))


def _prepare(
    y_true: LabelSeq, y_pred: LabelSeq, labels: Sequence[Any] | None
) -> tuple[NDArray[np.intp], NDArray[np.intp], tuple[Any, ...]]:
    truth, predicted = _as_list(y_true, "y_true"), _as_list(y_pred, "y_pred")
    _same_length(y_true=truth, y_pred=predicted)
    declared = _resolve_labels(labels, y_true=truth, y_pred=predicted)
    return _encode(truth, declared), _encode(predicted, declared), declared


# ----------------------------------------------------------------------------- classification


class Scores(NamedTuple):
    """Precision, recall and F1 of one class or one average, and the number of gold items."""

    precision: float
    recall: float
    f1: float
    support: int


def accuracy(y_true: LabelSeq, y_pred: LabelSeq, *, labels: Sequence[Any] | None = None) -> float:
    """The share of items whose predicted label equals the gold label.

    Args:
        y_true: Gold labels.
        y_pred: Predicted labels, one per gold label.
        labels: The declared label set; a value outside it raises. ``None`` accepts any value.

    Raises:
        ValueError: If the inputs are empty or differ in length, or a label is not declared.

    Examples:
        >>> accuracy(["a", "b", "b", "a"], ["a", "b", "a", "a"])
        0.75
        >>> accuracy(["a", "b"], ["a"])
        Traceback (most recent call last):
        ...
        ValueError: y_true and y_pred must have the same length, got: y_true has 2 and y_pred has 1
    """
    truth, predicted, _ = _prepare(y_true, y_pred, labels)
    return float(np.mean(truth == predicted))


def confusion_matrix(
    y_true: LabelSeq, y_pred: LabelSeq, *, labels: Sequence[Any] | None = None
) -> list[list[int]]:
    """Counts of (gold, predicted) pairs: row ``i`` is gold ``labels[i]``, column ``j`` predicted ``labels[j]``.

    Without ``labels`` the rows and columns follow the sorted set of values seen.

    Raises:
        ValueError: If the inputs are empty or differ in length, or a label is not declared.

    Examples:
        >>> confusion_matrix(["cat", "dog", "dog"], ["cat", "cat", "dog"], labels=["dog", "cat"])
        [[1, 1], [0, 1]]
        >>> confusion_matrix(["cat"], ["cow"], labels=["cat", "dog"])
        Traceback (most recent call last):
        ...
        ValueError: y_pred holds 'cow', which is not one of the declared labels ('cat', 'dog')
    """
    truth, predicted, declared = _prepare(y_true, y_pred, labels)
    return _confusion(truth, predicted, len(declared)).tolist()  # type: ignore[no-any-return]


def _confusion(truth: NDArray[np.intp], predicted: NDArray[np.intp], k: int) -> NDArray[np.int64]:
    return np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k).astype(np.int64)


def _per_class(matrix: NDArray[np.int64]) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    tp = np.diag(matrix).astype(float)
    predicted, gold = matrix.sum(0).astype(float), matrix.sum(1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, gold, out=np.zeros_like(tp), where=gold > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(tp), where=total > 0)
    return precision, recall, f1


def _averaged(matrix: NDArray[np.int64], average: str) -> Scores:
    precision, recall, f1 = _per_class(matrix)
    gold = matrix.sum(1)
    n = int(matrix.sum())
    if average == "macro":
        return Scores(float(precision.mean()), float(recall.mean()), float(f1.mean()), n)
    if average == "weighted":
        w = gold / n
        return Scores(
            float((precision * w).sum()), float((recall * w).sum()), float((f1 * w).sum()), n
        )
    tp, predicted = float(np.trace(matrix)), float(matrix.sum())  # micro: pool all decisions
    p = tp / predicted if predicted else 0.0
    r = tp / n if n else 0.0
    return Scores(p, r, 2 * p * r / (p + r) if p + r else 0.0, n)


@overload
def precision_recall_f1(
    y_true: LabelSeq,
    y_pred: LabelSeq,
    *,
    labels: Sequence[Any] | None = ...,
    average: Average = ...,
) -> Scores: ...


@overload
def precision_recall_f1(
    y_true: LabelSeq,
    y_pred: LabelSeq,
    *,
    labels: Sequence[Any] | None = ...,
    average: None,
) -> dict[Any, Scores]: ...


@overload
def precision_recall_f1(
    y_true: LabelSeq,
    y_pred: LabelSeq,
    *,
    labels: Sequence[Any] | None = ...,
    average: Average | None,
) -> Scores | dict[Any, Scores]: ...


def precision_recall_f1(
    y_true: LabelSeq,
    y_pred: LabelSeq,
    *,
    labels: Sequence[Any] | None = None,
    average: Average | None = "macro",
) -> Scores | dict[Any, Scores]:
    """Precision, recall and F1, per class or averaged.

    For class *c*, precision is the share of items predicted *c* that are *c*, recall the share
    of items that are *c* that were predicted *c*, and F1 their harmonic mean; a class with no
    predictions (or no gold items) scores 0, as scikit-learn's ``zero_division=0`` does.

    * ``"macro"``: the unweighted mean over the declared labels: every class counts the same,
      so rare classes weigh as much as common ones.
    * ``"micro"``: pool every decision first. With one label per item and every label declared,
      micro precision, recall and F1 all equal accuracy.
    * ``"weighted"``: the mean weighted by each class's gold count.
    * ``None``: a ``dict`` from label to its :class:`Scores`.

    Args:
        y_true: Gold labels.
        y_pred: Predicted labels, one per gold label.
        labels: The declared label set (and the order of the per-class ``dict``); a value
            outside it raises. ``None`` uses the sorted set of values seen.
        average: One of :data:`AVERAGES`.

    Raises:
        ValueError: If the inputs are empty or differ in length, a label is not declared, or
            ``average`` is not one of :data:`AVERAGES`.

    Examples:
        >>> gold = ["a", "a", "a", "b"]
        >>> pred = ["a", "a", "b", "b"]
        >>> precision_recall_f1(gold, pred, average="macro")
        Scores(precision=0.75, recall=0.8333333333333333, f1=0.7333333333333334, support=4)
        >>> precision_recall_f1(gold, pred, average=None)["b"]
        Scores(precision=0.5, recall=1.0, f1=0.6666666666666666, support=1)
        >>> precision_recall_f1(gold, pred, average="binary")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: average must be one of 'macro', 'micro', 'weighted' or None, got 'binary'
    """
    if average not in AVERAGES:
        raise ValueError(
            f"average must be one of 'macro', 'micro', 'weighted' or None, got {average!r}"
        )
    truth, predicted, declared = _prepare(y_true, y_pred, labels)
    matrix = _confusion(truth, predicted, len(declared))
    if average is not None:
        return _averaged(matrix, average)
    precision, recall, f1 = _per_class(matrix)
    gold = matrix.sum(1)
    return {
        label: Scores(float(precision[i]), float(recall[i]), float(f1[i]), int(gold[i]))
        for i, label in enumerate(declared)
    }


# ----------------------------------------------------------------------------- calibration


def _check_probabilities(
    probabilities: Any, y_true: Any, name: str = "probabilities"
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    if isinstance(probabilities, torch.Tensor):
        probabilities = probabilities.detach().cpu().double().numpy()
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(
            f"{name} must be a non-empty 2-D array of shape (items, classes) with at least 2 "
            f"classes, got shape {p.shape}"
        )
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"{name} must hold probabilities in [0, 1]; pass softmax(logits)")
    sums = p.sum(1)
    worst = int(np.argmax(np.abs(sums - 1)))
    if abs(sums[worst] - 1) > 1e-3:
        raise ValueError(
            f"{name} rows must sum to 1, but row {worst} sums to {sums[worst]:.4f}; "
            "pass softmax(logits), not logits"
        )
    truth = _as_list(y_true, "y_true")
    _same_length(**{name: list(p), "y_true": truth})
    k = p.shape[1]
    bad = [y for y in truth if isinstance(y, bool) or not isinstance(y, int | np.integer)]
    bad += [y for y in truth if isinstance(y, int | np.integer) and not 0 <= y < k]
    if bad:
        raise ValueError(
            f"y_true must hold class indices in [0, {k}) (the columns of {name}), got {bad[0]!r}"
        )
    return p, np.asarray(truth, dtype=np.intp)


def _check_bins(n_bins: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be an int >= 1, got {n_bins!r}")


class ReliabilityBin(NamedTuple):
    """One confidence bin: its range, how many items fell in it, their mean confidence and accuracy.

    ``confidence`` and ``accuracy`` are ``None`` for an empty bin.
    """

    lower: float
    upper: float
    n: int
    confidence: float | None
    accuracy: float | None


def reliability_table(
    probabilities: Any, y_true: LabelSeq, *, n_bins: int = 10
) -> list[ReliabilityBin]:
    """Bin the items by confidence (the top probability) and compare confidence with accuracy.

    Bins are equal-width over [0, 1] and closed on the right, ``(m/M, (m+1)/M]``, as in Guo et
    al. (2017); a perfectly calibrated model has ``accuracy == confidence`` in every bin. This
    is the table behind a reliability diagram.

    Args:
        probabilities: Shape ``(items, classes)``; rows sum to 1 (NumPy, torch or nested lists).
        y_true: The gold class index of each item, in ``[0, classes)``.
        n_bins: Number of bins.

    Raises:
        ValueError: If the shapes disagree, rows are not probabilities, a gold index is out of
            range, or ``n_bins`` is below 1.

    Examples:
        >>> probs = [[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]]
        >>> [(b.n, b.confidence, b.accuracy) for b in reliability_table(probs, [0, 1, 1, 1],
        ...                                                                    n_bins=2)]
        [(0, None, None), (4, 0.75, 0.75)]
    """
    p, truth = _check_probabilities(probabilities, y_true)
    _check_bins(n_bins)
    confidence = p.max(1)
    correct = p.argmax(1) == truth
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    table = []
    for m in range(n_bins):
        inside = which == m
        count = int(inside.sum())
        table.append(
            ReliabilityBin(
                float(edges[m]),
                float(edges[m + 1]),
                count,
                float(confidence[inside].mean()) if count else None,
                float(correct[inside].mean()) if count else None,
            )
        )
    return table


def expected_calibration_error(probabilities: Any, y_true: LabelSeq, *, n_bins: int = 10) -> float:
    """ECE: the gap between confidence and accuracy, averaged over bins weighted by their size.

    ``sum over bins of (count / n) * |accuracy - mean confidence|`` with the bins of
    :func:`reliability_table`. 0 is perfect calibration. It depends on ``n_bins`` and is noisy
    on small sets, so report the number of bins with it.

    Raises:
        ValueError: As :func:`reliability_table`.

    Examples:
        >>> expected_calibration_error([[0.9, 0.1], [0.9, 0.1]], [0, 1])  # 90 % sure, 50 % right
        0.4
        >>> expected_calibration_error([[0.9, 0.1]], [2])
        Traceback (most recent call last):
        ...
        ValueError: y_true must hold class indices in [0, 2) (the columns of probabilities), got 2
    """
    table = reliability_table(probabilities, y_true, n_bins=n_bins)
    n = sum(b.n for b in table)
    gap = sum(
        b.n / n * abs(b.accuracy - b.confidence)
        for b in table
        if b.accuracy is not None and b.confidence is not None
    )
    return round(float(gap), 12)


def fit_temperature(
    logits: Any, y_true: LabelSeq, *, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """The temperature *T* that minimises the negative log-likelihood of ``softmax(logits / T)``.

    Temperature scaling (Guo et al., 2017) is the simplest post-hoc calibration: one number,
    fitted on held-out data (never the test set), divides every logit. It cannot change a
    prediction, only the confidence: ``T > 1`` softens an over-confident model, ``T < 1``
    sharpens an under-confident one. The likelihood is convex in ``1 / T``, so a golden-section
    search finds the optimum.

    Args:
        logits: Shape ``(items, classes)``: unnormalised scores (NumPy, torch or nested lists).
        y_true: The gold class index of each item.
        bounds: The search range for ``T``.

    Raises:
        ValueError: If the shapes disagree, a gold index is out of range, or the bounds are not
            ``0 < low < high``.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> true_logits = rng.normal(size=(4000, 3)) * 2
        >>> y = [int(rng.choice(3, p=np.exp(z) / np.exp(z).sum())) for z in true_logits]
        >>> round(fit_temperature(true_logits * 3, y), 1)  # logits three times too sharp
        3.0
    """
    if isinstance(logits, torch.Tensor):
        logits = logits.detach().cpu().double().numpy()
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 2 or not np.isfinite(z).all():
        raise ValueError(
            f"logits must be a finite, non-empty 2-D array (items, classes >= 2), got shape {z.shape}"
        )
    low, high = bounds
    if not 0 < low < high:
        raise ValueError(f"bounds must satisfy 0 < low < high, got {bounds}")
    uniform = np.full_like(z, 1.0 / z.shape[1])
    _, truth = _check_probabilities(uniform, y_true, "logits")
    rows = np.arange(len(truth))

    def nll(beta: float) -> float:
        scaled = z * beta
        scaled -= scaled.max(1, keepdims=True)
        log_norm = np.log(np.exp(scaled).sum(1))
        return float((log_norm - scaled[rows, truth]).mean())

    a, b = 1.0 / high, 1.0 / low  # search beta = 1 / T
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(c), nll(d)
    for _ in range(200):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(d)
        if b - a < 1e-9:
            break
    return 1.0 / ((a + b) / 2)


# ----------------------------------------------------------------------------- intervals


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval.

    Attributes:
        estimate: The metric on the full data.
        low: Lower end of the interval.
        high: Upper end of the interval.
        confidence: The interval's nominal coverage, e.g. 0.95.
        samples: The metric on every bootstrap resample, in order (not shown in ``repr``).
    """

    estimate: float
    low: float
    high: float
    confidence: float
    samples: tuple[float, ...] = field(default=(), repr=False, compare=False)

    @property
    def width(self) -> float:
        """``high - low``."""
        return self.high - self.low

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _check_boot(n_boot: int, confidence: float, seed: int) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be an int >= 1 (1000 or more for reporting), got {n_boot!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95, got {confidence!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")


def _columns(columns: tuple[Any, ...], names: Sequence[str]) -> tuple[list[NDArray[Any]], int]:
    if not columns:
        raise ValueError("give at least one column of data to resample")
    arrays = []
    for name, column in zip(names, columns, strict=True):
        if isinstance(column, str | bytes):
            raise TypeError(f"{name} must be a sequence, not a single string")
        if isinstance(column, torch.Tensor):
            column = column.detach().cpu().numpy()
        array = np.asarray(column)
        if array.ndim == 0 or len(array) == 0:
            raise ValueError(f"{name} must hold at least one item, got an empty sequence")
        arrays.append(array)
    _same_length(**{name: a for name, a in zip(names, arrays, strict=True)})  # type: ignore[arg-type]
    return arrays, len(arrays[0])


def _interval(estimate: float, samples: NDArray[Any], confidence: float) -> tuple[float, float]:
    alpha = 1 - confidence
    low, high = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def bootstrap_ci(
    metric: Callable[..., float],
    *columns: Any,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """A percentile bootstrap interval for ``metric(*columns)``.

    Each resample draws ``n`` row indices with replacement (``n`` is the columns' common
    length) and recomputes the metric on those rows of every column, so paired columns such as
    gold and predicted labels stay paired. The interval runs between the ``(1 - confidence)/2``
    and ``(1 + confidence)/2`` quantiles of the resampled metric. It says how much the number
    would move with a different test set of the same size drawn from the same distribution; it
    says nothing about a test set drawn differently.

    Args:
        metric: Called as ``metric(*resampled_columns)``; each column arrives as a NumPy array.
        *columns: Equal-length sequences (lists, NumPy arrays, tensors).
        n_boot: Number of resamples.
        confidence: Nominal coverage of the interval.
        seed: Seeds ``numpy.random.default_rng``: the same seed gives the same resamples.

    Raises:
        ValueError: If no column is given, the columns are empty or differ in length, or
            ``n_boot``, ``confidence`` or ``seed`` is out of range.

    Examples:
        >>> gold = ["a"] * 50 + ["b"] * 50
        >>> pred = ["a"] * 45 + ["b"] * 5 + ["b"] * 40 + ["a"] * 10
        >>> ci = bootstrap_ci(accuracy, gold, pred, n_boot=2000, seed=0)
        >>> print(ci)
        0.850 [0.780, 0.920]
        >>> len(ci.samples), ci.low < ci.estimate < ci.high
        (2000, True)
    """
    _check_boot(n_boot, confidence, seed)
    names = [f"columns[{i}]" for i in range(len(columns))]
    arrays, n = _columns(columns, names)
    estimate = float(metric(*arrays))
    rng = np.random.default_rng(seed)
    samples = np.empty(n_boot)
    for b in range(n_boot):
        rows = rng.integers(0, n, size=n)
        samples[b] = metric(*(a[rows] for a in arrays))
    low, high = _interval(estimate, samples, confidence)
    return Interval(estimate, low, high, confidence, tuple(float(s) for s in samples))


@dataclass(frozen=True)
class PairedComparison:
    """System A minus system B on the same items, with a paired bootstrap interval.

    Attributes:
        difference: ``metric(A) - metric(B)`` on the full data.
        low: Lower end of the interval of the difference.
        high: Upper end.
        confidence: Nominal coverage.
        share_a_not_better: Share of resamples in which A's metric was not above B's. Koehn
            (2004) concludes that A is better with 95 % confidence when this is below 0.05.
        samples: The difference on every resample (not shown in ``repr``).
    """

    difference: float
    low: float
    high: float
    confidence: float
    share_a_not_better: float
    samples: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def __str__(self) -> str:
        return (
            f"{self.difference:+.3f} [{self.low:+.3f}, {self.high:+.3f}], "
            f"A not better in {self.share_a_not_better:.1%} of resamples"
        )


def paired_bootstrap(
    metric: Callable[[Any, Any], float],
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """Compare two systems on the same test items with a paired bootstrap (Koehn, 2004).

    Every resample draws one set of item indices and scores *both* systems on it, so the
    variation that comes from which items happen to be easy cancels out of the difference.
    That makes the interval of the difference much narrower than comparing two separate
    intervals, whenever the systems tend to get the same items right.

    Args:
        metric: ``metric(y_true, y_pred) -> float``, e.g. :func:`accuracy`.
        y_true: Gold labels.
        pred_a: System A's predictions.
        pred_b: System B's predictions.
        n_boot: Number of resamples.
        confidence: Nominal coverage of the interval.
        seed: Seeds the resampling.

    Raises:
        ValueError: If the inputs are empty or differ in length, or a setting is out of range.

    Examples:
        >>> gold = [1] * 100
        >>> a = [1] * 90 + [0] * 10
        >>> b = [1] * 85 + [0] * 15  # wrong on every item A gets wrong, and on 5 more
        >>> print(paired_bootstrap(accuracy, gold, a, b, seed=0))
        +0.050 [+0.010, +0.100], A not better in 0.5% of resamples
    """
    _check_boot(n_boot, confidence, seed)
    arrays, n = _columns((y_true, pred_a, pred_b), ("y_true", "pred_a", "pred_b"))
    truth, a, b = arrays
    difference = float(metric(truth, a) - metric(truth, b))
    rng = np.random.default_rng(seed)
    samples = np.empty(n_boot)
    for i in range(n_boot):
        rows = rng.integers(0, n, size=n)
        samples[i] = metric(truth[rows], a[rows]) - metric(truth[rows], b[rows])
    low, high = _interval(difference, samples, confidence)
    return PairedComparison(
        difference,
        low,
        high,
        confidence,
        float(np.mean(samples <= 0)),
        tuple(float(s) for s in samples),
    )


class McNemarResult(NamedTuple):
    """Items only A got right, items only B got right, and the exact two-sided p-value."""

    a_only: int
    b_only: int
    p_value: float


def mcnemar_test(y_true: LabelSeq, pred_a: LabelSeq, pred_b: LabelSeq) -> McNemarResult:
    """McNemar's exact test: do two classifiers differ in accuracy on the same items?

    Only the items where exactly one system is right carry information. If the systems were
    equally good, each such item would be A's or B's with probability 1/2, so the count of A's
    follows a binomial distribution; the two-sided p-value doubles the smaller tail (capped at
    1). McNemar (1947) introduced the test; Dietterich (1998) recommends it for comparing two
    classifiers trained once.

    Raises:
        ValueError: If the inputs are empty or differ in length.

    Examples:
        >>> gold = [1] * 30
        >>> a = [1] * 25 + [0] * 5
        >>> b = [0] * 10 + [1] * 20
        >>> mcnemar_test(gold, a, b)  # A alone right on 10 items, B alone on 5
        McNemarResult(a_only=10, b_only=5, p_value=0.3017578125)
    """
    truth = _as_list(y_true, "y_true")
    a, b = _as_list(pred_a, "pred_a"), _as_list(pred_b, "pred_b")
    _same_length(y_true=truth, pred_a=a, pred_b=b)
    right_a = [p == t for p, t in zip(a, truth, strict=True)]
    right_b = [p == t for p, t in zip(b, truth, strict=True)]
    a_only = int(sum(bool(x and not y) for x, y in zip(right_a, right_b, strict=True)))
    b_only = int(sum(bool(y and not x) for x, y in zip(right_a, right_b, strict=True)))
    total = a_only + b_only
    if total == 0:
        return McNemarResult(0, 0, 1.0)
    tail = sum(math.comb(total, i) for i in range(min(a_only, b_only) + 1)) / 2**total
    return McNemarResult(a_only, b_only, float(min(1.0, 2 * tail)))


# ----------------------------------------------------------------------------- perplexity


def perplexity_from_log_likelihoods(
    log_likelihoods: Sequence[float] | NDArray[Any] | torch.Tensor,
) -> float:
    """``exp(-mean log-likelihood)``: perplexity from per-token natural-log probabilities.

    Raises:
        ValueError: If the sequence is empty or holds a value that is not a finite number <= 0.

    Examples:
        >>> import math
        >>> perplexity_from_log_likelihoods([math.log(0.5), math.log(0.125)])  # geometric mean 1/4
        4.0
    """
    if isinstance(log_likelihoods, torch.Tensor):
        log_likelihoods = log_likelihoods.detach().cpu().double().numpy()
    values = np.asarray(log_likelihoods, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("log_likelihoods must hold at least one token's log-probability")
    if not np.isfinite(values).all() or (values > 1e-9).any():
        raise ValueError(
            "log_likelihoods must be finite natural-log probabilities (each <= 0); "
            "pass log-probabilities, not probabilities or losses"
        )
    return float(math.exp(-values.mean()))


@dataclass(frozen=True)
class PerplexityResult:
    """Perplexity of a token stream under a causal language model.

    Attributes:
        perplexity: ``exp(mean_nll)``.
        mean_nll: Mean negative log-likelihood per scored token, in nats.
        tokens: Tokens scored (each scored once; the first token of the stream, and with
            disjoint windows the first token of each window, has no context and is not scored).
        windows: Forward passes made.
    """

    perplexity: float
    mean_nll: float
    tokens: int
    windows: int


@torch.no_grad()
def causal_lm_perplexity(
    model: torch.nn.Module,
    input_ids: Sequence[int] | torch.Tensor,
    *,
    window: int = 256,
    stride: int | None = None,
) -> PerplexityResult:
    """Perplexity of a causal LM on one token stream, scored in windows of at most ``window`` tokens.

    A model reads a bounded context, so a long text is scored window by window.
    ``stride=None`` (or ``stride=window``) cuts it into disjoint chunks: cheap, but the first
    tokens of each chunk are predicted with little or no context, which inflates perplexity.
    A smaller ``stride`` slides the window forward by ``stride`` tokens and scores only the
    tokens not scored before, so each is predicted with at least ``window - stride`` tokens of
    context: closer to the model's true perplexity, at ``window / stride`` times the cost.

    Args:
        model: A causal LM whose forward takes ``input_ids`` of shape ``(1, length)`` and
            returns an output with ``.logits`` of shape ``(1, length, vocab)``.
        input_ids: The token ids of the stream (1-D).
        window: The longest input of one forward pass (at most the model's context).
        stride: How far the window moves; ``None`` means ``window`` (disjoint chunks).

    Raises:
        ValueError: If the stream has fewer than 2 tokens, or ``window`` or ``stride`` is out
            of range.

    Examples:
        >>> from types import SimpleNamespace
        >>> class Uniform(torch.nn.Module):  # every token equally likely among 50
        ...     def forward(self, input_ids):
        ...         return SimpleNamespace(logits=torch.zeros(*input_ids.shape, 50))
        >>> result = causal_lm_perplexity(Uniform(), list(range(30)), window=8, stride=4)
        >>> round(result.perplexity, 3), result.tokens, result.windows
        (50.0, 29, 7)
    """
    ids = input_ids.tolist() if isinstance(input_ids, torch.Tensor) else list(input_ids)
    if ids and isinstance(ids[0], list):
        raise ValueError("input_ids must be one 1-D stream of token ids, not a batch")
    if len(ids) < 2:
        raise ValueError(f"input_ids must hold at least 2 tokens, got {len(ids)}")
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise ValueError(f"window must be an int >= 2, got {window!r}")
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if isinstance(limit, int) and window > limit:
        raise ValueError(f"window must be at most the model's context of {limit}, got {window}")
    stride = window if stride is None else stride
    if isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride <= window:
        raise ValueError(f"stride must be an int in [1, window={window}], got {stride!r}")
    was_training = model.training
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    total, count, windows = 0.0, 0, 0
    next_to_score = 1  # position 0 has no context
    n = len(ids)
    for begin in range(0, n - 1, stride):
        end = min(begin + window, n)
        if end <= next_to_score:
            continue
        chunk = torch.tensor([ids[begin:end]], device=device)
        logits = model(input_ids=chunk).logits[0, :-1].float()
        log_probs = torch.log_softmax(logits, dim=-1)
        token_lp = log_probs.gather(1, chunk[0, 1:, None])[:, 0]  # positions begin+1 .. end-1
        first = max(next_to_score, begin + 1)
        taken = token_lp[first - begin - 1 :]
        total += float(-taken.sum())
        count += len(taken)
        windows += 1
        next_to_score = end
        if end == n:
            break
    model.train(was_training)
    mean_nll = total / count
    return PerplexityResult(math.exp(mean_nll), mean_nll, count, windows)


# ----------------------------------------------------------------------------- generated text


def _check_texts(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    for name, texts in (("hypotheses", hypotheses), ("references", references)):
        if isinstance(texts, str):
            raise TypeError(f"{name} must be a sequence of strings, not a single string")
        if not texts:
            raise ValueError(f"{name} must hold at least one text, got an empty sequence")
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"{name} must hold strings, got {type(text).__name__}")
    _same_length(hypotheses=hypotheses, references=references)


class BleuScore(NamedTuple):
    """Corpus BLEU (0-100) with its parts: n-gram precisions (0-100), brevity penalty, lengths."""

    score: float
    precisions: tuple[float, ...]
    brevity_penalty: float
    hypothesis_length: int
    reference_length: int


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def bleu(
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    max_order: int = 4,
    smooth: Literal["none", "exp"] = "none",
) -> BleuScore:
    """Corpus BLEU (Papineni et al., 2002) with one reference per hypothesis, on whitespace tokens.

    For each order *n* up to ``max_order``, count the hypothesis n-grams that also occur in
    the reference (each reference n-gram can be matched at most as often as it occurs) and
    divide by all hypothesis n-grams, summing over the whole corpus. BLEU is the geometric mean
    of these precisions times a brevity penalty ``exp(1 - r/c)`` when the total hypothesis
    length ``c`` is below the reference length ``r``. Without smoothing any order with no match
    gives 0; ``smooth="exp"`` replaces the *k*-th such zero with ``1 / (2**k * total)``
    (sacrebleu's default for sentence-level BLEU).

    Tokens are whitespace-separated: tokenise first (sacrebleu's default ``13a`` tokeniser splits
    off punctuation), or scores are not comparable with published ones (Post, 2018). With
    ``sacrebleu.corpus_bleu(hyps, [refs], tokenize="none", smooth_method=smooth)`` the result is
    identical.

    Raises:
        ValueError: If the inputs are empty or differ in length, ``max_order`` is below 1, or
            ``smooth`` is unknown.
        TypeError: If an item is not a string.

    Examples:
        >>> print(bleu(["the parcel arrived late today"], ["the parcel arrived late"]).score)
        66.87403049764218
        >>> bleu(["a"], ["a", "b"])
        Traceback (most recent call last):
        ...
        ValueError: hypotheses and references must have the same length, got: hypotheses has 1 and references has 2
    """
    _check_texts(hypotheses, references)
    if isinstance(max_order, bool) or not isinstance(max_order, int) or max_order < 1:
        raise ValueError(f"max_order must be an int >= 1, got {max_order!r}")
    if smooth not in ("none", "exp"):
        raise ValueError(f"smooth must be 'none' or 'exp', got {smooth!r}")
    matches, totals = [0] * max_order, [0] * max_order
    hyp_len = ref_len = 0
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        h, r = hypothesis.split(), reference.split()
        hyp_len += len(h)
        ref_len += len(r)
        for n in range(1, max_order + 1):
            hyp_counts, ref_counts = _ngrams(h, n), _ngrams(r, n)
            matches[n - 1] += sum(min(c, ref_counts[g]) for g, c in hyp_counts.items())
            totals[n - 1] += max(0, len(h) - n + 1)
    bp = 1.0 if hyp_len >= ref_len else (math.exp(1 - ref_len / hyp_len) if hyp_len else 0.0)
    precisions = [0.0] * max_order
    if not any(matches):
        return BleuScore(0.0, tuple(precisions), bp, hyp_len, ref_len)
    zeros = 1.0
    for n in range(max_order):
        if totals[n] == 0:
            break
        if matches[n]:
            precisions[n] = 100.0 * matches[n] / totals[n]
        elif smooth == "exp":
            zeros *= 2
            precisions[n] = 100.0 / (zeros * totals[n])
    if min(precisions) == 0:
        return BleuScore(0.0, tuple(precisions), bp, hyp_len, ref_len)
    score = bp * math.exp(sum(math.log(p) for p in precisions) / max_order)
    return BleuScore(score, tuple(precisions), bp, hyp_len, ref_len)


def chrf(
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    char_order: int = 6,
    beta: float = 2.0,
) -> float:
    """Corpus chrF (Popović, 2015), 0-100: an F-score over character n-grams, whitespace removed.

    For each order 1 to ``char_order``, the character n-grams of hypothesis and reference (with
    spaces deleted) are matched with clipped counts summed over the corpus; precision and recall
    are averaged over the orders that occur, and combined as ``F_beta`` (``beta=2`` weighs
    recall twice as much as precision). Character n-grams give partial credit for shared word
    stems (``refund`` and ``refunded``), which makes chrF kinder than BLEU to short texts and
    inflected words. Identical to ``sacrebleu.metrics.CHRF()`` (chrF2, no word n-grams).

    Raises:
        ValueError: If the inputs are empty or differ in length, or a setting is out of range.
        TypeError: If an item is not a string.

    Examples:
        >>> round(chrf(["the parcel was refunded"], ["parcel refund"]), 2)
        59.75
    """
    _check_texts(hypotheses, references)
    if isinstance(char_order, bool) or not isinstance(char_order, int) or char_order < 1:
        raise ValueError(f"char_order must be an int >= 1, got {char_order!r}")
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta!r}")
    hyp_total, ref_total, match_total = [0] * char_order, [0] * char_order, [0] * char_order
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        h, r = "".join(hypothesis.split()), "".join(reference.split())
        for n in range(1, char_order + 1):
            hc = Counter(h[i : i + n] for i in range(len(h) - n + 1))
            rc = Counter(r[i : i + n] for i in range(len(r) - n + 1))
            hyp_total[n - 1] += sum(hc.values())
            ref_total[n - 1] += sum(rc.values())
            match_total[n - 1] += sum(min(c, rc[g]) for g, c in hc.items())
    precision = recall = 0.0
    orders = 0
    for n in range(char_order):
        if hyp_total[n] and ref_total[n]:
            precision += match_total[n] / hyp_total[n]
            recall += match_total[n] / ref_total[n]
            orders += 1
    if not orders or precision + recall == 0:
        return 0.0
    precision, recall = precision / orders, recall / orders
    b2 = beta**2
    return 100 * (1 + b2) * precision * recall / (b2 * precision + recall)


_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")


def _rouge_tokens(text: str) -> list[str]:
    return [t for t in _NON_ALPHANUMERIC.sub(" ", text.lower()).split() if t]


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[-1]))
        previous = current
    return previous[-1]


def rouge_l(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-L F1 (Lin, 2004), 0-1: longest common subsequence of words, per pair.

    Both texts are lower-cased and cut into runs of ``a-z0-9`` (as the ``rouge-score`` package
    does, without stemming). For each pair, precision is ``LCS / hypothesis length``, recall
    ``LCS / reference length``, and F1 their harmonic mean; the result is the mean over pairs.
    The subsequence need not be contiguous, so ROUGE-L rewards the same words in the same order.
    Identical to ``rouge_score.rouge_scorer.RougeScorer(["rougeL"])`` averaged over pairs.

    Raises:
        ValueError: If the inputs are empty or differ in length.
        TypeError: If an item is not a string.

    Examples:
        >>> round(rouge_l(["The parcel never arrived."], ["my parcel has never arrived"]), 4)
        0.6667
    """
    _check_texts(hypotheses, references)
    scores = []
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        h, r = _rouge_tokens(hypothesis), _rouge_tokens(reference)
        if not h or not r:
            scores.append(0.0)
            continue
        common = _lcs(r, h)
        p, rec = common / len(h), common / len(r)
        scores.append(2 * p * rec / (p + rec) if common else 0.0)
    return float(sum(scores) / len(scores))


# ----------------------------------------------------------------------------- harness


@dataclass(frozen=True)
class EvaluationReport:
    """What :func:`evaluate_classifier` measured; ``format()`` renders it, ``to_dict()`` stores it.

    Attributes:
        labels: Label names, in class-index order.
        n: Number of test items.
        accuracy: Accuracy with its bootstrap interval.
        macro_f1: Macro-averaged F1 with its bootstrap interval (same resamples).
        per_class: Precision, recall, F1 and support of every label.
        confusion: Rows are gold labels, columns predicted labels, in ``labels`` order.
        ece: Expected calibration error (``None`` when only predictions were given).
        n_bins: Bins used for the ECE.
        n_boot: Bootstrap resamples behind the intervals.
    """

    labels: tuple[str, ...]
    n: int
    accuracy: Interval
    macro_f1: Interval
    per_class: dict[str, Scores]
    confusion: tuple[tuple[int, ...], ...]
    ece: float | None
    n_bins: int
    n_boot: int

    def format(self) -> str:
        """A plain-text report: headline metrics with intervals, per-class scores, confusion.

        Examples:
            >>> report = evaluate_classifier([0, 0, 1, 1], predictions=[0, 1, 1, 1],
            ...                              labels=["no", "yes"], n_boot=200)
            >>> print(report.format())  # doctest: +NORMALIZE_WHITESPACE
            4 items, 2 labels; 95% percentile bootstrap intervals from 200 resamples
            accuracy  0.750 [0.250, 1.000]
            macro-F1  0.733 [0.200, 1.000]
            label  precision  recall     f1  support
            no         1.000   0.500  0.667        2
            yes        0.667   1.000  0.800        2
            confusion (rows: gold, columns: predicted)
                   no  yes
            no      1    1
            yes     0    2
        """
        level = f"{self.accuracy.confidence:.0%}"
        lines = [
            f"{self.n} items, {len(self.labels)} labels; {level} percentile bootstrap "
            f"intervals from {self.n_boot} resamples",
            f"accuracy  {self.accuracy}",
            f"macro-F1  {self.macro_f1}",
        ]
        if self.ece is not None:
            lines.append(f"ECE       {self.ece:.3f} ({self.n_bins} bins)")
        width = max(5, *(len(label) for label in self.labels))
        lines.append(f"{'label':{width}}  precision  recall     f1  support")
        for label, s in self.per_class.items():
            lines.append(
                f"{label:{width}}  {s.precision:9.3f}  {s.recall:6.3f}  {s.f1:5.3f}  {s.support:7d}"
            )
        lines.append("confusion (rows: gold, columns: predicted)")
        cell = max(4, *(len(label) for label in self.labels))
        lines.append(" " * width + "".join(f" {label:>{cell}}" for label in self.labels))
        for label, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"{label:{width}}" + "".join(f" {v:>{cell}d}" for v in row))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready numbers (no bootstrap samples), for experiment rows.

        Examples:
            >>> report = evaluate_classifier([0, 1], predictions=[0, 1], labels=["a", "b"],
            ...                              n_boot=10)
            >>> report.to_dict()["accuracy"]
            {'estimate': 1.0, 'low': 1.0, 'high': 1.0}
        """

        def interval(i: Interval) -> dict[str, float]:
            return {"estimate": i.estimate, "low": i.low, "high": i.high}

        return {
            "n": self.n,
            "labels": list(self.labels),
            "confidence": self.accuracy.confidence,
            "n_boot": self.n_boot,
            "accuracy": interval(self.accuracy),
            "macro_f1": interval(self.macro_f1),
            "ece": self.ece,
            "n_bins": self.n_bins,
            "per_class": {k: v._asdict() for k, v in self.per_class.items()},
            "confusion": [list(row) for row in self.confusion],
        }


def _as_ids(values: list[Any], labels: tuple[str, ...], name: str) -> list[int]:
    """Class indices from indices (ints) or label names."""
    ints = [isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values]
    if all(ints):
        bad = [v for v in values if not 0 <= v < len(labels)]
        if bad:
            raise ValueError(
                f"{name} holds class index {bad[0]!r}, outside [0, {len(labels)}) for labels "
                f"{labels}"
            )
        return [int(v) for v in values]
    if any(ints):
        raise ValueError(f"{name} mixes class indices and label names; use one or the other")
    index = {label: i for i, label in enumerate(labels)}
    missing = [v for v in values if v not in index]
    if missing:
        raise ValueError(
            f"{name} holds {missing[0]!r}, which is not one of the declared labels {labels}"
        )
    return [index[v] for v in values]


def evaluate_classifier(
    gold: LabelSeq,
    *,
    labels: Sequence[str],
    probabilities: Any = None,
    predictions: LabelSeq | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    n_bins: int = 10,
) -> EvaluationReport:
    """Score a classifier's output on a labelled set: metrics with bootstrap intervals.

    Give either ``probabilities`` (the predicted class is the arg-max, and the report adds the
    expected calibration error) or ``predictions``. Gold labels and predictions may be class
    indices (``int`` in ``[0, len(labels))``) or label names from ``labels``.

    Args:
        gold: The gold label of every item.
        labels: The label names, in class-index order (also the probability columns' order).
        probabilities: Shape ``(items, len(labels))``, rows summing to 1.
        predictions: The predicted label of every item (when no probabilities).
        n_boot: Bootstrap resamples for the intervals.
        confidence: Nominal coverage of the intervals.
        seed: Seeds the resampling (accuracy and macro-F1 use the same resamples).
        n_bins: Bins for the ECE.

    Raises:
        ValueError: If neither or both of ``probabilities`` and ``predictions`` are given, the
            lengths differ, a label is outside ``labels``, or a setting is out of range.

    Examples:
        >>> report = evaluate_classifier(["yes", "no", "yes", "yes"], labels=["no", "yes"],
        ...                              probabilities=[[0.2, 0.8], [0.6, 0.4], [0.7, 0.3],
        ...                                             [0.1, 0.9]], n_boot=100)
        >>> print(report.accuracy.estimate, report.per_class["yes"].recall, report.ece)
        0.75 0.6666666666666666 0.35
    """
    names = tuple(str(label) for label in _as_list(labels, "labels"))
    if len(set(names)) != len(names):
        raise ValueError(f"labels must not repeat a label, got {names}")
    if (probabilities is None) == (predictions is None):
        raise ValueError("give exactly one of probabilities and predictions")
    _check_boot(n_boot, confidence, seed)
    _check_bins(n_bins)
    truth = _as_ids(_as_list(gold, "gold"), names, "gold")
    ece: float | None = None
    if probabilities is not None:
        p, _ = _check_probabilities(probabilities, truth)
        if p.shape[1] != len(names):
            raise ValueError(
                f"probabilities has {p.shape[1]} columns but labels has {len(names)} names"
            )
        predicted = [int(i) for i in p.argmax(1)]
        ece = expected_calibration_error(p, truth, n_bins=n_bins)
    else:
        assert predictions is not None
        predicted = _as_ids(_as_list(predictions, "predictions"), names, "predictions")
        _same_length(gold=truth, predictions=predicted)
    ids = list(range(len(names)))

    def acc(t: Any, q: Any) -> float:
        return float(np.mean(np.asarray(t) == np.asarray(q)))

    def macro(t: Any, q: Any) -> float:
        return precision_recall_f1(t, q, labels=ids, average="macro").f1

    boot = {"n_boot": n_boot, "confidence": confidence, "seed": seed}
    matrix = confusion_matrix(truth, predicted, labels=ids)
    per_class = precision_recall_f1(truth, predicted, labels=ids, average=None)
    return EvaluationReport(
        labels=names,
        n=len(truth),
        accuracy=bootstrap_ci(acc, truth, predicted, **boot),  # type: ignore[arg-type]
        macro_f1=bootstrap_ci(macro, truth, predicted, **boot),  # type: ignore[arg-type]
        per_class={names[i]: per_class[i] for i in ids},
        confusion=tuple(tuple(row) for row in matrix),
        ece=ece,
        n_bins=n_bins,
        n_boot=n_boot,
    )


@torch.no_grad()
def classifier_probabilities(
    model: torch.nn.Module, data: Any, *, batch_size: int = 64, pad_id: int = 0
) -> NDArray[np.float64]:
    """Softmax probabilities of a sequence classifier on a :class:`~ptm_snippets.finetuning.TextClassificationDataset`.

    The model is any module whose forward takes ``input_ids`` and ``attention_mask`` and
    returns an output with ``.logits`` (Hugging Face classifiers and ``peft`` models around
    them); it is left in eval mode.

    Raises:
        ValueError: If ``batch_size`` is below 1 or ``data`` is empty.

    Examples:
        >>> from types import SimpleNamespace
        >>> from ptm_snippets.finetuning import TextClassificationDataset
        >>> class Fixed(torch.nn.Module):
        ...     def forward(self, input_ids, attention_mask):
        ...         logits = torch.tensor([[0.0, 0.0]]).repeat(len(input_ids), 1)
        ...         return SimpleNamespace(logits=logits)
        >>> classifier_probabilities(Fixed(), TextClassificationDataset([[1], [2, 3]], [0, 1], 2))
        array([[0.5, 0.5],
               [0.5, 0.5]])
    """
    from ptm_snippets.finetuning import pad_batch

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if len(data) == 0:
        raise ValueError("data must hold at least one example")
    model.eval()
    rows: list[NDArray[np.float64]] = []
    for start in range(0, len(data), batch_size):
        batch = pad_batch(
            [data[i] for i in range(start, min(start + batch_size, len(data)))], pad_id
        )
        batch.pop("labels", None)
        logits = model(**batch).logits.float()
        rows.append(torch.softmax(logits, dim=-1).double().cpu().numpy())
    return np.concatenate(rows)


def evaluate_model(
    model: torch.nn.Module,
    data: Any,
    *,
    labels: Sequence[str],
    batch_size: int = 64,
    pad_id: int = 0,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    n_bins: int = 10,
) -> EvaluationReport:
    """:func:`evaluate_classifier` for a fine-tuned classifier and a labelled dataset.

    ``data`` is a :class:`~ptm_snippets.finetuning.TextClassificationDataset` (from
    :func:`~ptm_snippets.finetuning.encode_dataset`); its ``labels`` are the gold class indices.

    Raises:
        ValueError: As :func:`classifier_probabilities` and :func:`evaluate_classifier`.

    Examples:
        >>> from types import SimpleNamespace
        >>> from ptm_snippets.finetuning import TextClassificationDataset
        >>> class Longer(torch.nn.Module):  # says "long" for texts of 2+ tokens
        ...     def forward(self, input_ids, attention_mask):
        ...         long = (attention_mask.sum(1) >= 2).float()
        ...         return SimpleNamespace(logits=torch.stack([-4 * long, 4 * long], 1))
        >>> data = TextClassificationDataset([[1], [2, 3], [4, 5, 6], [7]], [0, 1, 1, 1], 2)
        >>> report = evaluate_model(Longer(), data, labels=["short", "long"], n_boot=50)
        >>> report.accuracy.estimate, report.confusion
        (0.75, ((1, 0), (1, 2)))
    """
    probabilities = classifier_probabilities(model, data, batch_size=batch_size, pad_id=pad_id)
    return evaluate_classifier(
        list(data.labels),
        labels=labels,
        probabilities=probabilities,
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
        n_bins=n_bins,
    )
