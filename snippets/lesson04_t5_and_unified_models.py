"""Lesson 04: T5 and unified text-to-text models. Runs top to bottom; the page includes its sections."""

# --8<-- [start:task_prefixes]
from ptm_snippets.text2text import TASKS, make_examples

for task in TASKS:
    example = make_examples(task, "train", size=1, seed=1)[0]
    print(f"{example.source[:58]:58} -> {example.target}")
    #> classify: My free trial was supposed to end without chargi -> billing
    #> count words: thanks invoice last page wrong                -> 5
    #> sort words: never hello with order                         -> hello never order with
# --8<-- [end:task_prefixes]

# --8<-- [start:load_model]
import torch

from ptm_snippets import count_parameters
from ptm_snippets.text2text import load_checkpoint

# The committed checkpoint, trained once by `python -m ptm_snippets.text2text train` and
# verified against the sha256 of each file before loading.
model, tokenizer = load_checkpoint(attn_implementation="eager")  # eager: attention weights
config = model.config
print(f"{count_parameters(model):,} parameters")
#> 762,624 parameters
print(
    f"d_model={config.d_model} heads={config.num_heads} d_ff={config.d_ff} "
    f"encoder layers={config.num_layers} decoder layers={config.num_decoder_layers}"
)
#> d_model=128 heads=4 d_ff=256 encoder layers=2 decoder layers=2
print("decoder_start_token_id:", config.decoder_start_token_id)
#> decoder_start_token_id: 0
# --8<-- [end:load_model]

# --8<-- [start:attention_shapes]
source = tokenizer(["sort words: refund parcel email order"], return_tensors="pt")
target = tokenizer(["email order parcel refund"], return_tensors="pt").input_ids  # ... </s>
decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels=target)  # <pad> email ...
with torch.no_grad():
    out = model(**source, decoder_input_ids=decoder_input_ids, output_attentions=True)
print("encoder tokens:", source.input_ids.shape[1], " decoder tokens:", decoder_input_ids.shape[1])
#> encoder tokens: 8  decoder tokens: 5
for name in ("encoder_attentions", "decoder_attentions", "cross_attentions"):
    weights = getattr(out, name)
    print(f"{name:19} {len(weights)} layers x {tuple(weights[0].shape)}")
    #> encoder_attentions  2 layers x (1, 4, 8, 8)
    #> decoder_attentions  2 layers x (1, 4, 5, 5)
    #> cross_attentions    2 layers x (1, 4, 5, 8)
print("decoder self-attention, layer 1, mean of the heads (rows: decoder positions):")
#> decoder self-attention, layer 1, mean of the heads (rows: decoder positions):
print(out.decoder_attentions[1][0].mean(0).round(decimals=2))
#> tensor([[1.0000, 0.0000, 0.0000, 0.0000, 0.0000],
#>         [0.2700, 0.7300, 0.0000, 0.0000, 0.0000],
#>         [0.2500, 0.2500, 0.5000, 0.0000, 0.0000],
#>         [0.0000, 0.5000, 0.0000, 0.5000, 0.0000],
#>         [0.0000, 0.0000, 0.2500, 0.2500, 0.5000]])
print("cross-attention rows sum to", out.cross_attentions[0][0, 0].sum(-1).round(decimals=3).tolist())
#> cross-attention rows sum to [1.0, 1.0, 1.0, 1.0, 1.0]
# --8<-- [end:attention_shapes]

# --8<-- [start:sdpa_attention]
default_model, _ = load_checkpoint()  # the default attention implementation
probe = tokenizer(["sort words: refund parcel"], return_tensors="pt")
with torch.no_grad():
    probe_out = default_model(**probe, decoder_input_ids=torch.tensor([[0]]), output_attentions=True)
print("attention tensors returned:", len(probe_out.encoder_attentions), len(probe_out.cross_attentions))
#> attention tensors returned: 0 0
# --8<-- [end:sdpa_attention]

# --8<-- [start:real_t5_shapes]
from transformers import AutoConfig, T5ForConditionalGeneration

from ptm_snippets import published_config

fields = published_config("google-t5/t5-small")
t5_small_config = AutoConfig.for_model(fields.pop("model_type"), **fields)
with torch.device("meta"):  # shapes without weights: nothing is allocated or computed
    t5_small = T5ForConditionalGeneration(t5_small_config)
