"""LITv2: Fast Vision Transformers with HiLo Attention (Pan et al., NeurIPS 2022, arXiv:2205.13213).

A 4-stage hierarchy on a 4x4 patch embedding. Stages 1-2 hold ConvFFN blocks only (pre-norm
``fc1 -> 3x3 depth-wise conv -> GELU -> fc2``, no attention). Stage 3 blocks add HiLo attention
(``vizattn.ops.hilo``): ``int(heads * alpha)`` Lo-Fi heads attend globally to the map average-pooled by
``window_size``, the other heads attend inside ``window_size`` x ``window_size`` windows (alpha 0.9, window 2 in
the released models). Stage 4 uses window 1, which is plain global multi-head attention. Between stages a
deformable token merging (DTM) halves the map: a 2x2 stride-2 deformable convolution (DCNv1, offsets from a
2x2 stride-2 conv of its input) -> BatchNorm -> GELU, computed with ``torchvision.ops.deform_conv2d`` (no custom
CUDA extension, no apex).

The released checkpoints (``{'model': state_dict, 'config': yacs CfgNode, ...}``, keys ``layers.i.blocks.j.*``,
``layers.i.downsample.dconv(.conv_offset).*``, ``head.*``) load strictly through ``checkpoint_filter_fn``.
Unlike the official classification code, inputs of any size work: the image is zero-padded to the patch size,
HiLo pads its windows and masks the padded keys (the Lo-Fi pooling averages valid tokens only), DTM pads odd
maps to even. At sizes divisible by 32 the output is the official one.
"""
import math
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import (ClassifierHead, DropPath, LayerNorm2d, register_notrace_function,
                         register_notrace_module, trunc_normal_)
from timm.models import generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint_seq
from torchvision.ops import deform_conv2d

from ..layers import check_input
from ..layers.pyramid import PyramidClassifierMixin
from ..ops.hilo import hilo, window_mean_pool
from ._builder import build_model
from ._checkpoint import check_state_dict, remap_keys, unwrap_state_dict

__all__ = ['LITv2', 'HiLoAttention', 'DeformConv2d']


