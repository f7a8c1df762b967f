"""Registries of pure tensor functions: advantage estimators, policy losses, loss aggregation, KL.

Consumes: per-token tensors of a rollout batch (shapes below). Produces: advantages, per-token losses and
scalar losses. Imports torch only. ``workflow.train`` looks every function up by its registry key and never
branches on an algorithm's name; a new variant is a function, a formula test and a preset.

Conventions follow verl 0.9.1 (``verl/trainer/ppo/core_algos.py``; see shared reference ``algorithms.md``):
B responses right-padded to T tokens; mask m[i, t] = 1 on valid response tokens including EOS; the outcome
score sits at the last valid token. Every estimator has one signature, ``fn(AdvantageInput) -> (adv, ret)``,
so the trainer never needs to know which inputs a particular estimator reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


class Registry(dict):
    """A name -> function map whose failed look-ups list the valid names."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def register(self, *names: str) -> Callable:
        def deco(fn: Callable) -> Callable:
            for n in names:
                if n in self:
                    raise KeyError(f"{self.kind} {n!r} registered twice")
                self[n] = fn
            return fn

        return deco

    def __missing__(self, key: str):
        raise KeyError(f"unknown {self.kind} {key!r}; valid: {sorted(self)}")


ADVANTAGES = Registry("advantage estimator")
POLICY_LOSSES = Registry("policy loss")
AGGREGATIONS = Registry("loss aggregation mode")
KL_ESTIMATORS = Registry("KL estimator")


# ----------------------------------------------------------------------------------------------------------
# Masked primitives (verl/utils/torch_functional.py)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """sum(x * m) / (sum(m) + 1e-8)."""
    if dim is None:
        return (x * mask).sum() / (mask.sum() + 1e-8)
    return (x * mask).sum(dim) / (mask.sum(dim) + 1e-8)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(x - mu) * rsqrt(var + 1e-8) over all masked tokens; var unbiased (Bessel), token-weighted."""
    n = mask.sum()
    if n <= 1:
        raise ValueError("masked_whiten needs at least two valid tokens")
    mu = masked_mean(x, mask)
    var = masked_mean((x - mu) ** 2, mask) * n / (n - 1)
    return (x - mu) * torch.rsqrt(var + 1e-8)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """H = logsumexp(z) - sum_v softmax(z)_v z_v per position. [B, T, V] -> [B, T]."""
    p = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (p * logits).sum(-1)


# ----------------------------------------------------------------------------------------------------------
# Advantage estimators: fn(AdvantageInput) -> (advantages [B, T], returns [B, T])


@dataclass(frozen=True)
class AdvantageInput:
    """Everything any estimator may read; an estimator uses the fields it needs."""

    token_rewards: torch.Tensor
    """[B, T] outcome score at the last valid token, minus any in-reward KL."""
    mask: torch.Tensor
    """[B, T] 1 on valid response tokens (EOS included)."""
    group: torch.Tensor
    """[B] integer id of the prompt each response answers (GRPO/RLOO groups)."""
    eps: float = 1e-6
    """Added to the group std (GRPO)."""
    norm_by_std: bool = True
    """GRPO: divide by the group std; False gives Dr.GRPO."""


def _group_stats(
    scores: torch.Tensor, group: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-response group mean, unbiased group std and group size. [B] -> 3 x [B]."""
    _, inv, counts = torch.unique(group, return_inverse=True, return_counts=True)
    g = counts.numel()
    sums = torch.zeros(g, dtype=scores.dtype).index_add_(0, inv, scores)
    mean = sums / counts
    sq = torch.zeros(g, dtype=scores.dtype).index_add_(0, inv, (scores - mean[inv]) ** 2)
    std = torch.sqrt(sq / (counts - 1).clamp(min=1))
    return mean[inv], std[inv], counts[inv]


@ADVANTAGES.register("grpo")
def grpo_advantage(x: AdvantageInput) -> tuple[torch.Tensor, torch.Tensor]:
    """GRPO outcome advantage (DeepSeekMath, arXiv 2402.03300; verl ``compute_grpo_outcome_advantage``).

    A_i = (s_i - mean_g(s)) / (std_g(s) + eps), broadcast over the response tokens of i; s_i = sum_t r_{i,t}.
    Deliberate choices (verl): std is unbiased (N - 1); eps = 1e-6 is added to the std, not inside the sqrt;
    a group of one has mean 0 and std 1, so A = s / (1 + eps); ``norm_by_std=False`` gives Dr.GRPO's
    A_i = s_i - mean (arXiv 2503.20783). Shapes: [B, T] -> ([B, T], [B, T]); returns = advantages.
    """
    scores = (x.token_rewards * x.mask).sum(-1)  # [B]
    mean, std, count = _group_stats(scores, x.group)
    single = count == 1
    mean = torch.where(single, torch.zeros_like(mean), mean)
    std = torch.where(single, torch.ones_like(std), std)
    adv = (scores - mean) / (std + x.eps) if x.norm_by_std else scores - mean  # [B]
    adv = adv[:, None] * x.mask  # [B, T]
    return adv, adv


# ----------------------------------------------------------------------------------------------------------
# Policy losses: fn(PolicyLossInput) -> (per-token loss [B, T], metrics of [B, T] indicator tensors)


