"""Prompt simulation: clicks land in the error region with the right label; boxes; plans."""

from __future__ import annotations

import torch

from samstream.train.prompts import PromptConfig, mask_boxes, plan_prompts, sample_boxes, sample_clicks


def _random_masks(gen: torch.Generator, n: int = 6, size: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    gt = torch.rand(n, size, size, generator=gen) > 0.6
    pred = torch.rand(n, size, size, generator=gen) > 0.6
    return gt, pred


def test_clicks_land_in_error_region_with_right_label():
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        gt, pred = _random_masks(gen)
        coords, labels = sample_clicks(gt, pred.unsqueeze(1), gen)
        assert coords.shape == (6, 1, 2) and labels.shape == (6, 1) and labels.dtype == torch.int32
        x, y = coords[:, 0, 0].long(), coords[:, 0, 1].long()
        rows = torch.arange(6)
        in_gt, in_pred = gt[rows, y, x], pred[rows, y, x]
        assert (in_gt != in_pred).all()  # every click is on an error pixel
        assert torch.equal(labels[:, 0].bool(), in_gt)  # missed pixel -> positive, false positive -> negative


def test_click_is_uniform_over_error_pixels():
    gt = torch.zeros(1, 4, 4, dtype=torch.bool)
    gt[0, 0, 0] = True  # missed pixel (positive)
    pred = torch.zeros(1, 4, 4, dtype=torch.bool)
    pred[0, 3, 3] = True  # false positive (negative)
    gen = torch.Generator().manual_seed(1)
    labels = torch.cat([sample_clicks(gt, pred, gen)[1] for _ in range(400)])
    frac = labels.float().mean().item()
    assert 0.4 < frac < 0.6


def test_first_click_inside_object_and_exact_prediction_gives_background_click():
    gen = torch.Generator().manual_seed(2)
    gt = torch.zeros(2, 10, 10, dtype=torch.bool)
    gt[0, 2:5, 3:7] = True
    gt[1, 6:9, 1:3] = True
    coords, labels = sample_clicks(gt, None, gen)
    assert labels.eq(1).all()
    assert gt[torch.arange(2), coords[:, 0, 1].long(), coords[:, 0, 0].long()].all()
    coords, labels = sample_clicks(gt, gt.clone(), gen)
    assert labels.eq(0).all()
    assert not gt[torch.arange(2), coords[:, 0, 1].long(), coords[:, 0, 0].long()].any()


def test_boxes_exact_and_jittered_within_bounds():
    gt = torch.zeros(1, 50, 60, dtype=torch.bool)
    gt[0, 10:21, 5:46] = True  # x 5..45, y 10..20
    assert mask_boxes(gt).tolist() == [[5.0, 10.0, 45.0, 20.0]]
    gen = torch.Generator().manual_seed(3)
    exact, labels = sample_boxes(gt, PromptConfig(box_noise=0.0), gen)
    assert exact.tolist() == [[[5.0, 10.0], [45.0, 20.0]]] and labels.tolist() == [[2, 3]]
    for _ in range(50):
        box = sample_boxes(gt, PromptConfig(), gen)[0].reshape(4)
        # noise at most 10 % of the side (40 x 10 px box: 4 px in x, 1 px in y) and inside the image
        assert (box - torch.tensor([5.0, 10.0, 45.0, 20.0])).abs().le(torch.tensor([4.0, 1.0, 4.0, 1.0]) + 1e-5).all()
        assert box.min() >= 0 and box[0] <= 59 and box[2] <= 59 and box[1] <= 49 and box[3] <= 49


def test_plans():
    gen = torch.Generator().manual_seed(4)
    seen_points, seen_masks = False, False
    for _ in range(100):
        plan = plan_prompts(8, PromptConfig(), gen)
        assert plan.init_cond_frames[0] == 0 and 1 <= len(plan.init_cond_frames) <= 2
        assert plan.order[: len(plan.init_cond_frames)] == plan.init_cond_frames
        assert sorted(plan.order) == list(range(8))
        if plan.use_points:
            seen_points = True
            assert set(plan.init_cond_frames) <= set(plan.frames_to_correct)
            assert len(plan.frames_to_correct) <= 2
        else:
            seen_masks = True
            assert plan.frames_to_correct == []
    assert seen_points and seen_masks
    image = plan_prompts(1, PromptConfig(prob_points=0.0), gen)
    assert image.use_points and image.init_cond_frames == [0] and image.frames_to_correct == [0]
    masks_only = plan_prompts(5, PromptConfig(prob_points=0.0, num_init_cond_frames=1), gen)
    assert not masks_only.use_points and masks_only.init_cond_frames == [0]
