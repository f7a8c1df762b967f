"""Evaluation studies (config ``models``): existing checkpoints sampled on benchmarks, no training.

The checkpoints are real HF models saved with ``save_pretrained`` (the tiny base model of the toy task, and a
copy of it standing in for its RL version), loaded from local directories as a hub id would be; the
benchmarks are local files in the hub layouts (MATH500 from the shared test sets where present, a HumanEval+
fixture) and Reasoning Gym's offline generator. The tiny model cannot solve them: these tests check the
plumbing (templates, blocks, checkers per problem kind, panels, verdicts), not accuracy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_workflow import copy_workflow, snakemake

from workflow.config import ConfigError, from_dict
from workflow.templates import BUILTIN, cut_at_stop, render

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"

HUMANEVAL = [
    {
        "task_id": "HumanEval/0",
        "prompt": 'def add(a, b):\n    """Sum of a and b."""\n',
        "canonical_solution": "    return a + b\n",
        "entry_point": "add",
        "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
    },
    {
        "task_id": "HumanEval/1",
        "prompt": 'def neg(a):\n    """Minus a."""\n',
        "canonical_solution": "    return -a\n",
        "entry_point": "neg",
        "test": "def check(candidate):\n    assert candidate(2) == -2\n",
    },
]


def evaluation_config(base_dir: Path, humaneval: Path) -> dict:
    benchmarks = {
        "gym": {"options": {"task": "basic_arithmetic", "size": 4, "seed": 1}, "n": 4},
        "humanevalplus": {"loader": "humaneval_plus", "source": str(humaneval), "n": 4},
    }
    if SHARED.exists():
        benchmarks["math500"] = {"source": str(SHARED / "math500"), "limit": 4, "n": 4}
    return {
        "study": "evaltiny",
        "models": {
            "tiny": {"path": str(base_dir), "role": "base", "template": "plain"},
            "tinyrl": {"path": str(base_dir), "role": "rl", "template": "plain"},
            "tinydistill": {"path": str(base_dir), "role": "distill", "template": "plain"},
        },
        "benchmarks": benchmarks,
        "comparisons": {
            "pair": {"base": "tiny", "models": ["tinyrl", "tinydistill"], "benchmarks": list(benchmarks)}
        },
        "sampling": {"n": 4, "shards": 1, "block": 2, "max_tokens": 8, "temperature": 1.0},
        "analysis": {"bootstrap": 20, "ppl_problems": 2, "ppl_samples": 2},
        "wandb": {"mode": "disabled"},
    }


@pytest.fixture(scope="module")
def eval_study(repo, tiny_base, tmp_path_factory):
    wd = copy_workflow(repo, tmp_path_factory.mktemp("evalwf"))
    he = wd / "humaneval.jsonl"
    he.write_text("".join(json.dumps(r) + "\n" for r in HUMANEVAL))
    cfg = evaluation_config(tiny_base["model"], he)
    (wd / "eval.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake(wd, "--cores", "2", "--configfile", "eval.yaml")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    return wd, cfg, r


def test_evaluation_study_end_to_end(eval_study):
    wd, cfg, r = eval_study
    res = wd / "results" / "evaltiny"
    assert not (res / "train").exists() and not (res / "base").exists()  # nothing trained
    # the built-in template the models use is written out in the resolved config, text and stops
    from workflow.templates import BUILTIN

    resolved = json.loads((res / "config.resolved.json").read_text())
    assert resolved["templates"]["plain"]["prompt"] == BUILTIN["plain"].prompt
    for bench in cfg["benchmarks"]:
        panel = f"pair_{bench}"
        counts = pd.read_csv(res / "tables" / f"counts_{panel}.csv")
        assert set(counts.model) == {"tiny", "tinyrl", "tinydistill"}
        assert (counts.n == 4).all()
        assert set(counts.algo) == {"base", "tinyrl", "tinydistill"}
        verdict = json.loads((res / "tables" / f"verdict_{panel}.json").read_text())
        assert {v["model"] for v in verdict} == {"tinyrl", "tinydistill"}
        # the same checkpoint and seeds: the "RL" copy samples exactly what the base samples
        assert all(v["pass1_gain"] == 0 and v["solved_rl_only"] == 0 for v in verdict)
        # the verdict table says how math answers were graded; other kinds have no such setting
        math = bench == "math500"
        assert all(v.get("verification_policy") == ("strict" if math else None) for v in verdict)
        assert (
            "verification.policy = strict" in (res / "tables" / f"verdict_{panel}.md").read_text()
        ) == math
        for fig in ("passk", "histogram", "difficulty", "perplexity"):
            assert (res / "figures" / f"{fig}_{panel}.png").exists()
        assert not (res / "figures" / f"dynamics_{panel}.png").exists()
    # the study-wide grid (Yue et al. Fig 2 layout): a row per comparison, a column per benchmark
    grid = pd.read_csv(res / "tables" / "passk-grid.csv")
    assert list(dict.fromkeys(grid.col)) == list(cfg["benchmarks"]) and set(grid.row) == {"pair"}
    assert len(grid) == sum(
        len(pd.read_csv(res / "tables" / f"passk_pair_{b}.csv")) for b in cfg["benchmarks"]
    )
    assert (res / "figures" / "passk-grid.png").stat().st_size > 10_000
    assert (res / "figures" / "passk-grid.pdf").exists()
    # each problem kind went through its own checker
    reasons = {}
    for bench in cfg["benchmarks"]:
        rows = [
            json.loads(x)
            for x in (res / "verified" / "tiny" / bench / "shard0.jsonl").read_text().splitlines()
        ]
        assert sorted({r["sample_idx"] for r in rows}) == [0, 1, 2, 3]  # two blocks of two
        reasons[bench] = {r["verdict"] for r in rows}
    assert reasons["humanevalplus"] <= {
        "no_code",
        "syntax_error",
        "runtime_error",
        "wrong_answer",
        "truncated",
    }
    assert reasons["gym"] <= {"no_answer", "wrong", "truncated", "empty"} or any(
        x.startswith("partial") for x in reasons["gym"]
    )
    ppl = pd.read_csv(res / "tables" / "perplexity_pair_gym.csv")
    assert set(ppl.measure) >= {"PPL_base(Y_base)", "PPL_base(Y_RL)", "PPL_RL(Y_RL)"}
    # identical weights: PPL_RL(Y_RL) equals PPL_base(Y_RL)
    g = ppl[ppl.model == "tinyrl"].pivot_table(
        index=["problem_id", "sample_idx"], columns="measure", values="ppl"
    )
    assert (g["PPL_RL(Y_RL)"] - g["PPL_base(Y_RL)"]).abs().max() < 1e-4


def test_raising_n_samples_only_the_new_blocks(eval_study):
    wd, cfg, _ = eval_study
    more = dict(cfg, benchmarks={k: dict(v, n=6) for k, v in cfg["benchmarks"].items()})
    (wd / "more.yaml").write_text(yaml.safe_dump(more))
    plan = snakemake(wd, "-n", "--configfile", "more.yaml", "--quiet", "rules").stdout
    jobs = dict(
        line.split()[:2] for line in plan.splitlines() if len(line.split()) == 2 and line.split()[1].isdigit()
    )
    models, benches = 3, len(cfg["benchmarks"])
    assert jobs["sample"] == str(models * benches), plan  # only from4 of each (model, benchmark)
    assert "prepare_benchmark" not in jobs
    plan_files = snakemake(wd, "-n", "--configfile", "more.yaml").stdout
    assert "from4.jsonl" in plan_files and "from0.jsonl" not in plan_files.split("rule verify")[0]
    # n = 3: the blocks become [0, 2) and [2, 3); only the block whose end moved is sampled again
    fewer = dict(cfg, benchmarks={k: dict(v, n=3) for k, v in cfg["benchmarks"].items()})
    (wd / "fewer.yaml").write_text(yaml.safe_dump(fewer))
    plan_files = snakemake(wd, "-n", "--configfile", "fewer.yaml").stdout
    sampled = plan_files.split("rule verify")[0]
    assert "from2.jsonl" in sampled and "from0.jsonl" not in sampled, plan_files


def test_hub_ids_are_not_inputs_but_local_checkpoints_are(repo, tmp_path, tiny_base):
    wd = copy_workflow(repo, tmp_path)
    he = wd / "he.jsonl"
    he.write_text("".join(json.dumps(r) + "\n" for r in HUMANEVAL))
    cfg = evaluation_config(tiny_base["model"], he)
    cfg["models"]["tinyrl"]["path"] = "someorg/some-model"  # a hub id: fetched by the job, not a file
    (wd / "e.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake(wd, "-n", "--printshellcmds", "--configfile", "e.yaml")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "--model tinyrl --path someorg/some-model" in r.stdout
    # the local checkpoint is an input of its sampling jobs, the hub id is not
    assert str(tiny_base["model"]) in r.stdout


def _set(path: str, value):
    def patch(cfg):
        *keys, last = path.split(".")
        d = cfg
        for k in keys:
            d = d[k]
        d[last] = value

    return patch


@pytest.mark.parametrize(
    "patch, message",
    [
        (_set("models.tiny.role", "boss"), "role"),
        (_set("models.tiny.template", "nope"), "unknown template"),
        (_set("comparisons.pair.base", "tinyrl"), "role 'base'"),
        (_set("comparisons.pair.models", ["ghost"]), "ghost"),
        (_set("comparisons.pair.benchmarks", ["ghost"]), "ghost"),
        (_set("benchmarks.gym.loader", "nosuch"), "unknown loader"),
        (_set("benchmarks.gym.options", {"task": "basic_arithmetic", "colour": 3}), "colour"),
        (_set("sampling.backend", "tgi"), "sampling.backend"),
        (_set("models.tiny", {"role": "base"}), "missing required key"),
        (_set("models.my_model", {"path": "x"}), "names must be"),
    ],
)
def test_bad_evaluation_configs_are_refused(tmp_path, patch, message):
    cfg = evaluation_config(tmp_path, tmp_path / "he.jsonl")
    patch(cfg)
    with pytest.raises(ConfigError, match=message):
        from_dict(cfg)


def test_templates_are_explicit_data():
    q = "What is $\\frac{1}{2}+1$?"
    for name, t in BUILTIN.items():
        prompt = render(t, q)
        assert q in prompt and "{question}" not in prompt, name
        assert t.source, f"{name}: say where the template comes from"
    qwen = BUILTIN["qwen-boxed"]
    assert "\\boxed{}" in render(qwen, q)  # literal braces survive
    # stop strings are explicit; the official code's bare "assistant"/"user" stops are not inherited
    assert "assistant" not in qwen.stop and "<|im_end|>" in qwen.stop
    assert cut_at_stop("x = 1 <|im_end|> junk", qwen.stop) == ("x = 1 ", True)
    assert cut_at_stop("no stop here", qwen.stop) == ("no stop here", False)


def test_a_study_can_define_its_own_template(tmp_path):
    cfg = evaluation_config(tmp_path, tmp_path / "he.jsonl")
    cfg["templates"] = {"mine": {"prompt": "Q: {question}\nA:", "stop": ["\nQ:"]}}
    cfg["models"]["tiny"]["template"] = "mine"
    c = from_dict(cfg)
    assert c.template("mine").stop == ("\nQ:",)
    cfg["templates"] = {"bad": {"prompt": "no placeholder"}}
    with pytest.raises(ConfigError, match="question"):
        from_dict(cfg)


def test_shared_math500_is_never_committed(repo):
    """The shared test sets are for tests only: nothing under results/ or the repo holds them."""
    tracked = (
        shutil.which("git")
        and __import__("subprocess").run(["git", "ls-files"], cwd=repo, capture_output=True, text=True).stdout
    )
    if tracked:
        assert not any(line.endswith("test.jsonl") for line in tracked.splitlines())


def test_paper_config_builds_its_dag_without_a_hub(repo, tmp_path):
    """config/paper.yaml: every model pair, benchmark and template resolves, and the DAG builds (dry run:
    nothing is downloaded at DAG-build time)."""
    wd = copy_workflow(repo, tmp_path)
    r = snakemake(wd, "-n", "--configfile", "config/paper.yaml", "--quiet", "rules")
    assert r.returncode == 0, r.stderr[-3000:]
    jobs = dict(
        line.split()[:2]
        for line in r.stdout.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    )
    assert jobs["prepare_benchmark"] == "9" and "train" not in jobs and int(jobs["sample"]) > 1000
