"""Parameter-efficient fine-tuning helpers: build ``peft`` models safely, count and size them.

* :func:`make_peft_model`: wrap a Hugging Face model with LoRA, DoRA, IA3, LoHa, LoKr, AdaLoRA
  or prompt tuning, after checking the arguments that ``peft`` accepts without complaint but
  that would fail later or silently do nothing: a rank or scale that is not positive, a dropout
  outside ``[0, 1)``, a target module or module to save whose name matches nothing in the model,
  or a setting that does not apply to the chosen method.
* :func:`linear_layer_names` and :func:`match_modules`: what ``target_modules`` can name, and
  what each name matches, by the rule ``peft`` uses (the full module name or a dotted suffix).
* :func:`trainable_parameters` and :func:`adapter_size_bytes`: what a method trains and what it
  saves.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

__all__ = [
    "ADAPTER_FILES",
    "PEFT_METHODS",
    "ParameterCount",
    "adapter_size_bytes",
    "linear_layer_names",
    "make_peft_model",
    "match_modules",
    "trainable_parameters",
]

PEFT_METHODS: tuple[str, ...] = (
    "lora",
    "dora",
    "ia3",
    "loha",
    "lokr",
    "adalora",
    "prompt_tuning",
)
"""The methods :func:`make_peft_model` builds (all run on a CPU)."""

_RANKED = ("lora", "dora", "loha", "lokr", "adalora")
_WITH_DROPOUT = ("lora", "dora", "adalora")
_TASK_TYPES = ("SEQ_CLS", "CAUSAL_LM", "TOKEN_CLS", "SEQ_2_SEQ_LM", "FEATURE_EXTRACTION")

ADAPTER_FILES: tuple[str, ...] = ("adapter_model.safetensors", "adapter_model.bin")
"""The weight files ``PeftModel.save_pretrained`` writes (safetensors unless told otherwise)."""


class ParameterCount(NamedTuple):
    """What :func:`trainable_parameters` counts.

    Attributes:
        trainable: Parameters with ``requires_grad``.
        total: All parameters (a ``peft`` model counts the base model's and the adapter's).
    """

    trainable: int
    total: int

    @property
    def share(self) -> float:
        """``trainable / total`` (0 for a model without parameters)."""
        return self.trainable / self.total if self.total else 0.0


def trainable_parameters(model: torch.nn.Module) -> ParameterCount:
    """Count the trainable and all parameters of ``model`` (shared tensors once).

    Examples:
        >>> layer = torch.nn.Linear(4, 2)
        >>> _ = layer.bias.requires_grad_(False)
        >>> count = trainable_parameters(layer)
        >>> count, round(count.share, 2)
        (ParameterCount(trainable=8, total=10), 0.8)
    """
    trainable = total = 0
    for parameter in model.parameters():  # parameters() yields a shared tensor once
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return ParameterCount(trainable, total)


def _is_adaptable(module: torch.nn.Module) -> bool:
    """A layer ``peft`` can wrap: ``Linear``, ``Embedding``, ``Conv1d/2d`` or GPT-2's ``Conv1D``."""
    if isinstance(module, torch.nn.Linear | torch.nn.Embedding | torch.nn.Conv1d | torch.nn.Conv2d):
        return True
    return type(module).__name__ == "Conv1D"  # transformers' GPT-2 layer (a transposed Linear)


def linear_layer_names(model: torch.nn.Module) -> list[str]:
    """The distinct last name components of ``model``'s linear layers, sorted.

    These are the short names ``target_modules`` usually lists (``"query"``, ``"q_proj"``,
    ``"c_attn"``); GPT-2's ``Conv1D`` layers count as linear.

    Examples:
        >>> from transformers import AutoModelForSequenceClassification
        >>> model = AutoModelForSequenceClassification.from_pretrained(
        ...     "sentence-transformers/all-MiniLM-L6-v2", num_labels=4)
        >>> linear_layer_names(model)
        ['classifier', 'dense', 'key', 'query', 'value']
    """
    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if name and (isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D")
    }
    return sorted(names)


def _matches(pattern: str, name: str) -> bool:
    """``peft``'s rule for a list entry: the full module name or a dotted suffix of it."""
    return name == pattern or name.endswith("." + pattern)


