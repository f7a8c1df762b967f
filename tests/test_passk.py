"""pass@k estimator against brute-force enumeration, and the bootstrap table."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pandas as pd
import pytest

from workflow.analyze import k_grid, parse_model, pass_at_k, passk_table


def brute_force(n: int, c: int, k: int) -> float:
    """Share of all k-subsets of n samples (c of them correct) containing at least one correct sample."""
    samples = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 5, 8, 10])
def test_pass_at_k_equals_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12)


def test_reference_examples_and_large_n_stability():
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)
    # large n: the product form stays finite where binomials overflow floats
    assert pass_at_k(1024, 3, 256) == pytest.approx(1 - comb(1021, 256) / comb(1024, 256), rel=1e-9)
    assert pass_at_k(256, 0, 256) == 0.0
    assert pass_at_k(256, 1, 256) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_k_grid():
    assert k_grid(256) == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert k_grid(100) == [1, 2, 4, 8, 16, 32, 64, 100]
    assert k_grid(1) == [1]


def test_parse_model():
    assert parse_model("base") == ("base", 0, 0)
    assert parse_model("dr_grpo-s1-step300") == ("dr_grpo", 1, 300)
    with pytest.raises(ValueError):
        parse_model("grpo300")


def _counts(model, cs, n):
    algo, seed, step = parse_model(model)
    return pd.DataFrame(
        dict(
            model=model,
            algo=algo,
            seed=seed,
            step=step,
            dataset="test",
            problem_id=[f"p{i}" for i in range(len(cs))],
            difficulty="hard",
            n=n,
            c=cs,
        )
    )


def test_passk_table_is_monotone_with_cis_around_the_mean():
    rng = np.random.default_rng(0)
    counts = _counts("base", rng.integers(0, 17, size=50), 16)
    t = passk_table(counts, bootstrap=500, ci=0.95, seed=0)
    assert list(t.k) == [1, 2, 4, 8, 16]
    assert (np.diff(t.value) >= 0).all()
    assert ((t.ci_low <= t.value) & (t.value <= t.ci_high)).all()
    assert t.value.iloc[0] == pytest.approx(counts.c.mean() / 16)
    assert t.value.iloc[-1] == pytest.approx((counts.c > 0).mean())  # pass@n is coverage
