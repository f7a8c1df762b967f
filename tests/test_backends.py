"""Sampling backends: the transformers backend on a real tiny checkpoint, the vLLM backend's contract.

``test_vllm_backend_contract`` runs our ``VLLMBackend`` against a test double of the ``vllm`` module that
records the calls (one request per prompt with ``SamplingParams(n=...)``, seeds, stop strings, prefix caching,
engine arguments, ``prompt_logprobs`` scoring) and replays vLLM's documented output shapes: it checks what we
ask of vLLM in this environment, which has no vLLM. The real engine runs on CPU in its own environment
(tests/test_vllm_cpu.py, tests/vllm_cpu_checks.py) and on a GPU in ``test_vllm_on_gpu`` (marker ``gpu``;
skipped without CUDA; tests/gpu/check.sh)."""

from __future__ import annotations

import os
import sys
import types
from types import SimpleNamespace

import pytest
import torch

from workflow.backends import Sample, TransformersBackend, VLLMBackend, open_backend
from workflow.config import SamplingConfig, TemplateSpec
from workflow.templates import BUILTIN

PLAIN = BUILTIN["plain"]


def test_transformers_backend_rows_and_determinism(tiny_base):
    sc = SamplingConfig(n=4, max_tokens=16, batch_size=8)
    b = TransformersBackend(tiny_base["model"], sc)
    prompts = ["1 2 3 target 6 :", "2 3 5 target 10 :", "1 1 4 target 6 :"]
    out = b.generate(prompts, 4, [7, 7, 7], PLAIN)
    assert [len(x) for x in out] == [4, 4, 4]
    assert all(isinstance(s, Sample) and s.finish_reason in ("stop", "length") for x in out for s in x)
    assert b.generate(prompts, 4, [7, 7, 7], PLAIN) == out  # same seed, same samples
    assert b.generate(prompts, 4, [8, 8, 8], PLAIN) != out


def test_transformers_backend_applies_stop_strings_and_prefill(tiny_base):
    sc = SamplingConfig(n=8, max_tokens=16, batch_size=64)
    b = TransformersBackend(tiny_base["model"], sc)
    free = b.generate(["1 2 3 target 6 :"], 8, [0], PLAIN)[0]
    cut = TemplateSpec(prompt="{question}", stop=("=",), prefill="")
    stopped = b.generate(["1 2 3 target 6 :"], 8, [0], cut)[0]
    for f, s in zip(free, stopped, strict=True):
        if "=" in f.completion:
            assert s.completion == f.completion.split("=")[0] and s.finish_reason == "stop"
    pre = TemplateSpec(prompt="{question}", prefill="1 +")
    assert all(s.completion.startswith("1 +") for s in b.generate(["1 2 3 target 6 :"], 4, [0], pre)[0])


class FakeLLM:
    """Records what our backend asks of vLLM and answers in vLLM's output shapes."""

    calls: list = []

    def __init__(self, **kwargs):
        FakeLLM.calls.append(("init", kwargs))

    def get_tokenizer(self):
        return _Tok()

    def generate(self, prompts, params, use_tqdm=True):
        FakeLLM.calls.append(("generate", prompts, params))
        if isinstance(params, list):  # sampling: one request per prompt
            outs = []
            for p, sp in zip(prompts, params, strict=True):
                comps = [
                    SimpleNamespace(
                        index=i,
                        text=f" s{sp.seed + i}",  # vLLM's detokenizer keeps a leading space; we decode ids
                        token_ids=[sp.seed + i] + [0] * i,  # 0: a special token, dropped by decode
                        finish_reason="stop" if i % 2 else "length",
                    )
                    for i in reversed(range(sp.n))  # out of order on purpose
                ]
                outs.append(SimpleNamespace(prompt=p, outputs=comps))
            return outs
        # scoring: prompt_logprobs, one dict per position (None for the first)
        res = []
        for req in prompts:
            ids = req["prompt_token_ids"]
            lp = [None] + [{t: SimpleNamespace(logprob=-0.5 * (j + 1))} for j, t in enumerate(ids[1:])]
            res.append(SimpleNamespace(prompt_logprobs=lp))
        return res


class _Tok:
    eos_token_id = 0

    def decode(self, ids, skip_special_tokens=False):
        return " ".join(f"s{i}" for i in ids if not (skip_special_tokens and i == 0))

    def __call__(self, text, add_special_tokens=True):
        ids = [len(w) + 1 for w in text.split()]
        return {"input_ids": ([99] if add_special_tokens else []) + ids}


