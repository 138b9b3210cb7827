"""Lesson 03: the GPT family (decoders). Runs top to bottom; the page includes its sections."""

# --8<-- [start:load_model]
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
tokenizer = AutoTokenizer.from_pretrained(SMOLLM2)
lm = AutoModelForCausalLM.from_pretrained(SMOLLM2).eval()

config = lm.config
print(type(lm).__name__, "with", config.num_hidden_layers, "decoder blocks")
#> LlamaForCausalLM with 30 decoder blocks
print(f"hidden size {config.hidden_size}, {config.num_attention_heads} query heads, "
      f"{config.num_key_value_heads} key/value heads, MLP {config.intermediate_size}")
#> hidden size 576, 9 query heads, 3 key/value heads, MLP 1536
print(f"vocabulary {config.vocab_size}, context {config.max_position_embeddings} tokens, "
      f"tied embeddings: {config.tie_word_embeddings}")
#> vocabulary 49152, context 8192 tokens, tied embeddings: True
# --8<-- [end:load_model]

# --8<-- [start:causal_mask]
sentence = "The cat sat on the mat"
ids = tokenizer(sentence, return_tensors="pt")["input_ids"]
tokens = tokenizer.convert_ids_to_tokens(ids[0])
n = len(tokens)
mask = torch.tril(torch.ones(n, n, dtype=torch.long))  # row i may look at columns 0..i
print(" " * 8 + "".join(f"{t:>6}" for t in tokens))
for token, row in zip(tokens, mask, strict=True):
    print(f"{token:>8}" + "".join(f"{int(v):>6}" for v in row))
#>            The  Ġcat  Ġsat   Ġon  Ġthe  Ġmat
#>      The     1     0     0     0     0     0
#>     Ġcat     1     1     0     0     0     0
#>     Ġsat     1     1     1     0     0     0
#>      Ġon     1     1     1     1     0     0
#>     Ġthe     1     1     1     1     1     0
#>     Ġmat     1     1     1     1     1     1

# The fused attention kernel (SDPA) does not return its weights; the eager one does.
lm.set_attn_implementation("eager")
with torch.no_grad():
    attentions = lm(ids, output_attentions=True).attentions  # one (1, heads, n, n) per block
lm.set_attn_implementation("sdpa")
weights = attentions[0][0].mean(0)  # first block, averaged over its 9 heads
print(" " * 8 + "".join(f"{t:>6}" for t in tokens))
for token, row in zip(tokens, weights, strict=True):
    print(f"{token:>8}" + "".join(f"{float(v):6.2f}" for v in row))
#>            The  Ġcat  Ġsat   Ġon  Ġthe  Ġmat
#>      The  1.00  0.00  0.00  0.00  0.00  0.00
#>     Ġcat  0.51  0.49  0.00  0.00  0.00  0.00
#>     Ġsat  0.40  0.36  0.25  0.00  0.00  0.00
#>      Ġon  0.39  0.19  0.12  0.29  0.00  0.00
#>     Ġthe  0.24  0.07  0.05  0.29  0.35  0.00
#>     Ġmat  0.19  0.11  0.11  0.16  0.23  0.22
print("rows sum to 1:", bool(torch.allclose(weights.sum(-1), torch.ones(n))))
#> rows sum to 1: True
print("above the diagonal:", float(weights.triu(diagonal=1).abs().max()))
#> above the diagonal: 0.0
# --8<-- [end:causal_mask]

# --8<-- [start:causality_check]
# Change one token in the middle: predictions before it cannot change, those after it do.
other = tokenizer("The dog sat on the mat", return_tensors="pt")["input_ids"]
with torch.no_grad():
    a, b = lm(ids).logits[0], lm(other).logits[0]
for position, token in enumerate(tokens):
    print(f"{position} {token:>6}  max |change in logits| = {float((a[position] - b[position]).abs().max()):.3f}")
#> 0    The  max |change in logits| = 0.000
#> 1   Ġcat  max |change in logits| = 10.012
#> 2   Ġsat  max |change in logits| = 11.590
#> 3    Ġon  max |change in logits| = 6.784
#> 4   Ġthe  max |change in logits| = 8.039
#> 5   Ġmat  max |change in logits| = 3.250
# --8<-- [end:causality_check]

# --8<-- [start:next_token_objective]
import torch.nn.functional as F

text = "The capital of France is Paris. The capital of Italy is Rome."
enc = tokenizer(text, return_tensors="pt")
with torch.no_grad():
    out = lm(**enc, labels=enc["input_ids"])
