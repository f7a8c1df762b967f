"""The builtin RL trainer (``rl.engine: builtin``, the embedded default): one algorithm preset, one seed, one process.

Consumes: the base checkpoint (``results/<study>/base/model``), ``train.jsonl`` / ``val.jsonl`` and the
algorithm's resolved preset (``Config.rl.algorithm(name)``). Produces HF checkpoints
``results/<study>/train/<algo>-s<seed>/step<N>`` at ``rl.save_steps`` and a resumable trainer state (``state.pt``:
policy, reference, critic, optimizers, KL coefficient, validation history, step) every ``rl.state_every`` steps;
each checkpoint is also kept in ``<run>/.kept/`` (hard links), so a job killed after saving some checkpoints
resumes without losing them (``workflow.train.checkpoints``). Metrics go to the tracker: reward, accuracy, loss, entropy, response
length, KL to the reference, clip fraction, and per algorithm the critic, KL-coefficient, dynamic-sampling and
reference-reset curves.

The loop, per step: collect a rollout batch (``workflow.rollout``: sample groups, score, filter); recompute
behaviour and reference log-probs; subtract the in-reward KL; compute advantages with the preset's
estimator; take ``minibatches`` clipped policy-gradient steps (plus entropy bonus, KL loss, ptx loss and
the critic's clipped value loss, each weighted by the preset); validate and reset the reference when the
preset asks. Every choice is a registry key or a coefficient of the preset: this module never branches on
an algorithm's name. The estimator's declared ``needs`` decide whether a critic or a greedy baseline is run.

Departures from the papers (toy scale): prompts are drawn with replacement by a generator seeded with
(seed, step), so a resumed run replays exactly; behaviour log-probs come from the sampling pass itself
(same model, same precision, same temperature) instead of a second forward pass as in verl, whose
inference engine differs numerically from its trainer (tested: they agree to 1e-5); dynamic sampling trains on a short batch when the
round cap is hit (verl raises); validation is greedy accuracy on the first ``val_problems`` validation
problems; the critic is the base model with a fresh scalar head (``AutoModelForTokenClassification``, as
verl's critic).

Run through ``python -m workflow.train`` (``workflow/train/__main__.py``), which picks the engine.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from workflow import algorithms as A
from workflow import model as M
from workflow import rollout as R
from workflow import tracking
from workflow.config import AlgorithmConfig, Config
from workflow.io import atomic_path, derive_seed, read_jsonl
from workflow.logs import Phases, Progress, stage
from workflow.packing import Packed, pack, packed_outputs
from workflow.train import start_tracker
from workflow.train.checkpoints import checkpoint_dir, kept_dir, publish, restore_checkpoints


def outcome_token_rewards(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Place each response's score at its last valid token. [N], [N, T] -> [N, T]."""
    last = (mask.sum(-1).long() - 1).clamp(min=0)
    r = torch.zeros_like(mask)
    r[torch.arange(len(scores)), last] = scores
    return r * mask


def load_critic(base_dir: str | Path):
    """The base model with a fresh scalar head per token (verl's critic is AutoModelForTokenClassification)."""
    from transformers import AutoModelForTokenClassification
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the new head is expected to be "newly initialized"
    critic = AutoModelForTokenClassification.from_pretrained(str(base_dir), num_labels=1, dtype=torch.float32)
    hf_logging.set_verbosity(verbosity)
    return critic.to(M.device())


def token_values(critic, pid, pmask, resp, rmask, packed: Packed | None = None) -> torch.Tensor:
    """V(s_t) for every response token t: the critic's output at the position that predicts t. [N, T].
    ``packed``: a packing of the same batch (``workflow.packing``), to reuse."""
    packed = packed or pack(pid, pmask, resp, rmask)
    return packed_outputs(critic, packed)[..., 0] * rmask


