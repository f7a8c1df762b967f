"""The verl engine (``rl.engine: verl``): one (algorithm, seed) trained by verl 0.9.1's own trainer on Ray.

Consumes: the base checkpoint, the parquet splits of ``workflow.train.verl_data`` and the algorithm's resolved
preset. Produces the same layout as the builtin trainer: HF checkpoints ``<run>/step<N>`` at ``rl.save_steps``
(merged from verl's FSDP shards with ``python -m verl.model_merger``, each kept in ``<run>/.kept``), metrics in W&B
under the run id ``<study>-<algo>-s<seed>`` (group ``<study>-train``), and verl's own files under ``<run>/verl/``.

How a run is cut into verl launches:
- **Stages.** A reference reset (ProRL) is a new stage: a fresh verl run that starts from the previous stage's
  merged checkpoint, with that checkpoint as its reference and a fresh optimizer (verl 0.9.1 has no in-run reset).
  ``ref_reset_every`` resets on a fixed schedule; ``ref_reset_patience`` after that many validations without a
  better validation accuracy (verl's ``val-core/*/acc/mean@1``), as the builtin trainer does.
- **Segments.** Within a stage, each launch ends at the next step where the launcher must act: a step of
  ``rl.save_steps`` (verl saves its last step; the launcher merges it), a validation (plateau resets) or a scheduled
  reset. The next launch of the stage resumes from verl's checkpoint (``trainer.resume_mode=auto``).
- **Resume.** ``<run>/verl/state.json`` (stage, its start step and model, validation history, resets, steps done) is
  written after every segment. A killed job restarts the unfinished segment, which verl resumes from its last
  checkpoint (``save_freq`` = gcd of the evaluated steps and ``rl.state_every``); merged checkpoints are republished
  from ``.kept``. verl exits 0 even when it trains nothing (a reused folder "resumes" past the last step), so every
  launch must have logged metrics for every step of its segment, or the job fails naming the missing steps.
- **Where Ray runs.** Without SLURM, ``main_ppo`` starts a local Ray. In a SLURM allocation of several nodes (the
  ``train`` rule's resources under the cluster profile), Ray is brought up on every node with ``srun`` (head on the
  first node) and down again after the run, as verl's own SLURM example does.

Run through ``python -m workflow.train`` with a config whose ``rl.engine`` is ``verl``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workflow import tracking
from workflow.config import Config
from workflow.io import atomic_path, derive_seed
from workflow.logs import stage
from workflow.train import run_id, start_tracker, verl_check
from workflow.train import verl_render as VR
from workflow.train.checkpoints import checkpoint_dir, kept_dir, publish, restore_checkpoints

VAL_KEY = re.compile(r"^val-core/.+/acc/mean@\d+$")
"""verl's validation accuracy (greedy, ``val_kwargs``) under the reward function's ``acc``."""


@dataclass
class RunState:
    """What the launcher must remember across launches and restarts (``<run>/verl/state.json``)."""

    stage: int = 0
    stage_start: int = 0
    """Project step at which the current stage began (verl's global steps count from 0 in each stage)."""
    stage_model: str = ""
    done: int = 0
    """Project steps finished (end of the last completed segment)."""
    val_best: float = -1.0
    val_stale: int = 0
    resets: list[int] = field(default_factory=list)
    """Project steps at which the reference was reset."""

    @classmethod
    def load(cls, path: Path, base: str) -> RunState:
        if path.exists():
            return cls(**json.loads(path.read_text()))
        return cls(stage_model=str(base))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(asdict(self), indent=1))


