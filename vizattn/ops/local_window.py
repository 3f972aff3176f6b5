"""Local-window attention on a 2D token grid (CLEAR, arXiv:2412.16112), one functional op with backends.

Every grid query attends to the grid keys inside its neighbourhood, truncated at the borders (no padding):

* ``shape='disc'``: the open Euclidean disc ``dy**2 + dx**2 < radius**2`` (CLEAR's window),
* ``shape='square'``: the open Chebyshev ball ``max(|dy|, |dx|) < radius`` (a (2*ceil(radius)-1)^2 window).

Offsets are in tokens, ``radius`` may be any positive number (``float('inf')`` is full attention). Besides:

* ``num_global`` leading tokens (class/register tokens; CLEAR's text tokens) attend to every global and grid
  token and are attended to by every query;
* ``pooled=(k_pooled, v_pooled)``: extra keys/values (CLEAR's down-sampled tokens, see ``pool_tokens``) seen by
  every grid query and by no global query, as in the official ``LocalDownsampleFlexAttnProcessor``.

Backends (``_backend``): ``reference`` (query tiles attend, through SDPA, to the rectangle of keys their windows
touch, so cost and memory grow linearly with the number of tokens for a fixed radius), ``flex`` (FlexAttention
with the neighbourhood as ``mask_mod``; torch 2.14 has no FlexAttention backward on CPU) and ``triton``
(``kernels/local_window.py``, CUDA; the automatic choice there).

A backend is ``fn(q, k, v, k_pooled, v_pooled, window, scale) -> out`` with
``q, k: (B, heads, num_global + H*W, D)``, ``v: (B, heads, num_global + H*W, Dv)``, ``k_pooled``/``v_pooled``
``(B, heads, P, D/Dv)`` or None, ``window`` a :class:`LocalWindow` (grid size, radius, shape, num_global),
``scale`` the softmax scale; it returns ``(B, heads, num_global + H*W, Dv)`` in the dtype of ``q``.
Inputs are validated by :func:`local_window_attn` before a backend is called.
"""
import importlib.util
import math
import os
from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F

from ._backend import register_backend, select_backend

__all__ = ['LocalWindow', 'local_window_attn', 'pool_tokens', 'neighbourhood_size', 'window_attention_macs']

SHAPES = ('disc', 'square')


class LocalWindow(NamedTuple):
    """The neighbourhood a backend implements: an H x W grid after ``num_global`` leading tokens."""
    height: int
    width: int
    radius: float
    shape: str = 'disc'
    num_global: int = 0

    def reach(self) -> Tuple[int, int]:
        """Largest |dy|, |dx| a neighbour can have inside the grid (the window's half extent)."""
        inner = math.ceil(self.radius) - 1 if math.isfinite(self.radius) else max(self.height, self.width)
        return min(inner, self.height - 1), min(inner, self.width - 1)

    def offsets(self) -> List[Tuple[int, int]]:
        """Every (dy, dx) inside the neighbourhood (ignoring the borders), in raster order."""
        ry, rx = self.reach()
        return [(dy, dx) for dy in range(-ry, ry + 1) for dx in range(-rx, rx + 1)
                if within(torch.tensor(dy), torch.tensor(dx), self.radius, self.shape)]


def within(dy: torch.Tensor, dx: torch.Tensor, radius: float, shape: str) -> torch.Tensor:
    """Boolean tensor: is the integer offset (dy, dx) inside the open neighbourhood of ``radius``."""
    if shape == 'disc':
        return dy * dy + dx * dx < radius * radius
    return torch.maximum(dy.abs(), dx.abs()) < radius


def neighbourhood_size(height: int, width: int, radius: float, shape: str = 'disc') -> int:
    """Number of (query, key) grid pairs the window allows on an H x W grid, borders truncated."""
    win = LocalWindow(height, width, float(radius), shape)
    total = 0
    for dy, dx in win.offsets():
        total += max(height - abs(dy), 0) * max(width - abs(dx), 0)
    return total


def window_attention_macs(height: int, width: int, radius: float, head_dim: int, num_heads: int = 1,
                          shape: str = 'disc', num_global: int = 0, num_pooled: int = 0) -> int:
    """Multiply-accumulates of QK^T and AV that the window needs (its exact pairs), for one image."""
    n = height * width
    pairs = neighbourhood_size(height, width, radius, shape)
    pairs += 2 * num_global * n + num_global * num_global + n * num_pooled
    return 2 * pairs * head_dim * num_heads


