"""Training losses of SAM 2.

Per prediction step (the first prediction on a frame and each corrective-click step after it):

- mask loss = ``focal_weight`` x sigmoid focal loss (alpha 0.25, gamma 2, mean over pixels)
  + ``dice_weight`` x dice loss, computed for every candidate of a multi-mask output; only the
  candidate with the lowest combined loss is back-propagated (per object);
- IoU loss: L1 between the predicted IoU and the IoU of the thresholded candidate with the
  ground truth, averaged over all candidates (``supervise_all_iou``) or taken at the best one;
- the mask and IoU losses count only where the object is present in the ground truth;
- object-score loss: binary cross-entropy (a focal loss with gamma 0 and no alpha) between the
  object-score logit and "the ground-truth mask is not empty", so the model learns occlusion.

Losses are summed over steps and frames and divided by the number of objects (averaged over
ranks, at least 1). Defaults — weights 20 / 1 / 1 / 1, focal alpha 0.25, gamma 2, L1 IoU loss,
IoU supervised on all candidates — are those of the official SAM 2.1 fine-tuning configuration
(``sam2.1_hiera_b+_MOSE_finetune.yaml``) and of the SAM 2 paper (focal : dice = 20 : 1, as SAM).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class LossConfig:
    focal_weight: float = 20.0
    dice_weight: float = 1.0
    iou_weight: float = 1.0
    class_weight: float = 1.0  # object-score (occlusion) loss
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    class_focal_alpha: float = -1.0  # < 0: no class balancing (plain cross-entropy with gamma 0)
    class_focal_gamma: float = 0.0
    supervise_all_iou: bool = True
    iou_l1: bool = True  # L1 (True) or squared error


@dataclass
class StepPrediction:
    """One prediction step for a batch of N objects, at the ground truth's resolution."""

    masks: Tensor  # (N, K, H, W) mask logits of the K candidates
    ious: Tensor  # (N, K) predicted IoU
    object_scores: Tensor  # (N, 1) object-presence logits


@dataclass
class LossTerms:
    mask: Tensor
    dice: Tensor
    iou: Tensor
    object: Tensor
    total: Tensor = field(default=None)  # type: ignore[assignment]

    def as_floats(self) -> dict[str, float]:
        return {k: float(getattr(self, k).detach()) for k in ("total", "mask", "dice", "iou", "object")}


def focal_per_mask(logits: Tensor, targets: Tensor, alpha: float, gamma: float) -> Tensor:
    """Sigmoid focal loss averaged over the last two axes: (..., H, W) -> (...)."""
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.flatten(-2).mean(-1)


def dice_per_mask(logits: Tensor, targets: Tensor) -> Tensor:
    """1 - (2|P∩T| + 1) / (|P| + |T| + 1) with soft P = sigmoid(logits): (..., H, W) -> (...).

    Written as in the dice semimetric, ``|P| + |T| - |P - T|_1`` for the numerator; equal to
    ``2 P.T`` for binary targets.
    """
    prob = logits.sigmoid().flatten(-2)
    tgt = targets.flatten(-2)
    denom = prob.sum(-1) + tgt.sum(-1)
    numer = denom - (prob - tgt).abs().sum(-1)
    return 1 - (numer + 1) / (denom + 1)


def mask_iou(logits: Tensor, targets: Tensor) -> Tensor:
    """IoU of ``logits > 0`` with ``targets > 0``: (..., H, W) -> (...); 0 when both are empty."""
    pred, gt = logits.flatten(-2) > 0, targets.flatten(-2) > 0
    inter = (pred & gt).sum(-1).float()
    union = (pred | gt).sum(-1).float()
    return inter / union.clamp(min=1.0)


def step_losses(pred: StepPrediction, target: Tensor, num_objects: float, cfg: LossConfig) -> LossTerms:
    """Losses of one step. target: (N, H, W) or (N, 1, H, W) binary ground truth."""
    tgt = target.reshape(target.shape[0], 1, *target.shape[-2:]).to(pred.masks.dtype)
    tgt_k = tgt.expand_as(pred.masks)  # (N, K, H, W)
    focal = focal_per_mask(pred.masks, tgt_k, cfg.focal_alpha, cfg.focal_gamma)  # (N, K)
    dice = dice_per_mask(pred.masks, tgt_k)  # (N, K)
    actual = mask_iou(pred.masks, tgt_k)  # (N, K)
    if cfg.iou_l1:
        iou_err = (pred.ious.float() - actual).abs()
    else:
        iou_err = (pred.ious.float() - actual) ** 2
    present = tgt.flatten(1).gt(0).any(dim=1, keepdim=True).to(focal.dtype)  # (N, 1)
    if pred.masks.shape[1] > 1:
        best = (focal * cfg.focal_weight + dice * cfg.dice_weight).argmin(dim=1, keepdim=True)  # (N, 1)
        focal, dice = focal.gather(1, best), dice.gather(1, best)
        iou_err = iou_err.mean(dim=1, keepdim=True) if cfg.supervise_all_iou else iou_err.gather(1, best)
    obj = focal_per_mask(
        pred.object_scores.float()[..., None], present[..., None], cfg.class_focal_alpha, cfg.class_focal_gamma
    )  # (N, 1)
    return LossTerms(
        mask=(focal * present).sum() / num_objects,
        dice=(dice * present).sum() / num_objects,
        iou=(iou_err * present).sum() / num_objects,
        object=obj.sum() / num_objects,
    )


def total_loss(
    steps_per_frame: list[list[StepPrediction]], targets: Tensor, num_objects: float, cfg: LossConfig
) -> LossTerms:
    """Sum over frames and steps. targets: (T, N, H, W); steps_per_frame[t] are frame t's steps."""
    parts: list[LossTerms] = []
    for t, steps in enumerate(steps_per_frame):
        for step in steps:
            parts.append(step_losses(step, targets[t], num_objects, cfg))
    terms = LossTerms(
        mask=torch.stack([p.mask for p in parts]).sum(),
        dice=torch.stack([p.dice for p in parts]).sum(),
        iou=torch.stack([p.iou for p in parts]).sum(),
        object=torch.stack([p.object for p in parts]).sum(),
    )
    terms.total = (
        cfg.focal_weight * terms.mask
        + cfg.dice_weight * terms.dice
        + cfg.iou_weight * terms.iou
        + cfg.class_weight * terms.object
    )
    return terms


def count_objects(num_local: int, device: torch.device) -> float:
    """Objects per rank, averaged over ranks (the loss normaliser), at least 1."""
    count = torch.tensor(float(num_local), device=device)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(count)
        count = count / torch.distributed.get_world_size()
    return max(float(count), 1.0)
