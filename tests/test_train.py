"""A few RL steps on a tiny real model: finite loss, every trainable parameter changed, exact resume."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from workflow import model as M
from workflow import train
from workflow.config import PRESETS
from workflow.tracking import MemoryTracker


def _weights(path):
    model, _ = M.load(path)
    return {k: v.detach().clone() for k, v in model.named_parameters()}


@pytest.mark.parametrize("algo", sorted(PRESETS))
def test_preset_trains_and_changes_every_parameter(algo, tiny_cfg, tiny_base, tmp_path):
    cfg = dataclasses.replace(tiny_cfg, rl=dataclasses.replace(tiny_cfg.rl, algorithms=(algo,)))
    tracker = MemoryTracker()
    saved = train.run(cfg, algo, 0, tiny_base["model"], tiny_base["train"], tmp_path / "run", tracker=tracker)
    assert [p.name for p in saved] == ["step2", "step4"]
    steps = [m for _, m in tracker.history]
    assert len(steps) == 4
    for m in steps:
        for key in (
            "train/loss",
            "train/reward",
            "train/entropy",
            "train/kl",
            "train/clipfrac",
            "train/response_length",
        ):
            assert math.isfinite(m[key]), key
    assert any(m["train/mixed_groups"] > 0 for m in steps), (
        "no learning signal in any step: the test is vacuous"
    )
    before, after = _weights(tiny_base["model"]), _weights(saved[-1])
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert not unchanged, f"parameters not updated: {unchanged}"


def test_resume_from_state_replays_exactly(tiny_cfg, tiny_base, tmp_path):
    full = train.run(
        tiny_cfg, "grpo", 0, tiny_base["model"], tiny_base["train"], tmp_path / "full", MemoryTracker()
    )
    # an interrupted run: the first job only got to step 2 (its state.pt), a second job resumes it
    short = dataclasses.replace(tiny_cfg, rl=dataclasses.replace(tiny_cfg.rl, steps=2, save_steps=(2,)))
    train.run(short, "grpo", 0, tiny_base["model"], tiny_base["train"], tmp_path / "resumed", MemoryTracker())
    tracker = MemoryTracker()
    resumed = train.run(
        tiny_cfg, "grpo", 0, tiny_base["model"], tiny_base["train"], tmp_path / "resumed", tracker
    )
    assert [s for s, _ in tracker.history] == [3, 4]  # only the missing steps ran
    a, b = _weights(full[-1]), _weights(resumed[-1])
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
