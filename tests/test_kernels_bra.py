"""The Triton BRA kernel against the reference backend, forward and every gradient.

Without CUDA this runs under TRITON_INTERPRET=1 (tests/__init__.py). The interpreter's bf16 dot is broken
(it computes in numpy without bf16 support), so bf16 is only tested on a GPU; fp32 and fp16 always.
"""
import os

import pytest
import timm
import torch

pytest.importorskip('triton')
from vizattn.ops.bra import _bra_reference, bra  # noqa: E402

DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'
if DEVICE == 'cpu' and os.environ.get('TRITON_INTERPRET') != '1':
    pytest.skip('triton kernels need CUDA or TRITON_INTERPRET=1', allow_module_level=True)
from vizattn.kernels.bra import _tiling, bra_attention  # noqa: E402

TOL = {torch.float32: dict(rtol=1e-5, atol=2e-5), torch.float16: dict(rtol=2e-2, atol=2e-2),
       torch.bfloat16: dict(rtol=5e-2, atol=5e-2)}
DTYPES = [torch.float32, torch.float16] + ([torch.bfloat16] if DEVICE == 'cuda' else [])


def _random_case(seed):
    g = torch.Generator().manual_seed(seed)
    pick = lambda xs: xs[torch.randint(len(xs), (1,), generator=g).item()]
    B, heads = pick([1, 2]), pick([1, 2, 3])
    D, DV = pick([16, 32, 48, 64, 128]), pick([16, 32, 64])
    T = pick([1, 4, 9, 16, 24, 64, 100])   # region sizes 1x1 .. 10x10 (100 spans two 64-token tiles)
    R = pick([4, 9, 16, 49])
    topk = pick([1, 2, 4, R])
    padded = pick([False, True])
    return B, heads, D, DV, T, R, min(topk, R), padded, g


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('seed', range(8))
def test_kernel_matches_reference(seed, dtype):
    B, heads, D, DV, T, R, topk, padded, g = _random_case(seed)
    qs = torch.randn(B, R, T, heads * D, generator=g).to(DEVICE, dtype)
    ks = torch.randn(B, R, T, heads * D, generator=g).to(DEVICE, dtype)
    vs = torch.randn(B, R, T, heads * DV, generator=g).to(DEVICE, dtype)
    idx = torch.argsort(torch.rand(B, R, R, generator=g), -1)[..., :topk].to(DEVICE)
    valid = None
    if padded:
        valid = torch.rand(R, T, generator=g) > 0.3
        valid[:, 0] = True
        valid = valid.to(DEVICE)
    grad = torch.randn(B, R, T, heads * DV, generator=g).to(DEVICE, dtype)
    scale = D ** -0.5
    results = []
    for fn, inputs in ((bra_attention, (qs, ks, vs)), (_bra_reference, (qs.float(), ks.float(), vs.float()))):
        inputs = [t.clone().requires_grad_() for t in inputs]
        out = fn(*inputs, idx, valid, heads, scale)
        out.backward(grad.to(out.dtype))
        results.append([out.detach().float()] + [t.grad.float() for t in inputs])
    for name, got, want in zip(('out', 'dq', 'dk', 'dv'), *results):
        torch.testing.assert_close(got, want, **TOL[dtype], msg=lambda m: f'{name}: {m}')


def test_tiny_regions_are_grouped():
    assert _tiling(4) == (4, 4, 4, 1, 1)       # 2x2-token regions: 4 per program -> 16-row tiles
    assert _tiling(1) == (16, 1, 1, 1, 1)
    assert _tiling(64) == (1, 64, 64, 1, 1)
    assert _tiling(256) == (1, 64, 64, 4, 4)   # 16x16-token regions: 4 query tiles x 4 key tiles


def test_op_with_triton_backend_on_padded_map():
    g = torch.Generator().manual_seed(3)
    q, k, v = [torch.randn(2, 13, 10, 32, generator=g).to(DEVICE) for _ in range(3)]
    torch.testing.assert_close(bra(q, k, v, 2, 7, 4, backend='triton'), bra(q, k, v, 2, 7, 4, backend='reference'),
                               rtol=1e-5, atol=1e-5)


def test_biformer_t_triton_matches_reference():
    torch.manual_seed(0)
    model = timm.create_model('biformer_t', num_classes=7).to(DEVICE)
    x = torch.randn(1, 3, 64, 96, device=DEVICE)
    grads = []
    for backend in ('reference', 'triton'):
        model.set_attn_backend(backend)
        model.zero_grad()
        out = model(x)
        out.square().sum().backward()
        grads.append((out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    torch.testing.assert_close(grads[1][0], grads[0][0], rtol=1e-4, atol=1e-4)
    for n, g in grads[0][1].items():
        torch.testing.assert_close(grads[1][1][n], g, rtol=1e-3, atol=1e-4, msg=lambda m: f'{n}: {m}')
