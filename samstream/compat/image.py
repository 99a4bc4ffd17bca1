"""The official ``SAM2ImagePredictor`` interface over :class:`samstream.ImagePredictor`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from samstream.compat.build import build_sam2_hf
from samstream.errors import InvalidInputError
from samstream.image.predictor import ImagePredictor
from samstream.image.prompts import prepare_prompts
from samstream.model.sam2 import SAM2Model


class SAM2ImagePredictor:
    """The official image predictor's interface over :class:`samstream.ImagePredictor`."""

    def __init__(
        self, sam_model: SAM2Model, mask_threshold: float = 0.0, max_hole_area: float = 0.0,
        max_sprinkle_area: float = 0.0, **kwargs: Any,
    ) -> None:
        self.model = sam_model
        self.mask_threshold = mask_threshold
        self._predictor = ImagePredictor(sam_model, mask_threshold, max_hole_area, max_sprinkle_area)
        self._is_batch = False

    @classmethod
    def from_pretrained(cls, model_id: str, **kwargs: Any) -> "SAM2ImagePredictor":
        return cls(build_sam2_hf(model_id, **kwargs), **kwargs)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def _is_image_set(self) -> bool:
        return self._predictor.is_image_set

    @property
    def _orig_hw(self) -> list[tuple[int, int]]:
        return [self._predictor.original_size(i) for i in range(self._predictor.num_images)]

    def reset_predictor(self) -> None:
        self._predictor.reset()
        self._is_batch = False

    def set_image(self, image: Any) -> None:
        self._predictor.set_image(image)
        self._is_batch = False

    def set_image_batch(self, image_list: list[np.ndarray]) -> None:
        if not isinstance(image_list, list):
            raise InvalidInputError("image_list: expected a list of (H, W, 3) uint8 arrays")
        self._predictor.set_images(image_list)
        self._is_batch = True

    def get_image_embedding(self) -> torch.Tensor:
        if not self._predictor.is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) to generate an embedding.")
        embeds = [self._predictor.image_embedding(i) for i in range(self._predictor.num_images)]
        return torch.cat(embeds, dim=0)

    def _one(self, image_index: int, point_coords: Any, point_labels: Any, box: Any, mask_input: Any,
             multimask_output: bool, return_logits: bool, normalize_coords: bool) -> tuple[np.ndarray, ...]:
        if point_coords is not None and point_labels is None:
            raise InvalidInputError("point_labels must be supplied if point_coords is supplied.")
        hw = self._predictor.original_size(image_index)
        prompts = prepare_prompts(point_coords, point_labels, box, mask_input, hw, self.model.image_size,
                                  self.device, normalize_coords, strict=False)
        masks, ious, low = self._predictor.predict_tensors(prompts, multimask_output, image_index, return_logits)
        squeeze = (lambda a: a[0]) if masks.shape[0] == 1 else (lambda a: a)
        return (squeeze(masks.float().cpu().numpy()), squeeze(ious.float().cpu().numpy()),
                squeeze(low.float().cpu().numpy()))

    def predict(self, point_coords: Any = None, point_labels: Any = None, box: Any = None, mask_input: Any = None,
                multimask_output: bool = True, return_logits: bool = False,
                normalize_coords: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self._predictor.is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")
        return self._one(0, point_coords, point_labels, box, mask_input, multimask_output, return_logits,
                         normalize_coords)

    def predict_batch(self, point_coords_batch: Any = None, point_labels_batch: Any = None, box_batch: Any = None,
                      mask_input_batch: Any = None, multimask_output: bool = True, return_logits: bool = False,
                      normalize_coords: bool = True) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        if not self._is_batch:
            raise InvalidInputError("predict_batch: call set_image_batch(...) first")
        outs: tuple[list, list, list] = ([], [], [])
        for i in range(self._predictor.num_images):
            def pick(batch: Any) -> Any:
                return batch[i] if batch is not None else None
            res = self._one(i, pick(point_coords_batch), pick(point_labels_batch), pick(box_batch),
                            pick(mask_input_batch), multimask_output, return_logits, normalize_coords)
            for acc, r in zip(outs, res):
                acc.append(r)
        return outs
