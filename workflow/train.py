"""RL training with verifiable rewards: one algorithm preset, one seed.

Consumes: the base checkpoint (``results/<study>/base/model``), ``train.jsonl`` and the algorithm's preset
(``Config.rl.algorithm(name)``). Produces HF checkpoints ``results/<study>/train/<algo>-s<seed>/step<N>`` at
``rl.save_steps`` and a resumable trainer state (``state.pt``: policy, optimizer, step) every
``rl.state_every`` steps. Metrics (reward, loss, entropy, response length, KL to the reference, clip
fraction) go to the tracker.

The loop, per step: draw ``prompts_per_step`` prompts; sample ``group_size`` rollouts each; score them with
the task's checker (reward 1 / 0); recompute behaviour and reference log-probs; compute advantages with the
preset's estimator; take ``minibatches`` clipped policy-gradient steps. Everything algorithm-specific is
looked up in ``workflow.algorithms`` registries by the preset's keys: this module never branches on an
algorithm's name.

Departures from the papers (toy scale): prompts are drawn with replacement from the train split by a
generator seeded with (seed, step), so a resumed run replays exactly the batches it would have seen;
behaviour log-probs are recomputed by the trainer before the update, as verl does.

Run: ``python -m workflow.train --config C --algo grpo --seed 0 --base DIR --data train.jsonl --out DIR``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from workflow import algorithms as A
from workflow import model as M
from workflow import tracking
from workflow.config import AlgorithmConfig, Config, load_config
from workflow.io import atomic_path, derive_seed, read_jsonl
from workflow.logs import Progress, stage
from workflow.tasks import countdown


@dataclass
class Rollout:
    """One rollout batch, N = prompts x group_size responses."""

    prompt_ids: torch.Tensor  # [N, P] left-padded
    prompt_mask: torch.Tensor  # [N, P]
    response: torch.Tensor  # [N, T] right-padded
    mask: torch.Tensor  # [N, T] float, 1 on valid tokens incl. EOS
    scores: torch.Tensor  # [N] outcome reward
    group: torch.Tensor  # [N] prompt index


def rollout(policy, tokenizer, problems: list[dict], cfg: Config, gen: torch.Generator) -> Rollout:
    rl = cfg.rl
    prompts = [tokenizer(p["prompt"])["input_ids"] for p in problems for _ in range(rl.group_size)]
    out = M.generate(
        policy,
        prompts,
        max_tokens=rl.max_tokens,
        temperature=rl.temperature,
        top_p=1.0,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
        generator=gen,
    )
    texts = tokenizer.batch_decode(out.tokens, skip_special_tokens=True)
    scores = []
    for j, text in enumerate(texts):
        p = problems[j // rl.group_size]
        v = countdown.check(
            p["numbers"], p["target"], text, "stop" if out.stopped[j] else "length", cfg.data.max_value
        )
        scores.append(float(v.correct))
    t = out.tokens.shape[1]
    mask = (torch.arange(t)[None, :] < out.lengths[:, None]).float()  # [N, T]
    pid, pmask = M.left_pad(prompts, tokenizer.pad_token_id)
    group = torch.arange(len(problems)).repeat_interleave(rl.group_size)
    return Rollout(pid, pmask, out.tokens, mask, torch.tensor(scores), group)


def outcome_token_rewards(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Place each response's score at its last valid token. [N], [N, T] -> [N, T]."""
    last = (mask.sum(-1).long() - 1).clamp(min=0)
    r = torch.zeros_like(mask)
    r[torch.arange(len(scores)), last] = scores
    return r * mask


def update(
    policy, ref, opt, ro: Rollout, algo: AlgorithmConfig, cfg: Config, gen: torch.Generator
) -> dict[str, float]:
    """Advantages, then one epoch of mini-batch clipped policy-gradient steps. Returns step metrics."""
    rl = cfg.rl
    dev = M.device()
    batch = [x.to(dev) for x in (ro.prompt_ids, ro.prompt_mask, ro.response, ro.mask)]
    with torch.no_grad():
        old_logp, _ = M.token_logprobs(policy, *batch, temperature=rl.temperature)
        ref_logp, _ = M.token_logprobs(ref, *batch, temperature=rl.temperature)
    token_rewards = outcome_token_rewards(ro.scores.to(dev), batch[3])
    adv, _ = A.ADVANTAGES[algo.advantage](
        A.AdvantageInput(
            token_rewards, batch[3], ro.group.to(dev), eps=algo.adv_eps, norm_by_std=algo.norm_adv_by_std
        )
    )
    policy_loss = A.POLICY_LOSSES[algo.policy_loss]
    aggregate = A.AGGREGATIONS[algo.loss_agg_mode]
    kl_fn = A.KL_ESTIMATORS[algo.kl_loss_type]
    n = ro.response.shape[0]
    perm = torch.randperm(n, generator=gen)
    sums: dict[str, float] = {}
    policy.train()
    for mb in perm.chunk(rl.minibatches):
        mb = mb.to(dev)
        pid, pmask, resp, mask = (x[mb] for x in batch)
        logp, ent = M.token_logprobs(
            policy, pid, pmask, resp, mask, temperature=rl.temperature, with_entropy=True
        )
        loss_mat, pl_metrics = policy_loss(
            A.PolicyLossInput(logp, old_logp[mb], adv[mb], algo.clip_low, algo.clip_high, algo.clip_c)
        )
        pg_loss = aggregate(loss_mat, mask, None)
        entropy = aggregate(ent, mask, None)
        kl = aggregate(kl_fn(logp, ref_logp[mb]), mask, None)
        loss = pg_loss - algo.entropy_coef * entropy + algo.kl_loss_coef * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), rl.grad_clip)
        opt.step()
        mb_metrics = {
            "loss": loss.item(),
            "pg_loss": pg_loss.item(),
            "entropy": entropy.item(),
            "kl": kl.item(),
            "grad_norm": float(grad_norm),
            **{k: A.masked_mean(v, mask).item() for k, v in pl_metrics.items()},
        }
        for k, v in mb_metrics.items():
            sums[k] = sums.get(k, 0.0) + v / rl.minibatches
    policy.eval()
    sums["reward"] = ro.scores.mean().item()
    sums["response_length"] = ro.mask.sum(-1).mean().item()
    sums["solved_groups"] = _share_of_groups(ro, lambda s: s.max() > 0)
    sums["mixed_groups"] = _share_of_groups(ro, lambda s: s.max() > s.min())
    return sums


