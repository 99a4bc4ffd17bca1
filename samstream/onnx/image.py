"""Image segmentation on an ONNX export with onnxruntime, the API of :class:`samstream.ImagePredictor`.

>>> pred = OnnxImagePredictor("tiny-onnx")
>>> pred.set_image(rgb)
>>> out = pred.predict(points=[[x, y]], labels=[1])       # masks (3, H, W), scores (3,), logits (3, S/4, S/4)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from samstream.errors import InvalidInputError, PromptError
from samstream.onnx.arrays import FLOAT, resize_bilinear
from samstream.onnx.prompts import choose
from samstream.onnx.runtime import OnnxGraphs
from samstream.prompt_rules import check_mask_batch, check_prompt_given, low_res_mask, point_prompts
from samstream.rgb import to_rgb


@dataclass
class OnnxImagePrediction:
    """As :class:`samstream.ImagePrediction`: ([B,] K, H, W) masks, ([B,] K) scores, ([B,] K, S/4, S/4) logits."""

    masks: np.ndarray
    scores: np.ndarray
    logits: np.ndarray


class OnnxImagePredictor:
    """Segment objects in images from points, boxes and low-res masks, on the exported graphs."""

    def __init__(self, export_dir: str | os.PathLike[str] | OnnxGraphs, mask_threshold: float = 0.0,
                 threads: int | None = None, variant: str | None = None) -> None:
        self.graphs = export_dir if isinstance(export_dir, OnnxGraphs) else OnnxGraphs(export_dir, threads, variant)
        self.mask_threshold = mask_threshold
        self._features: dict[str, np.ndarray] | None = None
        self._hw: tuple[int, int] | None = None

    @property
    def is_image_set(self) -> bool:
        return self._features is not None

    def reset(self) -> None:
        self._features, self._hw = None, None

    def set_image(self, image: Any) -> None:
        """Encode one image: (H, W, 3) uint8 RGB array, grayscale or RGBA array, PIL image, or path."""
        rgb = to_rgb(image)
        self._features = self.graphs.encode(self.graphs.image_input(rgb))
        self._hw = rgb.shape[:2]

    def original_size(self) -> tuple[int, int]:
        self._check()
        assert self._hw is not None
        return self._hw

    def _check(self) -> dict[str, np.ndarray]:
        if self._features is None:
            raise InvalidInputError("An image must be set with set_image(...) before prediction")
        return self._features

    def predict(self, points: Any = None, labels: Any = None, box: Any = None, mask: Any = None,
                multimask: bool = True, return_logits: bool = False,
                normalize_coords: bool = True) -> OnnxImagePrediction:
        """Masks from prompts, as :meth:`samstream.ImagePredictor.predict` (same arguments and shapes)."""
        feats = self._check()
        assert self._hw is not None
        size = self.graphs.image_size
        check_prompt_given(points, box, mask)
        if points is None and box is None:
            # the model decodes a mask alone with no prompt token at all, a shape the decoder graph
            # (always at least one point) does not take
            raise PromptError("mask: a mask prompt needs points or a box with it on the ONNX host")
        pts = point_prompts(points, labels, box, self._hw, size, normalize_coords)
        coords, labs, batched = pts.coords, pts.labels, pts.batched
        prompt_mask = None if mask is None else low_res_mask(mask, size // 4)
        if prompt_mask is not None:
            batched = batched or prompt_mask.shape[0] > 1
            check_mask_batch(prompt_mask.shape[0], coords.shape[0])
            prompt_mask = np.broadcast_to(prompt_mask, (coords.shape[0], *prompt_mask.shape[1:]))
        masks, ious, scores, ptrs = self.graphs.decode(feats["prompt_embed"], feats, coords, labs, prompt_mask)
        low, iou, _ = choose(masks, ious, scores, ptrs, multimask, self.graphs.manifest.tracking)
        full = resize_bilinear(low, self._hw)
        out = OnnxImagePrediction(full if return_logits else full > self.mask_threshold, iou.astype(FLOAT),
                                  np.clip(low, -32.0, 32.0).astype(FLOAT))
        if not batched:
            out = OnnxImagePrediction(out.masks[0], out.scores[0], out.logits[0])
        return out
