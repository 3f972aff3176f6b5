"""Reading checkpoints safely and checking them against a model, for every family's ``checkpoint_filter_fn``.

Original training scripts save more than weights (argparse/yacs configs, numpy scalars). torch loads with
``weights_only=True``; we allow-list those harmless types instead of unpickling arbitrary code.
"""
import argparse
import collections
import os
from typing import Callable, Dict, Iterable, Optional, Sequence

import numpy as np
import torch


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model."""


class _ConfigNode(dict):
    """Stand-in for yacs' CfgNode in checkpoints that pickle their training config (Swin-style scripts).

    It unpickles as a plain OrderedDict: torch's weights_only loader fills only real dicts (SETITEMS).
    """

    def __new__(cls, *args, **kwargs):
        return collections.OrderedDict()


# Types that original checkpoints pickle beside their weights and that carry no code.
SAFE_GLOBALS = [
    argparse.Namespace,
    (_ConfigNode, 'yacs.config.CfgNode'),
    np.dtype,
    np._core.multiarray.scalar if hasattr(np, '_core') else np.core.multiarray.scalar,
    *[type(np.dtype(t)) for t in ('float64', 'float32', 'int64', 'int32', 'bool')],
]

_WRAPPER_KEYS = ('state_dict', 'model', 'module', 'model_state', 'net')
_EMA_KEYS = ('state_dict_ema', 'model_ema')


def safe_globals():
    """Context manager allowing the harmless training-script types in ``torch.load(weights_only=True)``."""
    return torch.serialization.safe_globals(SAFE_GLOBALS)


def load_checkpoint_file(path: str, use_ema: bool = False) -> Dict[str, torch.Tensor]:
    """Load a ``.pth``/``.pth.tar``/``.safetensors`` file to a flat state_dict, with errors that name the file."""
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint file not found: {path}')
    try:
        if path.endswith('.safetensors'):
            from safetensors.torch import load_file
            return load_file(path, device='cpu')
        with safe_globals():
            obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # torch/safetensors raise several types for truncated or foreign files
        raise CheckpointError(f'cannot read checkpoint {path} (truncated, corrupt or not a checkpoint): {e}') from e
    return unwrap_state_dict(obj, use_ema=use_ema)


def unwrap_state_dict(obj, use_ema: bool = False) -> Dict[str, torch.Tensor]:
    """Return the weights inside an original checkpoint dict ({'model': ...}, {'state_dict': ...}, EMA)."""
    keys = (_EMA_KEYS + _WRAPPER_KEYS) if use_ema else _WRAPPER_KEYS
    while isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((obj[k] for k in keys if isinstance(obj.get(k), dict)), None)
        if inner is None:
            raise CheckpointError(f'no state_dict found in checkpoint with top-level keys {sorted(obj)[:10]}')
        obj = inner
    if not isinstance(obj, dict):
        raise CheckpointError(f'checkpoint holds a {type(obj).__name__}, not a state_dict')
    prefixes = ('module.', '_orig_mod.')
    out = {}
    for k, v in obj.items():
        for p in prefixes:
            if k.startswith(p):
                k = k[len(p):]
        out[k] = v
    return out


def _short(names: Sequence[str], n: int = 12) -> str:
    names = sorted(names)
    more = f' ... (+{len(names) - n} more)' if len(names) > n else ''
    return ', '.join(names[:n]) + more


def check_state_dict(
        state_dict: Dict[str, torch.Tensor],
        model: torch.nn.Module,
        optional: Iterable[str] = (),
) -> Dict[str, torch.Tensor]:
    """Raise CheckpointError unless ``state_dict`` fits ``model`` exactly.

    The classifier and first conv may differ in shape: timm adapts those after the filter
    (``num_classes``/``in_chans`` changes). ``optional`` lists model keys that may be absent
    (buffers the model recomputes).
    """
    cfg = getattr(model, 'pretrained_cfg', None) or {}
    adaptable = tuple(p for p in (cfg.get('classifier'), cfg.get('first_conv')) if p)
    adaptable = tuple(p for name in adaptable for p in ((name,) if isinstance(name, str) else name))
    target = model.state_dict()
    optional = set(optional)
    missing = [k for k in target if k not in state_dict and k not in optional]
    unexpected = [k for k in state_dict if k not in target]
    mismatched = [
        f'{k} {tuple(state_dict[k].shape)} vs model {tuple(target[k].shape)}'
        for k in state_dict if k in target and state_dict[k].shape != target[k].shape
        and not k.startswith(tuple(p + '.' for p in adaptable))
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f'missing {len(missing)} keys: {_short(missing)}')
        if unexpected:
            parts.append(f'unexpected {len(unexpected)} keys: {_short(unexpected)}')
        if mismatched:
            parts.append(f'{len(mismatched)} shape mismatches: {_short(mismatched, 6)}')
        name = cfg.get('architecture', type(model).__name__)
        raise CheckpointError(f'checkpoint does not fit {name} (wrong variant or file?): ' + '; '.join(parts))
    return state_dict


def remap_keys(
        state_dict: Dict[str, torch.Tensor],
        rename: Callable[[str], Optional[str]],
) -> Dict[str, torch.Tensor]:
    """Apply ``rename`` to every key; a ``None`` result drops the key (recomputed buffers)."""
    out = {}
    for k, v in state_dict.items():
        new = rename(k)
        if new is not None:
            out[new] = v
    return out