t5_small.set_attn_implementation("eager")
meta_out = t5_small(
    input_ids=torch.zeros(1, 12, dtype=torch.long, device="meta"),
    decoder_input_ids=torch.zeros(1, 3, dtype=torch.long, device="meta"),
    output_attentions=True,
)
for name in ("encoder_attentions", "decoder_attentions", "cross_attentions"):
    weights = getattr(meta_out, name)
    print(f"{name:19} {len(weights)} layers x {tuple(weights[0].shape)}")
    #> encoder_attentions  6 layers x (1, 8, 12, 12)
    #> decoder_attentions  6 layers x (1, 8, 3, 3)
    #> cross_attentions    6 layers x (1, 8, 3, 12)
print("logits:", tuple(meta_out.logits.shape))
#> logits: (1, 3, 32128)
# --8<-- [end:real_t5_shapes]

# --8<-- [start:tokenizer]
from ptm_snippets.text2text import build_tokenizer

# The checkpoint's tokenizer is exactly the one build_tokenizer() makes from the shipped data.
print(tokenizer.get_vocab() == build_tokenizer().get_vocab())
#> True
print(len(tokenizer), "ids")
#> 824 ids
print(tokenizer.tokenize("classify: My parcel never arrived, order #48213!"))
#> ['classify', ':', 'my', 'parcel', 'never', 'arrived', ',', 'order', '#', '4', '8', '2', '1', '3', '!']
print(tokenizer("count words: order page refund")["input_ids"])  # ends with </s> = 1
#> [5, 6, 4, 31, 32, 36, 1]
special = ["<pad>", "</s>", "<unk>", "<extra_id_0>", "<extra_id_1>", "<extra_id_99>"]
print(dict(zip(special, tokenizer.convert_tokens_to_ids(special), strict=True)))
#> {'<pad>': 0, '</s>': 1, '<unk>': 2, '<extra_id_0>': 823, '<extra_id_1>': 822, '<extra_id_99>': 724}
print(tokenizer.tokenize("I want a reimbursement"))  # a word the training tickets never use
#> ['i', 'want', 'a', '<unk>']
# --8<-- [end:tokenizer]

# --8<-- [start:span_corruption]
from ptm_snippets.text2text import corrupt_spans
from ptm_snippets.tickets import load_tickets

ticket = load_tickets("train")[16]["text"]  # a real message from the shipped data set
print(ticket)
#> My daughter usually deals with this stuff, but my card was declined at checkout but the money still left my account last Friday. Please sort this out.
spans = corrupt_spans(ticket, tokenizer, generator=torch.Generator().manual_seed(0))
print("encoder reads: ", " ".join(spans.inputs))
#> encoder reads:  my daughter usually deals with this stuff , but my card was declined at checkout but the money still left my account last friday . please <extra_id_0> </s>
print("decoder writes:", " ".join(spans.targets))
#> decoder writes: <extra_id_0> sort this out . <extra_id_1> </s>
# --8<-- [end:span_corruption]

# --8<-- [start:span_corruption_roll]
rolled = corrupt_spans(
    ticket, tokenizer, noise_density=0.3, random_roll=True, generator=torch.Generator().manual_seed(0)
)
print("encoder reads: ", " ".join(rolled.inputs))
#> encoder reads:  my <extra_id_0> this stuff , but my card was declined at checkout <extra_id_1> left my account last <extra_id_2> . please sort this out . </s>
print("decoder writes:", " ".join(rolled.targets))
#> decoder writes: <extra_id_0> daughter usually deals with <extra_id_1> but the money still <extra_id_2> friday <extra_id_3> </s>
print("input ids: ", rolled.input_ids)
#> input ids:  [48, 823, 40, 574, 49, 63, 48, 112, 60, 457, 103, 157, 822, 116, 48, 10, 29, 821, 45, 35, 7, 40, 67, 45, 1]
print("label ids: ", rolled.labels)
#> label ids:  [823, 550, 612, 501, 42, 822, 63, 46, 121, 37, 821, 224, 820, 1]
# --8<-- [end:span_corruption_roll]

# --8<-- [start:training_batch]
from ptm_snippets.text2text import Example, make_batch

