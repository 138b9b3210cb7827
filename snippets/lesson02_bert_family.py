"""Lesson 02: the BERT family (encoders). Runs top to bottom; the page includes its sections."""

# --8<-- [start:wordpiece]
import torch
from transformers import AutoTokenizer

torch.manual_seed(0)
MINILM = "sentence-transformers/all-MiniLM-L6-v2"  # bert-base-uncased's WordPiece vocabulary
tokenizer = AutoTokenizer.from_pretrained(MINILM)
print(len(tokenizer), "pieces; lower-cases the text:", tokenizer.do_lower_case)
#> 30522 pieces; lower-cases the text: True
for word in ["parcel", "refund", "PayPal", "reimbursement", "unsubscribed", "2FA", "£12.99", "Señor"]:
    print(f"{word:>14} -> {tokenizer.tokenize(word)}")
    #>         parcel -> ['parcel']
    #>         refund -> ['ref', '##und']
    #>         PayPal -> ['pay', '##pal']
    #>  reimbursement -> ['rei', '##mb', '##urse', '##ment']
    #>   unsubscribed -> ['un', '##su', '##bs', '##cr', '##ibe', '##d']
    #>            2FA -> ['2', '##fa']
    #>         £12.99 -> ['£1', '##2', '.', '99']
    #>          Señor -> ['sen', '##or']

text = "My PayPal refund hasn't arrived."
encoded = tokenizer(text)
print(tokenizer.convert_ids_to_tokens(encoded["input_ids"]))
#> ['[CLS]', 'my', 'pay', '##pal', 'ref', '##und', 'hasn', "'", 't', 'arrived', '.', '[SEP]']
print(encoded["input_ids"])
#> [101, 2026, 3477, 12952, 25416, 8630, 8440, 1005, 1056, 3369, 1012, 102]
print(encoded.word_ids())  # which word each token came from; None for special tokens
#> [None, 0, 1, 1, 2, 2, 3, 4, 5, 6, 7, None]
print(dict(zip(tokenizer.all_special_tokens, tokenizer.all_special_ids, strict=True)))
#> {'[UNK]': 100, '[SEP]': 102, '[PAD]': 0, '[CLS]': 101, '[MASK]': 103}
# --8<-- [end:wordpiece]

# --8<-- [start:pairs_and_padding]
pair = tokenizer("Where is my parcel?", "It left the warehouse on Monday.")
print(tokenizer.convert_ids_to_tokens(pair["input_ids"]))
#> ['[CLS]', 'where', 'is', 'my', 'parcel', '?', '[SEP]', 'it', 'left', 'the', 'warehouse', 'on', 'monday', '.', '[SEP]']
print(pair["token_type_ids"])
#> [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]

batch = tokenizer(
    ["Refund please.", "My parcel went to my old address."], padding=True, return_tensors="pt"
)
print(batch["input_ids"].shape)
#> torch.Size([2, 10])
print(batch["attention_mask"])
#> tensor([[1, 1, 1, 1, 1, 1, 0, 0, 0, 0],
#>         [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]])

passage = "The courier tried to deliver your parcel on Monday but nobody was home. " * 60
print(len(tokenizer.tokenize(passage)), "tokens; the model reads at most", tokenizer.model_max_length)
#> 840 tokens; the model reads at most 512
cut = tokenizer("Where is my parcel?", passage, truncation="only_second", max_length=24)
print(len(cut["input_ids"]), tokenizer.decode(cut["input_ids"]))
#> 24 [CLS] where is my parcel? [SEP] the courier tried to deliver your parcel on monday but nobody was home. the courier [SEP]
# --8<-- [end:pairs_and_padding]

# --8<-- [start:encoder_stack]
from transformers import AutoModel

from ptm_snippets import count_parameters

model = AutoModel.from_pretrained(MINILM).eval()
config = model.config
print(
    f"{type(model).__name__}: {config.num_hidden_layers} layers, {config.num_attention_heads} "
    f"heads, hidden {config.hidden_size}, feed-forward {config.intermediate_size}"
)
#> BertModel: 6 layers, 12 heads, hidden 384, feed-forward 1536
layer = model.encoder.layer[0]
print(f"embeddings:    {count_parameters(model.embeddings):>10,}")
#> embeddings:    11,918,592
print(f"one layer:     {count_parameters(layer):>10,}")
#> one layer:      1,774,464
print(f"  attention:   {count_parameters(layer.attention):>10,}")
#>   attention:      592,128
print(f"  feed-forward:{count_parameters(layer.intermediate) + count_parameters(layer.output):>10,}")
#>   feed-forward: 1,182,336
print(f"pooler:        {count_parameters(model.pooler):>10,}")
#> pooler:           147,840
print(f"total:         {count_parameters(model):>10,}")
#> total:         22,713,216

