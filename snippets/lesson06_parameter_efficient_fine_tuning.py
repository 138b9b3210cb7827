"""Lesson 06: parameter-efficient fine-tuning. Runs top to bottom; the page includes its sections."""

# --8<-- [start:lora_by_hand]
import copy

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer


class LoRALinear(torch.nn.Module):
    """h = W x + b + (alpha / r) * B A x: the frozen layer plus a trainable rank-r update."""

    def __init__(self, base: torch.nn.Linear, r: int, alpha: float) -> None:
        super().__init__()
        self.base = base.requires_grad_(False)  # W and b stay as pre-trained
        self.A = torch.nn.Parameter(torch.randn(r, base.in_features) / base.in_features**0.5)
        self.B = torch.nn.Parameter(torch.zeros(base.out_features, r))  # zero: starts as the base
        self.scaling = alpha / r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scaling * (x @ self.A.T @ self.B.T)


torch.manual_seed(0)
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
tokenizer = AutoTokenizer.from_pretrained(MINILM)
base = AutoModelForSequenceClassification.from_pretrained(MINILM, num_labels=4)
query = base.bert.encoder.layer[0].attention.self.query  # one 384 x 384 projection
hand = LoRALinear(copy.deepcopy(query), r=8, alpha=16)
x = torch.randn(2, 5, 384)  # (batch, tokens, hidden)
print("starts equal to the frozen layer:", torch.equal(hand(x), query(x)))
#> starts equal to the frozen layer: True
full = query.weight.numel()
lora = hand.A.numel() + hand.B.numel()
print(f"W: {full:,} weights; A and B: {lora:,} = r * (d_in + d_out) = {lora / full:.1%} of W")
#> W: 147,456 weights; A and B: 6,144 = r * (d_in + d_out) = 4.2% of W
print(f"rank 8 on a 4096 x 4096 projection (a 7B decoder's): {8 * (4096 + 4096) / 4096**2:.2%} of W")
#> rank 8 on a 4096 x 4096 projection (a 7B decoder's): 0.39% of W
# --8<-- [end:lora_by_hand]

# --8<-- [start:peft_lora_config]
from peft import LoraConfig, get_peft_model

config = LoraConfig(
    task_type="SEQ_CLS",  # adds the new classifier head to modules_to_save
    r=8,  # rank of the update B A
    lora_alpha=16,  # the update is scaled by lora_alpha / r = 2
    lora_dropout=0.1,  # dropout on the adapter's input during training
    target_modules=["query", "value"],  # the layers that get an adapter
    modules_to_save=["classifier", "pooler"],  # trained in full and saved with the adapter
)
from ptm_snippets.adapters import trainable_parameters

model = get_peft_model(base, config)  # changes `base` in place: its layers are now wrapped
count = trainable_parameters(model)  # model.print_trainable_parameters() reports the same
print(f"trainable: {count.trainable:,} of {count.total:,} ({count.share:.2%})")
#> trainable: 223,108 of 22,937,864 (0.97%)
wrapped = [name for name, module in model.named_modules() if hasattr(module, "lora_A")]
print(len(wrapped), "adapted layers, e.g.", wrapped[0])
#> 12 adapted layers, e.g. base_model.model.bert.encoder.layer.0.attention.self.query
layer = model.base_model.model.bert.encoder.layer[0].attention.self.query
print(type(layer).__name__, "| A:", tuple(layer.lora_A["default"].weight.shape),
      "B:", tuple(layer.lora_B["default"].weight.shape), "| scaling:", layer.scaling["default"])
#> Linear | A: (8, 384) B: (384, 8) | scaling: 2.0
by_part: dict[str, int] = {}
for name, parameter in model.named_parameters():
    if parameter.requires_grad:
        part = "LoRA A and B" if "lora_" in name else "pooler" if ".pooler." in name else "classifier"
        by_part[part] = by_part.get(part, 0) + parameter.numel()
print(by_part)
#> {'LoRA A and B': 73728, 'pooler': 147840, 'classifier': 1540}
# --8<-- [end:peft_lora_config]

