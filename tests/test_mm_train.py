"""tools/train.py end to end on tiny generated data: a run SIGKILLed mid-training continues with --resume and its
following losses match an uninterrupted run; two gloo processes (torchrun) match one process with the doubled
batch; missing/corrupt checkpoints give clear errors; tools/test.py evaluates the result."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch

from vizattn.mm.checkpoint import safe_torch_load

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PY = sys.executable
ITERS = 8

CONFIG = '''
_base_ = [{runtime!r}]
custom_imports = dict(imports=['vizattn.mm', 'vizattn.mm.testing'], allow_failed_imports=False)
model = dict(type='TimmClassifier', model_name='agent_pvt_t', num_classes=4, img_size=32, drop_path_rate=0.0,
             data_preprocessor=dict(type='ClsDataPreprocessor', mean=[123.675, 116.28, 103.53],
                                    std=[58.395, 57.12, 57.375], bgr_to_rgb=True))
train_dataloader = dict(
    batch_size={batch}, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='ImageFolderDataset', data_root={data!r}, data_prefix=dict(img_path='train'),
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='PackClsInputs')]))
val_dataloader = dict(
    batch_size=8, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ImageFolderDataset', data_root={data!r}, data_prefix=dict(img_path='val'),
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='PackClsInputs')]))
val_evaluator = dict(type='ClsAccuracy', topk=(1,))
val_cfg = dict(type='ValLoop')
test_dataloader = val_dataloader
test_evaluator = val_evaluator
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end={iters})]
train_cfg = dict(type='IterBasedTrainLoop', max_iters={iters}, val_interval=1000)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=4, save_best=None,
                                     max_keep_ckpts=-1),
                     logger=dict(type='LoggerHook', interval=1))
log_processor = dict(by_epoch=False)
custom_hooks = [dict(type='RecordLossHook'){extra}]
randomness = dict(seed=0, deterministic=True)
'''


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from vizattn.data import write_classification
    root = str(tmp_path_factory.mktemp('shapes'))
    write_classification(root, 48, 8, size=32)
    return root


def _config(tmp_path, data_root, name='cfg.py', batch=4, extra=''):
    path = tmp_path / name
    path.write_text(CONFIG.format(runtime=osp.join(ROOT, 'configs/_base_/runtime/cls.py'), data=data_root,
                                  batch=batch, iters=ITERS, extra=extra))
    return str(path)


def _env():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''), OMP_NUM_THREADS='1')
    env.pop('WORLD_SIZE', None)
    return env


def _run(args, check=True):
    proc = subprocess.run([PY] + args, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc


def _losses(work_dir, rank=0):
    with open(osp.join(work_dir, f'losses_rank{rank}.jsonl')) as f:
        rows = [json.loads(line) for line in f]
    return {r['iter']: r['loss'] for r in rows}, [r['iter'] for r in rows]


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory, data_root):
    tmp = tmp_path_factory.mktemp('full')
    work = str(tmp / 'work')
    _run(['tools/train.py', _config(tmp, data_root), '--work-dir', work])
    return work


def test_resume_after_kill_matches_uninterrupted(tmp_path, data_root, uninterrupted):
    cfg = _config(tmp_path, data_root)
    killing = _config(tmp_path, data_root, 'kill.py', extra=", dict(type='KillAtIterHook', kill_at=6)")
    work = str(tmp_path / 'work')
    proc = _run(['tools/train.py', killing, '--work-dir', work], check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert osp.isfile(osp.join(work, 'iter_4.pth')) and not osp.exists(osp.join(work, 'iter_8.pth'))
    assert not [f for f in os.listdir(work) if f.endswith('.tmp')], 'a temporary checkpoint was left behind'
    _run(['tools/train.py', cfg, '--work-dir', work, '--resume'])
    full, _ = _losses(uninterrupted)
    resumed, order = _losses(work)
    assert order == [1, 2, 3, 4, 5, 6, 5, 6, 7, 8]  # killed after 6, continued from the checkpoint at 4
    for i in range(1, ITERS + 1):
        assert resumed[i] == pytest.approx(full[i], rel=1e-5, abs=1e-6), (i, resumed[i], full[i])
    a = safe_torch_load(osp.join(uninterrupted, f'iter_{ITERS}.pth'))
    b = safe_torch_load(osp.join(work, f'iter_{ITERS}.pth'))
    for k, v in a['state_dict'].items():
        torch.testing.assert_close(b['state_dict'][k], v, rtol=1e-5, atol=1e-6)


def test_resume_missing_and_corrupt_checkpoint(tmp_path, data_root, uninterrupted):
    cfg = _config(tmp_path, data_root)
    proc = _run(['tools/train.py', cfg, '--work-dir', str(tmp_path / 'w1'), '--resume',
                 str(tmp_path / 'nope.pth')], check=False)
    assert proc.returncode != 0 and 'checkpoint file not found' in proc.stderr
    broken = tmp_path / 'broken.pth'
    with open(osp.join(uninterrupted, 'iter_4.pth'), 'rb') as f:
        broken.write_bytes(f.read()[:4096])
    proc = _run(['tools/train.py', cfg, '--work-dir', str(tmp_path / 'w2'), '--resume', str(broken)], check=False)
    assert proc.returncode != 0 and 'truncated, corrupt or not a checkpoint' in proc.stderr


def test_test_tool_reports_metrics(tmp_path, data_root, uninterrupted):
    cfg = _config(tmp_path, data_root)
    out = tmp_path / 'metrics.json'
    proc = _run(['tools/test.py', cfg, osp.join(uninterrupted, f'iter_{ITERS}.pth'), '--work-dir',
                 str(tmp_path / 'wt'), '--out', str(out)])
    assert 'metrics: {"accuracy/top1"' in proc.stdout
    metrics = json.loads(out.read_text())['metrics']
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0


def test_two_gloo_processes_match_doubled_batch(tmp_path, data_root):
    single = str(tmp_path / 'single')
    _run(['tools/train.py', _config(tmp_path, data_root, 'single.py', batch=8), '--work-dir', single])
    dist = str(tmp_path / 'dist')
    port = str(29500 + os.getpid() % 1000)
    _run(['-m', 'torch.distributed.run', '--nproc_per_node=2', f'--master_port={port}', 'tools/train.py',
          _config(tmp_path, data_root, 'dist.py', batch=4), '--work-dir', dist, '--launcher', 'pytorch'])
    one, _ = _losses(single)
    r0, _ = _losses(dist, 0)
    r1, _ = _losses(dist, 1)
    assert sorted(one) == sorted(r0) == sorted(r1) == list(range(1, ITERS + 1))
    for i in one:
        assert (r0[i] + r1[i]) / 2 == pytest.approx(one[i], rel=1e-4, abs=1e-5), (i, r0[i], r1[i], one[i])
    a = safe_torch_load(osp.join(single, f'iter_{ITERS}.pth'))['state_dict']
    b = safe_torch_load(osp.join(dist, f'iter_{ITERS}.pth'))['state_dict']
    # Adam divides by sqrt(v): a gradient that is ~0 in both runs can take a step of up to ~lr either way from
    # summation-order noise alone. So: no element apart by more than one step (lr <= 1e-3), and on average the
    # weights agree to float32 accumulation noise.
    diffs = []
    for k, v in a.items():
        torch.testing.assert_close(b[k], v, rtol=1e-3, atol=1e-3)
        diffs.append((b[k].float() - v.float()).abs().flatten())
    assert torch.cat(diffs).mean() < 1e-6
