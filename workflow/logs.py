"""Stage logging and progress reporting.

``stage(name)`` logs what a stage read, what it wrote and how long it took. ``Phases`` times the parts of a stage
and logs one ``phases:`` line (``workflow.profile`` reads it back). ``Progress`` shows a tqdm bar on a terminal
and, when stderr is a file (a Snakemake rule log), prints a line with rate and ETA every ``every`` seconds
instead.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("workflow")


def setup_logging() -> None:
    if not log.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        log.addHandler(h)
        log.setLevel(logging.INFO)
        log.propagate = False


def _describe(path: str | Path) -> str:
    p = Path(path)
    if p.is_dir():
        size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    elif p.exists():
        size = p.stat().st_size
    else:
        return f"{p} (missing)"
    return f"{p} ({size / 1e6:.2f} MB)"


class StageLog:
    def __init__(self, name: str) -> None:
        self.name = name
        self.start = time.perf_counter()

    def read(self, *paths: str | Path) -> None:
        for p in paths:
            log.info("[%s] read %s", self.name, _describe(p))

    def wrote(self, *paths: str | Path) -> None:
        for p in paths:
            log.info("[%s] wrote %s", self.name, _describe(p))

    def info(self, msg: str, *args: object) -> None:
        log.info(f"[{self.name}] {msg}", *args)

    def warning(self, msg: str, *args: object) -> None:
        log.warning(f"[{self.name}] {msg}", *args)


@contextlib.contextmanager
def stage(name: str) -> Iterator[StageLog]:
    setup_logging()
    s = StageLog(name)
    log.info("[%s] start", name)
    yield s
    log.info("[%s] done in %.1f s", name, time.perf_counter() - s.start)


class Phases:
    """Seconds spent per named phase of a stage: ``with phases("generation"): ...``, then ``phases.log(s)``."""

    PREFIX = "phases:"

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def line(self) -> str:
        """``phases: generation=12.34s update=5.67s`` (the format ``workflow.profile`` parses)."""
        return " ".join([self.PREFIX] + [f"{k}={v:.2f}s" for k, v in self.seconds.items()])

    def log(self, s: StageLog) -> None:
        s.info("%s", self.line())


class Progress:
    """Progress with rate and ETA: a tqdm bar on a terminal, periodic log lines otherwise."""

    def __init__(self, total: int, desc: str, unit: str = "it", every: float = 10.0) -> None:
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.n = 0
        self.start = self.last = time.perf_counter()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit)

    def update(self, n: int = 1, **postfix: float) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
            if postfix:
                self.bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)
            return
        now = time.perf_counter()
        if now - self.last >= self.every or self.n >= self.total:
            self.last = now
            rate = self.n / max(now - self.start, 1e-9)
            eta = (self.total - self.n) / rate if rate > 0 else float("inf")
            extra = " ".join(f"{k}={v:.3g}" for k, v in postfix.items())
            log.info(
                "%s: %d/%d %s (%.0f%%) %.1f %s/s ETA %.0fs %s",
                self.desc,
                self.n,
                self.total,
                self.unit,
                100 * self.n / max(self.total, 1),
                rate,
                self.unit,
                eta,
                extra,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
