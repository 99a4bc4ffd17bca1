"""Readers of image instance segmentation layouts: SA-1B and COCO instances.

Layouts::

    sa1b   root/<name>.jpg + root/<name>.json
           {"image": {...}, "annotations": [{"id", "segmentation": COCO RLE, "bbox", ...}, ...]}
    coco   an instances JSON ({"images": [{"id", "file_name", "height", "width"}],
           "annotations": [{"id", "image_id", "segmentation", "iscrowd", ...}]}) and the image folder;
           a segmentation is a polygon list, an uncompressed or a compressed RLE. Crowd
           annotations (``iscrowd = 1``) are left out.

Both are map-style datasets of :class:`ImageSample` (no torch needed). Decoding RLEs and polygons
uses pycocotools (``pip install 'samstream[coco]'``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from samstream.errors import InvalidInputError
from samstream.io.rle import coco_mask_api

__all__ = ["CocoInstances", "ImageSample", "SA1BDataset", "decode_segmentation", "open_image_dataset"]

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class ImageSample:
    """One image and its instance masks."""

    image_path: Path
    masks: np.ndarray  # (N, H, W) bool
    ann_ids: list[int]  # annotation id of each mask


def decode_segmentation(seg: Any, height: int, width: int) -> np.ndarray:
    """An (H, W) bool mask from a COCO segmentation: polygons, or an RLE (compressed or not)."""
    mask_utils = coco_mask_api()
    if isinstance(seg, list):  # polygons [[x0, y0, x1, y1, ...], ...]
        if not seg:
            return np.zeros((height, width), dtype=bool)
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    elif isinstance(seg, dict) and "counts" in seg and "size" in seg:
        if isinstance(seg["counts"], list):
            rle = mask_utils.frPyObjects(seg, height, width)
        else:
            counts = seg["counts"]
            rle = {"size": list(seg["size"]),
                   "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    else:
        raise InvalidInputError(f"segmentation: expected polygons or an RLE dict, got {type(seg).__name__}")
    mask = mask_utils.decode(rle).astype(bool)
    if mask.shape != (height, width):
        raise InvalidInputError(f"segmentation of size {mask.shape} on an image of size {(height, width)}")
    return mask


def _stack(masks: list[np.ndarray], hw: tuple[int, int]) -> np.ndarray:
    return np.stack(masks) if masks else np.zeros((0, *hw), dtype=bool)


class SA1BDataset(Sequence[ImageSample]):
    """SA-1B style folder: every image with a ``.json`` of the same name beside it."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InvalidInputError(f"sa1b root: {self.root} is not a folder")
        self.image_paths = sorted(
            p for p in self.root.iterdir()
            if p.suffix.lower() in _IMAGE_SUFFIXES and p.with_suffix(".json").is_file()
        )
        if not self.image_paths:
            raise InvalidInputError(f"sa1b root: no image with a .json annotation beside it in {self.root}")

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, index: int) -> ImageSample:  # type: ignore[override]
        path = self.image_paths[index]
        ann_path = path.with_suffix(".json")
        try:
            data = json.loads(ann_path.read_text())
            anns = data["annotations"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"{ann_path}: not an SA-1B annotation file ({exc})") from exc
        info = data.get("image", {})
        if "height" in info and "width" in info:
            hw = (int(info["height"]), int(info["width"]))
        else:
            with Image.open(path) as img:
                hw = (img.height, img.width)
        masks = [decode_segmentation(a["segmentation"], *hw) for a in anns]
        ids = [int(a.get("id", i)) for i, a in enumerate(anns)]
        return ImageSample(path, _stack(masks, hw), ids)

    def __iter__(self) -> Iterator[ImageSample]:
        return (self[i] for i in range(len(self)))


class CocoInstances(Sequence[ImageSample]):
    """COCO instances annotations over an image folder; images without a non-crowd instance are skipped."""

    def __init__(self, ann_file: str | Path, image_root: str | Path) -> None:
        self.ann_file, self.image_root = Path(ann_file), Path(image_root)
        try:
            data = json.loads(self.ann_file.read_text())
            images, anns = data["images"], data["annotations"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"ann: {self.ann_file} is not a COCO instances file ({exc})") from exc
        self._anns: dict[int, list[dict]] = defaultdict(list)
        for a in anns:
            if not a.get("iscrowd", 0):
                self._anns[int(a["image_id"])].append(a)
        self.images = sorted((img for img in images if int(img["id"]) in self._anns), key=lambda i: int(i["id"]))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> ImageSample:  # type: ignore[override]
        info = self.images[index]
        path = self.image_root / info["file_name"]
        if not path.is_file():
            raise InvalidInputError(f"coco image {info['file_name']!r}: no such file {path}")
        hw = (int(info["height"]), int(info["width"]))
        anns = self._anns[int(info["id"])]
        masks = [decode_segmentation(a["segmentation"], *hw) for a in anns]
        return ImageSample(path, _stack(masks, hw), [int(a["id"]) for a in anns])

    def __iter__(self) -> Iterator[ImageSample]:
        return (self[i] for i in range(len(self)))


def open_image_dataset(fmt: str, root: str | Path, ann: str | Path | None = None) -> Sequence[ImageSample]:
    """``"sa1b"``: ``root`` holds images and JSONs. ``"coco"``: ``ann`` is the instances JSON
    (default ``root/annotations.json``) and ``root`` the image folder."""
    if fmt == "sa1b":
        return SA1BDataset(root)
    if fmt == "coco":
        return CocoInstances(ann if ann is not None else Path(root) / "annotations.json", root)
    raise InvalidInputError(f"format: {fmt!r} is not one of sa1b, coco")