def match_modules(model: torch.nn.Module, names: str | Sequence[str]) -> dict[str, list[str]]:
    r"""For each entry of ``names``, the full names of the modules it selects, as ``peft`` does.

    A list entry selects a module whose full name equals it or ends with ``"." + entry``; a
    single string is a regular expression that must match a full name completely. An empty
    list means that entry would adapt nothing.

    Examples:
        >>> from transformers import AutoModelForSequenceClassification
        >>> model = AutoModelForSequenceClassification.from_pretrained(
        ...     "sentence-transformers/all-MiniLM-L6-v2", num_labels=4)
        >>> found = match_modules(model, ["query", "pooler.dense", "q_proj"])
        >>> len(found["query"]), found["pooler.dense"], found["q_proj"]
        (6, ['bert.pooler.dense'], [])
        >>> pattern = r"bert\.encoder\.layer\.0\.attention\.self\.(query|key)"
        >>> match_modules(model, pattern)[pattern]
        ['bert.encoder.layer.0.attention.self.query', 'bert.encoder.layer.0.attention.self.key']
    """
    module_names = [name for name, _ in model.named_modules() if name]
    if isinstance(names, str):
        return {names: [n for n in module_names if re.fullmatch(names, n)]}
    return {entry: [n for n in module_names if _matches(entry, n)] for entry in names}


def _check_names(
    model: torch.nn.Module,
    names: str | Sequence[str],
    argument: str,
    *,
    adaptable: bool,
    saved: Sequence[str] = (),
) -> None:
    """Raise ``ValueError`` if an entry of ``names`` selects nothing (or nothing peft can wrap).

    ``saved`` are the modules to save: ``peft`` never adapts a layer inside one of them, so an
    entry that only selects such layers would be skipped without a word.
    """
    if isinstance(names, str):
        if names == "all-linear":
            return
        if not names:
            raise ValueError(f"{argument} must not be an empty string")
    elif not names or any(not isinstance(n, str) or not n for n in names):
        raise ValueError(
            f"{argument} must be a non-empty list of module names (or a regular expression "
            f"string), got {names!r}"
        )
    modules = dict(model.named_modules())
    for entry, found in match_modules(model, names).items():
        usable = [n for n in found if _is_adaptable(modules[n])] if adaptable else found
        if usable and saved and all(_inside(n, saved) for n in usable):
            raise ValueError(
                f"{argument} entry {entry!r} only matches layers inside modules_to_save "
                f"{list(saved)}, which peft trains in full and never adapts; remove the entry "
                "or the module to save"
            )
        if not usable:
            what = "no module" if not found else "no layer peft can adapt (only containers)"
            raise ValueError(
                f"{argument} entry {entry!r} matches {what} in {type(model).__name__}; its "
                f"linear layers are named {linear_layer_names(model)} (an entry must equal a "
                "module's full name or end it after a dot, e.g. 'query' or "
                "'attention.self.query')"
            )


def _inside(name: str, saved: Sequence[str]) -> bool:
    """``peft``'s rule: a module is excluded from adaptation if a module to save contains it."""
    return any(re.match(rf"(^|.*\.){re.escape(m)}($|\..*)", name) for m in saved)


def _positive_int(value: object, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argument} must be a positive int (1 or more), got {value!r}")
    return value


