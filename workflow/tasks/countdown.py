"""Countdown-3: reach a target from three numbers in two arithmetic steps.

Consumes: nothing (procedural). Produces: problems ``{id, numbers, target, prompt, solutions, ...}``,
the base model's vocabulary, and the strict stepwise checker used both as the RL reward and as the
evaluation verifier.

A problem is a multiset of three numbers from 1..max_number and a target T. A solution is the trace
``x op y = z , u op v = T`` (ops + - *, every value an integer in 0..max_value): step 1 combines two of the
numbers, step 2 combines its result with the third. Most problems have several valid traces, so coverage
and diversity are meaningful. Following toy-study.md, the checker is strict and stepwise (format, step-1
arithmetic, numbers used exactly, step-2 arithmetic, final value = T): a loose checker lets RL learn to
write T under a false equation.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable

from workflow.tasks import Verdict

OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}
PROMPT_WORD = "target"
SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>"]


def vocabulary(max_value: int) -> list[str]:
    """Every token the task uses: specials, the numbers 0..max_value, operators and punctuation."""
    return SPECIAL_TOKENS + [str(i) for i in range(max_value + 1)] + list(OPS) + ["=", ",", PROMPT_WORD, ":"]


def prompt_text(numbers: Iterable[int], target: int) -> str:
    """``"3 7 12 target 45 :"``; the model continues with a trace and <eos>."""
    return " ".join(str(n) for n in numbers) + f" {PROMPT_WORD} {target} :"


def enumerate_traces(numbers: tuple[int, int, int], max_value: int) -> dict[int, list[str]]:
    """All arithmetically valid, in-range traces using each number once, keyed by their final value.

    Step 1 takes an ordered pair of the numbers; step 2 combines its result z with the remaining number in
    either order. Duplicate numbers give identical strings, which are kept once.
    """
    out: dict[int, set[str]] = {}
    for i, j in itertools.permutations(range(3), 2):
        x, y = numbers[i], numbers[j]
        (u,) = [numbers[k] for k in range(3) if k not in (i, j)]
        for op1, f1 in OPS.items():
            z = f1(x, y)
            if not 0 <= z <= max_value:
                continue
            for a, b in ((z, u), (u, z)):
                for op2, f2 in OPS.items():
                    v = f2(a, b)
                    if 0 <= v <= max_value:
                        out.setdefault(v, set()).add(f"{x} {op1} {y} = {z} , {a} {op2} {b} = {v}")
    return {v: sorted(s) for v, s in out.items()}


def _int_token(tok: str, max_value: int) -> int | None:
    if not tok.isascii() or not tok.isdigit() or (len(tok) > 1 and tok[0] == "0"):
        return None
    v = int(tok)
    return v if v <= max_value else None


def check(
    numbers: Iterable[int], target: int, completion: object, finish_reason: str = "stop", max_value: int = 255
) -> Verdict:
    """Strict stepwise check of one completion. Never raises: anything malformed is a wrong answer."""
    try:
        if finish_reason != "stop":
            return Verdict(False, "truncated")
        if not isinstance(completion, str) or not completion.strip():
            return Verdict(False, "empty")
        toks = completion.split()
        if (
            len(toks) != 11
            or toks[3] != "="
            or toks[5] != ","
            or toks[9] != "="
            or toks[1] not in OPS
            or toks[7] not in OPS
        ):
            return Verdict(False, "format")
        vals = [_int_token(toks[k], max_value) for k in (0, 2, 4, 6, 8, 10)]
        if any(v is None for v in vals):
            return Verdict(False, "format")
        x, y, z, a, b, w = vals
        if OPS[toks[1]](x, y) != z:
            return Verdict(False, "step1")
        given = sorted(int(n) for n in numbers)
        rest = list(given)
        for v in (x, y):
            if v not in rest:
                return Verdict(False, "numbers")
            rest.remove(v)
        if sorted((a, b)) != sorted((z, rest[0])):
            return Verdict(False, "numbers")
        if OPS[toks[7]](a, b) != w:
            return Verdict(False, "step2")
        if w != int(target):
            return Verdict(False, "target")
        return Verdict(True, "ok")
    except Exception as exc:  # defensive: a verifier must never crash a pipeline
        return Verdict(False, f"error:{type(exc).__name__}")


def difficulty(num_solutions: int, bins: tuple[int, ...]) -> str:
    """Name of the solution-count bin: fewer valid traces = harder."""
    names = _bin_names(len(bins))
    level = max(i for i, lo in enumerate(bins) if num_solutions >= lo)
    return names[level]


def _bin_names(n: int) -> list[str]:
    if n == 3:
        return ["hard", "medium", "easy"]
    return [f"level{n - i}" for i in range(n)]
