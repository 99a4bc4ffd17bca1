"""The model's input transform of RGB images (made by :func:`samstream.rgb.to_rgb`)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def preprocess(
    images: list[np.ndarray],
    size: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    device: torch.device,
) -> Tensor:
    """RGB uint8 arrays -> (B, 3, size, size) float32 normalised batch.

    Values are scaled to [0, 1], resized with antialiased bilinear interpolation (each image on its
    own, since sizes may differ) and normalised per channel.
    """
    out = []
    mean_t = torch.tensor(mean, device=device).view(3, 1, 1)
    std_t = torch.tensor(std, device=device).view(3, 1, 1)
    for img in images:
        x = torch.as_tensor(np.ascontiguousarray(img)) if img.flags.writeable else torch.tensor(img)
        x = x.to(device).permute(2, 0, 1).float().div_(255.0)  # (3, H, W)
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
        out.append((x - mean_t) / std_t)
    return torch.stack(out)