# --8<-- [start:hand_matches_peft]
torch.manual_seed(0)
check = copy.deepcopy(layer).eval()  # a copy, so the model we train keeps B = 0
torch.nn.init.normal_(hand.B, std=0.02)  # pretend training moved B away from zero
with torch.no_grad():
    check.lora_A["default"].weight.copy_(hand.A)
    check.lora_B["default"].weight.copy_(hand.B)
    difference = (check(x) - hand(x)).abs().max().item()
    update = (check(x) - query(x)).abs().max().item()
print("peft's layer computes the same function:", difference < 1e-5, "| the update moved outputs:", update > 1e-3)
#> peft's layer computes the same function: True | the update moved outputs: True
# --8<-- [end:hand_matches_peft]

# --8<-- [start:train_lora]
import random
import tempfile
from pathlib import Path

from ptm_snippets.finetuning import FineTuneConfig, encode_dataset, evaluate, fine_tune
from ptm_snippets.tickets import LABELS, load_tickets

label_id = {label: i for i, label in enumerate(LABELS)}
train_rows = random.Random(0).sample(load_tickets("train"), 256)
test_rows = load_tickets("test")


def encode(rows: list[dict[str, str]]):
    return encode_dataset(tokenizer, [r["text"] for r in rows], [label_id[r["label"]] for r in rows],
                          num_labels=len(LABELS), max_length=48)


train_data, test_data = encode(train_rows), encode(test_rows[::4])  # every fourth test ticket
workdir = Path(tempfile.mkdtemp())  # adapters and checkpoints of this lesson go here
result = fine_tune(model, train_data, FineTuneConfig(learning_rate=2e-3, max_steps=30, batch_size=8),
                   output_dir=workdir / "topics")
print(f"loss {sum(result.losses[:5]) / 5:.2f} -> {sum(result.losses[-5:]) / 5:.2f} in {result.steps} steps")
#> loss 1.33 -> 0.29 in 30 steps
print(f"test accuracy: {evaluate(model, test_data):.2f} on {len(test_data)} tickets")
#> test accuracy: 0.84 on 110 tickets
# --8<-- [end:train_lora]

# --8<-- [start:merge_and_unload]
batch = tokenizer([r["text"] for r in test_rows[:32]], padding=True, return_tensors="pt")
with torch.no_grad():
    unmerged = model(**batch).logits
merged = copy.deepcopy(model).merge_and_unload()  # W <- W + (alpha / r) B A, wrappers removed
with torch.no_grad():
    merged_logits = merged(**batch).logits
print(type(merged).__name__, f"{sum(p.numel() for p in merged.parameters()):,} parameters")
#> BertForSequenceClassification 22,714,756 parameters
print("no LoRA layers left:", not any("lora" in name for name, _ in merged.named_modules()))
#> no LoRA layers left: True
print("same logits:", torch.allclose(unmerged, merged_logits, atol=1e-3, rtol=1e-4))
#> same logits: True
# --8<-- [end:merge_and_unload]

# --8<-- [start:save_and_load]
from peft import PeftModel

from ptm_snippets.adapters import adapter_size_bytes

print(sorted(p.name for p in (workdir / "topics").iterdir()))
#> ['README.md', 'adapter_config.json', 'adapter_model.safetensors', 'log.jsonl']
merged.save_pretrained(workdir / "merged")  # a whole model, as full fine-tuning would produce
adapter_bytes = adapter_size_bytes(workdir / "topics")
model_bytes = (workdir / "merged" / "model.safetensors").stat().st_size
print(f"adapter {adapter_bytes / 1e3:.0f} KB, full model {model_bytes / 1e6:.1f} MB: {model_bytes / adapter_bytes:.0f}x smaller")
#> adapter 896 KB, full model 90.9 MB: 101x smaller

torch.manual_seed(1)  # a different random head, to show the adapter brings its own
fresh = AutoModelForSequenceClassification.from_pretrained(MINILM, num_labels=4)
loaded = PeftModel.from_pretrained(fresh, workdir / "topics", adapter_name="topics")
with torch.no_grad():
    reloaded = loaded(**batch).logits
print("reloaded adapter gives the same logits:", torch.allclose(reloaded, unmerged, atol=1e-6))
#> reloaded adapter gives the same logits: True
# --8<-- [end:save_and_load]

