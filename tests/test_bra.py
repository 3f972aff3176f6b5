"""The BRA op: every backend against an independent brute-force definition, forward and gradients."""
import math

import pytest
import torch

from vizattn.ops import available_backends, bra, select_backend
from vizattn.ops.bra import route_regions


def brute_force_bra(q, k, v, num_heads, n_win, topk, scale):
    """Token-level definition: pad, route regions by valid-token means, dense attention under a mask."""
    B, H, W, C = q.shape
    rh, rw = math.ceil(H / n_win), math.ceil(W / n_win)
    Hp, Wp = rh * n_win, rw * n_win
    region = (torch.arange(Hp)[:, None] // rh) * n_win + torch.arange(Wp)[None, :] // rw  # (Hp, Wp)
    valid = (torch.arange(Hp)[:, None] < H) & (torch.arange(Wp)[None, :] < W)
    pad = lambda t: torch.nn.functional.pad(t, (0, 0, 0, Wp - W, 0, Hp - H)).reshape(B, Hp * Wp, -1)
    qf, kf, vf = pad(q), pad(k), pad(v)
    region, valid = region.reshape(-1), valid.reshape(-1)
    R = n_win * n_win
    onehot = torch.zeros(Hp * Wp, R)
    onehot[torch.arange(Hp * Wp), region] = valid.float()
    count = onehot.sum(0).clamp(min=1)
    q_win = torch.einsum('bnc,nr->brc', qf.double(), onehot.double()) / count[None, :, None]
    k_win = torch.einsum('bnc,nr->brc', kf.double(), onehot.double()) / count[None, :, None]
    logits = (q_win * scale) @ k_win.transpose(1, 2)
    logits[:, :, onehot.sum(0) == 0] = float('-inf')
    idx = logits.topk(min(topk, R), dim=-1).indices  # (B, R, topk)
    routed = torch.zeros(B, R, R, dtype=torch.bool).scatter_(2, idx, True)
    allowed = routed[:, region][:, :, region] & valid[None, None, :]  # (B, N, N)
    split = lambda t: t.reshape(B, Hp * Wp, num_heads, -1).transpose(1, 2)
    attn = (split(qf) @ split(kf).transpose(-1, -2)) * scale
    attn = attn.masked_fill(~allowed[:, None], float('-inf')).softmax(-1)
    out = (attn @ split(vf)).transpose(1, 2).reshape(B, Hp, Wp, -1)
    return out[:, :H, :W], idx


CASES = [  # B, H, W, C_qk, C_v, heads, n_win, topk
    (2, 14, 14, 32, 32, 2, 7, 4),    # divisible, 2x2 regions
    (1, 16, 16, 64, 64, 4, 4, 1),    # one routed region
    (2, 13, 10, 32, 48, 2, 7, 16),   # padded, non-square, C_v != C_qk, topk > valid regions in a row
    (1, 9, 23, 16, 16, 1, 4, 3),     # padded both sides
    (1, 5, 5, 16, 16, 2, 7, 4),      # fewer tokens than regions: many fully padded regions
]


def _inputs(case, dtype=torch.float32, seed=0):
    B, H, W, c_qk, c_v, *_ = case
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, H, W, c, generator=g, dtype=torch.float32).to(dtype) for c in (c_qk, c_qk, c_v)]


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('backend', ['reference', 'flex'])
def test_bra_matches_brute_force(case, backend):
    q, k, v = _inputs(case)
    heads, n_win, topk = case[5:]
    scale = q.shape[-1] ** -0.5
    out, idx = bra(q, k, v, heads, n_win, topk, backend=backend, return_routing=True)
    ref, ref_idx = brute_force_bra(q, k, v, heads, n_win, topk, scale)
    assert out.shape == q.shape[:3] + (v.shape[-1],)
    assert torch.equal(idx.sort(-1).values, ref_idx.sort(-1).values)
    torch.testing.assert_close(out, ref.float(), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='FlexAttention has no CPU backward in torch 2.14')
