"""Code verifier and its sandbox: real programs in real sandboxed processes, table-driven.

Every program here is bounded (the fork tests fork at most 50 times, children sleep then exit), so a
sandbox that failed to contain them would still not hang the machine.
"""

from __future__ import annotations

import time

import pytest

from workflow.tasks import Verdict
from workflow.tasks.code import REASONS, CodeChecker, extract_code, stdio_match

TIMEOUT = 2.0

HE = {
    "format": "functional",
    "entry_point": "below_zero",
    "prompt": (
        "from typing import List\n\n\ndef below_zero(operations: List[int]) -> bool:\n"
        '    """Whether the running balance ever drops below zero.\n    >>> below_zero([1, 2, -4])\n'
        '    True\n    """\n'
    ),
    "test": (
        "def check(candidate):\n    assert candidate([]) is False\n    assert candidate([1, 2, -3, 1]) is False\n"
        "    assert candidate([1, 2, -4, 5]) is True\n"
    ),
}
# HumanEval+ style: numpy in the test, helpers beside check
HE_PLUS = {
    "format": "functional",
    "entry_point": "mean",
    "prompt": 'def mean(xs: list) -> float:\n    """Arithmetic mean."""\n',
    "test": (
        "import numpy as np\n\ndef _close(a, b):\n    return bool(np.allclose(a, b))\n\n"
        "def check(candidate):\n    for xs in ([1.0, 2.0], [0.1, 0.2, 0.3]):\n"
        "        assert _close(candidate(xs), sum(xs) / len(xs))\n"
    ),
}


def _functional(entry: str, test: str) -> dict:
    return {
        "format": "functional",
        "entry_point": entry,
        "prompt": f"def {entry}(*args, **kwargs):\n",
        "test": test,
    }


# the functional harness calls the program in its own process: what crosses (workflow/tasks/wire.py)
PARSE = _functional(
    "parse",
    "def check(candidate):\n    assert candidate('12') == 12\n    try:\n        candidate('x')\n"
    "    except ValueError:\n        pass\n    else:\n        assert False\n",
)
TYPES = _functional(
    "make",
    "def check(candidate):\n    v = candidate(n=200)\n    assert type(v) is tuple and type(v[1]) is list and type(v[3]) is set\n"
    "    assert v == (1, [2.5, -0.0], {3: 'a', (4, 5): None}, {6}, 2**200, b'x', 1 + 2j, True)\n",
)
SUM = _functional(
    "total", "def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n"
)
SQUARES = _functional("squares", "def check(candidate):\n    assert candidate(3) == [0, 1, 4]\n")
CAUGHT = _functional(
    "ident",
    "def check(candidate):\n    for x in range(3):\n        try:\n            assert candidate(x) == x\n"
    "        except Exception:\n            pass\n",
)
THREADED = _functional(
    "double",
    "from concurrent.futures import ThreadPoolExecutor\n\ndef check(candidate):\n"
    "    with ThreadPoolExecutor(8) as pool:\n        got = list(pool.map(candidate, range(200)))\n"
    "    assert got == [2 * i for i in range(200)]\n",
)
IN_PLACE = _functional(
    "sort_in_place",
    "def check(candidate):\n    xs = [3, 1, 2]\n    candidate(xs)\n    assert xs == [3, 1, 2]\n",
)
STDIO = {
    "format": "stdio",
    "cases": [
        {"input": "1 2\n", "output": "3\n"},
        {"input": "10 -4\n", "output": "6"},
        {"input": "5 5\n", "output": "10\n\n"},
    ],
}
CALL = {
    "format": "call",
    "fn_name": "maxSum",
    "cases": [{"input": "[1, 5, 3]\n2", "output": "8"}, {"input": "[4]\n1", "output": "4"}],
}
CALL_LIST = {"format": "call", "fn_name": "pair", "cases": [{"input": "3", "output": "[3, 4]"}]}


def fence(code: str, tag: str = "python") -> str:
    return f"Here is my solution.\n\n```{tag}\n{code}\n```\n"


