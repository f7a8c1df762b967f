"""Registries of pure tensor functions: advantage estimators, policy losses, loss aggregation, KL.

Consumes: per-token tensors of a rollout batch (shapes below). Produces: advantages, per-token losses and
scalar losses. Imports torch only. ``workflow.train.builtin`` looks every function up by its registry key and never
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

    def register(self, *names: str, needs: tuple[str, ...] = ()) -> Callable:
        """Register ``fn`` under ``names``. ``needs`` declares extra rollout inputs the trainer must provide
        (e.g. ``values`` from a critic, ``baseline`` from a greedy rollout): the trainer asks for capabilities,
        never for names."""

        def deco(fn: Callable) -> Callable:
            fn.needs = frozenset(needs)
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
    values: torch.Tensor | None = None
    """[B, T] critic values V(s_t) (GAE only)."""
    baseline: torch.Tensor | None = None
    """[B] reward of the greedy response to the same prompt (ReMax only)."""
    gamma: float = 1.0
    """Discount (GAE, REINFORCE++)."""
    lam: float = 1.0
    """GAE lambda."""


def _group_stats(
    scores: torch.Tensor, group: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-response group mean, unbiased group std and group size. [B] -> 3 x [B]."""
    _, inv, counts = torch.unique(group, return_inverse=True, return_counts=True)
    g = counts.numel()
    sums = torch.zeros(g, dtype=scores.dtype, device=scores.device).index_add_(0, inv, scores)
    mean = sums / counts
    sq = torch.zeros(g, dtype=scores.dtype, device=scores.device).index_add_(
        0, inv, (scores - mean[inv]) ** 2
    )
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