inputs, targets = enc["input_ids"][0, :-1], enc["input_ids"][0, 1:]  # shift by one
manual = F.cross_entropy(out.logits[0, :-1], targets)
print(f"{len(targets)} predictions from one forward pass of {enc['input_ids'].shape[1]} tokens")
#> 13 predictions from one forward pass of 14 tokens
print(f"loss computed by the model: {out.loss:.4f}, by hand: {manual:.4f}")
#> loss computed by the model: 1.6971, by hand: 1.6971
probs = out.logits[0, :-1].softmax(-1)
for i, target in enumerate(targets):
    context = tokenizer.decode(inputs[: i + 1])
    print(f"{context:>60} -> {tokenizer.decode(target)!r:10} {probs[i, target]:.3f}")
#>                                                          The -> ' capital' 0.000
#>                                                  The capital -> ' of'      0.713
#>                                               The capital of -> ' France'  0.087
#>                                        The capital of France -> ' is'      0.637
#>                                     The capital of France is -> ' Paris'   0.773
#>                               The capital of France is Paris -> '.'        0.684
#>                              The capital of France is Paris. -> ' The'     0.088
#>                          The capital of France is Paris. The -> ' capital' 0.425
#>                  The capital of France is Paris. The capital -> ' of'      0.785
#>               The capital of France is Paris. The capital of -> ' Italy'   0.086
#>         The capital of France is Paris. The capital of Italy -> ' is'      0.967
#>      The capital of France is Paris. The capital of Italy is -> ' Rome'    0.653
#> The capital of France is Paris. The capital of Italy is Rome -> '.'        0.812
# --8<-- [end:next_token_objective]

# --8<-- [start:byte_level_bpe]
for piece in ["Hello world", " Hello world", "hello World"]:
    print(f"{piece!r:16} -> {tokenizer.tokenize(piece)} {tokenizer(piece)['input_ids']}")
#> 'Hello world'    -> ['Hello', 'Ġworld'] [19556, 905]
#> ' Hello world'   -> ['ĠHello', 'Ġworld'] [38699, 905]
#> 'hello World'    -> ['hello', 'ĠWorld'] [28120, 2260]
rare = "antidisestablishmentarianism"
print(tokenizer.tokenize(" " + rare))
#> ['Ġant', 'idis', 'establish', 'ment', 'arianism']

emoji = " 🤗 café"
print(list(emoji.encode("utf-8")))
#> [32, 240, 159, 164, 151, 32, 99, 97, 102, 195, 169]
emoji_ids = tokenizer(emoji)["input_ids"]
print(tokenizer.convert_ids_to_tokens(emoji_ids))
#> ['ĠðŁ', '¤', 'Ĺ', 'ĠcafÃ©']
print([tokenizer.decode([i]) for i in emoji_ids])  # single tokens may be partial characters
#> [' �', '�', '�', ' café']
print(repr(tokenizer.decode(emoji_ids)), tokenizer.decode(emoji_ids) == emoji)
#> ' 🤗 café' True
# --8<-- [end:byte_level_bpe]

# --8<-- [start:token_counts]
samples = {
    "English": (
        "The parcel was supposed to arrive on Monday, but the tracking page has not changed "
        "for three days. Could you tell me where it is and when I should expect it?"
    ),
    "Python": (
        "def average(values: list[float]) -> float:\n"
        "    if not values:\n"
        "        raise ValueError('values must not be empty')\n"
        "    return sum(values) / len(values)\n"
    ),
    "French": (
        "Le colis devait arriver lundi, mais la page de suivi n'a pas changé depuis trois "
        "jours. Pouvez-vous me dire où il se trouve et quand je dois l'attendre ?"
    ),
}
for name, sample in samples.items():
    n_tokens = len(tokenizer(sample)["input_ids"])
    print(f"{name:8} {len(sample):4} characters {n_tokens:4} tokens  {len(sample) / n_tokens:.2f} characters per token")
#> English   157 characters   34 tokens  4.62 characters per token
#> Python    152 characters   39 tokens  3.90 characters per token
#> French    153 characters   56 tokens  2.73 characters per token
indent = tokenizer.tokenize("\n        raise")
print(indent)
#> ['ĊĠĠĠĠĠĠĠ', 'Ġraise']
# --8<-- [end:token_counts]

