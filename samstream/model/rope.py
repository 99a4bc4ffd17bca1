"""Axial rotary position encoding for attention over a square feature grid.

Channel pairs of each head are rotated by angles proportional to a token's x (first half of the
pairs) or y (second half) grid position. Computed with real cos / sin tables, cached per grid.
"""

from __future__ import annotations

import torch
from torch import Tensor


class AxialRope:
    def __init__(self, head_dim: int, theta: float = 10000.0) -> None:
        if head_dim % 4:
            raise ValueError(f"head_dim {head_dim} must be a multiple of 4")
        self.head_dim = head_dim
        self.theta = theta
        self._cache: dict[tuple[int, str], tuple[Tensor, Tensor]] = {}

    def tables(self, side: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """cos and sin, each (side*side, head_dim / 2), for tokens in raster order."""
        key = (side, str(device))
        if key not in self._cache:
            quarter = self.head_dim // 4
            freqs = 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 4)[:quarter].float() / self.head_dim))
            t = torch.arange(side * side, dtype=torch.float32)
            xs, ys = t % side, torch.div(t, side, rounding_mode="floor")
            angles = torch.cat([torch.outer(xs, freqs), torch.outer(ys, freqs)], dim=-1)  # (L, hd/2)
            # cos / sin of float32 angles, as a complex polar form would give
            polar = torch.polar(torch.ones_like(angles), angles)
            self._cache[key] = (polar.real.contiguous().to(device), polar.imag.contiguous().to(device))
        return self._cache[key]

    @staticmethod
    def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """x: (..., L, hd) with L a multiple of the table length (frames are tiled); returns float32."""
        *lead, length, hd = x.shape
        reps = length // cos.shape[0]
        pairs = x.float().reshape(*lead, reps, cos.shape[0], hd // 2, 2)
        a, b = pairs[..., 0], pairs[..., 1]
        out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1)
        return out.reshape(*lead, length, hd)
