"""verl 0.9.1's real trainer on CPU, launched by ``workflow.train.verl_launch``: GRPO, and ProRL with its reference
reset as a chained stage. Each run is ``python -m verl.trainer.main_ppo`` with Ray, FSDP2, TransferQueue and verl's
losses; only the GPU-only parts are the CPU stand-ins of ``workflow/train/verl_cpu.py`` (a CPU platform and an HF
``generate`` rollout server in place of vLLM). About a minute per verl launch and 3.6 GB of memory: these tests run
one at a time in CI (slow marker), and skip without the ``verl`` extra.

What shows training happened (verl exits 0 also when it trains nothing): every step's metrics logged, the actor's
gradient norm above 0, rollout and trainer log-probabilities agreeing (``training/rollout_probs_diff_max``; the
stand-in broken on purpose gives ~1e-2), weights that moved, and a merged checkpoint that loads with
``AutoModelForCausalLM`` and samples through the pipeline's own sampling stage.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil

import pytest
import torch
from conftest import TINY

from workflow.config import from_dict
from workflow.tracking import MemoryTracker

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("verl") is None, reason="verl extra not installed"),
]

CPU = {"device": "cpu", "rollout": "hf", "gpus_per_node": 1}


def verl_cfg(algo: str, save=(2,), steps=2, **overrides):
    d = copy.deepcopy(TINY)
    d["rl"].update(
        engine="verl", algorithms=[algo], steps=steps, save_steps=list(save), state_every=1, verl=CPU
    )
    d["rl"]["overrides"][algo] = overrides
    return from_dict(d)


@pytest.fixture(scope="module")
def parquet(tiny_cfg, tiny_base, tmp_path_factory):
    from workflow.train import verl_data

    splits = {"train": tiny_base["train"], "val": tiny_base["val"]}
    return verl_data.run(tiny_cfg, splits, tmp_path_factory.mktemp("pq"))


def train(cfg, algo, tiny_base, parquet, out):
    from workflow.train import verl_launch

    tracker = MemoryTracker()
    saved = verl_launch.run(cfg, algo, 0, tiny_base["model"], parquet["train"], out, parquet["val"], tracker)
    return saved, {step: m for step, m in tracker.history if "actor/grad_norm" in m}, tracker


def weights(path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_trained(steps: dict, expected: list[int], tol: float = 1e-4):
    assert sorted(steps) == expected, f"metrics for steps {sorted(steps)}, expected {expected}"
    for step, m in steps.items():
        # a step whose groups all got equal rewards has zero advantages and, rightly, a zero gradient
        signal = m["critic/advantages/max"] > 0 or m["critic/advantages/min"] < 0
        assert (m["actor/grad_norm"] > 0) == signal, (step, m["actor/grad_norm"], signal)
        # rollout (HF server) and trainer (FSDP actor) compute the same log-probs: the weights were synced
        assert m["training/rollout_probs_diff_max"] < tol, (step, m["training/rollout_probs_diff_max"])


def test_grpo_trains_resumes_merges_and_samples(tiny_cfg, tiny_base, parquet, tmp_path):
    """GRPO in two launches: a run stopped after step 1 (its published checkpoint deleted, as Snakemake deletes
    the outputs of an unfinished job) is continued to step 2. verl resumes from its own step-1 checkpoint, step 1
    is not trained again, and the step-1 checkpoint is published again from the run's kept copy."""
    from workflow import sample
    from workflow.io import read_jsonl

    run = tmp_path / "run"
    first, steps1, _ = train(verl_cfg("grpo", save=[1], steps=1), "grpo", tiny_base, parquet, run)
    assert [p.name for p in first] == ["step1"] and sorted(steps1) == [1]
    inode = (run / ".kept" / "step1" / "model.safetensors").stat().st_ino
    shutil.rmtree(first[0])
    cfg = verl_cfg("grpo", save=[1, 2], steps=2)
    saved, steps, _ = train(cfg, "grpo", tiny_base, parquet, run)
    assert [p.name for p in saved] == ["step1", "step2"]
    assert sorted(steps) == [2], "step 1 was trained again"
    assert_trained({**steps1, **steps}, [1, 2])
    assert any(m["actor/grad_norm"] > 0 for m in {**steps1, **steps}.values()), "no learning signal: vacuous"
    assert os.stat(saved[0] / "model.safetensors").st_ino == inode  # republished, not retrained
    log = (run / "verl" / "verl.log").read_text()
    assert "global_step_1" in log  # verl loaded its step-1 checkpoint
    # verl's merger writes bf16: unchanged weights would equal the base rounded to bf16, element for element
    before, after = weights(tiny_base["model"]), weights(saved[1])
    changed = sum(int((before[k].bfloat16().float() != after[k]).sum()) for k in before)
    total = sum(v.numel() for v in before.values())
    assert changed > 0.01 * total, f"{changed} of {total} weights moved"
    out = sample.run(
        tiny_cfg, "grpo-s0-step2", saved[1], tiny_base["test"], "test", 0, 0, tmp_path / "s.jsonl"
    )
    rows = read_jsonl(out)
    assert rows and all(isinstance(r["completion"], str) for r in rows)
    # a third call finds the run finished: no launch, same checkpoints
    state = json.loads((run / "verl" / "state.json").read_text())
    assert state["done"] == 2 and state["resets"] == []
    again, steps3, _ = train(cfg, "grpo", tiny_base, parquet, run)
    assert again == saved and not steps3


