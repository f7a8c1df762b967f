"""Formula tests (worked examples of shared reference algorithms.md, verl 0.9.1) and properties."""

from __future__ import annotations

import pytest
import torch

from workflow import algorithms as A

T = torch.tensor


def adv_input(scores, group, lengths, t=3, **kw):
    mask = (torch.arange(t)[None, :] < T(lengths)[:, None]).float()
    r = torch.zeros(len(scores), t)
    r[torch.arange(len(scores)), T(lengths) - 1] = T(scores, dtype=torch.float)
    return A.AdvantageInput(r, mask, T(group), **kw), mask


def test_grpo_worked_examples():
    x, mask = adv_input([1, 0, 1, 1], [0, 0, 0, 0], [3, 3, 3, 3])
    adv, ret = A.ADVANTAGES["grpo"](x)
    assert torch.allclose(adv[:, 0], T([0.5, -1.5, 0.5, 0.5]), atol=1e-5)
    assert torch.equal(adv, ret)
    x, _ = adv_input([1, 0, 1, 1], [0, 0, 0, 0], [3, 3, 3, 3], norm_by_std=False)
    assert torch.allclose(A.ADVANTAGES["grpo"](x)[0][:, 0], T([0.25, -0.75, 0.25, 0.25]))


def test_grpo_singleton_and_constant_groups():
    x, _ = adv_input([1], [7], [2])
    assert A.ADVANTAGES["grpo"](x)[0][0, 0].item() == pytest.approx(1 / (1 + 1e-6))
    x, _ = adv_input([1, 1, 0], [0, 0, 1], [3, 2, 1])  # groups {1, 1} and singleton {0}
    assert torch.count_nonzero(A.ADVANTAGES["grpo"](x)[0]) == 0


def test_grpo_groups_are_keyed_by_value_not_position():
    x, _ = adv_input([1, 0, 0, 1], [5, 9, 5, 9], [3, 3, 3, 3])
    adv = A.ADVANTAGES["grpo"](x)[0][:, 0]
    assert torch.allclose(adv, T([0.7071, -0.7071, -0.7071, 0.7071]), atol=1e-4)


def test_advantages_vanish_on_padding():
    x, mask = adv_input([1, 0, 1, 0], [0, 0, 1, 1], [3, 1, 2, 3])
    adv, _ = A.ADVANTAGES["grpo"](x)
    assert torch.all(adv[mask == 0] == 0)


def test_clipped_loss_worked_example():
    ratio = T([[0.5, 1.5, 5.0, 5.0]])
    x = A.PolicyLossInput(torch.log(ratio), torch.zeros(1, 4), T([[-1.0, 1.0, -1.0, 1.0]]), 0.2, 0.28, 3.0)
    loss, m = A.POLICY_LOSSES["vanilla"](x)
    assert torch.allclose(loss, T([[0.8, -1.28, 3.0, -1.28]]), atol=1e-6)
    mask = torch.ones(1, 4)
    assert A.AGGREGATIONS["token-mean"](loss, mask).item() == pytest.approx(0.31, abs=1e-6)
    assert A.masked_mean(m["clipfrac"], mask).item() == pytest.approx(0.75)
    assert A.masked_mean(m["clipfrac_lower"], mask).item() == pytest.approx(0.25)
    assert A.masked_mean(m["approx_kl"], mask).item() == pytest.approx(-0.7328, abs=1e-4)


@pytest.mark.parametrize(
    "adv, ratio, grad_expected",
    [
        (1.0, 1.5, False),
        (1.0, 1.1, True),
        (-1.0, 0.5, False),
        (-1.0, 0.9, True),
        (-1.0, 1.5, True),
        (-1.0, 4.0, False),
        (1.0, 0.5, True),
    ],
)
def test_clipped_loss_is_flat_outside_the_clip_range(adv, ratio, grad_expected):
    logp = torch.log(T([[ratio]])).requires_grad_(True)
    loss, _ = A.POLICY_LOSSES["vanilla"](
        A.PolicyLossInput(logp, torch.zeros(1, 1), T([[adv]]), 0.2, 0.2, 3.0)
    )
    loss.sum().backward()
    assert (logp.grad.abs().item() > 0) == grad_expected


