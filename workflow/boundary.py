"""Reasoning-boundary analyses of RL models against their base model, from per-problem counts alone.

Consumes: ``results/<study>/tables/counts_<dataset>.csv`` (model, algo, seed, step, dataset, problem_id,
difficulty, n, c). Produces tidy tables in ``results/<study>/tables/``:
- ``crossing_<dataset>.csv``: per RL model the crossing k* (first k where base pass@k >= RL pass@k) with a
  paired-bootstrap CI over problems, or "no crossing up to n" (Yue et al. Figs 2-4).
- ``coverage_<dataset>.csv``: per RL model and problem, solved at k = n by both / base only / RL only /
  neither (Yue et al. Tables 2 and 4), with the per-problem tests below.
- ``histogram_<dataset>.csv``: per model, the share of problems in the accuracy bins 0, (0, 0.1], ...,
  (0.9, 1), 1 (Yue et al. Fig 5).
- ``difficulty_<dataset>.csv``: per model and difficulty level, pass@1, pass@n and the gain in pass@n over the
  base (ProRL Fig 3 left).
- ``dynamics_<dataset>.csv``: pass@1 and pass@n against checkpoint step per algorithm and seed, with the ProRL
  regime (diminish / plateau / sustained) of each run (Yue et al. Fig 1, Table 3; ProRL Figs 1 and 4).
- ``verdict_<dataset>.{md,json}``: per RL model, pass@1 gain, k*, Delta SE = pass@n(base) - pass@1(RL)
  (Yue et al. Sec. 4.3), observed and tested coverage counts, whether RL solved anything the base never did
  (decided on the tested count), and the samples per problem a claim would need where n falls short.
- ``seeds_<dataset>.csv``: per (algo, step), the aggregate over RL seeds (workflow/seeds.py).

Tests and sample sizes (formulas in workflow/stats.py): per problem, a one-sided Fisher exact test of "RL's
success rate exceeds the base's" (and the reverse) on the two c/n counts, Benjamini-Hochberg over the panel's
problems at ``analysis.fdr``; an observed "RL only" problem counts as tested when it survives. The coverage
table keeps both p-values and both flags per problem.

Run: ``python -m workflow.boundary --config C --counts counts_test.csv --out results/<study>/tables``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from workflow import stats, tracking
from workflow.analyze import k_grid, pass_at_k
from workflow.config import Config, load_config
from workflow.io import atomic_path, derive_seed
from workflow.logs import stage

BASE = "base"
"""The ``algo`` label of the base model in a counts table; every other model is compared against it."""
HIST_EDGES = [0.0] + [round(0.1 * i, 1) for i in range(1, 10)] + [1.0]
HIST_LABELS = (
    ["0"] + [f"({HIST_EDGES[i]:.1f}, {HIST_EDGES[i + 1]:.1f}]" for i in range(9)] + ["(0.9, 1)", "1"]
)


def per_problem_passk(c: np.ndarray, n: int, ks: list[int]) -> np.ndarray:
    """[P, K] pass@k of each problem."""
    return np.array([[pass_at_k(n, int(ci), k) for k in ks] for ci in c])


def first_crossing(base: np.ndarray, rl: np.ndarray, ks: list[int]) -> float:
    """First k where the base curve is at or above the RL curve; inf when it never is. [K], [K] -> k."""
    hit = np.nonzero(base >= rl - 1e-12)[0]
    return float(ks[hit[0]]) if len(hit) else float("inf")


def crossing(base: pd.DataFrame, rl: pd.DataFrame, bootstrap: int, ci: float, seed: int) -> dict:
    """k* with a paired percentile-bootstrap CI (the same resampled problems for both models)."""
    m = base[["problem_id", "n", "c"]].merge(
        rl[["problem_id", "n", "c"]], on="problem_id", suffixes=("_b", "_r")
    )
    n = int(min(m.n_b.min(), m.n_r.min()))
    ks = k_grid(n)
    pb, pr = per_problem_passk(m.c_b.to_numpy(), n, ks), per_problem_passk(m.c_r.to_numpy(), n, ks)
    point = first_crossing(pb.mean(0), pr.mean(0), ks)
    rng = np.random.default_rng(seed)
    p = len(m)
    w = rng.multinomial(p, np.full(p, 1.0 / p), size=bootstrap) / p  # [B, P]
    boots = np.array([first_crossing(bb, rr, ks) for bb, rr in zip(w @ pb, w @ pr, strict=True)])
    lo, hi = _kstar_interval(boots, n, ci)
    return dict(
        k_star=point,
        ci_low=float(lo),
        ci_high=float(hi),
        no_crossing_share=float(np.isinf(boots).mean()),
        k_max=n,
    )


def coverage(base: pd.DataFrame, rl: pd.DataFrame, q: float = 0.05) -> pd.DataFrame:
    """Per problem: the observed category at k = n (solved by both / base only / RL only / neither), the
    one-sided exact p-values of "RL's rate > the base's" and the reverse, and whether an observed "RL only" or
    "base only" problem survives Benjamini-Hochberg at FDR ``q`` over the panel's problems (workflow/stats.py)."""
    m = base[["problem_id", "difficulty", "n", "c"]].merge(
        rl[["problem_id", "n", "c"]], on="problem_id", suffixes=("_base", "_rl")
    )
    sb, sr = m.c_base > 0, m.c_rl > 0
    m["category"] = np.select([sb & sr, sb & ~sr, ~sb & sr], ["both", "base_only", "rl_only"], "neither")
    m["p_rl_better"] = stats.fisher_greater_many(m.c_rl, m.n_rl, m.c_base, m.n_base)
    m["p_base_better"] = stats.fisher_greater_many(m.c_base, m.n_base, m.c_rl, m.n_rl)
    m["rl_only_tested"] = stats.bh_reject(m.p_rl_better.to_numpy(), q) & (m.category == "rl_only")
    m["base_only_tested"] = stats.bh_reject(m.p_base_better.to_numpy(), q) & (m.category == "base_only")
    cols = ["problem_id", "difficulty", "category", "c_base", "c_rl", "p_rl_better", "p_base_better"]
    return m[[*cols, "rl_only_tested", "base_only_tested"]]


