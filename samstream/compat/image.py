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
    """The official image predictor's interface over :class:`samstream.ImagePredictor`.

    Args:
        sam_model: what :func:`samstream.compat.build_sam2` returns.
        mask_threshold: logit above which a pixel is in the mask.
        max_hole_area: fill holes of the low-resolution masks up to this many pixels (0: off).
        max_sprinkle_area: remove islands up to this many pixels (0: off).
        **kwargs: accepted and ignored, as by the official class.
    """

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
        """A predictor on an official model id (``facebook/sam2.1-hiera-tiny``, ...).

        Args:
            model_id: one of the official Hugging Face ids (:func:`samstream.compat.build_sam2_hf`).
            **kwargs: given to the builder (``device``, ...) and to the constructor.

        Returns:
            The predictor; the checkpoint comes from samstream's cache (``samstream download``).
        """
        return cls(build_sam2_hf(model_id, **kwargs), **kwargs)

    @property
    def device(self) -> torch.device:
        """The model's device."""
        return self.model.device

    @property
    def _is_image_set(self) -> bool:
        return self._predictor.is_image_set

    @property
    def _orig_hw(self) -> list[tuple[int, int]]:
        return [self._predictor.original_size(i) for i in range(self._predictor.num_images)]

    def reset_predictor(self) -> None:
        """Forget the image(s) set; the next prediction needs :meth:`set_image` again."""
        self._predictor.reset()
        self._is_batch = False

    def set_image(self, image: Any) -> None:
        """Encode one image for the predictions that follow.

        Args:
            image: an (H, W, 3) uint8 RGB array or a PIL image (any image :func:`samstream.rgb.to_rgb` reads).
        """
        self._predictor.set_image(image)
        self._is_batch = False

    def set_image_batch(self, image_list: list[np.ndarray]) -> None:
        """Encode several images for :meth:`predict_batch`.

        Args:
            image_list: a list of (H, W, 3) uint8 RGB arrays (sizes may differ).
        """
        if not isinstance(image_list, list):
            raise InvalidInputError("image_list: expected a list of (H, W, 3) uint8 arrays")
        self._predictor.set_images(image_list)
        self._is_batch = True

    def get_image_embedding(self) -> torch.Tensor:
        """The image features the decoder reads.

        Returns:
            (B, C, S/16, S/16) float32 on the model's device, one row per image set (C = 256 for the
            released models, S the model's input size).
        """
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
        """Masks of the image set with :meth:`set_image`, from its prompts.

        Args:
            point_coords: (N, 2) clicks (x, y) in pixels (or fractions, see ``normalize_coords``).
            point_labels: (N,) 1 foreground, 0 background (the official -1..3 are taken too).
            box: (4,) XYXY, or (B, 4) for B objects at once.
            mask_input: (1, S/4, S/4) low-resolution logits of an earlier prediction.
            multimask_output: three candidate masks (else one).
            return_logits: masks as logits instead of 0 / 1.
            normalize_coords: coordinates are pixels of the image (False: fractions in [0, 1]).

        Returns:
            ``(masks, iou_predictions, low_res_masks)`` as float32 numpy arrays: (C, H, W), (C,) and
            (C, S/4, S/4), C = 3 or 1; with B boxes each gains a leading B axis.
        """
        if not self._predictor.is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")
        return self._one(0, point_coords, point_labels, box, mask_input, multimask_output, return_logits,
                         normalize_coords)

    def predict_batch(self, point_coords_batch: Any = None, point_labels_batch: Any = None, box_batch: Any = None,
                      mask_input_batch: Any = None, multimask_output: bool = True, return_logits: bool = False,
                      normalize_coords: bool = True) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """:meth:`predict` for each image of :meth:`set_image_batch`.

        Args:
            point_coords_batch, point_labels_batch, box_batch, mask_input_batch: one entry per image (or None).
            multimask_output, return_logits, normalize_coords: as for :meth:`predict`.

        Returns:
            Three lists (masks, IoU predictions, low-resolution masks), one entry per image.
        """
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
