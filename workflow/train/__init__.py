"""RL training behind the one ``train`` stage: one algorithm preset and one seed per job, on one of two engines.

- ``builtin`` (``workflow.train.builtin``): the project's own single-process trainer, the embedded default.
- ``verl`` (``workflow.train.verl_launch``): verl 0.9.1's distributed trainer (Ray, FSDP, vLLM rollouts), for
  GPU clusters. ``workflow.train.verl_render`` turns a preset into verl's Hydra overrides,
  ``workflow.train.verl_reward`` is the reward verl calls (the project's own verifiers) and
  ``workflow.train.verl_cpu`` holds the CPU stand-ins for verl's GPU-only parts (tests and CPU machines).

Both engines read the same presets (``workflow.config.rl``) and write the same layout: HF checkpoints at
``results/<study>/train/<algo>-s<seed>/step<N>`` (``workflow.train.checkpoints``), metrics to W&B under the run
id ``<study>-<algo>-s<seed>`` in the group ``<study>-train``.

Run: ``python -m workflow.train --config C --algo grpo --seed 0 --base DIR --data TRAIN --val VAL --out DIR``
(TRAIN / VAL: ``train.jsonl`` / ``val.jsonl`` for builtin, the parquet files of ``workflow.train.verl_data`` for
verl).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

ENGINES: dict[str, str] = {"builtin": "workflow.train.builtin", "verl": "workflow.train.verl_launch"}
"""``rl.engine`` -> the module whose ``run(cfg, algo_name, seed, base_dir, data_path, out_dir, val_path,
tracker=None)`` trains one run and returns its checkpoint directories."""


def engine_run(name: str) -> Callable:
    """The ``run`` function of an engine (imported on demand: verl is an optional extra)."""
    return importlib.import_module(ENGINES[name]).run


def run_id(study: str, algo_name: str, seed: int) -> str:
    """The W&B run id of one training run, whatever the engine: ``<study>-<algo>-s<seed>``."""
    return f"{study}-{algo_name}-s{seed}"


def start_tracker(cfg, algo_name: str, seed: int, out_dir: str | Path, engine: str):
    """The training run's tracker, named and grouped the same for both engines (group ``<study>-train``; offline
    runs under ``results/<study>/wandb``)."""
    from workflow import tracking

    algo = cfg.rl.algorithm(algo_name)
    return tracking.start(
        cfg.wandb,
        study=cfg.study,
        run_id=run_id(cfg.study, algo_name, seed),
        job_type="train",
        out_dir=Path(out_dir).parent.parent / "wandb",
        group=f"{cfg.study}-train",
        config=dict(
            cfg.to_dict(), algorithm=algo_name, algorithm_config=algo.__dict__, seed=seed, engine=engine
        ),
    )
