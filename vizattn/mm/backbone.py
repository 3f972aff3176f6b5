"""One OpenMMLab backbone for every vizattn (and timm) model: multi-scale NCHW features for mmdet / mmseg.

``VizAttnBackbone(model_name='biformer_s', n_win=16, out_norms='all', ...)`` builds
``timm.create_model(model_name, **model_kwargs)``, prunes the classifier and the final norm, and returns the stage
outputs of ``forward_intermediates`` at ``out_indices`` (strides 4, 8, 16, 32). Family specifics are arguments:

- ``out_norms``: levels that get a LayerNorm on their output, as the papers' downstream wrappers add them
  (BiFormer: every level, timm ``LayerNorm2d`` eps 1e-6; Agent-Swin: every level; LITv2 detection: levels 1-3;
  VAN and Agent-PVT: none, VAN's stages end with their own norm);
- model arguments pass through to the family (``n_win=16`` for BiFormer on COCO, 8 on ADE20K; ``window_size``
  for LITv2; ``drop_path_rate``; ...), and ``agent_shapes`` sets Agent-Swin/PVT's downstream agent grids
  (the official ``downstream_agent_shapes``, see :func:`vizattn.mm.adapters.set_agent_shapes`);
- ``frozen_stages`` (-1 none, 0 the stem, k the stem and the first k stages), ``norm_eval`` (BatchNorms in eval
  mode while training), ``with_cp`` (activation checkpointing of the blocks), ``attn_backend``.

``init_cfg=dict(type='Pretrained', checkpoint=PATH_OR_URL)`` loads through
``timm.create_model(model_name, pretrained=True, pretrained_cfg_overlay=dict(file=...))``, so each family's
``checkpoint_filter_fn`` reads the ORIGINAL release (``{'model': ...}``, ``{'state_dict': ...}``, official key
names) and vizattn's own safetensors, strictly (a wrong variant raises ``CheckpointError``). ``checkpoint=
'released'`` fetches the paper's release listed in ``checkpoints/manifest.json``. A checkpoint of this wrapper
(an mmdet/mmseg model's ``backbone.*`` keys, ``prefix='backbone.'`` or detected) loads directly. The log names
the checkpoint keys the backbone does not use (the classifier, the final norm) and the freshly initialised ones
(the added output norms).
"""
import logging
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule
from timm.layers import LayerNorm2d
from torch.nn.modules.batchnorm import _BatchNorm

from ..models._checkpoint import CheckpointError, unwrap_state_dict
from .checkpoint import safe_torch_load

__all__ = ['VizAttnBackbone', 'create_backbone_model', 'level_modules']


def _is_url(path: str) -> bool:
    return path.startswith(('http://', 'https://'))


def create_backbone_model(model_name: str, out_indices: Sequence[int], pretrained: bool = False,
                          overlay: Optional[dict] = None, **model_kwargs) -> Tuple[nn.Module, List[str]]:
    """``timm.create_model`` then pruned to the stages a dense head needs (no classifier, no final norm).

    Returns the model and the state_dict keys that pruning removed (what a classification checkpoint holds
    beyond the backbone).
    """
    import timm

    import vizattn  # noqa: F401  (registers the models)
    kwargs = dict(model_kwargs)
    if overlay:
        kwargs['pretrained_cfg_overlay'] = overlay
    model = timm.create_model(model_name, pretrained=pretrained, **kwargs)
    before = set(model.state_dict())
    if not hasattr(model, 'forward_intermediates'):
        raise TypeError(f'{model_name} has no forward_intermediates(); it cannot serve as a dense backbone')
    model.prune_intermediate_layers(list(out_indices), prune_norm=True, prune_head=True)
    removed = sorted(before - set(model.state_dict()))
    return model, removed


def _classifier_size(model_name: str, state_dict: Dict[str, torch.Tensor]) -> Optional[int]:
    """Number of classes of the classifier in a timm-layout state_dict (None if it has none)."""
    from timm.models import get_pretrained_cfg
    cfg = get_pretrained_cfg(model_name, allow_unregistered=True)
    names = cfg.classifier if cfg is not None and cfg.classifier else 'head'
    for name in ([names] if isinstance(names, str) else list(names)):
        w = state_dict.get(f'{name}.weight')
        if w is not None and w.dim() == 2:
            return int(w.shape[0])
    return None


