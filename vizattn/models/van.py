"""VAN: Visual Attention Network (Guo et al., CVMJ 2023, arXiv:2202.09741), with Large Kernel Attention (LKA).

A 4-stage convolutional hierarchy, NCHW throughout. Each stage: an overlapping patch embedding (7x7 stride-4
conv for the stem, 3x3 stride-2 convs after it, each followed by BatchNorm), blocks, then a LayerNorm over the
channels. A block is ``x + ls1 * Attn(BN(x))`` then ``x + ls2 * MLP(BN(x))`` (layer scale init 1e-2), where

- ``Attn(x) = proj_out(LKA(GELU(proj_in(x)))) + x`` (the residual inside the module is the official one),
- ``LKA(u) = u * conv_pw(conv_dw_dilated(conv_dw(u)))``: a depth-wise 5x5, a depth-wise 7x7 with dilation 3
  and a 1x1 conv, a decomposition of a 21x21 kernel used as a multiplicative gate (no softmax),
- ``MLP = fc2(GELU(dwconv3x3(fc1(x))))`` with 1x1 convs as the linears.

Every conv is padded 'same'-style, so any input size works and gives the official output; the last stage's
normed map is averaged for the classifier.

Checkpoints loaded strictly through ``checkpoint_filter_fn``:
- the original release (``{'state_dict': sd, 'epoch', 'arch', 'args', ...}``, timm 0.4.12 CheckpointSaver;
  keys ``patch_embed{i}.proj/norm``, ``block{i}.{j}.*``, ``attn.spatial_gating_unit.{conv0,conv_spatial,conv1}``,
  ``mlp.dwconv.dwconv``, ``layer_scale_{1,2}``, ``norm{i}``, ``head``);
- mmpretrain's converted checkpoints (``{'state_dict': sd, 'meta': ...}``, keys ``backbone.patch_embed{i}.
  projection``, ``backbone.blocks{i}.{j}.*``, ``spatial_gating_unit.{DW_conv,DW_D_conv,conv1}``, ``mlp.dwconv``,
  ``backbone.norm{i}``, ``head.fc``); a backbone-only file (mmseg/mmdet style, no ``head.``) is not a classifier
  checkpoint and fails the strict check unless the model is built with ``num_classes=0``;
- vizattn's own state_dict (timm-style names), unchanged.
"""
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from timm.data import IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD
from timm.layers import ClassifierHead, DropPath, LayerNorm2d, LayerScale2d
from timm.models import generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint_seq

from ..layers import check_input, contiguous_as
from ..layers.pyramid import PyramidClassifierMixin
from ._builder import build_model
from ._checkpoint import CheckpointError, check_state_dict, remap_keys, unwrap_state_dict

__all__ = ['VAN', 'LargeKernelAttention']


class LargeKernelAttention(nn.Module):
    """LKA: ``u * conv1x1(dwconv7x7_dilation3(dwconv5x5(u)))``, a 21x21 receptive field gating ``u``."""

    def __init__(self, dim: int, kernel_size: int = 5, dilated_kernel_size: int = 7, dilation: int = 3,
                 device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.conv_dw = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim, **dd)
        self.conv_dw_dilated = nn.Conv2d(
            dim, dim, dilated_kernel_size, padding=dilation * (dilated_kernel_size // 2), groups=dim,
            dilation=dilation, **dd)
        self.conv_pw = nn.Conv2d(dim, dim, 1, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn = self.conv_pw(self.conv_dw_dilated(self.conv_dw(x)))
        return x * attn


class SpatialAttention(nn.Module):
    """``proj_out(LKA(GELU(proj_in(x)))) + x`` (the official 'Attention' with its inner residual)."""

    def __init__(self, dim: int, act_layer=nn.GELU, device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.proj_in = nn.Conv2d(dim, dim, 1, **dd)
        self.act = act_layer()
        self.lka = LargeKernelAttention(dim, **dd)
        self.proj_out = nn.Conv2d(dim, dim, 1, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_out(self.lka(self.act(self.proj_in(x)))) + x


class ConvMlp(nn.Module):
    """1x1 conv, 3x3 depth-wise conv, GELU, 1x1 conv (the official Mlp with its DWConv)."""

    def __init__(self, dim: int, hidden_dim: int, act_layer=nn.GELU, drop: float = 0., device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.fc1 = nn.Conv2d(dim, hidden_dim, 1, **dd)
        self.dwconv = nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1, groups=hidden_dim, **dd)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Conv2d(hidden_dim, dim, 1, **dd)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop1(self.act(self.dwconv(self.fc1(x))))
        return self.drop2(self.fc2(x))


class VANBlock(nn.Module):
    def __init__(self, dim: int, mlp_ratio: float = 4., drop: float = 0., drop_path: float = 0.,
                 layer_scale_init_value: float = 1e-2, act_layer=nn.GELU, device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.norm1 = nn.BatchNorm2d(dim, **dd)
        self.attn = SpatialAttention(dim, act_layer, **dd)
        self.ls1 = LayerScale2d(dim, layer_scale_init_value, **dd)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.BatchNorm2d(dim, **dd)
        self.mlp = ConvMlp(dim, int(dim * mlp_ratio), act_layer, drop, **dd)
        self.ls2 = LayerScale2d(dim, layer_scale_init_value, **dd)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x))))
        x = x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))
        return x


