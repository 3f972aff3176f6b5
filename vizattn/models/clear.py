"""CLEAR: Conv-Like Linearization Revs Pre-Trained Diffusion Transformers Up (Liu et al., arXiv:2412.16112).

CLEAR restricts each query to the tokens inside an open disc of radius r on the 2D token grid
(``dy**2 + dx**2 < r**2``, truncated at the borders), optionally adds down-sampled K/V tokens (a 4x4 pooling
with a learnable per-position weight), and recovers the full-attention model by distilling only the
attention projections. The official code (Huage001/CLEAR) linearises FLUX.1-dev only; here the same attention
replaces the attention of timm's ViT/DeiT, so that the ORIGINAL timm/DeiT checkpoints load unchanged:

* ``ClearVisionTransformer`` subclasses timm's ``VisionTransformer``; its blocks are timm ``Block`` s whose
  attention is ``ClearAttention`` (timm's ``Attention`` with the same ``qkv``/``proj`` parameters, calling
  ``vizattn.ops.local_window.local_window_attn``). The class/register tokens see and are seen by every token
  (the role of CLEAR's text tokens).
* ``radius``, ``window_shape`` ('disc' as in CLEAR, or 'square') and ``down_factor`` (0: none, 4: CLEAR's
  down-sampled variant, adding one ``attn.spatial_weight`` (f, f) per block, initialised to 1/f^2) are model
  arguments; ``set_window(radius, shape)`` changes the window of a built model.
* Any input size: ``dynamic_img_size=True`` and ``dynamic_img_pad=True`` by default (timm's position-embedding
  interpolation, and zero padding to whole patches).

``tools/distill_clear.py`` distils a CLEAR student from its full-attention teacher (the recipe of the paper).
"""
from functools import partial
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from timm.layers import register_notrace_function, register_notrace_module, resample_abs_pos_embed
from timm.layers.attention import Attention
from timm.models import generate_default_cfgs, get_pretrained_cfg, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint
from timm.models.vision_transformer import Block, VisionTransformer
from timm.models.vision_transformer import checkpoint_filter_fn as vit_checkpoint_filter_fn

from ..layers import check_input
from ..ops.local_window import SHAPES, local_window_attn, pool_tokens
from ._builder import build_model
from ._checkpoint import CheckpointError, check_state_dict, unwrap_state_dict

__all__ = ['ClearVisionTransformer', 'ClearAttention', 'ClearBlock']


def _check_window(radius: float, window_shape: str, down_factor: int):
    if not float(radius) > 0:
        raise ValueError(f'radius must be positive, got {radius}')
    if window_shape not in SHAPES:
        raise ValueError(f'window_shape must be one of {SHAPES}, got {window_shape!r}')
    if down_factor < 0 or down_factor == 1:
        raise ValueError(f'down_factor must be 0 (no pooled tokens) or >= 2, got {down_factor}')


@register_notrace_module  # shape-dependent windowing and pooling: a leaf for FX
class ClearAttention(Attention):
    """timm's ``Attention`` (same parameters) with CLEAR's local-window attention.

    Tokens: ``num_global`` leading tokens (class/register) then an H x W grid in raster order; ``grid`` is
    given to ``forward`` and the number of leading tokens follows from the token count.
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False, qk_norm: bool = False,
                 scale_norm: bool = False, proj_bias: bool = True, proj_drop: float = 0.,
                 norm_layer: Optional[type] = None, radius: float = 4., window_shape: str = 'disc',
                 down_factor: int = 0, attn_backend: Optional[str] = None, device=None, dtype=None):
        super().__init__(dim, num_heads, qkv_bias=qkv_bias, qk_norm=qk_norm, scale_norm=scale_norm,
                         proj_bias=proj_bias, proj_drop=proj_drop, norm_layer=norm_layer, device=device,
                         dtype=dtype)
        _check_window(radius, window_shape, down_factor)
        self.radius = float(radius)
        self.window_shape = window_shape
        self.down_factor = down_factor
        self.attn_backend = attn_backend
        if down_factor:
            f = down_factor
            self.spatial_weight = nn.Parameter(torch.full((f, f), 1.0 / (f * f), device=device, dtype=dtype))
        else:
            self.spatial_weight = None

    @torch.jit.ignore
    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        num_global = q.shape[2] - grid[0] * grid[1]
        pooled = None
        if self.spatial_weight is not None:
            pooled = (pool_tokens(k, grid, self.down_factor, self.spatial_weight, num_global),
                      pool_tokens(v, grid, self.down_factor, self.spatial_weight, num_global))
        return local_window_attn(q, k, v, grid, self.radius, self.window_shape, num_global, pooled,
                                 scale=self.scale, backend=self.attn_backend)

    def forward(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        x = self._attend(q, k, v, grid)
        x = x.transpose(1, 2).reshape(B, N, self.attn_dim)
        x = self.norm(x)
        x = self.proj(x)
        return self.proj_drop(x)


class ClearBlock(Block):
    """timm's pre-norm ViT ``Block`` whose attention is ``ClearAttention``; ``forward(x, grid)``."""

    def __init__(self, dim: int, num_heads: int, radius: float = 4., window_shape: str = 'disc',
                 down_factor: int = 0, attn_backend: Optional[str] = None, **kwargs):
        if kwargs.get('attn_drop', 0.):
            raise ValueError('CLEAR attention has no attention dropout (attn_drop_rate must be 0)')
        kwargs['attn_layer'] = Attention
        super().__init__(dim, num_heads, **kwargs)
        self.attn = ClearAttention(
            dim, num_heads, qkv_bias=kwargs.get('qkv_bias', False), qk_norm=kwargs.get('qk_norm', False),
            scale_norm=kwargs.get('scale_attn_norm', False), proj_bias=kwargs.get('proj_bias', True),
            proj_drop=kwargs.get('proj_drop', 0.), norm_layer=kwargs.get('norm_layer'), radius=radius,
            window_shape=window_shape, down_factor=down_factor, attn_backend=attn_backend,
            device=kwargs.get('device'), dtype=kwargs.get('dtype'))

    def forward(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x), grid)))
        x = x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))
        return x


