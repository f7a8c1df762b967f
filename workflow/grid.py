"""Study-wide tables for grid figures: every panel's table stacked, with the panel's row and column.

Consumes ``results/<study>/tables/<table>_<panel>.csv`` for every panel of the study. Produces
``results/<study>/tables/<table>-grid.csv``: the same rows plus ``panel``, ``row`` and ``col``. An evaluation
study's panel ``<comparison>_<benchmark>`` becomes row = comparison, column = benchmark, so the pass@k grid of
``config/paper.yaml`` has Yue et al.'s Figure 2 layout (one model pair per row, one benchmark per column); a
training study's panel (a split) is a column of a single row.

Run: ``python -m workflow.grid --tables PANEL=passk_PANEL.csv ... --out results/<study>/tables/passk-grid.csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from workflow.io import atomic_path
from workflow.logs import stage


def row_col(panel: str) -> tuple[str, str]:
    """(row, column) of a panel: ``comparison_benchmark`` splits at the ``_`` (names never contain one)."""
    row, sep, col = panel.partition("_")
    return (row, col) if sep else ("", panel)


def stack(tables: dict[str, str | Path], out: str | Path) -> Path:
    """Concatenate the per-panel tables in the given order, tagging each row with its panel, row and column."""
    with stage(f"grid {Path(out).name}") as s:
        frames = []
        for panel, path in tables.items():
            t = pd.read_csv(path)
            row, col = row_col(panel)
            frames.append(t.assign(panel=panel, row=row, col=col))
        s.read(*tables.values())
        table = pd.concat(frames, ignore_index=True)
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
        s.info("%d panels, %d rows", len(tables), len(table))
        s.wrote(out)
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--tables", nargs="+", required=True, metavar="PANEL=CSV", help="per-panel tables, in order"
    )
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    tables = {}
    for item in a.tables:
        panel, sep, path = item.partition("=")
        if not sep or not panel:
            ap.error(f"--tables takes PANEL=CSV, got {item!r}")
        tables[panel] = path
    stack(tables, a.out)


if __name__ == "__main__":
    main()
