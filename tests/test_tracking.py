"""Tracking: mode resolution, and a real offline W&B run that writes its log file without any network."""

from __future__ import annotations

import pytest

from workflow import tracking
from workflow.config import WandbConfig


def test_mode_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert tracking.resolve_mode(WandbConfig(mode="auto")) == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert tracking.resolve_mode(WandbConfig(mode="auto")) == "online"
    assert tracking.resolve_mode(WandbConfig(mode="offline")) == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert tracking.resolve_mode(WandbConfig(mode="online")) == "disabled"


def test_disabled_gives_the_null_tracker(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    t = tracking.start(WandbConfig(), study="s", run_id="s-x", job_type="train", out_dir=tmp_path)
    assert isinstance(t, tracking.NullTracker)
    t.log({"a": 1}, step=1)
    t.finish()
    assert not any(tmp_path.iterdir())


def test_offline_run_writes_its_log(monkeypatch, tmp_path):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    t = tracking.start(
        WandbConfig(project="p"),
        study="study1",
        run_id="study1-grpo-s0",
        job_type="train",
        out_dir=tmp_path,
        config={"lr": 1e-4},
    )
    for step in range(1, 4):
        t.log({"train/reward_probe": 0.1 * step}, step=step)
    t.log_table("passk_probe", ["k", "value"], [[1, 0.2], [2, 0.3]])
    t.summary({"final/probe": 1.0})
    t.finish()
    runs = list((tmp_path / "wandb").glob("offline-run-*-study1-grpo-s0"))
    assert len(runs) == 1
    (log,) = runs[0].glob("run-*.wandb")
    data = log.read_bytes()
    assert data[:4] == b":W&B"
    for needle in (b"train/reward_probe", b"study1", b"passk_probe", b"final/probe"):
        assert needle in data, needle
