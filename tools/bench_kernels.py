"""Kernel benchmark: BRA attention (and local-window attention once registered) per backend, on CUDA.

    python tools/bench_kernels.py --official /path/to/BiFormer --json docs/bench/kernels_h200.json

Rows: BiFormer-S's BRA stages 1-3 at 224 (batch 64, 7x7 regions) and at 1024x1024 (batch 1, 16x16 regions);
local-window attention (disc) on 56x56, 64x64 and 128x128 token grids with r = 4, 8, 16 (batch 8, 4 heads of
64: the attention op alone, backends triton / reference / flex).
Columns per backend (triton, reference, flex compiled) and the official module (its gather): time of fwd and
fwd+bwd, peak memory, achieved TFLOP/s on the useful attention FLOPs (QK^T and PV over the routed keys only;
fwd+bwd counted as 3.5x fwd, as FlashAttention does). All implementations run the same module (qkv
projection, LePE, output projection), so the differences are the attention itself.
"""
import argparse
import json
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit('/tools/', 1)[0])
from tools.benchmark import BRA_STAGES, _import_official  # noqa: E402

SETTINGS = [('224', 224, 7, 64), ('1024', 1024, 16, 1)]  # name, image size, regions per side, batch


def _useful_flops(batch, side, dim, n_win, topk):
    tokens = batch * side * side
    keys = topk * (side // n_win) ** 2 if side % n_win == 0 else topk * (-(-side // n_win)) ** 2
    return 4 * tokens * keys * dim  # 2 matmuls x 2 flops per MAC, summed over heads (dim = heads * head_dim)


def _time(fn, iters):
    torch.cuda.synchronize()
    fn()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters, (torch.cuda.max_memory_allocated() - base) / 2 ** 20


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--official', help='rayleizhu/BiFormer checkout for the official gather implementation')
    p.add_argument('--backends', default='triton,reference,flex')
    p.add_argument('--dtype', default='bfloat16', choices=['float32', 'float16', 'bfloat16'])
    p.add_argument('--iters', type=int, default=20)
    p.add_argument('--json')
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit('bench_kernels.py measures CUDA kernels; no GPU here (docs/benchmarks.md says so)')
    torch.backends.cuda.matmul.allow_tf32 = False
    dtype = getattr(torch, args.dtype)
    from vizattn.models.biformer import BiLevelRoutingAttention
    impls = [(b, lambda dim, heads, n_win, topk, b=b: BiLevelRoutingAttention(dim, heads, n_win, topk, attn_backend=b))
             for b in args.backends.split(',')]
    if args.official:
        _import_official(args.official)
        from ops.bra_legacy import BiLevelRoutingAttention as Official
        impls.append(('official', lambda dim, heads, n_win, topk: Official(
            dim, num_heads=heads, n_win=n_win, qk_dim=dim, topk=topk, side_dwconv=5, auto_pad=True)))
    rows = []
    for setting, img, n_win, batch in SETTINGS:
        for stage, (dim, heads, topk, stride) in enumerate(BRA_STAGES):
            side = img // stride
            flops = _useful_flops(batch, side, dim, n_win, topk)
            for name, make in impls:
                module = make(dim, heads, n_win, topk).cuda().to(dtype)
                x = torch.randn(batch, side, side, dim, device='cuda', dtype=dtype, requires_grad=True)
                row = dict(setting=setting, stage=stage + 1, impl=name, batch=batch, side=side, n_win=n_win,
                           topk=topk, dtype=args.dtype)
                try:
                    with torch.no_grad():
                        row['fwd_ms'], row['fwd_peak_mb'] = [v * f for v, f in zip(
                            _time(lambda: module(x), args.iters), (1e3, 1))]
                    row['fwdbwd_ms'], row['fwdbwd_peak_mb'] = [v * f for v, f in zip(
                        _time(lambda: module(x).float().square().mean().backward(), args.iters), (1e3, 1))]
                    row['fwd_tflops'] = flops / row['fwd_ms'] * 1e-9
                    row['fwdbwd_tflops'] = 3.5 * flops / row['fwdbwd_ms'] * 1e-9
                except Exception as e:  # e.g. out of memory for the official gather at 1024
                    row['error'] = f'{type(e).__name__}: {str(e).splitlines()[0][:120]}'
                    torch.cuda.empty_cache()
                rows.append(row)
                print(json.dumps(row), flush=True)
    from vizattn.ops.local_window import local_window_attn, window_attention_macs
    for side in (56, 64, 128):
        for radius in (4, 8, 16):
            flops = 2 * window_attention_macs(side, side, radius, 64, 4) * 8
            q, k, v = [torch.randn(8, 4, side * side, 64, device='cuda', dtype=dtype, requires_grad=True)
                       for _ in range(3)]
            for backend in ('triton', 'reference', 'flex'):
                row = dict(setting=f'local {side}x{side}', radius=radius, impl=backend, dtype=args.dtype)
                fn = lambda: local_window_attn(q, k, v, (side, side), radius, backend=backend)
                try:
                    with torch.no_grad():
                        row['fwd_ms'], row['fwd_peak_mb'] = [x * f for x, f in zip(_time(fn, args.iters), (1e3, 1))]
                    row['fwdbwd_ms'], row['fwdbwd_peak_mb'] = [x * f for x, f in zip(
                        _time(lambda: fn().float().square().mean().backward(), args.iters), (1e3, 1))]
                    row['fwd_tflops'] = flops / row['fwd_ms'] * 1e-9
                    row['fwdbwd_tflops'] = 3.5 * flops / row['fwdbwd_ms'] * 1e-9
                except Exception as e:
                    row['error'] = f'{type(e).__name__}: {str(e).splitlines()[0][:120]}'
                    torch.cuda.empty_cache()
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)


if __name__ == '__main__':
    main()