def crossing_resolution(
    c_b: np.ndarray, c_r: np.ndarray, n: int, bootstrap: int, ci: float, rng
) -> tuple[float, float]:
    """The bootstrap interval of k* over problems, from counts alone (the vectorised core of :func:`crossing`)."""
    ks = k_grid(n)
    pb, pr = stats.passk_matrix(c_b, n, ks), stats.passk_matrix(c_r, n, ks)
    p = len(c_b)
    w = rng.multinomial(p, np.full(p, 1.0 / p), size=bootstrap) / p
    boots = np.array([first_crossing(bb, rr, ks) for bb, rr in zip(w @ pb, w @ pr, strict=True)])
    return _kstar_interval(boots, n, ci)


def _kstar_interval(boots: np.ndarray, n: int, ci: float) -> tuple[float, float]:
    sentinel = 2.0 * n  # "no crossing" sorts above every k; quantiles of inf are undefined
    qs = np.quantile(
        np.where(np.isinf(boots), sentinel, boots), [(1 - ci) / 2, 1 - (1 - ci) / 2], method="lower"
    )
    lo, hi = (float("inf") if x >= sentinel else float(x) for x in qs)
    return lo, hi


def within_one_doubling(lo: float, hi: float) -> bool:
    """Whether a k* interval places k* within one doubling (hi <= 2 lo, both finite)."""
    return bool(np.isfinite(hi) and hi <= 2 * lo)