# --8<-- [start:multiple_adapters]
from ptm_snippets.finetuning import predict

orders_rows = [r for r in train_rows if r["label"] in ("billing", "delivery")]
loaded.add_adapter("orders", config)  # a second, new adapter on the same base, same settings
loaded.set_adapter("orders")  # active, and the only adapter that trains
fine_tune(loaded, encode(orders_rows), FineTuneConfig(learning_rate=2e-3, max_steps=16, batch_size=8))
loaded.save_pretrained(workdir / "adapters", save_embedding_layers=False)
print(sorted(p.name for p in (workdir / "adapters").iterdir() if p.is_dir()), "each with its own adapter files")
#> ['orders', 'topics'] each with its own adapter files

# A serving process: one base model, both adapters loaded by name.
torch.manual_seed(2)
server = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(MINILM, num_labels=4),
                                   workdir / "adapters" / "topics", adapter_name="topics")
server.load_adapter(workdir / "adapters" / "orders", adapter_name="orders")
examples = [next(r for r in test_rows if r["label"] == label and r["split"] == "novel") for label in LABELS]
sample = encode(examples)
columns = {}
for name in ("topics", "orders"):
    server.set_adapter(name)
    columns[name] = [LABELS[i] for i in predict(server, sample)]
with server.disable_adapter():
    columns["adapters off"] = [LABELS[i] for i in predict(server, sample)]
print(f"{'ticket':58} {'label':10}" + "".join(f"{name:>14}" for name in columns))
for i, row in enumerate(examples):
    print(f"{row['text'][:57]:58} {row['label']:10}" + "".join(f"{c[i]:>14}" for c in columns.values()))
#> ticket                                                     label             topics        orders  adapters off
#> You deducted $64.50 for a family membership I never wante  billing          billing       billing       billing
#> Hey, the postie left the Vela running shoes in the rain a  delivery        delivery      delivery     technical
#> please erase me from your systems entirely                 account          account       billing       billing
#> It quits unexpectedly every time I open the reviews.       technical      technical       billing       account
# --8<-- [end:multiple_adapters]

# --8<-- [start:bad_input]
from ptm_snippets.adapters import linear_layer_names, make_peft_model

print(linear_layer_names(AutoModelForSequenceClassification.from_pretrained(MINILM, num_labels=4)))
#> ['classifier', 'dense', 'key', 'query', 'value']
typo = LoraConfig(task_type="SEQ_CLS", r=8, target_modules=["query", "v_proj"], lora_alpha=-16)
quiet = get_peft_model(AutoModelForSequenceClassification.from_pretrained(MINILM, num_labels=4), typo)
print("peft accepted it:", f"{trainable_parameters(quiet).trainable:,} trainable")  # value got nothing
#> peft accepted it: 38,404 trainable
for arguments in ({"target_modules": ["query", "v_proj"]}, {"rank": 0}, {"alpha": -16}, {"dropout": 1.0}):
    try:
        make_peft_model(AutoModelForSequenceClassification.from_pretrained(MINILM, num_labels=4), "lora", **arguments)
    except ValueError as error:
        print(f"{arguments}: {error}")
#> {'target_modules': ['query', 'v_proj']}: target_modules entry 'v_proj' matches no module in BertForSequenceClassification; its linear layers are named ['classifier', 'dense', 'key', 'query', 'value'] (an entry must equal a module's full name or end it after a dot, e.g. 'query' or 'attention.self.query')
#> {'rank': 0}: rank must be a positive int (1 or more), got 0
#> {'alpha': -16}: alpha must be a positive number, got -16
#> {'dropout': 1.0}: dropout must be a probability in [0, 1), got 1.0
# --8<-- [end:bad_input]

# --8<-- [start:other_methods]
HEAD = ["classifier", "pooler"]
methods = {
    "lora": {"rank": 8, "target_modules": ["query", "value"]},
    "dora": {"rank": 8, "target_modules": ["query", "value"]},
    "loha": {"rank": 8, "target_modules": ["query", "value"]},
    "lokr": {"rank": 8, "target_modules": ["query", "value"]},
    "ia3": {},  # peft's default for BERT: key, value and the feed-forward output
    "prompt_tuning": {"num_virtual_tokens": 20},
}
torch.manual_seed(0)
plain = AutoModelForSequenceClassification.from_pretrained(MINILM, num_labels=4).eval()
with torch.no_grad():
    before = plain(**batch).logits
