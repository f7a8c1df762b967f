"""The benchmark registry and loading machinery: specs, sources (hub or local file), row validation.

Consumes a ``BenchmarkSpec``; produces normalised problem dicts (schema in ``workflow.benchmarks``). The loaders
themselves live in ``workflow.benchmarks.math``, ``.code`` and ``.gym`` and register here with ``@register``.
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflow.tasks.answers import last_boxed as _last_box

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
