"""Benchmark loaders (workflow/benchmarks/) and the Reasoning Gym checker (workflow/tasks/gym.py).

Nothing here reaches the HuggingFace hub. The six math sets are the local copies in ../shared/data/benchmarks
(skipped where absent); the other benchmarks are small synthetic fixtures written in the hub's field layout. Where
the loaders would download from the hub, the tests keep the same ``datasets.load_dataset`` call and hand it a
local directory laid out like a hub dataset repo, or replace the download by a local JSON file (marked below).
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import zlib
from pathlib import Path

import pytest

# no test may reach the hub, even by accident (set before anything imports datasets)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from workflow import benchmarks as bm  # noqa: E402
from workflow.benchmarks import BenchmarkError, BenchmarkSpec, last_boxed, load_benchmark  # noqa: E402
from workflow.benchmarks import core as bm_core  # noqa: E402
from workflow.benchmarks.math import rule_checkable  # noqa: E402
from workflow.io import read_jsonl  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
MATH_COUNTS = {
    "aime24": 30,
    "amc23": 40,
    "gsm8k": 1319,
    "math500": 500,
    "minerva_math": 272,
    "olympiadbench": 675,
}
SCHEMA = {"id", "benchmark", "kind", "question", "answer", "reference", "tests", "difficulty", "meta"}


def shared_set(name: str) -> Path:
    path = SHARED / name / "test.jsonl"
    if not path.is_file():
        pytest.skip(f"local benchmark copy {path} not present")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ---------------------------------------------------------------------------------------------------------------
# The six math sets of Yue et al., from the local copies


@pytest.mark.parametrize("name", sorted(MATH_COUNTS))
def test_local_math_set(name):
    path = shared_set(name)
    problems = load_benchmark({"name": name, "source": str(path.parent)})
    assert len(problems) == MATH_COUNTS[name]
    assert len({p["id"] for p in problems}) == len(problems)
    for p in problems:
        assert set(p) == SCHEMA
        assert p["benchmark"] == name and p["kind"] == "math" and p["tests"] is None
        assert isinstance(p["question"], str) and p["question"].strip()
        assert isinstance(p["answer"], str) and p["answer"].strip()
        assert isinstance(p["difficulty"], str) and isinstance(p["meta"], dict)
    assert json.loads(json.dumps(problems)) == problems
    # the file itself and its directory give the same problems
    assert load_benchmark({"name": name, "source": str(path)}) == problems


def test_deepscaler_from_a_local_file(tmp_path):
    """ProRL's math training set, read from a local copy in the hub's row format (field names of
    agentica-org/DeepScaleR-Preview-Dataset: problem, answer, solution)."""
    rows = [
        {"problem": "What is $1+1$?", "answer": "2", "solution": "$1+1=2$."},
        {"problem": "Find $x$ if $2x=6$.", "answer": 3, "solution": None},
    ]
    problems = load_benchmark({"name": "deepscaler", "source": str(write_jsonl(tmp_path / "d.jsonl", rows))})
    assert [p["id"] for p in problems] == ["deepscaler/0", "deepscaler/1"]
    assert [p["answer"] for p in problems] == ["2", "3"] and problems[0]["kind"] == "math"
    assert all(set(p) == SCHEMA for p in problems)


def test_known_answers():
    gsm = load_benchmark({"name": "gsm8k", "source": str(shared_set("gsm8k"))})
    assert gsm[0]["answer"] == "18" and gsm[0]["id"] == "gsm8k/0"
    assert "<<" not in gsm[0]["reference"] and gsm[0]["reference"].endswith("farmer’s market.")
    raw = read_jsonl(shared_set("gsm8k"))
    with_commas = [i for i, r in enumerate(raw) if "," in r["answer"].rpartition("####")[2]]
    assert with_commas, "GSM8K has answers written with thousands separators"
    for i in with_commas:
        assert gsm[i]["answer"] == raw[i]["answer"].rpartition("####")[2].strip().replace(",", "")
        assert gsm[i]["answer"].lstrip("-").isdigit()

    raw = read_jsonl(shared_set("math500"))
    math500 = load_benchmark({"name": "math500", "source": str(shared_set("math500"))})
    assert math500[0]["answer"] == "\\left( 3, \\frac{\\pi}{2} \\right)" == raw[0]["answer"]
    assert all(p["answer"] == r["answer"] for p, r in zip(math500, raw, strict=True))
    assert math500[0]["difficulty"] == "level 2" and math500[0]["meta"]["subject"] == "Precalculus"

    raw = read_jsonl(shared_set("minerva_math"))
    minerva = load_benchmark({"name": "minerva_math", "source": str(shared_set("minerva_math"))})
    assert [p["answer"] for p in minerva[:2]] == ["1.6", "4.5e33"]
    for p, r in zip(minerva, raw, strict=True):
        assert r["solution"].rpartition("\\boxed{")[2].lstrip().startswith(p["answer"])  # the last box

    aime = load_benchmark({"name": "aime24", "source": str(shared_set("aime24"))})
    assert aime[0]["answer"] == "204" and aime[0]["meta"]["source_id"] == 60
    amc = load_benchmark({"name": "amc23", "source": str(shared_set("amc23"))})
    assert amc[0]["answer"] == "27" and amc[15]["answer"] == "-1"

    raw = read_jsonl(shared_set("olympiadbench"))
    olympiad = load_benchmark({"name": "olympiadbench", "source": str(shared_set("olympiadbench"))})
    for p, r in zip(olympiad, raw, strict=True):
        official = r["final_answer"][0].strip("$")  # Qwen2.5-Math parse_ground_truth
        assert p["answer"] == official or "$" in official
        assert "$" not in p["answer"]
    by_source = {p["meta"]["source_id"]: p for p in olympiad}
    assert by_source[1606]["answer"] == "2"
    assert by_source[2419]["meta"]["unit"] == "cm^2"
    multi = [p["answer"] for p in olympiad if p["meta"]["is_multiple_answer"]]
    assert "69,84" in multi


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so \\boxed{5}.", "5"),
        ("\\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        ("$\\boxed 7$", "7"),
        ("\\fbox{x^{2}}", "x^{2}"),
        ("\\boxed{unclosed {", None),
        ("no box", None),
        ("", None),
        (None, None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


# ---------------------------------------------------------------------------------------------------------------
# Code: HumanEval+ and LiveCodeBench, synthetic rows in the hub field layout

HUMANEVAL_ROW = {
    "task_id": "HumanEval/7",
    "prompt": 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n',
    "canonical_solution": "    return a + b\n",
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
}


def test_humaneval_plus(tmp_path):
    src = write_jsonl(tmp_path / "humanevalplus.jsonl", [HUMANEVAL_ROW])
    (p,) = load_benchmark({"name": "humaneval_plus", "source": str(src)})
    assert p["id"] == "humaneval_plus/7" and p["kind"] == "code" and p["answer"] is None
    assert p["question"] == HUMANEVAL_ROW["prompt"]
    assert p["reference"] == HUMANEVAL_ROW["prompt"] + HUMANEVAL_ROW["canonical_solution"]
    assert p["tests"] == {
        "format": "functional",
        "entry_point": "add",
        "prompt": HUMANEVAL_ROW["prompt"],
        "test": HUMANEVAL_ROW["test"],
    }
    assert p["meta"]["task_id"] == "HumanEval/7"


def compress(cases: list[dict]) -> str:
    """LiveCodeBench's private_test_cases encoding: base64(zlib(pickle(json string)))."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode()