def _discounted_returns(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """G_t = r_t + gamma G_{t+1} at valid tokens; masked tokens carry G unchanged (verl 0.9.1). [B, T] -> [B, T]."""
    ret = torch.zeros_like(rewards)
    g = torch.zeros(rewards.shape[0], dtype=rewards.dtype, device=rewards.device)
    for t in reversed(range(rewards.shape[1])):
        g = (rewards[:, t] + gamma * g) * mask[:, t] + g * (1 - mask[:, t])
        ret[:, t] = g
    return ret


@ADVANTAGES.register("gae", needs=("values",))
def gae_advantage(x: AdvantageInput) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (arXiv 1506.02438; verl ``compute_gae_advantage_return``) for PPO.

    Backward over t: delta_t = r_t + gamma V_next - V_t; A_t = delta_t + gamma lam A_next; at masked tokens
    V_next and A_next are carried unchanged (bootstrap value 0 after the last token). returns = A + V;
    advantages = masked_whiten(A) over the whole batch (token-weighted, Bessel variance, not re-masked, as
    verl). Shapes: [B, T] -> ([B, T], [B, T]).
    """
    if x.values is None:
        raise ValueError("gae needs critic values")
    r, v, m = x.token_rewards, x.values, x.mask
    b, t_len = r.shape
    next_v = torch.zeros(b, dtype=r.dtype, device=r.device)
    last = torch.zeros(b, dtype=r.dtype, device=r.device)
    adv = torch.zeros_like(r)
    for t in reversed(range(t_len)):
        delta = r[:, t] + x.gamma * next_v - v[:, t]
        g = delta + x.gamma * x.lam * last
        next_v = v[:, t] * m[:, t] + next_v * (1 - m[:, t])
        last = g * m[:, t] + last * (1 - m[:, t])
        adv[:, t] = last
    returns = adv + v
    return masked_whiten(adv, m), returns


@ADVANTAGES.register("reinforce_pp")
def reinforce_pp_advantage(x: AdvantageInput) -> tuple[torch.Tensor, torch.Tensor]:
    """REINFORCE++ (arXiv 2501.03262; verl ``compute_reinforce_plus_plus_outcome_advantage``).

    G_t = sum_{t' >= t} gamma^{t'-t} r_{t'} over valid tokens (token rewards carry the in-reward KL);
    advantages = masked_whiten(G) * m over the whole batch (global batch normalisation, Bessel variance,
    1e-8 inside the rsqrt); returns = G. Shapes: [B, T] -> ([B, T], [B, T]).
    """
    ret = _discounted_returns(x.token_rewards, x.mask, x.gamma)
    return masked_whiten(ret, x.mask) * x.mask, ret


@ADVANTAGES.register("reinforce_pp_baseline")
def reinforce_pp_baseline_advantage(x: AdvantageInput) -> tuple[torch.Tensor, torch.Tensor]:
    """REINFORCE++-baseline (verl ``compute_reinforce_plus_plus_baseline_outcome_advantage``; ProRL v2).

    s_i = sum_t r_{i,t}; subtract the group mean (a group of one keeps s_i); broadcast over tokens; then
    masked_whiten over the whole batch, token-weighted, times m. advantages = returns. [B, T] -> [B, T].
    """
    scores = (x.token_rewards * x.mask).sum(-1)
    mean, _, count = _group_stats(scores, x.group)
    centred = scores - torch.where(count == 1, torch.zeros_like(mean), mean)
    adv = masked_whiten(centred[:, None] * x.mask, x.mask) * x.mask
    return adv, adv


@ADVANTAGES.register("rloo")
def rloo_advantage(x: AdvantageInput) -> tuple[torch.Tensor, torch.Tensor]:
    """RLOO, leave-one-out baseline (arXiv 2402.14740; verl ``compute_rloo_outcome_advantage``).

    Group of k > 1: A_i = s_i - (1 / (k - 1)) sum_{j != i} s_j = (s_i - mean) k / (k - 1); a group of one:
    A_i = s_i (no baseline). No normalisation. advantages = returns = A * m. [B, T] -> [B, T].
    """
    scores = (x.token_rewards * x.mask).sum(-1)
    mean, _, count = _group_stats(scores, x.group)
    k = count.to(scores.dtype)
    adv = torch.where(count > 1, (scores - mean) * k / (k - 1).clamp(min=1), scores)
    adv = adv[:, None] * x.mask
    return adv, adv


@ADVANTAGES.register("remax", needs=("baseline",))
def remax_advantage(x: AdvantageInput) -> tuple[torch.Tensor, torch.Tensor]:
    """ReMax (arXiv 2310.10505; verl ``compute_remax_outcome_advantage``).

    returns_t = sum_{t' >= t} r_{t'} m_{t'} (gamma = 1); advantages_t = returns_t - b m_t with b the reward of
    the greedy response to the same prompt; no normalisation. [B, T], [B] -> ([B, T], [B, T]).
    """
    if x.baseline is None:
        raise ValueError("remax needs greedy-rollout baselines")
    returns = (x.token_rewards * x.mask).flip(-1).cumsum(-1).flip(-1)
    return returns - x.baseline[:, None] * x.mask, returns


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
    Metrics (per token, to be masked-averaged): ``clipfrac`` = [l2 > l1], ``clipfrac_lower`` = dual clip active,
    ``approx_kl`` = -clamp(logp - logp_old, -20, 20) (verl's ``ppo_kl``, clamped as the ratio is).
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
        "approx_kl": (-log_ratio).detach(),  # verl's ppo_kl: of the clamped log-ratio
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


@AGGREGATIONS.register("token-sum")
def agg_token_sum(loss: torch.Tensor, mask: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """sum_{i,t} l m: no normalisation at all (verl ``token-sum``; the loss grows with the batch's tokens)."""
    return (loss * mask).sum()


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


@KL_ESTIMATORS.register("abs")
def kl_abs(log_prob: torch.Tensor, ref_log_prob: torch.Tensor) -> torch.Tensor:
    """|d|."""
    return (log_prob - ref_log_prob).abs()


@KL_ESTIMATORS.register("k2", "mse")
def kl_k2(log_prob: torch.Tensor, ref_log_prob: torch.Tensor) -> torch.Tensor:
    """k2 = d^2 / 2."""
    return 0.5 * (log_prob - ref_log_prob) ** 2


@KL_ESTIMATORS.register("k3", "low_var_kl")
def kl_k3(log_prob: torch.Tensor, ref_log_prob: torch.Tensor) -> torch.Tensor:
    """k3 = exp(k) - k - 1 with k = logp_ref - logp clamped to [-20, 20]; result clamped to [-10, 10] (verl)."""
    k = (ref_log_prob - log_prob).clamp(-20.0, 20.0)
    return (torch.exp(k) - k - 1.0).clamp(-10.0, 10.0)


def _straight_through(base: Callable) -> Callable:
    def fn(log_prob: torch.Tensor, ref_log_prob: torch.Tensor) -> torch.Tensor:
        """Forward value of the base estimator, gradient of k2: b - sg(b) + sg(f), b = d^2 / 2 (verl "+")."""
        k2 = kl_k2(log_prob, ref_log_prob)
        return k2 - k2.detach() + base(log_prob, ref_log_prob).detach()

    return fn


for _name in ("k1", "kl", "abs", "k2", "mse", "k3", "low_var_kl"):
    KL_ESTIMATORS.register(f"{_name}+")(_straight_through(KL_ESTIMATORS[_name]))


# ----------------------------------------------------------------------------------------------------------
# KL in the reward: controllers of the coefficient beta (verl ``FixedKLController`` / ``AdaptiveKLController``)


class KLController:
    """beta for r_t = score_t - beta * kl_t; ``update`` is called once per rollout batch."""

    def __init__(self, coef: float, target: float = 0.1, horizon: int = 10000) -> None:
        self.value, self.target, self.horizon = coef, target, horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        pass


KL_CONTROLLERS = Registry("KL controller")
KL_CONTROLLERS.register("fixed")(KLController)


@KL_CONTROLLERS.register("adaptive")
class AdaptiveKLController(KLController):
    """Ziegler et al. (arXiv 1909.08593): e = clip(kl / target - 1, -0.2, 0.2); beta <- beta (1 + e n / horizon)."""

    def update(self, current_kl: float, n_steps: int) -> None:
        err = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + err * n_steps / self.horizon


# ----------------------------------------------------------------------------------------------------------
# Value loss (PPO critic)


def value_loss(
    vpred: torch.Tensor,
    returns: torch.Tensor,
    old_values: torch.Tensor,
    mask: torch.Tensor,
    clip: float,
    agg: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped value loss (verl ``compute_value_loss``): V_clip = clip(V, V_old - c, V_old + c);
    L = 1/2 agg(max((V - R)^2, (V_clip - R)^2)); clipfrac = masked_mean((V_clip - R)^2 > (V - R)^2).
    Shapes: [B, T] -> (scalar, scalar)."""
    vclip = torch.maximum(torch.minimum(vpred, old_values + clip), old_values - clip)
    l1, l2 = (vpred - returns) ** 2, (vclip - returns) ** 2
    loss = 0.5 * AGGREGATIONS[agg](torch.maximum(l1, l2), mask, None)
    return loss, masked_mean((l2 > l1).float(), mask)


# ----------------------------------------------------------------------------------------------------------
# Group filters (dynamic sampling): fn(scores [B], group [B]) -> keep [B] bool


GROUP_FILTERS = Registry("group filter")


@GROUP_FILTERS.register("none")
def keep_all(scores: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """Keep every response."""
    return torch.ones_like(scores, dtype=torch.bool)


@GROUP_FILTERS.register("nonconstant")
def keep_nonconstant_groups(scores: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """DAPO dynamic sampling (arXiv 2503.14476, verl recipe ``filter_groups``): keep a group iff the population
    std of its rewards is > 0 or it has a single response, i.e. drop all-correct and all-wrong groups."""
    _, std, count = _group_stats(scores, group)
    return (std > 0) | (count == 1)


def overlong_penalty(lengths: torch.Tensor, max_len: int, buffer: int, factor: float) -> torch.Tensor:
    """DAPO overlong reward shaping: min(-(L - (L_max - L_buf)) / L_buf * f, 0): zero up to L_max - L_buf,
    linear down to -f at L_max. [B] -> [B]."""
    return torch.clamp(-(lengths.float() - (max_len - buffer)) / buffer * factor, max=0.0)
