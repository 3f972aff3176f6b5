"""PredFormer: video prediction transformers without recurrence or convolution (Tang et al., arXiv:2410.04733).

Frames ``(B, T, C, H, W)`` are cut into p x p patches, embedded by one linear layer and given a fixed sinusoidal
position encoding over the T*N (frame, patch) positions. Gated Transformer Blocks (pre-LN multi-head attention
without qkv bias, then pre-LN SwiGLU, each with a residual and stochastic depth) are grouped into transformers
that attend along one axis: spatial ('s', the N patches of a frame), temporal ('t', the T frames of a patch
position) or joint ('st', all T*N tokens). Each transformer ends with its own LayerNorm. A head (LayerNorm,
linear to p*p*C) un-patchifies the tokens into ``T_out = T_in`` frames; when ``num_frames_out`` asks for more
frames the model rolls out autoregressively (its prediction is its next input), for fewer it truncates, as
OpenSTL's PredFormer method does.

The nine published arrangements (``arrangement``):

=========== ============================================ ============================================
name        one PredFormer layer                         layers x GTBs (Moving MNIST, 24 GTBs in all)
=========== ============================================ ============================================
full        joint space-time transformer                 1 x 24
facst       spatial transformer, then temporal           1 x (12 + 12)   (a factorised encoder)
facts       temporal transformer, then spatial           1 x (12 + 12)
st          Binary-ST: s, t                              12 x 2
ts          Binary-TS: t, s                              12 x 2
sts         Triplet-STS: s, t, s                         8 x 3
tst         Triplet-TST: t, s, t                         8 x 3
tsst        Quadruplet-TSST: t, s, s, t                  6 x 4
stts        Quadruplet-STTS: s, t, t, s                  6 x 4
=========== ============================================ ============================================

Inputs: ``(B, T, C, H, W)``, or ``(B, T*C, H, W)`` with the frames stacked on the channels (what image tools such
as timm's test suite feed); the output has the input's layout. H and W that are not multiples of the patch size
are zero-padded and the prediction cropped; a frame count or channel count other than the model's raises.

Checkpoints (``checkpoint_filter_fn``): OpenSTL's ``{'epoch', 'optimizer', 'state_dict', 'scheduler'}`` files
and its bare ``checkpoint.pth`` state_dicts of the official ``PredFormer_Model`` of each variant (keys
``to_patch_embedding.1``, ``blocks.{l}.{ts_temporal,ts_space,st_space,st_temporal,...}_transformer.layers.{d}.
{0,1}.{norm,fn.*}``, ``space_transformer``/``temporal_transformer``/``space_temporal_transformer`` for the
factorised and full models, ``mlp_head.{0,1}``), and vizattn's own state_dict. No trained weights were released.
"""
import math
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath, SwiGLU, register_notrace_function, trunc_normal_
from timm.models import generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint

from ._builder import build_model
from ._checkpoint import CheckpointError, check_state_dict, remap_keys, unwrap_state_dict

__all__ = ['PredFormer', 'ARRANGEMENTS', 'sinusoidal_position_encoding']

# variant -> (axes of the transformers of one PredFormer layer, official names of those transformers)
ARRANGEMENTS = {
    'full': (('st',), ('space_temporal_transformer',)),
    'facst': (('s', 't'), ('space_transformer', 'temporal_transformer')),
    'facts': (('t', 's'), ('temporal_transformer', 'space_transformer')),
    'st': (('s', 't'), ('st_space_transformer', 'st_temporal_transformer')),
    'ts': (('t', 's'), ('ts_temporal_transformer', 'ts_space_transformer')),
    'sts': (('s', 't', 's'), ('space_transformer_first', 'temporal_transformer', 'space_transformer_second')),
    'tst': (('t', 's', 't'), ('temporal_transformer_first', 'space_transformer', 'temporal_transformer_second')),
    'tsst': (('t', 's', 's', 't'),
             ('ts_temporal_transformer', 'ts_space_transformer', 'st_space_transformer', 'st_temporal_transformer')),
    'stts': (('s', 't', 't', 's'),
             ('st_space_transformer', 'st_temporal_transformer', 'ts_temporal_transformer', 'ts_space_transformer')),
}
_FACTORISED = ('full', 'facst', 'facts')  # one layer whose transformers hold all the depth (no 'blocks.' prefix)