def make_peft_model(
    model: torch.nn.Module,
    method: str = "lora",
    *,
    rank: int | None = None,
    alpha: float | None = None,
    dropout: float = 0.0,
    target_modules: str | Sequence[str] | None = None,
    modules_to_save: Sequence[str] | None = None,
    num_virtual_tokens: int | None = None,
    task_type: str = "SEQ_CLS",
    **options: Any,
) -> Any:
    """Wrap ``model`` with a ``peft`` method after checking the arguments; return the PeftModel.

    The base model's own weights are frozen; only the method's new parameters and the modules
    in ``modules_to_save`` train. For ``task_type="SEQ_CLS"`` ``peft`` adds the classification
    head (``classifier`` or ``score``) to ``modules_to_save`` by itself. Note that it does not
    add a pooler: a model whose pooler was never trained (all-MiniLM-L6-v2's) should list it.

    Args:
        model: A Hugging Face ``PreTrainedModel`` (or any ``torch.nn.Module``).
        method: One of :data:`PEFT_METHODS`. ``"dora"`` is LoRA with ``use_dora=True``.
        rank: Rank of the update for ``lora``, ``dora``, ``loha``, ``lokr`` (default 8) and the
            starting rank of ``adalora`` (default 12); not allowed for the others.
        alpha: Scale numerator of the ranked methods: the update is multiplied by
            ``alpha / rank``. Defaults to ``2 * rank``.
        dropout: Dropout on the LoRA input, in ``[0, 1)``; ``lora``, ``dora`` and ``adalora``
            only (LoHa and LoKr have their own ``rank_dropout`` and ``module_dropout`` options).
        target_modules: Layers to adapt: a list of names (each the full module name or a
            dotted suffix of it), a regular expression string, or ``"all-linear"``. ``None``
            uses ``peft``'s default for the architecture. Not allowed for prompt tuning.
        modules_to_save: Modules trained in full and saved with the adapter (heads, poolers).
        num_virtual_tokens: Learned prompt length for ``prompt_tuning`` (default 20).
        task_type: ``peft``'s task type, e.g. ``"SEQ_CLS"`` or ``"CAUSAL_LM"``.
        **options: Further fields of the method's ``peft`` config class (for example
            ``total_step`` for AdaLoRA or ``feedforward_modules`` for IA3).

    Raises:
        ValueError: If ``method`` or ``task_type`` is unknown, ``rank``, ``alpha`` or
            ``num_virtual_tokens`` is not positive, ``dropout`` is outside ``[0, 1)``, an entry
            of ``target_modules`` or ``modules_to_save`` matches nothing in the model (the
            message lists the model's linear layer names), an entry of ``target_modules``
            matches only layers inside modules to save (``peft`` would skip it), or a setting
            does not apply to ``method``.

    Examples:
        >>> from transformers import AutoModelForSequenceClassification
        >>> base = AutoModelForSequenceClassification.from_pretrained(
        ...     "sentence-transformers/all-MiniLM-L6-v2", num_labels=4)
        >>> make_peft_model(base, "lora", rank=4, target_modules=["query", "q_proj"])
        Traceback (most recent call last):
        ...
        ValueError: target_modules entry 'q_proj' matches no module in BertForSequenceClassification; its linear layers are named ['classifier', 'dense', 'key', 'query', 'value'] (an entry must equal a module's full name or end it after a dot, e.g. 'query' or 'attention.self.query')
        >>> make_peft_model(base, "lora", rank=0)
        Traceback (most recent call last):
        ...
        ValueError: rank must be a positive int (1 or more), got 0
        >>> model = make_peft_model(base, "lora", rank=4, target_modules=["query", "value"])
        >>> trainable_parameters(model).trainable  # 12 layers x 4 x (384 + 384), plus the head
        38404
    """
    import peft

    if method not in PEFT_METHODS:
        raise ValueError(f"method must be one of {PEFT_METHODS}, got {method!r}")
    if task_type not in _TASK_TYPES:
        raise ValueError(f"task_type must be one of {_TASK_TYPES}, got {task_type!r}")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, peft.PeftModel):
        raise ValueError(
            "model is already a PeftModel: add a second adapter with model.add_adapter(name, "
            "config) instead of wrapping it again"
        )
    from peft.tuners.tuners_utils import BaseTunerLayer

    if any(isinstance(m, BaseTunerLayer) for m in model.modules()):
        raise ValueError(
            "model already holds peft layers (get_peft_model changes the model it is given in "
            "place): load a fresh base model, or add an adapter to the PeftModel with add_adapter"
        )
    if method not in _RANKED:
        for argument, value in (("rank", rank), ("alpha", alpha)):
            if value is not None:
                raise ValueError(f"{argument} does not apply to method {method!r}; leave it unset")
    if method not in _WITH_DROPOUT and dropout != 0.0:
        raise ValueError(
            f"dropout does not apply to method {method!r} (only to {_WITH_DROPOUT}); leave it 0"
        )
    if method != "prompt_tuning" and num_virtual_tokens is not None:
        raise ValueError(f"num_virtual_tokens applies only to 'prompt_tuning', not {method!r}")
    if method == "prompt_tuning" and target_modules is not None:
        raise ValueError(
            "target_modules does not apply to 'prompt_tuning' (it adds learned input vectors, "
            "not layers); leave it unset"
        )
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    if isinstance(modules_to_save, str):
        raise ValueError(
            f"modules_to_save must be a list of names, got the string {modules_to_save!r}"
        )
    if modules_to_save is not None:
        _check_names(model, modules_to_save, "modules_to_save", adaptable=False)
    if target_modules is not None:
        saved = list(modules_to_save or [])
        if task_type == "SEQ_CLS":
            saved += ["classifier", "score"]  # peft adds the classification head itself
        _check_names(model, target_modules, "target_modules", adaptable=True, saved=saved)

    common: dict[str, Any] = {"task_type": task_type, **options}
    if modules_to_save is not None:
        common["modules_to_save"] = list(modules_to_save)
    if target_modules is not None:
        common["target_modules"] = (
            target_modules if isinstance(target_modules, str) else list(target_modules)
        )
    config: Any
    if method in _RANKED:
        r = _positive_int(rank if rank is not None else (12 if method == "adalora" else 8), "rank")
        scale = 2.0 * r if alpha is None else alpha
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
            raise ValueError(f"alpha must be a positive number, got {alpha!r}")
        ranked: dict[str, Any] = {**common, "r": r}  # peft types alpha as int; floats work
        if method in ("lora", "dora"):
            ranked["lora_alpha"] = scale
            config = peft.LoraConfig(**ranked, lora_dropout=dropout, use_dora=method == "dora")
        elif method == "adalora":
            if options.get("total_step") is None:
                raise ValueError(
                    "adalora needs total_step (the number of training steps): its rank "
                    "schedule is laid out over them"
                )
            ranked["init_r"] = ranked.pop("r")
            ranked["lora_alpha"] = scale
            config = peft.AdaLoraConfig(**ranked, lora_dropout=dropout)
        elif method == "loha":
            ranked["alpha"] = scale
            config = peft.LoHaConfig(**ranked)
        else:
            ranked["alpha"] = scale
            config = peft.LoKrConfig(**ranked)
    elif method == "ia3":
        config = peft.IA3Config(**common)
    else:
        tokens = _positive_int(
            num_virtual_tokens if num_virtual_tokens is not None else 20, "num_virtual_tokens"
        )
        config = peft.PromptTuningConfig(num_virtual_tokens=tokens, **common)
    with warnings.catch_warnings():
        # peft reads model.is_gradient_checkpointing, which transformers 5 deprecates.
        warnings.filterwarnings(
            "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
        )
        return peft.get_peft_model(model, config)