@register_notrace_function  # (FX autowraps only names without a leading underscore)
def pad_hw_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad an NCHW map at the bottom/right to a multiple of ``multiple``."""
    pad_h, pad_w = (-x.shape[2]) % multiple, (-x.shape[3]) % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, [0, pad_w, 0, pad_h])


@register_notrace_module  # shape-dependent padding/pooling and the op dispatch: a leaf for FX
class HiLoAttention(nn.Module):
    """HiLo attention on NHWC maps (official parameter names ``l_q, l_kv, l_proj, h_qkv, h_proj``).

    Args:
        dim: channels; num_heads: heads of both groups together (head_dim = dim // num_heads).
        window_size: ``s``: Hi-Fi window side and Lo-Fi pooling size; 1 gives plain global attention.
        alpha: share of Lo-Fi heads, ``lo_heads = int(num_heads * alpha)`` as in the official code.
        attn_backend: backend of ``vizattn.ops.hilo`` ('reference'; None chooses automatically).
    """

    def __init__(self, dim: int, num_heads: int = 8, window_size: int = 2, alpha: float = 0.9,
                 qkv_bias: bool = True, qk_scale: Optional[float] = None, attn_backend: Optional[str] = None,
                 device=None, dtype=None):
        super().__init__()
        dd = {'device': device, 'dtype': dtype}
        if num_heads < 1 or dim % num_heads:
            raise ValueError(f'HiLo: dim {dim} must be divisible by num_heads {num_heads}')
        if not 0. <= alpha <= 1.:
            raise ValueError(f'HiLo: alpha must be in [0, 1], got {alpha}')
        if window_size < 1:
            raise ValueError(f'HiLo: window_size must be >= 1, got {window_size}')
        head_dim = dim // num_heads
        self.dim = dim
        self.window_size = window_size
        self.attn_backend = attn_backend
        if window_size == 1:  # one window per token: plain multi-head attention, all heads Lo-Fi, unpooled
            self.lo_heads, self.hi_heads = num_heads, 0
        else:
            self.lo_heads = int(num_heads * alpha)
            self.hi_heads = num_heads - self.lo_heads
        self.lo_dim, self.hi_dim = self.lo_heads * head_dim, self.hi_heads * head_dim
        self.scale = qk_scale or head_dim ** -0.5
        # Absent groups get parameter-free placeholders so that forward stays scriptable.
        if self.lo_heads > 0:
            self.l_q = nn.Linear(dim, self.lo_dim, bias=qkv_bias, **dd)
            self.l_kv = nn.Linear(dim, 2 * self.lo_dim, bias=qkv_bias, **dd)
            self.l_proj = nn.Linear(self.lo_dim, self.lo_dim, **dd)
        else:
            self.l_q, self.l_kv, self.l_proj = nn.Identity(), nn.Identity(), nn.Identity()
        if self.hi_heads > 0:
            self.h_qkv = nn.Linear(dim, 3 * self.hi_dim, bias=qkv_bias, **dd)
            self.h_proj = nn.Linear(self.hi_dim, self.hi_dim, **dd)
        else:
            self.h_qkv, self.h_proj = nn.Identity(), nn.Identity()

    @torch.jit.ignore
    def _attend(self, hi_q: Optional[torch.Tensor], hi_k: Optional[torch.Tensor], hi_v: Optional[torch.Tensor],
                lo_q: Optional[torch.Tensor], lo_k: Optional[torch.Tensor], lo_v: Optional[torch.Tensor],
                ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        return hilo(hi_q, hi_k, hi_v, lo_q, lo_k, lo_v, self.hi_heads, self.lo_heads, self.window_size,
                    self.scale, backend=self.attn_backend)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hi_q: Optional[torch.Tensor] = None
        hi_k: Optional[torch.Tensor] = None
        hi_v: Optional[torch.Tensor] = None
        lo_q: Optional[torch.Tensor] = None
        lo_k: Optional[torch.Tensor] = None
        lo_v: Optional[torch.Tensor] = None
        if self.hi_heads > 0:
            qkv = self.h_qkv(x).chunk(3, dim=-1)
            hi_q, hi_k, hi_v = qkv[0], qkv[1], qkv[2]
        if self.lo_heads > 0:
            lo_q = self.l_q(x)
            kv = self.l_kv(window_mean_pool(x, self.window_size)).chunk(2, dim=-1)
            lo_k, lo_v = kv[0], kv[1]
        hi, lo = self._attend(hi_q, hi_k, hi_v, lo_q, lo_k, lo_v)
        outs: List[torch.Tensor] = []
        if hi is not None:
            outs.append(self.h_proj(hi))
        if lo is not None:
            outs.append(self.l_proj(lo))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)


class DWMlp(nn.Module):
    """ConvFFN on NHWC maps: fc1 -> 3x3 depth-wise conv -> GELU -> fc2."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0., device=None, dtype=None):
        super().__init__()
        dd = {'device': device, 'dtype': dtype}
        self.fc1 = nn.Linear(dim, hidden_dim, **dd)
        self.dwconv = nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1, groups=hidden_dim, **dd)
        self.act = nn.GELU()
        self.drop = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_dim, dim, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc1(x)
        x = self.dwconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        x = self.drop(self.act(x))
        return self.drop(self.fc2(x))


class ConvFFNBlock(nn.Module):
    """x + DropPath(DWMlp(LN(x))) on NHWC maps (stages without attention)."""

    def __init__(self, dim: int, mlp_ratio: float = 4., drop: float = 0., drop_path: float = 0.,
                 device=None, dtype=None):
        super().__init__()
        dd = {'device': device, 'dtype': dtype}
        self.norm2 = nn.LayerNorm(dim, **dd)
        self.mlp = DWMlp(dim, int(dim * mlp_ratio), drop, **dd)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.mlp(self.norm2(x)))


class HiLoBlock(nn.Module):
    """Pre-norm HiLo attention then ConvFFN, on NHWC maps."""

    def __init__(self, dim: int, num_heads: int, window_size: int, alpha: float, mlp_ratio: float = 4.,
                 qkv_bias: bool = True, drop: float = 0., drop_path: float = 0.,
                 attn_backend: Optional[str] = None, device=None, dtype=None):
        super().__init__()
        dd = {'device': device, 'dtype': dtype}
        self.norm1 = nn.LayerNorm(dim, **dd)
        self.attn = HiLoAttention(dim, num_heads, window_size, alpha, qkv_bias, attn_backend=attn_backend, **dd)
        self.norm2 = nn.LayerNorm(dim, **dd)
        self.mlp = DWMlp(dim, int(dim * mlp_ratio), drop, **dd)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


