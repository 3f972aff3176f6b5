"""``build_model_with_cfg`` as every vizattn family calls it: safe unpickling and errors that name the file."""
import json
import os
import pickle
from typing import Callable, Dict, Optional

import torch
from timm.models import build_model_with_cfg, get_pretrained_cfg

from ._checkpoint import CheckpointError, safe_globals

try:
    from safetensors import SafetensorError
except ImportError:  # older safetensors
    SafetensorError = OSError

_READ_ERRORS = (RuntimeError, OSError, EOFError, pickle.UnpicklingError, SafetensorError)
_MANIFEST = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         'checkpoints', 'manifest.json')


def released_weights() -> Dict[str, dict]:
    """checkpoints/manifest.json: url, cache file name, sha256 and format of each released checkpoint."""
    path = _MANIFEST
    if not os.path.exists(path):  # installed as a wheel: the folder ships as vizattn.checkpoints
        path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'checkpoints',
                            'manifest.json')
    with open(path) as f:
        return {k: v for k, v in json.load(f).items() if not k.startswith('_')}


def _download_released(variant: str, tag: Optional[str]) -> Optional[str]:
    """Fetch a manifest entry under its own file name (several release URLs share the name 'content')."""
    cfg = get_pretrained_cfg(f'{variant}.{tag}' if tag else variant, allow_unregistered=True)
    entry = released_weights().get(f'{variant}.{cfg.tag}' if cfg is not None and cfg.tag else variant)
    if entry is None or not entry.get('file_name') or entry.get('hf_hub_id'):
        return None  # timm's own download handles the hub
    path = os.path.join(torch.hub.get_dir(), 'checkpoints', entry['file_name'])
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            torch.hub.download_url_to_file(entry['url'], path, hash_prefix=entry.get('sha256'), progress=True)
        except Exception as e:
            raise CheckpointError(
                f'cannot download {variant} weights from {entry["url"]}: {e}. Download the file by hand and pass '
                f'pretrained_cfg_overlay=dict(file=PATH)') from e
    return path


def build_model(model_cls, variant: str, pretrained: bool = False,
                checkpoint_filter_fn: Optional[Callable] = None, **kwargs):
    """Build ``model_cls`` for ``variant``; with ``pretrained`` load weights through ``checkpoint_filter_fn``.

    A local original checkpoint is given as ``pretrained_cfg_overlay=dict(file=PATH)``.
    """
    overlay = dict(kwargs.get('pretrained_cfg_overlay') or {})
    if pretrained and not any(overlay.get(k) for k in ('file', 'state_dict', 'url', 'hf_hub_id')):
        tag = kwargs.get('pretrained_cfg') if isinstance(kwargs.get('pretrained_cfg'), str) else None
        path = _download_released(variant, tag)
        if path:
            overlay['file'] = path
            kwargs['pretrained_cfg_overlay'] = overlay
    source = overlay.get('file') or overlay.get('url') or overlay.get('hf_hub_id') or 'the default source'
    with safe_globals():
        try:
            return build_model_with_cfg(
                model_cls, variant, pretrained, pretrained_filter_fn=checkpoint_filter_fn, **kwargs)
        except CheckpointError:
            raise
        except _READ_ERRORS as e:
            if not pretrained:
                raise
            raise CheckpointError(
                f'cannot load pretrained weights for {variant} from {source} '
                f'(truncated, corrupt or not a checkpoint?): {e}') from e
