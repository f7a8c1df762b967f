"""Seeds as an axis: every RL configuration (algorithm, checkpoint step) aggregated over its seeds.

Consumes: a counts table (model, algo, seed, step, dataset, problem_id, difficulty, n, c) and the per-model
verdict rows of :func:`workflow.boundary.verdicts`. Produces ``seeds_<panel>.csv``, one row per
(algo, step): the seeds, pass@1 and pass@n as the mean over seeds with a hierarchical-bootstrap interval
(seeds, then problems; workflow/stats.py) and the seed-to-seed standard deviation, k* of the seed-mean pass@k
curve against the base's with its interval over seeds and problems, and each seed's k* and observed and
tested RL-only / base-only counts (the per-seed rows stay in the other tables). The verdict file adds a
table of it when a configuration has more than one seed.

With one seed the intervals are the problem bootstrap alone. With few seeds, read the spread columns beside
the interval: a seed level with S draws has few distinct resamples, so the interval understates seed
variation (tests/test_stats.py measures the coverage).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workflow import stats
from workflow.analyze import k_grid
from workflow.boundary import BASE, _fmt_k, _kstar_interval, first_crossing
from workflow.config import Config
from workflow.io import derive_seed


def _matrix(g: pd.DataFrame, problems: list[str]) -> tuple[list[int], np.ndarray]:
    """Seeds and their [S, P] counts, problems in the base's order."""
    seeds = sorted(int(s) for s in g.seed.unique())
    wide = g.pivot_table(index="seed", columns="problem_id", values="c", aggfunc="first")
    return seeds, wide.loc[seeds, problems].to_numpy()


def seeds_table(counts: pd.DataFrame, rows: list[dict], cfg: Config) -> pd.DataFrame:
    a = cfg.analysis
    base = counts[counts.algo == BASE]
    problems = list(base.problem_id)
    n = int(counts.n.min())
    ks = k_grid(n)
    base_curve = stats.passk_matrix(base.c.to_numpy(), n, ks)  # [P, K]
    verdict = {r["model"]: r for r in rows}
    out = []
    for (algo, step), g in counts[counts.algo != BASE].groupby(["algo", "step"], sort=False):
        seeds, c = _matrix(g, problems)  # [S, P]
        per = np.stack([c / n, (c > 0).astype(float)], axis=-1)  # [S, P, 2]: pass@1, pass@n per problem
        rng = np.random.default_rng(derive_seed(cfg.seed, "seeds", algo, int(step)))
        boot = stats.hierarchical_mean(per, a.bootstrap, rng)  # [B, 2]
        lo, hi = stats.interval(boot, a.ci)
        curves = np.stack([stats.passk_matrix(ci, n, ks) for ci in c])  # [S, P, K]
        point = first_crossing(base_curve.mean(0), curves.mean((0, 1)), ks)
        s_idx, p_idx = stats.hierarchical_draws(len(seeds), len(problems), a.bootstrap, rng)
        kboot = np.array(
            [
                first_crossing(base_curve[p].mean(0), curves[s][:, p].mean((0, 1)), ks)
                for s, p in zip(s_idx, p_idx, strict=True)
            ]
        )
        k_lo, k_hi = _kstar_interval(kboot, n, a.ci)
        names = [g[g.seed == s].model.iloc[0] for s in seeds]
        per_seed = [verdict[m] for m in names]
        spread = per.mean(axis=1)  # [S, 2]
        out.append(
            dict(
                algo=algo,
                step=int(step),
                dataset=g.dataset.iloc[0],
                seeds=",".join(map(str, seeds)),
                n_seeds=len(seeds),
                n=n,
                pass1=float(spread[:, 0].mean()),
                pass1_low=float(lo[0]),
                pass1_high=float(hi[0]),
                pass1_sd=float(spread[:, 0].std(ddof=1)) if len(seeds) > 1 else 0.0,
                passn=float(spread[:, 1].mean()),
                passn_low=float(lo[1]),
                passn_high=float(hi[1]),
                passn_sd=float(spread[:, 1].std(ddof=1)) if len(seeds) > 1 else 0.0,
                k_star=point,
                k_star_low=k_lo,
                k_star_high=k_hi,
                k_star_by_seed=",".join(_fmt_k(r["k_star"]) for r in per_seed),
                rl_only_observed=",".join(str(r["solved_rl_only"]) for r in per_seed),
                rl_only_tested=",".join(str(r["rl_only_tested"]) for r in per_seed),
                base_only_observed=",".join(str(r["solved_base_only"]) for r in per_seed),
                base_only_tested=",".join(str(r["base_only_tested"]) for r in per_seed),
            )
        )
    return pd.DataFrame(out)


def seeds_markdown(t: pd.DataFrame) -> list[str]:
    """The verdict file's section over seeds."""
    lines = [
        "## Over seeds",
        "",
        "| algo | step | seeds | pass@1 mean (95% CI) sd | pass@n mean (95% CI) sd | k* (95% CI) | k* per seed "
        "| RL only observed / tested per seed | base only observed / tested per seed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in t.itertuples():
        lines.append(
            f"| {r.algo} | {r.step} | {r.seeds} | {r.pass1:.3f} ({r.pass1_low:.3f}-{r.pass1_high:.3f}) {r.pass1_sd:.3f} "
            f"| {r.passn:.3f} ({r.passn_low:.3f}-{r.passn_high:.3f}) {r.passn_sd:.3f} "
            f"| {_fmt_k(r.k_star)} ({_fmt_k(r.k_star_low)}-{_fmt_k(r.k_star_high)}) | {r.k_star_by_seed} "
            f"| {r.rl_only_observed} / {r.rl_only_tested} | {r.base_only_observed} / {r.base_only_tested} |"
        )
    lines += [
        "",
        "Means over seeds; intervals from a bootstrap that resamples seeds and then problems (shared by the seeds, "
        "which answer the same problems); sd: seed-to-seed standard deviation. k*: crossing of the seed-mean pass@k "
        "curve with the base's.",
        "",
    ]
    return lines
