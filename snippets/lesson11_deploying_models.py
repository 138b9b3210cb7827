"""Lesson 11: deploying pre-trained models. Runs top to bottom; the page includes its sections."""

# --8<-- [start:load_once]
import json

import torch
from transformers import AutoModel, AutoTokenizer

from ptm_snippets.hub import MINILM, sha256_file
from ptm_snippets.serving import resolve_snapshot

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
folder = resolve_snapshot(MINILM_ID)  # snapshot_download of one revision: configs, vocabulary, safetensors
print("revision:", folder.name)
#> revision: a4946410f8fb69cd597d66727ed01471273b3c05
print(sorted(p.name for p in folder.iterdir() if p.is_file()))
#> ['config.json', 'config_sentence_transformers.json', 'model.safetensors', 'modules.json', 'sentence_bert_config.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt']
weights_sha256 = sha256_file(folder / "model.safetensors")
print("weights sha256:", weights_sha256[:16] + "...", "matches the pin:", weights_sha256 == MINILM.files["model.safetensors"])
#> weights sha256: 53aa51172d142c89... matches the pin: True
print("Python files that trust_remote_code could run:", [p.name for p in folder.rglob("*.py")])
#> Python files that trust_remote_code could run: []

tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModel.from_pretrained(folder, use_safetensors=True, trust_remote_code=False).eval()
print(type(model).__name__, f"{sum(p.numel() for p in model.parameters()):,} parameters, training mode: {model.training}")
#> BertModel 22,713,216 parameters, training mode: False
# --8<-- [end:load_once]

# --8<-- [start:safe_loading]
import io
import pickle
import struct

with open(folder / "model.safetensors", "rb") as weights_file:
    header_bytes = struct.unpack("<Q", weights_file.read(8))[0]  # 8 bytes: the header's length
    header = json.loads(weights_file.read(header_bytes))  # then JSON: names, dtypes, shapes, offsets
tensors = {name: entry for name, entry in header.items() if name != "__metadata__"}
print(f"{header_bytes:,} bytes of JSON describe {len(tensors)} tensors; the rest is raw numbers")
#> 11,408 bytes of JSON describe 104 tensors; the rest is raw numbers
print(header["embeddings.word_embeddings.weight"])
#> {'dtype': 'F32', 'shape': [30522, 384], 'data_offsets': [796672, 47678464]}


class Surprise:
    """Stands in for what an attacker puts in a pickled checkpoint."""

    def __reduce__(self):
        return (print, ("this ran while loading!",))  # any function, any arguments


checkpoint = io.BytesIO()
torch.save({"weight": torch.zeros(2), "extra": Surprise()}, checkpoint)
try:
    torch.load(io.BytesIO(checkpoint.getvalue()))  # weights_only=True is the default since torch 2.6
except pickle.UnpicklingError as error:
    print("torch.load refused:", str(error).split(".")[0])
    #> torch.load refused: Weights only load failed
torch.load(io.BytesIO(checkpoint.getvalue()), weights_only=False)  # what older code did
# --8<-- [end:safe_loading]

# --8<-- [start:max_length]
from ptm_snippets.serving import ServingSettings, token_counts
from ptm_snippets.tickets import load_tickets

trained = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
print(f"tokenizer limit {tokenizer.model_max_length}, position embeddings {model.config.max_position_embeddings}, trained on at most {trained} tokens")
#> tokenizer limit 512, position embeddings 512, trained on at most 256 tokens

settings = ServingSettings()  # the service's defaults
print({name: getattr(settings, name) for name in ("max_texts", "max_chars", "max_tokens", "max_body_bytes")})
#> {'max_texts': 64, 'max_chars': 10000, 'max_tokens': 256, 'max_body_bytes': 1000000}

texts = [t["text"] for t in load_tickets("test")]  # 440 support messages, real lengths
characters = sum(len(t) for t in texts)
pieces = sum(len(tokenizer.tokenize(t)) for t in texts)
print(f"{characters / pieces:.1f} characters per token on support messages")
#> 4.1 characters per token on support messages

