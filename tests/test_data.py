"""Data splits: the benchmark split of ``data.task: benchmark`` (the toy task's splits are tested through the
stages that use them)."""

from __future__ import annotations

import pytest

from workflow.config import from_dict
from workflow.data import split_benchmark


def problems(n: int) -> list[dict]:
    return [{"id": f"omni_math/{i}", "question": f"q{i}", "answer": str(i), "kind": "math"} for i in range(n)]


def cfg(seed: int = 0):
    return from_dict(
        {
            "seed": seed,
            "data": {"task": "benchmark", "benchmark": "omni", "num_train": 20, "num_test": 8, "num_val": 3},
            "model": {"path": "/m"},
            "benchmarks": {"omni": {"loader": "omni_math", "source": "x.jsonl"}},
            "rl": {"engine": "verl", "verl": {"device": "cpu", "rollout": "hf", "gpus_per_node": 1}},
        }
    )


def test_benchmark_split_is_seeded_disjoint_and_order_free():
    c = cfg()
    s = split_benchmark(problems(30), c.data, c.seed)
    ids = {k: [p["id"] for p in v] for k, v in s.items()}
    assert len(ids["train"]) == 20 and len(ids["test"]) == 8 and ids["val"] == ids["test"][:3]
    assert not set(ids["train"]) & set(ids["test"])
    assert all(p["split"] == k for k, v in s.items() for p in v)
    again = split_benchmark(list(reversed(problems(30))), c.data, c.seed)  # file order does not matter
    assert {k: [p["id"] for p in v] for k, v in again.items()} == ids
    other = split_benchmark(problems(30), cfg(1).data, 1)
    assert [p["id"] for p in other["train"]] != ids["train"]


def test_a_benchmark_too_small_for_the_split_fails_naming_it():
    c = cfg()
    with pytest.raises(ValueError, match="fewer than num_train"):
        split_benchmark(problems(10), c.data, c.seed)
