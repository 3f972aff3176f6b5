"""Agent Attention: On the Integration of Softmax and Linear Attention (Han et al., ECCV 2024, arXiv:2312.08874).

Agent attention (``vizattn.ops.agent``) lets ``n`` agent tokens, the queries average-pooled to a
``sqrt(n) x sqrt(n)`` grid, first aggregate the keys/values of the whole map and then broadcast the result to every
query, which costs ``O(N n)`` instead of ``O(N^2)``. A 3x3 depth-wise conv on V is added to the output and both
attentions carry agent position biases (a 7x7 map per agent bilinearly resized to the feature map, plus
separable row/column terms).

The four backbones of the official repo (LeapLabTHU/Agent-Attention, ``agent_transformer/models``), sharing one
``AgentCore`` (agent pooling, biases, op call):

* Agent-Swin (``agent_swin_t/s/b``): Swin with agent attention over the whole map in the 'A' blocks and standard
  shifted-window attention in the 'B' blocks (layouts AAAB / AABB / AAMB2, agents 9-16-49-49).
* Agent-PVT (``agent_pvt_t/s/m/l``): PVT with agent attention (no spatial reduction) in every block.
* Agent-DeiT (``agent_deit_t/s/b``): DeiT with agent attention in the first blocks (all 12; 4 for DeiT-B), the
  class token kept as an extra key and query with its own biases.
* Agent-CSWin (``agent_cswin_t/s/b``): CSWin with agent attention over the whole map in the 'A' stages and
  CSWin's cross-shaped stripe attention (+ LePE) in the 'B' stages (layout AABB).

The released checkpoints (``{'model': state_dict, ...}``) load strictly through ``checkpoint_filter_fn``; the
recomputed buffers (``relative_position_index``, ``attn_mask``) are accepted and dropped. Differences from the
official code, all of which keep the outputs identical at the training resolution:

* any input size works: the resolution-dependent agent biases and absolute position embeddings are interpolated
  to the runtime feature size (bilinear, as the official detection/segmentation code does), inputs are padded
  to the patch size, and the shifted windows of the 'B' blocks pad the map and mask the padded tokens;
* ``set_input_size(img_size)`` moves the stored biases / position embeddings (and, for Agent-Swin, the 'B'
  window, ``max(7, grid // 8)`` as in the official configs) to a new resolution, like timm's Swin;
  ``create_model(..., img_size=384)`` builds the official 384 layout directly;
* module names are timm's (Swin: downsampling at the start of a stage, ``head.fc``; PVT/CSWin: ``stages.i``);
  the row/column biases drop the official singleton dims (5-D params break ``.to(memory_format=channels_last)``).
"""
import math
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import (
    ClassifierHead, DropPath, Mlp, get_device_dtype, register_notrace_function, register_notrace_module,
    to_2tuple, trunc_normal_,
)
from timm.models import generate_default_cfgs, register_model
from timm.models._builder import resolve_pretrained_cfg
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint, checkpoint_seq

from ..layers import check_input, pad_to_multiple
from ..layers.pyramid import PyramidClassifierMixin
from ..ops.agent import agent_attention
from ._builder import build_model
from ._checkpoint import CheckpointError, check_state_dict, remap_keys, unwrap_state_dict

try:
    from timm.models._input import update_model_input_size
except ImportError:  # older timm: set_input_size works, the model's recorded input size is not updated
    def update_model_input_size(model, img_size, **kwargs):
        pass

__all__ = ['AgentSwinTransformer', 'AgentPyramidVisionTransformer', 'AgentVisionTransformer', 'AgentCSWinTransformer']

_Size = Tuple[int, int]


# ---------------------------------------------------------------------------------------------------------------
# Resolution-dependent parameters

# row/column agent biases: (name, resized dim in our layout, dims of the official 5-D layout that are squeezed)
_ROW_COL_BIASES = (('ah_bias', 2, 4), ('aw_bias', 2, 3), ('ha_bias', 1, 3), ('wa_bias', 1, 2))


def _resize_dim(x: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Linear (align_corners=False) resize of one dim; identity when the size is unchanged."""
    if x.shape[dim] == size:
        return x
    y = x.movedim(dim, -1)
    shape = list(y.shape)
    y = F.interpolate(y.reshape(-1, 1, shape[-1]), size=size, mode='linear', align_corners=False)
    return y.reshape(shape[:-1] + [size]).movedim(-1, dim)


@register_notrace_function
def agent_position_biases(an_bias: torch.Tensor, na_bias: torch.Tensor, ah_bias: torch.Tensor,
                          aw_bias: torch.Tensor, ha_bias: torch.Tensor, wa_bias: torch.Tensor,
                          H: int, W: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Agent position biases on an H x W map: (1, heads, n, H*W) for the aggregation, (1, heads, H*W, n) for the
    broadcast. ``an/na_bias`` (heads, n, 7, 7) are resized bilinearly to H x W; the row/column terms
    ``ah`` (heads, n, H0), ``aw`` (heads, n, W0), ``ha`` (heads, H0, n), ``wa`` (heads, W0, n), stored at the
    training resolution, are resized linearly along their axis, which equals resizing their 2-D sum bilinearly
    (the official downstream code)."""
    heads, n = an_bias.shape[0], an_bias.shape[1]
    pb = F.interpolate(an_bias, size=[H, W], mode='bilinear', align_corners=False)
    pb = pb + (_resize_dim(ah_bias, H, 2).unsqueeze(3) + _resize_dim(aw_bias, W, 2).unsqueeze(2))
    qb = F.interpolate(na_bias, size=[H, W], mode='bilinear', align_corners=False).reshape(heads, n, H * W)
    qb = qb.transpose(-1, -2) + (_resize_dim(ha_bias, H, 1).unsqueeze(2) + _resize_dim(wa_bias, W, 1).unsqueeze(1)
                                 ).reshape(heads, H * W, n)
    return pb.reshape(1, heads, n, H * W), qb.unsqueeze(0)


@register_notrace_function
def resize_pos_embed(pos_embed: torch.Tensor, old_size: List[int], new_size: List[int],
                     num_prefix_tokens: int = 0) -> torch.Tensor:
    """(1, prefix + h*w, C) absolute position embedding resized bilinearly (as the official PVT/DeiT code)."""
    if old_size[0] == new_size[0] and old_size[1] == new_size[1]:
        return pos_embed
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    C = grid.shape[-1]
    grid = grid.reshape(1, old_size[0], old_size[1], C).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=new_size, mode='bilinear', align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_size[0] * new_size[1], C)
    return torch.cat([prefix, grid], dim=1) if num_prefix_tokens else grid


def _resize_rel_pos_table(table: torch.Tensor, window: int) -> torch.Tensor:
    """((2w'-1)^2, heads) Swin relative position bias table resized bicubically to window ``window``."""
    old = int(math.isqrt(table.shape[0]))
    new = 2 * window - 1
    if old == new:
        return table
    t = table.t().reshape(1, -1, old, old)
    t = F.interpolate(t.float(), size=(new, new), mode='bicubic', align_corners=False).to(table.dtype)
    return t.reshape(-1, new * new).t().contiguous()


def _replace_param(module: nn.Module, name: str, value: torch.Tensor):
    old = getattr(module, name)
    setattr(module, name, nn.Parameter(value.detach().clone(), requires_grad=old.requires_grad))


