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

Loaders are registered by name (``LOADERS``); each is a small function from one raw row (as it comes from the hub
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
humaneval_plus  evalplus/humanevalplus, test
livecodebench   lighteval/code_generation_lite, release_v5, test            date_from, date_to, private_tests
gym             none: generated offline by reasoning_gym                    task, size, seed, config
==============  ==========================================================  =====================================

Run: ``python -m workflow.benchmarks --name math500 --source HuggingFaceH4/MATH-500 [--split test] [--limit N]
[--option k=v ...] --out results/<study>/data/math500.jsonl``. The output file is the cache: Snakemake does not
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
import base64
import inspect
import io
import itertools
import json
import pickle
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflow.io import write_jsonl
from workflow.logs import stage
from workflow.tasks.math import last_boxed as _last_box

KINDS = ("math", "code", "gym")
LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet")


class BenchmarkError(ValueError):
    """A bad spec, an unknown loader or option, or a malformed source row (the message names which)."""


# ---------------------------------------------------------------------------------------------------------------
# Spec and registry


@dataclass(frozen=True)
class HubSource:
    """Where a benchmark lives on the HuggingFace hub."""

    hub_id: str
    subset: str | None = None
    """The dataset config name (``datasets.load_dataset(..., name=subset)``)."""
    split: str = "test"
    note: str = ""
    """Why this source, and what differs from the paper's copy."""


@dataclass(frozen=True)
class Loader:
    """One registry entry: the row normaliser, the problem kind and where the rows come from."""

    normalise: Callable[..., dict[str, Any] | None]
    """``(index, row, **options) -> problem | None`` (None skips the row: a filter)."""
    kind: str
    hub: HubSource | None
    generate: Callable[..., Iterable[dict[str, Any]]] | None = None
    """Procedural benchmarks (Reasoning Gym): ``(**options) -> rows``; the source is then not read."""

    @property
    def options(self) -> dict[str, Any]:
        """Option name -> default: the keyword-only parameters of ``normalise``."""
        sig = inspect.signature(self.normalise)
        return {n: p.default for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


LOADERS: dict[str, Loader] = {}


def register(
    name: str, kind: str, hub: HubSource | None = None, generate: Callable[..., Iterable[dict]] | None = None
) -> Callable[[Callable[..., dict | None]], Callable[..., dict | None]]:
    assert kind in KINDS, kind

    def deco(fn: Callable[..., dict | None]) -> Callable[..., dict | None]:
        LOADERS[name] = Loader(fn, kind, hub, generate)
        return fn

    return deco


def get_loader(name: str) -> Loader:
    if name not in LOADERS:
        raise BenchmarkError(f"unknown benchmark {name!r}; valid names: {', '.join(sorted(LOADERS))}")
    return LOADERS[name]


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark to load. ``from_dict`` also takes ``config_name`` for ``subset`` and any other key as an option."""

    name: str
    """Registry key (``math500``, ``livecodebench``, ``gym``, ...)."""
    source: str | None = None
    """A hub id, or a local .jsonl/.json/.parquet file or directory; None: the loader's default hub id."""
    subset: str | None = None
    """Hub config name; None: the loader's default (e.g. ``main`` for openai/gsm8k) when ``source`` is that default."""
    split: str | None = None
    """None: the loader's default hub split, or ``test`` (``<dir>/test.jsonl``) for local directories."""
    revision: str | None = None
    """Hub commit, tag or branch to pin; ignored for local files."""
    limit: int | None = None
    """Keep the first N problems (after the loader's filters)."""
    options: dict[str, Any] = field(default_factory=dict)
    """Loader options (``date_from``, ``rule_filter``, ``task``, ...); strings are converted to the default's type."""

    def __post_init__(self) -> None:
        loader = get_loader(self.name)
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise BenchmarkError(f"{self.name}: limit must be a positive integer, got {self.limit!r}")
        resolve_options(self.name, self.options)
        if self.source is None and loader.hub is None and loader.generate is None:
            raise BenchmarkError(
                f"{self.name}: no default hub source; pass source (a hub id or a local path)"
            )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchmarkSpec:
        d = dict(d)
        if "name" not in d:
            raise BenchmarkError(f"benchmark spec needs a name; valid names: {', '.join(sorted(LOADERS))}")
        if "config_name" in d:
            d["subset"] = d.pop("config_name")
        top = {k: d.pop(k) for k in ("name", "source", "subset", "split", "revision", "limit") if k in d}
        options = {**d.pop("options", {}), **d}
        return cls(**top, options=options)


def resolve_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Check option names against the loader's and convert string values to the default's type."""
    valid = get_loader(name).options
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise BenchmarkError(
            f"{name}: unknown option(s) {', '.join(unknown)}; valid options: {', '.join(valid) or 'none'}"
        )
    return {k: _coerce(name, k, v, valid[k]) for k, v in options.items()}


def _coerce(name: str, key: str, value: Any, default: Any) -> Any:
    """Convert a string option (``--option k=v``) to the type of the option's default."""
    if not isinstance(value, str) or default is None or isinstance(default, str):
        return value
    try:
        if isinstance(default, bool):
            low = value.strip().lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return low in ("true", "1", "yes")
        return type(default)(value)
    except ValueError:
        raise BenchmarkError(f"{name}: option {key}={value!r} is not a {type(default).__name__}") from None


# ---------------------------------------------------------------------------------------------------------------
# Reading sources


def _is_local(source: str) -> bool:
    return (
        Path(source).expanduser().exists()
        or source.startswith((".", "/", "~"))
        or source.endswith(LOCAL_SUFFIXES)
    )


def _read_file(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        # pyarrow (a dependency of datasets and of pandas' parquet reader) gives plain Python values; pandas would
        # turn list columns such as OlympiadBench's final_answer into numpy arrays.
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json" and text.lstrip().startswith("["):
        return json.loads(text)
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise BenchmarkError(f"{path}: line {n} is not JSON ({e.msg})") from None
    return rows


def _read_hub(source: str, subset: str | None, split: str, revision: str | None) -> Iterable[dict[str, Any]]:
    """``datasets.load_dataset``: a hub id, or a local directory laid out like a hub dataset repo."""
    import datasets

    return datasets.load_dataset(source, name=subset, split=split, revision=revision)


def read_rows(spec: BenchmarkSpec) -> Iterable[dict[str, Any]]:
    """The raw rows of ``spec``'s source, in source order."""
    hub = get_loader(spec.name).hub
    source = spec.source if spec.source is not None else hub.hub_id
    is_default = hub is not None and source == hub.hub_id
    subset = spec.subset if spec.subset is not None else (hub.subset if is_default else None)
    split = spec.split or (hub.split if is_default else "test")
    if not _is_local(source):
        return _read_hub(source, subset, split, spec.revision)
    path = Path(source).expanduser()
    if not path.exists():
        raise BenchmarkError(f"{spec.name}: local source {source} does not exist")
    if path.is_file():
        return _read_file(path)
    for suffix in LOCAL_SUFFIXES:
        if (path / f"{split}{suffix}").is_file():
            return _read_file(path / f"{split}{suffix}")
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        import datasets

        ds = datasets.load_from_disk(str(path))
        return ds[split] if isinstance(ds, datasets.DatasetDict) else ds
    # a local clone of a hub dataset repo (data/test-*.parquet, README configs): the hub code path
    return _read_hub(str(path), subset, split, spec.revision)


# ---------------------------------------------------------------------------------------------------------------
# Loading


def _row_error(name: str, index: int, row: Any, e: Exception) -> BenchmarkError:
    fields = ", ".join(sorted(map(str, row))) if isinstance(row, dict) else type(row).__name__
    if isinstance(e, KeyError):
        what = f"missing field {e.args[0]!r}"
    else:
        what = f"{type(e).__name__}: {e}"
    return BenchmarkError(f"{name}: row {index}: {what} (row fields: {fields})")


def _validated(name: str, index: int, kind: str, p: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(p.get("question"), str) or not p["question"].strip():
        raise BenchmarkError(f"{name}: row {index}: empty question")
    if kind == "math" and (not isinstance(p.get("answer"), str) or not p["answer"].strip()):
        raise BenchmarkError(f"{name}: row {index}: empty answer")
    if kind == "code" and not p.get("tests"):
        raise BenchmarkError(f"{name}: row {index}: no tests")
    return {
        "id": p["id"],
        "benchmark": name,
        "kind": kind,
        "question": p["question"],
        "answer": p.get("answer"),
        "reference": p.get("reference"),
        "tests": p.get("tests"),
        "difficulty": p.get("difficulty") or "unknown",
        "meta": p.get("meta", {}),
    }


def normalise(name: str, rows: Iterable[dict[str, Any]], **options: Any) -> Iterator[dict[str, Any]]:
    """Raw rows -> normalised problems (lazy, so ``limit`` stops reading and decoding early)."""
    loader = get_loader(name)
    opts = resolve_options(name, options)
    for i, row in enumerate(rows):
        try:
            if not isinstance(row, dict):
                raise TypeError(f"a row must be a JSON object, got {type(row).__name__}")
            p = loader.normalise(i, row, **opts)
        except BenchmarkError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise _row_error(name, i, row, e) from e
        if p is not None:
            yield _validated(name, i, loader.kind, p)


def load_benchmark(spec: BenchmarkSpec | dict[str, Any]) -> list[dict[str, Any]]:
    """Read and normalise one benchmark; see the module docstring for the schema."""
    if isinstance(spec, dict):
        spec = BenchmarkSpec.from_dict(spec)
    loader = get_loader(spec.name)
    opts = resolve_options(spec.name, spec.options)
    if loader.generate is None:
        rows = read_rows(spec)
    else:
        try:
            rows = loader.generate(**{**loader.options, **opts})
        except (ValueError, TypeError) as e:
            raise BenchmarkError(f"{spec.name}: {e}") from e
    problems = list(itertools.islice(normalise(spec.name, rows, **opts), spec.limit))
    dup = [k for k, c in Counter(p["id"] for p in problems).items() if c > 1]
    if dup:
        raise BenchmarkError(f"{spec.name}: duplicate problem ids {dup[:5]}")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# Shared field helpers


def _field(row: dict[str, Any], *keys: str) -> Any:
    """The first of ``keys`` present (and not None) in the row; KeyError naming them all otherwise."""
    for k in keys:
        if row.get(k) is not None:
            return row[k]
    raise KeyError(" or ".join(keys))


def _text(value: Any) -> str:
    """A source answer as a string: 27.0 -> "27", 204 -> "204", strings stripped."""
    if isinstance(value, bool):
        raise TypeError(f"expected a number or string, got {value!r}")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"expected a number or string, got {type(value).__name__}")
    return value.strip()


def last_boxed(text: object) -> str | None:
    """The last non-empty ``\\boxed{...}`` of a reference solution (``workflow.tasks.math.last_boxed``, the one
    extractor of model answers too); None without a box or when its braces never close."""
    return (_last_box(text) or None) if isinstance(text, str) else None


# ---------------------------------------------------------------------------------------------------------------
# Math loaders


@register(
    "gsm8k",
    "math",
    HubSource("openai/gsm8k", "main", "test", "1,319 test problems; the local copy of Yue et al. adds idx"),
)
def gsm8k(index: int, row: dict[str, Any]) -> dict[str, Any]:
    """Answer: the number after the last ``####``, thousands commas removed; reference: the worked solution
    before it, with the calculator annotations ``<<48/2=24>>`` removed."""
    solution = row["answer"]
    if "####" not in solution:
        raise ValueError("answer has no '#### <number>' line")
    work, _, final = solution.rpartition("####")
    return {
        "id": f"gsm8k/{index}",
        "question": row["question"],
        "answer": final.strip().replace(",", ""),
        "reference": re.sub(r"<<[^>]*>>", "", work).strip(),
        "meta": {"idx": row.get("idx", index)},
    }


@register("math500", "math", HubSource("HuggingFaceH4/MATH-500", None, "test", "the 500-problem MATH split"))
def math500(index: int, row: dict[str, Any]) -> dict[str, Any]:
    level = row.get("level")
    return {
        "id": f"math500/{index}",
        "question": row["problem"],
        "answer": _text(row["answer"]),
        "reference": row.get("solution"),
        "difficulty": f"level {level}" if level is not None else "unknown",
        "meta": {"subject": row.get("subject"), "unique_id": row.get("unique_id")},
    }


@register(
    "minerva_math",
    "math",
    HubSource(
        "math-ai/minervamath",
        None,
        "test",
        "272 problems; hub rows carry question/answer, the Yue et al. copy problem/solution (answer boxed)",
    ),
)
def minerva_math(index: int, row: dict[str, Any]) -> dict[str, Any]:
    """Answer: the last ``\\boxed{}`` of the solution (as the official code does), else an ``answer`` field."""
    solution = row.get("solution")
    answer = last_boxed(solution) if isinstance(solution, str) else None
    if answer is None:
        if row.get("answer") is None:
            raise ValueError("no \\boxed{} answer in the solution and no answer field")
        answer = _text(row["answer"])
    return {
        "id": f"minerva_math/{index}",
        "question": _field(row, "problem", "question"),
        "answer": answer,
        "reference": solution,
        "meta": {"type": row.get("type"), "idx": row.get("idx", index)},
    }


@register(
    "olympiadbench",
    "math",
    HubSource(
        "Hothan/OlympiadBench",
        "OE_TO_maths_en_COMP",
        "train",
        "English, text-only, open-ended math (the Yue et al. set, 675 problems; the hub config has 674)",
    ),
)
def olympiadbench(index: int, row: dict[str, Any]) -> dict[str, Any]:
    final = row["final_answer"]
    if isinstance(final, str):
        final = [final]
    answer = ", ".join(_text(a).replace("$", "").strip() for a in final)
    solution = row.get("solution")
    if isinstance(solution, list):
        solution = "\n\n".join(solution)
    unit = row.get("unit")
    return {
        "id": f"olympiadbench/{index}",
        "question": row["question"],
        "answer": answer,
        "reference": solution,
        "difficulty": str(row["difficulty"]) if row.get("difficulty") else "unknown",
        "meta": {
            "source_id": row.get("id"),
            "subfield": row.get("subfield"),
            "answer_type": row.get("answer_type"),
            "unit": unit.replace("$", "").strip() if isinstance(unit, str) else None,
            "is_multiple_answer": row.get("is_multiple_answer"),
            "context": row.get("context"),
        },
    }


@register(
    "aime24", "math", HubSource("HuggingFaceH4/aime_2024", None, "train", "30 problems; only a train split")
)
def aime24(index: int, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"aime24/{index}",
        "question": _field(row, "problem", "question"),
        "answer": _text(row["answer"]),
        "reference": row.get("solution"),
        "meta": {"source_id": row.get("id"), "url": row.get("url"), "year": row.get("year")},
    }


@register(
    "amc23", "math", HubSource("math-ai/amc23", None, "test", "40 AMC 2023 problems; answers are floats")
)
def amc23(index: int, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"amc23/{index}",
        "question": _field(row, "problem", "question"),
        "answer": _text(row["answer"]),
        "reference": row.get("solution"),
        "meta": {"source_id": row.get("id"), "url": row.get("url")},
    }


# Omni-MATH-Rule (Yue et al. §4.3): the 2,821 of Omni-MATH's 4,428 problems the authors found gradable by rules,
# released as omni_math_rule.jsonl in the GitHub repo KbsdJames/omni-math-rule (same fields as Omni-MATH); load it
# as a local file. Their selection (agreement of rule-based and GPT-4o grading, then manual review) cannot be
# recomputed, so ``rule_filter`` on the full set is our conservative stand-in: keep an answer that is one short
# line of mathematics, i.e. at most 64 characters, no prose (no run of 3+ letters outside LaTeX command names),
# no relation or condition (= < > ; \le \ge \ne \in \mid \forall \exists \iff \implies), no ellipsis (families of
# answers), no \text / \mathrm (words, units). It keeps fewer problems than the official subset.
_RULE_COMMANDS = re.compile(
    r"\\(?:l?dots|cdots|vdots|forall|exists|mid|iff|implies|[Rr]ightarrow|to|text\w*|mathrm|mbox|operatorname"
    r"|leq?|geq?|neq?|leqslant|geqslant|approx|sim|in|notin|subset\w*|supset\w*|cup|cap|setminus)(?![A-Za-z])"
)


def rule_checkable(answer: Any) -> bool:
    """Whether an Omni-MATH answer is simple enough to grade by rules (see the comment above for the rule)."""
    if not isinstance(answer, str | int | float) or isinstance(answer, bool):
        return False
    a = _text(answer).strip().strip("$").strip()
    if not a or len(a) > 64 or "\n" in a or _RULE_COMMANDS.search(a) or re.search(r"[=<>;]", a):
        return False
    return not re.search(r"[A-Za-z]{3,}", re.sub(r"\\[A-Za-z]+", " ", a))


@register(
    "omni_math",
    "math",
    HubSource(
        "KbsdJames/Omni-MATH",
        None,
        "test",
        "all 4,428 problems; Omni-MATH-Rule is the GitHub file omni_math_rule.jsonl (KbsdJames/omni-math-rule)",
    ),
)
def omni_math(index: int, row: dict[str, Any], *, rule_filter: bool = False) -> dict[str, Any] | None:
    """``rule_filter``: keep only rule-checkable answers (``rule_checkable``); not needed on Omni-MATH-Rule."""
    if rule_filter and not rule_checkable(row["answer"]):
        return None
    difficulty = row.get("difficulty")
    return {
        "id": f"omni_math/{index}",
        "question": row["problem"],
        "answer": _text(row["answer"]),
        "reference": row.get("solution"),
        "difficulty": _text(difficulty) if difficulty is not None else "unknown",
        "meta": {"domain": row.get("domain"), "source": row.get("source"), "idx": row.get("idx")},
    }


# ---------------------------------------------------------------------------------------------------------------
# Code loaders


@register(
    "humaneval_plus",
    "code",
    HubSource("evalplus/humanevalplus", None, "test", "164 problems, EvalPlus tests"),
)
def humaneval_plus(index: int, row: dict[str, Any]) -> dict[str, Any]:
    task_id = row["task_id"]
    return {
        "id": f"humaneval_plus/{task_id.rsplit('/', 1)[-1]}",
        "question": row["prompt"],
        "reference": row["prompt"] + row["canonical_solution"],
        "tests": {
            "format": "functional",
            "entry_point": row["entry_point"],
            "prompt": row["prompt"],
            "test": row["test"],
        },
        "meta": {"task_id": task_id},
    }


class _StrOnlyUnpickler(pickle.Unpickler):
    """Refuses every global, so a pickle can build only builtin values (str, list, dict, ...), never call code."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused {module}.{name}: a LiveCodeBench test blob is a pickled str")


def decode_test_cases(blob: Any) -> list[dict[str, Any]]:
    """LiveCodeBench test cases: a JSON list, or (large private sets) base64(zlib(pickle(JSON string))).

    Upstream (LiveCodeBench ``lcb_runner/benchmarks/code_generation.py``) calls ``pickle.loads`` on the blob, which
    would run any code a tampered dataset carried. Here JSON is tried first, and the pickle is read by an
    unpickler that refuses all globals and must yield a str, which is then parsed as JSON.
    """
    if isinstance(blob, list):
        return blob
    if not isinstance(blob, str):
        raise TypeError(f"test cases must be a JSON string or list, got {type(blob).__name__}")
    try:
        return json.loads(blob)
    except json.JSONDecodeError:
        pass
    try:
        raw = zlib.decompress(base64.b64decode(blob.encode("ascii"), validate=True))
        text = _StrOnlyUnpickler(io.BytesIO(raw)).load()
    except (ValueError, zlib.error, pickle.UnpicklingError, EOFError) as e:
        raise ValueError(f"test cases are neither JSON nor base64+zlib+pickle ({e})") from None
    if not isinstance(text, str):
        raise ValueError(f"compressed test cases hold a {type(text).__name__}, not a JSON string")
    return json.loads(text)


_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def _in_window(date: str, date_from: str | None, date_to: str | None) -> bool:
    """Inclusive at the bounds' own precision: date_to "2025-01" keeps every day of January 2025."""
    for bound in (date_from, date_to):
        if bound is not None and not _DATE.match(bound):
            raise BenchmarkError(f"livecodebench: date bound {bound!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
    return (date_from is None or date[: len(date_from)] >= date_from) and (
        date_to is None or date[: len(date_to)] <= date_to
    )


@register(
    "livecodebench",
    "code",
    HubSource(
        "lighteval/code_generation_lite",
        "release_v5",
        "test",
        "parquet mirror of livecodebench/code_generation_lite (a loading script, unsupported by datasets>=4); "
        "release_v5 spans 2023-05..2025-01 and so holds the paper's 2024-08..2025-01 window",
    ),
)
def livecodebench(
    index: int,
    row: dict[str, Any],
    *,
    date_from: str | None = None,
    date_to: str | None = None,
    private_tests: bool = True,
) -> dict[str, Any] | None:
    """``date_from`` / ``date_to``: contest date window, inclusive (Yue et al. Fig 3: 2024-08 .. 2025-01);
    ``private_tests``: also decode the hidden test cases (large), else the public ones only."""
    date = str(row["contest_date"])[:10]
    if not _in_window(date, date_from, date_to):
        return None
    public = decode_test_cases(row["public_test_cases"])
    cases = public
    if private_tests and row.get("private_test_cases"):
        cases = public + decode_test_cases(row["private_test_cases"])
    types = {c["testtype"] for c in cases}
    metadata = row.get("metadata") or {}
    if isinstance(metadata, str):
        metadata = json.loads(metadata) if metadata.strip() else {}
    pairs = [{"input": c["input"], "output": c["output"]} for c in cases]
    if types == {"stdin"}:
        tests = {"format": "stdio", "cases": pairs}
    elif types == {"functional"}:
        tests = {"format": "call", "fn_name": metadata["func_name"], "cases": pairs}
    else:
        raise ValueError(f"test types {sorted(types)}: expected all 'stdin' or all 'functional'")
    starter = row.get("starter_code") or ""
    question = row["question_content"]
    if starter:  # LiveCodeBench's prompt shows LeetCode-style problems their starter code
        question += (
            "\n\nYou will use the following starter code to write the solution to the problem and enclose your "
            f"code within delimiters.\n```python\n{starter}\n```"
        )
    return {
        "id": f"livecodebench/{row['question_id']}",
        "question": question,
        "tests": tests,
        "difficulty": str(row.get("difficulty") or "unknown"),
        "meta": {
            "title": row.get("question_title"),
            "platform": row.get("platform"),
            "question_id": row["question_id"],
            "contest_id": row.get("contest_id"),
            "contest_date": date,
            "starter_code": starter,
            "num_public": len(public),
        },
    }


# ---------------------------------------------------------------------------------------------------------------
# Reasoning Gym (ProRL): procedural, offline, scored by the task's own scorer (workflow/tasks/gym.py)


def _gym_rows(*, task: str, size: int, seed: int, config: str | dict | None) -> Iterable[dict[str, Any]]:
    from workflow.tasks import gym

    return gym.generate(task, size=size, seed=seed, config=config)


@register("gym", "gym", generate=_gym_rows)
def gym(
    index: int,
    row: dict[str, Any],
    *,
    task: str = "",
    size: int = 100,
    seed: int = 0,
    config: str | None = None,
) -> dict[str, Any]:
    """``task``: a Reasoning Gym dataset name (``graph_color``, ``basic_arithmetic``, ...); ``size``: problems
    (ProRL: 100 held-out per task); ``seed``; ``config``: further generator arguments as JSON (e.g.
    ``{"min_num_vertices": 12}``)."""
    from workflow.tasks import gym as gym_task

    return gym_task.to_problem(index, row, task=task, size=size, seed=seed, config=config)


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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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


if __name__ == "__main__":
    main()