def _check(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grid: Tuple[int, int], radius: float, shape: str,
           num_global: int, pooled: Optional[Tuple[torch.Tensor, torch.Tensor]]):
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(f'local_window_attn expects q, k, v of shape (B, heads, tokens, dim); got '
                         f'{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}')
    if q.shape != k.shape or q.shape[:3] != v.shape[:3]:
        raise ValueError(f'q and k must have the same shape and v the same (B, heads, tokens); got '
                         f'{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}')
    if len(grid) != 2 or min(grid) < 1:
        raise ValueError(f'grid must be (H, W) with H, W >= 1, got {grid}')
    if num_global < 0 or q.shape[2] != num_global + grid[0] * grid[1]:
        raise ValueError(f'{q.shape[2]} tokens do not match num_global={num_global} + grid {grid[0]}x{grid[1]}')
    if not radius > 0:
        raise ValueError(f'radius must be positive, got {radius}')
    if shape not in SHAPES:
        raise ValueError(f'shape must be one of {SHAPES}, got {shape!r}')
    if pooled is not None:
        pk, pv = pooled
        if pk.dim() != 4 or pk.shape[:2] != q.shape[:2] or pk.shape[3] != q.shape[3] \
                or pv.shape[:3] != pk.shape[:3] or pv.shape[3] != v.shape[3]:
            raise ValueError(f'pooled keys/values must be (B, heads, P, D) / (B, heads, P, Dv) matching q, v; got '
                             f'{tuple(pk.shape)}, {tuple(pv.shape)}')


def local_window_attn(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grid: Tuple[int, int],
                      radius: float, shape: str = 'disc', num_global: int = 0,
                      pooled: Optional[Tuple[torch.Tensor, torch.Tensor]] = None, scale: Optional[float] = None,
                      backend: Optional[str] = None) -> torch.Tensor:
    """Attention restricted to a disc or square neighbourhood on a 2D token grid.

    Args:
        q, k: (B, heads, num_global + H*W, D); v: (B, heads, num_global + H*W, Dv). The grid tokens are in
            raster order after the ``num_global`` leading tokens.
        grid: (H, W).
        radius: neighbourhood radius in tokens (> 0, any real; ``inf`` = full attention).
        shape: 'disc' (dy^2 + dx^2 < r^2) or 'square' (max(|dy|, |dx|) < r).
        num_global: leading tokens that see and are seen by every token (class/register tokens).
        pooled: optional (k_pooled, v_pooled), (B, heads, P, D) and (B, heads, P, Dv): extra keys that every grid
            query (and no global query) attends to, e.g. from ``pool_tokens``.
        scale: softmax scale, default D ** -0.5.
        backend: 'reference', 'flex', 'triton' or None (see ``vizattn.ops._backend``).
    Returns:
        (B, heads, num_global + H*W, Dv).
    """
    _check(q, k, v, grid, radius, shape, num_global, pooled)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    window = LocalWindow(int(grid[0]), int(grid[1]), float(radius), shape, int(num_global))
    pk, pv = (None, None) if pooled is None else pooled
    attend = select_backend('local_window', backend, q.device)
    return attend(q, k, v, pk, pv, window, scale)


def pool_tokens(x: torch.Tensor, grid: Tuple[int, int], factor: int, weight: Optional[torch.Tensor] = None,
                num_global: int = 0) -> torch.Tensor:
    """CLEAR's down-sampled tokens: a weighted ``factor`` x ``factor`` pooling of the grid tokens.

    x: (B, heads, num_global + H*W, D); weight: (factor, factor), shared by heads and channels (CLEAR's learnable
    ``spatial_weight``, initialised to 1/factor^2, i.e. average pooling); None = average pooling.
    Returns (B, heads, ceil(H/factor) * ceil(W/factor), D). Windows cut by the bottom/right border are rescaled
    by factor^2 / (valid positions), so that at the initial weights they average their valid tokens (the
    official code needs H, W divisible by the factor; on divisible grids the result is its weighted sum).
    """
    B, heads, n, d = x.shape
    H, W = grid
    if n != num_global + H * W:
        raise ValueError(f'{n} tokens do not match num_global={num_global} + grid {H}x{W}')
    if weight is None:
        weight = x.new_full((factor, factor), 1.0 / (factor * factor))
    xg = x[:, :, num_global:].reshape(B, heads, H, W, d)
    ph, pw = (-H) % factor, (-W) % factor
    if ph or pw:
        xg = F.pad(xg, (0, 0, 0, pw, 0, ph))
    hp, wp = (H + ph) // factor, (W + pw) // factor
    xg = xg.reshape(B, heads, hp, factor, wp, factor, d)
    out = torch.einsum('bhyaxcd,ac->bhyxd', xg, weight.to(xg.dtype))
    if ph or pw:
        rows = (torch.arange(hp * factor, device=x.device) < H).reshape(hp, factor).sum(1)
        cols = (torch.arange(wp * factor, device=x.device) < W).reshape(wp, factor).sum(1)
        count = rows[:, None] * cols[None, :]
        out = out * (factor * factor / count).to(out.dtype)[:, :, None]
    return out.reshape(B, heads, hp * wp, d)


