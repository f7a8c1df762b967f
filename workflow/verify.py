"""Verification: mark every sample of a shard correct or not with its problem's checker.

Consumes: the sample blocks of one shard and the dataset they answer. Produces the shard's samples with
``correct`` (bool), ``verdict`` (the checker's reason: ok, or why not), ``extracted`` (the answer read
from the completion, where the checker reads one) and, for programs, ``sandbox`` (``full``, or the weaker
mode with what it lacked). Malformed, truncated or empty samples are scored
incorrect, never raise; the stage fails only when the blocks do not hold samples 0..n-1 of every problem
once each (a stale or partial block file), since pass@k would then use the wrong n.

Checkers, by the problem's ``kind`` (``CHECKERS``): ``countdown`` (the toy task's strict trace checker; its
problems carry no kind), ``math`` (math-verify in worker processes, each distinct (answer, extraction) pair
checked once), ``code`` (programs against the tests in a sandbox) and ``gym`` (Reasoning Gym's own scorer,
a pass only at score 1.0).

Run: ``python -m workflow.verify --config C --samples from0.jsonl [...] --data test.jsonl --out verified.jsonl``.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from workflow.config import Config, load_config
from workflow.io import read_jsonl, write_jsonl
from workflow.logs import log, stage
from workflow.tasks import Verdict

Item = tuple[dict, dict]  # (problem, sample row)


def check_countdown(items: list[Item], cfg: Config) -> list[Verdict]:
    from workflow.tasks import countdown

    return [
        countdown.check(
            p["numbers"], p["target"], r.get("completion"), r.get("finish_reason", "stop"), cfg.data.max_value
        )
        for p, r in items
    ]


def check_math(items: list[Item], cfg: Config) -> list[Verdict]:
    from workflow.tasks.math import MathChecker

    v = cfg.verification
    log.info("math verification policy: %s", v.policy)
    with MathChecker(workers=v.workers, timeout=v.math_timeout, policy=v.policy) as checker:
        return checker.check_many(
            [(p.get("answer"), r.get("completion"), r.get("finish_reason", "stop")) for p, r in items]
        )


def check_code(items: list[Item], cfg: Config) -> list[Verdict]:
    from workflow.tasks.code import CodeChecker

    v = cfg.verification
    checker = CodeChecker(
        workers=v.workers,
        timeout=v.code_timeout,
        memory_mb=v.code_memory_mb,
        disk_mb=v.code_disk_mb,
        allow_weak_sandbox=v.allow_weak_sandbox,
    )
    log.info("code sandbox: %s", checker.isolation.describe())
    if checker.mode != "full":
        log.warning("code sandbox in the WEAK mode (verification.allow_weak_sandbox): %s", checker.mode)
    return checker.check_many(
        [(p.get("tests") or {}, r.get("completion"), r.get("finish_reason", "stop")) for p, r in items]
    )


def check_gym(items: list[Item], cfg: Config) -> list[Verdict]:
    from workflow.tasks import gym

    return [gym.check(p, r.get("completion"), r.get("finish_reason", "stop")) for p, r in items]


CHECKERS: dict[str, Callable[[list[Item], Config], list[Verdict]]] = {
    "countdown": check_countdown,
    "math": check_math,
    "code": check_code,
    "gym": check_gym,
}
"""problem kind -> checker of a batch of (problem, sample) pairs."""


def verify_rows(rows: list[dict], problems: dict[str, dict], cfg: Config) -> list[Verdict]:
    """One verdict per row, in order; rows are checked in batches per problem kind."""
    verdicts: list[Verdict | None] = [None] * len(rows)
    by_kind: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        p = problems.get(r.get("problem_id"))
        kind = None if p is None else p.get("kind", "countdown")
        if kind not in CHECKERS:
            verdicts[i] = Verdict(False, "unknown_problem" if p is None else f"unknown_kind:{kind}")
        else:
            by_kind.setdefault(kind, []).append(i)
    for kind, idx in by_kind.items():
        for i, v in zip(
            idx, CHECKERS[kind]([(problems[rows[i]["problem_id"]], rows[i]) for i in idx], cfg), strict=True
        ):
            verdicts[i] = v
    return verdicts  # type: ignore[return-value]


def check_complete(rows: list[dict], n: int, samples: list[str | Path]) -> None:
    """Every problem of the shard has samples 0..n-1, each once. Otherwise a block file is stale (sampled under
    another n or block size, e.g. copied from an older run) or partial, and pass@k would silently use the
    wrong n: fail naming the problem and the files."""
    seen: dict[str, Counter] = {}
    for r in rows:
        seen.setdefault(r.get("problem_id"), Counter())[r.get("sample_idx")] += 1
    want = Counter(range(n))
    for pid, got in seen.items():
        if got != want:
            missing = sorted(set(want) - set(got))[:5]
            extra = sorted((k for k, c in got.items() if k not in want or c > 1), key=str)[:5]
            raise ValueError(
                f"problem {pid}: the sample blocks {[str(p) for p in samples]} do not hold samples 0..{n - 1} "
                f"once each (missing {missing}, unexpected or repeated {extra}); resample them "
                "(snakemake --forcerun sample, or delete the stale block files)"
            )


def run(cfg: Config, samples: list[str | Path], data_path: str | Path, out: str | Path) -> Path:
    with stage(f"verify {Path(out).parent.name}/{Path(out).name}") as s:
        rows = [r for path in samples for r in read_jsonl(path)]
        problems = {p["id"]: p for p in read_jsonl(data_path)}
        s.read(*samples, data_path)
        check_complete(rows, cfg.samples_per_problem(Path(data_path).stem), samples)
        verdicts = verify_rows(rows, problems, cfg)
        verified = [
            dict(
                r,
                correct=v.correct,
                verdict=v.reason,
                **({"extracted": v.extracted} if v.extracted is not None else {}),
                **({"sandbox": v.sandbox} if v.sandbox is not None else {}),
            )
            for r, v in zip(rows, verdicts, strict=True)
        ]
        write_jsonl(out, verified)
        acc = sum(r["correct"] for r in verified) / max(len(verified), 1)
        trunc = sum(r.get("finish_reason") == "length" for r in verified) / max(len(verified), 1)
        s.info(
            "accuracy %.4f over %d samples, truncated %.2f%%; verdicts %s",
            acc,
            len(verified),
            100 * trunc,
            dict(Counter(r["verdict"] for r in verified)),
        )
        s.wrote(out)
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--samples", nargs="+", required=True, help="the sample blocks of one shard")
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    run(load_config(a.config), a.samples, a.data, a.out)


if __name__ == "__main__":
    main()