class FakeSamplingParams:
    def __init__(self, **kw):
        self.__dict__.update(kw)
        self.n = kw.get("n", 1)
        self.seed = kw.get("seed")


@pytest.fixture
def fake_vllm(monkeypatch):
    mod = types.ModuleType("vllm")
    mod.LLM, mod.SamplingParams = FakeLLM, FakeSamplingParams
    monkeypatch.setitem(sys.modules, "vllm", mod)
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)  # the backend sets it: restored afterwards
    FakeLLM.calls = []
    return FakeLLM


def test_vllm_backend_contract(fake_vllm):
    sc = SamplingConfig(
        backend="vllm", n=4, temperature=0.6, top_p=0.95, max_tokens=64, tensor_parallel=2, max_model_len=4096
    )
    b = open_backend(sc, "some/model", revision="abc")
    assert isinstance(b, VLLMBackend)
    _, init = fake_vllm.calls[0]
    assert init["model"] == "some/model" and init["revision"] == "abc" and init["enforce_eager"] is False
    # no CUDA here: vLLM's CPU build gets float32 for `auto` and its KV-cache space from the config
    assert init["dtype"] == ("auto" if torch.cuda.is_available() else "float32")
    assert torch.cuda.is_available() or os.environ["VLLM_CPU_KVCACHE_SPACE"] == "4"
    assert (
        init["tensor_parallel_size"] == 2 and init["enable_prefix_caching"] and init["max_model_len"] == 4096
    )
    tmpl = TemplateSpec(prompt="Q {question}", stop=("<|im_end|>",), prefill="P:")
    out = b.generate(["Q a", "Q b"], 3, [100, 200], tmpl)
    _, prompts, params = fake_vllm.calls[-1]
    assert prompts == ["Q aP:", "Q bP:"]  # the prefill is part of the prompt
    assert [p.n for p in params] == [3, 3] and [p.seed for p in params] == [100, 200]
    assert params[0].stop == ["<|im_end|>"] and params[0].temperature == 0.6 and params[0].top_p == 0.95
    assert params[0].max_tokens == 64
    # samples come back in index order, sample i drawn with seed + i, the prefill kept in the completion
    assert [s.completion for s in out[0]] == ["P:s100", "P:s101", "P:s102"]
    assert [s.finish_reason for s in out[0]] == ["length", "stop", "length"]
    assert [s.num_tokens for s in out[1]] == [1, 2, 3]
    # engine arguments pass through; the named settings win over them
    b2 = open_backend(SamplingConfig(backend="vllm", engine_args={"max_num_seqs": 8, "dtype": "x"}), "m")
    assert isinstance(b2, VLLMBackend)
    _, init2 = fake_vllm.calls[-1]
    assert init2["max_num_seqs"] == 8 and init2["dtype"] != "x"
    # scoring: the response's tokens only (the prompt's are excluded), EOS appended when it stopped
    (lp,) = b.mean_logprobs(["x y"], ["aa b"], [True])
    _, reqs, sp = fake_vllm.calls[-1]
    assert reqs[0]["prompt_token_ids"] == [99, 2, 2, 3, 2, 0] and sp.prompt_logprobs == 0
    # positions 3..5 carry logprobs -0.5 * 3, -0.5 * 4, -0.5 * 5 in the double
    assert lp == pytest.approx(-0.5 * (3 + 4 + 5) / 3)


def test_unknown_backend_is_refused_by_the_config():
    from workflow.config import ConfigError

    with pytest.raises(ConfigError, match="backend"):
        SamplingConfig(backend="tgi")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_vllm_on_gpu(tiny_base):
    pytest.importorskip("vllm")
    sc = SamplingConfig(backend="vllm", n=8, max_tokens=16, gpu_memory_utilization=0.3, dtype="float32")
    b = VLLMBackend(tiny_base["model"], sc)
    out = b.generate(["1 2 3 target 6 :"] * 2, 8, [5, 5], PLAIN)
    assert [len(x) for x in out] == [8, 8]
    assert [s.completion for s in out[0]] == [s.completion for s in out[1]]  # same seeds, same samples
    again = b.generate(["1 2 3 target 6 :"], 4, [9], PLAIN)[0]  # samples 4..7 of a request seeded 5
    assert [s.completion for s in again] == [s.completion for s in out[0][4:]]
    lps = b.mean_logprobs(["1 2 3 target 6 :"], [out[0][0].completion], [True])
    assert lps[0] < 0
