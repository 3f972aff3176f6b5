"""BiFormer: Vision Transformer with Bi-Level Routing Attention (Zhu et al., CVPR 2023, arXiv:2303.08810).

A 4-stage hierarchy (conv stem, stride-2 conv downsampling, BatchNorm). Each block: 3x3 depth-wise conv
position embedding, then pre-norm bi-level routing attention (``vizattn.ops.bra``) with a 5x5 depth-wise LePE
on V, then an MLP. Stage 4 uses plain global attention (8 heads) with LePE on the block input.

The released checkpoints (``{'model': state_dict, ...}``, keys ``downsample_layers.*``, ``stages.i.j.*``,
``attn.qkv.qkv``, ``attn.wo``, ``mlp.0/3``) load strictly through ``checkpoint_filter_fn``. Kept from the
official code for weight compatibility: the routing and attention scale is ``qk_dim ** -0.5`` (the whole
qk dim, not the head dim), routing is detached, stage 4 has 8 heads whatever its width.
Unlike the official code, inputs of any size work: maps are padded to the region grid and the padded tokens
are masked out of routing and attention (identical output when the size is divisible).
"""
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import ClassifierHead, DropPath, Mlp, register_notrace_module, trunc_normal_
from timm.models import generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint_seq

from ..layers import check_input
from ..layers.pyramid import PyramidClassifierMixin
from ..ops.bra import bra
from ._builder import build_model
from ._checkpoint import check_state_dict, remap_keys, unwrap_state_dict

__all__ = ['BiFormer']