@dataclass(frozen=True)
class PolicyLossInput:
    log_prob: torch.Tensor
    """[B, T] log-probs of the sampled tokens under the current policy (with grad)."""
    old_log_prob: torch.Tensor
    """[B, T] log-probs under the behaviour policy (no grad)."""
    advantages: torch.Tensor
    """[B, T]"""
    clip_low: float = 0.2
    clip_high: float = 0.2
    clip_c: float = 3.0


@POLICY_LOSSES.register("vanilla")
def clipped_policy_loss(x: PolicyLossInput) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO clipped surrogate with clip-higher and dual clip (arXiv 1707.06347, DAPO 2503.14476,
    dual clip arXiv 1912.09729; verl ``compute_policy_loss_vanilla``).

    rho = exp(clamp(logp - logp_old, -20, 20)); l1 = -A rho; l2 = -A clip(rho, 1 - eps_lo, 1 + eps_hi);
    l = max(l1, l2); for A < 0 additionally l = min(l, -A c). Shapes: [B, T] -> [B, T].
    Metrics (per token, to be masked-averaged): ``clipfrac`` = [l2 > l1], ``clipfrac_lower`` = dual clip active.
    """
    log_ratio = (x.log_prob - x.old_log_prob).clamp(-20.0, 20.0)
    ratio = torch.exp(log_ratio)
    l1 = -x.advantages * ratio
    l2 = -x.advantages * ratio.clamp(1.0 - x.clip_low, 1.0 + x.clip_high)
    clipped = torch.maximum(l1, l2)
    l3 = -x.advantages * x.clip_c
    dual = torch.minimum(clipped, l3)
    loss = torch.where(x.advantages < 0, dual, clipped)  # [B, T]
    metrics = {
        "clipfrac": (l2 > l1).float(),
        "clipfrac_lower": ((clipped > l3) & (x.advantages < 0)).float(),
        "approx_kl": (x.old_log_prob - x.log_prob).detach(),
    }
    return loss, metrics


# ----------------------------------------------------------------------------------------------------------
# Loss aggregation: fn(loss [B, T], mask [B, T], scale: float | None) -> scalar (verl ``agg_loss``, 0.9.1)


def _num_seqs(mask: torch.Tensor) -> torch.Tensor:
    return (mask.sum(-1) > 0).sum().clamp(min=1)


@AGGREGATIONS.register("token-mean")
def agg_token_mean(loss: torch.Tensor, mask: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """sum_{i,t} l m / sum_{i,t} m (DAPO's token-level loss; verl default)."""
    return masked_mean(loss, mask)


@AGGREGATIONS.register("seq-mean-token-sum")
def agg_seq_mean_token_sum(
    loss: torch.Tensor, mask: torch.Tensor, scale: float | None = None
) -> torch.Tensor:
    """(1/S) sum_i sum_t l m, S = sequences with at least one valid token."""
    return (loss * mask).sum() / _num_seqs(mask)


@AGGREGATIONS.register("seq-mean-token-mean")
def agg_seq_mean_token_mean(
    loss: torch.Tensor, mask: torch.Tensor, scale: float | None = None
) -> torch.Tensor:
    """(1/S) sum_i [sum_t l m / (sum_t m + 1e-8)] (the original GRPO objective)."""
    return masked_mean(loss, mask, dim=-1).sum() / _num_seqs(mask)


@AGGREGATIONS.register("seq-mean-token-sum-norm")
def agg_seq_mean_token_sum_norm(
    loss: torch.Tensor, mask: torch.Tensor, scale: float | None = None
) -> torch.Tensor:
    """(1/S) sum_i sum_t l m / C, C = ``scale`` or else the padded length T (Dr.GRPO; verl 0.9.1 divides by S)."""
    c = float(scale) if scale else float(loss.shape[-1])
    return (loss * mask).sum() / c / _num_seqs(mask)


# ----------------------------------------------------------------------------------------------------------
# KL estimators: fn(log_prob [B, T], ref_log_prob [B, T]) -> [B, T]  (Schulman, "Approximating KL", 2020)


@KL_ESTIMATORS.register("k1", "kl")
def kl_k1(log_prob: torch.Tensor, ref_log_prob: torch.Tensor) -> torch.Tensor:
    """k1 = d, d = logp - logp_ref (unbiased, high variance, can be negative)."""
    return log_prob - ref_log_prob


@KL_ESTIMATORS.register("k2", "mse")
def kl_k2(log_prob: torch.Tensor, ref_log_prob: torch.Tensor) -> torch.Tensor:
    """k2 = d^2 / 2."""
    return 0.5 * (log_prob - ref_log_prob) ** 2


@KL_ESTIMATORS.register("k3", "low_var_kl")
def kl_k3(log_prob: torch.Tensor, ref_log_prob: torch.Tensor) -> torch.Tensor:
    """k3 = exp(k) - k - 1 with k = logp_ref - logp clamped to [-20, 20]; result clamped to [-10, 10] (verl)."""
    k = (ref_log_prob - log_prob).clamp(-20.0, 20.0)
    return (torch.exp(k) - k - 1.0).clamp(-10.0, 10.0)