def lcb_row(qid: str, date: str, testtype: str, private: str = "", func: str | None = None) -> dict:
    if testtype == "stdin":
        public = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    else:
        public = [{"input": "[1, 2]\n3", "output": "6", "testtype": "functional"}]
    return {
        "question_title": f"title {qid}",
        "question_content": f"statement {qid}",
        "platform": "atcoder" if testtype == "stdin" else "leetcode",
        "question_id": qid,
        "contest_id": "c1",
        "contest_date": date,
        "starter_code": "" if func is None else f"class Solution:\n    def {func}(self, a, b):\n        ",
        "difficulty": "easy",
        "public_test_cases": json.dumps(public),
        "private_test_cases": private,
        "metadata": json.dumps({"func_name": func} if func else {}),
    }


def lcb_rows() -> list[dict]:
    private_stdin = compress([{"input": "5 5\n", "output": "10\n", "testtype": "stdin"}] * 2)
    private_call = json.dumps([{"input": "[4]\n1", "output": "5", "testtype": "functional"}])
    return [
        lcb_row("abc100_a", "2024-07-31T00:00:00", "stdin", private_stdin),
        lcb_row("abc101_a", "2024-08-01T00:00:00", "stdin", private_stdin),
        lcb_row("3301", "2024-10-12T00:00:00", "functional", private_call, func="sumUp"),
        lcb_row("abc200_b", "2025-01-31T00:00:00", "stdin"),
        lcb_row("abc201_b", "2025-02-01T00:00:00", "stdin", private_stdin),
    ]


