#!/usr/bin/env bash
# One-command entry points (README):
#   bash run.sh study [snakemake args...]   set up .venv, then run the embedded-default study
#   bash run.sh test  [pytest args...]      set up .venv, then run the test suite
#   bash run.sh setup                       set up .venv only
# Torch: on a machine without an NVIDIA GPU a CPU build is installed first (a wheel already on disk,
# else PyTorch's CPU index), so pip never pulls the multi-GB CUDA build. Override with TORCH_SPEC /
# TORCH_INDEX; on GPU clusters use `pip install -e '.[gpu]'` (vLLM pins its own CUDA torch).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}


setup() {
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  local pip="$VENV/bin/python -m pip --quiet"
  local stamp="$VENV/.installed" want
  want=$(cat pyproject.toml run.sh | sha256sum | cut -c1-16)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
  if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1; then
      echo "[setup] NVIDIA GPU found: installing torch from PyPI (CUDA build)"
      $pip install "$TORCH_SPEC"
    else
      echo "[setup] no GPU: installing a CPU build of torch ($TORCH_SPEC)"
      # a wheel already on this machine (pip's find-links) first; its dependencies come with the project
      $pip install --no-index --no-deps "$TORCH_SPEC" 2>/dev/null \
        || $pip install "$TORCH_SPEC" --index-url "$TORCH_INDEX"
    fi
  fi
  # verl 0.9.1 (the `verl` extra, ~1.9 GB with ray) is the training engine of rl.engine: verl, the oracle of
  # workflow/algorithms.py, and its real trainer runs in the tests on CPU. Its requirements are satisfied by the
  # CPU torch installed above, so nothing pulls a CUDA build.
  echo "[setup] installing the project, its test tools and the verl engine"
  $pip install -e '.[test,slurm,verl]'
  echo "$want" > "$stamp"
}

cmd=${1:-study}; shift || true
setup
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"  # VENV may be relative or absolute
case "$cmd" in
  setup) ;;
  study) exec snakemake --cores "${CORES:-2}" "$@" ;;
  test)  exec python -m pytest "$@" ;;
  *) echo "usage: bash run.sh study|test|setup [args...]" >&2; exit 2 ;;
esac
