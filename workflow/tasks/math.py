"""Math answer checking for the benchmarks of Yue et al. 2025 (AIME24, AMC23, GSM8K, MATH500, Minerva, OlympiadBench).

Consumes: (reference answer, completion, finish reason) triples; the reference is the benchmark's answer string
(``"\\frac{1}{2}"``, ``"x=3"``, ``"(6,3),(9,3)"``, ``"$2,-1$"``, ...). Produces: one :class:`Verdict` per sample
with ``reason`` in ``ok, wrong, truncated, empty, no_answer, timeout, error`` and ``extracted`` = the answer read
from the completion. Library code for the verify stage: ``with MathChecker() as c: c.check_many(rows)``.

How it follows the official code (paper.md §1.4, ``parser.extract_answer`` and ``grader.math_equal``):

* Extraction is ours (``workflow.tasks.answers``), in the parent process: the content of the last brace-matched
  ``\\boxed{}`` (also ``\\fbox``, ``\\framebox`` and ``\\boxed 5`` for one token); else the text after the last
  "the answer is" / "final answer is" / "answer:"; else the last number in the text (GSM8K-style answers). We do
  not let math-verify search the completion itself: with several boxes it may join them into a set, and the last
  box must count. Boxes joined only by commas, "and" or math delimiters are one answer (``$\\boxed{1}$,
  $\\boxed{2}$``); joined by "or" with different contents they are a hedge, scored wrong (``hedged``).
* A fast path (``workflow.tasks.fastmath``) settles, in the parent, the pairs whose canonical forms are equal or
  that are plain numbers, tuples of them or constant expressions; the rest go to the workers. Both paths give
  the same verdict on every pair of tests/test_math_policy.py.
* Equivalence is math-verify's ``parse`` + ``verify`` (string, numeric and symbolic equality; sets, intervals,
  matrices, percentages, degrees, ``\\text{}`` and unit stripping) on the extracted and the reference answer, each
  wrapped as ``\\boxed{...}``.
* Each check runs in a worker process under a per-sample timeout (official: 3 s in a Pebble pool; ours 5 s by
  default). math-verify's own timeouts use ``signal.alarm`` and cancel any outer alarm, so we switch them off
  and arm one interval timer per check in the worker; a check stuck where signals are not handled (C code, a
  regex) is killed from the parent after a grace period and the worker replaced. Timeouts score wrong.
* Identical (reference, extracted answer) pairs are checked once: the verdict is a pure function of the pair, and
  sampled answers repeat heavily (many of 1024 samples per problem share a few final answers).

Deviations from the official code (``policy``, ``verification.policy``: the cases careful graders decide
differently; config/README.md has the table):

* ``strict`` (the default): a sample cut at the length limit (``finish_reason == "length"``) is wrong
  ("truncated"), even when it contains a box, and an unbalanced last box (``\\boxed{\\frac{1}{2}``) is no answer;
  numbers compare by math-verify (6 decimals) within the relative tolerance. ``lenient`` does what the official
  harness does: it grades cut samples and reads an unbalanced last box to the end of the text, and accepts two
  numbers within 1e-4 relative, for two plain numerals also the reference x100 or /100. Both accept mixed
  numbers and dropped base subscripts (the official grader does not), and neither credits a hedge or misses an
  answer split over boxes (the official grader takes the last box).
* An empty ``\\boxed{}`` (a model quoting the instruction) is skipped in favour of the box before it.
* The last-number fallback keeps thousands separators (``1,000`` is one number, ``1,2,3`` three) and simple
  fractions (``1/2``), and does not read the minus of a range (``2-3``) as a sign; the official regex reads
  ``-?\\d*\\.?\\d+`` after deleting every comma.
* Scientific notation (``4.5e33``, Minerva references) is read as ``4.5\\times 10^{33}``: latex2sympy would read
  the ``e`` as Euler's number.

Guards around math-verify 0.9, found while checking the benchmarks' reference answers (cases in
tests/test_math_verifier.py):

* Numbers must also agree to the official relative tolerance (1e-4): math-verify's float comparison is absolute
  (6 decimals, ``evalf(chop=True)``), so it takes 2.88e-19 for 3.88e-19 and 0.0000672 for 0.0000673.
* A reference that parses to a degenerate relation (OlympiadBench's ``N=n``: latex2sympy lowercases symbols, so
  it reads n = n and "equals" ``N=n+1``) is compared as normalised LaTeX instead.
* A decimal percentage equals its number (``4.2\\%`` for 4.2; math-verify only allows it for integers, the
  official grader for both); a bare ``%`` (a LaTeX comment) is escaped first.
* Intervals equal the inequalities that describe them (math-verify's ``allow_set_relation_comp``).
* An equation equals itself with its sides swapped (math-verify reads ``d = 5`` as the value 5, and cannot parse
  some equations with a lone symbol on the right); LaTeX it cannot parse compares as canonical LaTeX, so
  re-spacing (``m_{\\max }``) does not matter; ``i`` is one symbol (latex2sympy makes the ``i`` of ``4i`` and of
  ``4 \\cdot i`` two); equal exact rational values are equal (math-verify's float ``8.7 \\times 10^{8}`` is not
  870000000).

Known limits: degrees are not converted to radians (neither does the official grader); units written as bare
text with an exponent or slash after a LaTeX answer (``166 cm^2``, ``\\frac{600}{7} km/h``) are not stripped
(``\\text{}``/``\\mathrm{}`` units and plain words after a number are); latex2sympy drops a prime (``x'`` reads
as ``x``, so ``x' + x = 0`` is ``2x = 0``); a pair that timed out stays cached as a timeout.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from workflow.config import VerificationConfig
from workflow.tasks import Verdict
from workflow.tasks.answers import canonical, normalize_gold_cached, read_answer
from workflow.tasks.fastmath import close, exact_value, fast_verdict, lenient_plain, plain_number

REASONS = ("ok", "wrong", "truncated", "empty", "no_answer", "hedged", "timeout", "error")
POLICIES = ("strict", "lenient")
"""``verification.policy``: how the cases careful graders decide differently go (see the module docstring)."""

# ---------------------------------------------------------------------------------------------------------------
# Equivalence (worker processes)
# ---------------------------------------------------------------------------------------------------------------


class _Deadline(BaseException):
    """Raised by the worker's interval timer. A BaseException so math-verify's ``except Exception`` can't eat it."""


