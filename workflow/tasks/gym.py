"""Reasoning Gym (ProRL, arXiv 2505.24864): offline procedural problems scored by each task's own scorer.

Consumes: a task name of the ``reasoning_gym`` package (0.1.25; ``graph_color``, ``basic_arithmetic``, ...) with
``size``, ``seed`` and optional generator arguments. Produces problems in the schema of ``workflow.benchmarks``
(``kind: "gym"``) and the checker ``check(problem, completion, finish_reason) -> Verdict``.

Run (generation): ``python -m workflow.benchmarks --name gym --option task=graph_color --option size=100
--option seed=0 --out results/<study>/data/gym_graph_color.jsonl``.

Scoring follows ProRL: the answer is the content of the last ``<answer>...</answer>`` pair (as
``reasoning_gym.utils.extract_answer``), else, for base models that box their answer, the last ``\\boxed{}``; the
task's ``score_answer(answer, entry)`` scores it. Deviations:
- A pass is a score of exactly 1.0. Many scorers give partial credit (``graph_color``: 0.01 for parsable JSON
  that is not a valid colouring; the default scorer: len(oracle)/len(answer) when the oracle is a substring);
  ProRL reports the mean continuous reward, pass@k needs a binary pass, so partial credit is recorded in the
  verdict's reason (``partial:<score>``) but is not a pass.
- A truncated sample (finish reason other than ``stop``) is not a pass, as for every checker of this project.
- The entry passed to the scorer is regenerated from (task, config, index) when its question matches the stored
  one: JSON storage turns tuples into lists, and some scorers compare tuples (``arc_agi`` and ``rearc`` compare
  the parsed board, a tuple of tuples, with ``metadata["output"]``). Otherwise the stored JSON entry is used.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from workflow.tasks import Verdict
from workflow.tasks.answers import last_boxed

# reasoning_gym.utils.extract_answer: r"<answer>\s?(.*?)\s?</answer>", DOTALL, the last match, stripped
ANSWER_TAG = re.compile(r"<answer>\s?(.*?)\s?</answer>", re.DOTALL)


def to_jsonable(x: Any) -> Any:
    """Plain JSON values: tuples and sets -> lists (sets sorted), numpy scalars and arrays -> Python, dict keys ->
    str, anything else -> its str."""
    if isinstance(x, Mapping):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [to_jsonable(v) for v in x]
    if isinstance(x, set | frozenset):
        return sorted((to_jsonable(v) for v in x), key=lambda v: json.dumps(v, sort_keys=True))
    if x is None or isinstance(x, str | bool | int):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else str(x)
    if hasattr(x, "tolist"):  # numpy scalars and arrays, without importing numpy here
        return to_jsonable(x.tolist())
    return str(x)


def parse_config(config: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Further generator arguments: None, a dict, or a JSON object string (from ``--option config=...``)."""
    if config is None or config == "":
        return {}
    if isinstance(config, str):
        config = json.loads(config)
    if not isinstance(config, Mapping):
        raise ValueError(f"gym config must be a JSON object, got {config!r}")
    return dict(config)


def _key(kwargs: Mapping[str, Any]) -> str:
    return json.dumps(kwargs, sort_keys=True)


@functools.lru_cache(maxsize=64)
def _dataset(task: str, kwargs_json: str) -> Any:
    import reasoning_gym
    from reasoning_gym.factory import DATASETS

    if task not in DATASETS:
        raise ValueError(f"unknown Reasoning Gym task {task!r}; valid tasks: {', '.join(sorted(DATASETS))}")
    return reasoning_gym.create_dataset(task, **json.loads(kwargs_json))


def generator_kwargs(size: int, seed: int, config: str | Mapping[str, Any] | None) -> dict[str, Any]:
    return {**parse_config(config), "size": int(size), "seed": int(seed)}


def generate(
    task: str, *, size: int, seed: int, config: str | Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The generator's raw entries ``{question, answer, metadata}`` for indices 0..size-1."""
    if not task:
        raise ValueError("gym needs --option task=<Reasoning Gym task name>")
    if size < 1:
        raise ValueError(f"gym size must be positive, got {size}")
    ds = _dataset(task, _key(generator_kwargs(size, seed, config)))
    return [ds[i] for i in range(size)]


def to_problem(
    index: int,
    entry: Mapping[str, Any],
    *,
    task: str,
    size: int,
    seed: int,
    config: str | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One generator entry -> a normalised problem (see ``workflow.benchmarks``) carrying what scoring needs."""
    stored = to_jsonable(
        {"question": entry["question"], "answer": entry["answer"], "metadata": entry["metadata"]}
    )
    answer = stored["answer"]
    if answer is None and isinstance(stored["metadata"], dict) and "possible_answer" in stored["metadata"]:
        answer = stored["metadata"]["possible_answer"]  # graph_color: one valid colouring of many
    if answer is not None and not isinstance(answer, str):
        answer = json.dumps(answer)
    return {
        "id": f"gym/{task}/{seed}/{index}",
        "question": stored["question"],
        "answer": answer,
        "meta": {
            "task": task,
            "config": generator_kwargs(size, seed, config),
            "index": index,
            "entry": stored,
        },
    }


def extract_answer(completion: str) -> str | None:
    """The last ``<answer>...</answer>`` content (ProRL's format), else the last ``\\boxed{}``; None when empty."""
    matches = ANSWER_TAG.findall(completion)
    if matches:
        answer = matches[-1].rsplit("<answer>", 1)[-1].strip()
    else:
        answer = last_boxed(completion)
    return answer or None


@functools.lru_cache(maxsize=4096)
def _regenerated(task: str, kwargs_json: str, index: int, question: str) -> Any:
    """The generator's own entry (original types) when it still produces the stored question, else None."""
    try:
        entry = _dataset(task, kwargs_json)[index]
    except Exception:
        return None
    return entry if entry.get("question") == question else None


def score(problem: Mapping[str, Any], answer: str | None) -> float:
    """The task's own score of an extracted answer, in [0, 1]. Raises on a malformed problem or scorer error."""
    meta = problem["meta"]
    kwargs_json = _key(meta["config"])
    ds = _dataset(meta["task"], kwargs_json)
    entry = _regenerated(meta["task"], kwargs_json, int(meta["index"]), problem["question"])
    if entry is None:
        entry = meta["entry"]
    s = float(ds.score_answer(answer, copy.deepcopy(entry)))
    if not math.isfinite(s):
        raise ValueError(f"scorer returned {s}")
    return s


def check(problem: Mapping[str, Any], completion: object, finish_reason: str = "stop") -> Verdict:
    """Extract and score one completion; a pass only at score 1.0. Never raises."""
    try:
        if finish_reason != "stop":
            return Verdict(False, "truncated")
        if not isinstance(completion, str) or not completion.strip():
            return Verdict(False, "empty")
        answer = extract_answer(completion)
        if answer is None:
            return Verdict(False, "no_answer")
    except Exception:
        return Verdict(False, "error")
    try:
        s = score(problem, answer)
    except Exception:
        return Verdict(False, "error", answer)
    if s == 1.0:
        return Verdict(True, "ok", answer)
    if s > 0.0:
        return Verdict(False, f"partial:{s:.4g}", answer)
    return Verdict(False, "wrong", answer)
