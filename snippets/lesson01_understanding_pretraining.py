"""Lesson 01: understanding pre-training. Runs top to bottom; the page includes its sections."""

# --8<-- [start:tokenize]
import torch
from transformers import AutoTokenizer

torch.manual_seed(0)
MINILM = "sentence-transformers/all-MiniLM-L6-v2"  # BERT's uncased WordPiece vocabulary
tokenizer = AutoTokenizer.from_pretrained(MINILM)

sentence = "Pre-training teaches a model the statistics of unlabelled text."
encoded = tokenizer(sentence)
tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
print(len(tokenizer), "entries in the vocabulary")
#> 30522 entries in the vocabulary
print(tokens)
#> ['[CLS]', 'pre', '-', 'training', 'teaches', 'a', 'model', 'the', 'statistics', 'of', 'un', '##lab', '##elled', 'text', '.', '[SEP]']
print(encoded["input_ids"][:6])
#> [101, 3653, 1011, 2731, 12011, 1037]
# --8<-- [end:tokenize]

# --8<-- [start:mask_tokens]
from ptm_snippets import IGNORE_INDEX, mask_tokens

ids = torch.tensor([encoded["input_ids"]])
generator = torch.Generator().manual_seed(4)
batch = mask_tokens(
    ids,
    mask_token_id=tokenizer.mask_token_id,
    vocab_size=len(tokenizer),
    special_ids=tokenizer.all_special_ids,
    mlm_probability=0.15,
    generator=generator,
)
print(tokenizer.convert_ids_to_tokens(batch.input_ids[0]))
#> ['[CLS]', 'pre', '[MASK]', 'training', '[MASK]', '[MASK]', 'model', 'the', 'statistics', 'of', 'un', '##lab', '##elled', 'text', '.', '[SEP]']
targets = [tokenizer.convert_ids_to_tokens(int(t)) for t in batch.labels[0] if t != IGNORE_INDEX]
print("predict:", targets)
#> predict: ['-', 'teaches', 'a']
# --8<-- [end:mask_tokens]

# --8<-- [start:mask_statistics]
# Over many tokens the 15 % selection and the 80/10/10 split show up as frequencies.
many = torch.randint(1000, 30000, (1000, 128), generator=generator)
stats = mask_tokens(
    many, mask_token_id=tokenizer.mask_token_id, vocab_size=len(tokenizer), generator=generator
)
chosen = stats.selected
print(f"selected:             {chosen.float().mean():.3f}")
#> selected:             0.149
became_mask = (stats.input_ids == tokenizer.mask_token_id) & chosen
kept = (stats.input_ids == many) & chosen
print(f"  replaced by [MASK]: {became_mask.sum() / chosen.sum():.3f}")
#>   replaced by [MASK]: 0.802
print(f"  left unchanged:     {kept.sum() / chosen.sum():.3f}")
#>   left unchanged:     0.102
print(f"  random token:       {(chosen & ~became_mask & ~kept).sum() / chosen.sum():.3f}")
#>   random token:       0.095
# --8<-- [end:mask_statistics]

# --8<-- [start:span_corruption]
from ptm_snippets import span_corruption

words = ["Thank", "you", "for", "inviting", "me", "to", "your", "party", "last", "week", ",", "it", "was", "great", "fun", "."]
spans = span_corruption(
    words, noise_density=0.15, mean_span_length=3.0, generator=torch.Generator().manual_seed(2)
)
print("encoder reads: ", " ".join(spans.inputs))
#> encoder reads:  Thank you for inviting me to your party last week , it was great <extra_id_0>
print("decoder writes:", " ".join(spans.targets))
#> decoder writes: <extra_id_0> fun . <extra_id_1>
# --8<-- [end:span_corruption]