_ARMED = False


def _on_alarm(signum: int, frame: Any) -> None:
    # A signal delivered just after a check finished (and disarmed) must not abort the next one.
    if _ARMED:
        raise _Deadline


@lru_cache(maxsize=8192)
def _parse(answer: str) -> list:
    """math-verify's parse of one answer wrapped in a box (cached: references repeat in every pair)."""
    from math_verify import LatexExtractionConfig, parse

    # Only the box: without an anchor-free fallback math-verify would pull a fragment (a fraction, a number)
    # out of an answer it cannot parse whole. Unparseable answers fall back to their normalised string.
    config = LatexExtractionConfig(boxed_match_priority=0, try_extract_without_anchor=False)
    parsed = parse("\\boxed{" + answer + "}", [config], parsing_timeout=None)
    if _PERCENT.search(answer) and not _is_percentage(parsed):
        # ``X\\%`` as ``X * UnevaluatedExpr(1/100)``, the form math-verify's percentage rules recognise, whatever
        # the ANTLR runtime: latex2sympy's parser for runtime 4.13 builds that form, its parser for 4.9 (which Hydra,
        # and so verl, pins) cannot read the sign at all, which would make verdicts depend on the environment
        number = parse("\\boxed{" + _PERCENT.sub("", answer) + "}", [config], parsing_timeout=None)
        if number and _is_expr(number[0]):
            from sympy import Mul, Rational, UnevaluatedExpr

            return [Mul(number[0], UnevaluatedExpr(Rational(1, 100))), answer]
    return parsed


_PERCENT = re.compile(r"\s*\\%$")


def _is_expr(x: Any) -> bool:
    from sympy import Expr

    return isinstance(x, Expr)


def _is_percentage(parsed: list) -> bool:
    from sympy import Rational, UnevaluatedExpr

    return bool(parsed) and _is_expr(parsed[0]) and parsed[0].has(UnevaluatedExpr(Rational(1, 100)))


def _degenerate(parsed: list) -> bool:
    """A relation whose two sides parse identically (``N=n``: latex2sympy lowercases every symbol)."""
    from sympy.core.relational import Relational

    return bool(parsed) and isinstance(parsed[0], Relational) and parsed[0].lhs == parsed[0].rhs


