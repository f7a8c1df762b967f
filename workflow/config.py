"""Typed, validated study configuration: the only home of defaults.

Consumes: a YAML file (``config/config.yaml`` or a study config) or the dict Snakemake loaded from it.
Produces: a frozen :class:`Config` tree. Unknown keys, wrong types and inconsistent values raise
:class:`ConfigError` naming the key and the fix, so a bad config fails when Snakemake builds the DAG,
before any job runs.

Run ``python -m workflow.config config/config.yaml`` to print the resolved configuration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration value is missing, unknown or invalid."""


@dataclass(frozen=True)
class DataConfig:
    """Procedurally generated Countdown-3 problems (see ``workflow/tasks/countdown.py``)."""

    task: str = "countdown"
    """Problem family; only ``countdown`` exists so far."""
    max_number: int = 15
    """Given numbers are drawn (as a multiset of three) from 1..max_number."""
    max_value: int = 255
    """Largest intermediate or target value; also the largest number token."""
    min_solutions: int = 2
    """Keep only problems with at least this many valid traces (several solution paths per problem)."""
    difficulty_bins: tuple[int, ...] = (2, 4, 8)
    """Lower edges of the solution-count bins: fewer valid traces = harder. (2, 4, 8) gives
    hard = 2-3, medium = 4-7, easy = 8 or more."""
    num_train: int = 8000
    """Problems in the RL/SFT training split."""
    num_val: int = 200
    """Problems in the validation split."""
    num_test: int = 200
    """Problems in the held-out test split (sampled at large k)."""

    def __post_init__(self) -> None:
        if self.task != "countdown":
            raise ConfigError(f"data.task: unknown task {self.task!r}; valid: ['countdown']")
        _positive(self, "max_number", "max_value", "num_train", "num_val", "num_test")
        if self.min_solutions < 2:
            raise ConfigError("data.min_solutions: must be >= 2 so every problem has several solution paths")
        if (
            list(self.difficulty_bins) != sorted(set(self.difficulty_bins))
            or self.difficulty_bins[0] != self.min_solutions
        ):
            raise ConfigError("data.difficulty_bins: must be increasing and start at data.min_solutions")


@dataclass(frozen=True)
class ModelConfig:
    """The tiny decoder-only base model (a scaled-down Llama) and its supervised training."""

    n_layer: int = 3
    """Transformer blocks."""
    d_model: int = 128
    """Hidden size."""
    n_head: int = 4
    """Attention heads."""
    d_ff: int = 384
    """MLP inner size (SwiGLU)."""
    steps: int = 1200
    """Supervised steps on solution traces."""
    batch_size: int = 128
    """Traces per supervised step."""
    lr: float = 1e-3
    """Peak AdamW learning rate (cosine decay, no warmup)."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    junk_fraction: float = 0.5
    """Share of training traces replaced by arithmetically correct traces that reach a wrong target: the
    'junk mode' of plausible wrong answers that real base models have (toy-study.md: 0.5 gives
    pass@1 ~0.10 with pass@256 ~1)."""

    def __post_init__(self) -> None:
        _positive(self, "n_layer", "d_model", "n_head", "d_ff", "steps", "batch_size", "lr")
        if self.d_model % self.n_head:
            raise ConfigError("model.d_model must be divisible by model.n_head")
        if not 0.0 <= self.junk_fraction < 1.0:
            raise ConfigError("model.junk_fraction must be in [0, 1)")


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
    reference (saves a forward pass on the other steps); every step otherwise."""

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

    def algorithm(self, name: str) -> AlgorithmConfig:
        """The preset of ``name`` with the study's common settings and overrides applied."""
        merged = {**PRESETS[name], **self.common, **self.overrides.get(name, {})}
        return _build(AlgorithmConfig, merged, f"rl.overrides.{name}")


