"""Math benchmark loaders (Yue et al. 2025 Figs 2, 7, 9, 10): GSM8K, MATH500, Minerva Math, OlympiadBench,
AIME24, AMC23 and Omni-MATH (rule-gradable subset). Each maps one source row to a problem of kind ``math``.
"""

from __future__ import annotations

import re
from typing import Any

from workflow.benchmarks.core import HubSource, _field, _text, last_boxed, register


@register(
    "gsm8k",
    "math",
    HubSource("openai/gsm8k", "main", "test", "1,319 test problems; the local copy of Yue et al. adds idx"),
)
def gsm8k(index: int, row: dict[str, Any]) -> dict[str, Any]:
    """Answer: the number after the last ``####``, thousands commas removed; reference: the worked solution
    before it, with the calculator annotations ``<<48/2=24>>`` removed."""
    solution = row["answer"]
    if "####" not in solution:
        raise ValueError("answer has no '#### <number>' line")
    work, _, final = solution.rpartition("####")
    return {
        "id": f"gsm8k/{index}",
        "question": row["question"],
        "answer": final.strip().replace(",", ""),
        "reference": re.sub(r"<<[^>]*>>", "", work).strip(),
        "meta": {"idx": row.get("idx", index)},
    }


@register("math500", "math", HubSource("HuggingFaceH4/MATH-500", None, "test", "the 500-problem MATH split"))
def math500(index: int, row: dict[str, Any]) -> dict[str, Any]:
    level = row.get("level")
    return {
        "id": f"math500/{index}",
        "question": row["problem"],
        "answer": _text(row["answer"]),
        "reference": row.get("solution"),
        "difficulty": f"level {level}" if level is not None else "unknown",
        "meta": {"subject": row.get("subject"), "unique_id": row.get("unique_id")},
    }


@register(
    "minerva_math",
    "math",
    HubSource(
        "math-ai/minervamath",
        None,
        "test",
        "272 problems; hub rows carry question/answer, the Yue et al. copy problem/solution (answer boxed)",
    ),
)
def minerva_math(index: int, row: dict[str, Any]) -> dict[str, Any]:
    """Answer: the last ``\\boxed{}`` of the solution (as the official code does), else an ``answer`` field."""
    solution = row.get("solution")
    answer = last_boxed(solution) if isinstance(solution, str) else None
    if answer is None:
        if row.get("answer") is None:
            raise ValueError("no \\boxed{} answer in the solution and no answer field")
        answer = _text(row["answer"])
    return {
        "id": f"minerva_math/{index}",
        "question": _field(row, "problem", "question"),
        "answer": answer,
        "reference": solution,
        "meta": {"type": row.get("type"), "idx": row.get("idx", index)},
    }


@register(
    "olympiadbench",
    "math",
    HubSource(
        "Hothan/OlympiadBench",
        "OE_TO_maths_en_COMP",
        "train",
        "English, text-only, open-ended math (the Yue et al. set, 675 problems; the hub config has 674)",
    ),
)
def olympiadbench(index: int, row: dict[str, Any]) -> dict[str, Any]:
    final = row["final_answer"]
    if isinstance(final, str):
        final = [final]
    answer = ", ".join(_text(a).replace("$", "").strip() for a in final)
    solution = row.get("solution")
    if isinstance(solution, list):
        solution = "\n\n".join(solution)
    unit = row.get("unit")
    return {
        "id": f"olympiadbench/{index}",
        "question": row["question"],
        "answer": answer,
        "reference": solution,
        "difficulty": str(row["difficulty"]) if row.get("difficulty") else "unknown",
        "meta": {
            "source_id": row.get("id"),
            "subfield": row.get("subfield"),
            "answer_type": row.get("answer_type"),
            "unit": unit.replace("$", "").strip() if isinstance(unit, str) else None,
            "is_multiple_answer": row.get("is_multiple_answer"),
            "context": row.get("context"),
        },
    }


