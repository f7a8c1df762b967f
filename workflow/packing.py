"""Shared-prefix packing: score many responses to few prompts without recomputing the prompts or the padding.

Consumes: a batch of responses with their prompts, ``prompt [N, P]`` (left-padded), ``response [N, T]``
(right-padded) and their masks. Produces a :class:`Packed` batch: rows of width ``W`` holding each distinct
prompt once followed by its responses, an additive attention mask ``[R, 1, W, W]`` and position ids such
that every response token sees exactly what it would see in its own unpadded sequence
``prompt + response[:t]`` (its prompt, its own earlier tokens, nothing else), and the gather indices that
bring the model's outputs back to ``[N, T, ...]`` in the original order.

Why: in an RL batch the ``group_size`` responses of a prompt share it, so the per-response layout recomputes
each prompt ``group_size`` times and pads every response to the longest. Packed, a step's batch of the
embedded default (32 prompts of 7 tokens, 256 responses of about 12 of at most 16 tokens) takes 3,296
positions instead of 4,864. The arithmetic per token is the same; only float summation order differs
(``tests/test_packing.py`` compares with each response scored alone and with the padded layout's
gradients).

Layout: responses of one prompt go, in batch order, into chunks of at most ``width`` tokens (prompt
included; a chunk repeats the prompt), chunks go into rows by first-fit decreasing, and rows are
right-padded to the longest. ``width`` bounds the attention cost per token (dense attention over a row),
and is raised to the longest single ``prompt + response`` when that is longer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Packed:
    ids: torch.Tensor  # [R, W] token ids (pad: 0)
    pos: torch.Tensor  # [R, W] position ids
    chunk: torch.Tensor  # [R, W] chunk id of each position, -1 on padding
    member: torch.Tensor  # [R, W] response index of each position, -1 on prompt tokens and padding
    row: torch.Tensor  # [N, T] row of the position whose output predicts response token t
    col: torch.Tensor  # [N, T] its column
    valid: torch.Tensor  # [N, T] bool, t < the response's length
    _masks: dict = field(default_factory=dict, repr=False, compare=False)  # dtype -> attention_mask

    def attention_mask(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Additive mask [R, 1, W, W] (0 where query q may attend key k, the dtype's minimum elsewhere):
        k <= q, the same chunk, and k a prompt token or a token of q's own response. A padding position
        attends to itself only, so no row of the softmax is empty. Built once per dtype (the policy and
        critic passes of a minibatch share it)."""
        if dtype not in self._masks:
            self._masks[dtype] = self._build_mask(dtype)
        return self._masks[dtype]

    def _build_mask(self, dtype: torch.dtype) -> torch.Tensor:
        w = self.ids.shape[1]
        causal = torch.ones(w, w, dtype=torch.bool).tril()
        same_chunk = (self.chunk[:, :, None] == self.chunk[:, None, :]) & (self.chunk[:, None, :] >= 0)
        mine = (self.member[:, None, :] < 0) | (self.member[:, None, :] == self.member[:, :, None])
        allowed = (same_chunk & mine & causal) | torch.eye(w, dtype=torch.bool)
        mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)
        return mask[:, None]

    @property
    def tokens(self) -> int:
        """Positions computed per forward pass (rows x width)."""
        return self.ids.numel()


