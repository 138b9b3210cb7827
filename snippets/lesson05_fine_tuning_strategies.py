"""Lesson 05: fine-tuning strategies. Runs top to bottom; the page includes its sections."""

# --8<-- [start:data]
import random

import torch
from transformers import AutoTokenizer

from ptm_snippets.finetuning import encode_dataset, pad_batch
from ptm_snippets.tickets import LABELS, load_tickets

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
tokenizer = AutoTokenizer.from_pretrained(MINILM)
label_id = {label: i for i, label in enumerate(LABELS)}

# 44 training lines per label, drawn once: 32 to train on, 12 to validate (early stopping).
rng = random.Random(0)
drawn = {label: rng.sample([t for t in load_tickets("train") if t["label"] == label], 44) for label in LABELS}
train_rows = [t for label in LABELS for t in drawn[label][:32]]
valid_rows = [t for label in LABELS for t in drawn[label][32:]]
rng.shuffle(train_rows)
# The test set, 10 lines per label from each half: familiar wording and novel wording.
tickets = load_tickets("test")
test_rows = [
    t
    for split in ("familiar", "novel")
    for label in LABELS
    for t in [t for t in tickets if t["split"] == split and t["label"] == label][:10]
]


def encode(rows: list[dict[str, str]]):
    texts = [t["text"] for t in rows]
    return encode_dataset(tokenizer, texts, [label_id[t["label"]] for t in rows], num_labels=len(LABELS), max_length=48)


train, valid, test = encode(train_rows), encode(valid_rows), encode(test_rows)
print(f"train {len(train)}, validation {len(valid)}, test {len(test)} lines; labels {label_id}")
#> train 128, validation 48, test 80 lines; labels {'billing': 0, 'delivery': 1, 'account': 2, 'technical': 3}
print(train_rows[0]["text"])
#> Still no parcel. Ordered two weeks ago.
print(train[0])
#> {'input_ids': [101, 2145, 2053, 20463, 1012, 3641, 2048, 3134, 3283, 1012, 102], 'attention_mask': [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 'labels': 1}
padded = pad_batch([train[i] for i in range(4)], pad_id=tokenizer.pad_token_id)
print({name: tuple(tensor.shape) for name, tensor in padded.items()})
#> {'input_ids': (4, 29), 'attention_mask': (4, 29), 'labels': (4,)}
print("real tokens per row:", padded["attention_mask"].sum(1).tolist())
#> real tokens per row: [11, 14, 29, 12]
# --8<-- [end:data]

# --8<-- [start:feature_extraction]
from transformers import AutoModelForSequenceClassification

from ptm_snippets.finetuning import FineTuneConfig, evaluate, fine_tune, freeze


def new_classifier():
    """MiniLM with a new 4-way head, seeded so that the head starts the same every time."""
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(
        MINILM, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id=label_id
    )


frozen = new_classifier()
total = sum(p.numel() for p in frozen.parameters())
trainable = freeze(frozen, train_top_layers=0)  # only the head learns
print(f"trainable: {trainable:,} of {total:,} parameters ({trainable / total:.2%})")
#> trainable: 149,380 of 22,714,756 parameters (0.66%)
print([name for name, p in frozen.named_parameters() if p.requires_grad])
#> ['bert.pooler.dense.weight', 'bert.pooler.dense.bias', 'classifier.weight', 'classifier.bias']
print(f"test accuracy before training: {evaluate(frozen, test):.2f}")
#> test accuracy before training: 0.33

before = {name: p.detach().clone() for name, p in frozen.named_parameters() if not p.requires_grad}
result = fine_tune(frozen, train, FineTuneConfig(learning_rate=5e-3, max_steps=16, batch_size=16))
frozen_accuracy = evaluate(frozen, test)
print(f"loss {result.losses[0]:.2f} -> {result.losses[-1]:.2f}; test accuracy {frozen_accuracy:.2f}")
#> loss 1.38 -> 0.19; test accuracy 0.88
after = dict(frozen.named_parameters())
print("frozen weights unchanged:", all(torch.equal(before[name], after[name]) for name in before))
#> frozen weights unchanged: True
# --8<-- [end:feature_extraction]

