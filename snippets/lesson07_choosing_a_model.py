"""Lesson 07: choosing a model. Runs top to bottom; the page includes its sections."""

# --8<-- [start:inspect_one]
import torch
from transformers import AutoModel

from ptm_snippets import count_parameters
from ptm_snippets.inspector import inspect_config

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
report = inspect_config(MINILM)  # reads config.json; no weights are downloaded or allocated
print(report.format())
#> sentence-transformers/all-MiniLM-L6-v2 (bert, encoder)
#>   parameters   22,713,216, of which token embeddings 11,720,448 (52 %)
#>   layers       6, hidden size 384, 12 heads
#>   context      512 tokens (learned absolute positions)
#>   vocabulary   30,522
#>   weights      fp32 90.9 MB | bf16 45.4 MB | int8 22.7 MB
#>   AdamW        363.4 MB to fine-tune in fp32, plus activations

# Now load the weights and measure what the report predicted.
model = AutoModel.from_pretrained(MINILM)
stored = sum(t.numel() * t.element_size() for t in model.state_dict().values())
print(f"loaded model: {count_parameters(model):,} parameters in {stored:,} bytes")
#> loaded model: 22,713,216 parameters in 90,852,864 bytes
print(f"estimate:     {report.parameters:,} parameters in {report.weight_bytes('fp32'):,} bytes")
#> estimate:     22,713,216 parameters in 90,852,864 bytes
# --8<-- [end:inspect_one]

# --8<-- [start:compare_candidates]
from ptm_snippets.inspector import format_reports

candidates = [
    MINILM,
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
    "distilbert/distilbert-base-uncased",
    "google-bert/bert-base-uncased",
    "FacebookAI/roberta-base",
    "google-bert/bert-large-uncased",
    "google-t5/t5-small",
    "google-t5/t5-base",
    "openai-community/gpt2",
    "HuggingFaceTB/SmolLM2-135M-Instruct",
    "openai-community/gpt2-xl",
    "meta-llama/Llama-3.1-8B",
]
reports = {repo_id: inspect_config(repo_id, name=repo_id.split("/")[1]) for repo_id in candidates}
print(format_reports(list(reports.values()), dtypes=("fp32", "bf16", "int8")))
#> model                                  kind             params  layers  context    vocab      fp32      bf16      int8     AdamW
#> all-MiniLM-L6-v2                       encoder           22.7M       6  512       30,522   90.9 MB   45.4 MB   22.7 MB  363.4 MB
#> paraphrase-multilingual-MiniLM-L12-v2  encoder          117.7M      12  512      250,037  470.6 MB  235.3 MB  117.7 MB    1.9 GB
#> distilbert-base-uncased                encoder           66.4M       6  512       30,522  265.5 MB  132.7 MB   66.4 MB    1.1 GB
#> bert-base-uncased                      encoder          109.5M      12  512       30,522  437.9 MB  219.0 MB  109.5 MB    1.8 GB
#> roberta-base                           encoder          124.6M      12  512       50,265  498.6 MB  249.3 MB  124.6 MB    2.0 GB
#> bert-large-uncased                     encoder          335.1M      24  512       30,522    1.3 GB  670.3 MB  335.1 MB    5.4 GB
#> t5-small                               encoder-decoder   60.5M     6+6  none      32,128  242.0 MB  121.0 MB   60.5 MB  968.1 MB
#> t5-base                                encoder-decoder  222.9M   12+12  none      32,128  891.6 MB  445.8 MB  222.9 MB    3.6 GB
#> gpt2                                   decoder          124.4M      12  1,024     50,257  497.8 MB  248.9 MB  124.4 MB    2.0 GB
#> SmolLM2-135M-Instruct                  decoder          134.5M      30  8,192     49,152  538.1 MB  269.0 MB  134.5 MB    2.2 GB
#> gpt2-xl                                decoder           1.56B      48  1,024     50,257    6.2 GB    3.1 GB    1.6 GB   24.9 GB
#> Llama-3.1-8B                           decoder           8.03B      32  131,072  128,256   32.1 GB   16.1 GB    8.0 GB  128.5 GB
# --8<-- [end:compare_candidates]

