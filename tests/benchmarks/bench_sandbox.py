"""Benchmark (not a test): the code sandbox's cost per program against a bare ``python`` subprocess.

Runs the same trivial program (``print(sum(range(1000)))``) N times each way, interleaved, on one core:
a bare ``subprocess.run([sys.executable, "-c", ...])``; the sandbox with this machine's isolation
(namespaces, private tmpfs view, per-run uid); and the sandbox without namespaces (the weaker mode).
Prints the median wall time per program and each sandbox mode's ratio to the bare run.

Run from the repository root: ``python tests/benchmarks/bench_sandbox.py [--n 50]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from workflow import sandbox  # noqa: E402

PROGRAM = "print(sum(range(1000)))"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50)
    a = ap.parse_args(argv)
    iso = sandbox.isolation()
    modes = {
        "bare python": lambda: subprocess.run(
            [sys.executable, "-c", PROGRAM], capture_output=True, check=True
        ),
        f"sandbox ({iso.mode})": lambda: sandbox.run(PROGRAM, iso=iso),
        "sandbox without namespaces": lambda: sandbox.run(PROGRAM, iso=sandbox.Isolation()),
    }
    times: dict[str, list[float]] = {k: [] for k in modes}
    for _ in range(a.n):
        for name, fn in modes.items():  # interleaved, so load changes hit every mode alike
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    bare = statistics.median(times["bare python"])
    print(f"isolation: {iso.describe()}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:32s} median {1000 * med:7.1f} ms   ratio to bare python {med / bare:5.2f}x   (n={a.n})")


if __name__ == "__main__":
    main()
