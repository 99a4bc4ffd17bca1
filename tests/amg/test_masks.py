"""Stability score, mask boxes and small-region removal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samstream.amg.masks import masks_to_boxes, pixel_counts, remove_small_regions, row_counts, stability_score
from samstream.errors import InvalidInputError

ndimage = pytest.importorskip("scipy.ndimage")
EIGHT = np.ones((3, 3), dtype=int)


def test_stability_score_counts() -> None:
    logits = torch.full((2, 4, 5), -5.0)
    logits[0, :2] = 3.0  # 10 pixels > 1 and > -1
    logits[0, 2, :2] = 0.5  # 2 more pixels > -1 only: 10 / 12
    logits[1] = -5.0  # nothing above either threshold
    score = stability_score(logits, 0.0, 1.0)
    assert score.dtype == torch.float32
    assert score[0].item() == pytest.approx(10 / 12)
    assert torch.isnan(score[1])
    assert stability_score(logits, 2.0, 0.5)[0].item() == pytest.approx(1.0)


def test_pixel_counts_against_numpy() -> None:
    rng = np.random.default_rng(3)
    masks = rng.random((6, 300, 257)) > 0.4
    masks[2] = False
    masks[4] = True
    counts = pixel_counts(torch.from_numpy(masks))
    assert counts.dtype == torch.int32
    assert counts.tolist() == masks.sum(axis=(1, 2)).tolist()
    assert row_counts(torch.from_numpy(masks)).tolist() == masks.sum(axis=2).tolist()
    wide = torch.ones(2, 2, 40_000, dtype=torch.bool)  # rows too wide for 16-bit counts
    assert row_counts(wide).dtype == torch.int32
    assert pixel_counts(wide).tolist() == [80_000, 80_000]


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "with rows given"])
def test_masks_to_boxes_random_against_numpy(layout: str) -> None:
    rng = np.random.default_rng(0)
    masks = rng.random((20, 13, 17)) > 0.97
    masks[3] = False
    t = torch.from_numpy(masks)
    if layout == "transposed":  # a strided view of the same masks
        t = torch.from_numpy(np.ascontiguousarray(masks.transpose(0, 2, 1))).transpose(1, 2)
        assert not t.is_contiguous()
    rows = torch.from_numpy(masks.any(axis=2)) if layout == "with rows given" else None
    boxes = masks_to_boxes(t, rows)
    assert boxes.dtype == torch.int64
    for m, b in zip(masks, boxes.tolist()):
        if not m.any():
            assert b == [0, 0, 0, 0]
            continue
        ys, xs = np.nonzero(m)
        assert b == [xs.min(), ys.min(), xs.max(), ys.max()]
    assert masks_to_boxes(torch.zeros(0, 4, 4, dtype=torch.bool)).shape == (0, 4)


def _reference_remove(mask: np.ndarray, area: float, mode: str) -> tuple[np.ndarray, bool]:
    """Independent implementation with scipy: regions are 8-connected components."""
    region = ~mask if mode == "holes" else mask
    labels, n = ndimage.label(region, structure=EIGHT)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    small = [i + 1 for i, s in enumerate(sizes) if s < area]
    if not small:
        return mask, False
    if mode == "holes":
        return mask | np.isin(labels, small), True
    big = [i + 1 for i, s in enumerate(sizes) if s >= area]
    if not big:
        big = [int(np.argmax(sizes)) + 1]  # scipy labels in raster order of first pixels
    return np.isin(labels, big), True


@pytest.mark.parametrize("mode", ["holes", "islands"])
@pytest.mark.parametrize("area", [1, 4, 12, 1000])
def test_remove_small_regions_matches_scipy(mode: str, area: int) -> None:
    rng = np.random.default_rng(area)
    masks = rng.random((12, 24, 31)) > 0.55
    masks[0] = False
    masks[1] = True
    out, changed = remove_small_regions(torch.from_numpy(masks), area, mode)
    for i, m in enumerate(masks):
        want, want_changed = _reference_remove(m, area, mode)
        assert bool(changed[i]) == want_changed
        np.testing.assert_array_equal(out[i].numpy(), want)


def test_remove_small_regions_fills_a_hole_and_drops_an_island() -> None:
    m = np.zeros((20, 20), dtype=bool)
    m[2:12, 2:12] = True
    m[5:7, 5:7] = False  # 4-pixel hole
    m[16:18, 16:18] = True  # 4-pixel island
    t = torch.from_numpy(m)[None]
    filled, changed = remove_small_regions(t, 5, "holes")
    assert changed.tolist() == [True] and bool(filled[0, 5:7, 5:7].all())
    cleaned, changed = remove_small_regions(filled, 5, "islands")
    assert changed.tolist() == [True] and not bool(cleaned[0, 16:18, 16:18].any())
    assert int(cleaned.sum()) == 100


def test_remove_small_regions_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="mode"):
        remove_small_regions(torch.zeros(1, 3, 3, dtype=torch.bool), 2, "dots")
    with pytest.raises(InvalidInputError, match="bool"):
        remove_small_regions(torch.zeros(1, 3, 3), 2, "holes")
