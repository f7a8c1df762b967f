#!/usr/bin/env bash
# A one-machine SLURM cluster for tests: slurmctld + slurmd + munge from Debian packages, no accounting
# database (slurmdbd). Used by .ci/run and tests/test_slurm.py; needs root and no systemd.
#
#   bash .ci/local-slurm.sh install   apt-get the packages (skipped when they are already there)
#   bash .ci/local-slurm.sh start     write slurm.conf, start munged, slurmctld, slurmd; wait until the node is idle
#   bash .ci/local-slurm.sh stop      stop the daemons this script started (by their pid files only)
#   bash .ci/local-slurm.sh status    exit 0 if the controller answers; prints sinfo and squeue
#
# Environment: SLURM_FAKE_GPUS (default 2: /dev/null clones registered as gres gpu, so `--gpus=N` jobs
# schedule and get CUDA_VISIBLE_DEVICES), SLURM_STATE (default /var/lib/local-slurm), SLURM_MIN_JOB_AGE
# (default 3600 s: how long squeue --states=all keeps finished jobs).
#
# Without slurmdbd `sacct` fails, and snakemake-executor-plugin-slurm 2.8 then polls forever: profiles for this
# cluster must set `slurm-status-command: squeue` and `slurm-no-account: True` (config/slurm-local/). Every
# finished job is also appended to $SLURM_STATE/log/jobcomp.log (jobcomp/filetxt), a record that outlives
# MinJobAge. Recipe and pitfalls: shared reference infrastructure.md section 3.
set -euo pipefail

FAKE_GPUS=${SLURM_FAKE_GPUS:-2}
STATE=${SLURM_STATE:-/var/lib/local-slurm}
MIN_JOB_AGE=${SLURM_MIN_JOB_AGE:-3600}
CONF=/etc/slurm
PKGS=(slurmctld slurmd slurm-client munge)

have_binaries() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null
}

install() {
  if have_binaries; then
    echo "[local-slurm] SLURM binaries already installed"
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
  have_binaries
}

alive() { # pid file -> 0 if its process runs
  local p
  p=$(cat "$1" 2>/dev/null || true)
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null
}

running() { alive "$STATE/slurmctld.pid" && alive "$STATE/slurmd.pid" && scontrol ping >/dev/null 2>&1; }

write_conf() {
  local host ncpus mem_mb gres="" nodegres="" i
  host=$(hostname -s)
  ncpus=$(nproc)
  # RealMemory above what slurmd detects drains the node: take 80% of RAM
  mem_mb=$(($(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 * 8 / 10))
  mkdir -p "$CONF" "$STATE"/{ctld,slurmd,log}
  if [ "$FAKE_GPUS" -gt 0 ]; then
    # slurmd accepts only character devices as gres files; clones of /dev/null (c 1 3) are harmless
    for i in $(seq 0 $((FAKE_GPUS - 1))); do
      [ -c "$STATE/fakegpu$i" ] || { rm -f "$STATE/fakegpu$i" && mknod -m 666 "$STATE/fakegpu$i" c 1 3; }
    done
    gres="GresTypes=gpu"
    nodegres="Gres=gpu:fake:$FAKE_GPUS"
    printf 'AutoDetect=off\nNodeName=%s Name=gpu Type=fake File=%s/fakegpu[0-%d]\n' \
      "$host" "$STATE" $((FAKE_GPUS - 1)) >"$CONF/gres.conf"
  else
    rm -f "$CONF/gres.conf"
  fi
  # No systemd and cgroup v1 in containers: linuxproc process tracking, no task plugin. DefMemPerCPU keeps a
  # job without --mem from taking the whole node under CR_Core_Memory.
  cat >"$CONF/slurm.conf" <<EOF
ClusterName=localcluster
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
MinJobAge=$MIN_JOB_AGE
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
$gres
NodeName=$host NodeAddr=127.0.0.1 CPUs=$ncpus RealMemory=$mem_mb $nodegres State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL Default=NO MaxTime=INFINITE State=UP
EOF
}

start() {
  [ "$(id -u)" = 0 ] || { echo "[local-slurm] start needs root" >&2; exit 1; }
  have_binaries || { echo "[local-slurm] SLURM is not installed: run '$0 install'" >&2; exit 1; }
  if running; then
    echo "[local-slurm] already running"
    sinfo
    return 0
  fi
  write_conf
  mkdir -p /run/munge
  chown munge:munge /run/munge
  [ -s /etc/munge/munge.key ] || mungekey --create --force
  alive /run/munge/munged.pid || runuser -u munge -- /usr/sbin/munged # munged refuses to run as root
  alive "$STATE/slurmctld.pid" || /usr/sbin/slurmctld -c               # -c: no job state from earlier runs
  alive "$STATE/slurmd.pid" || /usr/sbin/slurmd
  for _ in $(seq 120); do
    [ "$(sinfo -h -N -o %T 2>/dev/null | head -1)" = idle ] && {
      sinfo
      return 0
    }
    sleep 0.5
  done
  echo "[local-slurm] the node did not become idle; logs:" >&2
  tail -n 20 "$STATE"/log/*.log >&2 || true
  exit 1
}

stop() { # only the daemons started here, found by their pid files (never by name)
  local pids=() p f
  for f in "$STATE/slurmd.pid" "$STATE/slurmctld.pid" /run/munge/munged.pid; do
    p=$(cat "$f" 2>/dev/null || true)
    if [ -n "$p" ] && kill "$p" 2>/dev/null; then pids+=("$p"); fi
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 40); do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.25
    done
  done
  echo "[local-slurm] stopped ${#pids[@]} daemon(s)"
}

status() {
  if running; then
    sinfo
    squeue
  else
    echo "[local-slurm] not running"
    return 1
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 install|start|stop|status" >&2
    exit 2
    ;;
esac