# --8<-- [start:measured_memory]
from transformers import AutoModelForCausalLM, AutoTokenizer


def distinct_bytes(tensors: dict[str, torch.Tensor]) -> int:
    """Bytes of the distinct storages: a tied embedding and output layer count once."""
    return sum({t.data_ptr(): t.numel() * t.element_size() for t in tensors.values()}.values())


SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
smol = reports[SMOLLM2]
lm = AutoModelForCausalLM.from_pretrained(SMOLLM2).eval()
print(f"SmolLM2 fp32: {distinct_bytes(lm.state_dict()):,} bytes, estimate {smol.weight_bytes('fp32'):,}")
#> SmolLM2 fp32: 538,060,032 bytes, estimate 538,060,032
lm = lm.to(torch.bfloat16)
print(f"SmolLM2 bf16: {distinct_bytes(lm.state_dict()):,} bytes, estimate {smol.weight_bytes('bf16'):,}")
#> SmolLM2 bf16: 269,030,016 bytes, estimate 269,030,016

# One AdamW step on a fresh MiniLM, then count what training holds besides the weights.
torch.manual_seed(0)
tokenizer = AutoTokenizer.from_pretrained(MINILM)
trainee = AutoModel.from_pretrained(MINILM).train()
optimizer = torch.optim.AdamW(trainee.parameters(), lr=1e-5)
batch = tokenizer(["Where is my parcel?", "I was charged twice."], padding=True, return_tensors="pt")
output = trainee(**batch)
# Any loss that reaches every weight will do: the byte counts do not depend on it.
(output.last_hidden_state.pow(2).mean() + output.pooler_output.pow(2).mean()).backward()
optimizer.step()
weights = distinct_bytes(dict(trainee.named_parameters()))
gradients = sum(p.grad.numel() * p.grad.element_size() for p in trainee.parameters())
moments = sum(
    state[name].numel() * state[name].element_size()
    for state in optimizer.state.values()
    for name in ("exp_avg", "exp_avg_sq")
)
print(f"weights {weights:,} + gradients {gradients:,} + AdamW moments {moments:,}")
#> weights 90,852,864 + gradients 90,852,864 + AdamW moments 181,705,728
print(f"= {weights + gradients + moments:,} bytes; estimate {report.training_bytes():,}")
#> = 363,411,456 bytes; estimate 363,411,456
print(f"{(weights + gradients + moments) / report.parameters:.0f} bytes per parameter")
#> 16 bytes per parameter
del trainee, optimizer, output
# --8<-- [end:measured_memory]

# --8<-- [start:kv_cache]
from ptm_snippets.inspector import format_bytes

lm_tokenizer = AutoTokenizer.from_pretrained(SMOLLM2)
thread = "Customer: My parcel has not arrived and the tracking page has not changed for a week."
prompt = lm_tokenizer([thread, thread], return_tensors="pt")
with torch.inference_mode():
    prefill = lm(**prompt, use_cache=True, logits_to_keep=1)
cached = sum(t.numel() * t.element_size() for layer in prefill.cache.layers for t in (layer.keys, layer.values))
rows_in, tokens_in = prompt["input_ids"].shape
print(f"cache after {rows_in} x {tokens_in} tokens in bf16: {cached:,} bytes")
#> cache after 2 x 18 tokens in bf16: 829,440 bytes
print(f"estimate: {smol.kv_cache_bytes(batch_size=rows_in, seq_len=tokens_in, dtype='bf16'):,} bytes")
#> estimate: 829,440 bytes

print(f"{'model':22} {'per token':>9} {'full context':>13} {'cache there':>12} {'weights':>9}  (bf16, batch 1)")
#> model                  per token  full context  cache there   weights  (bf16, batch 1)
for repo_id in ["openai-community/gpt2", SMOLLM2, "meta-llama/Llama-3.1-8B"]:
    r = reports[repo_id]
    per_token = r.kv_cache_bytes(batch_size=1, seq_len=1, dtype="bf16")
    full = r.kv_cache_bytes(batch_size=1, seq_len=r.context_length, dtype="bf16")
    print(
        f"{r.name:22} {format_bytes(per_token):>9} {r.context_length:>13,} "
        f"{format_bytes(full):>12} {format_bytes(r.weight_bytes('bf16')):>9}"
    )
    #> gpt2                     36.9 kB         1,024      37.7 MB  248.9 MB
    #> SmolLM2-135M-Instruct    23.0 kB         8,192     188.7 MB  269.0 MB
    #> Llama-3.1-8B            131.1 kB       131,072      17.2 GB   16.1 GB
