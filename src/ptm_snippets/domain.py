"""Domain adaptation helpers: a domain corpus Python ships with, tokenizer fertility, new tokens.

* :func:`python_documents`: Python's own documentation as documents, from two sources every
  interpreter ships: the language-reference topics behind ``help()`` (``pydoc_data.topics``)
  and the docstrings of standard-library modules (``inspect.getdoc``).
* :func:`split_documents`: a held-out split by *document*, never by sentence, so no held-out
  text shares a page with training text.
* :func:`chunk_words`: pack paragraphs into chunks of at most a given number of words, the unit
  a short-context model trains on.
* :func:`docstring_task`: a labelled task built from docstrings: which family of modules (file
  system, data formats, networking, text processing) a docstring's summary comes from.
* :func:`fertility`: tokens per word, the standard measure of how well a tokenizer fits a text.
* :func:`frequent_split_words`: the domain words that cost a tokenizer the most extra tokens.
* :func:`fit_mlm_head`: train only a masked-LM head on a frozen encoder, for a checkpoint (such
  as all-MiniLM-L6-v2) published without one; score it with
  :func:`ptm_snippets.encoders.masked_token_losses`.
* :func:`add_domain_tokens`: add whole words to a tokenizer, resize the model's embeddings and
  initialise the new rows (randomly, as the mean of all rows, or as the mean of each word's old
  pieces).

The documents depend on the Python version and the platform (``os`` documents ``posix`` on Linux
and macOS, ``nt`` on Windows), so counts and measurements differ slightly between interpreters.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "DOMAIN_MODULES",
    "INITS",
    "TASK_FAMILIES",
    "TASK_LABELS",
    "Document",
    "add_domain_tokens",
    "chunk_words",
    "docstring_task",
    "fertility",
    "fit_mlm_head",
    "frequent_split_words",
    "python_documents",
    "split_documents",
]

DOMAIN_MODULES: tuple[str, ...] = (
    "abc", "argparse", "array", "ast", "asyncio", "bisect", "builtins", "calendar", "cmath",
    "code", "collections", "concurrent.futures", "contextlib", "contextvars", "copy", "cProfile",
    "dataclasses", "datetime", "decimal", "dis", "doctest", "enum", "faulthandler", "fractions",
    "functools", "gc", "graphlib", "gzip", "hashlib", "heapq", "hmac", "importlib", "inspect",
    "io", "itertools", "logging", "math", "multiprocessing", "numbers", "operator", "pdb",
    "pkgutil", "pprint", "pstats", "queue", "random", "reprlib", "sched", "secrets", "selectors",
    "shelve", "shlex", "signal", "sqlite3", "statistics", "struct", "subprocess", "sys",
    "tarfile", "threading", "time", "timeit", "tokenize", "trace", "traceback", "tracemalloc",
    "types", "unittest", "uuid", "warnings", "weakref", "zipfile", "zlib",
)  # fmt: skip
"""Standard-library modules whose docstrings form the domain corpus (none of them is a task module)."""

TASK_FAMILIES: dict[str, tuple[str, ...]] = {
    "files": ("os", "pathlib", "shutil", "glob", "fnmatch", "tempfile", "filecmp"),
    "formats": (
        "json", "csv", "xml.etree.ElementTree", "xml.dom.minidom", "pickle", "configparser",
        "plistlib", "base64",
    ),
    "network": (
        "socket", "ssl", "http.client", "http.server", "http.cookies", "urllib.request",
        "urllib.parse", "smtplib", "ftplib", "ipaddress",
    ),
    "text": ("re", "string", "textwrap", "difflib", "unicodedata", "locale", "codecs"),
}  # fmt: skip
"""The four labels of :func:`docstring_task` and the modules whose docstrings carry each."""

TASK_LABELS: tuple[str, ...] = tuple(TASK_FAMILIES)
"""The labels of :func:`docstring_task`, in label-id order."""

INITS: tuple[str, ...] = ("mean", "vocab", "random")
"""How :func:`add_domain_tokens` can initialise new embedding rows."""

_WORD = re.compile(r"\w+|[^\w\s]")
_ALPHA = re.compile(r"[A-Za-z]+")
_SIGNATURE = re.compile(r"^[\w.]+\(.*\)(\s*->.*)?$", re.DOTALL)


@dataclass(frozen=True)
class Document:
    """One document of Python's documentation.

    Attributes:
        name: What it documents: ``"topic:for"`` or a dotted name such as ``"json.dumps"``.
        group: The unit a held-out split keeps together: the topic, or the whole module.
        text: The documentation text (paragraphs separated by blank lines).
    """

    name: str
    group: str
    text: str


_COLLECT = r"""
import importlib, inspect, json, sys, warnings

