"""Lesson 10: evaluation and benchmarks. Runs top to bottom; the page includes its sections."""

# --8<-- [start:two_models]
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits
from transformers import AutoModel, AutoTokenizer

from ptm_snippets import mean_pool
from ptm_snippets.tickets import LABELS, load_tickets

train, test = load_tickets("train"), load_tickets("test")
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
tokenizer = AutoTokenizer.from_pretrained(MINILM)
encoder = AutoModel.from_pretrained(MINILM).eval()


def embed(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two frozen sentence vectors per text: the masked mean of the tokens, and [CLS]."""
    mean, cls = np.zeros((len(texts), 384), np.float32), np.zeros((len(texts), 384), np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding per batch
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            rows = order[start : start + 64]
            batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=48, return_tensors="pt")
            states = encoder(**batch).last_hidden_state
            mean[rows] = mean_pool(states, batch["attention_mask"]).numpy()
            cls[rows] = states[:, 0].numpy()
    return mean, cls


def fit_head(features: np.ndarray, labels: np.ndarray, C: float = 1.0) -> LogisticRegression:
    """Logistic regression on frozen vectors (one BLAS thread: faster for matrices this small)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return LogisticRegression(C=C, max_iter=2000).fit(features, labels)


mean_train, cls_train = embed([t["text"] for t in train])
mean_test, cls_test = embed([t["text"] for t in test])
y_train = np.array([LABELS.index(t["label"]) for t in train])
gold = np.array([LABELS.index(t["label"]) for t in test])  # class ids, in LABELS order

model_a, model_b = fit_head(mean_train, y_train), fit_head(cls_train, y_train)
probs_a, probs_b = model_a.predict_proba(mean_test), model_b.predict_proba(cls_test)
pred_a, pred_b = probs_a.argmax(1), probs_b.argmax(1)
print(f"{len(train)} training lines, {len(test)} test lines, labels {LABELS}")
#> 1300 training lines, 440 test lines, labels ('billing', 'delivery', 'account', 'technical')
print(f"A, mean pooling:  accuracy {np.mean(pred_a == gold):.3f}")
#> A, mean pooling:  accuracy 0.959
print(f"B, [CLS] vector:  accuracy {np.mean(pred_b == gold):.3f}")
#> B, [CLS] vector:  accuracy 0.936
# --8<-- [end:two_models]

# --8<-- [start:classification_metrics]
from sklearn import metrics as skm

from ptm_snippets.evaluation import accuracy, confusion_matrix, precision_recall_f1

gold_names = [LABELS[i] for i in gold]
names_a = [LABELS[i] for i in pred_a]
print(f"accuracy {accuracy(gold_names, names_a, labels=LABELS):.4f}")
#> accuracy 0.9591
for average in ("macro", "micro", "weighted"):
    s = precision_recall_f1(gold_names, names_a, labels=LABELS, average=average)
    print(f"{average:8}  precision {s.precision:.4f}  recall {s.recall:.4f}  F1 {s.f1:.4f}")
    #> macro     precision 0.9591  recall 0.9591  F1 0.9590
    #> micro     precision 0.9591  recall 0.9591  F1 0.9591
    #> weighted  precision 0.9591  recall 0.9591  F1 0.9590

print(f"{'':10} precision  recall     F1  support")
#>            precision  recall     F1  support
for label, s in precision_recall_f1(gold_names, names_a, labels=LABELS, average=None).items():
    print(f"{label:10} {s.precision:9.3f} {s.recall:7.3f} {s.f1:6.3f} {s.support:8d}")
    #> billing        0.955   0.973  0.964      110
    #> delivery       0.964   0.964  0.964      110
    #> account        0.955   0.964  0.959      110
    #> technical      0.963   0.936  0.949      110

print("confusion (rows: gold, columns: predicted)")
#> confusion (rows: gold, columns: predicted)
for label, row in zip(LABELS, confusion_matrix(gold_names, names_a, labels=LABELS), strict=True):
    print(f"{label:10}", " ".join(f"{v:4d}" for v in row))
    #> billing     107    2    1    0
    #> delivery      2  106    1    1
    #> account       0    1  106    3
    #> technical     3    1    3  103

ours = [precision_recall_f1(gold_names, names_a, labels=LABELS, average=a).f1 for a in ("macro", "micro", "weighted")]
theirs = [skm.f1_score(gold_names, names_a, labels=list(LABELS), average=a) for a in ("macro", "micro", "weighted")]
print("scikit-learn gives the same F1s:", np.allclose(ours, theirs))
#> scikit-learn gives the same F1s: True
# --8<-- [end:classification_metrics]

# --8<-- [start:imbalance]
# A skewed test set: every billing line, and 10 lines of each other label.
skewed = [i for i, g in enumerate(gold_names) if g == "billing"]
skewed += [i for label in LABELS[1:] for i in [j for j, g in enumerate(gold_names) if g == label][:10]]
skewed_gold = [gold_names[i] for i in skewed]
skewed_systems = {"always 'billing'": ["billing"] * len(skewed), "model A": [names_a[i] for i in skewed]}
print(f"{len(skewed)} lines, {skewed_gold.count('billing') / len(skewed):.0%} billing")
#> 140 lines, 79% billing
print(f"{'':17} accuracy  macro-F1  weighted-F1")
#>                   accuracy  macro-F1  weighted-F1
for name, guesses in skewed_systems.items():
    macro = precision_recall_f1(skewed_gold, guesses, labels=LABELS, average="macro").f1
    weighted = precision_recall_f1(skewed_gold, guesses, labels=LABELS, average="weighted").f1
    print(f"{name:17} {accuracy(skewed_gold, guesses):8.3f} {macro:9.3f} {weighted:12.3f}")
    #> always 'billing'     0.786     0.220        0.691
    #> model A              0.964     0.924        0.965
# --8<-- [end:imbalance]

# --8<-- [start:bad_input]
attempts = {
    "lengths differ": lambda: accuracy(gold_names, names_a[:-1]),
    "nothing to score": lambda: accuracy([], []),
    "unknown average": lambda: precision_recall_f1(gold_names, names_a, average="binary"),
    "undeclared label": lambda: accuracy(gold_names, ["refunds", *names_a[1:]], labels=LABELS),
}
for problem, attempt in attempts.items():
    try:
        attempt()
    except ValueError as error:
        print(f"{problem}: {error}")
        #> lengths differ: y_true and y_pred must have the same length, got: y_true has 440 and y_pred has 439
        #> nothing to score: y_true must hold at least one label, got an empty sequence
        #> unknown average: average must be one of 'macro', 'micro', 'weighted' or None, got 'binary'
        #> undeclared label: y_pred holds 'refunds', which is not one of the declared labels ('billing', 'delivery', 'account', 'technical')
# --8<-- [end:bad_input]

# --8<-- [start:calibration]
from ptm_snippets.evaluation import expected_calibration_error, fit_temperature, reliability_table


def calibration(name: str, probs: np.ndarray) -> str:
    ece = expected_calibration_error(probs, gold, n_bins=10)
    return f"{name}: accuracy {np.mean(probs.argmax(1) == gold):.3f}, mean confidence {probs.max(1).mean():.3f}, ECE {ece:.3f}"


print(calibration("A", probs_a))
#> A: accuracy 0.959, mean confidence 0.955, ECE 0.017
print("  bin          lines  confidence  accuracy")
#>   bin          lines  confidence  accuracy
for b in reliability_table(probs_a, gold, n_bins=10):
    if b.n:
        print(f"  ({b.lower:.1f}, {b.upper:.1f}] {b.n:6d} {b.confidence:11.3f} {b.accuracy:9.3f}")
        #>   (0.4, 0.5]      1       0.462     1.000
        #>   (0.5, 0.6]      5       0.562     0.600
        #>   (0.6, 0.7]     13       0.653     0.846
        #>   (0.7, 0.8]     14       0.756     0.857
        #>   (0.8, 0.9]     25       0.861     0.840
        #>   (0.9, 1.0]    382       0.985     0.979

# The same features with 100 times stronger regularisation: similar accuracy, timid probabilities.
# Fit on 1,000 training lines and keep 300 aside to fit a temperature on (never the test set).
rows = np.random.default_rng(0).permutation(len(train))
fit_rows, held_out = rows[:1000], rows[1000:]
timid = fit_head(mean_train[fit_rows], y_train[fit_rows], C=0.01)
print(calibration("A, C=0.01", timid.predict_proba(mean_test)))
#> A, C=0.01: accuracy 0.952, mean confidence 0.709, ECE 0.243
temperature = fit_temperature(timid.decision_function(mean_train[held_out]), y_train[held_out])
held_out_accuracy = np.mean(timid.predict(mean_train[held_out]) == y_train[held_out])
print(f"temperature fitted on the 300 held-out training lines: {temperature:.3f} (their accuracy: {held_out_accuracy:.3f})")
#> temperature fitted on the 300 held-out training lines: 0.144 (their accuracy: 0.997)
scaled = torch.softmax(torch.tensor(timid.decision_function(mean_test)) / temperature, dim=1).numpy()
print(calibration("A, C=0.01, scaled", scaled))
#> A, C=0.01, scaled: accuracy 0.952, mean confidence 0.987, ECE 0.044
# --8<-- [end:calibration]

# --8<-- [start:small_test_set]
right_a, right_b = pred_a == gold, pred_b == gold
rng = np.random.default_rng(0)
sets = [rng.choice(len(gold), size=20, replace=False) for _ in range(10)]  # ten random 20-line test sets
scores_a, scores_b = [right_a[rows].mean() for rows in sets], [right_b[rows].mean() for rows in sets]
print("A:", " ".join(f"{x:.2f}" for x in scores_a))
#> A: 1.00 0.90 1.00 1.00 0.95 0.95 0.90 0.95 0.95 0.95
print("B:", " ".join(f"{x:.2f}" for x in scores_b))
#> B: 1.00 0.90 0.95 0.95 0.95 0.85 0.80 0.95 0.95 0.90
wins = sum(a > b for a, b in zip(scores_a, scores_b, strict=True))
ties = sum(a == b for a, b in zip(scores_a, scores_b, strict=True))
print(f"A ahead in {wins} sets, tied in {ties}, behind in {10 - wins - ties}")
#> A ahead in 5 sets, tied in 5, behind in 0
# --8<-- [end:small_test_set]

# --8<-- [start:bootstrap]
from ptm_snippets.evaluation import bootstrap_ci

whole = bootstrap_ci(accuracy, gold, pred_a, n_boot=1000, seed=0)
print(f"A, all 440 lines: accuracy {whole}, width {whole.width:.3f}")
#> A, all 440 lines: accuracy 0.959 [0.939, 0.975], width 0.036
fifty = np.random.default_rng(1).choice(len(gold), size=50, replace=False)
subset = bootstrap_ci(accuracy, gold[fifty], pred_a[fifty], n_boot=1000, seed=0)
print(f"A, 50 of them:    accuracy {subset}, width {subset.width:.3f}")
#> A, 50 of them:    accuracy 0.980 [0.940, 1.000], width 0.060


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    return precision_recall_f1(truth, predicted, labels=range(len(LABELS)), average="macro").f1


print(f"A, all 440 lines: macro-F1 {bootstrap_ci(macro_f1, gold, pred_a, n_boot=1000, seed=0)}")
#> A, all 440 lines: macro-F1 0.959 [0.939, 0.975]
# --8<-- [end:bootstrap]

# --8<-- [start:experiment_results]
from ptm_snippets.experiments import load_results

results = load_results("small_test_sets")  # docs/assets/experiments/, written by the experiment
summary = results["summary"]
print(f"{results['rows'][-1]['resamples']} simulated test sets per size")
#> 5000 simulated test sets per size
print(" size  A's accuracy, 95% range  B ties or beats A  width of A-B interval: unpaired  paired")
#>  size  A's accuracy, 95% range  B ties or beats A  width of A-B interval: unpaired  paired
for size, cell in summary["per_size"].items():
    print(
        f"{size:>5}  {cell['accuracy_a_q025']:.3f} to {cell['accuracy_a_q975']:.3f}"
        f"{cell['share_b_ties_or_beats_a']:20.1%} {cell['unpaired_width']:32.3f} {cell['paired_width']:7.3f}"
    )
    #>    20  0.850 to 1.000               59.8%                            0.250   0.150
    #>    50  0.900 to 1.000               33.3%                            0.180   0.100
    #>   100  0.920 to 0.990               16.5%                            0.120   0.070
    #>   200  0.930 to 0.985                6.0%                            0.085   0.050
    #>   440  0.939 to 0.977                0.8%                            0.059   0.036
# --8<-- [end:experiment_results]

# --8<-- [start:paired]
from ptm_snippets.evaluation import mcnemar_test, paired_bootstrap

interval_a = bootstrap_ci(accuracy, gold, pred_a, n_boot=1000, seed=1)
interval_b = bootstrap_ci(accuracy, gold, pred_b, n_boot=1000, seed=2)
print(f"A {interval_a}   B {interval_b}   the intervals overlap: {interval_a.low <= interval_b.high}")
#> A 0.959 [0.941, 0.975]   B 0.936 [0.914, 0.957]   the intervals overlap: True
unpaired = np.array(interval_a.samples) - np.array(interval_b.samples)
low, high = np.quantile(unpaired, [0.025, 0.975])
print(f"A - B, unpaired: {unpaired.mean():+.3f} [{low:+.3f}, {high:+.3f}]")
#> A - B, unpaired: +0.023 [-0.005, +0.050]
paired = paired_bootstrap(accuracy, gold, pred_a, pred_b, n_boot=1000, seed=0)
print(f"A - B, paired:   {paired}")
#> A - B, paired:   +0.023 [+0.005, +0.041], A not better in 0.9% of resamples

both = int(np.sum(right_a & right_b))
neither = int(np.sum(~right_a & ~right_b))
print(f"both right {both}, both wrong {neither}, only A right {int(np.sum(right_a & ~right_b))}, only B right {int(np.sum(~right_a & right_b))}")
#> both right 409, both wrong 15, only A right 13, only B right 3
print(mcnemar_test(gold, pred_a, pred_b))
#> McNemarResult(a_only=13, b_only=3, p_value=0.021270751953125)
# --8<-- [end:paired]

# --8<-- [start:harness]
from ptm_snippets.evaluation import evaluate_classifier

report = evaluate_classifier(gold, probabilities=probs_b, labels=LABELS, n_boot=1000, seed=0)
print(report.format())
#> 440 items, 4 labels; 95% percentile bootstrap intervals from 1000 resamples
#> accuracy  0.936 [0.914, 0.957]
#> macro-F1  0.936 [0.914, 0.957]
#> ECE       0.026 (10 bins)
#> label      precision  recall     f1  support
#> billing        0.946   0.955  0.950      110
#> delivery       0.936   0.927  0.932      110
#> account        0.945   0.936  0.941      110
#> technical      0.919   0.927  0.923      110
#> confusion (rows: gold, columns: predicted)
#>             billing  delivery   account technical
#> billing         105         3         2         0
#> delivery          4       102         1         3
#> account           0         1       103         6
#> technical         2         3         3       102
# --8<-- [end:harness]

# --8<-- [start:leakage_twins]
unit_train = mean_train / np.linalg.norm(mean_train, axis=1, keepdims=True)
unit_test = mean_test / np.linalg.norm(mean_test, axis=1, keepdims=True)
similarity = unit_test @ unit_train.T  # cosine of every test line to every training line
nearest = similarity.max(1)
twin = nearest >= 0.9
print(f"{twin.sum()} of {len(test)} test lines have a training line with cosine >= 0.9")
#> 29 of 440 test lines have a training line with cosine >= 0.9
print(f"A's accuracy on them {right_a[twin].mean():.3f}, on the other {(~twin).sum()} lines {right_a[~twin].mean():.3f}")
#> A's accuracy on them 1.000, on the other 411 lines 0.956
closest = int(nearest.argmax())
print(f"closest pair ({nearest[closest]:.3f}):")
#> closest pair (0.990):
print("  test: ", test[closest]["text"])
#>   test:  The app crashes whenever I try to open my wishlist.
print("  train:", train[int(similarity[closest].argmax())]["text"])
#>   train: The app crashes every time I open my wishlist.
# --8<-- [end:leakage_twins]

# --8<-- [start:leakage_split]
from sklearn.feature_extraction.text import TfidfVectorizer

pool_texts = [t["text"] for t in train + test]
pool_y = np.concatenate([y_train, gold])
pool_vectors = np.concatenate([mean_train, mean_test])
novel_line = np.array([t.get("split") == "novel" for t in train + test])


def tfidf_accuracy(fit: np.ndarray, score: np.ndarray) -> float:
    vectorizer = TfidfVectorizer().fit([pool_texts[i] for i in fit])
    head = fit_head(vectorizer.transform([pool_texts[i] for i in fit]), pool_y[fit])
    return float(np.mean(head.predict(vectorizer.transform([pool_texts[i] for i in score])) == pool_y[score]))


def minilm_accuracy(fit: np.ndarray, score: np.ndarray) -> float:
    return float(np.mean(fit_head(pool_vectors[fit], pool_y[fit]).predict(pool_vectors[score]) == pool_y[score]))


official = (np.arange(len(train)), np.arange(len(train), len(pool_texts)))
shuffled = np.random.default_rng(0).permutation(len(pool_texts))
random_split = (shuffled[: len(train)], shuffled[len(train) :])
print(f"{'':18} official split  random re-split")
#>                    official split  random re-split
for name, score in (("TF-IDF + LR", tfidf_accuracy), ("MiniLM mean + LR", minilm_accuracy)):
    print(f"{name:18} {score(*official):14.3f} {score(*random_split):16.3f}")
    #> TF-IDF + LR                 0.793            0.977
    #> MiniLM mean + LR            0.959            0.991
moved = int(novel_line[random_split[0]].sum())
print(f"the random split put {moved} of the 220 novel-phrasing lines into training")
#> the random split put 176 of the 220 novel-phrasing lines into training
# --8<-- [end:leakage_split]

# --8<-- [start:perplexity]
import random

from transformers import AutoModelForCausalLM

from ptm_snippets.evaluation import causal_lm_perplexity

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
lm_tokenizer = AutoTokenizer.from_pretrained(SMOLLM2)
lm = AutoModelForCausalLM.from_pretrained(SMOLLM2).eval()

familiar_lines = [t["text"] for t in test if t["split"] == "familiar"][:8]
tickets_text = "\n".join(familiar_lines)
shuffle = random.Random(0)
shuffled_text = "\n".join(" ".join(shuffle.sample(line.split(), len(line.split()))) for line in familiar_lines)
code_text = '''def refund(order, amount):
    """Refund part of an order and return the new balance."""
    if amount <= 0:
        raise ValueError("amount must be positive")
    if amount > order.paid:
        raise ValueError("cannot refund more than was paid")
    order.paid -= amount
    order.history.append(("refund", amount))
    return order.paid
'''
texts = {"support tickets": tickets_text, "same words shuffled": shuffled_text, "Python code": code_text}
print(f"{'':20} tokens  perplexity  bits per character")
#>                      tokens  perplexity  bits per character
for name, text in texts.items():
    ids = lm_tokenizer(text)["input_ids"]
    result = causal_lm_perplexity(lm, ids, window=64, stride=32)
    bits_per_char = result.mean_nll * result.tokens / len(text) / np.log(2)
    print(f"{name:20} {len(ids):6d} {result.perplexity:11.1f} {bits_per_char:19.2f}")
    #> support tickets         150        54.3                1.46
    #> same words shuffled     149       971.9                2.49
    #> Python code              81         8.4                0.72

ids = lm_tokenizer(tickets_text)["input_ids"]
for window, stride in ((16, None), (64, None), (64, 32)):
    result = causal_lm_perplexity(lm, ids, window=window, stride=stride)
    print(f"window {window:2d}, stride {stride or window:2d}: perplexity {result.perplexity:5.1f} from {result.windows} forward passes")
    #> window 16, stride 16: perplexity 202.5 from 10 forward passes
    #> window 64, stride 64: perplexity  78.2 from 3 forward passes
    #> window 64, stride 32: perplexity  54.3 from 4 forward passes
# --8<-- [end:perplexity]

# --8<-- [start:generation]
shots = (
    "Message: The courier left my package at the wrong house.\nProblem: package delivered to the wrong address\n\n"
    "Message: I keep getting logged out of my account on my phone.\nProblem: keeps being logged out of the account\n\n"
)
chosen = [1, 22, 34, 48, 58]  # five test messages, with one-line references written for this page
references = [
    "box arrived open and the running shoes were missing",
    "charged after cancelling the subscription",
    "app freezes on the payment screen",
    "password reset email never arrives",
    "charged three times after the website hung",
]
messages = [test[i]["text"] for i in chosen]
lm_tokenizer.padding_side = "left"  # a batch of prompts must end where generation starts
prompts = lm_tokenizer([f"{shots}Message: {m}\nProblem:" for m in messages], padding=True, return_tensors="pt")
newline = lm_tokenizer.convert_tokens_to_ids("Ċ")  # byte-level BPE's "\n": stop at the end of the line
with torch.no_grad():
    output = lm.generate(**prompts, do_sample=False, max_new_tokens=16, eos_token_id=[newline, lm_tokenizer.eos_token_id], pad_token_id=lm_tokenizer.pad_token_id)
summaries = [lm_tokenizer.decode(row, skip_special_tokens=True).strip() for row in output[:, prompts["input_ids"].shape[1] :]]
for message, output_text, reference in zip(messages, summaries, references, strict=True):
    print(f"{message}\n  model:     {output_text}\n  reference: {reference}")
    #> Good morning, the box arrived open and there was no sign of the Vela running shoes.
    #>   model:     no sign of the Vela running shoes
    #>   reference: box arrived open and the running shoes were missing
    #> I cancelled my subscription on 28 Novmber but you still took £7.50.
    #>   model:     you still took £7.50
    #>   reference: charged after cancelling the subscription
    #> App freezes on the payment screen every time.
    #>   model:     account is frozen
    #>   reference: app freezes on the payment screen
    #> The forgot password email never comes through, not even in spam.
    #>   model:     forgot password email never comes through
    #>   reference: password reset email never arrives
    #> The website kept hanging so I clicked pay three times, and now I've been charged three times.
    #>   model:     website kept hanging so I clicked pay three times, and now I've been charged
    #>   reference: charged three times after the website hung
# --8<-- [end:generation]

# --8<-- [start:text_metrics]
import sacrebleu
from rouge_score.rouge_scorer import RougeScorer

from ptm_snippets.evaluation import bleu, chrf, rouge_l

systems = {"SmolLM2, few-shot": summaries, "copy the message": messages}
print(f"{'':18}  BLEU  chrF  ROUGE-L")
#>                     BLEU  chrF  ROUGE-L
for name, hypotheses in systems.items():
    print(f"{name:18} {bleu(hypotheses, references, smooth='exp').score:5.1f} {chrf(hypotheses, references):5.1f} {rouge_l(hypotheses, references):8.3f}")
    #> SmolLM2, few-shot    4.7  30.0    0.220
    #> copy the message    12.5  58.2    0.429

# The libraries agree with the helpers once their settings are the same.
library_bleu = sacrebleu.corpus_bleu(summaries, [references], tokenize="none", smooth_method="exp")
library_chrf = sacrebleu.corpus_chrf(summaries, [references])
scorer = RougeScorer(["rougeL"])
library_rouge = np.mean([scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(summaries, references, strict=True)])
print(f"sacrebleu {library_bleu.score:.1f} / {library_chrf.score:.1f}, rouge-score {library_rouge:.3f}")
#> sacrebleu 4.7 / 30.0, rouge-score 0.220
reported = sacrebleu.metrics.BLEU()  # the defaults: 13a tokenizer, exponential smoothing, case kept
print(f"as a paper would report it: {reported.corpus_score(summaries, [references]).score:.1f}, signature {reported.get_signature()}")
#> as a paper would report it: 5.2, signature nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0
# --8<-- [end:text_metrics]

# --8<-- [start:metric_pitfalls]
reference = ["the refund was issued on Monday"]
candidates = {
    "opposite meaning": "the refund was not issued on Monday",
    "same meaning, new words": "we paid the money back at the start of the week",
    "partly right": "the refund was issued",
}
print(f"{'':24}  sentence BLEU  chrF  ROUGE-L")
#>                           sentence BLEU  chrF  ROUGE-L
for name, text in candidates.items():
    sentence_bleu = bleu([text], reference, smooth="exp").score
    print(f"{name:24} {sentence_bleu:14.1f} {chrf([text], reference):5.1f} {rouge_l([text], reference):8.3f}")
    #> opposite meaning                   41.1  86.6    0.923
    #> same meaning, new words             3.7  12.5    0.118
    #> partly right                       60.7  70.6    0.800

hypothesis, target = ["the parcel hasn't arrived."], ["the parcel has not arrived ."]
for tokenize in ("none", "13a", "intl", "char"):
    score = sacrebleu.corpus_bleu(hypothesis, [target], tokenize=tokenize, smooth_method="exp").score
    print(f"tokenize={tokenize:5} BLEU {score:5.1f}")
    #> tokenize=none  BLEU  19.4
    #> tokenize=13a   BLEU  24.7
    #> tokenize=intl  BLEU  18.6
    #> tokenize=char  BLEU  87.9
# --8<-- [end:metric_pitfalls]

# --8<-- [start:exercise_split_solution]
novel = np.array([t["split"] == "novel" for t in test])
for half, rows in (("familiar", ~novel), ("novel", novel)):
    comparison = paired_bootstrap(macro_f1, gold[rows], pred_a[rows], pred_b[rows], n_boot=1000, seed=0)
    exact = mcnemar_test(gold[rows], pred_a[rows], pred_b[rows])
    print(f"{half:8} macro-F1 A {macro_f1(gold[rows], pred_a[rows]):.3f}, B {macro_f1(gold[rows], pred_b[rows]):.3f}; "
          f"A - B {comparison.difference:+.3f} [{comparison.low:+.3f}, {comparison.high:+.3f}]; McNemar p = {exact.p_value:.3f}")
    #> familiar macro-F1 A 0.950, B 0.904; A - B +0.046 [+0.019, +0.074]; McNemar p = 0.002
    #> novel    macro-F1 A 0.968, B 0.968; A - B -0.000 [-0.023, +0.023]; McNemar p = 1.000
# --8<-- [end:exercise_split_solution]

# --8<-- [start:exercise_wilson_solution]
from math import sqrt


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's score interval for a proportion (about 95 % for z = 1.96)."""
    centre = (correct + z * z / 2) / (n + z * z)
    half = z * sqrt(correct * (n - correct) / n + z * z / 4) / (n + z * z)
    return centre - half, centre + half


for rows in (fifty, np.arange(len(gold))):
    hits = int(right_a[rows].sum())
    boot = bootstrap_ci(np.mean, right_a[rows], n_boot=2000, seed=0)
    low, high = wilson(hits, len(rows))
    print(f"n={len(rows):3d}: {hits} right; bootstrap [{boot.low:.3f}, {boot.high:.3f}], Wilson [{low:.3f}, {high:.3f}]")
    #> n= 50: 49 right; bootstrap [0.940, 1.000], Wilson [0.895, 0.996]
    #> n=440: 422 right; bootstrap [0.939, 0.977], Wilson [0.936, 0.974]
# --8<-- [end:exercise_wilson_solution]
