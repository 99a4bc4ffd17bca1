"""Point grids and crop boxes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samstream.amg.crops import box_near_crop_edge, crop_boxes, xyxy_to_xywh
from samstream.amg.grid import layer_point_grids, point_grid


@pytest.mark.parametrize("n", [1, 2, 5, 32])
def test_point_grid_is_cell_centres_row_by_row(n: int) -> None:
    grid = point_grid(n)
    assert grid.shape == (n * n, 2) and grid.dtype == np.float64
    for i, (x, y) in enumerate(grid):
        row, col = divmod(i, n)
        assert x == pytest.approx((col + 0.5) / n, abs=1e-12)
        assert y == pytest.approx((row + 0.5) / n, abs=1e-12)


def test_layer_grids_shrink_by_factor() -> None:
    grids = layer_point_grids(32, 2, 2)
    assert [len(g) for g in grids] == [32 * 32, 16 * 16, 8 * 8]
    grids = layer_point_grids(10, 2, 3)  # int(10 / 3) = 3, int(10 / 9) = 1
    assert [len(g) for g in grids] == [100, 9, 1]


def test_crop_boxes_layer_zero_is_the_image() -> None:
    boxes, layers = crop_boxes((480, 640), 0, 0.3)
    assert boxes == [[0, 0, 640, 480]] and layers == [0]


def test_crop_boxes_one_layer_by_hand() -> None:
    # 1500 wide, 1000 high, ratio 512/1500: overlap = int(512/1500 * 1000 * 2/2) = 341
    # crop_w = ceil((341 + 1500) / 2) = 921, crop_h = ceil((341 + 1000) / 2) = 671
    # lefts 0, 921 - 341 = 580; tops 0, 671 - 341 = 330; x is the slow index
    boxes, layers = crop_boxes((1000, 1500), 1, 512 / 1500)
    assert boxes[1:] == [[0, 0, 921, 671], [0, 330, 921, 1000], [580, 0, 1500, 671], [580, 330, 1500, 1000]]
    assert layers == [0, 1, 1, 1, 1]


@pytest.mark.parametrize("hw, ratio", [((480, 640), 512 / 1500), ((333, 517), 0.2), ((1024, 1024), 0.0)])
def test_crop_boxes_cover_the_image_with_the_stated_overlap(hw, ratio) -> None:
    h, w = hw
    boxes, layers = crop_boxes(hw, 2, ratio)
    assert layers.count(1) == 4 and layers.count(2) == 16
    for layer in (1, 2):
        covered = np.zeros(hw, dtype=int)
        layer_boxes = [b for b, l in zip(boxes, layers) if l == layer]
        for x0, y0, x1, y1 in layer_boxes:
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
            covered[y0:y1, x0:x1] += 1
        assert covered.min() >= 1
        per_side = 2**layer
        overlap = int(ratio * min(h, w) * 2 / per_side)
        xs = sorted({b[0] for b in layer_boxes})
        ends = sorted({b[2] for b in layer_boxes})
        for left, prev_end in zip(xs[1:], ends[:-1]):
            assert prev_end - left == overlap  # neighbours share exactly `overlap` columns


def test_box_near_crop_edge() -> None:
    crop = [100, 0, 300, 200]
    image = [0, 0, 300, 400]
    boxes = torch.tensor([
        [150, 50, 250, 150],  # inside
        [105, 50, 250, 150],  # 5 px from the crop's left edge, which is inside the image
        [150, 50, 295, 150],  # near the right edge, which is also the image edge
        [150, 50, 250, 185],  # near the crop's bottom (inside the image)
        [150, 3, 250, 150],  # near the top, which is the image's top
    ])
    assert box_near_crop_edge(boxes, crop, image).tolist() == [False, True, False, True, False]


def test_xyxy_to_xywh() -> None:
    assert xyxy_to_xywh(torch.tensor([[1, 2, 5, 9]])).tolist() == [[1, 2, 4, 7]]
