"""Large-k sampling: n completions per problem for one model, one block of one shard of one dataset.

Consumes: a checkpoint (local directory or hub id) and ``results/<study>/data/<dataset>.jsonl``. Produces
``results/<study>/samples/<model>/<dataset>/shard<i>/from<start>.jsonl`` with one row per (problem, sample
index): ``problem_id, sample_idx, completion, finish_reason ('stop' | 'length'), num_tokens``.

Shard i takes problems i, i + S, i + 2S, ... of the dataset; a block takes sample indices [start, stop) of
each (``sampling.block``; one block of all n by default). Seeds derive from (run seed, dataset, shard, block)
for the transformers backend and from (run seed, dataset, problem) + sample index for vLLM (see
``workflow.backends``), so results do not depend on which machine or in which order jobs run, every model
sees the same random stream, and raising n later samples only the new blocks (and a last block whose end
moved). The output is written atomically: a killed job leaves no partial file, and Snakemake reruns only the
missing ones.

The prompt is the model's template (``workflow.templates``) around the problem's question; the toy study's
problems carry a ready ``prompt`` and use the ``plain`` template.

Run: ``python -m workflow.sample --config C --model NAME --path DIR_OR_HUB_ID --data test.jsonl
--dataset test --shard 0 --start 0 --out F``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workflow.backends import open_backend
from workflow.config import Config, load_config
from workflow.io import derive_seed, read_jsonl, write_jsonl
from workflow.logs import Phases, stage
from workflow.templates import render


def shard_problems(problems: list[dict], shard: int, num_shards: int) -> list[dict]:
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} out of range for {num_shards} shards")
    return problems[shard::num_shards]


def question(problem: dict) -> str:
    """The text a template wraps: a benchmark problem's question, or the toy task's ready prompt."""
    return problem["question"] if "question" in problem else problem["prompt"]


def model_settings(cfg: Config, model: str) -> tuple[str, str | None]:
    """(template name, hub revision) of a model: from ``models`` in evaluation studies, else the training
    study's ``model.template`` (its base model and every RL checkpoint)."""
    spec = cfg.models.get(model)
    return (spec.template, spec.revision) if spec else (cfg.model.template, None)


def block_range(cfg: Config, dataset: str, start: int) -> tuple[int, int]:
    n = cfg.samples_per_problem(dataset)
    for lo, hi in cfg.sampling.blocks(n):
        if lo == start:
            return lo, hi
    raise ValueError(
        f"{start} is not the start of a sample block of {dataset} (n={n}, block={cfg.sampling.block})"
    )


def seeds_for(
    cfg: Config, model: str, dataset: str, shard: int, start: int, problems: list[dict]
) -> list[int]:
    """Per problem, the seed of its sample ``start`` (sample i gets seed + i under vLLM)."""
    if cfg.sampling_for(model).backend == "vllm":
        return [derive_seed(cfg.seed, dataset, p["id"]) + start for p in problems]
    block = (
        derive_seed(cfg.seed, dataset, shard) if start == 0 else derive_seed(cfg.seed, dataset, shard, start)
    )
    return [block] * len(problems)


def run(
    cfg: Config,
    model: str,
    path: str | Path,
    data_path: str | Path,
    dataset: str,
    shard: int,
    start: int,
    out: str | Path,
) -> Path:
    sc = cfg.sampling_for(model)
    lo, hi = block_range(cfg, dataset, start)
    template_name, revision = model_settings(cfg, model)
    template = cfg.template(template_name)
    phases = Phases()
    with stage(f"sample {model} {dataset} shard{shard} samples {lo}-{hi - 1}") as s:
        with phases("load"):
            backend = open_backend(sc, path, threads=cfg.threads, revision=revision)
        s.read(path, data_path)
        problems = shard_problems(read_jsonl(data_path), shard, sc.shards)
        seeds = seeds_for(cfg, model, dataset, shard, lo, problems)
        prompts = [render(template, question(p)) for p in problems]
        with phases("generation"):
            samples = backend.generate(prompts, hi - lo, seeds, template)
        rows = [
            dict(
                problem_id=p["id"],
                sample_idx=lo + i,
                completion=smp.completion,
                finish_reason=smp.finish_reason,
                num_tokens=smp.num_tokens,
            )
            for p, per in zip(problems, samples, strict=True)
            for i, smp in enumerate(per)
        ]
        with phases("write"):
            n = write_jsonl(out, rows)
        phases.log(s)
        trunc = sum(r["finish_reason"] == "length" for r in rows) / max(n, 1)
        s.info(
            "%d problems x %d samples = %d rows, truncated %.2f%%, template %s, backend %s",
            len(problems),
            hi - lo,
            n,
            100 * trunc,
            template_name,
            sc.backend,
        )
        s.wrote(out)
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument(
        "--model", required=True, help="model name (base, <algo>-s<seed>-step<step>, a models key)"
    )
    ap.add_argument("--path", required=True, help="HF checkpoint directory or hub id")
    ap.add_argument("--data", required=True)
    ap.add_argument("--dataset", required=True, help="dataset name (part of the seed)")
    ap.add_argument("--shard", type=int, required=True)
    ap.add_argument("--start", type=int, default=0, help="first sample index of the block")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    run(load_config(a.config), a.model, a.path, a.data, a.dataset, a.shard, a.start, a.out)


if __name__ == "__main__":
    main()
