"""Crop boxes for multi-scale mask generation and the maps between crop and image coordinates.

Boxes are XYXY integer pixel coordinates ``[x0, y0, x1, y1]`` with exclusive ``x1``/``y1``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def crop_boxes(image_hw: tuple[int, int], n_layers: int, overlap_ratio: float) -> tuple[list[list[int]], list[int]]:
    """The whole image, then for layer i = 1..n_layers a 2^i x 2^i set of overlapping crops.

    Neighbouring crops of layer i overlap by ``int(overlap_ratio * short_side * 2 / 2^i)`` pixels.
    Crops of a layer are listed column by column (x0 is the slow index). Returns the boxes and the
    layer index of each.
    """
    h, w = image_hw
    boxes: list[list[int]] = [[0, 0, w, h]]
    layers = [0]
    short_side = min(h, w)
    for layer in range(1, n_layers + 1):
        per_side = 2**layer
        overlap = int(overlap_ratio * short_side * (2 / per_side))
        crop_w = math.ceil((overlap * (per_side - 1) + w) / per_side)
        crop_h = math.ceil((overlap * (per_side - 1) + h) / per_side)
        lefts = [int((crop_w - overlap) * i) for i in range(per_side)]
        tops = [int((crop_h - overlap) * i) for i in range(per_side)]
        for x0 in lefts:
            for y0 in tops:
                boxes.append([x0, y0, min(x0 + crop_w, w), min(y0 + crop_h, h)])
                layers.append(layer)
    return boxes, layers


def box_near_crop_edge(boxes: Tensor, crop_box: list[int], image_box: list[int], atol: float = 20.0) -> Tensor:
    """(N, 4) XYXY boxes in image coordinates -> (N,) True where a side lies within ``atol`` of a crop
    edge that is not also an image edge (the mask was probably cut by the crop)."""
    crop = torch.tensor(crop_box, dtype=torch.float32, device=boxes.device)
    full = torch.tensor(image_box, dtype=torch.float32, device=boxes.device)
    b = boxes.float()
    near_crop = (b - crop).abs() <= atol  # (N, 4)
    near_image = (b - full).abs() <= atol
    return (near_crop & ~near_image).any(dim=1)


def crop_offset(crop_box: list[int], device: torch.device | None = None) -> Tensor:
    """(1, 4) XYXY offset that moves crop coordinates to image coordinates."""
    x0, y0 = crop_box[0], crop_box[1]
    return torch.tensor([[x0, y0, x0, y0]], device=device)


def xyxy_to_xywh(boxes: Tensor) -> Tensor:
    """(N, 4) XYXY -> (N, 4) XYWH (width = x1 - x0)."""
    return torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1)
