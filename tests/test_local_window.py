"""The local-window op: every backend against a brute-force dense masked definition, forward and gradients;
parity with the official CLEAR attention processors (fixtures); linear cost of the reference backend."""
import math
import os

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from tests.synthetic import fixed_input, synthetic_tensor
from vizattn.ops import available_backends, select_backend
from vizattn.ops.local_window import (LocalWindow, local_window_attn, neighbourhood_size, pool_tokens,
                                      window_attention_macs)
from vizattn.utils.flops import CUSTOM_FLOPS

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'clear')


def brute_force(q, k, v, grid, radius, shape, num_global, pooled, scale):
    """Dense attention under a token-level mask built from the grid coordinates of every (query, key) pair."""
    H, W = grid
    n = num_global + H * W
    P = 0 if pooled is None else pooled[0].shape[2]
    idx = torch.arange(n + P)
    is_grid = (idx >= num_global) & (idx < n)
    y, x = (idx - num_global) // W, (idx - num_global) % W  # grid coordinates (meaningful where is_grid)
    dy, dx = y[None, :] - y[:n, None], x[None, :] - x[:n, None]
    inside = (dy ** 2 + dx ** 2 < radius ** 2) if shape == 'disc' else (torch.maximum(dy.abs(), dx.abs()) < radius)
    q_global = (idx[:n] < num_global)[:, None]
    allowed = torch.where(q_global, (idx < n)[None, :],  # global query: global and grid keys
                          torch.where(is_grid[None, :], inside, True))  # grid query: window + global + pooled
    if pooled is not None:
        k, v = torch.cat([k, pooled[0]], 2), torch.cat([v, pooled[1]], 2)
    attn = (q @ k.transpose(-1, -2) * scale).masked_fill(~allowed, float('-inf')).softmax(-1)
    return attn @ v


def brute_force_pool(x, grid, factor, weight, num_global):
    """Window by window: the weighted sum of its valid tokens, times factor^2 / (valid tokens)."""
    H, W = grid
    B, h, _, d = x.shape
    xg = x[:, :, num_global:].reshape(B, h, H, W, d)
    out = []
    for y0 in range(0, H, factor):
        for x0 in range(0, W, factor):
            acc, count = 0, 0
            for a in range(factor):
                for c in range(factor):
                    if y0 + a < H and x0 + c < W:
                        acc = acc + weight[a, c] * xg[:, :, y0 + a, x0 + c]
                        count += 1
            out.append(acc * factor * factor / count)
    return torch.stack(out, 2)


CASES = [  # B, heads, H, W, D, Dv, radius, shape, global tokens, pooled
    (2, 2, 7, 9, 8, 8, 2.5, 'disc', 1, False),     # non-square, class token
    (1, 3, 13, 10, 16, 8, 4, 'square', 0, True),   # square window, pooled tokens, Dv != D
    (1, 1, 20, 17, 8, 8, 3, 'disc', 2, True),      # several tiles, register tokens + pooled (partial windows)
    (1, 2, 5, 5, 8, 8, math.inf, 'disc', 1, False),  # full attention
    (1, 1, 26, 23, 4, 4, 8, 'disc', 0, False),     # larger radius, tiles clamped at the borders
    (1, 1, 1, 1, 4, 4, 1, 'disc', 0, False),       # one token
    (1, 1, 3, 40, 4, 4, 1.5, 'square', 1, True),   # thin grid: 3x3 window
    (1, 1, 6, 6, 4, 4, 0.5, 'disc', 1, False),     # radius < 1: each query sees itself only
]


def _inputs(case, dtype=torch.float64, seed=0):
    B, heads, H, W, D, Dv, radius, shape, G, pool = case
    g = torch.Generator().manual_seed(seed)
    n = G + H * W
    q, k = (torch.randn(B, heads, n, D, generator=g, dtype=torch.float64).to(dtype) for _ in range(2))
    v = torch.randn(B, heads, n, Dv, generator=g, dtype=torch.float64).to(dtype)
    return q, k, v


def _pooled(k, v, case):
    H, W, G = case[2], case[3], case[8]
    if not case[9]:
        return None
    w = torch.linspace(0.5, 1.5, 16, dtype=k.dtype).reshape(4, 4) / 16
    return pool_tokens(k, (H, W), 4, w, G), pool_tokens(v, (H, W), 4, w, G)


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('backend', ['reference', 'flex'])
def test_matches_brute_force(case, backend):
    H, W, radius, shape, G = case[2], case[3], case[6], case[7], case[8]
    q, k, v = _inputs(case)
    pooled = _pooled(k, v, case)
    want = brute_force(q, k, v, (H, W), radius, shape, G, pooled, q.shape[-1] ** -0.5)
    if backend == 'flex':  # FlexAttention runs in fp32
        q, k, v = q.float(), k.float(), v.float()
        pooled = None if pooled is None else tuple(p.float() for p in pooled)
    out = local_window_attn(q, k, v, (H, W), radius, shape, G, pooled, backend=backend)
    assert out.shape == v.shape and out.dtype == q.dtype
    tol = dict(rtol=1e-10, atol=1e-12) if backend == 'reference' else dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.double(), want, **tol)