# --8<-- [start:partial_freezing]
from ptm_snippets.finetuning import layer_groups

partial = new_classifier()
parameters = dict(partial.named_parameters())
for group, names in layer_groups(partial).items():
    print(f"{group:10} {len(names):3} tensors {sum(parameters[n].numel() for n in names):>11,} parameters")
    #> embeddings   5 tensors  11,918,592 parameters
    #> layer.0     16 tensors   1,774,464 parameters
    #> layer.1     16 tensors   1,774,464 parameters
    #> layer.2     16 tensors   1,774,464 parameters
    #> layer.3     16 tensors   1,774,464 parameters
    #> layer.4     16 tensors   1,774,464 parameters
    #> layer.5     16 tensors   1,774,464 parameters
    #> head         4 tensors     149,380 parameters
# Each trainable float32 parameter also needs a gradient and AdamW's two running averages.
settings = [("train_top_layers=0", 0, False), ("train_top_layers=1", 1, False), ("train_top_layers=2", 2, False),
            ("train_top_layers=6", 6, False), ("everything", 6, True)]
for name, top, embeddings in settings:
    count = freeze(partial, train_top_layers=top, train_embeddings=embeddings)
    print(f"{name:19} {count:>11,} trainable  {count * 3 * 4 / 2**20:6.1f} MiB of gradients and AdamW state")
    #> train_top_layers=0      149,380 trainable     1.7 MiB of gradients and AdamW state
    #> train_top_layers=1    1,923,844 trainable    22.0 MiB of gradients and AdamW state
    #> train_top_layers=2    3,698,308 trainable    42.3 MiB of gradients and AdamW state
    #> train_top_layers=6   10,796,164 trainable   123.6 MiB of gradients and AdamW state
    #> everything           22,714,756 trainable   259.9 MiB of gradients and AdamW state

freeze(partial, train_top_layers=2)
result = fine_tune(partial, train, FineTuneConfig(learning_rate=2e-4, max_steps=24, batch_size=16))
print(f"loss {result.losses[0]:.2f} -> {result.losses[-1]:.2f}; test accuracy {evaluate(partial, test):.2f}")
#> loss 1.38 -> 0.76; test accuracy 0.93
# --8<-- [end:partial_freezing]

# --8<-- [start:layerwise_lr]
from ptm_snippets.finetuning import layerwise_lr_groups

model = new_classifier()  # everything trainable
groups = layerwise_lr_groups(model, lr=2e-4, decay=0.8, weight_decay=0.01)
rates = {group["name"]: group["lr"] for group in groups}
for name, lr in reversed(rates.items()):
    print(f"{name:10} lr {lr:.2e}  ({lr / rates['head']:.3f} of the head's)")
    #> head       lr 2.00e-04  (1.000 of the head's)
    #> layer.5    lr 1.60e-04  (0.800 of the head's)
    #> layer.4    lr 1.28e-04  (0.640 of the head's)
    #> layer.3    lr 1.02e-04  (0.512 of the head's)
    #> layer.2    lr 8.19e-05  (0.410 of the head's)
    #> layer.1    lr 6.55e-05  (0.328 of the head's)
    #> layer.0    lr 5.24e-05  (0.262 of the head's)
    #> embeddings lr 4.19e-05  (0.210 of the head's)
decayed = sum(p.numel() for g in groups if g["weight_decay"] > 0 for p in g["params"])
undecayed = sum(p.numel() for g in groups if g["weight_decay"] == 0 for p in g["params"])
print(f"{len(groups)} optimizer groups; weight decay on {decayed:,} parameters, none on the "
      f"{undecayed:,} in biases and LayerNorm weights")
