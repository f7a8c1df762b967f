"""Experiment tracking: a thin wrapper over W&B with a null object of the same methods.

Consumes: the study's ``wandb`` config section and ``WANDB_MODE`` / ``WANDB_API_KEY`` from the environment.
Produces: W&B runs under ``results/<study>/wandb/`` (offline mode when no API key is configured), grouped by
study and named by a run id derived from config keys. Outputs of the pipeline never depend on tracking.
Tests use ``WANDB_MODE=disabled`` (the null tracker) or :class:`MemoryTracker`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from workflow.config import WandbConfig


class Tracker(Protocol):
    def log(self, metrics: dict[str, Any], step: int | None = None) -> None: ...
    def log_table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None: ...
    def log_image(self, key: str, path: str | Path, caption: str = "") -> None: ...
    def summary(self, values: dict[str, Any]) -> None: ...
    def finish(self) -> None: ...


class NullTracker:
    """Does nothing; stands in when tracking is disabled, so callers never branch on it."""

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        pass

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        pass

    def log_image(self, key: str, path: str | Path, caption: str = "") -> None:
        pass

    def summary(self, values: dict[str, Any]) -> None:
        pass

    def finish(self) -> None:
        pass


class MemoryTracker(NullTracker):
    """Keeps everything in memory (for tests)."""

    def __init__(self) -> None:
        self.history: list[tuple[int | None, dict[str, Any]]] = []
        self.tables: dict[str, tuple[list[str], list[list[Any]]]] = {}
        self.images: dict[str, str] = {}
        self.summaries: dict[str, Any] = {}

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        self.history.append((step, dict(metrics)))

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.tables[key] = (columns, rows)

    def log_image(self, key: str, path: str | Path, caption: str = "") -> None:
        self.images[key] = str(path)

    def summary(self, values: dict[str, Any]) -> None:
        self.summaries.update(values)


class WandbTracker:
    def __init__(self, run: Any) -> None:
        self.run = run

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        self.run.log(metrics, step=step)

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        import wandb

        self.run.log({key: wandb.Table(columns=columns, data=rows)})

    def log_image(self, key: str, path: str | Path, caption: str = "") -> None:
        import wandb

        self.run.log({key: wandb.Image(str(path), caption=caption)})

    def summary(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            self.run.summary[k] = v

    def finish(self) -> None:
        self.run.finish()


def resolve_mode(cfg: WandbConfig) -> str:
    """WANDB_MODE wins; ``auto`` means online when an API key is configured, offline otherwise."""
    env = os.environ.get("WANDB_MODE")
    if env:
        return {"dryrun": "offline", "run": "online"}.get(env, env)
    if cfg.mode != "auto":
        return cfg.mode
    has_key = (
        bool(os.environ.get("WANDB_API_KEY"))
        or (Path.home() / ".netrc").exists()
        and "api.wandb.ai" in (Path.home() / ".netrc").read_text(errors="ignore")
    )
    return "online" if has_key else "offline"


def start(
    cfg: WandbConfig,
    *,
    study: str,
    run_id: str,
    job_type: str,
    out_dir: str | Path,
    config: dict[str, Any] | None = None,
    group: str | None = None,
) -> Tracker:
    """Open a tracker: W&B in the resolved mode, or the null tracker when disabled."""
    mode = resolve_mode(cfg)
    if mode == "disabled":
        return NullTracker()
    import wandb

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(
        project=cfg.project,
        entity=cfg.entity,
        mode=mode,
        dir=str(out_dir),
        group=group or study,
        job_type=job_type,
        name=run_id,
        id=run_id,
        resume="allow",
        config=dict(config or {}, slurm_job_id=os.environ.get("SLURM_JOB_ID")),
        settings=wandb.Settings(console="off", x_disable_stats=True),
    )
    return WandbTracker(run)
