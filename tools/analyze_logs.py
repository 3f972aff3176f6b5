"""Loss and metric curves of mmengine runs as a PNG (and a summary on stdout).

    python tools/analyze_logs.py work_dirs/retinanet_van-b0_fpn_shapes [more runs...] [--keys loss coco/bbox_mAP]
                                 [--out curves.png]

A run is a work dir (its newest ``*/vis_data/scalars.json``) or a ``scalars.json`` / ``<timestamp>.json`` file
written by mmengine's LocalVisBackend. Without ``--keys``: every training key with 'loss' in its name, and every
validation metric. Training values are plotted against the iteration, validation metrics against their step
(epoch for epoch-based loops, iteration otherwise).
"""
import argparse
import glob
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Tuple

_TRAIN_MARKERS = ('lr', 'loss', 'data_time', 'time', 'grad_norm', 'memory')


def find_log(run: str) -> str:
    if osp.isfile(run):
        return run
    candidates = sorted(glob.glob(osp.join(run, '*', 'vis_data', 'scalars.json')))
    if not candidates:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {run}')
    return candidates[-1]


def read_log(path: str) -> Tuple[Dict[str, List[Tuple[float, float]]], Dict[str, List[Tuple[float, float]]]]:
    """(train, val): key -> [(step, value)]. A line with 'lr' or 'loss' is a training line."""
    train, val = defaultdict(list), defaultdict(list)
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            row = json.loads(line)
            step = row.get('iter', row.get('step'))
            is_train = any(k in row for k in ('lr', 'loss', 'base_lr'))
            for k, v in row.items():
                if k in ('iter', 'step', 'epoch') or not isinstance(v, (int, float)):
                    continue
                (train if is_train else val)[k].append((step, float(v)))
    return dict(train), dict(val)


def default_keys(train, val) -> List[str]:
    keys = [k for k in train if 'loss' in k]
    keys += [k for k in val if not any(k.endswith(m) for m in ('time', 'data_time'))]
    return keys


def plot(runs: List[str], keys: List[str], out: str, title: str = None) -> str:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    logs = [(r, *read_log(find_log(r))) for r in runs]
    if not keys:
        keys = []
        for _, train, val in logs:
            keys += [k for k in default_keys(train, val) if k not in keys]
    if not keys:
        raise SystemExit('nothing to plot')
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.6 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        for run, train, val in logs:
            series = train.get(key) or val.get(key)
            if not series:
                continue
            xs, ys = zip(*series)
            label = osp.basename(osp.normpath(run))
            ax.plot(xs, ys, marker='o' if key in val else None, markersize=3, label=label)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel('iteration' if any(key in t for _, t, _v in logs) else 'validation step')
        ax.grid(alpha=0.3)
        if len(runs) > 1:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def summary(runs: List[str]) -> List[str]:
    lines = []
    for r in runs:
        train, val = read_log(find_log(r))
        parts = [osp.basename(osp.normpath(r))]
        if 'loss' in train:
            first, last = train['loss'][0][1], train['loss'][-1][1]
            parts.append(f'loss {first:.4f} -> {last:.4f} ({len(train["loss"])} points)')
        for k, series in val.items():
            if not k.endswith('time'):
                parts.append(f'{k} last {series[-1][1]:.4g} best {max(v for _, v in series):.4g}')
        lines.append('  '.join(parts))
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('runs', nargs='+', help='work dirs or scalars.json files')
    p.add_argument('--keys', nargs='+', default=None)
    p.add_argument('--out', default=None, help='PNG path (default <first run>/curves.png)')
    p.add_argument('--title', default=None)
    args = p.parse_args(argv)
    out = args.out or osp.join(args.runs[0] if osp.isdir(args.runs[0]) else osp.dirname(args.runs[0]), 'curves.png')
    plot(args.runs, args.keys, out, args.title)
    print('\n'.join(summary(args.runs)))
    print(f'curves: {out}')
    return out


if __name__ == '__main__':
    main()