def _values(expr: Any) -> list:
    """The numeric value of a scalar answer (and its value x100 for a percentage); [] when not a plain number."""
    from sympy import Eq, Expr, UnevaluatedExpr

    if isinstance(expr, Eq):  # "x = 3": math-verify compares the assigned value
        expr = expr.rhs
    if not isinstance(expr, Expr) or not expr.is_number:
        return []
    value = expr.evalf(30)
    # latex2sympy writes "5\%" as 5*UnevaluatedExpr(1/100); math-verify lets "5\%" equal 5
    return [value, value * 100] if expr.has(UnevaluatedExpr) else [value]


def _numbers_agree(g: list, a: list) -> bool:
    """Relative closeness of two scalar answers; True (no objection) when either is not a number.

    math-verify compares floats after rounding to 6 decimals and differences with ``evalf(chop=True)``: both are
    absolute, so any two numbers below ~1e-7 (Minerva's 2.88e-19 vs 3.88e-19, MATH's 0.0000672 vs 0.0000673) come
    out equal. This veto, applied after math-verify accepts, restores a relative tolerance.
    """
    try:
        gv, av = _values(g[0]), _values(a[0])
        if not gv or not av:
            return True
        return any(close(x, y) for x in gv for y in av)
    except (TypeError, ValueError, ArithmeticError):  # complex or undecidable comparisons: keep the verdict
        return True


def _latex(parsed: list, default: str) -> str:
    return next((x for x in parsed if isinstance(x, str)), default)


def _same_latex(x: str, y: str) -> bool:
    """Equal canonical LaTeX (:func:`canonical`), for a relation also with its two sides swapped."""
    cx, cy = canonical(x), canonical(y)
    if cx == cy:
        return True
    return cx.count("=") == 1 and cy.count("=") == 1 and cx == "=".join(reversed(cy.split("=")))


def _swap_sides(answer: str) -> str | None:
    """``B = A`` for an equation ``A = B`` (one ``=``, no other relation); None for anything else.

    math-verify reads ``d = 5`` as the value 5 (so ``5 = d`` differs) and cannot parse some equations with a
    lone symbol on the right at all."""
    if answer.count("=") != 1 or re.search(r"[<>]|\\[lg]eq?(?![A-Za-z])|\\ne(?![A-Za-z])", answer):
        return None
    left, right = answer.split("=")
    return f"{right.strip()} = {left.strip()}" if left.strip() and right.strip() else None


def _same_i(parsed: list) -> list:
    """One imaginary unit: latex2sympy makes the ``i`` of ``4i`` a real symbol and that of ``4 \\cdot i`` or ``-i``
    another, so ``3 + 4i`` and ``3 + 4 \\cdot i`` would differ."""
    from sympy import Basic, Symbol

    unit = Symbol("i", real=True)
    out = []
    for x in parsed:
        if isinstance(x, Basic):
            found = {s: unit for s in x.free_symbols if getattr(s, "name", None) == "i" and s != unit}
            x = x.xreplace(found) if found else x
        out.append(x)
    return out


def _lenient_numbers(gold: str, answer: str, g: list, a: list) -> bool:
    """The official grader's numeric rules (:func:`workflow.tasks.fastmath.lenient_plain` for two plain numbers;
    any two numeric values within 1e-4 relative)."""
    cg, ca = canonical(gold), canonical(answer)
    pg, pa = plain_number(cg), plain_number(ca)
    if pg is not None and pa is not None:
        return lenient_plain(pg, pa)
    x, y = exact_value(cg), exact_value(ca)
    if x is not None and y is not None:  # exactly, as the fast path: sympy's floats round at the boundary
        return lenient_plain((x, False), (y, False))
    try:
        gv, av = _values(g[0]), _values(a[0])
        return bool(gv) and bool(av) and close(gv[0], av[0])
    except (TypeError, ValueError, ArithmeticError):
        return False


