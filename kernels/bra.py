"""Fused region-routing attention (BiFormer's BRA) in Triton, forward and backward.

Layout: q, k (B, R, T, heads * D), v (B, R, T, heads * DV): R regions of T tokens each (region-major, as
``vizattn.ops.bra`` partitions them), routing ``idx`` (B, R, topk) and optional ``token_valid`` (R, T).

Each program owns the query tokens of G regions (G > 1 when regions are tiny, e.g. 2x2 tokens in BiFormer's
stage 3 at 224: G regions are stacked so tiles reach the 16 rows tensor cores need, and a block-diagonal mask
keeps each region to its own routed keys). It loops over the topk routed regions, reading their K/V tiles in
place (no gathered copy), with an online softmax and fp32 accumulation. The backward recomputes the
probabilities from the saved log-sum-exp; dQ is owned by the program, dK/dV are accumulated into fp32 buffers
with atomic adds, so memory stays O(tokens), never O(topk * tokens).
"""
import torch
import triton
import triton.language as tl

__all__ = ['bra_attention']


@triton.jit
def _tile_indices(rg, qc, kc, j, b, R, T, IDX, stride_ib, stride_ir,
                  G: tl.constexpr, TQ: tl.constexpr, TK: tl.constexpr):
    """Rows (query region, token) and columns (key region, token) of one (query block, key block) tile."""
    rows = tl.arange(0, G * TQ)
    g_row = rows // TQ
    r_row = rg * G + g_row
    t_row = qc * TQ + rows % TQ
    row_ok = (r_row < R) & (t_row < T)
    cols = tl.arange(0, G * TK)
    g_col = cols // TK
    r_col = rg * G + g_col
    t_col = kc * TK + cols % TK
    kreg = tl.load(IDX + b * stride_ib + r_col * stride_ir + j, mask=r_col < R, other=0)
    col_ok = (r_col < R) & (t_col < T)
    return g_row, r_row, t_row, row_ok, g_col, kreg, t_col, col_ok


@triton.jit
def _bra_fwd_kernel(
        Q, K, V, O, LSE, IDX, VALID,
        stride_qb, stride_qr, stride_qt, stride_kb, stride_kr, stride_kt,
        stride_vb, stride_vr, stride_vt, stride_ob, stride_or, stride_ot,
        stride_ib, stride_ir,
        R, T, TOPK, HEADS, scale,
        D: tl.constexpr, DV: tl.constexpr, D_PAD: tl.constexpr, DV_PAD: tl.constexpr,
        G: tl.constexpr, TQ: tl.constexpr, TK: tl.constexpr, NQB: tl.constexpr, NKB: tl.constexpr,
        HAS_VALID: tl.constexpr, IEEE: tl.constexpr):
    pid_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // HEADS
    h = bh % HEADS
    rg = pid_m // NQB
    qc = pid_m % NQB
    d = tl.arange(0, D_PAD)
    dv = tl.arange(0, DV_PAD)

    g_row, r_row, t_row, row_ok, _, _, _, _ = _tile_indices(
        rg, qc, 0, 0, b, R, T, IDX, stride_ib, stride_ir, G, TQ, TK)
    q_ptr = Q + b * stride_qb + r_row[:, None] * stride_qr + t_row[:, None] * stride_qt + h * D + d[None, :]
    q = tl.load(q_ptr, mask=row_ok[:, None] & (d[None, :] < D), other=0.0)

    m_i = tl.full([G * TQ], float('-inf'), tl.float32)
    l_i = tl.zeros([G * TQ], tl.float32)
    acc = tl.zeros([G * TQ, DV_PAD], tl.float32)
    for j in range(TOPK):
        for kc in range(NKB):
            _, _, _, _, g_col, kreg, t_col, col_ok = _tile_indices(
                rg, qc, kc, j, b, R, T, IDX, stride_ib, stride_ir, G, TQ, TK)
            if HAS_VALID:
                col_ok = col_ok & (tl.load(VALID + kreg * T + t_col, mask=col_ok, other=0) != 0)
            k_ptr = K + b * stride_kb + kreg[None, :] * stride_kr + t_col[None, :] * stride_kt + h * D + d[:, None]
            kt = tl.load(k_ptr, mask=col_ok[None, :] & (d[:, None] < D), other=0.0)
            v_ptr = V + b * stride_vb + kreg[:, None] * stride_vr + t_col[:, None] * stride_vt + h * DV + dv[None, :]
            v = tl.load(v_ptr, mask=col_ok[:, None] & (dv[None, :] < DV), other=0.0)
            if IEEE:
                s = tl.dot(q, kt, input_precision='ieee')
            else:
                s = tl.dot(q, kt)
            allowed = (g_row[:, None] == g_col[None, :]) & col_ok[None, :]
            s = tl.where(allowed, s * scale, float('-inf'))
            m_new = tl.maximum(m_i, tl.max(s, 1))
            m_safe = tl.where(m_new == float('-inf'), 0.0, m_new)
            p = tl.exp(s - m_safe[:, None])
            alpha = tl.exp(m_i - m_safe)
            l_i = l_i * alpha + tl.sum(p, 1)
            if IEEE:
                acc = acc * alpha[:, None] + tl.dot(p, v, input_precision='ieee')
            else:
                acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
            m_i = m_new
    l_safe = tl.where(l_i > 0, l_i, 1.0)
    out = acc / l_safe[:, None]
    o_ptr = O + b * stride_ob + r_row[:, None] * stride_or + t_row[:, None] * stride_ot + h * DV + dv[None, :]
    tl.store(o_ptr, out.to(O.dtype.element_ty), mask=row_ok[:, None] & (dv[None, :] < DV))
    lse_ptr = LSE + ((b * HEADS + h) * R + r_row) * T + t_row
    tl.store(lse_ptr, tl.where(l_i > 0, m_i + tl.log(l_safe), 0.0), mask=row_ok)


