"""FPN neck: the trunk's stages -> ``d_model``-channel feature maps and their position encodings.

Matches the reference ``FpnNeck`` (``sam2/modeling/backbones/image_encoder.py``) with 1x1 lateral
convolutions, nearest top-down upsampling on the chosen levels and sine position encodings.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samstream.config import NeckConfig
from samstream.model.position import SinePositionEncoding


class FpnNeck(nn.Module):
    """Lateral 1x1 convolutions plus top-down fusion (sum) on ``fpn_top_down_levels``.

    Level i is trunk stage i (level 0 the finest). Top-down features are upsampled 2x from the
    next coarser level's output; levels not listed keep only their lateral features. The
    ``scalp`` coarsest levels are computed (they may feed the top-down path) but not returned.
    """

    def __init__(self, cfg: NeckConfig, backbone_channel_list: Sequence[int]) -> None:
        super().__init__()
        if not 0 <= cfg.scalp < len(backbone_channel_list):
            raise ValueError(f"scalp must be in [0, {len(backbone_channel_list) - 1}], got {cfg.scalp}")
        self.d_model = cfg.d_model
        self.backbone_channel_list = list(backbone_channel_list)  # deepest first
        self.fpn_top_down_levels = list(cfg.fpn_top_down_levels)
        self.fpn_interp_mode = cfg.fpn_interp_mode
        self.scalp = cfg.scalp
        self.position_encoding = SinePositionEncoding(cfg.d_model)
        # convs[j] serves the j-th deepest level (the order of the official checkpoints)
        self.convs = nn.ModuleList(
            nn.Sequential(OrderedDict(conv=nn.Conv2d(dim, cfg.d_model, kernel_size=1)))
            for dim in self.backbone_channel_list
        )

    def _lateral(self, conv: nn.Conv2d, x: Tensor) -> Tensor:
        """1x1 convolution as a matmul over channels: (B, C, H, W) -> (B, d_model, H, W), channels-last."""
        return F.linear(x.permute(0, 2, 3, 1), conv.weight.flatten(1), conv.bias).permute(0, 3, 1, 2)

    def forward(self, xs: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """Trunk stages (finest first) -> (features, position encodings), finest first, scalp dropped."""
        n = len(self.convs) - 1
        if len(xs) != n + 1:
            raise ValueError(f"expected {n + 1} feature levels, got {len(xs)}")
        kept = n + 1 - self.scalp
        out: list[Tensor] = [None] * kept  # type: ignore[list-item]
        pos: list[Tensor] = [None] * kept  # type: ignore[list-item]
        prev = None
        for i in range(n, -1, -1):  # coarse to fine
            lateral = self._lateral(self.convs[n - i].conv, xs[i])
            if i in self.fpn_top_down_levels and prev is not None:
                top_down = F.interpolate(
                    prev.to(dtype=torch.float32),
                    scale_factor=2.0,
                    mode=self.fpn_interp_mode,
                    align_corners=None if self.fpn_interp_mode == "nearest" else False,
                    antialias=False,
                )
                prev = lateral + top_down
            else:
                prev = lateral
            if i < kept:
                out[i] = prev
                pos[i] = self.position_encoding(prev).to(prev.dtype)
        return out, pos
