"""Run-length encodings of binary masks and COCO-style JSON output.

Two encodings are used:

* *uncompressed* RLE: ``{"size": [h, w], "counts": [ints]}``; counts are the lengths of
  alternating runs of 0s and 1s over the mask read in column-major (Fortran) order, starting
  with a run of 0s (of length 0 when the first pixel is set). Pure numpy / torch.
* *compressed* COCO RLE: ``{"size": [h, w], "counts": str}`` as written by pycocotools, an
  optional dependency (``pip install 'samstream[coco]'``) imported only when needed.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from samstream.errors import InvalidInputError
from samstream.files import write_json

Rle = dict[str, Any]


def coco_mask_api() -> Any:
    """pycocotools' mask module, or a one-line error saying how to install it."""
    try:
        # optional dependency (samstream[coco]), imported only where COCO RLE is needed
        from pycocotools import mask as mask_utils  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InvalidInputError(
            "COCO RLE needs pycocotools: pip install 'samstream[coco]' (or pip install pycocotools)"
        ) from exc
    return mask_utils


def _as_bool_stack(masks: np.ndarray | torch.Tensor, name: str, ndim: int) -> np.ndarray:
    if isinstance(masks, torch.Tensor):
        masks = masks.detach().cpu().numpy()
    arr = np.asarray(masks)
    if arr.ndim != ndim:
        want = "(H, W)" if ndim == 2 else "(N, H, W)"
        raise InvalidInputError(f"{name} must have shape {want}, got shape {arr.shape}")
    return arr.astype(bool, copy=False)


# ----------------------------------------------------------------------------- compressed (COCO)


