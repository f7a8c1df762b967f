"""Boundary analyses from per-problem counts: crossing with CI, coverage, histograms, difficulty, dynamics,
verdicts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workflow import boundary as B
from workflow.analyze import parse_model
from workflow.config import from_dict
from workflow.tracking import MemoryTracker


def counts(model, cs, n=8, difficulty=None):
    algo, seed, step = parse_model(model)
    p = len(cs)
    return pd.DataFrame(
        dict(
            model=model,
            algo=algo,
            seed=seed,
            step=step,
            dataset="test",
            problem_id=[f"p{i}" for i in range(p)],
            difficulty=difficulty or ["hard", "easy"] * (p // 2) + ["hard"] * (p % 2),
            n=n,
            c=cs,
        )
    )


def test_first_crossing():
    ks = [1, 2, 4]
    assert B.first_crossing(np.array([0.1, 0.5, 0.9]), np.array([0.3, 0.5, 0.6]), ks) == 2
    assert math.isinf(B.first_crossing(np.array([0.1, 0.2, 0.3]), np.array([0.3, 0.5, 0.6]), ks))


def test_crossing_ci_brackets_the_point_estimate():
    rng = np.random.default_rng(0)
    base = counts("base", rng.integers(1, 4, 60))  # thin but wide
    rl = counts("grpo-s0-step10", np.where(rng.random(60) < 0.7, 8, 0))  # sharp, narrow
    r = B.crossing(base, rl, bootstrap=300, ci=0.9, seed=0)
    assert r["ci_low"] <= r["k_star"] <= r["ci_high"]
    assert r["k_max"] == 8


def test_no_crossing_when_rl_dominates():
    r = B.crossing(counts("base", [0, 1, 0, 2]), counts("grpo-s0-step1", [8, 8, 8, 8]), 50, 0.9, 0)
    assert math.isinf(r["k_star"]) and r["no_crossing_share"] > 0.9


def test_coverage_categories():
    cov = B.coverage(counts("base", [0, 3, 2, 0]), counts("grpo-s0-step1", [0, 8, 0, 1]))
    assert list(cov.category) == ["neither", "both", "base_only", "rl_only"]


def test_histogram_bins_follow_the_paper():
    h = B.histogram(counts("base", [0, 1, 8, 4, 7], n=8))  # acc 0, 0.125, 1, 0.5, 0.875
    share = dict(zip(h.label, h.share, strict=True))
    assert (
        share["0"] == share["1"] == share["(0.1, 0.2]"] == share["(0.4, 0.5]"] == share["(0.8, 0.9]"] == 0.2
    )
    assert h.share.sum() == pytest.approx(1.0)
    assert len(h) == 12


def test_regimes():
    assert B.regime([100, 200], [0.9, 0.8], base_passn=0.95) == "diminish"
    assert B.regime([100, 200], [0.9, 0.97], base_passn=0.9) == "sustained"
    assert B.regime([100, 200], [0.96, 0.965], base_passn=0.9) == "plateau"
    assert B.regime([100], [0.96], base_passn=0.9) == "single"


def test_dynamics_difficulty_and_verdict_end_to_end(tmp_path, monkeypatch):
    c = pd.concat(
        [
            counts("base", [2, 1, 0, 3]),
            counts("grpo-s0-step1", [4, 0, 0, 8]),
            counts("grpo-s0-step2", [8, 0, 8, 8]),
            counts("grpo-s0-step3", [8, 0, 1, 8]),
        ]
    )
    path = tmp_path / "counts_test.csv"
    c.to_csv(path, index=False)
    cfg = from_dict({"analysis": {"bootstrap": 50}})
    tracker = MemoryTracker()
    monkeypatch.setattr(B.tracking, "start", lambda *a, **k: tracker)
    paths = B.run(cfg, path, tmp_path)
    dyn = pd.read_csv(paths["dynamics"])
    assert list(dyn[dyn.algo == "grpo"].step) == [1, 2, 3]
    diff = pd.read_csv(paths["difficulty"])
    assert set(diff.difficulty) == {"hard", "easy"}
    v = {r["model"]: r for r in __import__("json").loads(paths["verdict_json"].read_text())}
    # 8 of 8 against 0 of 8 survives the test (p = 1/12870); 1 of 8 against 0 of 8 (p = 1/2) does not, so
    # the verdict, which rests on the tested count, says no while reporting the observed problem
    assert v["grpo-s0-step2"]["solved_rl_only"] == v["grpo-s0-step2"]["rl_only_tested"] == 1
    assert v["grpo-s0-step2"]["expands_boundary"] and v["grpo-s0-step2"]["answer"].startswith("yes")
    step3 = v["grpo-s0-step3"]
    assert (step3["solved_rl_only"], step3["rl_only_tested"], step3["expands_boundary"]) == (1, 0, False)
    assert "none significant at FDR 0.05" in step3["answer"] and step3["samples_for_rl_only"] is not None
    assert v["grpo-s0-step1"]["solved_base_only"] == 1 and v["grpo-s0-step1"]["base_only_tested"] == 0
    assert not v["grpo-s0-step1"]["expands_boundary"]
    assert v["grpo-s0-step1"]["delta_se"] == pytest.approx(0.75 - 12 / 32)
    assert "Does RL expand the reasoning boundary?" in paths["verdict_md"].read_text()
    # the verdict reaches W&B as a table and as per-model summary values
    ((key, (cols, rows)),) = tracker.tables.items()
    assert key == "verdict_test" and len(rows) == 3 and "delta_se" in cols
    assert tracker.summaries["test/grpo-s0-step2/solved_rl_only"] == 1


def test_verdict_thin_base_sharp_rl():
    """A wide but thin base against a sharp RL model that loses one problem: the paper's picture."""
    c = pd.concat([counts("base", [1, 1, 1, 0, 2], n=4), counts("grpo-s0-step10", [4, 4, 0, 0, 4], n=4)])
    (v,) = B.verdicts(c, from_dict({"analysis": {"bootstrap": 50}}))
    assert v["pass1_rl"] > v["pass1_base"]
    assert v["passn_base"] == pytest.approx(0.8) and v["passn_rl"] == pytest.approx(0.6)
    assert v["k_star"] == 4
    assert (v["solved_both"], v["solved_base_only"], v["solved_rl_only"], v["solved_neither"]) == (3, 1, 0, 1)
    cov = B.coverage(c[c.algo == "base"], c[c.algo == "grpo"])
    assert list(cov.problem_id[cov.category == "base_only"]) == ["p2"]
    assert v["answer"].startswith("no: every problem RL solved")


