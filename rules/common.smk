"""Config validation at DAG-build time, path helpers and input functions shared by every rule."""

import hashlib
import json
import os

from workflow.config import ConfigError, from_dict
from workflow.plot import FIGURES

try:
    CFG = from_dict(config)
except ConfigError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None

STUDY = CFG.study
R = f"results/{STUDY}"
LOGS = f"logs/{STUDY}"
# The resolved configuration (config files and --config overrides) is handed to every stage as one file. The
# file is deliberately no input of the jobs. Each job carries a `settings` param instead, a hash of the config
# sections its stage reads, so editing one section reruns exactly the stages that depend on it (Snakemake's
# params rerun trigger), and editing tracking settings reruns nothing.
CONFIG_FILE = f"{R}/config.resolved.json"
os.makedirs(R, exist_ok=True)
_resolved = json.dumps(CFG.to_dict(), indent=1, sort_keys=True)
if not os.path.exists(CONFIG_FILE) or open(CONFIG_FILE).read() != _resolved:
    with open(CONFIG_FILE, "w") as _f:
        _f.write(_resolved)


ALGOS = list(CFG.rl.algorithms)
SEEDS = list(CFG.rl.seeds)
STEPS = list(CFG.rl.save_steps)
RL_MODELS = [f"{a}-s{s}-step{t}" for a in ALGOS for s in SEEDS for t in STEPS]
MODELS = ["base"] + RL_MODELS
ENV = "envs/rlvr.yaml"  # relative to each .smk file
DATASETS = list(CFG.sampling.datasets)
SHARDS = list(range(CFG.sampling.shards))


wildcard_constraints:
    algo="|".join(ALGOS),
    seed=r"\d+",
    step=r"\d+",
    shard=r"\d+",
    dataset="|".join(DATASETS + ["train", "val", "test"]),
    model="|".join(MODELS),
    figure="|".join(FIGURES),


def cfg_hash(*sections):
    """Fingerprint of the config sections a stage reads (see CONFIG_FILE)."""
    return CFG.fingerprint(*sections)


def train_settings(wildcards):
    """Fingerprint of what one training run reads: data, model, loop settings and its own algorithm."""
    rl = CFG.rl
    run = dict(
        steps=rl.steps, save=rl.save_steps, state=rl.state_every, kl=rl.kl_log_every
    )
    algo = CFG.rl.algorithm(wildcards.algo).__dict__
    digest = hashlib.sha256(
        json.dumps([run, algo], sort_keys=True).encode()
    ).hexdigest()[:8]
    return f"{cfg_hash('seed', 'data', 'model')}-{digest}"


def model_dir_of(model):
    """The checkpoint directory behind a model name."""
    if model == "base":
        return f"{R}/base/model"
    algo_seed, _, step = model.rpartition("-step")
    return f"{R}/train/{algo_seed}/step{step}"


def model_dir(wildcards):
    return model_dir_of(wildcards.model)


def base_shards(wildcards):
    return verified_shards(wildcards.dataset)["base"]


def perplexity_args(wildcards):
    shards = verified_shards(wildcards.dataset)
    return " ".join(f"{m}={model_dir_of(m)}={','.join(shards[m])}" for m in RL_MODELS)


def verified_shards(dataset):
    return {
        m: [f"{R}/verified/{m}/{dataset}/shard{i}.jsonl" for i in SHARDS]
        for m in MODELS
    }


def verified_inputs(wildcards):
    return [p for paths in verified_shards(wildcards.dataset).values() for p in paths]


def parent_of(key):
    """A params function: the directory of output ``key`` (derived, not hard-coded, as --lint asks)."""

    def fn(wildcards, output):
        return os.path.dirname(output[key])

    return fn


def verified_args(wildcards):
    shards = verified_shards(wildcards.dataset)
    return " ".join(f"{m}={p}" for m, paths in shards.items() for p in paths)


def figure_table(wildcards):
    """The table a figure draws from (``workflow.plot.FIGURES``)."""
    return f"{R}/tables/{FIGURES[wildcards.figure][0]}_{wildcards.dataset}.csv"


def all_figures():
    return expand(
        f"{R}/figures/{{figure}}_{{dataset}}.{{ext}}",
        figure=list(FIGURES),
        dataset=DATASETS,
        ext=["png", "pdf"],
    )


def final_outputs():
    return (
        all_figures()
        + expand(f"{R}/tables/summary_{{dataset}}.md", dataset=DATASETS)
        + expand(f"{R}/tables/verdict_{{dataset}}.md", dataset=DATASETS)
    )


def print_summaries():
    for d in DATASETS:
        for name in ("summary", "verdict"):
            path = f"{R}/tables/{name}_{d}.md"
            if os.path.exists(path):
                print(open(path).read())
