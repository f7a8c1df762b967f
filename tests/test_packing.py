"""Shared-prefix packing and the decoder give what the plain per-sequence computation gives.

Oracles written here, independent of the code under test: each response scored alone in its own unpadded
``prompt + response`` sequence, and the decoder as it was before prompt sharing and row compaction (every
row computed at every step, one multinomial draw over the whole batch). A tiny random Llama in float64
makes float summation order irrelevant; what differs is the float32 cast of the logits before the
softmax, as the trainer does, hence tolerances of float32 rounding.
"""

from __future__ import annotations

import pytest
import torch

from workflow import model as M
from workflow.packing import pack
from workflow.train.builtin import token_values

PAD, EOS, VOCAB = 0, 1, 40


def _llama(seed: int = 0, dtype=torch.float64):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
        tie_word_embeddings=True,
        pad_token_id=PAD,
        eos_token_id=EOS,
    )
    return LlamaForCausalLM(cfg).to(dtype).eval()


def _batch(seed: int = 0, groups: int = 5, per: int = 4, t: int = 9):
    """Left-padded prompts of 2..6 tokens repeated ``per`` times, right-padded responses of 1..t tokens."""
    g = torch.Generator().manual_seed(seed)
    prompts = [
        torch.randint(2, VOCAB, (int(torch.randint(2, 7, (1,), generator=g)),), generator=g).tolist()
        for _ in range(groups)
    ]
    rows = [p for p in prompts for _ in range(per)]
    pid, pmask = M.left_pad(rows, PAD)
    lengths = torch.randint(1, t + 1, (len(rows),), generator=g)
    lengths[0] = t
    resp = torch.randint(2, VOCAB, (len(rows), t), generator=g)
    mask = (torch.arange(t)[None] < lengths[:, None]).float()
    return pid, pmask, resp.masked_fill(mask == 0, PAD), mask


def _alone(model, pid, pmask, resp, mask):
    """Per response: logits at the positions predicting its tokens, from its own unpadded sequence."""
    out = []
    for i in range(len(resp)):
        p = pid[i][pmask[i].bool()]
        r = resp[i][mask[i].bool()]
        logits = model(input_ids=torch.cat([p, r])[None]).logits[0, len(p) - 1 : -1]  # [len(r), V]
        out.append(logits)
    return out


@pytest.mark.parametrize("width", [8, 24, 128])
def test_packed_logprobs_equal_each_response_scored_alone(width, monkeypatch):
    model = _llama()
    pid, pmask, resp, mask = _batch()
    packed = pack(pid, pmask, resp, mask, width=width)
    assert packed.tokens < pid.numel() + resp.numel() or width == 8  # fewer positions than the padded layout
    monkeypatch.setattr("workflow.model.pack", lambda *a: pack(*a, width=width))
    logp, ent = M.token_logprobs(model, pid, pmask, resp, mask, temperature=0.7, with_entropy=True)
    for i, logits in enumerate(_alone(model, pid, pmask, resp, mask)):
        n = len(logits)
        lp = torch.log_softmax(logits / 0.7, -1)
        want = lp.gather(-1, resp[i, :n, None]).squeeze(-1)
        assert torch.allclose(logp[i, :n].double(), want, atol=1e-6), i
        assert torch.allclose(ent[i, :n].double(), -(lp.exp() * lp).sum(-1), atol=1e-6), i
        assert (logp[i, n:] == 0).all() and (ent[i, n:] == 0).all()


def test_packed_gradients_equal_the_padded_layout():
    """The update's backward pass: the same parameter gradients as the per-sequence padded layout."""
    pid, pmask, resp, mask = _batch(seed=1)
    grads = []
    for packed in (True, False):
        model = _llama(seed=3).train()
        if packed:
            logp, _ = M.token_logprobs(model, pid, pmask, resp, mask)
        else:
            ids = torch.cat([pid, resp.long()], 1)
            attn = torch.cat([pmask, mask.long()], 1)
            pos = (attn.cumsum(-1) - 1).clamp(min=0)
            logits = model(input_ids=ids, attention_mask=attn, position_ids=pos).logits[
                :, pid.shape[1] - 1 : -1
            ]
            logp = torch.log_softmax(logits.float(), -1).gather(-1, resp[..., None]).squeeze(-1) * mask
        (logp * torch.linspace(-1, 1, logp.shape[1])).sum().backward()
        grads.append({k: p.grad.clone() for k, p in model.named_parameters()})
    for k in grads[0]:
        assert torch.allclose(grads[0][k], grads[1][k], rtol=1e-5, atol=1e-6), k


def test_packed_critic_values_equal_each_response_alone(tmp_path):
    from transformers import AutoModelForTokenClassification

    _llama(seed=4).save_pretrained(tmp_path)
    critic = AutoModelForTokenClassification.from_pretrained(tmp_path, num_labels=1, dtype=torch.float64)
    pid, pmask, resp, mask = _batch(seed=2)
    values = token_values(critic, pid, pmask, resp, mask)
    for i in range(len(resp)):
        p, r = pid[i][pmask[i].bool()], resp[i][mask[i].bool()]
        want = critic(input_ids=torch.cat([p, r])[None]).logits[0, len(p) - 1 : -1, 0]
        assert torch.allclose(values[i, : len(r)], want, atol=1e-10)
        assert (values[i, len(r) :] == 0).all()


