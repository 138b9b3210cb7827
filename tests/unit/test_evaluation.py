"""ptm_snippets.evaluation, checked against scikit-learn, sacrebleu, rouge-score and SciPy."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from ptm_snippets.evaluation import (
    accuracy,
    bleu,
    bootstrap_ci,
    causal_lm_perplexity,
    chrf,
    classifier_probabilities,
    confusion_matrix,
    evaluate_classifier,
    evaluate_model,
    expected_calibration_error,
    fit_temperature,
    mcnemar_test,
    paired_bootstrap,
    perplexity_from_log_likelihoods,
    precision_recall_f1,
    reliability_table,
    rouge_l,
)
from ptm_snippets.finetuning import TextClassificationDataset

LABELS = ["billing", "delivery", "account", "technical", "other"]


def random_labels(seed: int, n: int = 120, k: int = 4) -> tuple[list[str], list[str]]:
    """Gold and predicted labels, right about 60 % of the time; label 'other' never appears."""
    rng = np.random.default_rng(seed)
    gold = [LABELS[i] for i in rng.integers(0, k, n)]
    pred = [g if rng.random() < 0.6 else LABELS[int(rng.integers(0, k))] for g in gold]
    return gold, pred


# ----------------------------------------------------------------------------- classification


@pytest.mark.parametrize("seed", range(5))
def test_accuracy_and_confusion_match_sklearn(seed: int) -> None:
    from sklearn.metrics import accuracy_score
    from sklearn.metrics import confusion_matrix as sk_confusion

    gold, pred = random_labels(seed)
    assert accuracy(gold, pred) == pytest.approx(accuracy_score(gold, pred))
    assert (
        confusion_matrix(gold, pred, labels=LABELS)
        == sk_confusion(gold, pred, labels=LABELS).tolist()
    )
    assert confusion_matrix(gold, pred) == sk_confusion(gold, pred).tolist()  # sorted labels


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
@pytest.mark.parametrize("declared", [None, LABELS])
def test_precision_recall_f1_match_sklearn(
    seed: int, average: str | None, declared: list[str] | None
) -> None:
    from sklearn.metrics import precision_recall_fscore_support

    gold, pred = random_labels(seed)
    expected = precision_recall_fscore_support(
        gold, pred, labels=declared, average=average, zero_division=0
    )
    got: Any = precision_recall_f1(gold, pred, labels=declared, average=average)  # type: ignore[arg-type]
    if average is None:
        order = declared or sorted(set(gold) | set(pred))
        assert list(got) == list(order)
        for i, label in enumerate(order):
            assert got[label].precision == pytest.approx(expected[0][i])
            assert got[label].recall == pytest.approx(expected[1][i])
            assert got[label].f1 == pytest.approx(expected[2][i])
            assert got[label].support == expected[3][i]
    else:
        assert got.precision == pytest.approx(expected[0])
        assert got.recall == pytest.approx(expected[1])
        assert got.f1 == pytest.approx(expected[2])


def test_micro_f1_equals_accuracy_and_macro_punishes_a_missed_class() -> None:
    gold = ["a"] * 90 + ["b"] * 10
    always_a = ["a"] * 100
    assert precision_recall_f1(gold, always_a, average="micro").f1 == pytest.approx(0.9)
    assert accuracy(gold, always_a) == pytest.approx(0.9)
    macro = precision_recall_f1(gold, always_a, average="macro")
    assert macro.f1 == pytest.approx((2 * 0.9 / 1.9 + 0) / 2)
    assert macro.f1 < 0.5


def test_metrics_accept_numpy_arrays_and_tensors() -> None:
    gold, pred = random_labels(0)
    assert accuracy(np.array(gold), np.array(pred)) == accuracy(gold, pred)
    ids_gold = torch.tensor([LABELS.index(g) for g in gold])
    ids_pred = torch.tensor([LABELS.index(p) for p in pred])
    assert accuracy(ids_gold, ids_pred) == accuracy(gold, pred)
    assert accuracy(ids_gold.numpy(), ids_pred.numpy(), labels=range(4)) == accuracy(gold, pred)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: accuracy(["a"], ["a", "b"]), ValueError, "y_true and y_pred must have the same"),
        (lambda: accuracy([], []), ValueError, "y_true must hold at least one label"),
        (lambda: accuracy("ab", "ab"), TypeError, "not a single string"),
        (lambda: accuracy(["a"], ["z"], labels=["a", "b"]), ValueError, "y_pred holds 'z'"),
        (lambda: accuracy(["z"], ["a"], labels=["a", "b"]), ValueError, "y_true holds 'z'"),
        (lambda: accuracy(["a"], ["a"], labels=[]), ValueError, "labels must declare"),
        (lambda: accuracy(["a"], ["a"], labels=["a", "a"]), ValueError, "must not repeat"),
        (
            lambda: precision_recall_f1(["a"], ["a"], average="binary"),  # type: ignore[call-overload]
            ValueError,
            "average must be one of 'macro', 'micro', 'weighted' or None, got 'binary'",
        ),
        (
            lambda: confusion_matrix(["a", "b"], ["a"]),
            ValueError,
            "y_true has 2 and y_pred has 1",
        ),
    ],
)
def test_classification_metrics_reject_bad_input(call: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


# ----------------------------------------------------------------------------- calibration


def loop_ece(probs: np.ndarray, gold: np.ndarray, n_bins: int) -> float:
    """ECE written as plainly as possible, for comparison."""
    total = 0.0
    for m in range(n_bins):
        lo, hi = m / n_bins, (m + 1) / n_bins
        members = [
            i
            for i in range(len(gold))
            if (lo < probs[i].max() <= hi) or (m == 0 and probs[i].max() == 0)
        ]
        if members:
            conf = np.mean([probs[i].max() for i in members])
            acc = np.mean([probs[i].argmax() == gold[i] for i in members])
            total += len(members) / len(gold) * abs(acc - conf)
    return total


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_bins", [1, 5, 15])
def test_ece_matches_a_plain_loop(seed: int, n_bins: int) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(300, 4)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    gold = rng.integers(0, 4, 300)
    assert expected_calibration_error(probs, gold, n_bins=n_bins) == pytest.approx(
        loop_ece(probs, gold, n_bins)
    )
    table = reliability_table(probs, gold, n_bins=n_bins)
    assert sum(b.n for b in table) == 300 and len(table) == n_bins
    assert table[0].lower == 0 and table[-1].upper == 1


def test_a_calibrated_model_has_a_small_ece_and_an_overconfident_one_a_large_one() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(20000, 3)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    gold = np.array([rng.choice(3, p=p) for p in probs])  # labels drawn from the probabilities
    assert expected_calibration_error(probs, gold) < 0.015
    sharp = np.exp(3 * logits) / np.exp(3 * logits).sum(1, keepdims=True)
    assert expected_calibration_error(sharp, gold) > 0.1
    assert fit_temperature(3 * logits, gold) == pytest.approx(3.0, rel=0.05)
    assert fit_temperature(torch.tensor(logits / 2), gold) == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize(
    ("probs", "gold", "message"),
    [
        ([[0.5, 0.6]], [0], "rows must sum to 1"),
        ([[2.0, -1.0]], [0], r"probabilities in \[0, 1\]"),
        ([0.5, 0.5], [0], "2-D array"),
        ([[0.5, 0.5]], [0, 1], "same length"),
        ([[0.5, 0.5]], [2], r"class indices in \[0, 2\)"),
        ([[0.5, 0.5]], ["a"], "class indices"),
    ],
)
def test_calibration_rejects_bad_input(probs: Any, gold: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(probs, gold)


def test_bins_must_be_positive() -> None:
    with pytest.raises(ValueError, match="n_bins must be an int >= 1"):
        reliability_table([[0.5, 0.5]], [0], n_bins=0)


# ----------------------------------------------------------------------------- intervals


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    gold, pred = random_labels(1, n=200)
    first = bootstrap_ci(accuracy, gold, pred, n_boot=300, seed=3)
    again = bootstrap_ci(accuracy, gold, pred, n_boot=300, seed=3)
    other = bootstrap_ci(accuracy, gold, pred, n_boot=300, seed=4)
    assert first.samples == again.samples and first.samples != other.samples
    assert first.low < first.estimate < first.high
    assert first.estimate == accuracy(gold, pred)
    assert str(first).startswith(f"{first.estimate:.3f} [")


def test_bootstrap_interval_narrows_like_one_over_root_n() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for n in (100, 400, 1600):
        correct = (rng.random(n) < 0.8).astype(float)
        widths.append(bootstrap_ci(np.mean, correct, n_boot=500, seed=0).width)
    assert widths[0] / widths[1] == pytest.approx(2, rel=0.25)
    assert widths[1] / widths[2] == pytest.approx(2, rel=0.25)


def test_bootstrap_interval_covers_the_true_accuracy_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(200):
        correct = (rng.random(150) < 0.8).astype(float)
        ci = bootstrap_ci(np.mean, correct, n_boot=300, seed=int(rng.integers(1 << 30)))
        covered += ci.low <= 0.8 <= ci.high
    assert 0.88 <= covered / 200 <= 0.99


def test_paired_bootstrap_is_narrower_than_unpaired_for_correlated_systems() -> None:
    rng = np.random.default_rng(2)
    gold = rng.integers(0, 2, 400)
    a = gold.copy()
    a[rng.random(400) < 0.15] ^= 1  # A errs on 15 %
    b = a.copy()
    b[rng.random(400) < 0.05] ^= 1  # B mostly agrees with A, with a few more flips
    paired = paired_bootstrap(accuracy, gold, a, b, n_boot=1000, seed=0)
    sa = np.array(bootstrap_ci(accuracy, gold, a, n_boot=1000, seed=1).samples)
    sb = np.array(bootstrap_ci(accuracy, gold, b, n_boot=1000, seed=2).samples)
    unpaired_width = float(np.subtract(*np.quantile(sa - sb, [0.975, 0.025])))
    assert paired.high - paired.low < 0.6 * unpaired_width
    assert paired.difference == pytest.approx(accuracy(gold, a) - accuracy(gold, b))
    assert paired.share_a_not_better == pytest.approx(np.mean(np.array(paired.samples) <= 0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_boot": 0}, "n_boot must be an int >= 1"),
        ({"confidence": 1.0}, r"confidence must be in \(0, 1\)"),
        ({"seed": -1}, "seed must be a non-negative int"),
    ],
)
def test_bootstrap_rejects_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(accuracy, ["a"], ["a"], **kwargs)


def test_bootstrap_rejects_bad_columns() -> None:
    with pytest.raises(ValueError, match="at least one column"):
        bootstrap_ci(accuracy)
    with pytest.raises(ValueError, match="same length"):
        bootstrap_ci(accuracy, ["a", "b"], ["a"])
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ci(accuracy, [], [])
    with pytest.raises(ValueError, match="y_true and pred_a and pred_b must have the same"):
        paired_bootstrap(accuracy, [1, 1], [1], [1, 0])


@pytest.mark.parametrize("seed", range(6))
def test_mcnemar_matches_scipy_exact_binomial(seed: int) -> None:
    from scipy.stats import binomtest  # type: ignore[import-untyped]

    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 3, 80)
    a = np.where(rng.random(80) < 0.75, gold, (gold + 1) % 3)
    b = np.where(rng.random(80) < 0.6, gold, (gold + 2) % 3)
    result = mcnemar_test(gold, a, b)
    assert result.a_only == int(((a == gold) & (b != gold)).sum())
    assert result.b_only == int(((b == gold) & (a != gold)).sum())
    expected = binomtest(result.a_only, result.a_only + result.b_only, 0.5).pvalue
    assert result.p_value == pytest.approx(expected)


def test_mcnemar_with_identical_systems_is_one() -> None:
    assert mcnemar_test([1, 0], [1, 1], [1, 1]).p_value == 1.0
    with pytest.raises(ValueError, match="same length"):
        mcnemar_test([1, 0], [1], [1, 0])


# ----------------------------------------------------------------------------- perplexity


class Uniform(torch.nn.Module):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab

    def forward(self, input_ids: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=torch.zeros(*input_ids.shape, self.vocab))


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size() -> None:
    for stride in (1, 3, 8, None):
        result = causal_lm_perplexity(Uniform(37), list(range(25)), window=8, stride=stride)
        assert result.perplexity == pytest.approx(37, rel=1e-5)
    assert causal_lm_perplexity(Uniform(37), list(range(25)), window=8, stride=2).tokens == 24
    disjoint = causal_lm_perplexity(Uniform(37), list(range(25)), window=8)
    # chunks [0, 8), [8, 16), [16, 24): each first token has no context; token 24 would be
    # alone in its chunk, so it has none either
    assert (disjoint.windows, disjoint.tokens) == (3, 21)


@pytest.fixture(scope="module")
def tiny_gpt2() -> Any:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained("openai-community/gpt2").eval()  # type: ignore[no-untyped-call]


def test_one_window_equals_the_models_own_loss(tiny_gpt2: Any) -> None:
    ids = torch.randint(
        0, tiny_gpt2.config.vocab_size, (40,), generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        loss = tiny_gpt2(input_ids=ids[None], labels=ids[None]).loss
    result = causal_lm_perplexity(tiny_gpt2, ids, window=64)
    assert result.windows == 1 and result.tokens == 39
    assert result.perplexity == pytest.approx(math.exp(float(loss)), rel=1e-4)


def test_sliding_windows_score_every_token_once_with_enough_context(tiny_gpt2: Any) -> None:
    ids = torch.randint(
        0, tiny_gpt2.config.vocab_size, (50,), generator=torch.Generator().manual_seed(1)
    )
    with torch.no_grad():
        log_probs = torch.log_softmax(tiny_gpt2(input_ids=ids[None]).logits[0, :-1], -1)
    token_lp = log_probs.gather(1, ids[1:, None])[:, 0]
    full = perplexity_from_log_likelihoods(token_lp)
    # window 50 covers the stream: identical; smaller windows lose context but score every token
    assert causal_lm_perplexity(tiny_gpt2, ids, window=50, stride=10).perplexity == pytest.approx(
        full, rel=1e-4
    )
    sliding = causal_lm_perplexity(tiny_gpt2, ids, window=16, stride=4)
    assert sliding.tokens == 49 and sliding.windows == 10  # begins 0, 4, ..., 36


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_ids": [1]}, "at least 2 tokens"),
        ({"input_ids": [[1, 2]]}, "not a batch"),
        ({"window": 1}, "window must be an int >= 2"),
        ({"stride": 9}, r"stride must be an int in \[1, window=8\]"),
        ({"stride": 0}, "stride must be"),
    ],
)
def test_perplexity_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    arguments = {"input_ids": [1, 2, 3], "window": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        causal_lm_perplexity(Uniform(5), arguments.pop("input_ids"), **arguments)


def test_window_beyond_the_context_is_rejected(tiny_gpt2: Any) -> None:
    limit = tiny_gpt2.config.max_position_embeddings
    with pytest.raises(ValueError, match=f"at most the model's context of {limit}"):
        causal_lm_perplexity(tiny_gpt2, [1, 2, 3], window=limit + 1)


def test_perplexity_from_log_likelihoods_checks_its_input() -> None:
    assert perplexity_from_log_likelihoods([math.log(0.25)] * 3) == pytest.approx(4)
    with pytest.raises(ValueError, match="at least one"):
        perplexity_from_log_likelihoods([])
    with pytest.raises(ValueError, match="not probabilities or losses"):
        perplexity_from_log_likelihoods([0.5])


# ----------------------------------------------------------------------------- generated text

HYPOTHESES = [
    "the customer was charged twice for one order",
    "parcel never arrived",
    "cannot log in after the password reset",
    "app crashes when opening the basket",
    "refund",
    "the the the the",
]
REFERENCES = [
    "customer charged twice for a single order",
    "the parcel never arrived at the house",
    "can not log in after resetting the password",
    "the app crashes on the basket page",
    "wants a refund for a late delivery",
    "the customer is angry",
]


@pytest.mark.parametrize("smooth", ["none", "exp"])
@pytest.mark.parametrize("subset", [slice(None), slice(0, 1), slice(4, 6), slice(1, 4)])
def test_bleu_matches_sacrebleu_on_whitespace_tokens(smooth: str, subset: slice) -> None:
    import sacrebleu

    hyps, refs = HYPOTHESES[subset], REFERENCES[subset]
    expected = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none", smooth_method=smooth)
    got = bleu(hyps, refs, smooth=smooth)  # type: ignore[arg-type]
    assert got.score == pytest.approx(expected.score, abs=1e-9)
    assert got.brevity_penalty == pytest.approx(expected.bp)
    assert (got.hypothesis_length, got.reference_length) == (expected.sys_len, expected.ref_len)


@pytest.mark.parametrize("subset", [slice(None), slice(0, 1), slice(4, 6), slice(2, 3)])
def test_chrf_matches_sacrebleu(subset: slice) -> None:
    from sacrebleu.metrics.chrf import CHRF

    hyps, refs = HYPOTHESES[subset], REFERENCES[subset]
    assert chrf(hyps, refs) == pytest.approx(CHRF().corpus_score(hyps, [refs]).score, abs=1e-9)


def test_rouge_l_matches_rouge_score() -> None:
    from rouge_score.rouge_scorer import RougeScorer  # type: ignore[import-untyped]

    scorer = RougeScorer(["rougeL"])
    pairs = [*zip(HYPOTHESES, REFERENCES, strict=True), ("Don't!", "do not"), ("", "x")]
    expected = [scorer.score(r, h)["rougeL"].fmeasure for h, r in pairs]
    for (h, r), e in zip(pairs, expected, strict=True):
        assert rouge_l([h], [r]) == pytest.approx(e)
    hyps, refs = zip(*pairs, strict=True)
    assert rouge_l(hyps, refs) == pytest.approx(float(np.mean(expected)))


def test_identical_texts_score_the_maximum() -> None:
    assert bleu(REFERENCES, REFERENCES).score == pytest.approx(100)
    assert chrf(REFERENCES, REFERENCES) == pytest.approx(100)
    assert rouge_l(REFERENCES, REFERENCES) == pytest.approx(1)


@pytest.mark.parametrize("metric", [bleu, chrf, rouge_l])
def test_text_metrics_reject_bad_input(metric: Any) -> None:
    with pytest.raises(ValueError, match="same length"):
        metric(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="hypotheses must hold at least one text"):
        metric([], [])
    with pytest.raises(TypeError, match="not a single string"):
        metric("a b", "a b")
    with pytest.raises(TypeError, match="must hold strings"):
        metric([["a"]], ["a"])


def test_bleu_rejects_unknown_smoothing() -> None:
    with pytest.raises(ValueError, match="smooth must be 'none' or 'exp'"):
        bleu(["a"], ["a"], smooth="floor")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- harness


def test_report_agrees_with_the_metric_functions() -> None:
    gold, pred = random_labels(3, n=200)
    names = LABELS[:4]
    report = evaluate_classifier(gold, predictions=pred, labels=names, n_boot=300, seed=1)
    assert report.n == 200 and report.ece is None
    assert report.accuracy.estimate == pytest.approx(accuracy(gold, pred))
    assert report.macro_f1.estimate == pytest.approx(
        precision_recall_f1(gold, pred, labels=names, average="macro").f1
    )
    assert [list(r) for r in report.confusion] == confusion_matrix(gold, pred, labels=names)
    assert report.per_class == precision_recall_f1(gold, pred, labels=names, average=None)
    same = bootstrap_ci(accuracy, gold, pred, n_boot=300, seed=1)
    assert (report.accuracy.low, report.accuracy.high) == (same.low, same.high)
    ids = evaluate_classifier(
        [names.index(g) for g in gold],
        predictions=[names.index(p) for p in pred],
        labels=names,
        n_boot=300,
        seed=1,
    )
    assert ids.to_dict() == report.to_dict()
    text = report.format()
    assert "accuracy  " in text and "technical" in text and "ECE" not in text
    json.dumps(report.to_dict(), allow_nan=False)


def test_report_from_probabilities_adds_the_ece() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(100, 3))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    gold = rng.integers(0, 3, 100)
    report = evaluate_classifier(gold, probabilities=probs, labels=["x", "y", "z"], n_boot=100)
    assert report.ece == pytest.approx(expected_calibration_error(probs, gold))
    assert report.accuracy.estimate == pytest.approx(float(np.mean(probs.argmax(1) == gold)))
    assert "ECE" in report.format()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of probabilities and predictions"),
        ({"predictions": [0, 1], "probabilities": [[1, 0], [0, 1]]}, "exactly one"),
        ({"predictions": [0, 2]}, r"class index 2, outside \[0, 2\)"),
        ({"predictions": ["no", "maybe"]}, "predictions holds 'maybe'"),
        ({"predictions": [0, "no"]}, "mixes class indices and label names"),
        ({"predictions": [0]}, "same length"),
        ({"probabilities": [[0.2, 0.3, 0.5]] * 2}, "3 columns but labels has 2"),
        ({"predictions": [0, 1], "n_boot": 0}, "n_boot"),
    ],
)
def test_harness_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_classifier([0, 1], labels=["no", "yes"], **kwargs)


def test_evaluate_model_scores_a_transformers_classifier() -> None:
    from transformers import AutoModelForSequenceClassification

    from ptm_snippets.finetuning import predict

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        "google-bert/bert-base-uncased", num_labels=3
    )
    rng = np.random.default_rng(0)
    data = TextClassificationDataset(
        [list(rng.integers(1000, 2000, int(rng.integers(3, 9)))) for _ in range(20)],
        [int(y) for y in rng.integers(0, 3, 20)],
        num_labels=3,
    )
    probs = classifier_probabilities(model, data, batch_size=8)
    assert probs.shape == (20, 3) and np.allclose(probs.sum(1), 1)
    assert probs.argmax(1).tolist() == predict(model, data)
    report = evaluate_model(model, data, labels=["a", "b", "c"], n_boot=50)
    assert report.accuracy.estimate == pytest.approx(
        float(np.mean(probs.argmax(1) == np.array(data.labels)))
    )
    assert report.ece is not None
