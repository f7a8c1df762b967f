"""Model utilities shared by every stage: the local tokenizer, the tiny Llama, batched KV-cache sampling and
per-token log-probabilities.

Consumes: HF checkpoint directories (``save_pretrained`` layout). Produces: tensors. Every stage loads models
with :func:`load`, i.e. ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained``: the
code path that loads ``Qwen/Qwen2.5-7B`` on a cluster loads the embedded default's own base model here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch


def build_tokenizer(vocab: list[str]):
    """A word-level tokenizer built locally with ``tokenizers`` and wrapped for ``transformers``.

    Text is split on whitespace; each word is one token; a prompt gets <bos> prepended.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", vocab.index("<bos>"))]
    )
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )


def build_model(vocab_size: int, n_layer: int, d_model: int, n_head: int, d_ff: int, max_len: int, tokenizer):
    """A scaled-down Llama (RMSNorm, RoPE, SwiGLU, tied embeddings), randomly initialised."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=d_model,
        intermediate_size=d_ff,
        num_hidden_layers=n_layer,
        num_attention_heads=n_head,
        num_key_value_heads=n_head,
        max_position_embeddings=max_len,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(cfg)


def load(path: str | Path, threads: int | None = None):
    """(model, tokenizer) from a local directory or a hub id, in eval mode on CPU (or CUDA if present)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    model.to(device())
    model.eval()
    return model, tokenizer


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def save(model, tokenizer, path: str | Path) -> None:
    """``save_pretrained`` into ``path`` atomically (write a sibling temp dir, then rename)."""
    from transformers.utils import logging as hf_logging

    from workflow.io import atomic_dir

    hf_logging.disable_progress_bar()
    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


@dataclass
class Generation:
    """Right-padded responses of one batch."""

    tokens: torch.Tensor
    """[B, T] response token ids, pad after EOS."""
    lengths: torch.Tensor
    """[B] valid response tokens (EOS included)."""
    stopped: torch.Tensor
    """[B] True where EOS was produced (finish reason 'stop'), False if cut at max_tokens ('length')."""
    logprobs: torch.Tensor
    """[B, T] log-probability of each sampled token under the sampling distribution softmax(logits / T)
    (before top-p truncation; 0 on padding and for greedy decoding)."""


def left_pad(prompts: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token lists: (ids [B, P], attention mask [B, P])."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
        mask[i, width - len(p) :] = 1
    return ids, mask


def _next_token(
    logits: torch.Tensor, temperature: float, top_p: float, gen: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample (or argmax at temperature 0) from [B, V] logits with temperature and nucleus filtering.
    Returns (token [B], its log-probability under softmax(logits / T) [B])."""
    if temperature == 0:
        return logits.argmax(-1), torch.zeros(logits.shape[0], device=logits.device)
    logp_all = torch.log_softmax(logits.float() / temperature, dim=-1)  # [B, V]
    probs = logp_all.exp()
    if top_p < 1.0:
        sorted_p, idx = probs.sort(dim=-1, descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p  # always keeps the most likely token
        sorted_p = sorted_p * keep
        probs = torch.zeros_like(probs).scatter_(-1, idx, sorted_p)
    tok = torch.multinomial(probs, 1, generator=gen).squeeze(-1)
    return tok, logp_all.gather(-1, tok[:, None]).squeeze(-1)


@torch.no_grad()
def generate(
    model,
    prompts: list[list[int]],
    *,
    max_tokens: int,
    temperature: float,
    top_p: float,
    eos_id: int,
    pad_id: int,
    generator: torch.Generator | None = None,
) -> Generation:
    """Batched sampling with a KV cache (one forward over the prompts, then one token per step)."""
    dev = model.device
    ids, attn = left_pad(prompts, pad_id)
    ids, attn = ids.to(dev), attn.to(dev)
    pos = (attn.cumsum(-1) - 1).clamp(min=0)  # [B, P]
    out = model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True)
    past, logits = out.past_key_values, out.logits[:, -1]
    b = len(prompts)
    done = torch.zeros(b, dtype=torch.bool, device=dev)
    lengths = torch.zeros(b, dtype=torch.long, device=dev)
    steps: list[torch.Tensor] = []
    logps: list[torch.Tensor] = []
    last_pos = pos[:, -1:]
    for _ in range(max_tokens):
        nxt, lp = _next_token(logits, temperature, top_p, generator)
        nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt.to(dev))
        steps.append(nxt)
        logps.append(torch.where(done, torch.zeros_like(lp), lp))
        lengths += (~done).long()
        done |= nxt == eos_id
        if bool(done.all()):
            break
        attn = torch.cat([attn, torch.ones((b, 1), dtype=attn.dtype, device=dev)], dim=1)
        last_pos = last_pos + 1
        out = model(
            input_ids=nxt[:, None],
            attention_mask=attn,
            position_ids=last_pos,
            past_key_values=past,
            use_cache=True,
        )
        past, logits = out.past_key_values, out.logits[:, -1]
    tokens = torch.stack(steps, dim=1).cpu()  # [B, T]
    return Generation(
        tokens=tokens, lengths=lengths.cpu(), stopped=done.cpu(), logprobs=torch.stack(logps, 1).cpu()
    )


def token_logprobs(
    model,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    response: torch.Tensor,
    response_mask: torch.Tensor,
    temperature: float = 1.0,
    with_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs of the response tokens given the prompt, from one forward pass.

    Shapes: prompt [B, P] (left-padded), response [B, T] (right-padded) -> logp [B, T] (and entropy [B, T]).
    Logits are divided by ``temperature`` as verl's actor does, so ratios refer to the rollout distribution.
    """
    from workflow.algorithms import entropy_from_logits

    ids = torch.cat([prompt_ids, response], dim=1)  # [B, P+T]
    attn = torch.cat([prompt_mask, response_mask.long()], dim=1)
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=attn, position_ids=pos).logits  # [B, P+T, V]
    p = prompt_ids.shape[1]
    logits = logits[:, p - 1 : -1].float() / temperature  # [B, T, V] predicts response tokens
    logp = torch.log_softmax(logits, dim=-1).gather(-1, response[..., None]).squeeze(-1)
    ent = entropy_from_logits(logits) if with_entropy else None
    return logp, ent
