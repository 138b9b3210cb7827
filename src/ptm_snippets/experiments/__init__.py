"""Experiments behind the lessons' figures: a small runner and the experiments it knows.

Run them with ``python -m ptm_snippets.experiments [NAME ...] [--fast] [--out DIR]``; each
writes ``<DIR>/<name>.json`` (rows, summary, stamp) and ``<DIR>/<name>.svg``. Pages read the
numbers back with :func:`load_results`.

Examples:
    >>> from ptm_snippets.experiments import known_experiments
    >>> known_experiments()
    ['attention_maps', 'compression', 'data_efficiency', 'distributed_cpu', 'domain_adaptation', 'finetuning_strategies', 'model_latency', 'peft_causal_lm', 'peft_methods', 'serving_benchmark', 'small_test_sets']
"""

from __future__ import annotations

from ptm_snippets.experiments import (
    attention_maps,
    compression,
    data_efficiency,
    distributed_cpu,
    domain_adaptation,
    finetuning_strategies,
    model_latency,
    peft_causal_lm,
    peft_methods,
    serving_benchmark,
    small_test_sets,
)
from ptm_snippets.experiments.runner import (
    DEFAULT_OUT_DIR,
    Experiment,
    ExperimentConfig,
    Progress,
    cpu_model,
    get_experiment,
    known_experiments,
    load_results,
    main,
    register,
    run_experiment,
    unregister,
)

__all__ = [
    "DEFAULT_OUT_DIR",
    "Experiment",
    "ExperimentConfig",
    "Progress",
    "attention_maps",
    "compression",
    "cpu_model",
    "data_efficiency",
    "distributed_cpu",
    "domain_adaptation",
    "finetuning_strategies",
    "get_experiment",
    "known_experiments",
    "load_results",
    "main",
    "model_latency",
    "peft_causal_lm",
    "peft_methods",
    "register",
    "run_experiment",
    "serving_benchmark",
    "small_test_sets",
    "unregister",
]