@pytest.mark.parametrize('case', [CASES[0], CASES[1], CASES[2], CASES[7]])
def test_reference_gradients_match_brute_force(case):
    H, W, radius, shape, G = case[2], case[3], case[6], case[7], case[8]
    q, k, v = (t.requires_grad_() for t in _inputs(case))
    w = torch.full((4, 4), 1 / 16, dtype=torch.float64, requires_grad=True)
    pooled = (pool_tokens(k, (H, W), 4, w, G), pool_tokens(v, (H, W), 4, w, G)) if case[9] else None
    out = local_window_attn(q, k, v, (H, W), radius, shape, G, pooled, backend='reference')
    want = brute_force(q, k, v, (H, W), radius, shape, G, pooled, q.shape[-1] ** -0.5)
    g = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(1))
    inputs = (q, k, v, w) if case[9] else (q, k, v)
    got = torch.autograd.grad(out, inputs, g, retain_graph=True)  # the pooling graph is shared
    ref = torch.autograd.grad(want, inputs, g)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='FlexAttention has no CPU backward in torch 2.14')
@pytest.mark.parametrize('case', CASES[:3])
def test_flex_gradients_match_reference(case):
    H, W, radius, shape, G = case[2], case[3], case[6], case[7], case[8]
    results = {}
    for backend in ('reference', 'flex'):
        q, k, v = (t.float().cuda().requires_grad_() for t in _inputs(case))
        pooled = _pooled(k, v, case)
        out = local_window_attn(q, k, v, (H, W), radius, shape, G, pooled, backend=backend)
        g = torch.linspace(-1, 1, out.numel(), device='cuda').reshape(out.shape)
        results[backend] = (out,) + torch.autograd.grad(out, (q, k, v), g)
    for a, b in zip(results['reference'], results['flex']):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('name', ['local', 'local_down4'])
def test_parity_with_official_processors(name):
    """Our op on the q/k/v of the official FLUX processors (512 text tokens + an 8x12 grid, r=3)."""
    fx = torch.load(os.path.join(FIXTURES, f'{name}.pt'), weights_only=True)
    sd = {k: synthetic_tensor(k, shape, getattr(torch, dtype)) for k, shape, dtype in fx['keys']}
    x = fixed_input(fx['input_shape'], fx['input_seed'])
    B, N, C = x.shape
    heads, grid, G = fx['heads'], tuple(fx['grid']), fx['text_length']

    def proj(p):
        return F.linear(x, sd[p + '.weight'], sd[p + '.bias']).reshape(B, N, heads, -1).transpose(1, 2)

    q, k, v = proj('to_q'), proj('to_k'), proj('to_v')
    pooled = None
    if 'down_factor' in fx:
        f = fx['down_factor']
        w = sd['spatial_weight'].reshape(f, f)  # official (1, 1, 1, f, 1, f, 1)
        pooled = (pool_tokens(k, grid, f, w, G), pool_tokens(v, grid, f, w, G))
    ref = fx['output']
    for backend in ('reference', 'flex'):
        out = local_window_attn(q, k, v, grid, fx['window_size'], 'disc', G, pooled, backend=backend)
        out = out.transpose(1, 2).reshape(B, N, C)
        assert (out - ref).abs().max() / ref.abs().max() <= 1e-5, backend
    if pooled is not None:  # the pooled tokens matter: leaving them out breaks the parity
        out = local_window_attn(q, k, v, grid, fx['window_size'], 'disc', G).transpose(1, 2).reshape(B, N, C)
        assert (out - ref).abs().max() / ref.abs().max() > 1e-2


@pytest.mark.parametrize('grid', [(8, 8), (9, 14), (5, 3), (1, 7)])
def test_pool_tokens_matches_loops(grid):
    x = torch.randn(2, 2, 1 + grid[0] * grid[1], 4, dtype=torch.float64)
    w = torch.rand(4, 4, dtype=torch.float64)
    torch.testing.assert_close(pool_tokens(x, grid, 4, w, num_global=1), brute_force_pool(x, grid, 4, w, 1))
    # the initial weights (1/16) average the valid tokens of every window
    avg = pool_tokens(x, grid, 4, None, num_global=1)
    first = x[:, :, 1:].reshape(2, 2, *grid, 4)[:, :, :4, :4].mean((2, 3))  # the top-left window
    torch.testing.assert_close(avg[:, :, 0], first)


