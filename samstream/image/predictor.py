"""Interactive image segmentation: encode an image once, then predict masks from prompts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from samstream.errors import InvalidInputError
from samstream.image.postprocess import fill_holes_and_remove_sprinkles
from samstream.image.prompts import ModelPrompts, prepare_prompts
from samstream.image.transforms import preprocess
from samstream.model.sam2 import ImageFeatures, SAM2Model
from samstream.rgb import to_rgb


@dataclass
class ImagePrediction:
    """Masks for one prompt set, or for a batch of B prompt sets (leading axis B)."""

    masks: np.ndarray  # ([B,] K, H, W) bool at image resolution (float32 logits with return_logits)
    scores: np.ndarray  # ([B,] K) predicted IoU
    logits: np.ndarray  # ([B,] K, S/4, S/4) low-resolution logits, clamped to [-32, 32]


@dataclass
class _EncodedImage:
    features: ImageFeatures  # batch 1
    embed: Tensor  # (1, C, h, w) decoder-ready stride-16 features
    hw: tuple[int, int]


class ImagePredictor:
    """Segment objects in images from points, boxes and masks.

    >>> pred = ImagePredictor(model)
    >>> pred.set_image(image)                         # (H, W, 3) uint8, PIL image or path
    >>> out = pred.predict(points=[[x, y]], labels=[1])
    >>> out.masks.shape, out.scores.shape, out.logits.shape   # (3, H, W), (3,), (3, 256, 256)

    ``max_hole_area`` / ``max_sprinkle_area`` (pixels of the low-resolution mask) fill small holes
    and remove small islands before upsampling; both run on any device.
    """

    def __init__(
        self,
        model: SAM2Model,
        mask_threshold: float = 0.0,
        max_hole_area: float = 0.0,
        max_sprinkle_area: float = 0.0,
    ) -> None:
        self.model = model
        self.mask_threshold = mask_threshold
        self.max_hole_area = max_hole_area
        self.max_sprinkle_area = max_sprinkle_area
        self._images: list[_EncodedImage] = []

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def is_image_set(self) -> bool:
        return bool(self._images)

    @property
    def num_images(self) -> int:
        return len(self._images)

    def reset(self) -> None:
        self._images = []

    # ---------------------------------------------------------------- encode
    @torch.inference_mode()
    def set_image(self, image: Any) -> None:
        """Encode one image: (H, W, 3) uint8 RGB array, grayscale or RGBA array, PIL image, or path."""
        self.set_images([image])

    @torch.inference_mode()
    def set_images(self, images: Sequence[Any], batch_size: int = 4) -> None:
        """Encode several images (in batches of ``batch_size``); select one later with ``image_index``."""
        if isinstance(images, (np.ndarray, str)) or not isinstance(images, Sequence) or len(images) == 0:
            raise InvalidInputError("images: expected a non-empty list of images")
        arrays = [to_rgb(img, f"images[{i}]") for i, img in enumerate(images)]
        self.reset()
        cfg = self.model.cfg
        encoded: list[_EncodedImage] = []
        for start in range(0, len(arrays), batch_size):
            chunk = arrays[start : start + batch_size]
            batch = preprocess(chunk, cfg.image_size, cfg.pixel_mean, cfg.pixel_std, self.device)
            feats = self.model.encode_image(batch)
            embed = self.model.prompt_ready_embed(feats)
            for i, arr in enumerate(chunk):
                encoded.append(_EncodedImage(feats.select(i), embed[i : i + 1], arr.shape[:2]))
        self._images = encoded

    def image_embedding(self, image_index: int = 0) -> Tensor:
        """(1, C, h, w) decoder-ready image embedding of an encoded image."""
        return self._get(image_index).embed

    def image_features(self, image_index: int = 0) -> ImageFeatures:
        return self._get(image_index).features

    def original_size(self, image_index: int = 0) -> tuple[int, int]:
        return self._get(image_index).hw

    def _get(self, image_index: int) -> _EncodedImage:
        if not self._images:
            raise InvalidInputError("An image must be set with set_image(...) or set_images(...) before prediction")
        if not isinstance(image_index, int) or not 0 <= image_index < len(self._images):
            raise InvalidInputError(f"image_index: {image_index!r} is not in [0, {len(self._images) - 1}]")
        return self._images[image_index]

    # --------------------------------------------------------------- predict
    def predict(
        self,
        points: Any = None,
        labels: Any = None,
        box: Any = None,
        mask: Any = None,
        multimask: bool = True,
        image_index: int = 0,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> ImagePrediction:
        """Masks from prompts on an encoded image.

        points: (N, 2) pixel (x, y) with labels (N,) of 1 (foreground) / 0 (background), or batched
        (B, N, 2) / (B, N); box: (4,) or (B, 4) XYXY pixels; mask: low-resolution logits from a previous
        prediction, (1, 256, 256) at the default 1024 input. With a batch axis the results have one too.
        ``normalize_coords=False`` takes coordinates as fractions of the image size instead of pixels.
        """
        entry = self._get(image_index)
        prompts = prepare_prompts(
            points, labels, box, mask, entry.hw, self.model.image_size, self.device, normalize_coords, strict=True
        )
        masks, scores, low = self.predict_tensors(prompts, multimask, image_index, return_logits)
        out = ImagePrediction(masks.cpu().numpy(), scores.float().cpu().numpy(), low.float().cpu().numpy())
        if not prompts.batched:
            out = ImagePrediction(out.masks[0], out.scores[0], out.logits[0])
        return out

    @torch.inference_mode()
    def predict_tensors(
        self, prompts: ModelPrompts, multimask: bool, image_index: int = 0, return_logits: bool = False
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Masks (B, K, H, W), IoU (B, K) and low-res logits (B, K, S/4, S/4) as tensors on the device."""
        entry = self._get(image_index)
        points = (prompts.coords, prompts.labels) if prompts.coords is not None else None
        low, scores, _, _ = self.model.decode(
            entry.embed, entry.features.high_res, points, prompts.mask, multimask
        )
        masks = self.postprocess(low, entry.hw)
        if not return_logits:
            masks = masks > self.mask_threshold
        return masks, scores, low.clamp(-32.0, 32.0)

    def postprocess(self, low_res: Tensor, hw: tuple[int, int]) -> Tensor:
        """Low-res logits (B, K, h, w) -> logits at image resolution (B, K, H, W), holes and sprinkles removed."""
        logits = low_res.float()
        if self.max_hole_area > 0 or self.max_sprinkle_area > 0:
            flat = logits.flatten(0, 1).unsqueeze(1)
            flat = fill_holes_and_remove_sprinkles(
                flat, self.mask_threshold, self.max_hole_area, self.max_sprinkle_area
            )
            logits = flat.reshape_as(logits)
        return F.interpolate(logits, size=hw, mode="bilinear", align_corners=False)