@triton.jit
def _bra_bwd_kernel(
        Q, K, V, DO, LSE, DELTA, DQ, DK, DV_, IDX, VALID,
        stride_qb, stride_qr, stride_qt, stride_kb, stride_kr, stride_kt,
        stride_vb, stride_vr, stride_vt, stride_ob, stride_or, stride_ot,
        stride_ib, stride_ir,
        R, T, TOPK, HEADS, scale,
        D: tl.constexpr, DV: tl.constexpr, D_PAD: tl.constexpr, DV_PAD: tl.constexpr,
        G: tl.constexpr, TQ: tl.constexpr, TK: tl.constexpr, NQB: tl.constexpr, NKB: tl.constexpr,
        HAS_VALID: tl.constexpr, IEEE: tl.constexpr):
    # DQ has q's layout, DK/DV_ those of k/v (fp32 buffers); DO has o's layout.
    pid_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // HEADS
    h = bh % HEADS
    rg = pid_m // NQB
    qc = pid_m % NQB
    d = tl.arange(0, D_PAD)
    dv = tl.arange(0, DV_PAD)

    g_row, r_row, t_row, row_ok, _, _, _, _ = _tile_indices(
        rg, qc, 0, 0, b, R, T, IDX, stride_ib, stride_ir, G, TQ, TK)
    q_off = b * stride_qb + r_row[:, None] * stride_qr + t_row[:, None] * stride_qt + h * D + d[None, :]
    q_mask = row_ok[:, None] & (d[None, :] < D)
    q = tl.load(Q + q_off, mask=q_mask, other=0.0)
    do_ptr = DO + b * stride_ob + r_row[:, None] * stride_or + t_row[:, None] * stride_ot + h * DV + dv[None, :]
    do = tl.load(do_ptr, mask=row_ok[:, None] & (dv[None, :] < DV), other=0.0)
    stat_off = ((b * HEADS + h) * R + r_row) * T + t_row
    lse = tl.load(LSE + stat_off, mask=row_ok, other=0.0)
    delta = tl.load(DELTA + stat_off, mask=row_ok, other=0.0)
    dq = tl.zeros([G * TQ, D_PAD], tl.float32)
    for j in range(TOPK):
        for kc in range(NKB):
            _, _, _, _, g_col, kreg, t_col, col_ok = _tile_indices(
                rg, qc, kc, j, b, R, T, IDX, stride_ib, stride_ir, G, TQ, TK)
            if HAS_VALID:
                col_ok = col_ok & (tl.load(VALID + kreg * T + t_col, mask=col_ok, other=0) != 0)
            k_off = b * stride_kb + kreg[:, None] * stride_kr + t_col[:, None] * stride_kt + h * D + d[None, :]
            k_mask = col_ok[:, None] & (d[None, :] < D)
            k = tl.load(K + k_off, mask=k_mask, other=0.0)
            v_off = b * stride_vb + kreg[:, None] * stride_vr + t_col[:, None] * stride_vt + h * DV + dv[None, :]
            v_mask = col_ok[:, None] & (dv[None, :] < DV)
            v = tl.load(V + v_off, mask=v_mask, other=0.0)
            if IEEE:
                s = tl.dot(q, tl.trans(k), input_precision='ieee')
            else:
                s = tl.dot(q, tl.trans(k))
            allowed = (g_row[:, None] == g_col[None, :]) & col_ok[None, :] & row_ok[:, None]
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
            tl.atomic_add(DV_ + v_off, dv_tile, mask=v_mask)
            tl.atomic_add(DK + k_off, dk_tile, mask=k_mask)
    tl.store(DQ + q_off, dq, mask=q_mask)