class Trainer:
    """State of one run; ``step`` does one RL step. Everything resumable lives in ``state_dict``."""

    def __init__(
        self,
        cfg: Config,
        algo: AlgorithmConfig,
        base_dir: str | Path,
        problems: list[dict],
        val: list[dict],
        seed: int,
        algo_name: str,
    ) -> None:
        self.cfg, self.algo, self.seed, self.name = cfg, algo, seed, algo_name
        self.phases = Phases()  # seconds per phase, logged at the end (workflow.profile reads them)
        self.problems, self.val = problems, val[: algo.val_problems]
        self.policy, self.tokenizer = M.load(base_dir, threads=cfg.threads)
        self.ref, _ = M.load(base_dir)
        self.ref.requires_grad_(False)
        self.needs = A.ADVANTAGES[algo.advantage].needs
        torch.manual_seed(derive_seed(cfg.seed, seed, algo_name, "init"))  # the critic's fresh head
        self.critic = load_critic(base_dir) if "values" in self.needs else None
        self.opt = self._optimizer()
        self.critic_opt = (
            torch.optim.AdamW(self.critic.parameters(), lr=algo.critic_lr, weight_decay=algo.weight_decay)
            if self.critic is not None
            else None
        )
        self.kl_ctl = A.KL_CONTROLLERS[algo.kl_controller](
            algo.kl_reward_coef, algo.kl_target, algo.kl_horizon
        )
        self.ptx = self._ptx_corpus() if algo.ptx_coef > 0 else None
        self.val_best, self.val_stale, self.resets, self.step_done = -1.0, 0, 0, 0

    def _optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            self.policy.parameters(), lr=self.algo.lr, weight_decay=self.algo.weight_decay
        )

    def _ptx_corpus(self):
        """The base model's own training mixture (valid and junk traces of train problems, pretrain.py)."""
        from workflow.pretrain import encode_traces

        prompts = torch.tensor([self.tokenizer(p["prompt"])["input_ids"] for p in self.problems])
        valid = encode_traces(self.tokenizer, self.problems, self.cfg.data.max_value, junk=False)
        junk = encode_traces(self.tokenizer, self.problems, self.cfg.data.max_value, junk=True)
        return prompts, valid, junk

    def ptx_batch(self, size: int, gen: torch.Generator) -> tuple[torch.Tensor, int]:
        from workflow.pretrain import draw_traces

        prompts, valid, junk = self.ptx
        ids, _ = draw_traces(prompts, valid, junk, self.cfg.model.junk_fraction, size, gen)
        return ids, prompts.shape[1]

    # -------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "policy": self.policy.state_dict(),
            "ref": self.ref.state_dict(),
            "optimizer": self.opt.state_dict(),
            "critic": self.critic.state_dict() if self.critic is not None else None,
            "critic_optimizer": self.critic_opt.state_dict() if self.critic_opt is not None else None,
            "kl_coef": self.kl_ctl.value,
            "val_best": self.val_best,
            "val_stale": self.val_stale,
            "resets": self.resets,
            "step": self.step_done,
        }

    def load_state_dict(self, st: dict) -> None:
        self.policy.load_state_dict(st["policy"])
        self.ref.load_state_dict(st["ref"])
        self.opt.load_state_dict(st["optimizer"])
        if self.critic is not None:
            self.critic.load_state_dict(st["critic"])
            self.critic_opt.load_state_dict(st["critic_optimizer"])
        self.kl_ctl.value = st["kl_coef"]
        self.val_best, self.val_stale, self.resets, self.step_done = (
            st["val_best"],
            st["val_stale"],
            st["resets"],
            st["step"],
        )

    # -------------------------------------------------------------------------------------------------
    def step(self, step: int) -> dict[str, float]:
        algo = self.algo
        gen = torch.Generator().manual_seed(derive_seed(self.cfg.seed, self.seed, self.name, step))

        def draw(n: int) -> list[dict]:
            return [self.problems[i] for i in torch.randint(len(self.problems), (n,), generator=gen).tolist()]

        # the reference forward pass is skipped when nothing but the KL metric needs it (every kl_log_every steps)
        measure_kl = algo.kl_loss_coef > 0 or self.kl_ctl.value > 0 or step % self.cfg.rl.kl_log_every == 0
        with self.phases("generation"):  # sampling, scoring, greedy baselines
            batch, metrics = R.collect(
                self.policy,
                self.tokenizer,
                draw,
                algo,
                self.cfg.data.max_value,
                gen,
                with_baseline="baseline" in self.needs,
            )
        if batch is not None:
            metrics.update(self.update(batch, gen, measure_kl))
        self.step_done = step + 1
        with self.phases("validation"):
            metrics.update(self.maybe_validate_and_reset(self.step_done))
        metrics["kl_coef"] = self.kl_ctl.value
        return metrics

    def update(self, ro: R.Rollout, gen: torch.Generator, measure_kl: bool = True) -> dict[str, float]:
        """Advantages, then one epoch of mini-batch steps. Returns averaged metrics. Without ``measure_kl`` the
        reference is taken to equal the behaviour policy (valid only when no loss term uses the KL)."""
        algo, dev = self.algo, M.device()
        pid, pmask, resp, mask = (x.to(dev) for x in (ro.prompt_ids, ro.prompt_mask, ro.response, ro.mask))
        old_logp = ro.old_logp.to(dev)
        whole = pack(pid, pmask, resp, mask) if measure_kl or self.critic is not None else None
        with torch.no_grad():
            with self.phases("logprobs"):  # the reference pass
                ref_logp = (
                    M.token_logprobs(
                        self.ref, pid, pmask, resp, mask, temperature=algo.temperature, packed=whole
                    )[0]
                    if measure_kl
                    else old_logp
                )
            with self.phases("critic"):
                values = (
                    token_values(self.critic, pid, pmask, resp, mask, whole)
                    if self.critic is not None
                    else None
                )
            kl_tok = A.KL_ESTIMATORS[algo.kl_reward_type](old_logp, ref_logp) * mask  # [N, T]
            token_rewards = outcome_token_rewards(ro.scores.to(dev), mask) - self.kl_ctl.value * kl_tok
            self.kl_ctl.update(A.masked_mean(kl_tok, mask, dim=-1).mean().item(), n_steps=len(ro.scores))
            adv, returns = A.ADVANTAGES[algo.advantage](
                A.AdvantageInput(
                    token_rewards,
                    mask,
                    ro.group.to(dev),
                    eps=algo.adv_eps,
                    norm_by_std=algo.norm_adv_by_std,
                    values=values,
                    baseline=ro.baseline.to(dev),
                    gamma=algo.gamma,
                    lam=algo.lam,
                )
            )
        policy_loss = A.POLICY_LOSSES[algo.policy_loss]
        aggregate = A.AGGREGATIONS[algo.loss_agg_mode]
        kl_fn = A.KL_ESTIMATORS[algo.kl_loss_type]
        chunks = torch.randperm(len(ro.scores), generator=gen).chunk(algo.minibatches)
        sums: dict[str, float] = {}
        self.policy.train()
        for mb in chunks:
            mb = mb.to(dev)
            m = mask[mb]
            with self.phases("update"):
                packed = pack(pid[mb], pmask[mb], resp[mb], m)  # shared with the critic's pass below
                logp, ent = M.token_logprobs(
                    self.policy,
                    pid[mb],
                    pmask[mb],
                    resp[mb],
                    m,
                    temperature=algo.temperature,
                    with_entropy=True,
                    packed=packed,
                )
                loss_mat, pl_metrics = policy_loss(
                    A.PolicyLossInput(logp, old_logp[mb], adv[mb], algo.clip_low, algo.clip_high, algo.clip_c)
                )
                pg_loss = aggregate(loss_mat, m, None)
                entropy = aggregate(ent, m, None)
                kl = aggregate(kl_fn(logp, ref_logp[mb]), m, None)
                loss = pg_loss - algo.entropy_coef * entropy + algo.kl_loss_coef * kl
                mb_metrics = {"pg_loss": pg_loss.item(), "entropy": entropy.item()}
                if measure_kl:
                    mb_metrics["kl"] = kl.item()
                if self.ptx is not None:
                    ids, p_len = self.ptx_batch(len(mb), gen)
                    labels = ids.clone()
                    labels[:, :p_len] = -100
                    ptx = self.policy(input_ids=ids.to(dev), labels=labels.to(dev)).loss
                    loss = loss + algo.ptx_coef * ptx
                    mb_metrics["ptx_loss"] = ptx.item()
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                mb_metrics["grad_norm"] = float(
                    torch.nn.utils.clip_grad_norm_(self.policy.parameters(), algo.grad_clip)
                )
                self.opt.step()
            if self.critic is not None:
                with self.phases("critic"):
                    vpred = token_values(self.critic, pid[mb], pmask[mb], resp[mb], m, packed)
                    vf_loss, vf_clip = A.value_loss(
                        vpred, returns[mb], values[mb], m, algo.value_clip, algo.loss_agg_mode
                    )
                    self.critic_opt.zero_grad(set_to_none=True)
                    vf_loss.backward()
                    torch.nn.utils.clip_grad_norm_(self.critic.parameters(), algo.grad_clip)
                    self.critic_opt.step()
                mb_metrics.update(vf_loss=vf_loss.item(), vf_clipfrac=vf_clip.item())
            mb_metrics["loss"] = loss.item()
            mb_metrics.update({k: A.masked_mean(v, m).item() for k, v in pl_metrics.items()})
            for k, v in mb_metrics.items():
                sums[k] = sums.get(k, 0.0) + v / len(chunks)
        self.policy.eval()
        if measure_kl:
            sums["kl_in_reward"] = A.masked_mean(kl_tok, mask).item()
        sums["train_batch"] = float(len(ro.scores))
        return sums

    def maybe_validate_and_reset(self, done: int) -> dict[str, float]:
        """Greedy validation accuracy; ProRL reference resets on a schedule or a validation plateau."""
        algo, out = self.algo, {}
        reset = bool(algo.ref_reset_every) and done % algo.ref_reset_every == 0
        if algo.val_every and done % algo.val_every == 0 and self.val:
            acc = (
                (
                    R.greedy_rewards(self.policy, self.tokenizer, self.val, algo, self.cfg.data.max_value)
                    == algo.reward_correct
                )
                .float()
                .mean()
                .item()
            )
            out["val_accuracy"] = acc
            if acc > self.val_best:
                self.val_best, self.val_stale = acc, 0
            else:
                self.val_stale += 1
            if algo.ref_reset_patience and self.val_stale >= algo.ref_reset_patience:
                reset = True
        if reset:
            self.ref.load_state_dict(self.policy.state_dict())
            if algo.reset_optimizer:
                self.opt = self._optimizer()
            self.resets += 1
            self.val_best, self.val_stale = -1.0, 0
            out["ref_reset"] = 1.0
        out["ref_resets"] = float(self.resets)
        return out


