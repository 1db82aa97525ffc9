"""Batched face augmentation on tensors (flips, crops, rotation jitter, cutout).

Done on whole batches with one ``grid_sample`` so that augmentation costs little
next to the network on a 2-core CPU. The seed papers use the same families:
random crops and flips (Ng et al. 2015), rotation jitter and cutout.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def augment_faces(
    x: torch.Tensor,
    out_size: int,
    *,
    max_rotation_deg: float = 15.0,
    scale_range: tuple[float, float] = (0.85, 1.15),
    max_shift: float = 0.08,
    flip: bool = True,
    brightness: float = 0.3,
    contrast: float = 0.3,
    cutout_p: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Randomly transform a batch of faces.

    Parameters
    ----------
    x : torch.Tensor
        ``(B, C, H, W)`` ``float32`` in ``[0, 1]``.
    out_size : int
        Output side in pixels (resampling and augmentation happen in one step).
    max_rotation_deg : float
        Rotation jitter, degrees, uniform in ``[-max, max]``.
    scale_range : (float, float)
        Zoom factor range (>1 zooms in, like a random crop).
    max_shift : float
        Translation as a fraction of the image side.
    flip : bool
        Horizontal flip with probability 0.5.
    brightness, contrast : float
        Additive brightness and multiplicative contrast jitter amplitudes.
    cutout_p : float
        Probability of erasing one random rectangle (2-20 % of the area).

    Returns
    -------
    torch.Tensor
        ``(B, C, out_size, out_size)`` ``float32`` in ``[0, 1]``.
    """
    b = x.shape[0]
    dev = x.device

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return torch.rand(*(shape or (b,)), generator=generator, device=dev) * (hi - lo) + lo

    angle = u(-max_rotation_deg, max_rotation_deg) * math.pi / 180
    scale = u(*scale_range)
    sx = torch.where(u(0, 1) < 0.5, -1.0, 1.0) if flip else torch.ones(b, device=dev)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * sx, -sin, u(-max_shift, max_shift) * 2], 1),
            torch.stack([sin * sx, cos, u(-max_shift, max_shift) * 2], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, [b, x.shape[1], out_size, out_size], align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * u(1 - contrast, 1 + contrast).view(b, 1, 1, 1) + mean
    y = y + u(-brightness, brightness).view(b, 1, 1, 1) * 0.5
    if cutout_p > 0:
        area = u(0.02, 0.2)
        aspect = torch.exp(u(math.log(0.5), math.log(2.0)))
        h = (torch.sqrt(area * aspect) * out_size).clamp(max=out_size)
        w = (torch.sqrt(area / aspect) * out_size).clamp(max=out_size)
        cy, cx = u(0, 1) * out_size, u(0, 1) * out_size
        rows = torch.arange(out_size, device=dev).view(1, -1, 1)
        cols = torch.arange(out_size, device=dev).view(1, 1, -1)
        inside = (
            ((rows - cy.view(-1, 1, 1)).abs() < h.view(-1, 1, 1) / 2)
            & ((cols - cx.view(-1, 1, 1)).abs() < w.view(-1, 1, 1) / 2)
            & (u(0, 1) < cutout_p).view(-1, 1, 1)
        )
        y = y.masked_fill(inside.unsqueeze(1), 0.5)
    return y.clamp(0, 1)
