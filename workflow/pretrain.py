"""Base model: build a local tokenizer and a tiny Llama, train it by supervised learning on solution traces.

Consumes: ``results/<study>/data/train.jsonl`` and the ``model`` config section. Produces an HF checkpoint
(``config.json``, ``model.safetensors``, tokenizer files) in ``results/<study>/base/model``, saved with
``save_pretrained`` so every later stage loads it through ``AutoModelForCausalLM.from_pretrained``.

Each training example is a train problem's prompt followed by one of its valid traces drawn at random, or,
with probability ``model.junk_fraction``, an arithmetically correct trace that uses the given numbers but
reaches a different value: the "junk mode" of plausible wrong answers that real base models have, which
makes RL's pass@1 gain visible (toy-study.md). The loss covers response tokens only.

Run: ``python -m workflow.pretrain --config config/config.yaml --data results/<study>/data/train.jsonl
--out results/<study>/base/model [--wandb-dir DIR] [--threads N]``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from workflow import model as M
from workflow import tracking
from workflow.config import Config, load_config
from workflow.io import derive_seed, read_jsonl
from workflow.logs import Progress, stage
from workflow.tasks import countdown


def encode_traces(
    tokenizer, problems: list[dict], max_value: int, junk: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flatten traces (+ EOS) into ids [N, L] with per-problem (start, count) [P] tensors.

    ``junk=False`` encodes the valid traces; ``junk=True`` every well-formed trace that ends elsewhere.
    Problems without junk traces fall back to their valid ones.
    """
    vocab = tokenizer.get_vocab()
    eos = tokenizer.eos_token_id
    cache: dict[tuple[int, ...], dict[int, list[str]]] = {}
    rows, starts, counts = [], [], []
    for p in problems:
        nums = tuple(p["numbers"])
        if nums not in cache:
            cache[nums] = countdown.enumerate_traces(nums, max_value)
        traces = [t for v, ts in cache[nums].items() if v != p["target"] for t in ts] if junk else []
        traces = traces or p["solutions"]
        starts.append(len(rows))
        counts.append(len(traces))
        rows.extend([vocab[w] for w in t.split()] + [eos] for t in traces)
    return torch.tensor(rows), torch.tensor(starts), torch.tensor(counts)


def draw_traces(
    prompts: torch.Tensor,
    valid: tuple,
    junk: tuple,
    junk_fraction: float,
    size: int,
    gen: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of the base model's training mixture: (prompt + trace + EOS ids [B, L], problem index [B]).

    Each row is a random problem with one of its valid traces, or with probability ``junk_fraction`` one of
    its junk traces. ``valid`` / ``junk`` are :func:`encode_traces` outputs."""
    (v_rows, v_start, v_count), (j_rows, j_start, j_count) = valid, junk
    idx = torch.randint(len(prompts), (size,), generator=gen)  # [B]
    use_junk = torch.rand(size, generator=gen) < junk_fraction
    start = torch.where(use_junk, j_start[idx], v_start[idx])
    count = torch.where(use_junk, j_count[idx], v_count[idx])
    pick = start + (torch.rand(size, generator=gen) * count).long()
    v_pick, j_pick = pick.clamp(max=len(v_rows) - 1), pick.clamp(max=len(j_rows) - 1)
    resp = torch.where(use_junk[:, None], j_rows[j_pick], v_rows[v_pick])
    return torch.cat([prompts[idx], resp], dim=1), idx


def run(
    cfg: Config,
    data_path: str | Path,
    out_dir: str | Path,
    tracker_dir: str | Path | None = None,
    threads: int | None = None,
) -> Path:
    m = cfg.model
    torch.set_num_threads(threads or cfg.threads)
    torch.manual_seed(derive_seed(cfg.seed, "pretrain"))
    with stage("pretrain") as s:
        problems = read_jsonl(data_path)
        s.read(data_path)
        tokenizer = M.build_tokenizer(countdown.vocabulary(cfg.data.max_value))
        prompts = torch.tensor([tokenizer(p["prompt"])["input_ids"] for p in problems])  # [P, 7]
        valid = encode_traces(tokenizer, problems, cfg.data.max_value, junk=False)
        junk = encode_traces(tokenizer, problems, cfg.data.max_value, junk=True)
        s.info("%d problems, %d valid and %d junk traces", len(problems), len(valid[0]), len(junk[0]))
        model = M.build_model(len(tokenizer), m.n_layer, m.d_model, m.n_head, m.d_ff, 64, tokenizer)
        s.info("model: %d parameters", sum(p.numel() for p in model.parameters()))
        opt = torch.optim.AdamW(model.parameters(), lr=m.lr, weight_decay=m.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / m.steps)))
        tracker = tracking.start(
            cfg.wandb,
            study=cfg.study,
            run_id=f"{cfg.study}-pretrain",
            job_type="pretrain",
            out_dir=tracker_dir or Path(out_dir).parent,
            config=cfg.to_dict(),
        )
        prog = Progress(m.steps, "pretrain", "step")
        model.train()
        p_len = prompts.shape[1]
        for step in range(m.steps):
            ids, _ = draw_traces(prompts, valid, junk, m.junk_fraction, m.batch_size)  # [B, L]
            labels = ids.clone()
            labels[:, :p_len] = -100  # learn the response only
            loss = model(input_ids=ids, labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            prog.update(1, loss=loss.item())
            if step % 20 == 0 or step == m.steps - 1:
                tracker.log({"pretrain/loss": loss.item(), "pretrain/lr": sched.get_last_lr()[0]}, step=step)
        prog.close()
        model.eval()
        M.save(model, tokenizer, out_dir)
        tracker.summary({"pretrain/final_loss": loss.item()})
        tracker.finish()
        s.wrote(out_dir)
    return Path(out_dir)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--data", required=True, help="train.jsonl")
    ap.add_argument("--out", required=True, help="output checkpoint directory")
    ap.add_argument("--wandb-dir", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: config threads)")
    a = ap.parse_args(argv)
    run(load_config(a.config), a.data, a.out, a.wandb_dir, a.threads)


if __name__ == "__main__":
    main()