def sinusoidal_position_encoding(num_positions: int, dim: int, device: Optional[torch.device] = None
                                 ) -> torch.Tensor:
    """(num_positions, dim): sin on even, cos on odd channels of p / 10000^(2*(i//2)/dim).

    The angles are rounded to float32 before the sine, as the official code (a FloatTensor of Python floats)
    does; at the hundreds of positions used this matters at the 1e-5 level.
    """
    p = torch.arange(num_positions, dtype=torch.float64, device=device).unsqueeze(1)
    i = torch.arange(dim, device=device)
    div = torch.pow(torch.full((dim,), 10000., dtype=torch.float64, device=device),
                    (2 * torch.div(i, 2, rounding_mode='floor')).to(torch.float64) / dim)
    angle = (p / div).to(torch.float32)
    return torch.where((i % 2 == 0).unsqueeze(0), torch.sin(angle), torch.cos(angle))


# ---------------------------------------------------------------------------------------------------------
# Shape helpers (shape-dependent Python: leaves for FX; FX autowraps only names without a leading underscore)

@register_notrace_function
def predformer_to_frames(x: torch.Tensor, num_frames: int, in_chans: int) -> torch.Tensor:
    """Validate the input and return it as (B, T, C, H, W) (a 4-D input has the frames on the channels)."""
    if x.dim() == 4:
        if x.shape[1] != num_frames * in_chans:
            raise ValueError(
                f'expected {num_frames} frames x {in_chans} channels = {num_frames * in_chans} stacked channels, '
                f'got input shape {list(x.shape)}')
        x = x.reshape(x.shape[0], num_frames, in_chans, x.shape[2], x.shape[3])
    elif x.dim() != 5:
        raise ValueError(f'expected a (B, T, C, H, W) video batch or (B, T*C, H, W), got shape {list(x.shape)}')
    if x.shape[1] != num_frames:
        raise ValueError(f'expected {num_frames} input frames, got {x.shape[1]} (input shape {list(x.shape)})')
    if x.shape[2] != in_chans:
        raise ValueError(f'expected {in_chans} channels per frame, got {x.shape[2]} (input shape {list(x.shape)})')
    return x


