"""The study's train / validation splits in verl's parquet schema.

Consumes: problem JSONL files (``results/<study>/data/{train,val}.jsonl``). Produces
``results/<study>/data/verl/{train,val}.parquet``, one row per problem:
- ``data_source``: the problem's kind (``countdown``, ``math``, ``code``, ``gym``), which picks its checker;
- ``prompt``: ``[{"role": "user", "content": <the prompt text the pipeline samples with>}]``: the study's
  ``model.template`` rendered on the problem, plus the template's prefill (the model continues after it, as in
  sampling); verl applies the pass-through chat template of ``workflow.train.verl_render.CHAT_TEMPLATE`` to it, so
  the tokens verl trains on are the tokens the sampling stage evaluates;
- ``ability``, ``reward_model`` (``{"style": "rule", "ground_truth": ...}``) and ``extra_info`` (``split``,
  ``index``, ``id`` and ``problem``: the whole problem as JSON, which the reward function
  ``workflow.train.verl_reward.compute_score`` checks against; the model never sees it).

Run: ``python -m workflow.train.verl_data --config C --train train.jsonl --val val.jsonl --out DIR``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workflow.config import Config, TemplateSpec, load_config
from workflow.io import atomic_path, read_jsonl
from workflow.logs import stage
from workflow.sample import question
from workflow.templates import render


def prompt_text(problem: dict, template: TemplateSpec) -> str:
    """The text the model is prompted with, exactly as ``workflow.sample`` builds it (prompt, then prefill)."""
    return render(template, question(problem)) + template.prefill


def ground_truth(problem: dict) -> str:
    """A readable reference for verl's logs (the checker reads the whole problem from ``extra_info``)."""
    for key in ("answer", "target"):
        if problem.get(key) is not None:
            return str(problem[key])
    return ""


def to_rows(problems: list[dict], split: str, template: TemplateSpec) -> list[dict]:
    rows = []
    for i, p in enumerate(problems):
        kind = p.get("kind", "countdown")
        rows.append(
            {
                "data_source": kind,
                "prompt": [{"role": "user", "content": prompt_text(p, template)}],
                "ability": kind,
                "reward_model": {"style": "rule", "ground_truth": ground_truth(p)},
                "extra_info": {"split": split, "index": i, "id": p["id"], "problem": json.dumps(p)},
            }
        )
    return rows


def write_parquet(rows: list[dict], path: str | Path) -> Path:
    import pandas as pd

    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_parquet(tmp, index=False)
    return Path(path)


def run(cfg: Config, splits: dict[str, str | Path], out_dir: str | Path) -> dict[str, Path]:
    """Write ``<out_dir>/<split>.parquet`` for each ``split -> jsonl`` given, prompts in ``model.template``."""
    template = cfg.template(cfg.model.template)
    out: dict[str, Path] = {}
    with stage("verl data") as s:
        for split, path in splits.items():
            rows = to_rows(read_jsonl(path), split, template)
            out[split] = write_parquet(rows, Path(out_dir) / f"{split}.parquet")
        s.read(*splits.values())
        s.wrote(*out.values())
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    run(load_config(a.config), {"train": a.train, "val": a.val}, a.out)


if __name__ == "__main__":
    main()