# --8<-- [end:kv_cache]

# --8<-- [start:context_limits]
import json
from pathlib import Path

from huggingface_hub import hf_hub_download

from ptm_snippets.tickets import load_tickets

# sentence-transformers stores its own, shorter limit next to the model's config.
st_config = json.loads(Path(hf_hub_download(MINILM, "sentence_bert_config.json")).read_text())
print(f"MiniLM: position table for {report.context_length} tokens, truncated at {st_config['max_seq_length']}")
#> MiniLM: position table for 512 tokens, truncated at 256

# A support thread of 30 messages, and which candidates can read it in one pass.
messages = [t["text"] for t in load_tickets("test")[:30]]
long_thread = "\n".join(messages)
counts = {"WordPiece (BERT, MiniLM)": len(tokenizer(long_thread)["input_ids"]),
          "byte-level BPE (SmolLM2)": len(lm_tokenizer(long_thread)["input_ids"])}
for name, count in counts.items():
    print(f"30 messages = {count} tokens with {name}")
    #> 30 messages = 472 tokens with WordPiece (BERT, MiniLM)
    #> 30 messages = 504 tokens with byte-level BPE (SmolLM2)
for repo_id in [MINILM, "FacebookAI/roberta-base", "google-t5/t5-small", "openai-community/gpt2", SMOLLM2]:
    r = reports[repo_id]
    limit = "no fixed limit" if r.context_length is None else f"{r.context_length:,} tokens"
    print(f"  {r.name:20} {limit:>15}  ({r.positions} positions)")
    #>   all-MiniLM-L6-v2          512 tokens  (learned absolute positions)
    #>   roberta-base              512 tokens  (learned absolute positions)
    #>   t5-small              no fixed limit  (relative bucketed positions)
    #>   gpt2                    1,024 tokens  (learned absolute positions)
    #>   SmolLM2-135M-Instruct    8,192 tokens  (rotary positions)
# --8<-- [end:context_limits]

# --8<-- [start:latency_table]
from ptm_snippets.experiments import load_results

latency = load_results("model_latency")  # docs/assets/experiments/, written by the experiment
rows = latency["rows"]


def median_ms(label: str, phase: str, batch_size: int, seq_len: int) -> float:
    """The measured median for one model, phase and shape."""
    (row,) = [r for r in rows if (r["label"], r["phase"], r["batch_size"], r["seq_len"]) == (label, phase, batch_size, seq_len)]
    return float(row["median_ms"])


labels = {r["model"]: r["label"] for r in rows}
print(f"{'':24} {'':10} {'':7} {'forward pass, batch 1 (ms)':>26} {'batch 8x128':>12} {'1 new token':>12}")
#>                                             forward pass, batch 1 (ms)  batch 8x128  1 new token
print(f"{'model':24} {'weights':10} {'params':>7} {'16':>8} {'128':>8} {'512':>8} {'seq/s':>12} {'at 512 (ms)':>12}")
#> model                    weights     params       16      128      512        seq/s  at 512 (ms)
for label in labels.values():
    row = next(r for r in rows if r["label"] == label)
    times = [median_ms(label, "forward", 1, n) for n in (16, 128, 512)]
    per_second = 8000 / median_ms(label, "forward", 8, 128)
    decode = f"{median_ms(label, 'decode', 1, 512):12.1f}" if row["kind"] != "encoder" else f"{'-':>12}"
    print(
        f"{label:24} {row['weights']:10} {row['parameters'] / 1e6:6.1f}M"
        + "".join(f"{t:8.1f}" for t in times)
        + f"{per_second:13.1f}{decode}"
    )
    #> MiniLM-L6                pretrained   22.7M    16.2    45.7   196.5         25.1           -
    #> multilingual MiniLM-L12  random      117.7M    24.5    87.4   356.8         12.5           -
    #> DistilBERT               random       66.4M    36.7   149.3   576.5          6.9           -
    #> BERT-base                random      109.5M    72.6   301.3  1172.9          3.8           -
    #> RoBERTa-base             random      124.6M    85.8   310.0  1174.6          3.6           -
    #> T5-small                 random       60.5M    42.1   104.7   391.1         12.7        21.4
    #> GPT-2                    random      124.4M   102.5   352.9  1315.8          2.9        42.5
    #> SmolLM2-135M             pretrained  134.5M   125.1   433.1  1738.0          2.7        64.4