def run(
    cfg: Config,
    algo_name: str,
    seed: int,
    base_dir: str | Path,
    data_path: str | Path,
    out_dir: str | Path,
    val_path: str | Path | None = None,
    tracker: tracking.Tracker | None = None,
) -> list[Path]:
    rl = cfg.rl
    algo = rl.algorithm(algo_name)
    out_dir = Path(out_dir)
    torch.set_num_threads(cfg.threads)
    with stage(f"train {algo_name} seed {seed}") as s:
        problems = read_jsonl(data_path)
        val = read_jsonl(val_path) if val_path else []
        s.read(base_dir, data_path, *([val_path] if val_path else []))
        tr = Trainer(cfg, algo, base_dir, problems, val, seed, algo_name)
        state_path = out_dir / "state.pt"
        if state_path.exists():
            tr.load_state_dict(torch.load(state_path, map_location=M.device(), weights_only=False))
            lost = restore_checkpoints(out_dir, rl.save_steps, tr.step_done)
            if lost:
                s.warning(
                    "%s is at step %d but checkpoints %s are lost (no output, no kept copy): training from step 0",
                    state_path,
                    tr.step_done,
                    lost,
                )
                tr = Trainer(cfg, algo, base_dir, problems, val, seed, algo_name)
            else:
                s.info("resumed from %s at step %d", state_path, tr.step_done)
        tracker = tracker or start_tracker(cfg, algo_name, seed, out_dir, engine="builtin")
        s.info("algorithm %s: %s", algo_name, algo)
        prog = Progress(rl.steps - tr.step_done, f"train {algo_name}", "step")
        for step in range(tr.step_done, rl.steps):
            t0 = time.perf_counter()
            metrics = tr.step(step)
            metrics["step_time"] = time.perf_counter() - t0
            tracker.log({f"train/{k}": v for k, v in metrics.items()}, step=step + 1)
            prog.update(1, reward=metrics["reward"], entropy=metrics.get("entropy", float("nan")))
            if "ref_reset" in metrics:
                s.info(
                    "step %d: reference policy reset #%d (optimizer re-initialised: %s)",
                    step + 1,
                    tr.resets,
                    algo.reset_optimizer,
                )
            with tr.phases("saving"):
                if step + 1 in rl.save_steps:
                    M.save(tr.policy, tr.tokenizer, kept_dir(out_dir, step + 1))
                    s.info("step %d: saved %s", step + 1, publish(out_dir, step + 1))
                if (step + 1) % rl.state_every == 0 or step + 1 == rl.steps:
                    with atomic_path(state_path) as tmp:
                        torch.save(tr.state_dict(), tmp)
        prog.close()
        tr.phases.log(s)
        tracker.finish()
        saved = [checkpoint_dir(out_dir, st) for st in rl.save_steps]
        s.wrote(*saved)
    return saved