def test_livecodebench_stdio_and_call(tmp_path):
    src = write_jsonl(tmp_path / "lcb.jsonl", lcb_rows())
    problems = load_benchmark({"name": "livecodebench", "source": str(src)})
    assert [p["id"] for p in problems] == [
        "livecodebench/abc100_a",
        "livecodebench/abc101_a",
        "livecodebench/3301",
        "livecodebench/abc200_b",
        "livecodebench/abc201_b",
    ]
    stdio = problems[1]
    assert stdio["tests"] == {
        "format": "stdio",
        "cases": [{"input": "1 2\n", "output": "3\n"}] + [{"input": "5 5\n", "output": "10\n"}] * 2,
    }
    call = problems[2]
    assert call["tests"] == {
        "format": "call",
        "fn_name": "sumUp",
        "cases": [{"input": "[1, 2]\n3", "output": "6"}, {"input": "[4]\n1", "output": "5"}],
    }
    assert call["meta"]["starter_code"].startswith("class Solution")
    assert call["meta"]["contest_date"] == "2024-10-12" and call["meta"]["platform"] == "leetcode"
    assert call["difficulty"] == "easy" and call["question"].startswith("statement 3301\n\nYou will use")
    assert call["question"].endswith(f"```python\n{call['meta']['starter_code']}\n```")  # LCB's prompt
    assert problems[3]["tests"]["cases"] == [{"input": "1 2\n", "output": "3\n"}]  # no private tests


def test_livecodebench_options(tmp_path):
    src = write_jsonl(tmp_path / "lcb.jsonl", lcb_rows())
    window = {"name": "livecodebench", "source": str(src), "date_from": "2024-08", "date_to": "2025-01"}
    ids = [p["meta"]["question_id"] for p in load_benchmark(window)]
    assert ids == ["abc101_a", "3301", "abc200_b"]  # inclusive at month precision
    ids = [p["meta"]["question_id"] for p in load_benchmark({**window, "date_to": "2024-12-31", "limit": 5})]
    assert ids == ["abc101_a", "3301"]
    public_only = load_benchmark({**window, "private_tests": "false", "limit": 1})
    assert public_only[0]["tests"]["cases"] == [{"input": "1 2\n", "output": "3\n"}]
    with pytest.raises(BenchmarkError, match="YYYY"):
        load_benchmark({**window, "date_from": "Aug 2024"})


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())  # harmless stand-in for a code-running payload


@pytest.mark.parametrize(
    "blob, match",
    [
        (base64.b64encode(zlib.compress(pickle.dumps(_Evil()))).decode(), "refused"),
        (base64.b64encode(zlib.compress(pickle.dumps([1, 2]))).decode(), "list"),
        ("not json, not base64!", "neither"),
    ],
)
def test_livecodebench_refuses_unsafe_blobs(tmp_path, blob, match):
    row = lcb_row("x1", "2024-09-01", "stdin", private=blob)
    src = write_jsonl(tmp_path / "lcb.jsonl", [row])
    with pytest.raises(BenchmarkError, match=f"livecodebench: row 0: .*{match}"):
        load_benchmark({"name": "livecodebench", "source": str(src)})


# ---------------------------------------------------------------------------------------------------------------
# Omni-MATH

