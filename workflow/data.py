"""Data preparation: seeded train / validation / test splits of Countdown-3 problems or of a benchmark.

Consumes: the ``data`` config section and the run seed; with ``data.task: benchmark`` also the benchmark's
problems (``results/<study>/data/<benchmark>.jsonl``, written by ``workflow.benchmarks``). Produces
``results/<study>/data/{train,val,test}.jsonl``, one problem per line with its ``split``.

- countdown: ``id`` (stable, derived from the content: ``cd3-<a>-<b>-<c>-<target>``), ``numbers``, ``target``,
  ``prompt``, ``answer`` (= target), ``solutions`` (every valid trace), ``num_solutions`` and ``difficulty`` (bins
  of the solution count).
- benchmark: the benchmark's rows, shuffled with a generator seeded by (run seed, "data", benchmark name): the
  first ``num_train`` are the train split, the next ``num_test`` the test split, and validation is the first
  ``num_val`` test problems (Yue et al. Sec. 4.3 split Omni-MATH-Rule 2,000 / 821 without releasing the split;
  this one is reproducible from the seed).

Run: ``python -m workflow.data --config config/config.yaml --out results/<study>/data [--source B.jsonl]``.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path

from workflow.config import Config, DataConfig, load_config
from workflow.io import derive_seed, read_jsonl, write_jsonl
from workflow.logs import stage
from workflow.tasks import countdown

SPLITS = ("train", "val", "test")


def generate(cfg: DataConfig, seed: int) -> dict[str, list[dict]]:
    """Draw distinct (multiset, target) problems with at least ``min_solutions`` valid traces.

    A multiset is drawn uniformly, then a target uniformly among its targets that have enough solutions, so
    the family is not dominated by the easiest targets. Problems are then shuffled into the splits.
    """
    rng = random.Random(derive_seed(seed, "data", cfg.task))
    total = cfg.num_train + cfg.num_val + cfg.num_test
    cache: dict[tuple[int, int, int], dict[int, list[str]]] = {}
    seen: dict[str, dict] = {}
    attempts = 0
    while len(seen) < total:
        attempts += 1
        if attempts > 50 * total:
            raise ValueError(
                f"data: only {len(seen)} distinct problems found for {total} requested; "
                "raise data.max_number or lower the split sizes"
            )
        nums = tuple(sorted(rng.randint(1, cfg.max_number) for _ in range(3)))
        if nums not in cache:
            cache[nums] = countdown.enumerate_traces(nums, cfg.max_value)
        targets = sorted(t for t, s in cache[nums].items() if len(s) >= cfg.min_solutions)
        if not targets:
            continue
        target = rng.choice(targets)
        pid = f"cd3-{nums[0]}-{nums[1]}-{nums[2]}-{target}"
        if pid in seen:
            continue
        sols = cache[nums][target]
        seen[pid] = dict(
            id=pid,
            numbers=list(nums),
            target=target,
            prompt=countdown.prompt_text(nums, target),
            answer=target,
            solutions=sols,
            num_solutions=len(sols),
            difficulty=countdown.difficulty(len(sols), cfg.difficulty_bins),
        )
    problems = list(seen.values())
    rng.shuffle(problems)
    sizes = dict(train=cfg.num_train, val=cfg.num_val, test=cfg.num_test)
    out, start = {}, 0
    for split in SPLITS:
        out[split] = [dict(p, split=split) for p in problems[start : start + sizes[split]]]
        start += sizes[split]
    return out


def split_benchmark(problems: list[dict], cfg: DataConfig, seed: int) -> dict[str, list[dict]]:
    """Seeded train / test split of a benchmark's problems; validation is the head of the test split."""
    need = cfg.num_train + cfg.num_test
    if len(problems) < need:
        raise ValueError(
            f"data: benchmark {cfg.benchmark!r} has {len(problems)} problems, fewer than num_train + num_test "
            f"= {need}"
        )
    order = sorted(problems, key=lambda p: str(p["id"]))  # independent of the file's row order
    random.Random(derive_seed(seed, "data", cfg.benchmark)).shuffle(order)
    train, test = order[: cfg.num_train], order[cfg.num_train : need]
    return {
        "train": [dict(p, split="train") for p in train],
        "val": [dict(p, split="val") for p in test[: cfg.num_val]],
        "test": [dict(p, split="test") for p in test],
    }


def run(cfg: Config, out_dir: str | Path, source: str | Path | None = None) -> dict[str, Path]:
    with stage("data") as s:
        if cfg.data.task == "benchmark":
            if source is None:
                raise ValueError(
                    f"data.task benchmark: pass the problems of {cfg.data.benchmark!r} (--source)"
                )
            s.read(source)
            splits = split_benchmark(read_jsonl(source), cfg.data, cfg.seed)
        else:
            splits = generate(cfg.data, cfg.seed)
        paths = {}
        for split, rows in splits.items():
            paths[split] = Path(out_dir) / f"{split}.jsonl"
            write_jsonl(paths[split], rows)
            levels = Counter(str(r.get("difficulty")) for r in rows)
            s.info("%s: %d problems, difficulty %s", split, len(rows), dict(sorted(levels.items())))
        s.wrote(*paths.values())
    return paths


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--source", default=None, help="the benchmark's problems (data.task: benchmark)")
    a = ap.parse_args(argv)
    run(load_config(a.config), a.out, a.source)


if __name__ == "__main__":
    main()
