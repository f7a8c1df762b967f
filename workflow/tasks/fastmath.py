"""The math checker's fast path: verdicts of (reference, answer) pairs settled without sympy, in the parent process.

Consumes a normalised reference and answer (``workflow.tasks.answers``); produces ``ok``, ``wrong``, or None when
only the symbolic comparison (``workflow.tasks.math.equivalent``, in a worker) can tell. Three forms settle a pair:

* equal canonical LaTeX (``answers.canonical``: spacing, ``\\left``, ``\\dfrac`` aside) is ``ok``, and so are two
  equal exact rational values (:func:`exact_value`); ``equivalent`` starts with the same two tests, so both paths
  agree by construction;
* two plain numbers (``12``, ``-0.5``, ``1,000``, ``\\frac{3}{4}``, ``3/4``; a trailing ``^\\circ`` on both or
  either) are compared exactly as fractions;
* a tuple or interval against one with the same brackets and length, element by element;
* two constant expressions (numbers, ``+ - * /``, ``\\cdot``, ``\\times``, ``\\div``, ``\\frac``, ``\\sqrt``,
  ``\\sqrt[n]``, powers, ``\\pi``, parentheses, implicit products such as ``2\\sqrt{3}``) are evaluated in floating
  point.

Decisions, under the ``strict`` policy: values farther apart than the relative tolerance (1e-4, the official
grader's) are ``wrong``, because ``equivalent`` vetoes anything farther even when math-verify accepts it; exact
numbers that are equal, or expressions without decimals that agree to 1e-12 relative, are ``ok``; anything in
between goes to sympy (math-verify rounds to 6 decimals there). Under ``lenient`` the official numeric rules
decide every pair of numbers (:func:`lenient_plain`). An ``x = 3`` on one side or on both with the same letter
compares its value, as math-verify does. ``tests/test_math_verifier.py`` checks that every verdict of this path
equals the worker's on every pair of the benchmark suite and on random numeric pairs.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

from workflow.tasks.answers import canonical

REL_TOL = 1e-4
"""Relative tolerance for two numbers, as the official grader (Qwen2.5-Math ``math_equal``: isclose, 1e-4)."""
EXACT_TOL = 1e-12
"""Two constant expressions without decimals that agree this closely are taken to be equal."""
EDGE = 1e-9
"""Relative width of the band around the tolerance's boundary that is left to sympy."""

# A plain number as the official grader's ``is_digit`` sees it: a decimal numeral (thousands commas allowed).
_NUMERAL = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+")
_FRACTION = re.compile(r"([+-]?)(?:\\frac\{(\d+)\}\{(\d+)\}|(\d+)/(\d+))")
_DEGREES = re.compile(r"\^\\circ$")
_ASSIGNED = re.compile(r"([A-Za-z])=(?!=)(.+)")


def plain_number(answer: str) -> tuple[Fraction, bool] | None:
    """The exact value of a canonical answer that is a plain number (``12``, ``-0.5``, ``1,000``, ``\\frac{3}{4}``,
    ``3/4``) and whether it is a decimal numeral; None for anything else (a percentage, an expression)."""
    if _NUMERAL.fullmatch(answer):
        return Fraction(answer.replace(",", "")), True
    m = _FRACTION.fullmatch(answer)
    if m:
        num, den = (m[2], m[3]) if m[2] is not None else (m[4], m[5])
        if int(den) == 0:
            return None
        return Fraction(int(num), int(den)) * (-1 if m[1] == "-" else 1), False
    return None


def close(x: Any, y: Any, tol: float = REL_TOL) -> bool:
    """``|x - y| <= tol * max(|x|, |y|)``: the official ``isclose(rel_tol=1e-4)``."""
    return bool(abs(x - y) <= tol * max(abs(x), abs(y)))


def _relation(x: Any, y: Any) -> str:
    """``equal``, ``near`` (within the relative tolerance), ``far``, or ``edge``: for a float, within 1e-9 relative
    of the tolerance's boundary, where floating point in sympy and here may round either way."""
    if x == y:
        return "equal"
    d, m = abs(x - y), max(abs(x), abs(y))
    if isinstance(x, Fraction) and isinstance(y, Fraction):  # exact: 0.3333 is within 1e-4 of 1/3, just
        return "near" if d <= Fraction(1, 10**4) * m else "far"
    if abs(d - REL_TOL * m) <= EDGE * m:
        return "edge"
    return "near" if d <= REL_TOL * m else "far"


def lenient_plain(pg: tuple[Fraction, bool], pa: tuple[Fraction, bool]) -> bool:
    """The official grader on two plain numbers: within 1e-4 relative; for two decimal numerals (its
    ``is_digit``) also the reference x100 or /100 (``25`` for ``0.25``, its ``include_percentage``)."""
    return _lenient(pg, pa) == "ok"