def _share_of_groups(ro: Rollout, pred) -> float:
    groups = ro.group.unique()
    return sum(bool(pred(ro.scores[ro.group == g])) for g in groups) / len(groups)


def checkpoint_dir(out_dir: str | Path, step: int) -> Path:
    return Path(out_dir) / f"step{step}"


def run(
    cfg: Config,
    algo_name: str,
    seed: int,
    base_dir: str | Path,
    data_path: str | Path,
    out_dir: str | Path,
    tracker: tracking.Tracker | None = None,
) -> list[Path]:
    rl = cfg.rl
    algo = rl.algorithm(algo_name)
    out_dir = Path(out_dir)
    torch.set_num_threads(cfg.threads)
    run_id = f"{cfg.study}-{algo_name}-s{seed}"
    with stage(f"train {algo_name} seed {seed}") as s:
        policy, tokenizer = M.load(base_dir, threads=cfg.threads)
        ref, _ = M.load(base_dir)
        ref.requires_grad_(False)
        problems = read_jsonl(data_path)
        s.read(base_dir, data_path)
        opt = torch.optim.AdamW(policy.parameters(), lr=rl.lr, weight_decay=rl.weight_decay)
        state_path = out_dir / "state.pt"
        start = 0
        if state_path.exists():
            state = torch.load(state_path, map_location=M.device(), weights_only=False)
            policy.load_state_dict(state["policy"])
            opt.load_state_dict(state["optimizer"])
            start = state["step"]
            s.info("resumed from %s at step %d", state_path, start)
        tracker = tracker or tracking.start(
            cfg.wandb,
            study=cfg.study,
            run_id=run_id,
            job_type="train",
            out_dir=out_dir.parent.parent / "wandb",
            config=dict(cfg.to_dict(), algorithm=algo_name, algorithm_config=algo.__dict__, seed=seed),
        )
        s.info("algorithm %s: %s", algo_name, algo)
        prog = Progress(rl.steps - start, f"train {algo_name}", "step")
        saved = []
        for step in range(start, rl.steps):
            t0 = time.perf_counter()
            gen = torch.Generator().manual_seed(derive_seed(cfg.seed, seed, algo_name, step))
            idx = torch.randint(len(problems), (rl.prompts_per_step,), generator=gen)
            ro = rollout(policy, tokenizer, [problems[i] for i in idx.tolist()], cfg, gen)
            metrics = update(policy, ref, opt, ro, algo, cfg, gen)
            metrics["step_time"] = time.perf_counter() - t0
            tracker.log({f"train/{k}": v for k, v in metrics.items()}, step=step + 1)
            prog.update(1, reward=metrics["reward"], entropy=metrics["entropy"])
            done = step + 1
            if done in rl.save_steps:
                M.save(policy, tokenizer, checkpoint_dir(out_dir, done))
                saved.append(checkpoint_dir(out_dir, done))
                s.info("step %d: saved %s", done, saved[-1])
            if done % rl.state_every == 0 or done == rl.steps:
                with atomic_path(state_path) as tmp:
                    torch.save(
                        {"policy": policy.state_dict(), "optimizer": opt.state_dict(), "step": done}, tmp
                    )
        prog.close()
        tracker.finish()
        s.wrote(*[checkpoint_dir(out_dir, st) for st in rl.save_steps])
    return saved


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--algo", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--base", required=True, help="base checkpoint directory")
    ap.add_argument("--data", required=True, help="train.jsonl")
    ap.add_argument("--out", required=True, help="run directory (checkpoints and state)")
    a = ap.parse_args(argv)
    run(load_config(a.config), a.algo, a.seed, a.base, a.data, a.out)


if __name__ == "__main__":
    main()
