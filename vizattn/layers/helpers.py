from typing import List

import torch
import torch.nn.functional as F
from timm.layers import register_notrace_function


@register_notrace_function
def check_input(x: torch.Tensor, in_chans: int, min_size: int) -> torch.Tensor:
    """Raise a clear ValueError for an NCHW input with the wrong channels or too small a size."""
    if x.dim() != 4:
        raise ValueError('expected a 4-D NCHW image batch, got shape {}'.format(list(x.shape)))
    if x.shape[1] != in_chans:
        raise ValueError('expected {} input channels, got {} (input shape {})'.format(
            in_chans, x.shape[1], list(x.shape)))
    if x.shape[2] < min_size or x.shape[3] < min_size:
        raise ValueError('input {}x{} is too small: this model needs at least {}x{}'.format(
            x.shape[2], x.shape[3], min_size, min_size))
    return x


@register_notrace_function
def contiguous_as(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``x`` made contiguous in ``like``'s memory format (channels-last or NCHW).

    For NCHW maps that went through a permuted view (timm's ``LayerNorm2d`` returns one): left as is, the
    following convs would silently run channels-last, whose CPU backward is slower.
    """
    if like.dim() == 4 and like.is_contiguous(memory_format=torch.channels_last) and not like.is_contiguous():
        return x.contiguous(memory_format=torch.channels_last)
    return x.contiguous()


def pad_to_multiple(x: torch.Tensor, multiple: List[int], dims: List[int]) -> torch.Tensor:
    """Zero-pad ``x`` at the end of each dim in ``dims`` up to a multiple of ``multiple[i]``."""
    pad: List[int] = [0] * (2 * x.dim())
    for m, d in zip(multiple, dims):
        d = d % x.dim()
        # F.pad lists the last dim first
        pad[2 * (x.dim() - 1 - d) + 1] = (m - x.shape[d] % m) % m
    if sum(pad) == 0:
        return x
    return F.pad(x, pad)