@register_notrace_module  # torchvision's deform_conv2d checks shapes in Python: a leaf for FX
class DeformConv2d(nn.Module):
    """Deformable convolution (DCNv1, no modulation) whose offsets come from a conv of the same geometry.

    Parameters as the official ``DeformConv2dPack``: ``weight (out, in, k, k)``, ``bias``, and the offset conv
    (``offset``, ``2 * k * k`` channels ordered (dy, dx) per kernel tap in raster order, zero-initialised),
    which is also torchvision's layout. Computed in fp32 like the official op (apex ``float_function``).
    """

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int = 2, stride: int = 2, padding: int = 0,
                 device=None, dtype=None):
        super().__init__()
        dd = {'device': device, 'dtype': dtype}
        self.stride = stride
        self.padding = padding
        self.weight = nn.Parameter(torch.empty(out_chs, in_chs, kernel_size, kernel_size, **dd))
        self.bias = nn.Parameter(torch.empty(out_chs, **dd))
        self.offset = nn.Conv2d(in_chs, 2 * kernel_size * kernel_size, kernel_size, stride, padding, **dd)
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(self.weight[0].numel())
        nn.init.uniform_(self.bias, -bound, bound)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offset = self.offset(x)
        out = deform_conv2d(x.float(), offset.float(), self.weight.float(), self.bias.float(),
                            stride=(self.stride, self.stride), padding=(self.padding, self.padding))
        return out.to(x.dtype)


class DeformTokenMerging(nn.Module):
    """DTM: 2x2 stride-2 deformable conv -> BatchNorm -> GELU on NCHW maps (odd sizes are padded to even)."""

    def __init__(self, in_chs: int, out_chs: int, device=None, dtype=None):
        super().__init__()
        self.conv = DeformConv2d(in_chs, out_chs, 2, 2, device=device, dtype=dtype)
        self.norm = nn.BatchNorm2d(out_chs, device=device, dtype=dtype)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(pad_hw_to_multiple(x, 2))))


class PatchEmbed(nn.Module):
    """4x4 stride-4 conv + LayerNorm, NCHW in and out; the image is zero-padded to a multiple of 4."""

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int = 4, device=None, dtype=None):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, patch_size, device=device, dtype=dtype)
        self.norm = LayerNorm2d(embed_dim, eps=1e-5, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(pad_hw_to_multiple(x, self.patch_size)))


class LITv2Stage(nn.Module):
    """[DTM] then blocks; NCHW in and out, the blocks run on NHWC."""

    def __init__(self, in_dim: int, dim: int, depth: int, num_heads: int, window_size: int, alpha: float,
                 downsample: bool, mlp_ratio: float = 4., qkv_bias: bool = True, drop: float = 0.,
                 drop_path: Sequence[float] = (), attn_backend: Optional[str] = None, device=None, dtype=None):
        super().__init__()
        dd = {'device': device, 'dtype': dtype}
        self.grad_checkpointing = False
        self.downsample = DeformTokenMerging(in_dim, dim, **dd) if downsample else nn.Identity()
        dpr = list(drop_path) or [0.] * depth
        if window_size > 0:
            blocks = [HiLoBlock(dim, num_heads, window_size, alpha, mlp_ratio, qkv_bias, drop, dpr[i], attn_backend,
                                **dd) for i in range(depth)]
        else:
            blocks = [ConvFFNBlock(dim, mlp_ratio, drop, dpr[i], **dd) for i in range(depth)]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # One copy here: an NHWC view of NCHW memory would propagate through every residual add and make each
        # LayerNorm and Linear of the stage copy its input.
        x = self.downsample(x).permute(0, 2, 3, 1).contiguous()
        if self.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint_seq(self.blocks, x)
        else:
            x = self.blocks(x)
        return x.permute(0, 3, 1, 2)


