"""Lesson 08: domain adaptation. Runs top to bottom; the page includes its sections."""

# --8<-- [start:domain_corpus]
import random

from ptm_snippets.domain import chunk_words, python_documents, split_documents
from ptm_snippets.tickets import load_tickets

documents = python_documents()  # help() topics plus the docstrings of 73 standard modules
groups = {d.group for d in documents}
print(len(documents), "documents in", len(groups), "groups:", sum(g.startswith("topic:") for g in groups), "topics and", sum(not g.startswith("topic:") for g in groups), "modules")
#> 1379 documents in 152 groups: 79 topics and 73 modules
example = next(d for d in documents if d.name == "functools.lru_cache")
print(f"{sum(len(d.text.split()) for d in documents):,} words; for example {example.name} (group {example.group}):")
#> 145,225 words; for example functools.lru_cache (group functools):
print("\n\n".join(example.text.split("\n\n")[:3]))  # its first three paragraphs
#> Least-recently-used cache decorator.
#>
#> If *maxsize* is set to None, the LRU features are disabled and the cache
#> can grow without bound.
#>
#> If *typed* is True, arguments of different types will be cached separately.
#> For example, f(3.0) and f(3) will be treated as distinct calls with
#> distinct results.

train_docs, heldout_docs = split_documents(documents, heldout_fraction=0.2)
heldout_groups = sorted({d.group for d in heldout_docs})
print(f"held out: {len(heldout_groups)} groups ({len(heldout_docs)} documents), e.g. {heldout_groups[:3] + heldout_groups[-3:]}")
#> held out: 29 groups (152 documents), e.g. ['concurrent.futures', 'copy', 'dis', 'traceback', 'warnings', 'weakref']
print("a group on both sides:", bool({d.group for d in train_docs} & set(heldout_groups)))
#> a group on both sides: False
domain_train = chunk_words([d.text for d in train_docs], max_words=16)
domain_heldout = chunk_words([d.text for d in heldout_docs], max_words=16)
print(f"chunks of at most 16 words: {len(domain_train):,} for training, {len(domain_heldout):,} held out")
#> chunks of at most 16 words: 10,272 for training, 1,175 held out

general_train = [t["text"] for t in load_tickets("train")]  # the project's support tickets
general_heldout = [t["text"] for t in load_tickets("test")]
print(f"general text: {len(general_train):,} + {len(general_heldout)} support tickets, e.g. {general_heldout[7]!r}")
#> general text: 1,300 + 440 support tickets, e.g. "Your site won't load at all on an old Huawei phone."
# --8<-- [end:domain_corpus]

# --8<-- [start:fertility]
from transformers import AutoTokenizer

from ptm_snippets.domain import fertility, frequent_split_words

MINILM = "sentence-transformers/all-MiniLM-L6-v2"  # BERT's uncased WordPiece vocabulary
SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"  # a byte-level BPE trained on web text and code
tokenizers = {
    "WordPiece (MiniLM)": AutoTokenizer.from_pretrained(MINILM),
    "BPE (SmolLM2)": AutoTokenizer.from_pretrained(SMOLLM2),
}
print(f"{'tokens per word':20} {'vocabulary':>10} {'tickets':>8} {'Python docs':>12}")
#> tokens per word      vocabulary  tickets  Python docs
for name, tok in tokenizers.items():
    print(f"{name:20} {len(tok):10,} {fertility(tok, general_heldout):8.3f} {fertility(tok, domain_heldout):12.3f}")
    #> WordPiece (MiniLM)       30,522    1.077        1.123
    #> BPE (SmolLM2)            49,152    1.068        0.952

sentence = "Raise TypeError unless the iterable's __getitem__ returns a tuple."
for name, tok in tokenizers.items():
    print(f"{name}: {tok.tokenize(sentence)}")
    #> WordPiece (MiniLM): ['raise', 'type', '##er', '##ror', 'unless', 'the', 'it', '##era', '##ble', "'", 's', '_', '_', 'get', '##ite', '##m', '_', '_', 'returns', 'a', 'tu', '##ple', '.']
    #> BPE (SmolLM2): ['Ra', 'ise', 'ĠTypeError', 'Ġunless', 'Ġthe', 'Ġiter', 'able', "'s", 'Ġ__', 'getitem', '__', 'Ġreturns', 'Ġa', 'Ġtuple', '.']

