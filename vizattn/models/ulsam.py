"""ULSAM: Ultra-Lightweight Subspace Attention Module for Compact CNNs (Saini, Jha et al., WACV 2020,
arXiv:2006.15102; official module: github.com/Nandan91/ULSAM ``ulsam.py``), on timm's MobileNetV1 / MobileNetV2.

The module (as the official one): the C channels are split into g subspaces of G = C / g channels. For each:
a depth-wise 1x1 conv (with bias) -> BN -> ReLU, a 3x3 stride-1 max-pool, a 1x1 conv G -> 1 (with bias) -> BN ->
ReLU, a softmax over the H*W positions giving one map A, and ``A * x + x`` on the subspace. The outputs are
concatenated. We compute the g subspaces at once (a depth-wise conv over C, BN over C, a grouped 1x1 conv C -> g,
BN over g), which is the same arithmetic and the same parameters as the official per-subspace modules; the
official key layout (``subspaces.{k}.{conv_dws,bn_dws,conv_point,bn_point}.*``) is converted on load.

The networks are timm's own ``EfficientNet`` class built as MobileNetV1 / MobileNetV2, with ULSAM *replacing*
blocks whose input and output shapes agree, which is how the paper gets its smaller models. The paper's counts
fix the placements (see docs/models/ulsam.md): MobileNetV1 replaces one of the five 512-channel 14x14 layers
(4.2M/569M -> 3.9M/517M), MobileNetV2 one 96-channel (14x14) and one 160-channel (7x7) bottleneck
(3.4M/300M -> 2.96M/261.88M). So timm's pretrained MobileNet weights load: ``checkpoint_filter_fn`` accepts a
base-network checkpoint, drops the weights of the replaced blocks and keeps the freshly initialised ULSAM
parameters, logging both lists; anything else must fit strictly (``CheckpointError`` names the keys).
"""
import logging
import re
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD
from timm.models import generate_default_cfgs, register_model
from timm.models._efficientnet_builder import decode_arch_def, resolve_act_layer, resolve_bn_args, round_channels
from timm.models._manipulate import checkpoint_seq
from timm.models.efficientnet import EfficientNet

from ..layers import check_input
from ._builder import build_model
from ._checkpoint import CheckpointError, check_state_dict, unwrap_state_dict

__all__ = ['ULSAM', 'ULSAMMobileNet', 'convert_official_ulsam']

_logger = logging.getLogger(__name__)


class ULSAM(nn.Module):
    """Subspace attention over ``num_splits`` channel groups: ``out_k = softmax_HW(f_k(x_k)) * x_k + x_k``.

    Args:
        channels: input (= output) channels C, divisible by ``num_splits``.
        num_splits: number of subspaces g.
        bn_momentum: BatchNorm momentum in PyTorch's convention; the official code uses 0.9 (running statistics
            follow the last batch almost entirely), kept as the default for fidelity.
    """

    def __init__(self, channels: int, num_splits: int = 4, bn_momentum: float = 0.9, device=None, dtype=None):
        super().__init__()
        if num_splits < 1 or channels % num_splits:
            raise ValueError(f'ULSAM needs channels divisible by num_splits, got {channels} and {num_splits}')
        dd = dict(device=device, dtype=dtype)
        self.channels = channels
        self.num_splits = num_splits
        self.group_size = channels // num_splits
        self.conv_dws = nn.Conv2d(channels, channels, 1, groups=channels, **dd)
        self.bn_dws = nn.BatchNorm2d(channels, momentum=bn_momentum, **dd)
        self.act_dws = nn.ReLU()
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.conv_point = nn.Conv2d(channels, num_splits, 1, groups=num_splits, **dd)
        self.bn_point = nn.BatchNorm2d(num_splits, momentum=bn_momentum, **dd)
        self.act_point = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.act_dws(self.bn_dws(self.conv_dws(x)))
        a = self.act_point(self.bn_point(self.conv_point(self.pool(a))))  # (B, g, H, W)
        a = a.flatten(2).softmax(dim=-1).reshape(a.shape)  # softmax over the H*W positions of each map
        # softmax runs in fp32 under autocast: cast back, then broadcast each map over its G channels
        a = torch.repeat_interleave(a.to(x.dtype), self.group_size, dim=1)
        return x * a + x


_SUBSPACE_KEY = re.compile(r'^(.*?)subspaces\.(\d+)\.(conv_dws|bn_dws|conv_point|bn_point)\.(\w+)$')