stamp = latency["stamp"]
clock = "CPU time of the thread" if latency["summary"]["clock"] == "thread" else "elapsed time"
print(
    f"{stamp['cpu_model']}, {stamp['torch_threads']} thread, {clock}, "
    f"median of {stamp['config']['repeats']} interleaved repeats"
)
#> AMD EPYC, 1 thread, CPU time of the thread, median of 5 interleaved repeats
waiting = sorted(r["wall_median_ms"] / r["median_ms"] for r in rows)
print(
    f"elapsed time was {waiting[len(waiting) // 2]:.1f}x the CPU time (median over rows): the machine was shared, "
    f"load average {stamp['load_average_at_end'][1]:.1f} on {stamp['cpu_count']} cores"
)
#> elapsed time was 1.0x the CPU time (median over rows): the machine was shared, load average 1.0 on 2 cores
# --8<-- [end:latency_table]

# --8<-- [start:latency_readings]
summary = latency["summary"]
print("4x longer input (128 -> 512 tokens), batch 1: time multiplied by")
#> 4x longer input (128 -> 512 tokens), batch 1: time multiplied by
for label, growth in summary["length_growth"].items():
    print(f"  {label:24} {growth['time_ratio']:.1f}")
    #>   MiniLM-L6                4.3
    #>   multilingual MiniLM-L12  4.1
    #>   DistilBERT               3.9
    #>   BERT-base                3.9
    #>   RoBERTa-base             3.8
    #>   T5-small                 3.7
    #>   GPT-2                    3.7
    #>   SmolLM2-135M             4.0

print("batch of 8 vs one at a time, sequences per second gained:")
#> batch of 8 vs one at a time, sequences per second gained:
for label, gains in summary["batching_gain"].items():
    print(f"  {label:24} at 16 tokens x{gains['16']['gain']:.1f}, at 128 tokens x{gains['128']['gain']:.1f}")
    #>   MiniLM-L6                at 16 tokens x2.9, at 128 tokens x1.1
    #>   multilingual MiniLM-L12  at 16 tokens x2.4, at 128 tokens x1.1
    #>   DistilBERT               at 16 tokens x2.1, at 128 tokens x1.0
    #>   BERT-base                at 16 tokens x2.0, at 128 tokens x1.1
    #>   RoBERTa-base             at 16 tokens x2.3, at 128 tokens x1.1
    #>   T5-small                 at 16 tokens x2.8, at 128 tokens x1.3
    #>   GPT-2                    at 16 tokens x2.5, at 128 tokens x1.0
    #>   SmolLM2-135M             at 16 tokens x2.5, at 128 tokens x1.2

multilingual, bert = "multilingual MiniLM-L12", "BERT-base"
by_label = {r["label"]: r for r in rows}
params = by_label[multilingual]["parameters"] / by_label[bert]["parameters"]
compute = by_label[multilingual]["non_embedding_parameters"] / by_label[bert]["non_embedding_parameters"]
time_ratio = median_ms(multilingual, "forward", 1, 128) / median_ms(bert, "forward", 1, 128)
print(f"{multilingual} / {bert}: parameters {params:.2f}x, non-embedding {compute:.2f}x, time at 128 tokens {time_ratio:.2f}x")
#> multilingual MiniLM-L12 / BERT-base: parameters 1.07x, non-embedding 0.25x, time at 128 tokens 0.29x
# --8<-- [end:latency_readings]

