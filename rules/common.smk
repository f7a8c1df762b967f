"""Config validation at DAG-build time, path helpers and input functions shared by every rule."""

import functools
import hashlib
import json
import os
import shlex

from workflow.config import ConfigError, from_dict
from workflow.plot import FIGURES, GRID_FIGURES

try:
    CFG = from_dict(config).with_templates()
except ConfigError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None

STUDY = CFG.study
R = f"results/{STUDY}"
LOGS = f"logs/{STUDY}"
# The resolved configuration (config files and --config overrides, with the built-in templates its models use
# written out) is handed to the stages as one file. The file is deliberately no input of the jobs. Each job
# carries a `settings` param instead, a hash of the config sections its stage reads, so editing one section
# reruns exactly the stages that depend on it (Snakemake's params rerun trigger), and editing tracking settings
# reruns nothing.
CONFIG_FILE = f"{R}/config.resolved.json"
os.makedirs(R, exist_ok=True)
_resolved = json.dumps(CFG.to_dict(), indent=1, sort_keys=True)
if not os.path.exists(CONFIG_FILE) or open(CONFIG_FILE).read() != _resolved:
    with open(CONFIG_FILE, "w") as _f:
        _f.write(_resolved)


ENV = "envs/rlvr.yaml"  # relative to each .smk file
SHARDS = list(range(CFG.sampling.shards))
# Two kinds of study. A training study (the embedded default) trains a base model and RL checkpoints, then
# samples its own splits; its analysis panels are the splits, comparing "base" with every RL checkpoint. An
# evaluation study (config `models`) samples existing checkpoints on benchmarks; its panels are
# <comparison>_<benchmark>, comparing a comparison's base with its other models.
EVAL = CFG.evaluation
if EVAL:
    ALGOS, SEEDS, STEPS = [], [], []
    MODELS = list(CFG.models)
    DATASETS = list(CFG.benchmarks)
    PANELS = {
        f"{c}_{b}": (b, spec.base, list(spec.models))
        for c, spec in CFG.comparisons.items()
        for b in spec.benchmarks
    }
    STUDY_FIGURES = [f for f in FIGURES if f not in ("dynamics", "novelty")]
else:
    ALGOS = list(CFG.rl.algorithms)
    SEEDS = list(CFG.rl.seeds)
    STEPS = list(CFG.rl.save_steps)
    RL_MODELS = [f"{a}-s{s}-step{t}" for a in ALGOS for s in SEEDS for t in STEPS]
    MODELS = ["base"] + RL_MODELS
    DATASETS = list(CFG.sampling.datasets)
    PANELS = {d: (d, "base", RL_MODELS) for d in DATASETS}
    # novelty compares with the base model's own training corpus, which exists only for a pretrained toy base
    STUDY_FIGURES = [f for f in FIGURES if f != "novelty" or CFG.model.path is None]
# a training study pretrains its base model unless model.path names an existing one
PRETRAIN = not EVAL and CFG.model.path is None
# benchmarks loaded by rule prepare_benchmark (an evaluation study's datasets; a training study's extra
# sampling sets and the source of data.task benchmark)
BENCHMARKS = list(CFG.benchmarks)


wildcard_constraints:
    algo="|".join(ALGOS) or "(?!)",  # no algo wildcard in an evaluation study
    seed=r"\d+",
    step=r"\d+",
    shard=r"\d+",
    start=r"\d+",
    dataset="|".join(DATASETS + BENCHMARKS + ["train", "val", "test"]),
    panel="|".join(PANELS),
    model="|".join(MODELS),
    figure="|".join(FIGURES),
    grid="|".join(GRID_FIGURES) or "(?!)",


def cfg_hash(*sections):
    """Fingerprint of the config sections a stage reads (see CONFIG_FILE)."""
    return CFG.fingerprint(*sections)


def train_settings(wildcards):
    """Fingerprint of what one training run reads: data, model, loop settings and its own algorithm."""
    rl = CFG.rl
    run = dict(
        steps=rl.steps,
        save=rl.save_steps,
        state=rl.state_every,
        kl=rl.kl_log_every,
    )
    if (
        rl.engine == "verl"
    ):  # builtin runs keep the fingerprint they had before engines existed
        run.update(engine=rl.engine, verl=CFG.to_dict()["rl"]["verl"])
    algo = CFG.rl.algorithm(wildcards.algo).__dict__
    digest = hashlib.sha256(
        json.dumps([run, algo], sort_keys=True).encode()
    ).hexdigest()[:8]
    return f"{cfg_hash('seed', 'data', 'model')}-{digest}"


# Job resources. Rules declare only portable values (threads, mem_mb, runtime in minutes, gpu); accounts,
# partitions, GPU models and GPU requests for single-device CUDA runs live in the cluster profile
# (config/slurm/config.yaml), which may override any of these with set-resources / set-threads.


