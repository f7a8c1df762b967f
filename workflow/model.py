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

from workflow.packing import Packed, pack, packed_outputs


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
    logits: torch.Tensor,
    temperature: float,
    top_p: float,
    gen: torch.Generator | None,
    rows: torch.Tensor | None = None,
    batch: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample (or argmax at temperature 0) from [A, V] logits with temperature and nucleus filtering.
    Returns (token [A], its log-probability under softmax(logits / T) [A]).

    Sampling is by inversion: one uniform u per row, the token is the first whose cumulative probability
    exceeds u times the row's total (tokens of probability 0 are never drawn). One uniform per row replaces
    the V exponentials per row of ``torch.multinomial`` (12% of a rollout's time at V = 280); it is a
    different random stream from the multinomial's that this project used before, with the same
    distribution. ``rows`` (the A rows' places in a batch of ``batch``) keeps the whole batch's stream while
    only A rows still decode: ``batch`` uniforms are drawn and row r takes the r-th, so a row's token does
    not depend on when the other rows stopped."""
    if temperature == 0:
        return logits.argmax(-1), torch.zeros(logits.shape[0], device=logits.device)
    logp_all = torch.log_softmax(logits.float() / temperature, dim=-1)  # [A, V]
    probs = logp_all.exp()
    if top_p < 1.0:
        sorted_p, idx = probs.sort(dim=-1, descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p  # always keeps the most likely token
        sorted_p = sorted_p * keep
        probs = torch.zeros_like(probs).scatter_(-1, idx, sorted_p)
    u = torch.rand(batch or len(probs), generator=gen, dtype=torch.float64)  # [batch]
    if rows is not None:
        u = u[rows.cpu()]
    cdf = probs.double().cumsum(-1)  # [A, V]
    x = (u.to(cdf.device) * cdf[:, -1])[:, None]  # < the total: u < 1
    tok = torch.searchsorted(cdf, x, right=True).squeeze(-1).clamp_(max=probs.shape[1] - 1)
    return tok, logp_all.gather(-1, tok[:, None]).squeeze(-1)


@torch.no_grad()  # not inference_mode: rollout tensors (old log-probs) enter the loss's autograd graph
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
    """Batched sampling with a KV cache: one forward over the distinct prompts (a prompt repeated in the batch,
    as the ``n`` samples of a problem or the responses of a group, is computed once and its cache copied to
    its rows), then one token per step for the rows that have not stopped (a row that produced EOS leaves
    the batch and its cache). The random stream is the whole batch's at every step (see
    :func:`_next_token`), so the samples do not depend on when other rows stopped."""
    dev = model.device
    b = len(prompts)
    distinct: dict[tuple[int, ...], int] = {}
    inverse = torch.tensor([distinct.setdefault(tuple(p), len(distinct)) for p in prompts], device=dev)
    ids, attn = left_pad([list(p) for p in distinct], pad_id)
    ids, attn = ids.to(dev), attn.to(dev)
    pos = (attn.cumsum(-1) - 1).clamp(min=0)  # [U, P]
    out = model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True)
    past, logits = out.past_key_values, out.logits[inverse, -1]
    if len(distinct) < b:
        past.batch_select_indices(inverse)
    attn, last_pos = attn[inverse], pos[inverse, -1:]
    active = torch.arange(b, device=dev)  # batch rows still decoding, in order
    tokens = torch.full((b, max_tokens), pad_id, dtype=torch.long, device=dev)
    logps = torch.zeros(b, max_tokens, device=dev)
    lengths = torch.zeros(b, dtype=torch.long, device=dev)
    stopped = torch.zeros(b, dtype=torch.bool, device=dev)
    steps = 0
    for t in range(max_tokens):
        nxt, lp = _next_token(logits, temperature, top_p, generator, rows=active, batch=b)
        nxt = nxt.to(dev)
        tokens[active, t], logps[active, t] = nxt, lp.to(dev)
        lengths[active] += 1
        steps = t + 1
        ended = nxt == eos_id
        stopped[active[ended]] = True
        if bool(ended.all()) or t + 1 == max_tokens:
            break
        if bool(ended.any()):
            keep = (~ended).nonzero().squeeze(-1)
            active, nxt, attn, last_pos = active[keep], nxt[keep], attn[keep], last_pos[keep]
            past.batch_select_indices(keep)
        attn = torch.cat([attn, torch.ones((len(active), 1), dtype=attn.dtype, device=dev)], dim=1)
        last_pos = last_pos + 1
        out = model(
            input_ids=nxt[:, None],
            attention_mask=attn,
            position_ids=last_pos,
            past_key_values=past,
            use_cache=True,
        )
        past, logits = out.past_key_values, out.logits[:, -1]
    return Generation(
        tokens=tokens[:, :steps].cpu(),
        lengths=lengths.cpu(),
        stopped=stopped.cpu(),
        logprobs=logps[:, :steps].cpu(),
    )


def token_logprobs(
    model,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    response: torch.Tensor,
    response_mask: torch.Tensor,
    temperature: float = 1.0,
    with_entropy: bool = False,
    packed: Packed | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs of the response tokens given the prompt, from one forward pass over the packed batch
    (``workflow.packing``: each distinct prompt once, no padding inside a row; pass ``packed`` to reuse a
    packing of the same batch).

    Shapes: prompt [B, P] (left-padded), response [B, T] (right-padded) -> logp [B, T] (and entropy [B, T]),
    0 where ``response_mask`` is 0. Logits are divided by ``temperature`` as verl's actor does, so ratios
    refer to the rollout distribution.
    """
    from workflow.algorithms import entropy_from_logits

    packed = packed or pack(prompt_ids, prompt_mask, response, response_mask)
    logits = packed_outputs(model, packed).float() / temperature  # [B, T, V] predicts response tokens
    valid = packed.valid.to(logits.device)
    logp = torch.log_softmax(logits, dim=-1).gather(-1, response[..., None]).squeeze(-1) * valid
    ent = entropy_from_logits(logits) * valid if with_entropy else None
    return logp, ent
