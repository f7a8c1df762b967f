"""Atomic file and directory writes, JSONL helpers and derived seeds.

Every stage writes its outputs through these helpers: a killed job leaves either the finished file or
nothing (a temp sibling that the next run overwrites), so resuming never loses or duplicates finished work.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temp directory beside ``path``; on success it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically; returns the row count."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row, separators=(",", ":")) + "\n")
            n += 1
    return n


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def paths_by_model(items: list[str]) -> dict[str, list[Path]]:
    """``["base=a.jsonl", "base=b.jsonl", "grpo-s0-step9=c.jsonl"]`` -> {model: [paths]} (CLI helper)."""
    out: dict[str, list[Path]] = {}
    for item in items:
        model, _, path = item.partition("=")
        out.setdefault(model, []).append(Path(path))
    return out


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from (run seed, dataset, shard, ...): crc32 of their text, not Python's hash()."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF
