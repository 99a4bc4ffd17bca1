"""Training losses against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from samstream.train.losses import (
    LossConfig,
    StepPrediction,
    dice_per_mask,
    focal_per_mask,
    mask_iou,
    step_losses,
    total_loss,
)

LN2 = math.log(2.0)


def test_focal_at_zero_logit():
    # p = 0.5: ce = ln 2, (1 - p_t)^2 = 1/4; alpha_t = 0.25 for the positive pixel, 0.75 for the negative
    logits = torch.zeros(1, 1, 2)
    target = torch.tensor([[[1.0, 0.0]]])
    expected = (0.25 * 0.25 * LN2 + 0.75 * 0.25 * LN2) / 2
    assert focal_per_mask(logits, target, 0.25, 2.0).item() == pytest.approx(expected, rel=1e-6)


def test_focal_confident_pixel():
    # p = 0.75 on a positive pixel: ce = -ln 0.75, (1 - 0.75)^2 = 1/16, alpha 0.25
    logits = torch.full((1, 1, 1), math.log(3.0))
    target = torch.ones(1, 1, 1)
    expected = 0.25 * (1 / 16) * -math.log(0.75)
    assert focal_per_mask(logits, target, 0.25, 2.0).item() == pytest.approx(expected, rel=1e-6)


def test_focal_without_alpha_or_gamma_is_cross_entropy():
    logits = torch.tensor([[[2.0]]])
    target = torch.zeros(1, 1, 1)
    assert focal_per_mask(logits, target, -1.0, 0.0).item() == pytest.approx(math.log1p(math.exp(2.0)), rel=1e-6)


def test_dice_soft():
    # sigmoid = 0.75 on two pixels, target (1, 0): 2 P.T = 1.5, |P| + |T| = 2.5 -> 1 - 2.5 / 3.5
    logits = torch.full((1, 1, 2), math.log(3.0))
    target = torch.tensor([[[1.0, 0.0]]])
    assert dice_per_mask(logits, target).item() == pytest.approx(1 - 2.5 / 3.5, rel=1e-6)


def test_mask_iou():
    logits = torch.tensor([[[1.0, -1.0], [1.0, 1.0]]])  # predicted {0, 2, 3}
    target = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])  # ground truth {0, 1}
    assert mask_iou(logits, target).item() == pytest.approx(0.25)
    assert mask_iou(-torch.ones(1, 2, 2), torch.zeros(1, 2, 2)).item() == 0.0


def _one_pixel_pair():
    """Two objects of 1 x 2 pixels; object 0 present (pixel 0), object 1 absent."""
    target = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]]])  # (N=2, 1, 2)
    return target


def test_step_losses_single_mask():
    target = _one_pixel_pair()
    pred = StepPrediction(masks=torch.zeros(2, 1, 1, 2), ious=torch.tensor([[0.5], [0.9]]),
                          object_scores=torch.tensor([[0.0], [2.0]]))
    terms = step_losses(pred, target, num_objects=2.0, cfg=LossConfig())
    focal0 = (0.25 * 0.25 * LN2 + 0.75 * 0.25 * LN2) / 2
    dice0 = 1 - (1.0 + 1) / (2.0 + 1)  # P = (.5, .5), T = (1, 0): 2PT = 1, |P|+|T| = 2
    iou0 = abs(0.5 - 0.0)  # logits 0 are not > 0: the thresholded prediction is empty
    obj = LN2 + math.log1p(math.exp(2.0))  # present with score 0; absent with score 2
    # the absent object contributes only to the object loss
    assert terms.mask.item() == pytest.approx(focal0 / 2, rel=1e-6)
    assert terms.dice.item() == pytest.approx(dice0 / 2, rel=1e-6)
    assert terms.iou.item() == pytest.approx(iou0 / 2, rel=1e-6)
    assert terms.object.item() == pytest.approx(obj / 2, rel=1e-6)


def test_best_candidate_only_gets_gradient():
    target = torch.tensor([[[1.0, 0.0, 0.0, 1.0]]])  # (1, 1, 4)
    good = torch.tensor([8.0, -8.0, -8.0, 8.0])
    masks = torch.stack([-good, good, torch.zeros(4)]).view(1, 3, 1, 4).requires_grad_(True)
    ious = torch.tensor([[0.2, 0.9, 0.4]], requires_grad=True)
    pred = StepPrediction(masks, ious, torch.tensor([[3.0]]))
    cfg = LossConfig()
    terms = step_losses(pred, target, 1.0, cfg)
    focal = focal_per_mask(good.view(1, 1, 4), target, 0.25, 2.0).item()
    assert terms.mask.item() == pytest.approx(focal, rel=1e-6)
    (cfg.focal_weight * terms.mask + terms.dice).backward()
    grad = masks.grad[0, :, 0]
    assert grad[1].abs().sum() > 0
    assert grad[0].abs().sum() == 0 and grad[2].abs().sum() == 0
    # IoU supervised on all candidates: actual IoUs (0, 1, 0) -> mean |err| = (0.2 + 0.1 + 0.4) / 3
    assert terms.iou.item() == pytest.approx((0.2 + 0.1 + 0.4) / 3, rel=1e-6)
    best_only = step_losses(pred, target, 1.0, LossConfig(supervise_all_iou=False))
    assert best_only.iou.item() == pytest.approx(0.1, rel=1e-5)


def test_total_loss_sums_frames_and_steps_with_weights():
    target = _one_pixel_pair()
    pred = StepPrediction(torch.zeros(2, 1, 1, 2), torch.tensor([[0.5], [0.9]]), torch.tensor([[0.0], [2.0]]))
    cfg = LossConfig()
    one = step_losses(pred, target, 2.0, cfg)
    targets = torch.stack([target, target])  # (T=2, N, H=1, W=2)
    terms = total_loss([[pred], [pred, pred]], targets, 2.0, cfg)
    assert terms.mask.item() == pytest.approx(3 * one.mask.item(), rel=1e-6)
    expected = 3 * (20 * one.mask.item() + one.dice.item() + one.iou.item() + one.object.item())
    assert terms.total.item() == pytest.approx(expected, rel=1e-6)