# --8<-- [start:tokenizer_fertility]
same_message = {
    "English": "My parcel has not arrived yet and I would like a refund.",
    "German": "Mein Paket ist noch nicht angekommen und ich möchte eine Rückerstattung.",
    "French": "Mon colis n'est pas encore arrivé et je voudrais être remboursé.",
    "Spanish": "Mi paquete todavía no ha llegado y quisiera un reembolso.",
    "Polish": "Moja paczka jeszcze nie dotarła i chciałbym otrzymać zwrot pieniędzy.",
    "Russian": "Моя посылка ещё не пришла, и я хотел бы получить возврат денег.",
    "Chinese": "我的包裹还没到，我想申请退款。",
}
english = {"minilm": len(tokenizer.tokenize(same_message["English"])), "smol": len(lm_tokenizer.tokenize(same_message["English"]))}
print(f"{'language':9} {'MiniLM pieces':>13} {'[UNK]':>6} {'vs English':>10} {'SmolLM2 pieces':>15} {'vs English':>10}")
#> language  MiniLM pieces  [UNK] vs English  SmolLM2 pieces vs English
for language, text in same_message.items():
    pieces = tokenizer.tokenize(text)
    smol_pieces = lm_tokenizer.tokenize(text)
    print(
        f"{language:9} {len(pieces):13} {pieces.count('[UNK]'):6} {len(pieces) / english['minilm']:10.1f}"
        f" {len(smol_pieces):15} {len(smol_pieces) / english['smol']:10.1f}"
    )
    #> English              14      0        1.0              13        1.0
    #> German               24      0        1.7              29        2.2
    #> French               21      0        1.5              25        1.9
    #> Spanish              21      0        1.5              24        1.8
    #> Polish               31      0        2.2              37        2.8
    #> Russian              51      0        3.6              48        3.7
    #> Chinese              15     10        1.1              30        2.3
print("German, as MiniLM reads it:", tokenizer.tokenize(same_message["German"])[:12])
#> German, as MiniLM reads it: ['mein', 'pak', '##et', 'ist', 'no', '##ch', 'nic', '##ht', 'ang', '##ek', '##om', '##men']
# --8<-- [end:tokenizer_fertility]

# --8<-- [start:model_facts]
# Licences and languages as each model card states them (see Sources on the page).
FACTS = {
    MINILM: ("Apache-2.0", "English", "sentence embeddings"),
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2": ("Apache-2.0", "50+ languages", "sentence embeddings"),
    "distilbert/distilbert-base-uncased": ("Apache-2.0", "English", "fine-tuning"),
    "google-bert/bert-base-uncased": ("Apache-2.0", "English", "fine-tuning"),
    "FacebookAI/roberta-base": ("MIT", "English", "fine-tuning"),
    "google-t5/t5-small": ("Apache-2.0", "English (+ de/fr/ro translation)", "prefixed tasks incl. summarize:"),
    "openai-community/gpt2": ("MIT", "English", "text continuation"),
    SMOLLM2: ("Apache-2.0", "English", "instructions (chat)"),
    "meta-llama/Llama-3.1-8B": ("Llama 3.1 Community License", "8 languages", "text continuation (base)"),
}
for repo_id, (licence, languages, trained_for) in FACTS.items():
    print(f"{reports[repo_id].name:38} {licence:27} {languages:33} {trained_for}")
    #> all-MiniLM-L6-v2                       Apache-2.0                  English                           sentence embeddings
    #> paraphrase-multilingual-MiniLM-L12-v2  Apache-2.0                  50+ languages                     sentence embeddings
    #> distilbert-base-uncased                Apache-2.0                  English                           fine-tuning
    #> bert-base-uncased                      Apache-2.0                  English                           fine-tuning
    #> roberta-base                           MIT                         English                           fine-tuning
    #> t5-small                               Apache-2.0                  English (+ de/fr/ro translation)  prefixed tasks incl. summarize:
    #> gpt2                                   MIT                         English                           text continuation
    #> SmolLM2-135M-Instruct                  Apache-2.0                  English                           instructions (chat)
    #> Llama-3.1-8B                           Llama 3.1 Community License 8 languages                       text continuation (base)
# --8<-- [end:model_facts]

