"""Masklet bookkeeping on hand-built masks: what is new, what merges, who owns a pixel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samstream.amg.masklets import (MaskletOptions, MergeDetector, PixelOwners, cross_ious, explained, mask_grid,
                                    matches, stability)
from samstream.errors import InvalidInputError

H, W = 20, 30


def _box(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_explained_by_iou_by_coverage_or_new():
    tracked = mask_grid(np.stack([_box(0, 10, 0, 10), _box(0, 10, 10, 20)]))
    generated = mask_grid(np.stack([
        _box(0, 10, 1, 11),  # IoU 90/110 = 0.82 with the first: the same object
        _box(2, 8, 2, 8),  # a part of the first: IoU 0.36, but all of it is covered
        _box(5, 10, 5, 15),  # spans both tracked objects: covered, IoU 25/100 with each
        _box(12, 20, 0, 10),  # nothing tracked there: new
        _box(5, 15, 15, 25),  # a quarter covered (25 of 100 pixels), IoU 25/175: new
        np.zeros((H, W), bool),  # empty: nothing to start
    ]))
    got = explained(generated, tracked, iou_thresh=0.5, coverage_thresh=0.7).tolist()
    assert got == [True, True, True, False, False, True]
    # thresholds are honoured: IoU 80/120 with the second tracked mask, 80 % of it covered
    shifted = mask_grid(_box(0, 10, 12, 22)[None])
    assert explained(shifted, tracked, 0.9, 0.85).tolist() == [False]
    assert explained(shifted, tracked, 0.9, 0.8).tolist() == [True]
    assert explained(shifted, tracked, 0.6, 0.95).tolist() == [True]
    assert explained(generated, tracked[:0], 0.5, 0.7).tolist() == [False] * 5 + [True]


def test_mask_grid_subsamples_large_masks():
    big = np.zeros((2, 600, 300), bool)
    assert mask_grid(big).shape == (2, 200 * 100)  # step 3 brings 600 under 256


def test_merge_needs_consecutive_frames_and_reports_the_younger():
    det = MergeDetector(iou_thresh=0.8, window=3)
    same = mask_grid(np.stack([_box(0, 10, 0, 10)] * 2 + [_box(12, 20, 20, 30)]))
    apart = mask_grid(np.stack([_box(0, 10, 0, 10), _box(0, 10, 15, 25), _box(12, 20, 20, 30)]))
    ids = [4, 9, 2]
    assert det.update(ids, same) == []
    assert det.update(ids, apart) == []  # drifted apart: the count starts again
    assert det.update(ids, same) == []
    assert det.update(ids, same) == []
    assert det.update(ids, same) == [(4, 9)]
    det.update(ids, same)
    det.forget(9)
    assert det.runs == {}


def test_pixel_owners_highest_logit_wins_and_relabel():
    logits = torch.full((2, H, W), -5.0)
    logits[0, :, :15] = 2.0
    logits[1, :, 10:] = 3.0
    owners = PixelOwners.from_logits([7, 3], logits, (H, W))
    assert (owners.owner[:, :10] == 7).all() and (owners.owner[:, 10:] == 3).all()
    late = torch.full((H, W), -1.0)
    late[:, 5:20] = 2.5  # beats 7 (2.0) on 5..9, loses to 3 (3.0) on 10..19
    owners.claim(11, late)
    assert (owners.owner[:, 5:10] == 11).all() and (owners.owner[:, :5] == 7).all()
    assert (owners.owner[:, 10:] == 3).all()
    owners.relabel(3, 7)
    assert set(np.unique(owners.owner)) == {7, 11}
    empty = PixelOwners.from_logits([], torch.zeros(0, H, W), (H, W))
    assert (empty.owner == 0).all()


def test_stability_of_logits():
    logits = torch.full((2, H, W), -5.0)
    logits[0, :, :10] = 0.5  # inside (-1, 1): at +1 nothing, at -1 200 pixels
    logits[0, :, :5] = 4.0
    assert stability(logits).tolist() == [pytest.approx(100 / 200), 1.0]


@pytest.mark.parametrize("field, value", [("keyframe_interval", 0), ("merge_window", 1.5),
                                          ("match_iou_thresh", 0.0), ("coverage_thresh", 1.2),
                                          ("max_absent_frames", -1), ("scene_cut_threshold", 0),
                                          ("track_backward", 1), ("backward_frames", 0)])
def test_options_reject_bad_values(field, value):
    with pytest.raises(InvalidInputError, match=field):
        MaskletOptions(**{field: value})


def test_delay_covers_merging_and_backward_tracking():
    assert MaskletOptions(merge_window=4).delay == 4
    assert MaskletOptions(merge_window=4, track_backward=True, keyframe_interval=10).delay == 10
    assert MaskletOptions(track_backward=True, backward_frames=3, merge_window=5).delay == 5


def test_matches_pair_each_mask_once_best_iou_first_within_the_band():
    tracked = mask_grid(np.stack([_box(0, 10, 0, 10), _box(0, 10, 10, 20), _box(12, 20, 0, 30)]))
    generated = mask_grid(np.stack([
        _box(0, 10, 2, 12),  # IoU 80/120 = 0.67 with tracked 0, 20/180 with tracked 1
        _box(0, 10, 1, 11),  # IoU 90/110 = 0.82 with tracked 0: takes it first
        _box(0, 10, 10, 20),  # identical to tracked 1: IoU 1.0, above the band, but uses it up
        _box(12, 20, 0, 15),  # IoU 120/240 = 0.5 with tracked 2
    ]))
    assert matches(generated, tracked, 0.5, 1.0) == [(1, 0), (3, 2)]
    assert matches(generated, tracked, 0.5, 1.01) == [(2, 1), (1, 0), (3, 2)]
    assert matches(generated, tracked, 0.6, 1.0) == [(1, 0)]  # 0.5 is below the bar
    assert matches(generated, tracked, 0.9, 1.0) == []
    assert matches(generated[:0], tracked, 0.5, 1.0) == [] and matches(generated, tracked[:0], 0.5, 1.0) == []
    ious = cross_ious(generated, tracked)
    assert ious[0, 0].item() == pytest.approx(80 / 120) and ious[3, 2].item() == pytest.approx(0.5)


@pytest.mark.parametrize("field, value", [("reanchor_iou", 0.3), ("reanchor_iou", 1.5), ("reanchor_iou", True),
                                          ("revive_iou", 0.0), ("revive_iou", 2)])
def test_reanchor_and_revive_bars_are_checked(field, value):
    with pytest.raises(InvalidInputError, match=field):
        MaskletOptions(**{field: value})
