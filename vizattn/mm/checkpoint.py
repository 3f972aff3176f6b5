"""Checkpoints that load safely and are written atomically in mmengine.

torch >= 2.6 unpickles with ``weights_only=True`` by default, and mmengine 0.10.7 saves types that loader
refuses (its ``HistoryBuffer`` and the methods in it, numpy arrays, ``collections.Counter``), so its own resume,
``load_from`` and ``load_checkpoint`` fail on the files it writes. :func:`patch_mmengine` (run by
``import vizattn.mm``) keeps ``weights_only`` on and allow-lists exactly those types around every mmengine
checkpoint read; a file that would need anything else (arbitrary code) is refused with
:class:`~vizattn.models._checkpoint.CheckpointError` naming the global, never executed. It also makes
``save_checkpoint`` write to a temporary file and rename it (a run killed while saving leaves the previous
checkpoint intact), and turns truncated/corrupt/missing files into one clear error.
"""
import collections
import os
import os.path as osp
import pickle
import re
import tempfile
from typing import Any, Callable, List, Optional

import numpy as np
import torch

from ..models._checkpoint import SAFE_GLOBALS, CheckpointError

__all__ = ['MM_SAFE_GLOBALS', 'safe_globals', 'safe_torch_load', 'atomic_torch_save', 'patch_mmengine',
           'find_latest_checkpoint']

_np_core = np._core if hasattr(np, '_core') else np.core


def _history_buffer_getattr(obj: Any, name: str):
    """Stand-in for ``builtins.getattr`` in mmengine checkpoints.

    ``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer, 'mean')``; allowing the real
    ``getattr`` would let a pickle reach any attribute of any allowed object. This resolves only those methods.
    """
    from mmengine.logging import HistoryBuffer
    allowed = set(getattr(HistoryBuffer, '_statistics_methods', {})) | {'min', 'max', 'mean', 'current'}
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while unpickling: only HistoryBuffer statistics are allowed')