def model_gpus(model):
    """GPUs a job with this model requests: its ``sampling.tensor_parallel`` with the vLLM backend or when it
    is split over several devices. The transformers backend on one device requests none, since the embedded
    default samples on CPU; on CUDA it asks for its GPU in the profile (``set-resources: sample: gpu: 1``).
    """
    sc = CFG.sampling_for(model)
    return sc.tensor_parallel if sc.tensor_parallel > 1 or sc.backend == "vllm" else 0


def sample_threads():
    """CPUs of a sampling job: ``threads`` per device, so a tensor-parallel job gets one share per GPU worker
    (the largest tensor-parallel size of any model: threads are the same for every job of a rule).
    """
    return CFG.threads * max(
        [1] + [CFG.sampling_for(m).tensor_parallel for m in CFG.models]
    )


# math and code checkers run `verification.workers` processes; the toy task's checker runs in the job itself
VERIFY_THREADS = CFG.verification.workers if EVAL else 1


def sample_gpus(wildcards):
    return model_gpus(wildcards.model)


def perplexity_gpus(wildcards):
    """The scoring job loads one model at a time: the most GPUs any model of the panel needs."""
    return max(model_gpus(m) for m in panel_models(wildcards.panel))


def train_resources():
    """Resources of one RL training job (the ``train`` rule), by engine.

    builtin: one process on ``threads`` CPUs (or one GPU, requested in the profile). verl: the whole Ray cluster of
    one run, ``rl.verl.nodes`` x ``gpus_per_node`` with ``cpus_per_node`` and ``mem_mb_per_node`` each. Under the
    SLURM profile a multi-node job asks for ``nodes`` nodes, one task per node and ``--gres=gpu:G`` (per node); its
    ``mpi`` resource makes the executor plugin run the rule's command in the batch script itself, where
    ``workflow.train.verl_launch`` starts Ray on every node with ``srun``. Partitions stay in the profile.
    """
    if CFG.rl.engine != "verl":
        return dict(mem_mb=4000, runtime=120, gpu=0)
    v = CFG.rl.verl
    if (
        v.device == "cpu"
    ):  # verl's real trainer on CPU peaks near 5 GB over all Ray processes
        return dict(mem_mb=6000, runtime=v.runtime, gpu=0)
    res = dict(mem_mb=v.mem_mb_per_node, runtime=v.runtime, gpu=v.gpus_per_node)
    if v.nodes > 1:
        # GPUs per node as a GRES (the plugin's `gpu` is a job total); tasks_per_gpu 0 keeps the plugin from
        # reading `tasks` as tasks per GPU
        del res["gpu"]
        res.update(
            nodes=v.nodes,
            tasks=v.nodes,
            mpi="srun",
            gres=f"gpu:{v.gpus_per_node}",
            tasks_per_gpu=0,
        )
    return res


def train_threads():
    """CPUs of a training job: ``threads`` (builtin), every CPU of a node given to Ray (verl on GPUs), or two for
    verl's CPU path (its Ray workers and the rollout server share them)."""
    if CFG.rl.engine != "verl":
        return CFG.threads
    return (
        max(2, CFG.threads)
        if CFG.rl.verl.device == "cpu"
        else CFG.rl.verl.cpus_per_node
    )


def train_inputs(wildcards):
    """The base model and the splits in the engine's format (JSONL for builtin, parquet for verl)."""
    if CFG.rl.engine == "verl":
        splits = dict(
            train=f"{R}/data/verl/train.parquet", val=f"{R}/data/verl/val.parquet"
        )
    else:
        splits = dict(train=f"{R}/data/train.jsonl", val=f"{R}/data/val.jsonl")
    return dict(base=model_input("base"), **splits)


def model_dir_of(model):
    """The checkpoint behind a model name: a directory of this study, or an evaluation model's path."""
    if model in CFG.models:
        return CFG.models[model].path
    if model == "base":
        return CFG.model.path or f"{R}/base/model"
    algo_seed, _, step = model.rpartition("-step")
    return f"{R}/train/{algo_seed}/step{step}"


def model_input(model):
    """The checkpoint as a job input: trained ones and local directories; a hub id is no file."""
    path = model_dir_of(model)
    existing = model in CFG.models or (model == "base" and CFG.model.path)
    local = not existing or os.path.isdir(path) or path.startswith((".", "/"))
    return [path] if local else []


def model_dir(wildcards):
    return model_input(wildcards.model)


def model_path(wildcards):
    return model_dir_of(wildcards.model)


@functools.lru_cache(maxsize=None)
def _sampling_digest(model):
    """Hash of the sampling settings (but n and datasets), the model's spec and its template: computed once
    per model, not once per sample job."""
    sampling = {
        k: v
        for k, v in CFG.stable_dict()["sampling"].items()
        if k not in ("n", "datasets")
    }
    spec = CFG.models.get(model)
    name = spec.template if spec else CFG.model.template
    # a training study's models keep the digest they had before model.template existed while it is plain
    template = CFG.template(name).__dict__ if spec or name != "plain" else None
    extra = [sampling, spec.__dict__ if spec else None, template]
    return hashlib.sha256(
        json.dumps(extra, sort_keys=True, default=list).encode()
    ).hexdigest()[:8]