def pack(
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    response: torch.Tensor,
    response_mask: torch.Tensor,
    width: int = 128,
) -> Packed:
    """Pack ``N`` responses (shapes in the module docstring) into rows sharing each distinct prompt."""
    n, t = response.shape
    pm, rm = prompt_mask.bool().cpu(), response_mask.bool().cpu()
    lengths = rm.sum(-1).tolist()
    if not torch.equal(rm, torch.arange(t)[None, :] < rm.sum(-1, keepdim=True)):
        raise ValueError("pack: a response mask must be 1 on a prefix of each row (right padding only)")
    prompts = [tuple(prompt_ids[i][pm[i]].tolist()) for i in range(n)]
    resp = response.cpu()
    width = max([width] + [len(p) + ln for p, ln in zip(prompts, lengths, strict=True)])

    by_prompt: dict[tuple[int, ...], list[int]] = {}
    for i, p in enumerate(prompts):
        by_prompt.setdefault(p, []).append(i)
    chunks: list[tuple[tuple[int, ...], list[int], int]] = []  # (prompt, members, tokens)
    for p, members in by_prompt.items():
        cur, size = [], len(p)
        for i in members:
            if cur and size + lengths[i] > width:
                chunks.append((p, cur, size))
                cur, size = [], len(p)
            cur.append(i)
            size += lengths[i]
        chunks.append((p, cur, size))

    rows: list[list[int]] = []  # chunk indices per row, first-fit decreasing
    room: list[int] = []
    for c in sorted(range(len(chunks)), key=lambda c: -chunks[c][2]):
        size = chunks[c][2]
        r = next((r for r in range(len(rows)) if room[r] >= size), None)
        if r is None:
            rows.append([])
            room.append(width)
            r = len(rows) - 1
        rows[r].append(c)
        room[r] -= size
    w = max((width - r for r in room), default=1)

    # where everything goes (Python ints), then one scatter per tensor
    row_i, start_i, chunk_i, plen_i, last_i = [0] * n, [0] * n, [0] * n, [0] * n, [0] * n
    prompt_at: list[tuple[int, int, int]] = []  # (row, column, chunk)
    for r, cs in enumerate(rows):
        at = 0
        for c in cs:
            p, members, _ = chunks[c]
            prompt_at.append((r, at, c))
            at += len(p)
            last_prompt = at - 1
            for i in members:
                row_i[i], start_i[i], chunk_i[i] = r, at, c
                plen_i[i], last_i[i] = len(p), last_prompt
                at += lengths[i]
    ids = torch.zeros(len(rows), w, dtype=torch.long)
    pos = torch.zeros(len(rows), w, dtype=torch.long)
    chunk = torch.full((len(rows), w), -1, dtype=torch.long)
    member = torch.full((len(rows), w), -1, dtype=torch.long)
    for r, at, c in prompt_at:
        p = chunks[c][0]
        ids[r, at : at + len(p)] = torch.tensor(p, dtype=torch.long)
        pos[r, at : at + len(p)] = torch.arange(len(p))
        chunk[r, at : at + len(p)] = c
    lens = torch.tensor(lengths, dtype=torch.long)  # [N]
    j = torch.arange(t)[None, :]  # [1, T]
    rows_t = torch.tensor(row_i, dtype=torch.long)[:, None]  # [N, 1]
    starts = torch.tensor(start_i, dtype=torch.long)[:, None]
    r_tok, c_tok = rows_t.expand(n, t)[rm], (starts + j).expand(n, t)[rm]  # every valid token, in order
    ids[r_tok, c_tok] = resp[rm]
    pos[r_tok, c_tok] = (torch.tensor(plen_i, dtype=torch.long)[:, None] + j).expand(n, t)[rm]
    chunk[r_tok, c_tok] = torch.tensor(chunk_i, dtype=torch.long).repeat_interleave(lens)
    member[r_tok, c_tok] = torch.arange(n).repeat_interleave(lens)
    row_of = rows_t.expand(n, t).clone()
    # token 0 is predicted by the last prompt token, token j by the response's token j-1; padding points at
    # the last prompt token too (any valid position: the caller zeroes it)
    last = torch.tensor(last_i, dtype=torch.long)[:, None]
    col_of = torch.where((j >= 1) & (j < lens[:, None]), starts + j - 1, last)
    return Packed(ids, pos, chunk, member, row_of, col_of, rm)


def packed_outputs(model, packed: Packed) -> torch.Tensor:
    """The model's per-position outputs (``.logits``: a causal LM's logits, a token classifier's values) at
    the positions that predict each response token: [N, T, C], in the batch's order."""
    dev = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    out = model(
        input_ids=packed.ids.to(dev),
        attention_mask=packed.attention_mask(dtype).to(dev),
        position_ids=packed.pos.to(dev),
    ).logits  # [R, W, C]
    return out[packed.row.to(dev), packed.col.to(dev)]