def level_modules(model: nn.Module) -> List[str]:
    """Module names of the feature levels (``feature_info`` of the unwrapped model)."""
    info = getattr(model, 'feature_info', None)
    if info is None:
        raise TypeError(f'{type(model).__name__} has no feature_info')
    info = info.info if hasattr(info, 'info') else info
    return [d['module'] for d in info]


class VizAttnBackbone(BaseModule):
    """Multi-scale features of a timm/vizattn model for OpenMMLab dense heads (see the module docstring).

    Args:
        model_name: a timm model name (``biformer_s``, ``van_b2``, ``litv2_s``, ``agent_swin_t``, ...).
        out_indices: feature levels returned (0..3 = strides 4..32 for the hierarchical families).
        out_norms: levels that get an output LayerNorm: ``'all'``, a sequence of levels, or None.
        out_norm_eps: eps of those norms (timm LayerNorm2d: 1e-6 as BiFormer; nn.LayerNorm's 1e-5 as Swin/LITv2).
        frozen_stages: -1 trains everything; 0 freezes the stem; k freezes the stem and levels 0..k-1.
        norm_eval: keep every BatchNorm in eval mode (frozen statistics) while training.
        with_cp: gradient (activation) checkpointing of the blocks.
        attn_backend: force the attention op's backend (model.set_attn_backend), e.g. 'reference'.
        channels_last: run the model in channels_last memory format (several times faster depth-wise convs on
            CPU).
        agent_shapes: Agent-Swin/PVT downstream agent grids per level, e.g. ((9, 9), (12, 12), (14, 14), (7, 7)).
        **model_kwargs: passed to ``timm.create_model`` (``n_win``, ``drop_path_rate``, ``img_size``, ...).
    """

    def __init__(self, model_name: str, out_indices: Sequence[int] = (0, 1, 2, 3),
                 out_norms: Union[None, str, Sequence[int]] = None, out_norm_eps: float = 1e-6,
                 frozen_stages: int = -1, norm_eval: bool = False, with_cp: bool = False,
                 attn_backend: Optional[str] = None, channels_last: bool = False,
                 agent_shapes: Optional[Sequence[Sequence[int]]] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None, **model_kwargs):
        super().__init__(init_cfg=init_cfg)
        self.model_name = model_name
        self.out_indices = tuple(int(i) for i in out_indices)
        self.model_kwargs = dict(model_kwargs)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.attn_backend = attn_backend
        self.channels_last = channels_last
        self.agent_shapes = [tuple(s) for s in agent_shapes] if agent_shapes is not None else None
        self.model, _ = create_backbone_model(model_name, self.out_indices, **self.model_kwargs)
        self._configure(self.model)
        self.levels = level_modules(self.model)
        chans = [d['num_chs'] for d in self._feature_info()]
        self.out_channels = [chans[i] for i in self.out_indices]
        self.out_strides = [d['reduction'] for i, d in enumerate(self._feature_info()) if i in self.out_indices]
        if out_norms == 'all':
            norm_levels = set(self.out_indices)
        else:
            norm_levels = set(out_norms or ())
        unknown = norm_levels - set(self.out_indices)
        if unknown:
            raise ValueError(f'out_norms {sorted(unknown)} are not in out_indices {self.out_indices}')
        self.out_norms = nn.ModuleList([
            LayerNorm2d(chans[i], eps=out_norm_eps) if i in norm_levels else nn.Identity() for i in self.out_indices])
        if with_cp:
            self.model.set_grad_checkpointing(True)
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self._freeze_stages()

    def _feature_info(self) -> List[dict]:
        info = self.model.feature_info
        return info.info if hasattr(info, 'info') else info

    def _configure(self, model: nn.Module):
        if self.attn_backend is not None:
            if not hasattr(model, 'set_attn_backend'):
                raise ValueError(f'{self.model_name} has no attention backends to choose from')
            model.set_attn_backend(self.attn_backend)
        if self.agent_shapes is not None:
            from .adapters import set_agent_shapes
            set_agent_shapes(model, self.agent_shapes)

    # ----------------------------------------------------------------------------------------------------
    # freezing

    def _frozen_module_names(self) -> List[str]:
        if self.frozen_stages < 0:
            return []
        kept = {n for n, _ in self.model.named_modules()}  # levels after max(out_indices) are pruned
        names = [self.levels[i] for i in range(min(self.frozen_stages, len(self.levels))) if self.levels[i] in kept]
        first = self.levels[0]
        for child, _ in self.model.named_children():  # the stem: top-level children before level 0
            if first == child or first.startswith(child + '.'):
                break
            names.append(child)
        return names

    def _freeze_stages(self):
        frozen = self._frozen_module_names()
        if not frozen:
            return
        for name in frozen:
            m = self.model.get_submodule(name)
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    # ----------------------------------------------------------------------------------------------------
    # weights

    def init_weights(self):
        """Load ``init_cfg=dict(type='Pretrained', checkpoint=...)`` (timm's loader, see the module docstring).

        The timm model is initialised when it is built; other init_cfg types apply on top of that.
        """
        cfgs = self.init_cfg if isinstance(self.init_cfg, list) else [self.init_cfg] if self.init_cfg else []
        pretrained = [c for c in cfgs if c.get('type') == 'Pretrained']
        others = [c for c in cfgs if c.get('type') != 'Pretrained']
        if others:
            from mmengine.model.weight_init import initialize
            initialize(self, others)
        for cfg in pretrained:
            self.load_pretrained(cfg['checkpoint'], prefix=cfg.get('prefix'))
        self._is_init = True

    def load_pretrained(self, checkpoint: str, prefix: Optional[str] = None):
        """Load a classification checkpoint (original or vizattn) or a checkpoint of this wrapper."""
        if checkpoint in ('released', 'default'):
            return self._load_through_timm(None, checkpoint)
        if _is_url(checkpoint):
            return self._load_through_timm(dict(url=checkpoint), checkpoint)
        if checkpoint.endswith('.safetensors'):
            return self._load_through_timm(dict(file=checkpoint), checkpoint)
        obj = safe_torch_load(checkpoint)
        sd = unwrap_state_dict(obj)
        if prefix is None and any(k.startswith('backbone.model.') for k in sd):
            prefix = 'backbone.'
        if prefix:
            sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
            if not sd:
                raise CheckpointError(f'no keys with prefix {prefix!r} in {checkpoint}')
        if any(k.startswith('model.') for k in sd):  # this wrapper's own layout
            return self._load_own(sd, checkpoint)
        return self._load_through_timm(dict(state_dict=sd) if prefix else dict(file=checkpoint), checkpoint)

    def _load_own(self, sd: Dict[str, torch.Tensor], source: str):
        target = self.state_dict()
        missing = sorted(set(target) - set(sd))
        unexpected = sorted(set(sd) - set(target))
        mismatched = [k for k in sd if k in target and sd[k].shape != target[k].shape]
        if mismatched or len(missing) == len(target):
            raise CheckpointError(f'{source} does not fit {self.model_name}: '
                                  f'{len(mismatched)} shape mismatches {mismatched[:6]}, missing {missing[:6]}')
        self.load_state_dict(sd, strict=False)
        self._report(source, len(sd) - len(unexpected), unexpected, missing)

    def _load_through_timm(self, overlay: Optional[dict], source: str):
        kwargs = dict(self.model_kwargs)
        if overlay and 'state_dict' in overlay and 'num_classes' not in kwargs:
            n = _classifier_size(self.model_name, overlay['state_dict'])
            if n is not None:  # e.g. a classifier fine-tuned on 4 classes: build the same head, then prune it
                kwargs['num_classes'] = n
        loaded, removed = create_backbone_model(self.model_name, self.out_indices, pretrained=True,
                                                overlay=overlay, **kwargs)
        self._configure(loaded)
        sd = loaded.state_dict()
        self.model.load_state_dict(sd, strict=True)
        missing = [k for k in self.state_dict() if not k.startswith('model.')]
        self._report(source, len(sd), removed, missing)

    def _report(self, source: str, n: int, unused: Sequence[str], missing: Sequence[str]):
        def short(names):
            names = list(names)
            return ', '.join(names[:8]) + (f' ... (+{len(names) - 8})' if len(names) > 8 else '') or '-'
        print_log(f'{self.model_name}: loaded {n} tensors from {source}; not used by the backbone: '
                  f'{short(unused)}; newly initialised: {short(missing)}', logger='current', level=logging.INFO)

    # ----------------------------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        feats = self.model.forward_intermediates(x, indices=list(self.out_indices), norm=False,
                                                 stop_early=True, intermediates_only=True)
        return tuple(norm(f) for norm, f in zip(self.out_norms, feats))