@register_notrace_function  # FX autowraps only names without a leading underscore
def pad_nchw(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad an NCHW map at the bottom/right to a multiple of ``multiple``."""
    return pad_to_multiple(x, [multiple, multiple], [2, 3])


def _stage_sizes(img_size: _Size, patch_size: int, num_stages: int) -> List[_Size]:
    grid = (math.ceil(img_size[0] / patch_size), math.ceil(img_size[1] / patch_size))
    sizes = []
    for i in range(num_stages):
        sizes.append(grid)
        grid = ((grid[0] + 1) // 2, (grid[1] + 1) // 2)
    return sizes


# ---------------------------------------------------------------------------------------------------------------
# Agent attention module (all three backbones)

class AgentCore(nn.Module):
    """Agent tokens, agent position biases and the ``agent_attention`` call on projected q, k, v of an H x W map
    (plus ``num_prefix_tokens`` leading tokens, DeiT's class token). Subclasses add the projections and the
    depth-wise conv on V.

    Bias params keep the official names: ``an_bias, na_bias`` (heads, n, 7, 7), ``ac_bias`` (1, heads, n, 1) /
    ``ca_bias`` (1, heads, 1, n) with a class token, and the row/column biases at the feature size ``feat_size``
    without the official singleton dims (5-D params break ``model.to(memory_format=torch.channels_last)``):
    ``ah_bias`` (heads, n, H0) [official (1, heads, n, H0, 1)], ``aw_bias`` (heads, n, W0) [(1, heads, n, 1, W0)],
    ``ha_bias`` (heads, H0, n) [(1, heads, H0, 1, n)], ``wa_bias`` (heads, W0, n) [(1, heads, 1, W0, n)];
    ``checkpoint_filter_fn`` squeezes the official ones.
    """

    def __init__(self, dim: int, num_heads: int, agent_num: int, feat_size: _Size, num_prefix_tokens: int = 0,
                 attn_backend: Optional[str] = None, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        pool = int(round(math.sqrt(agent_num)))
        if pool * pool != agent_num:
            raise ValueError(f'agent_num must be a square (agents are pooled to a grid), got {agent_num}')
        if dim % num_heads:
            raise ValueError(f'dim {dim} must be divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.agent_num = agent_num
        self.pool_size = pool
        self.scale = (dim // num_heads) ** -0.5
        self.num_prefix_tokens = num_prefix_tokens
        self.attn_backend = attn_backend
        H, W = feat_size
        self.an_bias = nn.Parameter(torch.zeros(num_heads, agent_num, 7, 7, **dd))
        self.na_bias = nn.Parameter(torch.zeros(num_heads, agent_num, 7, 7, **dd))
        self.ah_bias = nn.Parameter(torch.zeros(num_heads, agent_num, H, **dd))
        self.aw_bias = nn.Parameter(torch.zeros(num_heads, agent_num, W, **dd))
        self.ha_bias = nn.Parameter(torch.zeros(num_heads, H, agent_num, **dd))
        self.wa_bias = nn.Parameter(torch.zeros(num_heads, W, agent_num, **dd))
        if num_prefix_tokens:
            self.ac_bias = nn.Parameter(torch.zeros(1, num_heads, agent_num, 1, **dd))
            self.ca_bias = nn.Parameter(torch.zeros(1, num_heads, 1, agent_num, **dd))
        else:
            self.ac_bias = None
            self.ca_bias = None
        for p in self.bias_params():
            trunc_normal_(p, std=.02)

    def bias_params(self) -> List[nn.Parameter]:
        names = ['an_bias', 'na_bias', 'ah_bias', 'aw_bias', 'ha_bias', 'wa_bias']
        names += ['ac_bias', 'ca_bias'] if self.num_prefix_tokens else []
        return [getattr(self, n) for n in names]

    @torch.jit.ignore
    def set_feat_size(self, feat_size: _Size):
        """Store the row/column biases at a new feature size (what forward would interpolate to)."""
        H, W = feat_size
        with torch.no_grad():
            for name, dim, _ in _ROW_COL_BIASES:
                size = H if 'h' in name.split('_')[0] else W  # ah/ha: rows, aw/wa: columns
                _replace_param(self, name, _resize_dim(getattr(self, name), size, dim))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, H: int, W: int) -> torch.Tensor:
        """q, k, v: (B, prefix + H*W, C) -> (B, prefix + H*W, C), without the local conv."""
        B, N, C = q.shape
        q_map = q[:, self.num_prefix_tokens:].reshape(B, H, W, C).permute(0, 3, 1, 2)
        agents = F.adaptive_avg_pool2d(q_map, self.pool_size).reshape(B, C, -1).transpose(1, 2)
        agent_bias, query_bias = agent_position_biases(
            self.an_bias, self.na_bias, self.ah_bias, self.aw_bias, self.ha_bias, self.wa_bias, H, W)
        if self.ac_bias is not None and self.ca_bias is not None:
            agent_bias = torch.cat([self.ac_bias, agent_bias], dim=-1)
            query_bias = torch.cat([self.ca_bias, query_bias], dim=-2)
        return agent_attention(q, k, v, agents, self.num_heads, self.scale, agent_bias, query_bias,
                               backend=self.attn_backend)


class AgentAttention(AgentCore):
    """Agent attention module: ``qkv`` (or ``q`` + ``kv`` for PVT) projection, agent attention, ``dwc`` (3x3
    depth-wise conv on V) added to the output, ``proj``. Names as in the official code."""
    split_kv = False  # one qkv linear; AgentAttentionSplitKV: q and kv

    def __init__(self, dim: int, num_heads: int, agent_num: int, feat_size: _Size, qkv_bias: bool = True,
                 num_prefix_tokens: int = 0, proj_drop: float = 0.,
                 attn_backend: Optional[str] = None, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__(dim, num_heads, agent_num, feat_size, num_prefix_tokens, attn_backend, **dd)
        if self.split_kv:  # Agent-PVT: separate q and kv linears (AgentAttentionSplitKV)
            self.q = nn.Linear(dim, dim, bias=qkv_bias, **dd)
            self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias, **dd)
        else:
            self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias, **dd)
        self.proj = nn.Linear(dim, dim, **dd)
        self.proj_drop = nn.Dropout(proj_drop)
        self.dwc = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, **dd)

    def _project(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, C).unbind(2)
        return q, k, v

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        """x: (B, prefix + H*W, C) -> same shape."""
        B, N, C = x.shape
        P = self.num_prefix_tokens
        q, k, v = self._project(x)
        out = self.attend(q, k, v, H, W)
        v_map = v[:, P:].reshape(B, H, W, C).permute(0, 3, 1, 2)
        local = self.dwc(v_map).permute(0, 2, 3, 1).reshape(B, H * W, C)
        if P:
            out = torch.cat([out[:, :P], out[:, P:] + local], dim=1)
        else:
            out = out + local
        return self.proj_drop(self.proj(out))


class AgentAttentionSplitKV(AgentAttention):
    """Agent-PVT's agent attention: ``q`` and ``kv`` linears instead of one ``qkv``."""

    split_kv = True

    def _project(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, N, C = x.shape
        k, v = self.kv(x).reshape(B, N, 2, C).unbind(2)
        return self.q(x), k, v


class AgentBlock(nn.Module):
    """Pre-norm agent attention + MLP block on NHWC maps (Agent-Swin 'A' blocks, Agent-PVT)."""

    def __init__(self, dim: int, num_heads: int, agent_num: int, feat_size: _Size, mlp_ratio: float = 4.,
                 qkv_bias: bool = True, split_kv: bool = False, norm_eps: float = 1e-5, proj_drop: float = 0.,
                 drop_path: float = 0., attn_backend: Optional[str] = None, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps, **dd)
        attn_cls = AgentAttentionSplitKV if split_kv else AgentAttention
        self.attn = attn_cls(dim, num_heads, agent_num, feat_size, qkv_bias=qkv_bias, proj_drop=proj_drop,
                             attn_backend=attn_backend, **dd)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps, **dd)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=proj_drop, **dd)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    @torch.jit.ignore
    def set_input_size(self, feat_size: _Size, window_size: Optional[int] = None):
        self.attn.set_feat_size(feat_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        x = x + self.drop_path1(self.attn(self.norm1(x).reshape(B, H * W, C), H, W).reshape(B, H, W, C))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


# ---------------------------------------------------------------------------------------------------------------
# Agent-Swin

def _relative_position_index(window: int, device=None) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(window, device=device), torch.arange(window, device=device),
                                        indexing='ij')).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[:, :, 0] * (2 * window - 1) + rel[:, :, 1]


