"""ELA: Efficient Local Attention for Deep CNNs (Wei Xu, Yi Wan, arXiv:2403.01123, 2024), on timm's ResNet and
MobileNetV2.

There is no official code; the module follows the paper's equations:

- strip pooling: ``z_h = mean_W(x)`` of shape (B, C, H) and ``z_w = mean_H(x)`` of shape (B, C, W);
- one 1D conv ``F`` (no bias, 'same' padding) and one GroupNorm ``GN``, both shared by the two directions;
- ``y_h = sigmoid(GN(F(z_h)))``, ``y_w = sigmoid(GN(F(z_w)))``, and ``out = x * y_h[..., None] * y_w[..., None, :]``.

No channel reduction (unlike Coordinate Attention). The paper's four variants (kernel k, conv groups, GN groups):
ELA-T (5, C, 32), ELA-B (7, C, 16), ELA-S (5, C/8, 16), ELA-L (7, C/8, 16).

The networks are timm's own classes: ``ELAResNet`` is timm's ``ResNet`` with ELA as the blocks' ``attn_layer``
(after the last conv+BN of the residual branch, before the addition, where timm puts SE/ECA), and
``ELAMobileNetV2`` is timm's ``EfficientNet`` (MobileNetV2 arch) with ELA as the inverted residuals' ``se_layer``
(after the depth-wise conv, where Coordinate Attention sits in MobileNetV2). So timm's pretrained weights of the
base network load: ``checkpoint_filter_fn`` accepts a checkpoint of the base network (no ELA keys), keeps the
freshly initialised ELA parameters and logs their names; a checkpoint with ELA keys must fit strictly, and a
checkpoint of another network raises ``CheckpointError`` naming the keys.
"""
import logging
from functools import partial
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import generate_default_cfgs, register_model
from timm.models._efficientnet_builder import decode_arch_def, resolve_act_layer, resolve_bn_args, round_channels
from timm.models._manipulate import checkpoint_seq
from timm.models.efficientnet import EfficientNet
from timm.models.resnet import BasicBlock, Bottleneck, ResNet

from ..layers import check_input
from ._builder import build_model
from ._checkpoint import check_state_dict, unwrap_state_dict

__all__ = ['ELA', 'EfficientLocalAttention', 'ELA_VARIANTS', 'ela_layer', 'ELAResNet', 'ELAMobileNetV2']

_logger = logging.getLogger(__name__)

# variant: (1D kernel size, channels per conv group (1: groups = C, 8: groups = C/8), GroupNorm groups)
ELA_VARIANTS: Dict[str, Tuple[int, int, int]] = {
    'T': (5, 1, 32),
    'B': (7, 1, 16),
    'S': (5, 8, 16),
    'L': (7, 8, 16),
}


class ELA(nn.Module):
    """Efficient Local Attention: ``x * sigmoid(GN(conv1d(mean_W x)))[..., None] * sigmoid(GN(conv1d(mean_H x)))``.

    Args:
        channels: input (= output) channels C.
        kernel_size: 1D conv kernel size k (odd).
        conv_group_size: channels per 1D conv group: 1 (groups = C, ELA-T/B) or 8 (groups = C/8, ELA-S/L).
        gn_groups: GroupNorm groups (32 for ELA-T, 16 otherwise).
        act_layer: accepted (and ignored) so that timm's EfficientNet builder can use ELA as its ``se_layer``.
    """

    def __init__(self, channels: int, kernel_size: int = 7, conv_group_size: int = 1, gn_groups: int = 16,
                 act_layer: Optional[Any] = None, device=None, dtype=None):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f'ELA needs an odd kernel size, got {kernel_size}')
        if channels % conv_group_size or channels % gn_groups:
            raise ValueError(
                f'ELA on {channels} channels needs them divisible by the conv group size {conv_group_size} and by '
                f'the GroupNorm groups {gn_groups} (ELA-T needs C % 32 == 0, ELA-S/L C % 16 == 0)')
        dd = dict(device=device, dtype=dtype)
        self.channels = channels
        self.conv = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2,
                              groups=channels // conv_group_size, bias=False, **dd)
        self.norm = nn.GroupNorm(gn_groups, channels, **dd)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a_h = self.gate(self.norm(self.conv(x.mean(dim=3))))  # (B, C, H)
        a_w = self.gate(self.norm(self.conv(x.mean(dim=2))))  # (B, C, W)
        # under autocast GroupNorm runs in fp32: cast back so the block keeps the activations' dtype
        return x * a_h.to(x.dtype).unsqueeze(3) * a_w.to(x.dtype).unsqueeze(2)


EfficientLocalAttention = ELA


def ela_layer(variant: str = 'B', kernel_size: Optional[int] = None, conv_group_size: Optional[int] = None,
              gn_groups: Optional[int] = None):
    """An ``ELA`` constructor for one of the paper's variants ('T', 'B', 'S', 'L'), optionally overridden."""
    key = variant.upper().replace('ELA-', '')
    if key not in ELA_VARIANTS:
        raise ValueError(f'unknown ELA variant {variant!r}: choose one of {sorted(ELA_VARIANTS)}')
    k, gs, gn = ELA_VARIANTS[key]
    return partial(ELA, kernel_size=kernel_size or k, conv_group_size=conv_group_size or gs,
                   gn_groups=gn_groups or gn)


class ELAResNet(ResNet):
    """timm's ResNet with ELA in every residual block (timm's ``attn_layer`` hook: the ``.se`` module)."""

    def __init__(self, block, layers, ela_variant: str = 'B', ela_kernel_size: Optional[int] = None,
                 ela_conv_group_size: Optional[int] = None, ela_gn_groups: Optional[int] = None,
                 block_args: Optional[Dict[str, Any]] = None, **kwargs):
        block_args = dict(block_args or {})
        block_args['attn_layer'] = ela_layer(ela_variant, ela_kernel_size, ela_conv_group_size, ela_gn_groups)
        super().__init__(block, layers, block_args=block_args, **kwargs)
        self.ela_variant = ela_variant

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = check_input(x, self.in_chans, 1)
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.act1(x)
        x = self.maxpool(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint_seq([self.layer1, self.layer2, self.layer3, self.layer4], x, flatten=True)
        else:
            x = self.layer1(x)
            x = self.layer2(x)
            x = self.layer3(x)
            x = self.layer4(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # defined here (not inherited from timm) so that FX tracing, which wraps the notrace functions found in
        # the globals of the root forward's module, wraps check_input
        x = self.forward_features(x)
        return self.forward_head(x)

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = 'NCHW',
            intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        x = check_input(x, self.in_chans, 1)
        return super().forward_intermediates(
            x, indices=indices, norm=norm, stop_early=stop_early, output_fmt=output_fmt,
            intermediates_only=intermediates_only)


# timm's MobileNetV2 arch (efficientnet._gen_mobilenet_v2) with the attention hook ('se') on the inverted residuals
_MV2_ARCH_ELA = [
    ['ds_r1_k3_s1_c16'],
    ['ir_r2_k3_s2_e6_c24_se0.25'],
    ['ir_r3_k3_s2_e6_c32_se0.25'],
    ['ir_r4_k3_s2_e6_c64_se0.25'],
    ['ir_r3_k3_s1_e6_c96_se0.25'],
    ['ir_r3_k3_s2_e6_c160_se0.25'],
    ['ir_r1_k3_s1_e6_c320_se0.25'],
]


class ELAMobileNetV2(EfficientNet):
    """timm's EfficientNet class built as MobileNetV2, with ELA after the depth-wise conv of every inverted residual.

    ``block_args`` defaults to timm's MobileNetV2 arch at ``channel_multiplier``; the first (depth-wise separable,
    expansion 1) block has no attention.
    """

    def __init__(self, block_args=None, channel_multiplier: float = 1.0, ela_variant: str = 'S',
                 ela_kernel_size: Optional[int] = None, ela_conv_group_size: Optional[int] = None,
                 ela_gn_groups: Optional[int] = None, **kwargs):
        round_chs_fn = partial(round_channels, multiplier=channel_multiplier)
        if block_args is None:
            block_args = decode_arch_def(_MV2_ARCH_ELA)
        kwargs.setdefault('num_features', max(1280, round_chs_fn(1280)))
        kwargs.setdefault('stem_size', 32)
        kwargs.setdefault('round_chs_fn', round_chs_fn)
        kwargs.setdefault('act_layer', resolve_act_layer(kwargs, 'relu6'))
        kwargs.setdefault('norm_layer', partial(nn.BatchNorm2d, **resolve_bn_args(kwargs)))
        super().__init__(
            block_args, se_layer=ela_layer(ela_variant, ela_kernel_size, ela_conv_group_size, ela_gn_groups),
            **kwargs)
        self.ela_variant = ela_variant

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = check_input(x, self.in_chans, 1)
        x = self.conv_stem(x)
        x = self.bn1(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint_seq(self.blocks, x, flatten=True)
        else:
            x = self.blocks(x)
        x = self.conv_head(x)
        x = self.bn2(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # defined here (not inherited from timm) so that FX tracing, which wraps the notrace functions found in
        # the globals of the root forward's module, wraps check_input
        x = self.forward_features(x)
        return self.forward_head(x)

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = 'NCHW',
            intermediates_only: bool = False,
            extra_blocks: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        x = check_input(x, self.in_chans, 1)
        return super().forward_intermediates(
            x, indices=indices, norm=norm, stop_early=stop_early, output_fmt=output_fmt,
            intermediates_only=intermediates_only, extra_blocks=extra_blocks)


def _ela_prefixes(model: nn.Module) -> Tuple[str, ...]:
    return tuple(name + '.' for name, m in model.named_modules() if isinstance(m, ELA))


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: nn.Module) -> Dict[str, torch.Tensor]:
    """Accept vizattn's own ELA state_dict (strict) or a checkpoint of the base network (timm's resnet18/50,
    mobilenetv2_100): then every base key must fit and the ELA parameters keep their fresh initialisation."""
    state_dict = unwrap_state_dict(state_dict)
    prefixes = _ela_prefixes(model)
    target = model.state_dict()
    ela_keys = [k for k in target if k.startswith(prefixes)]
    if any(k in state_dict for k in ela_keys):
        return check_state_dict(state_dict, model)
    # base-network checkpoint: fill in the ELA parameters as the model initialised them
    new = [k for k in ela_keys if k not in state_dict]
    filled = dict(state_dict)
    filled.update({k: target[k] for k in new})
    check_state_dict(filled, model)  # raises, naming keys, for a checkpoint of another network
    name = (getattr(model, 'pretrained_cfg', None) or {}).get('architecture', type(model).__name__)
    _logger.warning('%s: loaded a base-network checkpoint; %d ELA keys are new (freshly initialised): %s',
                    name, len(new), ', '.join(new))
    return filled


def _create(cls, variant: str, pretrained: bool = False, flatten: bool = False, **kwargs):
    out_indices = kwargs.pop('out_indices', (0, 1, 2, 3, 4))
    feature_cfg = dict(out_indices=out_indices)
    if flatten:
        feature_cfg['flatten_sequential'] = True
    return build_model(cls, variant, pretrained, checkpoint_filter_fn, feature_cfg=feature_cfg, **kwargs)


def _cfg(base: str, **kwargs):
    # The weights are timm's base network (hf_hub_id); the ELA parameters are not in them.
    return {
        'hf_hub_id': f'timm/{base}', 'num_classes': 1000, 'input_size': (3, 224, 224), 'pool_size': (7, 7),
        'crop_pct': 0.875, 'interpolation': 'bicubic', 'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        'license': 'apache-2.0', 'paper_ids': 'arXiv:2403.01123',
        'paper_name': 'ELA: Efficient Local Attention for Deep Convolutional Neural Networks',
        'origin_url': 'https://arxiv.org/abs/2403.01123',
        'notes': (f'base-network weights of timm {base}; the ELA parameters are freshly initialised on load',),
        **kwargs,
    }


_RESNET_CFG = dict(first_conv='conv1', classifier='fc', crop_pct=0.95, test_input_size=(3, 288, 288),
                   test_crop_pct=1.0)

default_cfgs = generate_default_cfgs({
    'resnet18_ela.base_a1_in1k': _cfg('resnet18.a1_in1k', **_RESNET_CFG),
    'resnet50_ela.base_a1_in1k': _cfg('resnet50.a1_in1k', **_RESNET_CFG),
    'mobilenetv2_100_ela.base_ra_in1k': _cfg('mobilenetv2_100.ra_in1k', first_conv='conv_stem',
                                             classifier='classifier'),
})


@register_model
def resnet18_ela(pretrained: bool = False, **kwargs) -> ELAResNet:
    """ResNet-18 + ELA (default ELA-B; ``ela_variant='T'|'B'|'S'|'L'``), on timm's ResNet."""
    kwargs.setdefault('ela_variant', 'B')
    return _create(ELAResNet, 'resnet18_ela', pretrained, block=BasicBlock, layers=(2, 2, 2, 2), **kwargs)


@register_model
def resnet50_ela(pretrained: bool = False, **kwargs) -> ELAResNet:
    """ResNet-50 + ELA (default ELA-B; ``ela_variant='T'|'B'|'S'|'L'``), on timm's ResNet."""
    kwargs.setdefault('ela_variant', 'B')
    return _create(ELAResNet, 'resnet50_ela', pretrained, block=Bottleneck, layers=(3, 4, 6, 3), **kwargs)


@register_model
def mobilenetv2_100_ela(pretrained: bool = False, **kwargs) -> ELAMobileNetV2:
    """MobileNetV2-1.0 + ELA (default ELA-S, as the paper uses on MobileNetV2), on timm's EfficientNet class."""
    kwargs.setdefault('ela_variant', 'S')
    return _create(ELAMobileNetV2, 'mobilenetv2_100_ela', pretrained, flatten=True, **kwargs)
