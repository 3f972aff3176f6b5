"""2D local-window (neighbourhood) attention in Triton, forward and backward: CLEAR's disc and NAT's square.

The ``triton`` backend of ``vizattn.ops.local_window_attn`` (same arguments as its other backends):
q, k (B, heads, G + H*W, D), v (B, heads, G + H*W, DV), optional pooled k/v (B, heads, P, D/DV), a
``LocalWindow`` (H, W, radius, shape, G) and the softmax scale.

A program owns a TH x TW tile of grid queries (or a block of the G global queries). It visits only the key
tiles its windows can touch: the rectangle within ``reach`` of the query tile, scanned in KH x KW tiles, and
skips the tiles a disc cannot reach from any query of the tile. Global keys and pooled keys are extra blocks
every grid query sees; global queries see every global and grid key. Online softmax with fp32 statistics;
the backward recomputes P from the saved log-sum-exp and accumulates dK/dV with atomic adds (fp32 buffers).
"""
import math

import torch
import triton
import triton.language as tl

__all__ = ['local_window_attention']


@triton.jit
def _scores(q, kt, scale, allowed, IEEE: tl.constexpr):
    if IEEE:
        s = tl.dot(q, kt, input_precision='ieee')
    else:
        s = tl.dot(q, kt)
    return tl.where(allowed, s * scale, float('-inf'))


@triton.jit
def _fwd_update(q, kt, v, allowed, m_i, l_i, acc, scale, IEEE: tl.constexpr):
    s = _scores(q, kt, scale, allowed, IEEE)
    m_new = tl.maximum(m_i, tl.max(s, 1))
    m_safe = tl.where(m_new == float('-inf'), 0.0, m_new)
    p = tl.exp(s - m_safe[:, None])
    alpha = tl.exp(m_i - m_safe)
    l_i = l_i * alpha + tl.sum(p, 1)
    if IEEE:
        acc = acc * alpha[:, None] + tl.dot(p, v, input_precision='ieee')
    else:
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
    return m_new, l_i, acc


@triton.jit
def _bwd_update(q, do, lse, delta, k, v, allowed, dq, DK_ptrs, DV_ptrs, k_mask, v_mask, scale,
                IEEE: tl.constexpr):
    if IEEE:
        s = tl.dot(q, tl.trans(k), input_precision='ieee')
    else:
        s = tl.dot(q, tl.trans(k))
    p = tl.where(allowed, tl.exp(s * scale - lse[:, None]), 0.0)
    if IEEE:
        dv_tile = tl.dot(tl.trans(p), do, input_precision='ieee')
        dp = tl.dot(do, tl.trans(v), input_precision='ieee')
    else:
        dv_tile = tl.dot(tl.trans(p.to(do.dtype)), do)
        dp = tl.dot(do, tl.trans(v))
    ds = p * (dp - delta[:, None]) * scale
    if IEEE:
        dq += tl.dot(ds, k, input_precision='ieee')
        dk_tile = tl.dot(tl.trans(ds), q, input_precision='ieee')
    else:
        dq += tl.dot(ds.to(k.dtype), k)
        dk_tile = tl.dot(tl.trans(ds.to(q.dtype)), q)
    tl.atomic_add(DV_ptrs, dv_tile, mask=v_mask)
    tl.atomic_add(DK_ptrs, dk_tile, mask=k_mask)
    return dq


@triton.jit
def _inside(dy, dx, radius, SQUARE: tl.constexpr):
    if SQUARE:
        return tl.maximum(tl.abs(dy), tl.abs(dx)).to(tl.float32) < radius
    return (dy * dy + dx * dx).to(tl.float32) < radius * radius