# --8<-- [start:replaced_token_detection]
# ELECTRA's discriminator labels every token: 1 if a generator replaced it, 0 if original.
# Stand-in generator: every selected position gets a random word piece (ELECTRA uses a small
# masked-LM, whose replacements are plausible words and so much harder to spot).
rtd = mask_tokens(
    ids,
    mask_token_id=tokenizer.mask_token_id,
    vocab_size=len(tokenizer),
    special_ids=tokenizer.all_special_ids,
    mlm_probability=0.3,
    generator=torch.Generator().manual_seed(7),
)
fill = torch.randint(2000, 30000, ids.shape, generator=torch.Generator().manual_seed(8))
corrupted = torch.where(rtd.input_ids == tokenizer.mask_token_id, fill, rtd.input_ids)
replaced = (corrupted != ids).long()
for token, label in zip(tokenizer.convert_ids_to_tokens(corrupted[0])[1:9], replaced[0][1:9], strict=False):
    print(f"{token:>12} {int(label)}")
    #>       ##nare 1
    #>            - 0
    #>     training 0
    #>      earlier 1
    #>            a 0
    #>       ##llas 1
    #>          the 0
    #>   statistics 0
# --8<-- [end:replaced_token_detection]

# --8<-- [start:next_token]
from transformers import AutoModelForCausalLM

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
lm_tokenizer = AutoTokenizer.from_pretrained(SMOLLM2)
lm = AutoModelForCausalLM.from_pretrained(SMOLLM2).eval()

prompt = "The capital of France is"
with torch.no_grad():
    logits = lm(**lm_tokenizer(prompt, return_tensors="pt")).logits
probs = logits[0, -1].softmax(-1)  # the distribution over the token after the prompt
top = probs.topk(5)
for p, token_id in zip(top.values, top.indices, strict=False):
    print(f"{lm_tokenizer.decode(token_id)!r:>10} {p:.3f}")
    #>   ' Paris' 0.773
    #>     ' the' 0.065
    #>  ' London' 0.012
    #>      ' Le' 0.010
    #>     ' New' 0.009
# --8<-- [end:next_token]


# --8<-- [start:perplexity]
def perplexity(text: str) -> float:
    """exp(mean next-token cross-entropy): how surprised the model is by the text."""
    enc = lm_tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        loss = lm(**enc, labels=enc["input_ids"]).loss
    return float(loss.exp())


natural = "The children walked to school because it was a sunny morning."
shuffled = "morning school a The because sunny it to walked was children."
print(f"natural order:  {perplexity(natural):8.1f}")
#> natural order:      94.3
print(f"shuffled words: {perplexity(shuffled):8.1f}")
#> shuffled words:  21697.4
# --8<-- [end:perplexity]

# --8<-- [start:generate]
messages = [{"role": "user", "content": "In one sentence, what is transfer learning?"}]
chat = lm_tokenizer.apply_chat_template(
    messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
)
with torch.no_grad():
    output = lm.generate(**chat, max_new_tokens=40, do_sample=False)
print(lm_tokenizer.decode(output[0, chat["input_ids"].shape[1] :], skip_special_tokens=True))
#> Transfer learning is a technique used to improve the performance of machine learning models by leveraging pre-trained models to train new models.
# --8<-- [end:generate]

# --8<-- [start:embeddings]
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel

from ptm_snippets import mean_pool

pretrained = AutoModel.from_pretrained(MINILM).eval()
torch.manual_seed(0)
random_init = AutoModel.from_config(AutoConfig.from_pretrained(MINILM)).eval()  # same shape


def embed(model: torch.nn.Module, texts: list[str]) -> torch.Tensor:
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state
    return F.normalize(mean_pool(states, batch["attention_mask"]), dim=-1)