def _lenient(pg: tuple[Any, bool], pa: tuple[Any, bool]) -> str | None:
    (x, x_numeral), (y, y_numeral) = pg, pa
    variants = [x, x * 100, x / 100] if x_numeral and y_numeral else [x]
    found = {_relation(v, y) for v in variants}
    if found & {"equal", "near"}:
        return "ok"
    return None if "edge" in found else "wrong"


def fast_verdict(gold: str, answer: str, lenient: bool = False) -> str | None:
    """``ok``, ``wrong``, or None (ask sympy) for a normalised reference and answer; see the module docstring."""
    cg, ca = canonical(gold), canonical(answer)
    if cg == ca:
        return "ok"
    return _values_verdict(cg, ca, lenient)


def _values_verdict(cg: str, ca: str, lenient: bool) -> str | None:
    if cg[:1] in "([" and cg[:1] == ca[:1] and cg[-1:] in ")]" and cg[-1:] == ca[-1:]:
        # element by element under the strict rules: the official numeric rules apply to single numbers only
        return _sequence_verdict(_split(cg[1:-1]), _split(ca[1:-1]))
    mg, ma = _ASSIGNED.fullmatch(cg), _ASSIGNED.fullmatch(ca)
    if mg and ma and mg[1] == ma[1]:
        cg, ca = mg[2], ma[2]
    elif mg and not ma and "=" not in ca:
        cg = mg[2]
    elif ma and not mg and "=" not in cg:
        ca = ma[2]
    elif mg or ma:
        return None
    degrees = bool(_DEGREES.search(cg) or _DEGREES.search(ca))
    if degrees:
        cg, ca = _DEGREES.sub("", cg), _DEGREES.sub("", ca)
        if plain_number(cg) is None or plain_number(ca) is None:
            return None  # "90^\circ" against "\frac{\pi}{2}": degrees are not radians, sympy decides
    pg, pa = plain_number(cg), plain_number(ca)
    if pg is None or pa is None:
        x, y = constant_value(cg), constant_value(ca)
        if x is None or y is None:
            return None
        pg, pa = (x, False), (y, False)
    elif degrees:  # "76^\circ" is no numeral for the x100 rule
        pg, pa = (pg[0], False), (pa[0], False)
    if lenient:
        return _lenient(pg, pa)
    x, y = pg[0], pa[0]
    relation = _relation(x, y)
    if relation == "far":
        return "wrong"
    exact = isinstance(x, Fraction) and isinstance(y, Fraction)
    if relation == "equal" and exact:
        return "ok"
    if not exact and "." not in cg + ca and close(x, y, EXACT_TOL):
        return "ok"  # irrational constants that agree to 1e-12 (3\sqrt{13} and \sqrt{117})
    return None  # near: math-verify's rounding to 6 decimals decides


def _split(inner: str) -> list[str] | None:
    """The top-level comma-separated parts of a bracket's content; None when the brackets do not balance."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(inner):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return None  # "(1,2),(3,4)": the outer brackets are not one pair
        elif c == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    return parts + [inner[start:]] if depth == 0 else None


def _sequence_verdict(g: list[str] | None, a: list[str] | None) -> str | None:
    """A tuple or interval against one with the same brackets and length, element by element in order: ``wrong``
    when one element is, ``ok`` when all are; sympy for anything else (another length, a single number in
    parentheses, an element only sympy can tell)."""
    if g is None or a is None or len(g) != len(a) or len(g) < 2:
        return None
    verdicts = ["ok" if x == y else _values_verdict(x, y, False) for x, y in zip(g, a, strict=True)]
    if "wrong" in verdicts:
        return "wrong"
    return "ok" if all(v == "ok" for v in verdicts) else None


# ---------------------------------------------------------------------------------------------------------------
# Constant expressions
# ---------------------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\d+(?:\.\d+)?|\.\d+|\\[A-Za-z]+|[-+*/^(){}\[\]]|\s")
_COMMANDS = {"\\frac", "\\sqrt", "\\pi", "\\cdot", "\\times", "\\div"}


def exact_value(text: str) -> Fraction | None:
    """The exact rational value of a canonical constant expression (``8.7\\times 10^{8}``, ``\\frac{6}{4}``), else
    None. Two equal exact values are the same number whatever math-verify's float rounding makes of them."""
    value = constant_value(text)
    return value if isinstance(value, Fraction) else None