@triton.jit
def _query_block(pid_m, n_grid_tiles, n_tx, G, H, W,
                 TH: tl.constexpr, TW: tl.constexpr, BLOCK_M: tl.constexpr):
    """Token index, grid position and validity of the program's queries; is_global for global blocks."""
    rows = tl.arange(0, BLOCK_M)
    is_global = pid_m >= n_grid_tiles
    qy0 = (pid_m // n_tx) * TH
    qx0 = (pid_m % n_tx) * TW
    qy = qy0 + rows // TW
    qx = qx0 + rows % TW
    g_tok = (pid_m - n_grid_tiles) * BLOCK_M + rows
    tok = tl.where(is_global, g_tok, G + qy * W + qx)
    ok = tl.where(is_global, g_tok < G, (qy < H) & (qx < W))
    return tok, qy, qx, qy0, qx0, ok, is_global


@triton.jit
def _key_tile_range(is_global, qy0, qx0, H, W, RY, RX, TH: tl.constexpr, TW: tl.constexpr):
    """Rectangle of grid keys the query tile's windows reach (the whole grid for global queries)."""
    ky_lo = tl.where(is_global, 0, tl.maximum(qy0 - RY, 0))
    ky_hi = tl.where(is_global, H, tl.minimum(qy0 + TH + RY, H))
    kx_lo = tl.where(is_global, 0, tl.maximum(qx0 - RX, 0))
    kx_hi = tl.where(is_global, W, tl.minimum(qx0 + TW + RX, W))
    return ky_lo, ky_hi, kx_lo, kx_hi


@triton.jit
def _tile_reachable(is_global, qy0, qx0, ky0, kx0, radius, SQUARE: tl.constexpr,
                    TH: tl.constexpr, TW: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr):
    """Can any query of the tile reach any key of the key tile (closest distance between the boxes)?"""
    gy = tl.maximum(tl.maximum(ky0 - (qy0 + TH - 1), qy0 - (ky0 + KH - 1)), 0)
    gx = tl.maximum(tl.maximum(kx0 - (qx0 + TW - 1), qx0 - (kx0 + KW - 1)), 0)
    return is_global | _inside(gy, gx, radius, SQUARE)


@triton.jit
def _local_fwd_kernel(
        Q, K, V, KP, VP, O, LSE,
        stride_qb, stride_qt, stride_kb, stride_kt, stride_vb, stride_vt, stride_pb, stride_pt,
        stride_pvb, stride_pvt, stride_ob, stride_ot,
        G, H, W, P, RY, RX, radius, scale, n_grid_tiles, n_tx, n_tokens,
        D: tl.constexpr, DV: tl.constexpr, D_PAD: tl.constexpr, DV_PAD: tl.constexpr,
        TH: tl.constexpr, TW: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr, GP: tl.constexpr,
        SQUARE: tl.constexpr, HAS_GLOBAL: tl.constexpr, HAS_POOLED: tl.constexpr, IEEE: tl.constexpr):
    BLOCK_M: tl.constexpr = TH * TW
    BLOCK_N: tl.constexpr = KH * KW
    pid_m = tl.program_id(0)
    bh = tl.program_id(1)
    d = tl.arange(0, D_PAD)
    dv = tl.arange(0, DV_PAD)
    tok, qy, qx, qy0, qx0, q_ok, is_global = _query_block(pid_m, n_grid_tiles, n_tx, G, H, W, TH, TW, BLOCK_M)
    q = tl.load(Q + bh * stride_qb + tok[:, None] * stride_qt + d[None, :],
                mask=q_ok[:, None] & (d[None, :] < D), other=0.0)
    m_i = tl.full([BLOCK_M], float('-inf'), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, DV_PAD], tl.float32)

    if HAS_GLOBAL:  # global keys: seen by every query
        j = tl.arange(0, GP)
        kt = tl.load(K + bh * stride_kb + j[None, :] * stride_kt + d[:, None],
                     mask=(j[None, :] < G) & (d[:, None] < D), other=0.0)
        v = tl.load(V + bh * stride_vb + j[:, None] * stride_vt + dv[None, :],
                    mask=(j[:, None] < G) & (dv[None, :] < DV), other=0.0)
        m_i, l_i, acc = _fwd_update(q, kt, v, (j < G)[None, :], m_i, l_i, acc, scale, IEEE)

    ky_lo, ky_hi, kx_lo, kx_hi = _key_tile_range(is_global, qy0, qx0, H, W, RY, RX, TH, TW)
    cols = tl.arange(0, BLOCK_N)
    for ky0 in range(ky_lo, ky_hi, KH):
        for kx0 in range(kx_lo, kx_hi, KW):
            if _tile_reachable(is_global, qy0, qx0, ky0, kx0, radius, SQUARE, TH, TW, KH, KW):
                ky = ky0 + cols // KW
                kx = kx0 + cols % KW
                k_ok = (ky < ky_hi) & (kx < kx_hi)
                ktok = G + ky * W + kx
                kt = tl.load(K + bh * stride_kb + ktok[None, :] * stride_kt + d[:, None],
                             mask=k_ok[None, :] & (d[:, None] < D), other=0.0)
                v = tl.load(V + bh * stride_vb + ktok[:, None] * stride_vt + dv[None, :],
                            mask=k_ok[:, None] & (dv[None, :] < DV), other=0.0)
                near = _inside(ky[None, :] - qy[:, None], kx[None, :] - qx[:, None], radius, SQUARE)
                allowed = k_ok[None, :] & (near | is_global)
                m_i, l_i, acc = _fwd_update(q, kt, v, allowed, m_i, l_i, acc, scale, IEEE)

    if HAS_POOLED:  # pooled keys: seen by grid queries only
        if not is_global:
            for p0 in range(0, P, BLOCK_N):
                j = p0 + cols
                kt = tl.load(KP + bh * stride_pb + j[None, :] * stride_pt + d[:, None],
                             mask=(j[None, :] < P) & (d[:, None] < D), other=0.0)
                v = tl.load(VP + bh * stride_pvb + j[:, None] * stride_pvt + dv[None, :],
                            mask=(j[:, None] < P) & (dv[None, :] < DV), other=0.0)
                m_i, l_i, acc = _fwd_update(q, kt, v, (j < P)[None, :], m_i, l_i, acc, scale, IEEE)

    l_safe = tl.where(l_i > 0, l_i, 1.0)
    tl.store(O + bh * stride_ob + tok[:, None] * stride_ot + dv[None, :], (acc / l_safe[:, None]).to(O.dtype.element_ty),
             mask=q_ok[:, None] & (dv[None, :] < DV))
    tl.store(LSE + bh * n_tokens + tok, tl.where(l_i > 0, m_i + tl.log(l_safe), 0.0), mask=q_ok)