pairs = [
    ("A man is eating food.", "A man is eating a piece of bread."),
    ("A man is eating food.", "The new movie is awesome."),
    ("How do I reset my password?", "I forgot my login credentials."),
    ("How do I reset my password?", "The parcel arrived two days late."),
]
print("                                   pre-trained  random init")
#>                                    pre-trained  random init
for a, b in pairs:
    sims = [float(embed(m, [a])[0] @ embed(m, [b])[0]) for m in (pretrained, random_init)]
    print(f"{a[:16]:16} ~ {b[:16]:16} {sims[0]:10.3f} {sims[1]:12.3f}")
    #> A man is eating  ~ A man is eating       0.755        0.971
    #> A man is eating  ~ The new movie is     -0.046        0.947
    #> How do I reset m ~ I forgot my logi      0.637        0.950
    #> How do I reset m ~ The parcel arriv      0.008        0.922
# --8<-- [end:embeddings]

# --8<-- [start:nearest_neighbours]
corpus = [
    "My card was charged twice for one order.",
    "The app crashes whenever I open the settings page.",
    "Where is my parcel? Tracking has not moved for a week.",
    "I cannot sign in after changing my email address.",
    "Can I get a refund for a subscription I never used?",
    "The website is very slow when I search for products.",
]
query = "I was billed two times this month"
scores = embed(pretrained, [query]) @ embed(pretrained, corpus).T
for score, index in zip(*scores[0].topk(3), strict=False):
    print(f"{score:.3f}  {corpus[index]}")
    #> 0.657  My card was charged twice for one order.
    #> 0.431  Can I get a refund for a subscription I never used?
    #> 0.290  Where is my parcel? Tracking has not moved for a week.
# --8<-- [end:nearest_neighbours]

# --8<-- [start:contrastive]
# In-batch contrastive loss (InfoNCE): each sentence should be closest to its own partner.
anchors = ["How do I reset my password?", "My parcel never arrived.", "The app keeps crashing."]
partners = ["I forgot my login details.", "The delivery is missing.", "The program quits on start."]
similarity = embed(pretrained, anchors) @ embed(pretrained, partners).T / 0.05  # temperature
loss_right = F.cross_entropy(similarity, torch.arange(3))
loss_wrong = F.cross_entropy(similarity, torch.tensor([1, 2, 0]))
for row in similarity.mul(0.05):  # undo the temperature to show cosine similarities
    print(" ".join(f"{v:6.2f}" for v in row))
#>   0.54  -0.08   0.16
#>   0.27   0.51   0.04
#>   0.16   0.08   0.57
print(f"loss with true pairs: {loss_right:.3f}   with shuffled pairs: {loss_wrong:.3f}")
#> loss with true pairs: 0.003   with shuffled pairs: 9.952
# --8<-- [end:contrastive]

# --8<-- [start:parameter_counts]
from ptm_snippets import parameters_from_config, published_config

reported = {  # millions of parameters, as each paper states them
    "google-bert/bert-base-uncased": 110,
    "google-bert/bert-large-uncased": 340,
    "openai-community/gpt2": 117,
    "openai-community/gpt2-medium": 345,
    "openai-community/gpt2-large": 762,
    "openai-community/gpt2-xl": 1542,
    "google-t5/t5-small": 60,
    "google-t5/t5-base": 220,
    "google-t5/t5-large": 770,
    "google-t5/t5-3b": 3000,
    "google-t5/t5-11b": 11000,
}
print(f"{'model':32} {'counted':>9} {'paper':>7}")
#> model                              counted   paper
for repo_id, paper in reported.items():
    fields = published_config(repo_id)
    config = AutoConfig.for_model(fields.pop("model_type"), **fields)
    counted = parameters_from_config(config) / 1e6
    print(f"{repo_id:32} {counted:8.1f}M {paper:6}M")
    #> google-bert/bert-base-uncased       109.5M    110M
    #> google-bert/bert-large-uncased      335.1M    340M
    #> openai-community/gpt2               124.4M    117M
    #> openai-community/gpt2-medium        354.8M    345M
    #> openai-community/gpt2-large         774.0M    762M
    #> openai-community/gpt2-xl           1557.6M   1542M
    #> google-t5/t5-small                   60.5M     60M
    #> google-t5/t5-base                   222.9M    220M
    #> google-t5/t5-large                  737.7M    770M
    #> google-t5/t5-3b                    2851.6M   3000M
    #> google-t5/t5-11b                  11307.3M  11000M
