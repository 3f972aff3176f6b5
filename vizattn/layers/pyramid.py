"""The timm classifier plumbing that every staged (pyramid) backbone of the zoo shares.

A model using :class:`PyramidClassifierMixin` keeps its stages in ``self.stages`` (or the attribute named by
``stages_attr``; each stage has a ``grad_checkpointing`` flag), ``self.feature_info``, ``self.head`` (a timm
``ClassifierHead``) and, optionally, a final ``self.norm``. ``forward_features`` and ``forward_intermediates``
stay with each family (stems, norms and token layouts differ), and so does ``forward``: torch.fx wraps the
not-traced helpers (``check_input``) only in the globals of the module that defines the root ``forward``.
"""
from typing import List, Optional, Union

import torch
import torch.nn as nn
from timm.layers import get_device_dtype
from timm.models._features import feature_take_indices


class PyramidClassifierMixin:
    stages_attr = 'stages'

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True):
        for s in getattr(self, self.stages_attr):
            s.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None):
        self.num_classes = num_classes
        self.head.reset(num_classes, global_pool, **get_device_dtype(self))

    def prune_intermediate_layers(self, indices: Union[int, List[int]] = 1, prune_norm: bool = False,
                                  prune_head: bool = True):
        stages = getattr(self, self.stages_attr)
        take_indices, max_index = feature_take_indices(len(stages), indices)
        setattr(self, self.stages_attr, stages[:max_index + 1])
        # Cut below the last stage: the final norm and the head no longer fit its width.
        cut = max_index < len(self.feature_info) - 1
        if (prune_norm or cut) and isinstance(getattr(self, 'norm', None), nn.Module):
            self.norm = nn.Identity()
        if cut:
            self.num_features = self.head_hidden_size = self.feature_info[max_index]['num_chs']
        if prune_head or cut:
            self.head.reset(0, '', in_features=self.num_features, **get_device_dtype(self))
            self.num_classes = 0
        return take_indices

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=True) if pre_logits else self.head(x)