class PatchEmbed(nn.Module):
    """Overlapping patch embedding: ``k x k`` conv with stride ``s`` and padding ``k // 2``, then BatchNorm."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, stride: int, device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride=stride, padding=kernel_size // 2, **dd)
        self.norm = nn.BatchNorm2d(out_chs, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class VANStage(nn.Module):
    """Patch embedding (the stem in stage 0), blocks, then a LayerNorm over the channels (eps 1e-6)."""

    def __init__(self, in_chs: int, dim: int, depth: int, mlp_ratio: float, downsample: bool,
                 drop_path: Sequence[float], drop: float = 0., layer_scale_init_value: float = 1e-2,
                 norm_eps: float = 1e-6, device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.grad_checkpointing = False
        # stage 0's patch embedding is the model's stem (model.stem), so it is not part of the stage
        self.downsample = PatchEmbed(in_chs, dim, 3, 2, **dd) if downsample else nn.Identity()
        self.blocks = nn.Sequential(*[
            VANBlock(dim, mlp_ratio, drop, drop_path[i], layer_scale_init_value, **dd) for i in range(depth)])
        self.norm = LayerNorm2d(dim, eps=norm_eps, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # LayerNorm2d returns a permuted view: give the next stage the memory format this one received
        inp = x
        x = self.downsample(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint_seq(self.blocks, x)
        else:
            x = self.blocks(x)
        return contiguous_as(self.norm(x), inp)


class VAN(PyramidClassifierMixin, nn.Module):
    """Visual Attention Network backbone/classifier.

    Args:
        depths, embed_dims, mlp_ratios: per stage (the official b0-b6 values are in the entry points).
        layer_scale_init_value: initial layer scale (1e-2 officially).
        norm_eps: eps of the per-stage LayerNorms (1e-6 in the official classification code; mmpretrain 1e-5).
    """

    def __init__(self, in_chans: int = 3, num_classes: int = 1000, global_pool: str = 'avg',
                 depths: Sequence[int] = (3, 3, 5, 2), embed_dims: Sequence[int] = (32, 64, 160, 256),
                 mlp_ratios: Sequence[float] = (8, 8, 4, 4), drop_rate: float = 0., proj_drop_rate: float = 0.,
                 drop_path_rate: float = 0., layer_scale_init_value: float = 1e-2, norm_eps: float = 1e-6,
                 device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        assert len(depths) == len(embed_dims) == len(mlp_ratios)
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.num_features = self.head_hidden_size = embed_dims[-1]
        self.stem = PatchEmbed(in_chans, embed_dims[0], 7, 4, **dd)
        dpr = torch.linspace(0, drop_path_rate, sum(depths), device='cpu').split(list(depths))
        stages = []
        self.feature_info = []
        for i, depth in enumerate(depths):
            stages.append(VANStage(
                embed_dims[max(i - 1, 0)], embed_dims[i], depth, mlp_ratios[i], downsample=i > 0,
                drop_path=dpr[i].tolist(), drop=proj_drop_rate, layer_scale_init_value=layer_scale_init_value,
                norm_eps=norm_eps, **dd))
            self.feature_info.append(dict(num_chs=embed_dims[i], reduction=4 * 2 ** i, module=f'stages.{i}'))
        self.stages = nn.Sequential(*stages)
        self.head = ClassifierHead(self.num_features, num_classes, pool_type=global_pool, drop_rate=drop_rate,
                                   **dd)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module):
        # the official init: conv weights N(0, sqrt(2 / fan_out)) with fan_out per group, zero biases;
        # linear weights truncated normal (std .02)
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0., (2. / fan_out) ** 0.5)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict:
        return dict(
            stem=r'^stem',
            blocks=r'^stages\.(\d+)' if coarse else [
                (r'^stages\.(\d+)\.downsample', (0,)),
                (r'^stages\.(\d+)\.blocks\.(\d+)', None),
                (r'^stages\.(\d+)\.norm', (99999,)),
            ])

    @torch.jit.ignore
    def no_weight_decay(self):
        # The official set names parameters VAN does not have; 1-D params (norms, biases, layer scales) are
        # exempt in timm's optimizer factory anyway.
        return set()

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = 'NCHW',
            intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """Stage outputs (each after its LayerNorm, as the official backbones return them), NCHW, strides 4-32.

        ``norm`` has no effect: every stage ends with its own norm.
        """
        assert output_fmt == 'NCHW', 'Output format must be NCHW.'
        intermediates = []
        take_indices, max_index = feature_take_indices(len(self.stages), indices)
        x = self.stem(check_input(x, self.in_chans, 1))
        if torch.jit.is_scripting() or not stop_early:
            stages = self.stages
        else:
            stages = self.stages[:max_index + 1]
        for feat_idx, stage in enumerate(stages):
            x = stage(x)
            if feat_idx in take_indices:
                intermediates.append(x)
        if intermediates_only:
            return intermediates
        return x, intermediates

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(check_input(x, self.in_chans, 1))
        return self.stages(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# ---------------------------------------------------------------------------------------------------------
# Checkpoint conversion

def _embed_name(i: int) -> str:
    """Our module for the official/mmpretrain ``patch_embed{i}`` (1-based)."""
    return 'stem' if i == 1 else f'stages.{i - 1}.downsample'


def _rename_block_tail(tail: str) -> str:
    """Block-internal names, official or mmpretrain, to ours."""
    rules = (
        ('layer_scale_1', 'ls1.gamma'), ('layer_scale_2', 'ls2.gamma'),
        ('attn.proj_1.', 'attn.proj_in.'), ('attn.proj_2.', 'attn.proj_out.'),
        ('attn.spatial_gating_unit.conv0.', 'attn.lka.conv_dw.'),
        ('attn.spatial_gating_unit.DW_conv.', 'attn.lka.conv_dw.'),
        ('attn.spatial_gating_unit.conv_spatial.', 'attn.lka.conv_dw_dilated.'),
        ('attn.spatial_gating_unit.DW_D_conv.', 'attn.lka.conv_dw_dilated.'),
        ('attn.spatial_gating_unit.conv1.', 'attn.lka.conv_pw.'),
        ('mlp.dwconv.dwconv.', 'mlp.dwconv.'),
    )
    for old, new in rules:
        if tail.startswith(old):
            return new + tail[len(old):]
    return tail


def _official_to_ours(key: str) -> Optional[str]:
    """Rename one key of the original release (VAN-Classification models/van.py) or of mmpretrain's VAN."""
    if key.startswith('backbone.'):  # mmpretrain ImageClassifier
        key = key[len('backbone.'):]
    m = re.match(r'patch_embed(\d)\.(proj|projection)\.(.*)$', key)
    if m:
        return f'{_embed_name(int(m.group(1)))}.conv.{m.group(3)}'
    m = re.match(r'patch_embed(\d)\.norm\.(.*)$', key)
    if m:
        return f'{_embed_name(int(m.group(1)))}.norm.{m.group(2)}'
    m = re.match(r'blocks?(\d)\.(\d+)\.(.*)$', key)  # official block{i}, mmpretrain blocks{i}
    if m:
        return f'stages.{int(m.group(1)) - 1}.blocks.{m.group(2)}.{_rename_block_tail(m.group(3))}'
    m = re.match(r'norm(\d)\.(.*)$', key)
    if m:
        return f'stages.{int(m.group(1)) - 1}.norm.{m.group(2)}'
    m = re.match(r'head\.(fc\.)?(weight|bias)$', key)  # official 'head', mmpretrain LinearClsHead 'head.fc'
    if m:
        return f'head.fc.{m.group(2)}'
    return key


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: VAN) -> Dict[str, torch.Tensor]:
    """Accept the original release, mmpretrain's converted VAN, or vizattn's own state_dict; strict."""
    state_dict = unwrap_state_dict(state_dict)
    if 'stem.conv.weight' not in state_dict:
        state_dict = remap_keys(state_dict, _official_to_ours)
    try:
        return check_state_dict(state_dict, model)
    except CheckpointError as e:
        raise CheckpointError(
            f'{e} (VAN checkpoints accepted: the original release, mmpretrain\'s VAN, vizattn\'s own)') from None