@dataclass(frozen=True)
class SamplingConfig:
    """Large-k sampling of the evaluation problems for the base model and every RL checkpoint."""

    n: int = 256
    """Samples per problem (the largest k); a benchmark's own ``n`` overrides it."""
    temperature: float = 1.0
    """Sampling temperature (Yue et al.: 0.6)."""
    top_p: float = 1.0
    """Nucleus sampling threshold (1 = off; Yue et al.: 0.95)."""
    max_tokens: int = 16
    """Maximum new tokens per sample; longer samples end with finish_reason 'length'."""
    shards: int = 4
    """Shards per (model, dataset): problems i, i + S, ... go to shard i; each shard is a job."""
    block: int = 0
    """Samples per block (0 = all n in one block). Each (shard, block) is one job and one atomic file, and
    sample i of a problem always gets seed + i, so raising ``n`` later samples only the missing blocks."""
    batch_size: int = 2048
    """Sequences decoded together (transformers backend)."""
    datasets: tuple[str, ...] = ("test",)
    """Splits to sample in a training study (train, val, test); evaluation studies sample their
    ``benchmarks`` instead."""
    backend: str = "transformers"
    """transformers (CPU or GPU, the default) | vllm (GPUs; the ``gpu`` extra)."""
    dtype: str = "auto"
    """Weights' dtype for sampling and scoring: auto (float32 on CPU, the checkpoint's dtype on GPU) |
    float32 | bfloat16 | float16."""
    tensor_parallel: int = 1
    """vLLM tensor-parallel GPUs per sampling job (the job requests as many GPUs)."""
    gpu_memory_utilization: float = 0.9
    """vLLM: share of GPU memory for weights and KV cache."""
    max_model_len: int | None = None
    """vLLM: context length (prompt + response); None = the model's own. Yue et al.'s HEAD code used 4096,
    which silently caps 16k generations; set it to at least prompt + max_tokens."""
    prefix_caching: bool = True
    """vLLM automatic prefix caching (the n samples of a prompt share its KV cache)."""

    def __post_init__(self) -> None:
        _positive(self, "n", "temperature", "max_tokens", "shards", "batch_size", "tensor_parallel")
        if self.block < 0:
            raise ConfigError("sampling.block: must be >= 0 (0 = one block of n samples)")
        if not 0 < self.top_p <= 1:
            raise ConfigError("sampling.top_p must be in (0, 1]")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ConfigError("sampling.gpu_memory_utilization must be in (0, 1]")
        _choice(self, "backend", ("transformers", "vllm"))
        _choice(self, "dtype", ("auto", "float32", "bfloat16", "float16"))
        for d in self.datasets:
            if d not in ("train", "val", "test"):
                raise ConfigError(f"sampling.datasets: unknown split {d!r}; valid: ['train', 'val', 'test']")

    def blocks(self, n: int) -> list[tuple[int, int]]:
        """[start, stop) sample-index ranges of the blocks of ``n`` samples."""
        size = self.block or n
        return [(b, min(b + size, n)) for b in range(0, n, size)]


@dataclass(frozen=True)
class TemplateSpec:
    """How a model family is prompted (workflow/templates.py has the built-in ones)."""

    prompt: str = "{question}"
    """The raw prompt text with ``{question}`` where the problem goes (no other placeholders: braces such
    as ``\\boxed{}`` are literal)."""
    prefill: str = ""
    """Forced start of the response (e.g. an opened code fence): appended to the prompt for generation and
    kept at the start of the stored completion, so checkers and perplexity see the whole response."""
    stop: tuple[str, ...] = ()
    """Stop strings, explicit: generation ends at the first (excluded from the completion, finish
    reason 'stop'). The tokenizer's EOS always stops."""
    source: str = ""
    """Where the template comes from (paper figure, upstream file)."""

    def __post_init__(self) -> None:
        if "{question}" not in self.prompt:
            raise ConfigError("templates: a prompt must contain '{question}'")