def test_full_radius_is_full_attention():
    q, k, v = (torch.randn(2, 3, 1 + 14 * 14, 16) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v)
    for radius in (math.inf, 19.0):  # 19 > sqrt(13^2 + 13^2): the disc covers the grid
        torch.testing.assert_close(local_window_attn(q, k, v, (14, 14), radius, num_global=1), ref)


def test_neighbourhood_counts():
    assert len(LocalWindow(20, 20, 2.0, 'disc').offsets()) == 9  # 3x3: (0, +-2) is on the circle, excluded
    assert len(LocalWindow(20, 20, 2.5, 'disc').offsets()) == 21
    assert len(LocalWindow(20, 20, 2.0, 'square').offsets()) == 9
    assert len(LocalWindow(20, 20, 4.0, 'disc').offsets()) == 45
    assert neighbourhood_size(14, 14, math.inf) == 196 ** 2
    # truncated at the borders: a 2x2 grid with the 3x3 window is full attention
    assert neighbourhood_size(2, 2, 1.5, 'square') == 16
    assert window_attention_macs(14, 14, math.inf, 64, num_global=1) == 2 * 197 ** 2 * 64


class _LargestTensor(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_reference_cost_is_linear_in_tokens():
    """For a fixed radius, MACs and the largest tensor grow like H*W, not (H*W)^2."""
    from vizattn.ops import local_window
    macs, largest = [], []
    for side in (16, 32, 64):
        q, k, v = (torch.randn(1, 1, 1 + side * side, 8) for _ in range(3))
        local_window._PLANS.clear()
        with FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS) as counter, _LargestTensor() as mode:
            local_window_attn(q, k, v, (side, side), 3, num_global=1)
        macs.append(counter.get_total_flops() / 2)
        largest.append(mode.largest)
    for i in (1, 2):  # 4x the tokens: about 4x the work (a dense N x N would be 16x)
        assert macs[i] / macs[i - 1] < 5
        assert largest[i] / largest[i - 1] < 5
    n = 64 * 64
    assert largest[-1] < n * n / 16  # the masks/scores of the tiles, not an N x N matrix


def test_low_precision_keeps_dtype():
    case = CASES[2]
    q, k, v = _inputs(case, torch.bfloat16)
    out = local_window_attn(q, k, v, (20, 17), 3, num_global=2)
    ref = local_window_attn(q.float(), k.float(), v.float(), (20, 17), 3, num_global=2)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert (out.float() - ref).abs().max() < 0.05 * ref.abs().max()


def test_backend_choice(monkeypatch):
    assert {'reference', 'flex'} <= set(available_backends('local_window'))
    cpu = torch.device('cpu')
    assert select_backend('local_window', None, cpu) is select_backend('local_window', 'reference', cpu)
    monkeypatch.setenv('VIZATTN_BACKEND', 'bra=reference,local_window=flex')
    assert select_backend('local_window', None, cpu) is select_backend('local_window', 'flex', cpu)
    monkeypatch.setenv('VIZATTN_BACKEND', 'local_window=nope')
    with pytest.raises(ValueError, match='unknown local_window backend'):
        select_backend('local_window', None, cpu)


def test_bad_arguments():
    q = torch.randn(1, 2, 1 + 16, 8)
    with pytest.raises(ValueError, match='do not match'):
        local_window_attn(q, q, q, (4, 5), 2, num_global=1)
    with pytest.raises(ValueError, match='radius must be positive'):
        local_window_attn(q, q, q, (4, 4), 0, num_global=1)
    with pytest.raises(ValueError, match='shape must be one of'):
        local_window_attn(q, q, q, (4, 4), 2, 'hexagon', num_global=1)
    with pytest.raises(ValueError, match='B, heads, tokens, dim'):
        local_window_attn(q[0], q[0], q[0], (4, 4), 2, num_global=1)
    with pytest.raises(ValueError, match='same shape'):
        local_window_attn(q, q[..., :4], q, (4, 4), 2, num_global=1)
    with pytest.raises(ValueError, match='pooled'):
        local_window_attn(q, q, q, (4, 4), 2, num_global=1, pooled=(q[:, :1], q[:, :1]))
    with pytest.raises(ValueError, match='do not match'):
        pool_tokens(q, (4, 4), 4)
