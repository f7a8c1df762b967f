"""Answer extraction and normalisation for math completions (pure string work, no math-verify, no processes).

Consumes a completion (or a reference answer) as text; produces the final answer it states, normalised for
comparison: the content of the last brace-matched ``\\boxed{}`` (also ``\\fbox``, ``\\framebox`` and ``\\boxed 5``
for one token), else the text after the last "the answer is" / "final answer is" / "answer:", else the last number
(GSM8K-style). ``workflow.tasks.math`` checks equivalence of what this returns; ``workflow.benchmarks`` reads
reference solutions with the same ``last_boxed``; the deviations from the official parser are listed there.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# ---------------------------------------------------------------------------------------------------------------
# Normalisation shared by references and extracted answers
# ---------------------------------------------------------------------------------------------------------------

# Symbols models write in unicode; mapped before NFKC, which would turn "x²" into "x2".
_UNICODE = str.maketrans(
    {
        "\u2212": "-",  # minus sign
        "\u2013": "-",  # en dash, used as a minus
        "\u00d7": "\\times ",
        "\u22c5": "\\cdot ",
        "\u00b7": "\\cdot ",
        "\u00f7": "\\div ",
        "\u03c0": "\\pi ",
        "\u221a": "\\sqrt ",
        "\u221e": "\\infty ",
        "\u00b0": "^\\circ ",
        "\u2264": "\\le ",
        "\u2265": "\\ge ",
        "\u2260": "\\ne ",
        "\u00b1": "\\pm ",
        "\u00b2": "^2",
        "\u00b3": "^3",
        "\u00b9": "^1",
        "\u00bd": "\\frac{1}{2}",
        "\u00bc": "\\frac{1}{4}",
        "\u00be": "\\frac{3}{4}",
        "\u2044": "/",  # fraction slash (NFKC output of other vulgar fractions)
    }
)


def normalize_unicode(text: str) -> str:
    """Math symbols to LaTeX, then NFKC (full-width digits, non-breaking and thin spaces)."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text.translate(_UNICODE)).translate(_UNICODE)


# "4.5e33" / "1.2E-5": latex2sympy would read e as Euler's number. Not after a letter or backslash (\exp, x2e3).
_SCI = re.compile(r"(?<![\w.\\])(\d+(?:\.\d+)?)[eE]([+-]?\d+)(?![\w.])")
# A number followed by plain words ("18 dollars", "18 eggs a day"): the first word has 3+ letters, so "2 xy"
# stays a product; short units ("5 cm", "3 m") are left to math-verify's unit list.
_NUMBER_WORDS = re.compile(
    r"([-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+)?\s*%?)\s+[A-Za-z]{3,}(?:\s+[A-Za-z]+)*\s*\.?"
)


def _strip_trailing(s: str) -> str:
    """Sentence punctuation and LaTeX spacing after an answer ("18." / "x = 3,\\;"), never a command's comma.

    A loop, not a regex: ``(...)+$`` is quadratic on a long run of dots that does not end the string.
    """
    while True:
        t = s.rstrip(" ~")
        if t.endswith(("\\quad", "\\qquad")):
            t = t[: t.rindex("\\")]
        elif len(t) >= 2 and t[-2] == "\\" and t[-1] in ",;:! " and not t[:-2].endswith("\\"):
            t = t[:-2]
        elif t and t[-1] in ".,;:" and not t[:-1].endswith("\\"):
            t = t[:-1]
        elif t.endswith("\\") and not t.endswith("\\\\"):  # "\\ " after the space went
            t = t[:-1]
        if t == s:
            return t
        s = t


def normalize_answer(answer: str) -> str:
    """Light, meaning-preserving clean-up of an answer string before math-verify's own LaTeX normalisation.

    Unicode symbols to LaTeX; ``$`` delimiters and escaped dollar signs (currency) removed, which also joins
    OlympiadBench lists written ``$a$,$b$``; ``\\(``/``\\[`` delimiters removed; scientific notation to
    ``\\times 10^{}``; a number followed by plain words reduced to the number; trailing sentence punctuation
    dropped.
    """
    s = normalize_unicode(answer).strip()
    s = s.replace("\\$", "").replace("$", "")
    s = re.sub(r"^\\[(\[]|\\[)\]]$", "", s).strip()
    s = _SCI.sub(r"\1\\times 10^{\2}", s)
    # A bare "%" starts a LaTeX comment: "4.2 %" would parse as 4.2 with the sign lost.
    s = re.sub(r"\s*(?<!\\)%", r"\\%", s)
    if "\\" not in s and "{" not in s:
        m = _NUMBER_WORDS.fullmatch(s)
        if m:
            s = m.group(1)
    s = re.sub(r"\s+", " ", s).strip()
    return _strip_trailing(s)