class ClearVisionTransformer(VisionTransformer):
    """timm's VisionTransformer with CLEAR local-window attention in every block.

    Args (besides timm's ``VisionTransformer`` ones):
        radius: window radius in tokens (open disc ``dy^2 + dx^2 < r^2``; any positive real, ``inf`` = full).
        window_shape: 'disc' (CLEAR) or 'square' (``max(|dy|, |dx|) < r``).
        down_factor: 0 for none, else the pooling factor of CLEAR's down-sampled K/V tokens (4 in the paper).
        attn_backend: local-window backend ('reference', 'flex', 'triton'); None chooses automatically.
        dynamic_img_size: True (default): any input size, the position embedding is interpolated.
        dynamic_img_pad: True (default): sizes not divisible by the patch size are zero-padded at the
            bottom/right to whole patches (timm's PatchEmbed padding); False rejects them.
    Patch dropout and attention dropout are not supported (they break the token grid / the fused windows).
    """

    def __init__(self, radius: float = 4., window_shape: str = 'disc', down_factor: int = 0,
                 attn_backend: Optional[str] = None, dynamic_img_size: bool = True, dynamic_img_pad: bool = True,
                 **kwargs: Any):
        for name in ('block_fn', 'attn_layer'):
            if name in kwargs:
                raise TypeError(f'{name} is fixed by ClearVisionTransformer')
        if kwargs.get('patch_drop_rate', 0.):
            raise ValueError('patch dropout removes grid tokens: CLEAR needs the whole token grid')
        if kwargs.get('attn_drop_rate', 0.):
            raise ValueError('CLEAR attention has no attention dropout (attn_drop_rate must be 0)')
        _check_window(radius, window_shape, down_factor)
        block_fn = partial(ClearBlock, radius=radius, window_shape=window_shape, down_factor=down_factor,
                           attn_backend=attn_backend)
        super().__init__(dynamic_img_size=dynamic_img_size, dynamic_img_pad=dynamic_img_pad, block_fn=block_fn,
                         **kwargs)
        # blocks take (x, grid): a ModuleList (same keys), an nn.Sequential could not be scripted
        self.blocks = nn.ModuleList(list(self.blocks))
        self.radius = float(radius)
        self.window_shape = window_shape
        self.down_factor = down_factor
        self.min_input_size = max(self.patch_embed.patch_size)

    @torch.jit.ignore
    def set_window(self, radius: Optional[float] = None, shape: Optional[str] = None):
        """Change the window of every block (e.g. a larger radius at a higher resolution)."""
        radius = self.radius if radius is None else float(radius)
        shape = self.window_shape if shape is None else shape
        _check_window(radius, shape, self.down_factor)
        self.radius, self.window_shape = radius, shape
        for m in self.modules():
            if isinstance(m, ClearAttention):
                m.radius, m.window_shape = radius, shape

    @torch.jit.ignore
    def set_attn_backend(self, backend: Optional[str]):
        """Force a local-window backend for every block ('reference', 'flex', 'triton'; None = automatic)."""
        for m in self.modules():
            if isinstance(m, ClearAttention):
                m.attn_backend = backend

    def _pos_embed(self, x: torch.Tensor) -> torch.Tensor:
        """timm's ``_pos_embed``, with the position-embedding resampling opaque to FX (``_resample_pos_embed``)."""
        pos_embed = self.pos_embed
        if self.dynamic_img_size:
            B, H, W, C = x.shape
            if pos_embed is not None:
                old = self.patch_embed.grid_size
                prefix = 0 if self.no_embed_class else self.num_prefix_tokens
                pos_embed = _resample_pos_embed(pos_embed, [H, W], [old[0], old[1]], prefix)
            x = x.reshape(B, H * W, C)
        to_cat: List[torch.Tensor] = []
        if self.cls_token is not None:
            to_cat.append(self.cls_token.expand(x.shape[0], -1, -1))
        if self.reg_token is not None:
            to_cat.append(self.reg_token.expand(x.shape[0], -1, -1))
        if pos_embed is None:
            x = torch.cat(to_cat + [x], dim=1)
        elif self.no_embed_class:  # position embedding of the patches only (deit-3 style)
            x = torch.cat(to_cat + [x + pos_embed], dim=1)
        else:  # original timm / DeiT: the embedding covers the prefix tokens
            x = torch.cat(to_cat + [x], dim=1) + pos_embed
        return self.pos_drop(x)

    def _embed(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        x = self.patch_embed(check_input(x, self.in_chans, self.min_input_size))
        if self.dynamic_img_size:
            grid = (x.shape[1], x.shape[2])  # NHWC before the position embedding flattens it
        else:
            grid = (self.patch_embed.grid_size[0], self.patch_embed.grid_size[1])
        x = self._pos_embed(x)
        x = self.norm_pre(x)
        return x, grid

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            return_prefix_tokens: bool = False,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = 'NCHW',
            intermediates_only: bool = False,
            attn_mask: Optional[torch.Tensor] = None,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """Patch tokens of the blocks in ``indices`` (NCHW maps or NLC), and the final normed tokens.

        As timm's ``VisionTransformer.forward_intermediates``; ``attn_mask`` must be None (CLEAR's window is
        the mask).
        """
        if attn_mask is not None:
            raise ValueError('ClearVisionTransformer does not take an attn_mask: the local window is the mask')
        assert output_fmt in ('NCHW', 'NLC'), 'Output format must be one of NCHW or NLC.'
        take_indices, max_index = feature_take_indices(len(self.blocks), indices)
        x, grid = self._embed(x)
        num_blocks = len(self.blocks) if torch.jit.is_scripting() or not stop_early else max_index + 1
        intermediates: List[torch.Tensor] = []
        for i, blk in enumerate(self.blocks):
            if i < num_blocks:
                if self.grad_checkpointing and not torch.jit.is_scripting():
                    x = checkpoint(blk, x, grid)
                else:
                    x = blk(x, grid)
                if i in take_indices:
                    intermediates.append(self.norm(x) if norm else x)
        npt = self.num_prefix_tokens
        prefix_tokens = [y[:, 0:npt] for y in intermediates]
        intermediates = [y[:, npt:] for y in intermediates]
        if output_fmt == 'NCHW':
            intermediates = [y.reshape(y.shape[0], grid[0], grid[1], -1).permute(0, 3, 1, 2).contiguous()
                             for y in intermediates]
        if not torch.jit.is_scripting() and return_prefix_tokens and npt:
            intermediates = list(zip(intermediates, prefix_tokens))
        if intermediates_only:
            return intermediates
        return self.norm(x), intermediates

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x, grid = self._embed(x)
        for blk in self.blocks:
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = checkpoint(blk, x, grid)
            else:
                x = blk(x, grid)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_notrace_function
def _resample_pos_embed(pos_embed: torch.Tensor, new_size: List[int], old_size: List[int],
                        num_prefix_tokens: int) -> torch.Tensor:
    return resample_abs_pos_embed(pos_embed, new_size, old_size, num_prefix_tokens=num_prefix_tokens)


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: ClearVisionTransformer) -> Dict[str, torch.Tensor]:
    """Load an ORIGINAL timm ViT/DeiT checkpoint (or a DeiT release ``{'model': sd}``) unchanged.

    timm's own ViT filter resamples the position embedding / patch embedding to the model; the CLEAR pooling
    weights (``attn.spatial_weight``, absent from full-attention checkpoints) start at average pooling, as in
    CLEAR; a distilled CLEAR checkpoint (ours) carries them.
    """
    state_dict = unwrap_state_dict(state_dict)
    if not state_dict:
        raise CheckpointError('checkpoint holds no weights')
    state_dict = vit_checkpoint_filter_fn(state_dict, model)
    for name, value in model.state_dict().items():
        if name.endswith('attn.spatial_weight') and name not in state_dict:
            state_dict[name] = value.detach().clone()
    return check_state_dict(state_dict, model)


