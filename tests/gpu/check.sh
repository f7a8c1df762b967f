#!/usr/bin/env bash
# Every GPU-only check of the project in one run, one summary line per check (run it whenever a GPU is lent):
#   bash tests/gpu/check.sh            # with the current python, which needs the project's `gpu` and `test`
#                                      # extras (and `verl` for the verl GPU test)
#   bash tests/gpu/check.sh --setup    # first create .venv-gpu: pip install -e '.[gpu,test,verl]' (CUDA torch
#                                      # comes with vLLM)
# Checks: `pytest -m gpu` (the real vLLM backend and verl's trainer on CUDA); the vLLM sampling benchmark
# (ours against vLLM called directly, and against the transformers backend) on the tiny Countdown model that
# the tests train in about 10 s (no hub access). Meant to finish in under 10 minutes on one GPU.
set -uo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = --setup ]; then
  python3 -m venv .venv-gpu && .venv-gpu/bin/python -m pip install --quiet -e '.[gpu,test,verl]' || exit 1
  export PATH="$PWD/.venv-gpu/bin:$PATH"
fi
PY=${PYTHON:-python}
LOGS=$(mktemp -d)
status=0

check() {  # name, command...: runs it, prints one line: name, PASS/FAIL, seconds, the log's last line
  local name=$1 t0 rc
  shift
  t0=$(date +%s)
  timeout 540 "$@" >"$LOGS/$name.log" 2>&1
  rc=$?
  [ $rc = 0 ] && s=PASS || { s=FAIL; status=1; }
  echo "[gpu-check] $name: $s in $(($(date +%s) - t0)) s: $(grep -v '^\s*$' "$LOGS/$name.log" | tail -n 1)"
}

echo "[gpu-check] $(nvidia-smi -L 2>/dev/null | head -n 1 || echo 'no nvidia-smi') ; logs in $LOGS"
check cuda "$PY" -c "import torch; assert torch.cuda.is_available(); print(torch.cuda.get_device_name(0))"
check pytest-gpu "$PY" -m pytest -m gpu -q -rs -p no:cacheprovider
MODEL="$LOGS/tiny"
check tiny-model "$PY" - "$MODEL" <<'PYEOF'
import sys
from pathlib import Path
sys.path.insert(0, "tests")
from conftest import TINY
from workflow import data, pretrain
from workflow.config import from_dict
cfg = from_dict(TINY)
root = Path(sys.argv[1])
paths = data.run(cfg, root / "data")
print(pretrain.run(cfg, paths["train"], root / "base"))
PYEOF
check vllm-bench "$PY" tests/benchmarks/bench_vllm_sampling.py --model "$MODEL/base" --toy --transformers \
  --prompts 256 --n 64 --max-tokens 16
grep -h "tok/s\|ratio" "$LOGS/vllm-bench.log" | sed 's/^/[gpu-check]   /'
exit $status