warnings.simplefilter("ignore")  # importing some modules warns; that is not what is read here


def defined_here(obj, module):
    home = getattr(obj, "__module__", None)
    if not isinstance(home, str):
        return False
    if home == module or home.startswith(module + "."):
        return True  # defined in the module or in one of its submodules
    return home in ("posix", "nt") or any(p.startswith("_") for p in home.split("."))  # C helpers


def object_docs(module):
    mod = importlib.import_module(module)
    found = []
    doc = inspect.getdoc(mod)
    if doc:
        found.append((module, doc))
    for name in sorted(dir(mod)):  # dir() also lists names a module loads lazily
        obj = getattr(mod, name, None)
        if name.startswith("_") or not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue
        if not defined_here(obj, module):
            continue
        doc = inspect.getdoc(obj)
        if doc:
            found.append((f"{module}.{name}", doc))
        if inspect.isclass(obj):
            for member_name, member in sorted(vars(obj).items()):
                if member_name.startswith("_") or not callable(member):
                    continue
                member_doc = inspect.getdoc(member)
                if member_doc:
                    found.append((f"{module}.{name}.{member_name}", member_doc))
    return found


out = {}
for module in json.loads(sys.argv[1]):
    try:
        out[module] = object_docs(module)
    except ImportError as error:
        out[module] = str(error)
print(json.dumps(out))
"""

_DOCS_CACHE: dict[tuple[str, ...], dict[str, Any]] = {}


def _object_docs(modules: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """``(name, docstring)`` of each module and of its public functions, classes and methods.

    The docstrings are read in a fresh interpreter (``python -I``), so nothing the calling
    program has imported or patched can change them. In-process they would: importing torch
    replaces ``inspect.getfile``, importing transformers adds ``warning_once`` to
    ``logging.Logger``, and pytest-socket replaces ``socket.socket`` during tests.
    """
    key = tuple(modules)
    if key not in _DOCS_CACHE:
        done = subprocess.run(
            [sys.executable, "-I", "-c", _COLLECT, json.dumps(list(key))],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"reading docstrings in a fresh interpreter failed:\n{done.stderr}")
        _DOCS_CACHE[key] = json.loads(done.stdout)
    found: dict[str, list[tuple[str, str]]] = {}
    for module, docs in _DOCS_CACHE[key].items():
        if isinstance(docs, str):
            raise ValueError(f"modules names {module!r}, which cannot be imported: {docs}")
        found[module] = [(name, doc) for name, doc in docs]
    return found


def python_documents(
    modules: Iterable[str] = DOMAIN_MODULES, *, topics: bool = True
) -> list[Document]:
    """Python's documentation as documents: ``help()`` topics and module docstrings.

    Each language-reference topic of ``pydoc_data.topics`` (the text ``help("for")`` shows) is a
    document in a group of its own. Each documented public function or class of a module, with
    the docstrings of its methods, is a document whose group is the module, so that a held-out
    split keeps whole modules out of training. A docstring met before (an inherited or re-exported
    one) is not repeated. The docstrings are read in a fresh interpreter, so that what the calling
    program has imported or patched (torch, transformers, a test runner) cannot change the corpus.

    Args:
        modules: Importable module names whose docstrings to read.
        topics: Also include the language-reference topics.

    Returns:
        The documents, topics first, then modules in the order given.

    Raises:
        ValueError: If ``modules`` is a single string or names a module that cannot be imported.

    Examples:
        >>> docs = python_documents(["json"], topics=False)
        >>> docs[0].name, docs[0].group, docs[0].text.split(".")[0]
        ('json', 'json', 'JSON (JavaScript Object Notation) <https://json')
        >>> sorted({d.group for d in python_documents([], topics=True)})[:2]
        ['topic:assert', 'topic:assignment']
    """
    if isinstance(modules, str):
        raise ValueError(f"modules must be a sequence of module names, not one string: {modules!r}")
    documents: list[Document] = []
    if topics:
        from pydoc_data.topics import topics as pydoc_topics

        for name, text in sorted(pydoc_topics.items()):
            documents.append(Document(f"topic:{name}", f"topic:{name}", text.strip()))
    seen: set[str] = set()
    modules = list(modules)
    docs_of = _object_docs(modules) if modules else {}
    for module in modules:
        found = docs_of[module]
        by_object: dict[str, list[str]] = {}
        for name, doc in found:
            if doc in seen:
                continue
            seen.add(doc)
            top = ".".join(name.split(".")[: len(module.split(".")) + 1])
            by_object.setdefault(top, []).append(doc)
        for top, docs in by_object.items():
            documents.append(Document(top, module, "\n\n".join(docs)))
    return documents


def _bucket(key: str, seed: int) -> float:
    """A stable number in [0, 1) for ``key``: the same on every machine and Python version."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_documents(
    documents: Sequence[Document], *, heldout_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Document], list[Document]]:
    """Split documents into training and held-out parts by group, never inside a group.

    A group goes to the held-out part when a hash of its name and ``seed`` falls below
    ``heldout_fraction``, so the split is stable across runs, machines and Python versions, and a
    group's documents stay together.

    Args:
        documents: The documents to split.
        heldout_fraction: The expected share of groups held out, in ``(0, 1)``.
        seed: Changes which groups are held out.

    Returns:
        ``(train, heldout)``, each in the original order.

    Raises:
        ValueError: If ``heldout_fraction`` is outside ``(0, 1)`` or ``documents`` is empty.

    Examples:
        >>> docs = [Document(f"m{i}.f", f"m{i}", "text") for i in range(10)]
        >>> train, heldout = split_documents(docs, heldout_fraction=0.3)
        >>> len(train) + len(heldout), {d.group for d in train} & {d.group for d in heldout}
        (10, set())
    """
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in (0, 1), got {heldout_fraction}")
    if not documents:
        raise ValueError("documents must hold at least one Document, got none")
    train: list[Document] = []
    heldout: list[Document] = []
    for document in documents:
        (heldout if _bucket(document.group, seed) < heldout_fraction else train).append(document)
    return train, heldout


