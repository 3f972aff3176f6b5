"""Downstream settings of the papers that change how a classification model runs, applied after it is built.

``set_agent_shapes(model, shapes)``: Agent-Swin/PVT's ``downstream_agent_shapes``. The official detection and
segmentation code keeps the classification parameters (e.g. 9 agents = 3x3 in stage 1) and, at run time, pools
the queries to a larger agent grid (9x9) and resizes every agent position bias bilinearly along its agent axis
(seen as the square classification grid) to that grid. Here the same is done by exposing each bias parameter
through a property that returns it resized, so the parameters, their names and the checkpoints stay those of the
classification model. Resizing along the agent axis and along the spatial axes commute (both are linear maps on
different axes), so the order of the official code (spatial first) gives the same numbers.
"""
import math
from typing import Dict, Sequence, Tuple, Type

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['set_agent_shapes', 'resize_agent_axis']

# bias name -> its agent axis, in vizattn's layout (an/na: (heads, n, 7, 7); ah/aw: (heads, n, L); ha/wa: (heads, L, n))
_AGENT_AXIS = {'an_bias': 1, 'na_bias': 1, 'ah_bias': 1, 'aw_bias': 1, 'ha_bias': 2, 'wa_bias': 2}


def resize_agent_axis(x: torch.Tensor, axis: int, grid: int, shape: Tuple[int, int]) -> torch.Tensor:
    """Resize axis ``axis`` (``grid * grid`` agents, row-major) bilinearly to ``shape[0] * shape[1]`` agents."""
    if tuple(shape) == (grid, grid):
        return x
    axis = axis % x.dim()
    perm = [d for d in range(x.dim()) if d != axis] + [axis]  # explicit permutes: ONNX-exportable
    y = x.permute(perm)
    lead = y.shape[:-1]
    y = F.interpolate(y.reshape(1, -1, grid, grid), size=tuple(shape), mode='bilinear', align_corners=False)
    return y.reshape(*lead, shape[0] * shape[1]).permute([perm.index(d) for d in range(x.dim())])


def _bias_property(name: str, axis: int):
    def get(self):
        return resize_agent_axis(self._parameters[name], axis, self.agent_grid, self.agent_shape)
    return property(get)


class _DownstreamAgents:
    """Mixin over an AgentAttention class: agent biases seen at the downstream agent grid."""


for _name, _axis in _AGENT_AXIS.items():
    setattr(_DownstreamAgents, _name, _bias_property(_name, _axis))

_CLASSES: Dict[Type, Type] = {}


def _downstream_class(cls: Type) -> Type:
    if issubclass(cls, _DownstreamAgents):
        return cls
    if cls not in _CLASSES:
        _CLASSES[cls] = type('Downstream' + cls.__name__, (_DownstreamAgents, cls), {})
    return _CLASSES[cls]


def _agent_modules(module: nn.Module):
    return [m for m in module.modules() if all(n in m._parameters for n in _AGENT_AXIS) and hasattr(m, 'pool_size')]


def set_agent_shapes(model: nn.Module, shapes: Sequence[Sequence[int]]):
    """Use agent grid ``shapes[i]`` in every agent attention of feature level ``i`` (the paper's downstream
    ``downstream_agent_shapes``, e.g. Agent-Swin ((9, 9), (12, 12), (14, 14), (7, 7)), Agent-PVT
    ((12, 12), (16, 16), (28, 28), (28, 28)))."""
    from .backbone import level_modules
    found = 0
    for level, name in enumerate(level_modules(model)):
        if not _has_module(model, name):  # pruned away (feature_info still lists it)
            continue
        if level >= len(shapes):
            raise ValueError(f'agent_shapes has {len(shapes)} entries; level {level} needs one')
        shape = tuple(int(s) for s in shapes[level])
        for m in _agent_modules(model.get_submodule(name)):
            if getattr(m, 'num_prefix_tokens', 0):
                raise ValueError('agent_shapes applies to Agent-Swin/PVT maps, not to models with a class token')
            grid = getattr(m, 'agent_grid', None) or int(round(math.sqrt(m._parameters['an_bias'].shape[1])))
            m.__class__ = _downstream_class(type(m))
            m.agent_grid = grid
            m.agent_shape = shape
            m.pool_size = shape
            m.agent_num = shape[0] * shape[1]
            found += 1
    if not found:
        raise ValueError(f'agent_shapes given, but {type(model).__name__} has no agent attention')
    return model


def _has_module(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
        return True
    except AttributeError:
        return False