with torch.no_grad():
    out = model(**batch, output_hidden_states=True)
print("last_hidden_state", tuple(out.last_hidden_state.shape))
#> last_hidden_state (2, 10, 384)
print("pooler_output    ", tuple(out.pooler_output.shape))
#> pooler_output     (2, 384)
print("hidden_states    ", len(out.hidden_states), "tensors: the embeddings, then one per layer")
#> hidden_states     7 tensors: the embeddings, then one per layer
# --8<-- [end:encoder_stack]

# --8<-- [start:bidirectional]
import torch.nn.functional as F

senses = [
    "The bank approved my mortgage application.",  # money
    "The bank charged my credit card twice.",  # money
    "The bank of the river was covered in mud.",  # river
    "The bank of the stream was steep and muddy.",  # river
]


def vector_of(word: str, sentence: str) -> torch.Tensor:
    """The encoder's output vector at the first token of `word` in `sentence`."""
    enc = tokenizer(sentence, return_tensors="pt")
    position = tokenizer.convert_ids_to_tokens(enc["input_ids"][0]).index(word)
    with torch.no_grad():
        return model(**enc).last_hidden_state[0, position]


bank = F.normalize(torch.stack([vector_of("bank", s) for s in senses]), dim=-1)
print("every sentence starts with the same tokens:", {tuple(tokenizer.tokenize(s)[:2]) for s in senses})
#> every sentence starts with the same tokens: {('the', 'bank')}
for sentence, row in zip(senses, bank @ bank.T, strict=True):
    print(f"{sentence:44}", " ".join(f"{v:5.2f}" for v in row))
    #> The bank approved my mortgage application.    1.00  0.83  0.79  0.75
    #> The bank charged my credit card twice.        0.83  1.00  0.74  0.75
    #> The bank of the river was covered in mud.     0.79  0.74  1.00  0.96
    #> The bank of the stream was steep and muddy.   0.75  0.75  0.96  1.00
# --8<-- [end:bidirectional]

# --8<-- [start:attention_summary]
model.set_attn_implementation("eager")  # the default (sdpa) does not return the weights
sentence = "The customer said the parcel was late, so she asked for a refund."
enc = tokenizer(sentence, return_tensors="pt")
with torch.no_grad():
    attentions = model(**enc, output_attentions=True).attentions
model.set_attn_implementation("sdpa")
print(len(attentions), "layers of", tuple(attentions[0].shape), "(batch, heads, query, key)")
#> 6 layers of (1, 12, 18, 18) (batch, heads, query, key)
print("every row sums to 1:", all(torch.allclose(a.sum(-1), torch.ones(1)) for a in attentions))
#> every row sums to 1: True

n = enc["input_ids"].shape[1]
print("layer  [CLS]  [SEP]   self  previous  next   (mean share over 12 heads and all tokens)")
#> layer  [CLS]  [SEP]   self  previous  next   (mean share over 12 heads and all tokens)
for number, weights in enumerate(attentions):
    w = weights[0]  # (heads, query, key)
    shares = [
        w[..., 0].mean(),  # on [CLS], the first token
        w[..., -1].mean(),  # on [SEP], the last token
        w.diagonal(0, -2, -1).mean(),  # on the token itself
        w.diagonal(-1, -2, -1).sum(-1).mean() / n,  # on the token to the left
        w.diagonal(1, -2, -1).sum(-1).mean() / n,  # on the token to the right
    ]
    print(f"{number:5}" + "".join(f"{float(s):7.2f}" for s in shares[:3]) + "".join(f"{float(s):9.2f}" for s in shares[3:]))
    #>     0   0.18   0.07   0.09     0.16     0.05
    #>     1   0.51   0.02   0.10     0.09     0.10
    #>     2   0.51   0.01   0.10     0.09     0.07
    #>     3   0.47   0.03   0.09     0.07     0.04
    #>     4   0.53   0.03   0.09     0.05     0.05
    #>     5   0.35   0.03   0.07     0.05     0.04
# --8<-- [end:attention_summary]

# --8<-- [start:tiny_bert_setup]
import math

from transformers import BertConfig, BertForMaskedLM, pipeline

from ptm_snippets.encoders import mlm_loss, restrict_vocabulary
from ptm_snippets.tickets import load_tickets

