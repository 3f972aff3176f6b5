"""Parameter and FLOP counts as the papers report them: FLOPs there are multiply-accumulates (fvcore style)."""
from typing import Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: torch.nn.Module, input_size: Sequence[int] = (3, 224, 224), batch_size: int = 1) -> float:
    """Multiply-accumulates of one forward pass per image (matmuls, convs, attention), as papers' "FLOPs"."""
    was_training = model.training
    model.eval()
    x = torch.randn(batch_size, *input_size)
    with FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 2 / batch_size