#> 16 optimizer groups; weight decay on 22,683,648 parameters, none on the 31,108 in biases and LayerNorm weights
# --8<-- [end:layerwise_lr]

# --8<-- [start:schedules]
from transformers import get_scheduler

show = [0, 5, 10, 25, 50, 75, 99]
print(f"{'step':22}" + "".join(f"{s:>9}" for s in show))
#> step                          0        5       10       25       50       75       99
for name in ("constant_with_warmup", "linear", "cosine"):
    dummy = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    scheduler = get_scheduler(name, dummy, num_warmup_steps=10, num_training_steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(scheduler.get_last_lr()[0])
        dummy.step()
        scheduler.step()
    print(f"{name:22}" + "".join(f"{lrs[s]:9.1e}" for s in show))
    #> constant_with_warmup    0.0e+00  5.0e-05  1.0e-04  1.0e-04  1.0e-04  1.0e-04  1.0e-04
    #> linear                  0.0e+00  5.0e-05  1.0e-04  8.3e-05  5.6e-05  2.8e-05  1.1e-06
    #> cosine                  0.0e+00  5.0e-05  1.0e-04  9.3e-05  5.9e-05  1.8e-05  3.0e-08
# --8<-- [end:schedules]

# --8<-- [start:plain_loop]
torch.manual_seed(0)  # dropout and the batch order
optimizer = torch.optim.AdamW(groups)  # the layer-wise groups above: AdamW reads each group's lr
epochs, batch_size = 2, 16
steps = epochs * len(train) // batch_size
scheduler = get_scheduler("linear", optimizer, num_warmup_steps=2, num_training_steps=steps)
model.train()  # dropout on
step = 0
for epoch in range(epochs):
    order = torch.randperm(len(train)).tolist()
    for start in range(0, len(train), batch_size):
        batch = pad_batch([train[i] for i in order[start : start + batch_size]], tokenizer.pad_token_id)
        loss = model(**batch).loss  # forward: logits, then cross-entropy with batch["labels"]
        optimizer.zero_grad()
        loss.backward()  # gradients for every trainable parameter
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()  # AdamW update, each group at its own learning rate
        scheduler.step()  # warm-up, then linear decay
        step += 1
        if step % 4 == 0:
            print(f"epoch {epoch} step {step:2}  loss {loss.item():.3f}  head lr {scheduler.get_last_lr()[-1]:.2e}")
            #> epoch 0 step  4  loss 1.354  head lr 1.71e-04
            #> epoch 0 step  8  loss 1.299  head lr 1.14e-04
            #> epoch 1 step 12  loss 1.142  head lr 5.71e-05
            #> epoch 1 step 16  loss 1.061  head lr 0.00e+00
print(f"test accuracy {evaluate(model, test):.2f}")  # evaluate() switches to eval mode
#> test accuracy 0.85
# --8<-- [end:plain_loop]

# --8<-- [start:fine_tune_early_stopping]
packaged = new_classifier()
events = []
early = FineTuneConfig(learning_rate=2e-4, max_steps=40, batch_size=16, eval_every=4, patience=2, log_every=4)
stopped = fine_tune(packaged, train, early, eval_data=valid, log=events.append)
for event in events:
    if event["event"] == "eval":
        print(f"step {event['step']:2}  validation accuracy {event['accuracy']:.3f}")
        #> step  4  validation accuracy 0.604
        #> step  8  validation accuracy 0.938
        #> step 12  validation accuracy 0.958
        #> step 16  validation accuracy 0.958
        #> step 20  validation accuracy 0.958
print(f"stopped early: {stopped.stopped_early} after {stopped.steps} of {early.max_steps} steps; "
      f"kept the weights of step {stopped.best_step}")
#> stopped early: True after 20 of 40 steps; kept the weights of step 12
print(f"test accuracy {evaluate(packaged, test):.2f}")
#> test accuracy 0.91
print([event["event"] for event in events][:4], "...")
#> ['start', 'train', 'eval', 'train'] ...
# --8<-- [end:fine_tune_early_stopping]

# --8<-- [start:bad_input]
for attempt in (
    lambda: encode_dataset(tokenizer, [], [], num_labels=4),
    lambda: encode_dataset(tokenizer, ["Refund please."], [4], num_labels=4),
    lambda: fine_tune(packaged, encode_dataset(tokenizer, ["Hi"], [5], num_labels=6)),
    lambda: FineTuneConfig(patience=2).validate(),
    lambda: freeze(packaged, train_top_layers=8),
):
    try:
        attempt()
    except ValueError as err:
        print(f"ValueError: {err}")
        #> ValueError: texts must be a non-empty sequence of strings
        #> ValueError: labels must be ints in [0, 4) for num_labels=4, got 4
        #> ValueError: train has label 5 but the model's head has num_labels=4 outputs (valid labels: 0 to 3)
        #> ValueError: patience needs eval_every > 0 (early stopping needs evaluations)
        #> ValueError: train_top_layers must be in [0, 6] (the model has 6 layers), got 8
# --8<-- [end:bad_input]

# --8<-- [start:trainer]
import tempfile
from pathlib import Path

from transformers import (
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    Trainer,
    TrainingArguments,
)


def compute_accuracy(prediction) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


trained_by_trainer = new_classifier()
with tempfile.TemporaryDirectory() as folder:
    args = TrainingArguments(
        output_dir=folder,
        max_steps=40,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=48,  # the whole validation set in one batch
        learning_rate=2e-4,
        warmup_steps=2,
        lr_scheduler_type="linear",
        weight_decay=0.01,
        eval_strategy="steps",
        eval_steps=4,
        logging_steps=4,
        save_strategy="steps",  # must match eval_strategy to keep the best checkpoint
        save_steps=4,
        save_total_limit=2,  # the best and the latest
        save_only_model=True,  # no optimizer state: smaller, but training cannot resume
        load_best_model_at_end=True,
        metric_for_best_model="accuracy",
        report_to="none",
        use_cpu=True,
        seed=0,
    )
    trainer = Trainer(
        model=trained_by_trainer,
        args=args,
        train_dataset=train,
        eval_dataset=valid,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_accuracy,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=2)],
    )
    trainer.train()
    print("in the output folder:", sorted(path.name for path in Path(folder).iterdir()))
    #> in the output folder: ['checkpoint-16', 'checkpoint-24']
