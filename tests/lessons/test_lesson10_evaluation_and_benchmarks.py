"""Lesson 10's claims, checked on the values its script computed with the real models."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.conftest import run_snippet


@pytest.fixture(scope="module")
def lesson() -> dict[str, Any]:
    namespace, _ = run_snippet("lesson10_evaluation_and_benchmarks.py")
    return namespace


def accuracy_of(lesson: dict[str, Any], pred: np.ndarray) -> float:
    return float(np.mean(pred == lesson["gold"]))


# ----------------------------------------------------------------------------- classification


def test_two_models_differ_by_a_few_points(lesson: dict[str, Any]) -> None:
    a, b = accuracy_of(lesson, lesson["pred_a"]), accuracy_of(lesson, lesson["pred_b"])
    assert len(lesson["gold"]) == 440 and len(lesson["y_train"]) == 1300
    assert 0.93 < a < 0.99 and 0.9 < b < a
    assert a - b < 0.05  # a small difference: the point of the comparison sections


def test_metrics_agree_with_sklearn_and_micro_f1_is_accuracy(lesson: dict[str, Any]) -> None:
    assert np.allclose(lesson["ours"], lesson["theirs"])
    gold, names = lesson["gold_names"], lesson["names_a"]
    micro = lesson["precision_recall_f1"](gold, names, labels=lesson["LABELS"], average="micro")
    assert micro.f1 == pytest.approx(lesson["accuracy"](gold, names))
    matrix = lesson["confusion_matrix"](gold, names, labels=lesson["LABELS"])
    assert sum(map(sum, matrix)) == 440 and all(sum(row) == 110 for row in matrix)


def test_accuracy_rewards_the_majority_guess_and_macro_f1_does_not(lesson: dict[str, Any]) -> None:
    prf, acc, labels = lesson["precision_recall_f1"], lesson["accuracy"], lesson["LABELS"]
    gold = lesson["skewed_gold"]
    always = lesson["skewed_systems"]["always 'billing'"]
    model = lesson["skewed_systems"]["model A"]
    assert acc(gold, always) > 0.75
    assert prf(gold, always, labels=labels, average="macro").f1 < 0.3
    assert prf(gold, model, labels=labels, average="macro").f1 > 0.85


def test_bad_input_is_rejected_with_named_errors(lesson: dict[str, Any]) -> None:
    expected = {
        "lengths differ": "same length",
        "nothing to score": "at least one label",
        "unknown average": "average must be one of",
        "undeclared label": "not one of the declared labels",
    }
    for problem, attempt in lesson["attempts"].items():
        with pytest.raises(ValueError, match=expected[problem]):
            attempt()


# ----------------------------------------------------------------------------- calibration


def test_calibration_and_temperature_scaling(lesson: dict[str, Any]) -> None:
    ece = lesson["expected_calibration_error"]
    gold = lesson["gold"]
    timid = lesson["timid"].predict_proba(lesson["mean_test"])
    assert ece(lesson["probs_a"], gold) < 0.05
    assert ece(timid, gold) > 0.15
    assert timid.max(1).mean() < accuracy_of(lesson, timid.argmax(1)) - 0.15  # under-confident
    assert lesson["temperature"] < 1  # sharpening fixes under-confidence
    assert ece(lesson["scaled"], gold) < ece(timid, gold) / 3
    assert np.array_equal(lesson["scaled"].argmax(1), timid.argmax(1))  # predictions unchanged
    # The held-out training lines are easier than the test lines: the scaled model overshoots.
    assert lesson["held_out_accuracy"] > accuracy_of(lesson, timid.argmax(1))
    assert lesson["scaled"].max(1).mean() > accuracy_of(lesson, timid.argmax(1))


# ----------------------------------------------------------------------------- small test sets


def test_twenty_line_test_sets_spread_and_often_tie(lesson: dict[str, Any]) -> None:
    assert max(lesson["scores_a"]) - min(lesson["scores_a"]) >= 0.1 - 1e-9
    assert lesson["ties"] >= 2 and lesson["wins"] + lesson["ties"] <= 10


def test_intervals_shrink_with_more_lines(lesson: dict[str, Any]) -> None:
    whole, part = lesson["whole"], lesson["subset"]
    assert whole.low < whole.estimate < whole.high
    assert part.width > 1.5 * whole.width


def test_paired_comparison_is_narrower_than_unpaired(lesson: dict[str, Any]) -> None:
    paired, unpaired = lesson["paired"], lesson["unpaired"]
    low, high = np.quantile(unpaired, [0.025, 0.975])
    assert low < 0 < paired.low  # unpaired cannot tell, paired can
    assert paired.high - paired.low < 0.75 * (high - low)
    assert lesson["interval_a"].low <= lesson["interval_b"].high  # the two intervals overlap
    test = lesson["mcnemar_test"](lesson["gold"], lesson["pred_a"], lesson["pred_b"])
    assert test.a_only > test.b_only and test.p_value < 0.05


def test_experiment_results_show_the_claimed_shape(lesson: dict[str, Any]) -> None:
    per_size = lesson["summary"]["per_size"]
    sizes = sorted(per_size, key=int)
    assert [int(s) for s in sizes] == [20, 50, 100, 200, 440]
    shares = [per_size[s]["share_b_ties_or_beats_a"] for s in sizes]
    ranges = [per_size[s]["accuracy_a_range"] for s in sizes]
    assert shares == sorted(shares, reverse=True) and shares[0] > 0.3 and shares[-1] < 0.05
    assert ranges == sorted(ranges, reverse=True)
    assert all(per_size[s]["paired_width"] < per_size[s]["unpaired_width"] for s in sizes)
    models = lesson["summary"]["models"]
    assert models["mean_pooling"]["ece"] < models["mean_pooling_strong_l2"]["ece"]


def test_harness_report_matches_the_metrics(lesson: dict[str, Any]) -> None:
    report = lesson["report"]
    assert report.accuracy.estimate == pytest.approx(accuracy_of(lesson, lesson["pred_b"]))
    assert report.ece == pytest.approx(
        lesson["expected_calibration_error"](lesson["probs_b"], lesson["gold"])
    )
    assert "confusion (rows: gold, columns: predicted)" in report.format()


def test_page_shows_the_experiment_figure() -> None:
    from tests.conftest import ROOT, SITE

    page = (SITE.docs_dir / "lessons" / "10-evaluation-and-benchmarks.md").read_text()
    assert "(../assets/experiments/small_test_sets.svg)" in page
    assert (ROOT / "docs" / "assets" / "experiments" / "small_test_sets.svg").is_file()


# ----------------------------------------------------------------------------- leakage


def test_near_twins_are_easy_and_a_random_split_leaks(lesson: dict[str, Any]) -> None:
    twin, right_a = lesson["twin"], lesson["right_a"]
    assert 10 <= twin.sum() <= 60
    assert right_a[twin].mean() >= right_a[~twin].mean()
    official, random_split = lesson["official"], lesson["random_split"]
    tfidf = lesson["tfidf_accuracy"]
    minilm = lesson["minilm_accuracy"]
    assert tfidf(*random_split) > tfidf(*official) + 0.1
    assert minilm(*random_split) > minilm(*official)
    assert lesson["moved"] > 100


# ----------------------------------------------------------------------------- language models


def test_perplexity_orders_texts_and_windows(lesson: dict[str, Any]) -> None:
    ppl, lm, tok = lesson["causal_lm_perplexity"], lesson["lm"], lesson["lm_tokenizer"]
    texts = lesson["texts"]
    scores = {
        name: ppl(lm, tok(text)["input_ids"], window=64, stride=32).perplexity
        for name, text in texts.items()
    }
    assert scores["same words shuffled"] > 5 * scores["support tickets"]
    assert scores["Python code"] < scores["support tickets"]
    ids = lesson["ids"]
    short = ppl(lm, ids, window=16).perplexity
    disjoint = ppl(lm, ids, window=64).perplexity
    sliding = ppl(lm, ids, window=64, stride=32).perplexity
    assert short > disjoint > sliding


def test_generation_and_overlap_metrics(lesson: dict[str, Any]) -> None:
    summaries, messages, references = (
        lesson["summaries"],
        lesson["messages"],
        lesson["references"],
    )
    assert len(summaries) == 5 and all(s and "\n" not in s for s in summaries)
    bleu, chrf, rouge_l = lesson["bleu"], lesson["chrf"], lesson["rouge_l"]
    # Copying the customer's message beats the model on every overlap metric.
    assert (
        bleu(messages, references, smooth="exp").score
        > bleu(summaries, references, smooth="exp").score
    )
    assert chrf(messages, references) > chrf(summaries, references)
    assert rouge_l(messages, references) > rouge_l(summaries, references)
    assert lesson["library_bleu"].score == pytest.approx(
        bleu(summaries, references, smooth="exp").score
    )
    assert lesson["library_chrf"].score == pytest.approx(chrf(summaries, references))
    assert lesson["library_rouge"] == pytest.approx(rouge_l(summaries, references))


def test_overlap_metrics_prefer_the_opposite_meaning(lesson: dict[str, Any]) -> None:
    bleu, chrf, rouge_l = lesson["bleu"], lesson["chrf"], lesson["rouge_l"]
    reference = lesson["reference"]
    opposite = [lesson["candidates"]["opposite meaning"]]
    same = [lesson["candidates"]["same meaning, new words"]]
    assert bleu(opposite, reference, smooth="exp").score > bleu(same, reference, smooth="exp").score
    assert chrf(opposite, reference) > chrf(same, reference)
    assert rouge_l(opposite, reference) > rouge_l(same, reference)


def test_bleu_depends_on_the_tokenizer(lesson: dict[str, Any]) -> None:
    import sacrebleu

    scores = {
        tokenize: sacrebleu.corpus_bleu(
            lesson["hypothesis"], [lesson["target"]], tokenize=tokenize, smooth_method="exp"
        ).score
        for tokenize in ("none", "13a", "char")
    }
    assert len({round(s, 1) for s in scores.values()}) == 3


# ----------------------------------------------------------------------------- exercises


def test_exercise_the_gap_is_all_in_the_familiar_half(lesson: dict[str, Any]) -> None:
    novel = lesson["novel"]
    gold, a, b = lesson["gold"], lesson["pred_a"], lesson["pred_b"]
    compare = lesson["paired_bootstrap"]
    familiar = compare(lesson["macro_f1"], gold[~novel], a[~novel], b[~novel], n_boot=300)
    unfamiliar = compare(lesson["macro_f1"], gold[novel], a[novel], b[novel], n_boot=300)
    assert familiar.low > 0
    assert unfamiliar.low < 0 < unfamiliar.high or unfamiliar.difference == 0


def test_exercise_wilson_is_close_to_the_bootstrap_on_many_lines(lesson: dict[str, Any]) -> None:
    wilson = lesson["wilson"]
    right = lesson["right_a"]
    low, high = wilson(int(right.sum()), len(right))
    boot = lesson["bootstrap_ci"](np.mean, right, n_boot=1000, seed=0)
    assert abs(low - boot.low) < 0.01 and abs(high - boot.high) < 0.01
    low50, high50 = wilson(49, 50)
    assert high50 < 1.0 and low50 < 0.94  # Wilson never reaches 1 with a miss, and is wider