train_texts = [t["text"] for t in load_tickets("train")]  # 1,300 messages, about 23,000 tokens
heldout = [t["text"] for t in load_tickets("test") if t["split"] == "familiar"]
small_tokenizer = restrict_vocabulary(tokenizer, train_texts)
print(len(small_tokenizer), "of", len(tokenizer), "pieces kept")
#> 1446 of 30522 pieces kept

torch.manual_seed(0)
tiny_config = BertConfig(
    vocab_size=len(small_tokenizer),
    hidden_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=256,
    max_position_embeddings=64,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
    initializer_range=0.05,
)
tiny = BertForMaskedLM(tiny_config).eval()
print(f"{count_parameters(tiny):,} parameters")
#> 476,966 parameters
fill = pipeline("fill-mask", model=tiny, tokenizer=small_tokenizer)
probes = [
    "I was [MASK] twice for my last order.",
    "I forgot my [MASK] and the reset link never comes.",
    "The app [MASK] every time I open the basket page.",
    "My [MASK] went to my old address.",
]
print("untrained (random weights):")
#> untrained (random weights):
for probe in probes:
    print(f"  {probe:52}", [guess["token_str"] for guess in fill(probe, top_k=3)])
    #>   I was [MASK] twice for my last order.                ['##;', 'came', '1855']
    #>   I forgot my [MASK] and the reset link never comes.   ['came', 'timer', 'mistake']
    #>   The app [MASK] every time I open the basket page.    ['##;', 'came', '1855']
    #>   My [MASK] went to my old address.                    ['##asi', '##38', '140']
before = mlm_loss(tiny, heldout, small_tokenizer, max_length=64)
print(f"held-out loss {before:.2f}; guessing uniformly gives log {len(small_tokenizer)} = {math.log(len(small_tokenizer)):.2f}")
#> held-out loss 7.40; guessing uniformly gives log 1446 = 7.28
# --8<-- [end:tiny_bert_setup]

# --8<-- [start:tiny_bert_train]
from collections import Counter

from ptm_snippets.encoders import train_mlm

losses = train_mlm(
    tiny,
    train_texts,
    small_tokenizer,
    steps=400,
    batch_size=32,
    lr=3e-3,
    mlm_probability=0.4,
    max_length=32,
    generator=torch.Generator().manual_seed(0),
)
print(f"training loss: first 20 steps {sum(losses[:20]) / 20:.2f}, last 20 steps {sum(losses[-20:]) / 20:.2f}")
#> training loss: first 20 steps 6.79, last 20 steps 3.27
after = mlm_loss(tiny, heldout, small_tokenizer, max_length=64)
print(f"held-out loss: {before:.2f} before, {after:.2f} after")
#> held-out loss: 7.40 before, 4.15 after

# A model that ignores context can at best predict each piece's training frequency.
counts = Counter(piece for text in train_texts for piece in small_tokenizer.tokenize(text))
total = sum(counts.values()) + len(small_tokenizer)  # add-one smoothing
pieces = [piece for text in heldout for piece in small_tokenizer.tokenize(text)]
unigram = sum(-math.log((counts[p] + 1) / total) for p in pieces) / len(pieces)
print(f"context-free baseline (piece frequencies): {unigram:.2f}")
#> context-free baseline (piece frequencies): 5.90

print("after 400 steps:")
#> after 400 steps:
for probe in probes:
    guesses = [f"{guess['token_str']} {guess['score']:.2f}" for guess in fill(probe, top_k=3)]
    print(f"  {probe:52}", guesses)
    #>   I was [MASK] twice for my last order.                ['charged 0.12', 'has 0.03', 'status 0.03']
    #>   I forgot my [MASK] and the reset link never comes.   ['password 0.12', 'old 0.05', 'account 0.04']
    #>   The app [MASK] every time I open the basket page.    ['freeze 0.11', '##s 0.05', 'a 0.04']
    #>   My [MASK] went to my old address.                    ['account 0.17', 'parcel 0.11', 'package 0.05']
# --8<-- [end:tiny_bert_train]

# --8<-- [start:pooling]
from ptm_snippets import mean_pool
from ptm_snippets.tickets import LABELS, load_tickets

tickets = load_tickets("test")  # 440 support messages, 4 labels
texts = [t["text"] for t in tickets]
labels = torch.tensor([LABELS.index(t["label"]) for t in tickets])