@pytest.mark.parametrize('case', CASES[:3])
def test_flex_gradients_match_reference(case):
    heads, n_win, topk = case[5:]
    grads = {}
    for backend in ('reference', 'flex'):
        q, k, v = [t.cuda().requires_grad_() for t in _inputs(case)]
        out = bra(q, k, v, heads, n_win, topk, backend=backend)
        (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
        grads[backend] = (out.detach(), q.grad, k.grad, v.grad)
    for a, b in zip(grads['reference'], grads['flex']):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_reference_gradients_match_brute_force():
    case = CASES[2]
    heads, n_win, topk = case[5:]
    q, k, v = [t.double().requires_grad_() for t in _inputs(case)]
    out = bra(q, k, v, heads, n_win, topk, backend='reference')
    ref, _ = brute_force_bra(q, k, v, heads, n_win, topk, q.shape[-1] ** -0.5)
    g = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(1))
    got = torch.autograd.grad(out, (q, k, v), g)
    want = torch.autograd.grad(ref, (q, k, v), g)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


def test_padded_tokens_do_not_leak():
    """Values written into the padding of a divisible map must not change the unpadded tokens' output."""
    q, k, v = _inputs((1, 13, 13, 32, 32, 2, 7, 4))
    out = bra(q, k, v, 2, 7, 4)
    # same map padded by hand to 14x14 with garbage: the op on the 13x13 view must ignore it
    big = [torch.nn.functional.pad(t, (0, 0, 0, 1, 0, 1), value=1e3) for t in (q, k, v)]
    out_view = bra(*[t[:, :13, :13] for t in big], 2, 7, 4)
    torch.testing.assert_close(out, out_view)


def test_routing_in_fp32_under_low_precision():
    q, k, _ = _inputs((2, 14, 14, 32, 32, 2, 7, 4), dtype=torch.bfloat16)
    qs, ks = q.reshape(2, 7, 2, 7, 2, 32).permute(0, 1, 3, 2, 4, 5).reshape(2, 49, 4, 32), None
    ks = k.reshape(2, 7, 2, 7, 2, 32).permute(0, 1, 3, 2, 4, 5).reshape(2, 49, 4, 32)
    idx = route_regions(qs, ks, 4, 32 ** -0.5)
    want = ((qs.float().mean(2) * 32 ** -0.5) @ ks.float().mean(2).transpose(1, 2)).topk(4, -1).indices
    assert torch.equal(idx, want)


def test_low_precision_outputs_keep_dtype():
    q, k, v = _inputs(CASES[2], dtype=torch.bfloat16)
    out = bra(q, k, v, 2, 7, 16)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    ref = bra(q.float(), k.float(), v.float(), 2, 7, 16)
    assert (out.float() - ref).abs().max() < 0.1 * ref.abs().max()


def test_backend_choice(monkeypatch):
    assert {'reference', 'flex'} <= set(available_backends('bra'))
    cpu = torch.device('cpu')
    assert select_backend('bra', None, cpu) is select_backend('bra', 'reference', cpu)
    monkeypatch.setenv('VIZATTN_BACKEND', 'bra=flex,local_window=reference')
    assert select_backend('bra', None, cpu) is select_backend('bra', 'flex', cpu)
    assert select_backend('bra', 'reference', cpu) is not select_backend('bra', None, cpu)  # argument wins
    monkeypatch.setenv('VIZATTN_BACKEND', 'nope')
    with pytest.raises(ValueError, match='unknown bra backend'):
        select_backend('bra', None, cpu)


def test_bad_arguments():
    q = torch.randn(1, 8, 8, 32)
    with pytest.raises(ValueError, match='num_heads'):
        bra(q, q, q, 3, 4, 2)
    with pytest.raises(ValueError, match='expects'):
        bra(q, q[:, :4], q, 2, 4, 2)
