"""Parameter and FLOP counts as the papers report them: FLOPs there are multiply-accumulates (fvcore style)."""
import math
from typing import Sequence

import torch
import torchvision  # noqa: F401  (registers torch.ops.torchvision.deform_conv2d)
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

aten = torch.ops.aten


def _sdpa_cpu_flop(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def deform_conv2d_flop(input_shape, weight_shape, offset_shape=None, *args, out_shape=None, **kwargs) -> int:
    """torchvision's deformable conv counted as a dense conv of the same shape (as the LITv2 paper does)."""
    batch, out_chs, out_h, out_w = out_shape
    return 2 * batch * out_chs * out_h * out_w * math.prod(weight_shape[1:])


# Ops torch's counter would count as 0: the fused CPU SDPA kernel (it knows only the CUDA ones) and
# torchvision's deform_conv2d (LITv2's token merging).
CUSTOM_FLOPS = {
    aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flop,
    torch.ops.torchvision.deform_conv2d: deform_conv2d_flop,
}


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: torch.nn.Module, input_size: Sequence[int] = (3, 224, 224), batch_size: int = 1) -> float:
    """Multiply-accumulates of one forward pass per image (matmuls, convs, attention), as papers' "FLOPs"."""
    was_training = model.training
    model.eval()
    x = torch.randn(batch_size, *input_size)
    with FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 2 / batch_size
