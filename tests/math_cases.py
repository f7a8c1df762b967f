"""Verifier test cases built from the six shared benchmarks' reference answers (used by tests/test_math_*.py).

For every problem: the reference answer written as a model would (boxed, after "the answer is", restyled, for
GSM8K as a plain final sentence) and perturbations that change its value (``completions``); and the residual
classes of ``residual_cases``: number words, thousands with LaTeX spaces, ``a + b \\cdot i``, one answer split over
several boxes, hedges between two boxes, equations with their sides swapped or re-spaced. The copies of the
benchmarks live in ``../shared/data/benchmarks`` (never committed); without them the tests that use them skip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from workflow.tasks.answers import last_boxed

BENCHMARKS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "benchmarks"


def rows(name: str) -> list[dict]:
    path = BENCHMARKS / name / "test.jsonl"
    if not path.exists():
        pytest.skip(f"{path} not present (the benchmark copies are never committed)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _number(x: float | str) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def _minerva(row: dict) -> str:
    boxed = last_boxed(row["solution"])
    assert boxed, row["solution"][-200:]
    return boxed


REFERENCE: dict[str, Callable[[dict], str]] = {
    "aime24": lambda r: str(r["answer"]),
    "amc23": lambda r: _number(r["answer"]),
    "gsm8k": lambda r: r["answer"].split("####")[-1].strip(),
    "math500": lambda r: r["answer"],
    "minerva_math": _minerva,
    # a list with one string, "$...$" around each element of a multi-answer ("$a$,$b$")
    "olympiadbench": lambda r: ",".join(r["final_answer"]).strip(),
}

_PLAIN_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?")
_LETTER = re.compile(r"^\\text\{\(?([A-E])\)?\}$")
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
_WORD = re.compile(r"^\\text\{\s*([A-Za-z][A-Za-z ]*)\}$")


def wrong_answers(ref: str) -> list[str]:
    """Answers that differ from ``ref`` in value, as a model's near misses would."""
    s = ref.strip().strip("$").strip()
    if s and _PLAIN_NUMBER.fullmatch(s):
        x = float(s.replace(",", ""))
        out = [_number(x + 1)]
        if x != 0:
            out.append(_number(x * 2))
        return out
    if m := _LETTER.match(s):
        return [f"\\text{{({'ABCDE'[('ABCDE'.index(m[1]) + 1) % 5]})}}"]
    if m := _WORD.match(s):
        return [f"\\text{{{m[1][::-1]}x}}"]
    if re.search(r"\d", s):
        # the first integer constant +1: (6,3) -> (7,3), 3\sqrt{13} -> 4\sqrt{13}, \frac{2}{5} -> \frac{3}{5}
        return [re.sub(r"\d+", lambda d: str(int(d[0]) + 1), s, count=1)]
    return [s + "+1"]


def restyled(ref: str) -> str:
    """``ref`` as another model might typeset it; differs from ``ref`` so the workers compare it for real."""
    s = ref.strip()
    if _PLAIN_NUMBER.fullmatch(s):
        return s.replace(",", "") + ("0" if "." in s else ".0")
    s = re.sub(r"\\(?:left|right)(?![a-zA-Z])", "", s)
    s = re.sub(r"\\frac(?![a-zA-Z])", r"\\dfrac", s)
    s = s.replace("^\\circ", "^{\\circ}")
    s = re.sub(r"^(\d+(?:\.\d+)?)e([+-]?\d+)$", r"\1 \\times 10^{\2}", s)  # Minerva's 4.5e33
    # otherwise a no-op command, so the pair still differs as a string and goes through parse and verify
    return s if s != ref.strip() else "\\displaystyle " + s


def completions(name: str, ref: str) -> dict[str, list[str]]:
    """Model-like completions: which must be accepted, which rejected."""
    ref = _UNESCAPED_DOLLAR.sub("", ref)  # a model writes one math span: OlympiadBench's "$a$,$b$" -> "a,b"
    accept = [
        f"Putting it together, the answer is $\\boxed{{{ref}}}$.",
        f"Therefore, the final answer is ${ref}$.",
        f"So $\\boxed{{{restyled(ref)}}}$.",
    ]
    reject = [f"Putting it together, the answer is $\\boxed{{{w}}}$." for w in wrong_answers(ref)]
    if name == "gsm8k":  # no box, no anchor: last-number extraction
        accept.append(f"She started with 3 and now has ${ref} every day.")
        reject += [f"She started with 3 and now has ${w} every day." for w in wrong_answers(ref)]
    return {"accept": accept, "reject": reject}


