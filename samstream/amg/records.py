"""Candidate masks kept during generation (packed bits) and the records handed to the user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from samstream.amg.masks import pixel_counts
from samstream.io.rle import encode_rles, to_uncompressed_rles

_RECORD_GROUP_BYTES = 64 << 20  # full-resolution bool masks built at once for RLE encoding


@dataclass
class Candidates:
    """Masks of one crop that passed the per-mask filters; one row per mask.

    ``bits`` holds each mask at crop resolution, packed 8 pixels a byte (row-major); boxes are XYXY
    (inclusive max), points (x, y).
    """

    crop_box: list[int]  # XYXY in the image
    bits: np.ndarray  # (N, ceil(ch*cw/8)) uint8
    areas: Tensor  # (N,) int64 pixel counts
    boxes: Tensor  # (N, 4) int64
    iou: Tensor  # (N,) float32 predicted IoU
    points: Tensor  # (N, 2) float32 prompt points
    stability: Tensor  # (N,) float32

    def __len__(self) -> int:
        return int(self.iou.shape[0])

    @property
    def crop_hw(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self.crop_box
        return y1 - y0, x1 - x0

    @staticmethod
    def from_masks(
        masks: Tensor, boxes: Tensor, iou: Tensor, points: Tensor, stability: Tensor, crop_box: list[int],
        areas: Tensor | None = None,
    ) -> "Candidates":
        """Pack (N, ch, cw) bool masks (``areas``: their pixel counts, when known); the other tensors
        are moved to the CPU."""
        flat = masks.flatten(1)
        areas = (pixel_counts(masks).long() if areas is None else areas).cpu()
        bits = np.packbits(flat.cpu().numpy(), axis=1)
        return Candidates(
            list(crop_box), bits, areas, boxes.cpu(), iou.float().cpu(), points.float().cpu(), stability.cpu()
        )

    @staticmethod
    def empty(crop_box: list[int]) -> "Candidates":
        x0, y0, x1, y1 = crop_box
        nbytes = ((y1 - y0) * (x1 - x0) + 7) // 8
        return Candidates(
            list(crop_box), np.zeros((0, nbytes), np.uint8), torch.zeros(0, dtype=torch.int64),
            torch.zeros(0, 4, dtype=torch.int64), torch.zeros(0), torch.zeros(0, 2), torch.zeros(0),
        )

    @staticmethod
    def concat(parts: Sequence["Candidates"], crop_box: list[int]) -> "Candidates":
        """Rows of several groups of the same crop, in order."""
        if not parts:
            return Candidates.empty(crop_box)
        return Candidates(
            list(crop_box),
            np.concatenate([p.bits for p in parts]),
            torch.cat([p.areas for p in parts]),
            torch.cat([p.boxes for p in parts]),
            torch.cat([p.iou for p in parts]),
            torch.cat([p.points for p in parts]),
            torch.cat([p.stability for p in parts]),
        )

    def select(self, index: Tensor) -> "Candidates":
        i = index.cpu()
        return Candidates(
            self.crop_box, self.bits[i.numpy()], self.areas[i], self.boxes[i], self.iou[i], self.points[i],
            self.stability[i],
        )

    def full_masks(self, rows: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
        """(len(rows), H, W) bool masks in the image frame."""
        ch, cw = self.crop_hw
        x0, y0 = self.crop_box[0], self.crop_box[1]
        crop = np.unpackbits(self.bits[rows], axis=1, count=ch * cw).view(bool).reshape(-1, ch, cw)
        if (ch, cw) == tuple(image_hw):
            return crop
        out = np.zeros((len(rows), *image_hw), dtype=bool)
        out[:, y0 : y0 + ch, x0 : x0 + cw] = crop
        return out


def _segmentations(crops: Sequence[Candidates], owner: np.ndarray, row: np.ndarray,
                   image_hw: tuple[int, int], output_mode: str) -> list[Any]:
    """Segmentations of the records (``owner[i]``, ``row[i]``), built in groups of consecutive records."""
    h, w = image_hw
    group = max(1, _RECORD_GROUP_BYTES // max(1, h * w))
    out: list[Any] = []
    start = 0
    while start < len(owner):
        # a group: consecutive records of the same crop, at most `group` of them
        stop = start + 1
        while stop < len(owner) and stop - start < group and owner[stop] == owner[start]:
            stop += 1
        masks = crops[owner[start]].full_masks(row[start:stop], image_hw)  # (G, H, W)
        if output_mode == "binary_mask":
            out.extend(np.ascontiguousarray(m) for m in masks)
        elif output_mode == "uncompressed_rle":
            out.extend(to_uncompressed_rles(torch.from_numpy(masks)))
        else:
            out.extend(encode_rles(masks))
        start = stop
    return out


def build_records(crops: Sequence[Candidates], owner: np.ndarray, row: np.ndarray,
                  image_hw: tuple[int, int], output_mode: str) -> list[dict[str, Any]]:
    """One dict per kept mask, in the order given by ``owner`` (crop index) and ``row``."""
    if len(owner) == 0:
        return []
    segs = _segmentations(crops, owner, row, image_hw, output_mode)

    def gather(attr: str) -> Tensor:
        return torch.cat([getattr(c, attr) for c in crops])

    base = np.cumsum([0] + [len(c) for c in crops])[:-1]
    flat = torch.as_tensor(base[owner] + row)
    boxes = gather("boxes")[flat]
    xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1).double().tolist()
    crop_xyxy = torch.tensor([c.crop_box for c in crops], dtype=torch.int64)[torch.as_tensor(owner)]
    crop_xywh = torch.cat([crop_xyxy[:, :2], crop_xyxy[:, 2:] - crop_xyxy[:, :2]], dim=1).double().tolist()
    areas = gather("areas")[flat].tolist()
    ious = gather("iou")[flat].double().tolist()
    points = gather("points")[flat].double().tolist()
    stabs = gather("stability")[flat].double().tolist()
    return [
        {
            "segmentation": segs[i],
            "area": int(areas[i]),
            "bbox": xywh[i],
            "predicted_iou": ious[i],
            "point_coords": [points[i]],
            "stability_score": stabs[i],
            "crop_box": crop_xywh[i],
        }
        for i in range(len(owner))
    ]