# ---------------------------------------------------------------------------------------------------------
# Reference backend: query tiles of th x tw tokens; each tile attends to the kh x kw rectangle of grid keys
# that its windows touch (clamped inside the grid), plus the global and pooled keys, under an additive mask of
# the exact neighbourhood, in one SDPA call over all tiles. Per query that is (th + 2 ry) x (tw + 2 rx) keys
# at most: linear in H*W for a fixed radius. The plan (key indices and mask) is shared by all blocks.

_PLANS = {}


def _tile(reach: int, size: int) -> int:
    """Query tile side: larger tiles mean bigger matmuls but more masked pairs ((t + 2r)^2 keys per query)."""
    return min(size, max(reach + 4, 8))


def _plan(window: LocalWindow, num_pooled: int, device: torch.device, dtype: torch.dtype):
    """Tile sizes, the key token index of each tile (nt, Tk) and the additive mask (1, nt, th*tw, Tk)."""
    G, H, W = window.num_global, window.height, window.width
    n = G + H * W
    ry, rx = window.reach()
    th, tw = _tile(ry, H), _tile(rx, W)
    nty, ntx = -(-H // th), -(-W // tw)
    kh, kw = min(th + 2 * ry, H), min(tw + 2 * rx, W)
    if nty * ntx * th * tw * kh * kw > 0.6 * (H * W) ** 2:  # small grid for the radius: one masked tile
        th, tw, nty, ntx, kh, kw = H, W, 1, 1, H, W
    ty, tx = torch.arange(nty, device=device), torch.arange(ntx, device=device)
    rows = (ty * th - ry).clamp(0, H - kh)[:, None] + torch.arange(kh, device=device)  # (nty, kh) key rows
    cols = (tx * tw - rx).clamp(0, W - kw)[:, None] + torch.arange(kw, device=device)  # (ntx, kw) key cols
    q_rows = ty[:, None] * th + torch.arange(th, device=device)  # (nty, th), may run past H (padding)
    q_cols = tx[:, None] * tw + torch.arange(tw, device=device)
    # grid mask (nty, ntx, th, tw, kh, kw) from the key - query offsets
    dy = rows[:, None, None, None, :, None] - q_rows[:, None, :, None, None, None]
    dx = cols[None, :, None, None, None, :] - q_cols[None, :, None, :, None, None]
    q_valid = (q_rows < H)[:, None, :, None, None, None] & (q_cols < W)[None, :, None, :, None, None]
    # padded queries see their whole rectangle: finite rows, discarded afterwards
    allowed = within(dy, dx, window.radius, window.shape) | ~q_valid
    nt, tq = nty * ntx, th * tw
    allowed = allowed.reshape(nt, tq, kh * kw)
    grid_idx = G + rows[:, None, :, None] * W + cols[None, :, None, :]  # (nty, ntx, kh, kw)
    idx = [grid_idx.reshape(nt, kh * kw)]
    if G or num_pooled:  # global and pooled keys: seen by every grid query
        extra = torch.cat([torch.arange(G, device=device), torch.arange(n, n + num_pooled, device=device)])
        idx.append(extra[None].expand(nt, -1))
        allowed = torch.cat([allowed, allowed.new_ones(nt, tq, G + num_pooled)], 2)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill_(~allowed, float('-inf'))
    return th, tw, nty, ntx, torch.cat(idx, 1), mask[None]


def _cached_plan(window: LocalWindow, num_pooled: int, device: torch.device, dtype: torch.dtype):
    if torch.compiler.is_compiling() or device.type == 'meta':
        return _plan(window, num_pooled, device, dtype)
    key = (window, num_pooled, str(device), dtype)
    if key not in _PLANS:
        if len(_PLANS) >= 8:  # a plan's mask is as large as one head's tile scores: keep few
            _PLANS.clear()
        _PLANS[key] = _plan(window, num_pooled, device, dtype)
    return _PLANS[key]


def _local_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_pooled: Optional[torch.Tensor],
                     v_pooled: Optional[torch.Tensor], window: LocalWindow, scale: float) -> torch.Tensor:
    B, heads, n, d = q.shape
    dv = v.shape[-1]
    G, H, W = window.num_global, window.height, window.width
    num_pooled = 0
    if k_pooled is not None and v_pooled is not None:
        num_pooled = k_pooled.shape[2]
        k = torch.cat([k, k_pooled.to(k.dtype)], 2)
        v = torch.cat([v, v_pooled.to(v.dtype)], 2)
    th, tw, nty, ntx, idx, mask = _cached_plan(window, num_pooled, q.device, q.dtype)
    nt = nty * ntx
    # queries: grid padded to whole tiles, (B*heads, nt, th*tw, d)
    qt = q[:, :, G:].reshape(B * heads, H, W, d)
    qt = F.pad(qt, (0, 0, 0, ntx * tw - W, 0, nty * th - H))
    qt = qt.reshape(B * heads, nty, th, ntx, tw, d).permute(0, 1, 3, 2, 4, 5).reshape(B * heads, nt, th * tw, d)
    # keys/values of each tile, gathered once: (B*heads, nt, Tk, d)
    kt = k.reshape(B * heads, -1, d)[:, idx]
    vt = v.reshape(B * heads, -1, dv)[:, idx]
    out = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=mask, scale=scale)  # (B*heads, nt, th*tw, dv)
    out = out.reshape(B * heads, nty, ntx, th, tw, dv).permute(0, 1, 3, 2, 4, 5)
    out = out.reshape(B * heads, nty * th, ntx * tw, dv)[:, :H, :W].reshape(B, heads, H * W, dv)
    if not G:
        return out
    # global queries: every global and grid key (not the pooled ones)
    og = F.scaled_dot_product_attention(q[:, :, :G], k[:, :, :n], v[:, :, :n], scale=scale)
    return torch.cat([og, out], 2)