def chunk_words(texts: Iterable[str], *, max_words: int = 32) -> list[str]:
    r"""Pack each text's paragraphs into chunks of at most ``max_words`` whitespace-separated words.

    Whitespace inside a paragraph is collapsed. Consecutive paragraphs of one text share a chunk
    while they fit; a paragraph longer than ``max_words`` is cut into pieces of ``max_words``.
    Chunks never span two texts.

    Args:
        texts: Texts whose paragraphs are separated by blank lines.
        max_words: The most words in a chunk, at least 1.

    Returns:
        The chunks, in order.

    Raises:
        ValueError: If ``max_words`` is below 1 or ``texts`` is a single string.

    Examples:
        >>> chunk_words(["one two three\n\nfour five", "six seven eight nine"], max_words=3)
        ['one two three', 'four five', 'six seven eight', 'nine']
    """
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, not one string")
    if not isinstance(max_words, int) or max_words < 1:
        raise ValueError(f"max_words must be an int of at least 1, got {max_words!r}")
    chunks: list[str] = []
    for text in texts:
        current: list[str] = []
        for paragraph in re.split(r"\n\s*\n", text):
            words = paragraph.split()
            if current and len(current) + len(words) > max_words:
                chunks.append(" ".join(current))
                current = []
            while len(words) > max_words:
                chunks.append(" ".join(words[:max_words]))
                words = words[max_words:]
            current += words
            if len(current) >= max_words:
                chunks.append(" ".join(current))
                current = []
        if current:
            chunks.append(" ".join(current))
    return chunks


def _summary(doc: str) -> str:
    """The first paragraph of a docstring that is not a bare call signature, on one line."""
    for paragraph in re.split(r"\n\s*\n", doc):
        line = " ".join(paragraph.split())
        if line and not _SIGNATURE.match(line):
            return line
    return ""


