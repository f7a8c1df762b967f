"""Answer extraction and normalisation for math completions (pure string work, no math-verify, no processes).

Consumes a completion (or a reference answer) as text; produces the final answer it states, normalised for
comparison: the content of the last brace-matched ``\\boxed{}`` (also ``\\fbox``, ``\\framebox`` and ``\\boxed 5``
for one token), joined with the boxes just before it when one answer is split over several (``$\\boxed{1}$,
$\\boxed{2}$``), and no answer at all ("hedged") when those boxes offer different answers joined by "or"; else the
text after the last "the answer is" / "final answer is" / "answer:"; else the last number (GSM8K-style).
``canonical`` is the typographic normal form the checker's fast path and its string fallback compare.
``workflow.tasks.math`` checks equivalence of what this returns; ``workflow.benchmarks`` reads reference solutions
with the same ``last_boxed``; the deviations from the official parser are listed there.
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


# Thousands written with a LaTeX space between groups of three digits ("2\\,016", "1\\;000\\;000", "10\\!080"):
# latex2sympy reads "2\\,016" as the product 2 * 16. Not after a decimal point or a comma.
_THOUSANDS_SPACE = r"(?:\\[,;:!]\s*|\\ \s*|\\thinspace\s*|~)"
_SPACED_THOUSANDS = re.compile(rf"(?<![\d.,])\d{{1,3}}(?:{_THOUSANDS_SPACE}\d{{3}})+(?![\d])")
# "1 000 000" (plain spaces, SI style) only as a whole answer: elsewhere a space may separate two numbers.
_PLAIN_SPACED_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?: \d{3})+(?:\.\d+)?")
# Space just inside a subscript or superscript's braces ("m_{\\max }"): latex2sympy keeps it in the symbol's name.
_SCRIPT_SPACE = re.compile(r"([_^])\{\s*((?:[^{}\\\s]|\\[A-Za-z]+|\s(?!\s*\}))*?)\s*\}")
_TEXT_WRAPPER = re.compile(r"^\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}$")

_SMALL = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen".split()
    )
}
_TENS = {
    w: 10 * i
    for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split())
    if i > 1
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}


def number_from_words(text: str) -> int | None:
    """An English cardinal written in words ("three", "twenty-one", "one hundred and five", "minus two"), else None.

    The whole text must be the number: "three apples" or "x + one" is not one (the official parser's word2number
    reads any number words it finds).
    """
    words = re.split(r"[\s-]+", text.strip().lower())
    sign = 1
    if words and words[0] in ("minus", "negative"):
        sign, words = -1, words[1:]
    if not words or words == [""]:
        return None
    total = current = 0
    seen = False
    for w in words:
        if w in _SMALL:
            current += _SMALL[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred" and seen:
            current = max(current, 1) * 100
        elif w in _SCALES and seen:
            total += max(current, 1) * _SCALES[w]
            current = 0
        elif w == "and" and seen:
            continue
        else:
            return None
        seen = True
    return sign * (total + current)


def normalize_answer(answer: str) -> str:
    """Light, meaning-preserving clean-up of an answer string before math-verify's own LaTeX normalisation.

    Unicode symbols to LaTeX; ``$`` delimiters and escaped dollar signs (currency) removed, which also joins
    OlympiadBench lists written ``$a$,$b$``; ``\\(``/``\\[`` delimiters removed; scientific notation to
    ``\\times 10^{}``; thousands separated by LaTeX spaces joined (``2\\,016``); space just inside a subscript's
    braces dropped; a number in words (``\\text{three}``) to digits; a number followed by plain words reduced to
    the number; trailing sentence punctuation dropped.
    """
    s = normalize_unicode(answer).strip()
    s = s.replace("\\$", "").replace("$", "")
    s = re.sub(r"^\\[(\[]|\\[)\]]$", "", s).strip()
    s = _SCI.sub(r"\1\\times 10^{\2}", s)
    # A bare "%" starts a LaTeX comment: "4.2 %" would parse as 4.2 with the sign lost.
    s = re.sub(r"\s*(?<!\\)%", r"\\%", s)
    if "\\" in s:
        s = _SPACED_THOUSANDS.sub(lambda m: re.sub(_THOUSANDS_SPACE, "", m[0]), s)
    s = _SCRIPT_SPACE.sub(r"\1{\2}", s)
    words = _TEXT_WRAPPER.fullmatch(s)
    value = number_from_words(words[1] if words else s) if re.fullmatch(r"[\\A-Za-z{}\s-]+", s) else None
    if value is not None:
        s = str(value)
    if "\\" not in s and "{" not in s:
        m = _NUMBER_WORDS.fullmatch(s)
        if m:
            s = m.group(1)
    s = re.sub(r"\s+", " ", s).strip()
    if _PLAIN_SPACED_THOUSANDS.fullmatch(s):
        s = s.replace(" ", "")
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
_normalize_cached = lru_cache(maxsize=1 << 16)(normalize_answer)

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


def _boxes(text: str) -> list[tuple[int, int, str | None]]:
    """Every box as (start, end, content): content None when its braces never close (end = len(text))."""
    out = []
    for m in _BOX.finditer(text):
        i, n = m.end(), len(text)
        while i < n and text[i].isspace():
            i += 1
        if text.startswith("[", i):  # \framebox[width]{...}
            close = text.find("]", i)
            if close < 0:
                out.append((m.start(), n, None))
                continue
            i = close + 1
            while i < n and text[i].isspace():
                i += 1
        if i < n and text[i] == "{":
            content = _brace_group(text, i)
            if content is None:
                out.append((m.start(), n, None))
            else:
                out.append((m.start(), i + len(content) + 2, content.strip()))
        else:
            # "\boxed 5$": one token, as in the official parser (up to the next "$" or space)
            token = re.match(r"[^\s$]+", text[i:])
            if token is None or i == m.end():
                out.append((m.start(), n, None))
            else:
                out.append((m.start(), i + token.end(), token.group(0)))
    return out


def _final(boxes: list[tuple[int, int, str | None]]) -> int | None:
    """Index of the last box that counts: an unbalanced one, or one with content (an empty box is skipped)."""
    for j in range(len(boxes) - 1, -1, -1):
        if boxes[j][2] is None or boxes[j][2]:
            return j
    return None


def last_boxed(text: str) -> str | None:
    """The content of the last non-empty box; None without a box; ``""`` when the last box is unbalanced."""
    boxes = _boxes(text)
    j = _final(boxes)
    if j is None:
        return None
    content = boxes[j][2]
    return _UNBALANCED if content is None else content


# What may stand between the boxes of one answer split over several: math delimiters, commas, "and", "or", LaTeX
# spacing, ``\text{ and }``; a sentence (a full stop, another word) between two boxes makes them separate answers.
_JOINER = re.compile(
    r"(?:\s|\$|\\[()\[\]]|\\\\|&|[,;]|\\(?:q?quad|[,;:! ])|\b(?:and|or|either)\b|\\text\{\s*(?:and|or|,)?\s*\})*"
)
_OR = re.compile(r"\bor\b")


def _split_answer(text: str, boxes: list[tuple[int, int, str | None]], j: int) -> tuple[str | None, bool]:
    """The answer of the final box ``j`` with the boxes that continue it, and whether they are a hedge.

    Boxes joined only by ``_JOINER`` text are one answer ("$\\boxed{1}$, $\\boxed{2}$" reads "1, 2"); repeats
    of the same answer count once. If the joining text says "or" and the boxes differ, the response offers two
    answers ("either \\boxed{81} or \\boxed{18}"): a hedge, which no answer may score.
    """
    group, hedge = [boxes[j][2]], False
    k = j
    while k > 0:
        prev = boxes[k - 1]
        if not prev[2]:
            break
        gap = text[prev[1] : boxes[k][0]]
        if not _JOINER.fullmatch(gap):
            break
        hedge = hedge or bool(_OR.search(gap))
        group.insert(0, prev[2])
        k -= 1
    distinct = list(dict.fromkeys(group))
    if len(distinct) > 1 and hedge:
        return None, True
    return ", ".join(distinct), False


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


def read_answer(completion: str | None, lenient: bool = False) -> tuple[str | None, str]:
    """The final answer of a completion, normalised (:func:`normalize_answer`), and why there is none.

    Returns ``(answer, "ok")``, or ``(None, reason)`` with reason ``no_answer`` or ``hedged``. The last box (with
    the boxes that continue it, see :func:`_split_answer`); else the text after the last "the answer is" /
    "final answer is" / "answer:"; else the last number. An unbalanced last box is no answer (the model did not
    finish writing it); ``lenient`` reads it to the end of the text, as the official parser does.
    """
    if not isinstance(completion, str) or not completion.strip():
        return None, "no_answer"
    text = normalize_unicode(completion)
    found: str | None = None
    if _BOX.search(text):
        boxes = _boxes(text)
        j = _final(boxes)
        if j is not None and boxes[j][2] is None:
            if not lenient:
                return None, "no_answer"
            # the official parser: everything after the box's opening brace, to the end of the text
            rest = text[boxes[j][0] :]
            brace = rest.find("{")
            found = re.sub(r"(?:\s|\$|\\[\])])+$", "", rest[brace + 1 :] if brace >= 0 else "")
        elif j is not None:
            found, hedged = _split_answer(text, boxes, j)
            if hedged:
                return None, "hedged"
    if found is None:
        anchors = list(_ANCHOR.finditer(text))
        if anchors:
            found = _after_anchor(text[anchors[-1].end() :])
    if found is None:
        numbers = _NUMBER.findall(text)
        if numbers:
            found = numbers[-1].replace(",", "")
    if found is None:
        return None, "no_answer"
    answer = _normalize_cached(found)  # final answers repeat across samples; their text around them does not
    return (answer, "ok") if answer else (None, "no_answer")


def extract_answer(completion: str | None, lenient: bool = False) -> str | None:
    """The final answer of a completion (:func:`read_answer`), None when there is none."""
    return read_answer(completion, lenient)[0]


# ---------------------------------------------------------------------------------------------------------------
# Canonical form (the checker's fast path and string fallback)
# ---------------------------------------------------------------------------------------------------------------

_TYPOGRAPHY = re.compile(r"\\(?:left|right|displaystyle|textstyle)(?![A-Za-z])|\\[,;:!](?![A-Za-z])")


def canonical(answer: str) -> str:
    """A typographic normal form of a normalised answer: equal forms are the same mathematics.

    ``\\left``/``\\right``/``\\displaystyle`` and LaTeX spacing dropped (``\\left.`` too), ``\\dfrac``/``\\tfrac`` to
    ``\\frac``, ``^{\\circ}`` to ``^\\circ``, then whitespace removed except where it separates two digits or a
    command from a letter (``\\pi r``).
    """
    s = _TYPOGRAPHY.sub("", re.sub(r"\\(?:left|right)\.", "", answer))
    s = re.sub(r"\\[dt]frac(?![A-Za-z])", r"\\frac", s)
    s = s.replace("^{\\circ}", "^\\circ")
    s = re.sub(r"\s+", " ", s.strip())
    s = re.sub(r"(\\[A-Za-z]+) (?=[A-Za-z])", "\\1\0", s)  # "\\pi r" is not "\\pir"
    s = re.sub(r"(?<=\d) (?=\d)", "\0", s)  # "1 2" is not 12
    return s.replace(" ", "").replace("\0", " ")