@triton.jit
def _local_bwd_kernel(
        Q, K, V, KP, VP, DO, LSE, DELTA, DQ, DK, DV_, DKP, DVP,
        stride_qb, stride_qt, stride_kb, stride_kt, stride_vb, stride_vt, stride_pb, stride_pt,
        stride_pvb, stride_pvt, stride_ob, stride_ot,
        G, H, W, P, RY, RX, radius, scale, n_grid_tiles, n_tx, n_tokens,
        D: tl.constexpr, DV: tl.constexpr, D_PAD: tl.constexpr, DV_PAD: tl.constexpr,
        TH: tl.constexpr, TW: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr, GP: tl.constexpr,
        SQUARE: tl.constexpr, HAS_GLOBAL: tl.constexpr, HAS_POOLED: tl.constexpr, IEEE: tl.constexpr):
    # DQ, DK, DV_ have the layouts of q, k, v (fp32); DKP/DVP those of the pooled k/v; DO that of o.
    BLOCK_M: tl.constexpr = TH * TW
    BLOCK_N: tl.constexpr = KH * KW
    pid_m = tl.program_id(0)
    bh = tl.program_id(1)
    d = tl.arange(0, D_PAD)
    dv = tl.arange(0, DV_PAD)
    tok, qy, qx, qy0, qx0, q_ok, is_global = _query_block(pid_m, n_grid_tiles, n_tx, G, H, W, TH, TW, BLOCK_M)
    q_ptrs = bh * stride_qb + tok[:, None] * stride_qt + d[None, :]
    q_mask = q_ok[:, None] & (d[None, :] < D)
    q = tl.load(Q + q_ptrs, mask=q_mask, other=0.0)
    do = tl.load(DO + bh * stride_ob + tok[:, None] * stride_ot + dv[None, :],
                 mask=q_ok[:, None] & (dv[None, :] < DV), other=0.0)
    lse = tl.load(LSE + bh * n_tokens + tok, mask=q_ok, other=0.0)
    delta = tl.load(DELTA + bh * n_tokens + tok, mask=q_ok, other=0.0)
    dq = tl.zeros([BLOCK_M, D_PAD], tl.float32)

    if HAS_GLOBAL:
        j = tl.arange(0, GP)
        k_off = bh * stride_kb + j[:, None] * stride_kt + d[None, :]
        v_off = bh * stride_vb + j[:, None] * stride_vt + dv[None, :]
        k_mask = (j[:, None] < G) & (d[None, :] < D)
        v_mask = (j[:, None] < G) & (dv[None, :] < DV)
        k = tl.load(K + k_off, mask=k_mask, other=0.0)
        v = tl.load(V + v_off, mask=v_mask, other=0.0)
        allowed = (j < G)[None, :] & q_ok[:, None]
        dq = _bwd_update(q, do, lse, delta, k, v, allowed, dq, DK + k_off, DV_ + v_off, k_mask, v_mask, scale, IEEE)

    ky_lo, ky_hi, kx_lo, kx_hi = _key_tile_range(is_global, qy0, qx0, H, W, RY, RX, TH, TW)
    cols = tl.arange(0, BLOCK_N)
    for ky0 in range(ky_lo, ky_hi, KH):
        for kx0 in range(kx_lo, kx_hi, KW):
            if _tile_reachable(is_global, qy0, qx0, ky0, kx0, radius, SQUARE, TH, TW, KH, KW):
                ky = ky0 + cols // KW
                kx = kx0 + cols % KW
                k_ok = (ky < ky_hi) & (kx < kx_hi)
                ktok = G + ky * W + kx
                k_off = bh * stride_kb + ktok[:, None] * stride_kt + d[None, :]
                v_off = bh * stride_vb + ktok[:, None] * stride_vt + dv[None, :]
                k_mask = k_ok[:, None] & (d[None, :] < D)
                v_mask = k_ok[:, None] & (dv[None, :] < DV)
                k = tl.load(K + k_off, mask=k_mask, other=0.0)
                v = tl.load(V + v_off, mask=v_mask, other=0.0)
                near = _inside(ky[None, :] - qy[:, None], kx[None, :] - qx[:, None], radius, SQUARE)
                allowed = k_ok[None, :] & (near | is_global) & q_ok[:, None]
                dq = _bwd_update(q, do, lse, delta, k, v, allowed, dq, DK + k_off, DV_ + v_off, k_mask, v_mask,
                                 scale, IEEE)

    if HAS_POOLED:
        if not is_global:
            for p0 in range(0, P, BLOCK_N):
                j = p0 + cols
                k_off = bh * stride_pb + j[:, None] * stride_pt + d[None, :]
                v_off = bh * stride_pvb + j[:, None] * stride_pvt + dv[None, :]
                k_mask = (j[:, None] < P) & (d[None, :] < D)
                v_mask = (j[:, None] < P) & (dv[None, :] < DV)
                k = tl.load(KP + k_off, mask=k_mask, other=0.0)
                v = tl.load(VP + v_off, mask=v_mask, other=0.0)
                allowed = (j < P)[None, :] & q_ok[:, None]
                dq = _bwd_update(q, do, lse, delta, k, v, allowed, dq, DKP + k_off, DVP + v_off, k_mask, v_mask,
                                 scale, IEEE)
    tl.store(DQ + q_ptrs, dq, mask=q_mask)