overview = {}
print(f"{'method':14} {'trainable':>10} {'of which adapter':>17}  starts as the base model")
for method, options in methods.items():
    torch.manual_seed(0)  # the same random head as `plain`
    candidate = AutoModelForSequenceClassification.from_pretrained(MINILM, num_labels=4)
    candidate = make_peft_model(candidate, method, modules_to_save=HEAD, **options).eval()
    count = trainable_parameters(candidate)
    head = sum(p.numel() for n, p in candidate.named_parameters() if p.requires_grad and "modules_to_save" in n)
    with torch.no_grad():
        same = torch.allclose(candidate(**batch).logits, before, atol=1e-5)
    overview[method] = (count.trainable, count.trainable - head, same)
    print(f"{method:14} {count.trainable:>10,} {count.trainable - head:>17,}  {same}")
#> method          trainable  of which adapter  starts as the base model
#> lora              223,108            73,728  True
#> dora              227,716            78,336  True
#> loha              296,836           147,456  True
#> lokr              157,060             7,680  True
#> ia3               165,508            16,128  True
#> prompt_tuning     157,060             7,680  False
# --8<-- [end:other_methods]

# --8<-- [start:adalora]
from ptm_snippets.finetuning import pad_batch

torch.manual_seed(0)
STEPS = 20
ada = make_peft_model(AutoModelForSequenceClassification.from_pretrained(MINILM, num_labels=4), "adalora",
                      rank=8, target_r=2, total_step=STEPS, tinit=4, tfinal=6, deltaT=2,
                      target_modules=["query", "value"], modules_to_save=HEAD)
optimizer = torch.optim.AdamW([p for p in ada.parameters() if p.requires_grad], lr=2e-3)
order = torch.randperm(len(train_data), generator=torch.Generator().manual_seed(0)).tolist()
ada.train()
for step in range(STEPS):
    loss = ada(**pad_batch([train_data[i] for i in order[8 * step : 8 * step + 8]])).loss  # + orthogonality penalty
    loss.backward()
    optimizer.step()
    ada.base_model.update_and_allocate(step)  # scores each singular value from its gradient, prunes the weakest
    optimizer.zero_grad()
kept = {name.split(".")[3] + name.split(".")[6]: sum(mask) for name, mask in ada.peft_config["default"].rank_pattern.items()}
print("rank budget:", 12 * 8, "->", sum(kept.values()))
#> rank budget: 96 -> 24
print("layer:  " + "  ".join(str(i) for i in range(6)))
print("query:  " + "  ".join(str(kept[f"{i}query"]) for i in range(6)))
print("value:  " + "  ".join(str(kept[f"{i}value"]) for i in range(6)))
#> layer:  0  1  2  3  4  5
#> query:  0  0  0  1  2  3
#> value:  0  2  1  2  7  6
print(f"test accuracy: {evaluate(ada, test_data):.2f} on {len(test_data)} tickets")
#> test accuracy: 0.83 on 110 tickets
# --8<-- [end:adalora]

# --8<-- [start:prefix_tuning]
from peft import PrefixTuningConfig

prefix = get_peft_model(AutoModelForSequenceClassification.from_pretrained(MINILM, num_labels=4),
                        PrefixTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=10))
print(f"trainable: {trainable_parameters(prefix).trainable:,}")  # 10 x 6 layers x (key, value) x 384 + head
#> trainable: 47,620
try:
    prefix(**batch)
except ValueError as error:
    print("ValueError:", error)
#> ValueError: Model does not support past key values which are required for prefix tuning.
# --8<-- [end:prefix_tuning]

# --8<-- [start:experiment_results]
from ptm_snippets.experiments import load_results

