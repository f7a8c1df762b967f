"""Benchmark (not a test): this project's GRPO trainer against TRL's ``GRPOTrainer`` on CPU, side by side.

Both train the same base checkpoint on the same prompts in the same order (``steps`` rollout batches of
``prompts`` prompts x ``group`` completions, max 16 new tokens, temperature 1, beta 0, clip 0.2, lr 1e-4
constant, two optimizer steps per rollout batch, token-level loss) with one torch thread each, one after the
other in one process. Prints completion tokens per second of each and their ratio (ours / TRL).

Needs TRL (``pip install -e '.[bench]'``) and a base model and train split, e.g. from the embedded default:
``python tests/benchmarks/bench_trl_grpo.py --model results/countdown-toy/base/model
--data results/countdown-toy/data/train.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch


def problems_in_order(path: str, n: int, seed: int) -> list[dict]:
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    g = torch.Generator().manual_seed(seed)
    return [rows[i] for i in torch.randperm(len(rows), generator=g)[:n].tolist()]


def run_ours(model_dir: str, problems: list[dict], args) -> tuple[int, float, list[float]]:
    from workflow import rollout as R
    from workflow.config import from_dict
    from workflow.train import builtin as train

    cfg = from_dict(
        {
            "rl": {
                "algorithms": ["grpo"],
                "common": {
                    "lr": args.lr,
                    "weight_decay": 0.0,
                    "prompts_per_step": args.prompts,
                    "group_size": args.group,
                    "minibatches": 2,
                    "max_tokens": 16,
                    "temperature": 1.0,
                },
            },
            "wandb": {"mode": "disabled"},
        }
    )
    algo = cfg.rl.algorithm("grpo")
    tr = train.Trainer(cfg, algo, model_dir, problems, [], 0, "grpo")
    tokens, rewards = 0, []
    start = time.perf_counter()
    for step in range(args.steps):
        batch = problems[step * args.prompts : (step + 1) * args.prompts]
        gen = torch.Generator().manual_seed(step)
        ro, stats = R.collect(tr.policy, tr.tokenizer, lambda n, b=batch: b, algo, cfg.data.max_value, gen)
        tr.update(ro, gen)
        tokens += int(ro.mask.sum())
        rewards.append(stats["reward"])
    return tokens, time.perf_counter() - start, rewards


def run_trl(model_dir: str, problems: list[dict], args) -> tuple[int, float, list[float]]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from workflow.tasks import countdown

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    # TRL tokenizes prompts without special tokens: write <bos> into the text, as our tokenizer adds it
    data = Dataset.from_list(
        [{"prompt": "<bos> " + p["prompt"], "numbers": p["numbers"], "target": p["target"]} for p in problems]
    )
    counted = {"tokens": 0, "rewards": []}

    def reward(prompts, completions, completion_ids, numbers, target, **kwargs):
        counted["tokens"] += sum(len(ids) for ids in completion_ids)
        r = [
            float(countdown.check(n, t, c).correct)
            for c, n, t in zip(completions, numbers, target, strict=True)
        ]
        counted["rewards"].append(sum(r) / len(r))
        return r

    with tempfile.TemporaryDirectory() as out:
        conf = GRPOConfig(
            output_dir=out,
            use_cpu=True,
            bf16=False,
            seed=0,
            report_to="none",
            save_strategy="no",
            logging_steps=1000,
            disable_dropout=True,
            shuffle_dataset=False,
            dataloader_num_workers=0,
            num_generations=args.group,
            per_device_train_batch_size=args.prompts * args.group // 2,
            steps_per_generation=2,
            max_completion_length=16,
            temperature=1.0,
            top_p=1.0,
            beta=0.0,
            epsilon=0.2,
            loss_type="dapo",
            scale_rewards="group",
            num_iterations=1,
            learning_rate=args.lr,
            lr_scheduler_type="constant",
            weight_decay=0.0,
            max_grad_norm=1.0,
            max_steps=2 * args.steps,
        )
        trainer = GRPOTrainer(
            model=model, reward_funcs=reward, args=conf, train_dataset=data, processing_class=tok
        )
        start = time.perf_counter()
        trainer.train()
        elapsed = time.perf_counter() - start
    return counted["tokens"], elapsed, counted["rewards"]


def _mean(xs: list[float]) -> float:
    return sum(xs) / max(len(xs), 1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="results/countdown-toy/base/model")
    ap.add_argument("--data", default="results/countdown-toy/data/train.jsonl")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    problems = problems_in_order(args.data, args.steps * args.prompts, 0)
    results = {}
    for name, fn in (("trl", run_trl), ("ours", run_ours)):
        tokens, seconds, rewards = fn(args.model, problems, args)
        results[name] = tokens / seconds
        print(
            f"{name:5s}: {tokens} completion tokens in {seconds:.1f} s = {tokens / seconds:.0f} tokens/s; "
            f"mean reward first / last 5 rollout batches {_mean(rewards[:5]):.3f} / {_mean(rewards[-5:]):.3f}",
            flush=True,
        )
    print(f"ratio ours / TRL: {results['ours'] / results['trl']:.2f}x")


if __name__ == "__main__":
    main()