@register_notrace_module  # data-dependent routing and padding: a leaf for FX
class BiLevelRoutingAttention(nn.Module):
    """BRA on NHWC maps: routing over n_win x n_win regions, top-k region attention, LePE on V."""

    def __init__(self, dim: int, num_heads: int, n_win: int, topk: int, qk_dim: Optional[int] = None,
                 side_dwconv: int = 5, attn_backend: Optional[str] = None, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.dim = dim
        self.qk_dim = qk_dim or dim
        self.num_heads = num_heads
        self.n_win = n_win
        self.topk = topk
        self.scale = self.qk_dim ** -0.5  # whole qk dim, as in the official code
        self.attn_backend = attn_backend
        self.qkv = nn.Linear(dim, 2 * self.qk_dim + dim, **dd)
        self.lepe = nn.Conv2d(dim, dim, side_dwconv, padding=side_dwconv // 2, groups=dim, **dd)
        self.proj = nn.Linear(dim, dim, **dd)

    @torch.jit.ignore
    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return bra(q, k, v, self.num_heads, self.n_win, self.topk, self.scale, backend=self.attn_backend)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).split([self.qk_dim, self.qk_dim, self.dim], dim=-1)
        out = self._attend(q, k, v)
        out = out + self.lepe(v.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return self.proj(out)


class GlobalAttentionLePE(nn.Module):
    """Multi-head self-attention over the whole NHWC map, LePE (depth-wise conv) on the input x."""

    def __init__(self, dim: int, num_heads: int = 8, side_dwconv: int = 5, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=False, **dd)
        self.lepe = nn.Conv2d(dim, dim, side_dwconv, padding=side_dwconv // 2, groups=dim, **dd)
        self.proj = nn.Linear(dim, dim, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        qkv = self.qkv(x).reshape(B, H * W, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        out = out.transpose(1, 2).reshape(B, H, W, C)
        out = out + self.lepe(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return self.proj(out)


class BiFormerBlock(nn.Module):
    """NCHW in and out: x + DWConv3x3(x), then pre-norm attention and MLP on NHWC."""

    def __init__(self, dim: int, num_heads: int, n_win: int, topk: int, mlp_ratio: float = 3.,
                 drop_path: float = 0., side_dwconv: int = 5, global_heads: int = 8, pos_embed: bool = True,
                 attn_backend: Optional[str] = None, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        # conditional position embedding (3x3 depth-wise conv); BiFormer-STL has none
        self.pos_embed = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, **dd) if pos_embed else None
        self.norm1 = nn.LayerNorm(dim, eps=1e-6, **dd)
        if topk > 0:
            self.attn = BiLevelRoutingAttention(dim, num_heads, n_win, topk, side_dwconv=side_dwconv,
                                                attn_backend=attn_backend, **dd)
        else:
            self.attn = GlobalAttentionLePE(dim, global_heads, side_dwconv, **dd)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6, **dd)
        self.mlp = Mlp(dim, int(mlp_ratio * dim), act_layer=nn.GELU, **dd)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pos_embed is not None:
            x = x + self.pos_embed(x)
        x = x.permute(0, 2, 3, 1)
        x = x + self.drop_path1(self.attn(self.norm1(x)))
        x = x + self.drop_path2(self.mlp(self.norm2(x)))
        return x.permute(0, 3, 1, 2)


class ConvNorm(nn.Sequential):
    """3x3 stride-2 conv + BatchNorm, the stem halves and the downsampling between stages."""

    def __init__(self, in_chs: int, out_chs: int, device=None, dtype=None):
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, 3, stride=2, padding=1, device=device, dtype=dtype)
        self.norm = nn.BatchNorm2d(out_chs, device=device, dtype=dtype)


class NormConv(nn.Sequential):
    """BatchNorm + 2x2 stride-2 conv: BiFormer-STL's (Swin-layout) downsampling."""

    def __init__(self, in_chs: int, out_chs: int, device=None, dtype=None):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_chs, device=device, dtype=dtype)
        self.conv = nn.Conv2d(in_chs, out_chs, 2, stride=2, device=device, dtype=dtype)


class PatchStem(nn.Sequential):
    """4x4 stride-4 conv + BatchNorm: BiFormer-STL's stem."""

    def __init__(self, in_chs: int, out_chs: int, device=None, dtype=None):
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, 4, stride=4, device=device, dtype=dtype)
        self.norm = nn.BatchNorm2d(out_chs, device=device, dtype=dtype)


class Stem(nn.Module):
    """Two 3x3 stride-2 conv + BatchNorm with a GELU between: BiFormer's overlapping stem."""

    def __init__(self, in_chs: int, out_chs: int, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.conv1 = ConvNorm(in_chs, out_chs // 2, **dd)
        self.act = nn.GELU()
        self.conv2 = ConvNorm(out_chs // 2, out_chs, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x)))


class BiFormerStage(nn.Module):
    def __init__(self, in_dim: int, dim: int, depth: int, downsample: str, drop_path: Sequence[float],
                 device=None, dtype=None, **block_kwargs):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.grad_checkpointing = False
        layers = {'conv': ConvNorm, 'norm_conv': NormConv}
        self.downsample = layers[downsample](in_dim, dim, **dd) if downsample else nn.Identity()
        self.blocks = nn.Sequential(*[BiFormerBlock(dim, drop_path=drop_path[i], **dd, **block_kwargs)
                                      for i in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            return checkpoint_seq(self.blocks, x)
        return self.blocks(x)


class BiFormer(PyramidClassifierMixin, nn.Module):
    """BiFormer backbone/classifier.

    Args:
        depths, embed_dims, mlp_ratios: per stage.
        head_dim: channels per head in the BRA stages (heads = dim // head_dim).
        topks: routed regions per stage; a value <= 0 makes the stage global attention (8 heads).
        n_win: regions per side (7 for 224 classification; the paper uses 16 for COCO, 8 for ADE20K).
        layout: 'biformer' (overlapping conv stem, 3x3 conv downsampling, conv position embedding) or 'stl'
            (BiFormer-STL, the paper's Swin-T-layout ablation: 4x4 patch stem, BN + 2x2 conv downsampling, no
            position embedding).
        attn_backend: BRA backend ('reference', 'flex', 'triton'); None chooses automatically.
    """

    def __init__(self, in_chans: int = 3, num_classes: int = 1000, global_pool: str = 'avg',
                 depths: Sequence[int] = (2, 2, 8, 2), embed_dims: Sequence[int] = (64, 128, 256, 512),
                 mlp_ratios: Sequence[float] = (3, 3, 3, 3), head_dim: int = 32,
                 topks: Sequence[int] = (1, 4, 16, -1), n_win: int = 7, side_dwconv: int = 5,
                 global_heads: int = 8, drop_rate: float = 0., drop_path_rate: float = 0.,
                 layout: str = 'biformer', attn_backend: Optional[str] = None, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.n_win = n_win
        self.num_features = self.head_hidden_size = embed_dims[-1]
        if layout not in ('biformer', 'stl'):
            raise ValueError(f"layout must be 'biformer' or 'stl', got {layout!r}")
        stl = layout == 'stl'
        self.stem = (PatchStem if stl else Stem)(in_chans, embed_dims[0], **dd)
        total = sum(depths)
        dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]  # python: works under meta device
        stages = []
        self.feature_info = []
        for i, depth in enumerate(depths):
            stages.append(BiFormerStage(
                embed_dims[max(i - 1, 0)], embed_dims[i], depth,
                downsample=('norm_conv' if stl else 'conv') if i > 0 else '', pos_embed=not stl,
                drop_path=dpr[sum(depths[:i]):sum(depths[:i + 1])],
                num_heads=embed_dims[i] // head_dim, n_win=n_win, topk=topks[i], mlp_ratio=mlp_ratios[i],
                side_dwconv=side_dwconv, global_heads=global_heads, attn_backend=attn_backend, **dd))
            self.feature_info.append(dict(num_chs=embed_dims[i], reduction=4 * 2 ** i, module=f'stages.{i}'))
        self.stages = nn.Sequential(*stages)
        self.norm = nn.BatchNorm2d(self.num_features, **dd)
        self.head = ClassifierHead(self.num_features, num_classes, pool_type=global_pool, drop_rate=drop_rate, **dd)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module):
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def set_attn_backend(self, backend: Optional[str]):
        """Force a BRA backend for every block ('reference', 'flex', 'triton'; None = automatic)."""
        for m in self.modules():
            if isinstance(m, BiLevelRoutingAttention):
                m.attn_backend = backend

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict:
        return dict(
            stem=r'^stem',
            blocks=r'^stages\.(\d+)' if coarse else [
                (r'^stages\.(\d+)\.downsample', (0,)),
                (r'^stages\.(\d+)\.blocks\.(\d+)', None),
                (r'^norm', (99999,)),
            ])

    @torch.jit.ignore
    def no_weight_decay(self):
        # The official recipe decays every matrix; 1-D params (norms, biases) are exempt in timm's optimizer.
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
        """Features of the stages in ``indices`` (NCHW, strides 4-32), and the final normed map."""
        assert output_fmt == 'NCHW', 'Output format must be NCHW.'
        intermediates = []
        take_indices, max_index = feature_take_indices(len(self.stages), indices)
        last_idx = len(self.stages) - 1
        x = self.stem(check_input(x, self.in_chans, 32))
        if torch.jit.is_scripting() or not stop_early:
            stages = self.stages
        else:
            stages = self.stages[:max_index + 1]
        feat_idx = 0
        for feat_idx, stage in enumerate(stages):
            x = stage(x)
            if feat_idx in take_indices:
                intermediates.append(self.norm(x) if norm and feat_idx == last_idx else x)
        if intermediates_only:
            return intermediates
        if feat_idx == last_idx:
            x = self.norm(x)
        return x, intermediates

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(check_input(x, self.in_chans, 32))
        x = self.stages(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _official_to_ours(key: str) -> Optional[str]:
    """Rename one key of the official BiFormer layout (rayleizhu/BiFormer, models/biformer.py)."""
    stem = {'0': 'conv1.conv', '1': 'conv1.norm', '3': 'conv2.conv', '4': 'conv2.norm'}
    m = re.match(r'downsample_layers\.0\.(\d)\.(.*)', key)
    if m:
        return f'stem.{stem[m.group(1)]}.{m.group(2)}'
    m = re.match(r'downsample_layers\.(\d)\.(\d)\.(.*)', key)
    if m:
        return f'stages.{m.group(1)}.downsample.{("conv", "norm")[int(m.group(2))]}.{m.group(3)}'
    key = re.sub(r'^stages\.(\d+)\.(\d+)\.', r'stages.\1.blocks.\2.', key)
    return _official_block_and_head(key)


def _official_stl_to_ours(key: str) -> Optional[str]:
    """Rename one key of the official BiFormer-STL layout (models/biformer_stl.py)."""
    m = re.match(r'downsample_layers\.0\.(\d)\.(.*)', key)
    if m:
        return f'stem.{("conv", "norm")[int(m.group(1))]}.{m.group(2)}'
    m = re.match(r'downsample_layers\.(\d)\.(\d)\.(.*)', key)
    if m:  # BN first, then the 2x2 conv
        return f'stages.{m.group(1)}.downsample.{("norm", "conv")[int(m.group(2))]}.{m.group(3)}'
    return _official_block_and_head(key.replace('.mlp.2.', '.mlp.fc2.'))


def _official_block_and_head(key: str) -> str:
    key = key.replace('.attn.qkv.qkv.', '.attn.qkv.').replace('.attn.wo.', '.attn.proj.')
    key = key.replace('.mlp.0.', '.mlp.fc1.').replace('.mlp.3.', '.mlp.fc2.')
    return re.sub(r'^head\.', 'head.fc.', key)


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: BiFormer) -> Dict[str, torch.Tensor]:
    """Accept the official release ({'model': ...}, official keys) or vizattn's own state_dict."""
    state_dict = unwrap_state_dict(state_dict)
    if not any(k.startswith('stem.') for k in state_dict):
        rename = _official_stl_to_ours if isinstance(model.stem, PatchStem) else _official_to_ours
        state_dict = remap_keys(state_dict, rename)
    return check_state_dict(state_dict, model)


def _create_biformer(variant: str, pretrained: bool = False, **kwargs) -> BiFormer:
    out_indices = kwargs.pop('out_indices', (0, 1, 2, 3))
    return build_model(BiFormer, variant, pretrained, checkpoint_filter_fn,
                       feature_cfg=dict(flatten_sequential=True, out_indices=out_indices), **kwargs)


def _cfg(url: str = '', **kwargs):
    return {
        'url': url, 'num_classes': 1000, 'input_size': (3, 224, 224), 'pool_size': (7, 7),
        'crop_pct': 0.875, 'interpolation': 'bicubic', 'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        'first_conv': 'stem.conv1.conv', 'classifier': 'head.fc', 'license': 'mit',
        'paper_ids': 'arXiv:2303.08810', 'paper_name': 'BiFormer: Vision Transformer with Bi-Level Routing Attention',
        'origin_url': 'https://github.com/rayleizhu/BiFormer', **kwargs,
    }


# The official OneDrive share links (models/biformer.py, model_urls). Their file name is 'content', so they are
# fetched under the names of checkpoints/manifest.json by vizattn.models._builder (see docs/checkpoints.md).
default_cfgs = generate_default_cfgs({
    'biformer_t.in1k': _cfg('https://api.onedrive.com/v1.0/shares/s!AkBbczdRlZvChHEOoGkgwgQzEDlM/root/content'),
    'biformer_s.in1k': _cfg('https://api.onedrive.com/v1.0/shares/s!AkBbczdRlZvChHDyM-x9KWRBZ832/root/content'),
    'biformer_b.in1k': _cfg('https://api.onedrive.com/v1.0/shares/s!AkBbczdRlZvChHI_XPhoadjaNxtO/root/content'),
    'biformer_stl.in1k': _cfg('https://api.onedrive.com/v1.0/shares/s!AkBbczdRlZvChSf-m7ujkvx9lIQ1/root/content',
                              first_conv='stem.conv'),
})


@register_model
def biformer_t(pretrained: bool = False, **kwargs) -> BiFormer:
    """BiFormer-T: 13.1M params, 2.2 GFLOPs, 81.4% top-1 (paper)."""
    args = dict(depths=(2, 2, 8, 2), embed_dims=(64, 128, 256, 512))
    return _create_biformer('biformer_t', pretrained, **dict(args, **kwargs))


@register_model
def biformer_s(pretrained: bool = False, **kwargs) -> BiFormer:
    """BiFormer-S: 25.5M params, 4.5 GFLOPs, 83.8% top-1 (paper)."""
    args = dict(depths=(4, 4, 18, 4), embed_dims=(64, 128, 256, 512))
    return _create_biformer('biformer_s', pretrained, **dict(args, **kwargs))


@register_model
def biformer_b(pretrained: bool = False, **kwargs) -> BiFormer:
    """BiFormer-B: 56.8M params, 9.8 GFLOPs, 84.3% top-1 (paper)."""
    args = dict(depths=(4, 4, 18, 4), embed_dims=(96, 192, 384, 768))
    return _create_biformer('biformer_b', pretrained, **dict(args, **kwargs))


@register_model
def biformer_stl(pretrained: bool = False, **kwargs) -> BiFormer:
    """BiFormer-STL (Swin-T layout, the paper's ablation): 28.4M params, 4.6 GFLOPs, 82.7% top-1."""
    args = dict(depths=(2, 2, 6, 2), embed_dims=(96, 192, 384, 768), mlp_ratios=(4, 4, 4, 4), layout='stl')
    return _create_biformer('biformer_stl', pretrained, **dict(args, **kwargs))