def _mm_globals() -> List:
    out = list(SAFE_GLOBALS)
    out += [collections.Counter, collections.OrderedDict, collections.defaultdict, np.ndarray,
            _np_core.multiarray._reconstruct, np.dtype,
            (_history_buffer_getattr, 'builtins.getattr'), (_history_buffer_getattr, '__builtin__.getattr')]
    out += [type(np.dtype(t)) for t in ('float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64',
                                        'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'complex64', 'complex128')]
    try:
        from mmengine.logging import HistoryBuffer
        out.append(HistoryBuffer)
    except ImportError:  # mmengine is optional for vizattn
        pass
    try:
        from mmengine.config import ConfigDict
        out.append(ConfigDict)
    except ImportError:
        pass
    return out


MM_SAFE_GLOBALS = _mm_globals()


def safe_globals():
    """Context manager: ``torch.load(weights_only=True)`` also accepts what mmengine checkpoints hold."""
    return torch.serialization.safe_globals(MM_SAFE_GLOBALS)


def _explain(path: str, err: BaseException) -> CheckpointError:
    msg = str(err)
    m = re.search(r'[Uu]nsupported (?:global: )?GLOBAL ([\w.]+)', msg)
    if m or 'weights only load failed' in msg.lower():
        what = m.group(1).strip() if m else 'a type outside the allow-list'
        return CheckpointError(
            f'refusing to load {path}: unpickling it would need {what}, i.e. code outside the weights '
            f'(the file was not executed). If you trust it, re-save its tensors, e.g. '
            f'`python tools/convert_checkpoint.py`, or load it yourself with torch.load(weights_only=False).')
    return CheckpointError(f'cannot read checkpoint {path} (truncated, corrupt or not a checkpoint): '
                           f'{type(err).__name__}: {msg.splitlines()[0] if msg else ""}')


def safe_torch_load(path, map_location='cpu'):
    """``torch.load`` with ``weights_only=True`` and the mmengine allow-list; clear errors."""
    name = path if isinstance(path, (str, os.PathLike)) else getattr(path, 'name', '<buffer>')
    if isinstance(path, (str, os.PathLike)) and not osp.isfile(path):
        raise CheckpointError(f'checkpoint file not found: {path}')
    try:
        with safe_globals():
            return torch.load(path, map_location=map_location, weights_only=True)
    except CheckpointError:
        raise
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, ValueError, AttributeError, KeyError) as e:
        raise _explain(str(name), e) from e


def atomic_torch_save(obj, path: str):
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(path) + '.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def _atomic_write_text(text: str, path: str):
    folder = osp.dirname(osp.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(path) + '.', suffix='.tmp', dir=folder)
    with os.fdopen(fd, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def find_latest_checkpoint(path: str) -> Optional[str]:
    """mmengine's ``find_latest_checkpoint`` (the ``last_checkpoint`` file), checked: a recorded file that no
    longer exists falls back to the newest ``iter_*.pth`` / ``epoch_*.pth`` in ``path`` (with a warning)."""
    from mmengine.logging import print_log
    save_file = osp.join(path, 'last_checkpoint')
    last = None
    if osp.exists(save_file):
        with open(save_file) as f:
            last = f.read().strip() or None
    if last is not None and osp.isfile(last):
        return last
    found = []
    if osp.isdir(path):
        for name in os.listdir(path):
            m = re.fullmatch(r'(iter|epoch)_(\d+)\.pth', name)
            if m:
                found.append((int(m.group(2)), osp.join(path, name)))
    if last is not None:
        print_log(f'last_checkpoint names {last}, which does not exist; '
                  + (f'resuming from {max(found)[1]} instead' if found else 'no other checkpoint found'),
                  logger='current', level=30)
    elif not found:
        print_log(f'no checkpoint to resume from in {path}: starting from scratch', logger='current')
    return max(found)[1] if found else None


_PATCHED = False


def patch_mmengine():
    """Safe loading, atomic saving and clear checkpoint errors for every mmengine checkpoint path (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    from mmengine.runner import checkpoint as mm_ckpt
    from mmengine.runner import runner as mm_runner
    from mmengine.hooks import checkpoint_hook as mm_hook

    loader = mm_ckpt.CheckpointLoader
    orig_load: Callable = loader.load_checkpoint.__func__

    def load_checkpoint(cls, filename, map_location=None, logger='current'):
        local = isinstance(filename, str) and '://' not in filename
        if local and not osp.isfile(osp.expanduser(filename)):
            raise CheckpointError(f'checkpoint file not found: {filename}')
        try:
            with safe_globals():
                return orig_load(cls, filename, map_location, logger)
        except CheckpointError:
            raise
        except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, ValueError, AttributeError) as e:
            raise _explain(str(filename), e) from e

    loader.load_checkpoint = classmethod(load_checkpoint)

    orig_save = mm_ckpt.save_checkpoint

    def save_checkpoint(checkpoint, filename, file_client_args=None, backend_args=None):
        if isinstance(filename, str) and '://' not in filename and file_client_args is None and (
                backend_args is None or backend_args.get('backend', 'local') == 'local'):
            return atomic_torch_save(checkpoint, filename)
        return orig_save(checkpoint, filename, file_client_args=file_client_args, backend_args=backend_args)

    mm_ckpt.save_checkpoint = save_checkpoint
    mm_runner.save_checkpoint = save_checkpoint
    mm_runner.find_latest_checkpoint = find_latest_checkpoint

    # the hook records the newest checkpoint in work_dir/last_checkpoint: write it atomically too
    from mmengine.fileio.backends import LocalBackend
    orig_put_text = LocalBackend.put_text

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8'):
        if osp.basename(str(filepath)) == 'last_checkpoint':
            return _atomic_write_text(obj, str(filepath))
        return orig_put_text(self, obj, filepath, encoding)

    LocalBackend.put_text = put_text
    del mm_hook
    _PATCHED = True
