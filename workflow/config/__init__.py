"""Typed, validated study configuration: the only home of defaults.

Consumes: a YAML file (``config/config.yaml`` or a study config) or the dict Snakemake loaded from it.
Produces: a frozen :class:`Config` tree. Unknown keys, wrong types and inconsistent values raise
:class:`ConfigError` naming the key and the fix, so a bad config fails when Snakemake builds the DAG,
before any job runs.

Layout: the top-level sections and :class:`Config` here; ``rl`` (algorithm presets, the training loop) in
``workflow.config.rl``; sampling, verification and the evaluation-study sections (models, benchmarks,
comparisons, templates) in ``workflow.config.evaluation``; the builder that validates plain dicts in
``workflow.config.fields``. Every name is importable from ``workflow.config``.

Run ``python -m workflow.config config/config.yaml`` to print the resolved configuration (each algorithm as
trained under ``rl.resolved``; with ``rl.engine: verl`` also each algorithm's verl overrides under
``rl.verl_overrides``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflow.config.evaluation import (
    ROLES,
    BenchmarkSpec,
    ComparisonSpec,
    ModelSpec,
    SamplingConfig,
    TemplateSpec,
    VerificationConfig,
)
from workflow.config.fields import ConfigError, _build, _plain, _positive
from workflow.config.rl import PRESETS, AlgorithmConfig, RLConfig

__all__ = [
    "PRESETS",
    "ROLES",
    "AlgorithmConfig",
    "AnalysisConfig",
    "BenchmarkSpec",
    "ComparisonSpec",
    "Config",
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "ModelSpec",
    "RLConfig",
    "SamplingConfig",
    "TemplateSpec",
    "VerificationConfig",
    "WandbConfig",
    "from_dict",
    "load_config",
    "main",
]


@dataclass(frozen=True)
class DataConfig:
    """The problems a training study trains and is evaluated on: procedurally generated Countdown-3 problems
    (``workflow/tasks/countdown.py``), or a benchmark of ``benchmarks`` split by the pipeline (``task:
    benchmark``, e.g. Omni-MATH-Rule for Yue et al. Sec. 4.3)."""

    task: str = "countdown"
    """``countdown`` (the embedded toy task) or ``benchmark`` (problems of ``data.benchmark``, split with the run
    seed into ``num_train`` train and ``num_test`` test problems; validation is the first ``num_val`` test
    problems, used only to monitor training and time reference resets)."""
    benchmark: str | None = None
    """``task: benchmark``: the ``benchmarks`` key whose problems are split."""
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
        if self.task not in ("countdown", "benchmark"):
            raise ConfigError(f"data.task: unknown task {self.task!r}; valid: ['benchmark', 'countdown']")
        if (self.task == "benchmark") != (self.benchmark is not None):
            raise ConfigError("data.benchmark: set it (a benchmarks key) exactly when data.task is benchmark")
        _positive(self, "max_number", "max_value", "num_train", "num_val", "num_test")
        if self.task == "benchmark" and self.num_val > self.num_test:
            raise ConfigError("data.num_val: validation is drawn from the test split, so num_val <= num_test")
        if self.min_solutions < 2:
            raise ConfigError("data.min_solutions: must be >= 2 so every problem has several solution paths")
        if (
            list(self.difficulty_bins) != sorted(set(self.difficulty_bins))
            or self.difficulty_bins[0] != self.min_solutions
        ):
            raise ConfigError("data.difficulty_bins: must be increasing and start at data.min_solutions")


@dataclass(frozen=True)
class ModelConfig:
    """The base model: the tiny decoder-only Llama the study pretrains (the embedded default), or an existing
    checkpoint (``path``), which is not pretrained."""

    path: str | None = None
    """An existing base checkpoint (hub id or local directory), e.g. ``Qwen/Qwen2.5-7B``: no pretraining; the
    fields below but ``template`` are then unused."""
    template: str = "plain"
    """Prompt template of the base model and its RL checkpoints (a built-in or ``templates`` key), for training
    prompts and sampling alike."""

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
class AnalysisConfig:
    """pass@k estimation."""

    bootstrap: int = 1000
    """Bootstrap resamples over problems for confidence intervals."""
    ci: float = 0.95
    """Confidence level of the intervals."""
    fdr: float = 0.05
    """False discovery rate of the per-problem tests (Benjamini-Hochberg over a panel's problems)."""
    power: float = 0.8
    """Detection probability the sample-size estimates aim for."""
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
        for name in ("ci", "fdr", "power"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"analysis.{name} must be in (0, 1), got {getattr(self, name)!r}")


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
        if self.models or self.comparisons:
            self._check_evaluation()
        else:
            self._check_training()
        self._check_benchmarks()

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
        if not self.evaluation:
            used[self.model.template] = self.template(self.model.template)
        return dataclasses.replace(self, templates={**used, **self.templates})

    def _check_training(self) -> None:
        """A training study: its data, base model, template and sampled datasets fit together."""
        try:
            self.template(self.model.template)
        except ConfigError as err:
            raise ConfigError(f"model.template: {err}") from None
        for key in self.benchmarks:
            if not key or any(c in key for c in "/ {}_") or key in ("base", "train", "val", "test"):
                raise ConfigError(
                    f"benchmarks.{key}: names must be without '/', '_', spaces or braces, not a split"
                )
        if self.data.task == "benchmark":
            if self.data.benchmark not in self.benchmarks:
                raise ConfigError(
                    f"data.benchmark: {self.data.benchmark!r} is not in benchmarks; valid: {sorted(self.benchmarks)}"
                )
            if self.model.path is None:
                raise ConfigError("data.task benchmark trains an existing model: set model.path")
            if self.rl.engine != "verl":
                raise ConfigError(
                    "data.task benchmark: the builtin trainer trains the countdown task only; use rl.engine: verl"
                )
        for d in self.sampling.datasets:
            if d not in ("train", "val", "test") and d not in self.benchmarks:
                raise ConfigError(
                    f"sampling.datasets: {d!r} is neither a split (train, val, test) nor in benchmarks "
                    f"({sorted(self.benchmarks)})"
                )

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

    def _check_benchmarks(self) -> None:
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

    def stable_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` without the fields of ``_ADDED_LATER`` that hold their default, as before they
        existed: what every fingerprint of settings hashes."""
        d = self.to_dict()
        for (section, key), default in _ADDED_LATER.items():
            if d.get(section, {}).get(key, default) == default:
                d.get(section, {}).pop(key, None)
        return d

    def fingerprint(self, *sections: str) -> str:
        """Short stable hash of the given sections (all if none): the part of a run id that changes
        when the settings that produced a result change."""
        d = self.stable_dict()
        picked = {s: d[s] for s in sections} if sections else d
        return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()[:8]


_ADDED_LATER: dict[tuple[str, str], Any] = {
    ("data", "benchmark"): None,
    ("model", "path"): None,
    ("model", "template"): "plain",
    ("verification", "code_disk_mb"): 32,
    ("analysis", "fdr"): 0.05,
    ("sampling", "enforce_eager"): False,
    ("sampling", "cpu_kv_cache_gb"): 4.0,
    ("sampling", "engine_args"): {},
    ("analysis", "power"): 0.8,
    ("verification", "allow_weak_sandbox"): False,
    ("verification", "policy"): "strict",
}
"""Fields added after studies had results: a fingerprint leaves them out while they hold their default, so
upgrading the code does not rerun finished stages whose settings did not change."""


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
        if (
            cfg.rl.engine == "verl"
        ):  # the Hydra overrides each algorithm's verl run gets (paths as placeholders)
            from workflow.train.verl_render import PLACEHOLDER, render_run

            out["rl"]["verl_overrides"] = {
                a: render_run(cfg.rl.algorithm(a), cfg.rl, PLACEHOLDER, a, cfg.wandb.project)
                for a in cfg.rl.algorithms
            }
    print(yaml.safe_dump(out, sort_keys=False))
