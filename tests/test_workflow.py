"""The Snakemake workflow: dry run and lint of the embedded default, and a reduced study end to end."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from conftest import TINY


def copy_workflow(repo, dest):
    for name in ("Snakefile", "rules", "config"):
        src = repo / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    return dest


def snakemake(cwd, *args, timeout=1800):
    # the rules call `python`: make it this interpreter, whether or not the venv is activated
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = dict(os.environ, WANDB_MODE="disabled", PATH=path)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_dry_run_of_the_embedded_default(repo, tmp_path):
    wd = copy_workflow(repo, tmp_path)
    r = snakemake(wd, "-n", "--cores", "2")
    assert r.returncode == 0, r.stderr
    for rule in (
        "prepare_data",
        "pretrain",
        "train",
        "sample",
        "verify",
        "analyze",
        "boundary",
        "perplexity",
        "novelty",
        "plot",
    ):
        assert rule in r.stdout


def test_lint_is_clean(repo, tmp_path):
    wd = copy_workflow(repo, tmp_path)
    r = snakemake(wd, "--lint")
    assert r.returncode == 0, r.stdout + r.stderr


def test_bad_config_fails_before_any_job(repo, tmp_path):
    wd = copy_workflow(repo, tmp_path)
    (wd / "bad.yaml").write_text(yaml.safe_dump({"rl": {"algorithms": ["grpo"], "stepz": 3}}))
    r = snakemake(wd, "-n", "--configfile", "bad.yaml")
    assert r.returncode != 0
    assert "rl.stepz" in r.stdout + r.stderr
    assert not (wd / "results" / "countdown-toy" / "data").exists()


UNINTERRUPTED: dict = {}
"""The uninterrupted run's outputs (relative path -> bytes) and wall time, kept when the fixture ran."""