tokenizer = tokenizers["WordPiece (MiniLM)"]
costly = frequent_split_words(tokenizer, domain_train, top_k=30)  # (word, count, pieces)
print("costliest words for WordPiece:", ", ".join(f"{w} {n}x{p}" for w, n, p in costly[:10]))
#> costliest words for WordPiece: iterable 129x3, expr 220x2, tuple 208x2, coroutine 102x3, dict 178x2, descriptor 88x3, identifier 88x3, getitem 85x3, keyword 163x2, async 79x3
# --8<-- [end:fertility]

# --8<-- [start:mlm_head]
import math
import statistics

import torch
from transformers import AutoModelForMaskedLM

from ptm_snippets.domain import fit_mlm_head
from ptm_snippets.encoders import masked_token_losses

torch.manual_seed(0)
model, info = AutoModelForMaskedLM.from_pretrained(MINILM, output_loading_info=True)
print(type(model).__name__, "- created from scratch, not in the checkpoint:")
#> BertForMaskedLM - created from scratch, not in the checkpoint:
for key in sorted(info["missing_keys"]):
    print("  ", key)
    #>    cls.predictions.bias
    #>    cls.predictions.decoder.bias
    #>    cls.predictions.transform.LayerNorm.bias
    #>    cls.predictions.transform.LayerNorm.weight
    #>    cls.predictions.transform.dense.bias
    #>    cls.predictions.transform.dense.weight
tied = model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
print("output matrix tied to the real input embeddings:", tied)
#> output matrix tied to the real input embeddings: True

pick = random.Random("eval")  # the experiment below scores the same texts
domain_eval = pick.sample(domain_heldout, 128)
general_eval = pick.sample(general_heldout, 128)


def heldout_losses(model: torch.nn.Module, tokenizer=tokenizer) -> tuple[float, float]:
    """Masked-LM loss on the held-out docs and tickets, the same masks every time (seed 0)."""
    return tuple(float(masked_token_losses(model, texts, tokenizer)[0].mean()) for texts in (domain_eval, general_eval))


untrained = float(masked_token_losses(model, domain_eval, tokenizer)[0].mean())
print(f"untrained head: {untrained:.2f} nats per masked token; guessing uniformly: {math.log(len(tokenizer)):.2f}")
#> untrained head: 10.91 nats per masked token; guessing uniformly: 10.33

pick = random.Random("head")
head_texts = pick.sample(general_train, 96) + pick.sample(domain_train, 96)  # half and half
losses = fit_mlm_head(model, head_texts, tokenizer, steps=30, positions_per_step=128, generator=torch.Generator().manual_seed(0))
print(f"head fitted in {len(losses)} steps: training loss {losses[0]:.2f} -> {statistics.fmean(losses[-5:]):.2f}")
#> head fitted in 30 steps: training loss 10.89 -> 6.03
before = heldout_losses(model)
print(f"held-out loss: docs {before[0]:.2f} (perplexity {math.exp(before[0]):.0f}), tickets {before[1]:.2f} (perplexity {math.exp(before[1]):.0f})")
#> held-out loss: docs 7.20 (perplexity 1333), tickets 7.04 (perplexity 1145)
# --8<-- [end:mlm_head]

# --8<-- [start:dapt]
import copy

from ptm_snippets.encoders import train_mlm

general_model = copy.deepcopy(model)  # keep the starting point for comparisons
losses = train_mlm(
    model,
    domain_train,
    tokenizer,
    steps=16,
    batch_size=16,
    lr=2e-4,
    max_length=48,
    generator=torch.Generator().manual_seed(0),
)
after = heldout_losses(model)
print(f"{'held-out text':14} {'before':>7} {'after':>7} {'change':>7}   perplexity")
#> held-out text   before   after  change   perplexity
for name, b, a in zip(("Python docs", "tickets"), before, after, strict=True):
    print(f"{name:14} {b:7.2f} {a:7.2f} {a - b:+7.2f}   {math.exp(b):4.0f} -> {math.exp(a):4.0f}")
    #> Python docs       7.20    6.94   -0.25   1333 -> 1033
    #> tickets           7.04    7.28   +0.24   1145 -> 1451
