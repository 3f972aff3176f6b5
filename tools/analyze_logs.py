"""Loss and metric curves of mmengine runs as a PNG (and a summary on stdout).

    python tools/analyze_logs.py work_dirs/retinanet_van-b0_fpn_shapes [more runs...] [--keys loss coco/bbox_mAP]
                                 [--out curves.png]

A run is a work dir (its newest ``*/vis_data/scalars.json``) or a ``scalars.json`` / ``<timestamp>.json`` file
written by mmengine's LocalVisBackend. Without ``--keys``: one panel with every training key that has 'loss' in its
name, one with the main validation metrics (top-1, box/mask mAP and mAP@50, mIoU, ...); with ``--keys``, one
panel per key. Training values are plotted against the iteration, validation metrics against their step
(epoch for epoch-based loops, iteration otherwise).
"""
import argparse
import glob
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Tuple

_TRAIN_MARKERS = ('lr', 'loss', 'data_time', 'time', 'grad_norm', 'memory')


def find_log(run: str) -> List[str]:
    """The scalars files of a run, oldest first (a resumed run adds a new timestamped folder)."""
    if osp.isfile(run):
        return [run]
    candidates = sorted(glob.glob(osp.join(run, '*', 'vis_data', 'scalars.json')))
    if not candidates:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {run}')
    return candidates


def read_log(paths) -> Tuple[Dict[str, List[Tuple[float, float]]], Dict[str, List[Tuple[float, float]]]]:
    """(train, val): key -> [(step, value)], over the files in order; a step logged again (after a resume)
    replaces the earlier value. A line with 'lr' or 'loss' is a training line."""
    train, val = defaultdict(dict), defaultdict(dict)
    for path in [paths] if isinstance(paths, str) else paths:
        _read_one(path, train, val)
    return ({k: sorted(v.items()) for k, v in train.items()}, {k: sorted(v.items()) for k, v in val.items()})


def _read_one(path: str, train, val):
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
                (train if is_train else val)[k][step] = float(v)


_PRIMARY = ('top1', 'top5', 'bbox_mAP', 'bbox_mAP_50', 'segm_mAP', 'segm_mAP_50', 'mIoU', 'mAcc', 'aAcc', 'mse', 'mae')


def default_groups(train, val) -> List[Tuple[str, List[str]]]:
    """Panels: all training losses together, then the main validation metrics together."""
    groups = []
    losses = [k for k in train if 'loss' in k]
    if losses:
        groups.append(('training losses', losses))
    metrics = [k for k in val if k.split('/')[-1] in _PRIMARY and any(v >= 0 for _, v in val[k])]
    if not metrics:
        metrics = [k for k in val if not k.endswith('time')]
    if metrics:
        groups.append(('validation metrics', metrics))
    return groups


def plot(runs: List[str], keys: List[str], out: str, title: str = None) -> str:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    logs = [(r, *read_log(find_log(r))) for r in runs]
    if keys:
        groups = [(k, [k]) for k in keys]
    else:
        groups = []
        for _, train, val in logs:
            for name, ks in default_groups(train, val):
                old = next((g for g in groups if g[0] == name), None)
                if old is None:
                    groups.append((name, list(ks)))
                else:
                    old[1].extend(k for k in ks if k not in old[1])
    if not groups:
        raise SystemExit('nothing to plot')
    fig, axes = plt.subplots(len(groups), 1, figsize=(7, 3.0 * len(groups)), squeeze=False)
    for ax, (name, ks) in zip(axes[:, 0], groups):
        is_val = False
        for run, train, val in logs:
            for key in ks:
                series = train.get(key) or val.get(key)
                if not series:
                    continue
                is_val = is_val or key in val
                xs, ys = zip(*series)
                label = key if len(runs) == 1 else f'{osp.basename(osp.normpath(run))}: {key}'
                ax.plot(xs, ys, marker='o' if key in val else None, markersize=3, label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel('validation step (epoch or iteration)' if is_val else 'iteration')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, 0.96))
    else:
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
