"""Throughput and peak memory of a model or of the BRA op, forward and forward+backward, CPU or CUDA.

    python tools/benchmark.py --model biformer_s --batch-size 8 --img-size 224
    python tools/benchmark.py --model biformer_s --official /tmp/official/BiFormer      # side by side
    python tools/benchmark.py --model litv2_s --batch-size 1,8 --official /tmp/official/LITv2
    python tools/benchmark.py --op bra --img-size 1024 --n-win 16 --official /tmp/official/BiFormer

Every case runs in a fresh subprocess so that its peak memory is its own: on CUDA the allocator's peak, on CPU
the peak resident set over what the process held before the first pass. Prints a table and writes JSON
(--json). ``--official`` points at a checkout of the model's official repository (never vendored here;
tools/official_models.py lists the models it knows and what it stubs); both sides then run the same weights,
the official model's seed-0 init, which ours loads through its original-checkpoint path.
"""
import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from official_models import OFFICIAL, build_official, import_biformer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BiFormer-S's BRA stages (dim, heads, topk, stride) for the op benchmark
BRA_STAGES = [(64, 2, 1, 4), (128, 4, 4, 8), (256, 8, 16, 16)]


def _export_official_weights(case, path):
    """Write the official model's seed-0 weights, in its own layout, for both sides of a model comparison."""
    torch.manual_seed(0)
    torch.save(build_official(case['model'], case['official']).state_dict(), path)


def _build(case):
    """(module, input) for one case."""
    dev = case['device']
    if case['kind'] == 'model':
        # With --official both sides run the same weights (the official model's seed-0 init; ours loads that
        # file through its original-checkpoint path): CPU speed depends on the values (denormals), so two
        # independent random inits are not a fair comparison.
        weights = case.get('weights')
        if case['impl'] == 'official':
            model = build_official(case['model'], case['official'])
            model.load_state_dict(torch.load(weights))
        else:
            import timm
            import vizattn  # noqa: F401
            kwargs = dict(pretrained=True, pretrained_cfg_overlay=dict(file=weights)) if weights else {}
            if case.get('backend'):
                kwargs['attn_backend'] = case['backend']
            model = timm.create_model(case['model'], **kwargs)
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


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0), so that building the model does not count."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _rss_mb(key: str) -> float:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def _peak_mb(device):
    if device.startswith('cuda'):
        return torch.cuda.max_memory_allocated() / 2 ** 20
    if os.path.exists('/proc/self/status'):
        return _rss_mb('VmHWM')
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

    # The peak is taken over warm-up and timed passes, above what the process held before them (on CPU the
    # kernel's peak-RSS mark is reset after the model is built; where that is impossible the baseline is the
    # peak so far).
    cuda = case['device'].startswith('cuda')
    gc.collect()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2 ** 20
    elif _reset_peak_rss():
        base = _rss_mb('VmRSS')
    else:
        base = _peak_mb(case['device'])
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


