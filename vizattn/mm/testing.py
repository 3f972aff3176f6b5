"""Hooks for fault-tolerance and distributed checks (used by tests/test_mm_*.py; usable for drills).

- ``RecordLossHook``: appends ``{"iter": i, "loss": ...}`` per training iteration to ``WORK_DIR/losses_rank{R}.jsonl``
  (every rank: mmengine's logger only shows rank 0's loss).
- ``KillAtIterHook``: SIGKILLs its own process after iteration ``kill_at`` (1-based), on one rank, as a crash
  would: no cleanup, no final checkpoint.
"""
import json
import os
import os.path as osp
import signal

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

__all__ = ['RecordLossHook', 'KillAtIterHook']


@HOOKS.register_module()
class RecordLossHook(Hook):
    priority = 'LOWEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if not outputs:
            return
        loss = {k: float(v) for k, v in outputs.items() if 'loss' in k}
        path = osp.join(runner.work_dir, f'losses_rank{get_rank()}.jsonl')
        with open(path, 'a') as f:
            f.write(json.dumps(dict(iter=runner.iter + 1, **loss)) + '\n')


@HOOKS.register_module()
class KillAtIterHook(Hook):
    priority = 'LOWEST'

    def __init__(self, kill_at: int, rank: int = 0):
        self.kill_at = kill_at
        self.rank = rank

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.kill_at and get_rank() == self.rank:
            os.kill(os.getpid(), signal.SIGKILL)
