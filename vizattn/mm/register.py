"""Registers vizattn's OpenMMLab modules with mmengine's root registries and with mmdet's and mmseg's.

``import vizattn.mm`` calls :func:`register_all_modules`; configs do it with
``custom_imports = dict(imports=['vizattn.mm'], allow_failed_imports=False)``. The backbone is ``VizAttnBackbone``
in every registry (mmdet and mmseg look it up in their own scope first); the classification task, its dataset,
transforms and metric are in mmengine's root registries (configs with ``default_scope=None``).
"""
import contextlib
from typing import Optional

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import MODELS, OPTIM_WRAPPERS

from .backbone import VizAttnBackbone

__all__ = ['register_all_modules', 'CPUAutocastOptimWrapper']


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """Mixed precision without a GPU: the forward pass under ``torch.autocast('cpu', bfloat16)``.

    mmengine's ``AmpOptimWrapper`` refuses to run without CUDA/NPU/MLU; ``tools/train.py --amp`` picks this one
    on CPU. bf16 has fp32's range, so no loss scaling is needed.
    """

    def __init__(self, *args, dtype: str = 'bfloat16', **kwargs):
        super().__init__(*args, **kwargs)
        self.cast_dtype = getattr(torch, dtype)

    @contextlib.contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast('cpu', dtype=self.cast_dtype):
            yield


def _register(registry, name: str, cls, force: bool = True):
    if registry.get(name) is not cls or name not in registry.module_dict:
        registry.register_module(name=name, module=cls, force=force)


def register_all_modules(registry_scopes: Optional[tuple] = None):
    """Register the backbone with mmengine, mmdet and mmseg (those that are installed). Idempotent."""
    from . import cls as _cls  # noqa: F401  (classification task: root registries)
    _register(MODELS, 'VizAttnBackbone', VizAttnBackbone)
    scopes = registry_scopes or ('mmdet', 'mmseg')
    for scope in scopes:
        try:
            module = __import__(f'{scope}.registry', fromlist=['MODELS'])
        except ImportError:
            continue
        _register(module.MODELS, 'VizAttnBackbone', VizAttnBackbone)