def run_paired(case):
    """Ours and the official model in one process, same weights, timed step by step in ABBA order.

    On a shared machine the speed drifts by tens of percent over minutes; back-to-back pairs see the same
    conditions, so the per-round ratio is a far steadier estimate of relative speed than separate processes.
    """
    torch.set_num_threads(case['threads'])
    # ours first: the official VAN file re-registers timm names when imported
    sides = {impl: _build(dict(case, impl=impl))[0] for impl in ('vizattn', 'official')}
    torch.manual_seed(0)
    x = torch.randn(case['batch_size'], 3, case['img_size'], case['img_size'])
    train = case['mode'] == 'fwd+bwd'

    def step(module):
        t0 = time.perf_counter()
        if train:
            module(x).float().mean().backward()
        else:
            with torch.no_grad():
                module(x)
        return time.perf_counter() - t0

    for m in sides.values():
        m.train(train)
        step(m)  # warm-up
    times = {k: [] for k in sides}
    ratios = []
    for r in range(case['rounds']):
        order = ('vizattn', 'official') if r % 2 == 0 else ('official', 'vizattn')
        t = {k: step(sides[k]) for k in order}
        for k in t:
            times[k].append(t[k])
        ratios.append(t['official'] / t['vizattn'])
    ratios.sort()
    n = len(ratios)
    return dict(case, paired=True, seconds={k: _median(v) for k, v in times.items()},
                speedup_median=ratios[n // 2], speedup_q1=ratios[n // 4], speedup_q3=ratios[(3 * n) // 4])


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def _run_child(case):
    flag = '--_paired' if case.get('rounds') else '--_case'
    proc = subprocess.run([sys.executable, __file__, flag, json.dumps(case)], capture_output=True, text=True)
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
    p.add_argument('--paired', type=int, default=0, metavar='ROUNDS',
                   help='with --model and --official: also time both in one process, alternating step by step '
                        '(ROUNDS pairs per batch size and mode), and report the per-pair speed-up')
    p.add_argument('--_case', help=argparse.SUPPRESS)
    p.add_argument('--_paired', help=argparse.SUPPRESS)
    p.add_argument('--_export', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._case:
        print('RESULT ' + json.dumps(run_case(json.loads(args._case))))
        return
    if args._paired:
        print('RESULT ' + json.dumps(run_paired(json.loads(args._paired))))
        return
    if args._export:
        case = json.loads(args._export)
        _export_official_weights(case, case['weights'])
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
    tmp = tempfile.TemporaryDirectory()
    if args.official and args.model:
        common['weights'] = os.path.join(tmp.name, 'official_seed0.pth')
        proc = subprocess.run([sys.executable, __file__, '--_export', json.dumps(dict(common, model=args.model))],
                              capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f'building the official {args.model} failed:\n{proc.stderr[-3000:]}')
    for target in targets:
        for mode in args.modes.split(','):
            # Implementations alternate, one fresh process per repeat, so that a load change on a shared
            # machine hits them alike; each figure is the median over repeats.
            runs = {impl: [] for impl in impls}
            for _ in range(args.repeats):
                for impl, backend in impls:
                    case = dict(common, **target, mode=mode, impl=impl, backend=backend)
                    runs[(impl, backend)].append(_run_child(case))
            what = (target.get('model') or f"bra stage {target['stage']}") + f" b{target['batch_size']}"
            for (impl, backend), rs in runs.items():
                if not rs:  # --repeats 0: paired timing only
                    continue
                ok = [r for r in rs if 'error' not in r]
                res = rs[-1] if not ok else dict(ok[0], seconds=_median([r['seconds'] for r in ok]),
                                                 peak_mb=_median([r['peak_mb'] for r in ok]), repeats=len(ok))
                if ok:
                    res['items_per_s'] = res['batch_size'] / res['seconds']
                results.append(res)
                label = impl + (f'[{backend}]' if backend else '')
                if 'error' in res:
                    print(f"{what:20s} {mode:8s} {label:20s} ERROR {res['error']}", flush=True)
                else:
                    print(f"{what:20s} {mode:8s} {label:20s} {res['items_per_s']:9.2f} items/s "
                          f"{res['seconds'] * 1e3:9.1f} ms  peak +{res['peak_mb']:8.1f} MB", flush=True)
            if args.paired and args.official and target['kind'] == 'model':
                res = _run_child(dict(common, **target, mode=mode, impl='paired', rounds=args.paired))
                results.append(res)
                if 'error' in res:
                    print(f"{what:20s} {mode:8s} {'paired':20s} ERROR {res['error']}", flush=True)
                else:
                    sec = res['seconds']
                    print(f"{what:20s} {mode:8s} {'paired':20s} ours {sec['vizattn'] * 1e3:.1f} ms, official "
                          f"{sec['official'] * 1e3:.1f} ms: speed-up {res['speedup_median']:.3f}x "
                          f"(quartiles {res['speedup_q1']:.3f}-{res['speedup_q3']:.3f}, {args.paired} pairs)",
                          flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