GOOD_HE = "def below_zero(operations):\n    b = 0\n    for op in operations:\n        b += op\n        if b < 0:\n            return True\n    return False"
BAD_HE = "def below_zero(operations):\n    return sum(operations) < 0"
BODY_HE = "    b = 0\n    for op in operations:\n        b += op\n        if b < 0:\n            return True\n    return False\n"
ADD = "a, b = map(int, input().split())\nprint(a + b)"
SOL = "class Solution:\n    def maxSum(self, nums: List[int], k: int) -> int:\n        return sum(sorted(nums)[-k:])"
FORGE = (
    "import os\nfor fd in range(3, 64):\n    try:\n"
    '        os.write(fd, b\'{"verdict": "ok", "final": 1, "status": "ok"}\\n{"init": 1, "exit": 0}\\n\')\n'
    "    except OSError:\n        pass\nos._exit(0)"
)

# (id, tests, completion, finish_reason, reason)
CASES = [
    ("he_full", HE, fence(GOOD_HE), "stop", "ok"),
    ("he_full_typing_from_prompt", HE, fence(GOOD_HE.replace("(operations)", "(operations: List[int])")), "stop", "ok"),
    ("he_body_unfenced", HE, BODY_HE, "stop", "ok"),
    ("he_body_dedented", HE, fence("b = 0\nfor op in operations:\n    b += op\n    if b < 0:\n        return True\nreturn False"), "stop", "ok"),
    ("he_plus_numpy", HE_PLUS, fence("def mean(xs):\n    return sum(xs) / len(xs)"), "stop", "ok"),
    ("he_wrong", HE, fence(BAD_HE), "stop", "wrong_answer"),
    ("he_raises", HE, fence("def below_zero(operations):\n    return operations[10]"), "stop", "runtime_error"),
    ("he_missing_entry", HE, fence("def other(x):\n    return x"), "stop", "wrong_answer"),
    ("he_exit0_before_tests", HE, fence("import sys\nsys.exit(0)"), "stop", "runtime_error"),
    ("he_os_exit_before_tests", HE, fence(GOOD_HE + "\nimport os\nos._exit(0)"), "stop", "runtime_error"),
    ("he_forged_report", HE, fence(FORGE), "stop", "runtime_error"),
    ("he_syntax", HE, fence("def below_zero(operations):\n    return (("), "stop", "syntax_error"),
    ("he_infinite_loop", HE, fence("def below_zero(operations):\n    while True:\n        pass"), "stop", "timeout"),
    ("he_memory_bomb", HE, fence("x = bytearray(10 * 2**30)"), "stop", "memory"),
    ("he_exception_reaches_the_tests", PARSE, fence("def parse(s):\n    return int(s)"), "stop", "ok"),
    ("he_exception_class_kept", PARSE, fence("def parse(s):\n    if not s.isdigit():\n        raise KeyError(s)\n    return int(s)"), "stop", "runtime_error"),
    ("he_types_cross", TYPES, fence("def make(n):\n    return (1, [2.5, -0.0], {3: 'a', (4, 5): None}, {6}, 2**n, b'x', 1 + 2j, True)"), "stop", "ok"),
    ("he_tuple_is_not_list", TYPES, fence("def make(n):\n    return [1, [2.5, -0.0], {3: 'a', (4, 5): None}, {6}, 2**n, b'x', 1 + 2j, True]"), "stop", "wrong_answer"),
    ("he_numpy_scalar", SUM, fence("import numpy as np\ndef total(xs):\n    return np.sum(np.array(xs, dtype=np.int64))"), "stop", "ok"),
    ("he_subclass_as_base", SUM, fence("class Int(int):\n    pass\ndef total(xs):\n    return Int(sum(xs))"), "stop", "ok"),
    ("he_generator_cannot_cross", SQUARES, fence("def squares(n):\n    return (i * i for i in range(n))"), "stop", "wrong_answer"),
    ("he_leaves_mid_tests", CAUGHT, fence("import os\ndef ident(x):\n    if x == 1:\n        os._exit(0)\n    return x"), "stop", "runtime_error"),
    ("he_calls_from_threads", THREADED, fence("def double(x):\n    return 2 * x"), "stop", "ok"),
    ("he_arguments_are_copies", IN_PLACE, fence("def sort_in_place(xs):\n    xs.sort()"), "stop", "ok"),
    ("stdio_ok", STDIO, fence(ADD), "stop", "ok"),
    ("stdio_main_guard_buffer", STDIO, fence("import sys\ndef main():\n    a, b = map(int, sys.stdin.buffer.read().split())\n    sys.stdout.write(f'{a + b}\\n')\nif __name__ == '__main__':\n    main()"), "stop", "ok"),
    ("stdio_open0_lcb_header", STDIO, fence("q = deque(map(int, open(0).read().split()))\nprint(q.popleft() + q.popleft())"), "stop", "ok"),
    ("stdio_future_import", STDIO, fence("from __future__ import annotations\n" + ADD), "stop", "ok"),
    ("stdio_second_case_fails", STDIO, fence("a, b = map(int, input().split())\nprint(a + b if a < 5 else 0)"), "stop", "wrong_answer"),
    ("stdio_runtime_error", STDIO, fence("print(1 // 0)"), "stop", "runtime_error"),
    ("stdio_exit_nonzero", STDIO, fence("raise SystemExit(3)"), "stop", "runtime_error"),
    ("stdio_huge_output", STDIO, fence("import sys\nsys.stdout.write('x' * (3 * 2**20))"), "stop", "wrong_answer"),
    ("stdio_huge_file", STDIO, fence("with open('big', 'wb') as f:\n    for _ in range(64):\n        f.write(bytes(2**20))"), "stop", "runtime_error"),
    ("call_solution", CALL, fence(SOL), "stop", "ok"),
    ("call_plain_function", CALL, fence("def maxSum(nums, k):\n    return sum(sorted(nums)[-k:])"), "stop", "ok"),
    ("call_tuple_is_list", CALL_LIST, fence("class Solution:\n    def pair(self, n):\n        return (n, n + 1)"), "stop", "ok"),
    ("call_wrong", CALL, fence("class Solution:\n    def maxSum(self, nums, k):\n        return max(nums)"), "stop", "wrong_answer"),
    ("call_not_json", CALL_LIST, fence("class Solution:\n    def pair(self, n):\n        return {n, n + 1}"), "stop", "wrong_answer"),
    ("call_forged_error_report", CALL, fence("import os, sys\nfr = sys._getframe(0)\nwhile fr is not None and 'report' not in fr.f_locals:\n    fr = fr.f_back\nfr.f_locals['report']({'verdict': 'error'})\nos._exit(0)"), "stop", "runtime_error"),
    ("call_huge_nested_value", CALL, fence("class Solution:\n    def maxSum(self, nums, k):\n        return [[]] * 10**6"), "stop", "wrong_answer"),
    ("call_missing_method", CALL, fence("class Solution:\n    def other(self):\n        return 1"), "stop", "runtime_error"),
    ("fences_last_counts_good", STDIO, fence("print(0)") + fence(ADD), "stop", "ok"),
    ("fences_last_counts_bad", STDIO, fence(ADD) + fence("print(0)"), "stop", "wrong_answer"),
    ("fences_untagged_output_ignored", STDIO, fence(ADD) + "Output:\n```\n3\n```", "stop", "ok"),
    ("fence_untagged_only", STDIO, fence(ADD, tag=""), "stop", "ok"),
    ("unfenced_program", STDIO, ADD, "stop", "ok"),
    ("unicode_program", {"format": "stdio", "cases": [{"input": "", "output": "héllo ✓ 🙂"}]}, fence("print('héllo ✓ 🙂')"), "stop", "ok"),
    ("truncated", STDIO, fence(ADD), "length", "truncated"),
    ("none", STDIO, None, "stop", "empty"),
    ("blank", STDIO, "  \n ", "stop", "empty"),
    ("not_a_string", STDIO, 42, "stop", "empty"),
    ("prose", STDIO, "I think the answer is to add the numbers.", "stop", "no_code"),
    ("garbage", STDIO, "\x00\ufffd🙂\ud800 ``` `", "stop", "no_code"),
    ("empty_fence", STDIO, "```python\n```", "stop", "no_code"),
    ("null_byte_code", STDIO, fence("print(1)\x00"), "stop", "syntax_error"),
    ("tests_none", None, fence(ADD), "stop", "error"),
    ("tests_unknown_format", {"format": "junit"}, fence(ADD), "stop", "error"),
    ("tests_no_entry_point", {"format": "functional", "test": "def check(c): pass"}, fence(GOOD_HE), "stop", "error"),
    ("tests_no_cases", {"format": "stdio", "cases": []}, fence(ADD), "stop", "error"),
    ("tests_bad_case", {"format": "stdio", "cases": [{"input": 1}]}, fence(ADD), "stop", "error"),
    ("tests_bad_json", {"format": "call", "fn_name": "f", "cases": [{"input": "[1,", "output": "1"}]}, fence(SOL), "stop", "error"),
    ("tests_no_check", {"format": "functional", "entry_point": "f", "test": "x = 1"}, fence("def f():\n    pass"), "stop", "error"),
]  # fmt: skip