results = load_results("peft_methods")  # docs/assets/experiments/, written by the experiment command
table = results["summary"]["table"]
print(f"{'arm':22} {'trainable':>10} {'on disk':>9} {'step':>6} {'memory':>8}  {'accuracy':13} {'F1':>5} {'novel':>5}")
for arm, cell in table.items():
    memory = cell["train_peak_increase_bytes"] / 2**20
    print(f"{arm:22} {cell['trainable_parameters']:>10,} {cell['saved_bytes'] / 1e6:>6.2f} MB {cell['step_seconds']:>5.2f}s "
          f"{memory:>4.0f} MiB  {cell['accuracy_mean']:.3f} ± {cell['accuracy_std']:.3f} {cell['macro_f1_mean']:.3f} {cell['accuracy_novel_mean']:>5.3f}")
#> arm                     trainable   on disk   step   memory  accuracy         F1 novel
#> full                   22,714,756  90.87 MB  0.53s  628 MiB  0.916 ± 0.014 0.916 0.926
#> head_only                 149,380   0.60 MB  0.16s   63 MiB  0.888 ± 0.005 0.888 0.950
#> lora_r2                   167,812   0.67 MB  0.29s  279 MiB  0.923 ± 0.007 0.922 0.965
#> lora_r8                   223,108   0.90 MB  0.30s  281 MiB  0.933 ± 0.004 0.932 0.958
#> lora_r32                  444,292   1.78 MB  0.31s  320 MiB  0.918 ± 0.006 0.918 0.947
#> lora_r8_frozen_pooler      75,268   0.30 MB  0.30s  296 MiB  0.867 ± 0.028 0.865 0.900
#> dora_r8                   227,716   0.92 MB  0.31s  348 MiB  0.933 ± 0.004 0.932 0.958
#> loha_r8                   296,836   1.19 MB  0.36s  294 MiB  0.897 ± 0.004 0.897 0.955
#> ia3                       165,508   0.67 MB  0.30s  318 MiB  0.903 ± 0.021 0.902 0.953
#> prompt_tuning             157,060   0.63 MB  0.53s  378 MiB  0.667 ± 0.236 0.644 0.692
stamp = results["stamp"]
runs = sum(row["kind"] == "train" for row in results["rows"])
print(f"{runs} training runs ({len(stamp['seeds'])} seeds), {stamp['wall_seconds'] / 60:.0f} min on {stamp['cpu_model']}, "
      f"{stamp['torch_threads']} thread, load average {stamp['load_average_at_end'][0]:.1f}")
#> 30 training runs (3 seeds), 13 min on AMD EPYC, 1 thread, load average 2.3
print("relative to full fine-tuning:  accuracy  parameters  disk    step   memory")
for arm in ("head_only", "lora_r8", "dora_r8", "ia3", "prompt_tuning"):
    ratio = table[arm]["vs_full"]
    print(f"{arm:29} {ratio['accuracy']:+.3f}  {ratio['trainable_parameters']:>9.2%}  {ratio['saved_bytes']:>6.2%}  "
          f"{ratio['step_seconds']:>5.2f}x  {ratio['train_peak_increase']:>5.2f}x")
#> relative to full fine-tuning:  accuracy  parameters  disk    step   memory
#> head_only                     -0.028      0.66%   0.66%   0.29x   0.10x
#> lora_r8                       +0.017      0.98%   0.99%   0.56x   0.45x
#> dora_r8                       +0.017      1.00%   1.01%   0.59x   0.55x
#> ia3                           -0.013      0.73%   0.73%   0.56x   0.51x
#> prompt_tuning                 -0.249      0.69%   0.69%   0.99x   0.60x
one_run = next(row for row in results["rows"] if row["kind"] == "train" and row["arm"] == "lora_r8")
print(f"one lora_r8 run scored {one_run['accuracy']:.3f}, 95% interval [{one_run['accuracy_low']:.3f}, "
      f"{one_run['accuracy_high']:.3f}] on {len(load_tickets('test'))} test tickets")
lengths = [len(ids) for ids in tokenizer([r["text"] for r in load_tickets("train")])["input_ids"]]
print(f"a training ticket is {sum(lengths) / len(lengths):.0f} tokens on average; prompt tuning adds 20 to each")
#> one lora_r8 run scored 0.936, 95% interval [0.914, 0.957] on 440 test tickets
#> a training ticket is 20 tokens on average; prompt tuning adds 20 to each
# --8<-- [end:experiment_results]

