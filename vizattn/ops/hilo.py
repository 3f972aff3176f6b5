"""HiLo attention (LITv2, Pan et al., NeurIPS 2022) as one functional op with interchangeable backends.

HiLo splits the heads of one attention layer in two groups that see the same input map:

* Hi-Fi (``hi_heads``): self-attention inside non-overlapping ``window_size`` x ``window_size`` windows
  (local, high-frequency detail);
* Lo-Fi (``lo_heads``): every query attends to the keys/values of the map average-pooled by ``window_size``
  (global, low-frequency context).

The op is the parameter-free core: it takes the projected queries/keys/values and returns the two attended
maps; the projections, the pooling of the Lo-Fi key/value source (``window_mean_pool``) and the output
projections stay in the model (``vizattn.models.litv2.HiLoAttention``), so their weights keep the official
layout. Maps of any size work: the Hi-Fi windows are zero-padded at the bottom/right and the padded keys are
masked out; ``window_mean_pool`` averages only the valid tokens of each border window. For sizes divisible by
the window both are exactly the official computation.

Backends (``_backend``): ``reference`` (scaled_dot_product_attention) and ``math`` (explicit
``softmax(q @ k^T * scale) @ v`` in the official order of operations, e.g. to inspect or debug).
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from ._backend import register_backend, select_backend

__all__ = ['hilo', 'window_mean_pool']


def window_mean_pool(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """Mean over non-overlapping windows of an NHWC map: (B, H, W, C) -> (B, ceil(H/s), ceil(W/s), C).

    Border windows of a map that is not divisible by ``window_size`` average their valid tokens only
    (the official code's ``AvgPool2d`` where it divides).
    """
    if window_size == 1:
        return x
    H, W = x.shape[1], x.shape[2]
    pad_h, pad_w = (-H) % window_size, (-W) % window_size
    xc = x.permute(0, 3, 1, 2)
    if pad_h == 0 and pad_w == 0:
        return F.avg_pool2d(xc, window_size, window_size).permute(0, 2, 3, 1)
    pooled = F.avg_pool2d(F.pad(xc, [0, pad_w, 0, pad_h]), window_size, window_size)
    valid = F.pad(torch.ones(1, 1, H, W, dtype=x.dtype, device=x.device), [0, pad_w, 0, pad_h])
    return (pooled / F.avg_pool2d(valid, window_size, window_size)).permute(0, 2, 3, 1)


def hilo(hi_q: Optional[torch.Tensor], hi_k: Optional[torch.Tensor], hi_v: Optional[torch.Tensor],
         lo_q: Optional[torch.Tensor], lo_k: Optional[torch.Tensor], lo_v: Optional[torch.Tensor],
         hi_heads: int, lo_heads: int, window_size: int, scale: Optional[float] = None,
         backend: Optional[str] = None) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """HiLo attention on channels-last maps.

    Args:
        hi_q, hi_k, hi_v: (B, H, W, C_hi) Hi-Fi queries/keys/values (heads packed in channels), or all None
            when ``hi_heads == 0``.
        lo_q: (B, H, W, C_lo) Lo-Fi queries; lo_k, lo_v: (B, h, w, C_lo) Lo-Fi keys/values, normally computed
            from ``window_mean_pool(x, window_size)`` (any h, w); all None when ``lo_heads == 0``.
        hi_heads, lo_heads: heads of each group (each divides its channels).
        window_size: Hi-Fi window side (``s`` in the paper). H, W need not be divisible by it.
        scale: softmax scale, default head_dim ** -0.5 (the head dim of whichever group is present).
        backend: 'reference' or None (see ``vizattn.ops._backend``).
    Returns:
        (hi_out (B, H, W, C_hi) or None, lo_out (B, H, W, C_lo) or None).
    """
    if hi_heads < 0 or lo_heads < 0 or hi_heads + lo_heads == 0:
        raise ValueError(f'hilo needs hi_heads, lo_heads >= 0 and at least one head, got {hi_heads}, {lo_heads}')
    if window_size < 1:
        raise ValueError(f'window_size must be >= 1, got {window_size}')
    head_dim = 0
    if hi_heads:
        if hi_q is None or hi_k is None or hi_v is None:
            raise ValueError('hi_heads > 0 needs hi_q, hi_k and hi_v')
        if hi_q.dim() != 4 or hi_q.shape != hi_k.shape or hi_q.shape != hi_v.shape:
            raise ValueError(f'hilo expects hi_q, hi_k, hi_v of one shape (B, H, W, C); got {tuple(hi_q.shape)}, '
                             f'{tuple(hi_k.shape)}, {tuple(hi_v.shape)}')
        if hi_q.shape[-1] % hi_heads:
            raise ValueError(f'hi_heads={hi_heads} must divide the Hi-Fi channels {hi_q.shape[-1]}')
        head_dim = hi_q.shape[-1] // hi_heads
    if lo_heads:
        if lo_q is None or lo_k is None or lo_v is None:
            raise ValueError('lo_heads > 0 needs lo_q, lo_k and lo_v')
        if lo_q.dim() != 4 or lo_k.dim() != 4 or lo_k.shape != lo_v.shape or lo_q.shape[-1] != lo_k.shape[-1] \
                or lo_q.shape[0] != lo_k.shape[0]:
            raise ValueError(f'hilo expects lo_q (B, H, W, C) and lo_k, lo_v (B, h, w, C); got {tuple(lo_q.shape)}, '
                             f'{tuple(lo_k.shape)}, {tuple(lo_v.shape)}')
        if lo_q.shape[-1] % lo_heads:
            raise ValueError(f'lo_heads={lo_heads} must divide the Lo-Fi channels {lo_q.shape[-1]}')
        head_dim = head_dim or lo_q.shape[-1] // lo_heads
        if hi_heads and hi_q is not None and lo_q.shape[:3] != hi_q.shape[:3]:
            raise ValueError(f'Hi-Fi and Lo-Fi queries cover different maps: {tuple(hi_q.shape)} vs '
                             f'{tuple(lo_q.shape)}')
    scale = head_dim ** -0.5 if scale is None else scale
    ref = hi_q if hi_q is not None else lo_q
    assert ref is not None
    attend = select_backend('hilo', backend, ref.device)
    return attend(hi_q if hi_heads else None, hi_k if hi_heads else None, hi_v if hi_heads else None,
                  lo_q if lo_heads else None, lo_k if lo_heads else None, lo_v if lo_heads else None,
                  hi_heads, lo_heads, window_size, scale)


# ---------------------------------------------------------------------------------------------------------
# Backends: the arguments of ``hilo`` after validation (absent groups are None), the same return value.

def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor], scale: float):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)


def _math(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor], scale: float):
    attn = (q @ k.transpose(-2, -1)) * scale
    if mask is not None:
        attn = attn.masked_fill(~mask, float('-inf'))
    return attn.softmax(dim=-1) @ v


def _window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int, ws: int,
                      scale: float, attend=_sdpa) -> torch.Tensor:
    """Self-attention inside ws x ws windows of (B, H, W, C) maps; padded keys of border windows masked."""
    B, H, W, C = q.shape
    pad_h, pad_w = (-H) % ws, (-W) % ws
    if pad_h or pad_w:
        q, k, v = (F.pad(t, (0, 0, 0, pad_w, 0, pad_h)) for t in (q, k, v))
    nh, nw = (H + pad_h) // ws, (W + pad_w) // ws
    T, d = ws * ws, C // num_heads

    def windows(t: torch.Tensor) -> torch.Tensor:  # (B, Hp, Wp, C) -> (B * nh * nw, heads, T, d)
        t = t.reshape(B, nh, ws, nw, ws, num_heads, d).permute(0, 1, 3, 5, 2, 4, 6)
        return t.reshape(B * nh * nw, num_heads, T, d)

    mask = None
    if pad_h or pad_w:
        rows = torch.arange(nh * ws, device=q.device) < H
        cols = torch.arange(nw * ws, device=q.device) < W
        valid = (rows[:, None] & cols[None, :]).reshape(nh, ws, nw, ws).permute(0, 2, 1, 3).reshape(nh * nw, T)
        mask = valid[None, :, None, None, :].expand(B, -1, -1, -1, -1).reshape(B * nh * nw, 1, 1, T)
    out = attend(windows(q), windows(k), windows(v), mask, scale)
    out = out.reshape(B, nh, nw, num_heads, ws, ws, d).permute(0, 1, 4, 2, 5, 3, 6)
    out = out.reshape(B, nh * ws, nw * ws, C)
    if pad_h or pad_w:
        out = out[:, :H, :W].contiguous()
    return out


def _global_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int,
                      scale: float, attend=_sdpa) -> torch.Tensor:
    """Every query of q (B, H, W, C) attends to every key of k, v (B, h, w, C)."""
    B, H, W, C = q.shape
    d = C // num_heads
    qh = q.reshape(B, H * W, num_heads, d).transpose(1, 2)
    kh = k.reshape(B, -1, num_heads, d).transpose(1, 2)
    vh = v.reshape(B, -1, num_heads, d).transpose(1, 2)
    out = attend(qh, kh, vh, None, scale)
    return out.transpose(1, 2).reshape(B, H, W, C)


def _hilo(hi_q, hi_k, hi_v, lo_q, lo_k, lo_v, hi_heads: int, lo_heads: int, window_size: int, scale: float,
          attend):
    hi_out = lo_out = None
    if hi_heads:
        hi_out = _window_attention(hi_q, hi_k, hi_v, hi_heads, window_size, scale, attend)
    if lo_heads:
        lo_out = _global_attention(lo_q, lo_k, lo_v, lo_heads, scale, attend)
    return hi_out, lo_out


def _hilo_reference(hi_q, hi_k, hi_v, lo_q, lo_k, lo_v, hi_heads: int, lo_heads: int, window_size: int,
                    scale: float):
    return _hilo(hi_q, hi_k, hi_v, lo_q, lo_k, lo_v, hi_heads, lo_heads, window_size, scale, _sdpa)


def _hilo_math(hi_q, hi_k, hi_v, lo_q, lo_k, lo_v, hi_heads: int, lo_heads: int, window_size: int, scale: float):
    return _hilo(hi_q, hi_k, hi_v, lo_q, lo_k, lo_v, hi_heads, lo_heads, window_size, scale, _math)


register_backend('hilo', 'reference', _hilo_reference)
register_backend('hilo', 'math', _hilo_math)
