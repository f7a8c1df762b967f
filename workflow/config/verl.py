"""The ``rl.verl`` section: how the verl engine (``rl.engine: verl``) runs on the study's machines.

Algorithm settings are not here: they come from the presets (``workflow.config.rl``) and are rendered into verl's
Hydra overrides by ``workflow.train.verl_render``. This section holds what the presets cannot know: the cluster
shape, the rollout engine, memory-related batch splits and sequence lengths of the prompts.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflow.config.fields import ConfigError, _positive

ROLLOUTS = ("vllm", "sglang", "hf")
"""verl rollout servers: vLLM and SGLang (verl's own, GPU) and ``hf`` (``workflow.train.verl_cpu``: transformers
``generate``, the CPU stand-in for tests and CPU machines)."""


@dataclass(frozen=True)
class VerlConfig:
    """verl 0.9.1 on Ray: one Snakemake job per (algorithm, seed) holds ``nodes`` nodes of ``gpus_per_node``."""

    device: str = "cuda"
    """``cuda`` (GPU nodes) or ``cpu`` (verl's real trainer on CPU through the stand-ins of
    ``workflow.train.verl_cpu``; tests and small studies)."""
    rollout: str = "vllm"
    """Rollout server: ``vllm`` | ``sglang`` on GPUs, ``hf`` on CPU."""
    nodes: int = 1
    """Nodes of one training job (``trainer.nnodes``); above 1 the job runs under SLURM with one Ray node each."""
    gpus_per_node: int = 8
    """GPUs per node (``trainer.n_gpus_per_node``); on CPU the number of logical devices (1)."""
    cpus_per_node: int = 32
    """CPUs per node given to Ray (a fixed ``num_cpus``, as verl advises under SLURM) and requested from SLURM."""
    mem_mb_per_node: int = 480000
    """Memory per node requested from the scheduler (MB)."""
    runtime: int = 2880
    """Wall-clock limit of one training job (minutes)."""
    tensor_parallel: int = 1
    """Rollout tensor-parallel size (``rollout.tensor_model_parallel_size``); divides ``gpus_per_node``."""
    gpu_memory_utilization: float = 0.6
    """Share of GPU memory the rollout server may take (vLLM / SGLang)."""
    micro_batch_per_gpu: int = 4
    """Sequences per forward/backward micro-batch per GPU (actor, critic, log-prob passes)."""
    max_prompt_length: int = 1024
    """Longest prompt in tokens (``data.max_prompt_length``); longer prompts fail the job (verl ``truncation:
    error``)."""
    strategy: str = "fsdp2"
    """Training backend of actor, reference and critic: ``fsdp`` | ``fsdp2`` (verl's FSDP engines; the CPU path
    needs ``fsdp2``)."""
    param_offload: bool = False
    """Offload actor/critic parameters to CPU between phases (large models on small GPUs)."""
    gradient_checkpointing: bool = True
    """Activation checkpointing in the actor and critic."""
    extra: tuple[str, ...] = ()
    """Hydra overrides appended verbatim after the rendered ones (an escape hatch; validated like the rest)."""

    def __post_init__(self) -> None:
        _positive(
            self,
            "nodes",
            "gpus_per_node",
            "cpus_per_node",
            "mem_mb_per_node",
            "runtime",
            "tensor_parallel",
            "micro_batch_per_gpu",
            "max_prompt_length",
        )
        if self.device not in ("cuda", "cpu"):
            raise ConfigError(f"rl.verl.device: unknown {self.device!r}; valid: ['cpu', 'cuda']")
        if self.rollout not in ROLLOUTS:
            raise ConfigError(f"rl.verl.rollout: unknown {self.rollout!r}; valid: {sorted(ROLLOUTS)}")
        if (self.device == "cpu") != (self.rollout == "hf"):
            raise ConfigError(
                "rl.verl: the `hf` rollout is the CPU stand-in and the only rollout on CPU: set device: cpu with "
                "rollout: hf, or device: cuda with rollout: vllm | sglang"
            )
        if self.device == "cpu" and (self.nodes != 1 or self.gpus_per_node != 1):
            raise ConfigError(
                "rl.verl: device cpu runs on one node with one logical device (nodes: 1, gpus_per_node: 1)"
            )
        if self.strategy not in ("fsdp", "fsdp2"):
            raise ConfigError(f"rl.verl.strategy: unknown {self.strategy!r}; valid: ['fsdp', 'fsdp2']")
        if self.device == "cpu" and self.strategy != "fsdp2":
            raise ConfigError("rl.verl.strategy: the CPU path needs fsdp2")
        if self.gpus_per_node % self.tensor_parallel:
            raise ConfigError("rl.verl.tensor_parallel must divide rl.verl.gpus_per_node")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ConfigError("rl.verl.gpu_memory_utilization must be in (0, 1]")
        for o in self.extra:
            if not isinstance(o, str) or "=" not in o:
                raise ConfigError(f"rl.verl.extra: each entry is a Hydra override `key=value`, got {o!r}")

    @property
    def world_size(self) -> int:
        return self.nodes * self.gpus_per_node