@pytest.fixture(scope="module")
def checker() -> CodeChecker:
    return CodeChecker(workers=2, timeout=TIMEOUT, file_size_mb=8, max_output_mb=2)


@pytest.fixture(scope="module")
def table(checker) -> list[tuple[Verdict, float]]:
    """Every case, scored one at a time, with its wall time."""
    out = []
    for _, tests, completion, finish, _ in CASES:
        t0 = time.monotonic()
        out.append((checker.check(tests, completion, finish), time.monotonic() - t0))
    return out


@pytest.mark.parametrize("i", range(len(CASES)), ids=[c[0] for c in CASES])
def test_table(table, i):
    name, _, _, _, reason = CASES[i]
    verdict, seconds = table[i]
    assert (verdict.correct, verdict.reason) == (reason == "ok", reason), verdict
    assert verdict.reason in REASONS
    assert seconds < TIMEOUT + 3  # a timeout is enforced by the wall clock, not waited out


def test_parallel_matches_sequential(checker, table):
    items = [(tests, completion, finish) for _, tests, completion, finish, _ in CASES]
    parallel = checker.check_many(items)  # two at a time, in threads that each start sandboxed processes
    assert [(v.correct, v.reason) for v in parallel] == [(v.correct, v.reason) for v, _ in table]
    assert checker.check_many([]) == []
    assert checker.check_many([("not", "a", "triple", "!"), None])[0].reason == "error"  # type: ignore[list-item]


