"""The verl engine's config contract: every preset, rendered by ``workflow.train.verl_render``, composes against
verl 0.9.1's own Hydra config and passes verl's own validation (``workflow.train.verl_check``); the data it trains
on and the reward it is given are the project's.

Needs the ``verl`` extra (``bash run.sh test`` installs it); without verl these tests skip.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys

import pytest

from workflow.config import PRESETS, AlgorithmConfig, ConfigError, from_dict
from workflow.train import verl_render as VR

needs_verl = pytest.mark.skipif(importlib.util.find_spec("verl") is None, reason="verl extra not installed")

CPU = {"device": "cpu", "rollout": "hf", "gpus_per_node": 1, "cpus_per_node": 8}
SCALE = {"prompts_per_step": 8, "group_size": 4, "minibatches": 2, "max_tokens": 16}


def verl_cfg(**rl):
    base = {"engine": "verl", "algorithms": sorted(PRESETS), "verl": CPU, "common": SCALE}
    base["overrides"] = {"dapo": {"overlong_buffer": 4}}
    return from_dict({"rl": {**base, **rl}})


def overrides(cfg, algo, model):
    paths = dataclasses.replace(VR.PLACEHOLDER, model=str(model), steps=4, save_freq=2, checkpoints="/tmp/x")
    return VR.render_run(cfg.rl.algorithm(algo), cfg.rl, paths, algo)


def as_dict(ovs):
    return dict(o.split("=", 1) for o in ovs)


def test_every_preset_field_has_a_verl_row():
    assert set(VR.FIELDS) == {f.name for f in dataclasses.fields(AlgorithmConfig)}


def test_rendering_is_by_table_not_by_name():
    """Two presets with equal fields render identically, whatever their names."""
    cfg = verl_cfg()
    a = VR.render_algorithm(cfg.rl.algorithm("grpo"), cfg.rl, "grpo")
    b = VR.render_algorithm(cfg.rl.algorithm("grpo"), cfg.rl, "anything")
    assert a == b


@pytest.mark.parametrize(
    "override, field",
    [
        ({"ppo": {"ptx_coef": 0.1}}, "ptx_coef"),
        ({"ppo": {"adv_eps": 1e-8}}, "adv_eps"),
        ({"prorl": {"reset_optimizer": False}}, "reset_optimizer"),
        ({"grpo": {"minibatches": 3}}, "minibatches"),
    ],
)
def test_a_field_verl_cannot_express_fails_at_dag_build(override, field):
    with pytest.raises(ConfigError, match=field):
        verl_cfg(overrides={"dapo": {"overlong_buffer": 4}, **override})
    # the builtin engine trains them
    from_dict(
        {
            "rl": {
                "algorithms": sorted(PRESETS),
                "common": SCALE,
                "overrides": {"dapo": {"overlong_buffer": 4}, **override},
            }
        }
    )


def test_cpu_device_needs_the_hf_rollout():
    with pytest.raises(ConfigError, match="hf"):
        from_dict(
            {"rl": {"engine": "verl", "verl": {"device": "cpu", "rollout": "vllm", "gpus_per_node": 1}}}
        )
    with pytest.raises(ConfigError, match="rl.engine"):
        from_dict({"rl": {"engine": "openrlhf"}})


def test_values_reach_their_keys(tiny_base):
    cfg = verl_cfg()
    ppo, remax = as_dict(overrides(cfg, "ppo", "/m")), as_dict(overrides(cfg, "remax", "/m"))
    dapo, prorl = as_dict(overrides(cfg, "dapo", "/m")), as_dict(overrides(cfg, "prorl", "/m"))
    assert ppo["algorithm.adv_estimator"] == "gae" and ppo["actor_rollout_ref.actor.entropy_coeff"] == "0.001"
    assert ppo["algorithm.use_kl_in_reward"] == "true" and ppo["trainer.use_v1"] == "true"
    assert remax["algorithm.adv_estimator"] == "remax" and remax["trainer.use_v1"] == "false"
    assert dapo["actor_rollout_ref.actor.clip_ratio_high"] == "0.28"
    assert dapo["algorithm.filter_groups.enable"] == "true"
    assert dapo["+reward.reward_kwargs.overlong_buffer_cfg.enable"] == "true"
    assert dapo["+reward.custom_reward_function.reward_kwargs.reward_wrong"] == "-1.0"
    assert prorl["actor_rollout_ref.actor.use_kl_loss"] == "true"
    assert prorl["actor_rollout_ref.actor.kl_loss_type"] == "k3"
    assert prorl["actor_rollout_ref.rollout.temperature"] == "1.2"
    assert prorl["actor_rollout_ref.actor.ppo_mini_batch_size"] == "4"  # 8 prompts / 2 mini-batches


@needs_verl
@pytest.mark.parametrize("algo", sorted(PRESETS))
def test_preset_composes_and_passes_verls_validation(algo, tiny_base):
    from workflow.train import verl_check

    cfg = verl_check.check(overrides(verl_cfg(), algo, tiny_base["model"]))
    preset = verl_cfg().rl.algorithm(algo)
    assert cfg.algorithm.adv_estimator == VR.ADVANTAGE_NAMES[preset.advantage]
    assert cfg.actor_rollout_ref.actor.clip_ratio_low == preset.clip_low
    assert cfg.actor_rollout_ref.actor.optim.lr == preset.lr
    assert cfg.data.train_batch_size == preset.prompts_per_step


@needs_verl
@pytest.mark.parametrize(
    "bad, message",
    [
        ("algorithm.adv_estimatr=grpo", "adv_estimatr"),  # misspelt key
        ("algorithm.adv_estimator=grpoo", "adv_estimator"),  # unknown estimator (verl's checks miss it)
        ("actor_rollout_ref.actor.kl_loss_type=k9", "kl_loss_type"),  # unknown KL (same)
        ("actor_rollout_ref.actor.loss_agg_mode=token_mean", "loss_agg_mode"),
    ],
)
def test_negative_controls_fail(bad, message, tiny_base):
    from workflow.train import verl_check

    ovs = overrides(verl_cfg(), "grpo", tiny_base["model"]) + [bad]
    with pytest.raises(verl_check.VerlConfigError, match=message):
        verl_check.check(ovs)


def test_config_cli_prints_the_rendered_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        json.dumps({"rl": {"engine": "verl", "algorithms": ["grpo"], "verl": CPU, "common": SCALE}})
    )
    out = subprocess.run(
        [sys.executable, "-m", "workflow.config", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert "verl_overrides:" in out and "algorithm.adv_estimator=grpo" in out


# ------------------------------------------------------------------------------------------ data and reward
def test_parquet_rows_carry_the_pipelines_prompt_and_problem(tiny_cfg, tiny_base, tmp_path):
    import pandas as pd

    from workflow.io import read_jsonl
    from workflow.train import verl_data

    paths = verl_data.run(tiny_cfg, {"train": tiny_base["train"], "val": tiny_base["val"]}, tmp_path)
    df = pd.read_parquet(paths["train"])
    problems = read_jsonl(tiny_base["train"])
    assert len(df) == len(problems)
    row, p = df.iloc[3], problems[3]
    assert row["data_source"] == "countdown" and list(row["prompt"])[0]["content"] == p["prompt"]
    assert json.loads(row["extra_info"]["problem"]) == p
    assert row["reward_model"]["ground_truth"] == str(p["target"])


@needs_verl
def test_reward_is_the_pipelines_verdict(tiny_cfg, tiny_base, tmp_path):
    from workflow.io import read_jsonl
    from workflow.train import verl_reward
    from workflow.verify import verify_rows

    cfg_path = tmp_path / "c.json"
    cfg_path.write_text(json.dumps(tiny_cfg.to_dict()))
    p = read_jsonl(tiny_base["test"])[0]
    good = p["solutions"][0]
    info = {"problem": json.dumps(p)}
    cases = [(good, "stop"), (good, "length"), ("1 + 1 = 3", "stop"), ("", "stop"), ("garbage ((", "stop")]
    for text, finish in cases:
        got = verl_reward.compute_score(
            "countdown", text, "", dict(info, finish_reason=finish), config=str(cfg_path), reward_wrong=-1.0
        )
        row = {"problem_id": p["id"], "completion": text, "finish_reason": finish}
        (want,) = verify_rows([row], {p["id"]: p}, tiny_cfg)
        assert got == {"score": 1.0 if want.correct else -1.0, "acc": float(want.correct)}, (text, finish)
    assert verl_reward.compute_score("countdown", good, "", {}, config=str(cfg_path))["acc"] == 0.0


@needs_verl
def test_reward_manager_marks_truncation_and_shapes_overlong(tiny_cfg, tiny_base, tmp_path):
    import numpy as np
    import torch
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl import DataProto

    from workflow.io import read_jsonl
    from workflow.train import verl_reward

    cfg_path = tmp_path / "c.json"
    cfg_path.write_text(json.dumps(tiny_cfg.to_dict()))
    tok = AutoTokenizer.from_pretrained(tiny_base["model"])
    p = read_jsonl(tiny_base["test"])[0]
    ids = tok(p["solutions"][0], add_special_tokens=False)["input_ids"]  # 11 tokens

    def item(resp: list[int], width: int):
        responses = torch.full((1, width), tok.pad_token_id)
        responses[0, : len(resp)] = torch.tensor(resp)
        mask = torch.cat([torch.ones(1, 3), (torch.arange(width) < len(resp)).float()[None]], dim=1).long()
        return DataProto.from_dict(
            tensors={"responses": responses, "attention_mask": mask, "prompts": torch.zeros(1, 3).long()},
            non_tensors={
                "data_source": np.array(["countdown"], dtype=object),
                "reward_model": np.array([{"ground_truth": ""}], dtype=object),
                "extra_info": np.array([{"problem": json.dumps(p)}], dtype=object),
            },
        )

    def manager(buffer: int):
        conf = OmegaConf.create(
            {
                "reward": {
                    "reward_kwargs": {
                        "max_resp_len": 16,
                        "overlong_buffer_cfg": {
                            "enable": buffer > 0,
                            "len": max(buffer, 1),
                            "penalty_factor": 1.0,
                        },
                    }
                }
            }
        )
        fn = lambda **kw: verl_reward.compute_score(**kw, config=str(cfg_path))  # noqa: E731
        return verl_reward.ProjectRewardManager(conf, tok, fn)

    run = lambda m, d: m.loop.run_until_complete(m.run_single(d))  # noqa: E731  (verl's own event loop)
    stopped = run(manager(0), item(ids + [tok.eos_token_id], 16))
    assert stopped["reward_score"] == 1.0 and stopped["reward_extra_info"]["truncated"] == 0.0
    cut = run(manager(0), item(ids, len(ids)))  # filled the whole response budget without EOS
    assert cut["reward_score"] == 0.0 and cut["reward_extra_info"]["truncated"] == 1.0
    shaped = run(manager(8), item(ids + [tok.eos_token_id], 16))  # 12 tokens, budget 16, buffer from 8
    assert shaped["reward_score"] == pytest.approx(1.0 - 4 / 8)


# ------------------------------------------------------------------------------------------- paper configs
PAPER_CONFIGS = ["paper-train", "prorl-train"]


def study_config(repo, name):
    """A study config merged over config/config.yaml, as ``snakemake --configfile`` merges it."""
    import yaml
    from test_config import _merge

    default = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    return from_dict(_merge(default, yaml.safe_load((repo / "config" / f"{name}.yaml").read_text())))


@needs_verl
@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_training_configs_pass_verls_validation(name, repo, tiny_base):
    """Every algorithm of the paper configs, rendered at the paper's scale (nodes, GPUs, batch sizes, lengths),
    composes and validates against verl. The model path is a local checkpoint (verl's validation reads its HF
    config; the hub is not reachable here)."""
    from workflow.train import verl_check

    cfg = study_config(repo, name)
    assert cfg.rl.engine == "verl" and cfg.rl.verl.device == "cuda"
    for algo in cfg.rl.algorithms:
        paths = dataclasses.replace(
            VR.PLACEHOLDER, model=str(tiny_base["model"]), steps=cfg.rl.steps, save_freq=VR.save_freq(cfg.rl)
        )
        composed = verl_check.check(VR.render_run(cfg.rl.algorithm(algo), cfg.rl, paths, algo))
        assert composed.trainer.nnodes == cfg.rl.verl.nodes
        assert composed.data.max_response_length == 8192 and composed.actor_rollout_ref.rollout.name == "vllm"


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_training_configs_build_their_dag_offline(name, repo, tmp_path):
    """``snakemake -n`` with no hub: one training job per algorithm and seed, and the sample blocks of every
    checkpoint on every dataset."""
    from test_workflow import copy_workflow, snakemake

    cfg = study_config(repo, name)
    wd = copy_workflow(repo, tmp_path)
    r = snakemake(wd, "-n", "--configfile", f"config/{name}.yaml", "--quiet", "rules")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    jobs = dict(
        line.split()[:2]
        for line in r.stdout.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    )
    models = 1 + len(cfg.rl.algorithms) * len(cfg.rl.seeds) * len(cfg.rl.save_steps)
    blocks = sum(len(cfg.sampling.blocks(cfg.samples_per_problem(d))) for d in cfg.sampling.datasets)
    assert int(jobs["train"]) == len(cfg.rl.algorithms) * len(cfg.rl.seeds)
    assert int(jobs["sample"]) == models * cfg.sampling.shards * blocks
    assert jobs["split_benchmark"] == "1" and jobs["verl_data"] == "1" and "pretrain" not in jobs


# ------------------------------------------------------------------------------------------ multi-node Ray
def test_multi_node_ray_comes_up_on_every_node_and_goes_down(tmp_path, monkeypatch):
    """Under a SLURM allocation of two nodes the launcher starts Ray's head on the first node and a worker on the
    second with ``srun``, hands the head's address to verl, and stops both afterwards.

    Test double: ``srun`` and ``scontrol`` are scripts that log their arguments (a multi-node allocation cannot
    exist on this one machine; the one-machine SLURM of tests/test_slurm.py has one node). The srun double runs
    nothing but a sleep, which the launcher must end."""
    import logging
    import os
    import stat
    import time

    from workflow.train import verl_launch

    bindir, calls = tmp_path / "bin", tmp_path / "calls"
    bindir.mkdir()
    scripts = {
        "scontrol": 'echo "$@" >> CALLS; printf "gpu-a\\ngpu-b\\n"',
        "srun": 'echo "srun $@" >> CALLS; case "$*" in *hostname*) echo 127.0.0.1;; *) exec sleep 60;; esac',
    }
    for name, body in scripts.items():
        path = bindir / name
        path.write_text("#!/bin/sh\n" + body.replace("CALLS", str(calls)) + "\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_NODELIST", "gpu-[a-b]")
    monkeypatch.setenv("SLURM_JOB_NUM_NODES", "2")
    cfg = from_dict({"rl": {"engine": "verl", "verl": {"nodes": 2, "gpus_per_node": 8, "cpus_per_node": 64}}})
    with verl_launch.ray_cluster(cfg, logging.getLogger("t"), settle=0.5) as address:
        assert address == "127.0.0.1:6379"
        lines = calls.read_text().splitlines()
    head = next(c for c in lines if "--head" in c)
    worker = next(c for c in lines if "--address=127.0.0.1:6379" in c)
    assert "-w gpu-a" in head and "--node-ip-address=127.0.0.1" in head and "--num-gpus 8" in head
    assert "-w gpu-b" in worker and "--num-cpus 64" in worker and "--block" in worker
    time.sleep(0.5)
    left = os.popen(f"pgrep -x sleep -P {os.getpid()}").read().split()
    assert not left, "srun processes left running after the run"
    # an allocation of another size than rl.verl.nodes fails before anything starts
    monkeypatch.setenv("SLURM_JOB_NUM_NODES", "2")
    cfg3 = from_dict({"rl": {"engine": "verl", "verl": {"nodes": 4}}})
    with pytest.raises(RuntimeError, match="rl.verl.nodes is 4"):
        with verl_launch.ray_cluster(cfg3, logging.getLogger("t"), settle=0.1):
            pass


@needs_verl
def test_math_reward_is_the_math_verdict_with_one_persistent_checker(tiny_cfg, tmp_path):
    """A math problem's reward is MathChecker's verdict (truncation included), from one checker kept across
    calls (a verl reward worker scores thousands of rollouts)."""
    from workflow.train import verl_reward
    from workflow.verify import verify_rows

    cfg_path = tmp_path / "c.json"
    cfg_path.write_text(json.dumps(tiny_cfg.to_dict()))
    p = {"id": "m/0", "kind": "math", "question": "Half of one?", "answer": "\\frac{1}{2}"}
    info = {"problem": json.dumps(p)}
    cases = [
        ("so \\boxed{0.5}", "stop"),
        ("\\boxed{50\\%}", "stop"),
        ("\\boxed{0.5}", "length"),
        ("\\boxed{2}", "stop"),
    ]
    for text, finish in cases:
        got = verl_reward.compute_score(
            "math", text, "", dict(info, finish_reason=finish), config=str(cfg_path)
        )
        (want,) = verify_rows(
            [{"problem_id": "m/0", "completion": text, "finish_reason": finish}], {"m/0": p}, tiny_cfg
        )
        assert got["acc"] == float(want.correct), (text, finish)
    assert verl_reward._math_checker.cache_info().misses == 1  # one checker for all four calls