def test_prorl_reference_reset_is_a_new_stage(tiny_base, parquet, tmp_path):
    """ProRL (k3 KL loss to a reference, clip 0.2 / 0.4, T 1.2, dynamic sampling) with a reset after step 1: step 2
    runs as a second verl run that starts from the merged step-1 checkpoint, with it as the new reference."""
    cfg = verl_cfg("prorl", ref_reset_every=1, ref_reset_patience=0, val_every=0)
    saved, steps, tracker = train(cfg, "prorl", tiny_base, parquet, tmp_path / "run")
    assert_trained(steps, [1, 2])
    state = json.loads((tmp_path / "run" / "verl" / "state.json").read_text())
    assert state["resets"] == [1] and state["stage"] == 1
    assert "stage0-step1" in state["stage_model"]
    assert any(m.get("train/ref_reset") == 1.0 for s, m in tracker.history if s == 1)
    assert steps[1]["train/stage"] == 0 and steps[2]["train/stage"] == 1
    for m in steps.values():  # the KL loss to the reference is computed (ProRL's k3 term)
        assert m["actor/kl_coef"] == pytest.approx(1e-4) and 0 <= m["actor/kl_loss"] < 10
    # verl loads actor and reference from the stage's model: stage 1's is the merged step-1 checkpoint
    log = (tmp_path / "run" / "verl" / "verl.log").read_text()
    assert f"actor_rollout_ref.model.path={tiny_base['model']}" in log
    assert f"actor_rollout_ref.model.path={state['stage_model']}" in log
    weights(saved[0])  # loads


def test_reduced_study_through_snakemake_with_the_verl_engine(repo, tmp_path):
    """The reduced end-to-end study with ``rl.engine: verl`` (GRPO, 2 steps): data, base model, verl parquet,
    verl training, sampling, verification and the pass@k tables."""
    import pandas as pd
    import yaml
    from test_workflow import copy_workflow, snakemake

    wd = copy_workflow(repo, tmp_path)
    study = copy.deepcopy(TINY)
    study["rl"].update(engine="verl", algorithms=["grpo"], steps=2, save_steps=[2], verl=CPU)
    (wd / "verl.yaml").write_text(yaml.safe_dump(study))
    r = snakemake(wd, "--cores", "2", "--configfile", "verl.yaml")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    res = wd / "results" / "tiny"
    passk = pd.read_csv(res / "tables" / "passk_test.csv")
    assert set(passk.model) == {"base", "grpo-s0-step2"}
    assert (res / "data" / "verl" / "train.parquet").exists()
    assert (res / "train" / "grpo-s0" / "verl" / "state.json").exists()
    log = (wd / "logs" / "tiny" / "train" / "grpo-s0.log").read_text()
    assert "(verl)" in log and "step 2: saved" in log


def test_a_benchmark_training_study_through_snakemake(repo, tiny_base, tmp_path):
    """``data.task: benchmark`` end to end: an existing base model (``model.path``: the tests' tiny model, whose
    word-level tokenizer reads most of these questions as unknown words; the path, not the score, is under test),
    a benchmark generated offline (Reasoning Gym arithmetic) split by the pipeline, verl training with the Gym
    scorer as reward, then sampling the test split, verification and the pass@k tables. No pretraining runs."""
    import pandas as pd
    import yaml
    from test_workflow import copy_workflow, snakemake

    from workflow.io import read_jsonl

    wd = copy_workflow(repo, tmp_path)
    study = copy.deepcopy(TINY)
    study.update(
        study="tinybench",
        data={"task": "benchmark", "benchmark": "arith", "num_train": 40, "num_test": 16, "num_val": 8},
        model={"path": str(tiny_base["model"]), "template": "plain"},
        benchmarks={
            "arith": {"loader": "gym", "options": {"task": "basic_arithmetic", "size": 60, "seed": 0}}
        },
        sampling={"n": 4, "shards": 1, "batch_size": 64},
    )
    study["rl"].update(
        engine="verl", algorithms=["grpo"], steps=1, save_steps=[1], verl=dict(CPU, max_prompt_length=64)
    )
    (wd / "bench.yaml").write_text(yaml.safe_dump(study))
    r = snakemake(wd, "--cores", "2", "--configfile", "bench.yaml")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    assert "rule pretrain" not in r.stdout + r.stderr
    res = wd / "results" / "tinybench"
    splits = {s: read_jsonl(res / "data" / f"{s}.jsonl") for s in ("train", "val", "test")}
    assert [len(v) for v in splits.values()] == [40, 8, 16]
    assert not {p["id"] for p in splits["train"]} & {p["id"] for p in splits["test"]}
    verified = read_jsonl(res / "verified" / "grpo-s0-step1" / "test" / "shard0.jsonl")
    assert len(verified) == 16 * 4 and all(isinstance(v["correct"], bool) for v in verified)
    passk = pd.read_csv(res / "tables" / "passk_test.csv")
    assert set(passk.model) == {"base", "grpo-s0-step1"}
