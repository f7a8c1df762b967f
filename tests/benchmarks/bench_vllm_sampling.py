"""Benchmark: our vLLM sampling backend against vLLM called directly, on the same prompts (needs a GPU).

Both sides sample n completions for each of the same prompts with the same SamplingParams; the direct side
is the shortest correct vLLM program (one ``LLM``, one ``generate`` call with ``SamplingParams(n=...)``).
Prints generated tokens per second of each and the ratio (ours / direct; goal >= 0.9). Each side gets its
own engine in turn, and a warm-up call first.

Run on a GPU machine: ``python tests/benchmarks/bench_vllm_sampling.py --model Qwen/Qwen2.5-0.5B-Instruct
--prompts 64 --n 16 --max-tokens 512`` (``--model`` may be a local directory).
"""

from __future__ import annotations

import argparse
import gc
import time


def run_direct(model: str, prompts: list[str], n: int, max_tokens: int, seed: int) -> tuple[int, float]:
    from vllm import LLM, SamplingParams

    llm = LLM(model=model, enable_prefix_caching=True, gpu_memory_utilization=0.8, seed=0)
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


def run_ours(model: str, prompts: list[str], n: int, max_tokens: int, seed: int) -> tuple[int, float]:
    from workflow.backends import VLLMBackend
    from workflow.config import SamplingConfig
    from workflow.templates import BUILTIN

    sc = SamplingConfig(
        backend="vllm", n=n, temperature=0.6, top_p=0.95, max_tokens=max_tokens, gpu_memory_utilization=0.8
    )
    b = VLLMBackend(model, sc)
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
    a = ap.parse_args()
    prompts = [
        f"Question {i}: what is {i} * {i + 3} + {2 * i}? Think step by step, then give the answer."
        for i in range(a.prompts)
    ]
    direct_tok, direct_s = run_direct(a.model, prompts, a.n, a.max_tokens, a.seed)
    ours_tok, ours_s = run_ours(a.model, prompts, a.n, a.max_tokens, a.seed)
    d, o = direct_tok / direct_s, ours_tok / ours_s
    print(f"vLLM direct: {direct_tok} tokens in {direct_s:.2f} s = {d:.0f} tok/s")
    print(f"ours       : {ours_tok} tokens in {ours_s:.2f} s = {o:.0f} tok/s")
    print(f"ratio ours / direct = {o / d:.3f} (goal >= 0.9)")


if __name__ == "__main__":
    main()
