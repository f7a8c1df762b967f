"""Render a resolved algorithm preset plus the study's scale settings into verl 0.9.1 Hydra overrides.

Consumes: an :class:`~workflow.config.AlgorithmConfig` (preset, then ``rl.common``, then ``rl.overrides``), the
``rl`` section (steps, checkpoints, ``rl.verl``: cluster shape, rollout server) and the paths of one run.
Produces: a list of ``key=value`` override strings for ``python -m verl.trainer.main_ppo``. Pure: no verl import,
so Snakemake calls it at DAG-build time and a preset field verl cannot express fails there, named.

Every preset field reaches verl through one row of :data:`FIELDS` (no branch on an algorithm's name):
- a row maps the field to verl keys, with a converter where the value changes shape or name;
- a field the project realises outside verl's trainer (reference resets: stages of ``workflow.train.verl_launch``)
  maps to no key;
- a field verl cannot express has a ``refuse`` test and the reason: a preset that sets it fails with both named.

Where verl and the builtin trainer differ (the renderer keeps verl's behaviour, the docs say so):
- advantage epsilon: verl's GRPO and RLOO use a fixed 1e-6 (``adv_eps`` other than 1e-6 is refused);
- dynamic sampling: verl raises when ``max_num_gen_batches`` rounds leave the batch short; the builtin trains on
  what was kept;
- ReMax's greedy baseline exists only in verl's legacy trainer (``trainer.use_v1=False``): an estimator whose
  ``needs`` include ``baseline`` selects it;
- validation: verl validates greedily on ``data.val_max_samples`` problems of the val split every ``test_freq``
  steps, like the builtin's ``val_every`` / ``val_problems``.
Run ``python -m workflow.config <study.yaml>`` to print each algorithm's rendered overrides (``rl.verl_overrides``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflow.config.fields import ConfigError

ACTOR = "actor_rollout_ref.actor"
ROLLOUT = "actor_rollout_ref.rollout"
REF = "actor_rollout_ref.ref"
MODEL = "actor_rollout_ref.model"

ADVANTAGE_NAMES = {
    "gae": "gae",
    "grpo": "grpo",
    "reinforce_pp": "reinforce_plus_plus",
    "reinforce_pp_baseline": "reinforce_plus_plus_baseline",
    "rloo": "rloo",
    "remax": "remax",
}
"""Project estimator key -> verl ``algorithm.adv_estimator`` (the oracle tests check each pair's formulas)."""

CHAT_TEMPLATE = (
    "{% if bos_token %}{{ bos_token }}{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}"
)
"""The chat template verl applies to every prompt: the message text as it is, after the tokenizer's BOS where it
has one. The parquet prompts already hold the study's rendered prompt text (``workflow.train.verl_data``), so verl
trains on exactly the prompt the pipeline samples and scores with (no chat markup added twice)."""


def _ident(v: Any) -> Any:
    return v


def _advantage(name: str) -> str:
    if name not in ADVANTAGE_NAMES:
        raise ConfigError(f"advantage {name!r} has no verl estimator; verl-backed: {sorted(ADVANTAGE_NAMES)}")
    return ADVANTAGE_NAMES[name]


@dataclass(frozen=True)
class Field:
    """How one preset field reaches verl: the keys it sets (each to ``convert(value)``), or why it cannot."""

    keys: tuple[str, ...] = ()
    convert: Callable[[Any], Any] = _ident
    refuse: Callable[[Any], bool] | None = None
    """True for a value verl cannot express."""
    why: str = ""


FIELDS: dict[str, Field] = {
    "advantage": Field(("algorithm.adv_estimator",), _advantage),
    "policy_loss": Field((f"{ACTOR}.policy_loss.loss_mode",)),
    "loss_agg_mode": Field((f"{ACTOR}.loss_agg_mode",)),
    "clip_low": Field((f"{ACTOR}.clip_ratio_low",)),
    "clip_high": Field((f"{ACTOR}.clip_ratio_high",)),
    "clip_c": Field((f"{ACTOR}.clip_ratio_c",)),
    "norm_adv_by_std": Field(("algorithm.norm_adv_by_std_in_grpo",)),
    "adv_eps": Field(refuse=lambda v: v != 1e-6, why="verl's group estimators use a fixed epsilon of 1e-6"),
    "gamma": Field(("algorithm.gamma",)),
    "lam": Field(("algorithm.lam",)),
    "entropy_coef": Field((f"{ACTOR}.entropy_coeff",)),
    "kl_loss_coef": Field((f"{ACTOR}.kl_loss_coef",)),
    "kl_loss_type": Field((f"{ACTOR}.kl_loss_type",)),
    "kl_reward_coef": Field(("algorithm.kl_ctrl.kl_coef",)),
    "kl_reward_type": Field(("algorithm.kl_penalty",)),
    "kl_controller": Field(("algorithm.kl_ctrl.type",)),
    "kl_target": Field(("algorithm.kl_ctrl.target_kl",)),
    "kl_horizon": Field(("algorithm.kl_ctrl.horizon",)),
    # the project's reward function and reward manager (workflow.train.verl_reward) read these
    "reward_correct": Field(("+reward.custom_reward_function.reward_kwargs.reward_correct",)),
    "reward_wrong": Field(("+reward.custom_reward_function.reward_kwargs.reward_wrong",)),
    "overlong_buffer": Field(("+reward.reward_kwargs.overlong_buffer_cfg.len",)),
    "overlong_factor": Field(("+reward.reward_kwargs.overlong_buffer_cfg.penalty_factor",)),
    "group_filter": Field(("algorithm.filter_groups.enable",), lambda v: v == "nonconstant"),
    "max_gen_batches": Field(("algorithm.filter_groups.max_num_gen_batches",)),
    "critic_lr": Field(("critic.optim.lr",)),
    "value_clip": Field(("critic.cliprange_value",)),
    "ptx_coef": Field(refuse=lambda v: v != 0, why="verl's trainer has no pretraining-data (ptx) loss"),
    # reference resets are stages of the launcher (each a fresh verl run: new reference, new optimizer)
    "ref_reset_every": Field(),
    "ref_reset_patience": Field(),
    "reset_optimizer": Field(
        refuse=lambda v: not v, why="a verl stage always starts with a fresh optimizer at a reference reset"
    ),
    "val_every": Field(("trainer.test_freq",), lambda v: v or -1),
    "val_problems": Field(("data.val_max_samples",)),
    "lr": Field((f"{ACTOR}.optim.lr",)),
    "weight_decay": Field((f"{ACTOR}.optim.weight_decay", "critic.optim.weight_decay")),
    "grad_clip": Field((f"{ACTOR}.grad_clip", "critic.grad_clip")),
    "prompts_per_step": Field(("data.train_batch_size",)),
    "group_size": Field((f"{ROLLOUT}.n",)),
    "minibatches": Field(),  # rendered with prompts_per_step below (verl counts mini-batches in prompts)
    "temperature": Field((f"{ROLLOUT}.temperature",)),
    "max_tokens": Field(("data.max_response_length",)),
}
"""Preset field -> verl. ``tests/test_verl_config.py`` checks that every field of AlgorithmConfig has a row."""


_SAFE = re.compile(r"[A-Za-z0-9_./+-]+")
"""Strings Hydra's override grammar reads unquoted; anything else is single-quoted."""


def _value(v: Any) -> str:
    """A Hydra override value: booleans lowercase, floats in full precision, lists in brackets."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    if v is None:
        return "null"
    if isinstance(v, str) and not _SAFE.fullmatch(v):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(v)


def render_algorithm(algo, rl, name: str = "algorithm") -> list[str]:
    """The overrides that carry one resolved preset (``algo``) under the ``rl`` section's engine settings.

    Raises :class:`ConfigError` naming the field for a value verl cannot express."""
    from workflow import algorithms as A

    out: dict[str, Any] = {}
    for field_name, value in algo.__dict__.items():
        row = FIELDS.get(field_name)
        if row is None:
            raise ConfigError(
                f"rl.algorithms.{name}.{field_name}: no verl mapping (workflow.train.verl_render)"
            )
        if row.refuse is not None and row.refuse(value):
            raise ConfigError(
                f"rl.algorithms.{name}.{field_name}={value!r}: cannot run on rl.engine verl ({row.why})"
            )
        try:
            converted = row.convert(value)
        except ConfigError as err:
            raise ConfigError(f"rl.algorithms.{name}.{field_name}: {err}") from None
        for key in row.keys:
            out[key] = converted
    # derived switches: a coefficient > 0 turns its term on (verl has a flag and a coefficient for each)
    out[f"{ACTOR}.use_kl_loss"] = algo.kl_loss_coef > 0
    out["algorithm.use_kl_in_reward"] = algo.kl_reward_coef > 0
    out["+reward.reward_kwargs.overlong_buffer_cfg.enable"] = algo.overlong_buffer > 0
    if algo.overlong_buffer <= 0:  # verl's manager asserts a positive buffer length whenever it reads one
        out["+reward.reward_kwargs.overlong_buffer_cfg.len"] = 1
    out["+reward.reward_kwargs.max_resp_len"] = algo.max_tokens
    # verl's "reward" metric is the canonical pre-KL score, what the builtin filter reads (shaped reward)
    out["algorithm.filter_groups.metric"] = "reward"
    if algo.prompts_per_step % algo.minibatches:
        raise ConfigError(
            f"rl.algorithms.{name}.minibatches={algo.minibatches}: verl needs it to divide prompts_per_step "
            f"({algo.prompts_per_step}; its mini-batches are counted in prompts)"
        )
    out[f"{ACTOR}.ppo_mini_batch_size"] = algo.prompts_per_step // algo.minibatches
    if algo.entropy_coef:
        out[f"{ACTOR}.calculate_entropy"] = True
    # ReMax's greedy baseline is computed only by verl's legacy trainer (the v1 trainer fails without it)
    out["trainer.use_v1"] = "baseline" not in A.ADVANTAGES[algo.advantage].needs
    world = rl.verl.world_size
    rollouts = algo.prompts_per_step * algo.group_size
    if (rollouts // algo.minibatches) % world:
        raise ConfigError(
            f"rl.algorithms.{name}: a mini-batch of {rollouts // algo.minibatches} rollouts does not split over "
            f"{world} devices (rl.verl.nodes x gpus_per_node)"
        )
    return [f"{k}={_value(v)}" for k, v in out.items()]


@dataclass(frozen=True)
class RunPaths:
    """Where one verl run (or stage) reads and writes."""

    model: str
    """HF checkpoint the stage starts from (base model, or the previous stage's merged checkpoint)."""
    train_files: str
    val_files: str
    checkpoints: str
    """verl's ``trainer.default_local_dir`` (its own sharded checkpoints)."""
    config_file: str
    """The study's resolved config (the reward function reads the verification settings from it)."""
    experiment: str
    """Run name: ``<study>-<algo>-s<seed>`` (the builtin trainer's W&B run id)."""
    steps: int
    """``trainer.total_training_steps`` of this stage."""
    save_freq: int
    seed: int


PLACEHOLDER = RunPaths(
    model="<model>",
    train_files="<train.parquet>",
    val_files="<val.parquet>",
    checkpoints="<run>/verl/stage0",
    config_file="<config.resolved.json>",
    experiment="<study>-<algo>-s<seed>",
    steps=0,
    save_freq=0,
    seed=0,
)
"""Paths for printing overrides without a run (``python -m workflow.config``)."""


def merge_overrides(*lists: list[str]) -> list[str]:
    """Concatenate override lists where a later setting of the same key replaces an earlier one in place (Hydra
    refuses ``+key`` for a key already set and applies repeats in order: one setting per key is unambiguous)."""
    out: dict[str, str] = {}
    for ovs in lists:
        for o in ovs:
            key = o.split("=", 1)[0]
            bare = key.lstrip("+~")
            existing = next((k for k in out if k.lstrip("+~") == bare), None)
            if existing is not None and existing != key:
                del out[existing]
            out[key] = o
    return list(out.values())


def reward_file() -> str:
    """The file verl loads the reward function and reward manager from (its hooks import by path)."""
    return str(Path(__file__).with_name("verl_reward.py").resolve())


def save_freq(rl) -> int:
    """verl saves every ``save_freq`` steps and at the last: the gcd of the evaluated steps and ``state_every``
    gives every evaluated checkpoint and resumable states at least as often as the builtin's ``state.pt``."""
    return math.gcd(*rl.save_steps, rl.state_every)


def render_run(
    algo, rl, paths: RunPaths, name: str = "algorithm", project: str = "rlvr-boundary"
) -> list[str]:
    """Every override of one verl run: the preset's, the engine's (``rl.verl``) and the run's paths."""
    v = rl.verl
    micro = v.micro_batch_per_gpu
    out: dict[str, Any] = {
        "data.train_files": paths.train_files,
        "data.val_files": paths.val_files,
        "data.max_prompt_length": v.max_prompt_length,
        "data.seed": paths.seed,
        "data.shuffle": True,
        "data.filter_overlong_prompts": False,
        "data.truncation": "error",
        "data.dataloader_num_workers": 0,
        f"{MODEL}.path": paths.model,
        f"{MODEL}.custom_chat_template": CHAT_TEMPLATE,
        f"{MODEL}.enable_gradient_checkpointing": v.gradient_checkpointing,
        f"{ACTOR}.strategy": v.strategy,
        "critic.strategy": v.strategy,
        f"{ACTOR}.ppo_micro_batch_size_per_gpu": micro,
        f"{ACTOR}.fsdp_config.param_offload": v.param_offload,
        f"{ACTOR}.fsdp_config.optimizer_offload": v.param_offload,
        f"{ACTOR}.checkpoint.save_contents": ["model", "optimizer", "extra"],
        f"{ACTOR}.data_loader_seed": paths.seed,
        f"{REF}.log_prob_micro_batch_size_per_gpu": micro,
        f"{ROLLOUT}.name": v.rollout,
        f"{ROLLOUT}.log_prob_micro_batch_size_per_gpu": micro,
        f"{ROLLOUT}.tensor_model_parallel_size": v.tensor_parallel,
        f"{ROLLOUT}.gpu_memory_utilization": v.gpu_memory_utilization,
        f"{ROLLOUT}.seed": paths.seed,
        "critic.ppo_micro_batch_size_per_gpu": micro,
        "critic.model.path": paths.model,
        "critic.model.enable_gradient_checkpointing": v.gradient_checkpointing,
        "critic.fsdp.param_offload": v.param_offload,
        "critic.fsdp.optimizer_offload": v.param_offload,
        "reward.custom_reward_function.path": reward_file(),
        "reward.custom_reward_function.name": "compute_score",
        "+reward.custom_reward_function.reward_kwargs.config": paths.config_file,
        "reward.reward_manager.source": "importlib",
        "reward.reward_manager.name": "ProjectRewardManager",
        "reward.reward_manager.module.path": reward_file(),
        "trainer.total_training_steps": paths.steps,
        "trainer.total_epochs": 100000,  # steps decide the end; epochs over the train split repeat as needed
        "trainer.save_freq": paths.save_freq,
        "trainer.resume_mode": "auto",
        "trainer.default_local_dir": paths.checkpoints,
        "trainer.val_before_train": False,
        "trainer.logger": ["console", "file"],
        "trainer.project_name": project,
        "trainer.experiment_name": paths.experiment,
        "trainer.nnodes": v.nodes,
        "trainer.n_gpus_per_node": v.gpus_per_node,
        "trainer.device": v.device,
        "ray_kwargs.ray_init.num_cpus": v.cpus_per_node * v.nodes,
    }
    rendered = render_algorithm(algo, rl, name)
    return [f"{k}={_value(val)}" for k, val in out.items()] + rendered + list(v.extra)
