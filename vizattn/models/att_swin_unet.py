"""Att-SwinU-Net: Attention Swin U-Net with cross-contextual attention skips (Aghdam et al., ISBI 2023,
arXiv:2210.16898), for (skin-lesion) segmentation.

A Swin-UNet: a Swin-T encoder (patch 4, window 7, 96-768 channels, depths 2-2-6-2), a symmetric decoder of Swin
blocks with patch-expanding upsampling (a linear to 2C then a 2x2 pixel shuffle), a final 4x expansion and a
1x1 conv head giving ``num_classes`` per-pixel logits at the input resolution. All maps are NHWC inside.

The paper's two attention mechanisms on the skip path:

- **Cross-contextual attention** (every skip by default, ``cross_skips=3``): the decoder tokens ``Z_D`` and the
  encoder skip tokens ``Z_S`` of a level each get a class token, their global average; two CrossViT layers let
  each class token attend (pre-LN, 8 heads x 64) to itself and the *other* branch's patch tokens, the class
  tokens are put back, both branches are concatenated channel-wise and a linear maps 2C back to C.
  As in the official code (needed for its weights) the class token replaces the first token of each branch
  (the code takes the patch tokens as ``t[:, 1:]``).
- **Spatial attention** (``spatial_attention='add'`` or ``'mul'``): inside each decoder Swin block the softmax
  attention map of the encoder block at the same level and position (same windows, same shift) is added to
  (or multiplied with) the decoder's own map before it weights the values. The official code computes this sum
  after the values were already weighted and throws it away, so its flag has no effect: its outputs equal ours
  with ``spatial_attention='none'``.

Any input size works: the image is padded to a multiple of the patch size, odd maps are padded before patch
merging, every window attention pads its map to the window multiple and masks the padded tokens out of the
softmax (and shifted windows as Swin does), decoder maps are cropped to their skip's size and the logits to
the input size. At 224x224 nothing is padded and the outputs are the official ones.

Checkpoints loaded strictly through ``checkpoint_filter_fn`` (``pretrained_cfg_overlay=dict(file=...)``):

- the official trainer's file (``{'model_weights': sd, 'test_F1_score': f1}``, keys ``encoder.*``,
  ``decoder.layers_up.*``, ``decoder.Crossvit_layer.*``, ``decoder.concat_back_dim.*``, ``decoder.output``);
  its head always has 9 channels: the first ``num_classes`` are kept (the official evaluation reads channel 0);
- a Swin-T ImageNet classifier, in the original Swin release layout (``{'model': sd}``, downsampling at the end
  of each stage, ``head.weight``) or timm's ``swin_tiny_patch4_window7_224`` layout: it initialises the encoder
  and, as Swin-UNet's ``load_from`` does, the decoder's Swin blocks from the mirrored encoder stages; every
  other weight keeps its initialisation. A Swin of another size fails loudly;
- vizattn's own state_dict.
"""
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import DropPath, Mlp, get_device_dtype, register_notrace_function, register_notrace_module, \
    trunc_normal_
from timm.models import generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint
from timm.models.swin_transformer import get_relative_position_index

from ..layers import check_input
from ._builder import build_model
from ._checkpoint import CheckpointError, check_state_dict, remap_keys, unwrap_state_dict

__all__ = ['AttSwinUNet', 'load_swin_encoder']



# ---------------------------------------------------------------------------------------------------------
# Shape helpers (shape-dependent Python: leaves for FX)

@register_notrace_function  # FX autowraps only names without a leading underscore
def pad_nchw(x: torch.Tensor, multiple: int) -> torch.Tensor:
    pad_h = (multiple - x.shape[2] % multiple) % multiple
    pad_w = (multiple - x.shape[3] % multiple) % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h))


@register_notrace_function  # FX autowraps only names without a leading underscore
def pad_nhwc(x: torch.Tensor, multiple: int) -> torch.Tensor:
    pad_h = (multiple - x.shape[1] % multiple) % multiple
    pad_w = (multiple - x.shape[2] % multiple) % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, 0, 0, pad_w, 0, pad_h))