def test_aggregation_worked_examples():
    loss = T([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    mask = T([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    expect = {
        "token-mean": 2.5,
        "seq-mean-token-sum": 5.0,
        "seq-mean-token-mean": 3.0,
        "seq-mean-token-sum-norm": 5 / 3,
    }
    for mode, value in expect.items():
        assert A.AGGREGATIONS[mode](loss, mask).item() == pytest.approx(value, abs=1e-4), mode


@pytest.mark.parametrize(
    "mode", ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"]
)
def test_masked_tokens_contribute_nothing(mode):
    mask = T([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    a = torch.randn(2, 3)
    b = a.clone()
    b[mask == 0] = 1e6
    assert A.AGGREGATIONS[mode](a, mask).item() == pytest.approx(A.AGGREGATIONS[mode](b, mask).item())


def test_kl_worked_examples_and_zero_at_agreement():
    d = T([0.5, -1.0])
    z = torch.zeros(2)
    assert torch.allclose(A.KL_ESTIMATORS["k1"](d, z), T([0.5, -1.0]))
    assert torch.allclose(A.KL_ESTIMATORS["k2"](d, z), T([0.125, 0.5]))
    assert torch.allclose(A.KL_ESTIMATORS["k3"](d, z), T([0.106531, 0.718282]), atol=1e-6)
    assert A.KL_ESTIMATORS["k3"](T([0.0]), T([-30.0])).item() == pytest.approx(10.0)
    assert A.KL_ESTIMATORS["k3"](T([-30.0]), T([0.0])).item() == pytest.approx(10.0)
    x = torch.randn(4, 5)
    for name in ("k1", "k2", "k3"):
        assert torch.all(A.KL_ESTIMATORS[name](x, x) == 0)


def test_registry_lookup_names_valid_keys():
    with pytest.raises(KeyError, match="valid: \\['gae', 'grpo'"):
        A.ADVANTAGES["ppo-magic"]


def test_entropy_of_uniform_logits():
    assert A.entropy_from_logits(torch.zeros(1, 1, 4)).item() == pytest.approx(1.3863, abs=1e-4)


# --- estimators of the other presets: worked examples of algorithms.md section 6


def test_gae_worked_example():
    r = T([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    v = T([[0.5, 0.6, 0.7], [0.2, 0.4, 0.0]])
    m = T([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    x = A.AdvantageInput(r, m, T([0, 1]), values=v, gamma=1.0, lam=0.95)
    adv, ret = A.ADVANTAGES["gae"](x)
    assert torch.allclose(ret[m == 1], T([0.96575, 0.985, 1.0, 0.97, 1.0]), atol=1e-5)
    assert torch.allclose(adv[m == 1], T([-0.2073, -0.6433, -1.1023, 1.4354, 0.5175]), atol=1e-4)
    x1 = A.AdvantageInput(r, m, T([0, 1]), values=v, gamma=1.0, lam=1.0)
    assert torch.allclose(A.ADVANTAGES["gae"](x1)[1][m == 1], torch.ones(5), atol=1e-6)
    assert A.ADVANTAGES["gae"].needs == {"values"}


def test_reinforce_pp_worked_examples():
    m = T([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    x = A.AdvantageInput(T([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), m, T([0, 1]), gamma=0.5)
    adv, ret = A.ADVANTAGES["reinforce_pp"](x)
    assert torch.allclose(ret, T([[0.25, 0.5, 1.0], [0.5, 1.0, 0.0]]))
    assert torch.allclose(adv, T([[-1.1926, -0.4472, 1.0435], [-0.4472, 1.0435, 0.0]]), atol=1e-4)
    x2 = A.AdvantageInput(T([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]), m, T([0, 1]), gamma=1.0)
    adv2, ret2 = A.ADVANTAGES["reinforce_pp"](x2)
    assert torch.allclose(ret2, T([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]))
    assert torch.allclose(adv2[0], torch.full((3,), 0.7303), atol=1e-4)
    assert torch.allclose(adv2[1, :2], torch.full((2,), -1.0954), atol=1e-4)


def test_reinforce_pp_baseline_worked_example():
    x, mask = adv_input([1, 0, 1, 0], [0, 0, 1, 1], [3, 2, 3, 2])
    adv, _ = A.ADVANTAGES["reinforce_pp_baseline"](x)
    assert torch.allclose(adv[:, 0], T([0.7746, -1.1619, 0.7746, -1.1619]), atol=1e-4)
    assert torch.all(adv[mask == 0] == 0)


def test_rloo_worked_examples():
    x, _ = adv_input([1, 0, 1, 1], [0, 0, 0, 0], [3, 3, 3, 3])
    assert torch.allclose(A.ADVANTAGES["rloo"](x)[0][:, 0], T([1 / 3, -1.0, 1 / 3, 1 / 3]), atol=1e-6)
    x, _ = adv_input([1], [0], [2])
    assert A.ADVANTAGES["rloo"](x)[0][0, 0].item() == 1.0


def test_remax_worked_example():
    x, mask = adv_input([1, 0], [0, 1], [3, 2])
    x = A.AdvantageInput(x.token_rewards, mask, x.group, baseline=T([0.5, 0.5]))
    adv, ret = A.ADVANTAGES["remax"](x)
    assert torch.allclose(adv, T([[0.5, 0.5, 0.5], [-0.5, -0.5, 0.0]]))
    assert torch.allclose(ret, T([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]))
    assert A.ADVANTAGES["remax"].needs == {"baseline"}


@pytest.mark.parametrize("name", ["grpo", "rloo", "reinforce_pp_baseline"])
def test_constant_group_gives_zero_advantage(name):
    x, _ = adv_input([1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], [3, 2, 1, 3, 2, 1])
    adv, _ = A.ADVANTAGES[name](x)
    if name == "reinforce_pp_baseline":  # centred to 0 before the global whitening: still all equal to 0
        assert torch.allclose(adv, torch.zeros_like(adv), atol=1e-4)
    else:
        assert torch.count_nonzero(adv) == 0


def test_value_loss_worked_example():
    m = torch.ones(1, 2)
    loss, frac = A.value_loss(T([[1.0, 0.0]]), T([[2.0, 1.0]]), T([[0.0, 0.0]]), m, 0.5, "token-mean")
    assert loss.item() == pytest.approx(0.8125)
    assert frac.item() == pytest.approx(0.5)


def test_kl_straight_through_has_k2_gradient_and_base_value():
    lp = T([0.5, -1.0]).requires_grad_(True)
    z = torch.zeros(2)
    v = A.KL_ESTIMATORS["k3+"](lp, z)
    assert torch.allclose(v, A.KL_ESTIMATORS["k3"](lp, z))
    v.sum().backward()
    assert torch.allclose(lp.grad, T([0.5, -1.0]))  # d/dd (d^2 / 2) = d


def test_adaptive_kl_controller_worked_example():
    c = A.KL_CONTROLLERS["adaptive"](0.1, 0.1, 10000)
    c.update(0.2, 256)
    assert c.value == pytest.approx(0.100512)
    f = A.KL_CONTROLLERS["fixed"](0.1)
    f.update(5.0, 256)
    assert f.value == 0.1


def test_dynamic_sampling_filter():
    scores = T([1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    group = T([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3])
    keep = A.GROUP_FILTERS["nonconstant"](scores, group)
    assert keep.tolist() == [False] * 8 + [True] * 5
    assert A.GROUP_FILTERS["none"](scores, group).all()


def test_overlong_penalty_worked_example():
    p = A.overlong_penalty(T([16384, 18432, 20480, 100]), 20480, 4096, 1.0)
    assert torch.allclose(p, T([0.0, -0.5, -1.0, 0.0]))