def _exact_root(x: Number, n: int) -> Fraction | None:
    """The n-th root of a Fraction when it is one (``\\sqrt{\\frac{9}{4}}``), else None."""
    if not isinstance(x, Fraction):
        return None
    parts = []
    for part in (x.numerator, x.denominator):
        r = round(part ** (1 / n))
        r = next((c for c in (r - 1, r, r + 1) if c >= 0 and c**n == part), None)
        if r is None:
            return None
        parts.append(r)
    return Fraction(parts[0], parts[1])


class _Unsupported(Exception):
    """Not a constant expression this evaluator reads exactly as latex2sympy does."""


Number = Fraction | float


def constant_value(text: str) -> Number | None:
    """The value of a canonical constant expression, exact (a Fraction) while only rational operations are
    involved, else a float; None when it is not one (a letter, a set, an infinity, anything the grammar does not
    cover, a complex or non-finite value)."""
    tokens = _tokens(text)
    if tokens is None:
        return None
    parser = _Parser(tokens)
    try:
        value = parser.expr()
        if parser.i != len(tokens):
            return None
    except (_Unsupported, ArithmeticError, ValueError, IndexError, RecursionError):
        return None
    if isinstance(value, complex) or not math.isfinite(value):
        return None
    return value


def _tokens(text: str) -> list[str] | None:
    out, i = [], 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:
            return None
        tok = m[0]
        if tok.startswith("\\") and tok not in _COMMANDS:
            return None
        if tok.isspace():  # canonical keeps a space only between two digits ("1 2"): not one number
            return None
        out.append(tok)
        i = m.end()
    return out


class _Parser:
    """expr := term (('+'|'-') term)*; term := unary (('*'|'/'|'\\cdot'|'\\times'|'\\div'| implicit) unary)*;
    unary := ('+'|'-') unary | power; power := atom ('^' argument)?; atom := number | '\\pi' | '(' expr ')' |
    '{' expr '}' | '\\frac' argument argument | '\\sqrt' ('[' expr ']')? argument; argument := '{' expr '}' | one
    digit | '\\pi' (``\\frac12`` too). Whatever latex2sympy might read otherwise (``2^10``, ``(2)3``) is left
    unread, so the value is None and sympy decides."""

    def __init__(self, tokens: list[str]) -> None:
        self.t, self.i = tokens, 0

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise _Unsupported
        self.i += 1
        return tok

    def expr(self) -> Number:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> Number:
        value = self.unary()
        while True:
            tok = self.peek()
            if tok in ("*", "\\cdot", "\\times"):
                self.take()
                value *= self.unary()
            elif tok in ("/", "\\div"):
                self.take()
                value /= self.unary()
            elif tok in ("(", "\\sqrt", "\\pi"):
                value *= self.unary()  # implicit product: 2\sqrt{3}, 3\pi, 2(1+\sqrt{2})
            elif tok == "\\frac":
                raise _Unsupported  # "1\frac{4}{5}": math-verify reads a mixed number
            else:
                return value  # a digit after an atom ("(2)3") is not read: the parse ends short, no value

    def unary(self) -> Number:
        if self.peek() in ("+", "-"):
            sign = -1 if self.take() == "-" else 1
            return sign * self.unary()
        return self.power()

    def power(self) -> Number:
        base = self.atom()
        if self.peek() == "^":
            self.take()
            exponent = self.argument()
            if abs(exponent) > 64 or abs(base) > 1e12:
                raise _Unsupported  # huge powers: sympy's business (and its timeout's)
            if isinstance(base, Fraction) and isinstance(exponent, Fraction) and exponent.denominator == 1:
                return base**exponent.numerator
            return float(base) ** float(exponent)
        return base

    def argument(self) -> Number:
        tok = self.peek()
        if tok == "{":
            self.take()
            value = self.expr()
            self.take("}")
            return value
        if tok is not None and len(tok) == 1 and tok.isdigit():
            self.take()
            return Fraction(tok)
        if tok == "\\pi":
            self.take()
            return math.pi
        raise _Unsupported

    def atom(self) -> Number:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return Fraction(tok)
        if tok == "\\pi":
            return math.pi
        if tok in ("(", "{"):
            value = self.expr()
            self.take(")" if tok == "(" else "}")
            return value
        if tok == "\\frac":
            digits = self.peek()
            if digits is not None and len(digits) == 2 and digits.isdigit():  # "\frac12" is \frac{1}{2}
                self.take()
                return Fraction(int(digits[0]), int(digits[1]))
            num = self.argument()
            return num / self.argument()
        if tok == "\\sqrt":
            root: Number = 2
            if self.peek() == "[":
                self.take()
                root = self.expr()
                self.take("]")
            radicand = self.argument()
            if radicand < 0 or root not in (2, 3, 4):
                raise _Unsupported
            exact = _exact_root(radicand, int(root))
            return exact if exact is not None else float(radicand) ** (1 / float(root))
        raise _Unsupported
