"""Benchmark loaders: the test sets of Yue et al. 2025 and ProRL as problems in one normalised schema.

Consumes: a benchmark source, either a HuggingFace hub id (read with ``datasets.load_dataset(hub_id,
name=subset, split=split, revision=revision)``) or a local copy: a ``.jsonl`` / ``.json`` / ``.parquet`` file,
or a directory holding ``<split>.jsonl`` (the layout of the official evaluation data of LeapLabTHU/limit-of-RLVR,
``math/examples/math_eval/data/<name>/test.jsonl``). Reasoning Gym problems are generated offline instead.
Produces ``results/<study>/data/<name>.jsonl``, one normalised problem per line:

``id``          str, stable: ``<benchmark>/<position in the source>`` (``livecodebench/<question_id>``,
                ``gym/<task>/<seed>/<index>``), so filters and ``limit`` never renumber problems.
``benchmark``   str, the registry key (``math500``, ``livecodebench``, ``gym``, ...).
``kind``        ``"math"`` | ``"code"`` | ``"gym"``.
``question``    str, the problem statement (HumanEval+: the signature + docstring stub).
``answer``      str | None. Math: the reference final answer (LaTeX or plain). Gym: the generator's answer
                (for tasks whose generator leaves it None but records a valid one, e.g. ``graph_color``'s
                ``metadata.possible_answer``, that one, JSON-encoded). Code: None.
``reference``   str | None, a full reference solution where the source has one (perplexity of references).
``tests``       dict | None, code only:
                HumanEval+: ``{"format": "functional", "entry_point", "prompt", "test"}`` (``test`` defines
                ``check(candidate)``); LiveCodeBench stdin/stdout: ``{"format": "stdio", "cases": [{"input",
                "output"}]}``; LiveCodeBench LeetCode-style: ``{"format": "call", "fn_name", "cases": [{"input"
                (newline-separated JSON arguments), "output" (JSON)}]}``.
``difficulty``  str: ``level 1``..``level 5`` (MATH), ``easy|medium|hard`` (LiveCodeBench), the Omni-MATH rating
                (``"6.5"``), else ``unknown``.
``meta``        dict: subject, url, source ids and other source fields worth keeping; gym: ``task``,
                ``config`` (the generator's arguments), ``index`` and ``entry`` (the generator's question, answer
                and metadata, JSON-safe), everything the task's own scorer needs.

Layout: ``core`` (spec, registry, reading, validation), the loaders in ``math``, ``code`` and ``gym``, the CLI
here. Loaders are registered by name (``LOADERS``); each is a small function from one raw row (as it comes from the hub
dataset or the local file) to one problem, or None to skip the row, with its options as keyword arguments.
A malformed row fails naming the benchmark and the row. Default hub sources (``HUB``) and options:

==============  ==========================================================  =====================================
loader          default hub source (id, config, split)                      options
==============  ==========================================================  =====================================
gsm8k           openai/gsm8k, main, test
math500         HuggingFaceH4/MATH-500, test
minerva_math    math-ai/minervamath, test
olympiadbench   Hothan/OlympiadBench, OE_TO_maths_en_COMP, train
aime24          HuggingFaceH4/aime_2024, train
amc23           math-ai/amc23, test
omni_math       KbsdJames/Omni-MATH, test                                   rule_filter
deepscaler      agentica-org/DeepScaleR-Preview-Dataset, train
humaneval_plus  evalplus/humanevalplus, test
livecodebench   lighteval/code_generation_lite, release_v5, test            date_from, date_to, private_tests
gym             none: generated offline by reasoning_gym                    task, size, seed, config
==============  ==========================================================  =====================================

Run: ``python -m workflow.benchmarks --name math500 [--source HuggingFaceH4/MATH-500] [--subset NAME] [--split test]
[--revision REV] [--limit N] [--option k=v ...] --out results/<study>/data/math500.jsonl``. The output file is the cache: Snakemake does not
rerun a rule whose output exists.

Deviations from the official evaluation code (Qwen2.5-Math ``parser.parse_ground_truth``, used by Yue et al.):
- OlympiadBench: the answer joins every element of ``final_answer`` with ", " and drops every ``$``; the official
  code takes ``final_answer[0].strip("$")`` (identical on the 675 official problems, which all have one element,
  except where one element holds several ``$..$`` groups such as ``$69$,$84$``, where stripping only the ends
  leaves inner dollars).
- MATH500: the answer is the dataset's ``answer`` field; the official code extracts the last ``\\boxed{}`` of the
  solution, identical on all 500 problems.
- No ``strip_string`` normalisation here: answers are stored as the source writes them; normalising is the
  verifier's job, applied to both sides.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from workflow.benchmarks import code, gym, math  # noqa: F401  (registers the loaders)
from workflow.benchmarks.core import (
    KINDS,
    LOADERS,
    LOCAL_SUFFIXES,
    BenchmarkError,
    BenchmarkSpec,
    HubSource,
    Loader,
    get_loader,
    last_boxed,
    load_benchmark,
    normalise,
    read_rows,
    register,
    resolve_options,
)
from workflow.io import write_jsonl
from workflow.logs import stage

__all__ = [
    "HUB",
    "KINDS",
    "LOADERS",
    "LOCAL_SUFFIXES",
    "BenchmarkError",
    "BenchmarkSpec",
    "HubSource",
    "Loader",
    "get_loader",
    "last_boxed",
    "load_benchmark",
    "main",
    "normalise",
    "read_rows",
    "register",
    "resolve_options",
    "run",
]

HUB: dict[str, HubSource] = {name: loader.hub for name, loader in LOADERS.items() if loader.hub is not None}
"""Default hub source per loader: id, config, split and a note on the copy."""


# ---------------------------------------------------------------------------------------------------------------
# CLI


def run(spec: BenchmarkSpec, out: str | Path) -> int:
    """Load ``spec`` and write its problems to ``out`` (atomically); returns the problem count."""
    with stage(f"benchmark {spec.name}") as s:
        problems = load_benchmark(spec)
        n = write_jsonl(out, problems)
        levels = dict(sorted(Counter(p["difficulty"] for p in problems).items()))
        loader = get_loader(spec.name)
        source = spec.source or ("the generator" if loader.generate else loader.hub.hub_id)
        s.info("%d problems from %s; difficulty %s", n, source, levels)
        s.wrote(out)
    print(f"{spec.name}: {n} problems -> {out}")
    return n


def _parse_options(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BenchmarkError(f"--option takes key=value, got {item!r}")
        out[key.strip()] = value
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m workflow.benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True, help=f"one of: {', '.join(sorted(LOADERS))}")
    ap.add_argument("--source", help="hub id or local .jsonl/.json/.parquet file or directory (default: HUB)")
    ap.add_argument("--subset", "--config-name", dest="subset", help="hub config name")
    ap.add_argument("--split")
    ap.add_argument("--revision", help="hub commit, tag or branch")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="loader option")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    spec = BenchmarkSpec(
        name=a.name,
        source=a.source,
        subset=a.subset,
        split=a.split,
        revision=a.revision,
        limit=a.limit,
        options=_parse_options(a.option),
    )
    run(spec, a.out)
