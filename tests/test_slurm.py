"""SLURM execution on a real single-node cluster: a reduced study run with ``--profile config/slurm-local``
(``--executor slurm``), checked against the scheduler's own job records and against a local run.

The cluster comes from ``.ci/local-slurm.sh`` (``.ci/run`` installs and starts it before the suite). When it is
not running the module starts it itself (root only) and stops it afterwards; without SLURM installed, or
without root to start it, the module skips. Both runs together took 4 min 38 s on the project's idle 2-core
machine, and 9 to 13 minutes while other studies shared its cores.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, TINY
from test_workflow import copy_workflow

pytestmark = pytest.mark.slow

LOCAL_SLURM = REPO / ".ci" / "local-slurm.sh"
SLURM_TIMEOUT_S = 900


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# The reduced study of the workflow tests, cut further: two RL steps, one checkpoint, one shard. Its DAG still
# holds every SLURM-submitted rule (prepare_data, pretrain, train, sample, verify, perplexity) and every local
# rule (analyze, boundary, novelty, plot). The base model keeps its 800 steps (about 10 s): with fewer it
# solves nothing, and equal all-zero tables would prove little.
SMALL = _merge(
    TINY,
    {
        "study": "tiny-slurm",
        "rl": {"steps": 2, "save_steps": [2], "state_every": 2},
        "sampling": {"shards": 1},
    },
)
MODELS = 1 + len(SMALL["rl"]["algorithms"]) * len(SMALL["rl"]["seeds"]) * len(SMALL["rl"]["save_steps"])
# rules whose jobs must go through sbatch, and the localrules that run on the submitting host
SUBMITTED_RULES = {"prepare_data", "pretrain", "train", "sample", "verify", "perplexity"}
LOCAL_RULES = {"analyze", "boundary", "novelty", "plot", "all"}


def _sh(*cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _controller_answers() -> bool:
    try:
        return _sh("scontrol", "ping").returncode == 0 and _sh("sinfo", "-h").returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running single-node cluster with partitions ``debug`` and ``gpu``; started here when needed."""
    missing = [b for b in ("sbatch", "squeue", "scontrol", "sinfo") if shutil.which(b) is None]
    if missing:
        pytest.skip(f"SLURM is not installed ({', '.join(missing)} missing): bash .ci/local-slurm.sh install")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.skip("snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')")
    started_here = False
    if not _controller_answers():
        if os.geteuid() != 0:
            pytest.skip("SLURM is installed but not running, and starting it needs root")
        if shutil.which("slurmctld") is None or shutil.which("slurmd") is None:
            pytest.skip("SLURM is not running and its daemons are not installed here")
        r = subprocess.run(["bash", str(LOCAL_SLURM), "start"], capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, f"could not start the local cluster:\n{r.stdout}\n{r.stderr}"
        started_here = True
    partitions = _sh("sinfo", "-h", "-o", "%R").stdout.split()
    if not {"debug", "gpu"} <= set(partitions):
        pytest.skip(
            f"the running SLURM cluster is not the one of .ci/local-slurm.sh (partitions {partitions})"
        )
    yield
    if started_here:
        subprocess.run(["bash", str(LOCAL_SLURM), "stop"], capture_output=True, timeout=120)


def _run_snakemake(cwd: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """``python -m snakemake`` with this interpreter's venv first on PATH (rules and SLURM jobs call ``python``
    from PATH; sbatch --export=ALL hands PATH to the jobs), under ``timeout -s INT``: the SLURM plugin ignores
    SIGTERM but cancels its jobs and exits on SIGINT."""
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = dict(os.environ, WANDB_MODE="disabled", PATH=path)
    cmd = ["timeout", "-s", "INT", str(SLURM_TIMEOUT_S), sys.executable, "-m", "snakemake", *args]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=SLURM_TIMEOUT_S + 60)
    (cwd / "snakemake.out").write_text(r.stdout + r.stderr)
    return r, time.monotonic() - t0


@pytest.fixture(scope="module")
def runs(slurm_cluster, tmp_path_factory):
    """The same reduced study run twice: locally with ``--cores 2`` and through SLURM."""
    out = {}
    for name, args in (
        ("local", ["--cores", "2"]),
        ("slurm", ["--profile", "config/slurm-local"]),
    ):
        wd = copy_workflow(REPO, tmp_path_factory.mktemp(name))
        (wd / "small.yaml").write_text(yaml.safe_dump(SMALL))
        r, seconds = _run_snakemake(wd, *args, "--configfile", "small.yaml")
        log = r.stdout + r.stderr
        assert r.returncode == 0, f"{name} run failed (rc {r.returncode}):\n{log[-6000:]}"
        out[name] = dict(wd=wd, log=log, seconds=seconds)
    print(f"\nlocal run {out['local']['seconds']:.0f} s, SLURM run {out['slurm']['seconds']:.0f} s")
    return out


def _scheduler_records(run_id: str) -> list[dict]:
    """Every job of this Snakemake run as the SLURM controller lists it: the plugin names each job after the
    run id and puts ``rule_<rule>[_wildcards_...]`` in its comment."""
    fmt = "%i|%j|%k|%T|%P"
    r = _sh("squeue", "--states=all", "--noheader", f"--name={run_id}", f"--format={fmt}")
    assert r.returncode == 0, r.stderr
    rows = [
        dict(zip(("id", "name", "comment", "state", "partition"), line.split("|"), strict=True))
        for line in r.stdout.split("\n")
        if line
    ]
    for row in rows:
        row["rule"] = re.match(r"rule_(.+?)(_wildcards_.*)?$", row["comment"]).group(1)
    return rows


def test_jobs_went_through_slurm(runs):
    wd, log = runs["slurm"]["wd"], runs["slurm"]["log"]
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))
    # Snakemake's plan: "rule X:" for each job it submits, "localrule X:" for those it runs itself
    planned = Counter(re.findall(r"^rule (\w+):", log, flags=re.M))
    records = _scheduler_records(run_id)
    print(f"\n{len(records)} SLURM jobs: {dict(Counter(r['rule'] for r in records))}")

    assert SUBMITTED_RULES <= set(planned) and not set(planned) & LOCAL_RULES, planned
    assert planned["sample"] == planned["verify"] >= MODELS, planned
    assert planned["train"] == len(SMALL["rl"]["algorithms"]) * len(SMALL["rl"]["seeds"]), planned
    assert Counter(r["rule"] for r in records) == planned, records
    assert len(records) == len(submitted) == sum(planned.values())
    assert {r["id"] for r in records} == set(submitted.values()), (records, submitted)
    assert all(r["state"] == "COMPLETED" for r in records), records
    # the profile's per-rule resources reached sbatch: training on the gpu partition with one (fake) GPU
    for r in records:
        assert r["partition"] == ("gpu" if r["rule"] == "train" else "debug"), r
        show = _sh("scontrol", "show", "job", r["id"]).stdout
        assert f"JobName={run_id}" in show and "JobState=COMPLETED" in show, show
        assert ("gpu:1" in show) == (r["rule"] == "train"), show
        # the plugin's per-job log: .snakemake/slurm_logs/rule_<rule>/[<wildcards>/]<jobid>.log
        assert list((wd / ".snakemake" / "slurm_logs" / f"rule_{r['rule']}").rglob(f"{r['id']}.log")), r
    # the localrules ran on this host
    assert LOCAL_RULES <= set(re.findall(r"^localrule (\w+):", log, flags=re.M))
    assert (wd / "results" / "tiny-slurm" / "figures" / "passk_test.png").exists()


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("part", ["samples", "verified", "tables"])
def test_slurm_results_equal_the_local_run(runs, part):
    """Every sample, verdict and table the SLURM run wrote equals, byte for byte, the local run's."""
    local, slurm = (_files(runs[r]["wd"] / "results" / "tiny-slurm" / part) for r in ("local", "slurm"))
    assert sorted(local) == sorted(slurm)
    assert local, f"no {part} written"
    for name in local:
        assert local[name] == slurm[name], f"{part}/{name} differs between the local and the SLURM run"
    if part == "tables":
        assert {"counts_test.csv", "passk_test.csv", "verdict_test.json"} <= set(local)
        counts = pd.read_csv(runs["slurm"]["wd"] / "results" / "tiny-slurm" / "tables" / "counts_test.csv")
        assert counts.c.sum() > 0, "no sample was correct: the comparison would be vacuous"