@dataclass(frozen=True)
class ModelSpec:
    """An existing checkpoint to evaluate (evaluation studies: no training)."""

    path: str
    """HF hub id (e.g. Qwen/Qwen2.5-7B) or a local checkpoint directory."""
    template: str = "plain"
    """Prompt template: a key of the built-in templates or of ``templates``."""
    role: str = "rl"
    """base | rl | distill | instruct: how the model is compared against its comparison's base."""
    label: str = ""
    """Legend label (default: the model's key)."""
    revision: str | None = None
    """Hub revision (commit or tag) to pin; None = the default branch."""
    sampling: dict[str, Any] = field(default_factory=dict)
    """Overrides of ``sampling`` keys for this model (e.g. a short context window: max_model_len,
    max_tokens; tensor_parallel for a large model)."""

    def __post_init__(self) -> None:
        _choice(self, "role", ROLES)
        bad = sorted(
            set(self.sampling) - {f.name for f in dataclasses.fields(SamplingConfig)}
            | {"n", "datasets", "shards", "block"} & set(self.sampling)
        )
        if bad:
            raise ConfigError(f"models.<name>.sampling: unknown or not per-model key(s) {bad}")


ROLES = ("base", "rl", "distill", "instruct")


@dataclass(frozen=True)
class BenchmarkSpec:
    """A benchmark to sample, loaded by ``workflow.benchmarks``."""

    source: str | None = None
    """HF hub dataset id or a local .jsonl / .json / .parquet file or directory; None = the loader's default
    hub id (workflow.benchmarks.HUB)."""
    loader: str = ""
    """Loader (a key of workflow.benchmarks.LOADERS); default: the benchmark's key."""
    split: str | None = None
    """Dataset split; None = the loader's default hub split, or ``test`` for a local directory."""
    subset: str | None = None
    """Dataset configuration name (hub datasets with several)."""
    revision: str | None = None
    """Hub revision to pin."""
    limit: int | None = None
    """Use only the first this many problems."""
    n: int | None = None
    """Samples per problem for this benchmark (Yue et al.: 1024 for AIME24 and AMC23, 128 otherwise);
    None = sampling.n."""
    options: dict[str, Any] = field(default_factory=dict)
    """Loader options (e.g. LiveCodeBench date_from / date_to, Reasoning Gym task / size / seed)."""


@dataclass(frozen=True)
class ComparisonSpec:
    """One panel group: a base model against the models trained or distilled from it, on benchmarks."""

    base: str
    """Key of the base model in ``models``."""
    models: tuple[str, ...]
    """Keys of the models compared against the base (RL, distilled, instruct), drawn on the same figure."""
    benchmarks: tuple[str, ...]
    """Keys of ``benchmarks`` to sample all of them on."""


@dataclass(frozen=True)
class VerificationConfig:
    """Checking samples: math answers with math-verify, programs in a sandbox (evaluation studies)."""

    workers: int = 2
    """Worker processes per verification job (math-verify checks, sandboxed programs)."""
    math_timeout: float = 5.0
    """Seconds per math equivalence check; a check that runs over is scored wrong (Yue et al.: 3 s)."""
    code_timeout: float = 10.0
    """Wall-clock seconds per program run on one test case (each case runs in its own sandboxed process)."""
    code_memory_mb: int = 1024
    """Address-space limit of a program run."""

    def __post_init__(self) -> None:
        _positive(self, "workers", "math_timeout", "code_timeout", "code_memory_mb")


@dataclass(frozen=True)
class AnalysisConfig:
    """pass@k estimation."""

    bootstrap: int = 1000
    """Bootstrap resamples over problems for confidence intervals."""
    ci: float = 0.95
    """Confidence level of the intervals."""
    ppl_problems: int = 20
    """Perplexity analysis: the first this many problems of each sampled dataset."""
    ppl_samples: int = 16
    """Perplexity analysis: responses per problem and model (Yue et al.: 16)."""
    novelty_n: int = 4
    """Novelty analysis: n-gram length (in tokens) matched against the base model's training corpus."""
    novelty_samples: int = 32
    """Novelty analysis: the first this many samples per problem and model."""

    def __post_init__(self) -> None:
        _positive(self, "bootstrap", "ppl_problems", "ppl_samples", "novelty_n", "novelty_samples")
        if not 0 < self.ci < 1:
            raise ConfigError("analysis.ci must be in (0, 1)")


