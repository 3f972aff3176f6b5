"""Bi-level routing attention (BiFormer, CVPR 2023) as one functional op with interchangeable backends.

Each query region is routed to the ``topk`` key regions whose mean key best matches its mean query, then
its tokens attend to the tokens of those regions only. Backends (``_backend``): ``reference`` (gather per
chunk of query regions + SDPA, recomputed in backward, so K/V are never copied ``topk`` times at once),
``flex`` (FlexAttention with a block mask of the routed regions) and ``triton`` (kernels/, on CUDA).
"""
import importlib.util
import math
import os
from typing import Optional

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ._backend import register_backend, select_backend

__all__ = ['bra', 'route_regions']


def _to_regions(x: torch.Tensor, n_win: int, rh: int, rw: int) -> torch.Tensor:
    """(B, n_win*rh, n_win*rw, C) -> (B, n_win**2, rh*rw, C), regions in raster order."""
    B, _, _, C = x.shape
    x = x.reshape(B, n_win, rh, n_win, rw, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(B, n_win * n_win, rh * rw, C)


def _from_regions(x: torch.Tensor, n_win: int, rh: int, rw: int) -> torch.Tensor:
    B, _, _, C = x.shape
    x = x.reshape(B, n_win, n_win, rh, rw, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(B, n_win * rh, n_win * rw, C)


def _valid_tokens(H: int, W: int, n_win: int, rh: int, rw: int, device) -> torch.Tensor:
    """(n_win**2, rh*rw) bool: which region tokens lie inside the unpadded H x W map."""
    rows = torch.arange(n_win * rh, device=device) < H
    cols = torch.arange(n_win * rw, device=device) < W
    valid = (rows[:, None] & cols[None, :])[None, :, :, None]
    return _to_regions(valid, n_win, rh, rw)[0, :, :, 0]


def _matmul_ieee_fp32(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """fp32 matmul without TF32, so that routing near-ties resolve as in the official fp32 code."""
    if a.is_cuda and torch.backends.cuda.matmul.allow_tf32 and not torch.compiler.is_compiling():
        torch.backends.cuda.matmul.allow_tf32 = False
        try:
            return a @ b
        finally:
            torch.backends.cuda.matmul.allow_tf32 = True
    return a @ b


def route_regions(q: torch.Tensor, k: torch.Tensor, topk: int, scale: float,
                  token_valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Indices (B, R, topk) of the key regions each query region attends to.

    q, k: (B, R, T, C) region-partitioned tokens; ``token_valid`` (R, T) marks unpadded tokens, which alone
    enter the region means, and fully padded key regions are never preferred. Computed in fp32 on detached
    inputs (routing is not differentiable in BiFormer).
    """
    q, k = q.detach().float(), k.detach().float()
    if token_valid is None:
        q_win, k_win = q.mean(2), k.mean(2)
    else:
        w = token_valid.to(q.dtype)[None, :, :, None]
        count = w.sum(2).clamp(min=1.0)
        q_win, k_win = (q * w).sum(2) / count, (k * w).sum(2) / count
    logits = _matmul_ieee_fp32(q_win * scale, k_win.transpose(-2, -1))
    if token_valid is not None:
        logits = logits.masked_fill(~token_valid.any(1)[None, None, :], float('-inf'))
    return torch.topk(logits, k=min(topk, logits.shape[-1]), dim=-1).indices


def bra(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int, n_win: int, topk: int,
        scale: Optional[float] = None, backend: Optional[str] = None, return_routing: bool = False):
    """Bi-level routing attention on channels-last maps.

    Args:
        q, k: (B, H, W, C_qk); v: (B, H, W, C_v). Heads are packed in the channel dim.
        num_heads: attention heads (divides C_qk and C_v).
        n_win: regions per side (n_win x n_win regions). H, W need not be divisible: the map is zero-padded at
            the bottom/right to the region grid and padded tokens are masked out of routing and attention.
        topk: routed key regions per query region.
        scale: softmax scale, default C_qk ** -0.5 (BiFormer scales by the whole qk dim, not the head dim).
        backend: 'reference', 'flex', 'triton' or None (see ``vizattn.ops._backend``).
    Returns:
        (B, H, W, C_v), and the routing indices (B, n_win**2, topk) with ``return_routing``.
    """
    if q.dim() != 4 or q.shape != k.shape or q.shape[:3] != v.shape[:3]:
        raise ValueError(f'bra expects q, k (B, H, W, C_qk) and v (B, H, W, C_v); got {tuple(q.shape)}, '
                         f'{tuple(k.shape)}, {tuple(v.shape)}')
    B, H, W, c_qk = q.shape
    if c_qk % num_heads or v.shape[-1] % num_heads:
        raise ValueError(f'num_heads={num_heads} must divide C_qk={c_qk} and C_v={v.shape[-1]}')
    if n_win < 1 or topk < 1:
        raise ValueError(f'n_win and topk must be positive, got n_win={n_win}, topk={topk}')
    scale = c_qk ** -0.5 if scale is None else scale
    rh, rw = math.ceil(H / n_win), math.ceil(W / n_win)
    pad_h, pad_w = n_win * rh - H, n_win * rw - W
    token_valid = None
    if pad_h or pad_w:
        q, k, v = (F.pad(t, (0, 0, 0, pad_w, 0, pad_h)) for t in (q, k, v))
        token_valid = _valid_tokens(H, W, n_win, rh, rw, q.device)
    qs, ks, vs = (_to_regions(t, n_win, rh, rw) for t in (q, k, v))
    idx = route_regions(qs, ks, topk, scale, token_valid)
    attend = select_backend('bra', backend, q.device)
    out = attend(qs, ks, vs, idx, token_valid, num_heads, scale)
    out = _from_regions(out, n_win, rh, rw)
    if pad_h or pad_w:
        out = out[:, :H, :W].contiguous()
    return (out, idx) if return_routing else out


# ---------------------------------------------------------------------------------------------------------
# Backends. Each takes region-partitioned qs, ks (B, R, T, C_qk), vs (B, R, T, C_v), routing idx (B, R, topk),
# token_valid (R, T) or None, and returns (B, R, T, C_v).

def _attend_routed(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, idx: torch.Tensor,
                   token_valid: Optional[torch.Tensor], num_heads: int, scale: float) -> torch.Tensor:
    """Attention of the query regions ``q`` (B, Rq, T, C) to their routed regions of k, v (B, R, T, C)."""
    B, Rq, T, c_qk = q.shape
    R, c_v, topk = k.shape[1], v.shape[-1], idx.shape[-1]
    flat = (idx + torch.arange(B, device=idx.device)[:, None, None] * R).reshape(-1)
    kg = k.reshape(B * R, T, c_qk).index_select(0, flat).reshape(B * Rq, topk * T, num_heads, -1)
    vg = v.reshape(B * R, T, c_v).index_select(0, flat).reshape(B * Rq, topk * T, num_heads, -1)
    qh = q.reshape(B * Rq, T, num_heads, -1).transpose(1, 2)
    mask = None
    if token_valid is not None:
        mask = token_valid[idx.reshape(-1)].reshape(B * Rq, 1, 1, topk * T)
    out = F.scaled_dot_product_attention(qh, kg.transpose(1, 2), vg.transpose(1, 2), attn_mask=mask, scale=scale)
    return out.transpose(1, 2).reshape(B, Rq, T, c_v)


def _bra_reference(qs, ks, vs, idx, token_valid, num_heads: int, scale: float):
    # Query regions go in chunks so each chunk gathers about one copy of K/V instead of topk copies; with
    # autograd on, each chunk is recomputed in backward rather than keeping its gathered K/V alive.
    R, topk = qs.shape[1], idx.shape[-1]
    chunk = math.ceil(R / min(topk, R))
    if chunk >= R:
        return _attend_routed(qs, ks, vs, idx, token_valid, num_heads, scale)
    recompute = torch.is_grad_enabled() and any(t.requires_grad for t in (qs, ks, vs))
    outs = []
    for r0 in range(0, R, chunk):
        args = (qs[:, r0:r0 + chunk], ks, vs, idx[:, r0:r0 + chunk], token_valid, num_heads, scale)
        outs.append(checkpoint(_attend_routed, *args, use_reentrant=False) if recompute else _attend_routed(*args))
    return torch.cat(outs, dim=1)


_compiled_flex = None


def _flex_attention():
    global _compiled_flex
    if _compiled_flex is None:
        from torch.nn.attention.flex_attention import flex_attention
        _compiled_flex = torch.compile(flex_attention, dynamic=False)
    return _compiled_flex


def _bra_flex(qs, ks, vs, idx, token_valid, num_heads: int, scale: float):
    from torch.nn.attention.flex_attention import BlockMask, flex_attention
    B, R, T, c_qk = qs.shape
    c_v, topk = vs.shape[-1], idx.shape[-1]
    # Tokens in region-major order: region r is block r of BLOCK_SIZE = T tokens, the routed regions are the
    # kv blocks of query block r. The mask_mod repeats the routing (the unfused path evaluates only it) and
    # masks padded tokens.
    allowed = torch.zeros(B, R, R, dtype=torch.bool, device=qs.device).scatter_(2, idx, True)
    valid = None if token_valid is None else token_valid.reshape(-1)

    def mask_mod(b, h, q_idx, kv_idx):
        ok = allowed[b, q_idx // T, kv_idx // T]
        return ok if valid is None else ok & valid[kv_idx]

    order = torch.sort(idx, dim=-1).values
    rest = torch.ones(B, R, R, dtype=torch.bool, device=qs.device).scatter_(2, idx, False)
    others = torch.sort(torch.where(rest, torch.arange(R, device=qs.device), R), dim=-1).values[..., :R - topk]
    kv_indices = torch.cat([order, others.clamp(max=R - 1)], dim=-1).to(torch.int32)[:, None]
    kv_num_blocks = torch.full((B, 1, R), topk, dtype=torch.int32, device=qs.device)
    block_mask = BlockMask.from_kv_blocks(kv_num_blocks, kv_indices, BLOCK_SIZE=T, mask_mod=mask_mod,
                                          seq_lengths=(R * T, R * T))
    q = qs.reshape(B, R * T, num_heads, -1).transpose(1, 2)
    k = ks.reshape(B, R * T, num_heads, -1).transpose(1, 2)
    v = vs.reshape(B, R * T, num_heads, -1).transpose(1, 2)
    fn = _flex_attention() if qs.is_cuda else flex_attention
    out = fn(q, k, v, block_mask=block_mask, scale=scale)
    return out.transpose(1, 2).reshape(B, R, T, c_v)


def _bra_triton(qs, ks, vs, idx, token_valid, num_heads: int, scale: float):
    if not qs.is_cuda and os.environ.get('TRITON_INTERPRET') != '1':
        raise RuntimeError("the triton BRA backend needs CUDA tensors (or TRITON_INTERPRET=1 for CPU debugging); "
                           "use backend='reference' on CPU")
    from vizattn.kernels.bra import bra_attention
    return bra_attention(qs, ks, vs, idx, token_valid, num_heads, scale)


register_backend('bra', 'reference', _bra_reference)
register_backend('bra', 'flex', _bra_flex)
if importlib.util.find_spec('triton') is not None:
    register_backend('bra', 'triton', _bra_triton)