# ---------------------------------------------------------------------------------------------------------
# FlexAttention backend: the neighbourhood as a mask_mod over [global; grid] queries and [global; grid; pooled]
# keys. Block masks are cached per (window, pooled count, device).

_BLOCK_MASKS = {}
_compiled_flex = None


def _flex_attention():
    global _compiled_flex
    if _compiled_flex is None:
        from torch.nn.attention.flex_attention import flex_attention
        _compiled_flex = torch.compile(flex_attention, dynamic=False)
    return _compiled_flex


def local_mask_mod(window: LocalWindow, num_pooled: int = 0):
    """The FlexAttention ``mask_mod`` of ``window`` (CLEAR's ``init_local(_downsample)_mask_flex`` generalised)."""
    G, W, n = window.num_global, window.width, window.num_global + window.height * window.width
    radius, shape = window.radius, window.shape

    def mask_mod(b, h, q_idx, kv_idx):
        q_glob, kv_glob, kv_pool = q_idx < G, kv_idx < G, kv_idx >= n
        qy, qx = (q_idx - G) // W, (q_idx - G) % W
        ky, kx = (kv_idx - G) // W, (kv_idx - G) % W
        local = within(ky - qy, kx - qx, radius, shape)
        return kv_glob | (q_glob & ~kv_pool) | (~q_glob & (kv_pool | local))

    return mask_mod


def _block_mask(window: LocalWindow, num_pooled: int, device: torch.device):
    from torch.nn.attention.flex_attention import create_block_mask
    key = (window, num_pooled, str(device))
    if key not in _BLOCK_MASKS:
        if len(_BLOCK_MASKS) > 64:
            _BLOCK_MASKS.clear()
        n = window.num_global + window.height * window.width
        _BLOCK_MASKS[key] = create_block_mask(local_mask_mod(window, num_pooled), B=None, H=None, Q_LEN=n,
                                              KV_LEN=n + num_pooled, device=device, _compile=device.type == 'cuda')
    return _BLOCK_MASKS[key]


def _local_flex(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_pooled: Optional[torch.Tensor],
                v_pooled: Optional[torch.Tensor], window: LocalWindow, scale: float) -> torch.Tensor:
    from torch.nn.attention.flex_attention import flex_attention
    num_pooled = 0
    if k_pooled is not None and v_pooled is not None:
        num_pooled = k_pooled.shape[2]
        k = torch.cat([k, k_pooled.to(k.dtype)], 2)
        v = torch.cat([v, v_pooled.to(v.dtype)], 2)
    block_mask = _block_mask(window, num_pooled, q.device)
    fn = _flex_attention() if q.is_cuda else flex_attention
    return fn(q, k, v, block_mask=block_mask, scale=scale)


def _local_triton(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_pooled: Optional[torch.Tensor],
                  v_pooled: Optional[torch.Tensor], window: LocalWindow, scale: float) -> torch.Tensor:
    if not q.is_cuda and os.environ.get('TRITON_INTERPRET') != '1':
        raise RuntimeError("the triton local_window backend needs CUDA tensors (or TRITON_INTERPRET=1 for CPU "
                           "debugging); use backend='reference' on CPU")
    from vizattn.kernels.local_window import local_window_attention
    return local_window_attention(q, k, v, k_pooled, v_pooled, window, scale)


register_backend('local_window', 'reference', _local_reference)
register_backend('local_window', 'flex', _local_flex)
if importlib.util.find_spec('triton') is not None:
    register_backend('local_window', 'triton', _local_triton)
