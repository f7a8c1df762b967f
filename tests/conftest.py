from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("WANDB_MODE", "disabled")  # tests never talk to W&B unless they ask for it
# Nothing a hub would serve is fetched in tests: models and datasets come from local paths (set here so the
# snakemake subprocesses of the workflow tests inherit it too).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


TINY = {
    "study": "tiny",
    "seed": 0,
    "data": {"max_number": 6, "max_value": 40, "num_train": 300, "num_val": 20, "num_test": 20},
    "model": {
        "n_layer": 1,
        "d_model": 64,
        "n_head": 2,
        "d_ff": 128,
        "steps": 800,
        "batch_size": 64,
        "lr": 3e-3,
        "junk_fraction": 0.3,
    },
    "rl": {
        "algorithms": ["grpo"],
        "seeds": [0],
        "steps": 4,
        "save_steps": [2, 4],
        "state_every": 2,
        "common": {
            "prompts_per_step": 8,
            "group_size": 8,
            "minibatches": 2,
            "lr": 1e-3,
            "weight_decay": 0.0,
            "max_tokens": 16,
        },
        # exercise DAPO's overlong shaping and ProRL's validation-plateau resets within 4 steps
        "overrides": {
            "dapo": {"overlong_buffer": 4},
            "prorl": {"val_every": 1, "ref_reset_patience": 1, "val_problems": 8},
        },
    },
    "sampling": {"n": 16, "shards": 2, "batch_size": 256},
    "analysis": {"bootstrap": 100},
    "wandb": {"mode": "disabled"},
}


@pytest.fixture(scope="session")
def tiny_cfg():
    from workflow.config import from_dict

    return from_dict(TINY)


@pytest.fixture(scope="session")
def tiny_base(tiny_cfg, tmp_path_factory):
    """Data splits and a tiny base model trained by the real stages (about 10 s)."""
    from workflow import data, pretrain

    root = tmp_path_factory.mktemp("tiny")
    paths = data.run(tiny_cfg, root / "data")
    model_dir = pretrain.run(tiny_cfg, paths["train"], root / "base")
    return {"root": root, "model": model_dir, **paths}
