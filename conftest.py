"""Test-session set-up, loaded before anything imports transformers.

huggingface_hub reads HF_HUB_OFFLINE and HF_HOME when it is first imported, so they are set
here, at the top of the first file pytest loads. Tests use the mirror's test cache: real
weights plus tiny stand-ins (see ptm_snippets.hub).
"""

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
# The project's own mirror (what `make mirror` fills), unless the caller points elsewhere.
os.environ.setdefault("PTM_MIRROR_DIR", str(Path(__file__).resolve().parent / ".mirror"))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["TRANSFORMERS_VERBOSITY"] = "error"  # load reports of new task heads are expected
os.environ["MPLBACKEND"] = "Agg"
os.environ["NO_MKDOCS_2_WARNING"] = "1"

from ptm_snippets.hub import MirrorError, model_path, test_hf_home

os.environ["HF_HOME"] = str(test_hf_home())
os.environ.pop("HF_HUB_CACHE", None)

# Pages that the harness tests build on purpose to show that it fails.
collect_ignore = ["tests/fixtures", "site", ".mirror", ".venv"]


def pytest_configure(config: pytest.Config) -> None:
    try:
        for repo_id in ("sentence-transformers/all-MiniLM-L6-v2", "google-bert/bert-base-uncased"):
            model_path(repo_id, test_hf_home())
    except MirrorError as err:
        pytest.exit(f"the offline model mirror is not ready: {err} (or run `make mirror`)", 2)
