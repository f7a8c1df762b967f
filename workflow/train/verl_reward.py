"""The reward verl calls: the project's own verifier, so training reward and evaluation verdict are one function.

Consumes: one decoded rollout from verl (its response text, the parquet row's ``extra_info`` with the whole problem,
see ``workflow.train.verl_data``) and the study's resolved config (verification settings). Produces: a score
``reward_correct`` / ``reward_wrong`` of the preset, from the checker ``workflow.verify`` uses for the problem's kind
(the toy task's strict checker, math-verify, code in the sandbox, Reasoning Gym).

verl loads this file by path through two of its hooks (``workflow.train.verl_render`` sets both):
- ``reward.custom_reward_function`` -> :func:`compute_score` (verl's signature, plus ``reward_kwargs``);
- ``reward.reward_manager`` (``source: importlib``) -> :class:`ProjectRewardManager`. verl's own managers decode the
  response without telling the reward function whether it ended at the EOS token or at the length limit; this one
  passes that on as ``finish_reason`` (a truncated sample scores wrong, as in the evaluation) and applies DAPO's
  overlong shaping with the same formula as the builtin trainer (``workflow.algorithms.overlong_penalty``).
"""

from __future__ import annotations

import functools
import inspect
import json
import threading

from verl import DataProto
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

_MATH_LOCK = threading.Lock()
"""verl's reward loop calls the reward function from an executor's threads; one checker serves them in turn."""


@functools.lru_cache(maxsize=4)
def _math_checker(path: str):
    """The math checker of ``workflow.verify`` (math-verify in worker processes, verdicts cached), kept for the
    life of the reward worker: starting its processes for every rollout would cost more than checking it."""
    from workflow.tasks.math import MathChecker

    v = _config(path).verification
    return MathChecker(workers=1, timeout=v.math_timeout, policy=v.policy)


@functools.lru_cache(maxsize=4)
def _config(path: str):
    from workflow.config import load_config

    return load_config(path)


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict | None = None,
    *,
    config: str,
    reward_correct: float = 1.0,
    reward_wrong: float = 0.0,
    **_: object,
) -> dict:
    """verl's reward-function signature: ``{"score": reward, "acc": 1.0 | 0.0}`` (verl averages every key of the
    dict into its metrics, so only numbers are returned).

    ``extra_info["problem"]`` (JSON) is the problem as the pipeline stores it; ``extra_info["finish_reason"]``
    (``stop`` or ``length``, set by :class:`ProjectRewardManager`) marks truncation. A problem that cannot be read
    scores wrong, never raises."""
    from workflow.tasks import Verdict
    from workflow.verify import verify_rows

    info = extra_info or {}
    try:
        problem = json.loads(info["problem"])
    except (KeyError, TypeError, ValueError):
        verdict = Verdict(False, "unknown_problem")
    else:
        cfg = _config(config)
        row = {
            "problem_id": problem.get("id"),
            # the pipeline scores prefill + generated text (workflow.backends); verl's response is the generated part
            "completion": cfg.template(cfg.model.template).prefill + solution_str,
            "finish_reason": info.get("finish_reason", "stop"),
        }
        if problem.get("kind") == "math":  # one persistent checker per process, not a worker pool per call
            with _MATH_LOCK:
                verdict = _math_checker(config).check(
                    problem.get("answer"), row["completion"], row["finish_reason"]
                )
        else:
            (verdict,) = verify_rows([row], {problem.get("id"): problem}, cfg)
    return {
        "score": float(reward_correct if verdict.correct else reward_wrong),
        "acc": float(verdict.correct),
    }


class ProjectRewardManager(RewardManagerBase):
    """verl's reward-manager interface around :func:`compute_score`: adds ``finish_reason`` and DAPO's overlong
    shaping (``reward.reward_kwargs.overlong_buffer_cfg`` and ``max_resp_len``, rendered from the preset)."""

    def __init__(
        self, config, tokenizer, compute_score, reward_router_address=None, reward_model_tokenizer=None
    ):
        super().__init__(config, tokenizer, compute_score)
        if compute_score is None:
            raise ValueError(
                "ProjectRewardManager needs reward.custom_reward_function (workflow.train.verl_reward)"
            )
        self.is_async = inspect.iscoroutinefunction(compute_score)
        kwargs = config.reward.get("reward_kwargs", {}) or {}
        self.overlong = kwargs.get("overlong_buffer_cfg", None)
        self.max_resp_len = kwargs.get("max_resp_len", None)

    def _score(self, **kw):
        return self.compute_score(**kw)

    async def run_single(self, data: DataProto) -> dict:
        import torch

        from workflow.algorithms import overlong_penalty

        item = data[-1:][0]
        response_ids = item.batch["responses"]
        length = int(item.batch["attention_mask"][-response_ids.shape[-1] :].sum())
        ids = response_ids[:length]
        eos = self.tokenizer.eos_token_id
        stopped = length > 0 and eos is not None and int(ids[-1]) == eos
        finish = "stop" if stopped or length < response_ids.shape[-1] else "length"
        extra_info = dict(item.non_tensor_batch.get("extra_info", {}) or {}, finish_reason=finish)
        text = await self.loop.run_in_executor(
            None, lambda: self.tokenizer.decode(ids, skip_special_tokens=True)
        )
        kw = dict(
            data_source=item.non_tensor_batch["data_source"],
            solution_str=text,
            ground_truth=item.non_tensor_batch["reward_model"]["ground_truth"],
            extra_info=extra_info,
        )
        if self.is_async:
            result = await self.compute_score(**kw)
        else:
            result = await self.loop.run_in_executor(None, lambda: self._score(**kw))
        reward = float(result["score"])
        info = {k: v for k, v in result.items() if k != "score"}
        info["truncated"] = float(finish == "length")
        if self.overlong is not None and self.overlong.get("enable", False):
            penalty = overlong_penalty(
                torch.tensor([length]),
                int(self.max_resp_len),
                int(self.overlong.len),
                float(self.overlong.penalty_factor),
            )
            reward += float(penalty[0])
            info["overlong_reward"] = float(penalty[0])
        return {"reward_score": reward, "reward_extra_info": info}
