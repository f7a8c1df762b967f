"""Benchmark (not a test): the decoder and the scoring passes against their previous versions, same run.

Peers (kept here as they were in commit afd1c08, before prompt sharing, row compaction, the growing cache,
sampling by inversion and packing): ``previous_generate`` computes every prompt of the batch and every row
at every step until all rows have stopped, grows its cache by concatenation and draws with
``torch.multinomial``; ``previous_logprobs`` scores each response in its own left-padded
``prompt + response`` row. The random streams differ (multinomial against inversion), so the samples are
compared by their distribution: mean length and share stopped.

Three measurements, one torch thread, the peer and the current code alternating ``--repeats`` times:

1. large-k sampling through the transformers backend (``TransformersBackend.generate``) with the embedded
   default's settings (n = 256, decoding batch 2048, 16 tokens, temperature 1) on the first ``--prompts``
   test problems, same seeds: samples per second;
2. one rollout batch of the trainer (32 prompts x 8 responses, ``workflow.rollout.sample_groups``);
3. the scoring passes of an update on that batch: the reference pass (forward, no gradient) and the
   policy pass (forward with entropy, backward), padded against packed.

``python tests/benchmarks/bench_decode.py --model results/countdown-toy/base/model
--data results/countdown-toy/data``
"""

from __future__ import annotations

import argparse
import time

import torch

from workflow import model as M


def previous_next_token(logits, temperature, top_p, gen):
    if temperature == 0:
        return logits.argmax(-1), torch.zeros(logits.shape[0])
    logp_all = torch.log_softmax(logits.float() / temperature, dim=-1)
    probs = logp_all.exp()
    if top_p < 1.0:
        sorted_p, idx = probs.sort(dim=-1, descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p
        probs = torch.zeros_like(probs).scatter_(-1, idx, sorted_p * keep)
    tok = torch.multinomial(probs, 1, generator=gen).squeeze(-1)
    return tok, logp_all.gather(-1, tok[:, None]).squeeze(-1)


@torch.no_grad()
def previous_generate(
    model, prompts, *, max_tokens, temperature, top_p, eos_id, pad_id, generator=None
) -> M.Generation:
    ids, attn = M.left_pad(prompts, pad_id)
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True)
    past, logits = out.past_key_values, out.logits[:, -1]
    b = len(prompts)
    done = torch.zeros(b, dtype=torch.bool)
    lengths = torch.zeros(b, dtype=torch.long)
    steps, logps = [], []
    last_pos = pos[:, -1:]
    for _ in range(max_tokens):
        nxt, lp = previous_next_token(logits, temperature, top_p, generator)
        nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
        steps.append(nxt)
        logps.append(torch.where(done, torch.zeros_like(lp), lp))
        lengths += (~done).long()
        done |= nxt == eos_id
        if bool(done.all()):
            break
        attn = torch.cat([attn, torch.ones((b, 1), dtype=attn.dtype)], dim=1)
        last_pos = last_pos + 1
        out = model(
            input_ids=nxt[:, None],
            attention_mask=attn,
            position_ids=last_pos,
            past_key_values=past,
            use_cache=True,
        )
        past, logits = out.past_key_values, out.logits[:, -1]
    return M.Generation(torch.stack(steps, 1), lengths, done, torch.stack(logps, 1))


def previous_logprobs(
    model, prompt_ids, prompt_mask, response, response_mask, temperature=1.0, with_entropy=False
):
    from workflow.algorithms import entropy_from_logits

    ids = torch.cat([prompt_ids, response], dim=1)
    attn = torch.cat([prompt_mask, response_mask.long()], dim=1)
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=attn, position_ids=pos).logits
    logits = logits[:, prompt_ids.shape[1] - 1 : -1].float() / temperature
    logp = torch.log_softmax(logits, dim=-1).gather(-1, response[..., None]).squeeze(-1)
    return logp, entropy_from_logits(logits) if with_entropy else None


def _timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def _update_pass(score, policy, ro):
    """The policy pass of an update: log-probs with entropy, a loss, its backward."""
    policy.zero_grad()
    logp, ent = score(policy, ro.prompt_ids, ro.prompt_mask, ro.response, ro.mask, with_entropy=True)
    ((logp + 0.01 * ent) * ro.mask).sum().backward()
    return logp.detach() * ro.mask