@dataclass(frozen=True)
class WandbConfig:
    """Weights & Biases logging (a side channel: outputs never depend on it)."""

    project: str = "rlvr-boundary"
    """W&B project."""
    entity: str | None = None
    """W&B entity (team); None = the default of the API key."""
    mode: str = "auto"
    """online | offline | disabled | auto (online with an API key, else offline). WANDB_MODE overrides."""

    def __post_init__(self) -> None:
        if self.mode not in ("online", "offline", "disabled", "auto"):
            raise ConfigError(
                f"wandb.mode: unknown {self.mode!r}; valid: ['auto', 'disabled', 'offline', 'online']"
            )


@dataclass(frozen=True)
class Config:
    """A whole study."""

    study: str = "countdown-toy"
    """Study name: results go to results/<study>/, W&B runs are grouped by it."""
    seed: int = 0
    """Run seed; every other seed derives from it."""
    threads: int = 1
    """Torch threads per job (one thread is as fast as two at toy size; run two jobs side by side)."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    verification: VerificationConfig = field(default_factory=VerificationConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    """Evaluation studies: existing checkpoints by name. When set, nothing is trained: ``data``, ``model``
    and ``rl`` are ignored and the study samples ``benchmarks`` for the ``comparisons``."""
    benchmarks: dict[str, BenchmarkSpec] = field(default_factory=dict)
    """Evaluation studies: benchmarks by name."""
    comparisons: dict[str, ComparisonSpec] = field(default_factory=dict)
    """Evaluation studies: base-versus-others groups; each (comparison, benchmark) is one analysis panel."""
    templates: dict[str, TemplateSpec] = field(default_factory=dict)
    """Prompt templates added to (or replacing) the built-in ones of workflow/templates.py."""

    def __post_init__(self) -> None:
        if not self.study or any(c in self.study for c in "/ {}"):
            raise ConfigError("study: must be a non-empty name without '/', spaces or braces")
        _positive(self, "threads")
        if self.models or self.benchmarks or self.comparisons:
            self._check_evaluation()

    @property
    def evaluation(self) -> bool:
        """True for an evaluation study (existing checkpoints, no training)."""
        return bool(self.models)

    def template(self, name: str) -> TemplateSpec:
        from workflow.templates import BUILTIN

        if name in self.templates:
            return self.templates[name]
        if name in BUILTIN:
            return BUILTIN[name]
        raise ConfigError(f"unknown template {name!r}; valid: {sorted({*BUILTIN, *self.templates})}")

    def with_templates(self) -> Config:
        """This config with every template its models use written out under ``templates`` (built-in ones
        included), so the resolved config file records the exact prompt text a study sampled with."""
        used = {m.template: self.template(m.template) for m in self.models.values()}
        return dataclasses.replace(self, templates={**used, **self.templates})

    def _check_evaluation(self) -> None:
        if not (self.models and self.benchmarks and self.comparisons):
            raise ConfigError("an evaluation study needs all of models, benchmarks and comparisons")
        for key in (*self.models, *self.benchmarks, *self.comparisons):
            if not key or any(c in key for c in "/ {}_") or key in ("base", "train", "val", "test"):
                raise ConfigError(
                    f"{key!r}: model, benchmark and comparison names must be non-empty, without '/', '_', "
                    "spaces or braces, and not base/train/val/test"
                )
        for name, m in self.models.items():
            try:
                self.template(m.template)
            except ConfigError as err:
                raise ConfigError(f"models.{name}.template: {err}") from None
            self.sampling_for(name)
        for name, c in self.comparisons.items():
            where = f"comparisons.{name}"
            if c.base not in self.models:
                raise ConfigError(f"{where}.base: {c.base!r} is not in models; valid: {sorted(self.models)}")
            if self.models[c.base].role != "base":
                raise ConfigError(f"{where}.base: model {c.base!r} must have role 'base'")
            if not c.models or not c.benchmarks:
                raise ConfigError(f"{where}: list at least one model and one benchmark")
            for m in c.models:
                if m not in self.models or m == c.base:
                    raise ConfigError(f"{where}.models: {m!r} is not a model other than the base")
            for b in c.benchmarks:
                if b not in self.benchmarks:
                    raise ConfigError(
                        f"{where}.benchmarks: {b!r} is not in benchmarks; valid: {sorted(self.benchmarks)}"
                    )
        from workflow import benchmarks

        for name, b in self.benchmarks.items():
            loader = b.loader or name
            if loader not in benchmarks.LOADERS:
                raise ConfigError(
                    f"benchmarks.{name}.loader: unknown loader {loader!r}; valid: {sorted(benchmarks.LOADERS)}"
                )
            if b.n is not None and b.n <= 0:
                raise ConfigError(f"benchmarks.{name}.n: must be > 0")
            try:  # the loader's own checks (limit, options), before any job runs
                benchmarks.BenchmarkSpec(name=loader, source=b.source, limit=b.limit, options=dict(b.options))
            except benchmarks.BenchmarkError as err:
                raise ConfigError(f"benchmarks.{name}: {err}") from None

    def sampling_for(self, model: str) -> SamplingConfig:
        """``sampling`` with the model's own overrides applied."""
        spec = self.models.get(model)
        if spec is None or not spec.sampling:
            return self.sampling
        merged = {**dataclasses.asdict(self.sampling), **spec.sampling}
        return _build(SamplingConfig, merged, f"models.{model}.sampling")

    def samples_per_problem(self, dataset: str) -> int:
        """n for a dataset: the benchmark's own n, else sampling.n."""
        b = self.benchmarks.get(dataset)
        return b.n if b is not None and b.n is not None else self.sampling.n

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def fingerprint(self, *sections: str) -> str:
        """Short stable hash of the given sections (all if none): the part of a run id that changes
        when the settings that produced a result change."""
        d = self.to_dict()
        picked = {s: d[s] for s in sections} if sections else d
        return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()[:8]