# --8<-- [end:dapt]

# --8<-- [start:downstream_probe]
from collections import Counter

from sklearn.linear_model import LogisticRegression

from ptm_snippets import mean_pool
from ptm_snippets.domain import TASK_FAMILIES, TASK_LABELS, docstring_task

print({label: f"{len(modules)} modules, e.g. {', '.join(modules[:3])}" for label, modules in TASK_FAMILIES.items()})
#> {'files': '7 modules, e.g. os, pathlib, shutil', 'formats': '8 modules, e.g. json, csv, xml.etree.ElementTree', 'network': '10 modules, e.g. socket, ssl, http.client', 'text': '7 modules, e.g. re, string, textwrap'}
task_train, task_test = docstring_task("train"), docstring_task("test")
print("train:", dict(Counter(r["label"] for r in task_train)), "test:", dict(Counter(r["label"] for r in task_test)))
#> train: {'files': 138, 'formats': 95, 'network': 173, 'text': 90} test: {'files': 164, 'formats': 77, 'network': 177, 'text': 60}
for row in random.Random(1).sample(task_test, 4):
    print(f"  {row['label']:8} {row['name']:28} {row['text'][:60]}")
    #>   files    os.spawnve                   Execute file with arguments from args in a subprocess with t
    #>   network  http.client.HTTPConnection.endheaders Indicate that the last header line has been sent to the serv
    #>   text     difflib.unified_diff         Compare two sequences of lines; generate the delta as a unif
    #>   network  ipaddress.AddressValueError  A Value Error related to the address.

pick = random.Random("task-0")  # 32 training and 40 test examples per label
train_rows = [r for label in TASK_LABELS for r in pick.sample([r for r in task_train if r["label"] == label], 32)]
test_rows = [r for label in TASK_LABELS for r in [r for r in task_test if r["label"] == label][:40]]


