"""Benchmark (not a test): how far each compute phase of the embedded default is from its float32 matmul floor.

For the phases that make up most of the study's job time, this script measures in one run, one torch thread:

- the phase's wall time (median of ``--repeats`` runs, no profiler);
- the time its matrix products take inside the kernels (``aten::mm``/``addmm``/``bmm``/``baddbmm`` self time
  under ``torch.profiler``, which counts the backward's products too) and their FLOPs;
- attention kernel time (scaled dot-product attention, forward and backward), reported apart.

The peer is the same CPU's float32 matmul rate, measured here on a plain ``[3296, 128] x [128, 384]`` product
(the shape of a step's MLP projection). The floor of a phase is its matmul kernel time: what the phase would
take at float32 if every other operation (attention, norms, RoPE, SwiGLU, copies, sampling, Python) took no
time. ``wall / floor`` bounds what any float32 rewrite of that phase can gain on this machine.

A second table times the same phases with the model's weights cast to bfloat16 (this CPU may multiply bf16
matrices faster than float32 ones): the wall time of each precision, alternating, and their ratio. The bf16
run keeps no float32 master weights, so it is a lower bound on what a mixed-precision trainer would take.

Phases: one rollout batch of the trainer (32 prompts x 8, ``workflow.rollout.sample_groups``); the policy
pass of an update on it (packed forward with entropy, backward, AdamW step); the reference pass (forward, no
gradient); one large-k sampling call of the transformers backend (8 test prompts x n = 256); one pretraining
step (batch 128 of prompt + trace, 20 tokens).

``python tests/benchmarks/bench_floor.py --model results/countdown-toy/base/model --data results/countdown-toy/data``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.profiler import ProfilerActivity, profile

MATMULS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}


def _kernel_times(fn) -> tuple[float, float, float]:
    """(matmul seconds, matmul FLOPs, attention seconds) of one call of ``fn`` under the profiler."""
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        fn()
    mm_s = mm_flops = att_s = 0.0
    for ev in prof.key_averages():
        if ev.key in MATMULS:
            mm_s += ev.self_cpu_time_total / 1e6
            mm_flops += ev.flops or 0
        elif "scaled_dot_product" in ev.key:
            att_s += ev.self_cpu_time_total / 1e6
    return mm_s, mm_flops, att_s


def _wall(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _peer_rate(repeats: int = 50) -> float:
    """GFLOP/s of a plain float32 [3296, 128] x [128, 384] product on this thread."""
    x, w = torch.randn(3296, 128), torch.randn(384, 128)
    for _ in range(5):
        torch.nn.functional.linear(x, w)
    t = time.perf_counter()
    for _ in range(repeats):
        torch.nn.functional.linear(x, w)
    return 2 * 3296 * 128 * 384 * repeats / (time.perf_counter() - t) / 1e9


def phases(model_dir: str, data_dir: str, config: str, dtype: torch.dtype = torch.float32):
    """name -> zero-argument callable running that phase once on the embedded default's base model, its
    weights in ``dtype``."""
    from workflow import model as M
    from workflow.backends import TransformersBackend
    from workflow.config import load_config
    from workflow.io import read_jsonl
    from workflow.packing import pack
    from workflow.rollout import sample_groups
    from workflow.templates import render

    cfg = load_config(config)
    train = read_jsonl(f"{data_dir}/train.jsonl")
    test = read_jsonl(f"{data_dir}/test.jsonl")[:8]
    backend = TransformersBackend(model_dir, cfg.sampling, threads=1)
    backend.model.to(dtype)
    policy, tok = backend.model, backend.tok
    algo = cfg.rl.algorithm("grpo")
    template = cfg.template("plain")
    prompts = [render(template, p["prompt"]) for p in test]
    opt = torch.optim.AdamW(policy.parameters(), lr=0.0)  # lr 0: the weights stay the base model's
    ro = sample_groups(policy, tok, train[:32], algo, cfg.data.max_value, torch.Generator().manual_seed(0))
    args = (ro.prompt_ids, ro.prompt_mask, ro.response, ro.mask)

    def rollout():
        sample_groups(policy, tok, train[32:64], algo, cfg.data.max_value, torch.Generator().manual_seed(1))

    def policy_pass():
        policy.train()
        opt.zero_grad(set_to_none=True)
        logp, ent = M.token_logprobs(policy, *args, with_entropy=True, packed=pack(*args))
        ((logp + 0.01 * ent) * ro.mask).sum().backward()
        opt.step()
        policy.eval()

    @torch.no_grad()
    def reference_pass():
        M.token_logprobs(policy, *args, packed=pack(*args))

    def sampling():
        backend.generate(prompts, cfg.sampling.n, [1000 * j for j in range(len(prompts))], template)

    ids = torch.randint(len(tok), (cfg.model.batch_size, 20), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[:, :7] = -100

    def pretrain_step():
        policy.train()
        opt.zero_grad(set_to_none=True)
        policy(input_ids=ids, labels=labels).loss.backward()
        opt.step()
        policy.eval()

    return {
        "rollout batch (32 x 8)": rollout,
        "policy pass + AdamW": policy_pass,
        "reference pass": reference_pass,
        "large-k sampling (8 x 256)": sampling,
        "pretraining step (128 x 20)": pretrain_step,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--model", default="results/countdown-toy/base/model")
    ap.add_argument("--data", default="results/countdown-toy/data")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    peer = _peer_rate()
    print(f"peer: plain float32 matmul [3296,128] x [128,384], one thread: {peer:.0f} GFLOP/s")
    print(
        "| phase | wall (ms) | matmul kernels (ms) | matmul share | matmul GFLOP/s | attention (ms) "
        "| wall / matmul floor |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    fp32 = phases(args.model, args.data, args.config)
    for name, fn in fp32.items():
        fn()  # warm-up
        wall = _wall(fn, args.repeats)
        mm_s, flops, att_s = _kernel_times(fn)
        print(
            f"| {name} | {1000 * wall:.0f} | {1000 * mm_s:.0f} | {100 * mm_s / wall:.0f}% | "
            f"{flops / mm_s / 1e9:.0f} | {1000 * att_s:.0f} | {wall / mm_s:.2f}x |"
        )
    print(f"peer again: {_peer_rate():.0f} GFLOP/s")

    bf16 = phases(args.model, args.data, args.config, torch.bfloat16)
    print("\n| phase | float32 wall (ms) | bf16 weights wall (ms) | ratio float32 / bf16 |")
    print("| --- | --- | --- | --- |")
    for name in fp32:
        bf16[name]()  # warm-up
        walls = {"fp32": [], "bf16": []}
        for _ in range(args.repeats):
            walls["fp32"].append(_wall(fp32[name], 1))
            walls["bf16"].append(_wall(bf16[name], 1))
        a, b = (statistics.median(walls[k]) for k in ("fp32", "bf16"))
        print(f"| {name} | {1000 * a:.0f} | {1000 * b:.0f} | {a / b:.2f}x |")


if __name__ == "__main__":
    main()
