"""verl 0.9.1 with its own vLLM rollout on a GPU (``rl.verl.device: cuda``, ``rollout: vllm``): the cluster path
of the verl engine, on the tiny model the tests pretrain (a Llama with a local word-level tokenizer, no hub).

Behind the ``gpu`` marker: it skips without CUDA, and needs verl's vLLM (``pip install -e '.[verl,gpu]'`` on a GPU
machine, verl's supported vLLM range). It has not run in CI, which has no GPU: run it where one is lent
(``pytest -m gpu tests/test_verl_gpu.py``). The assertions are those of the CPU run (tests/test_verl_run.py):
every step's metrics, a non-zero gradient where the batch has signal, vLLM's log-probabilities agreeing with the
trainer's, and a merged checkpoint that loads.
"""

from __future__ import annotations

import copy
import importlib.util

import pytest
from conftest import TINY

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("verl") is None, reason="verl extra not installed"),
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed (gpu extra)"),
]


def test_grpo_with_the_vllm_rollout_on_one_gpu(tiny_cfg, tiny_base, tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from test_verl_run import assert_trained, weights

    from workflow.config import from_dict
    from workflow.tracking import MemoryTracker
    from workflow.train import verl_data, verl_launch

    d = copy.deepcopy(TINY)
    gpu = {"device": "cuda", "rollout": "vllm", "gpus_per_node": 1, "gpu_memory_utilization": 0.3}
    # the tiny model in fp32 end to end, so vLLM's and the trainer's log-probabilities are comparable
    gpu["extra"] = ["actor_rollout_ref.rollout.dtype=float32", "actor_rollout_ref.rollout.enforce_eager=true"]
    d["rl"].update(engine="verl", algorithms=["grpo"], steps=2, save_steps=[2], state_every=1, verl=gpu)
    cfg = from_dict(d)
    splits = verl_data.run(cfg, {"train": tiny_base["train"], "val": tiny_base["val"]}, tmp_path / "pq")
    tracker = MemoryTracker()
    saved = verl_launch.run(
        cfg, "grpo", 0, tiny_base["model"], splits["train"], tmp_path / "run", splits["val"], tracker
    )
    steps = {s: m for s, m in tracker.history if "actor/grad_norm" in m}
    assert_trained(steps, [1, 2], tol=5e-3)  # vLLM's kernels differ from the trainer's (CPU: equal to 1e-6)
    weights(saved[0])