complaint = "The courier left my parcel at the wrong door, and nobody answers the phone. " * 30
counts = token_counts(tokenizer, ["Where is my parcel?", complaint], limit=settings.max_tokens)
print(f"{len(complaint):,} characters; counted tokens {counts}; truncated: {[c > settings.max_tokens for c in counts]}")
#> 2,280 characters; counted tokens [7, 257]; truncated: [False, True]
# --8<-- [end:max_length]

# --8<-- [start:batching]
from ptm_snippets.compression import TorchEncoder

lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]


def padded_tokens(order: list[int], batch: int) -> int:
    """Positions the model computes when texts go in `order`, `batch` at a time, padded to the longest."""
    return sum(max(lengths[i] for i in order[k : k + batch]) * len(order[k : k + batch]) for k in range(0, len(order), batch))


real = sum(lengths)
arrival = padded_tokens(list(range(len(texts))), 16)
by_length = padded_tokens(sorted(range(len(texts)), key=lengths.__getitem__), 16)
print(f"{len(texts)} texts, {real:,} real tokens, lengths {min(lengths)} to {max(lengths)}")
#> 440 texts, 8,080 real tokens, lengths 7 to 50
print(f"batches of 16 in arrival order compute {arrival:,} positions ({1 - real / arrival:.0%} padding)")
#> batches of 16 in arrival order compute 13,376 positions (40% padding)
print(f"sorted by length first:               {by_length:,} positions ({1 - real / by_length:.0%} padding)")
#> sorted by length first:               8,320 positions (3% padding)

one_by_one = TorchEncoder(model, tokenizer, max_length=settings.max_tokens, batch_size=1).encode(texts[:48])
batched = TorchEncoder(model, tokenizer, max_length=settings.max_tokens, batch_size=16).encode(texts[:48])
print("batched vectors equal one-by-one within 1e-5:", bool((batched - one_by_one).abs().max() < 1e-5))
#> batched vectors equal one-by-one within 1e-5: True
# --8<-- [end:batching]

# --8<-- [start:export]
from ptm_snippets.compression import OnnxEncoder, mean_cosine
from ptm_snippets.serving import onnx_files

files = onnx_files(folder)  # lesson 09's export_onnx and quantize_onnx_int8, run once per revision and cached
for kind, path in files.items():
    print(f"{kind:9} {path.name:16} {path.stat().st_size / 1e6:5.1f} MB")
    #> onnx      model.onnx        91.0 MB
    #> onnx-int8 model-int8.onnx   23.4 MB

sample = texts[:64]
reference = TorchEncoder(model, tokenizer, max_length=settings.max_tokens).encode(sample)
onnx_fp32 = OnnxEncoder(files["onnx"], tokenizer, max_length=settings.max_tokens, num_threads=2)
onnx_int8 = OnnxEncoder(files["onnx-int8"], tokenizer, max_length=settings.max_tokens, num_threads=2)
print("ONNX fp32 within 1e-4 of eager PyTorch on the same inputs:", bool((onnx_fp32.encode(sample) - reference).abs().max() < 1e-4))
#> ONNX fp32 within 1e-4 of eager PyTorch on the same inputs: True
print(f"ONNX int8: mean cosine to eager {mean_cosine(reference, onnx_int8.encode(sample)):.3f}")
#> ONNX int8: mean cosine to eager 0.993
print("onnxruntime intra-op threads:", onnx_fp32.session.get_session_options().intra_op_num_threads)
#> onnxruntime intra-op threads: 2
try:
    ServingSettings(num_threads=-1).validate()
except ValueError as error:
    print(error)
    #> num_threads must be an int in [0, 1024], got -1
# --8<-- [end:export]

# --8<-- [start:start_service]
import atexit
import subprocess
import time

from ptm_snippets.serving import ServerProcess

