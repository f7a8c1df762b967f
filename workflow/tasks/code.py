"""Code tasks: read the program out of a completion and run it against the problem's tests in the sandbox.

Consumes: a problem's ``tests`` (from the benchmark loaders; problems are ``{"id", "question",
"kind": "code", "tests", ...}``), a completion and its finish reason. Produces: a :class:`Verdict` whose
``extracted`` is the program read from the completion. Three test formats:

- ``{"format": "functional", "entry_point", "prompt", "test"}`` (HumanEval, HumanEval+): passes when the
  test source's ``check(candidate)`` returns without raising (openai/human-eval, human_eval/execution.py).
- ``{"format": "stdio", "cases": [{"input", "output"}]}`` (LiveCodeBench stdin/stdout): the program's stdout
  must match, compared as LiveCodeBench's ``grade_stdio`` does (lcb_runner/evaluation/testing_util.py):
  both sides stripped, split on newlines, each line stripped; equal lines, or lines whose whitespace-split
  tokens are equal as ``Decimal``.
- ``{"format": "call", "fn_name", "cases": [{"input": "<one JSON argument per line>", "output": "<JSON>"}]}``
  (LiveCodeBench LeetCode-style): ``Solution().fn_name(*args)``, or a plain function ``fn_name``, must
  return the expected value (tuples read as lists, as in ``grade_call_based``).

The program is the last fenced block tagged python/py/python3, else the last untagged block (so a trailing
block of sample output does not replace the code), else the whole completion when it compiles, alone or
after the HumanEval prompt (a base model's bare function body). For HumanEval, a program that does not define ``entry_point`` is a body
completion and goes after the prompt (re-indented if the model dedented it); one that does define it gets
the prompt before it, so the prompt's imports and helper functions (``from typing import List``,
HumanEval/38's ``encode_cyclic``) are there, as in human-eval's ``prompt + completion``.

The tests never reach the program: functional test sources go to the harness as sandbox secrets (through a
descriptor closed before the program starts), stdio and call programs get only their inputs (expected
outputs stay in this process). Functional tests run in the harness's process, in their own namespace (the
prompt's imports and helpers), and call a stand-in for the entry point that forwards each call to the
program's own process (sandbox.run's companion) and returns what comes back, decoded into plain builtin
values (workflow/tasks/wire.py). So nothing of the program's (an object whose ``==`` always holds, a patched
builtin or module, a walk of the frames to the report function) reaches the tests.

Verdict reasons: ok, truncated (finish reason ``length``), empty, no_code, syntax_error, runtime_error,
wrong_answer, timeout, memory, error (malformed tests, a sandbox failure, anything unexpected). A program
passes only when every case passes; checking stops at the first failing case.

Deviations from human-eval, which runs the tests and the program in one interpreter: a call's arguments
and return value are copies (a test that looks for an in-place change of its argument cannot see it); a
return value that is not plain data (a generator, an instance of the program's class, a numpy array)
arrives as an object equal to nothing, so comparisons with it fail; an exception reaches the tests as the
builtin class of its name (else ``Exception``); and a program that exits, is killed or breaks the protocol
during the tests fails with ``runtime_error`` (``timeout`` when its CPU limit killed it) even if the tests
catch every exception. Each check starts a second interpreter, about 37 ms here
(tests/benchmarks/bench_functional_harness.py).

Deviations from LiveCodeBench: each test case runs in its own sandboxed process with real stdin/stdout file
descriptors (LiveCodeBench runs all cases in one process with ``sys.stdin`` patched), which costs about
0.1 s of process start per case and buys ``open(0)``/``sys.stdin.buffer`` working and no state leaking
between cases; the call format's return value is compared in the parent after a JSON round trip, so the
expected outputs never enter the sandbox (``{1: x}`` then equals ``{"1": x}``; LiveCodeBench says no), and a
value whose JSON is more than twice as long as the expected one's (plus 1 KB) is a wrong answer unparsed.
The LiveCodeBench import header is placed after any ``from __future__`` import instead of breaking it.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import json
import re
import textwrap
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation

from workflow import sandbox
from workflow.config import VerificationConfig
from workflow.tasks import Verdict
from workflow.tasks.harness import CALL_HARNESS, FUNCTIONAL_HARNESS, FUNCTIONAL_SERVER

REASONS = (
    "ok",
    "truncated",
    "empty",
    "no_code",
    "syntax_error",
    "runtime_error",
    "wrong_answer",
    "timeout",
    "memory",
    "error",
)

# LiveCodeBench's ``import_string`` (lcb_runner/evaluation/testing_util.py), put before stdio and call
# programs so that solutions relying on it (``List`` without importing typing, ``deque``...) run as there
LCB_IMPORTS = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
    "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
    "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string\nimport re\nimport datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\n"
    "import math\nimport random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n"
)

_TOKEN = re.compile(r"\S+")
_FENCE = re.compile(r"```[ \t]*([^\n`]*)\n(.*?)```", re.DOTALL)
_PYTHON_TAGS = {"python", "py", "python3"}


def _parse(source: str) -> ast.Module | None:
    """ast.parse that never raises (null bytes, deep nesting and the like count as unparseable)."""
    try:
        return ast.parse(source)
    except Exception:
        return None


def compiles(source: str) -> bool:
    """Whether ``source`` compiles; stricter than parsing (``return`` outside a function, bad ``nonlocal``)."""
    try:
        compile(source, "<program>", "exec", dont_inherit=True)
    except Exception:
        return False
    return True


def extract_code(completion: str, prefix: str = "") -> str | None:
    """The last python-tagged fenced block, else the last untagged one, else the whole text if it compiles
    alone or after ``prefix`` (HumanEval's prompt, for a bare function body)."""
    blocks = _FENCE.findall(completion)
    tagged = [body for tag, body in blocks if tag.strip().lower() in _PYTHON_TAGS]
    plain = [body for tag, body in blocks if not tag.strip()]
    if tagged or plain:
        code = (tagged or plain)[-1]
        return code if code.strip() else None
    return completion if compiles(completion) or (prefix and compiles(prefix + completion)) else None


def _insert_header(code: str, header: str) -> str:
    """``header + code``, but after a leading docstring and ``from __future__`` imports, which must stay first."""
    tree = _parse(code)
    end = 0
    for i, node in enumerate(tree.body if tree else []):
        docstring = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if docstring or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            end = node.end_lineno or 0
        else:
            break
    if end == 0:
        return header + "\n" + code
    lines = code.split("\n")
    return "\n".join(lines[:end]) + "\n" + header + "\n" + "\n".join(lines[end:])


def _defines(tree: ast.Module, name: str) -> bool:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return True
    return False


def functional_program(code: str, prompt: str, entry_point: str) -> str:
    """The HumanEval program: the prompt then the model's full function, or the prompt plus its body."""
    if prompt and not prompt.endswith("\n"):
        prompt += "\n"
    tree = _parse(code)
    if tree is not None and _defines(tree, entry_point):
        options = [_insert_header(code, prompt), code]
    else:
        options = [prompt + code, prompt + textwrap.indent(textwrap.dedent(code), "    ")]
    return next((p for p in options if compiles(p)), options[0])


def stdio_match(output: str, expected: str) -> bool:
    """LiveCodeBench's ``grade_stdio`` comparison (see the module docstring), token by token and stopping at
    the first difference, so a flood of output costs no more memory than the output itself."""
    output, expected = output.strip(), expected.strip()
    if output.count("\n") != expected.count("\n"):  # before splitting: a flood of lines costs nothing
        return False
    got, want = output.split("\n"), expected.split("\n")
    for a, b in zip(got, want, strict=True):
        a, b = a.strip(), b.strip()
        if a == b:
            continue
        for x, y in itertools.zip_longest(_TOKEN.finditer(a), _TOKEN.finditer(b)):
            if x is None or y is None:
                return False
            try:  # every token of a differing line must be a number, as in LiveCodeBench
                if Decimal(x.group()) != Decimal(y.group()):
                    return False
            except (InvalidOperation, ValueError):
                return False
    return True


def _cases(tests: dict) -> list[tuple[str, str]]:
    cases = tests.get("cases")
    if not isinstance(cases, list) or not cases:
        raise ValueError("tests need a non-empty list of cases")
    out = []
    for c in cases:
        if not (isinstance(c, dict) and isinstance(c.get("input"), str) and isinstance(c.get("output"), str)):
            raise ValueError("each case needs string input and output")
        out.append((c["input"], c["output"]))
    return out


def _identifier(tests: dict, key: str) -> str:
    name = tests.get(key)
    if not (isinstance(name, str) and name.isidentifier()):
        raise ValueError(f"tests[{key!r}] must be a Python identifier")
    return name


def prepare_tests(tests: object) -> tuple[str, object]:
    """Validate a problem's ``tests`` and parse them once: ``(format, parsed)``; raises ValueError."""
    if not isinstance(tests, dict):
        raise ValueError("tests must be a dict")
    fmt = tests.get("format")
    if fmt == "functional":
        prompt, test = tests.get("prompt", ""), tests.get("test")
        if not isinstance(prompt, str) or not isinstance(test, str):
            raise ValueError("functional tests need string prompt and test")
        return fmt, (_identifier(tests, "entry_point"), prompt, test)
    if fmt == "stdio":
        return fmt, _cases(tests)
    if fmt == "call":
        # LiveCodeBench's format: one JSON value per line of the input, the output one JSON value
        cases = [([json.loads(line) for line in i.split("\n")], json.loads(o)) for i, o in _cases(tests)]
        return fmt, (_identifier(tests, "fn_name"), cases)
    raise ValueError(f"unknown tests format {fmt!r}; expected functional, stdio or call")


_SANDBOX_REASONS = {
    "timeout": "timeout",
    "memory": "memory",
    "syntax_error": "syntax_error",
    "runtime_error": "runtime_error",
    "output_limit": "wrong_answer",  # more output than any expected answer
    "error": "error",
}


_PROGRAM_REPORTS = ("ok", "wrong_answer", "runtime_error", "syntax_error", "memory")
"""Verdicts a harness that shares the program's process may give (the call format's: a program can reach
its report function, so ``error`` or ``timeout`` from there would only let it mislabel its failure)."""


def _harness_verdict(res: sandbox.RunResult, allowed: tuple[str, ...] = REASONS) -> tuple[str, dict]:
    """Reason and report of a harness run: the sandbox's status unless the harness itself reported."""
    if res.status != "ok":
        return _SANDBOX_REASONS.get(res.status, "error"), {}
    report = res.reports[-1] if res.reports else None
    if not isinstance(report, dict) or report.get("verdict") not in allowed:
        return "runtime_error", {}  # left before the harness could report (``os._exit`` in the program)
    return report["verdict"], report


class CodeChecker:
    """Runs programs against code tests, each process sandboxed, ``workers`` of them at a time.

    ``timeout`` is the wall clock per test case (one process; HumanEval's whole ``check`` is one case).
    Raises :class:`workflow.sandbox.SandboxUnavailable` at construction when the machine lacks a sandbox
    layer and ``allow_weak_sandbox`` is off; every verdict records the mode (``Verdict.sandbox``).
    Parallel runs share the CPUs, so keep ``workers`` at or below the free cores or timings (and timeouts)
    get noisy.
    """

    def __init__(
        self,
        workers: int = VerificationConfig.workers,
        timeout: float = sandbox.Limits.timeout,
        memory_mb: int = sandbox.Limits.memory_mb,
        file_size_mb: int = sandbox.Limits.file_size_mb,
        max_processes: int = sandbox.Limits.max_processes,
        max_output_mb: float = sandbox.Limits.max_output_mb,
        disk_mb: int = sandbox.Limits.disk_mb,
        allow_weak_sandbox: bool = VerificationConfig.allow_weak_sandbox,
        iso: sandbox.Isolation | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.limits = sandbox.Limits(timeout, memory_mb, file_size_mb, max_processes, max_output_mb, disk_mb)
        # fails closed here, before any program runs, unless the weaker mode is allowed
        self.isolation = sandbox.require(iso or sandbox.isolation(), allow_weak_sandbox)
        self.mode = self.isolation.mode

    def check(self, tests: object, completion: object, finish_reason: object = "stop") -> Verdict:
        """Score one completion. Never raises."""
        try:
            verdict = self._check(tests, completion, finish_reason)
        except Exception as e:  # a checker bug or a broken machine must not kill a verification job
            verdict = Verdict(False, "error", f"{type(e).__name__}: {e}"[:300])
        return dataclasses.replace(verdict, sandbox=self.mode)

    def check_many(self, items: list[tuple[dict, str | None, str]]) -> list[Verdict]:
        """Score (tests, completion, finish_reason) triples in parallel; results keep the input order."""

        def one(item: object) -> Verdict:
            try:
                tests, completion, finish_reason = item  # type: ignore[misc]
            except Exception:
                return Verdict(False, "error")
            return self.check(tests, completion, finish_reason)

        if self.workers == 1 or len(items) <= 1:
            return [one(it) for it in items]
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(one, items))

    def _check(self, tests: object, completion: object, finish_reason: object) -> Verdict:
        if finish_reason == "length":
            return Verdict(False, "truncated")
        if not isinstance(completion, str) or not completion.strip():
            return Verdict(False, "empty")
        try:
            fmt, parsed = prepare_tests(tests)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            return Verdict(False, "error", f"malformed tests: {e}"[:300])
        prefix = parsed[1] + "\n" if fmt == "functional" else ""  # type: ignore[index]
        code = extract_code(completion, prefix)
        if code is None:
            return Verdict(False, "no_code")
        reason = {"functional": self._functional, "stdio": self._stdio, "call": self._call}[fmt](code, parsed)
        return Verdict(reason == "ok", reason, code)

    def _run(
        self,
        main: str,
        files: dict[str, str] | None = None,
        stdin: str | None = None,
        harness: bool = False,
        private: dict[str, str] | None = None,
        companion: str | None = None,
    ) -> sandbox.RunResult:
        return sandbox.run(
            main,
            files,
            stdin,
            self.limits,
            harness=harness,
            capture_stdout=not harness,
            iso=self.isolation,
            private=private,
            companion=companion,
        )

    def _functional(self, code: str, parsed: tuple[str, str, str]) -> str:
        entry, prompt, test = parsed
        program = functional_program(code, prompt, entry)
        if not compiles(program):
            return "syntax_error"
        # the test source reaches the harness as a secret: it is in no file once the program starts
        harness = FUNCTIONAL_HARNESS + (
            "\n_s = globals().pop('sandbox_secrets')\n_run(globals().pop('sandbox_report'), "
            f"globals().pop('sandbox_companion'), _s.pop('test.py'), _s.pop('prompt.py'), {entry!r})\n"
        )
        server = FUNCTIONAL_SERVER + f"\n_serve(globals().pop('sandbox_channel'), {entry!r})\n"
        private = {"test.py": test, "prompt.py": prompt}
        res = self._run(harness, {"prog.py": program}, harness=True, private=private, companion=server)
        return _harness_verdict(res)[0]

    def _stdio(self, code: str, cases: list[tuple[str, str]]) -> str:
        program = _insert_header(code, LCB_IMPORTS)
        if not compiles(program):
            return "syntax_error"
        for stdin, expected in cases:
            res = self._run(program, stdin=stdin)
            if res.status != "ok":
                return _SANDBOX_REASONS.get(res.status, "error")
            if not stdio_match(res.stdout, expected):
                return "wrong_answer"
        return "ok"

    def _call(self, code: str, parsed: tuple[str, list[tuple[list, object]]]) -> str:
        fn_name, cases = parsed
        program = _insert_header(code, LCB_IMPORTS)
        if not compiles(program):
            return "syntax_error"
        harness = CALL_HARNESS + f"\n_run(globals().pop('sandbox_report'), {fn_name!r})\n"
        for args, expected in cases:
            res = self._run(harness, {"prog.py": program, "args.json": json.dumps(args)}, harness=True)
            reason, report = _harness_verdict(res, _PROGRAM_REPORTS)
            if reason != "ok":
                return reason
            value = report.get("value")
            # a value far longer than the expected one's JSON cannot equal it: not parsed (nested lists cost
            # the parent about 30 bytes of memory per byte of JSON)
            if not isinstance(value, str) or len(value) > 2 * len(json.dumps(expected)) + 1024:
                return "wrong_answer"
            try:
                if json.loads(value) != expected:
                    return "wrong_answer"
            except (ValueError, RecursionError):
                return "wrong_answer"
        return "ok"
