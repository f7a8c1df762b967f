"""Oracle tests: every estimator, loss and KL function agrees with verl 0.9.1 (``verl.trainer.ppo.core_algos``)
to 1e-5 on random batches, including groups of one response and all-equal groups.

verl is an optional test extra (``bash run.sh test`` installs it; see run.sh); without it the module skips.
Test double: verl's ``core_algos`` imports ray at module top for its distributed trainer. When ray is not
installed (verl without its dependencies) a stub module stands in for it while these imports run, and is removed
from ``sys.meta_path`` and ``sys.modules`` after them; none of the pure functions compared here calls ray.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from unittest import mock

import numpy as np
import pytest
import torch

from workflow import algorithms as A


class _RayStub(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name == "ray" or name.startswith("ray."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        m = mock.MagicMock(name=spec.name)
        m.__path__, m.__spec__ = [], spec
        return m

    def exec_module(self, module):
        pass


if importlib.util.find_spec("verl") is None:
    pytest.skip("verl==0.9.1 not installed (optional oracle extra)", allow_module_level=True)
_stub = _RayStub() if importlib.util.find_spec("ray") is None else None
if _stub is not None:
    sys.meta_path.insert(0, _stub)
try:
    core = pytest.importorskip("verl.trainer.ppo.core_algos")
    AlgoConfig = pytest.importorskip("verl.trainer.config").AlgoConfig
finally:  # the stub serves these imports only: it must not make later tests (vLLM's) believe Ray exists
    if _stub is not None:
        sys.meta_path.remove(_stub)
        for _name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
            del sys.modules[_name]

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # verl's deprecated positional API
ATOL = 1e-5
SEEDS = range(6)


def random_batch(seed: int, binary: bool = True):
    """B responses in groups of mixed sizes (singletons, all-equal groups included), right-padded masks."""
    g = torch.Generator().manual_seed(seed)
    sizes = [1, 4, 4, 2, 3, 1, 4]
    group = torch.cat([torch.full((s,), i) for i, s in enumerate(sizes)])
    b, t = len(group), 7
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    mask = (torch.arange(t)[None] < lengths[:, None]).float()
    scores = torch.randint(0, 2, (b,), generator=g).float() if binary else torch.randn(b, generator=g)
    scores[group == 1] = 1.0  # an all-correct group
    scores[group == 3] = 0.0  # an all-wrong group
    rewards = torch.zeros(b, t)
    rewards[torch.arange(b), lengths - 1] = scores
    rewards = rewards + 0.01 * torch.randn(b, t, generator=g) * mask  # e.g. an in-reward KL term
    return rewards, mask, group, g


def uids(group: torch.Tensor) -> np.ndarray:
    return np.array([f"uid-{int(i)}" for i in group], dtype=object)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("norm", [True, False])
def test_grpo(seed, norm):
    r, m, group, _ = random_batch(seed)
    ours, _ = A.ADVANTAGES["grpo"](A.AdvantageInput(r, m, group, eps=1e-6, norm_by_std=norm))
    theirs, _ = core.compute_grpo_outcome_advantage(
        r, m, uids(group), epsilon=1e-6, norm_adv_by_std_in_grpo=norm
    )
    assert torch.allclose(ours, theirs, atol=ATOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_rloo(seed):
    r, m, group, _ = random_batch(seed)
    ours, _ = A.ADVANTAGES["rloo"](A.AdvantageInput(r, m, group))
    theirs, _ = core.compute_rloo_outcome_advantage(r, m, uids(group), epsilon=1e-6)
    assert torch.allclose(ours, theirs, atol=ATOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_reinforce_pp_baseline(seed):
    r, m, group, _ = random_batch(seed)
    ours, _ = A.ADVANTAGES["reinforce_pp_baseline"](A.AdvantageInput(r, m, group))
    theirs, _ = core.compute_reinforce_plus_plus_baseline_outcome_advantage(r, m, uids(group), epsilon=1e-6)
    assert torch.allclose(ours, theirs, atol=ATOL)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_reinforce_pp(seed, gamma):
    r, m, group, _ = random_batch(seed, binary=False)
    ours, ours_ret = A.ADVANTAGES["reinforce_pp"](A.AdvantageInput(r, m, group, gamma=gamma))
    theirs, theirs_ret = core.compute_reinforce_plus_plus_outcome_advantage(
        r, m, config=AlgoConfig(gamma=gamma)
    )
    assert torch.allclose(ours, theirs, atol=ATOL)
    assert torch.allclose(ours_ret * m, theirs_ret * m, atol=ATOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_remax(seed):
    r, m, group, g = random_batch(seed)
    baseline = torch.rand(len(group), generator=g)
    ours, ours_ret = A.ADVANTAGES["remax"](A.AdvantageInput(r, m, group, baseline=baseline))
    theirs, theirs_ret = core.compute_remax_outcome_advantage(r, baseline, m)
    assert torch.allclose(ours, theirs, atol=ATOL)
    assert torch.allclose(ours_ret, theirs_ret, atol=ATOL)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("gamma, lam", [(1.0, 1.0), (1.0, 0.95), (0.99, 0.9)])
def test_gae(seed, gamma, lam):
    r, m, group, g = random_batch(seed, binary=False)
    values = torch.randn(r.shape, generator=g) * m
    ours, ours_ret = A.ADVANTAGES["gae"](A.AdvantageInput(r, m, group, values=values, gamma=gamma, lam=lam))
    theirs, theirs_ret = core.compute_gae_advantage_return(r, values, m, gamma, lam)
    valid = m.bool()  # verl does not re-mask whitened advantages: compare valid tokens
    assert torch.allclose(ours[valid], theirs[valid], atol=ATOL)
    assert torch.allclose(ours_ret[valid], theirs_ret[valid], atol=ATOL)


MODES = ["token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("clip", [(0.2, 0.2, 3.0), (0.2, 0.28, 10.0), (0.2, 0.4, 1.5)])
def test_policy_loss(seed, mode, clip):
    _, m, _, g = random_batch(seed)
    b, t = m.shape
    old = -torch.rand(b, t, generator=g) * 3
    new = old + torch.randn(b, t, generator=g) * 0.7  # ratios well outside both clip ranges too
    adv = torch.randn(b, t, generator=g) * 2
    lo, hi, c = clip
    loss_mat, metrics = A.POLICY_LOSSES["vanilla"](A.PolicyLossInput(new, old, adv, lo, hi, c))
    ours = A.AGGREGATIONS[mode](loss_mat, m, None)
    pg_loss, clipfrac, ppo_kl, clipfrac_lower = core.compute_policy_loss(
        old,
        new,
        adv,
        m,
        cliprange=lo,
        cliprange_low=lo,
        cliprange_high=hi,
        clip_ratio_c=c,
        loss_agg_mode=mode,
    )
    assert ours.item() == pytest.approx(pg_loss.item(), abs=ATOL)
    assert A.masked_mean(metrics["clipfrac"], m).item() == pytest.approx(clipfrac.item(), abs=ATOL)
    assert A.masked_mean(metrics["clipfrac_lower"], m).item() == pytest.approx(
        clipfrac_lower.item(), abs=ATOL
    )
    assert A.masked_mean(metrics["approx_kl"], m).item() == pytest.approx(ppo_kl.item(), abs=ATOL)


@pytest.mark.parametrize("mode", MODES)
def test_policy_loss_and_ppo_kl_beyond_the_log_ratio_clamp(mode):
    """Log-ratios beyond +-20 (a token the behaviour policy found near-impossible, or the reverse): verl clamps
    the log-ratio before the ratio and logs ``ppo_kl`` of the clamped value; an unclamped metric differs here."""
    _, m, _, g = random_batch(0)
    b, t = m.shape
    old = -torch.rand(b, t, generator=g) * 3
    new = old.clone()
    new[0, 0], new[1, 0], new[2, 0] = old[0, 0] + 35.0, old[1, 0] - 45.0, old[2, 0] + 25.0
    m[0, 0] = m[1, 0] = m[2, 0] = 1.0
    adv = torch.randn(b, t, generator=g) * 2
    loss_mat, metrics = A.POLICY_LOSSES["vanilla"](A.PolicyLossInput(new, old, adv, 0.2, 0.28, 10.0))
    pg_loss, _, ppo_kl, _ = core.compute_policy_loss(
        old,
        new,
        adv,
        m,
        cliprange=0.2,
        cliprange_low=0.2,
        cliprange_high=0.28,
        clip_ratio_c=10.0,
        loss_agg_mode=mode,
    )
    assert A.AGGREGATIONS[mode](loss_mat, m, None).item() == pytest.approx(pg_loss.item(), rel=1e-5, abs=ATOL)
    ours_kl = A.masked_mean(metrics["approx_kl"], m).item()
    assert ours_kl == pytest.approx(ppo_kl.item(), abs=ATOL)
    assert abs(ours_kl - A.masked_mean(old - new, m).item()) > 1e-3  # the clamp matters in this batch


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mode", MODES)
def test_aggregation(seed, mode):
    _, m, _, g = random_batch(seed)
    m[2] = 0  # a fully masked row
    loss = torch.randn(m.shape, generator=g)
    assert A.AGGREGATIONS[mode](loss, m, None).item() == pytest.approx(
        core.agg_loss(loss, m, mode).item(), abs=ATOL
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "name",
    [
        "k1",
        "kl",
        "abs",
        "k2",
        "mse",
        "k3",
        "low_var_kl",
        "k1+",
        "kl+",
        "abs+",
        "k2+",
        "mse+",
        "k3+",
        "low_var_kl+",
    ],
)
def test_kl_estimators_values_and_gradients(seed, name):
    g = torch.Generator().manual_seed(seed)
    ref = -torch.rand(5, 6, generator=g) * 4
    base = ref + torch.randn(5, 6, generator=g) * 3
    base[0, 0], ref[0, 1] = -40.0, -40.0  # exercise the k3 clamps
    ours_in, theirs_in = base.clone().requires_grad_(True), base.clone().requires_grad_(True)
    ours, theirs = A.KL_ESTIMATORS[name](ours_in, ref), core.kl_penalty(theirs_in, ref, name)
    assert torch.allclose(ours, theirs, atol=ATOL)
    ours.sum().backward()
    theirs.sum().backward()
    assert torch.allclose(ours_in.grad, theirs_in.grad, atol=ATOL)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mode", MODES)
def test_value_loss(seed, mode):
    _, m, _, g = random_batch(seed)
    vpred, ret, old = (torch.randn(m.shape, generator=g) for _ in range(3))
    ours, ours_frac = A.value_loss(vpred, ret, old, m, 0.5, mode)
    theirs, theirs_frac = core.compute_value_loss(vpred, ret, old, m, cliprange_value=0.5, loss_agg_mode=mode)
    assert ours.item() == pytest.approx(theirs.item(), abs=ATOL)
    assert ours_frac.item() == pytest.approx(theirs_frac.item(), abs=ATOL)


@pytest.mark.parametrize("kl", [0.0, 0.05, 0.2, 3.0])
def test_kl_controllers(kl):
    ours, theirs = A.KL_CONTROLLERS["adaptive"](0.1, 0.1, 10000), core.AdaptiveKLController(0.1, 0.1, 10000)
    for _ in range(3):
        ours.update(kl, 256)
        theirs.update(kl, 256)
    assert ours.value == pytest.approx(theirs.value, rel=1e-9)
    fixed = core.FixedKLController(0.1)
    fixed.update(kl, 256)
    assert A.KL_CONTROLLERS["fixed"](0.1).value == fixed.value