def study_outputs(wd) -> dict[str, bytes]:
    """Every table, sample block and verified shard of the tiny study, by path relative to its results."""
    res = wd / "results" / "tiny"
    return {
        str(p.relative_to(res)): p.read_bytes()
        for sub in ("tables", "samples", "verified")
        for p in sorted((res / sub).rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.fixture(scope="module")
def tiny_study(repo, tmp_path_factory):
    wd = copy_workflow(repo, tmp_path_factory.mktemp("wf"))
    (wd / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    t0 = time.monotonic()
    r = snakemake(wd, "--cores", "2", "--configfile", "tiny.yaml")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    UNINTERRUPTED.update(outputs=study_outputs(wd), seconds=time.monotonic() - t0)
    return wd, r


def test_end_to_end_reduced_study(tiny_study):
    wd, r = tiny_study
    res = wd / "results" / "tiny"
    passk = pd.read_csv(res / "tables" / "passk_test.csv")
    assert list(passk.columns) == [
        "model",
        "algo",
        "seed",
        "step",
        "dataset",
        "k",
        "value",
        "ci_low",
        "ci_high",
    ]
    assert set(passk.model) == {"base", "grpo-s0-step2", "grpo-s0-step4"}
    for _, g in passk.groupby("model"):
        g = g.sort_values("k")
        assert list(g.k) == [1, 2, 4, 8, 16]
        assert (g.value.diff().dropna() >= -1e-12).all()
        assert ((g.ci_low <= g.value + 1e-12) & (g.value <= g.ci_high + 1e-12)).all()
    counts = pd.read_csv(res / "tables" / "counts_test.csv")
    assert (counts.n == 16).all() and len(counts) == 3 * 20
    assert (res / "figures" / "passk_test.png").stat().st_size > 10_000
    verdict = (res / "tables" / "verdict_test.md").read_text()
    assert "Does RL expand the reasoning boundary?" in verdict and "grpo-s0-step4" in verdict
    assert (res / "figures" / "passk_test.pdf").exists()
    for ckpt in ("base/model", "train/grpo-s0/step4"):
        assert (res / ckpt / "config.json").exists() and (res / ckpt / "model.safetensors").exists()
    assert "Does RL expand the reasoning boundary?" in r.stdout  # the pipeline prints its verdict at the end
    assert "Nothing to be done" in snakemake(wd, "-n", "--configfile", "tiny.yaml").stdout


def test_profile_reports_every_stage_and_the_phases_of_training_and_sampling(tiny_study):
    from workflow.profile import markdown, read

    wd, _ = tiny_study
    prof = read(wd / "logs" / "tiny")
    assert {"pretrain", "train", "sample", "verify", "analyze", "boundary", "plot"} <= set(prof.jobs)
    assert len(prof.jobs["train"]) == 1 and len(prof.jobs["sample"]) == 3 * 2  # 3 models x 2 shards
    assert 0 < max(prof.jobs["train"]) <= prof.span <= sum(sum(v) for v in prof.jobs.values())
    train = {name: s for (rule, name), s in prof.phases.items() if rule == "train"}
    assert {"generation", "logprobs", "update", "validation", "saving"} <= set(train)
    assert sum(train.values()) <= sum(prof.jobs["train"])  # phases lie inside the job
    assert {"load", "generation", "write"} <= {n for (r, n) in prof.phases if r == "sample"}
    report = markdown(prof)
    assert "| train | generation |" in report and "| pretrain | 1 |" in report


def test_killed_shard_is_redone_alone_and_identically(tiny_study):
    """A run killed while sampling shard 1: no shard file (writes are atomic) but a stray temp file, and nothing
    downstream of it (verification of that shard, tables, figures) was made."""
    wd, _ = tiny_study
    res = wd / "results" / "tiny"
    shard = res / "samples" / "base" / "test" / "shard1" / "from0.jsonl"
    before = shard.read_text()
    counts_before = pd.read_csv(res / "tables" / "counts_test.csv")
    shard.unlink()
    (res / "verified" / "base" / "test" / "shard1.jsonl").unlink()
    for downstream in ("tables", "figures"):
        shutil.rmtree(res / downstream)
    (shard.parent / ".from0.jsonl.partial.tmp").write_text('{"problem_id": "cd3-1-')
    plan = snakemake(wd, "-n", "--configfile", "tiny.yaml", "--quiet", "rules").stdout
    jobs = dict(
        line.split()[:2]
        for line in plan.splitlines()
        if line.split()[-1:] and line.split()[-1].isdigit() and len(line.split()) == 2
    )
    assert jobs == {
        "sample": "1",
        "verify": "1",
        "analyze": "1",
        "boundary": "1",
        "perplexity": "1",
        "novelty": "1",
        "plot": "6",
        "all": "1",
        "total": "13",
    }, plan
    r = snakemake(wd, "--cores", "2", "--configfile", "tiny.yaml")
    assert r.returncode == 0, r.stderr[-3000:]
    assert shard.read_text() == before  # the shard seed derives from (run seed, dataset, shard)
    pd.testing.assert_frame_equal(pd.read_csv(res / "tables" / "counts_test.csv"), counts_before)


def test_figures_regenerate_from_tables_alone(tiny_study):
    """Deleting every figure and asking for the ``figures`` target reruns the plot jobs and nothing upstream."""
    wd, _ = tiny_study
    figs = wd / "results" / "tiny" / "figures"
    shutil.rmtree(figs)
    plan = snakemake(wd, "-n", "figures", "--configfile", "tiny.yaml", "--quiet", "rules").stdout
    jobs = dict(
        line.split()[:2] for line in plan.splitlines() if len(line.split()) == 2 and line.split()[1].isdigit()
    )
    assert jobs == {"plot": "6", "figures": "1", "total": "7"}, plan
    r = snakemake(wd, "figures", "--cores", "2", "--configfile", "tiny.yaml")
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("passk", "histogram", "dynamics", "difficulty", "perplexity", "novelty"):
        assert (figs / f"{name}_test.png").stat().st_size > 5_000
        assert (figs / f"{name}_test.pdf").exists()


def test_config_edits_rerun_only_the_stages_that_read_them(tiny_study):
    """Tracking settings rerun nothing; analysis settings rerun the analyses and figures, never sampling."""
    wd, _ = tiny_study
    (wd / "wandb.yaml").write_text(yaml.safe_dump({"wandb": {"mode": "offline", "project": "other"}}))
    plan = snakemake(wd, "-n", "--configfile", "tiny.yaml", "wandb.yaml").stdout
    assert "Nothing to be done" in plan, plan[-2000:]
    (wd / "ci.yaml").write_text(yaml.safe_dump({"analysis": {"ci": 0.9}}))
    plan = snakemake(wd, "-n", "--configfile", "tiny.yaml", "ci.yaml", "--quiet", "rules").stdout
    jobs = {
        line.split()[0] for line in plan.splitlines() if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    assert {"analyze", "boundary", "plot"} <= jobs and not jobs & {"sample", "verify", "train", "pretrain"}, (
        plan
    )
    snakemake(wd, "-n", "--configfile", "tiny.yaml")  # restore the resolved config of the study


def _run_until(wd, at: float | None, sig: int, log_path) -> dict:
    """One Snakemake run of the tiny study; at ``at`` seconds, ``sig`` to its whole process group (Snakemake
    and its jobs, as a dying node or a scheduler's signal does). Returns what happened."""
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = dict(os.environ, WANDB_MODE="disabled", PATH=path)
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        "2",
        "--configfile",
        "tiny.yaml",
        "--rerun-incomplete",
    ]
    with open(log_path, "a") as log:
        proc = subprocess.Popen(cmd, cwd=wd, env=env, stdout=log, stderr=log, start_new_session=True)
        try:
            return {"finished": True, "rc": proc.wait(timeout=at if at is not None else 1800)}
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, sig)
        try:
            rc = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:  # SIGTERM not honoured within two minutes: a failure below
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
            return {"finished": False, "rc": rc, "hung": True}
        time.sleep(2)  # the jobs' own exits
        leftover = _running_in_group(proc.pid)
        if leftover:
            os.killpg(proc.pid, signal.SIGKILL)  # so that a failing test leaves nothing running
        return {"finished": False, "rc": rc, "leftover": leftover}


def _running_in_group(pgid: int) -> list[int]:
    """Processes of the group still running (zombies waiting for their reaper do not count)."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(name))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_whole_study_survives_random_kills(repo, tiny_study, tmp_path, sig):
    """The reduced study killed at three seeded random moments (fractions of the uninterrupted run's wall time,
    drawn afresh after each restart), restarted each time with ``--unlock`` and the same command plus
    ``--rerun-incomplete``: the final tables, sample blocks and verified shards are byte-identical to the
    uninterrupted run's, every (model, dataset, problem, sample) row appears once, and nothing is left over."""
    wd = copy_workflow(repo, tmp_path)
    (wd / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    rng = random.Random(1234 + int(sig))
    total = UNINTERRUPTED["seconds"]
    events = []
    for i in range(3):
        at = round(rng.uniform(0.1, 0.6) * total, 1)
        event = dict(_run_until(wd, at, sig, tmp_path / "snakemake.log"), kill=i, at=at, signal=sig.name)
        events.append(event)
        print(json.dumps(event))  # the kill log (seeded: the same moments on every run of the test)
        assert not event.get("hung") and not event.get("leftover"), events
        unlock = snakemake(wd, "--unlock", "--configfile", "tiny.yaml")
        assert unlock.returncode == 0, unlock.stderr[-2000:]
    final = _run_until(wd, None, sig, tmp_path / "snakemake.log")
    assert final == {"finished": True, "rc": 0}, (tmp_path / "snakemake.log").read_text()[-4000:]
    delivered = sum(not e["finished"] for e in events)
    assert delivered >= 2, events  # the kills landed while the study was running
    got, want = study_outputs(wd), UNINTERRUPTED["outputs"]
    assert sorted(got) == sorted(want)
    assert [k for k in want if got[k] != want[k]] == []
    rows = [
        (path.split("/")[1], path.split("/")[2], r["problem_id"], r["sample_idx"])
        for path, data in got.items()
        if path.startswith("verified/")
        for r in map(json.loads, data.decode().splitlines())
    ]
    assert len(rows) == len(set(rows)) and len(rows) == 3 * TINY["data"]["num_test"] * TINY["sampling"]["n"]
    print(json.dumps({"signal": sig.name, "kills_delivered": delivered, "identical_files": len(got)}))