def adapter_size_bytes(folder: str | Path) -> int:
    """Bytes of the adapter weight file that ``PeftModel.save_pretrained`` wrote to ``folder``.

    Only the weights count (``adapter_model.safetensors`` or ``.bin``), not the small
    ``adapter_config.json`` or the model card beside them. An adapter saved under a name other
    than ``default`` lives in ``folder/<name>/``: pass that subfolder.

    Raises:
        FileNotFoundError: If ``folder`` holds none of :data:`ADAPTER_FILES`.

    Examples:
        >>> import tempfile
        >>> from transformers import AutoModelForSequenceClassification
        >>> base = AutoModelForSequenceClassification.from_pretrained(
        ...     "sentence-transformers/all-MiniLM-L6-v2", num_labels=4)
        >>> model = make_peft_model(base, "ia3")
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     model.save_pretrained(tmp, save_embedding_layers=False)
        ...     size = adapter_size_bytes(tmp)
        >>> 60_000 < size < 100_000  # about 4 bytes per trainable parameter
        True
    """
    path = Path(folder)
    found = [path / name for name in ADAPTER_FILES if (path / name).is_file()]
    if not found:
        inside = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
        raise FileNotFoundError(
            f"folder {str(path)!r} holds no {' or '.join(ADAPTER_FILES)} (it holds "
            f"{inside or 'nothing'}); save a PeftModel there with save_pretrained, or pass the "
            "subfolder of a named adapter"
        )
    return sum(p.stat().st_size for p in found)
