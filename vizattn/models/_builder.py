"""``build_model_with_cfg`` as every vizattn family calls it: safe unpickling and errors that name the file."""
import pickle
from typing import Callable, Optional

from timm.models import build_model_with_cfg

from ._checkpoint import CheckpointError, safe_globals

try:
    from safetensors import SafetensorError
except ImportError:  # older safetensors
    SafetensorError = OSError

_READ_ERRORS = (RuntimeError, OSError, EOFError, pickle.UnpicklingError, SafetensorError)


def build_model(model_cls, variant: str, pretrained: bool = False,
                checkpoint_filter_fn: Optional[Callable] = None, **kwargs):
    """Build ``model_cls`` for ``variant``; with ``pretrained`` load weights through ``checkpoint_filter_fn``.

    A local original checkpoint is given as ``pretrained_cfg_overlay=dict(file=PATH)``.
    """
    overlay = kwargs.get('pretrained_cfg_overlay') or {}
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