def convert_official_ulsam(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Merge the official per-subspace keys (``...subspaces.{k}.{conv_dws,bn_dws,conv_point,bn_point}.*``) into
    ours (``...{conv_dws,bn_dws,conv_point,bn_point}.*`` over all channels); other keys pass through."""
    out: Dict[str, torch.Tensor] = {}
    groups: Dict[Tuple[str, str, str], Dict[int, torch.Tensor]] = {}
    for k, v in state_dict.items():
        m = _SUBSPACE_KEY.match(k)
        if m is None:
            out[k] = v
            continue
        prefix, idx, layer, leaf = m.groups()
        groups.setdefault((prefix, layer, leaf), {})[int(idx)] = v
    for (prefix, layer, leaf), parts in groups.items():
        if sorted(parts) != list(range(len(parts))):
            raise CheckpointError(f'ULSAM checkpoint has subspaces {sorted(parts)} under {prefix!r}: not 0..g-1')
        tensors = [parts[i] for i in range(len(parts))]
        if leaf == 'num_batches_tracked':
            out[f'{prefix}{layer}.{leaf}'] = tensors[0]
        else:  # conv weights stack along the output channels, BN vectors along the channels
            out[f'{prefix}{layer}.{leaf}'] = torch.cat(tensors, dim=0)
    return out


# timm's MobileNetV1 / MobileNetV2 archs (efficientnet._gen_mobilenet_v1 / _gen_mobilenet_v2)
_ARCHS = {
    'mobilenetv1': [['dsa_r1_k3_s1_c64'], ['dsa_r2_k3_s2_c128'], ['dsa_r2_k3_s2_c256'], ['dsa_r6_k3_s2_c512'],
                    ['dsa_r2_k3_s2_c1024']],
    'mobilenetv2': [['ds_r1_k3_s1_c16'], ['ir_r2_k3_s2_e6_c24'], ['ir_r3_k3_s2_e6_c32'], ['ir_r4_k3_s2_e6_c64'],
                    ['ir_r3_k3_s1_e6_c96'], ['ir_r3_k3_s2_e6_c160'], ['ir_r1_k3_s1_e6_c320']],
}
# The paper's efficient placements (blocks replaced), as (stage, block) indices into timm's ``blocks``.
PAPER_PLACEMENTS = {
    'mobilenetv1': ((3, 5),),  # the last of the five 512-channel 14x14 depth-wise separable layers
    'mobilenetv2': ((4, 2), (5, 2)),  # the last 96-channel (14x14) and the last 160-channel (7x7) bottleneck
}


def _block_shape(block: nn.Module) -> Tuple[int, int, int]:
    """(in channels, out channels, stride) of a timm DepthwiseSeparableConv / InvertedResidual."""
    conv_dw = block.conv_dw
    conv_out = block.conv_pwl if hasattr(block, 'conv_pwl') else block.conv_pw
    conv_in = block.conv_pw if hasattr(block, 'conv_pwl') else conv_dw
    return conv_in.in_channels, conv_out.out_channels, conv_dw.stride[0]


class ULSAMMobileNet(EfficientNet):
    """timm's EfficientNet class built as MobileNetV1 or MobileNetV2, with ULSAM replacing some blocks.

    Args:
        arch: 'mobilenetv1' or 'mobilenetv2' (timm's arch definitions), unless ``block_args`` is given.
        ulsam_groups: the number of subspaces g (the paper's best: 4).
        ulsam_blocks: (stage, block) indices into ``blocks`` of the blocks to replace; each must keep its
            shape (same in/out channels, stride 1). Defaults to the paper's placement for ``arch``.
        ulsam_bn_momentum: BN momentum inside ULSAM (official: 0.9).
        channel_multiplier: width multiplier (timm's round_channels).
    """

    def __init__(self, arch: str = 'mobilenetv2', ulsam_groups: int = 4,
                 ulsam_blocks: Optional[Sequence[Sequence[int]]] = None, ulsam_bn_momentum: float = 0.9,
                 channel_multiplier: float = 1.0, block_args=None, **kwargs):
        if arch not in _ARCHS:
            raise ValueError(f'unknown arch {arch!r}: choose one of {sorted(_ARCHS)}')
        round_chs_fn = partial(round_channels, multiplier=channel_multiplier)
        if block_args is None:
            block_args = decode_arch_def(_ARCHS[arch])
        if arch == 'mobilenetv2':
            kwargs.setdefault('num_features', max(1280, round_chs_fn(1280)))
        else:
            kwargs.setdefault('num_features', 0)  # MobileNetV1: no head conv
        kwargs.setdefault('stem_size', 32)
        kwargs.setdefault('round_chs_fn', round_chs_fn)
        kwargs.setdefault('act_layer', resolve_act_layer(kwargs, 'relu6'))
        kwargs.setdefault('norm_layer', partial(nn.BatchNorm2d, **resolve_bn_args(kwargs)))
        super().__init__(block_args, **kwargs)
        dd = dict(device=kwargs.get('device'), dtype=kwargs.get('dtype'))
        self.arch = arch
        self.ulsam_groups = ulsam_groups
        placements = PAPER_PLACEMENTS[arch] if ulsam_blocks is None else ulsam_blocks
        replaced = []
        for pos in placements:
            s, b = int(pos[0]), int(pos[1])
            if not (0 <= s < len(self.blocks) and 0 <= b < len(self.blocks[s])):
                raise ValueError(f'ulsam_blocks: no block ({s}, {b}) in this network')
            cin, cout, stride = _block_shape(self.blocks[s][b])
            if cin != cout or stride != 1:
                raise ValueError(
                    f'ulsam_blocks: block ({s}, {b}) maps {cin} -> {cout} channels with stride {stride}; ULSAM can '
                    f'only replace a block that keeps its input shape')
            self.blocks[s][b] = ULSAM(cout, ulsam_groups, bn_momentum=ulsam_bn_momentum, **dd)
            replaced.append((s, b))
        self.ulsam_blocks = replaced  # (stage, block) of each ULSAM

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


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: nn.Module) -> Dict[str, torch.Tensor]:
    """Accept vizattn's own state_dict or one with the official ULSAM key layout (strict), or a checkpoint of the
    base network (timm's mobilenetv1_100 / mobilenetv2_100): the weights of the replaced blocks are dropped and
    the ULSAM parameters keep their fresh initialisation; every other base key must fit."""
    state_dict = convert_official_ulsam(unwrap_state_dict(state_dict))
    names = [name for name, m in model.named_modules() if isinstance(m, ULSAM)]
    prefixes = tuple(n + '.' for n in names)
    target = model.state_dict()
    ulsam_keys = [k for k in target if k.startswith(prefixes)]
    if not prefixes or any(k in state_dict for k in ulsam_keys):
        return check_state_dict(state_dict, model)
    # base-network checkpoint
    dropped = [k for k in state_dict if k.startswith(prefixes) and k not in target]
    filled = {k: v for k, v in state_dict.items() if not (k.startswith(prefixes) and k not in target)}
    new = [k for k in ulsam_keys if k not in filled]
    filled.update({k: target[k] for k in new})
    check_state_dict(filled, model)  # raises, naming keys, for a checkpoint of another network
    arch = (getattr(model, 'pretrained_cfg', None) or {}).get('architecture', type(model).__name__)
    _logger.warning(
        '%s: loaded a base-network checkpoint; dropped %d keys of the blocks ULSAM replaces (%s); %d ULSAM keys '
        'are new (freshly initialised): %s', arch, len(dropped), ', '.join(names), len(new), ', '.join(new))
    return filled


def _create(variant: str, arch: str, pretrained: bool = False, **kwargs) -> ULSAMMobileNet:
    out_indices = kwargs.pop('out_indices', (0, 1, 2, 3, 4))
    return build_model(ULSAMMobileNet, variant, pretrained, checkpoint_filter_fn,
                       feature_cfg=dict(flatten_sequential=True, out_indices=out_indices), arch=arch, **kwargs)


def _cfg(base: str, **kwargs):
    # The weights are timm's base network (hf_hub_id); ULSAM's parameters are not in them.
    return {
        'hf_hub_id': f'timm/{base}', 'num_classes': 1000, 'input_size': (3, 224, 224), 'pool_size': (7, 7),
        'crop_pct': 0.875, 'interpolation': 'bicubic', 'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        'first_conv': 'conv_stem', 'classifier': 'classifier', 'license': 'apache-2.0',
        'paper_ids': 'arXiv:2006.15102',
        'paper_name': 'ULSAM: Ultra-Lightweight Subspace Attention Module for Compact Convolutional Neural Networks',
        'origin_url': 'https://github.com/Nandan91/ULSAM',
        'notes': (f'base-network weights of timm {base} (replaced blocks dropped); ULSAM is freshly initialised',),
        **kwargs,
    }


default_cfgs = generate_default_cfgs({
    'mobilenetv1_ulsam.base_ra4_e3600_r224_in1k': _cfg(
        'mobilenetv1_100.ra4_e3600_r224_in1k', mean=IMAGENET_INCEPTION_MEAN, std=IMAGENET_INCEPTION_STD,
        test_input_size=(3, 256, 256), test_crop_pct=0.95),
    'mobilenetv2_ulsam.base_ra_in1k': _cfg('mobilenetv2_100.ra_in1k'),
})


@register_model
def mobilenetv1_ulsam(pretrained: bool = False, **kwargs) -> ULSAMMobileNet:
    """MobileNetV1-1.0 with one 512-channel layer replaced by ULSAM (g=4): paper 3.9M params, 517M FLOPs."""
    return _create('mobilenetv1_ulsam', 'mobilenetv1', pretrained, **kwargs)


@register_model
def mobilenetv2_ulsam(pretrained: bool = False, **kwargs) -> ULSAMMobileNet:
    """MobileNetV2-1.0 with a 96- and a 160-channel bottleneck replaced by ULSAM (g=4): paper 2.96M, 261.88M."""
    return _create('mobilenetv2_ulsam', 'mobilenetv2', pretrained, **kwargs)