# --8<-- [start:chat_template]
messages = [{"role": "user", "content": "List three uses of a paperclip."}]
rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
print(rendered)
#> <|im_start|>system
#> You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
#> <|im_start|>user
#> List three uses of a paperclip.<|im_end|>
#> <|im_start|>assistant
without = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
print(repr(rendered[len(without) :]))  # what add_generation_prompt=True appends
#> '<|im_start|>assistant\n'
print(tokenizer.convert_ids_to_tokens([1, 2]), "eos:", tokenizer.eos_token, "pad:", tokenizer.pad_token)
#> ['<|im_start|>', '<|im_end|>'] eos: <|im_end|> pad: <|im_end|>
prompt = tokenizer.apply_chat_template(
    messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
)
prompt_length = prompt["input_ids"].shape[1]
print(prompt_length, "prompt tokens")
#> 38 prompt tokens
# --8<-- [end:chat_template]


# --8<-- [start:deterministic_decoding]
def answer(max_new_tokens: int = 30, **settings: object) -> str:
    """Continue the chat prompt with the given decoding settings; return only the new text."""
    with torch.no_grad():
        output = lm.generate(**prompt, max_new_tokens=max_new_tokens, **settings)
    return tokenizer.decode(output[0, prompt_length:], skip_special_tokens=True)


greedy = answer(do_sample=False)
print(repr(greedy))
#> '1. A paperclip is used to create a makeshift paperweight.\n2. A paperclip is used to create a makeshift paperweight.\n'
beam = answer(do_sample=False, num_beams=4)
print(repr(beam))
#> 'Here are three uses of a paperclip:\n\n1. A paperclip can be used as a tool for creative problem-solving. It can be'
penalised = answer(do_sample=False, repetition_penalty=1.3)
print(repr(penalised))
#> '1) A Paperclip is used to create and transport items such as:\n   - Toys (e-commerce platforms use them for shipping).\n\n'
# --8<-- [end:deterministic_decoding]

# --8<-- [start:sampling]
sampling_settings = {
    "temperature 0.7": {"temperature": 0.7, "top_k": 0},
    "temperature 1.5": {"temperature": 1.5, "top_k": 0},
    "top-k 10": {"top_k": 10},
    "top-p 0.9": {"top_p": 0.9, "top_k": 0},
}
sampled = {}
for name, settings in sampling_settings.items():
    torch.manual_seed(0)  # sampling is random: seed right before each generate
    sampled[name] = answer(max_new_tokens=20, do_sample=True, **settings)
    print(f"{name}: {sampled[name]!r}")
#> temperature 0.7: '1. To aid in construction: A paperclip is used to cut paper, creating tools, and'
#> temperature 1.5: 'The cardboard clips are gods men best prayers never absent unless she helps her k proud fin knots, follow'
#> top-k 10: '1. To make a paperclip out of cardboard: A paperclip is made from a paperclip'
#> top-p 0.9: '1. To aid in cleanup. A paperclip can be used to clean up a space, assisting'
# --8<-- [end:sampling]

# --8<-- [start:logits_processors]
from transformers import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from ptm_snippets.decoding import (
    apply_temperature,
    candidates,
    repetition_penalty,
    top_k_filter,
    top_p_filter,
)

story = tokenizer("My favourite thing to do at the weekend is", return_tensors="pt")["input_ids"]
with torch.no_grad():
    next_logits = lm(story).logits[:, -1]  # scores for the token after the prompt

mine = repetition_penalty(next_logits, story, 1.3)
theirs = RepetitionPenaltyLogitsProcessor(1.3)(story, next_logits.clone())
steps = [
    ("temperature 0.7", lambda x: apply_temperature(x, 0.7), TemperatureLogitsWarper(0.7)),
    ("top-k 50", lambda x: top_k_filter(x, 50), TopKLogitsWarper(50)),
    ("top-p 0.9", lambda x: top_p_filter(x, 0.9), TopPLogitsWarper(0.9)),
]
for name, step, warper in steps:
    mine, theirs = step(mine), warper(story, theirs)
    same = candidates(mine) == candidates(theirs)
    print(f"after {name:15} {len(candidates(mine)):5} candidates, same set as transformers: {same}")
#> after temperature 0.7 49152 candidates, same set as transformers: True
#> after top-k 50           50 candidates, same set as transformers: True
#> after top-p 0.9          29 candidates, same set as transformers: True
kept = mine.softmax(-1)[0]
for token_id in kept.topk(5).indices:  # the five most likely of the surviving candidates
    print(f"{tokenizer.decode(token_id)!r:10} {kept[token_id]:.3f}")