for entry in trainer.state.log_history:
    if "eval_accuracy" in entry:
        print(f"step {entry['step']:2}  validation accuracy {entry['eval_accuracy']:.3f}")
        #> step  4  validation accuracy 0.562
        #> step  8  validation accuracy 0.917
        #> step 12  validation accuracy 0.938
        #> step 16  validation accuracy 0.958
        #> step 20  validation accuracy 0.958
        #> step 24  validation accuracy 0.958
print(f"stopped at step {trainer.state.global_step}; best: {Path(trainer.state.best_model_checkpoint).name}")
#> stopped at step 24; best: checkpoint-16
print(f"test accuracy {evaluate(trained_by_trainer, test):.2f}")
#> test accuracy 0.94
# --8<-- [end:trainer]

# --8<-- [start:gradual_unfreezing]
gradual = new_classifier()
trainable_at = []


def watch(event: dict) -> None:
    if event["event"] == "train":
        trainable_at.append((event["step"], sum(p.numel() for p in gradual.parameters() if p.requires_grad)))


config = FineTuneConfig(learning_rate=2e-4, max_steps=14, batch_size=16, unfreeze_every=2, log_every=2)
result = fine_tune(gradual, train, config, log=watch)
for step, count in trainable_at:
    print(f"after step {step:2}: {count:>11,} trainable")
    #> after step  2:     149,380 trainable
    #> after step  4:   1,923,844 trainable
    #> after step  6:   3,698,308 trainable
    #> after step  8:   5,472,772 trainable
    #> after step 10:   7,247,236 trainable
    #> after step 12:   9,021,700 trainable
    #> after step 14:  22,714,756 trainable