def test_pack_layout():
    pid, pmask, resp, mask = _batch(seed=5, groups=6, per=8, t=12)
    packed = pack(pid, pmask, resp, mask, width=40)
    lengths = mask.sum(-1).long()
    # every response token sits once in the rows, each prompt at most once per chunk
    assert int((packed.member >= 0).sum()) == int(lengths.sum())
    assert packed.ids.shape[1] <= 40
    am = packed.attention_mask(torch.float32)[:, 0] == 0  # [R, W, W] allowed
    for i in range(len(resp)):
        r = int(packed.row[i, 0])
        cols = (packed.member[r] == i).nonzero().squeeze(-1)
        assert len(cols) == lengths[i]
        q = int(cols[-1])  # the last token sees its prompt and its own tokens, nothing else
        seen = am[r, q].nonzero().squeeze(-1)
        prompt_cols = seen[packed.member[r, seen] < 0]
        assert torch.equal(packed.ids[r, prompt_cols], pid[i][pmask[i].bool()])
        assert torch.equal(seen[packed.member[r, seen] >= 0], cols)
    with pytest.raises(ValueError, match="prefix"):
        bad = mask.clone()
        bad[0, 0] = 0
        pack(pid, pmask, resp, bad)


def _reference_generate(model, prompts, max_tokens, temperature, top_p, gen):
    """The decoder before prompt sharing and compaction: every row at every step until all stopped."""
    ids, attn = M.left_pad(prompts, PAD)
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True)
    past, logits, last = out.past_key_values, out.logits[:, -1], pos[:, -1:]
    done = torch.zeros(len(prompts), dtype=torch.bool)
    lengths = torch.zeros(len(prompts), dtype=torch.long)
    steps, logps = [], []
    for _ in range(max_tokens):
        nxt, lp = M._next_token(logits, temperature, top_p, gen)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        steps.append(nxt)
        logps.append(torch.where(done, torch.zeros_like(lp), lp))
        lengths += (~done).long()
        done |= nxt == EOS
        if bool(done.all()):
            break
        attn = torch.cat([attn, torch.ones(len(prompts), 1, dtype=attn.dtype)], 1)
        last = last + 1
        out = model(input_ids=nxt[:, None], attention_mask=attn, position_ids=last, past_key_values=past)
        past, logits = out.past_key_values, out.logits[:, -1]
    return torch.stack(steps, 1), torch.stack(logps, 1), done, lengths


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.8, 0.9), (0.0, 1.0)])
def test_decoder_gives_the_samples_of_the_full_batch_decoder(temperature, top_p):
    model = _llama(seed=6)
    # EOS made likely so that rows stop at different steps and compaction happens
    with torch.no_grad():
        model.lm_head.weight[EOS] *= 0  # tied: the EOS embedding too; its logit is 0 for every state
    g = torch.Generator().manual_seed(9)
    base = [torch.randint(2, VOCAB, (int(n),), generator=g).tolist() for n in (3, 5, 2)]
    prompts = [p for p in base for _ in range(6)] + [base[0]]  # repeats, and one out of order
    with torch.no_grad():
        want_tok, want_lp, want_stop, want_len = _reference_generate(
            model, prompts, 10, temperature, top_p, torch.Generator().manual_seed(1)
        )
    out = M.generate(
        model,
        prompts,
        max_tokens=10,
        temperature=temperature,
        top_p=top_p,
        eos_id=EOS,
        pad_id=PAD,
        generator=torch.Generator().manual_seed(1),
    )
    if temperature > 0:  # some rows stopped early, some ran to the limit
        assert 0 < int(out.stopped.sum()) < len(prompts)
    assert torch.equal(out.tokens, want_tok)
    assert torch.allclose(out.logprobs.double(), want_lp.double(), atol=1e-10)
    assert torch.equal(out.stopped, want_stop)
    assert torch.equal(out.lengths, want_len)


@pytest.mark.parametrize("top_p", [1.0, 0.7])
def test_sampling_by_inversion_draws_the_nucleus_distribution(top_p):
    """Frequencies of 200,000 draws over 6 tokens match softmax(logits / T) cut to the nucleus (each within
    5 standard errors); tokens outside the nucleus or of probability 0 are never drawn; rows left out of the
    decoding batch do not change the other rows' draws."""
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, -float("inf")]]).repeat(200_000, 1)
    tok, lp = M._next_token(logits, 0.8, top_p, torch.Generator().manual_seed(0))
    p = torch.softmax(logits[0] / 0.8, -1)
    if top_p < 1:
        keep = p.cumsum(0) - p < top_p  # sorted already
        p = p * keep / (p * keep).sum()
    freq = torch.bincount(tok, minlength=6).double() / len(tok)
    se = (p * (1 - p) / len(tok)).sqrt()
    assert ((freq - p).abs() <= 5 * se + 1e-12).all(), (freq, p)
    assert freq[p == 0].sum() == 0
    assert torch.allclose(lp, torch.log_softmax(logits / 0.8, -1).gather(-1, tok[:, None]).squeeze(-1))
    rows = torch.arange(0, 200_000, 3)
    sub, _ = M._next_token(
        logits[rows], 0.8, top_p, torch.Generator().manual_seed(0), rows=rows, batch=200_000
    )
    assert torch.equal(sub, tok[rows])