def docstring_task(
    split: str, *, test_fraction: float = 0.5, min_words: int = 4, seed: int = 0
) -> list[dict[str, str]]:
    """A labelled domain task: which module family a docstring's summary comes from.

    Every documented public function, class and method of the modules in
    :data:`TASK_FAMILIES` gives one example: the first paragraph of its docstring (skipping a
    bare signature line), labelled with its family. Summaries shorter than ``min_words`` words
    are dropped, and so is any text that occurs under two labels; a text repeated within a label
    is kept once. Examples are split by *top-level object*: a class and all its methods fall on
    the same side, so the test set never holds a sibling of a training example's method. None of
    these modules is in :data:`DOMAIN_MODULES`, so continued pre-training on the domain corpus
    never sees the task's text.

    Args:
        split: ``"train"`` or ``"test"``.
        test_fraction: The expected share of top-level objects in the test split, in ``(0, 1)``.
        min_words: Shortest summary kept, at least 1.
        seed: Changes which objects are held out.

    Returns:
        Rows with ``text``, ``label`` (one of :data:`TASK_LABELS`) and ``name`` (the dotted
        name documented), in a stable order.

    Raises:
        ValueError: If ``split`` is not ``"train"`` or ``"test"``, or a number is out of range.

    Examples:
        >>> train, test = docstring_task("train"), docstring_task("test")
        >>> sorted({row["label"] for row in train}) == sorted(TASK_LABELS)
        True
        >>> {r["text"] for r in train} & {r["text"] for r in test}
        set()
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if not isinstance(min_words, int) or min_words < 1:
        raise ValueError(f"min_words must be an int of at least 1, got {min_words!r}")
    rows: list[dict[str, str]] = []
    labels_of: dict[str, set[str]] = {}
    docs_of = _object_docs([m for modules in TASK_FAMILIES.values() for m in modules])
    for label, modules in TASK_FAMILIES.items():
        for module in modules:
            for name, doc in docs_of[module]:
                text = _summary(doc)
                if len(text.split()) < min_words:
                    continue
                labels_of.setdefault(text, set()).add(label)
                top = ".".join(name.split(".")[: len(module.split(".")) + 1])
                rows.append({"text": text, "label": label, "name": name, "group": top})
    kept: list[dict[str, str]] = []
    seen: set[str] = set()
    for row in rows:
        if len(labels_of[row["text"]]) > 1 or row["text"] in seen:
            continue
        seen.add(row["text"])
        held_out = _bucket(row.pop("group"), seed) < test_fraction
        if held_out == (split == "test"):
            kept.append(row)
    return kept


def _check_texts(texts: Sequence[str]) -> None:
    if isinstance(texts, str) or not texts:
        raise ValueError("texts must be a non-empty sequence of strings (not one string)")


def fertility(tokenizer: Any, texts: Sequence[str]) -> float:
    """Tokens per word: how many tokens ``tokenizer`` spends on an average word of ``texts``.

    Words are counted the same way for every tokenizer, so fertilities compare across them: a
    word is a run of letters, digits and underscores, or a single punctuation mark (punctuation
    counts as a word of its own, as in most treebanks). Tokens are the tokenizer's output without
    special tokens such as ``[CLS]``. A fertility of 1 means every word is one token; more means
    words are cut into pieces. It is the measure of Rust et al. (2021, "How Good is Your
    Tokenizer?").

    Args:
        tokenizer: A ``transformers`` tokenizer.
        texts: The texts to measure (at least one word in all).

    Returns:
        Total tokens divided by total words.

    Raises:
        ValueError: If ``texts`` is empty, a single string, or holds no word.

    Examples:
        >>> from transformers import AutoTokenizer
        >>> tok = AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
        >>> tok.tokenize("My parcel is late."), fertility(tok, ["My parcel is late."])
        (['my', 'parcel', 'is', 'late', '.'], 1.0)
        >>> tok.tokenize("Use kwargs."), round(fertility(tok, ["Use kwargs."]), 2)
        (['use', 'kw', '##ar', '##gs', '.'], 1.67)
    """
    _check_texts(texts)
    words = sum(len(_WORD.findall(text)) for text in texts)
    if words == 0:
        raise ValueError("texts must hold at least one word; all of them are empty or blank")
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return sum(len(ids) for ids in encoded) / words


def frequent_split_words(
    tokenizer: Any,
    texts: Sequence[str],
    *,
    top_k: int = 50,
    min_pieces: int = 2,
    min_length: int = 4,
) -> list[tuple[str, int, int]]:
    """The words of ``texts`` that cost ``tokenizer`` the most extra tokens.

    Words are runs of ASCII letters of at least ``min_length`` characters, lower-cased when the
    tokenizer lower-cases, and are tokenised after a space, as they appear inside a sentence. A
    word that the tokenizer cuts into ``p >= min_pieces`` pieces and that
    occurs ``n`` times costs ``n * (p - 1)`` tokens more than a single token would; the words are
    ranked by that saving, the number a new vocabulary entry would save on ``texts``.

    Args:
        tokenizer: A ``transformers`` tokenizer.
        texts: The domain texts.
        top_k: How many words to return, at least 1.
        min_pieces: Only words cut into at least this many pieces, at least 2.
        min_length: Only words of at least this many letters, at least 1.

    Returns:
        ``(word, count, pieces)`` for the ``top_k`` words with the largest saving, largest first
        (ties broken alphabetically).

    Raises:
        ValueError: If ``texts`` is empty or a number is out of range.

    Examples:
        >>> from transformers import AutoTokenizer
        >>> tok = AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
        >>> text = "Pass kwargs; kwargs is a dict of keyword arguments."
        >>> frequent_split_words(tok, [text])  # (word, count, pieces); kwargs saves 2 x 2 tokens
        [('kwargs', 2, 3), ('dict', 1, 2), ('keyword', 1, 2)]
    """
    _check_texts(texts)
    for name, value, low in (
        ("top_k", top_k, 1),
        ("min_pieces", min_pieces, 2),
        ("min_length", min_length, 1),
    ):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int of at least {low}, got {value!r}")
    lower = bool(getattr(tokenizer, "do_lower_case", False))
    counts: Counter[str] = Counter()
    for text in texts:
        for word in _ALPHA.findall(text):
            if len(word) >= min_length:
                counts[word.lower() if lower else word] += 1
    scored: list[tuple[int, str, int, int]] = []
    for word, count in counts.items():
        # After a space, as in running text: byte-level BPE cuts "returned" and " returned"
        # differently; WordPiece and SentencePiece ignore the space.
        pieces = len(tokenizer(" " + word, add_special_tokens=False)["input_ids"])
        if pieces >= min_pieces:
            scored.append((count * (pieces - 1), word, count, pieces))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [(word, count, pieces) for _, word, count, pieces in scored[:top_k]]


def _new_row(old: torch.Tensor, ids: list[int], init: str, std: float) -> torch.Tensor:
    if init == "mean":
        return old[ids].mean(0)
    if init == "vocab":
        return old.mean(0)
    return torch.randn(old.shape[1]) * std


def add_domain_tokens(
    model: torch.nn.Module, tokenizer: Any, words: Sequence[str], *, init: str = "mean"
) -> list[int]:
    """Add whole words to ``tokenizer``, resize ``model``'s embeddings and initialise the new rows.

    Each word becomes an added token that matches only as a whole word (``single_word=True``),
    so ``"iterables"`` is not cut into ``"iterable"`` + ``"s"``; it is matched after the
    tokenizer's normalisation, so an uncased tokenizer also matches ``"Iterable"``. The
    embedding matrix gets one row per new token, and so does a masked-LM or causal-LM output
    layer (tied or not) with its bias. The new rows are set by ``init``:

    * ``"mean"``: the mean of the rows of the pieces the word used to be cut into (for the output
      layer, the mean of those pieces' output rows and biases). The model then reads the new
      token roughly as it read the pieces.
    * ``"vocab"``: every new row is the mean of all old rows, and every new bias the mean of the
      old biases. For the embedding rows this is what ``resize_token_embeddings`` does by default
      in ``transformers`` 5 (``mean_resizing=True`` samples around that mean with a spread of
      1e-9 times the old covariance); for a tied masked-LM head it leaves the new biases at 0.
    * ``"random"``: a fresh layer's initialisation, normal with standard deviation
      ``config.initializer_range`` (the global torch generator draws it), zero bias.

    Args:
        model: A ``transformers`` model whose embedding rows match ``len(tokenizer)``.
        tokenizer: Its tokenizer; changed in place.
        words: The new tokens: distinct strings without whitespace that are not already single
            tokens.
        init: One of :data:`INITS`.

    Returns:
        The ids of the new tokens, in the order of ``words``.

    Raises:
        ValueError: If ``init`` is unknown, ``words`` is empty, a single string, repeats a word,
            holds whitespace or a word that is already one token, or the model's vocabulary
            does not match the tokenizer's.

    Examples:
        >>> from transformers import AutoModelForMaskedLM, AutoTokenizer
        >>> repo = "sentence-transformers/all-MiniLM-L6-v2"
        >>> tok = AutoTokenizer.from_pretrained(repo)
        >>> model = AutoModelForMaskedLM.from_pretrained(repo)
        >>> tok.tokenize("Iterables and kwargs")
        ['it', '##era', '##bles', 'and', 'kw', '##ar', '##gs']
        >>> add_domain_tokens(model, tok, ["kwargs", "iterables"], init="mean")
        [30522, 30523]
        >>> tok.tokenize("Iterables and kwargs"), model.get_input_embeddings().weight.shape[0]
        (['iterables', 'and', 'kwargs'], 30524)
        >>> pieces = tok.convert_tokens_to_ids(["kw", "##ar", "##gs"])
        >>> rows = model.get_input_embeddings().weight
        >>> torch.allclose(rows[30522], rows[pieces].mean(0))
        True
    """
    from transformers import AddedToken

    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if isinstance(words, str) or not words:
        raise ValueError("words must be a non-empty sequence of strings (not one string)")
    if len(set(words)) != len(words):
        raise ValueError("words must not repeat a word")
    for word in words:
        if not isinstance(word, str) or not word or any(c.isspace() for c in word):
            raise ValueError(f"words must be non-empty strings without whitespace, got {word!r}")
    embeddings = model.get_input_embeddings()  # type: ignore[operator]
    old_size = int(embeddings.weight.shape[0])
    if old_size != len(tokenizer):
        raise ValueError(
            f"model has {old_size} embedding rows but tokenizer has {len(tokenizer)} tokens; "
            "they must match before new tokens are added"
        )
    pieces: list[list[int]] = []
    for word in words:
        ids = list(tokenizer(word, add_special_tokens=False)["input_ids"])
        if len(ids) == 1:
            raise ValueError(f"words holds {word!r}, which is already a single token")
        pieces.append(ids)
    added = tokenizer.add_tokens([AddedToken(w, single_word=True, normalized=True) for w in words])
    if added != len(words):
        raise ValueError(f"the tokenizer accepted {added} of {len(words)} words")
    new_ids = [int(i) for i in tokenizer.convert_tokens_to_ids(list(words))]
    output = model.get_output_embeddings()  # type: ignore[operator]
    old_out = output.weight.detach().clone() if output is not None else None
    old_in = embeddings.weight.detach().clone()
    old_bias = (
        output.bias.detach().clone()
        if output is not None and getattr(output, "bias", None) is not None
        else None
    )
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)  # type: ignore[operator]
    std = float(getattr(model.config, "initializer_range", 0.02))
    with torch.no_grad():
        rows = model.get_input_embeddings().weight  # type: ignore[operator]
        output = model.get_output_embeddings()  # type: ignore[operator]
        tied = output is not None and output.weight is rows
        bias = getattr(output, "bias", None) if output is not None else None
        for new_id, ids in zip(new_ids, pieces, strict=True):
            rows[new_id] = _new_row(old_in, ids, init, std)
            if output is not None and not tied and old_out is not None:
                output.weight[new_id] = _new_row(old_out, ids, init, std)
            if bias is not None and old_bias is not None:
                bias[new_id] = (
                    0.0
                    if init == "random"
                    else old_bias[ids if init == "mean" else slice(None)].mean()
                )
    return new_ids


def _head_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The MLM head's own parameters: everything in ``model.cls`` except a tied decoder weight."""
    tied = model.get_input_embeddings().weight  # type: ignore[operator]
    return [p for p in model.cls.parameters() if p is not tied]  # type: ignore[union-attr]


def fit_mlm_head(
    model: torch.nn.Module,
    texts: Sequence[str],
    tokenizer: Any,
    *,
    steps: int,
    positions_per_step: int = 256,
    lr: float = 5e-3,
    mlm_probability: float = 0.4,
    max_length: int = 48,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Train a ``BertForMaskedLM``'s prediction head on a frozen encoder; return the step losses.

    Some encoders are published without their masked-LM head (all-MiniLM-L6-v2 is one: loading
    it into ``AutoModelForMaskedLM`` creates the head's dense layer, LayerNorm and output bias
    from scratch, while the output matrix is tied to the real input embeddings). This fits those
    new parameters and nothing else. Because the encoder is frozen and the masks are drawn once,
    its output at every masked position is computed a single time and cached; each step then
    costs only the head. The encoder's ``requires_grad`` flags are restored afterwards and the
    model is left in ``eval`` mode.

    Args:
        model: A ``BertForMaskedLM`` (it has ``.bert`` and ``.cls``).
        texts: Training texts (at least one).
        tokenizer: The model's tokenizer; needs a mask token.
        steps: Optimizer steps, at least 1.
        positions_per_step: Masked positions per step, at least 1.
        lr: AdamW learning rate (constant, no weight decay), in ``(0, 1]``.
        mlm_probability: Chance that an ordinary token is masked, in ``(0, 1]``.
        max_length: Longest tokenised text, at least 2.
        generator: Source of randomness for the masks and the batch order.

    Returns:
        The training loss of every step.

    Raises:
        ValueError: If ``model`` has no ``bert`` and ``cls`` parts or an argument is out of range.

    Examples:
        >>> from transformers import AutoModelForMaskedLM, AutoTokenizer
        >>> repo = "sentence-transformers/all-MiniLM-L6-v2"
        >>> tok = AutoTokenizer.from_pretrained(repo)
        >>> _ = torch.manual_seed(0)
        >>> model = AutoModelForMaskedLM.from_pretrained(repo)
        >>> texts = ["The for statement iterates over the items of a sequence."] * 16
        >>> losses = fit_mlm_head(model, texts, tok, steps=10, positions_per_step=32,
        ...                       generator=torch.Generator().manual_seed(0))
        >>> len(losses), losses[-1] < losses[0]
        (10, True)
    """
    from ptm_snippets.pretraining import IGNORE_INDEX, mask_tokens

    if not (hasattr(model, "bert") and hasattr(model, "cls")):
        raise ValueError("model must be a BertForMaskedLM (with .bert and .cls parts)")
    _check_texts(texts)
    for name, value in (("steps", steps), ("positions_per_step", positions_per_step)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int of at least 1, got {value!r}")
    if not 0.0 < lr <= 1.0:
        raise ValueError(f"lr must be in (0, 1], got {lr}")
    if not 0.0 < mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability must be in (0, 1], got {mlm_probability}")
    if not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length must be an int of at least 2, got {max_length!r}")
    if getattr(tokenizer, "mask_token_id", None) is None:
        raise ValueError("tokenizer must have a mask token (mask_token_id is None)")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding per batch
    states: list[torch.Tensor] = []
    targets: list[torch.Tensor] = []
    with torch.no_grad():
        for start in range(0, len(order), 64):
            batch = tokenizer(
                [texts[i] for i in order[start : start + 64]],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            masked = mask_tokens(
                batch["input_ids"],
                mask_token_id=int(tokenizer.mask_token_id),
                vocab_size=len(tokenizer),
                special_ids=tokenizer.all_special_ids,
                mlm_probability=mlm_probability,
                generator=generator,
            )
            chosen = masked.labels != IGNORE_INDEX
            hidden = model.bert(  # type: ignore[operator]
                input_ids=masked.input_ids, attention_mask=batch["attention_mask"]
            ).last_hidden_state
            states.append(hidden[chosen])
            targets.append(masked.labels[chosen])
    cached, labels = torch.cat(states), torch.cat(targets)
    if len(labels) == 0:
        raise ValueError("no position was masked; pass more texts or a larger mlm_probability")
    head = _head_parameters(model)
    flags = {id(p): p.requires_grad for p in model.parameters()}
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for parameter in head:
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(head, lr=lr, weight_decay=0.0)
    losses: list[float] = []
    queue: list[int] = []
    model.cls.train()  # type: ignore[union-attr]
    try:
        for _ in range(steps):
            while len(queue) < positions_per_step:
                queue += torch.randperm(len(labels), generator=generator).tolist()
            picked = torch.tensor(queue[:positions_per_step])
            del queue[:positions_per_step]
            logits = model.cls(cached[picked])  # type: ignore[operator]
            loss = torch.nn.functional.cross_entropy(logits, labels[picked])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            losses.append(float(loss.detach()))
    finally:
        for parameter in model.parameters():
            parameter.requires_grad_(flags[id(parameter)])
        model.eval()
    return losses