def normalize_gold(gold: str) -> str:
    """The reference answer as the checker compares it: a boxed solution's last box, then :func:`normalize_answer`."""
    s = str(gold)
    if _BOX.search(s):
        boxed = last_boxed(s)
        if boxed:
            s = boxed
    return normalize_answer(s)


normalize_gold_cached = lru_cache(maxsize=1 << 16)(normalize_gold)  # one reference serves n samples

# ---------------------------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------------------------

_BOX = re.compile(r"\\(?:boxed|fbox|framebox)(?![A-Za-z])")
_UNBALANCED = ""  # last_boxed's value for a last box with no closing brace (or nothing after \boxed)


def _brace_group(text: str, start: int) -> str | None:
    """Content of the brace group opening at ``text[start] == "{"``; None when it never closes.

    Escaped characters (``\\{``, ``\\}``, ``\\\\``) are skipped in pairs, so ``\\boxed{\\{1,2\\}}`` reads ``\\{1,2\\}``.
    """
    depth, i, n = 0, start, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
        i += 1
    return None


def last_boxed(text: str) -> str | None:
    """The content of the last non-empty box; None without a box; ``""`` when the last box is unbalanced."""
    for m in reversed(list(_BOX.finditer(text))):
        i, n = m.end(), len(text)
        while i < n and text[i].isspace():
            i += 1
        if text.startswith("[", i):  # \framebox[width]{...}
            close = text.find("]", i)
            if close < 0:
                return _UNBALANCED
            i = close + 1
            while i < n and text[i].isspace():
                i += 1
        if i < n and text[i] == "{":
            content = _brace_group(text, i)
            if content is None:
                return _UNBALANCED
        else:
            # "\boxed 5$": one token, as in the official parser (up to the next "$" or space)
            token = re.match(r"[^\s$]+", text[i:])
            if token is None or i == m.end():
                return _UNBALANCED
            content = token.group(0)
        if content.strip():
            return content.strip()
    return None


_ANCHOR = re.compile(r"(?:final\s+answer|the\s+answer)\s+is\b|\banswer\s*:", re.IGNORECASE)
_SPANS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
# A number for the last-number fallback: thousands separators, decimals, a simple fraction (1/2 or \frac{1}{2});
# a minus only where it cannot be the dash of a range ("2-3") or a subtraction.
_NUMBER = re.compile(
    r"(?:(?<![\w)\]}.])-)?"
    r"(?:\\[dt]?frac\{\d+\}\{\d+\}"
    r"|(?<![\w.])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?:/\d+(?!\d|\.\d))?(?!\d))"
)


def _after_anchor(phrase: str) -> str | None:
    """The answer in the text that follows "the answer is": a leading math span, else the rest of the sentence."""
    phrase = phrase.lstrip(" \t:*")
    for open_, close in _SPANS:
        if phrase.startswith(open_):
            end = phrase.find(close, len(open_))
            while end > 0 and close == "$" and phrase[end - 1] == "\\":  # "$\$36$": an escaped dollar
                end = phrase.find(close, end + 1)
            if end > len(open_):
                return phrase[len(open_) : end]
            break
    line = phrase.split("\n", 1)[0]
    # The sentence ends at a full stop that is not a decimal point.
    line = re.split(r"\.(?!\d)", line, maxsplit=1)[0]
    line = line.replace("**", "").strip()
    return line or None


def extract_answer(completion: str | None) -> str | None:
    """The final answer of a completion, normalised (:func:`normalize_answer`); None when there is none.

    The last box; else the text after the last "the answer is" / "final answer is" / "answer:"; else the last
    number. An unbalanced last box is no answer (the model did not finish writing it).
    """
    if not isinstance(completion, str) or not completion.strip():
        return None
    text = normalize_unicode(completion)
    found: str | None = None
    if _BOX.search(text):
        boxed = last_boxed(text)
        if boxed == _UNBALANCED:
            return None
        found = boxed
    if found is None:
        anchors = list(_ANCHOR.finditer(text))
        if anchors:
            found = _after_anchor(text[anchors[-1].end() :])
    if found is None:
        numbers = _NUMBER.findall(text)
        if numbers:
            found = numbers[-1].replace(",", "")
    if found is None:
        return None
    answer = normalize_answer(found)
    return answer or None