def encode(texts: list[str], batch_size: int = 32) -> dict[str, torch.Tensor]:
    """Three sentence vectors per text: [CLS], the masked mean, and the pooler's output."""
    found = {name: torch.zeros(len(texts), config.hidden_size) for name in ("cls", "mean", "pooler")}
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding per batch
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            inputs = tokenizer([texts[i] for i in rows], padding=True, truncation=True, return_tensors="pt")
            output = model(**inputs)
            found["cls"][rows] = output.last_hidden_state[:, 0]
            found["mean"][rows] = mean_pool(output.last_hidden_state, inputs["attention_mask"])
            found["pooler"][rows] = output.pooler_output
    return found


vectors = encode(texts)
same_label = labels[:, None] == labels[None, :]
not_self = ~torch.eye(len(texts), dtype=torch.bool)
print("pooling  nearest-neighbour label  mean cosine: same label  other label")
#> pooling  nearest-neighbour label  mean cosine: same label  other label
for name, v in vectors.items():
    unit = F.normalize(v, dim=-1)
    cosine = unit @ unit.T
    neighbour = cosine.masked_fill(~not_self, -2).argmax(1)
    accuracy = (labels[neighbour] == labels).float().mean()
    same, other = cosine[same_label & not_self].mean(), cosine[~same_label].mean()
    print(f"{name:7} {accuracy:18.3f} {same:24.3f} {other:12.3f}")
    #> cls                  0.823                    0.694        0.658
    #> mean                 0.920                    0.284        0.135
    #> pooler               0.820                    0.682        0.646
print("pooler bias is all zeros:", bool((model.pooler.dense.bias == 0).all()))
#> pooler bias is all zeros: True
# --8<-- [end:pooling]

# --8<-- [start:semantic_search]
corpus = F.normalize(vectors["mean"], dim=-1)
queries = {
    "I paid twice for the same order": "billing",
    "The courier left my box at the wrong house": "delivery",
    "I can't get into my account since I changed phones": "account",
    "The checkout page freezes when I press pay": "technical",
}
hits = 0
for query, expected in queries.items():
    query_vector = F.normalize(encode([query])["mean"], dim=-1)
    scores, found = (query_vector @ corpus.T)[0].topk(3)
    lines = [f"{query!r} (label: {expected})"]
    for score, index in zip(scores, found, strict=True):
        ticket = tickets[int(index)]
        hits += ticket["label"] == expected
        mark = "same label" if ticket["label"] == expected else ticket["label"]
        lines.append(f"  {score:.3f}  {mark:10}  {ticket['text'][:58].rstrip()}")
    print("\n".join(lines))
print(f"{hits} of {3 * len(queries)} hits share the query's label")
#> 'I paid twice for the same order' (label: billing)
#>   0.681  same label  I've been billed double for order #407107, please reimburs
#>   0.622  delivery    My last order got delayed for the third time.
#>   0.609  same label  I was charged for two subscriptions, I only have one.
#> 'The courier left my box at the wrong house' (label: delivery)
#>   0.756  same label  Courier left my package in the recycling bin.
#>   0.620  same label  The mailman put my shipment in the wrong letterbox on the
#>   0.598  same label  I typed the wrong house number for order ST-48187, can the
#> "I can't get into my account since I changed phones" (label: account)
#>   0.656  same label  I think someone hacked my account, my phone number was cha
#>   0.652  same label  I can't get into my account, it says my password is wrong
#>   0.628  same label  I've had a new mobile for a month and the authenticator ne
#> 'The checkout page freezes when I press pay' (label: technical)
#>   0.740  same label  App freezes on the payment screen every time.
#>   0.632  same label  The webpage hits a timeout before I can finish paying.
#>   0.606  same label  The payment page won't load in Chrome, I get a white scree
#> 11 of 12 hits share the query's label
# --8<-- [end:semantic_search]