def _create_van(variant: str, pretrained: bool = False, **kwargs) -> VAN:
    out_indices = kwargs.pop('out_indices', (0, 1, 2, 3))
    return build_model(VAN, variant, pretrained, checkpoint_filter_fn,
                       feature_cfg=dict(flatten_sequential=True, out_indices=out_indices), **kwargs)


def _cfg(url: str = '', **kwargs):
    # The official default_cfg is timm 0.4.12's ViT _cfg: Inception mean/std (0.5), crop 0.9, bicubic.
    return {
        'url': url, 'num_classes': 1000, 'input_size': (3, 224, 224), 'pool_size': (7, 7),
        'crop_pct': 0.9, 'interpolation': 'bicubic', 'mean': IMAGENET_INCEPTION_MEAN, 'std': IMAGENET_INCEPTION_STD,
        'first_conv': 'stem.conv', 'classifier': 'head.fc', 'license': 'apache-2.0',
        'paper_ids': 'arXiv:2202.09741', 'paper_name': 'Visual Attention Network',
        'origin_url': 'https://github.com/Visual-Attention-Network/VAN-Classification', **kwargs,
    }


def _hf(size: str, file: str):
    repo = f'Visual-Attention-Network/VAN-{size}-original'
    return _cfg(f'https://huggingface.co/{repo}/resolve/main/{file}', hf_hub_id=repo, hf_hub_filename=file)