@register(
    "aime24", "math", HubSource("HuggingFaceH4/aime_2024", None, "train", "30 problems; only a train split")
)
def aime24(index: int, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"aime24/{index}",
        "question": _field(row, "problem", "question"),
        "answer": _text(row["answer"]),
        "reference": row.get("solution"),
        "meta": {"source_id": row.get("id"), "url": row.get("url"), "year": row.get("year")},
    }


@register(
    "amc23", "math", HubSource("math-ai/amc23", None, "test", "40 AMC 2023 problems; answers are floats")
)
def amc23(index: int, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"amc23/{index}",
        "question": _field(row, "problem", "question"),
        "answer": _text(row["answer"]),
        "reference": row.get("solution"),
        "meta": {"source_id": row.get("id"), "url": row.get("url")},
    }


# Omni-MATH-Rule (Yue et al. §4.3): the 2,821 of Omni-MATH's 4,428 problems the authors found gradable by rules,
# released as omni_math_rule.jsonl in the GitHub repo KbsdJames/omni-math-rule (same fields as Omni-MATH); load it
# as a local file. Their selection (agreement of rule-based and GPT-4o grading, then manual review) cannot be
# recomputed, so ``rule_filter`` on the full set is our conservative stand-in: keep an answer that is one short
# line of mathematics, i.e. at most 64 characters, no prose (no run of 3+ letters outside LaTeX command names),
# no relation or condition (= < > ; \le \ge \ne \in \mid \forall \exists \iff \implies), no ellipsis (families of
# answers), no \text / \mathrm (words, units). It keeps fewer problems than the official subset.
_RULE_COMMANDS = re.compile(
    r"\\(?:l?dots|cdots|vdots|forall|exists|mid|iff|implies|[Rr]ightarrow|to|text\w*|mathrm|mbox|operatorname"
    r"|leq?|geq?|neq?|leqslant|geqslant|approx|sim|in|notin|subset\w*|supset\w*|cup|cap|setminus)(?![A-Za-z])"
)


def rule_checkable(answer: Any) -> bool:
    """Whether an Omni-MATH answer is simple enough to grade by rules (see the comment above for the rule)."""
    if not isinstance(answer, str | int | float) or isinstance(answer, bool):
        return False
    a = _text(answer).strip().strip("$").strip()
    if not a or len(a) > 64 or "\n" in a or _RULE_COMMANDS.search(a) or re.search(r"[=<>;]", a):
        return False
    return not re.search(r"[A-Za-z]{3,}", re.sub(r"\\[A-Za-z]+", " ", a))


@register(
    "omni_math",
    "math",
    HubSource(
        "KbsdJames/Omni-MATH",
        None,
        "test",
        "all 4,428 problems; Omni-MATH-Rule is the GitHub file omni_math_rule.jsonl (KbsdJames/omni-math-rule)",
    ),
)
def omni_math(index: int, row: dict[str, Any], *, rule_filter: bool = False) -> dict[str, Any] | None:
    """``rule_filter``: keep only rule-checkable answers (``rule_checkable``); not needed on Omni-MATH-Rule."""
    if rule_filter and not rule_checkable(row["answer"]):
        return None
    difficulty = row.get("difficulty")
    return {
        "id": f"omni_math/{index}",
        "question": row["problem"],
        "answer": _text(row["answer"]),
        "reference": row.get("solution"),
        "difficulty": _text(difficulty) if difficulty is not None else "unknown",
        "meta": {"domain": row.get("domain"), "source": row.get("source"), "idx": row.get("idx")},
    }


@register(
    "deepscaler",
    "math",
    HubSource(
        "agentica-org/DeepScaleR-Preview-Dataset",
        None,
        "train",
        "40,315 problems (AIME, AMC, Omni-MATH, STILL): ProRL's math training domain (paper.md section 2.5)",
    ),
)
def deepscaler(index: int, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"deepscaler/{index}",
        "question": _field(row, "problem", "question"),
        "answer": _text(row["answer"]),
        "reference": row.get("solution"),
        "meta": {},
    }
