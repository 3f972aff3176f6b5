"""Deterministic synthetic weights for parity fixtures.

The same recipe fills the official model (in the fixture generator, outside the repo) and the checkpoint our
tests write in the official format, so fixtures hold only inputs and outputs, never weights.
"""
import zlib
from typing import Dict, Iterable, Tuple

import torch


def synthetic_tensor(name: str, shape: Tuple[int, ...], dtype=torch.float32) -> torch.Tensor:
    """A tensor determined by its key name and shape alone (seeded by crc32 of the name)."""
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    if dtype in (torch.int64, torch.int32):  # e.g. num_batches_tracked, index buffers are left to the model
        return torch.zeros(shape, dtype=dtype)
    leaf = name.rsplit('.', 1)[-1]
    if leaf == 'running_var':
        return torch.rand(shape, generator=g) * 0.5 + 0.75
    if leaf == 'running_mean':
        return torch.randn(shape, generator=g) * 0.1
    if len(shape) == 1:  # norm weights/biases, linear/conv biases
        base = 1.0 if leaf == 'weight' else 0.0
        return base + torch.randn(shape, generator=g) * 0.1
    fan_in = 1
    for s in shape[1:]:
        fan_in *= s
    return torch.randn(shape, generator=g) * (fan_in ** -0.5)


def synthetic_state_dict(shapes: Iterable[Tuple[str, Tuple[int, ...], torch.dtype]]) -> Dict[str, torch.Tensor]:
    return {name: synthetic_tensor(name, tuple(shape), dtype) for name, shape, dtype in shapes}


def fill_module(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """Fill every float parameter/buffer of ``module`` with synthetic values in place; return its state_dict."""
    sd = module.state_dict()
    new = {k: synthetic_tensor(k, tuple(v.shape), v.dtype) if v.is_floating_point() else v for k, v in sd.items()}
    module.load_state_dict(new)
    return new


def fixed_input(shape: Tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))