def _config(window, q, v, num_pooled, batch_heads: int):
    G, H, W = window.num_global, window.height, window.width
    ry, rx = window.reach()
    # 8x8 query tiles (4x4 on tiny grids); key tiles of the same size
    th = tw = 8 if min(H, W) >= 8 else 4
    n_ty, n_tx = triton.cdiv(H, th), triton.cdiv(W, tw)
    n_grid_tiles = n_ty * n_tx
    n_global_blocks = triton.cdiv(G, th * tw) if G else 0
    D, DV = q.shape[-1], v.shape[-1]
    radius = window.radius if math.isfinite(window.radius) else float(max(H, W) + 1)
    meta = dict(D=D, DV=DV, D_PAD=max(16, triton.next_power_of_2(D)), DV_PAD=max(16, triton.next_power_of_2(DV)),
                TH=th, TW=tw, KH=th, KW=tw, GP=max(16, triton.next_power_of_2(max(G, 1))),
                SQUARE=window.shape == 'square', HAS_GLOBAL=G > 0, HAS_POOLED=num_pooled > 0,
                IEEE=q.dtype == torch.float32)
    args = (G, H, W, num_pooled, ry, rx, radius)
    return (n_grid_tiles + n_global_blocks, batch_heads), args, n_grid_tiles, n_tx, meta


