"""Figures: pass@k curves, base versus each RL model, on a log2 k axis with bootstrap confidence bands.

Consumes: ``results/<study>/tables/passk_<dataset>.csv`` (and the summary for W&B). Produces
``results/<study>/figures/passk_<dataset>.{png,pdf}``. Plots only draw from tables: no model, no sampling.

Run: ``python -m workflow.plot --config C --passk passk_test.csv --out results/<study>/figures/passk_test``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from workflow import tracking
from workflow.config import Config, load_config
from workflow.io import atomic_path
from workflow.logs import stage


def theme() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", font_scale=1.2)


def draw_passk(passk: pd.DataFrame, title: str):
    """One line per model with its CI band; the base model in black."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    theme()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    models = list(dict.fromkeys(passk["model"]))
    others = [m for m in models if m != "base"]
    colors = dict(zip(others, sns.color_palette("tab10", len(others)), strict=True))
    colors["base"] = (0.1, 0.1, 0.1)
    for m in models:
        g = passk[passk.model == m].sort_values("k")
        label = "base" if m == "base" else m
        ax.plot(
            g.k,
            g.value,
            marker="o",
            ms=3,
            lw=1.8,
            color=colors[m],
            label=label,
            ls="--" if m == "base" else "-",
        )
        ax.fill_between(g.k, g.ci_low, g.ci_high, color=colors[m], alpha=0.15, lw=0)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k (number of samples)")
    ax.set_ylabel("pass@k")
    ax.set_title(title)
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=True, fontsize=9)
    fig.tight_layout()
    return fig


def run(
    cfg: Config, passk_csv: str | Path, out_stem: str | Path, summary_md: str | Path | None = None
) -> list[Path]:
    out_stem = Path(out_stem)
    with stage(f"plot {out_stem.name}") as s:
        passk = pd.read_csv(passk_csv)
        s.read(passk_csv)
        dataset = passk["dataset"].iloc[0]
        fig = draw_passk(passk, f"{cfg.study}: pass@k on {dataset}")
        outs = []
        for ext in ("png", "pdf"):
            path = out_stem.with_suffix(f".{ext}")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=ext, dpi=150)
            outs.append(path)
        tracker = tracking.start(
            cfg.wandb,
            study=cfg.study,
            run_id=f"{cfg.study}-analysis-{dataset}",
            job_type="analysis",
            out_dir=out_stem.parent.parent / "wandb",
            config=cfg.to_dict(),
        )
        tracker.log_table(f"passk_{dataset}", list(passk.columns), passk.values.tolist())
        tracker.log_image(f"passk_{dataset}_figure", outs[0], caption=f"pass@k on {dataset}")
        if summary_md and Path(summary_md).exists():
            tracker.summary({f"summary_{dataset}": Path(summary_md).read_text()})
        tracker.finish()
        s.wrote(*outs)
    return outs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--passk", required=True)
    ap.add_argument("--summary", default=None)
    ap.add_argument("--out", required=True, help="output path without extension")
    a = ap.parse_args(argv)
    run(load_config(a.config), a.passk, a.out, a.summary)


if __name__ == "__main__":
    main()
