"""Figures: one drawing function per figure, each drawing only from a saved table (no model, no sampling).

Consumes: ``results/<study>/tables/<table>_<dataset>.csv``. Produces ``results/<study>/figures/<figure>_<dataset>
.{png,pdf}`` and logs the table and the figure to W&B. ``FIGURES`` maps each figure to its table and function;
``snakemake figures`` rebuilds every figure from the tables alone.

- ``passk``: pass@k curves, base versus each RL model, log2 k axis, bootstrap CI bands (Yue et al. Figs 2-4, 8);
  a configuration with several RL seeds as thin per-seed lines, their mean, and a band of the seed spread.
- ``histogram``: share of problems per accuracy bin, per model (Yue et al. Fig 5).
- ``dynamics``: pass@1 and pass@n against the checkpoint step per RL run (Yue et al. Fig 1 right; ProRL Fig 1).
- ``difficulty``: gain in pass@n over the base against the base's pass@n, per difficulty level (ProRL Fig 3 left).
- ``perplexity``: PPL_base(Y_base), PPL_base(Y_RL), PPL_RL(Y_RL), PPL_base(Y_ref) per RL model (Yue et al. Fig 6).
- ``novelty``: share of response n-grams absent from the base model's corpus, per model (ProRL's creativity index).
- ``passk-grid`` (study-wide, when a study has several panels): every panel's pass@k curves in one grid, a row
  per comparison and a column per benchmark (Yue et al. Fig 2), from ``tables/passk-grid.csv``.

Run: ``python -m workflow.plot --config C --figure passk --table passk_test.csv --out results/<study>/figures/passk_test``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from workflow import tracking
from workflow.config import Config, load_config
from workflow.io import atomic_path
from workflow.logs import stage

BASE_COLOR = (0.1, 0.1, 0.1)


def theme() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", font_scale=1.2)


def base_models(t: pd.DataFrame) -> set[str]:
    """The base model(s) of a table: ``algo`` is "base" (the toy study's base is also named "base")."""
    return set(t.model[t.algo == "base"]) if "algo" in t.columns else {"base"}


def palette(models: list[str], bases: set[str]) -> dict[str, tuple]:
    import seaborn as sns

    others = [m for m in models if m not in bases]
    colors = dict(zip(others, sns.color_palette("tab10", max(len(others), 1)), strict=False))
    return colors | {b: BASE_COLOR for b in bases}


def _seed_groups(models: list[str], bases: set[str]) -> dict[str, list[str]]:
    """RL models of one configuration over seeds (``grpo-s0-step300``, ``grpo-s1-step300`` -> ``grpo-step300``)."""
    groups: dict[str, list[str]] = {}
    for m in models:
        key = m if m in bases else re.sub(r"-s\d+(?=-step\d+$)", "", m)
        groups.setdefault(key, []).append(m)
    return groups


def _passk_lines(ax, t: pd.DataFrame, legend_size: float = 8) -> None:
    """pass@k against k on ``ax``: one line per model with its CI band, the base model dashed black. A
    configuration run with several seeds is drawn as thin per-seed lines in one colour, with a band from the
    lowest to the highest seed (the seed spread)."""
    models = list(dict.fromkeys(t["model"]))
    bases = base_models(t)
    groups = _seed_groups(models, bases)
    colors = palette(list(groups), bases)
    for key, members in groups.items():
        if len(members) == 1:
            g = t[t.model == key if key in bases else t.model == members[0]].sort_values("k")
            ls = "--" if key in bases else "-"
            ax.plot(g.k, g.value, marker="o", ms=3, lw=1.8, color=colors[key], label=members[0], ls=ls)
            ax.fill_between(g.k, g.ci_low, g.ci_high, color=colors[key], alpha=0.15, lw=0)
            continue
        wide = t[t.model.isin(members)].pivot_table(index="k", columns="model", values="value")
        for m in members:
            ax.plot(wide.index, wide[m], lw=0.8, alpha=0.7, color=colors[key])
        ax.fill_between(wide.index, wide.min(axis=1), wide.max(axis=1), color=colors[key], alpha=0.2, lw=0)
        ax.plot(wide.index, wide.mean(axis=1), marker="o", ms=3, lw=1.8, color=colors[key],
                label=f"{key} ({len(members)} seeds)")  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=True, fontsize=legend_size)


def draw_passk(t: pd.DataFrame, title: str):
    """One line per model with its CI band; the base model dashed black."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    _passk_lines(ax, t)
    ax.set(xlabel="k (number of samples)", ylabel="pass@k", title=title)
    return fig


def draw_passk_grid(t: pd.DataFrame, title: str):
    """Every panel's pass@k curves in one grid: a row per comparison, a column per benchmark (Yue et al. Fig 2);
    cells without a panel stay empty."""
    import matplotlib.pyplot as plt

    rows = list(dict.fromkeys(t["row"].fillna("")))
    cols = list(dict.fromkeys(t["col"]))
    fig, axes = plt.subplots(
        len(rows), len(cols), figsize=(3.4 * len(cols), 2.9 * len(rows)), squeeze=False, sharey=True
    )
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i][j]
            cell = t[(t["row"].fillna("") == r) & (t["col"] == c)]
            if cell.empty:
                ax.axis("off")
                continue
            _passk_lines(ax, cell, legend_size=6)
            ax.set_title(f"{r}: {c}" if r else c, fontsize=10)
            ax.set_xlabel("k" if i == len(rows) - 1 else "")
            ax.set_ylabel("pass@k" if j == 0 else "")
    fig.suptitle(title)
    return fig


def draw_histogram(t: pd.DataFrame, title: str):
    """Grouped bars: share of problems per accuracy bin, one colour per model."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(8, 4.2))
    models = list(dict.fromkeys(t["model"]))
    sns.barplot(
        data=t,
        x="label",
        y="share",
        hue="model",
        palette=palette(models, base_models(t)),
        hue_order=models,
        ax=ax,
    )
    ax.set(xlabel="accuracy (share of correct samples)", ylabel="share of problems", title=title)
    ax.tick_params(axis="x", rotation=45)
    ax.legend(fontsize=8)
    return fig