def _tiling(T: int):
    """(G, TQ, TK, NQB, NKB): regions per program, query/key tokens per tile, tiles per region."""
    tp = triton.next_power_of_2(T)
    tile = min(tp, 64)
    groups = max(1, 16 // tile)
    return groups, tile, tile, tp // tile, tp // tile


def _launch_args(qs, ks, vs, out, idx, num_heads):
    B, R, T, c_qk = qs.shape
    c_v = vs.shape[-1]
    D, DV = c_qk // num_heads, c_v // num_heads
    G, TQ, TK, NQB, NKB = _tiling(T)
    grid = (triton.cdiv(R, G) * NQB, B * num_heads)
    strides = (*qs.stride()[:3], *ks.stride()[:3], *vs.stride()[:3], *out.stride()[:3], *idx.stride()[:2])
    meta = dict(D=D, DV=DV, D_PAD=max(16, triton.next_power_of_2(D)), DV_PAD=max(16, triton.next_power_of_2(DV)),
                G=G, TQ=TQ, TK=TK, NQB=NQB, NKB=NKB, IEEE=qs.dtype == torch.float32)
    return grid, strides, meta, (R, T, idx.shape[-1], num_heads)


class _BRAFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, qs, ks, vs, idx, token_valid, num_heads: int, scale: float):
        qs, ks, vs = qs.contiguous(), ks.contiguous(), vs.contiguous()
        idx = idx.to(torch.int32).contiguous()
        valid = None if token_valid is None else token_valid.to(torch.int8).contiguous()
        B, R, T, _ = qs.shape
        out = torch.empty_like(vs)
        lse = torch.empty((B, num_heads, R, T), device=qs.device, dtype=torch.float32)
        grid, strides, meta, dims = _launch_args(qs, ks, vs, out, idx, num_heads)
        _bra_fwd_kernel[grid](qs, ks, vs, out, lse, idx, valid if valid is not None else idx, *strides, *dims,
                              scale, HAS_VALID=valid is not None, **meta)
        ctx.save_for_backward(qs, ks, vs, out, lse, idx, valid)
        ctx.num_heads, ctx.scale = num_heads, scale
        return out

    @staticmethod
    def backward(ctx, grad_out):
        qs, ks, vs, out, lse, idx, valid = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        B, R, T, c_v = out.shape
        heads = ctx.num_heads
        delta = (grad_out.float() * out.float()).reshape(B, R, T, heads, -1).sum(-1).permute(0, 3, 1, 2).contiguous()
        dq = torch.empty(qs.shape, device=qs.device, dtype=torch.float32)
        dk = torch.zeros(ks.shape, device=ks.device, dtype=torch.float32)
        dv = torch.zeros(vs.shape, device=vs.device, dtype=torch.float32)
        grid, strides, meta, dims = _launch_args(qs, ks, vs, grad_out, idx, heads)
        _bra_bwd_kernel[grid](qs, ks, vs, grad_out, lse, delta, dq, dk, dv, idx,
                              valid if valid is not None else idx, *strides, *dims, ctx.scale,
                              HAS_VALID=valid is not None, **meta)
        return dq.to(qs.dtype), dk.to(ks.dtype), dv.to(vs.dtype), None, None, None, None


def bra_attention(qs, ks, vs, idx, token_valid, num_heads: int, scale: float):
    """The ``triton`` backend of ``vizattn.ops.bra`` (same arguments as the other backends)."""
    return _BRAFunction.apply(qs, ks, vs, idx, token_valid, num_heads, scale)
