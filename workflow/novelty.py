"""Novelty of responses against the base model's own training corpus, in the spirit of ProRL's creativity index.

Consumes: ``train.jsonl`` (the base model's corpus is exactly every valid and junk trace of the train problems,
as ``workflow.pretrain`` draws them) and the verified samples of every model on one dataset. Produces
``results/<study>/tables/novelty_<dataset>.csv``: per model, problem and sample, the share of the response's
token n-grams found in the corpus (``found``) and ``novelty`` = 1 - found.

ProRL (arXiv 2505.24864, Fig 1 and 3) measures the creativity index of Lu et al. (arXiv 2410.04265): how much of
a text can be rebuilt from verbatim n-gram matches in a reference corpus (DOLMA there). The embedded default knows
its base model's corpus exactly, so the match is exact: an n-gram is either in the corpus or not. Deviation:
one n (``analysis.novelty_n``) instead of a DJ-search over n-gram lengths, and only the first
``analysis.novelty_samples`` samples per problem.

Run: ``python -m workflow.novelty --config C --dataset test --train train.jsonl --verified MODEL=SHARD ... --out F``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from workflow.analyze import parse_model
from workflow.config import Config, load_config
from workflow.io import atomic_path, paths_by_model, read_jsonl
from workflow.logs import stage
from workflow.tasks import countdown


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def corpus_ngrams(train: list[dict], max_value: int, n: int) -> set[tuple[str, ...]]:
    """Every n-gram of every trace the base model was trained on (valid and junk traces of train problems)."""
    out: set[tuple[str, ...]] = set()
    seen: set[tuple[int, ...]] = set()
    for p in train:
        nums = tuple(p["numbers"])
        if nums in seen:  # the traces of a multiset do not depend on the target
            continue
        seen.add(nums)
        for traces in countdown.enumerate_traces(nums, max_value).values():
            for t in traces:
                out.update(ngrams(t.split(), n))
    return out


def novelty_rows(rows: list[dict], corpus: set[tuple[str, ...]], n: int, samples: int) -> list[dict]:
    out = []
    for r in rows:
        if r["sample_idx"] >= samples:
            continue
        grams = ngrams(str(r.get("completion") or "").split(), n)
        found = sum(g in corpus for g in grams) / len(grams) if grams else float("nan")
        out.append(
            dict(
                problem_id=r["problem_id"],
                sample_idx=r["sample_idx"],
                correct=bool(r.get("correct")),
                ngrams=len(grams),
                found=found,
                novelty=1.0 - found,
            )
        )
    return out


def run(
    cfg: Config, dataset: str, train_path: str | Path, verified: dict[str, list[Path]], out: str | Path
) -> Path:
    a = cfg.analysis
    with stage(f"novelty {dataset}") as s:
        corpus = corpus_ngrams(read_jsonl(train_path), cfg.data.max_value, a.novelty_n)
        s.info("base corpus: %d distinct %d-grams", len(corpus), a.novelty_n)
        frames = []
        for model, shards in verified.items():
            algo, seed, step = parse_model(model)
            rows = novelty_rows(
                [r for p in shards for r in read_jsonl(p)], corpus, a.novelty_n, a.novelty_samples
            )
            frames.append(
                pd.DataFrame(rows).assign(model=model, algo=algo, seed=seed, step=step, dataset=dataset)
            )
        table = pd.concat(frames)
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
        s.info("mean novelty by model:\n%s", table.groupby("model", sort=False).novelty.mean().round(4))
        s.wrote(out)
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--train", required=True, help="train.jsonl: the base model's corpus")
    ap.add_argument("--verified", nargs="+", required=True, help="MODEL=shard.jsonl entries")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    verified = paths_by_model(args.verified)
    run(load_config(args.config), args.dataset, args.train, verified, args.out)


if __name__ == "__main__":
    main()