def _choice(obj: Any, name: str, valid: tuple[str, ...]) -> None:
    if getattr(obj, name) not in valid:
        section = _SECTION.get(type(obj).__name__, "")
        raise ConfigError(f"{section}{name}: unknown {getattr(obj, name)!r}; valid: {sorted(valid)}")


def _positive(obj: Any, *names: str) -> None:
    section = _SECTION.get(type(obj).__name__, "")
    for n in names:
        if getattr(obj, n) <= 0:
            raise ConfigError(f"{section}{n}: must be > 0, got {getattr(obj, n)!r}")


_SECTION = {
    "DataConfig": "data.",
    "ModelConfig": "model.",
    "RLConfig": "rl.",
    "SamplingConfig": "sampling.",
    "VerificationConfig": "verification.",
    "AnalysisConfig": "analysis.",
    "ModelSpec": "models.<name>.",
    "Config": "",
}


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return _build(tp, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (inner, _) = typing.get_args(tp)
        return tuple(_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        (_, inner) = typing.get_args(tp)
        if dataclasses.is_dataclass(inner):
            return {str(k): _coerce(v, inner, f"{where}.{k}") for k, v in value.items()}
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (
        tp is int and isinstance(value, str) and value.strip().lstrip("-").isdigit()
    ):  # snakemake --config lists
        return int(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if (
        tp is bool
        and not isinstance(value, bool)
        or not isinstance(value, tp)
        or (tp is int and isinstance(value, bool))
    ):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"unknown key(s) {[prefix + u for u in unknown]}; valid keys here: {sorted(names)}")
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {missing}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in values.items()}
    return cls(**kwargs)


def from_dict(values: dict[str, Any]) -> Config:
    """Validate a plain dict (as Snakemake's ``config``) into a :class:`Config`."""
    return _build(Config, dict(values or {}), "")


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML config file."""
    import yaml

    with open(path) as f:
        values = yaml.safe_load(f) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return from_dict(values)


def main(argv: list[str] | None = None) -> None:
    import yaml

    path = (argv or sys.argv[1:] or ["config/config.yaml"])[0]
    cfg = load_config(path).with_templates()
    out = cfg.to_dict()
    if not cfg.evaluation:  # each algorithm as trained: preset, then rl.common, then rl.overrides.<algo>
        out["rl"]["resolved"] = {
            a: _plain(dataclasses.asdict(cfg.rl.algorithm(a))) for a in cfg.rl.algorithms
        }
    print(yaml.safe_dump(out, sort_keys=False))


if __name__ == "__main__":
    main()