def segment_end(done: int, algo, rl) -> int:
    """The step at which the next launch stops: the next evaluated step, validation or scheduled reset."""
    stops = [rl.steps, *[s for s in rl.save_steps if s > done]]
    for every in (algo.ref_reset_every, algo.val_every if algo.ref_reset_patience else 0):
        if every:
            stops.append((done // every + 1) * every)
    return min(s for s in stops if s > done)


def wants_reset(st: RunState, algo, end: int, metrics: dict[str, float]) -> bool:
    """After the segment ending at step ``end``: update the validation history and say whether the reference
    resets here (on ``ref_reset_every``'s schedule, or after ``ref_reset_patience`` validations without a better
    accuracy than the stage's best, as the builtin trainer decides)."""
    reset = bool(algo.ref_reset_every) and end % algo.ref_reset_every == 0
    vals = [v for k, v in metrics.items() if VAL_KEY.match(k)]
    if algo.ref_reset_patience and vals:
        acc = sum(vals) / len(vals)
        if acc > st.val_best:
            st.val_best, st.val_stale = acc, 0
        else:
            st.val_stale += 1
        reset = reset or st.val_stale >= algo.ref_reset_patience
    return reset


def stage_dir(out_dir: Path, st: RunState) -> Path:
    return out_dir / "verl" / f"stage{st.stage}"


def read_metrics(directory: Path) -> dict[int, dict]:
    """verl's file-logger lines of every launch of a stage, by verl step (a later launch wins)."""
    out: dict[int, dict] = {}
    for path in sorted(directory.glob("metrics-*.jsonl"), key=lambda p: int(p.stem.split("-")[-1])):
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:  # a line cut by a kill
                continue
            out.setdefault(int(rec["step"]), {}).update(rec["data"])
    return out


def numeric(metrics: dict) -> dict[str, float]:
    return {
        k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


# --------------------------------------------------------------------------------------------- launching verl
def slurm_nodes() -> list[str]:
    """Host names of this SLURM allocation (one entry outside SLURM or on one node: Ray runs locally)."""
    nodelist = os.environ.get("SLURM_JOB_NODELIST")
    if not nodelist or int(os.environ.get("SLURM_JOB_NUM_NODES", "1")) <= 1:
        return []
    out = subprocess.run(
        ["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def ray_start_commands(
    nodes: list[str], head_ip: str, cpus: int, gpus: int, port: int = 6379
) -> list[list[str]]:
    """``srun`` command lines that start Ray on every node of the allocation: the head on the first node,
    workers on the others (verl's SLURM example), each blocking until the job ends."""
    ray = [sys.executable, "-m", "ray.scripts.scripts"]
    res = ["--num-cpus", str(cpus), "--num-gpus", str(gpus), "--block"]
    head = ["srun", "--nodes=1", "--ntasks=1", "--overlap", "-w", nodes[0]]
    cmds = [head + ray + ["start", "--head", f"--node-ip-address={head_ip}", f"--port={port}", *res]]
    for node in nodes[1:]:
        worker = ["srun", "--nodes=1", "--ntasks=1", "--overlap", "-w", node]
        cmds.append(worker + ray + ["start", f"--address={head_ip}:{port}", *res])
    return cmds


@contextmanager
def ray_cluster(cfg: Config, log, settle: float = 10.0):
    """Yields the Ray address for ``main_ppo``: None (it starts a local Ray) or the head of a multi-node Ray
    brought up on this SLURM allocation and torn down afterwards (``settle``: seconds for the head, then the
    workers, to come up)."""
    nodes = slurm_nodes()
    if not nodes:
        yield None
        return
    v = cfg.rl.verl
    if len(nodes) != v.nodes:
        raise RuntimeError(
            f"rl.verl.nodes is {v.nodes} but the SLURM allocation has {len(nodes)} nodes: {nodes}"
        )
    ip = subprocess.run(
        ["srun", "--nodes=1", "--ntasks=1", "--overlap", "-w", nodes[0], "hostname", "--ip-address"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    procs = []
    try:
        for i, cmd in enumerate(ray_start_commands(nodes, ip, v.cpus_per_node, v.gpus_per_node)):
            log.info("ray on %s: %s", nodes[i], shlex.join(cmd))
            procs.append(subprocess.Popen(cmd))
            time.sleep(settle if i == 0 else settle / 5)  # the head must be up before workers join
        time.sleep(settle)
        yield f"{ip}:6379"
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()


def launch_env(cfg: Config) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HYDRA_FULL_ERROR", "1")
    if cfg.rl.verl.device == "cpu":
        from workflow.train import verl_cpu

        env.update(verl_cpu.CPU_ENV)
    return env


def cpu_overrides(cfg: Config) -> list[str]:
    if cfg.rl.verl.device != "cpu":
        return []
    from workflow.train import verl_cpu

    return list(verl_cpu.CPU_OVERRIDES)


def run_verl(overrides: list[str], env: dict[str, str], metrics_file: Path, log_file: Path) -> None:
    """One ``python -m verl.trainer.main_ppo`` process; its output goes to ``log_file``."""
    env = dict(env, VERL_FILE_LOGGER_PATH=str(metrics_file))
    cmd = [sys.executable, "-m", "verl.trainer.main_ppo", *overrides]
    with open(log_file, "ab") as f:
        f.write(("\n$ " + shlex.join(cmd) + "\n").encode())
        f.flush()
        rc = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        tail = log_file.read_text(errors="replace").splitlines()[-40:]
        raise RuntimeError(f"verl exited with {rc}; last lines of {log_file}:\n" + "\n".join(tail))


def merge(checkpoints: Path, verl_step: int, target: Path, log_file: Path) -> None:
    """verl's FSDP shards of ``verl_step`` -> an HF folder (``verl.model_merger``), written atomically."""
    from workflow.io import atomic_dir

    source = checkpoints / f"global_step_{verl_step}" / "actor"
    with atomic_dir(target) as tmp, open(log_file, "ab") as f:
        cmd = [sys.executable, "-m", "verl.model_merger", "merge", "--backend", "fsdp"]
        cmd += ["--local_dir", str(source), "--target_dir", str(tmp)]
        f.write(("\n$ " + shlex.join(cmd) + "\n").encode())
        f.flush()
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=True)
        hf = source / "huggingface"  # the tokenizer and configs verl saved with the shards
        for p in hf.iterdir() if hf.is_dir() else []:
            if p.is_file() and not (tmp / p.name).exists():
                shutil.copy2(p, tmp / p.name)


# --------------------------------------------------------------------------------------------------- the run
def run(
    cfg: Config,
    algo_name: str,
    seed: int,
    base_dir: str | Path,
    data_path: str | Path,
    out_dir: str | Path,
    val_path: str | Path | None = None,
    tracker: tracking.Tracker | None = None,
) -> list[Path]:
    rl = cfg.rl
    algo = rl.algorithm(algo_name)
    out_dir = Path(out_dir)
    experiment = run_id(cfg.study, algo_name, seed)
    state_path = out_dir / "verl" / "state.json"
    log_file = out_dir / "verl" / "verl.log"
    config_file = out_dir / "verl" / "config.json"
    with stage(f"train {algo_name} seed {seed} (verl)") as s:
        s.read(base_dir, data_path, *([val_path] if val_path else []))
        st = RunState.load(state_path, str(Path(base_dir).resolve()))
        out_dir.joinpath("verl").mkdir(parents=True, exist_ok=True)
        config_file.write_text(json.dumps(cfg.to_dict(), indent=1))
        lost = restore_checkpoints(out_dir, rl.save_steps, st.done)
        if lost:
            raise RuntimeError(
                f"{state_path} is at step {st.done} but checkpoints {lost} are lost: delete {out_dir}"
            )
        if st.done:
            s.info("resuming at step %d (stage %d, started at step %d)", st.done, st.stage, st.stage_start)
        tracker = tracker or start_tracker(cfg, algo_name, seed, out_dir, engine="verl")
        env = launch_env(cfg)
        with ray_cluster(cfg, s) as address:
            while st.done < rl.steps:
                end = segment_end(st.done, algo, rl)
                sdir = stage_dir(out_dir, st)
                (sdir / "metrics").mkdir(parents=True, exist_ok=True)
                paths = VR.RunPaths(
                    model=st.stage_model,
                    train_files=str(Path(data_path).resolve()),
                    val_files=str(Path(val_path or data_path).resolve()),
                    checkpoints=str((sdir / "checkpoints").resolve()),
                    config_file=str(config_file.resolve()),
                    experiment=experiment,
                    steps=end - st.stage_start,
                    save_freq=VR.save_freq(rl),
                    seed=derive_seed(cfg.seed, seed, algo_name, "verl", st.stage),
                )
                overrides = VR.merge_overrides(
                    VR.render_run(algo, rl, paths, algo_name, cfg.wandb.project), cpu_overrides(cfg)
                )
                if address:  # join the cluster brought up on the allocation (Ray refuses num_cpus then)
                    joined = [f"+ray_kwargs.ray_init.address={address}", "ray_kwargs.ray_init.num_cpus=null"]
                    overrides = VR.merge_overrides(overrides, joined)
                verl_check.check(overrides)  # verl's own validation, in seconds, before Ray starts
                attempt = len(list((sdir / "metrics").glob("metrics-*.jsonl")))
                s.info(
                    "stage %d: steps %d..%d (verl steps %d..%d)",
                    st.stage,
                    st.done + 1,
                    end,
                    st.done - st.stage_start + 1,
                    end - st.stage_start,
                )
                run_verl(overrides, env, sdir / "metrics" / f"metrics-{attempt}.jsonl", log_file)
                metrics = read_metrics(sdir / "metrics")
                want = range(st.done - st.stage_start + 1, end - st.stage_start + 1)
                missing = [st.stage_start + v for v in want if v not in metrics]
                if missing:
                    raise RuntimeError(
                        f"verl exited 0 but logged no metrics for steps {missing} (it trained nothing: a stale "
                        f"checkpoint folder {sdir / 'checkpoints'}?)"
                    )
                for v in want:
                    m = numeric(metrics[v])
                    m.update({"train/stage": float(st.stage), "train/ref_resets": float(len(st.resets))})
                    tracker.log(m, step=st.stage_start + v)
                if end in rl.save_steps:
                    merge(sdir / "checkpoints", end - st.stage_start, kept_dir(out_dir, end), log_file)
                    s.info("step %d: saved %s", end, publish(out_dir, end))
                st.done = end
                reset = wants_reset(st, algo, end, numeric(metrics[end - st.stage_start]))
                if reset and end < rl.steps:
                    model = out_dir / "verl" / f"stage{st.stage}-step{end}"
                    if not kept_dir(out_dir, end).is_dir():
                        merge(sdir / "checkpoints", end - st.stage_start, model, log_file)
                    else:
                        model = kept_dir(out_dir, end)
                    st.resets.append(end)
                    st.stage, st.stage_start, st.stage_model = st.stage + 1, end, str(model.resolve())
                    st.val_best, st.val_stale = -1.0, 0
                    s.info(
                        "step %d: reference policy reset #%d: stage %d starts from %s with a fresh "
                        "reference and optimizer",
                        end,
                        len(st.resets),
                        st.stage,
                        model,
                    )
                    tracker.log({"train/ref_reset": 1.0}, step=end)
                st.save(state_path)
        tracker.summary({"train/ref_reset_steps": st.resets})
        tracker.finish()
        saved = [checkpoint_dir(out_dir, step) for step in rl.save_steps]
        s.wrote(*saved)
    return saved
