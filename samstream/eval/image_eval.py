"""Prompted image segmentation benchmark: mean IoU of 1-click, 5-click and box prompts.

Protocol, per instance of every image (instances with an empty mask are skipped):

* **clicks** (:mod:`samstream.eval.clicks` places them):

  1. a positive click at the centre of the ground-truth mask, the pixel farthest from its boundary
     (exact Euclidean distance transform; the image border counts as boundary; the first maximum
     in row-major order). The model returns three masks (``multimask=True``); the one with the
     highest predicted IoU is kept, with its low-resolution logits.
  2. each next click corrects the kept mask: at the centre of the false-negative region (a
     positive click) or of the false-positive region (a negative click), whichever has the
     deeper centre (false negatives win ties). The model gets all clicks so far plus the previous
     low-resolution logits as mask input, and returns one mask (``multimask=False``). When the
     mask already equals the ground truth no click is added and the IoU stays.

  "1-click" is the IoU after click 1, "5-click" the IoU after click 5.
* **box**: the tight box of the ground-truth mask, ``[x_min, y_min, x_max, y_max]`` in pixels
  (inclusive extreme columns and rows), one mask (``multimask=False``), no mask input.

IoU is computed at image resolution on masks thresholded at logit 0. Each prompt type's score is
the mean IoU over all instances of all images (every instance weighs the same).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from samstream.data.image_datasets import ImageSample
from samstream.errors import InvalidInputError
from samstream.eval.clicks import first_click, next_click
from samstream.image.predictor import ImagePredictor

__all__ = ["ImageEvalResult", "box_iou", "click_ious", "evaluate_images", "mask_box", "mask_iou"]


@dataclass(frozen=True)
class ImageEvalResult:
    num_images: int
    num_instances: int
    click_miou: list[float]  # mean IoU after click 1, 2, ..., num_clicks
    box_miou: float
    seconds: float

    def to_json(self) -> dict:
        """``{"mIoU": {"1-click", "<n>-click", "box"}, "per_click": [...], "images", "instances"}``."""
        n = len(self.click_miou)
        miou = {"1-click": self.click_miou[0], f"{n}-click": self.click_miou[-1], "box": self.box_miou}
        return {"mIoU": miou, "per_click": list(self.click_miou), "images": self.num_images,
                "instances": self.num_instances, "seconds": round(self.seconds, 3)}


def mask_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union of two (H, W) bool masks (1.0 when both are empty)."""
    union = np.logical_or(pred, gt).sum()
    return float(np.logical_and(pred, gt).sum() / union) if union else 1.0


def mask_box(mask: np.ndarray) -> list[int]:
    """``[x_min, y_min, x_max, y_max]`` of a non-empty (H, W) mask (inclusive pixel indices)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])]


def click_ious(predictor: ImagePredictor, gt: np.ndarray, num_clicks: int = 5) -> list[float]:
    """IoU after each of ``num_clicks`` simulated clicks on the predictor's current image."""
    click = first_click(gt)
    points, labels = [[click.x, click.y]], [1]
    out = predictor.predict(points=points, labels=labels, multimask=True)
    best = int(np.argmax(out.scores))
    mask, logits = out.masks[best], out.logits[best : best + 1]  # (H, W), (1, S/4, S/4)
    ious = [mask_iou(mask, gt)]
    for _ in range(1, num_clicks):
        click = next_click(gt, mask)
        if click is None:  # already exact
            ious.append(ious[-1])
            continue
        points.append([click.x, click.y])
        labels.append(int(click.positive))
        out = predictor.predict(points=points, labels=labels, mask=logits, multimask=False)
        mask, logits = out.masks[0], out.logits[0:1]
        ious.append(mask_iou(mask, gt))
    return ious


def box_iou(predictor: ImagePredictor, gt: np.ndarray) -> float:
    """IoU of the single mask predicted from the ground truth's tight box."""
    out = predictor.predict(box=mask_box(gt), multimask=False)
    return mask_iou(out.masks[0], gt)


def evaluate_images(
    predictor: ImagePredictor,
    dataset: Sequence[ImageSample],
    max_images: int | None = None,
    num_clicks: int = 5,
    progress: bool = True,
) -> ImageEvalResult:
    """Run the protocol of the module docstring over (the first ``max_images`` of) ``dataset``."""
    if num_clicks < 1:
        raise InvalidInputError(f"num_clicks: expected at least 1, got {num_clicks}")
    if max_images is not None and max_images < 1:
        raise InvalidInputError(f"max_images: expected at least 1, got {max_images}")
    count = len(dataset) if max_images is None else min(max_images, len(dataset))
    start = time.perf_counter()
    clicks: list[list[float]] = []
    boxes: list[float] = []
    for i in tqdm(range(count), desc="images", unit="image", disable=not progress):
        sample = dataset[i]
        predictor.set_image(sample.image_path)
        for gt in sample.masks:
            if gt.any():
                clicks.append(click_ious(predictor, gt, num_clicks))
                boxes.append(box_iou(predictor, gt))
    if not boxes:
        raise InvalidInputError("dataset: no non-empty instance mask to evaluate")
    per_click = np.mean(np.asarray(clicks), axis=0)  # (num_clicks,)
    return ImageEvalResult(count, len(boxes), [float(v) for v in per_click], float(np.mean(boxes)),
                           time.perf_counter() - start)