print(f"test accuracy {evaluate(gradual, test):.2f}")
#> test accuracy 0.89
# --8<-- [end:gradual_unfreezing]

# --8<-- [start:regularisation]
print({key: getattr(model.config, key) for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout")})
#> {'hidden_dropout_prob': 0.1, 'attention_probs_dropout_prob': 0.1, 'classifier_dropout': None}
one = pad_batch([test[0]])
one.pop("labels")
torch.manual_seed(0)
with torch.no_grad():
    model.train()
    same_in_train = torch.equal(model(**one).logits, model(**one).logits)
    model.eval()
    same_in_eval = torch.equal(model(**one).logits, model(**one).logits)
print("same input twice, same logits? in train mode:", same_in_train, "; in eval mode:", same_in_eval)
#> same input twice, same logits? in train mode: False ; in eval mode: True
# --8<-- [end:regularisation]

# --8<-- [start:forgetting]
from collections import Counter
from statistics import fmean

from transformers import AutoModel

from ptm_snippets.experiments.finetuning_strategies import (
    load_general_pairs,
    sentence_similarities,
    spearman,
)

pairs = load_general_pairs()
print(len(pairs), "pairs:", dict(Counter(p["kind"] for p in pairs)))
#> 48 pairs: {'paraphrase': 16, 'related': 16, 'unrelated': 16}
for kind in ("paraphrase", "related", "unrelated"):
    p = next(p for p in pairs if p["kind"] == kind)
    print(f"{p['score']}  {p['sentence1']}  |  {p['sentence2']}")
    #> 4.6  A man is playing a guitar on the street.  |  A guy is strumming a guitar outside.
    #> 2.2  A man is playing a guitar on the street.  |  A woman is playing the violin in a concert hall.
    #> 0.0  A man is playing a guitar on the street.  |  The recipe calls for two cups of flour.

scores = [p["score"] for p in pairs]
kinds = ("paraphrase", "related", "unrelated")
encoders = {
    "pre-trained MiniLM": AutoModel.from_pretrained(MINILM),
    "feature extraction": frozen.bert,
    "partial (top 2 layers)": partial.bert,
    "full, layer-wise lr": model.bert,
    "full, fine_tune": packaged.bert,
    "full, Trainer": trained_by_trainer.bert,
}
print(f"{'encoder':24} spearman   mean cosine: paraphrase  related  unrelated")
#> encoder                  spearman   mean cosine: paraphrase  related  unrelated
for name, encoder in encoders.items():
    similarity = sentence_similarities(encoder, tokenizer, pairs)
    means = [fmean(s for s, p in zip(similarity, pairs, strict=True) if p["kind"] == kind) for kind in kinds]
    print(f"{name:24} {spearman(similarity, scores):8.3f} {means[0]:23.2f} {means[1]:8.2f} {means[2]:10.2f}")
    #> pre-trained MiniLM          0.924                    0.84     0.47       0.02
    #> feature extraction          0.924                    0.84     0.47       0.02
    #> partial (top 2 layers)      0.917                    0.85     0.50       0.07
    #> full, layer-wise lr         0.926                    0.85     0.50       0.05
    #> full, fine_tune             0.926                    0.86     0.56       0.10
    #> full, Trainer               0.913                    0.88     0.64       0.25
# --8<-- [end:forgetting]

# --8<-- [start:experiment]
from ptm_snippets.experiments import load_results

results = load_results("finetuning_strategies")
table = results["summary"]["table"]
stamp = results["stamp"]
print(f"{len(stamp['seeds'])} seeds, {stamp['config']['train_size']} training lines, "
      f"{stamp['config']['steps']} steps of {stamp['config']['batch_size']}, {len(table)} arms; "
      f"{stamp['wall_seconds'] / 60:.0f} minutes on {stamp['cpu_count']} cores, load average {stamp['load_average_at_end'][0]}")
#> 3 seeds, 256 training lines, 48 steps of 16, 6 arms; 9 minutes on 2 cores, load average 2.51
print(f"{'arm':19}{'trainable':>10}{'lr':>8}{'accuracy':>15}{'familiar':>9}{'novel':>7}{'step s':>8}{'MiB':>6}{'spearman':>9}")
#> arm                 trainable      lr       accuracy familiar  novel  step s   MiB spearman
for arm, cell in table.items():
    print(
        f"{arm:19}{cell['trainable_share']:10.2%}{cell['learning_rate']:8.0e}"
        f"{cell['accuracy_mean']:9.3f} ±{cell['accuracy_std']:.3f}{cell['accuracy_familiar_mean']:9.3f}"
        f"{cell['accuracy_novel_mean']:7.3f}{cell['step_seconds_median_mean']:8.2f}"
        f"{cell['train_peak_mb_mean']:6.0f}{cell['similarity_spearman_mean']:9.3f}"
    )
    #> feature_extraction      0.66%   5e-03    0.889 ±0.017    0.835  0.944    0.18    66    0.924
    #> partial                16.28%   2e-04    0.939 ±0.004    0.914  0.964    0.27   179    0.900
    #> full                  100.00%   1e-04    0.939 ±0.005    0.926  0.953    0.59   615    0.901
    #> layer_decay           100.00%   2e-04    0.937 ±0.005    0.924  0.950    0.61   609    0.895
    #> gradual               100.00%   2e-04    0.941 ±0.002    0.924  0.958    0.37   590    0.894
    #> full_high_lr          100.00%   5e-04    0.904 ±0.033    0.911  0.897    0.60   610    0.595
print("final training loss:", {arm: round(cell["train_loss_final_mean"], 3) for arm, cell in table.items()})
#> final training loss: {'feature_extraction': 0.11, 'partial': 0.195, 'full': 0.463, 'layer_decay': 0.154, 'gradual': 0.206, 'full_high_lr': 0.018}
print("mean cosine of unrelated pairs:", {arm: round(cell["cosine_unrelated_mean"], 2) for arm, cell in table.items()})
#> mean cosine of unrelated pairs: {'feature_extraction': 0.02, 'partial': 0.21, 'full': 0.29, 'layer_decay': 0.29, 'gradual': 0.21, 'full_high_lr': 0.48}
print(f"spearman of the pre-trained encoder: {results['summary']['similarity_spearman_before']:.3f}")
print("macro-F1:", {arm: round(cell["macro_f1_mean"], 3) for arm, cell in table.items()})
one = next(row for row in results["rows"] if row["arm"] == "full")  # scored by evaluate_classifier
print(f"one model (full, seed {one['seed']}): accuracy {one['accuracy']:.3f}, "
      f"95% bootstrap interval [{one['accuracy_low']:.3f}, {one['accuracy_high']:.3f}]")
#> spearman of the pre-trained encoder: 0.924
#> macro-F1: {'feature_extraction': 0.889, 'partial': 0.939, 'full': 0.94, 'layer_decay': 0.937, 'gradual': 0.941, 'full_high_lr': 0.904}
#> one model (full, seed 0): accuracy 0.941, 95% bootstrap interval [0.918, 0.964]
# --8<-- [end:experiment]

# --8<-- [start:scaling_out_shards]
from ptm_snippets import shard_indices

for rank in range(2):
    shard = shard_indices(257, rank, world_size=2)
    print(f"rank {rank}: {len(shard)} lines, starting {shard[:4]}")
    #> rank 0: 129 lines, starting [0, 2, 4, 6]
    #> rank 1: 128 lines, starting [1, 3, 5, 7]
print("per-process batch 8 x 2 processes = effective batch", 8 * 2)
#> per-process batch 8 x 2 processes = effective batch 16
print("Trainer would multiply the loss by the world size:", args.average_tokens_across_devices and trainer.model_accepts_loss_kwargs)
#> Trainer would multiply the loss by the world size: True
# --8<-- [end:scaling_out_shards]

# --8<-- [start:scaling_out_results]
from ptm_snippets.experiments import load_results

scaling = load_results("distributed_cpu")  # written by `make figures`
summary = scaling["summary"]
for mode in ("one_process", "simulated", "torchrun"):
    print(f"{mode:>11}: {summary[mode]['train_seconds']:5.1f} s training, accuracy {summary[mode]['accuracy']:.3f}")
    #> one_process:  29.0 s training, accuracy 0.943
    #>   simulated:  36.6 s training, accuracy 0.945
    #>    torchrun:  30.4 s training, accuracy 0.945
print("torchrun time / one-process time:", summary["torchrun_over_one_process"])
#> torchrun time / one-process time: 1.05
print("torchrun's two ranks and the simulation ended identical:", summary["torchrun_matches_simulation"])
#> torchrun's two ranks and the simulation ended identical: True
stamp = scaling["stamp"]
print(stamp["cpu_count"], "cores, load average", stamp["load_average_at_end"][0], "at the end, torch", stamp["torch"])
#> 2 cores, load average 1.47 at the end, torch 2.13.0+cpu
# --8<-- [end:scaling_out_results]


# --8<-- [start:exercise_probe_solution]
from ptm_snippets import mean_pool


@torch.no_grad()
def embed(data) -> torch.Tensor:
    """Mean-pooled vectors of the frozen pre-trained encoder, computed once."""
    batch = pad_batch([data[i] for i in range(len(data))])
    states = encoders["pre-trained MiniLM"](input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return mean_pool(states, batch["attention_mask"])


train_x, test_x = embed(train), embed(test)
train_y, test_y = torch.tensor(train.labels), torch.tensor(test.labels)
torch.manual_seed(0)
probe = torch.nn.Linear(train_x.shape[1], len(LABELS))
probe_optimizer = torch.optim.AdamW(probe.parameters(), lr=1e-2)
for _ in range(200):  # full batch: the features never change, so each step costs microseconds
    loss = torch.nn.functional.cross_entropy(probe(train_x), train_y)
    probe_optimizer.zero_grad()
    loss.backward()
    probe_optimizer.step()
probe_accuracy = (probe(test_x).argmax(-1) == test_y).float().mean().item()
print(f"linear probe on mean-pooled features: {probe_accuracy:.2f}; {probe.weight.numel() + probe.bias.numel():,} parameters")
#> linear probe on mean-pooled features: 0.93; 1,540 parameters
print(f"feature extraction through the [CLS] pooler: {frozen_accuracy:.2f}")
#> feature extraction through the [CLS] pooler: 0.88
# --8<-- [end:exercise_probe_solution]

# --8<-- [start:exercise_patience_solution]
def replay(evaluations: list[tuple[int, float]], patience: int) -> tuple[int, int | None]:
    """The step whose weights early stopping keeps, and the step it stops at (None: never)."""
    best_step, best, bad = 0, -1.0, 0
    for step, value in evaluations:
        if value > best:
            best_step, best, bad = step, value, 0
        else:
            bad += 1
            if bad == patience:
                return best_step, step
    return best_step, None


history = [(e["step"], e["accuracy"]) for e in events if e["event"] == "eval"]
print("fine_tune kept", stopped.best_step, "and stopped at", stopped.steps)
#> fine_tune kept 12 and stopped at 20
for patience in (1, 2):
    print(f"patience {patience}: keeps and stops at", replay(history, patience))
    #> patience 1: keeps and stops at (12, 16)
    #> patience 2: keeps and stops at (12, 20)
# --8<-- [end:exercise_patience_solution]