# --8<-- [start:scenario_routing]
# Scenario 1: route English support tickets to 4 queues, on a laptop CPU, one thread.
budget_ms, train_budget = 80.0, 4e9  # a long (128-token) ticket; AdamW state, before activations
tickets = load_tickets("test")
typical = sorted(len(tokenizer(t["text"])["input_ids"]) for t in tickets)
print(f"ticket length in tokens: median {typical[len(typical) // 2]}, longest {typical[-1]}")
#> ticket length in tokens: median 17, longest 50

print(f"{'model':38} {'encoder':>7} {'English':>7} {'trains in 4 GB':>14} {'128 tokens (ms)':>15}")
#> model                                  encoder English trains in 4 GB 128 tokens (ms)
passing = {}
for repo_id, label in labels.items():
    r = reports[repo_id]
    checks = [r.kind == "encoder", "English" in FACTS[repo_id][1] or "50+" in FACTS[repo_id][1], r.training_bytes() <= train_budget]
    ms = median_ms(label, "forward", 1, 128)
    marks = ["yes" if ok else "no" for ok in checks]
    print(f"{r.name:38} {marks[0]:>7} {marks[1]:>7} {marks[2]:>14} {ms:15.1f}")
    #> all-MiniLM-L6-v2                           yes     yes            yes            45.7
    #> paraphrase-multilingual-MiniLM-L12-v2      yes     yes            yes            87.4
    #> distilbert-base-uncased                    yes     yes            yes           149.3
    #> bert-base-uncased                          yes     yes            yes           301.3
    #> roberta-base                               yes     yes            yes           310.0
    #> t5-small                                    no     yes            yes           104.7
    #> gpt2                                        no     yes            yes           352.9
    #> SmolLM2-135M-Instruct                       no     yes            yes           433.1
    if all(checks) and ms <= budget_ms:
        passing[repo_id] = ms
choice = min(passing, key=passing.__getitem__)
print(f"within {budget_ms:.0f} ms: {[reports[p].name for p in passing]}; fastest: {reports[choice].name}")
#> within 80 ms: ['all-MiniLM-L6-v2']; fastest: all-MiniLM-L6-v2

accuracy = load_results("data_efficiency")["summary"]["table"]["pretrained"]
print(f"lesson 01 measured it fine-tuned on 1024 tickets: accuracy {accuracy['1024']['accuracy_mean']:.3f}")
#> lesson 01 measured it fine-tuned on 1024 tickets: accuracy 0.942
# --8<-- [end:scenario_routing]

# --8<-- [start:scenario_faq_search]
# Scenario 2: FAQ search for customers writing in English, German, French, Spanish and Polish.
faq_entries, query_budget_ms, memory_budget = 2000, 100.0, 1e9
embedders = [repo_id for repo_id, facts in FACTS.items() if facts[2] == "sentence embeddings"]
for repo_id in embedders:
    r, label = reports[repo_id], labels[repo_id]
    query_ms = median_ms(label, "forward", 1, 16)
    index_s = faq_entries * median_ms(label, "forward", 8, 128) / 8 / 1000
    print(
        f"{r.name:38} languages: {FACTS[repo_id][1]:14} weights {format_bytes(r.weight_bytes('fp32')):>8}"
        f"  query {query_ms:5.1f} ms ({'within' if query_ms <= query_budget_ms else 'over'} budget)"
        f"  index {faq_entries} answers {index_s / 60:4.1f} min"
    )
    #> all-MiniLM-L6-v2                       languages: English        weights  90.9 MB  query  16.2 ms (within budget)  index 2000 answers  1.3 min
    #> paraphrase-multilingual-MiniLM-L12-v2  languages: 50+ languages  weights 470.6 MB  query  24.5 ms (within budget)  index 2000 answers  2.7 min
multilingual_id = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"
ml = reports[multilingual_id]
print(f"multilingual MiniLM: {ml.embedding_parameters / ml.parameters:.0%} of its weights are the {ml.vocab_size:,}-entry vocabulary")
#> multilingual MiniLM: 82% of its weights are the 250,037-entry vocabulary
print(f"fits {format_bytes(memory_budget)}: fp32 {ml.weight_bytes('fp32') <= memory_budget}, bf16 uses {format_bytes(ml.weight_bytes('bf16'))}")
#> fits 1.0 GB: fp32 True, bf16 uses 235.3 MB
# --8<-- [end:scenario_faq_search]

