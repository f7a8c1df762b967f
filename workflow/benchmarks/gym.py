"""Reasoning Gym (ProRL): procedural problems generated offline and scored by the task's own scorer
(``workflow.tasks.gym``); no hub source.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from workflow.benchmarks.core import register


def _gym_rows(*, task: str, size: int, seed: int, config: str | dict | None) -> Iterable[dict[str, Any]]:
    from workflow.tasks import gym

    return gym.generate(task, size=size, seed=seed, config=config)


@register("gym", "gym", generate=_gym_rows)
def gym(
    index: int,
    row: dict[str, Any],
    *,
    task: str = "",
    size: int = 100,
    seed: int = 0,
    config: str | None = None,
) -> dict[str, Any]:
    """``task``: a Reasoning Gym dataset name (``graph_color``, ``basic_arithmetic``, ...); ``size``: problems
    (ProRL: 100 held-out per task); ``seed``; ``config``: further generator arguments as JSON (e.g.
    ``{"min_num_vertices": 12}``)."""
    from workflow.tasks import gym as gym_task

    return gym_task.to_problem(index, row, task=task, size=size, seed=seed, config=config)