server = ServerProcess(["--backend", "eager", "--threads", "2"])  # python -m ptm_snippets.serving --port 0 ...
url = server.start(timeout=120)  # returns once the port is open; the model loads in the background
atexit.register(server.stop)  # stopped at the end of the session even if a later block fails


def curl(path: str, body: object = None, *, raw: bytes | None = None, content_type: str = "application/json") -> tuple[int, object]:
    """Call the service with curl; return the status code and the decoded JSON answer."""
    command = ["curl", "-s", "--max-time", "30", "-w", "\n%{http_code}", url + path]
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    if data is not None:
        command += ["-H", f"content-type: {content_type}", "--data-binary", "@-"]
    out = subprocess.run(command, input=data, capture_output=True, timeout=60, check=True).stdout.decode()
    text, status = out.rsplit("\n", 1)
    return int(status), json.loads(text) if text.startswith(("{", "[")) else text


print(curl("/healthz"))  # alive at once
#> (200, {'status': 'ok'})
deadline = time.monotonic() + 120
while curl("/readyz")[0] != 200 and time.monotonic() < deadline:  # 503 until loaded and warmed up
    time.sleep(0.25)
status, ready = curl("/readyz")
print(status, {key: ready["model"][key] for key in ("repo_id", "backend", "dimensions", "max_tokens")})
#> 200 {'repo_id': 'sentence-transformers/all-MiniLM-L6-v2', 'backend': 'eager', 'dimensions': 384, 'max_tokens': 256}
print("same revision and weights as above:", ready["model"]["revision"] == folder.name, ready["model"]["weights_sha256"] == weights_sha256)
#> same revision and weights as above: True True
print("warm-up passes before ready:", len(ready["model"]["warmup_ms"]))
#> warm-up passes before ready: 3
# --8<-- [end:start_service]

# --8<-- [start:queries]
status, answer = curl("/similarity", {"query": "A man is eating food.", "texts": ["A man is eating a piece of bread.", "The new movie is awesome."]})
print(status, answer["scores"], "best:", answer["best"])
#> 200 [0.755337, -0.04605] best: 0
query = "Where is my parcel?"
candidates = ["My package never arrived.", "I was charged twice for one order.", "The app crashes when I open it.", "Tracking says delivered but nothing came."]
status, answer = curl("/similarity", {"query": query, "texts": candidates})
ranked = sorted(zip(candidates, answer["scores"], strict=True), key=lambda pair: -pair[1])
for text, score in ranked:
    print(f"{score:6.3f}  {text}")
    #>  0.449  My package never arrived.
    #>  0.420  Tracking says delivered but nothing came.
    #>  0.231  I was charged twice for one order.
    #>  0.104  The app crashes when I open it.

status, answer = curl("/embed", {"texts": ["Where is my parcel?", complaint]})
print(status, "tokens:", answer["tokens"], "truncated:", answer["truncated"], "vector length:", len(answer["embeddings"][0]))
#> 200 tokens: [7, 256] truncated: [False, True] vector length: 384
# --8<-- [end:queries]

