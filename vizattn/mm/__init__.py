"""OpenMMLab glue: one backbone wrapper for every model, a minimal classification task, safe checkpoints.

``import vizattn.mm`` (or ``custom_imports=dict(imports=['vizattn.mm'])`` in a config)

- patches mmengine's checkpoint reading (``weights_only=True`` with an allow-list of what mmengine saves, clear
  errors, refusal of anything that needs code) and writing (atomic), see :mod:`vizattn.mm.checkpoint`;
- registers ``VizAttnBackbone`` with mmengine's, mmdet's and mmseg's ``MODELS`` and the classification task
  (``TimmClassifier``, ``ClsDataPreprocessor``, ``ImageFolderDataset``, ``TimmImageTransform``,
  ``PackClsInputs``, ``ClsAccuracy``) with mmengine's root registries.
"""
from .checkpoint import MM_SAFE_GLOBALS, atomic_torch_save, patch_mmengine, safe_torch_load

patch_mmengine()

from .adapters import set_agent_shapes  # noqa: E402
from .backbone import VizAttnBackbone  # noqa: E402
from .cls import (ClsAccuracy, ClsDataPreprocessor, ImageFolderDataset, PackClsInputs,  # noqa: E402
                  TimmClassifier, TimmImageTransform)
from .register import CPUAutocastOptimWrapper, register_all_modules  # noqa: E402

register_all_modules()

__all__ = ['VizAttnBackbone', 'TimmClassifier', 'ClsDataPreprocessor', 'ImageFolderDataset', 'TimmImageTransform',
           'PackClsInputs', 'ClsAccuracy', 'CPUAutocastOptimWrapper', 'set_agent_shapes', 'register_all_modules',
           'patch_mmengine', 'safe_torch_load', 'atomic_torch_save', 'MM_SAFE_GLOBALS']
