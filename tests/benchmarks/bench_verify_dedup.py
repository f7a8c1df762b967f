"""Benchmark (not a test): math verification of many samples with and without the dedup cache and the fast path.

Builds ``--samples`` synthetic samples with the answer duplication of real pass@k sampling: problems from the
shared MATH500 copy (``../shared/data/benchmarks/math500``; synthetic references without it), each sampled
``--per-problem`` times, final answers drawn Zipf-like from a few distinct answers per problem (the reference,
a restyled reference, near misses), written boxed (70%), after "the answer is" (10%), unboxed in a sentence
(last-number extraction, 7%), truncated (8%) or empty (5%).

Two measurements, each against its peer in the same run, with verdicts checked equal:

* dedup: ``MathChecker(dedup=True)`` against ``dedup=False`` (``--workers`` workers), with the fast path on both
  sides and then off on both sides, and dedup + fast path against neither;
* cold: the distinct (reference, answer) pairs of all problems (``--distinct`` per problem), each checked once by
  one worker, with the fast path (``fast_verdict``, no sympy) and without it.

Run from the repository root: ``python tests/benchmarks/bench_verify_dedup.py [--samples 100000]``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import Counter
from pathlib import Path

from workflow.tasks.math import MathChecker

MATH500 = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "benchmarks" / "math500" / "test.jsonl"
)

# Reasoning text before the answer, so extraction scans a completion of realistic length (real ones: 1-16k chars).
FILLER = (
    "Let me work through this step by step. First, write the given quantities: we have 3 items at 12 each, "
    "so 3 \\cdot 12 = 36. Then subtract the 4 we set aside, giving 32, and divide by 2 to get 16. "
)


def references(n_problems: int, rng: random.Random) -> list[str]:
    if MATH500.exists():
        rows = [json.loads(line) for line in MATH500.read_text().splitlines() if line.strip()]
        return [r["answer"] for r in rows][:n_problems]
    forms = [
        lambda: str(rng.randint(0, 2000)),
        lambda: f"\\frac{{{rng.randint(1, 50)}}}{{{rng.randint(51, 99)}}}",
        lambda: f"{rng.randint(2, 9)}\\sqrt{{{rng.choice([2, 3, 5, 7, 11, 13])}}}",
        lambda: f"({rng.randint(-9, 9)}, {rng.randint(-9, 9)})",
        lambda: f"x^2 + {rng.randint(1, 9)}x - {rng.randint(1, 9)}",
    ]
    return [rng.choice(forms)() for _ in range(n_problems)]


def distinct_answers(ref: str, rng: random.Random, k: int) -> list[str]:
    """The reference, a restyled reference and k-2 near misses (a constant changed, a term appended)."""
    out = [ref, re.sub(r"\\frac(?![a-zA-Z])", r"\\dfrac", ref) if "\\frac" in ref else ref + " "]
    for j in range(k - 2):
        bumped = re.sub(r"\d+", lambda m, j=j: str(int(m[0]) + j + 1), ref, count=1)
        out.append(bumped if bumped != ref else f"{ref}+{j + 1}")
    return out


def make_samples(n: int, per_problem: int, distinct: int, seed: int) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    refs = references(max(1, n // per_problem), rng)
    weights = [1 / (r + 1) ** 1.2 for r in range(distinct)]  # Zipf-like: the top answer dominates
    samples = []
    while len(samples) < n:
        for ref in refs:
            answers = distinct_answers(ref, rng, distinct)
            rng.shuffle(answers)  # the most frequent answer is right for some problems, wrong for others
            for _ in range(per_problem):
                answer = rng.choices(answers, weights)[0]
                style = rng.random()
                if style < 0.70:
                    text, finish = f"{FILLER}So the answer is $\\boxed{{{answer}}}$.", "stop"
                elif style < 0.80:
                    text, finish = f"{FILLER}Therefore, the final answer is ${answer}$.", "stop"
                elif style < 0.87:
                    text, finish = f"{FILLER}We conclude that it equals {answer} here.", "stop"  # last number
                elif style < 0.95:
                    text, finish = FILLER * 3, "length"
                else:
                    text, finish = "", "stop"
                samples.append((ref, text, finish))
    return samples[:n]


def timed_run(samples, dedup: bool, fast: bool, workers: int, timeout: float, batch: int):
    with MathChecker(workers=workers, timeout=timeout, dedup=dedup, fast=fast) as checker:
        checker.check("x+1", "\\boxed{1+x}")  # start the workers outside the timed region
        checker.cache_stats = type(checker.cache_stats)()
        start = time.perf_counter()
        verdicts = []
        for i in range(0, len(samples), batch):  # shard-sized batches, as the verify stage feeds them
            verdicts += checker.check_many(samples[i : i + batch])
        elapsed = time.perf_counter() - start
        stats = checker.cache_stats
    return verdicts, elapsed, stats


def differing(a: list, b: list) -> int:
    """Verdicts that differ between two runs of the same samples; timeouts depend on load and are left out."""
    return sum(
        (u.correct, u.reason) != (c.correct, c.reason)
        for u, c in zip(a, b, strict=False)
        if "timeout" not in (u.reason, c.reason)
    )


def dedup_runs(samples: list, a: argparse.Namespace) -> None:
    m = a.uncached_samples or len(samples)
    label = "" if m == len(samples) else f" (first {m} samples)"
    rates, runs = {}, {}
    for fast in (True, False):
        for dedup in (True, False):
            part = samples if dedup else samples[:m]
            verdicts, elapsed, stats = timed_run(part, dedup, fast, a.workers, a.timeout, a.batch)
            rates[fast, dedup], runs[fast, dedup] = len(part) / elapsed, verdicts
            print(
                f"fast path {'on ' if fast else 'off'}, {'dedup   ' if dedup else 'no dedup'}: {len(part)} samples in "
                f"{elapsed:7.1f} s = {rates[fast, dedup]:8.0f} samples/s ({stats.misses} pairs checked, {stats.fast} "
                f"by the fast path, {stats.hits} cache hits){'' if dedup else label}"
            )
    print("  verdicts:", dict(Counter(v.reason for v in runs[True, True])))
    base = runs[True, True]
    print(
        f"verdicts differing from the first run (timeouts aside): {[differing(base, v) for v in runs.values()]}"
    )
    print(f"speed-up of the dedup cache, fast path on:  {rates[True, True] / rates[True, False]:.1f}x")
    print(f"speed-up of the dedup cache, fast path off: {rates[False, True] / rates[False, False]:.1f}x")
    print(f"speed-up of dedup + fast path over neither: {rates[True, True] / rates[False, False]:.1f}x")


def cold_runs(a: argparse.Namespace) -> None:
    rng = random.Random(a.seed)
    refs = references(500, rng)
    pairs = list(
        dict.fromkeys(
            (ref, f"\\boxed{{{x}}}") for ref in refs for x in distinct_answers(ref, rng, a.distinct)
        )
    )
    items = [(ref, text, "stop") for ref, text in pairs]
    out = {}
    for fast in (True, False):
        verdicts, elapsed, stats = timed_run(items, True, fast, 1, a.timeout, a.batch)
        out[fast] = verdicts
        print(
            f"cold, fast path {'on ' if fast else 'off'}: {len(items)} distinct pairs, 1 worker, {elapsed:7.1f} s = "
            f"{len(items) / elapsed:7.0f} pairs/s ({stats.fast} settled by the fast path)"
        )
        if fast:
            t_fast = elapsed
    print(
        f"cold speed-up of the fast path: {elapsed / t_fast:.1f}x; verdicts differing: {differing(out[True], out[False])}"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument(
        "--uncached-samples",
        type=int,
        default=None,
        help="verify only this many samples without the cache (default: all); the rate is reported as measured",
    )
    ap.add_argument(
        "--per-problem", type=int, default=200, help="samples per problem (pass@k draws n per problem)"
    )
    ap.add_argument("--distinct", type=int, default=8, help="distinct final answers per problem")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("dedup", "cold"), default=None, help="run one of the two measurements")
    a = ap.parse_args(argv)

    source = "MATH500 references" if MATH500.exists() else "synthetic references"
    if a.only != "cold":
        samples = make_samples(a.samples, a.per_problem, a.distinct, a.seed)
        print(
            f"{len(samples)} samples, {len(samples) // a.per_problem} problems x {a.per_problem} ({source}), "
            f"{a.workers} workers"
        )
        dedup_runs(samples, a)
    if a.only != "dedup":
        cold_runs(a)


if __name__ == "__main__":
    main()
