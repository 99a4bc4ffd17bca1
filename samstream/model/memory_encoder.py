"""Memory encoder: a frame's features fused with its predicted mask -> a compact memory."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from samstream.config import MemoryConfig
from samstream.model.layers import LayerNorm2d
from samstream.model.position import SinePositionEncoding


class MaskDownSampler(nn.Module):
    """Strided convs (stride 2 each, channels x4 each) from a full-size mask to the feature grid."""

    def __init__(self, embed_dim: int, total_stride: int = 16, kernel_size: int = 3, stride: int = 2,
                 padding: int = 1) -> None:
        super().__init__()
        num_layers = round(math.log(total_stride, stride))
        if stride**num_layers != total_stride:
            raise ValueError(f"total_stride {total_stride} is not a power of {stride}")
        layers: list[nn.Module] = []
        chans = 1
        for _ in range(num_layers):
            out = chans * stride**2
            layers += [nn.Conv2d(chans, out, kernel_size, stride, padding), LayerNorm2d(out), nn.GELU()]
            chans = out
        layers.append(nn.Conv2d(chans, embed_dim, kernel_size=1))
        self.encoder = nn.Sequential(*layers)

    def forward(self, masks: Tensor) -> Tensor:
        return self.encoder(masks)  # (B, 1, S, S) -> (B, embed_dim, S/16, S/16)


class CXBlock(nn.Module):
    """ConvNeXt block: depthwise conv, channel norm, pointwise MLP, layer scale, residual."""

    def __init__(self, dim: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)  # (B, H, W, C)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


class Fuser(nn.Module):
    def __init__(self, dim: int, num_layers: int, kernel_size: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(CXBlock(dim, kernel_size) for _ in range(num_layers))

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    def __init__(self, in_dim: int, cfg: MemoryConfig) -> None:
        super().__init__()
        self.mask_downsampler = MaskDownSampler(in_dim, cfg.mask_downsampler_total_stride)
        self.pix_feat_proj = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.fuser = Fuser(in_dim, cfg.fuser_layers, cfg.fuser_kernel_size)
        self.position_encoding = SinePositionEncoding(cfg.mem_dim)
        self.out_proj = nn.Conv2d(in_dim, cfg.mem_dim, kernel_size=1) if cfg.mem_dim != in_dim else nn.Identity()

    def forward(self, pix_feat: Tensor, masks: Tensor, skip_mask_sigmoid: bool = False) -> tuple[Tensor, Tensor]:
        """(B, C, h, w) features and (B, 1, 16h, 16w) masks -> memory (B, mem_dim, h, w) and its encoding."""
        if not skip_mask_sigmoid:
            masks = torch.sigmoid(masks)
        x = self.pix_feat_proj(pix_feat) + self.mask_downsampler(masks)
        x = self.out_proj(self.fuser(x))
        return x, self.position_encoding(x).to(x.dtype)