def equivalent(gold: str, answer: str, lenient: bool = False, swap: bool = True) -> bool:
    """math-verify equivalence of a normalised reference and answer, with no timeout (use a worker for that).

    Around math-verify's ``verify``: equal canonical forms are equal, and so are equal exact rational values
    (``workflow.tasks.fastmath.exact_value``); a reference or answer that parses to a
    degenerate relation, or that math-verify cannot parse, is compared as canonical LaTeX (a relation also with
    its sides swapped); an equation also with its sides swapped (``swap``); one imaginary unit (:func:`_same_i`);
    numbers must also agree to a relative tolerance; a percentage may equal its number. ``lenient`` adds the official grader's numeric rules
    (:func:`_lenient_numbers`).
    """
    from math_verify import verify

    if gold == answer or canonical(gold) == canonical(answer):
        return True
    exact = exact_value(canonical(gold))
    if exact is not None and exact == exact_value(canonical(answer)):
        return True  # "8.7\\times 10^{8}" and 870000000: math-verify's float 8.7 * 10^8 misses by 1e-7
    g, a = _same_i(_parse(gold)), _same_i(_parse(answer))
    if not g or not a:
        return False
    if _degenerate(g) or _degenerate(a) or all(isinstance(x, str) for x in g + a):
        # compare math-verify's normalised LaTeX (its string fallback: \displaystyle, \left, units gone)
        return _same_latex(_latex(g, gold), _latex(a, answer))
    # allow_set_relation_comp: "x \in [-2,7]" or "(-\infty, 0]" equals "-2 \le x \le 7" or "x \le 0"
    if verify(g, a, timeout_seconds=None, allow_set_relation_comp=True) and _numbers_agree(g, a):
        return True
    swapped = _swap_sides(answer) if swap and _swap_sides(gold) is not None else None
    if swapped is not None and equivalent(gold, swapped, lenient, swap=False):
        return True
    if lenient and _lenient_numbers(gold, answer, g, a):
        return True
    # "4.2\%" for 4.2: math-verify lets an integer percentage equal its number (9\% = 9) but not a decimal
    # one; the official grader accepts both (it also tries the reference x100 and /100).
    if bool(_PERCENT.search(gold)) != bool(_PERCENT.search(answer)):
        return equivalent(_PERCENT.sub("", gold), _PERCENT.sub("", answer), lenient)
    return False


def _check_pair(gold: str, answer: str, timeout: float, lenient: bool = False) -> str:
    global _ARMED
    try:
        try:
            _ARMED = True
            signal.setitimer(signal.ITIMER_REAL, timeout)
            return "ok" if equivalent(gold, answer, lenient) else "wrong"
        finally:
            _ARMED = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Deadline:
        return "timeout"
    except Exception:  # sympy and latex2sympy raise anything, MemoryError and RecursionError included
        return "error"


def _worker_main(conn: Connection, timeout: float, memory_mb: int | None) -> None:
    """Worker loop: receive (gold, answer) pairs, send back a reason; ``None`` or a closed pipe ends it."""
    if memory_mb:
        import resource

        # A runaway sympy expression raises MemoryError here instead of swapping the node.
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which shuts the pool down
    signal.signal(signal.SIGALRM, _on_alarm)
    logging.getLogger("math_verify").setLevel(logging.ERROR)  # "timeout disabled" and per-pair warnings
    logging.getLogger("latex2sympy2_extended").setLevel(logging.ERROR)
    # Import math-verify and build its parser before the first timed check (not "1" vs "1": that short-cuts).
    # A worker that cannot check this pair exits unready, so the parent fails loudly instead of scoring
    # every sample "error".
    if _check_pair("\\frac{1}{2}", "0.5", timeout=60.0) != "ok":
        sys.exit(1)
    conn.send("ready")
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        conn.send(_check_pair(task[0], task[1], timeout, task[2]))


def _serve() -> None:
    """Entry point of a worker interpreter: ``python -c ... <socket fd> <timeout> <memory_mb>``."""
    fd, timeout, memory_mb = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    _worker_main(Connection(fd), timeout, memory_mb or None)


# The import root of this package, for worker interpreters started outside an installed environment.
_ROOT = str(Path(__file__).resolve().parents[2])
_START_TIMEOUT = 180.0  # a fresh interpreter importing sympy on a loaded node
_MAX_START_FAILURES = 3


