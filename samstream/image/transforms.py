"""Image loading and the model's input transform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from samstream.errors import InvalidInputError


def to_rgb_array(image: Any, name: str = "image") -> np.ndarray:
    """An (H, W, 3) uint8 RGB array from an array, a PIL image or a path.

    Grayscale (H, W) or (H, W, 1) arrays are replicated to three channels and RGBA arrays drop
    their alpha channel. Anything else raises :class:`InvalidInputError`.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise InvalidInputError(f"{name}: no such file {str(path)!r}")
        try:
            with Image.open(path) as im:
                image = im.convert("RGB")
        except (UnidentifiedImageError, OSError) as exc:
            raise InvalidInputError(f"{name}: {str(path)!r} is not a readable image ({exc})") from exc
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, Tensor):
        raise InvalidInputError(f"{name}: got a torch.Tensor; pass an (H, W, 3) uint8 numpy array, a PIL image or a path")
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(
            f"{name}: unsupported type {type(image).__name__}; expected an (H, W, 3) uint8 array, a PIL image or a path"
        )
    if image.dtype != np.uint8:
        raise InvalidInputError(f"{name}: dtype {image.dtype} is not supported; expected uint8 values 0-255")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise InvalidInputError(f"{name}: shape {image.shape} is not (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidInputError(f"{name}: shape {image.shape} is empty")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


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
