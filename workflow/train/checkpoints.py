"""Checkpoints of a training run, shared by both engines: the declared ``<run>/step<N>`` outputs and the job's own
kept copy of each (``<run>/.kept/step<N>``), so a job killed after saving some checkpoints resumes without losing
them.

Consumes: HF checkpoint directories a trainer wrote under ``<run>/.kept/``. Produces: hard links of them at the
declared outputs (``publish``), and after a restart the outputs Snakemake deleted (``restore_checkpoints``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from workflow.io import atomic_dir

KEPT = ".kept"
"""Subdirectory of a run holding the job's own copy of every checkpoint it saved. Snakemake deletes all declared
outputs of a failed or killed job, including checkpoints finished before the kill, but not this copy; a resumed
job publishes them again instead of losing them (state.pt alone cannot recreate an earlier step's weights)."""


def checkpoint_dir(out_dir: str | Path, step: int) -> Path:
    """The declared output: ``<run>/step<N>``."""
    return Path(out_dir) / f"step{step}"


def kept_dir(out_dir: str | Path, step: int) -> Path:
    return Path(out_dir) / KEPT / f"step{step}"


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or no hard links
        shutil.copy2(src, dst)


def publish(out_dir: str | Path, step: int) -> Path:
    """Hard-link the kept checkpoint of ``step`` into its declared output directory (atomically)."""
    dest = checkpoint_dir(out_dir, step)
    with atomic_dir(dest) as tmp:
        shutil.copytree(kept_dir(out_dir, step), tmp, dirs_exist_ok=True, copy_function=_link_or_copy)
    return dest


def restore_checkpoints(out_dir: str | Path, save_steps: tuple[int, ...], done: int) -> list[int]:
    """Publish again every checkpoint saved before step ``done`` whose output is missing; returns the steps
    that are lost (neither output nor kept copy), for which the state cannot be resumed."""
    lost = []
    for st in save_steps:
        if st > done or checkpoint_dir(out_dir, st).is_dir():
            continue
        if kept_dir(out_dir, st).is_dir():
            publish(out_dir, st)
        else:
            lost.append(st)
    return lost