class _Worker:
    """One worker interpreter and its socket.

    A fresh ``python -c`` process rather than a multiprocessing child: spawn and forkserver re-import the
    caller's ``__main__`` (a script without a main guard would start workers recursively), and fork copies
    whatever threads and locks the caller holds. The socket speaks multiprocessing's pickled messages.
    """

    def __init__(self, timeout: float, memory_mb: int | None) -> None:
        parent, child = socket.socketpair()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p),
        }
        code = "from workflow.tasks.math import _serve; _serve()"
        args = [str(child.fileno()), repr(float(timeout)), str(memory_mb or 0)]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            pass_fds=[child.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        child.close()
        self.conn = Connection(parent.detach())
        self.ready = False
        self.task: int | None = None  # index of the pair being checked
        self.deadline = time.monotonic() + _START_TIMEOUT

    def ask_to_exit(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass

    def stop(self, wait_s: float = 0.0) -> None:
        """Wait up to ``wait_s`` for the worker to exit, then kill it (it holds no state worth a clean exit)."""
        try:
            self.proc.wait(timeout=max(wait_s, 0.0))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.conn.close()


class _Pool:
    """Worker processes with a hard per-task deadline: an overdue worker is killed and replaced."""

    def __init__(self, workers: int, timeout: float, memory_mb: int | None) -> None:
        self.timeout, self.memory_mb = timeout, memory_mb
        # The worker's own timer fires at `timeout`; the kill is for code that ignores signals.
        self.hard = timeout + max(1.0, 0.5 * timeout)
        self.start_failures = 0
        self.workers = [self._spawn() for _ in range(workers)]

    def _spawn(self) -> _Worker:
        return _Worker(self.timeout, self.memory_mb)

    def _replace(self, i: int) -> None:
        self.workers[i].stop()
        self.workers[i] = self._spawn()

    def run(self, pairs: Sequence[tuple[str, str, bool]]) -> list[str]:
        """The reason (ok, wrong, timeout, error) of every (reference, answer, lenient) task, in order."""
        out: list[str | None] = [None] * len(pairs)
        todo = deque(range(len(pairs)))
        while todo or any(w.task is not None for w in self.workers):
            now = time.monotonic()
            for i, w in enumerate(self.workers):
                if w.ready and w.task is None and todo:
                    j = todo.popleft()
                    try:
                        w.conn.send(pairs[j])
                    except OSError:  # died while idle: retry the pair on a fresh worker
                        todo.appendleft(j)
                        self._replace(i)
                        continue
                    w.task, w.deadline = j, now + self.hard
            waiting = {w.conn: i for i, w in enumerate(self.workers) if not w.ready or w.task is not None}
            until = min(self.workers[i].deadline for i in waiting.values())
            for conn in wait(list(waiting), timeout=max(0.0, until - time.monotonic())):
                i = waiting[conn]
                w = self.workers[i]
                try:
                    msg = conn.recv()
                except (EOFError, OSError):  # the worker died (segfault, OOM kill)
                    if w.task is not None:
                        out[w.task] = "error"
                    else:
                        self._start_failed()
                    self._replace(i)
                    continue
                if not w.ready:
                    w.ready, w.deadline = True, float("inf")
                    self.start_failures = 0
                else:
                    out[w.task], w.task, w.deadline = msg, None, float("inf")
            now = time.monotonic()
            for i, w in enumerate(self.workers):
                if w.deadline < now:
                    if w.task is not None:
                        out[w.task] = "timeout"
                    else:
                        self._start_failed()
                    self._replace(i)
        return [r or "error" for r in out]

    def _start_failed(self) -> None:
        self.start_failures += 1
        if self.start_failures >= _MAX_START_FAILURES:
            self.close()
            raise RuntimeError(
                "math verifier workers fail to start: check that math-verify imports in this environment "
                "(`python -c 'import math_verify'`)"
            )

    def close(self) -> None:
        for w in self.workers:
            w.ask_to_exit()
        until = time.monotonic() + 1.0
        for w in self.workers:
            w.stop(wait_s=until - time.monotonic())
        self.workers = []


# ---------------------------------------------------------------------------------------------------------------
# Public checker
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class CacheStats:
    """Counters: ``hits`` samples answered from the dedup cache, ``misses`` pairs verified, ``fast`` of them
    settled by the fast path (no worker, no sympy)."""

    hits: int = 0
    misses: int = 0
    size: int = 0
    fast: int = 0


class MathChecker:
    """Scores math completions against reference answers; never raises on a sample, never hangs.

    ``workers`` processes check pairs in parallel, each under ``timeout`` seconds (math-verify's default; the
    official code uses 3 s). ``policy`` is ``strict`` or ``lenient`` (:data:`POLICIES`, the module docstring).
    ``dedup`` caches verdicts by (normalised reference, extracted answer); ``fast`` settles the pairs that
    :func:`fast_verdict` can in this process; ``memory_mb`` caps each worker's address space. Use as a context
    manager, or call :meth:`close`.
    """

    def __init__(
        self,
        workers: int = VerificationConfig.workers,
        timeout: float = VerificationConfig.math_timeout,
        dedup: bool = True,
        memory_mb: int | None = 4096,
        policy: str = VerificationConfig.policy,
        fast: bool = True,
    ) -> None:
        if workers < 1 or timeout <= 0:
            raise ValueError(f"MathChecker needs workers >= 1 and timeout > 0, got {workers=} {timeout=}")
        if policy not in POLICIES:
            raise ValueError(f"MathChecker policy must be one of {POLICIES}, got {policy!r}")
        self.lenient, self.fast = policy == "lenient", fast
        # Fail here, loudly, rather than in every worker: a missing dependency must not score everything wrong.
        import math_verify  # noqa: F401

        self.workers, self.timeout, self.dedup = workers, timeout, dedup
        self.memory_mb = memory_mb
        self._pool: _Pool | None = None
        self._cache: dict[tuple[str, str], str] = {}
        self.cache_stats = CacheStats()

    def __enter__(self) -> MathChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Shut the worker processes down (the cache is kept; a later check starts new workers)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def check(self, gold: str | None, completion: str | None, finish_reason: str | None = "stop") -> Verdict:
        """One sample; see :meth:`check_many`."""
        return self.check_many([(gold, completion, finish_reason)])[0]

    def check_many(self, items: Iterable[tuple[str | None, str | None, str | None]]) -> list[Verdict]:
        """Verdicts for (reference answer, completion, finish reason) triples, in order.

        Extraction and the trivial verdicts (truncated, empty, no_answer, hedged, error for a missing reference)
        happen here, and so does the fast path; the distinct (reference, answer) pairs not yet cached or settled go
        to the worker pool.
        """
        verdicts: list[Verdict | None] = []
        pending: dict[int, tuple[str, str]] = {}  # sample index -> pair to verify
        for item in items:
            try:
                verdict = self._prepare(item)
            except Exception:  # a malformed row scores wrong; it must not lose the rest of the shard
                verdict = Verdict(False, "error")
            if isinstance(verdict, tuple):
                pending[len(verdicts)] = verdict
                verdicts.append(None)
            else:
                verdicts.append(verdict)

        if self.dedup:
            todo = list(dict.fromkeys(p for p in pending.values() if p not in self._cache))
            self.cache_stats.hits += len(pending) - len(todo)
        else:
            todo = list(pending.values())
        self.cache_stats.misses += len(todo)
        reasons = self._settle(todo)
        if self.dedup:
            self._cache.update(zip(todo, reasons, strict=True))
            self.cache_stats.size = len(self._cache)
            found = {i: self._cache[p] for i, p in pending.items()}
        else:
            found = dict(zip(pending, reasons, strict=True))
        for i, (_, answer) in pending.items():
            verdicts[i] = Verdict(found[i] == "ok", found[i], answer)
        return [v if v is not None else Verdict(False, "error") for v in verdicts]

    def _prepare(self, item: tuple[str | None, str | None, str | None]) -> Verdict | tuple[str, str]:
        """A verdict that needs no worker, or the (normalised reference, extracted answer) pair to verify."""
        gold, completion, finish_reason = item
        if finish_reason == "length" and not self.lenient:
            return Verdict(False, "truncated")
        if not isinstance(completion, str) or not completion.strip():
            return Verdict(False, "empty")
        answer, why = read_answer(completion, self.lenient)
        if answer is None:
            return Verdict(False, why)
        ref = normalize_gold_cached(gold) if isinstance(gold, (str, int, float)) else ""
        if not ref:  # no reference answer: a data error, not the model's
            return Verdict(False, "error", answer)
        return ref, answer

    def _settle(self, pairs: list[tuple[str, str]]) -> list[str]:
        """The reason of every pair: the fast path's where it decides, the workers' for the rest."""
        reasons = [fast_verdict(g, a, self.lenient) if self.fast else None for g, a in pairs]
        slow = [i for i, r in enumerate(reasons) if r is None]
        self.cache_stats.fast += len(pairs) - len(slow)
        for i, r in zip(slow, self._run([(*pairs[i], self.lenient) for i in slow]), strict=True):
            reasons[i] = r
        return reasons  # type: ignore[return-value]

    def _run(self, tasks: list[tuple[str, str, bool]]) -> list[str]:
        if not tasks:
            return []
        if self._pool is None:
            self._pool = _Pool(self.workers, self.timeout, self.memory_mb)
        try:
            return self._pool.run(tasks)
        except BaseException:
            # Interrupted mid-run (Ctrl-C) a worker may still owe a result: never reuse such a pool.
            self.close()
            raise
