"""The ``rl`` section: algorithm presets (registry keys plus the papers' hyperparameters) and the training loop.

An algorithm is ``PRESETS[name]``, then ``rl.common``, then ``rl.overrides.<name>``, built into an
:class:`AlgorithmConfig` whose registry keys are checked against ``workflow.algorithms``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workflow.config.fields import ConfigError, _build, _positive
from workflow.config.verl import VerlConfig

ENGINES = ("builtin", "verl")
"""Training engines (``workflow.train.ENGINES``): the project's own trainer, or verl 0.9.1 on Ray."""


@dataclass(frozen=True)
class AlgorithmConfig:
    """One RL algorithm: registry keys plus hyperparameters. A preset (``PRESETS``) gives the paper defaults;
    a study applies ``rl.common`` to every algorithm, then ``rl.overrides.<algo>``. Defaults here are verl
    0.9.1's (shared reference algorithms.md section 11)."""

    # --- estimator and loss (registry keys)
    advantage: str = "grpo"
    """Advantage estimator key in ``workflow.algorithms.ADVANTAGES``."""
    policy_loss: str = "vanilla"
    """Policy loss key in ``workflow.algorithms.POLICY_LOSSES``."""
    loss_agg_mode: str = "token-mean"
    """Loss aggregation key in ``workflow.algorithms.AGGREGATIONS`` (verl ``loss_agg_mode``)."""
    clip_low: float = 0.2
    """PPO ratio clip below 1 (epsilon_low)."""
    clip_high: float = 0.2
    """PPO ratio clip above 1 (epsilon_high; > clip_low is DAPO's clip-higher)."""
    clip_c: float = 3.0
    """Dual-clip constant c (> 1) bounding the loss of negative-advantage tokens (verl default 3)."""
    norm_adv_by_std: bool = True
    """GRPO: divide by the group std (False = Dr.GRPO)."""
    adv_eps: float = 1e-6
    """Epsilon added to the group std (verl)."""
    gamma: float = 1.0
    """Discount (GAE, REINFORCE++)."""
    lam: float = 1.0
    """GAE lambda."""
    entropy_coef: float = 0.0
    """Entropy bonus coefficient."""
    # --- KL to the reference policy
    kl_loss_coef: float = 0.0
    """Coefficient of the KL-to-reference loss (0 = off)."""
    kl_loss_type: str = "k3"
    """KL estimator key for the KL loss (``workflow.algorithms.KL_ESTIMATORS``)."""
    kl_reward_coef: float = 0.0
    """Initial beta of the per-token KL penalty in the reward (0 = off)."""
    kl_reward_type: str = "k1"
    """KL estimator key for the in-reward penalty."""
    kl_controller: str = "fixed"
    """``fixed`` or ``adaptive`` (Ziegler et al.) control of the in-reward beta."""
    kl_target: float = 0.1
    """Adaptive controller: target KL."""
    kl_horizon: int = 10000
    """Adaptive controller: horizon."""
    # --- rewards and sampling of the rollout batch
    reward_correct: float = 1.0
    """Reward of a verified-correct response."""
    reward_wrong: float = 0.0
    """Reward of any other response (DAPO: -1)."""
    overlong_buffer: int = 0
    """DAPO overlong shaping: penalty ramps over the last ``overlong_buffer`` tokens before max_tokens (0 = off)."""
    overlong_factor: float = 1.0
    """DAPO overlong shaping: penalty at max_tokens."""
    group_filter: str = "none"
    """Group filter key (``none``; ``nonconstant`` = dynamic sampling, drop all-equal groups)."""
    max_gen_batches: int = 10
    """Dynamic sampling: rollout rounds per step at most before training on what was kept."""
    # --- critic (estimators that need values)
    critic_lr: float = 1e-5
    """Critic learning rate (PPO)."""
    value_clip: float = 0.5
    """Clip range of the value loss (PPO)."""
    # --- extras
    ptx_coef: float = 0.0
    """InstructGPT pretraining-mix coefficient: adds ptx_coef x NLL of base-corpus traces (0 = off)."""
    ref_reset_every: int = 0
    """ProRL: reset the reference policy (and optimizer) every this many steps (0 = off)."""
    ref_reset_patience: int = 0
    """ProRL: reset after this many validations without improvement (0 = off)."""
    val_every: int = 0
    """Steps between validation runs (greedy accuracy on ``val_problems`` validation problems; 0 = off)."""
    val_problems: int = 64
    """Validation problems per validation run."""
    reset_optimizer: bool = True
    """ProRL: re-initialise the optimizer state at a reference reset."""
    # --- scale (paper defaults in presets; studies override them in rl.common)
    lr: float = 1e-6
    """AdamW learning rate, constant."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    grad_clip: float = 1.0
    """Global gradient-norm clip."""
    prompts_per_step: int = 256
    """Prompts per rollout batch."""
    group_size: int = 8
    """Rollouts per prompt (n)."""
    minibatches: int = 1
    """Optimizer steps per rollout batch (PPO mini-batches, one epoch)."""
    temperature: float = 1.0
    """Rollout temperature."""
    max_tokens: int = 8192
    """Maximum response tokens per rollout."""

    def validate(self, name: str) -> None:
        from workflow import algorithms

        for key, registry in (
            ("advantage", algorithms.ADVANTAGES),
            ("policy_loss", algorithms.POLICY_LOSSES),
            ("loss_agg_mode", algorithms.AGGREGATIONS),
            ("kl_loss_type", algorithms.KL_ESTIMATORS),
            ("kl_reward_type", algorithms.KL_ESTIMATORS),
            ("kl_controller", algorithms.KL_CONTROLLERS),
            ("group_filter", algorithms.GROUP_FILTERS),
        ):
            value = getattr(self, key)
            if value not in registry:
                raise ConfigError(f"rl.algorithms.{name}.{key}: unknown {value!r}; valid: {sorted(registry)}")
        where = f"rl (algorithm {name})"
        for key in (
            "clip_low",
            "clip_high",
            "lr",
            "prompts_per_step",
            "group_size",
            "minibatches",
            "max_tokens",
            "temperature",
            "critic_lr",
            "max_gen_batches",
            "val_problems",
        ):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{where}: {key} must be > 0, got {getattr(self, key)!r}")
        if self.clip_c <= 1:
            raise ConfigError(f"{where}: clip_c must be > 1 (dual clip)")
        if self.minibatches > self.prompts_per_step * self.group_size:
            raise ConfigError(
                f"{where}: minibatches exceeds the rollout batch (prompts_per_step x group_size)"
            )
        if self.overlong_buffer >= self.max_tokens:
            raise ConfigError(f"{where}: overlong_buffer must be < max_tokens")
        if self.ref_reset_patience and not self.val_every:
            raise ConfigError(f"{where}: ref_reset_patience needs val_every > 0 (resets follow validation)")


# Paper-default presets (shared reference algorithms.md; paper.md). Scale-dependent values (lr, batch sizes,
# lengths) are the papers'; the embedded default overrides them in rl.common.
_YUE = dict(lr=1e-6, prompts_per_step=256, group_size=8, minibatches=1, temperature=1.0, max_tokens=8192)
PRESETS: dict[str, dict[str, Any]] = {
    # PPO (arXiv 1707.06347) as in verl: critic + GAE (gamma = lam = 1), clipped value loss, entropy bonus
    # (verl <= 0.3 default 0.001), per-token k1 KL in the reward (beta 0.001, fixed); ptx optional (InstructGPT).
    "ppo": dict(_YUE, advantage="gae", entropy_coef=0.001, kl_reward_coef=0.001, kl_reward_type="k1"),
    # GRPO (arXiv 2402.03300) as in Yue et al. Sec. 4.3 (verl, KL removed): group-normalised advantages.
    "grpo": dict(_YUE, advantage="grpo"),
    # Dr.GRPO (arXiv 2503.20783): no std normalisation, sequence sums over a constant length.
    "dr_grpo": dict(_YUE, advantage="grpo", norm_adv_by_std=False, loss_agg_mode="seq-mean-token-sum-norm"),
    # REINFORCE++ (arXiv 2501.03262): token-level k1 KL in the reward, global batch whitening, PPO clip.
    "reinforce_pp": dict(_YUE, advantage="reinforce_pp", kl_reward_coef=0.001, kl_reward_type="k1"),
    # RLOO (arXiv 2402.14740): leave-one-out baseline; verl example uses in-reward k1 KL 0.001.
    "rloo": dict(_YUE, advantage="rloo", kl_reward_coef=0.001, kl_reward_type="k1"),
    # ReMax (arXiv 2310.10505): greedy-rollout baseline; verl example uses in-reward k1 KL 0.001.
    "remax": dict(_YUE, advantage="remax", kl_reward_coef=0.001, kl_reward_type="k1"),
    # DAPO (arXiv 2503.14476; verl recipe run_dapo_qwen2.5_32b.sh): clip-higher 0.2 / 0.28 with c = 10,
    # token-mean, dynamic sampling, overlong shaping (20480 / 4096 / 1.0), reward +1 / -1, no KL.
    "dapo": dict(
        advantage="grpo",
        clip_low=0.2,
        clip_high=0.28,
        clip_c=10.0,
        loss_agg_mode="token-mean",
        group_filter="nonconstant",
        max_gen_batches=10,
        overlong_buffer=4096,
        overlong_factor=1.0,
        reward_correct=1.0,
        reward_wrong=-1.0,
        lr=1e-6,
        weight_decay=0.1,
        prompts_per_step=512,
        group_size=16,
        minibatches=16,
        temperature=1.0,
        max_tokens=20480,
    ),
    # ProRL (arXiv 2505.24864): GRPO + clip 0.2 / 0.4 + k3 KL loss (beta 1e-4 [unverified]) + dynamic
    # sampling + rollout temperature 1.2 + reference-policy resets with optimizer re-initialisation.
    "prorl": dict(
        advantage="grpo",
        clip_low=0.2,
        clip_high=0.4,
        loss_agg_mode="token-mean",
        kl_loss_coef=1e-4,
        kl_loss_type="k3",
        group_filter="nonconstant",
        temperature=1.2,
        ref_reset_patience=2,
        val_every=50,
        reset_optimizer=True,
        lr=2e-6,
        prompts_per_step=256,
        group_size=16,
        minibatches=4,
        max_tokens=8192,
    ),
}


@dataclass(frozen=True)
class RLConfig:
    """The RL stage: which algorithms and seeds, how long, and the study's overrides of the presets."""

    algorithms: tuple[str, ...] = ("grpo",)
    """Algorithms to train, each a key of PRESETS (one training job per algorithm and seed)."""
    common: dict[str, Any] = field(default_factory=dict)
    """Preset-field overrides applied to every algorithm (the study's scale: lr, batch sizes, lengths)."""
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per-algorithm preset-field overrides, applied after ``common``, e.g. ``{dapo: {clip_high: 0.3}}``."""
    steps: int = 300
    """Policy-update steps (one rollout batch each)."""
    save_steps: tuple[int, ...] = (300,)
    """Steps whose checkpoints are saved in HF format and evaluated."""
    state_every: int = 25
    """Steps between resumable trainer-state snapshots."""
    seeds: tuple[int, ...] = (0,)
    """RL seeds; each seed is a separate training run (report every seed you ran)."""
    kl_log_every: int = 10
    """Steps between KL-to-reference measurements for algorithms whose loss and reward do not use the
    reference (saves a forward pass on the other steps); every step otherwise (builtin engine)."""
    engine: str = "builtin"
    """``builtin`` (the project's single-process trainer) or ``verl`` (verl 0.9.1 on Ray: GPU clusters, and its
    real trainer on CPU with ``verl.device: cpu``). The same presets drive both."""
    verl: VerlConfig = field(default_factory=VerlConfig)
    """How the verl engine runs (cluster shape, rollout server, batch splits); read only with ``engine: verl``."""

    def __post_init__(self) -> None:
        _positive(self, "steps", "state_every", "kl_log_every")
        if not self.algorithms:
            raise ConfigError("rl.algorithms: list at least one algorithm")
        for name in self.algorithms:
            if name not in PRESETS:
                raise ConfigError(f"rl.algorithms: unknown algorithm {name!r}; valid: {sorted(PRESETS)}")
        for name in self.overrides:  # overrides of presets not trained are allowed (config files merge)
            if name not in PRESETS:
                raise ConfigError(f"rl.overrides.{name}: unknown algorithm; valid: {sorted(PRESETS)}")
        _build(AlgorithmConfig, dict(self.common), "rl.common")  # unknown keys fail here, named
        for name in self.algorithms:
            self.algorithm(name).validate(name)
        if not self.save_steps or any(s < 1 or s > self.steps for s in self.save_steps):
            raise ConfigError(f"rl.save_steps: each step must be in 1..rl.steps ({self.steps})")
        if self.engine not in ENGINES:
            raise ConfigError(f"rl.engine: unknown {self.engine!r}; valid: {sorted(ENGINES)}")
        if self.engine == "verl":  # a preset field verl cannot express fails here, named (not in a job)
            from workflow.train.verl_render import render_algorithm

            for name in self.algorithms:
                render_algorithm(self.algorithm(name), self, name)

    def algorithm(self, name: str) -> AlgorithmConfig:
        """The preset of ``name`` with the study's common settings and overrides applied."""
        merged = {**PRESETS[name], **self.common, **self.overrides.get(name, {})}
        return _build(AlgorithmConfig, merged, f"rl.overrides.{name}")