OMNI_ROWS = [
    {
        "domain": ["Mathematics -> Number Theory -> Congruences"],
        "difficulty": 6.5,
        "problem": "Find the least n such that ...",
        "solution": "... so the answer is \\boxed{12}.",
        "answer": "12",
        "source": "china_national_olympiad",
    },
    {
        "domain": ["Mathematics -> Algebra -> Functional Equations"],
        "difficulty": 8.0,
        "problem": "Find all functions f such that ...",
        "solution": "...",
        "answer": "f(x) = x \\text{ for all } x",
        "source": "imo",
    },
    {
        "domain": ["Mathematics -> Algebra -> Other"],
        "difficulty": 4.0,
        "problem": "Compute the sum ...",
        "solution": "...",
        "answer": "$\\frac{\\sqrt{3}}{2}$",
        "source": "hmmt",
    },
]


def test_omni_math(tmp_path):
    src = write_jsonl(tmp_path / "omni.jsonl", OMNI_ROWS)
    full = load_benchmark({"name": "omni_math", "source": str(src)})
    assert [p["id"] for p in full] == ["omni_math/0", "omni_math/1", "omni_math/2"]
    assert full[0]["answer"] == "12" and full[0]["difficulty"] == "6.5"
    assert full[0]["meta"] == {
        "domain": OMNI_ROWS[0]["domain"],
        "source": "china_national_olympiad",
        "idx": None,
    }
    assert full[0]["reference"] == OMNI_ROWS[0]["solution"]
    rule = load_benchmark({"name": "omni_math", "source": str(src), "rule_filter": "true"})
    assert [p["id"] for p in rule] == ["omni_math/0", "omni_math/2"]  # ids keep their source positions


@pytest.mark.parametrize(
    "answer, ok",
    [
        ("12", True),
        (27.0, True),
        ("\\frac{\\sqrt{3}}{2}", True),
        ("(1, 2), (3, 4)", True),
        ("2^{2024} - 1", True),
        ("\\left(0, \\frac{1}{2}\\right]", True),
        ("f(x) = x", False),
        ("x \\le 3", False),
        ("n \\in \\{1, 2\\}", False),
        ("1, 2, \\ldots, n", False),
        ("\\text{No such } n", False),
        ("There are infinitely many", False),
        ("", False),
        (None, False),
        ("1" * 65, False),
    ],
)
def test_rule_checkable(answer, ok):
    assert rule_checkable(answer) is ok


# ---------------------------------------------------------------------------------------------------------------
# The hub code path, run on local files

MATH_ROWS = [
    {"problem": f"What is {i} + {i}?", "solution": f"\\boxed{{{2 * i}}}", "answer": str(2 * i), "level": 1}
    for i in range(6)
]


def test_hub_layout_directory_goes_through_load_dataset(tmp_path, monkeypatch):
    """A directory laid out like a hub dataset repo (data/<split>-*.parquet, README configs) is read by the same
    ``datasets.load_dataset(source, name=subset, split=split, revision=revision)`` call as a hub id."""
    datasets = pytest.importorskip("datasets")
    repo = tmp_path / "MATH-500"
    (repo / "data").mkdir(parents=True)
    datasets.Dataset.from_list(MATH_ROWS).to_parquet(str(repo / "data" / "test-00000-of-00001.parquet"))
    calls = []
    real = bm_core._read_hub
    monkeypatch.setattr(bm_core, "_read_hub", lambda *a: calls.append(a) or real(*a))
    problems = load_benchmark({"name": "math500", "source": str(repo), "limit": 4})
    assert calls == [(str(repo), None, "test", None)]
    assert [p["answer"] for p in problems] == ["0", "2", "4", "6"]
    assert problems[1]["difficulty"] == "level 1"

    # a named config (subset), declared in the dataset card as on the hub
    (repo / "main").mkdir()
    datasets.Dataset.from_list(MATH_ROWS[:2]).to_parquet(str(repo / "main" / "test-00000-of-00001.parquet"))
    (repo / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: test\n    path: data/test-*\n"
        "- config_name: main\n  data_files:\n  - split: test\n    path: main/test-*\n---\n"
    )
    assert len(load_benchmark({"name": "math500", "source": str(repo), "subset": "main"})) == 2
    assert len(load_benchmark({"name": "math500", "source": str(repo), "config_name": "default"})) == 6