pair = [
    Example("classify", "classify: I was charged twice for one order", "billing"),
    Example("sort", "sort words: refund order email", "email order refund"),
]
batch = make_batch(pair, tokenizer)
print("labels:           ", batch["labels"].tolist())
#> labels:            [[8, 1, -100, -100], [25, 31, 36, 1]]
print("decoder_input_ids:", model.prepare_decoder_input_ids_from_labels(labels=batch["labels"]).tolist())
#> decoder_input_ids: [[0, 8, 1, 0], [0, 25, 31, 36]]
with torch.no_grad():
    trained_loss = model(**batch).loss
    torch.manual_seed(0)
    untrained = T5ForConditionalGeneration(config).eval()  # same shape, random weights
    untrained_loss = untrained(**batch).loss
print(f"loss, trained: {trained_loss:.3f}  untrained: {untrained_loss:.2f}  ln(vocab): {torch.log(torch.tensor(len(tokenizer))):.2f}")
#> loss, trained: 0.003  untrained: 7.70  ln(vocab): 6.71
# --8<-- [end:training_batch]

# --8<-- [start:train_briefly]
import dataclasses

from ptm_snippets.text2text import FULL, train

print(f"the checkpoint: {FULL.steps} steps x {len(FULL.tasks)} tasks x {FULL.batch_per_task} examples")
#> the checkpoint: 1500 steps x 3 tasks x 16 examples
short = dataclasses.replace(FULL, steps=30, batch_per_task=8, warmup_steps=5)
run = train(short)  # the same loop from a fresh random start, 30 steps only
for step in (0, 9, 19, 29):
    print(f"step {step + 1:2}: loss {run.losses[step]:.2f}")
    #> step  1: loss 7.45
    #> step 10: loss 2.45
    #> step 20: loss 2.18
    #> step 30: loss 1.85
# --8<-- [end:train_briefly]

# --8<-- [start:generate]
prompt = tokenizer(["classify: My parcel never arrived and tracking has not moved"], return_tensors="pt")
with torch.no_grad():
    generated = model.generate(**prompt, max_new_tokens=8, do_sample=False)
print(generated.tolist())  # starts with decoder_start_token_id, ends with </s>
#> [[0, 9, 1]]
print(tokenizer.batch_decode(generated, skip_special_tokens=True))
#> ['delivery']
# --8<-- [end:generate]

# --8<-- [start:per_task_accuracy]
from collections import Counter

from ptm_snippets.text2text import accuracy, predict

held_out = [e for task in TASKS for e in make_examples(task, "test")]
answers = predict(model, tokenizer, [e.source for e in held_out])
scores = accuracy(held_out, answers, by="group")


def baseline(examples: list[Example]) -> float:
    """Best trivial answer: the commonest target, or the input words unchanged for sort."""
    if examples[0].task == "sort":
        return sum(e.source.split(":", 1)[1].strip() == e.target for e in examples) / len(examples)
    return Counter(e.target for e in examples).most_common(1)[0][1] / len(examples)


print(f"{'held-out set':18} {'n':>4} {'accuracy':>9} {'baseline':>9}")
#> held-out set          n  accuracy  baseline
for key, score in scores.items():
    group = [e for e in held_out if key in (e.task, f"{e.task}/{e.group}")]
    print(f"{key:18} {len(group):4} {score:9.3f} {baseline(group):9.3f}")
    #> classify/familiar   220     0.795     0.250
    #> classify/novel      220     0.477     0.250
    #> count               200     0.590     0.245
    #> sort                200     1.000     0.085
# --8<-- [end:per_task_accuracy]

# --8<-- [start:examples]
shown = [held_out[i] for i in (0, 1, 221, 222, 440, 441, 640, 641)]
for example, answer in zip(shown, predict(model, tokenizer, [e.source for e in shown]), strict=True):
    mark = "ok " if answer == example.target else "err"
    print(f"{mark} {example.source[:52]:52} -> {answer}")
    #> ok  classify: Do you accept Apple Pay? Any help apprecia -> billing
    #> ok  classify: Good morning, the box arrived open and the -> delivery
    #> err classify: the postman left a slip on 21 june but i w -> billing
    #> ok  classify: I returned the Cobalt phone case nearly tw -> billing
    #> ok  count words: when this                               -> 2
    #> err count words: after after with wrong with password    -> 4
    #> ok  sort words: parcel order email still                 -> email order parcel still
    #> ok  sort words: there parcel hello wrong                 -> hello parcel there wrong