@torch.no_grad()
def embed(mlm: torch.nn.Module, tok, texts: list[str]) -> torch.Tensor:
    """Mean-pooled encoder outputs, one vector per text: what a frozen-encoder classifier sees."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # batches of similar length
    vectors = torch.zeros(len(texts), mlm.config.hidden_size)
    for start in range(0, len(texts), 32):
        rows = order[start : start + 32]
        batch = tok([texts[i] for i in rows], padding=True, truncation=True, max_length=48, return_tensors="pt")
        vectors[rows] = mean_pool(mlm.bert(**batch).last_hidden_state, batch["attention_mask"])
    return vectors


y_train = [r["label"] for r in train_rows]
y_test = [r["label"] for r in test_rows]
probe_accuracy = {}
for name, mlm in (("general", general_model), ("adapted", model)):
    probe = LogisticRegression(max_iter=2000).fit(embed(mlm, tokenizer, [r["text"] for r in train_rows]).numpy(), y_train)
    accuracy = probe_accuracy[name] = probe.score(embed(mlm, tokenizer, [r["text"] for r in test_rows]).numpy(), y_test)
    error = math.sqrt(accuracy * (1 - accuracy) / len(test_rows))  # binomial standard error
    print(f"{name} encoder, frozen, logistic regression on {len(train_rows)} examples: accuracy {accuracy:.3f} ± {error:.3f} on {len(test_rows)}")
    #> general encoder, frozen, logistic regression on 128 examples: accuracy 0.800 ± 0.032 on 160
    #> adapted encoder, frozen, logistic regression on 128 examples: accuracy 0.844 ± 0.029 on 160
# --8<-- [end:downstream_probe]

# --8<-- [start:experiment_results]
from ptm_snippets.experiments import load_results

results = load_results("domain_adaptation")  # docs/assets/experiments/, written by the experiment
summary = results["summary"]
seeds = len(results["stamp"]["seeds"])
print(f"steps   Python docs     tickets         task accuracy   (mean ± std over {seeds} seeds)")
#> steps   Python docs     tickets         task accuracy   (mean ± std over 3 seeds)
for steps, cell in summary["dapt"].items():
    print(
        f"{steps:>5}   {cell['domain_loss_mean']:.3f} ± {cell['domain_loss_std']:.3f}   "
        f"{cell['general_loss_mean']:.3f} ± {cell['general_loss_std']:.3f}   "
        f"{cell['accuracy_mean']:.3f} ± {cell['accuracy_std']:.3f}"
    )
    #>     0   7.062 ± 0.000   6.726 ± 0.000   0.774 ± 0.012
    #>    40   6.463 ± 0.026   7.091 ± 0.080   0.746 ± 0.014
    #>    80   6.216 ± 0.051   6.984 ± 0.034   0.751 ± 0.019
head, changes = summary["head_only"], summary["changes"]
print("macro-F1 after fine-tuning:", {steps: cell["macro_f1_mean"] for steps, cell in summary["dapt"].items()})
for test in changes["mcnemar"]:  # the same 240 test lines, classifier from step 80 vs from step 0
    print(f"seed {test['seed']}: right only from step 0: {test['only_before_right']:2}, "
          f"only from step 80: {test['only_after_right']:2}; McNemar p = {test['p_value']:.3f}")
print(f"head only, {steps} steps: Python docs {head['domain_loss_mean']:.3f}, tickets {head['general_loss_mean']:.3f}")
#> macro-F1 after fine-tuning: {'0': 0.7573, '40': 0.7305, '80': 0.7397}
#> seed 0: right only from step 0: 11, only from step 80:  2; McNemar p = 0.022
#> seed 1: right only from step 0:  9, only from step 80:  8; McNemar p = 1.000
#> seed 2: right only from step 0: 13, only from step 80:  7; McNemar p = 0.263
#> head only, 80 steps: Python docs 6.684, tickets 7.255
print(f"the head alone gives {changes['head_only_share_of_domain_drop']:.0%} of the drop on Python docs")
#> the head alone gives 45% of the drop on Python docs
print("new tokens: loss at them, and cosine to the sentence vectors before, after 0 and", max(int(n) for n in summary["extension"]["mean"]), "steps")
#> new tokens: loss at them, and cosine to the sentence vectors before, after 0 and 20 steps
for init, cells in summary["extension"].items():
    losses = "  ".join(f"{cell['new_token_loss_mean']:5.2f} ± {cell['new_token_loss_std']:.2f}" for cell in cells.values())
    cosines = "  ".join(f"{cell['embedding_cosine_mean']:.3f}" for cell in cells.values())
    print(f"  {init:7} loss {losses}   cosine {cosines}")
    #>   mean    loss  8.77 ± 0.00   8.27 ± 0.11   cosine 0.941  0.746
    #>   vocab   loss 12.80 ± 0.00  12.51 ± 0.02   cosine 0.795  0.583
    #>   random  loss 11.63 ± 0.02  11.41 ± 0.05   cosine 0.772  0.597
stamp = results["stamp"]
print(f"{len(results['rows'])} rows; {stamp['wall_seconds'] / 60:.0f} min on {stamp['cpu_model']}, {stamp['torch_threads']} torch thread; load average {stamp['load_average_at_end'][0]:.1f} when it ended")
#> 30 rows; 22 min on AMD EPYC, 1 torch thread; load average 2.6 when it ended
# --8<-- [end:experiment_results]

# --8<-- [start:vocab_extension]
from transformers import AddedToken

from ptm_snippets.domain import INITS, add_domain_tokens

plain = copy.deepcopy(tokenizer)
plain.add_tokens(["iterable"])  # the default AddedToken matches inside longer words
print("default add_tokens:  ", plain.tokenize("Iterables are iterable."))
#> default add_tokens:   ['iterable', 's', 'are', 'iterable', '.']
plain = copy.deepcopy(tokenizer)
plain.add_tokens([AddedToken("iterable", single_word=True)])
print("single_word=True:    ", plain.tokenize("Iterables are iterable."))
#> single_word=True:     ['it', '##era', '##bles', 'are', 'iterable', '.']

words = [word for word, _, _ in costly]  # the 30 words that cost WordPiece the most tokens
extended = {}
for init in INITS:
    torch.manual_seed(0)  # the random init draws from torch's global generator
    mlm, tok = copy.deepcopy(general_model), copy.deepcopy(tokenizer)
    new_ids = add_domain_tokens(mlm, tok, words, init=init)
    extended[init] = (mlm, tok)
print(len(tokenizer), "->", len(tok), "tokens; embedding matrix", tuple(mlm.get_input_embeddings().weight.shape))
#> 30522 -> 30552 tokens; embedding matrix (30552, 384)
print("random rows are drawn with standard deviation", mlm.config.initializer_range)
#> random rows are drawn with standard deviation 0.02
print(tok.tokenize(sentence))
#> ['raise', 'typeerror', 'unless', 'the', 'iterable', "'", 's', '_', '_', 'get', '##ite', '##m', '_', '_', 'returns', 'a', 'tuple', '.']
print(f"tokens per word: Python docs {fertility(tokenizer, domain_heldout):.3f} -> {fertility(tok, domain_heldout):.3f}, tickets {fertility(tokenizer, general_heldout):.3f} -> {fertility(tok, general_heldout):.3f}")
#> tokens per word: Python docs 1.123 -> 1.110, tickets 1.077 -> 1.077

probe_texts = [t for t, ids in zip(domain_heldout, tok(domain_heldout)["input_ids"], strict=True) if set(new_ids) & set(ids)]
probe_texts = random.Random("probe").sample(probe_texts, min(64, len(probe_texts)))


reference = embed(general_model, tokenizer, probe_texts)  # what the model said before the new tokens
print(f"{len(probe_texts)} held-out chunks hold a new token")
#> 64 held-out chunks hold a new token
print(f"{'init':7} {'loss at the new tokens':>22} {'cosine to before':>17}")
#> init    loss at the new tokens  cosine to before
scores = {}
for init, (mlm, tok) in extended.items():
    at_new, _ = masked_token_losses(mlm, probe_texts, tok, mask_ids=new_ids)
    cosine = torch.nn.functional.cosine_similarity(embed(mlm, tok, probe_texts), reference).mean()
    scores[init] = (float(at_new.mean()), float(cosine))
    print(f"{init:7} {at_new.mean():22.2f} {cosine:17.3f}")
    #> mean                      9.54             0.945
    #> vocab                    12.48             0.812
    #> random                   11.45             0.794
# --8<-- [end:vocab_extension]

# --8<-- [start:exercise_vocabulary_size]
ranked = [w for w, _, _ in frequent_split_words(tokenizer, domain_train, top_k=1000)]
print(f"{'new words':>9} {'Python docs':>11} {'tickets':>8}")
#> new words Python docs  tickets
by_size = {}
for size in (0, 10, 30, 100, 300, 1000):
    tok = copy.deepcopy(tokenizer)
    tok.add_tokens([AddedToken(w, single_word=True) for w in ranked[:size]])
    by_size[size] = (fertility(tok, domain_heldout), fertility(tok, general_heldout))
    print(f"{size:9} {by_size[size][0]:11.3f} {by_size[size][1]:8.3f}")
    #>         0       1.123    1.077
    #>        10       1.118    1.077
    #>        30       1.110    1.077
    #>       100       1.094    1.076
    #>       300       1.077    1.076
    #>      1000       1.065    1.076
# --8<-- [end:exercise_vocabulary_size]

# --8<-- [start:exercise_sources]
by_source = {}
for source in ("help() topics", "docstrings"):
    docs = [d.text for d in heldout_docs if d.group.startswith("topic:") == (source == "help() topics")]
    chunks = chunk_words(docs, max_words=16)  # whitespace collapsed, as the lesson measured
    fertilities = by_source[source] = [fertility(tok, chunks) for tok in tokenizers.values()]
    print(f"{source:14} {len(docs):3} documents: WordPiece {fertilities[0]:.3f}, BPE {fertilities[1]:.3f} tokens per word")
    #> help() topics   16 documents: WordPiece 1.106, BPE 0.891 tokens per word
    #> docstrings     136 documents: WordPiece 1.148, BPE 1.038 tokens per word
raw = [d.text for d in heldout_docs]
print(f"raw text, newlines and indentation kept: BPE {fertility(tokenizers['BPE (SmolLM2)'], raw):.3f}")
#> raw text, newlines and indentation kept: BPE 1.060
# --8<-- [end:exercise_sources]