class LITv2(PyramidClassifierMixin, nn.Module):
    """LITv2 backbone/classifier.

    Args:
        embed_dim: channels of stage 1 (doubled at every stage); depths, num_heads: per stage.
        window_size: per-stage ``s`` (the official ``LOCAL_WS``): 0 = ConvFFN-only stage, 1 = global attention,
            > 1 = HiLo with that window. An int sets the HiLo window of stage 3 (stages: 0, 0, int, 1).
        alpha: share of Lo-Fi heads in HiLo (0.9 in the released models; v1.1 has ablations 0 ... 1).
        attn_backend: backend of ``vizattn.ops.hilo``; None chooses automatically.
    """

    def __init__(self, in_chans: int = 3, num_classes: int = 1000, global_pool: str = 'avg', embed_dim: int = 96,
                 depths: Sequence[int] = (2, 2, 6, 2), num_heads: Sequence[int] = (3, 6, 12, 24),
                 window_size: Union[int, Sequence[int]] = (0, 0, 2, 1), alpha: float = 0.9,
                 mlp_ratio: float = 4., qkv_bias: bool = True, drop_rate: float = 0., proj_drop_rate: float = 0.,
                 drop_path_rate: float = 0., attn_backend: Optional[str] = None, device=None, dtype=None):
        super().__init__()
        dd = {'device': device, 'dtype': dtype}
        num_stages = len(depths)
        if isinstance(window_size, int):
            window_size = (0,) * (num_stages - 2) + (window_size, 1)
        window_size = tuple(window_size)
        if len(num_heads) != num_stages or len(window_size) != num_stages:
            raise ValueError(f'depths, num_heads and window_size need one entry per stage, got {tuple(depths)}, '
                             f'{tuple(num_heads)}, {window_size}')
        if any(w < 0 for w in window_size):
            raise ValueError(f'window_size entries must be >= 0 (0: no attention), got {window_size}')
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.window_size = window_size
        self.alpha = alpha
        dims = [embed_dim * 2 ** i for i in range(num_stages)]
        self.num_features = self.head_hidden_size = dims[-1]
        self.patch_embed = PatchEmbed(in_chans, embed_dim, **dd)
        total = sum(depths)  # stochastic depth decay rule, linear over all blocks (python: works on meta too)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        dpr = [rates[sum(depths[:i]):sum(depths[:i + 1])] for i in range(num_stages)]
        stages = []
        self.feature_info = []
        for i in range(num_stages):
            stages.append(LITv2Stage(
                dims[max(i - 1, 0)], dims[i], depths[i], num_heads[i], window_size[i], alpha, downsample=i > 0,
                mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=proj_drop_rate, drop_path=dpr[i],
                attn_backend=attn_backend, **dd))
            self.feature_info.append(dict(num_chs=dims[i], reduction=4 * 2 ** i, module=f'stages.{i}'))
        self.stages = nn.Sequential(*stages)
        self.norm = LayerNorm2d(self.num_features, eps=1e-5, **dd)
        self.head = ClassifierHead(self.num_features, num_classes, pool_type=global_pool, drop_rate=drop_rate, **dd)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module):
        # As the official code: trunc-normal linears, fan-out normal depth-wise convs, zero offsets (DeformConv2d).
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d) and m.groups > 1:
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def set_attn_backend(self, backend: Optional[str]):
        """Force a HiLo backend for every block (None = automatic)."""
        for m in self.modules():
            if isinstance(m, HiLoAttention):
                m.attn_backend = backend

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict:
        return dict(
            stem=r'^patch_embed',
            blocks=r'^stages\.(\d+)' if coarse else [
                (r'^stages\.(\d+)\.downsample', (0,)),
                (r'^stages\.(\d+)\.blocks\.(\d+)', None),
                (r'^norm', (99999,)),
            ])

    @torch.jit.ignore
    def no_weight_decay(self):
        # The official list ('absolute_pos_embed') names no LITv2 parameter; 1-D params are exempt in timm anyway.
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
        """Features of the stages in ``indices`` (NCHW, strides 4-32, before the next DTM), and the final map."""
        assert output_fmt == 'NCHW', 'Output format must be NCHW.'
        intermediates = []
        take_indices, max_index = feature_take_indices(len(self.stages), indices)
        last_idx = len(self.stages) - 1
        x = self.patch_embed(check_input(x, self.in_chans, 32))
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
        x = self.patch_embed(check_input(x, self.in_chans, 32))
        x = self.stages(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# ---------------------------------------------------------------------------------------------------------
# FLOPs. torch.utils.flop_counter has no formula for torchvision::deform_conv2d, so count_macs (vizattn.utils)
# misses the DTM convolutions. Counted like a dense conv of the same shape (one MAC per weight and output
# position, as the paper's flops() counts it); the bilinear sampling (4 MACs per sampled value,
# 4 * C_in * k^2 * H_out * W_out, i.e. 4 / C_out of the conv: 2.1 MMACs for LITv2-S at 224) is not counted.

# ---------------------------------------------------------------------------------------------------------
# Checkpoints

def _official_to_ours(key: str) -> Optional[str]:
    """Rename one key of the official LITv2 layout (ziplab/LITv2, classification/models)."""
    m = re.match(r'layers\.(\d+)\.downsample\.(.*)', key)
    if m:  # the DTM after official stage i is the first module of our stage i + 1
        rest = m.group(2).replace('dconv.conv_offset.', 'conv.offset.').replace('dconv.', 'conv.')
        return f'stages.{int(m.group(1)) + 1}.downsample.{rest.replace("norm_layer.", "norm.")}'
    key = re.sub(r'^layers\.(\d+)\.blocks\.', r'stages.\1.blocks.', key)
    key = key.replace('.mlp.dwconv.dwconv.', '.mlp.dwconv.')
    return re.sub(r'^head\.', 'head.fc.', key)


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: LITv2) -> Dict[str, torch.Tensor]:
    """Accept the official release ({'model': ...}, official keys) or vizattn's own state_dict."""
    state_dict = unwrap_state_dict(state_dict)
    if any(k.startswith('layers.') for k in state_dict):
        state_dict = remap_keys(state_dict, _official_to_ours)
    return check_state_dict(state_dict, model)


