"""workflow/stats.py: the exact test and the FDR step against hand-computed cases, sample sizes by their
definition, and the hierarchical bootstrap's coverage on simulated data with a known answer."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from workflow import stats
from workflow.analyze import pass_at_k


@pytest.mark.parametrize(
    "c_a, n_a, c_b, n_b, p",
    [
        (1, 256, 0, 256, 0.5),  # one success, equally likely on either side
        (2, 256, 0, 256, (256 * 255) / (512 * 511)),  # ProRL's step-600 "RL only" problem: 2/256 vs 0/256
        (4, 4, 0, 4, 1 / 70),  # Fisher's tea-tasting: all four cups right, 1 / C(8, 4)
        (3, 4, 1, 4, 17 / 70),  # (C(4,3) C(4,1) + C(4,4) C(4,0)) / C(8,4)
        (3, 5, 0, 5, 1 / 12),  # C(3,3) C(7,2) / C(10,5) = 21 / 252
        (0, 8, 5, 8, 1.0),  # nothing observed for A: no evidence at all
        (8, 8, 8, 8, 1.0),
    ],
)
def test_fisher_exact_by_hand(c_a, n_a, c_b, n_b, p):
    assert stats.fisher_greater(c_a, n_a, c_b, n_b) == pytest.approx(p, rel=1e-9)


def test_fisher_is_the_hypergeometric_tail_and_rejects_bad_counts():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n_a, n_b = rng.integers(1, 30, size=2)
        c_a, c_b = rng.integers(0, n_a + 1), rng.integers(0, n_b + 1)
        big_n, k = n_a + n_b, c_a + c_b
        tail = sum(comb(k, x) * comb(big_n - k, n_a - x) for x in range(c_a, min(k, n_a) + 1)) / comb(
            big_n, n_a
        )
        assert stats.fisher_greater(c_a, n_a, c_b, n_b) == pytest.approx(tail, rel=1e-9, abs=1e-15)
    with pytest.raises(ValueError, match="out of range"):
        stats.fisher_greater(5, 4, 0, 4)


@pytest.mark.parametrize(
    "p, q, want",
    [
        ([0.01, 0.04, 0.03, 0.005, 0.5], 0.05, [True, True, True, True, False]),
        ([0.02, 0.03, 0.04], 0.05, [True, True, True]),  # step-up: p_(1) = 0.02 > q/3, yet rejected
        ([0.02, 0.04, 0.2], 0.05, [False, False, False]),  # 0.02 > 0.0167, 0.04 > 0.0333, 0.2 > 0.05
        ([0.001, 0.5, 0.5, 0.5], 0.05, [True, False, False, False]),
        ([], 0.05, []),
    ],
)
def test_benjamini_hochberg_by_hand(p, q, want):
    assert list(stats.bh_reject(np.array(p), q)) == want


def test_smallest_detectable_count():
    for n, level in [(256, 0.05), (256, 0.05 / 200), (16, 0.01), (4, 0.05)]:
        c = stats.min_detectable_count(n, level)
        p = [comb(n, x) / comb(2 * n, x) for x in range(1, n + 1)]  # closed form against 0 of n
        assert p[c - 1] <= level and all(v > level for v in p[: c - 1])
    assert stats.min_detectable_count(256, 0.05) == 5  # 5/256 = 2%: p = 0.030, while 4/256 gives 0.062
    assert stats.min_detectable_count(2, 0.01) is None  # two samples cannot reach 1%


def test_samples_to_detect_meets_the_power_it_promises():
    rate, q, m, power = 2 / 256, 0.05, 200, 0.8
    n = stats.samples_to_detect(rate, q, m, power, n_from=256)
    assert n is not None and n > 256

    def detect_prob(size: int) -> float:
        c = stats.min_detectable_count(size, q / m)
        return 1 - sum(comb(size, x) * rate**x * (1 - rate) ** (size - x) for x in range(c))  # small x only

    assert detect_prob(n) >= power > detect_prob(n // 2)
    assert stats.samples_to_detect(0.0, q, m, power, n_from=256) is None
    assert stats.samples_to_detect(0.5, q, m, power, n_from=256) == 256


def test_passk_matrix_matches_the_scalar_estimator():
    c, n, ks = np.array([0, 1, 5, 16, 3]), 16, [1, 2, 4, 8, 16]
    want = np.array([[pass_at_k(n, int(ci), k) for k in ks] for ci in c])
    np.testing.assert_allclose(stats.passk_matrix(c, n, ks), want, rtol=1e-10, atol=1e-12)


def _simulate(rng, seeds: int, problems: int, n: int, tau: float) -> np.ndarray:
    """[S, P] pass@1 estimates: problem logits N(-1, 1.5), a seed effect N(0, tau) on every problem."""
    mu = rng.normal(-1.0, 1.5, size=problems)
    delta = rng.normal(0.0, tau, size=seeds)
    p = 1 / (1 + np.exp(-(mu[None, :] + delta[:, None])))
    return rng.binomial(n, p) / n


def _truth(tau: float) -> float:
    rng = np.random.default_rng(123)
    z = rng.normal(-1.0, 1.5, size=2_000_000) + rng.normal(0.0, tau, size=2_000_000)
    return float((1 / (1 + np.exp(-z))).mean())


@pytest.mark.parametrize("seeds", [8])
def test_hierarchical_bootstrap_covers_the_truth(seeds):
    """On 200 simulated studies (8 seeds x 100 problems x 16 samples, seed effect sd 0.3 on the logit), the
    95% interval of the mean pass@1 contains the population value about 95% of the time."""
    rng = np.random.default_rng(2026)
    truth, tau, hits, reps = _truth(0.3), 0.3, 0, 200
    for _ in range(reps):
        values = _simulate(rng, seeds, 100, 16, tau)[..., None]
        lo, hi = stats.interval(stats.hierarchical_mean(values, 400, rng), 0.95)
        hits += lo[0] <= truth <= hi[0]
    coverage = hits / reps
    print(f"coverage with {seeds} seeds: {coverage:.3f}")
    assert 0.88 <= coverage <= 0.99, coverage
