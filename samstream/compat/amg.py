"""The official ``SAM2AutomaticMaskGenerator`` interface over :class:`samstream.amg.MaskGenerator`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchvision.ops import batched_nms

from samstream.amg.generator import MaskGenerator
from samstream.amg.masks import masks_to_boxes, remove_small_regions
from samstream.compat.build import build_sam2_hf
from samstream.model.sam2 import SAM2Model


class SAM2AutomaticMaskGenerator:
    """Same constructor, defaults and ``generate`` records as the official class.

    Args:
        model: what :func:`samstream.compat.build_sam2` returns.
        points_per_side ... multimask_output: the official settings, with the official defaults; each is
            the field of the same name of :class:`~samstream.amg.options.GeneratorOptions`, which says
            what it does.
        **kwargs: accepted and ignored, as by the official class.
    """

    def __init__(
        self,
        model: SAM2Model,
        points_per_side: int | None = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.8,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        mask_threshold: float = 0.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: list[np.ndarray] | None = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
        use_m2m: bool = False,
        multimask_output: bool = True,
        **kwargs: Any,
    ) -> None:
        self._generator = MaskGenerator(
            model, points_per_side=points_per_side, points_per_batch=points_per_batch,
            pred_iou_thresh=pred_iou_thresh, stability_score_thresh=stability_score_thresh,
            stability_score_offset=stability_score_offset, mask_threshold=mask_threshold,
            box_nms_thresh=box_nms_thresh, crop_n_layers=crop_n_layers, crop_nms_thresh=crop_nms_thresh,
            crop_overlap_ratio=crop_overlap_ratio, crop_n_points_downscale_factor=crop_n_points_downscale_factor,
            point_grids=point_grids, min_mask_region_area=min_mask_region_area, output_mode=output_mode,
            use_m2m=use_m2m, multimask_output=multimask_output,
        )
        opts = self._generator.options
        self.model = model
        self.point_grids = self._generator.point_grids
        for name, value in opts.__dict__.items():
            if name not in ("point_grids", "points_per_side"):
                setattr(self, name, value)

    @classmethod
    def from_pretrained(cls, model_id: str, **kwargs: Any) -> "SAM2AutomaticMaskGenerator":
        """A generator on an official model id (``facebook/sam2.1-hiera-tiny``, ...).

        Args:
            model_id: one of the official Hugging Face ids (:func:`samstream.compat.build_sam2_hf`).
            **kwargs: given to the builder (``device``, ...) and to the constructor (the settings).

        Returns:
            The generator.
        """
        return cls(build_sam2_hf(model_id, **kwargs), **kwargs)

    @property
    def generator(self) -> MaskGenerator:
        """The native :class:`~samstream.amg.MaskGenerator` doing the work (its ``counts`` included)."""
        return self._generator

    def generate(self, image: np.ndarray) -> list[dict[str, Any]]:
        """Masks of everything in an image.

        Args:
            image: an (H, W, 3) uint8 RGB array.

        Returns:
            One dict per mask, as the official generator's: ``segmentation`` (per ``output_mode``),
            ``area``, ``bbox`` (XYWH), ``predicted_iou``, ``point_coords``, ``stability_score``,
            ``crop_box``.
        """
        return self._generator.generate(image)

    @staticmethod
    def postprocess_small_regions(masks: Any, min_area: int, nms_thresh: float) -> tuple[np.ndarray, np.ndarray]:
        """Fill holes and remove islands smaller than ``min_area`` in (N, H, W) bool masks, then drop
        new duplicates by box NMS (unchanged masks preferred).

        Unlike the official static method (which edits its internal batch structure), this takes
        masks and returns ``(masks, kept_indices)``.

        Args:
            masks: (N, H, W) bool masks.
            min_area: largest hole or island removed, in pixels.
            nms_thresh: box IoU above which a later mask is dropped.

        Returns:
            The kept (K, H, W) bool masks and their (K,) int64 indices in ``masks``.
        """
        m = torch.as_tensor(np.asarray(masks, dtype=bool))
        if m.shape[0] == 0:
            return m.numpy(), np.zeros(0, dtype=np.int64)
        m, holes = remove_small_regions(m, min_area, "holes")
        m, islands = remove_small_regions(m, min_area, "islands")
        scores = (~(holes | islands)).float()
        boxes = masks_to_boxes(m)
        keep = batched_nms(boxes.float(), scores, torch.zeros_like(boxes[:, 0]), iou_threshold=nms_thresh)
        return m[keep].numpy(), keep.numpy()