def draw_dynamics(t: pd.DataFrame, title: str):
    """pass@1 (left) and pass@n (right) against the training step, one line per RL run."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True)
    runs = list(dict.fromkeys(t["run"]))
    colors = palette(runs, {"base"})
    for ax, col, label in ((axes[0], "pass1", "pass@1"), (axes[1], "passn", "pass@n")):
        for r in runs:
            g = t[t.run == r].sort_values("step")
            ax.plot(g.step, g[col], marker="o", color=colors[r], label=f"{r} ({g.regime.iloc[0]})")
        ax.set(xlabel="training step (0 = base)", ylabel=label)
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    return fig


def draw_difficulty(t: pd.DataFrame, title: str):
    """ProRL Fig 3 left: gain in pass@n over the base against the base's pass@n, per difficulty level."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    rl = t[~t.model.isin(base_models(t))]
    sns.scatterplot(
        data=rl,
        x="base_passn",
        y="gain_passn",
        hue="model",
        style="difficulty",
        s=70,
        ax=ax,
        palette=palette(list(dict.fromkeys(rl.model)), set()),
    )
    ax.axhline(0, color=BASE_COLOR, lw=1, ls="--")
    ax.set(xlabel="base pass@n", ylabel="RL gain in pass@n", title=title)
    ax.legend(fontsize=7, ncol=2)
    return fig


def draw_perplexity(t: pd.DataFrame, title: str):
    """Yue et al. Fig 6: box plots of the four perplexity measures, one panel group per RL model."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    order = ["PPL_base(Y_base)", "PPL_base(Y_RL)", "PPL_RL(Y_RL)", "PPL_base(Y_ref)"]
    fig, ax = plt.subplots(figsize=(max(6.4, 1.4 * t.model.nunique() + 3), 4.4))
    sns.boxplot(data=t, x="model", y="ppl", hue="measure", hue_order=order, showfliers=False, ax=ax)
    ax.set(xlabel="", ylabel="perplexity of the response", title=title)
    ax.tick_params(axis="x", rotation=30)
    ax.legend(fontsize=8)
    return fig


def draw_novelty(t: pd.DataFrame, title: str):
    """Mean novelty (share of response n-grams absent from the base corpus) per model, correct vs wrong."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(7, 4.2))
    t = t.assign(outcome=t.correct.map({True: "correct", False: "wrong"}))
    sns.barplot(
        data=t,
        x="model",
        y="novelty",
        hue="outcome",
        hue_order=["correct", "wrong"],
        errorbar=("ci", 95),
        ax=ax,
    )
    ax.set(xlabel="", ylabel="novelty (1 - share of n-grams in the base corpus)", title=title)
    ax.tick_params(axis="x", rotation=30)
    return fig


FIGURES: dict[str, tuple[str, Callable]] = {
    "passk": ("passk", draw_passk),
    "histogram": ("histogram", draw_histogram),
    "dynamics": ("dynamics", draw_dynamics),
    "difficulty": ("difficulty", draw_difficulty),
    "perplexity": ("perplexity", draw_perplexity),
    "novelty": ("novelty", draw_novelty),
}
"""figure name -> (table name, drawing function)."""

GRID_FIGURES: dict[str, tuple[str, Callable]] = {"passk-grid": ("passk", draw_passk_grid)}
"""Study-wide figure name -> (the per-panel table it stacks, drawing function); it draws from
``tables/<figure>.csv`` (``workflow.grid``) and is made when a study has more than one panel."""


def run(cfg: Config, figure: str, table_csv: str | Path, out_stem: str | Path) -> list[Path]:
    out_stem = Path(out_stem)
    _, draw = {**FIGURES, **GRID_FIGURES}[figure]
    with stage(f"plot {out_stem.name}") as s:
        table = pd.read_csv(table_csv)
        s.read(table_csv)
        if figure in GRID_FIGURES:
            dataset, title = "all", f"{cfg.study}: every panel"
        else:  # the panel: a dataset or comparison_benchmark
            dataset = out_stem.name.removeprefix(f"{figure}_")
            title = f"{cfg.study}: {figure} on {dataset}"
        theme()
        fig = draw(table, title)
        fig.tight_layout()
        outs = []
        for ext in ("png", "pdf"):
            path = out_stem.with_suffix(f".{ext}")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=ext, dpi=150)
            outs.append(path)
        tracker = tracking.start(
            cfg.wandb,
            study=cfg.study,
            run_id=f"{cfg.study}-{figure}-{dataset}",
            job_type="figure",
            out_dir=out_stem.parent.parent / "wandb",
            config=cfg.to_dict(),
            group=f"{cfg.study}-analysis",
        )
        tracker.log_table(f"{figure}_{dataset}_table", list(table.columns), table.values.tolist())
        tracker.log_image(f"{figure}_{dataset}", outs[0], caption=f"{figure} on {dataset}")
        tracker.finish()
        s.wrote(*outs)
    return outs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--figure", required=True, choices=sorted({*FIGURES, *GRID_FIGURES}))
    ap.add_argument("--table", required=True)
    ap.add_argument("--out", required=True, help="output path without extension")
    a = ap.parse_args(argv)
    run(load_config(a.config), a.figure, a.table, a.out)


if __name__ == "__main__":
    main()