def samples_for_kstar(
    c_b: np.ndarray,
    c_r: np.ndarray,
    n: int,
    ci: float,
    rng,
    sims: int = 20,
    bootstrap: int = 200,
    max_factor: int = 16,
) -> int | None:
    """Samples per problem that would place k* within one doubling in at least half of simulated re-runs.

    Each problem's rates are its Jeffreys estimates (c + 1/2) / (n + 1) (so a problem never solved in n
    samples keeps a small rate rather than none); counts are redrawn at n, 2n, ... max_factor n, and k*'s
    bootstrap interval over problems is computed as for the study. None: not reached by max_factor n, in which
    case the problem-to-problem spread, not the samples per problem, bounds the interval (add problems)."""
    p_b, p_r = (np.asarray(c_b) + 0.5) / (n + 1), (np.asarray(c_r) + 0.5) / (n + 1)
    size = n
    while size <= max_factor * n:
        hits = 0
        for _ in range(sims):
            lo, hi = crossing_resolution(
                rng.binomial(size, p_b), rng.binomial(size, p_r), size, bootstrap, ci, rng
            )
            hits += within_one_doubling(lo, hi)
        if hits >= sims / 2:
            return size
        size *= 2
    return None


def histogram(counts: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, g in counts.groupby("model", sort=False):
        acc = (g.c / g.n).to_numpy()
        bins = np.where(
            acc == 0, 0, np.where(acc == 1, len(HIST_LABELS) - 1, np.ceil(acc * 10 - 1e-9).astype(int))
        )
        bins = np.clip(bins, 0, len(HIST_LABELS) - 1)
        share = np.bincount(bins, minlength=len(HIST_LABELS)) / len(acc)
        rows += [
            dict(
                **_model_keys(g),
                bin=i,
                label=HIST_LABELS[i],
                share=float(share[i]),
            )
            for i in range(len(HIST_LABELS))
        ]
    return pd.DataFrame(rows)


def _model_keys(g: pd.DataFrame) -> dict:
    """The identifying columns of one model's rows in a counts table."""
    first = g.iloc[0]
    return dict(
        model=first.model, algo=first.algo, seed=int(first.seed), step=int(first.step), dataset=first.dataset
    )


def _pass1_passn(g: pd.DataFrame) -> tuple[float, float]:
    n = int(g.n.min())
    return float((g.c / g.n).mean()), float(np.mean([pass_at_k(n, int(c), n) for c in g.c]))


def by_difficulty(counts: pd.DataFrame) -> pd.DataFrame:
    rows = []
    base = {d: _pass1_passn(g) for d, g in counts[counts.algo == BASE].groupby("difficulty")}
    for (_, diff), g in counts.groupby(["model", "difficulty"], sort=False):
        p1, pn = _pass1_passn(g)
        base_pn = base.get(diff, (np.nan, np.nan))[1]
        rows.append(
            dict(
                **_model_keys(g),
                difficulty=diff,
                problems=len(g),
                pass1=p1,
                passn=pn,
                base_passn=base_pn,
                gain_passn=pn - base_pn,
            )
        )
    return pd.DataFrame(rows)


def regime(steps: list[int], passn: list[float], base_passn: float, tol: float = 0.02) -> str:
    """ProRL Fig 4: ``diminish`` if the final pass@n is below the base's; ``sustained`` if pass@n still rises
    over the last checkpoint interval; ``plateau`` otherwise (gains made early, then flat). ``single`` with
    one checkpoint. ``tol`` is the noise band (about one standard error of pass@n on 200 problems)."""
    if passn[-1] < base_passn - tol:
        return "diminish"
    if len(steps) < 2:
        return "single"
    return "sustained" if passn[-1] > passn[-2] + tol else "plateau"


def dynamics(counts: pd.DataFrame) -> pd.DataFrame:
    base_p1, base_pn = _pass1_passn(counts[counts.algo == BASE])
    rows = []
    for (algo, seed), g in counts[counts.algo != BASE].groupby(["algo", "seed"], sort=False):
        series = sorted((int(step), *_pass1_passn(gg)) for step, gg in g.groupby("step"))
        steps, p1s, pns = zip(*series, strict=True)
        reg = regime(list(steps), list(pns), base_pn)
        rows.append(
            dict(
                algo="base",
                seed=int(seed),
                step=0,
                pass1=base_p1,
                passn=base_pn,
                regime=reg,
                run=f"{algo}-s{seed}",
            )
        )
        rows += [
            dict(algo=algo, seed=int(seed), step=s, pass1=a, passn=b, regime=reg, run=f"{algo}-s{seed}")
            for s, a, b in series
        ]
    out = pd.DataFrame(rows)
    out["dataset"] = counts.dataset.iloc[0]
    return out


_WHO = {"rl": "RL", "distill": "distillation", "instruct": "the instruct model"}


def _who(cfg: Config, model: str) -> str:
    """How the verdict names a compared model: by its role in an evaluation study, else RL."""
    spec = cfg.models.get(model)
    return _WHO.get(spec.role, model) if spec is not None else "RL"


def verdicts(counts: pd.DataFrame, cfg: Config) -> list[dict]:
    """One row per compared model: the headline numbers, observed and tested coverage, and the verdict, which
    rests on the tested "RL only" count (observed counts are reported beside it)."""
    a = cfg.analysis
    base = counts[counts.algo == BASE]
    b1, bn = _pass1_passn(base)
    out = []
    for model, rl in counts[counts.algo != BASE].groupby("model", sort=False):
        r1, rn = _pass1_passn(rl)
        cov = coverage(base, rl, a.fdr)
        observed = cov.category.value_counts()
        cross = crossing(base, rl, a.bootstrap, a.ci, derive_seed(cfg.seed, "crossing", model))
        n, m = cross["k_max"], len(cov)
        rl_only, rl_tested = int(observed.get("rl_only", 0)), int(cov.rl_only_tested.sum())
        base_tested = int(cov.base_only_tested.sum())
        c_min = stats.min_detectable_count(n, a.fdr / max(m, 1))
        who = _who(cfg, model)
        # how many samples per problem the claims would need, where the configured n falls short
        rng = np.random.default_rng(derive_seed(cfg.seed, "sample-size", model))
        need_kstar = None
        if not within_one_doubling(cross["ci_low"], cross["ci_high"]):
            need_kstar = samples_for_kstar(cov.c_base.to_numpy(), cov.c_rl.to_numpy(), n, a.ci, rng)
        need_rl_only = None
        if rl_only > rl_tested:
            rate = float(cov.c_rl[(cov.category == "rl_only") & ~cov.rl_only_tested].max() / n)
            need_rl_only = stats.samples_to_detect(rate, a.fdr, m, a.power, n_from=n)
        detect = f"{c_min}/{n} = {c_min / n:.3f}" if c_min else f"none of {n}"
        if rl_tested:
            answer = (
                f"yes: {who} solved {rl_only} problem(s) the base never solved in {n} samples, {rl_tested} of them "
                f"significant at FDR {a.fdr}"
            )
        elif rl_only:
            answer = (
                f"no: {who} solved {rl_only} problem(s) the base never solved in {n} samples, none significant at "
                f"FDR {a.fdr} (the smallest detectable rate against 0/{n} is {detect})"
            )
        else:
            answer = f"no: every problem {who} solved, the base also solved within {n} samples"
        out.append(
            dict(
                model=model,
                algo=rl.algo.iloc[0],
                seed=int(rl.seed.iloc[0]),
                step=int(rl.step.iloc[0]),
                dataset=rl.dataset.iloc[0],
                k_max=n,
                pass1_base=b1,
                pass1_rl=r1,
                pass1_gain=r1 - b1,
                passn_base=bn,
                passn_rl=rn,
                delta_se=bn - r1,
                k_star=cross["k_star"],
                k_star_ci=[cross["ci_low"], cross["ci_high"]],
                **{
                    f"solved_{k}": int(observed.get(k, 0))
                    for k in ("both", "base_only", "rl_only", "neither")
                },
                rl_only_tested=rl_tested,
                base_only_tested=base_tested,
                fdr=a.fdr,
                min_detectable_count=c_min,
                samples_for_kstar=need_kstar,
                samples_for_rl_only=need_rl_only,
                expands_boundary=rl_tested > 0,
                answer=answer,
            )
        )
    return out


def _fmt_k(k: float) -> str:
    return "none" if np.isinf(k) else str(int(k))


def verdict_markdown(rows: list[dict], extra: list[str] | None = None) -> str:
    lines = [
        "# Does RL expand the reasoning boundary?",
        "",
        "| model | pass@1 base -> RL | pass@n base / RL | k* (95% CI) | Delta SE | both / base only / RL only / neither "
        "| tested: RL only / base only | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    notes = []
    for r in rows:
        lo, hi = r["k_star_ci"]
        lines.append(
            f"| {r['model']} | {r['pass1_base']:.3f} -> {r['pass1_rl']:.3f} | {r['passn_base']:.3f} / {r['passn_rl']:.3f} "
            f"(n={r['k_max']}) | {_fmt_k(r['k_star'])} ({_fmt_k(lo)}-{_fmt_k(hi)}) | {r['delta_se']:.3f} | "
            f"{r['solved_both']} / {r['solved_base_only']} / {r['solved_rl_only']} / {r['solved_neither']} | "
            f"{r['rl_only_tested']} / {r['base_only_tested']} | {r['answer']} |"
        )
        n = r["k_max"]
        if not within_one_doubling(lo, hi):
            need = r["samples_for_kstar"]
            notes.append(
                f"- {r['model']}: k* is not placed within one doubling by n = {n}; "
                + (
                    f"about {need} samples per problem would place it (simulated from the per-problem rates)."
                    if need
                    else f"not by {16 * n} samples per problem either: the spread over problems bounds it (more problems)."
                )
            )
        if r["solved_rl_only"] > r["rl_only_tested"]:
            need = r["samples_for_rl_only"]
            notes.append(
                f"- {r['model']}: an untested RL-only problem at its observed rate would need "
                + (f"about {need} samples per problem" if need else "more than 65,536 samples per problem")
                + " to be detected with the configured power as a single discovery."
            )
    q = rows[0]["fdr"] if rows else 0.05
    lines += [
        "",
        "k*: first k where the base model's pass@k is at or above the RL model's (none: RL stays above up to n).",
        "Delta SE = pass@n(base) - pass@1(RL), the sampling-efficiency gap of Yue et al. Sec. 4.3.",
        "Observed coverage: solved at least once in n samples. Tested: an observed RL-only (base-only) problem whose "
        f"one-sided exact test of RL's rate > the base's (and the reverse) survives Benjamini-Hochberg at FDR {q} over "
        "the panel's problems; the verdict rests on the tested RL-only count.",
    ]
    if rows and rows[0].get("verification_policy"):
        lines.append(
            f"Math answers verified under verification.policy = {rows[0]['verification_policy']} (config/README.md "
            "lists what strict and lenient decide, case by case)."
        )
    if rows and rows[0]["min_detectable_count"]:
        r0 = rows[0]
        lines.append(
            f"With n = {r0['k_max']}, a problem the other model never solved needs at least "
            f"{r0['min_detectable_count']} of {r0['k_max']} correct samples to be declared as a single discovery."
        )
    lines += [""]
    if notes:
        lines += ["## Sample size", "", *notes, ""]
    lines += extra or []
    return "\n".join(lines)


def math_policy(cfg: Config, dataset: str) -> str | None:
    """``verification.policy`` when the panel's problems are math (a math benchmark, or a training study's split of
    one), else None: the verdict table records how their answers were graded."""
    from workflow.benchmarks import get_loader

    names = [b for b in cfg.benchmarks if dataset == b or dataset.endswith("_" + b)]
    if not names and cfg.data.task == "benchmark":
        names = [cfg.data.benchmark]
    for name in names:
        spec = cfg.benchmarks.get(name)
        if spec is not None and get_loader(spec.loader or name).kind == "math":
            return cfg.verification.policy
    return None


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def run(cfg: Config, counts_csv: str | Path, out_dir: str | Path) -> dict[str, Path]:
    out_dir = Path(out_dir)
    with stage(f"boundary {Path(counts_csv).name}") as s:
        counts = pd.read_csv(counts_csv)
        s.read(counts_csv)
        # the panel: the dataset in a training study, <comparison>_<benchmark> in an evaluation study
        dataset = Path(counts_csv).stem.removeprefix("counts_")
        base = counts[counts.algo == BASE]
        rows = verdicts(counts, cfg)
        policy = math_policy(cfg, dataset)
        for r in rows if policy else []:
            r["verification_policy"] = policy
        paths = {
            k: out_dir / f"{k}_{dataset}.csv"
            for k in ("crossing", "coverage", "histogram", "difficulty", "dynamics")
        }
        _write_csv(
            pd.DataFrame(
                [
                    dict(
                        model=r["model"],
                        algo=r["algo"],
                        seed=r["seed"],
                        step=r["step"],
                        dataset=dataset,
                        k_star=r["k_star"],
                        ci_low=r["k_star_ci"][0],
                        ci_high=r["k_star_ci"][1],
                        k_max=r["k_max"],
                    )
                    for r in rows
                ]
            ),
            paths["crossing"],
        )
        cov = [
            coverage(base, g, cfg.analysis.fdr).assign(
                model=m, algo=g.algo.iloc[0], seed=int(g.seed.iloc[0]), step=int(g.step.iloc[0])
            )
            for m, g in counts[counts.algo != BASE].groupby("model", sort=False)
        ]
        _write_csv(pd.concat(cov) if cov else pd.DataFrame(), paths["coverage"])
        _write_csv(histogram(counts), paths["histogram"])
        _write_csv(by_difficulty(counts), paths["difficulty"])
        _write_csv(dynamics(counts), paths["dynamics"])
        paths["verdict_md"], paths["verdict_json"] = (
            out_dir / f"verdict_{dataset}.md",
            out_dir / f"verdict_{dataset}.json",
        )
        from workflow.seeds import seeds_markdown, seeds_table  # seeds.py builds on this module

        seeds = seeds_table(counts, rows, cfg) if rows else pd.DataFrame()
        paths["seeds"] = out_dir / f"seeds_{dataset}.csv"
        _write_csv(seeds, paths["seeds"])
        multi = len(seeds) and (seeds.n_seeds > 1).any()
        md = verdict_markdown(rows, seeds_markdown(seeds) if multi else None)
        with atomic_path(paths["verdict_md"]) as tmp:
            tmp.write_text(md)
        with atomic_path(paths["verdict_json"]) as tmp:
            tmp.write_text(json.dumps(rows, indent=2, default=lambda x: None if np.isinf(x) else x))
        print(md, flush=True)
        log_verdict(cfg, dataset, rows, out_dir)
        s.wrote(*paths.values())
    return paths


def log_verdict(cfg: Config, dataset: str, rows: list[dict], tables_dir: Path) -> None:
    """The verdict as a W&B table, and each model's headline numbers in the run summary."""
    tracker = tracking.start(
        cfg.wandb,
        study=cfg.study,
        run_id=f"{cfg.study}-verdict-{dataset}",
        job_type="verdict",
        out_dir=tables_dir.parent / "wandb",
        config=cfg.to_dict(),
        group=f"{cfg.study}-analysis",
    )
    cols = [k for k in rows[0] if k != "k_star_ci"] if rows else []
    tracker.log_table(
        f"verdict_{dataset}", cols, [[None if _isinf(r[c]) else r[c] for c in cols] for r in rows]
    )
    tracker.summary(
        {
            f"{dataset}/{r['model']}/{k}": (None if _isinf(r[k]) else r[k])
            for r in rows
            for k in (
                "pass1_gain",
                "delta_se",
                "k_star",
                "solved_rl_only",
                "solved_base_only",
                "rl_only_tested",
            )
        }
    )
    tracker.finish()


def _isinf(x) -> bool:
    return isinstance(x, float) and np.isinf(x)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--counts", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    run(load_config(a.config), a.counts, a.out)


if __name__ == "__main__":
    main()
