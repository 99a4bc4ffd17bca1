"""Memory encoder: a frame's features fused with its predicted mask into a compact memory.

The mask (at image resolution) is brought down to the feature grid by strided convolutions, added
to the projected frame features, mixed by a few ConvNeXt blocks and projected to ``mem_dim``
channels. The memory's position encoding is a 2-D sine encoding of the grid.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from samstream.config import MemoryConfig
from samstream.errors import InvalidInputError
from samstream.model.layers import LayerNorm2d
from samstream.model.position import SinePositionEncoding


class MaskDownSampler(nn.Module):
    """Strided conv, channel norm, GELU — repeated until ``total_stride`` — then a 1x1 projection.

    Each step divides the side by ``stride`` and multiplies the channels by ``stride**2``.
    """

    def __init__(
        self,
        embed_dim: int,
        total_stride: int = 16,
        kernel_size: int = 3,
        stride: int = 2,
        padding: int = 1,
    ) -> None:
        super().__init__()
        num_steps = round(math.log(total_stride, stride))
        if stride**num_steps != total_stride:
            raise InvalidInputError(f"total_stride must be a power of stride={stride}, got {total_stride}")
        layers: list[nn.Module] = []
        chans = 1
        for _ in range(num_steps):
            out = chans * stride**2
            layers += [nn.Conv2d(chans, out, kernel_size, stride, padding), LayerNorm2d(out), nn.GELU()]
            chans = out
        layers.append(nn.Conv2d(chans, embed_dim, kernel_size=1))
        self.encoder = nn.Sequential(*layers)

    def forward(self, masks: Tensor) -> Tensor:
        """(B, 1, S, S) -> (B, embed_dim, S / total_stride, S / total_stride)."""
        return self.encoder(masks)


class CXBlock(nn.Module):
    """ConvNeXt block: depthwise conv, channel norm, pointwise MLP, layer scale, residual."""

    def __init__(self, dim: int, kernel_size: int = 7, layer_scale_init: float = 1e-6) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale_init))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)  # (B, H, W, C)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


class Fuser(nn.Module):
    """A sequence of :class:`CXBlock`."""

    def __init__(self, dim: int, num_layers: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.layers = nn.ModuleList(CXBlock(dim, kernel_size) for _ in range(num_layers))

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    """(frame features, mask) -> (memory features, memory position encoding)."""

    def __init__(self, in_dim: int, cfg: MemoryConfig) -> None:
        super().__init__()
        self.mask_downsampler = MaskDownSampler(in_dim, cfg.mask_downsampler_total_stride)
        self.pix_feat_proj = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.fuser = Fuser(in_dim, cfg.fuser_layers, cfg.fuser_kernel_size)
        self.position_encoding = SinePositionEncoding(cfg.mem_dim)
        self.out_proj: nn.Module = (
            nn.Conv2d(in_dim, cfg.mem_dim, kernel_size=1) if cfg.mem_dim != in_dim else nn.Identity()
        )

    def forward(self, pix_feat: Tensor, masks: Tensor, skip_mask_sigmoid: bool = False) -> tuple[Tensor, Tensor]:
        """pix_feat (B, C, h, w) and mask logits (B, 1, 16h, 16w) -> memory and its encoding, (B, mem_dim, h, w).

        The masks go through a sigmoid first unless ``skip_mask_sigmoid`` (the caller already
        turned them into probabilities, possibly scaled and shifted).
        """
        if masks.ndim != 4 or masks.shape[1] != 1:
            raise InvalidInputError(f"masks must be (B, 1, H, W), got shape {tuple(masks.shape)}")
        if not skip_mask_sigmoid:
            masks = torch.sigmoid(masks)
        mask_feat = self.mask_downsampler(masks)  # (B, C, h, w)
        if mask_feat.shape[-2:] != pix_feat.shape[-2:]:
            raise InvalidInputError(
                f"masks of shape {tuple(masks.shape)} do not match features of shape {tuple(pix_feat.shape)}: "
                "the masks must be 16 times the feature grid"
            )
        x = self.pix_feat_proj(pix_feat.to(mask_feat.device)) + mask_feat
        x = self.out_proj(self.fuser(x))  # (B, mem_dim, h, w)
        return x, self.position_encoding(x).to(x.dtype)
