"""Rendering masks over images and writing mask PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from samstream.files import atomic_write

# distinct colours for object ids 1, 2, ... (id 0 is background)
PALETTE = np.array(
    [
        [0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
        [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128],
        [220, 190, 255], [170, 110, 40], [255, 250, 200], [128, 0, 0], [170, 255, 195], [128, 128, 0],
        [255, 215, 180], [0, 0, 128], [128, 128, 128],
    ],
    dtype=np.uint8,
)


def color_for(obj_id: int) -> np.ndarray:
    if obj_id <= 0:
        return PALETTE[0]
    return PALETTE[1 + (obj_id - 1) % (len(PALETTE) - 1)]


def overlay(image: np.ndarray, masks: dict[int, np.ndarray], alpha: float = 0.5) -> np.ndarray:
    """Blend (H, W) boolean masks, keyed by object id, over an (H, W, 3) uint8 image."""
    out = image.astype(np.float32).copy()
    for obj_id, mask in masks.items():
        m = np.asarray(mask, dtype=bool)
        out[m] = (1 - alpha) * out[m] + alpha * color_for(obj_id)
        edge = m & ~_erode(m)
        out[edge] = color_for(obj_id)
    return out.clip(0, 255).astype(np.uint8)


def _erode(mask: np.ndarray) -> np.ndarray:
    m = np.pad(mask, 1, mode="edge")
    return m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]


def write_png_atomic(array: np.ndarray, path: str | Path) -> Path:
    """Write an (H, W, 3) uint8 RGB image (an overlay) as a PNG that appears whole or not at all.

    Label maps (ids per pixel) go through :func:`samstream.io.labels.write_label_png` instead.
    """
    image = Image.fromarray(np.asarray(array))
    with atomic_write(path) as tmp:
        image.save(tmp, format="PNG")
    return Path(path)
