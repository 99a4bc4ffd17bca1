"""Automatic mask generation: prompt the model with a grid of points and keep the good, distinct masks.

For each crop (the whole image, then optional layers of overlapping crops) the image is encoded
once and every grid point is decoded as a single foreground click. Candidate masks are filtered,
in this order, by predicted IoU, stability score and contact with a crop edge, then deduplicated
by box NMS within the crop and, across crops, by box NMS preferring smaller crops.

Speed: the predicted-IoU filter runs before any mask is brought to image resolution, so only its
survivors are upsampled; the upsampled logits are consumed in groups of bounded size (stability,
binarisation, boxes) and the masks kept as packed bits; full-resolution masks are built only for the final
records, and RLEs are computed for all of them at once; pixel counts (stability, areas) are summed a
row at a time in 16-bit integers. Prompts are handed to the model ``points_per_batch`` at a time
(memory grows with the group); inside, the mask decoder runs them in small groups whose activations
stay in the CPU's cache (``samstream.model.mask_decoder``); on a GPU, set ``points_per_batch`` to
the whole grid (1024 for 32 x 32) so that one decoder call serves every point. Over many images,
:meth:`MaskGenerator.generate_all` builds each image's records (full-size masks and RLEs, CPU work)
on a worker thread while the model runs on the next image.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import batched_nms

from samstream.amg.counts import CandidateCounts
from samstream.amg.crops import box_near_crop_edge, crop_boxes, crop_offset
from samstream.amg.grid import layer_point_grids
from samstream.amg.masks import masks_to_boxes, row_counts, stability_score
from samstream.amg.options import GeneratorOptions
from samstream.amg.records import Candidates, build_records
from samstream.image.predictor import ImagePredictor
from samstream.io.rle import coco_mask_api
from samstream.model.sam2 import SAM2Model
from samstream.rgb import to_rgb

_UPSAMPLE_BYTES = 64 << 20  # float32 image-resolution logits held at once


@dataclass(frozen=True)
class _Kept:
    """What the model found in one image: candidates per crop, and the (crop, row) of those kept."""

    found: list[Candidates]
    owner: np.ndarray  # (N,) int64 crop index of each kept candidate
    row: np.ndarray  # (N,) int64 its row in that crop's candidates
    image_hw: tuple[int, int]


class MaskGenerator:
    """Segment everything in an image.

    >>> gen = MaskGenerator(model, points_per_side=32)             # keyword shortcuts
    >>> gen = MaskGenerator(model, GeneratorOptions(crop_n_layers=1), points_per_batch=16)
    >>> records = gen.generate(image)   # (H, W, 3) uint8 RGB array, PIL image or path
    >>> records[0].keys()  # segmentation, area, bbox (XYWH), predicted_iou, point_coords,
    ...                    # stability_score, crop_box (XYWH)

    ``options`` (:class:`~samstream.amg.options.GeneratorOptions`, which documents each setting
    and its default) is the one definition of the settings; keyword arguments change single
    fields of it. Unknown names and bad values raise :class:`~samstream.errors.InvalidInputError`.

    :attr:`counts` adds up, over every image generated, how the candidates fared against the
    filters (:class:`~samstream.amg.counts.CandidateCounts`): a run that keeps nothing can say which
    threshold stopped everything and the best score seen.
    """

    def __init__(self, model: SAM2Model, options: GeneratorOptions | None = None, **changes: Any) -> None:
        self.options = GeneratorOptions.with_changes(options, **changes)
        opts = self.options
        if opts.output_mode == "coco_rle":
            coco_mask_api()  # fail now, not after minutes of work, when pycocotools is missing
        self.model = model
        if opts.points_per_side is not None:
            self.point_grids = layer_point_grids(
                opts.points_per_side, opts.crop_n_layers, opts.crop_n_points_downscale_factor
            )
        else:
            self.point_grids = list(opts.point_grids or ())
        # holes and sprinkles are removed at threshold 0 whatever ``mask_threshold`` is
        area = opts.min_mask_region_area
        self.predictor = ImagePredictor(model, 0.0, max_hole_area=area, max_sprinkle_area=area)
        self.counts = CandidateCounts()

    def with_options(self, **changes: Any) -> "MaskGenerator":
        """A generator on the same model with some options changed."""
        return MaskGenerator(self.model, self.options, **changes)

    # ------------------------------------------------------------------ public
    @torch.inference_mode()
    def generate(self, image: Any) -> list[dict[str, Any]]:
        """Masks of everything in ``image``, as a list of records (best first within each crop pass).

        Each record holds ``segmentation`` (per ``output_mode``), ``area`` (int), ``bbox`` (XYWH
        floats), ``predicted_iou``, ``point_coords`` ([[x, y]]), ``stability_score`` and
        ``crop_box`` (XYWH floats).
        """
        return self._records(self._kept(image))

    def generate_all(self, images: Iterable[Any]) -> Iterator[list[dict[str, Any]]]:
        """:meth:`generate` for each of ``images`` in turn, with the records of one image (full-size
        masks and their RLE encoding, CPU work) built on a worker thread while the model runs on the
        next image. Yields exactly what :meth:`generate` returns, image by image; an error of either
        side is raised here, and the worker stops with the iterator."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="samstream-records") as worker:
            pending: Future[list[dict[str, Any]]] | None = None
            try:
                for image in images:
                    with torch.inference_mode():
                        kept = self._kept(image)
                    if pending is not None:
                        yield pending.result()
                    pending = worker.submit(self._records, kept)
                if pending is not None:
                    yield pending.result()
                    pending = None
            finally:
                if pending is not None:
                    pending.cancel()

    # ------------------------------------------------------------------ steps
    def _kept(self, image: Any) -> _Kept:
        """The model's part of :meth:`generate`: the candidates of every crop and the ones kept."""
        arr = to_rgb(image, "image")
        h, w = arr.shape[:2]
        boxes, layers = crop_boxes((h, w), self.options.crop_n_layers, self.options.crop_overlap_ratio)
        try:
            found = [self._process_crop(arr, box, layer) for box, layer in zip(boxes, layers)]
        finally:
            self.predictor.reset()
        owner = np.concatenate([np.full(len(c), i, dtype=np.int64) for i, c in enumerate(found)])
        row = np.concatenate([np.arange(len(c), dtype=np.int64) for c in found])
        if len(found) > 1 and len(owner) > 0:
            keep = self._crop_nms(found).numpy()
            owner, row = owner[keep], row[keep]
        self.counts += CandidateCounts(kept=len(owner))
        return _Kept(found, owner, row, (h, w))

    @torch.inference_mode()
    def _records(self, kept: _Kept) -> list[dict[str, Any]]:
        """The records of the kept candidates: full-size masks, encoded per ``output_mode`` (CPU only)."""
        return build_records(kept.found, kept.owner, kept.row, kept.image_hw, self.options.output_mode)

    def _crop_nms(self, found: list[Candidates]) -> Tensor:
        """Across crops: NMS on boxes, preferring masks from smaller crops."""
        boxes = torch.cat([c.boxes for c in found])  # (N, 4) int64, image frame
        crop = torch.cat([torch.tensor([c.crop_box], dtype=torch.int64).expand(len(c), 4) for c in found])
        scores = 1 / ((crop[:, 2] - crop[:, 0]) * (crop[:, 3] - crop[:, 1]))
        zeros = torch.zeros_like(boxes[:, 0])
        return batched_nms(boxes.float(), scores, zeros, iou_threshold=self.options.crop_nms_thresh)

    def _process_crop(self, image: np.ndarray, box: list[int], layer: int) -> Candidates:
        x0, y0, x1, y1 = box
        crop = image[y0:y1, x0:x1]
        ch, cw = crop.shape[:2]
        self.predictor.set_image(crop)
        points = self.point_grids[layer] * np.array([[cw, ch]], dtype=np.float64)  # (P, 2) crop pixels
        points_t = torch.as_tensor(points, dtype=torch.float32)
        step = self.options.points_per_batch
        parts = [
            self._process_points(points_t[s : s + step], box, image.shape[:2])
            for s in range(0, len(points_t), step)
        ]
        cands = Candidates.concat(parts, box)
        if len(cands) == 0:
            return cands
        zeros = torch.zeros_like(cands.boxes[:, 0])
        keep = batched_nms(cands.boxes.float(), cands.iou, zeros, iou_threshold=self.options.box_nms_thresh)
        cands = cands.select(keep)
        # boxes were in crop coordinates for the NMS above; move everything to the image frame
        offset = crop_offset(box)
        return replace(cands, boxes=cands.boxes + offset, points=cands.points + offset[:, :2])

    def _decode(self, points: Tensor, crop_hw: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor]:
        """(P, 2) crop-pixel points -> low-res logits (M, h4, w4), IoU (M,), points (M, 2) per candidate."""
        opts = self.options
        ch, cw = crop_hw
        size = self.model.image_size
        device = self.model.device
        model_points = points.to(device) / torch.tensor([cw, ch], dtype=torch.float32, device=device) * size
        labels = torch.ones(points.shape[0], 1, dtype=torch.int32, device=device)
        embed = self.predictor.image_embedding(0)
        high_res = self.predictor.image_features(0).high_res
        low, iou, _, _ = self.model.decode(embed, high_res, (model_points[:, None], labels), None, opts.multimask_output)
        k = low.shape[1]
        low, iou = low.flatten(0, 1), iou.flatten(0, 1)  # (P*K, h4, w4), (P*K,)
        points = points.repeat_interleave(k, dim=0)
        if opts.use_m2m:
            refine_points = model_points.repeat_interleave(k, dim=0)[:, None]  # (P*K, 1, 2)
            refine_labels = labels.repeat_interleave(k, dim=0)
            mask_in = low.clamp(-32.0, 32.0)[:, None]  # (P*K, 1, h4, w4)
            low, iou, _, _ = self.model.decode(embed, high_res, (refine_points, refine_labels), mask_in, False)
            low, iou = low[:, 0], iou[:, 0]
        return low, iou, points

    def _process_points(self, points: Tensor, box: list[int], image_hw: tuple[int, int]) -> Candidates:
        """Decode a group of points and keep the candidates that pass every per-mask filter."""
        opts = self.options
        crop_hw = (box[3] - box[1], box[2] - box[0])
        low, iou, points = self._decode(points, crop_hw)
        seen = CandidateCounts(decoded=len(iou), best_iou=float(iou.max()) if len(iou) else None)
        if opts.pred_iou_thresh > 0.0:
            keep = iou > opts.pred_iou_thresh
            low, iou, points = low[keep], iou[keep], points[keep]
        self.counts += seen + CandidateCounts(above_iou=len(iou))
        group = max(1, _UPSAMPLE_BYTES // (crop_hw[0] * crop_hw[1] * 4))
        parts = [
            self._finish(low[s : s + group], iou[s : s + group], points[s : s + group], box, image_hw)
            for s in range(0, low.shape[0], group)
        ]
        return Candidates.concat(parts, box)

    def _finish(self, low: Tensor, iou: Tensor, points: Tensor, box: list[int], image_hw: tuple[int, int]) -> Candidates:
        """Upsample, filter by stability and crop edge, binarise; boxes stay in crop coordinates."""
        opts = self.options
        crop_hw = (box[3] - box[1], box[2] - box[0])
        logits = self.predictor.postprocess(low[:, None], crop_hw)[:, 0]  # (M, ch, cw) float32
        stability = stability_score(logits, opts.mask_threshold, opts.stability_score_offset)
        masks = logits > opts.mask_threshold  # (M, ch, cw)
        del logits
        best = float(stability.max()) if len(stability) else None
        if opts.stability_score_thresh > 0.0:
            keep = stability >= opts.stability_score_thresh
            masks, iou, points, stability = masks[keep], iou[keep], points[keep], stability[keep]
        self.counts += CandidateCounts(above_stability=len(stability), best_stability=best)
        per_row = row_counts(masks)  # (M, ch)
        boxes = masks_to_boxes(masks, per_row > 0)
        areas = per_row.sum(-1, dtype=torch.int64)
        h, w = image_hw
        keep = ~box_near_crop_edge(boxes + crop_offset(box, boxes.device), box, [0, 0, w, h])
        if not bool(keep.all()):
            masks, boxes, iou, points, stability = masks[keep], boxes[keep], iou[keep], points[keep], stability[keep]
            areas = areas[keep]
        return Candidates.from_masks(masks, boxes, iou, points, stability, box, areas)