@register_notrace_function  # FX autowraps only names without a leading underscore
def crop_nhwc_like(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Crop an upsampled decoder map (B, H', W', C) to the size of its skip ``ref`` (B, H, W, C)."""
    if x.shape[1] == ref.shape[1] and x.shape[2] == ref.shape[2]:
        return x
    return x[:, :ref.shape[1], :ref.shape[2]]


@register_notrace_function  # FX autowraps only names without a leading underscore
def crop_nchw(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if x.shape[2] == height and x.shape[3] == width:
        return x
    return x[:, :, :height, :width]


def _window_mask(height: int, width: int, pad_height: int, pad_width: int, window_size: int, shift_size: int,
                 device: torch.device) -> Optional[torch.Tensor]:
    """(num_windows, N, N) additive mask: shifted-window regions as in Swin, and padded tokens apart from all."""
    padded = pad_height != height or pad_width != width
    if shift_size == 0 and not padded:
        return None
    ids = torch.zeros((pad_height, pad_width), device=device)
    if shift_size > 0:
        bounds = [0, pad_height - window_size, pad_height - shift_size, pad_height]
        wbounds = [0, pad_width - window_size, pad_width - shift_size, pad_width]
        cnt = 0
        for i in range(3):
            for j in range(3):
                ids[bounds[i]:bounds[i + 1], wbounds[j]:wbounds[j + 1]] = float(cnt)
                cnt += 1
    if padded:
        pad = torch.zeros((pad_height, pad_width), device=device)
        pad[height:, :] = 1.
        pad[:, width:] = 1.
        if shift_size > 0:  # padding happens before the cyclic shift: move the flags with it
            pad = torch.roll(pad, shifts=(-shift_size, -shift_size), dims=(0, 1))
        ids = ids + 9. * pad
    ids = ids.view(pad_height // window_size, window_size, pad_width // window_size, window_size)
    ids = ids.permute(0, 2, 1, 3).reshape(-1, window_size * window_size)
    mask = ids.unsqueeze(1) - ids.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0)  # the Swin value for "other region" (official)


# ---------------------------------------------------------------------------------------------------------
# Blocks

@register_notrace_module  # padding, shifting and window partition depend on the map size: a leaf for FX
class WindowAttention(nn.Module):
    """(Shifted) window MHSA with relative position bias on an NHWC map, padding masked.

    ``prior`` is the encoder's softmax map of the same windows (spatial attention): it is added to or multiplied
    with this block's softmax map before the values are weighted. ``return_attn`` returns the softmax map.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int = 7, shift_size: int = 0, qkv_bias: bool = True,
                 attn_drop: float = 0., proj_drop: float = 0., spatial_op: str = '', device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        assert 0 <= shift_size < window_size, 'shift_size must be in [0, window_size)'
        assert spatial_op in ('', 'add', 'mul')
        self.dim = dim
        self.num_heads = num_heads
        self.window_size = window_size
        self.shift_size = shift_size
        self.spatial_op = spatial_op
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1) ** 2, num_heads, **dd))
        self.register_buffer(
            'relative_position_index', get_relative_position_index(window_size, window_size, device=device).view(-1),
            persistent=False)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias, **dd)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim, **dd)
        self.proj_drop = nn.Dropout(proj_drop)
        trunc_normal_(self.relative_position_bias_table, std=.02)

    def init_non_persistent_buffers(self) -> None:
        self.relative_position_index.copy_(get_relative_position_index(
            self.window_size, self.window_size, device=self.relative_position_index.device).view(-1))

    def forward(self, x: torch.Tensor, prior: Optional[torch.Tensor] = None,
                return_attn: bool = False) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        B, H, W, C = x.shape
        ws, shift = self.window_size, self.shift_size
        x = pad_nhwc(x, ws)
        Hp, Wp = x.shape[1], x.shape[2]
        if shift > 0:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
        nh, nw = Hp // ws, Wp // ws
        x = x.view(B, nh, ws, nw, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(B * nh * nw, ws * ws, C)
        N = ws * ws
        qkv = self.qkv(x).reshape(-1, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index].view(N, N, -1).permute(2, 0, 1)
        attn = attn + bias.unsqueeze(0).to(attn.dtype)
        mask = _window_mask(H, W, Hp, Wp, ws, shift, x.device)
        if mask is not None:
            num_win = mask.shape[0]
            attn = attn.view(-1, num_win, self.num_heads, N, N) + mask.to(attn.dtype).unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, N, N)
        attn = attn.softmax(dim=-1)
        own = attn if return_attn else None
        if prior is not None:
            if self.spatial_op == 'add':
                attn = attn + prior.to(attn.dtype)
            elif self.spatial_op == 'mul':
                attn = attn * prior.to(attn.dtype)
        attn = self.attn_drop(attn)
        x = (attn @ v).transpose(1, 2).reshape(-1, N, C)
        x = self.proj_drop(self.proj(x))
        x = x.view(B, nh, nw, ws, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(B, Hp, Wp, C)
        if shift > 0:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
        if Hp != H or Wp != W:
            x = x[:, :H, :W].contiguous()
        return x, own


class SwinBlock(nn.Module):
    """Pre-norm Swin block on NHWC maps: x + WMSA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, num_heads: int, window_size: int = 7, shift_size: int = 0, mlp_ratio: float = 4.,
                 qkv_bias: bool = True, proj_drop: float = 0., attn_drop: float = 0., drop_path: float = 0.,
                 spatial_op: str = '', device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.norm1 = nn.LayerNorm(dim, **dd)
        self.attn = WindowAttention(dim, num_heads, window_size, shift_size, qkv_bias, attn_drop, proj_drop,
                                    spatial_op, **dd)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, **dd)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=proj_drop, **dd)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor, prior: Optional[torch.Tensor] = None,
                return_attn: bool = False) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        y, attn = self.attn(self.norm1(x), prior, return_attn)
        x = x + self.drop_path1(y)
        x = x + self.drop_path2(self.mlp(self.norm2(x)))
        return x, attn


class PatchEmbed(nn.Module):
    """4x4 stride-4 conv and LayerNorm; NCHW image in (padded to the patch multiple), NHWC tokens out."""

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int = 4, device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride=patch_size, **dd)
        self.norm = nn.LayerNorm(embed_dim, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(pad_nchw(x, self.patch_size))
        return self.norm(x.permute(0, 2, 3, 1))


class PatchMerging(nn.Module):
    """2x2 neighbourhood concatenation (Swin order), LayerNorm(4C), linear 4C -> 2C; odd maps are zero-padded."""

    def __init__(self, dim: int, out_dim: int, device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.norm = nn.LayerNorm(4 * dim, **dd)
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_nhwc(x, 2)
        B, H, W, C = x.shape
        x = x.reshape(B, H // 2, 2, W // 2, 2, C).permute(0, 1, 3, 4, 2, 5).flatten(3)
        return self.reduction(self.norm(x))


class PatchExpand(nn.Module):
    """A linear layer then an s x s pixel shuffle and LayerNorm: (B, H, W, C) -> (B, sH, sW, C_out).

    ``scale=2`` (decoder stages): linear C -> 2C, C_out = C/2. ``scale=4`` (final): linear C -> 16C, C_out = C.
    """

    def __init__(self, dim: int, scale: int = 2, device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.scale = scale
        self.out_dim = dim // 2 if scale == 2 else dim
        self.expand = nn.Linear(dim, scale * scale * self.out_dim, bias=False, **dd)
        self.norm = nn.LayerNorm(self.out_dim, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.expand(x)
        B, H, W, _ = x.shape
        s = self.scale
        x = x.reshape(B, H, W, s, s, self.out_dim).permute(0, 1, 3, 2, 4, 5).reshape(B, H * s, W * s, self.out_dim)
        return self.norm(x)


class CrossAttention(nn.Module):
    """Pre-LN attention of a class token (normed) over [itself, the other branch's tokens] (not normed)."""

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int = 64, proj_drop: float = 0.,
                 device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        inner = num_heads * head_dim
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.scale = head_dim ** -0.5
        self.norm = nn.LayerNorm(dim, **dd)
        self.q = nn.Linear(dim, inner, bias=False, **dd)
        self.kv = nn.Linear(dim, 2 * inner, bias=False, **dd)
        self.proj = nn.Linear(inner, dim, **dd)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, cls: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        cls = self.norm(cls)
        context = torch.cat([cls, context], dim=1)
        B, L, _ = context.shape
        q = self.q(cls).reshape(B, 1, self.num_heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(context).reshape(B, L, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, 1, self.num_heads * self.head_dim)
        return self.proj_drop(self.proj(x))


class CrossContextBlock(nn.Module):
    """One CrossViT exchange: the decoder class token reads the encoder tokens, the encoder one the decoder's."""

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int = 64, proj_drop: float = 0.,
                 device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.dec = CrossAttention(dim, num_heads, head_dim, proj_drop, **dd)
        self.enc = CrossAttention(dim, num_heads, head_dim, proj_drop, **dd)


class SkipFusion(nn.Module):
    """Skip connection: optional cross-contextual attention, then concat [decoder, encoder] and a linear 2C -> C."""

    def __init__(self, dim: int, cross: bool = True, depth: int = 2, num_heads: int = 8, head_dim: int = 64,
                 proj_drop: float = 0., device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.cross = cross
        self.blocks = nn.ModuleList(
            [CrossContextBlock(dim, num_heads, head_dim, proj_drop, **dd) for _ in range(depth if cross else 0)])
        self.fuse = nn.Linear(2 * dim, dim, **dd)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        if self.cross:
            dec = x.reshape(B, H * W, C)
            enc = skip.reshape(B, H * W, C)
            dec_cls, dec_tokens = dec.mean(1, keepdim=True), dec[:, 1:]
            enc_cls, enc_tokens = enc.mean(1, keepdim=True), enc[:, 1:]
            for blk in self.blocks:
                dec_cls = blk.dec(dec_cls, enc_tokens) + dec_cls
                enc_cls = blk.enc(enc_cls, dec_tokens) + enc_cls
            x = torch.cat([dec_cls, dec_tokens], dim=1).reshape(B, H, W, C)
            skip = torch.cat([enc_cls, enc_tokens], dim=1).reshape(B, H, W, C)
        return self.fuse(torch.cat([x, skip], dim=-1))


class EncoderStage(nn.Module):
    """Patch merging (stages 1-3) then Swin blocks; the merged map is the skip of this level."""

    def __init__(self, dim_in: int, dim: int, depth: int, num_heads: int, window_size: int, shift_size: int,
                 downsample: bool, mlp_ratio: float, qkv_bias: bool, proj_drop: float, attn_drop: float,
                 drop_path: Sequence[float], device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.grad_checkpointing = False
        self.downsample = PatchMerging(dim_in, dim, **dd) if downsample else nn.Identity()
        self.blocks = nn.ModuleList([
            SwinBlock(dim, num_heads, window_size, 0 if j % 2 == 0 else shift_size, mlp_ratio, qkv_bias, proj_drop,
                      attn_drop, drop_path[j], **dd) for j in range(depth)])

    def forward(self, x: torch.Tensor, return_attn: bool = False) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        maps: List[torch.Tensor] = []
        for blk in self.blocks:
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x, attn = checkpoint(blk, x, None, return_attn)
            else:
                x, attn = blk(x, None, return_attn)
            if attn is not None:
                maps.append(attn)
        return x, maps


class DecoderStage(nn.Module):
    """Skip fusion, Swin blocks (with the encoder's maps as spatial attention), then patch expanding."""

    def __init__(self, dim: int, depth: int, num_heads: int, window_size: int, shift_size: int, cross: bool,
                 upsample: bool, spatial_op: str, mlp_ratio: float, qkv_bias: bool, proj_drop: float,
                 attn_drop: float, drop_path: Sequence[float], cross_depth: int = 2, cross_heads: int = 8,
                 cross_head_dim: int = 64, device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.grad_checkpointing = False
        self.skip = SkipFusion(dim, cross, cross_depth, cross_heads, cross_head_dim, proj_drop, **dd)
        self.blocks = nn.ModuleList([
            SwinBlock(dim, num_heads, window_size, 0 if j % 2 == 0 else shift_size, mlp_ratio, qkv_bias, proj_drop,
                      attn_drop, drop_path[j], spatial_op, **dd) for j in range(depth)])
        self.upsample = PatchExpand(dim, 2, **dd) if upsample else nn.Identity()

    def forward(self, x: torch.Tensor, skip: torch.Tensor, priors: List[torch.Tensor]) -> torch.Tensor:
        x = self.skip(x, skip)
        for j, blk in enumerate(self.blocks):
            prior: Optional[torch.Tensor] = None
            if len(priors) > j:
                prior = priors[j]
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x, _ = checkpoint(blk, x, prior, False)
            else:
                x, _ = blk(x, prior, False)
        return self.upsample(x)


class SwinEncoder(nn.Module):
    """Swin-T as timm lays it out (``patch_embed``, ``layers.{i}.downsample`` at the start of a stage, ``norm``)."""

    def __init__(self, in_chans: int, embed_dim: int, depths: Sequence[int], num_heads: Sequence[int],
                 window_sizes: Sequence[int], shift_sizes: Sequence[int], patch_size: int, mlp_ratio: float,
                 qkv_bias: bool, drop_rate: float, proj_drop: float, attn_drop: float, dpr: Sequence[Sequence[float]],
                 device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.patch_embed = PatchEmbed(in_chans, embed_dim, patch_size, **dd)
        self.pos_drop = nn.Dropout(drop_rate)
        dims = [embed_dim * 2 ** i for i in range(len(depths))]
        self.layers = nn.ModuleList([
            EncoderStage(dims[max(i - 1, 0)], dims[i], depths[i], num_heads[i], window_sizes[i], shift_sizes[i],
                         i > 0, mlp_ratio, qkv_bias, proj_drop, attn_drop, dpr[i], **dd)
            for i in range(len(depths))])
        self.norm = nn.LayerNorm(dims[-1], **dd)


class SwinDecoder(nn.Module):
    def __init__(self, embed_dim: int, depths: Sequence[int], num_heads: Sequence[int], window_sizes: Sequence[int],
                 shift_sizes: Sequence[int], patch_size: int, cross_skips: int, spatial_op: str, mlp_ratio: float,
                 qkv_bias: bool, proj_drop: float, attn_drop: float, dpr: Sequence[Sequence[float]],
                 cross_depth: int, cross_heads: int, cross_head_dim: int, device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        n = len(depths)
        dims = [embed_dim * 2 ** i for i in range(n)]
        self.upsample = PatchExpand(dims[-1], 2, **dd)
        layers = []
        for i in range(n - 1):
            level = n - 2 - i  # 2, 1, 0: deepest skip first
            layers.append(DecoderStage(
                dims[level], depths[level], num_heads[level], window_sizes[level], shift_sizes[level],
                cross=i < cross_skips, upsample=level > 0, spatial_op=spatial_op, mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias, proj_drop=proj_drop, attn_drop=attn_drop, drop_path=dpr[level],
                cross_depth=cross_depth, cross_heads=cross_heads, cross_head_dim=cross_head_dim, **dd))
        self.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(embed_dim, **dd)
        self.final_expand = PatchExpand(embed_dim, patch_size, **dd)


class AttSwinUNet(nn.Module):
    """Att-SwinU-Net segmentation network: per-pixel logits ``(B, num_classes, H, W)`` at the input size.

    Args:
        img_size: the design size (224). As in the official code, a stage whose map is no larger than the
            window at this size attends within one unshifted window (stage 4 at 224); other sizes work.
        cross_skips: how many skips (deepest first) use cross-contextual attention; 3 = all (the paper's model),
            0 = Swin-UNet's concatenation skips (the official 'swin' mode). The official ``skip_num``.
        spatial_attention: 'add' (the paper), 'mul' or 'none' / None (what the official code computes; through
            ``timm.create_model`` pass the string 'none', timm drops None keyword arguments).
        cross_depth, cross_heads, cross_head_dim: CrossViT layers per skip (2, 8 heads x 64, as officially).
    """

    def __init__(self, img_size: Union[int, Tuple[int, int]] = 224, patch_size: int = 4, in_chans: int = 3,
                 num_classes: int = 1, global_pool: str = '', embed_dim: int = 96,
                 depths: Sequence[int] = (2, 2, 6, 2), num_heads: Sequence[int] = (3, 6, 12, 24),
                 window_size: int = 7, mlp_ratio: float = 4., qkv_bias: bool = True, drop_rate: float = 0.,
                 proj_drop_rate: float = 0., attn_drop_rate: float = 0., drop_path_rate: float = 0.1,
                 cross_skips: int = 3, spatial_attention: Optional[str] = 'add', cross_depth: int = 2,
                 cross_heads: int = 8, cross_head_dim: int = 64, device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        if global_pool not in ('', None):
            raise ValueError(f'{type(self).__name__} is a segmentation model: global_pool must be "" '
                             f'(got {global_pool!r})')
        if spatial_attention in (None, False, 'none'):
            spatial_attention = ''  # timm's create_model drops None kwargs: pass 'none' through it
        if spatial_attention not in ('', 'add', 'mul'):
            raise ValueError(f"spatial_attention must be 'add', 'mul' or 'none', got {spatial_attention!r}")
        if not 0 <= cross_skips <= len(depths) - 1:
            raise ValueError(f'cross_skips must be in [0, {len(depths) - 1}], got {cross_skips}')
        img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.num_features = self.head_hidden_size = embed_dim
        self.spatial_attention = spatial_attention or ''
        self.grad_checkpointing = False
        n = len(depths)
        # the official rule: a stage whose map (at img_size) fits in one window uses one unshifted window
        window_sizes, shift_sizes = [], []
        for i in range(n):
            res = min(img_size[0], img_size[1]) // (patch_size * 2 ** i)
            if res <= window_size:
                window_sizes.append(max(res, 1))
                shift_sizes.append(0)
            else:
                window_sizes.append(window_size)
                shift_sizes.append(window_size // 2)
        total = sum(depths)
        rates = [drop_path_rate * j / max(total - 1, 1) for j in range(total)]
        dpr = [rates[sum(depths[:i]):sum(depths[:i + 1])] for i in range(n)]
        self.encoder = SwinEncoder(in_chans, embed_dim, depths, num_heads, window_sizes, shift_sizes, patch_size,
                                   mlp_ratio, qkv_bias, drop_rate, proj_drop_rate, attn_drop_rate, dpr, **dd)
        self.decoder = SwinDecoder(embed_dim, depths, num_heads, window_sizes, shift_sizes, patch_size, cross_skips,
                                   self.spatial_attention, mlp_ratio, qkv_bias, proj_drop_rate, attn_drop_rate, dpr,
                                   cross_depth, cross_heads, cross_head_dim, **dd)
        self.head = nn.Conv2d(embed_dim, num_classes, 1, bias=False, **dd) if num_classes > 0 else nn.Identity()
        self.feature_info = [
            dict(num_chs=embed_dim * 2 ** i, reduction=patch_size * 2 ** i, module=f'encoder.layers.{i}')
            for i in range(n)]
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module):
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    # ------------------------------------------------------------------------------------------ timm API
    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict:
        # the encoder as timm groups Swin; the decoder (trained from scratch or mirrored) and head after it
        return dict(
            stem=r'^encoder\.patch_embed',
            blocks=[(r'^encoder\.layers\.(\d+)', None), (r'^encoder\.norm', (99999,)),
                    (r'^decoder\.', (100000,)), (r'^head', (100001,))] if coarse else [
                (r'^encoder\.layers\.(\d+)\.downsample', (0,)),
                (r'^encoder\.layers\.(\d+)\.blocks\.(\d+)', None),
                (r'^encoder\.norm', (99999,)),
                (r'^decoder\.', (100000,)),
                (r'^head', (100001,)),
            ])

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True):
        self.grad_checkpointing = enable
        for s in self.encoder.layers:
            s.grad_checkpointing = enable
        for s in self.decoder.layers:
            s.grad_checkpointing = enable

    @torch.jit.ignore
    def no_weight_decay(self):
        return {'*relative_position_bias_table'}

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None):
        if global_pool not in ('', None):
            raise ValueError(f'{type(self).__name__} is a segmentation model: global_pool must be ""')
        self.num_classes = num_classes
        dd = get_device_dtype(self)
        self.head = nn.Conv2d(self.embed_dim, num_classes, 1, bias=False, **dd) if num_classes > 0 else nn.Identity()
        self.head.train(self.training)

    # ------------------------------------------------------------------------------------------ forward
    def _encode(self, x: torch.Tensor, return_attn: bool, stop: int = -1
                ) -> Tuple[torch.Tensor, List[torch.Tensor], List[torch.Tensor], List[List[torch.Tensor]]]:
        """Bottleneck (normed), skips (merged maps entering each stage), stage outputs, per-stage attention maps."""
        x = self.encoder.pos_drop(self.encoder.patch_embed(x))
        skips: List[torch.Tensor] = []
        outs: List[torch.Tensor] = []
        maps: List[List[torch.Tensor]] = []
        n = len(self.encoder.layers)
        for i, stage in enumerate(self.encoder.layers):
            if stop < 0 or i <= stop:
                x = stage.downsample(x)
                skips.append(x)
                x, m = stage(x, return_attn and i < n - 1)
                outs.append(x)
                maps.append(m)
        return x, skips, outs, maps

    def _decode(self, x: torch.Tensor, skips: List[torch.Tensor], maps: List[List[torch.Tensor]],
                height: int, width: int) -> torch.Tensor:
        x = self.decoder.upsample(self.encoder.norm(x))
        n = len(skips)
        for i, stage in enumerate(self.decoder.layers):
            level = n - 2 - i
            skip = skips[level]
            x = stage(crop_nhwc_like(x, skip), skip, maps[level])
        x = self.decoder.final_expand(self.decoder.norm(x))
        return crop_nchw(x.permute(0, 3, 1, 2), height, width)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's full-resolution feature map (B, embed_dim, H, W), before the 1x1 head."""
        H, W = x.shape[-2], x.shape[-1]
        x = check_input(x, self.in_chans, 1)
        x, skips, _, maps = self._encode(x, self.spatial_attention != '')
        return self._decode(x, skips, maps, H, W)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = 'NCHW',
            intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """Encoder stage outputs (strides 4-32) and, unless ``intermediates_only``, the decoder feature map.

        ``norm`` applies the encoder's final LayerNorm to the last stage (as the decoder sees it).
        """
        assert output_fmt in ('NCHW', 'NHWC'), 'Output format must be NCHW or NHWC.'
        H, W = x.shape[-2], x.shape[-1]
        n = len(self.encoder.layers)
        take_indices, max_index = feature_take_indices(n, indices)
        x = check_input(x, self.in_chans, 1)
        stop = max_index if (intermediates_only and stop_early) else -1
        need_maps = (not intermediates_only) and self.spatial_attention != ''
        x, skips, outs, maps = self._encode(x, need_maps, stop)
        intermediates: List[torch.Tensor] = []
        for i, out in enumerate(outs):
            if i in take_indices:
                if norm and i == n - 1:
                    out = self.encoder.norm(out)
                intermediates.append(out.permute(0, 3, 1, 2).contiguous() if output_fmt == 'NCHW' else out)
        if intermediates_only:
            return intermediates
        return self._decode(x, skips, maps, H, W), intermediates

    def prune_intermediate_layers(self, indices: Union[int, List[int]] = 1, prune_norm: bool = False,
                                  prune_head: bool = True):
        """Keep the encoder stages up to the last index; the decoder and head go (features only)."""
        take_indices, max_index = feature_take_indices(len(self.encoder.layers), indices)
        self.encoder.layers = self.encoder.layers[:max_index + 1]
        if prune_norm:
            self.encoder.norm = nn.Identity()
        if prune_head:
            self.decoder = nn.Identity()
            self.head = nn.Identity()
            self.num_classes = 0
        return take_indices


# ---------------------------------------------------------------------------------------------------------
# Checkpoint conversion

_CROSS_BRANCH = {'0': 'dec', '1': 'enc'}
_CROSS_LEAF = {'fn.norm.': 'norm.', 'fn.fn.to_q.': 'q.', 'fn.fn.to_kv.': 'kv.', 'fn.fn.to_out.0.': 'proj.'}


def _official_to_ours(key: str, num_levels: int = 4) -> Optional[str]:
    """Rename one key of the official SwinAttentionUnet state_dict (None: a key we do not keep)."""
    if key.endswith(('relative_position_index', 'attn_mask')) or key.startswith('patch_embed.'):
        return None  # recomputed buffers; the top-level patch_embed (in_chans=4) is never used
    if key.startswith('decoder.norm.'):
        return None  # LayerNorm(768) built but never used
    m = re.match(r'encoder\.layers\.(\d+)\.downsample\.(.*)$', key)
    if m:
        return f'encoder.layers.{int(m.group(1)) + 1}.downsample.{m.group(2)}'
    if key.startswith('encoder.'):
        return key
    m = re.match(r'decoder\.layers_up\.0\.(.*)$', key)
    if m:
        return f'decoder.upsample.{m.group(1)}'
    m = re.match(r'decoder\.layers_up\.(\d+)\.(.*)$', key)
    if m:
        return f'decoder.layers.{int(m.group(1)) - 1}.{m.group(2)}'
    m = re.match(r'decoder\.concat_back_dim\.(\d+)\.(.*)$', key)
    if m:
        return f'decoder.layers.{int(m.group(1)) - 1}.skip.fuse.{m.group(2)}'
    m = re.match(r'decoder\.Crossvit_layer\.(\d+)\.layers\.(\d+)\.([01])\.(.*)$', key)
    if m:
        tail = m.group(4)
        for old, new in _CROSS_LEAF.items():
            if tail.startswith(old):
                tail = new + tail[len(old):]
                break
        stage = num_levels - 2 - int(m.group(1))
        return f'decoder.layers.{stage}.skip.blocks.{m.group(2)}.{_CROSS_BRANCH[m.group(3)]}.{tail}'
    if key.startswith('decoder.norm_up.'):
        return 'decoder.norm.' + key[len('decoder.norm_up.'):]
    if key.startswith('decoder.up.'):
        return 'decoder.final_expand.' + key[len('decoder.up.'):]
    if key.startswith('decoder.output.'):
        return 'head.' + key[len('decoder.output.'):]
    return key


def _swin_to_encoder(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """A Swin classifier (original release or timm layout) to our ``encoder.*`` keys; the head is dropped."""
    original = 'layers.0.downsample.reduction.weight' in state_dict
    out = {}
    for k, v in state_dict.items():
        if k.endswith(('relative_position_index', 'attn_mask')) or k.startswith('head'):
            continue
        if original:
            k = re.sub(r'^layers\.(\d+)\.downsample', lambda m: f'layers.{int(m.group(1)) + 1}.downsample', k)
        out['encoder.' + k] = v
    return out


def _is_swin_classifier(state_dict: Dict[str, torch.Tensor]) -> bool:
    return 'patch_embed.proj.weight' in state_dict and any(k.startswith('layers.') for k in state_dict) \
        and not any(k.startswith(('encoder.', 'decoder.')) for k in state_dict)


def _mirror_encoder_blocks(state_dict: Dict[str, torch.Tensor], model: 'AttSwinUNet') -> Dict[str, torch.Tensor]:
    """Swin-UNet's ``load_from``: decoder Swin blocks of a level start from the encoder blocks of that level."""
    n = len(model.encoder.layers)
    out = {}
    for k, v in state_dict.items():
        m = re.match(r'encoder\.layers\.(\d+)\.blocks\.(.*)$', k)
        if m and int(m.group(1)) < n - 1:
            out[f'decoder.layers.{n - 2 - int(m.group(1))}.blocks.{m.group(2)}'] = v
    return out


def load_swin_encoder(model: 'AttSwinUNet', state_dict: Dict[str, torch.Tensor],
                      mirror_decoder: bool = True) -> Dict[str, torch.Tensor]:
    """The full state_dict for ``model`` with a Swin classifier's weights in the encoder (strict on the encoder).

    ``mirror_decoder`` also starts the decoder's Swin blocks from the encoder's (Swin-UNet's ``load_from``);
    everything else keeps the model's current values.
    """
    enc = _swin_to_encoder(state_dict)
    own = model.state_dict()
    enc_keys = [k for k in own if k.startswith('encoder.')]
    missing = [k for k in enc_keys if k not in enc]
    unexpected = [k for k in enc if k not in own]
    mismatched = [f'{k} {tuple(enc[k].shape)} vs model {tuple(own[k].shape)}' for k in enc
                  if k in own and enc[k].shape != own[k].shape and k != 'encoder.patch_embed.proj.weight']
    if missing or unexpected or mismatched:
        parts = [f'{name} {len(ks)} keys: {", ".join(sorted(ks)[:8])}' for name, ks in
                 (('missing', missing), ('unexpected', unexpected), ('mismatched', mismatched)) if ks]
        raise CheckpointError('Swin checkpoint does not fit the Att-SwinU-Net encoder (Swin-T expected): '
                              + '; '.join(parts))
    out = dict(own)
    out.update(enc)
    if mirror_decoder:
        out.update(_mirror_encoder_blocks(enc, model))
    return out


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: AttSwinUNet) -> Dict[str, torch.Tensor]:
    """Accept the official trainer's file, a Swin-T ImageNet classifier (encoder init), or our own state_dict."""
    if isinstance(state_dict, dict) and isinstance(state_dict.get('model_weights'), dict):
        state_dict = state_dict['model_weights']  # the official trainer: {'model_weights': sd, 'test_F1_score'}
    state_dict = unwrap_state_dict(state_dict)
    if _is_swin_classifier(state_dict):
        return load_swin_encoder(model, state_dict)
    if any(k.startswith(('decoder.layers_up.', 'decoder.concat_back_dim.')) for k in state_dict):
        state_dict = remap_keys(state_dict, lambda k: _official_to_ours(k, len(model.encoder.layers)))
        head = state_dict.get('head.weight')
        if head is not None and isinstance(model.head, nn.Conv2d) and head.shape[0] > model.num_classes \
                and head.shape[1:] == model.head.weight.shape[1:]:
            # the official decoder always has 9 output channels; its evaluation reads channel 0
            state_dict['head.weight'] = head[:model.num_classes]
    try:
        return check_state_dict(state_dict, model)
    except CheckpointError as e:
        raise CheckpointError(
            f'{e} (Att-SwinU-Net checkpoints accepted: the official trainer\'s {{"model_weights": ...}} in '
            f'cross-contextual or swin mode, a Swin-T ImageNet classifier, vizattn\'s own)') from None


def _create_att_swin_unet(variant: str, pretrained: bool = False, **kwargs) -> AttSwinUNet:
    out_indices = kwargs.pop('out_indices', (0, 1, 2, 3))
    return build_model(AttSwinUNet, variant, pretrained, checkpoint_filter_fn,
                       feature_cfg=dict(feature_cls='getter', out_indices=out_indices), **kwargs)


def _cfg(url: str = '', **kwargs):
    return {
        'url': url, 'num_classes': 1, 'input_size': (3, 224, 224), 'pool_size': (224, 224), 'crop_pct': 1.0,
        'interpolation': 'bilinear', 'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        'first_conv': 'encoder.patch_embed.proj', 'classifier': 'head', 'license': None,
        'paper_ids': 'arXiv:2210.16898',
        'paper_name': 'Attention Swin U-Net: Cross-Contextual Attention Mechanism for Skin Lesion Segmentation',
        'origin_url': 'https://github.com/NITR098/AttSwinUNet', **kwargs,
    }


# No trained Att-SwinU-Net weights were released. The 'in1k_encoder' tag starts the encoder (and, Swin-UNet
# style, the decoder's Swin blocks) from the original Swin-T ImageNet-1K release.
default_cfgs = generate_default_cfgs({
    'att_swin_unet_t.untrained': _cfg(),
    'att_swin_unet_t.in1k_encoder': _cfg(
        url='https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_tiny_patch4_window7_224.pth',
        notes=('ImageNet-1K Swin-T in the encoder only; the segmentation decoder and head are untrained',)),
})


@register_model
def att_swin_unet_t(pretrained: bool = False, **kwargs) -> AttSwinUNet:
    """Att-SwinU-Net on Swin-T (224, patch 4, window 7), cross-contextual skips + spatial attention: 46.9M."""
    args = dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window_size=7)
    return _create_att_swin_unet('att_swin_unet_t', pretrained, **dict(args, **kwargs))