# --8<-- [end:examples]

# --8<-- [start:count_errors]
outcomes = Counter()
for example, answer in zip(held_out, answers, strict=True):
    if example.task == "count":
        listed = example.source.split(":", 1)[1].split()
        kind = "with a repeated word" if len(set(listed)) < len(listed) else "all words different"
        verdict = "right" if answer == example.target else "wrong"
        if verdict == "wrong" and answer == str(len(set(listed))):
            verdict = "wrong, counted distinct words"
        outcomes[kind, verdict] += 1
for (kind, verdict), n in sorted(outcomes.items()):
    print(f"{kind:21} {verdict:30} {n:3}")
    #> all words different   right                          101
    #> all words different   wrong                           42
    #> with a repeated word  right                           17
    #> with a repeated word  wrong                            2
    #> with a repeated word  wrong, counted distinct words   38
# --8<-- [end:count_errors]

# --8<-- [start:prefix_switch]
words = "refund parcel email order"
for prefix in ("count words:", "sort words:", "classify:", "sort:", "reverse words:"):
    print(f"{prefix:15} {predict(model, tokenizer, [f'{prefix} {words}'])[0]}")
    #> count words:    4
    #> sort words:     email order parcel refund
    #> classify:       email order page refund
    #> sort:           email order parcel refund
    #> reverse words:  email order parcel refund
message = "I was charged twice for one order"
for prefix in ("classify:", "category:", ""):
    print(f"{prefix or '(no prefix)':15} {predict(model, tokenizer, [f'{prefix} {message}'.strip()])[0]}")
    #> classify:       billing
    #> category:       billing
    #> (no prefix)     billing
# --8<-- [end:prefix_switch]

# --8<-- [start:t5_sizes]
from transformers import T5Model

reported = {"t5-small": 60, "t5-base": 220, "t5-large": 770, "t5-3b": 3000, "t5-11b": 11000}
print(f"{'model':9} {'paper':>7} {'counted':>9} {'+output':>9} {'embedding':>10} {'encoder':>8} {'decoder':>8}")
#> model       paper   counted   +output  embedding  encoder  decoder
for name, paper in reported.items():
    fields = published_config(f"google-t5/{name}")
    with torch.device("meta"):
        bare = T5Model(AutoConfig.for_model(fields.pop("model_type"), **fields))
    embedding = bare.shared.weight.numel()  # shared by encoder input, decoder input and output
    encoder = count_parameters(bare.encoder) - embedding
    decoder = count_parameters(bare.decoder) - embedding
    total = count_parameters(bare)
    assert total == embedding + encoder + decoder
    print(
        f"{name:9} {paper:6}M {total / 1e6:8.1f}M {(total + embedding) / 1e6:8.1f}M {embedding / total:10.1%} "
        f"{encoder / total:8.1%} {decoder / total:8.1%}"
    )
    #> t5-small      60M     60.5M     77.0M      27.2%    31.2%    41.6%
    #> t5-base      220M    222.9M    247.6M      11.1%    38.1%    50.8%
    #> t5-large     770M    737.7M    770.6M       4.5%    40.9%    54.6%
    #> t5-3b       3000M   2851.6M   2884.5M       1.2%    42.4%    56.5%
    #> t5-11b     11000M  11307.3M  11340.2M       0.3%    42.7%    57.0%
# --8<-- [end:t5_sizes]

# --8<-- [start:exercise_solution]
greedy = accuracy(held_out, answers)  # the greedy answers from above
beam_answers = predict(model, tokenizer, [e.source for e in held_out], num_beams=4)
beam = accuracy(held_out, beam_answers)
changed = sum(a != b for a, b in zip(answers, beam_answers, strict=True))
for task in TASKS:
    print(f"{task:9} greedy {greedy[task]:.3f}  beam-4 {beam[task]:.3f}")
    #> classify  greedy 0.636  beam-4 0.636
    #> count     greedy 0.590  beam-4 0.590
    #> sort      greedy 1.000  beam-4 1.000
print(f"{changed} of {len(held_out)} answers differ")
#> 0 of 840 answers differ
# --8<-- [end:exercise_solution]
