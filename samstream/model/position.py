"""Fixed (parameter-free) sinusoidal position encodings."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _frequencies(num_feats: int, temperature: float, device: torch.device) -> Tensor:
    # feature pairs (2k, 2k+1) share the frequency temperature ** (2k / num_feats)
    idx = torch.arange(num_feats, dtype=torch.float32, device=device)
    return temperature ** (2 * torch.div(idx, 2, rounding_mode="floor") / num_feats)


def _interleave_sin_cos(angles: Tensor) -> Tensor:
    """(..., F) angles -> (..., F) with sin at even and cos at odd feature positions."""
    return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(-2)


def sine_1d(positions: Tensor, dim: int, temperature: float = 10000.0) -> Tensor:
    """Transformer-style 1-D encoding: (...,) positions -> (..., dim), [sin | cos] halves."""
    half = dim // 2
    angles = positions.unsqueeze(-1) / _frequencies(half, temperature, positions.device)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class SinePositionEncoding(nn.Module):
    """2-D sine encoding of a feature grid, normalised to [0, 2π] along each axis.

    The first half of the channels encodes y, the second half x. Results are cached per
    (height, width, device) since they depend on nothing else.
    """

    def __init__(self, channels: int, temperature: float = 10000.0) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"channels must be even, got {channels}")
        self.num_feats = channels // 2
        self.temperature = temperature
        self.scale = 2 * math.pi
        self._cache: dict[tuple[int, int, str], Tensor] = {}

    @torch.no_grad()
    def grid(self, height: int, width: int, device: torch.device) -> Tensor:
        """(C, H, W) encoding of an H x W grid."""
        compiling = torch.compiler.is_compiling()  # built in the graph: a cache would be guarded on and recompile
        key = (height, width, str(device))
        cached = None if compiling else self._cache.get(key)
        if cached is not None:
            return cached
        eps = 1e-6
        ys = torch.arange(1, height + 1, dtype=torch.float32, device=device)
        xs = torch.arange(1, width + 1, dtype=torch.float32, device=device)
        ys = ys / (ys[-1] + eps) * self.scale
        xs = xs / (xs[-1] + eps) * self.scale
        freqs = _frequencies(self.num_feats, self.temperature, device)
        pos_y = _interleave_sin_cos(ys[:, None] / freqs)  # (H, F)
        pos_x = _interleave_sin_cos(xs[:, None] / freqs)  # (W, F)
        pos = torch.cat(
            (pos_y[:, None, :].expand(height, width, -1), pos_x[None, :, :].expand(height, width, -1)),
            dim=-1,
        )  # (H, W, C)
        pos = pos.permute(2, 0, 1).contiguous()
        if not compiling:
            self._cache[key] = pos
        return pos

    def forward(self, x: Tensor) -> Tensor:
        """(B, *, H, W) features -> (B, C, H, W) encoding in float32."""
        return self.grid(x.shape[-2], x.shape[-1], x.device).unsqueeze(0).expand(x.shape[0], -1, -1, -1)
