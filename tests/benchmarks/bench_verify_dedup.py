"""Benchmark (not a test): math verification of many samples with and without the dedup cache.

Builds ``--samples`` synthetic samples with the answer duplication of real pass@k sampling: problems from the
shared MATH500 copy (``../shared/data/benchmarks/math500``; synthetic references without it), each sampled
``--per-problem`` times, final answers drawn Zipf-like from a few distinct answers per problem (the reference,
a restyled reference, near misses), written boxed (70%), after "the answer is" (10%), unboxed in a sentence
(last-number extraction, 7%), truncated (8%) or empty (5%). Verifies them with ``MathChecker(dedup=True)`` and
``MathChecker(dedup=False)`` in the same run, checks that both give the same verdicts, and prints samples/s for
both and their ratio.

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


def timed_run(samples: list[tuple[str, str, str]], dedup: bool, workers: int, timeout: float, batch: int):
    with MathChecker(workers=workers, timeout=timeout, dedup=dedup) as checker:
        checker.check("1", "\\boxed{1.0}")  # start the workers outside the timed region
        start = time.perf_counter()
        verdicts = []
        for i in range(0, len(samples), batch):  # shard-sized batches, as the verify stage feeds them
            verdicts += checker.check_many(samples[i : i + batch])
        elapsed = time.perf_counter() - start
        stats = checker.cache_stats
    return verdicts, elapsed, stats


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
    a = ap.parse_args(argv)

    samples = make_samples(a.samples, a.per_problem, a.distinct, a.seed)
    source = "MATH500 references" if MATH500.exists() else "synthetic references"
    print(
        f"{len(samples)} samples, {len(samples) // a.per_problem} problems x {a.per_problem} ({source}), {a.workers} workers"
    )

    cached, t_cached, stats = timed_run(samples, True, a.workers, a.timeout, a.batch)
    print(
        f"dedup cache:    {len(samples)} samples in {t_cached:8.1f} s = {len(samples) / t_cached:9.0f} samples/s "
        f"({stats.misses} pairs verified, {stats.hits} cache hits)"
    )
    print("  verdicts:", dict(Counter(v.reason for v in cached)))

    m = a.uncached_samples or len(samples)
    uncached, t_uncached, stats = timed_run(samples[:m], False, a.workers, a.timeout, a.batch)
    rate_uncached = m / t_uncached
    label = "" if m == len(samples) else f" (first {m} samples only)"
    print(
        f"no cache:       {m} samples in {t_uncached:8.1f} s = {rate_uncached:9.0f} samples/s "
        f"({stats.misses} pairs verified){label}"
    )
    # Timeouts depend on load, everything else must agree.
    differ = sum(
        (u.correct, u.reason) != (c.correct, c.reason)
        for u, c in zip(uncached, cached, strict=False)
        if "timeout" not in (u.reason, c.reason)
    )
    print(f"verdicts differing between the two runs (timeouts aside): {differ}")
    print(f"speed-up of the dedup cache: {len(samples) / t_cached / rate_uncached:.1f}x")


if __name__ == "__main__":
    main()
