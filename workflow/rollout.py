"""Rollouts for RL: sampling groups of responses, scoring them, dynamic sampling, greedy baselines.

Consumes: a policy, its tokenizer, train problems and an :class:`AlgorithmConfig`. Produces a
:class:`Rollout` batch (tensors below). Every algorithm-specific choice (reward values, overlong shaping,
group filter, whether a greedy baseline is needed) comes from the preset through registry keys and values;
nothing here branches on an algorithm's name.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from workflow import algorithms as A
from workflow import model as M
from workflow.config import AlgorithmConfig
from workflow.tasks import countdown


@dataclass
class Rollout:
    """N responses to P prompts (N = P x group_size before filtering)."""

    prompt_ids: torch.Tensor  # [N, P_len] left-padded
    prompt_mask: torch.Tensor  # [N, P_len]
    response: torch.Tensor  # [N, T] right-padded
    mask: torch.Tensor  # [N, T] float, 1 on valid tokens incl. EOS
    correct: torch.Tensor  # [N] bool, verdict of the checker
    scores: torch.Tensor  # [N] reward after shaping
    group: torch.Tensor  # [N] prompt id (unique within the batch)
    baseline: torch.Tensor  # [N] greedy-response reward of the prompt (0 when not needed)
    stopped: torch.Tensor  # [N] bool, ended with EOS (False: cut at max_tokens)
    old_logp: torch.Tensor  # [N, T] behaviour log-probs of the sampled tokens (from the sampling pass)

    def select(self, keep: torch.Tensor) -> Rollout:
        return Rollout(**{f.name: getattr(self, f.name)[keep] for f in fields(self)})

    @staticmethod
    def cat(parts: list[Rollout]) -> Rollout:
        width = max(p.response.shape[1] for p in parts)
        pwidth = max(p.prompt_ids.shape[1] for p in parts)
        out = {}
        for f in fields(Rollout):
            xs = [getattr(p, f.name) for p in parts]
            if f.name in ("response", "mask", "old_logp"):
                xs = [torch.nn.functional.pad(x, (0, width - x.shape[1])) for x in xs]
            elif f.name in ("prompt_ids", "prompt_mask"):
                xs = [torch.nn.functional.pad(x, (pwidth - x.shape[1], 0)) for x in xs]
            out[f.name] = torch.cat(xs)
        return Rollout(**out)


def score(
    problems: list[dict],
    texts: list[str],
    stopped: torch.Tensor,
    lengths: torch.Tensor,
    algo: AlgorithmConfig,
    max_value: int,
    per_problem: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(correct [N] bool, reward [N]) with the preset's reward values and optional overlong shaping."""
    correct = torch.tensor(
        [
            countdown.check(p["numbers"], p["target"], t, "stop" if s else "length", max_value).correct
            for p, t, s in zip(
                (problems[j // per_problem] for j in range(len(texts))), texts, stopped.tolist(), strict=True
            )
        ],
        dtype=torch.bool,
    )
    reward = torch.where(correct, algo.reward_correct, algo.reward_wrong).float()
    if algo.overlong_buffer > 0:
        reward = reward + A.overlong_penalty(
            lengths, algo.max_tokens, algo.overlong_buffer, algo.overlong_factor
        )
    return correct, reward


def _generate(policy, tokenizer, problems, algo: AlgorithmConfig, per_problem: int, temperature: float, gen):
    encoded = [tokenizer(p["prompt"])["input_ids"] for p in problems]  # once per problem, not per response
    prompts = [ids for ids in encoded for _ in range(per_problem)]  # shared lists: read, never mutated
    out = M.generate(
        policy,
        prompts,
        max_tokens=algo.max_tokens,
        temperature=temperature,
        top_p=1.0,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
        generator=gen,
    )
    texts = tokenizer.batch_decode(out.tokens, skip_special_tokens=True)
    return prompts, out, texts


def greedy_rewards(
    policy, tokenizer, problems: list[dict], algo: AlgorithmConfig, max_value: int
) -> torch.Tensor:
    """Reward of each problem's greedy (temperature 0) response: ReMax's baseline. [P]."""
    _, out, texts = _generate(policy, tokenizer, problems, algo, 1, 0.0, None)
    return score(problems, texts, out.stopped, out.lengths, algo, max_value, 1)[1]


def sample_groups(
    policy,
    tokenizer,
    problems: list[dict],
    algo: AlgorithmConfig,
    max_value: int,
    gen: torch.Generator,
    group_offset: int = 0,
    with_baseline: bool = False,
) -> Rollout:
    """``group_size`` responses per problem at the preset's rollout temperature."""
    g = algo.group_size
    prompts, out, texts = _generate(policy, tokenizer, problems, algo, g, algo.temperature, gen)
    correct, reward = score(problems, texts, out.stopped, out.lengths, algo, max_value, g)
    t = out.tokens.shape[1]
    mask = (torch.arange(t)[None, :] < out.lengths[:, None]).float()  # [N, T]
    pid, pmask = M.left_pad(prompts, tokenizer.pad_token_id)
    group = torch.arange(len(problems)).repeat_interleave(g) + group_offset
    baseline = torch.zeros(len(prompts))
    if with_baseline:
        baseline = greedy_rewards(policy, tokenizer, problems, algo, max_value).repeat_interleave(g)
    return Rollout(
        pid, pmask, out.tokens, mask, correct, reward, group, baseline, out.stopped, out.logprobs * mask
    )


def collect(
    policy,
    tokenizer,
    draw,
    algo: AlgorithmConfig,
    max_value: int,
    gen: torch.Generator,
    with_baseline: bool = False,
) -> tuple[Rollout | None, dict[str, float]]:
    """One training batch. With a group filter (dynamic sampling, DAPO / ProRL) keep sampling fresh prompts
    until ``prompts_per_step`` groups survive, then truncate; after ``max_gen_batches`` rounds train on what
    was kept (verl raises instead: at toy scale a short batch is better than a dead job; counted in stats).
    ``draw(n)`` returns n fresh problems."""
    keep_fn = A.GROUP_FILTERS[algo.group_filter]
    kept: list[Rollout] = []
    n_kept = rounds = 0
    first: Rollout | None = None
    while n_kept < algo.prompts_per_step and rounds < algo.max_gen_batches:
        ro = sample_groups(
            policy,
            tokenizer,
            draw(algo.prompts_per_step),
            algo,
            max_value,
            gen,
            group_offset=rounds * algo.prompts_per_step,
            with_baseline=with_baseline,
        )
        first = first or ro
        rounds += 1
        ro = ro.select(keep_fn(ro.correct.float(), ro.group))
        kept.append(ro)
        n_kept += ro.group.unique().numel()
    batch = Rollout.cat(kept) if n_kept else None
    if batch is not None and n_kept > algo.prompts_per_step:
        groups = batch.group.unique()[: algo.prompts_per_step]
        batch = batch.select(torch.isin(batch.group, groups))
    stats = {
        "gen_batches": float(rounds),
        "kept_groups": float(n_kept),
        # reward and accuracy of the first, unfiltered round: comparable across algorithms
        "reward": first.scores.mean().item(),
        "accuracy": first.correct.float().mean().item(),
        "response_length": first.mask.sum(-1).mean().item(),
        "truncated": (~first.stopped).float().mean().item(),
        "mixed_groups": A.GROUP_FILTERS["nonconstant"](first.correct.float(), first.group)
        .float()
        .mean()
        .item(),
    }
    return batch, stats