def _create_clear(variant: str, pretrained: bool = False, **kwargs) -> ClearVisionTransformer:
    out_indices = kwargs.pop('out_indices', 3)
    return build_model(ClearVisionTransformer, variant, pretrained, checkpoint_filter_fn,
                       feature_cfg=dict(out_indices=out_indices, feature_cls='getter'), **kwargs)


def _cfg(source: str, top1: float, **kwargs) -> Dict[str, Any]:
    """The pretrained cfg of timm's full-attention model ``source`` (its weights, url, preprocessing)."""
    cfg = get_pretrained_cfg(source).to_dict()
    for key in ('architecture', 'tag', 'custom_load', 'fixed_input_size'):
        cfg.pop(key, None)
    if cfg.get('url', '').endswith('.npz'):  # the .npz needs timm's custom loader: use the hub safetensors
        cfg['url'] = ''
    cfg.update(
        fixed_input_size=False,
        paper_ids='arXiv:2412.16112',
        paper_name='CLEAR: Conv-Like Linearization Revs Pre-Trained Diffusion Transformers Up',
        origin_url='https://github.com/Huage001/CLEAR',
        notes=(f'Weights of timm {source} (full attention, {top1}% top-1 as released), loaded unchanged; '
               f'CLEAR attention without distillation changes its outputs (see tools/distill_clear.py).',),
        **kwargs)
    return cfg


