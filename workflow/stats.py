"""Statistics behind the verdicts: exact per-problem tests, false-discovery control, hierarchical bootstrap
over seeds and problems, and how many samples a claim needs.

Consumes: per-problem counts (c correct of n samples), as arrays. Produces: p-values, rejections, bootstrap
replicates and sample-size estimates; no I/O. Formulas:

- **One-sided exact test** of "model A's success rate on this problem exceeds model B's" from the counts
  (c_a of n_a, c_b of n_b): Fisher's exact test, conditional on the c_a + c_b successes. Under H0 (equal
  rates) the successes of A follow a hypergeometric law: N = n_a + n_b, K = c_a + c_b, n_a draws, and
  p = P(X >= c_a) = sum_{x >= c_a} C(K, x) C(N - K, n_a - x) / C(N, n_a).
  With B at 0 of n and A at c of n this is C(n, c) / C(2n, c): 1 of 256 gives 0.5, 2 of 256 0.25.
- **Benjamini-Hochberg** at level q over m problems: sort the p-values p_(1) <= ... <= p_(m), find the
  largest i with p_(i) <= i q / m, reject the i smallest. The expected share of false claims among the
  rejections is at most q (for independent or positively dependent tests).
- **Smallest detectable count.** Against a base at 0 of n, the smallest c whose p-value is at most a
  level alpha: c_min(n, alpha) = min {c : C(n, c) / C(2n, c) <= alpha}. A single discovery among m tests
  passes BH when p <= q / m, so c_min(n, q / m) / n is the smallest success rate n samples can declare.
- **Samples to detect** a problem that model A solves at rate r and the base never solves: the smallest n
  on a doubling grid with P(Binomial(n, r) >= c_min(n, q / m)) >= power.
- **Hierarchical bootstrap** for seeds x problems (every seed answers the same problems, a crossed
  design): each replicate draws S seeds with replacement and, once for all of them, P problems with
  replacement, then evaluates the statistic on that table. Seed-to-seed and problem-to-problem variation
  both enter the interval; the problem draw is shared so that comparisons against the base stay paired.
  With few seeds (3) the seed level has few distinct draws and the interval is too narrow when seeds
  differ more than problems do; tests/test_stats.py measures its coverage.
"""

from __future__ import annotations

import math

import numpy as np


def _log_comb(n: np.ndarray | int, k: np.ndarray | int) -> np.ndarray:
    n, k = np.asarray(n, dtype=float), np.asarray(k, dtype=float)
    return _lgamma(n + 1) - _lgamma(k + 1) - _lgamma(n - k + 1)


_lgamma = np.vectorize(math.lgamma, otypes=[float])


def fisher_greater(c_a: int, n_a: int, c_b: int, n_b: int) -> float:
    """One-sided Fisher exact p-value for "A's rate > B's rate" (module docstring)."""
    if not (0 <= c_a <= n_a and 0 <= c_b <= n_b):
        raise ValueError(f"counts out of range: {c_a}/{n_a}, {c_b}/{n_b}")
    total, succ = n_a + n_b, c_a + c_b
    hi = min(succ, n_a)
    if c_a > hi:
        return 0.0
    x = np.arange(c_a, hi + 1)
    logp = _log_comb(succ, x) + _log_comb(total - succ, n_a - x) - _log_comb(total, n_a)
    return float(min(1.0, np.exp(logp).sum()))


def fisher_greater_many(c_a, n_a, c_b, n_b) -> np.ndarray:
    """:func:`fisher_greater` over aligned arrays of counts (one p-value per problem)."""
    return np.array(
        [
            fisher_greater(int(a), int(na), int(b), int(nb))
            for a, na, b, nb in np.broadcast(c_a, n_a, c_b, n_b)
        ]
    )


def bh_reject(p: np.ndarray, q: float) -> np.ndarray:
    """Benjamini-Hochberg rejections at level ``q`` (module docstring); a boolean per p-value."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p, kind="stable")
    below = p[order] <= q * np.arange(1, m + 1) / m
    out = np.zeros(m, dtype=bool)
    if below.any():
        out[order[: np.nonzero(below)[0][-1] + 1]] = True
    return out


def min_detectable_count(n: int, level: float) -> int | None:
    """Smallest c of n whose one-sided exact p-value against 0 of n is <= ``level``; None if none is."""
    for c in range(1, n + 1):
        if fisher_greater(c, n, 0, n) <= level:
            return c
    return None


def samples_to_detect(
    rate: float, q: float, m: int, power: float, n_from: int, n_max: int = 1 << 16
) -> int | None:
    """Smallest n in n_from, 2 n_from, ... <= n_max at which a problem solved at ``rate`` by the compared model
    and never by the base is declared with probability >= ``power`` as a single discovery among ``m`` at
    FDR ``q``; None when even ``n_max`` is not enough (or ``rate`` is 0)."""
    if rate <= 0:
        return None
    n = max(1, n_from)
    while n <= n_max:
        c = min_detectable_count(n, q / max(m, 1))
        if c is not None:
            k = np.arange(c, n + 1)
            tail = np.exp(_log_comb(n, k) + k * math.log(rate) + (n - k) * math.log1p(-rate)).sum()
            if rate >= 1 or tail >= power:
                return n
        n *= 2
    return None


def passk_matrix(c: np.ndarray, n: int, ks: list[int]) -> np.ndarray:
    """[P, K] unbiased pass@k of each problem: 1 - C(n - c, k) / C(n, k), vectorised in log space."""
    c = np.asarray(c)[:, None]
    k = np.asarray(ks)[None, :]
    free = n - c
    ok = free >= k
    log_ratio = _log_comb(np.where(ok, free, k), k) - _log_comb(n, k)
    return np.where(ok, 1.0 - np.exp(np.where(ok, log_ratio, 0.0)), 1.0)


def hierarchical_draws(seeds: int, problems: int, bootstrap: int, rng: np.random.Generator):
    """Indices of a seeds x problems bootstrap: ([B, S] seed draws, [B, P] problem draws) (module docstring)."""
    return rng.integers(0, seeds, size=(bootstrap, seeds)), rng.integers(
        0, problems, size=(bootstrap, problems)
    )


def hierarchical_mean(values: np.ndarray, bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """[B, ...] replicates of the mean over seeds and problems of ``values`` [S, P, ...]."""
    s_idx, p_idx = hierarchical_draws(values.shape[0], values.shape[1], bootstrap, rng)
    per_seed = np.stack([values[:, p].mean(axis=1) for p in p_idx])  # [B, S, ...]
    return np.stack([per_seed[b, s_idx[b]].mean(axis=0) for b in range(bootstrap)])


def interval(replicates: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap replicates along axis 0."""
    lo, hi = np.quantile(replicates, [(1 - ci) / 2, 1 - (1 - ci) / 2], axis=0)
    return lo, hi
