"""Settings of automatic mask generation: defined once here, checked once when they are built.

:class:`~samstream.amg.generator.MaskGenerator`, the official-interface adapter in ``compat`` and
the ``samstream auto`` command all take their settings (names, defaults, checks) from
:class:`GeneratorOptions`. This module imports numpy only, so the command line can show the
defaults without importing torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Sequence

import numpy as np

from samstream.errors import InvalidInputError

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")


@dataclass(frozen=True)
class GeneratorOptions:
    """The settings of automatic mask generation (defaults as in the official automatic mask generator).

    * ``points_per_side`` / ``point_grids``: a regular grid of n x n points per crop, or explicit
      grids in [0, 1] (one per crop layer); give exactly one.
    * ``points_per_batch``: most prompts decoded at once (bounds memory).
    * ``pred_iou_thresh``: keep masks whose predicted IoU is above this (0 disables).
    * ``stability_score_thresh`` / ``stability_score_offset``: keep masks whose IoU between the
      masks thresholded at ``mask_threshold ± offset`` is at least this (0 disables).
    * ``mask_threshold``: logit threshold of the returned masks.
    * ``box_nms_thresh`` / ``crop_nms_thresh``: box IoU cutoffs of the NMS within / across crops.
    * ``crop_n_layers``, ``crop_overlap_ratio``, ``crop_n_points_downscale_factor``: layer i has
      (2^i)^2 crops overlapping by ``crop_overlap_ratio`` of the short side (scaled per layer) and
      ``points_per_side / factor^i`` points a side.
    * ``min_mask_region_area``: fill holes and remove islands of at most this many pixels in the
      low-resolution masks before upsampling. It runs on every device (the official package does
      this only where its CUDA extension loads and silently skips it on the CPU).
    * ``output_mode``: ``"binary_mask"`` ((H, W) bool), ``"uncompressed_rle"`` or ``"coco_rle"``
      (needs pycocotools).
    * ``use_m2m``: refine each candidate once more, with its own low-resolution mask as a prompt.
    * ``multimask_output``: three candidates per point (else one).
    """

    points_per_side: int | None = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.8
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    mask_threshold: float = 0.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    point_grids: Sequence[np.ndarray] | None = None  # stored as a tuple of (N, 2) float64 arrays
    min_mask_region_area: int = 0
    output_mode: str = "binary_mask"
    use_m2m: bool = False
    multimask_output: bool = True

    @classmethod
    def with_changes(cls, options: "GeneratorOptions | None" = None, **changes: Any) -> "GeneratorOptions":
        """``options`` (default: the defaults) with the named fields changed; unknown names are refused."""
        if options is not None and not isinstance(options, GeneratorOptions):
            raise InvalidInputError(
                f"options: expected a GeneratorOptions (or keyword arguments such as points_per_side=32), "
                f"got {type(options).__name__} {options!r}"
            )
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise InvalidInputError(f"mask generator: unknown option(s) {unknown}; known: {', '.join(names)}")
        return replace(options or cls(), **changes)

    def __post_init__(self) -> None:
        object.__setattr__(self, "point_grids", as_grids(self.point_grids))  # lists of lists -> arrays, once
        _int(self.points_per_batch, "points_per_batch", 1)
        _int(self.crop_n_layers, "crop_n_layers", 0)
        _int(self.crop_n_points_downscale_factor, "crop_n_points_downscale_factor", 1)
        for name in ("pred_iou_thresh", "stability_score_thresh", "stability_score_offset", "mask_threshold"):
            _finite(getattr(self, name), name)
        for name in ("box_nms_thresh", "crop_nms_thresh"):
            _in_range(getattr(self, name), name, 0.0, 1.0, "[0, 1]")
        _in_range(self.crop_overlap_ratio, "crop_overlap_ratio", 0.0, 1.0, "[0, 1)", open_hi=True)
        _finite(self.min_mask_region_area, "min_mask_region_area")
        if self.min_mask_region_area < 0:
            raise InvalidInputError(f"min_mask_region_area must be >= 0, got {self.min_mask_region_area}")
        if self.output_mode not in OUTPUT_MODES:
            raise InvalidInputError(f"output_mode must be one of {', '.join(OUTPUT_MODES)}; got {self.output_mode!r}")
        for name in ("use_m2m", "multimask_output"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InvalidInputError(f"{name} must be True or False, got {getattr(self, name)!r}")
        self._check_grids()

    def _check_grids(self) -> None:
        if (self.points_per_side is None) == (self.point_grids is None):
            raise InvalidInputError(
                "give exactly one of points_per_side and point_grids, got "
                f"points_per_side={self.points_per_side!r} and point_grids={'None' if self.point_grids is None else '...'}"
            )
        if self.points_per_side is not None:
            _int(self.points_per_side, "points_per_side", 1)
            deepest = int(self.points_per_side / self.crop_n_points_downscale_factor**self.crop_n_layers)
            if deepest < 1:
                raise InvalidInputError(
                    f"points_per_side={self.points_per_side} leaves no points in crop layer {self.crop_n_layers} "
                    f"with crop_n_points_downscale_factor={self.crop_n_points_downscale_factor}"
                )
            return
        assert self.point_grids is not None
        if len(self.point_grids) < self.crop_n_layers + 1:
            raise InvalidInputError(
                f"point_grids must hold one grid per crop layer ({self.crop_n_layers + 1}), got {len(self.point_grids)}"
            )
        for i, grid in enumerate(self.point_grids):
            g = np.asarray(grid)
            if g.ndim != 2 or g.shape[1] != 2 or g.shape[0] == 0:
                raise InvalidInputError(f"point_grids[{i}] must have shape (N, 2) with N >= 1, got {g.shape}")
            if not np.all(np.isfinite(g)) or g.min() < 0 or g.max() > 1:
                raise InvalidInputError(f"point_grids[{i}] must hold coordinates in [0, 1]")


def as_grids(point_grids: Sequence[Any] | None) -> tuple[np.ndarray, ...] | None:
    """User point grids as a tuple of float64 (N, 2) arrays (None stays None)."""
    if point_grids is None:
        return None
    if isinstance(point_grids, np.ndarray) and point_grids.ndim == 2:
        raise InvalidInputError("point_grids must be a list of (N, 2) arrays, one per crop layer, not a single array")
    try:
        return tuple(np.asarray(g, dtype=np.float64) for g in point_grids)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"point_grids must be a list of (N, 2) arrays: {exc}") from exc


def _int(value: Any, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")


def _finite(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")


def _in_range(value: Any, name: str, lo: float, hi: float, text: str, open_hi: bool = False) -> None:
    _finite(value, name)
    if value < lo or value > hi or (open_hi and value >= hi):
        raise InvalidInputError(f"{name} must be in {text}, got {value!r}")