default_cfgs = generate_default_cfgs({
    'clear_deit_tiny_patch16_224.fb_in1k': _cfg('deit_tiny_patch16_224.fb_in1k', 72.2),
    'clear_deit_small_patch16_224.fb_in1k': _cfg('deit_small_patch16_224.fb_in1k', 79.9),
    'clear_deit_base_patch16_224.fb_in1k': _cfg('deit_base_patch16_224.fb_in1k', 81.8),
    'clear_vit_tiny_patch16_224.augreg_in21k_ft_in1k': _cfg('vit_tiny_patch16_224.augreg_in21k_ft_in1k', 75.5),
    'clear_vit_small_patch16_224.augreg_in21k_ft_in1k': _cfg('vit_small_patch16_224.augreg_in21k_ft_in1k', 81.4),
    'clear_vit_base_patch16_224.augreg2_in21k_ft_in1k': _cfg('vit_base_patch16_224.augreg2_in21k_ft_in1k', 85.1),
})

_TINY = dict(patch_size=16, embed_dim=192, depth=12, num_heads=3)
_SMALL = dict(patch_size=16, embed_dim=384, depth=12, num_heads=6)
_BASE = dict(patch_size=16, embed_dim=768, depth=12, num_heads=12)


@register_model
def clear_deit_tiny_patch16_224(pretrained: bool = False, **kwargs) -> ClearVisionTransformer:
    """DeiT-Ti (5.7M params) with CLEAR attention; loads timm's/Facebook's deit_tiny_patch16_224 weights."""
    return _create_clear('clear_deit_tiny_patch16_224', pretrained, **dict(_TINY, **kwargs))


@register_model
def clear_deit_small_patch16_224(pretrained: bool = False, **kwargs) -> ClearVisionTransformer:
    """DeiT-S (22.1M params) with CLEAR attention; loads deit_small_patch16_224 weights."""
    return _create_clear('clear_deit_small_patch16_224', pretrained, **dict(_SMALL, **kwargs))


@register_model
def clear_deit_base_patch16_224(pretrained: bool = False, **kwargs) -> ClearVisionTransformer:
    """DeiT-B (86.6M params) with CLEAR attention; loads deit_base_patch16_224 weights."""
    return _create_clear('clear_deit_base_patch16_224', pretrained, **dict(_BASE, **kwargs))


@register_model
def clear_vit_tiny_patch16_224(pretrained: bool = False, **kwargs) -> ClearVisionTransformer:
    """ViT-Ti/16 (5.7M params) with CLEAR attention; loads timm's vit_tiny_patch16_224 weights."""
    return _create_clear('clear_vit_tiny_patch16_224', pretrained, **dict(_TINY, **kwargs))


@register_model
def clear_vit_small_patch16_224(pretrained: bool = False, **kwargs) -> ClearVisionTransformer:
    """ViT-S/16 (22.1M params) with CLEAR attention; loads timm's vit_small_patch16_224 weights."""
    return _create_clear('clear_vit_small_patch16_224', pretrained, **dict(_SMALL, **kwargs))


@register_model
def clear_vit_base_patch16_224(pretrained: bool = False, **kwargs) -> ClearVisionTransformer:
    """ViT-B/16 (86.6M params) with CLEAR attention; loads timm's vit_base_patch16_224 weights."""
    return _create_clear('clear_vit_base_patch16_224', pretrained, **dict(_BASE, **kwargs))