def _flat(t):
    """(B, heads, N, D) -> contiguous (B*heads, N, D) and its two strides."""
    t = t.reshape(-1, t.shape[-2], t.shape[-1]).contiguous()
    return t, t.stride(0), t.stride(1)


class _LocalWindowFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, k_pooled, v_pooled, window, scale: float):
        B, heads, n, _ = q.shape
        num_pooled = 0 if k_pooled is None else k_pooled.shape[2]
        (qf, sqb, sqt), (kf, skb, skt), (vf, svb, svt) = _flat(q), _flat(k), _flat(v)
        if num_pooled:
            (kp, spb, spt), (vp, spvb, spvt) = _flat(k_pooled.to(k.dtype)), _flat(v_pooled.to(v.dtype))
        else:
            kp, vp, spb, spt, spvb, spvt = kf, vf, 0, 0, 0, 0
        out = torch.empty(vf.shape, device=q.device, dtype=q.dtype)
        lse = torch.empty((B * heads, n), device=q.device, dtype=torch.float32)
        grid, args, n_grid_tiles, n_tx, meta = _config(window, q, v, num_pooled, B * heads)
        _local_fwd_kernel[grid](qf, kf, vf, kp, vp, out, lse, sqb, sqt, skb, skt, svb, svt, spb, spt, spvb, spvt,
                                out.stride(0), out.stride(1), *args, scale, n_grid_tiles, n_tx, n, **meta)
        ctx.save_for_backward(qf, kf, vf, kp, vp, out, lse)
        ctx.window, ctx.scale, ctx.num_pooled, ctx.shapes = window, scale, num_pooled, (q.shape, v.shape)
        ctx.pooled_dtypes = None if k_pooled is None else (k_pooled.dtype, v_pooled.dtype)
        return out.reshape(B, heads, n, -1)

    @staticmethod
    def backward(ctx, grad_out):
        qf, kf, vf, kp, vp, out, lse = ctx.saved_tensors
        q_shape, v_shape = ctx.shapes
        do = grad_out.reshape(out.shape).contiguous()
        delta = (do.float() * out.float()).sum(-1).contiguous()
        dq = torch.empty(qf.shape, device=qf.device, dtype=torch.float32)
        dk = torch.zeros(kf.shape, device=kf.device, dtype=torch.float32)
        dv = torch.zeros(vf.shape, device=vf.device, dtype=torch.float32)
        dkp = torch.zeros(kp.shape, device=kp.device, dtype=torch.float32) if ctx.num_pooled else dk
        dvp = torch.zeros(vp.shape, device=vp.device, dtype=torch.float32) if ctx.num_pooled else dv
        grid, args, n_grid_tiles, n_tx, meta = _config(ctx.window, qf, vf, ctx.num_pooled, qf.shape[0])
        sp = (kp.stride(0), kp.stride(1), vp.stride(0), vp.stride(1)) if ctx.num_pooled else (0, 0, 0, 0)
        _local_bwd_kernel[grid](qf, kf, vf, kp, vp, do, lse, delta, dq, dk, dv, dkp, dvp,
                                qf.stride(0), qf.stride(1), kf.stride(0), kf.stride(1), vf.stride(0), vf.stride(1),
                                *sp, do.stride(0), do.stride(1), *args, ctx.scale, n_grid_tiles, n_tx,
                                qf.shape[1], **meta)
        grads = [dq.reshape(q_shape).to(qf.dtype), dk.reshape(q_shape).to(kf.dtype), dv.reshape(v_shape).to(vf.dtype)]
        if ctx.num_pooled:
            kd, vd = ctx.pooled_dtypes
            grads += [dkp.reshape(*q_shape[:2], -1, q_shape[-1]).to(kd), dvp.reshape(*v_shape[:2], -1, v_shape[-1]).to(vd)]
        else:
            grads += [None, None]
        return (*grads, None, None)


def local_window_attention(q, k, v, k_pooled, v_pooled, window, scale: float):
    """The ``triton`` backend of ``vizattn.ops.local_window_attn`` (same arguments as the other backends)."""
    return _LocalWindowFunction.apply(q, k, v, k_pooled, v_pooled, window, scale)