# --8<-- [start:bad_input]
bad_requests = {
    "no texts": {"body": {"texts": []}},
    "empty text": {"body": {"texts": [""]}},
    "blank text": {"body": {"texts": ["   "]}},
    "a number": {"body": {"texts": ["fine", 42]}},
    "misspelt field": {"body": {"text": ["Where is my parcel?"]}},
    "65 texts": {"body": {"texts": ["hello"] * 65}},
    "10,001 characters": {"body": {"texts": ["x" * 10_001]}},
    "lone surrogate": {"raw": b'{"texts": ["\\ud800"]}'},
    "invalid UTF-8": {"raw": b'{"texts": ["caf\xe9"]}'},
    "malformed JSON": {"raw": b'{"texts": ["a",'},
    "not JSON": {"raw": b'{"texts": ["a"]}', "content_type": "text/plain"},
    "2 MB body": {"raw": json.dumps({"texts": ["x" * 2_000_000]}).encode()},
}
bad_statuses = {}
for name, request in bad_requests.items():
    status, answer = curl("/embed", **request)
    bad_statuses[name] = status
    detail = answer["detail"] if isinstance(answer, dict) else answer  # 413 comes as plain text
    message = detail if isinstance(detail, str) else f"{detail[0]['field']}: {detail[0]['message']}"
    print(f"{name:18} {status}  {message}")
    #> no texts           422  texts: List should have at least 1 item after validation, not 0
    #> empty text         422  texts.0: String should have at least 1 character
    #> blank text         422  texts.0: Value error, text must contain at least one non-blank character
    #> a number           422  texts.1: Input should be a valid string
    #> misspelt field     422  texts: Field required
    #> 65 texts           422  texts: List should have at most 64 items after validation, not 65
    #> 10,001 characters  422  texts.0: String should have at most 10000 characters
    #> lone surrogate     422  texts.0: Input should be a valid string, unable to parse raw data as a unicode string
    #> invalid UTF-8      400  There was an error parsing the body
    #> malformed JSON     422  body: invalid JSON at character 15: Expecting value
    #> not JSON           422  body: body must be a JSON object sent with content-type: application/json
    #> 2 MB body          413  Content Too Large
health_after = curl("/healthz")
print("still healthy:", health_after, "still ready:", curl("/readyz")[0])
#> still healthy: (200, {'status': 'ok'}) still ready: 200
# --8<-- [end:bad_input]

# --8<-- [start:stop_service]
print("exit code after SIGTERM:", server.stop(), "(uvicorn drained, shut down, then re-raised the signal)")
#> exit code after SIGTERM: -15 (uvicorn drained, shut down, then re-raised the signal)
print("errors in the server log:", [line for line in server.log().splitlines() if "Traceback" in line or "ERROR" in line])
#> errors in the server log: []
# --8<-- [end:stop_service]

# --8<-- [start:measured]
from ptm_snippets.experiments import load_results

bench = load_results("serving_benchmark")  # docs/assets/experiments/, from one run of the experiment
config = bench["stamp"]["config"]
print(f"{config['clients']} concurrent clients, {config['rounds']} x {config['requests']} requests per cell, {config['num_threads']} threads per server, on {bench['stamp']['cpu_model']} ({bench['stamp']['cpu_count']} cores)")
#> 4 concurrent clients, 3 x 60 requests per cell, 2 threads per server, on AMD EPYC (2 cores)
print(f"{'backend':10} {'texts':>5} {'req/s':>6} {'texts/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'failed':>6} {'RSS MB':>7} {'cosine':>7}")
#> backend    texts  req/s  texts/s  p50 ms  p95 ms failed  RSS MB  cosine
for row in bench["rows"]:
    print(
        f"{row['backend']:10} {row['batch_size']:5} {row['requests_per_s']:6.1f} {row['texts_per_s']:8.1f} "
        f"{row['p50_ms']:7.0f} {row['p95_ms']:7.0f} {row['failures']:6} {row['rss_mb']:7.0f} {row['cosine_to_eager']:7.3f}"
    )
    #> eager          1   43.3     43.3      88     124      0     747   1.000
    #> eager         16    8.7    139.5     446     573      0     747   1.000
    #> onnx           1   68.1     68.1      56      72      0     491   1.000
    #> onnx          16   10.8    172.1     353     488      0     491   1.000
    #> onnx-int8      1   71.6     71.6      55      68      0     426   0.993
    #> onnx-int8     16   19.9    318.0     195     254      0     426   0.993
print("texts/s, 16 per request over 1 per request:", bench["summary"]["batching_gain"])
#> texts/s, 16 per request over 1 per request: {'eager': 3.22, 'onnx': 2.53, 'onnx-int8': 4.44}
warm = {row["backend"]: row["warmup_ms"] for row in bench["rows"] if row["batch_size"] == 1}
print("warm-up passes at start-up, ms:", warm)
#> warm-up passes at start-up, ms: {'eager': [133.95, 63.09, 43.9], 'onnx': [30.0, 28.96, 27.05], 'onnx-int8': [12.98, 11.38, 10.86]}
# --8<-- [end:measured]

