"""House style: ruff lint and format, snakefmt on the workflow files."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "cmd",
    [
        ["ruff", "check", "workflow", "tests"],
        ["ruff", "format", "--check", "workflow", "tests"],
        ["snakefmt", "--check", "Snakefile", "rules"],
    ],
)
def test_style(cmd, repo):
    exe = shutil.which(cmd[0]) or shutil.which(
        cmd[0], path=str(__import__("pathlib").Path(sys.executable).parent)
    )
    if exe is None:
        pytest.skip(f"{cmd[0]} not installed (it comes with the test extra)")
    r = subprocess.run([exe, *cmd[1:]], cwd=repo, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