def sample_settings(wildcards):
    """Fingerprint of what one sample block reads: the block's sample range (raising n adds blocks and
    resamples only a last block whose end moved), the sampling settings, the model's and its template.
    """
    digest = _sampling_digest(wildcards.model)
    n = CFG.samples_per_problem(wildcards.dataset)
    stop = dict(CFG.sampling.blocks(n)).get(int(wildcards.start), n)
    return f"{CFG.seed}-{digest}-to{stop}"


def block_files(wildcards):
    """The sample blocks of one shard (``sampling.block``; one block of all n by default)."""
    n = CFG.samples_per_problem(wildcards.dataset)
    return [
        f"{R}/samples/{wildcards.model}/{wildcards.dataset}/shard{wildcards.shard}/from{lo}.jsonl"
        for lo, _ in CFG.sampling.blocks(n)
    ]


def benchmark_args(wildcards):
    """The command-line arguments of ``workflow.benchmarks`` for one benchmark of the config."""
    b = CFG.benchmarks[wildcards.dataset]
    args = ["--name", b.loader or wildcards.dataset]
    for flag, value in (
        ("--source", b.source),
        ("--split", b.split),
        ("--subset", b.subset),
        ("--revision", b.revision),
        ("--limit", b.limit),
    ):
        if value is not None:
            args += [flag, str(value)]
    for key, value in b.options.items():
        args += [
            "--option",
            f"{key}={value if isinstance(value, str) else json.dumps(value)}",
        ]
    return " ".join(shlex.quote(a) for a in args)


def benchmark_settings(wildcards):
    """Fingerprint of how a benchmark is loaded (not its n: sampling more does not reload it)."""
    spec = dict(CFG.to_dict()["benchmarks"][wildcards.dataset], n=None)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]


def panel_data(wildcards):
    return f"{R}/data/{PANELS[wildcards.panel][0]}.jsonl"


def panel_models(panel):
    _, base, others = PANELS[panel]
    return [base] + others


def verified_shards(panel):
    dataset = PANELS[panel][0]
    return {
        m: [f"{R}/verified/{m}/{dataset}/shard{i}.jsonl" for i in SHARDS]
        for m in panel_models(panel)
    }


def verified_inputs(wildcards):
    return [p for paths in verified_shards(wildcards.panel).values() for p in paths]


def verified_args(wildcards):
    shards = verified_shards(wildcards.panel)
    return " ".join(f"{m}={p}" for m, paths in shards.items() for p in paths)


def panel_dataset(wildcards):
    return PANELS[wildcards.panel][0]


def base_model_input(wildcards):
    return model_input(PANELS[wildcards.panel][1])


def rl_model_inputs(wildcards):
    return [p for m in PANELS[wildcards.panel][2] for p in model_input(m)]


def base_arg(wildcards):
    base = PANELS[wildcards.panel][1]
    return f"{base}={model_dir_of(base)}"


def base_shards(wildcards):
    return verified_shards(wildcards.panel)[PANELS[wildcards.panel][1]]


def perplexity_args(wildcards):
    shards = verified_shards(wildcards.panel)
    return " ".join(
        f"{m}={model_dir_of(m)}={','.join(shards[m])}"
        for m in PANELS[wildcards.panel][2]
    )


def parent_of(key):
    """A params function: the directory of output ``key`` (derived, not hard-coded, as --lint asks)."""

    def fn(wildcards, output):
        return os.path.dirname(output[key])

    return fn


def figure_table(wildcards):
    """The table a figure draws from (``workflow.plot.FIGURES``)."""
    return f"{R}/tables/{FIGURES[wildcards.figure][0]}_{wildcards.panel}.csv"


# Study-wide grid figures (workflow.plot.GRID_FIGURES) when there is more than one panel to put side by side.
GRIDS = list(GRID_FIGURES) if len(PANELS) > 1 else []


def grid_tables(wildcards):
    """The per-panel tables a grid stacks, in panel order."""
    table = GRID_FIGURES[wildcards.grid][0]
    return [f"{R}/tables/{table}_{p}.csv" for p in PANELS]


def grid_args(wildcards, input):
    return " ".join(f"{p}={path}" for p, path in zip(PANELS, input.tables))


def all_figures():
    return expand(
        f"{R}/figures/{{figure}}_{{panel}}.{{ext}}",
        figure=STUDY_FIGURES,
        panel=list(PANELS),
        ext=["png", "pdf"],
    ) + expand(f"{R}/figures/{{grid}}.{{ext}}", grid=GRIDS, ext=["png", "pdf"])


def final_outputs():
    return all_figures() + expand(
        f"{R}/tables/verdict_{{panel}}.md", panel=list(PANELS)
    )


def print_summaries():
    for panel in PANELS:
        path = f"{R}/tables/verdict_{panel}.md"
        if os.path.exists(path):
            print(open(path).read())