@pytest.mark.parametrize(
    "text, code",
    [
        ("```python\na\n```\n```py\nb\n```", "b\n"),
        ("```python\na\n```\n```\n3\n```", "a\n"),  # a trailing output block is not the program
        ("```\nx = 1\n```", "x = 1\n"),
        ("```bash\nls\n```", None),
        ("x = 1", "x = 1"),
        ("no code here", None),
        ("```python\n   \n```", None),
    ],
)
def test_extract_code(text, code):
    assert extract_code(text) == code


@pytest.mark.parametrize(
    "out, expected, ok",
    [
        ("3\n", "3", True),
        ("  3  \n\n", "3\n", True),
        ("1 2\n3\n", "1 2\r\n3", True),
        ("3.0", "3", True),  # Decimal equality, as LiveCodeBench
        ("0.30000000000000004", "0.3", False),
        ("1\n2", "1 2", False),
        ("yes", "YES", False),
        ("", "", True),
        ("abc  def", "abc def", False),  # a differing line must be all numbers, as in LiveCodeBench
        ("1 2 3", "1 2", False),
    ],
)
def test_stdio_match(out, expected, ok):
    assert stdio_match(out, expected) is ok


def test_stdio_match_of_a_flood_stops_at_the_first_difference():
    """16 MB of tokens against a one-token answer: decided at the second token, in little memory (the
    comparison used to build a Decimal for every token: about 1 GB here)."""
    import tracemalloc

    flood = "0 " * (8 << 20)
    tracemalloc.start()
    try:
        assert stdio_match(flood, "0") is False
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 << 20, peak
