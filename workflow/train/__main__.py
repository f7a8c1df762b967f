"""``python -m workflow.train``: train one (algorithm, seed) with the engine the config names (``rl.engine``)."""

from __future__ import annotations

import argparse

from workflow.config import load_config
from workflow.train import engine_run


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="RL training of one algorithm preset and seed")
    ap.add_argument("--config", required=True)
    ap.add_argument("--algo", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--base", required=True, help="base checkpoint directory")
    ap.add_argument("--data", required=True, help="training split (jsonl for builtin, parquet for verl)")
    ap.add_argument("--val", default=None, help="validation split (validation and ProRL resets)")
    ap.add_argument("--out", required=True, help="run directory (checkpoints and state)")
    a = ap.parse_args(argv)
    cfg = load_config(a.config)
    engine_run(cfg.rl.engine)(cfg, a.algo, a.seed, a.base, a.data, a.out, a.val)


if __name__ == "__main__":
    main()
