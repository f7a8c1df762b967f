"""Large-k sampling: n completions per problem for one model, one shard of one dataset.

Consumes: an HF checkpoint directory and ``results/<study>/data/<dataset>.jsonl``. Produces
``results/<study>/samples/<model>/<dataset>/shard<i>.jsonl`` with one row per (problem, sample index):
``problem_id, sample_idx, completion, finish_reason ('stop' | 'length'), num_tokens``.

Shard i takes problems i, i + S, i + 2S, ... of the dataset. Its sampling seed derives from
(run seed, dataset, shard), so results do not depend on which machine or in which order shards run, and
the base model and every RL checkpoint see the same random stream. The shard file is written atomically:
a killed job leaves no partial shard, and Snakemake reruns only the missing ones.

Backend: batched transformers decoding with a KV cache (``workflow.model.generate``); vLLM comes with the
paper-scale configs.

Run: ``python -m workflow.sample --config C --model DIR --data test.jsonl --dataset test --shard 0 --out F``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from workflow import model as M
from workflow.config import Config, SamplingConfig, load_config
from workflow.io import derive_seed, read_jsonl, write_jsonl
from workflow.logs import Progress, stage


def shard_problems(problems: list[dict], shard: int, num_shards: int) -> list[dict]:
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} out of range for {num_shards} shards")
    return problems[shard::num_shards]


def sample_problems(
    model, tokenizer, problems: list[dict], sc: SamplingConfig, seed: int, desc: str = "sample"
) -> list[dict]:
    """n samples per problem, decoded in batches of about ``sc.batch_size`` sequences."""
    gen = torch.Generator().manual_seed(seed)
    per_batch = max(1, sc.batch_size // sc.n)  # problems per decoding batch
    rows: list[dict] = []
    prog = Progress(len(problems) * sc.n, desc, "samples")
    for start in range(0, len(problems), per_batch):
        chunk = problems[start : start + per_batch]
        prompts = [tokenizer(p["prompt"])["input_ids"] for p in chunk for _ in range(sc.n)]
        out = M.generate(
            model,
            prompts,
            max_tokens=sc.max_tokens,
            temperature=sc.temperature,
            top_p=sc.top_p,
            eos_id=tokenizer.eos_token_id,
            pad_id=tokenizer.pad_token_id,
            generator=gen,
        )
        texts = tokenizer.batch_decode(out.tokens, skip_special_tokens=True)
        for j, text in enumerate(texts):
            p = chunk[j // sc.n]
            rows.append(
                dict(
                    problem_id=p["id"],
                    sample_idx=j % sc.n,
                    completion=text,
                    finish_reason="stop" if bool(out.stopped[j]) else "length",
                    num_tokens=int(out.lengths[j]),
                )
            )
        prog.update(len(prompts))
    prog.close()
    return rows


def run(
    cfg: Config, model_dir: str | Path, data_path: str | Path, dataset: str, shard: int, out: str | Path
) -> Path:
    sc = cfg.sampling
    with stage(f"sample {'/'.join(Path(model_dir).parts[-2:])} {dataset} shard{shard}") as s:
        model, tokenizer = M.load(model_dir, threads=cfg.threads)
        s.read(model_dir, data_path)
        problems = shard_problems(read_jsonl(data_path), shard, sc.shards)
        seed = derive_seed(cfg.seed, dataset, shard)
        rows = sample_problems(model, tokenizer, problems, sc, seed)
        n = write_jsonl(out, rows)
        trunc = sum(r["finish_reason"] == "length" for r in rows) / max(n, 1)
        s.info(
            "%d problems x %d samples = %d rows, truncated %.2f%%, seed %d",
            len(problems),
            sc.n,
            n,
            100 * trunc,
            seed,
        )
        s.wrote(out)
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--model", required=True, help="HF checkpoint directory or hub id")
    ap.add_argument("--data", required=True)
    ap.add_argument("--dataset", required=True, help="dataset name (part of the seed)")
    ap.add_argument("--shard", type=int, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    run(load_config(a.config), a.model, a.data, a.dataset, a.shard, a.out)


if __name__ == "__main__":
    main()