_MMPRETRAIN = 'https://download.openmmlab.com/mmclassification/v0/van/'

# The original ImageNet-1K weights (VAN-Classification models/van.py, model_urls; the Hugging Face repos of the
# README). b4-b6 have no released ImageNet-1K classifier (only 22K-pretrained backbones on Tsinghua Cloud).
# mmpretrain's conversions of b0-b3 are kept as a second tag; they hold the same weights.
default_cfgs = generate_default_cfgs({
    'van_b0.in1k': _hf('Tiny', 'van_tiny_754.pth.tar'),
    'van_b1.in1k': _hf('Small', 'van_small_811.pth.tar'),
    'van_b2.in1k': _hf('Base', 'van_base_828.pth.tar'),
    'van_b3.in1k': _hf('Large', 'van_large_839.pth.tar'),
    'van_b4.untrained': _cfg(),
    'van_b5.untrained': _cfg(),
    'van_b6.untrained': _cfg(),
})

# mmpretrain's converted checkpoints (configs/van/metafile.yml); load with
# pretrained_cfg_overlay=dict(url=MMPRETRAIN_URLS['van_b0']) or a downloaded file.
MMPRETRAIN_URLS = {
    'van_b0': _MMPRETRAIN + 'van-tiny_8xb128_in1k_20220501-385941af.pth',
    'van_b1': _MMPRETRAIN + 'van-small_8xb128_in1k_20220501-17bc91aa.pth',
    'van_b2': _MMPRETRAIN + 'van-base_8xb128_in1k_20220501-6a4cc31b.pth',
    'van_b3': _MMPRETRAIN + 'van-large_8xb128_in1k_20220501-f212ba21.pth',
}


def _entry(variant: str, depths, embed_dims, pretrained: bool, kwargs) -> VAN:
    args = dict(depths=depths, embed_dims=embed_dims, mlp_ratios=(8, 8, 4, 4))
    return _create_van(variant, pretrained, **dict(args, **kwargs))


@register_model
def van_b0(pretrained: bool = False, **kwargs) -> VAN:
    """VAN-B0 (VAN-Tiny): 4.1M params, 0.9 GFLOPs, 75.4% top-1 (README)."""
    return _entry('van_b0', (3, 3, 5, 2), (32, 64, 160, 256), pretrained, kwargs)


@register_model
def van_b1(pretrained: bool = False, **kwargs) -> VAN:
    """VAN-B1 (VAN-Small): 13.9M params, 2.5 GFLOPs, 81.1% top-1 (README)."""
    return _entry('van_b1', (2, 2, 4, 2), (64, 128, 320, 512), pretrained, kwargs)


@register_model
def van_b2(pretrained: bool = False, **kwargs) -> VAN:
    """VAN-B2 (VAN-Base): 26.6M params, 5.0 GFLOPs, 82.8% top-1 (README)."""
    return _entry('van_b2', (3, 3, 12, 3), (64, 128, 320, 512), pretrained, kwargs)


@register_model
def van_b3(pretrained: bool = False, **kwargs) -> VAN:
    """VAN-B3 (VAN-Large): 44.8M params, 9.0 GFLOPs, 83.9% top-1 (README)."""
    return _entry('van_b3', (3, 5, 27, 3), (64, 128, 320, 512), pretrained, kwargs)


@register_model
def van_b4(pretrained: bool = False, **kwargs) -> VAN:
    """VAN-B4: 60.3M params (paper)."""
    return _entry('van_b4', (3, 6, 40, 3), (64, 128, 320, 512), pretrained, kwargs)


@register_model
def van_b5(pretrained: bool = False, **kwargs) -> VAN:
    """VAN-B5: 90.0M params (paper)."""
    return _entry('van_b5', (3, 3, 24, 3), (96, 192, 480, 768), pretrained, kwargs)


@register_model
def van_b6(pretrained: bool = False, **kwargs) -> VAN:
    """VAN-B6: 199.8M params (paper)."""
    return _entry('van_b6', (6, 6, 90, 6), (96, 192, 384, 768), pretrained, kwargs)
