"""Perplexity of responses: exp of the mean NLL of the response tokens given the prompt."""

from __future__ import annotations

import math

import torch

from workflow import model as M
from workflow.backends import TransformersBackend
from workflow.config import SamplingConfig
from workflow.perplexity import perplexities


def backend(path):
    return TransformersBackend(path, SamplingConfig())


def test_perplexity_matches_a_manual_forward_pass(tiny_base):
    model, tok = M.load(tiny_base["model"])
    prompt, response = "1 2 3 target 6 :", "1 + 2 = 3 , 3 + 3 = 6"
    (ppl,) = perplexities(backend(tiny_base["model"]), [prompt], [response], [True])
    ids = tok(prompt)["input_ids"] + tok(response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    p = len(tok(prompt)["input_ids"])
    logp = torch.log_softmax(logits[p - 1 : -1], -1).gather(-1, torch.tensor(ids[p:])[:, None]).squeeze(-1)
    assert ppl == math.exp(-logp.mean().item()) or abs(ppl - math.exp(-logp.mean().item())) < 1e-4


def test_own_samples_are_less_perplexing_than_shuffled_ones(tiny_base):
    model, tok = M.load(tiny_base["model"])
    prompts = ["1 2 3 target 6 :", "2 3 5 target 10 :"] * 8
    out = M.generate(
        model,
        [tok(p)["input_ids"] for p in prompts],
        max_tokens=14,
        temperature=1.0,
        top_p=1.0,
        eos_id=tok.eos_token_id,
        pad_id=tok.pad_token_id,
        generator=torch.Generator().manual_seed(0),
    )
    texts = tok.batch_decode(out.tokens, skip_special_tokens=True)
    shuffled = [" ".join(reversed(t.split())) for t in texts]
    b = backend(tiny_base["model"])
    own = perplexities(b, prompts, texts, out.stopped.tolist())
    other = perplexities(b, prompts, shuffled, out.stopped.tolist())
    assert sum(own) / len(own) < sum(other) / len(other)
    assert all(p >= 1.0 for p in own)
