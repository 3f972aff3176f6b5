"""The Triton local-window kernel against the reference backend, forward and every gradient.

Without CUDA this runs under TRITON_INTERPRET=1 (tests/__init__.py); the interpreter's bf16 dot is broken, so
bf16 is tested only on a GPU.
"""
import math
import os

import pytest
import torch

pytest.importorskip('triton')
from vizattn.ops.local_window import LocalWindow, _local_reference  # noqa: E402

DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'
if DEVICE == 'cpu' and os.environ.get('TRITON_INTERPRET') != '1':
    pytest.skip('triton kernels need CUDA or TRITON_INTERPRET=1', allow_module_level=True)
from vizattn.kernels.local_window import local_window_attention  # noqa: E402

TOL = {torch.float32: dict(rtol=1e-5, atol=2e-5), torch.float16: dict(rtol=2e-2, atol=2e-2),
       torch.bfloat16: dict(rtol=5e-2, atol=5e-2)}
DTYPES = [torch.float32, torch.float16] + ([torch.bfloat16] if DEVICE == 'cuda' else [])
CASES = [  # B, heads, H, W, D, DV, radius, shape, global tokens, pooled tokens
    (1, 1, 6, 7, 16, 16, 2.5, 'disc', 0, 0),
    (1, 2, 10, 9, 32, 16, 3, 'square', 1, 0),       # NAT-style square window, a class token
    (2, 1, 12, 12, 16, 32, 4, 'disc', 2, 9),        # CLEAR: disc + register tokens + pooled tokens
    (1, 1, 5, 5, 48, 16, math.inf, 'disc', 0, 0),   # full attention, head dim not a power of two
    (1, 1, 17, 9, 16, 16, 1.5, 'disc', 0, 4),       # 3x3 cross window, non-square grid
    (1, 1, 16, 16, 128, 64, 8, 'disc', 1, 0),       # larger radius, head dim 128
]


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('case', CASES)
def test_kernel_matches_reference(case, dtype):
    B, heads, H, W, D, DV, radius, shape, G, P = case
    g = torch.Generator().manual_seed(hash(case) % 2 ** 31)
    n = G + H * W
    rand = lambda *s: torch.randn(*s, generator=g).to(DEVICE, dtype)
    q, k, v = rand(B, heads, n, D), rand(B, heads, n, D), rand(B, heads, n, DV)
    kp, vp = (rand(B, heads, P, D), rand(B, heads, P, DV)) if P else (None, None)
    grad = rand(B, heads, n, DV)
    window = LocalWindow(H, W, float(radius), shape, G)
    results = []
    for fn, cast in ((local_window_attention, lambda t: t), (_local_reference, lambda t: t.float())):
        inputs = [cast(t).clone().requires_grad_() for t in (q, k, v, kp, vp) if t is not None]
        pooled = inputs[3:] if P else [None, None]
        out = fn(*inputs[:3], *pooled, window, D ** -0.5)
        grads = torch.autograd.grad(out, inputs, grad.to(out.dtype))
        results.append([out.float()] + [t.float() for t in grads])
    names = ['out', 'dq', 'dk', 'dv', 'dk_pooled', 'dv_pooled']
    for name, got, want in zip(names, *results):
        torch.testing.assert_close(got, want, **TOL[dtype], msg=lambda m: f'{name}: {m}')


def test_clear_vit_triton_matches_reference():
    import timm
    torch.manual_seed(0)
    x = torch.randn(1, 3, 96, 80, device=DEVICE)
    results = []
    for backend in ('reference', 'triton'):
        torch.manual_seed(0)
        model = timm.create_model('clear_deit_tiny_patch16_224', radius=2.5, num_classes=5,
                                  attn_backend=backend).to(DEVICE)
        out = model(x)
        out.square().sum().backward()
        results.append((out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-4, atol=1e-4)
    assert results[0][1].keys() == results[1][1].keys()
    for n, g in results[0][1].items():
        torch.testing.assert_close(results[1][1][n], g, rtol=1e-3, atol=1e-4, msg=lambda m: f'{n}: {m}')
