"""Throughput and peak memory of a model or of the BRA op, forward and forward+backward, CPU or CUDA.

    python tools/benchmark.py --model biformer_s --batch-size 8 --img-size 224
    python tools/benchmark.py --model biformer_s --official /tmp/official/BiFormer      # side by side
    python tools/benchmark.py --model litv2_s --batch-size 1,8 --official /tmp/official/LITv2
    python tools/benchmark.py --op bra --img-size 1024 --n-win 16 --official /tmp/official/BiFormer

Every case runs in a fresh subprocess so that its peak memory is its own: on CUDA the allocator's peak, on CPU
the growth of the peak resident set over what the process held before the first pass. Prints a table and
writes JSON (--json). ``--official`` points at a checkout of the model's official repository (never vendored
here; tools/official_models.py lists the models it knows and what it stubs).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from official_models import OFFICIAL, build_official, import_biformer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BiFormer-S's BRA stages (dim, heads, topk, stride) for the op benchmark
BRA_STAGES = [(64, 2, 1, 4), (128, 4, 4, 8), (256, 8, 16, 16)]


def _build(case):
    """(module, input) for one case."""
    dev = case['device']
    if case['kind'] == 'model':
        if case['impl'] == 'official':
            model = build_official(case['model'], case['official'])
        else:
            import timm
            import vizattn  # noqa: F401
            model = timm.create_model(case['model'], attn_backend=case.get('backend'))
        x = torch.randn(case['batch_size'], 3, case['img_size'], case['img_size'])
        return model.to(dev), x.to(dev)
    dim, heads, topk, stride = BRA_STAGES[case['stage']]
    side = case['img_size'] // stride
    if case['impl'] == 'official':
        import_biformer(case['official'])
        from ops.bra_legacy import BiLevelRoutingAttention
        module = BiLevelRoutingAttention(dim, num_heads=heads, n_win=case['n_win'], qk_dim=dim, topk=topk,
                                         side_dwconv=5, auto_pad=True)
    else:
        sys.path.insert(0, ROOT)
        from vizattn.models.biformer import BiLevelRoutingAttention
        module = BiLevelRoutingAttention(dim, heads, case['n_win'], topk, attn_backend=case.get('backend'))
    x = torch.randn(case['batch_size'], side, side, dim)
    return module.to(dev), x.to(dev)


def _peak_mb(device):
    if device.startswith('cuda'):
        return torch.cuda.max_memory_allocated() / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case):
    torch.manual_seed(0)
    torch.set_num_threads(case['threads'])
    module, x = _build(case)
    train = case['mode'] == 'fwd+bwd'
    module.train(train)
    sync = torch.cuda.synchronize if case['device'].startswith('cuda') else (lambda: None)

    def step():
        if train:
            module(x.requires_grad_(case['kind'] == 'op')).float().mean().backward()
        else:
            with torch.no_grad():
                module(x)

    # The peak is taken over warm-up and timed passes, above what the process held before them (the peak RSS
    # on CPU is monotonic, so the baseline must be read before the first pass).
    cuda = case['device'].startswith('cuda')
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated() / 2 ** 20 if cuda else _peak_mb(case['device'])
    step()  # warm-up (allocations, kernel selection)
    sync()
    times = []
    for _ in range(case['iters']):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    return dict(case, seconds=median, items_per_s=case['batch_size'] / median,
                peak_mb=_peak_mb(case['device']) - base)


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def _run_child(case):
    proc = subprocess.run([sys.executable, __file__, '--_case', json.dumps(case)], capture_output=True, text=True)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
    if proc.returncode or not line:
        return dict(case, error=(proc.stderr.strip().splitlines() or ['failed'])[-1])
    return json.loads(line[-1][7:])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', help='a vizattn/timm model name')
    p.add_argument('--op', choices=['bra'], help='benchmark the op on BiFormer-S stage shapes instead')
    p.add_argument('--stages', default='0,1,2', help='with --op bra: which BRA stages')
    p.add_argument('--batch-size', default='8', help='one or more, comma-separated')
    p.add_argument('--img-size', type=int, default=224)
    p.add_argument('--n-win', type=int, default=7)
    p.add_argument('--modes', default='fwd,fwd+bwd')
    p.add_argument('--backends', default='auto', help="comma-separated vizattn backends ('auto' = default choice)")
    p.add_argument('--official', help="path of a checkout of the model's official repository, to measure side by "
                                      'side (BiFormer for --op bra)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--threads', type=int, default=torch.get_num_threads())
    p.add_argument('--iters', type=int, default=5, help='timed passes per process (after one warm-up)')
    p.add_argument('--repeats', type=int, default=3, help='processes per case, alternating implementations')
    p.add_argument('--json', help='write the results here')
    p.add_argument('--_case', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._case:
        print('RESULT ' + json.dumps(run_case(json.loads(args._case))))
        return
    if not (args.model or args.op):
        p.error('give --model or --op')
    if args.official and args.model and args.model not in OFFICIAL:
        p.error(f'--official: no official counterpart known for {args.model!r}; known: {", ".join(OFFICIAL)}')
    common = dict(img_size=args.img_size, device=args.device, threads=args.threads,
                  iters=args.iters, n_win=args.n_win, official=args.official)
    impls = [('vizattn', None if b == 'auto' else b) for b in args.backends.split(',')]
    if args.official:
        impls.append(('official', None))
    targets = [dict(what, batch_size=int(b)) for b in args.batch_size.split(',')
               for what in ([dict(kind='model', model=args.model)] if args.model else
                            [dict(kind='op', op=args.op, stage=int(s)) for s in args.stages.split(',')])]
    results = []
    for target in targets:
        for mode in args.modes.split(','):
            # Implementations alternate, one fresh process per repeat, so that a load change on a shared
            # machine hits them alike; each figure is the median over repeats.
            runs = {impl: [] for impl in impls}
            for _ in range(args.repeats):
                for impl, backend in impls:
                    case = dict(common, **target, mode=mode, impl=impl, backend=backend)
                    runs[(impl, backend)].append(_run_child(case))
            for (impl, backend), rs in runs.items():
                ok = [r for r in rs if 'error' not in r]
                res = rs[-1] if not ok else dict(ok[0], seconds=_median([r['seconds'] for r in ok]),
                                                 peak_mb=_median([r['peak_mb'] for r in ok]), repeats=len(ok))
                if ok:
                    res['items_per_s'] = res['batch_size'] / res['seconds']
                results.append(res)
                what = (target.get('model') or f"bra stage {target['stage']}") + f" b{target['batch_size']}"
                label = impl + (f'[{backend}]' if backend else '')
                if 'error' in res:
                    print(f"{what:20s} {mode:8s} {label:20s} ERROR {res['error']}", flush=True)
                else:
                    print(f"{what:20s} {mode:8s} {label:20s} {res['items_per_s']:9.2f} items/s "
                          f"{res['seconds'] * 1e3:9.1f} ms  peak +{res['peak_mb']:8.1f} MB", flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
