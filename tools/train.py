"""Train a model from an OpenMMLab config (mmdet, mmseg, vizattn classification, or any mmengine config).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--auto-scale-lr]
                                 [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
    bash tools/dist_train.sh CONFIG NUM_PROCS [args...]      # torchrun; gloo on CPU, nccl on GPUs

- ``--resume`` without a path continues from ``WORK_DIR/last_checkpoint`` (the newest checkpoint); with a path,
  from that file. Checkpoints are written atomically and read with ``weights_only=True`` (vizattn.mm.checkpoint).
- ``--amp``: ``AmpOptimWrapper`` (fp16, dynamic loss scale) on a GPU, bf16 autocast on CPU. A config asking for
  AmpOptimWrapper without a GPU falls back to fp32 with a warning.
- Without a GPU, distributed runs use gloo and DDP without device ids.
- Configs naming ``generated_data`` (the bundled shapes) get their data written on first use.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mmengine.config import Config, DictAction  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='config file')
    p.add_argument('--work-dir', help='where logs and checkpoints go (default ./work_dirs/<config name>)')
    p.add_argument('--resume', nargs='?', type=str, const='auto',
                   help='resume from CKPT, or without a value from the newest checkpoint in the work dir')
    p.add_argument('--amp', action='store_true', help='mixed precision (fp16 on GPU, bf16 autocast on CPU)')
    p.add_argument('--auto-scale-lr', action='store_true', help='scale lr by total batch / base_batch_size')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config keys, e.g. train_cfg.max_iters=100 model.backbone.with_cp=True')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = p.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def setup_cfg(cfg: Config, args) -> Config:
    """Apply the command-line switches shared by train.py and test.py."""
    import torch
    from mmengine.logging import print_log
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if getattr(args, 'work_dir', None):
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if not torch.cuda.is_available():
        if args.launcher != 'none':
            cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
            if cfg.get('model_wrapper_cfg') is None:
                # device_ids=None: mmengine would pass [LOCAL_RANK], which DDP rejects for CPU modules
                cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', broadcast_buffers=False, device_ids=None,
                                             find_unused_parameters=cfg.get('find_unused_parameters', False))
        ow = cfg.get('optim_wrapper')
        if ow is not None and ow.get('type') == 'AmpOptimWrapper' and not getattr(args, 'amp', False):
            print_log('the config asks for AmpOptimWrapper (fp16) but there is no GPU: training in fp32 '
                      '(use --amp for bf16 autocast on CPU)', logger='current', level=30)
            ow.type = 'OptimWrapper'
            ow.pop('loss_scale', None)
    gen = cfg.get('generated_data')
    if gen:
        from vizattn.data import prepare_default_data
        prepare_default_data(gen.get('root', 'data/shapes'), gen.get('tasks', ('cls', 'det', 'seg')))
    return cfg


def init_cpu_distributed(launcher: str):
    """mmengine's init_dist calls torch.cuda.set_device; without a GPU start the gloo group ourselves."""
    import torch
    import torch.distributed as dist
    if launcher == 'pytorch' and not torch.cuda.is_available() and not dist.is_initialized():
        dist.init_process_group(backend='gloo')


def close_distributed():
    """Wait for every rank, then tear the process group down: left to interpreter exit, gloo's threads can
    abort the process ('terminate called without an active exception') after a finished run."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def main(argv=None):
    args = parse_args(argv)
    import torch

    import vizattn.mm  # noqa: F401  (registers modules, safe checkpoint loading)
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    cfg = setup_cfg(Config.fromfile(args.config), args)
    if args.amp:
        ow = cfg.optim_wrapper
        if torch.cuda.is_available():
            if ow.get('type', 'OptimWrapper') != 'AmpOptimWrapper':
                ow.type = 'AmpOptimWrapper'
                ow.loss_scale = 'dynamic'
        else:
            ow.type = 'CPUAutocastOptimWrapper'
            ow.pop('loss_scale', None)
    if args.auto_scale_lr:
        if 'auto_scale_lr' in cfg and 'base_batch_size' in cfg.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError('the config has no auto_scale_lr.base_batch_size to scale from')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    init_cpu_distributed(args.launcher)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    close_distributed()


if __name__ == '__main__':
    main()
