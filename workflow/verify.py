"""Verification: mark every sample of a shard correct or not with the task's strict checker.

Consumes: a sample shard and the dataset it answers. Produces the shard with two more columns:
``correct`` (bool) and ``verdict`` (ok | truncated | empty | format | step1 | numbers | step2 | target |
unknown_problem). Malformed, truncated or empty samples are scored incorrect; nothing raises.

Run: ``python -m workflow.verify --config C --samples shard0.jsonl --data test.jsonl --out verified.jsonl``.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from workflow.config import Config, load_config
from workflow.io import read_jsonl, write_jsonl
from workflow.logs import Progress, stage
from workflow.tasks import countdown


def verify_rows(rows: list[dict], problems: dict[str, dict], max_value: int) -> list[dict]:
    out = []
    prog = Progress(len(rows), "verify", "samples")
    for i, r in enumerate(rows):
        p = problems.get(r.get("problem_id"))
        if p is None:
            v = countdown.Verdict(False, "unknown_problem")
        else:
            v = countdown.check(
                p["numbers"], p["target"], r.get("completion"), r.get("finish_reason", "stop"), max_value
            )
        out.append(dict(r, correct=v.correct, verdict=v.reason))
        if i % 5000 == 4999:
            prog.update(5000)
    prog.update(len(rows) % 5000)
    prog.close()
    return out


def run(cfg: Config, samples: str | Path, data_path: str | Path, out: str | Path) -> Path:
    with stage(f"verify {samples}") as s:
        rows = read_jsonl(samples)
        problems = {p["id"]: p for p in read_jsonl(data_path)}
        s.read(samples, data_path)
        verified = verify_rows(rows, problems, cfg.data.max_value)
        write_jsonl(out, verified)
        acc = sum(r["correct"] for r in verified) / max(len(verified), 1)
        s.info(
            "accuracy %.4f over %d samples; verdicts %s",
            acc,
            len(verified),
            dict(Counter(r["verdict"] for r in verified)),
        )
        s.wrote(out)
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    run(load_config(a.config), a.samples, a.data, a.out)


if __name__ == "__main__":
    main()