def _create_litv2(variant: str, pretrained: bool = False, **kwargs) -> LITv2:
    out_indices = kwargs.pop('out_indices', (0, 1, 2, 3))
    return build_model(LITv2, variant, pretrained, checkpoint_filter_fn,
                       feature_cfg=dict(flatten_sequential=True, out_indices=out_indices), **kwargs)


def _cfg(url: str = '', **kwargs):
    return {
        'url': url, 'num_classes': 1000, 'input_size': (3, 224, 224), 'pool_size': (7, 7),
        'crop_pct': 0.875, 'interpolation': 'bicubic', 'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        'first_conv': 'patch_embed.proj', 'classifier': 'head.fc', 'license': 'apache-2.0',
        'paper_ids': 'arXiv:2205.13213', 'paper_name': 'Fast Vision Transformers with HiLo Attention',
        'origin_url': 'https://github.com/ziplab/LITv2', **kwargs,
    }


_RELEASE = 'https://github.com/ziplab/LITv2/releases/download/v1.0/'

default_cfgs = generate_default_cfgs({
    'litv2_s.in1k': _cfg(_RELEASE + 'litv2_s.pth'),
    'litv2_m.in1k': _cfg(_RELEASE + 'litv2_m.pth'),
    'litv2_b.in1k': _cfg(_RELEASE + 'litv2_b.pth'),
    # fine-tuned at 384, evaluated with a plain resize to 384 (TEST.CROP False)
    'litv2_b_384.in1k': _cfg(_RELEASE + 'litv2_b_384.pth', input_size=(3, 384, 384), pool_size=(12, 12),
                             crop_pct=1.0),
})


@register_model
def litv2_s(pretrained: bool = False, **kwargs) -> LITv2:
    """LITv2-S: 28M params, 3.7 GFLOPs, 82.0% top-1 (paper)."""
    args = dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24))
    return _create_litv2('litv2_s', pretrained, **dict(args, **kwargs))


@register_model
def litv2_m(pretrained: bool = False, **kwargs) -> LITv2:
    """LITv2-M: 49M params, 7.5 GFLOPs, 83.3% top-1 (paper)."""
    args = dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24))
    return _create_litv2('litv2_m', pretrained, **dict(args, **kwargs))


@register_model
def litv2_b(pretrained: bool = False, **kwargs) -> LITv2:
    """LITv2-B: 87M params, 13.2 GFLOPs, 83.6% top-1 (paper)."""
    args = dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32))
    return _create_litv2('litv2_b', pretrained, **dict(args, **kwargs))


@register_model
def litv2_b_384(pretrained: bool = False, **kwargs) -> LITv2:
    """LITv2-B at 384: 87M params, 39.7 GFLOPs, 84.7% top-1 (paper)."""
    args = dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32))
    return _create_litv2('litv2_b_384', pretrained, **dict(args, **kwargs))
