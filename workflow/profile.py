"""Profile of a study that ran: job time per stage and, inside training and sampling, per phase.

Consumes: Snakemake's benchmark files (``logs/<study>/benchmarks/<rule>/...tsv``, one per job: its wall seconds,
peak memory and CPU time, interpreter start and imports included) and the ``phases:`` lines the stages write to
their rule logs (``logs/<study>/<rule>/...log``, see ``workflow.logs.Phases``: generation, log-probability passes,
update, critic, validation and saving in training; model loading, generation and writing in sampling).
Produces a markdown report on stdout: per stage the jobs, their summed wall time, its share of all job time and
the mean per job; per phase its summed seconds and share of its stage; and the span of the run, from the first
job's start to the last job's end (benchmark files are written when a job ends).

Run from the repository root after a study: ``python -m workflow.profile --config config/config.yaml``.
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from workflow.config import load_config
from workflow.logs import Phases


@dataclass
class Profile:
    """Job seconds per stage, phase seconds per (stage, phase), and the run's span."""

    jobs: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    phases: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    span: float = 0.0


def _seconds(tsv: Path) -> float | None:
    """The ``s`` column of a Snakemake benchmark file (header, then one row per repeat); None when unreadable."""
    try:
        with tsv.open() as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        return float(rows[-1]["s"])
    except (OSError, KeyError, IndexError, ValueError):
        return None


_PHASE = re.compile(r"(\w+)=([0-9.]+)s")


def read(logs: Path) -> Profile:
    """The profile of the run whose logs are under ``logs`` (``logs/<study>``)."""
    prof = Profile()
    bench = logs / "benchmarks"
    starts, ends = [], []
    for tsv in sorted(bench.rglob("*.tsv")):
        s = _seconds(tsv)
        if s is None:
            continue
        prof.jobs[tsv.relative_to(bench).parts[0]].append(s)
        end = tsv.stat().st_mtime
        starts.append(end - s)
        ends.append(end)
    prof.span = max(ends) - min(starts) if ends else 0.0
    for log in sorted(logs.rglob("*.log")):
        rel = log.relative_to(logs)
        if rel.parts[0] == "benchmarks":
            continue
        rule = rel.parts[0].removesuffix(".log")
        for line in log.read_text(errors="replace").splitlines():
            if Phases.PREFIX in line:
                for name, sec in _PHASE.findall(line.split(Phases.PREFIX, 1)[1]):
                    prof.phases[rule, name] += float(sec)
    return prof


def _min(seconds: float) -> str:
    return f"{seconds / 60:.1f}"


def markdown(prof: Profile) -> str:
    """The two tables of the report."""
    total = sum(sum(v) for v in prof.jobs.values()) or 1.0
    lines = [
        f"Span of the run: {_min(prof.span)} min; job time summed over all jobs: {_min(total)} min.",
        "",
        "| stage | jobs | job time (min) | share | mean per job (s) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for rule, secs in sorted(prof.jobs.items(), key=lambda kv: -sum(kv[1])):
        lines.append(
            f"| {rule} | {len(secs)} | {_min(sum(secs))} | {100 * sum(secs) / total:.0f}% | "
            f"{sum(secs) / len(secs):.1f} |"
        )
    if prof.phases:
        lines += [
            "",
            "| stage | phase | time (min) | share of the stage's job time |",
            "| --- | --- | --- | --- |",
        ]
        for (rule, name), sec in sorted(prof.phases.items(), key=lambda kv: (kv[0][0], -kv[1])):
            stage_total = sum(prof.jobs.get(rule, [])) or float("nan")
            lines.append(f"| {rule} | {name} | {_min(sec)} | {100 * sec / stage_total:.0f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="the study's config (its study name locates the logs)")
    ap.add_argument("--logs", default=None, help="the study's log directory (default: logs/<study>)")
    a = ap.parse_args(argv)
    logs = Path(a.logs) if a.logs else Path("logs") / load_config(a.config).study
    if not (logs / "benchmarks").is_dir():
        raise SystemExit(
            f"{logs}/benchmarks not found: run the study first (snakemake --configfile {a.config})"
        )
    print(markdown(read(logs)))


if __name__ == "__main__":
    main()