def _window_partition(x: torch.Tensor, wh: int, ww: int) -> torch.Tensor:
    B, H, W, C = x.shape
    x = x.reshape(B, H // wh, wh, W // ww, ww, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, wh * ww, C)


def _window_reverse(windows: torch.Tensor, wh: int, ww: int, H: int, W: int) -> torch.Tensor:
    C = windows.shape[-1]
    x = windows.reshape(-1, H // wh, W // ww, wh, ww, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, H, W, C)


def _shift_window_mask(H: int, W: int, Hp: int, Wp: int, wh: int, ww: int, sh: int, sw: int,
                       device: torch.device) -> torch.Tensor:
    """(nW, N, N) 0/-100 mask on the padded (Hp, Wp) map rolled by (-sh, -sw).

    Tokens get the id of their shift region (as in Swin) and padded tokens one id of their own, so real queries
    never attend to padding or to tokens rolled in from the opposite border.
    """
    rows = torch.arange(Hp, device=device)
    cols = torch.arange(Wp, device=device)
    if sh > 0:
        rid = (rows >= Hp - wh).long() + (rows >= Hp - sh).long()
    else:
        rid = torch.zeros_like(rows)
    if sw > 0:
        cid = (cols >= Wp - ww).long() + (cols >= Wp - sw).long()
    else:
        cid = torch.zeros_like(cols)
    valid = (((rows + sh) % Hp) < H)[:, None] & (((cols + sw) % Wp) < W)[None, :]
    ids = torch.where(valid, rid[:, None] * 3 + cid[None, :], torch.full_like(valid, 9, dtype=torch.long))
    ids = _window_partition(ids[None, :, :, None], wh, ww)[..., 0]  # (nW, N)
    return (ids[:, :, None] != ids[:, None, :]).float() * -100.0


@register_notrace_module  # shape-dependent window/shift/padding choice: a leaf for FX
class WindowAttention(nn.Module):
    """Swin (shifted) window attention on NHWC maps, any size.

    Per dim, a map no larger than the window is one window without shift (as in Swin); otherwise the map is
    zero-padded at the bottom/right to whole windows, rolled, and padded tokens are masked out.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int = 7, shift: bool = False, qkv_bias: bool = True,
                 proj_drop: float = 0., device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.num_heads = num_heads
        self.window_size = window_size
        self.shift = shift
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias, **dd)
        self.proj = nn.Linear(dim, dim, **dd)
        self.proj_drop = nn.Dropout(proj_drop)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads, **dd))
        trunc_normal_(self.relative_position_bias_table, std=.02)
        self.register_buffer('relative_position_index', _relative_position_index(window_size, device),
                             persistent=False)

    @torch.jit.ignore
    def set_window_size(self, window_size: int):
        if window_size == self.window_size:
            return
        with torch.no_grad():
            _replace_param(self, 'relative_position_bias_table',
                           _resize_rel_pos_table(self.relative_position_bias_table, window_size))
        self.window_size = window_size
        self.relative_position_index = _relative_position_index(window_size, self.relative_position_index.device)

    def _rel_pos_bias(self, wh: int, ww: int) -> torch.Tensor:
        ws = self.window_size
        index = self.relative_position_index
        if wh != ws or ww != ws:
            index = index.reshape(ws, ws, ws, ws)[:wh, :ww, :wh, :ww].reshape(wh * ww, wh * ww)
        bias = self.relative_position_bias_table[index.reshape(-1)].reshape(wh * ww, wh * ww, -1)
        return bias.permute(2, 0, 1)  # heads, N, N

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        ws = self.window_size
        wh, ww = min(H, ws), min(W, ws)
        sh = ws // 2 if self.shift and H > ws else 0
        sw = ws // 2 if self.shift and W > ws else 0
        pad_h, pad_w = (wh - H % wh) % wh, (ww - W % ww) % ww
        if pad_h or pad_w:
            x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        Hp, Wp = H + pad_h, W + pad_w
        if sh or sw:
            x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))
        windows = _window_partition(x, wh, ww)  # B*nW, N, C
        BW, N, _ = windows.shape
        q, k, v = self.qkv(windows).reshape(BW, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        bias = self._rel_pos_bias(wh, ww).unsqueeze(0)
        if sh or sw or pad_h or pad_w:
            mask = _shift_window_mask(H, W, Hp, Wp, wh, ww, sh, sw, x.device).to(bias.dtype)
            nW = mask.shape[0]
            bias = (bias.unsqueeze(1) + mask.unsqueeze(1).unsqueeze(0)).expand(B, nW, self.num_heads, N, N)
            bias = bias.reshape(BW, self.num_heads, N, N)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=self.scale)
        out = self.proj_drop(self.proj(out.transpose(1, 2).reshape(BW, N, C)))
        x = _window_reverse(out, wh, ww, Hp, Wp)
        if sh or sw:
            x = torch.roll(x, shifts=(sh, sw), dims=(1, 2))
        if pad_h or pad_w:
            x = x[:, :H, :W].contiguous()
        return x


class SwinBlock(nn.Module):
    """Agent-Swin 'B' block: standard Swin (shifted) window attention + MLP on NHWC maps."""

    def __init__(self, dim: int, num_heads: int, window_size: int = 7, shift: bool = False, mlp_ratio: float = 4.,
                 qkv_bias: bool = True, proj_drop: float = 0., drop_path: float = 0., device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, **dd)
        self.attn = WindowAttention(dim, num_heads, window_size, shift, qkv_bias, proj_drop, **dd)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, **dd)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=proj_drop, **dd)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    @torch.jit.ignore
    def set_input_size(self, feat_size: _Size, window_size: Optional[int] = None):
        if window_size is not None:
            self.attn.set_window_size(window_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self.attn(self.norm1(x)))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


@register_notrace_module  # pads odd sizes
class PatchMerging(nn.Module):
    """2x2 patch merging on NHWC maps (odd sizes zero-padded), concatenation order of Swin."""

    def __init__(self, dim: int, out_dim: int, device=None, dtype=None):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim, device=device, dtype=dtype)
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        if H % 2 or W % 2:
            x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
            H, W = H + H % 2, W + W % 2
        x = x.reshape(B, H // 2, 2, W // 2, 2, C).permute(0, 1, 3, 4, 2, 5).flatten(3)
        return self.reduction(self.norm(x))


class PatchEmbed(nn.Module):
    """Non-overlapping conv patch embedding + LayerNorm, NCHW in (padded to the patch size), NHWC out."""

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int, norm: bool = True, norm_eps: float = 1e-5,
                 device=None, dtype=None):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride=patch_size, device=device, dtype=dtype)
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps, device=device, dtype=dtype) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(pad_nchw(x, self.patch_size))
        return self.norm(x.permute(0, 2, 3, 1))


def _parse_attn_type(attn_type: str, depths: Sequence[int]) -> List[List[str]]:
    """Official layout string -> per-block 'A'/'B' lists: one letter per stage, 'M' followed (after the stage
    letters) by a count = that many 'A' blocks then 'B' (e.g. 'AAMB2': stage 3 has 2 'A' blocks then 'B')."""
    n = len(depths)
    if len(attn_type) < n or any(c not in 'ABM' for c in attn_type[:n]):
        raise ValueError(f"attn_type needs one of 'A', 'B', 'M' per stage, got {attn_type!r}")
    layout = []
    for i, depth in enumerate(depths):
        t = attn_type[i]
        if t == 'M':
            num_a = int(attn_type[n:])
            layout.append(['A' if j < num_a else 'B' for j in range(depth)])
        else:
            layout.append([t] * depth)
    return layout


def _swin_window(img_size: _Size, patch_size: int) -> int:
    """'B' window of the official configs: max(7, agent window // 8) with the agent window = the stage-1 grid."""
    return max(7, min(img_size[0] // patch_size, img_size[1] // patch_size) // 8)


class AgentSwinStage(nn.Module):
    def __init__(self, dim: int, out_dim: int, feat_size: _Size, layout: List[str], downsample: bool,
                 num_heads: int, agent_num: int, window_size: int, mlp_ratio: float, qkv_bias: bool,
                 proj_drop: float, drop_path: Sequence[float], attn_backend: Optional[str] = None,
                 device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.grad_checkpointing = False
        self.downsample = PatchMerging(dim, out_dim, **dd) if downsample else nn.Identity()
        blocks = []
        for j, t in enumerate(layout):
            if t == 'A':
                blocks.append(AgentBlock(out_dim, num_heads, agent_num, feat_size, mlp_ratio, qkv_bias,
                                         proj_drop=proj_drop, drop_path=drop_path[j], attn_backend=attn_backend,
                                         **dd))
            else:  # shift in every second block of the stage (by index, as in the official code)
                blocks.append(SwinBlock(out_dim, num_heads, window_size, j % 2 == 1, mlp_ratio, qkv_bias,
                                        proj_drop, drop_path[j], **dd))
        self.blocks = nn.Sequential(*blocks)

    @torch.jit.ignore
    def set_input_size(self, feat_size: _Size, window_size: Optional[int] = None):
        for blk in self.blocks:
            blk.set_input_size(feat_size, window_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            return checkpoint_seq(self.blocks, x)
        return self.blocks(x)


class AgentSwinTransformer(PyramidClassifierMixin, nn.Module):
    """Agent-Swin: Swin Transformer whose 'A' blocks use agent attention over the whole feature map.

    Args:
        img_size: training resolution: sets the stored size of the agent biases and, unless ``window_size`` is
            given, the 'B' window (official rule: max(7, (img_size // patch_size) // 8), 7 at 224, 12 at 384).
            Other input sizes work too (biases are interpolated).
        attn_type: official layout string, one letter per stage: 'A' agent, 'B' shifted window, 'M' + trailing
            count: that many 'A' blocks then 'B' (Agent-Swin-B: 'AAMB2').
        agent_num: agents per stage (squares: pooled grid 3x3, 4x4, 7x7, 7x7).
        attn_backend: agent attention backend ('reference', 'math'; None = automatic).
    """

    stages_attr = 'layers'  # the official name, kept for its checkpoints' keys

    def __init__(self, img_size: Union[int, _Size] = 224, patch_size: int = 4, in_chans: int = 3,
                 num_classes: int = 1000, global_pool: str = 'avg', embed_dim: int = 96,
                 depths: Sequence[int] = (2, 2, 6, 2), num_heads: Sequence[int] = (3, 6, 12, 24),
                 agent_num: Sequence[int] = (9, 16, 49, 49), attn_type: str = 'AAAB',
                 window_size: Optional[int] = None, mlp_ratio: float = 4., qkv_bias: bool = True,
                 drop_rate: float = 0., proj_drop_rate: float = 0., drop_path_rate: float = 0.,
                 attn_backend: Optional[str] = None, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.patch_size = patch_size
        self.img_size = to_2tuple(img_size)
        self.output_fmt = 'NHWC'
        num_stages = len(depths)
        self.window_size = window_size or _swin_window(self.img_size, patch_size)
        dims = [embed_dim * 2 ** i for i in range(num_stages)]
        self.num_features = self.head_hidden_size = dims[-1]
        self.patch_embed = PatchEmbed(in_chans, embed_dim, patch_size, **dd)
        layout = _parse_attn_type(attn_type, depths)
        sizes = _stage_sizes(self.img_size, patch_size, num_stages)
        total = sum(depths)
        dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        layers = []
        self.feature_info = []
        for i in range(num_stages):
            layers.append(AgentSwinStage(
                dims[max(i - 1, 0)], dims[i], sizes[i], layout[i], downsample=i > 0, num_heads=num_heads[i],
                agent_num=agent_num[i], window_size=self.window_size, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                proj_drop=proj_drop_rate, drop_path=dpr[sum(depths[:i]):sum(depths[:i + 1])],
                attn_backend=attn_backend, **dd))
            self.feature_info.append(dict(num_chs=dims[i], reduction=patch_size * 2 ** i, module=f'layers.{i}'))
        self.layers = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(self.num_features, **dd)
        self.head = ClassifierHead(self.num_features, num_classes, pool_type=global_pool, drop_rate=drop_rate,
                                   input_fmt='NHWC', **dd)
        self.apply(_init_weights)

    @torch.jit.ignore
    def set_input_size(self, img_size: Optional[Union[int, _Size]] = None, window_size: Optional[int] = None):
        """Move the stored agent biases (and the 'B' window, by the official rule unless ``window_size`` is given;
        the relative position tables are resized bicubically) to a new training resolution."""
        if img_size is not None:
            self.img_size = to_2tuple(img_size)
        window_size = window_size or _swin_window(self.img_size, self.patch_size)
        self.window_size = window_size
        for stage, size in zip(self.layers, _stage_sizes(self.img_size, self.patch_size, len(self.layers))):
            stage.set_input_size(size, window_size)
        update_model_input_size(self, self.img_size, window_size=window_size)

    @torch.jit.ignore
    def set_attn_backend(self, backend: Optional[str]):
        _set_attn_backend(self, backend)

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict:
        return dict(
            stem=r'^patch_embed',
            blocks=r'^layers\.(\d+)' if coarse else [
                (r'^layers\.(\d+)\.downsample', (0,)),
                (r'^layers\.(\d+)\.blocks\.(\d+)', None),
                (r'^norm', (99999,)),
            ])

    @torch.jit.ignore
    def no_weight_decay(self):
        # the official optimizer skips 1-D params and '*relative_position_bias_table' (Swin's rule)
        return {n for n, _ in self.named_parameters() if n.endswith('relative_position_bias_table')}

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = 'NCHW',
            intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """Stage outputs in ``indices`` (NCHW, strides 4-32), and the final normed NHWC map."""
        assert output_fmt == 'NCHW', 'Output format must be NCHW.'
        intermediates = []
        take_indices, max_index = feature_take_indices(len(self.layers), indices)
        last_idx = len(self.layers) - 1
        x = self.patch_embed(check_input(x, self.in_chans, 32))
        if torch.jit.is_scripting() or not stop_early:
            stages = self.layers
        else:
            stages = self.layers[:max_index + 1]
        feat_idx = 0
        for feat_idx, stage in enumerate(stages):
            x = stage(x)
            if feat_idx in take_indices:
                y = self.norm(x) if norm and feat_idx == last_idx else x
                intermediates.append(y.permute(0, 3, 1, 2).contiguous())
        if intermediates_only:
            return intermediates
        if feat_idx == last_idx:
            x = self.norm(x)
        return x, intermediates

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(check_input(x, self.in_chans, 32))
        x = self.layers(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# ---------------------------------------------------------------------------------------------------------------
# Agent-PVT

class AgentPvtStage(nn.Module):
    """Patch embedding (conv, stride 4 or 2) + absolute position embedding + agent blocks; NHWC out."""

    def __init__(self, in_chs: int, dim: int, patch_size: int, feat_size: _Size, depth: int, num_heads: int,
                 agent_num: int, mlp_ratio: float, qkv_bias: bool, proj_drop: float, drop_path: Sequence[float],
                 attn_backend: Optional[str] = None, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.grad_checkpointing = False
        self.feat_size = feat_size
        self.patch_embed = PatchEmbed(in_chs, dim, patch_size, **dd)  # LayerNorm eps 1e-5 here, as official
        self.pos_embed = nn.Parameter(torch.zeros(1, feat_size[0] * feat_size[1], dim, **dd))
        trunc_normal_(self.pos_embed, std=.02)
        self.pos_drop = nn.Dropout(proj_drop)
        self.blocks = nn.Sequential(*[
            AgentBlock(dim, num_heads, agent_num, feat_size, mlp_ratio, qkv_bias, split_kv=True, norm_eps=1e-6,
                       proj_drop=proj_drop, drop_path=drop_path[j], attn_backend=attn_backend, **dd)
            for j in range(depth)])

    @torch.jit.ignore
    def set_input_size(self, feat_size: _Size):
        with torch.no_grad():
            _replace_param(self, 'pos_embed', resize_pos_embed(self.pos_embed, list(self.feat_size), list(feat_size)))
        self.feat_size = feat_size
        for blk in self.blocks:
            blk.set_input_size(feat_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: NCHW (the image or the previous stage's map) -> NHWC."""
        x = self.patch_embed(x)
        B, H, W, C = x.shape
        pos = resize_pos_embed(self.pos_embed, [self.feat_size[0], self.feat_size[1]], [H, W])
        x = self.pos_drop(x + pos.reshape(1, H, W, C))
        if self.grad_checkpointing and not torch.jit.is_scripting():
            return checkpoint_seq(self.blocks, x)
        return self.blocks(x)


class AgentPyramidVisionTransformer(PyramidClassifierMixin, nn.Module):
    """Agent-PVT: PVT (v1 layout) with agent attention in every block and no final norm (as released).

    Args:
        img_size: resolution at which the position embeddings and agent biases are stored; other input sizes
            interpolate them.
        agent_num: agents per stage (squares).
    """

    def __init__(self, img_size: Union[int, _Size] = 224, patch_size: int = 4, in_chans: int = 3,
                 num_classes: int = 1000, global_pool: str = 'avg', embed_dims: Sequence[int] = (64, 128, 320, 512),
                 depths: Sequence[int] = (2, 2, 2, 2), num_heads: Sequence[int] = (1, 2, 5, 8),
                 mlp_ratios: Sequence[float] = (8, 8, 4, 4), agent_num: Sequence[int] = (9, 16, 49, 49),
                 qkv_bias: bool = True, drop_rate: float = 0., proj_drop_rate: float = 0.,
                 drop_path_rate: float = 0., attn_backend: Optional[str] = None, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.patch_size = patch_size
        self.img_size = to_2tuple(img_size)
        self.output_fmt = 'NHWC'
        num_stages = len(depths)
        self.num_features = self.head_hidden_size = embed_dims[-1]
        sizes = _stage_sizes(self.img_size, patch_size, num_stages)
        total = sum(depths)
        dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        stages = []
        self.feature_info = []
        for i in range(num_stages):
            stages.append(AgentPvtStage(
                in_chans if i == 0 else embed_dims[i - 1], embed_dims[i], patch_size if i == 0 else 2, sizes[i],
                depths[i], num_heads[i], agent_num[i], mlp_ratios[i], qkv_bias, proj_drop_rate,
                dpr[sum(depths[:i]):sum(depths[:i + 1])], attn_backend=attn_backend, **dd))
            self.feature_info.append(dict(num_chs=embed_dims[i], reduction=patch_size * 2 ** i, module=f'stages.{i}'))
        self.stages = nn.ModuleList(stages)
        self.head = ClassifierHead(self.num_features, num_classes, pool_type=global_pool, drop_rate=drop_rate,
                                   input_fmt='NHWC', **dd)
        self.apply(_init_weights)

    @torch.jit.ignore
    def set_input_size(self, img_size: Optional[Union[int, _Size]] = None):
        """Move the stored position embeddings and agent biases to a new resolution."""
        if img_size is not None:
            self.img_size = to_2tuple(img_size)
        for stage, size in zip(self.stages, _stage_sizes(self.img_size, self.patch_size, len(self.stages))):
            stage.set_input_size(size)
        update_model_input_size(self, self.img_size)

    @torch.jit.ignore
    def set_attn_backend(self, backend: Optional[str]):
        _set_attn_backend(self, backend)

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict:
        return dict(
            stem=r'^stages\.0\.(?:patch_embed|pos_embed)',
            blocks=r'^stages\.(\d+)' if coarse else [
                (r'^stages\.(\d+)\.(?:patch_embed|pos_embed)', (0,)),
                (r'^stages\.(\d+)\.blocks\.(\d+)', None),
            ])

    @torch.jit.ignore
    def no_weight_decay(self):
        return set()  # the official recipe decays the position embeddings (PVT's no_weight_decay is cls_token)

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = 'NCHW',
            intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """Stage outputs in ``indices`` (NCHW, strides 4-32), and the final NHWC map (there is no final norm)."""
        assert output_fmt == 'NCHW', 'Output format must be NCHW.'
        intermediates = []
        take_indices, max_index = feature_take_indices(len(self.stages), indices)
        x = check_input(x, self.in_chans, 32)
        num_run = len(self.stages) if torch.jit.is_scripting() or not stop_early else max_index + 1
        for i, stage in enumerate(self.stages):
            if i < num_run:
                x = stage(x if i == 0 else x.permute(0, 3, 1, 2))
                if i in take_indices:
                    intermediates.append(x.permute(0, 3, 1, 2).contiguous())
        if intermediates_only:
            return intermediates
        return x, intermediates

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = check_input(x, self.in_chans, 32)
        for i, stage in enumerate(self.stages):
            x = stage(x if i == 0 else x.permute(0, 3, 1, 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# ---------------------------------------------------------------------------------------------------------------
# Agent-DeiT

class Attention(nn.Module):
    """Plain multi-head self-attention (DeiT's blocks after the agent ones); H, W unused."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, proj_drop: float = 0., device=None,
                 dtype=None):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias, device=device, dtype=dtype)
        self.proj = nn.Linear(dim, dim, device=device, dtype=dtype)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, N, C)))


class DeiTBlock(nn.Module):
    """Pre-norm ViT block on (B, 1 + H*W, C) tokens, agent attention (class token as a prefix) or plain MHSA."""

    def __init__(self, dim: int, num_heads: int, agent_num: int, feat_size: _Size, mlp_ratio: float = 4.,
                 qkv_bias: bool = True, proj_drop: float = 0., drop_path: float = 0.,
                 attn_backend: Optional[str] = None, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6, **dd)
        if agent_num > 0:
            self.attn = AgentAttention(dim, num_heads, agent_num, feat_size, qkv_bias=qkv_bias, num_prefix_tokens=1,
                                       proj_drop=proj_drop, attn_backend=attn_backend, **dd)
        else:
            self.attn = Attention(dim, num_heads, qkv_bias, proj_drop, **dd)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6, **dd)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=proj_drop, **dd)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        x = x + self.drop_path1(self.attn(self.norm1(x), H, W))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class AgentVisionTransformer(nn.Module):
    """Agent-DeiT: DeiT with agent attention in the first ``agent_layers`` blocks (all by default).

    Args:
        img_size: resolution at which the position embedding and agent biases are stored; other input sizes
            interpolate them (inputs are padded to the patch size).
        agent_num: agents of the agent blocks (a square); ``agent_layers``: how many leading blocks use agents.
        global_pool: 'token' (class token, as released), 'avg' (patch tokens) or '' (all tokens).
    """

    def __init__(self, img_size: Union[int, _Size] = 224, patch_size: int = 16, in_chans: int = 3,
                 num_classes: int = 1000, global_pool: str = 'token', embed_dim: int = 192, depth: int = 12,
                 num_heads: int = 3, mlp_ratio: float = 4., agent_num: int = 49, agent_layers: Optional[int] = None,
                 qkv_bias: bool = True, drop_rate: float = 0., pos_drop_rate: float = 0., proj_drop_rate: float = 0.,
                 drop_path_rate: float = 0., attn_backend: Optional[str] = None, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        if global_pool not in ('', 'token', 'avg'):
            raise ValueError(f"global_pool must be 'token', 'avg' or '', got {global_pool!r}")
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.in_chans = in_chans
        self.patch_size = patch_size
        self.img_size = to_2tuple(img_size)
        self.num_prefix_tokens = 1
        self.num_features = self.head_hidden_size = self.embed_dim = embed_dim
        self.grad_checkpointing = False
        self.grid_size = (math.ceil(self.img_size[0] / patch_size), math.ceil(self.img_size[1] / patch_size))
        agent_layers = depth if agent_layers is None else agent_layers
        self.patch_embed = PatchEmbed(in_chans, embed_dim, patch_size, norm=False, **dd)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim, **dd))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid_size[0] * self.grid_size[1], embed_dim, **dd))
        self.pos_drop = nn.Dropout(pos_drop_rate)
        dpr = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList([
            DeiTBlock(embed_dim, num_heads, agent_num if i < agent_layers else 0, self.grid_size, mlp_ratio,
                      qkv_bias, proj_drop_rate, dpr[i], attn_backend=attn_backend, **dd)
            for i in range(depth)])
        self.feature_info = [dict(module=f'blocks.{i}', num_chs=embed_dim, reduction=patch_size) for i in range(depth)]
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6, **dd)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes, **dd) if num_classes > 0 else nn.Identity()
        trunc_normal_(self.pos_embed, std=.02)
        trunc_normal_(self.cls_token, std=.02)
        self.apply(_init_weights)

    @torch.jit.ignore
    def set_input_size(self, img_size: Optional[Union[int, _Size]] = None):
        """Move the stored position embedding and agent biases to a new resolution."""
        if img_size is not None:
            self.img_size = to_2tuple(img_size)
        grid = (math.ceil(self.img_size[0] / self.patch_size), math.ceil(self.img_size[1] / self.patch_size))
        with torch.no_grad():
            _replace_param(self, 'pos_embed', resize_pos_embed(self.pos_embed, list(self.grid_size), list(grid), 1))
        self.grid_size = grid
        for blk in self.blocks:
            if isinstance(blk.attn, AgentAttention):
                blk.attn.set_feat_size(grid)
        update_model_input_size(self, self.img_size)

    @torch.jit.ignore
    def set_attn_backend(self, backend: Optional[str]):
        _set_attn_backend(self, backend)

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict:
        return dict(stem=r'^cls_token|pos_embed|patch_embed', blocks=[(r'^blocks\.(\d+)', None), (r'^norm', (99999,))])

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True):
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def no_weight_decay(self):
        return {'pos_embed', 'cls_token'}

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None):
        self.num_classes = num_classes
        if global_pool is not None:
            if global_pool not in ('', 'token', 'avg'):
                raise ValueError(f"global_pool must be 'token', 'avg' or '', got {global_pool!r}")
            self.global_pool = global_pool
        dd = get_device_dtype(self)
        self.head = nn.Linear(self.embed_dim, num_classes, **dd) if num_classes > 0 else nn.Identity()
        self.head.train(self.training)

    def _embed(self, x: torch.Tensor) -> Tuple[torch.Tensor, int, int]:
        x = self.patch_embed(check_input(x, self.in_chans, self.patch_size))
        B, H, W, C = x.shape
        x = torch.cat([self.cls_token.expand(B, -1, -1), x.reshape(B, H * W, C)], dim=1)
        pos = resize_pos_embed(self.pos_embed, [self.grid_size[0], self.grid_size[1]], [H, W], 1)
        return self.pos_drop(x + pos), H, W

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = 'NCHW',
            intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """Patch tokens of the blocks in ``indices`` as NCHW maps (stride 16), and the final normed tokens."""
        assert output_fmt in ('NCHW', 'NLC'), 'Output format must be NCHW or NLC.'
        intermediates = []
        take_indices, max_index = feature_take_indices(len(self.blocks), indices)
        x, H, W = self._embed(x)
        num_run = len(self.blocks) if torch.jit.is_scripting() or not stop_early else max_index + 1
        for i, blk in enumerate(self.blocks):
            if i < num_run:
                if self.grad_checkpointing and not torch.jit.is_scripting():
                    x = checkpoint(blk, x, H, W)
                else:
                    x = blk(x, H, W)
                if i in take_indices:
                    y = self.norm(x) if norm else x
                    y = y[:, self.num_prefix_tokens:]
                    if output_fmt == 'NCHW':
                        y = y.reshape(y.shape[0], H, W, -1).permute(0, 3, 1, 2).contiguous()
                    intermediates.append(y)
        if intermediates_only:
            return intermediates
        return self.norm(x), intermediates

    def prune_intermediate_layers(self, indices: Union[int, List[int]] = 1, prune_norm: bool = False,
                                  prune_head: bool = True):
        take_indices, max_index = feature_take_indices(len(self.blocks), indices)
        self.blocks = self.blocks[:max_index + 1]
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0, '')
        return take_indices

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x, H, W = self._embed(x)
        for blk in self.blocks:
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = checkpoint(blk, x, H, W)
            else:
                x = blk(x, H, W)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == 'avg':
            x = x[:, self.num_prefix_tokens:].mean(dim=1)
        elif self.global_pool == 'token':
            x = x[:, 0]
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# ---------------------------------------------------------------------------------------------------------------
# Agent-CSWin

class CSWinAgentBranch(AgentCore):
    """Agent-CSWin 'A' branch: agent attention over the whole map (the released layouts set the agent split size
    to the stage resolution), LePE ``get_v`` (3x3 depth-wise conv on V) added. q, k, v NHWC in, NHWC out."""

    def __init__(self, dim: int, num_heads: int, agent_num: int, feat_size: _Size,
                 attn_backend: Optional[str] = None, device=None, dtype=None):
        super().__init__(dim, num_heads, agent_num, feat_size, attn_backend=attn_backend, device=device, dtype=dtype)
        self.get_v = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, device=device, dtype=dtype)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        B, H, W, C = q.shape
        out = self.attend(q.reshape(B, H * W, C), k.reshape(B, H * W, C), v.reshape(B, H * W, C), H, W)
        lepe = self.get_v(v.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return out.reshape(B, H, W, C) + lepe


@register_notrace_module  # shape-dependent stripes and padding: a leaf for FX
class CSWinLePEBranch(nn.Module):
    """CSWin stripe attention of one branch ('B' blocks): ``idx`` 0 = stripes of full height x ``split`` columns,
    1 = ``split`` rows x full width, -1 = the whole map; LePE ``get_v`` (3x3 depth-wise conv of V inside each
    stripe) added. Maps not divisible by the stripe are zero-padded and the padded keys masked."""

    def __init__(self, dim: int, num_heads: int, split: int, idx: int, device=None, dtype=None):
        super().__init__()
        self.num_heads = num_heads
        self.split = split
        self.idx = idx
        self.scale = (dim // num_heads) ** -0.5
        self.get_v = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, device=device, dtype=dtype)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        B, H, W, C = q.shape
        if self.idx == 0:
            wh, ww = H, min(self.split, W)
        elif self.idx == 1:
            wh, ww = min(self.split, H), W
        else:
            wh, ww = H, W
        pad_h, pad_w = (wh - H % wh) % wh, (ww - W % ww) % ww
        mask: Optional[torch.Tensor] = None
        if pad_h or pad_w:
            q = F.pad(q, (0, 0, 0, pad_w, 0, pad_h))
            k = F.pad(k, (0, 0, 0, pad_w, 0, pad_h))
            v = F.pad(v, (0, 0, 0, pad_w, 0, pad_h))
            valid = torch.zeros(1, H + pad_h, W + pad_w, 1, dtype=torch.bool, device=q.device)
            valid[:, :H, :W] = True
            mask = _window_partition(valid, wh, ww)[:, None, None, :, 0]  # nW, 1, 1, N (keys)
        Hp, Wp = H + pad_h, W + pad_w
        qw, kw, vw = _window_partition(q, wh, ww), _window_partition(k, wh, ww), _window_partition(v, wh, ww)
        BW, N, _ = qw.shape
        heads = self.num_heads
        qh = qw.reshape(BW, N, heads, C // heads).transpose(1, 2)
        kh = kw.reshape(BW, N, heads, C // heads).transpose(1, 2)
        vh = vw.reshape(BW, N, heads, C // heads).transpose(1, 2)
        if mask is not None:
            mask = mask.repeat(B, 1, 1, 1)
        out = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask, scale=self.scale)
        out = out.transpose(1, 2).reshape(BW, N, C)
        lepe = self.get_v(vw.transpose(1, 2).reshape(BW, C, wh, ww)).flatten(2).transpose(1, 2)
        x = _window_reverse(out + lepe, wh, ww, Hp, Wp)
        if pad_h or pad_w:
            x = x[:, :H, :W].contiguous()
        return x


class AgentCSWinBlock(nn.Module):
    """CSWin block on NHWC maps: LN, block-level ``qkv``, one branch (whole map) or two (vertical / horizontal
    stripes, half the channels and heads each), ``proj``, MLP."""

    def __init__(self, dim: int, num_heads: int, attn_type: str, feat_size: _Size, split: int, last_stage: bool,
                 agent_num: int, mlp_ratio: float = 4., qkv_bias: bool = True, proj_drop: float = 0.,
                 drop_path: float = 0., attn_backend: Optional[str] = None, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias, **dd)
        self.norm1 = nn.LayerNorm(dim, **dd)
        self.proj = nn.Linear(dim, dim, **dd)
        self.proj_drop = nn.Dropout(proj_drop)
        if attn_type == 'A':  # agent attention over the whole map (official la_split_size = resolution)
            self.attns = nn.ModuleList([CSWinAgentBranch(dim, num_heads, agent_num, feat_size, attn_backend, **dd)])
        elif last_stage or min(feat_size) == split:
            self.attns = nn.ModuleList([CSWinLePEBranch(dim, num_heads, split, -1, **dd)])
        else:
            self.attns = nn.ModuleList([CSWinLePEBranch(dim // 2, num_heads // 2, split, i, **dd) for i in range(2)])
        self.drop_path1 = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, **dd)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=proj_drop, **dd)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    @torch.jit.ignore
    def set_input_size(self, feat_size: _Size, split: Optional[int] = None):
        for attn in self.attns:
            if isinstance(attn, CSWinAgentBranch):
                attn.set_feat_size(feat_size)
            elif split is not None:
                attn.split = split

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        c = C // len(self.attns)
        outs: List[torch.Tensor] = []
        for i, attn in enumerate(self.attns):
            outs.append(attn(q[..., i * c:(i + 1) * c], k[..., i * c:(i + 1) * c], v[..., i * c:(i + 1) * c]))
        out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
        x = x + self.drop_path1(self.proj_drop(self.proj(out)))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class ConvNormNHWC(nn.Module):
    """Conv (NHWC in, via NCHW) + LayerNorm: CSWin's stem (7x7 stride 4) and merge blocks (3x3 stride 2)."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, stride: int, padding: int, nchw_in: bool = False,
                 device=None, dtype=None):
        super().__init__()
        self.nchw_in = nchw_in
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, padding, device=device, dtype=dtype)
        self.norm = nn.LayerNorm(out_chs, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.nchw_in:
            x = x.permute(0, 3, 1, 2)
        return self.norm(self.conv(x).permute(0, 2, 3, 1))


class AgentCSWinStage(nn.Module):
    def __init__(self, in_dim: int, dim: int, feat_size: _Size, layout: List[str], downsample: bool,
                 num_heads: int, split: int, last_stage: bool, agent_num: int, mlp_ratio: float, qkv_bias: bool,
                 proj_drop: float, drop_path: Sequence[float], attn_backend: Optional[str] = None,
                 device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.grad_checkpointing = False
        self.downsample = ConvNormNHWC(in_dim, dim, 3, 2, 1, **dd) if downsample else nn.Identity()
        self.blocks = nn.Sequential(*[
            AgentCSWinBlock(dim, num_heads, t, feat_size, split, last_stage, agent_num, mlp_ratio, qkv_bias,
                            proj_drop, drop_path[j], attn_backend, **dd)
            for j, t in enumerate(layout)])

    @torch.jit.ignore
    def set_input_size(self, feat_size: _Size, split: Optional[int] = None):
        for blk in self.blocks:
            blk.set_input_size(feat_size, split)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            return checkpoint_seq(self.blocks, x)
        return self.blocks(x)


def _cswin_sizes(img_size: _Size, num_stages: int) -> List[_Size]:
    """Stage resolutions: 7x7 stride-4 pad-2 stem, then 3x3 stride-2 pad-1 merges."""
    size = ((img_size[0] - 3) // 4 + 1, (img_size[1] - 3) // 4 + 1)
    sizes = []
    for _ in range(num_stages):
        sizes.append(size)
        size = ((size[0] + 1) // 2, (size[1] + 1) // 2)
    return sizes


def _cswin_splits(img_size: _Size) -> Tuple[int, int, int, int]:
    """Stripe widths of the 'B' blocks per stage: official (1, 2, 7, 7) at 224, (1, 2, 12, 12) at 384."""
    s = max(1, min(img_size) // 32)
    return 1, 2, s, s


class AgentCSWinTransformer(PyramidClassifierMixin, nn.Module):
    """Agent-CSWin: CSWin Transformer whose 'A' blocks use agent attention over the whole map (layout AABB).

    Args:
        img_size: training resolution: the stored size of the agent biases and, unless ``split_size`` is given,
            the stage-3/4 stripe width (official: img_size // 32). Other input sizes work too.
        split_size: stripe width of the 'B' blocks per stage (stage 4 is always the whole map).
        attn_type: one letter per stage ('A' agent, 'B' CSWin stripes, 'M' + trailing count).
    """

    def __init__(self, img_size: Union[int, _Size] = 224, in_chans: int = 3, num_classes: int = 1000,
                 global_pool: str = 'avg', embed_dim: int = 64, depths: Sequence[int] = (2, 4, 18, 1),
                 num_heads: Sequence[int] = (2, 4, 8, 16), split_size: Optional[Sequence[int]] = None,
                 agent_num: Sequence[int] = (9, 16, 49, 49), attn_type: str = 'AABB', mlp_ratio: float = 4.,
                 qkv_bias: bool = True, drop_rate: float = 0., proj_drop_rate: float = 0.,
                 drop_path_rate: float = 0., attn_backend: Optional[str] = None, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.img_size = to_2tuple(img_size)
        self.output_fmt = 'NHWC'
        num_stages = len(depths)
        self.split_size = tuple(split_size) if split_size is not None else _cswin_splits(self.img_size)
        dims = [embed_dim * 2 ** i for i in range(num_stages)]
        self.num_features = self.head_hidden_size = dims[-1]
        self.stem = ConvNormNHWC(in_chans, embed_dim, 7, 4, 2, nchw_in=True, **dd)
        layout = _parse_attn_type(attn_type, depths)
        sizes = _cswin_sizes(self.img_size, num_stages)
        total = sum(depths)
        dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        stages = []
        self.feature_info = []
        for i in range(num_stages):
            stages.append(AgentCSWinStage(
                dims[max(i - 1, 0)], dims[i], sizes[i], layout[i], downsample=i > 0, num_heads=num_heads[i],
                split=self.split_size[i], last_stage=i == num_stages - 1, agent_num=agent_num[i],
                mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, proj_drop=proj_drop_rate,
                drop_path=dpr[sum(depths[:i]):sum(depths[:i + 1])], attn_backend=attn_backend, **dd))
            self.feature_info.append(dict(num_chs=dims[i], reduction=4 * 2 ** i, module=f'stages.{i}'))
        self.stages = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(self.num_features, **dd)
        self.head = ClassifierHead(self.num_features, num_classes, pool_type=global_pool, drop_rate=drop_rate,
                                   input_fmt='NHWC', **dd)
        self.apply(_init_weights)

    @torch.jit.ignore
    def set_input_size(self, img_size: Optional[Union[int, _Size]] = None,
                       split_size: Optional[Sequence[int]] = None):
        """Move the stored agent biases (and the stripe widths, img_size // 32 unless given) to a new resolution."""
        if img_size is not None:
            self.img_size = to_2tuple(img_size)
        self.split_size = tuple(split_size) if split_size is not None else _cswin_splits(self.img_size)
        for i, (stage, size) in enumerate(zip(self.stages, _cswin_sizes(self.img_size, len(self.stages)))):
            stage.set_input_size(size, self.split_size[i])
        update_model_input_size(self, self.img_size, split_size=self.split_size)

    @torch.jit.ignore
    def set_attn_backend(self, backend: Optional[str]):
        _set_attn_backend(self, backend)

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
        return set()  # the official list names pos_embed/cls_token, which CSWin does not have

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = 'NCHW',
            intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """Stage outputs in ``indices`` (NCHW, strides 4-32), and the final normed NHWC map."""
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
                y = self.norm(x) if norm and feat_idx == last_idx else x
                intermediates.append(y.permute(0, 3, 1, 2).contiguous())
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


# ---------------------------------------------------------------------------------------------------------------
# Shared

def _init_weights(m: nn.Module):
    if isinstance(m, nn.Linear):
        trunc_normal_(m.weight, std=.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def _set_attn_backend(model: nn.Module, backend: Optional[str]):
    """Force an agent attention backend for every agent block ('reference', 'math'; None = automatic)."""
    for m in model.modules():
        if isinstance(m, AgentCore):
            m.attn_backend = backend


_RECOMPUTED = ('relative_position_index', 'attn_mask')


def _swin_key(key: str) -> Optional[str]:
    """Official Agent-Swin key -> ours (downsampling moves from the end of stage i to the start of stage i+1)."""
    if key.endswith(_RECOMPUTED):
        return None
    key = re.sub(r'^layers\.(\d+)\.downsample\.', lambda m: f'layers.{int(m.group(1)) + 1}.downsample.', key)
    return re.sub(r'^head\.(weight|bias)$', r'head.fc.\1', key)


def _pvt_key(key: str) -> Optional[str]:
    key = re.sub(r'^patch_embed(\d)\.', lambda m: f'stages.{int(m.group(1)) - 1}.patch_embed.', key)
    key = re.sub(r'^pos_embed(\d)$', lambda m: f'stages.{int(m.group(1)) - 1}.pos_embed', key)
    key = re.sub(r'^block(\d)\.(\d+)\.', lambda m: f'stages.{int(m.group(1)) - 1}.blocks.{m.group(2)}.', key)
    return re.sub(r'^head\.(weight|bias)$', r'head.fc.\1', key)


def _cswin_key(key: str) -> Optional[str]:
    key = re.sub(r'^stage1_conv_embed\.0\.', 'stem.conv.', key)
    key = re.sub(r'^stage1_conv_embed\.2\.', 'stem.norm.', key)
    key = re.sub(r'^stage(\d)\.(\d+)\.', lambda m: f'stages.{int(m.group(1)) - 1}.blocks.{m.group(2)}.', key)
    key = re.sub(r'^merge(\d)\.', r'stages.\1.downsample.', key)
    return re.sub(r'^head\.(weight|bias)$', r'head.fc.\1', key)


def _fit_resolution(state_dict: Dict[str, torch.Tensor], model: nn.Module) -> Dict[str, torch.Tensor]:
    """Resize the resolution-dependent tensors of a checkpoint to the model's (e.g. a 224 file into a model
    built at 384): row/column agent biases, absolute position embeddings, relative position tables."""
    target = model.state_dict()
    dims = {name: dim for name, dim, _ in _ROW_COL_BIASES}
    out = {}
    for k, v in state_dict.items():
        t = target.get(k)
        if t is not None and v.shape != t.shape and v.dim() == t.dim():
            leaf = k.rsplit('.', 1)[-1]
            if leaf in dims and all(v.shape[d] == t.shape[d] for d in range(v.dim()) if d != dims[leaf]):
                v = _resize_dim(v, t.shape[dims[leaf]], dims[leaf])
            elif leaf == 'relative_position_bias_table' and v.shape[1] == t.shape[1]:
                v = _resize_rel_pos_table(v, (int(math.isqrt(t.shape[0])) + 1) // 2)
            elif leaf == 'pos_embed' and v.shape[0] == 1 and v.shape[2] == t.shape[2]:
                prefix = 1 if isinstance(model, AgentVisionTransformer) else 0
                old, new = v.shape[1] - prefix, t.shape[1] - prefix
                if math.isqrt(old) ** 2 == old and math.isqrt(new) ** 2 == new:
                    v = resize_pos_embed(v, [math.isqrt(old)] * 2, [math.isqrt(new)] * 2, prefix)
        out[k] = v
    return out


def _squeeze_official_biases(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Official 5-D row/column agent biases, e.g. ah_bias (1, heads, n, H, 1), to ours (heads, n, H)."""
    squeeze = {name: dim for name, _, dim in _ROW_COL_BIASES}
    out = {}
    for k, v in state_dict.items():
        leaf = k.rsplit('.', 1)[-1]
        if leaf in squeeze and v.dim() == 5 and v.shape[0] == 1 and v.shape[squeeze[leaf]] == 1:
            v = v.squeeze(squeeze[leaf]).squeeze(0)
        out[k] = v
    return out


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: nn.Module) -> Dict[str, torch.Tensor]:
    """Accept the official release ({'model': ...} / 'state_dict_ema', official keys) or vizattn's own state_dict."""
    state_dict = _squeeze_official_biases(unwrap_state_dict(state_dict))
    # Official Swin files downsample at the end of a stage (layers.0.downsample exists, ours starts at layers.1)
    official_swin = any(k.startswith('layers.0.downsample.') for k in state_dict) or 'head.weight' in state_dict
    if isinstance(model, AgentSwinTransformer) and official_swin:
        state_dict = remap_keys(state_dict, _swin_key)
    elif isinstance(model, AgentPyramidVisionTransformer):
        state_dict = remap_keys(state_dict, _pvt_key)  # the official names do not overlap ours
    elif isinstance(model, AgentCSWinTransformer):
        state_dict = remap_keys(state_dict, _cswin_key)
    else:
        state_dict = remap_keys(state_dict, lambda k: None if k.endswith(_RECOMPUTED) else k)
    if not state_dict:
        raise CheckpointError('checkpoint holds no weights')
    return check_state_dict(_fit_resolution(state_dict, model), model)


def _create(cls, variant: str, pretrained: bool, feature_cfg: Dict, **kwargs):
    # The training resolution of a tag (e.g. agent_swin_b.in1k_384) decides the stored bias sizes and windows.
    if 'img_size' not in kwargs:
        cfg = resolve_pretrained_cfg(variant, pretrained_cfg=kwargs.get('pretrained_cfg'),
                                     pretrained_cfg_overlay=kwargs.get('pretrained_cfg_overlay'))
        if cfg.input_size is not None:
            kwargs['img_size'] = tuple(cfg.input_size[-2:])
    return build_model(cls, variant, pretrained, checkpoint_filter_fn, feature_cfg=feature_cfg, **kwargs)


def _create_agent_swin(variant: str, pretrained: bool = False, **kwargs) -> AgentSwinTransformer:
    out_indices = kwargs.pop('out_indices', (0, 1, 2, 3))
    return _create(AgentSwinTransformer, variant, pretrained,
                   dict(feature_cls='getter', out_indices=out_indices), **kwargs)


def _create_agent_pvt(variant: str, pretrained: bool = False, **kwargs) -> AgentPyramidVisionTransformer:
    out_indices = kwargs.pop('out_indices', (0, 1, 2, 3))
    return _create(AgentPyramidVisionTransformer, variant, pretrained,
                   dict(feature_cls='getter', out_indices=out_indices), **kwargs)


def _create_agent_deit(variant: str, pretrained: bool = False, **kwargs) -> AgentVisionTransformer:
    out_indices = kwargs.pop('out_indices', 3)
    return _create(AgentVisionTransformer, variant, pretrained,
                   dict(feature_cls='getter', out_indices=out_indices), **kwargs)


def _create_agent_cswin(variant: str, pretrained: bool = False, **kwargs) -> AgentCSWinTransformer:
    out_indices = kwargs.pop('out_indices', (0, 1, 2, 3))
    return _create(AgentCSWinTransformer, variant, pretrained,
                   dict(feature_cls='getter', out_indices=out_indices), **kwargs)


def _cfg(url: str = '', **kwargs):
    return {
        'url': url, 'num_classes': 1000, 'input_size': (3, 224, 224), 'pool_size': (7, 7),
        'crop_pct': 0.875, 'interpolation': 'bicubic', 'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        'first_conv': 'patch_embed.proj', 'classifier': 'head.fc',
        'paper_ids': 'arXiv:2312.08874',
        'paper_name': 'Agent Attention: On the Integration of Softmax and Linear Attention',
        'origin_url': 'https://github.com/LeapLabTHU/Agent-Attention',
        'notes': ('The official repository has no license file.',), **kwargs,
    }


def _tsinghua(file_id: str) -> str:
    return f'https://cloud.tsinghua.edu.cn/f/{file_id}/?dl=1'


_PVT = dict(first_conv='stages.0.patch_embed.proj')
_CSWIN = dict(first_conv='stem.conv')
_DEIT = dict(classifier='head', pool_size=None)

# Links of agent_transformer/README.md; the files are {'model': state_dict, 'optimizer', 'lr_scheduler',
# 'max_accuracy', 'epoch', 'config'}. The hi-res tags build the model at their resolution (and Swin 'B' window).
default_cfgs = generate_default_cfgs({
    'agent_swin_t.in1k': _cfg(_tsinghua('a2ddc1190c224f768a41')),
    'agent_swin_s.in1k': _cfg(_tsinghua('f607172c9fea4d6e99bb')),
    'agent_swin_s.in1k_288': _cfg(_tsinghua('09760394e93b4046a25e'), input_size=(3, 288, 288), pool_size=(9, 9),
                                  crop_pct=1.0),
    'agent_swin_b.in1k': _cfg(_tsinghua('4fcd2d0114bb490483c3')),
    'agent_swin_b.in1k_384': _cfg(_tsinghua('bb84ee9058954706a557'), input_size=(3, 384, 384), pool_size=(12, 12),
                                  crop_pct=1.0),
    'agent_pvt_t.in1k': _cfg(_tsinghua('13fdf0e0a7c5498c934f'), **_PVT),
    'agent_pvt_s.in1k': _cfg(_tsinghua('36b8be9a8863456685a3'), **_PVT),
    'agent_pvt_m.in1k': _cfg(_tsinghua('4d00ecacf18b45f9b88c'), **_PVT),
    'agent_pvt_m.in1k_256': _cfg(_tsinghua('654df734121643b19c52'), input_size=(3, 256, 256), pool_size=(8, 8),
                                 **_PVT),
    'agent_pvt_l.in1k': _cfg(_tsinghua('040cfe0cfbbe4762ad09'), **_PVT),
    'agent_deit_t.in1k': _cfg(_tsinghua('57e0904221824ee7b7af'), **_DEIT),
    'agent_deit_s.in1k': _cfg(_tsinghua('fdd43304372541db8ea7'), **_DEIT),
    'agent_deit_s.in1k_448': _cfg(_tsinghua('a228f86241c445f1969b'), input_size=(3, 448, 448), **_DEIT),
    'agent_deit_b.in1k': _cfg(_tsinghua('5115f15fdd7e4ab58fbc'), **_DEIT),
    # main_ema.py checkpoints: {'model', 'state_dict_ema', ...}; timm's loader takes 'state_dict_ema' as they do
    'agent_cswin_t.in1k': _cfg(_tsinghua('8c562a74441e46d5902b'), **_CSWIN),
    'agent_cswin_s.in1k': _cfg(_tsinghua('30eb8af675bc4b7a8747'), **_CSWIN),
    'agent_cswin_b.in1k': _cfg(_tsinghua('c8035b0839b2410c8c9f'), **_CSWIN),
    'agent_cswin_b.in1k_384': _cfg(_tsinghua('1239be0df44b47719432'), input_size=(3, 384, 384), pool_size=(12, 12),
                                   **_CSWIN),
})


@register_model
def agent_swin_t(pretrained: bool = False, **kwargs) -> AgentSwinTransformer:
    """Agent-Swin-T (AAAB): 29M params, 4.5 GFLOPs, 82.6% top-1 (official README)."""
    args = dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), attn_type='AAAB')
    return _create_agent_swin('agent_swin_t', pretrained, **dict(args, **kwargs))


@register_model
def agent_swin_s(pretrained: bool = False, **kwargs) -> AgentSwinTransformer:
    """Agent-Swin-S (AABB): 50M params, 8.7 GFLOPs, 83.7% top-1 (84.1% at 288, tag in1k_288)."""
    args = dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24), attn_type='AABB')
    return _create_agent_swin('agent_swin_s', pretrained, **dict(args, **kwargs))


@register_model
def agent_swin_b(pretrained: bool = False, **kwargs) -> AgentSwinTransformer:
    """Agent-Swin-B (AAMB2): 88M params, 15.4 GFLOPs, 84.0% top-1 (84.9% at 384, tag in1k_384)."""
    args = dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), attn_type='AAMB2')
    return _create_agent_swin('agent_swin_b', pretrained, **dict(args, **kwargs))


def _pvt_args(depths):
    return dict(embed_dims=(64, 128, 320, 512), num_heads=(1, 2, 5, 8), mlp_ratios=(8, 8, 4, 4), depths=depths)


@register_model
def agent_pvt_t(pretrained: bool = False, **kwargs) -> AgentPyramidVisionTransformer:
    """Agent-PVT-T: 11.6M params, 2.0 GFLOPs, 78.4% top-1 (official README)."""
    return _create_agent_pvt('agent_pvt_t', pretrained, **dict(_pvt_args((2, 2, 2, 2)), **kwargs))


@register_model
def agent_pvt_s(pretrained: bool = False, **kwargs) -> AgentPyramidVisionTransformer:
    """Agent-PVT-S: 20.6M params, 4.0 GFLOPs, 82.2% top-1 (official README)."""
    return _create_agent_pvt('agent_pvt_s', pretrained, **dict(_pvt_args((3, 4, 6, 3)), **kwargs))


@register_model
def agent_pvt_m(pretrained: bool = False, **kwargs) -> AgentPyramidVisionTransformer:
    """Agent-PVT-M: 35.9M params, 7.0 GFLOPs, 83.4% top-1 (83.8% at 256, tag in1k_256)."""
    return _create_agent_pvt('agent_pvt_m', pretrained, **dict(_pvt_args((3, 4, 18, 3)), **kwargs))


@register_model
def agent_pvt_l(pretrained: bool = False, **kwargs) -> AgentPyramidVisionTransformer:
    """Agent-PVT-L: 48.7M params, 10.4 GFLOPs, 83.7% top-1 (official README)."""
    return _create_agent_pvt('agent_pvt_l', pretrained, **dict(_pvt_args((3, 8, 27, 3)), **kwargs))


@register_model
def agent_deit_t(pretrained: bool = False, **kwargs) -> AgentVisionTransformer:
    """Agent-DeiT-T: 6.0M params, 1.2 GFLOPs, 74.9% top-1 (official README)."""
    args = dict(embed_dim=192, depth=12, num_heads=3, agent_num=49)
    return _create_agent_deit('agent_deit_t', pretrained, **dict(args, **kwargs))


@register_model
def agent_deit_s(pretrained: bool = False, **kwargs) -> AgentVisionTransformer:
    """Agent-DeiT-S: 22.7M params, 4.4 GFLOPs, 80.5% top-1 (83.1% at 448, tag in1k_448)."""
    args = dict(embed_dim=384, depth=12, num_heads=6, agent_num=49)
    return _create_agent_deit('agent_deit_s', pretrained, **dict(args, **kwargs))


@register_model
def agent_deit_b(pretrained: bool = False, **kwargs) -> AgentVisionTransformer:
    """Agent-DeiT-B: 87.2M params, 17.6 GFLOPs, 82.0% top-1 (81 agents in the first 4 blocks)."""
    args = dict(embed_dim=768, depth=12, num_heads=12, agent_num=81, agent_layers=4)
    return _create_agent_deit('agent_deit_b', pretrained, **dict(args, **kwargs))


@register_model
def agent_cswin_t(pretrained: bool = False, **kwargs) -> AgentCSWinTransformer:
    """Agent-CSWin-T (CSWin 64-24181, AABB): 21M params, 4.3 GFLOPs, 83.1% top-1 (official README)."""
    args = dict(embed_dim=64, depths=(2, 4, 18, 1), num_heads=(2, 4, 8, 16))
    return _create_agent_cswin('agent_cswin_t', pretrained, **dict(args, **kwargs))


@register_model
def agent_cswin_s(pretrained: bool = False, **kwargs) -> AgentCSWinTransformer:
    """Agent-CSWin-S (CSWin 64-36292, AABB): 33M params, 6.8 GFLOPs, 83.9% top-1 (official README)."""
    args = dict(embed_dim=64, depths=(3, 6, 29, 2), num_heads=(2, 4, 8, 16))
    return _create_agent_cswin('agent_cswin_s', pretrained, **dict(args, **kwargs))


@register_model
def agent_cswin_b(pretrained: bool = False, **kwargs) -> AgentCSWinTransformer:
    """Agent-CSWin-B (CSWin 96-36292, AABB): 73M params, 14.9 GFLOPs, 84.7% top-1 (85.8% at 384, tag in1k_384)."""
    args = dict(embed_dim=96, depths=(3, 6, 29, 2), num_heads=(4, 8, 16, 32))
    return _create_agent_cswin('agent_cswin_b', pretrained, **dict(args, **kwargs))