# --8<-- [start:task_heads]
from transformers import (
    AutoConfig,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from ptm_snippets import parameters_from_config, published_config

BERT = "google-bert/bert-base-uncased"
bert_tokenizer = AutoTokenizer.from_pretrained(BERT)
inputs = bert_tokenizer(
    ["Where is my parcel?", "Where is my parcel?"],
    ["It left the warehouse on Monday.", "The courier could not find the house."],
    padding=True,
    return_tensors="pt",
)
print("input_ids", tuple(inputs["input_ids"].shape))
#> input_ids (2, 16)

fields = published_config(BERT)
bert_config = AutoConfig.for_model(fields.pop("model_type"), **fields)  # the real sizes
bare = parameters_from_config(bert_config)
heads = {
    "sequence classification": (AutoModelForSequenceClassification, {"num_labels": 4}),
    "token classification": (AutoModelForTokenClassification, {"num_labels": 9}),
    "question answering": (AutoModelForQuestionAnswering, {}),  # start and end of a span
}
table = [f"{'no head (BertModel)':24} {bare:>12,}"]
for task, (auto_class, options) in heads.items():
    with_head = auto_class.from_pretrained(BERT, **options)
    with torch.no_grad():
        output = with_head(**inputs)
    shapes = {key: tuple(value.shape) for key, value in output.items()}
    sized = parameters_from_config(AutoConfig.for_model("bert", **fields, **options), auto_class)
    table.append(f"{task:24} {sized:>12,} ({sized - bare:+,})  {shapes}")
print("\n".join(table))
#> no head (BertModel)       109,482,240
#> sequence classification   109,485,316 (+3,076)  {'logits': (2, 4)}
#> token classification      108,898,569 (-583,671)  {'logits': (2, 16, 9)}
#> question answering        108,893,186 (-589,054)  {'start_logits': (2, 16), 'end_logits': (2, 16)}
# --8<-- [end:task_heads]

# --8<-- [start:family_sizes]
family = [
    "google-bert/bert-base-uncased",
    "google-bert/bert-large-uncased",
    "distilbert/distilbert-base-uncased",
    "FacebookAI/roberta-base",
]
print(f"{'model':36} {'layers':>6} {'hidden':>6} {'vocab':>6} {'parameters':>11}")
#> model                                layers hidden  vocab  parameters
for repo_id in family:
    fields = published_config(repo_id)
    member = AutoConfig.for_model(fields.pop("model_type"), **fields)
    size = parameters_from_config(member) / 1e6
    print(f"{repo_id:36} {member.num_hidden_layers:6} {member.hidden_size:6} {member.vocab_size:6} {size:10.1f}M")
    #> google-bert/bert-base-uncased            12    768  30522      109.5M
    #> google-bert/bert-large-uncased           24   1024  30522      335.1M
    #> distilbert/distilbert-base-uncased        6    768  30522       66.4M
    #> FacebookAI/roberta-base                  12    768  50265      124.6M
print(f"{MINILM:36} {config.num_hidden_layers:6} {config.hidden_size:6} {config.vocab_size:6} {count_parameters(model) / 1e6:10.1f}M")
#> sentence-transformers/all-MiniLM-L6-v2      6    384  30522       22.7M
# --8<-- [end:family_sizes]


# --8<-- [start:exercise_solution]
def pieces_per_word(texts: list[str]) -> tuple[float, float, Counter[str]]:
    """WordPiece tokens per word, the share of words split, and the split words' counts."""
    words = tokens = 0
    split: Counter[str] = Counter()
    for text in texts:
        enc = tokenizer(text, add_special_tokens=False)
        per_word = Counter(enc.word_ids())
        words += len(per_word)
        tokens += sum(per_word.values())
        for word_id, count in per_word.items():
            if count > 1:
                span = enc.word_to_chars(word_id)
                split[text[span.start : span.end].lower()] += 1
    return tokens / words, sum(split.values()) / words, split


report = []
for part in ("familiar", "novel"):
    ratio, share, split = pieces_per_word([t["text"] for t in tickets if t["split"] == part])
    common = [word for word, _ in split.most_common(5)]
    report += [f"{part:8} {ratio:.3f} pieces per word, {share:.3f} of words split", f"  most often split: {common}"]
print("\n".join(report))
#> familiar 1.056 pieces per word, 0.043 of words split
#>   most often split: ['refund', 'invoice', 'login', 'checkout', 'postcode']
#> novel    1.105 pieces per word, 0.071 of words split
#>   most often split: ['passcode', 'authenticator', 'reimbursement', 'glitch', 'carton']
# --8<-- [end:exercise_solution]

# --8<-- [start:exercise_mask_solution]
short = "Refund please."
padded = tokenizer([short, "My parcel went to my old address even though I updated it."], padding=True, return_tensors="pt")
with torch.no_grad():
    alone = model(**tokenizer(short, return_tensors="pt")).last_hidden_state.mean(1)[0]
    states = model(**padded).last_hidden_state
naive = states[0].mean(0)  # averages the [PAD] positions in too
masked = mean_pool(states, padded["attention_mask"])[0]
print(f"padding tokens in the short row: {int((padded['attention_mask'][0] == 0).sum())}")
#> padding tokens in the short row: 9
print(f"cosine to the unpadded vector: naive mean {F.cosine_similarity(alone, naive, dim=0):.3f}, masked mean {F.cosine_similarity(alone, masked, dim=0):.3f}")
#> cosine to the unpadded vector: naive mean 0.688, masked mean 1.000
# --8<-- [end:exercise_mask_solution]
