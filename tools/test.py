"""Evaluate a checkpoint with a config's test dataloader and metric (top-1, COCO mAP, mIoU, ...).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out metrics.json] [--amp]
                                           [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
    bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [args...]

Prints the metrics as one JSON line (``metrics: {...}``) and writes them to ``--out`` (default
``WORK_DIR/test_metrics.json``). The checkpoint is read with ``weights_only=True`` (vizattn.mm.checkpoint): an
mmengine checkpoint, or a file that only holds a state_dict.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--work-dir')
    p.add_argument('--out', help='metrics JSON (default WORK_DIR/test_metrics.json)')
    p.add_argument('--amp', action='store_true', help='autocast the forward pass (fp16 GPU / bf16 CPU)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = p.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _jsonable(metrics: dict) -> dict:
    out = {}
    for k, v in metrics.items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            out[k] = str(v)
    return out


def main(argv=None):
    args = parse_args(argv)
    import vizattn.mm  # noqa: F401
    from mmengine.dist import get_rank
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    from train import close_distributed, init_cpu_distributed, setup_cfg

    cfg = setup_cfg(Config.fromfile(args.config), args)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.amp:
        cfg.test_cfg = dict(cfg.get('test_cfg') or dict(type='TestLoop'), fp16=True)
    init_cpu_distributed(args.launcher)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    metrics = _jsonable(runner.test())
    if get_rank() == 0:
        out = args.out or osp.join(cfg.work_dir, 'test_metrics.json')
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        with open(out, 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint, metrics=metrics), f, indent=2)
        print('metrics: ' + json.dumps(metrics), flush=True)
    close_distributed()
    return metrics


if __name__ == '__main__':
    main()
