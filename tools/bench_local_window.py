"""Attention FLOPs and latency of full attention vs CLEAR's local window (vizattn.ops.local_window_attn).

    python tools/bench_local_window.py [--grids 14 32 64] [--radii 4 8 16] [--heads 6] [--head-dim 64]
        [--batch 1] [--threads 1] [--reps 5] [--shape disc] [--backend reference] [--backward] [--out FILE.md]

One attention layer of DeiT-S/ViT-S (6 heads x 64) with a class token, batch 1, fp32, on the CPU (or CUDA if
--device cuda). For each H x W token grid: full attention (``F.scaled_dot_product_attention``) and the local
window of each radius. Columns:
- ``MACs window``: the multiply-accumulates of QK^T and AV the window needs (its exact (query, key) pairs,
  borders truncated: ``window_attention_macs``); ``MACs run``: what the backend executes (FlopCounterMode;
  the reference backend computes whole query tiles against key rectangles, masked pairs included);
- latency: the best of ``--reps`` timed runs after a warm-up (robust on a shared machine), in ms, and the
  speed-up over full attention.
"""
import argparse
import math
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from vizattn.ops.local_window import local_window_attn, neighbourhood_size, window_attention_macs  # noqa: E402
from vizattn.utils.flops import CUSTOM_FLOPS  # noqa: E402


def timed(fn, reps: int, device: torch.device) -> float:
    fn()
    times = []
    for _ in range(reps):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times) * 1e3  # the least disturbed run (shared machines)


def executed_macs(fn) -> float:
    with FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS) as counter:
        fn()
    return counter.get_total_flops() / 2


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--grids', type=int, nargs='+', default=[14, 32, 64])
    p.add_argument('--radii', type=float, nargs='+', default=[4, 8, 16])
    p.add_argument('--heads', type=int, default=6)
    p.add_argument('--head-dim', type=int, default=64)
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--num-global', type=int, default=1)
    p.add_argument('--shape', default='disc', choices=['disc', 'square'])
    p.add_argument('--backend', default='reference')
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--reps', type=int, default=5)
    p.add_argument('--backward', action='store_true', help='time forward + backward')
    p.add_argument('--out', help='also write the markdown table to this file')
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    B, h, d, G = args.batch, args.heads, args.head_dim, args.num_global
    mode = 'fwd+bwd' if args.backward else 'fwd'
    lines = [f'{B} x {h} heads x {d}, {G} class token, fp32, {args.device} ({args.threads} thread(s)), {mode}, '
             f'backend {args.backend!r}, best of {args.reps}', '',
             '| grid | tokens | attention | keys/query | MACs window | MACs run | latency ms | speed-up |',
             '|---|---|---|---|---|---|---|---|']
    for side in args.grids:
        n = G + side * side
        q, k, v = (torch.randn(B, h, n, d, device=device, requires_grad=args.backward) for _ in range(3))

        def run(fn):
            def go():
                out = fn()
                if args.backward:
                    out.sum().backward()
                return out
            return go

        full = run(lambda: F.scaled_dot_product_attention(q, k, v))
        with torch.no_grad():
            full_run = executed_macs(lambda: F.scaled_dot_product_attention(q, k, v))
        full_ms = timed(full, args.reps, device)
        full_macs = window_attention_macs(side, side, math.inf, d, h, num_global=G) * B
        lines.append(f'| {side}x{side} | {n} | full | {n} | {full_macs / 1e6:.1f}M | {full_run / 1e6:.1f}M | '
                     f'{full_ms:.2f} | 1.00 |')
        for r in args.radii:
            def local(r=r):
                return local_window_attn(q, k, v, (side, side), r, args.shape, G, backend=args.backend)
            with torch.no_grad():
                run_macs = executed_macs(local)
            ms = timed(run(local), args.reps, device)
            win = window_attention_macs(side, side, r, d, h, args.shape, num_global=G) * B
            keys = neighbourhood_size(side, side, r, args.shape) / (side * side) + G
            lines.append(f'| | | r={r:g} | {keys:.0f} | {win / 1e6:.1f}M ({100 * win / full_macs:.0f}%) | '
                         f'{run_macs / 1e6:.1f}M | {ms:.2f} | {full_ms / ms:.2f} |')
        print('\n'.join(lines[-1 - len(args.radii):]), flush=True)
    table = '\n'.join(lines)
    print('\n' + table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')


if __name__ == '__main__':
    main()
