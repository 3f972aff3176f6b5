"""Coloured shapes on textured backgrounds: a generated image-classification set that needs no download."""
import math
from typing import Tuple

import torch

SHAPE_CLASSES = ('disc', 'square', 'triangle', 'cross')


def _shape_mask(kind: int, size: int, cy: torch.Tensor, cx: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """(N, size, size) bool masks of one shape kind at per-image centres and radii."""
    yy = torch.arange(size).view(1, size, 1).float()
    xx = torch.arange(size).view(1, 1, size).float()
    dy, dx = yy - cy.view(-1, 1, 1), xx - cx.view(-1, 1, 1)
    r = r.view(-1, 1, 1)
    if kind == 0:
        return dy ** 2 + dx ** 2 < r ** 2
    if kind == 1:
        return (dy.abs() < r * 0.8) & (dx.abs() < r * 0.8)
    if kind == 2:
        return (dy < r * 0.7) & (dy > -r) & (dx.abs() < (dy + r) * 0.6)
    return ((dy.abs() < r * 0.25) & (dx.abs() < r)) | ((dx.abs() < r * 0.25) & (dy.abs() < r))


def make_shapes_classification(n: int, size: int = 64, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """``n`` images (n, 3, size, size) in [0, 1] and labels (n,) over ``SHAPE_CLASSES``."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(SHAPE_CLASSES)
    labels = labels[torch.randperm(n, generator=g)]
    # background: a random colour plus a low-frequency stripe texture
    base = torch.rand(n, 3, 1, 1, generator=g) * 0.6
    freq = torch.rand(n, 1, 1, 1, generator=g) * 0.3 + 0.05
    phase = torch.rand(n, 1, 1, 1, generator=g) * 2 * math.pi
    xx = torch.arange(size).view(1, 1, 1, size).float()
    images = (base + 0.15 * torch.sin(freq * xx + phase)).expand(n, 3, size, size).clone()
    r = torch.rand(n, generator=g) * size * 0.15 + size * 0.15
    cy = torch.rand(n, generator=g) * (size - 2 * r) + r
    cx = torch.rand(n, generator=g) * (size - 2 * r) + r
    colour = torch.rand(n, 3, generator=g) * 0.5 + 0.5
    for kind in range(len(SHAPE_CLASSES)):
        sel = labels == kind
        if sel.any():
            mask = _shape_mask(kind, size, cy[sel], cx[sel], r[sel]).unsqueeze(1)
            images[sel] = torch.where(mask, colour[sel].view(-1, 3, 1, 1), images[sel])
    images = (images + 0.03 * torch.randn(images.shape, generator=g)).clamp(0, 1)
    return images, labels
