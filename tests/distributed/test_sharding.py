"""Sharding and the one-process simulation of a distributed run, in process (no launcher)."""

from __future__ import annotations

import pytest
import torch

from ptm_snippets.finetuning import (
    FineTuneConfig,
    TextClassificationDataset,
    fine_tune,
    shard_indices,
)


@pytest.mark.parametrize(("size", "world"), [(8, 2), (9, 2), (10, 3), (5, 5)])
def test_shards_are_disjoint_complete_and_balanced(size: int, world: int) -> None:
    shards = [shard_indices(size, r, world) for r in range(world)]
    flat = [i for s in shards for i in s]
    assert sorted(flat) == list(range(size)) and len(flat) == len(set(flat))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


@pytest.mark.parametrize(("size", "rank", "world"), [(1, 0, 2), (4, 2, 2), (4, -1, 2), (4, 0, 0)])
def test_impossible_shards_are_refused(size: int, rank: int, world: int) -> None:
    with pytest.raises(ValueError, match="world_size"):
        shard_indices(size, rank, world)


class _Tiny(torch.nn.Module):
    """Embedding, two numbered blocks, dropout and a head: enough for fine_tune."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(20, 8)
        self.layers = torch.nn.ModuleList([torch.nn.Linear(8, 8) for _ in range(2)])
        self.drop = torch.nn.Dropout(0.3)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, input_ids, attention_mask, labels=None):  # type: ignore[no-untyped-def]
        from types import SimpleNamespace

        h = self.embed(input_ids).mean(1)
        for layer in self.layers:
            h = torch.tanh(layer(self.drop(h)))
        logits = self.head(h)
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SimpleNamespace(loss=loss, logits=logits)


def _data() -> TextClassificationDataset:
    ids = [[1 + (i % 7), 2 + (i % 5), 3] for i in range(11)]
    return TextClassificationDataset(ids, [i % 3 for i in range(11)], num_labels=3)


def test_simulating_two_processes_uses_both_shards_and_differs_from_one() -> None:
    config = FineTuneConfig(learning_rate=1e-2, max_steps=5, batch_size=2, warmup_ratio=0.0)
    one, two = _Tiny(), _Tiny()
    r1 = fine_tune(one, _data(), config)
    r2 = fine_tune(two, _data(), config, simulate_world_size=2)
    assert r1.shard == r2.shard == list(range(11))
    assert r2.steps == 5 and len(r2.losses) == 5
    assert not torch.equal(one.head.weight, two.head.weight)  # twice the lines per step
    again = _Tiny()
    fine_tune(again, _data(), config, simulate_world_size=2)
    assert torch.equal(again.head.weight, two.head.weight)  # and it is deterministic


def test_bad_simulation_and_labels_outside_the_head_are_refused() -> None:
    with pytest.raises(ValueError, match="simulate_world_size"):
        fine_tune(_Tiny(), _data(), simulate_world_size=0)
    with pytest.raises(ValueError, match="world_size=12"):
        fine_tune(_Tiny(), _data(), simulate_world_size=12)
