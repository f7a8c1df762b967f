"""Perplexity of responses under the base and RL models (Yue et al. Sec. 4.1, Fig 6).

Consumes: the base and RL checkpoints, their verified samples of one dataset, and the dataset (reference
solutions). Produces ``results/<study>/tables/perplexity_<dataset>.csv`` with one row per scored response:
``model`` (the RL model of the comparison), ``measure`` (PPL_base(Y_base), PPL_base(Y_RL), PPL_RL(Y_RL),
PPL_base(Y_ref)), ``problem_id``, ``sample_idx``, ``ppl``.

PPL_m(Y | x) = exp(-(1/T) sum_t log P_m(y_t | x, y_<t)) over the T response tokens (EOS included when the
response stopped), conditioned on the prompt, computed in batches. Responses are the first ``samples``
samples of the first ``problems`` problems; Y_ref are the dataset's reference solutions (up to ``samples``
per problem). The paper used two AIME24 problems with 16 responses each; the defaults here are larger.

Run: ``python -m workflow.perplexity --config C --dataset test --data test.jsonl --base DIR
--model NAME=DIR=verified_dir ... --base-samples DIR --out perplexity_test.csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from workflow import model as M
from workflow.config import Config, load_config
from workflow.io import atomic_path, read_jsonl
from workflow.logs import stage


def pick_responses(shards: list[Path], problem_ids: list[str], samples: int) -> list[dict]:
    keep = set(problem_ids)
    rows = [r for p in shards for r in read_jsonl(p) if r["problem_id"] in keep and r["sample_idx"] < samples]
    return sorted(rows, key=lambda r: (problem_ids.index(r["problem_id"]), r["sample_idx"]))


@torch.no_grad()
def perplexities(
    model, tokenizer, prompts: list[str], responses: list[str], stopped: list[bool], batch: int = 512
) -> list[float]:
    """exp(mean NLL of the response tokens given the prompt), one value per response."""
    out: list[float] = []
    vocab = tokenizer.get_vocab()
    unk = tokenizer.unk_token_id
    for i in range(0, len(responses), batch):
        p_ids = [tokenizer(p)["input_ids"] for p in prompts[i : i + batch]]
        r_ids = [
            [vocab.get(w, unk) for w in r.split()] + ([tokenizer.eos_token_id] if s else [])
            for r, s in zip(responses[i : i + batch], stopped[i : i + batch], strict=True)
        ]
        pid, pmask = M.left_pad(p_ids, tokenizer.pad_token_id)
        width = max(1, max(len(r) for r in r_ids))
        resp = torch.full((len(r_ids), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros(len(r_ids), width)
        for j, r in enumerate(r_ids):
            resp[j, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[j, : len(r)] = 1
        dev = M.device()
        logp, _ = M.token_logprobs(model, pid.to(dev), pmask.to(dev), resp.to(dev), mask.to(dev))
        nll = -(logp.cpu() * mask).sum(-1) / mask.sum(-1).clamp(min=1)
        out += torch.exp(nll).tolist()
    return out


def run(
    cfg: Config,
    dataset: str,
    data_path: str | Path,
    base_dir: str | Path,
    base_shards: list[Path],
    rl: dict[str, tuple[Path, list[Path]]],
    out: str | Path,
) -> Path:
    pc = cfg.analysis
    with stage(f"perplexity {dataset}") as s:
        problems = read_jsonl(data_path)[: pc.ppl_problems]
        by_id = {p["id"]: p for p in problems}
        ids = [p["id"] for p in problems]
        base, tok = M.load(base_dir, threads=cfg.threads)
        y_base = pick_responses(base_shards, ids, pc.ppl_samples)
        y_ref = [
            dict(problem_id=p["id"], sample_idx=j, completion=sol, finish_reason="stop")
            for p in problems
            for j, sol in enumerate(p["solutions"][: pc.ppl_samples])
        ]

        def score(m, rows):
            return perplexities(
                m,
                tok,
                [by_id[r["problem_id"]]["prompt"] for r in rows],
                [r["completion"] for r in rows],
                [r["finish_reason"] == "stop" for r in rows],
            )

        frames = []
        base_on_base, base_on_ref = score(base, y_base), score(base, y_ref)
        for name, (rl_dir, shards) in rl.items():
            rl_model, _ = M.load(rl_dir, threads=cfg.threads)
            y_rl = pick_responses(shards, ids, pc.ppl_samples)
            for measure, rows, ppl in (
                ("PPL_base(Y_base)", y_base, base_on_base),
                ("PPL_base(Y_RL)", y_rl, score(base, y_rl)),
                ("PPL_RL(Y_RL)", y_rl, score(rl_model, y_rl)),
                ("PPL_base(Y_ref)", y_ref, base_on_ref),
            ):
                frames.append(
                    pd.DataFrame(
                        dict(
                            model=name,
                            dataset=dataset,
                            measure=measure,
                            problem_id=[r["problem_id"] for r in rows],
                            sample_idx=[r["sample_idx"] for r in rows],
                            ppl=ppl,
                        )
                    )
                )
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
    ap.add_argument("--base", required=True, help="base checkpoint directory")
    ap.add_argument("--base-samples", nargs="+", required=True, help="verified shards of the base model")
    ap.add_argument(
        "--rl", nargs="+", required=True, help="NAME=CHECKPOINT_DIR=SHARD[,SHARD...] per RL model"
    )
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    rl = {}
    for item in a.rl:
        name, ckpt, shards = item.split("=", 2)
        rl[name] = (Path(ckpt), [Path(x) for x in shards.split(",")])
    run(load_config(a.config), a.dataset, a.data, a.base, [Path(x) for x in a.base_samples], rl, a.out)


if __name__ == "__main__":
    main()