def test_hub_id_arguments(tmp_path, monkeypatch):
    """The hub download is replaced here: ``datasets.load_dataset`` is patched to record its arguments and read a
    local JSON file instead, so the loader's own hub call (default id, config, split, revision) is checked."""
    datasets = pytest.importorskip("datasets")
    local = write_jsonl(tmp_path / "gsm8k.jsonl", [{"question": "1+1?", "answer": "1+1=<<1+1=2>>2\n#### 2"}])
    calls = []
    real = datasets.load_dataset

    def fake_load_dataset(path, name=None, split=None, revision=None, **kw):
        calls.append((path, name, split, revision))
        return real("json", data_files=str(local), split="train")

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    (p,) = load_benchmark({"name": "gsm8k"})
    assert calls[-1] == ("openai/gsm8k", "main", "test", None)
    assert p["answer"] == "2" and p["reference"] == "1+1=2"
    load_benchmark({"name": "gsm8k", "source": "openai/gsm8k", "revision": "abc123", "split": "train"})
    assert calls[-1] == ("openai/gsm8k", "main", "train", "abc123")
    load_benchmark({"name": "gsm8k", "source": "someone/gsm8k-copy"})
    assert calls[-1] == ("someone/gsm8k-copy", None, "test", None)  # defaults apply to the default id only
    assert bm.HUB["aime24"].split == "train" and bm.HUB["livecodebench"].subset == "release_v5"