#> ' a'       0.293
#> ' just'    0.085
#> ' go'      0.080
#> ' make'    0.058
#> ' eat'     0.046
draw = [torch.multinomial(x.softmax(-1), 1, generator=torch.Generator().manual_seed(0)) for x in (mine, theirs)]
print("same sampled token:", tokenizer.decode(draw[0][0]), int(draw[0]) == int(draw[1]))
#> same sampled token:  a True
# --8<-- [end:logits_processors]

# --8<-- [start:kv_cache]
import time

processed: list[int] = []  # tokens fed to the network at each forward call
hook = lm.get_input_embeddings().register_forward_hook(
    lambda module, args, output: processed.append(args[0].shape[1])
)
runs = {}
for use_cache in (True, False):
    processed.clear()
    start = time.perf_counter()
    with torch.no_grad():
        tokens_out = lm.generate(**prompt, max_new_tokens=10, do_sample=False, use_cache=use_cache)
    runs[use_cache] = (tokens_out, list(processed), time.perf_counter() - start)
hook.remove()
print("same tokens:", torch.equal(runs[True][0], runs[False][0]))
#> same tokens: True
for use_cache, (_, steps_seen, _) in runs.items():
    print(f"use_cache={use_cache!s:5}: per step {steps_seen[:4]} ... {steps_seen[-1]}, total {sum(steps_seen)}")
#> use_cache=True : per step [38, 1, 1, 1] ... 1, total 47
#> use_cache=False: per step [38, 39, 40, 41] ... 47, total 425
print("cache faster:", runs[True][2] < runs[False][2])
#> cache faster: True
# keys and values, in every block, for every key/value head, float32 (4 bytes)
per_token = 2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim * 4
print(f"cache size: {per_token / 1024:.0f} KiB per token, {per_token * config.max_position_embeddings / 2**20:.0f} MiB for a full {config.max_position_embeddings}-token context")
#> cache size: 45 KiB per token, 360 MiB for a full 8192-token context
# --8<-- [end:kv_cache]

# --8<-- [start:few_shot]
import copy

from ptm_snippets.tickets import LABELS, load_tickets

train, test = load_tickets("train"), load_tickets("test")
# A fixed, balanced test subset: the first 4 familiar and 4 novel messages of each label.
subset = [
    row
    for label in LABELS
    for split in ("familiar", "novel")
    for row in [r for r in test if r["label"] == label and r["split"] == split][:4]
]
gold = torch.tensor([LABELS.index(row["label"]) for row in subset])
# Demonstrations from the training set: the first two messages of each label, labels alternating.
by_label = {label: [r for r in train if r["label"] == label] for label in LABELS}
shots = [by_label[label][k] for k in range(2) for label in LABELS]
label_ids = [tokenizer(" " + label)["input_ids"] for label in LABELS]
print(label_ids)  # each label is one token after a space: its log-likelihood is one log-prob
#> [[38971], [7037], [2051], [5289]]


def few_shot_prefix(examples: list[dict[str, str]]) -> str:
    demos = "".join(
        f"Customer message: {ex['text']}\nThis message is about {ex['label']}.\n\n" for ex in examples
    )
    return demos + "Customer message:"


print(few_shot_prefix(shots[:1]) + " <the test message>\nThis message is about")
#> Customer message: My free trial was supposed to end without charging me, but I got charged £12.99.
#> This message is about billing.
#>
#> Customer message: <the test message>
#> This message is about