def test_verdict_names_a_distilled_model_by_its_role():
    """Evaluation studies compare distilled and instruct models too: the verdict does not call them RL."""
    cfg = from_dict(
        {
            "analysis": {"bootstrap": 20},
            "models": {"b": {"path": "x", "role": "base"}, "d": {"path": "y", "role": "distill"}},
            "benchmarks": {"gsm8k": {"source": "gsm8k.jsonl"}},
            "comparisons": {"c": {"base": "b", "models": ["d"], "benchmarks": ["gsm8k"]}},
        }
    )
    base = counts("base", [0, 1, 0], n=4)
    d = counts("base", [2, 0, 1], n=4).assign(model="d", algo="d")
    (v,) = B.verdicts(pd.concat([base, d]), cfg)
    # 2 of 4 against 0 of 4 is not significant (4 samples detect nothing below 4/4): observed, not tested
    assert v["answer"].startswith(
        "no: distillation solved 2 problem(s) the base never solved in 4 samples, none"
    )
    assert "RL" not in v["answer"]


def test_one_rl_only_problem_at_2_of_256_is_not_evidence():
    """The prolonged run's step-600 ProRL pattern: among 200 problems, one solved 2 times of 256 by RL and
    never by the base. Observed "RL only" = 1, but p = C(256,2)/C(512,2) = 0.25 exceeds every Benjamini-Hochberg
    threshold (at most 0.05), so the tested count is 0 and the verdict is no; it names the detectable rate
    (12 of 256 for a single discovery among 200) and the samples that would detect 2/256 (2,048 for power 0.8)."""
    rng = np.random.default_rng(0)
    base_c = rng.integers(1, 200, size=200)
    rl_c = base_c.copy()
    base_c[7], rl_c[7] = 0, 2
    c = pd.concat([counts("base", list(base_c), n=256), counts("prorl-s0-step600", list(rl_c), n=256)])
    (v,) = B.verdicts(c, from_dict({"analysis": {"bootstrap": 50}}))
    assert (v["solved_rl_only"], v["rl_only_tested"], v["expands_boundary"]) == (1, 0, False)
    assert v["min_detectable_count"] == 12 and v["samples_for_rl_only"] == 2048
    assert "12/256" in v["answer"]


def test_the_verdict_records_the_math_policy_of_math_panels():
    cfg = from_dict(
        {
            "verification": {"policy": "lenient"},
            "models": {"b": {"path": "x", "role": "base"}, "r": {"path": "y"}},
            "benchmarks": {"gsm8k": {"source": "g.jsonl"}, "he": {"loader": "humaneval_plus", "source": "h"}},
            "comparisons": {"c": {"base": "b", "models": ["r"], "benchmarks": ["gsm8k", "he"]}},
        }
    )
    assert B.math_policy(cfg, "c_gsm8k") == "lenient"
    assert B.math_policy(cfg, "c_he") is None  # programs: no math policy
    assert B.math_policy(from_dict({}), "test") is None  # the countdown task
    rows = B.verdicts(pd.concat([counts("base", [1, 0]), counts("grpo-s0-step1", [2, 0])]), cfg)
    rows[0]["verification_policy"] = "lenient"
    assert "verification.policy = lenient" in B.verdict_markdown(rows)