def main(argv: list[str] | None = None) -> None:
    from workflow.backends import TransformersBackend
    from workflow.config import load_config
    from workflow.io import read_jsonl
    from workflow.packing import pack
    from workflow.rollout import sample_groups
    from workflow.templates import render

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--model", default="results/countdown-toy/base/model")
    ap.add_argument("--data", default="results/countdown-toy/data")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = load_config(args.config)
    test = read_jsonl(f"{args.data}/test.jsonl")[: args.prompts]
    train = read_jsonl(f"{args.data}/train.jsonl")
    template = cfg.template("plain")

    backend = TransformersBackend(args.model, cfg.sampling, threads=1)
    n = cfg.sampling.n
    prompts = [render(template, p["prompt"]) for p in test]
    seeds = [1000 * j for j in range(len(prompts))]
    peers = {"previous": previous_generate, "current": M.generate}
    times = {k: 0.0 for k in peers}
    samples = {}
    for _ in range(args.repeats):
        for name, fn in peers.items():
            saved, M.generate = M.generate, fn
            try:
                samples[name], dt = _timed(backend.generate, prompts, n, seeds, template)
            finally:
                M.generate = saved
            times[name] += dt
    total = len(prompts) * n * args.repeats

    def spread(rows):  # mean tokens per sample, share stopped
        flat = [smp for per in rows for smp in per]
        return (
            sum(smp.num_tokens for smp in flat) / len(flat),
            sum(smp.finish_reason == "stop" for smp in flat) / len(flat),
        )

    print(
        f"1. large-k sampling, transformers backend: {len(prompts)} prompts x n={n}, 16 tokens, {args.repeats} repeats"
    )
    for name in peers:
        length, stopped = spread(samples[name])
        print(
            f"   {name:8s}: {total / times[name]:7.0f} samples/s "
            f"(mean {length:.2f} tokens, {100 * stopped:.1f}% stopped)"
        )
    print(f"   ratio current / previous: {times['previous'] / times['current']:.2f}x")

    algo = cfg.rl.algorithm("grpo")
    policy, tok = backend.model, backend.tok
    batches = [train[32 * i : 32 * i + 32] for i in range(args.repeats)]
    times = {k: 0.0 for k in peers}
    rollouts = {}
    for i, problems in enumerate(batches):
        for name, fn in peers.items():
            saved, M.generate = M.generate, fn
            try:
                gen = torch.Generator().manual_seed(i)
                rollouts[name], dt = _timed(
                    sample_groups, policy, tok, problems, algo, cfg.data.max_value, gen
                )
            finally:
                M.generate = saved
            times[name] += dt
    print(
        f"2. rollout batch: 32 prompts x {algo.group_size}, {algo.max_tokens} tokens, {args.repeats} batches"
    )
    for name in peers:
        ro = rollouts[name]
        print(
            f"   {name:8s}: {len(batches) * len(ro.scores) / times[name]:7.0f} responses/s "
            f"(last batch: mean {float(ro.mask.sum(-1).mean()):.2f} tokens, accuracy {float(ro.correct.float().mean()):.3f})"
        )
    print(f"   ratio current / previous: {times['previous'] / times['current']:.2f}x")

    ro = rollouts["current"]
    args_ = (ro.prompt_ids, ro.prompt_mask, ro.response, ro.mask)
    scorers = {"previous": previous_logprobs, "current": M.token_logprobs}
    fwd = {k: 0.0 for k in scorers}
    bwd = {k: 0.0 for k in scorers}
    out = {}
    policy.train()
    for _ in range(args.repeats):
        for name, fn in scorers.items():
            with torch.no_grad():
                _, dt = _timed(fn, policy, *args_)
            fwd[name] += dt
            out[name], dt = _timed(_update_pass, fn, policy, ro)
            bwd[name] += dt
    policy.eval()
    packed = pack(*args_)
    print(
        f"3. scoring passes on that batch ({len(ro.response)} responses; positions computed: padded "
        f"{ro.prompt_ids.numel() + ro.response.numel()}, packed {packed.tokens})"
    )
    for name in scorers:
        print(
            f"   {name:8s}: reference pass {fwd[name] / args.repeats * 1000:6.1f} ms, "
            f"policy pass with backward {bwd[name] / args.repeats * 1000:6.1f} ms"
        )
    print(
        f"   ratio current / previous: reference {fwd['previous'] / fwd['current']:.2f}x, "
        f"policy {bwd['previous'] / bwd['current']:.2f}x; max |logp difference| "
        f"{float((out['previous'] - out['current']).abs().max()):.1e}"
    )


if __name__ == "__main__":
    main()