def encode_rles(masks: np.ndarray | torch.Tensor) -> list[Rle]:
    """Encode (N, H, W) boolean masks as COCO compressed RLEs (``counts`` is a str)."""
    arr = _as_bool_stack(masks, "masks", 3)
    mask_utils = coco_mask_api()
    if arr.shape[0] == 0:
        return []
    fortran = np.asfortranarray(arr.transpose(1, 2, 0).astype(np.uint8))  # (H, W, N)
    rles = mask_utils.encode(fortran)
    out = []
    for rle in rles:
        counts = rle["counts"]
        out.append({"size": [int(s) for s in rle["size"]],
                    "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts})
    return out


def encode_rle(mask: np.ndarray | torch.Tensor) -> Rle:
    """Encode one (H, W) boolean mask as a COCO compressed RLE (``counts`` is a str)."""
    arr = _as_bool_stack(mask, "mask", 2)
    return encode_rles(arr[None])[0]


def decode_rle(rle: Rle) -> np.ndarray:
    """Decode a COCO RLE (compressed, or uncompressed with a list of counts) to an (H, W) bool mask."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise InvalidInputError(f"rle must be a dict with 'size' and 'counts', got {type(rle).__name__}")
    if isinstance(rle["counts"], list):
        return uncompressed_to_mask(rle)
    return coco_mask_api().decode(_coded(rle)).astype(bool)


def decode_rles(rles: Sequence[Rle]) -> np.ndarray:
    """Decode COCO compressed RLEs of one size to ``(N, H, W)`` bool masks in one pycocotools call."""
    if not rles:
        raise InvalidInputError("rles: expected at least one RLE (the size of an empty stack is unknown)")
    with warnings.catch_warnings():
        # pycocotools' extension trips numpy 2's __array__(copy=...) deprecation; harmless
        warnings.simplefilter("ignore", DeprecationWarning)
        masks = coco_mask_api().decode([_coded(r) for r in rles])  # (H, W, N) uint8, Fortran order
    return np.ascontiguousarray(masks.transpose(2, 0, 1), dtype=bool)


_AREA_CHUNK = 128


def rle_areas(rles: Sequence[Rle]) -> np.ndarray:
    """Pixel count of each COCO compressed RLE, ``(N,)`` int64, read off the runs without decoding."""
    if not rles:
        return np.zeros(0, dtype=np.int64)
    # pycocotools' area() keeps the number of RLEs in a byte somewhere: 256 or more in one call
    # overflow ("Python integer 300 out of bounds for uint8"), so it is called on chunks
    api, coded = coco_mask_api(), [_coded(r) for r in rles]
    return np.concatenate([np.asarray(api.area(coded[i : i + _AREA_CHUNK]), dtype=np.int64)
                           for i in range(0, len(coded), _AREA_CHUNK)])


def _coded(rle: Rle) -> Rle:
    """The form pycocotools takes: ``counts`` as bytes (samstream's JSON holds it as str)."""
    counts = rle["counts"]
    return {"size": [int(v) for v in rle["size"]], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def compress_rle(rle: Rle) -> Rle:
    """Convert an uncompressed RLE (list of counts) to the compressed COCO form."""
    mask_utils = coco_mask_api()
    h, w = rle["size"]
    coded = mask_utils.frPyObjects({"size": [int(h), int(w)], "counts": list(rle["counts"])}, int(h), int(w))
    counts = coded["counts"]
    return {"size": [int(h), int(w)], "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


# ----------------------------------------------------------------------------- uncompressed


def run_lengths(masks: torch.Tensor) -> tuple[list[int], list[int]]:
    """Run lengths of (N, H, W) bool masks in column-major order, all masks at once.

    Returns the flat list of counts (each mask's runs start with a run of 0s, possibly empty)
    and the number of counts per mask.
    """
    n, h, w = masks.shape
    if n == 0:
        return [], []
    flat = masks.permute(0, 2, 1).reshape(n, h * w)  # (N, HW) column-major pixels
    # a virtual 0 before the first pixel makes every mask start with a (maybe empty) run of 0s
    padded = torch.cat([torch.zeros(n, 1, dtype=torch.bool, device=flat.device), flat], dim=1)
    rows, starts = (padded[:, 1:] ^ padded[:, :-1]).nonzero(as_tuple=True)  # run starts
    n_changes = torch.bincount(rows, minlength=n)  # (N,)
    ids = torch.arange(n, device=flat.device)
    all_rows = torch.cat([ids, rows, ids])
    all_pos = torch.cat([torch.zeros_like(ids), starts, torch.full_like(ids, h * w)])
    order = torch.sort(all_rows, stable=True).indices  # per mask: 0, run starts, HW
    pos = all_pos[order]
    lengths = pos[1:] - pos[:-1]
    last = torch.cumsum(n_changes + 2, 0) - 1  # index of each mask's final boundary
    keep = torch.ones_like(lengths, dtype=torch.bool)
    keep[last[:-1]] = False  # differences straddling two masks
    return lengths[keep].tolist(), (n_changes + 1).tolist()


def to_uncompressed_rles(masks: np.ndarray | torch.Tensor) -> list[Rle]:
    """Uncompressed RLEs of (N, H, W) boolean masks, computed for the whole batch at once."""
    t = masks if isinstance(masks, torch.Tensor) else torch.from_numpy(_as_bool_stack(masks, "masks", 3))
    if t.ndim != 3:
        raise InvalidInputError(f"masks must have shape (N, H, W), got shape {tuple(t.shape)}")
    t = t.detach().to("cpu", torch.bool)
    n, h, w = t.shape
    counts, sizes = run_lengths(t)
    out: list[Rle] = []
    start = 0
    for size in sizes:
        out.append({"size": [h, w], "counts": counts[start:start + size]})
        start += size
    return out


def to_uncompressed_rle(mask: np.ndarray | torch.Tensor) -> Rle:
    """Uncompressed RLE of one (H, W) boolean mask (a batch (N, H, W) gives a list)."""
    ndim = mask.ndim
    if ndim == 3:
        return to_uncompressed_rles(mask)  # type: ignore[return-value]
    if ndim != 2:
        raise InvalidInputError(f"mask must have shape (H, W), got shape {tuple(mask.shape)}")
    return to_uncompressed_rles(mask[None])[0]


def uncompressed_to_mask(rle: Rle) -> np.ndarray:
    """Decode an uncompressed RLE to an (H, W) bool mask."""
    h, w = (int(s) for s in rle["size"])
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if counts.sum() != h * w:
        raise InvalidInputError(f"rle counts sum to {int(counts.sum())}, expected h*w = {h * w}")
    values = (np.arange(counts.size) % 2).astype(bool)
    flat = np.repeat(values, counts)
    return flat.reshape(w, h).T.copy()


def area_of_uncompressed(rle: Rle) -> int:
    """Number of set pixels of an uncompressed RLE."""
    return int(sum(rle["counts"][1::2]))


# ----------------------------------------------------------------------------- COCO JSON


def _segmentation_rle(seg: Any) -> Rle:
    if isinstance(seg, dict):
        return compress_rle(seg) if isinstance(seg.get("counts"), list) else dict(seg)
    return encode_rle(np.asarray(seg))


def _annotation(rec: dict[str, Any], ann_id: int, image_id: int) -> dict[str, Any]:
    rle = _segmentation_rle(rec["segmentation"])
    area = rec.get("area")
    bbox = rec.get("bbox")
    if area is None or bbox is None:
        mask_utils = coco_mask_api()
        coded = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
        area = area if area is not None else float(mask_utils.area(coded))
        bbox = bbox if bbox is not None else mask_utils.toBbox(coded).tolist()
    ann = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": int(rec.get("category_id", 1)),
        "segmentation": rle,
        "area": int(area) if float(area).is_integer() else float(area),
        "bbox": [float(v) for v in bbox],
        "iscrowd": 0,
        "score": float(rec.get("score", rec.get("predicted_iou", 1.0))),
    }
    for key in ("predicted_iou", "stability_score"):
        if key in rec:
            ann[key] = float(rec[key])
    return ann


def write_coco_json(
    path: str | Path,
    images: Sequence[tuple[str, int, int]],
    annotations: Iterable[Sequence[dict[str, Any]]],
) -> Path:
    """Write a COCO instances JSON; ``annotations`` holds one list of mask records per image.

    A record needs ``segmentation`` (a bool mask, an uncompressed or a compressed RLE) and may
    carry ``area``, ``bbox`` (XYWH), ``predicted_iou`` / ``score`` and ``stability_score``.
    The file is written to a temporary name and renamed, so it is never left half-written.
    """
    anns_per_image = list(annotations)
    if len(anns_per_image) != len(images):
        raise InvalidInputError(
            f"annotations must hold one list per image: got {len(anns_per_image)} lists for {len(images)} images"
        )
    image_entries, ann_entries = [], []
    for image_id, ((file_name, height, width), records) in enumerate(zip(images, anns_per_image), start=1):
        image_entries.append({"id": image_id, "file_name": str(file_name), "height": int(height), "width": int(width)})
        for rec in records:
            ann_entries.append(_annotation(rec, len(ann_entries) + 1, image_id))
    doc = {
        "images": image_entries,
        "annotations": ann_entries,
        "categories": [{"id": 1, "name": "object", "supercategory": "object"}],
    }
    return write_json(path, doc, indent=None)