def label_log_likelihoods(prefix: str, texts: list[str], batch_size: int = 16) -> torch.Tensor:
    """log p(label | prefix + text + "This message is about") for each text and label."""
    prefix_ids = tokenizer(prefix, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        prefix_cache = lm(prefix_ids, use_cache=True).cache  # encode the shared prompt once
    tokenizer.padding_side = "right"
    scores = []
    for start in range(0, len(texts), batch_size):
        chunk = [" " + t + "\nThis message is about" for t in texts[start : start + batch_size]]
        batch = tokenizer(chunk, return_tensors="pt", padding=True)
        cache = copy.deepcopy(prefix_cache)
        cache.batch_repeat_interleave(len(chunk))  # one copy of the prompt per message
        mask = torch.cat([torch.ones(len(chunk), prefix_ids.shape[1], dtype=torch.long), batch["attention_mask"]], 1)
        with torch.no_grad():
            hidden = lm.model(input_ids=batch["input_ids"], attention_mask=mask, cache=cache).last_hidden_state
        last = batch["attention_mask"].sum(1) - 1  # each message's last real token
        log_probs = lm.lm_head(hidden[torch.arange(len(chunk)), last]).log_softmax(-1)
        scores.append(log_probs[:, [ids[0] for ids in label_ids]])
    return torch.cat(scores)


accuracy, calibrated, predictions = {}, {}, {}
for k in (0, 4, 8):
    prefix = few_shot_prefix(shots[:k])
    # The last text is content-free: its scores measure the prompt's bias towards each label.
    scores = label_log_likelihoods(prefix, [row["text"] for row in subset] + ["N/A"])
    scores, prior = scores[:-1], scores[-1:]
    predictions[k] = scores.argmax(-1)
    accuracy[k] = float((predictions[k] == gold).float().mean())
    # Contextual calibration: subtract each label's score for the content-free message.
    calibrated[k] = float(((scores - prior).argmax(-1) == gold).float().mean())
    counts = [int((predictions[k] == i).sum()) for i in range(len(LABELS))]
    print(f"{k} examples: accuracy {accuracy[k]:.3f} (calibrated {calibrated[k]:.3f})  predicted {counts}")
#> 0 examples: accuracy 0.562 (calibrated 0.688)  predicted [1, 13, 15, 3]
#> 4 examples: accuracy 0.656 (calibrated 0.719)  predicted [2, 11, 15, 4]
#> 8 examples: accuracy 0.250 (calibrated 0.406)  predicted [32, 0, 0, 0]
# --8<-- [end:few_shot]

# --8<-- [start:model_sizes]
from transformers import AutoConfig

from ptm_snippets import parameters_from_config, published_config

gpt2_paper = {"gpt2": 117, "gpt2-medium": 345, "gpt2-large": 762, "gpt2-xl": 1542}
print(f"{'model':13} {'layers':>6} {'d_model':>7} {'context':>7} {'counted':>9} {'paper':>6}")
#> model         layers d_model context   counted  paper
for name, paper in gpt2_paper.items():
    fields = published_config(f"openai-community/{name}")
    gpt2_config = AutoConfig.for_model(fields.pop("model_type"), **fields)
    counted = parameters_from_config(gpt2_config) / 1e6
    print(f"{name:13} {gpt2_config.n_layer:6} {gpt2_config.n_embd:7} {gpt2_config.n_positions:7} {counted:8.1f}M {paper:5}M")
#> gpt2              12     768    1024    124.4M   117M
#> gpt2-medium       24    1024    1024    354.8M   345M
#> gpt2-large        36    1280    1024    774.0M   762M
#> gpt2-xl           48    1600    1024   1557.6M  1542M
smol = AutoConfig.from_pretrained(SMOLLM2)  # the real config of the checkpoint used above
total = parameters_from_config(smol)
embedding = smol.vocab_size * smol.hidden_size
print(f"{'SmolLM2-135M':13} {smol.num_hidden_layers:6} {smol.hidden_size:7} {smol.max_position_embeddings:7} {total / 1e6:8.1f}M")
#> SmolLM2-135M      30     576    8192    134.5M
print(f"embedding matrix (tied with the output layer): {embedding / 1e6:.1f}M = {embedding / total:.0%} of SmolLM2")
#> embedding matrix (tied with the output layer): 28.3M = 21% of SmolLM2
# --8<-- [end:model_sizes]


# --8<-- [start:exercise_solution]
def greedy_decode(input_ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Greedy decoding by hand: run the prompt once, then feed one token at a time with the cache."""
    generated = input_ids
    next_input, cache = input_ids, None
    with torch.no_grad():
        for _ in range(max_new_tokens):
            out = lm(input_ids=next_input, cache=cache, use_cache=True)
            cache = out.cache
            next_id = out.logits[:, -1].argmax(-1, keepdim=True)  # the most probable token
            generated = torch.cat([generated, next_id], dim=1)
            if next_id.item() == tokenizer.eos_token_id:
                break
            next_input = next_id  # the cache already holds everything before it
    return generated


by_hand = greedy_decode(prompt["input_ids"], max_new_tokens=30)
print(repr(tokenizer.decode(by_hand[0, prompt_length:], skip_special_tokens=True)))
#> '1. A paperclip is used to create a makeshift paperweight.\n2. A paperclip is used to create a makeshift paperweight.\n'
print("same as generate(do_sample=False):", tokenizer.decode(by_hand[0, prompt_length:], skip_special_tokens=True) == greedy)
#> same as generate(do_sample=False): True
# --8<-- [end:exercise_solution]
