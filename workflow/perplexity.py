"""Perplexity of responses under the base and RL models (Yue et al. Sec. 4.1, Fig 6).

Consumes: the base and RL checkpoints, their verified samples of one dataset, and the dataset (reference
solutions: the toy task's ``solutions``, a benchmark's ``reference``). Produces
``results/<study>/tables/perplexity_<panel>.csv`` with one row per scored response:
``model`` (the RL model of the comparison) with its ``algo``, ``seed`` and ``step``, ``measure`` (PPL_base(Y_base), PPL_base(Y_RL), PPL_RL(Y_RL),
PPL_base(Y_ref)), ``problem_id``, ``sample_idx``, ``ppl``.

PPL_m(Y | x) = exp(-(1/T) sum_t log P_m(y_t | x, y_<t)) over the T response tokens (EOS included when the
response stopped), conditioned on the prompt, computed in batches. Responses are the first ``samples``
samples of the first ``problems`` problems; Y_ref are the dataset's reference solutions (up to ``samples``
per problem). The paper used two AIME24 problems with 16 responses each; the defaults here are larger.
Scoring runs on the study's sampling backend (transformers forward pass, or vLLM ``prompt_logprobs``). Each
response is scored under the prompt it was sampled with (its model's template), by both models.

Run: ``python -m workflow.perplexity --config C --dataset test --data test.jsonl --base NAME=DIR
--base-samples SHARD ... --rl NAME=DIR=SHARD[,SHARD...] ... --out perplexity_test.csv``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from workflow.analyze import model_keys
from workflow.backends import Backend, open_backend
from workflow.config import Config, load_config
from workflow.io import atomic_path, read_jsonl
from workflow.logs import stage
from workflow.sample import model_settings, question
from workflow.templates import render


def pick_responses(shards: list[Path], problem_ids: list[str], samples: int) -> list[dict]:
    keep = set(problem_ids)
    rows = [r for p in shards for r in read_jsonl(p) if r["problem_id"] in keep and r["sample_idx"] < samples]
    return sorted(rows, key=lambda r: (problem_ids.index(r["problem_id"]), r["sample_idx"]))


def perplexities(
    backend: Backend, prompts: list[str], responses: list[str], stopped: list[bool]
) -> list[float]:
    """exp(-mean log-probability of the response tokens given the prompt), one value per response."""
    return [math.exp(-lp) for lp in backend.mean_logprobs(prompts, responses, stopped)]


def references(problems: list[dict], samples: int) -> list[dict]:
    """Reference solutions as response rows: the toy task's solution traces, a benchmark's reference."""
    rows = []
    for p in problems:
        refs = p.get("solutions") or ([p["reference"]] if p.get("reference") else [])
        rows += [
            dict(problem_id=p["id"], sample_idx=j, completion=sol, finish_reason="stop")
            for j, sol in enumerate(refs[:samples])
        ]
    return rows


def run(
    cfg: Config,
    dataset: str,
    data_path: str | Path,
    base: tuple[str, Path],
    base_shards: list[Path],
    rl: dict[str, tuple[Path, list[Path]]],
    out: str | Path,
) -> Path:
    pc = cfg.analysis
    with stage(f"perplexity {Path(out).stem}") as s:
        problems = read_jsonl(data_path)[: pc.ppl_problems]
        by_id = {p["id"]: p for p in problems}
        ids = [p["id"] for p in problems]
        base_name, base_dir = base
        templates = {m: cfg.template(model_settings(cfg, m)[0]) for m in [base_name, *rl]}

        def open_model(name: str, path: Path) -> Backend:
            sc = cfg.sampling_for(name)
            return open_backend(sc, path, threads=cfg.threads, revision=model_settings(cfg, name)[1])

        def score(backend: Backend, rows: list[dict], sampled_by: str) -> list[float]:
            return perplexities(
                backend,
                [render(templates[sampled_by], question(by_id[r["problem_id"]])) for r in rows],
                [r["completion"] for r in rows],
                [r["finish_reason"] == "stop" for r in rows],
            )

        base_model = open_model(base_name, base_dir)
        y_base = pick_responses(base_shards, ids, pc.ppl_samples)
        y_ref = references(problems, pc.ppl_samples)
        base_on_base, base_on_ref = score(base_model, y_base, base_name), score(base_model, y_ref, base_name)
        base_on_rl = {}
        for name, (_, shards) in rl.items():
            y_rl = pick_responses(shards, ids, pc.ppl_samples)
            base_on_rl[name] = (y_rl, score(base_model, y_rl, name))
        del base_model  # one model in memory at a time (GPU memory at paper scale)
        frames = []
        for name, (rl_dir, _) in rl.items():
            y_rl, ppl_base_rl = base_on_rl[name]
            rl_model = open_model(name, rl_dir)
            for measure, rows, ppl in (
                ("PPL_base(Y_base)", y_base, base_on_base),
                ("PPL_base(Y_RL)", y_rl, ppl_base_rl),
                ("PPL_RL(Y_RL)", y_rl, score(rl_model, y_rl, name)),
                ("PPL_base(Y_ref)", y_ref, base_on_ref),
            ):
                frames.append(
                    pd.DataFrame(
                        dict(
                            model=name,
                            **dict(zip(("algo", "seed", "step"), model_keys(cfg, name), strict=True)),
                            dataset=dataset,
                            measure=measure,
                            problem_id=[r["problem_id"] for r in rows],
                            sample_idx=[r["sample_idx"] for r in rows],
                            ppl=ppl,
                        )
                    )
                )
            del rl_model
            s.read(rl_dir)
        table = pd.concat(frames)
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
        s.info(
            "median perplexity by measure:\n%s",
            table.groupby(["model", "measure"]).ppl.median().unstack().round(3),
        )
        s.wrote(out)
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--base", required=True, help="NAME=CHECKPOINT (directory or hub id) of the base model")
    ap.add_argument("--base-samples", nargs="+", required=True, help="verified shards of the base model")
    ap.add_argument(
        "--rl", nargs="+", required=True, help="NAME=CHECKPOINT=SHARD[,SHARD...] per compared model"
    )
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    rl = {}
    for item in a.rl:
        name, ckpt, shards = item.split("=", 2)
        rl[name] = (Path(ckpt), [Path(x) for x in shards.split(",")])
    base_name, base_dir = a.base.split("=", 1)
    run(
        load_config(a.config),
        a.dataset,
        a.data,
        (base_name, Path(base_dir)),
        [Path(x) for x in a.base_samples],
        rl,
        a.out,
    )


if __name__ == "__main__":
    main()
