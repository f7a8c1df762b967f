"""Benchmark (not a test): rebuild every figure from the saved tables alone, against the full pipeline.

Deletes ``results/<study>/figures``, runs ``snakemake figures --cores N``, checks that only plot jobs ran,
and prints its wall time against the wall time of the longest completed Snakemake run in
``.snakemake/log`` (the full pipeline that made the tables), or ``--pipeline-seconds``.

Run from the repository root after a full study: ``python tests/benchmarks/bench_figures.py``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path


def longest_logged_run(log_dir: Path) -> float | None:
    best = None
    for log in log_dir.glob("*.snakemake.log"):
        m = re.search(r"Elapsed time: (\d+):(\d+):(\d+(?:\.\d+)?)", log.read_text(errors="ignore"))
        if m:
            secs = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
            best = secs if best is None else max(best, secs)
    return best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default="countdown-toy")
    ap.add_argument("--configfile", default=None)
    ap.add_argument("--cores", default="2")
    ap.add_argument("--pipeline-seconds", type=float, default=None)
    a = ap.parse_args(argv)
    pipeline = a.pipeline_seconds or longest_logged_run(Path(".snakemake/log"))
    figs = Path("results") / a.study / "figures"
    shutil.rmtree(figs, ignore_errors=True)
    cmd = [sys.executable, "-m", "snakemake", "figures", "--cores", a.cores]
    if a.configfile:
        cmd += ["--configfile", a.configfile]
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if r.returncode:
        sys.exit(r.stderr[-3000:])
    rules = set(re.findall(r"\(Rule: (\w+)\)", r.stdout + r.stderr))
    if rules - {"plot", "figures"}:
        sys.exit(f"upstream jobs ran: {sorted(rules)}")
    n = len(list(figs.glob("*.png")))
    print(f"figures: {n} PNG (+ PDF) rebuilt from tables in {elapsed:.1f} s; jobs run: {sorted(rules)}")
    if pipeline:
        print(
            f"full pipeline: {pipeline:.1f} s; figures alone take {elapsed / pipeline:.1%} of it "
            f"({pipeline / elapsed:.0f}x faster)"
        )


if __name__ == "__main__":
    main()
