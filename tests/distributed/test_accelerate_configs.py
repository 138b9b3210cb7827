"""The accelerate config files shown in lesson 05 are ones accelerate itself accepts.

``accelerate launch`` reads a config file, rejects unknown keys, and turns it into launch
arguments; the tests go through the same two functions it uses, without starting anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "snippets" / "accelerate"


def launch_arguments(config_file: Path) -> Any:
    from accelerate.commands.launch import (  # type: ignore[import-untyped]
        _validate_launch_command,
        launch_command_parser,
    )

    argv = ["--config_file", str(config_file), "-m", "ptm_snippets.train_classifier"]
    args, _, _ = _validate_launch_command(launch_command_parser().parse_args(argv))
    return args


@pytest.mark.parametrize(
    ("name", "processes", "machines", "multi_gpu", "fsdp"),
    [
        ("one_gpu", 1, 1, False, False),
        ("eight_gpus", 8, 1, True, False),
        ("eight_gpus_fsdp", 8, 1, False, True),
        ("two_nodes", 16, 2, True, False),
    ],
)
def test_accelerate_accepts_each_config(
    name: str, processes: int, machines: int, multi_gpu: bool, fsdp: bool
) -> None:
    args = launch_arguments(CONFIGS / f"{name}.yaml")
    assert (args.num_processes, args.num_machines) == (processes, machines)
    assert (args.multi_gpu, args.use_fsdp, args.cpu) == (multi_gpu, fsdp, False)
    assert args.mixed_precision == "bf16"
    if machines > 1:
        assert args.main_process_ip and args.main_process_port == 29500


def test_every_config_file_is_tested() -> None:
    assert sorted(p.stem for p in CONFIGS.glob("*.yaml")) == [
        "eight_gpus",
        "eight_gpus_fsdp",
        "one_gpu",
        "two_nodes",
    ]


def test_a_misspelt_key_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((CONFIGS / "eight_gpus.yaml").read_text().replace("num_processes", "num_procs"))
    with pytest.raises(ValueError, match="num_procs"):
        launch_arguments(bad)


def test_unquoted_no_is_not_the_string_no(tmp_path: Path) -> None:
    import yaml  # type: ignore[import-untyped]

    text = (CONFIGS / "one_gpu.yaml").read_text()
    assert yaml.safe_load(text)["distributed_type"] == "NO"
    assert yaml.safe_load(text.replace('"NO"', "NO"))["distributed_type"] is False