# --------------------------------------------------------------------------------------------------------------
# The residual classes (issue #15): (class, reference, completion, correct) from the benchmarks' answer shapes
# --------------------------------------------------------------------------------------------------------------

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
)
_ONES = (_ONES + "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def words(n: int) -> str:
    """An integer 0 <= n < 10^6 in English words, written independently of the parser under test."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + words(rest))
    rest = n % 1000
    return (
        words(n // 1000) + " thousand" + ("" if rest == 0 else (" and " if rest < 100 else " ") + words(rest))
    )


def spaced(n: int, sep: str) -> str:
    """``2016`` as ``2\\,016``: groups of three digits joined by ``sep``."""
    s = str(n)
    head = len(s) % 3 or 3
    return sep.join([s[:head]] + [s[i : i + 3] for i in range(head, len(s), 3)])


THIN = "\\,"
_INT = re.compile(r"\d{1,3}(?:,\d{3})+|\d+")
_COMPLEX = re.compile(r"-?\d*\s*[+-]\s*\d+\s*i|-?\d+\s*i\s*[+-]\s*\d+|-?\d+i")


def _integer(ref: str) -> int | None:
    s = ref.strip().strip("$")
    return int(s.replace(",", "")) if _INT.fullmatch(s) else None


def _top_level_parts(ref: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(ref):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0 and not ref[max(0, i - 1)] == "\\":
            parts.append(ref[start:i].strip())
            start = i + 1
    return parts + [ref[start:].strip()]


def residual_cases(name: str) -> list[tuple[str, str, str, bool]]:
    """(class, reference, completion, correct) for the residual classes, from every reference of ``name``."""
    out: list[tuple[str, str, str, bool]] = []
    for row in rows(name):
        ref = REFERENCE[name](row)
        clean = _UNESCAPED_DOLLAR.sub("", ref).strip()
        n = _integer(clean)
        if n is not None and n < 10**6:
            out += [
                ("number words", ref, f"So the answer is $\\boxed{{\\text{{{words(n)}}}}}$.", True),
                ("number words", ref, f"Therefore, the final answer is {words(n)}.", True),
                ("number words", ref, f"So the answer is $\\boxed{{\\text{{{words(n + 1)}}}}}$.", False),
            ]
        if n is not None and n >= 1000:
            out += [
                ("spaced thousands", ref, f"So the answer is $\\boxed{{{spaced(n, sep)}}}$.", True)
                for sep in ("\\,", "\\;", "\\, ", "\\!")
            ]
            wrong = spaced(n + 1, THIN)
            out.append(("spaced thousands", ref, f"So the answer is $\\boxed{{{wrong}}}$.", False))
        if _COMPLEX.fullmatch(clean.replace(" ", "")) and "i" in clean:
            times = re.sub(r"(\d)\s*i", r"\1 \\cdot i", clean)
            out += [
                ("a + b \\cdot i", ref, f"So the answer is $\\boxed{{{times}}}$.", True),
                ("a + b \\cdot i", ref, f"So the answer is $\\boxed{{{wrong_answers(times)[0]}}}$.", False),
            ]
        parts = _top_level_parts(clean)
        thousands = "\\!" in clean or "{,}" in clean  # "11,\\!111": one number
        if n is None and len(parts) > 1 and all(parts) and not thousands and not re.search(r"=|\\le", clean):
            boxes = ", ".join(f"$\\boxed{{{p}}}$" for p in parts)
            anded = " and ".join(f"\\boxed{{{p}}}" for p in parts)
            missing = ", ".join(f"$\\boxed{{{p}}}$" for p in parts[:-1])
            out += [
                ("split over boxes", ref, f"The solutions are {boxes}.", True),
                ("split over boxes", ref, f"The solutions are {anded}.", True),
            ]
            if len(set(parts)) == len(parts):  # lists compare as sets: dropping a repeat changes nothing
                out.append(("split over boxes", ref, f"The solutions are {missing}.", False))
        if n is not None or (clean and len(parts) == 1 and re.search(r"\d", clean)):
            wrong = wrong_answers(clean)[0]
            out += [
                ("hedged", ref, f"The answer is either $\\boxed{{{clean}}}$ or $\\boxed{{{wrong}}}$.", False),
                ("hedged", ref, f"It is $\\boxed{{{wrong}}}$ or $\\boxed{{{clean}}}$.", False),
                (
                    "hedged",
                    ref,
                    f"It is $\\boxed{{{clean}}}$ or $\\boxed{{{clean}}}$.",
                    True,
                ),  # the same twice
            ]
        if clean.count("=") == 1 and not re.search(r"[<>]|\\[lg]e|\\ne|\\approx", clean):
            left, right = (x.strip() for x in clean.split("="))
            if left and right:
                tight = re.sub(r"\s+", "", clean)
                loose = re.sub(r"([=+-])", r" \1 ", clean).replace("{", "{ ").replace("}", " }")
                out += [
                    ("equation reordered", ref, f"So $\\boxed{{{right} = {left}}}$.", True),
                    ("equation re-spaced", ref, f"So $\\boxed{{{tight}}}$.", True),
                    ("equation re-spaced", ref, f"So $\\boxed{{{loose}}}$.", True),
                    (
                        "equation reordered",
                        ref,
                        f"So $\\boxed{{{wrong_answers(right)[0]} = {left}}}$.",
                        False,
                    ),
                ]
    return out


def check_patiently(checker, items: list[tuple[str, str, str]]) -> list:
    """``checker.check_many(items)``, with the pairs that timed out re-checked under a 60 s timeout: on a loaded
    machine a slow equation (sympy.solve) can time out at 5 s, and a test asks for the verdict, not the time."""
    from workflow.tasks.math import MathChecker

    verdicts = checker.check_many(items)
    slow = [j for j, v in enumerate(verdicts) if v.reason == "timeout"]
    if slow:
        policy = "lenient" if checker.lenient else "strict"
        with MathChecker(workers=2, timeout=60.0, policy=policy) as patient:
            for j, v in zip(slow, patient.check_many([items[j] for j in slow]), strict=True):
                verdicts[j] = v
    return verdicts