# --8<-- [start:decoder_lora]
from transformers import AutoModelForCausalLM

from ptm_snippets.experiments.peft_causal_lm import (
    answer_token_ids,
    label_log_probs,
    next_token_logits,
    prompt,
)
from ptm_snippets.hub import SMOLLM2, model_path

SMOL = model_path(SMOLLM2.repo_id)  # SmolLM2-135M-Instruct, installed offline by the mirror
smol_tokenizer = AutoTokenizer.from_pretrained(SMOL)
pad = smol_tokenizer.pad_token_id
answers = answer_token_ids(smol_tokenizer)  # the next token the model should produce
print(prompt(test_rows[0]["text"]), "->", smol_tokenizer.convert_ids_to_tokens(answers))
#> Classify the customer support ticket as billing, delivery, account or technical.
#> Ticket: Do you accept Apple Pay? Any help appreciated.
#> Category: -> ['Ġbilling', 'Ġdelivery', 'Ġaccount', 'Ġtechnical']
torch.manual_seed(0)
decoder = make_peft_model(AutoModelForCausalLM.from_pretrained(SMOL), "lora", rank=8,
                          target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
print(trainable_parameters(decoder))
#> ParameterCount(trainable=460800, total=134975808)

held_out = test_rows[::11]  # 40 tickets from both halves of the test set
held_prompts = [smol_tokenizer(prompt(r["text"]))["input_ids"] for r in held_out]
held_gold = torch.tensor([label_id[r["label"]] for r in held_out])


def decoder_scores() -> tuple[float, float]:
    """Accuracy when the model picks the likeliest of the four answers, and P(right answer)."""
    log_probs, _ = label_log_probs(decoder, held_prompts, answers, pad_id=pad)
    right = log_probs[torch.arange(len(held_out)), held_gold].exp().mean().item()
    return (log_probs.argmax(-1) == held_gold).float().mean().item(), right


decoder_before = decoder_scores()
optimizer = torch.optim.AdamW([p for p in decoder.parameters() if p.requires_grad], lr=3e-3)  # the experiment's rate
decoder.train()
decoder_losses = []
for step in range(16):
    rows = train_rows[8 * step : 8 * step + 8]
    logits = next_token_logits(decoder, [smol_tokenizer(prompt(r["text"]))["input_ids"] for r in rows], pad)
    target = torch.tensor([answers[label_id[r["label"]]] for r in rows])
    loss = torch.nn.functional.cross_entropy(logits, target)  # the answer token only, whole vocabulary
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    decoder_losses.append(loss.item())
decoder_after = decoder_scores()
print(f"loss {sum(decoder_losses[:4]) / 4:.2f} -> {sum(decoder_losses[-4:]) / 4:.2f} (first and last 4 of 16 steps)")
#> loss 4.49 -> 0.34 (first and last 4 of 16 steps)
print(f"on 40 test tickets: P(right answer) {decoder_before[1]:.3f} -> {decoder_after[1]:.3f}, accuracy {decoder_before[0]:.2f} -> {decoder_after[0]:.2f}")
#> on 40 test tickets: P(right answer) 0.000 -> 0.579, accuracy 0.52 -> 0.57
decoder.save_pretrained(workdir / "smollm2-tickets")
print(f"adapter on disk: {adapter_size_bytes(workdir / 'smollm2-tickets') / 1e6:.2f} MB")
#> adapter on disk: 1.86 MB
# --8<-- [end:decoder_lora]

# --8<-- [start:decoder_results]
decoder_results = load_results("peft_causal_lm")
decoder_table = decoder_results["summary"]["table"]
print(f"{'arm':12} {'trainable':>11} {'on disk':>9} {'step cpu':>8} {'memory':>9}  {'accuracy':13} {'greedy':>6} {'ref ppl':>7}")
#> arm            trainable   on disk step cpu    memory  accuracy      greedy ref ppl
for arm, cell in decoder_table.items():
    disk = f"{cell['saved_bytes'] / 1e6:6.2f} MB" if cell["saved_bytes"] else "        -"
    step = f"{cell['step_cpu_seconds']:7.2f}s" if cell["step_cpu_seconds"] else "       -"
    memory = f"{cell['train_peak_increase_bytes'] / 2**20:5.0f} MiB" if cell["train_peak_increase_bytes"] else "        -"
    print(f"{arm:12} {cell['trainable_parameters']:>11,} {disk} {step} {memory}  "
          f"{cell['accuracy_mean']:.3f} ± {cell['accuracy_std']:.3f} {cell['greedy_answer_correct_mean']:>6.3f} "
          f"{cell['general_perplexity_mean']:>7.2f}")
    #> zero_shot              0         -        -         -  0.585 ± 0.000  0.000   18.21
    #> full         134,515,008 538.09 MB    4.52s  2807 MiB  0.925 ± 0.005  0.925   18.25
    #> lora_qv_r8       460,800   1.86 MB    2.45s   882 MiB  0.868 ± 0.032  0.868   26.18
    #> lora_all_r8    2,442,240   9.82 MB    2.69s  1393 MiB  0.932 ± 0.024  0.932   22.95
    #> ia3               57,600   0.24 MB    2.23s   876 MiB  0.912 ± 0.006  0.912   27.39
decoder_stamp = decoder_results["stamp"]
print(f"{len(decoder_results['rows'])} runs, {decoder_stamp['wall_seconds'] / 60:.0f} min on {decoder_stamp['cpu_model']}, "
      f"load average {decoder_stamp['load_average_at_end'][0]:.1f}")
#> 13 runs, 28 min on AMD EPYC, load average 1.0
for arm in ("lora_qv_r8", "lora_all_r8", "ia3"):
    ratio = decoder_table[arm]["vs_full"]
    print(f"{arm:12} vs full: accuracy {ratio['accuracy']:+.3f}, parameters {ratio['trainable_parameters']:.2%}, "
          f"step {ratio['step_cpu_seconds']:.2f}x, memory {ratio['train_peak_increase']:.2f}x")
    #> lora_qv_r8   vs full: accuracy -0.057, parameters 0.34%, step 0.54x, memory 0.31x
    #> lora_all_r8  vs full: accuracy +0.007, parameters 1.82%, step 0.60x, memory 0.50x
    #> ia3          vs full: accuracy -0.013, parameters 0.04%, step 0.49x, memory 0.31x
# --8<-- [end:decoder_results]

# --8<-- [start:exercise_lora_count]
h, f, layers, r = base.config.hidden_size, base.config.intermediate_size, base.config.num_hidden_layers, 4
predicted = layers * r * (4 * (h + h) + (h + f) + (f + h))  # q, k, v, attention output; two feed-forward layers
every_linear = make_peft_model(AutoModelForSequenceClassification.from_pretrained(MINILM, num_labels=4), "lora",
                               rank=r, target_modules=["query", "key", "value", "dense"], modules_to_save=HEAD)
head = sum(p.numel() for n, p in every_linear.named_parameters() if p.requires_grad and "modules_to_save" in n)
measured = trainable_parameters(every_linear).trainable - head
print(f"predicted {predicted:,}, measured {measured:,}: {predicted == measured}")
#> predicted 165,888, measured 165,888: True
# --8<-- [end:exercise_lora_count]

# --8<-- [start:exercise_update_size]
ranks, sizes, merged_ok = set(), [], True
with torch.no_grad():
    for i in range(6):
        for name in ("query", "value"):
            adapted = getattr(model.base_model.model.bert.encoder.layer[i].attention.self, name)
            delta = adapted.scaling["default"] * adapted.lora_B["default"].weight @ adapted.lora_A["default"].weight
            ranks.add(int(torch.linalg.matrix_rank(delta)))
            sizes.append(float(delta.norm() / adapted.base_layer.weight.norm()))
            after = getattr(merged.bert.encoder.layer[i].attention.self, name).weight
            merged_ok &= torch.allclose(after, adapted.base_layer.weight + delta, atol=1e-6)
print("rank of every update:", ranks, "| merged weight = W + update:", merged_ok)
#> rank of every update: {8} | merged weight = W + update: True
print(f"update size relative to W: {min(sizes):.1%} to {max(sizes):.1%}")
#> update size relative to W: 1.5% to 5.7%
# --8<-- [end:exercise_update_size]