# --8<-- [start:capacity]
import math

target = 1_000  # texts per second the product needs at peak
headroom = 0.6  # run each replica at 60% of what it managed flat out, for bursts and a failed replica
best = max(bench["rows"], key=lambda row: row["texts_per_s"])
replicas = math.ceil(target / (best["texts_per_s"] * headroom))
print(f"best cell: {best['backend']} with {best['batch_size']} texts per request, {best['texts_per_s']:.0f} texts/s per 2-core replica")
#> best cell: onnx-int8 with 16 texts per request, 318 texts/s per 2-core replica
print(f"{target:,} texts/s at {headroom:.0%} utilisation needs {replicas} replicas, {replicas * best['rss_mb'] / 1000:.1f} GB of resident memory in all")
#> 1,000 texts/s at 60% utilisation needs 6 replicas, 2.6 GB of resident memory in all
single = next(r for r in bench["rows"] if r["backend"] == best["backend"] and r["batch_size"] == 1)
print(f"with one text per request instead: {math.ceil(target / (single['texts_per_s'] * headroom))} replicas")
#> with one text per request instead: 24 replicas
# --8<-- [end:capacity]

# --8<-- [start:exercise_padding_solution]
for batch in (8, 32, 64):
    arrival_order = padded_tokens(list(range(len(texts))), batch)
    sorted_order = padded_tokens(sorted(range(len(texts)), key=lengths.__getitem__), batch)
    print(f"batch {batch:2}: arrival order {1 - real / arrival_order:.0%} padding, sorted {1 - real / sorted_order:.0%}")
    #> batch  8: arrival order 32% padding, sorted 2%
    #> batch 32: arrival order 47% padding, sorted 8%
    #> batch 64: arrival order 52% padding, sorted 17%
# --8<-- [end:exercise_padding_solution]

# --8<-- [start:exercise_client_solution]
def plan_requests(all_texts: list[str], limits: ServingSettings) -> tuple[list[list[int]], list[int]]:
    """Split texts into requests the service accepts; return (indices per request, refused indices)."""
    accepted = [i for i, t in enumerate(all_texts) if t.strip() and len(t) <= limits.max_chars]
    refused = [i for i in range(len(all_texts)) if i not in set(accepted)]
    accepted.sort(key=lambda i: len(all_texts[i]))  # similar lengths together: less padding
    chunks = [accepted[k : k + limits.max_texts] for k in range(0, len(accepted), limits.max_texts)]
    return chunks, refused


batch_of_texts = [*texts[:150], "", "y" * 20_000]
chunks, refused = plan_requests(batch_of_texts, settings)
print([len(chunk) for chunk in chunks], "refused:", refused)
#> [64, 64, 22] refused: [150, 151]
# --8<-- [end:exercise_client_solution]

# --8<-- [start:exercise_latency_budget_solution]
budget_ms = 300
for row in bench["rows"]:
    fits = row["p95_ms"] <= budget_ms
    print(f"{row['backend']:10} {row['batch_size']:2} texts: p95 {row['p95_ms']:6.0f} ms {'fits' if fits else 'too slow':8} {row['texts_per_s']:6.1f} texts/s")
    #> eager       1 texts: p95    124 ms fits       43.3 texts/s
    #> eager      16 texts: p95    573 ms too slow  139.5 texts/s
    #> onnx        1 texts: p95     72 ms fits       68.1 texts/s
    #> onnx       16 texts: p95    488 ms too slow  172.1 texts/s
    #> onnx-int8   1 texts: p95     68 ms fits       71.6 texts/s
    #> onnx-int8  16 texts: p95    254 ms fits      318.0 texts/s
# --8<-- [end:exercise_latency_budget_solution]
