"""Analysis: per-problem counts and pass@k curves with bootstrap confidence intervals.

Consumes: verified sample shards ``results/<study>/verified/<model>/<dataset>/shard*.jsonl`` for every model
of a panel (a split of a training study, or a (comparison, benchmark) pair of an evaluation study).
Produces in ``results/<study>/tables/``:
- ``counts_<panel>.csv``: model, algo, seed, step, dataset, problem_id, difficulty, n, c
- ``passk_<panel>.csv``: model, algo, seed, step, dataset, k, value, ci_low, ci_high (tidy, one row per k)
The comparisons against the base model (crossing k*, coverage, verdict) are ``workflow.boundary``'s, from the
counts table.

pass@k is the unbiased estimator of Chen et al. (arXiv 2107.03374) in its numerically stable product form
(human-eval): 1 - prod_{i=n-c+1}^{n} (1 - k / i), and 1 when n - c < k; k = 1, 2, 4, ... up to n (and n).
CIs are percentile bootstrap intervals over problems (problems resampled with replacement).

Run: ``python -m workflow.analyze --config C --dataset test [--panel NAME] --data test.jsonl
--verified MODEL=shard0.jsonl MODEL=shard1.jsonl ... --out DIR``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.config import Config, load_config
from workflow.io import atomic_path, derive_seed, paths_by_model, read_jsonl
from workflow.logs import stage

MODEL_RE = re.compile(r"^(?P<algo>.+)-s(?P<seed>\d+)-step(?P<step>\d+)$")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem: 1 - C(n-c, k) / C(n, k), computed stably."""
    if k > n:
        raise ValueError(f"k={k} > n={n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def k_grid(n: int) -> list[int]:
    """1, 2, 4, ... <= n, plus n itself."""
    ks = [1 << i for i in range(n.bit_length()) if 1 << i <= n]
    return ks if ks[-1] == n else ks + [n]


def parse_model(name: str) -> tuple[str, int, int]:
    """``base`` -> (base, 0, 0); ``grpo-s0-step300`` -> (grpo, 0, 300)."""
    if name == "base":
        return "base", 0, 0
    m = MODEL_RE.match(name)
    if not m:
        raise ValueError(f"model name {name!r} is neither 'base' nor '<algo>-s<seed>-step<step>'")
    return m["algo"], int(m["seed"]), int(m["step"])


def model_keys(cfg: Config, name: str) -> tuple[str, int, int]:
    """(algo, seed, step) of a model: parsed from a trained model's name, or, for an evaluation study's
    checkpoint, ("base", 0, 0) for a base model and (its name, 0, 0) for the others."""
    spec = cfg.models.get(name)
    if spec is None:
        return parse_model(name)
    return ("base" if spec.role == "base" else name), 0, 0


def counts_table(
    model: str,
    dataset: str,
    shard_paths: list[Path],
    problems: dict[str, dict],
    keys: tuple[str, int, int] | None = None,
) -> pd.DataFrame:
    """Reduce verified samples to one row per problem: n samples, c correct."""
    rows = [r for p in shard_paths for r in read_jsonl(p)]
    df = pd.DataFrame(rows, columns=["problem_id", "sample_idx", "correct"])
    dup = df.duplicated(["problem_id", "sample_idx"]).sum()
    if dup:
        raise ValueError(f"{model}/{dataset}: {dup} duplicated (problem, sample) rows")
    g = df.groupby("problem_id")["correct"].agg(n="size", c="sum").reset_index()
    algo, seed, step = keys or parse_model(model)
    g["difficulty"] = g["problem_id"].map(lambda i: problems.get(i, {}).get("difficulty", "unknown"))
    g = g.assign(model=model, algo=algo, seed=seed, step=step, dataset=dataset)
    return g[["model", "algo", "seed", "step", "dataset", "problem_id", "difficulty", "n", "c"]]


def passk_table(counts: pd.DataFrame, bootstrap: int, ci: float, seed: int) -> pd.DataFrame:
    """Mean pass@k over problems with a bootstrap CI, for every model in ``counts``."""
    out = []
    for model, g in counts.groupby("model", sort=False):
        n = int(g["n"].min())
        if (g["n"] != n).any():
            raise ValueError(f"{model}: problems have different sample counts {sorted(g['n'].unique())}")
        ks = k_grid(n)
        per = np.array([[pass_at_k(n, int(c), k) for k in ks] for c in g["c"]])  # [P, K]
        rng = np.random.default_rng(derive_seed(seed, "bootstrap", model))
        p = len(per)
        w = rng.multinomial(p, np.full(p, 1.0 / p), size=bootstrap)  # [B, P] resample weights
        boot = w @ per / p  # [B, K]
        lo, hi = np.quantile(boot, [(1 - ci) / 2, 1 - (1 - ci) / 2], axis=0)
        first = g.iloc[0]
        for j, k in enumerate(ks):
            out.append(
                dict(
                    model=model,
                    algo=first["algo"],
                    seed=int(first["seed"]),
                    step=int(first["step"]),
                    dataset=first["dataset"],
                    k=k,
                    value=per[:, j].mean(),
                    ci_low=lo[j],
                    ci_high=hi[j],
                )
            )
    return pd.DataFrame(out)


def run(
    cfg: Config,
    dataset: str,
    data_path: str | Path,
    verified: dict[str, list[Path]],
    out_dir: str | Path,
    panel: str | None = None,
) -> dict:
    """Tables of one panel: ``dataset``'s problems for the models in ``verified`` (files named by
    ``panel``, which defaults to the dataset; evaluation studies use <comparison>_<benchmark>)."""
    out_dir = Path(out_dir)
    panel = panel or dataset
    with stage(f"analyze {panel}") as s:
        problems = {p["id"]: p for p in read_jsonl(data_path)}
        counts = pd.concat(
            [counts_table(m, dataset, paths, problems, model_keys(cfg, m)) for m, paths in verified.items()]
        )
        s.read(*[p for paths in verified.values() for p in paths])
        passk = passk_table(counts, cfg.analysis.bootstrap, cfg.analysis.ci, cfg.seed)
        paths = {
            "counts": out_dir / f"counts_{panel}.csv",
            "passk": out_dir / f"passk_{panel}.csv",
        }
        for key, frame in (("counts", counts), ("passk", passk)):
            with atomic_path(paths[key]) as tmp:
                frame.to_csv(tmp, index=False)
        s.wrote(*paths.values())
    return paths


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--panel", help="name of the output tables (default: the dataset)")
    ap.add_argument("--data", required=True)
    ap.add_argument(
        "--verified", nargs="+", required=True, help="MODEL=shard.jsonl entries (repeat per shard)"
    )
    ap.add_argument("--out", required=True, help="tables directory")
    a = ap.parse_args(argv)
    verified = paths_by_model(a.verified)
    run(load_config(a.config), a.dataset, a.data, verified, a.out, a.panel)


if __name__ == "__main__":
    main()