# --8<-- [start:scenario_summarisation]
# Scenario 3: summarise a 512-token support thread into about 60 tokens, offline on a laptop.
new_tokens, seconds_budget, weight_budget = 60, 10.0, 1e9
print(f"{'model':26} {'kind':16} {'bf16 weights':>12} {'context':>9} {'seconds':>8}  trained for")
#> model                      kind             bf16 weights   context  seconds  trained for
for repo_id in ["google-t5/t5-small", "openai-community/gpt2", SMOLLM2, "meta-llama/Llama-3.1-8B"]:
    r = reports[repo_id]
    context = "512*" if r.context_length is None else f"{r.context_length:,}"
    if repo_id in labels:
        seconds = (median_ms(labels[repo_id], "forward", 1, 512) + new_tokens * median_ms(labels[repo_id], "decode", 1, 512)) / 1000
        timing = f"{seconds:8.1f}"
    else:
        timing = f"{'-':>8}"
    fits = "" if r.weight_bytes("bf16") <= weight_budget else " (over 1 GB)"
    print(f"{r.name:26} {r.kind:16} {format_bytes(r.weight_bytes('bf16')):>12} {context:>9} {timing}  {FACTS[repo_id][2]}{fits}")
    #> t5-small                   encoder-decoder      121.0 MB      512*      1.7  prefixed tasks incl. summarize:
    #> gpt2                       decoder              248.9 MB     1,024      3.9  text continuation
    #> SmolLM2-135M-Instruct      decoder              269.0 MB     8,192      5.6  instructions (chat)
    #> Llama-3.1-8B               decoder               16.1 GB   131,072        -  text continuation (base) (over 1 GB)
print("* T5 has no position table; it was pre-trained on 512-token inputs")
#> * T5 has no position table; it was pre-trained on 512-token inputs
# --8<-- [end:scenario_summarisation]

# --8<-- [start:exercise_partial_fine_tuning]
from ptm_snippets.inspector import resolve_config

xl = reports["openai-community/gpt2-xl"]
with torch.device("meta"):  # shapes only: nothing is allocated
    skeleton = AutoModelForCausalLM.from_config(resolve_config("openai-community/gpt2-xl"))
last_four = sum(p.numel() for block in skeleton.transformer.h[-4:] for p in block.parameters())
last_four += sum(p.numel() for p in skeleton.transformer.ln_f.parameters())
print(f"GPT-2 XL: {xl.parameters:,} parameters; the last 4 blocks and final norm: {last_four:,} ({last_four / xl.parameters:.1%})")
#> GPT-2 XL: 1,557,611,200 parameters; the last 4 blocks and final norm: 122,966,400 (7.9%)
for name, trainable in [("full fine-tuning", xl.parameters), ("last 4 blocks only", last_four), ("inference only", 0)]:
    need = xl.training_bytes(trainable=trainable) if trainable else xl.weight_bytes("fp32")
    print(f"  {name:20} {format_bytes(need):>8}  fits 16 GB: {need <= 16e9}")
    #>   full fine-tuning      24.9 GB  fits 16 GB: False
    #>   last 4 blocks only     7.7 GB  fits 16 GB: True
    #>   inference only         6.2 GB  fits 16 GB: True
# --8<-- [end:exercise_partial_fine_tuning]

# --8<-- [start:exercise_longest_context]
memory_left = 1e9 - smol.weight_bytes("bf16")  # 1 GB for SmolLM2 in bf16, weights first
per_token = smol.kv_cache_bytes(batch_size=1, seq_len=1, dtype="bf16")
for batch_size in (1, 4, 16):
    tokens = int(memory_left // (per_token * batch_size))
    print(f"batch {batch_size:2}: {tokens:,} tokens per sequence fit ({min(tokens, smol.context_length):,} usable)")
    #> batch  1: 31,726 tokens per sequence fit (8,192 usable)
    #> batch  4: 7,931 tokens per sequence fit (7,931 usable)
    #> batch 16: 1,982 tokens per sequence fit (1,982 usable)
# --8<-- [end:exercise_longest_context]