def test_save_to_disk_and_parquet_sources(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.DatasetDict({"test": datasets.Dataset.from_list(MATH_ROWS)}).save_to_disk(
        str(tmp_path / "saved")
    )
    assert len(load_benchmark({"name": "math500", "source": str(tmp_path / "saved")})) == 6
    datasets.Dataset.from_list(MATH_ROWS).to_parquet(str(tmp_path / "m.parquet"))
    assert (
        load_benchmark({"name": "math500", "source": str(tmp_path / "m.parquet"), "limit": 2})[1]["answer"]
        == "2"
    )


# ---------------------------------------------------------------------------------------------------------------
# Spec, errors, CLI


def test_docstring_lists_every_loader():
    table = bm.__doc__.split("options:", 1)[1]
    for name, loader in bm.LOADERS.items():
        line = next(ln for ln in table.splitlines() if ln.startswith(name + " "))
        if loader.hub:
            assert (
                loader.hub.hub_id in line and (loader.hub.subset or "") in line and loader.hub.split in line
            )
        assert all(opt in line for opt in loader.options)


def test_limit(tmp_path):
    src = write_jsonl(tmp_path / "test.jsonl", MATH_ROWS)
    assert [p["id"] for p in load_benchmark({"name": "math500", "source": str(tmp_path), "limit": 3})] == [
        "math500/0",
        "math500/1",
        "math500/2",
    ]
    assert len(load_benchmark(BenchmarkSpec("math500", str(src), limit=100))) == 6
    with pytest.raises(BenchmarkError, match="limit"):
        BenchmarkSpec("math500", str(src), limit=0)


def test_unknown_names_and_options(tmp_path):
    with pytest.raises(
        BenchmarkError, match="unknown benchmark 'math5000'; valid names: .*math500.*minerva_math"
    ):
        load_benchmark({"name": "math5000", "source": str(tmp_path)})
    with pytest.raises(BenchmarkError, match="unknown option.*date_form.*valid options: date_from, date_to"):
        load_benchmark({"name": "livecodebench", "source": str(tmp_path), "date_form": "2024-08"})
    with pytest.raises(BenchmarkError, match="valid options: none"):
        load_benchmark({"name": "gsm8k", "source": str(tmp_path), "rule_filter": True})
    with pytest.raises(BenchmarkError, match="rule_filter='maybe' is not a bool"):
        load_benchmark({"name": "omni_math", "source": str(tmp_path), "rule_filter": "maybe"})
    with pytest.raises(BenchmarkError, match="does not exist"):
        load_benchmark({"name": "math500", "source": str(tmp_path / "missing.jsonl")})


def test_malformed_rows_name_benchmark_and_row(tmp_path):
    rows = [dict(MATH_ROWS[0]), {k: v for k, v in MATH_ROWS[1].items() if k != "answer"}]
    src = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(
        BenchmarkError, match=r"math500: row 1: missing field 'answer' \(row fields: level, problem"
    ):
        load_benchmark({"name": "math500", "source": str(src)})
    src = write_jsonl(tmp_path / "gsm.jsonl", [{"question": "q", "answer": "no final line"}])
    with pytest.raises(BenchmarkError, match="gsm8k: row 0: .*####"):
        load_benchmark({"name": "gsm8k", "source": str(src)})
    src = write_jsonl(tmp_path / "empty.jsonl", [{"problem": " ", "answer": "1"}])
    with pytest.raises(BenchmarkError, match="math500: row 0: empty question"):
        load_benchmark({"name": "math500", "source": str(src)})
    src = write_jsonl(tmp_path / "minerva.jsonl", [{"problem": "q", "solution": "no box", "type": "t"}])
    with pytest.raises(BenchmarkError, match="minerva_math: row 0: .*boxed"):
        load_benchmark({"name": "minerva_math", "source": str(src)})
    (tmp_path / "broken.jsonl").write_text('{"problem": "q", "answer": "1"}\n{"problem": \n')
    with pytest.raises(BenchmarkError, match="line 2 is not JSON"):
        load_benchmark({"name": "math500", "source": str(tmp_path / "broken.jsonl")})


def test_cli_writes_problems(tmp_path, capsys):
    src = write_jsonl(tmp_path / "lcb.jsonl", lcb_rows())
    out = tmp_path / "results" / "study" / "data" / "livecodebench.jsonl"
    bm.main(
        [
            "--name",
            "livecodebench",
            "--source",
            str(src),
            "--option",
            "date_from=2024-08",
            "--option",
            "date_to=2025-01",
            "--out",
            str(out),
        ]
    )
    assert [p["id"] for p in read_jsonl(out)] == [
        "livecodebench/abc101_a",
        "livecodebench/3301",
        "livecodebench/abc200_b",
    ]
    assert "livecodebench: 3 problems" in capsys.readouterr().out
    assert not [f for f in out.parent.iterdir() if f.name.endswith(".tmp")]  # atomic write left no temp file
    with pytest.raises(BenchmarkError, match="key=value"):
        bm.main(["--name", "gsm8k", "--option", "limit", "--out", str(out)])


# ---------------------------------------------------------------------------------------------------------------
# Reasoning Gym


@pytest.fixture(scope="module")
def gym_problems():
    pytest.importorskip("reasoning_gym")
    return {
        task: load_benchmark({"name": "gym", "task": task, "size": "4", "seed": "7"})
        for task in ("graph_color", "basic_arithmetic")
    }


def roundtrip(p: dict) -> dict:
    return json.loads(json.dumps(p))


def test_gym_generation(gym_problems):
    for task, problems in gym_problems.items():
        assert [p["id"] for p in problems] == [f"gym/{task}/7/{i}" for i in range(4)]
        for p in problems:
            assert p["kind"] == "gym" and p["benchmark"] == "gym" and p["question"].strip()
            assert isinstance(p["answer"], str) and p["answer"]
            assert p["meta"]["task"] == task and p["meta"]["config"] == {"size": 4, "seed": 7}
            assert roundtrip(p) == p  # JSON-safe: tuples (graph_color's edges) became lists
    again = load_benchmark({"name": "gym", "task": "basic_arithmetic", "size": 4, "seed": 7})
    assert again == gym_problems["basic_arithmetic"]  # deterministic in (task, size, seed)


def test_gym_reference_passes_and_wrong_fails(gym_problems):
    from workflow.tasks import gym

    for problems in gym_problems.values():
        for p in problems:
            v = gym.check(roundtrip(p), f"<think>...</think>\n<answer>{p['answer']}</answer>")
            assert v.correct and v.reason == "ok" and v.extracted == p["answer"]
            assert gym.check(p, f"so the answer is \\boxed{{{p['answer']}}}").correct  # base-model fallback
            assert not gym.check(
                p, f"<answer>{p['answer']}</answer> on second thought <answer>x</answer>"
            ).correct
            assert gym.check(
                p, f"<answer>x</answer> on second thought <answer>{p['answer']}</answer>"
            ).correct
    arith = gym_problems["basic_arithmetic"][0]
    wrong = str(int(float(arith["answer"])) + 1)
    assert gym.check(arith, f"<answer>{wrong}</answer>") == gym.Verdict(False, "wrong", wrong)


def test_gym_partial_credit_is_not_a_pass(gym_problems):
    from workflow.tasks import gym

    color = gym_problems["graph_color"][0]
    v = gym.check(color, '<answer>{"0": 1}</answer>')  # parsable JSON, not a valid colouring: score 0.01
    assert not v.correct and v.reason == "partial:0.01" and gym.score(color, '{"0": 1}') == 0.01
    arith = gym_problems["basic_arithmetic"][0]
    v = gym.check(arith, f"<answer>the answer is {arith['answer']}</answer>")  # default scorer: length ratio
    assert not v.correct and v.reason.startswith("partial:")
    assert 0 < float(v.reason.split(":")[1]) < 1


@pytest.mark.parametrize(
    "completion, finish_reason, reason",
    [
        (None, "stop", "empty"),
        ("", "stop", "empty"),
        ("   \n", "stop", "empty"),
        (12345, "stop", "empty"),
        (b"<answer>1</answer>", "stop", "empty"),
        ("I think so.", "stop", "no_answer"),
        ("<answer></answer>", "stop", "no_answer"),
        ("<answer>unclosed", "stop", "no_answer"),
        ("\\boxed{unclosed", "stop", "no_answer"),
        ("<answer>{'0': 1</answer>", "stop", "wrong"),
        ("<answer>数字 🙂 \u0000</answer>", "stop", "wrong"),
        ("<answer>" + "9" * 100_000 + "</answer>", "stop", "wrong"),
        ("<answer>1</answer>", "length", "truncated"),
        ("<answer>1</answer>", None, "truncated"),
    ],
)
def test_gym_never_raises(gym_problems, completion, finish_reason, reason):
    from workflow.tasks import gym

    color = gym_problems["graph_color"][0]
    v = gym.check(color, completion, finish_reason)
    assert not v.correct and v.reason == reason
    for bad_problem in ({}, {"meta": {}}, {"question": "q", "meta": {"task": "no_such_task", "config": {}}}):
        assert gym.check(bad_problem, "<answer>1</answer>") == gym.Verdict(False, "error", "1")


def test_gym_json_roundtrip_scores_identically(gym_problems):
    from workflow.tasks import gym

    for problems in gym_problems.values():
        for p in problems:
            candidates = [p["answer"], "0", '{"0": 1}', "", "x", p["answer"] + " "]
            for c in candidates:
                completion = f"<answer>{c}</answer>"
                assert gym.check(roundtrip(p), completion) == gym.check(p, completion)


def test_gym_roundtrip_of_tuple_scorers():
    """arc_agi compares tuples with metadata["output"]: the scorer gets the regenerated entry, not the JSON one."""
    pytest.importorskip("reasoning_gym")
    from workflow.tasks import gym

    (p,) = load_benchmark({"name": "gym", "task": "rearc", "size": 1, "seed": 0})
    assert gym.check(roundtrip(p), f"<answer>{p['answer']}</answer>").correct
    # a question the generator no longer produces: the stored (JSON) entry is scored, and its lists fail
    stale = dict(roundtrip(p), question=p["question"] + " (edited)")
    assert gym.check(stale, f"<answer>{p['answer']}</answer>").reason == "partial:0.05"


def test_gym_errors():
    pytest.importorskip("reasoning_gym")
    with pytest.raises(BenchmarkError, match="valid tasks: .*graph_color"):
        load_benchmark({"name": "gym", "task": "graph_colour", "size": 2})
    with pytest.raises(BenchmarkError, match="task=<Reasoning Gym task name>"):
        load_benchmark({"name": "gym"})
    from workflow.tasks import gym

    assert gym.to_jsonable({1: (1, 2), "s": {3, 1}, "f": float("nan")}) == {
        "1": [1, 2],
        "s": [1, 3],
        "f": "nan",
    }