@register_notrace_function
def predformer_like_input(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Return the (B, T, C, H, W) prediction in the layout of the input ``x``."""
    if x.dim() == 4:
        return y.reshape(y.shape[0], y.shape[1] * y.shape[2], y.shape[3], y.shape[4])
    return y


@register_notrace_function
def predformer_pad(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    pad_h = (patch_size - x.shape[-2] % patch_size) % patch_size
    pad_w = (patch_size - x.shape[-1] % patch_size) % patch_size
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h))


@register_notrace_function
def predformer_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if x.shape[-2] == height and x.shape[-1] == width:
        return x
    return x[..., :height, :width]


@register_notrace_function
def predformer_pos_embed(pos_embed: torch.Tensor, num_frames: int, grid_h: int, grid_w: int) -> torch.Tensor:
    """The (1, T, N, D) encoding for a patch grid; recomputed when it is not the design grid."""
    n = grid_h * grid_w
    if pos_embed.shape[1] == num_frames and pos_embed.shape[2] == n:
        return pos_embed
    pe = sinusoidal_position_encoding(num_frames * n, pos_embed.shape[-1], pos_embed.device)
    return pe.to(pos_embed.dtype).view(1, num_frames, n, pos_embed.shape[-1])


# ---------------------------------------------------------------------------------------------------------
# Blocks

class Attention(nn.Module):
    """Multi-head self-attention, qkv without bias (heads x head_dim may differ from dim), output projection."""

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int = 32, attn_drop: float = 0.,
                 device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        inner = num_heads * head_dim
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * inner, bias=False, **dd)
        # the official code drops the projection only for one head of dim == head_dim (never in its configs)
        self.proj = nn.Linear(inner, dim, **dd) if not (num_heads == 1 and head_dim == dim) else nn.Identity()
        self.proj_drop = nn.Dropout(attn_drop)  # the official 'attn_dropout' acts after the projection

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)
        x = x.transpose(1, 2).reshape(B, N, self.num_heads * self.head_dim)
        return self.proj_drop(self.proj(x))


class GatedBlock(nn.Module):
    """Gated Transformer Block: x + DropPath(MHSA(LN(x))), then x + DropPath(SwiGLU(LN(x)))."""

    def __init__(self, dim: int, num_heads: int, head_dim: int, mlp_hidden: int, proj_drop: float = 0.,
                 attn_drop: float = 0., drop_path: float = 0., device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.norm1 = nn.LayerNorm(dim, **dd)
        self.attn = Attention(dim, num_heads, head_dim, attn_drop, **dd)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, **dd)
        self.mlp = SwiGLU(dim, mlp_hidden, drop=proj_drop, **dd)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self.attn(self.norm1(x)))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class GatedTransformer(nn.Module):
    """GTBs attending along one axis of (B, T, N, D) tokens ('s', 't' or 'st'), then a LayerNorm."""

    def __init__(self, axis: str, dim: int, depth: int, num_heads: int, head_dim: int, mlp_hidden: int,
                 proj_drop: float = 0., attn_drop: float = 0., drop_path: float = 0., device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        assert axis in ('s', 't', 'st')
        self.axis = axis
        self.grad_checkpointing = False
        self.blocks = nn.ModuleList([
            GatedBlock(dim, num_heads, head_dim, mlp_hidden, proj_drop, attn_drop, drop_path, **dd)
            for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, N, D = x.shape
        if self.axis == 's':
            x = x.reshape(B * T, N, D)
        elif self.axis == 't':
            x = x.transpose(1, 2).reshape(B * N, T, D)
        else:
            x = x.reshape(B, T * N, D)
        for blk in self.blocks:
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = checkpoint(blk, x)
            else:
                x = blk(x)
        x = self.norm(x)
        if self.axis == 't':
            return x.reshape(B, N, T, D).transpose(1, 2)
        return x.reshape(B, T, N, D)


class PredFormerLayer(nn.Module):
    """The transformers of one layer, applied in order (no residual around the layer, as published)."""

    def __init__(self, axes: Sequence[str], depth: int, dim: int, num_heads: int, head_dim: int, mlp_hidden: int,
                 proj_drop: float = 0., attn_drop: float = 0., drop_path: float = 0., device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.transformers = nn.ModuleList([
            GatedTransformer(a, dim, depth, num_heads, head_dim, mlp_hidden, proj_drop, attn_drop, drop_path, **dd)
            for a in axes])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for t in self.transformers:
            x = t(x)
        return x


class PatchEmbed(nn.Module):
    """(B, T, C, H, W) -> (B, T, N, D): p x p patches flattened as (p1 p2 c), one linear layer."""

    def __init__(self, in_chans: int, dim: int, patch_size: int, device=None, dtype=None):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Linear(patch_size * patch_size * in_chans, dim, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C, H, W = x.shape
        p = self.patch_size
        x = x.reshape(B, T, C, H // p, p, W // p, p).permute(0, 1, 3, 5, 4, 6, 2)
        return self.proj(x.reshape(B, T, (H // p) * (W // p), p * p * C))


class PredictionHead(nn.Module):
    """LayerNorm, linear D -> p*p*C read as (c p1 p2), un-patchify to (B, T, C, H, W)."""

    def __init__(self, dim: int, out_chans: int, patch_size: int, device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.patch_size = patch_size
        self.out_chans = out_chans
        self.norm = nn.LayerNorm(dim, **dd)
        self.fc = nn.Linear(dim, patch_size * patch_size * out_chans, **dd)

    def forward(self, x: torch.Tensor, grid_h: int, grid_w: int) -> torch.Tensor:
        B, T, N, D = x.shape
        p, C = self.patch_size, self.out_chans
        x = self.fc(self.norm(x)).reshape(B, T, grid_h, grid_w, C, p, p)
        return x.permute(0, 1, 4, 2, 5, 3, 6).reshape(B, T, C, grid_h * p, grid_w * p)


class PredFormer(nn.Module):
    """PredFormer video predictor.

    Args:
        arrangement: one of ``ARRANGEMENTS`` (see the module docstring): the published variant.
        img_size: (H, W) of the design frames (the position encoding is recomputed for other sizes).
        num_frames: input frames T_in (the output has as many per step).
        num_frames_out: frames to return; more than num_frames rolls out autoregressively (default num_frames).
        in_chans: channels per frame.
        num_layers: PredFormer layers (the official Ndepth); depth: GTBs per transformer (the official depth;
            for the factorised and full variants the official Ndepth is the depth of their transformers).
        mlp_ratio: SwiGLU hidden = dim * mlp_ratio (the official scale_dim).
        proj_drop_rate, attn_drop_rate, drop_path_rate: the official dropout, attn_dropout, drop_path (the same
            drop-path rate in every block: the paper's uniform stochastic depth).
    """

    def __init__(self, arrangement: str = 'tsst', img_size: Union[int, Tuple[int, int]] = 64, patch_size: int = 8,
                 num_frames: int = 10, num_frames_out: Optional[int] = None, in_chans: int = 1, dim: int = 256,
                 num_heads: int = 8, head_dim: int = 32, mlp_ratio: float = 4., num_layers: int = 6, depth: int = 1,
                 proj_drop_rate: float = 0., attn_drop_rate: float = 0., drop_path_rate: float = 0.,
                 device=None, dtype=None):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        if arrangement not in ARRANGEMENTS:
            raise ValueError(f'unknown PredFormer arrangement {arrangement!r}; one of {sorted(ARRANGEMENTS)}')
        img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.arrangement = arrangement
        self.img_size = img_size
        self.patch_size = patch_size
        self.num_frames = num_frames
        self.num_frames_out = num_frames_out or num_frames
        self.in_chans = in_chans
        self.dim = dim
        self.num_classes = 0
        self.num_features = self.head_hidden_size = dim
        self.grid_size = (math.ceil(img_size[0] / patch_size), math.ceil(img_size[1] / patch_size))
        axes = ARRANGEMENTS[arrangement][0]
        self.patch_embed = PatchEmbed(in_chans, dim, patch_size, **dd)
        n = self.grid_size[0] * self.grid_size[1]
        pe = sinusoidal_position_encoding(num_frames * n, dim, device=device)
        self.register_buffer('pos_embed', pe.view(1, num_frames, n, dim).to(dtype or torch.float32),
                             persistent=False)
        mlp_hidden = int(dim * mlp_ratio)
        self.layers = nn.ModuleList([
            PredFormerLayer(axes, depth, dim, num_heads, head_dim, mlp_hidden, proj_drop_rate, attn_drop_rate,
                            drop_path_rate, **dd) for _ in range(num_layers)])
        self.head = PredictionHead(dim, in_chans, patch_size, **dd)
        self.feature_info = [dict(num_chs=dim, reduction=patch_size, module=f'layers.{i}') for i in range(num_layers)]
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

    def init_non_persistent_buffers(self) -> None:
        n = self.grid_size[0] * self.grid_size[1]
        pe = sinusoidal_position_encoding(self.num_frames * n, self.dim, device=self.pos_embed.device)
        self.pos_embed.copy_(pe.view(1, self.num_frames, n, self.dim))

    # ------------------------------------------------------------------------------------------ timm API
    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict:
        return dict(stem=r'^patch_embed', blocks=r'^layers\.(\d+)' if coarse else [
            (r'^layers\.(\d+)\.transformers\.(\d+)\.blocks\.(\d+)', None),
            (r'^layers\.(\d+)\.transformers\.(\d+)\.norm', None),
            (r'^head', (99999,)),
        ])

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True):
        for layer in self.layers:
            for t in layer.transformers:
                t.grad_checkpointing = enable

    @torch.jit.ignore
    def no_weight_decay(self):
        return set()

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None):
        raise NotImplementedError('PredFormer predicts frames: it has no classifier to reset')

    # ------------------------------------------------------------------------------------------ forward
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) or (B, T*C, H, W) -> tokens (B, T, N, D) after the last PredFormer layer."""
        x = predformer_pad(predformer_to_frames(x, self.num_frames, self.in_chans), self.patch_size)
        gh, gw = x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size
        x = self.patch_embed(x) + predformer_pos_embed(self.pos_embed, self.num_frames, gh, gw).to(x.dtype)
        for layer in self.layers:
            x = layer(x)
        return x

    def forward_head(self, x: torch.Tensor, grid_size: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """Tokens (B, T, N, D) -> frames (B, T, C, gh*p, gw*p)."""
        if grid_size is None:
            gh, gw = self.grid_size
        else:
            gh, gw = grid_size
        return self.head(x, gh, gw)

    def forward_step(self, x: torch.Tensor) -> torch.Tensor:
        """One direct prediction of ``num_frames`` frames from ``num_frames`` frames, (B, T, C, H, W)."""
        H, W = x.shape[-2], x.shape[-1]
        p = self.patch_size
        y = self.forward_features(x)
        y = self.forward_head(y, ((H + p - 1) // p, (W + p - 1) // p))
        return predformer_crop(y, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = predformer_to_frames(x, self.num_frames, self.in_chans)
        y = self.forward_step(frames)
        if self.num_frames_out < self.num_frames:
            y = y[:, :self.num_frames_out]
        elif self.num_frames_out > self.num_frames:
            preds: List[torch.Tensor] = [y]
            cur = y
            steps = self.num_frames_out // self.num_frames
            for _ in range(steps - 1):
                cur = self.forward_step(cur)
                preds.append(cur)
            rest = self.num_frames_out - steps * self.num_frames
            if rest > 0:
                preds.append(self.forward_step(cur)[:, :rest])
            y = torch.cat(preds, dim=1)
        return predformer_like_input(y, x)

    def predict(self, x: torch.Tensor, num_frames_out: int) -> torch.Tensor:
        """Predict ``num_frames_out`` frames (autoregressive roll-out past ``num_frames``), input layout kept."""
        saved = self.num_frames_out
        self.num_frames_out = num_frames_out
        try:
            return self.forward(x)
        finally:
            self.num_frames_out = saved

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = 'NTCHW',
            intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """Each PredFormer layer's tokens as (B, T, D, gh, gw) maps ('NTCHW') or (B, T, N, D) ('NTLC').

        The final output is ``forward_features(x)``; ``norm`` has no effect (every transformer ends normed).
        """
        assert output_fmt in ('NTCHW', 'NTLC'), "output_fmt must be 'NTCHW' or 'NTLC'"
        take_indices, max_index = feature_take_indices(len(self.layers), indices)
        x = predformer_pad(predformer_to_frames(x, self.num_frames, self.in_chans), self.patch_size)
        gh, gw = x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size
        x = self.patch_embed(x) + predformer_pos_embed(self.pos_embed, self.num_frames, gh, gw).to(x.dtype)
        intermediates: List[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            if not (stop_early and intermediates_only and i > max_index):
                x = layer(x)
                if i in take_indices:
                    if output_fmt == 'NTCHW':
                        B, T, N, D = x.shape
                        intermediates.append(x.reshape(B, T, gh, gw, D).permute(0, 1, 4, 2, 3))
                    else:
                        intermediates.append(x)
        if intermediates_only:
            return intermediates
        return x, intermediates

    def prune_intermediate_layers(self, indices: Union[int, List[int]] = 1, prune_norm: bool = False,
                                  prune_head: bool = True):
        take_indices, max_index = feature_take_indices(len(self.layers), indices)
        self.layers = self.layers[:max_index + 1]
        if prune_head:
            self.head = nn.Identity()
        return take_indices


# ---------------------------------------------------------------------------------------------------------
# Checkpoint conversion

_BLOCK_LEAF = (
    ('0.norm.', 'norm1.'), ('0.fn.to_qkv.', 'attn.qkv.'), ('0.fn.to_out.0.', 'attn.proj.'),
    ('1.norm.', 'norm2.'), ('1.fn.', 'mlp.'),
)


def _official_renamer(variant: str):
    names = ARRANGEMENTS[variant][1]
    index = {n: i for i, n in enumerate(names)}
    flat = variant in _FACTORISED

    def rename(key: str) -> Optional[str]:
        if key == 'pos_embedding':
            return None  # the official code keeps it out of the state_dict; drop it if a file has it
        if key.startswith('to_patch_embedding.1.'):
            return 'patch_embed.proj.' + key[len('to_patch_embedding.1.'):]
        if key.startswith('mlp_head.0.'):
            return 'head.norm.' + key[len('mlp_head.0.'):]
        if key.startswith('mlp_head.1.'):
            return 'head.fc.' + key[len('mlp_head.1.'):]
        if flat:
            m = re.match(r'(\w+?)\.(layers\.(\d+)\.(.*)|norm\.(.*))$', key)
            layer = '0'
        else:
            m0 = re.match(r'blocks\.(\d+)\.(.*)$', key)
            if m0 is None:
                return key
            layer = m0.group(1)
            m = re.match(r'(\w+?)\.(layers\.(\d+)\.(.*)|norm\.(.*))$', m0.group(2))
        if m is None or m.group(1) not in index:
            return key
        prefix = f'layers.{layer}.transformers.{index[m.group(1)]}.'
        if m.group(5) is not None:
            return prefix + 'norm.' + m.group(5)
        tail = m.group(4)
        for old, new in _BLOCK_LEAF:
            if tail.startswith(old):
                return f'{prefix}blocks.{m.group(3)}.{new}{tail[len(old):]}'
        return key

    return rename


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: PredFormer) -> Dict[str, torch.Tensor]:
    """Accept OpenSTL's checkpoints of the official PredFormer_Model (same variant), or vizattn's own; strict."""
    state_dict = unwrap_state_dict(state_dict)
    if 'to_patch_embedding.1.weight' in state_dict:
        state_dict = remap_keys(state_dict, _official_renamer(model.arrangement))
    state_dict = {k: v for k, v in state_dict.items() if k != 'pos_embed'}
    try:
        return check_state_dict(state_dict, model)
    except CheckpointError as e:
        raise CheckpointError(
            f'{e} (PredFormer checkpoints accepted: OpenSTL\'s {{"state_dict": ...}} or bare state_dict of the '
            f'official PredFormer_Model of the same variant and depth, vizattn\'s own)') from None


def _create_predformer(variant: str, pretrained: bool = False, **kwargs) -> PredFormer:
    if kwargs.get('features_only'):
        raise ValueError('PredFormer has no multi-scale feature pyramid (every layer is at the patch stride): use '
                         'forward_intermediates() for per-layer (B, T, D, h, w) maps instead of features_only')
    return build_model(PredFormer, variant, pretrained, checkpoint_filter_fn, **kwargs)


# dataset presets (the official configs and the paper's tables): frames, (H, W), channels, patch, mlp_ratio,
# dropout / attn-dropout / drop-path, and the GTB budget (24 for Moving MNIST, 8 for TaxiBJ / WeatherBench)
DATASETS = {
    'mmnist': dict(num_frames=10, img_size=(64, 64), in_chans=1, patch_size=8, mlp_ratio=4.,
                   proj_drop_rate=0., attn_drop_rate=0., drop_path_rate=0., gtbs=24),
    'taxibj': dict(num_frames=4, img_size=(32, 32), in_chans=2, patch_size=4, mlp_ratio=4.,
                   proj_drop_rate=0.1, attn_drop_rate=0.1, drop_path_rate=0.1, gtbs=8),
    'weather': dict(num_frames=12, img_size=(32, 64), in_chans=1, patch_size=4, mlp_ratio=2.,
                    proj_drop_rate=0.1, attn_drop_rate=0.1, drop_path_rate=0.25, gtbs=8),
}


def _arch(variant: str, dataset: str) -> dict:
    """Layers and depth of the paper's models: the GTB budget over the layer width (Triplets: 24 -> 8 layers
    on Moving MNIST; 8 -> 2 layers, 6 GTBs, on TaxiBJ/WeatherBench, as the paper's 6.3M/4.0M rows are)."""
    d = dict(DATASETS[dataset])
    gtbs = d.pop('gtbs')
    axes = ARRANGEMENTS[variant][0]
    if variant == 'full':
        d.update(num_layers=1, depth=gtbs)
    elif variant in ('facst', 'facts'):
        d.update(num_layers=1, depth=gtbs // 2)
    else:
        d.update(num_layers=gtbs // len(axes), depth=1)
    return d


def _cfg(dataset: str, **kwargs):
    d = DATASETS[dataset]
    t, (h, w), c = d['num_frames'], d['img_size'], d['in_chans']
    return {
        'url': '', 'num_classes': -1, 'input_size': (t * c, h, w), 'fixed_input_size': False, 'pool_size': None,
        'crop_pct': 1.0, 'interpolation': 'bilinear', 'mean': (0.,) * (t * c), 'std': (1.,) * (t * c),
        'first_conv': None, 'classifier': None, 'license': 'apache-2.0', 'paper_ids': 'arXiv:2410.04733',
        'paper_name': 'PredFormer: Video Prediction Transformers without Recurrence or Convolution',
        'origin_url': 'https://github.com/yyyujintang/PredFormer',
        'notes': (f'input_size is the 4-D stacked form (T*C, H, W) of ({t}, {c}, {h}, {w}) frames',), **kwargs,
    }


default_cfgs = generate_default_cfgs({
    f'predformer_{v}_{ds}.untrained': _cfg(ds) for ds in DATASETS for v in ARRANGEMENTS})


def _entry(variant: str, dataset: str, pretrained: bool, kwargs) -> PredFormer:
    args = dict(_arch(variant, dataset), arrangement=variant, dim=256, num_heads=8, head_dim=32)
    args.update(kwargs)
    args.setdefault('in_chans', DATASETS[dataset]['in_chans'])  # not the cfg's stacked T*C channels
    return _create_predformer(f'predformer_{variant}_{dataset}', pretrained, **args)


@register_model
def predformer_full_mmnist(pretrained: bool = False, **kwargs) -> PredFormer:
    """Full Attention, Moving MNIST (10 -> 10, 64x64x1): 25.3M, 21.2 GFLOPs, MSE 17.3 (paper)."""
    return _entry('full', 'mmnist', pretrained, kwargs)


@register_model
def predformer_facst_mmnist(pretrained: bool = False, **kwargs) -> PredFormer:
    """Fac-S-T, Moving MNIST: 25.3M, 16.5 GFLOPs, MSE 20.6 (paper)."""
    return _entry('facst', 'mmnist', pretrained, kwargs)


@register_model
def predformer_facts_mmnist(pretrained: bool = False, **kwargs) -> PredFormer:
    """Fac-T-S, Moving MNIST: 25.3M, 16.5 GFLOPs, MSE 16.9 (paper)."""
    return _entry('facts', 'mmnist', pretrained, kwargs)


@register_model
def predformer_st_mmnist(pretrained: bool = False, **kwargs) -> PredFormer:
    """Binary-ST, Moving MNIST: 25.3M, 16.5 GFLOPs, MSE 13.4 (paper)."""
    return _entry('st', 'mmnist', pretrained, kwargs)


@register_model
def predformer_ts_mmnist(pretrained: bool = False, **kwargs) -> PredFormer:
    """Binary-TS, Moving MNIST: 25.3M, 16.5 GFLOPs, MSE 12.8 (paper)."""
    return _entry('ts', 'mmnist', pretrained, kwargs)


@register_model
def predformer_sts_mmnist(pretrained: bool = False, **kwargs) -> PredFormer:
    """Triplet-STS, Moving MNIST: 25.3M, 16.5 GFLOPs, MSE 13.1 (paper)."""
    return _entry('sts', 'mmnist', pretrained, kwargs)


@register_model
def predformer_tst_mmnist(pretrained: bool = False, **kwargs) -> PredFormer:
    """Triplet-TST, Moving MNIST: 25.3M, 16.4 GFLOPs, MSE 13.4 (paper)."""
    return _entry('tst', 'mmnist', pretrained, kwargs)


@register_model
def predformer_tsst_mmnist(pretrained: bool = False, **kwargs) -> PredFormer:
    """Quadruplet-TSST, Moving MNIST: 25.3M, 16.5 GFLOPs, MSE 12.4 / MAE 44.6 / SSIM 0.973 (paper)."""
    return _entry('tsst', 'mmnist', pretrained, kwargs)


@register_model
def predformer_stts_mmnist(pretrained: bool = False, **kwargs) -> PredFormer:
    """Quadruplet-STTS, Moving MNIST: 25.3M, 16.4 GFLOPs, MSE 12.4 (paper)."""
    return _entry('stts', 'mmnist', pretrained, kwargs)


@register_model
def predformer_full_taxibj(pretrained: bool = False, **kwargs) -> PredFormer:
    """Full Attention, TaxiBJ (4 -> 4, 32x32x2): 8.4M, 2.4 GFLOPs, MSE 0.316 (paper)."""
    return _entry('full', 'taxibj', pretrained, kwargs)


@register_model
def predformer_facst_taxibj(pretrained: bool = False, **kwargs) -> PredFormer:
    """Fac-S-T, TaxiBJ: 8.4M, 2.2 GFLOPs, MSE 0.320 (paper)."""
    return _entry('facst', 'taxibj', pretrained, kwargs)


@register_model
def predformer_facts_taxibj(pretrained: bool = False, **kwargs) -> PredFormer:
    """Fac-T-S, TaxiBJ: 8.4M, 2.2 GFLOPs, MSE 0.283 (paper)."""
    return _entry('facts', 'taxibj', pretrained, kwargs)


@register_model
def predformer_st_taxibj(pretrained: bool = False, **kwargs) -> PredFormer:
    """Binary-ST, TaxiBJ: 8.4M, 2.2 GFLOPs, MSE 0.277 (paper, best)."""
    return _entry('st', 'taxibj', pretrained, kwargs)


@register_model
def predformer_ts_taxibj(pretrained: bool = False, **kwargs) -> PredFormer:
    """Binary-TS, TaxiBJ: 8.4M, 2.2 GFLOPs, MSE 0.286 (paper)."""
    return _entry('ts', 'taxibj', pretrained, kwargs)


@register_model
def predformer_sts_taxibj(pretrained: bool = False, **kwargs) -> PredFormer:
    """Triplet-STS, TaxiBJ: 6.3M, 1.6 GFLOPs, MSE 0.277 (paper, best)."""
    return _entry('sts', 'taxibj', pretrained, kwargs)


@register_model
def predformer_tst_taxibj(pretrained: bool = False, **kwargs) -> PredFormer:
    """Triplet-TST, TaxiBJ: 6.3M, 1.6 GFLOPs, MSE 0.293 (paper)."""
    return _entry('tst', 'taxibj', pretrained, kwargs)


@register_model
def predformer_tsst_taxibj(pretrained: bool = False, **kwargs) -> PredFormer:
    """Quadruplet-TSST, TaxiBJ: 8.4M, 2.2 GFLOPs, MSE 0.284 (paper)."""
    return _entry('tsst', 'taxibj', pretrained, kwargs)


@register_model
def predformer_stts_taxibj(pretrained: bool = False, **kwargs) -> PredFormer:
    """Quadruplet-STTS, TaxiBJ: 8.4M, 2.2 GFLOPs, MSE 0.293 (paper)."""
    return _entry('stts', 'taxibj', pretrained, kwargs)


@register_model
def predformer_full_weather(pretrained: bool = False, **kwargs) -> PredFormer:
    """Full Attention, WeatherBench t2m 5.625 deg (12 -> 12, 32x64x1): 5.3M, 17.8 GFLOPs, MSE 1.126 (paper)."""
    return _entry('full', 'weather', pretrained, kwargs)


@register_model
def predformer_facst_weather(pretrained: bool = False, **kwargs) -> PredFormer:
    """Fac-S-T, WeatherBench t2m: 5.3M, 8.5 GFLOPs, MSE 1.783 (paper)."""
    return _entry('facst', 'weather', pretrained, kwargs)


@register_model
def predformer_facts_weather(pretrained: bool = False, **kwargs) -> PredFormer:
    """Fac-T-S, WeatherBench t2m: 5.3M, 8.5 GFLOPs, MSE 1.100 (paper, best)."""
    return _entry('facts', 'weather', pretrained, kwargs)


@register_model
def predformer_st_weather(pretrained: bool = False, **kwargs) -> PredFormer:
    """Binary-ST, WeatherBench t2m: 5.3M, 8.6 GFLOPs, MSE 1.140 (paper)."""
    return _entry('st', 'weather', pretrained, kwargs)


@register_model
def predformer_ts_weather(pretrained: bool = False, **kwargs) -> PredFormer:
    """Binary-TS, WeatherBench t2m: 5.3M, 8.6 GFLOPs, MSE 1.115 (paper)."""
    return _entry('ts', 'weather', pretrained, kwargs)


@register_model
def predformer_sts_weather(pretrained: bool = False, **kwargs) -> PredFormer:
    """Triplet-STS, WeatherBench t2m: 4.0M, 6.5 GFLOPs, MSE 1.149 (paper)."""
    return _entry('sts', 'weather', pretrained, kwargs)


@register_model
def predformer_tst_weather(pretrained: bool = False, **kwargs) -> PredFormer:
    """Triplet-TST, WeatherBench t2m: 4.0M, 6.3 GFLOPs, MSE 1.108 (paper)."""
    return _entry('tst', 'weather', pretrained, kwargs)


@register_model
def predformer_tsst_weather(pretrained: bool = False, **kwargs) -> PredFormer:
    """Quadruplet-TSST, WeatherBench t2m: 5.3M, 8.6 GFLOPs, MSE 1.116 (paper)."""
    return _entry('tsst', 'weather', pretrained, kwargs)


@register_model
def predformer_stts_weather(pretrained: bool = False, **kwargs) -> PredFormer:
    """Quadruplet-STTS, WeatherBench t2m: 5.3M, 8.6 GFLOPs, MSE 1.118 (paper)."""
    return _entry('stts', 'weather', pretrained, kwargs)
