"""Verifiable task families. Each module provides problem generation or loading, prompt format and a checker.

Every checker returns a :class:`Verdict` and never raises: a malformed, truncated or empty sample is simply
scored incorrect, with the reason recorded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """The score of one sample."""

    correct: bool
    reason: str
    """Why: ``ok`` when correct, else a short tag (truncated, empty, format, wrong, timeout, ...)."""
    extracted: str | None = None
    """The answer the checker read from the completion, where it reads one (math, reasoning gym)."""
    sandbox: str | None = None
    """How the program ran (code): ``full`` isolation, or ``weak (missing ...)`` where it was allowed."""
