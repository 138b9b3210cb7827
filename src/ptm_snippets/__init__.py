"""Helpers the Pre-trained Models lessons teach and use.

Everything a lesson or a reader imports is listed in ``__all__``. The offline model mirror
(:mod:`ptm_snippets.hub`) has a command line: ``python -m ptm_snippets install``.
"""

from ptm_snippets.decoding import (
    apply_temperature,
    candidates,
    repetition_penalty,
    top_k_filter,
    top_p_filter,
)
from ptm_snippets.encoders import masked_token_losses, mlm_loss, restrict_vocabulary, train_mlm
from ptm_snippets.evaluation import (
    EvaluationReport,
    bootstrap_ci,
    evaluate_classifier,
    evaluate_model,
    mcnemar_test,
    paired_bootstrap,
)
from ptm_snippets.finetuning import (
    FineTuneConfig,
    FineTuneResult,
    TextClassificationDataset,
    encode_dataset,
    evaluate,
    fine_tune,
    freeze,
    layer_groups,
    layerwise_lr_groups,
    pad_batch,
    predict,
    shard_indices,
)
from ptm_snippets.hub import (
    MirrorError,
    install,
    model_path,
    published_config,
    reader_hf_home,
    test_hf_home,
)
from ptm_snippets.inspector import ModelReport, format_bytes, format_reports, inspect_config
from ptm_snippets.pretraining import (
    IGNORE_INDEX,
    MaskedBatch,
    SpanCorruption,
    count_parameters,
    mask_tokens,
    mean_pool,
    parameters_from_config,
    span_corruption,
)

__all__ = [
    "IGNORE_INDEX",
    "EvaluationReport",
    "FineTuneConfig",
    "FineTuneResult",
    "MaskedBatch",
    "MirrorError",
    "ModelReport",
    "SpanCorruption",
    "TextClassificationDataset",
    "apply_temperature",
    "bootstrap_ci",
    "candidates",
    "count_parameters",
    "encode_dataset",
    "evaluate",
    "evaluate_classifier",
    "evaluate_model",
    "fine_tune",
    "format_bytes",
    "format_reports",
    "freeze",
    "inspect_config",
    "install",
    "layer_groups",
    "layerwise_lr_groups",
    "mask_tokens",
    "masked_token_losses",
    "mcnemar_test",
    "mean_pool",
    "mlm_loss",
    "model_path",
    "pad_batch",
    "paired_bootstrap",
    "parameters_from_config",
    "predict",
    "published_config",
    "reader_hf_home",
    "repetition_penalty",
    "restrict_vocabulary",
    "shard_indices",
    "span_corruption",
    "test_hf_home",
    "top_k_filter",
    "top_p_filter",
    "train_mlm",
]