# --8<-- [end:parameter_counts]


# --8<-- [start:data_efficiency]
from ptm_snippets.experiments import load_results

results = load_results("data_efficiency")  # docs/assets/experiments/, written by `make figures`
table = results["summary"]["table"]
print("labels   pre-trained    random init    | novel half: pre-trained  random init")
#> labels   pre-trained    random init    | novel half: pre-trained  random init
for size, pre in table["pretrained"].items():
    rnd = table["random_init"][size]
    print(
        f"{size:>6}  {pre['accuracy_mean']:.3f} ± {pre['accuracy_std']:.3f}  "
        f"{rnd['accuracy_mean']:.3f} ± {rnd['accuracy_std']:.3f}  |"
        f"{pre['accuracy_novel_mean']:22.3f} {rnd['accuracy_novel_mean']:12.3f}"
    )
    #>     16  0.796 ± 0.043  0.395 ± 0.063  |                 0.779        0.344
    #>     64  0.903 ± 0.011  0.550 ± 0.035  |                 0.903        0.445
    #>    256  0.924 ± 0.014  0.626 ± 0.024  |                 0.921        0.520
    #>   1024  0.942 ± 0.004  0.743 ± 0.024  |                 0.935        0.612
gap = results["summary"]["data_multiple"]
if gap["never_within_range"]:
    print(
        f"random init never reached {gap['pretrained_accuracy_mean']:.3f}, the pre-trained "
        f"score with {gap['pretrained_size']} labels, even with {gap['largest_size_tried']} labels"
    )
    #> random init never reached 0.796, the pre-trained score with 16 labels, even with 1024 labels
else:
    print(f"random init needs {gap['multiple']:.0f}x the labels to match pre-trained at 16")
one = results["rows"][0]  # a single run, scored by the evaluation harness of lesson 10
print(
    f"one run ({one['model']}, {one['train_size']} labels, seed {one['seed']}): accuracy "
    f"{one['accuracy']:.3f}, 95% interval [{one['accuracy_low']:.3f}, {one['accuracy_high']:.3f}], "
    f"macro-F1 {one['macro_f1']:.3f}"
)
stamp = results["stamp"]
print(f"{len(results['rows'])} runs, {stamp['wall_seconds'] / 60:.0f} min on {stamp['cpu_model']}")
#> one run (pretrained, 16 labels, seed 0): accuracy 0.841, 95% interval [0.807, 0.873], macro-F1 0.841
#> 24 runs, 23 min on AMD EPYC
# --8<-- [end:data_efficiency]

# --8<-- [start:exercise_solution]
def mask_rate(text: str, trials: int = 2000) -> float:
    """Average share of a text's ordinary tokens replaced by [MASK] in one corruption."""
    ids = torch.tensor([tokenizer(text)["input_ids"]] * trials)
    ordinary = ~torch.isin(ids, torch.tensor(tokenizer.all_special_ids))
    out = mask_tokens(
        ids,
        mask_token_id=tokenizer.mask_token_id,
        vocab_size=len(tokenizer),
        special_ids=tokenizer.all_special_ids,
        generator=torch.Generator().manual_seed(0),
    )
    return float((out.input_ids == tokenizer.mask_token_id)[ordinary].float().mean())


rate = mask_rate(sentence)
print(f"[MASK] share: {rate:.3f} (expected 0.15 * 0.8 = {0.15 * 0.8:.3f})")
#> [MASK] share: 0.118 (expected 0.15 * 0.8 = 0.120)
assert abs(rate - 0.12) < 0.01
# --8<-- [end:exercise_solution]
