"""J, F and the DAVIS statistics on masks small enough to work out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from samstream.errors import InvalidInputError
from samstream.eval.metrics import (
    Statistics,
    boundary_f,
    boundary_tolerance,
    db_statistics,
    jaccard,
    object_means,
    seg2bmap,
)

ndi = pytest.importorskip("scipy.ndimage")


def mask(h: int, w: int, *pixels: tuple[int, int]) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    for y, x in pixels:
        m[y, x] = True
    return m


def block(h: int, w: int, rows: slice, cols: slice) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[rows, cols] = True
    return m


def test_both_empty():
    e = np.zeros((8, 8), bool)
    assert jaccard(e, e) == 1.0  # empty union -> 1
    assert boundary_f(e, e) == 1.0  # no boundary on either side -> P = R = 1


def test_empty_prediction():
    gt = block(8, 8, slice(2, 4), slice(2, 4))
    e = np.zeros_like(gt)
    assert jaccard(gt, e) == 0.0  # 0 / 4
    assert boundary_f(gt, e) == 0.0  # no predicted boundary: P = 1, R = 0 -> F = 0


def test_empty_ground_truth():
    pred = block(8, 8, slice(2, 4), slice(2, 4))
    e = np.zeros_like(pred)
    assert jaccard(e, pred) == 0.0
    assert boundary_f(e, pred) == 0.0  # DAVIS: P = 0, R = 1 -> F = 0


def test_one_pixel_object():
    # seg2bmap marks a pixel that differs from its E, S or SE neighbour: the object pixel (2, 3)
    # and the pixels left of it, above it and above-left of it.
    gt = mask(8, 8, (2, 3))
    assert set(zip(*np.nonzero(seg2bmap(gt)))) == {(1, 2), (1, 3), (2, 2), (2, 3)}
    assert jaccard(gt, gt) == 1.0 and boundary_f(gt, gt) == 1.0
    # 8x8: tolerance ceil(0.008 * hypot(8, 8)) = ceil(0.09) = 1 pixel (a plus-shaped disk).
    assert boundary_tolerance(8, 8) == 1
    # One pixel to the right: no overlap (J = 0 / 2) but every boundary pixel has one of the other
    # boundary within 1 pixel ((1,2)-(1,3), (1,3)=(1,3), ...): P = R = 1.
    right = mask(8, 8, (2, 4))
    assert jaccard(gt, right) == 0.0
    assert boundary_f(gt, right) == 1.0
    # Three pixels to the right: boundaries {(1,2),(1,3),(2,2),(2,3)} and {(1,5),(1,6),(2,5),(2,6)}
    # are 2 apart at best: P = R = 0 -> F = 0.
    assert boundary_f(gt, mask(8, 8, (2, 6))) == 0.0


def test_mask_touching_the_border():
    # A 2x2 object in the bottom-right corner of a 6x6 image. On the last row only the E neighbour
    # counts, on the last column only the S one, and the corner is never boundary, so the object's
    # own pixels are not boundary; the boundary is the L around it: 5 pixels.
    gt = block(6, 6, slice(4, 6), slice(4, 6))
    assert set(zip(*np.nonzero(seg2bmap(gt)))) == {(3, 3), (3, 4), (3, 5), (4, 3), (5, 3)}
    # Prediction: the corner pixel (5, 5) alone; its boundary is {(4,4), (4,5), (5,4)}.
    pred = mask(6, 6, (5, 5))
    assert set(zip(*np.nonzero(seg2bmap(pred)))) == {(4, 4), (4, 5), (5, 4)}
    # J = 1 / 4. Tolerance ceil(0.008 * hypot(6, 6)) = 1 (4-neighbours).
    # Precision: (4,4)-(3,4), (4,5)-(3,5), (5,4)-(5,3) all matched -> 3/3.
    # Recall: (3,3) has only (4,4) diagonally (distance sqrt 2 > 1): 4 of 5 matched -> 4/5.
    # F = 2 * 1 * 0.8 / 1.8 = 8/9.
    assert jaccard(gt, pred) == pytest.approx(0.25)
    assert boundary_f(gt, pred) == pytest.approx(8 / 9)
    # A full-frame mask has no boundary at all under these rules, so against an empty prediction
    # both boundaries are empty and F = 1 (a DAVIS quirk), while J = 0.
    full = np.ones((6, 6), bool)
    assert not seg2bmap(full).any()
    assert boundary_f(full, np.zeros_like(full)) == 1.0
    assert jaccard(full, np.zeros_like(full)) == 0.0


def test_tolerance_at_480p():
    assert boundary_tolerance(480, 854) == 8  # ceil(0.008 * 979.6) = ceil(7.84)
    assert boundary_tolerance(480, 854, bound_th=3) == 3  # >= 1: pixels


def disk(r: int) -> np.ndarray:
    grid = np.arange(-r, r + 1)
    return grid[None, :] ** 2 + grid[:, None] ** 2 <= r * r


def reference_f(gt: np.ndarray, pred: np.ndarray, bound_th: float = 0.008) -> float:
    """DAVIS f_measure, written the way the official code is (dilation of whole frames)."""
    r = boundary_tolerance(*gt.shape, bound_th)
    gb, pb = seg2bmap_reference(gt), seg2bmap_reference(pred)
    g_dil = ndi.binary_dilation(gb, disk(r))
    p_dil = ndi.binary_dilation(pb, disk(r))
    n_p, n_g = pb.sum(), gb.sum()
    if n_p == 0 and n_g > 0:
        p, rec = 1.0, 0.0
    elif n_p > 0 and n_g == 0:
        p, rec = 0.0, 1.0
    elif n_p == 0 and n_g == 0:
        p, rec = 1.0, 1.0
    else:
        p, rec = (pb & g_dil).sum() / n_p, (gb & p_dil).sum() / n_g
    return 0.0 if p + rec == 0 else 2 * p * rec / (p + rec)


def seg2bmap_reference(seg: np.ndarray) -> np.ndarray:
    e, s, se = (np.zeros_like(seg) for _ in range(3))
    e[:, :-1], s[:-1, :], se[:-1, :-1] = seg[:, 1:], seg[1:, :], seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


@pytest.mark.parametrize("bound_th", [0.008, 0.05, 2])
def test_boundary_f_matches_full_frame_dilation(bound_th):
    rng = np.random.default_rng(0)
    for _ in range(15):
        h, w = rng.integers(4, 90, size=2)
        field = ndi.gaussian_filter(rng.standard_normal((4, h, w)), (0, 2, 2))
        gt = field > rng.uniform(-0.2, 0.4)
        pred = field + 0.3 * rng.standard_normal(field.shape) > rng.uniform(-0.2, 0.4)
        pred[1] = False
        gt[2] = pred[2] = False
        got = boundary_f(gt, pred, bound_th)
        want = [reference_f(gt[i], pred[i], bound_th) for i in range(4)]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        for i in range(4):
            np.testing.assert_array_equal(seg2bmap(gt[i]), seg2bmap_reference(gt[i]))


def test_batched_shapes_and_errors():
    rng = np.random.default_rng(1)
    gt = rng.random((2, 3, 10, 12)) < 0.5
    pred = rng.random((2, 3, 10, 12)) < 0.5
    assert jaccard(gt, pred).shape == (2, 3)
    assert boundary_f(gt, pred).shape == (2, 3)
    np.testing.assert_allclose(boundary_f(gt, pred)[1, 2], boundary_f(gt[1, 2], pred[1, 2]))
    with pytest.raises(InvalidInputError, match="same shape"):
        jaccard(gt, pred[0])
    with pytest.raises(InvalidInputError, match="2-D"):
        boundary_f(np.zeros(3, bool), np.zeros(3, bool))


def test_db_statistics_by_hand():
    # n = 4: ids = round(linspace(1, 4, 5)) - 1 = [0, 1, 2, 2, 3]; first bin v[0:2], last v[2:4].
    assert db_statistics(np.array([1.0, 1.0, 0.0, 0.0])) == Statistics(0.5, 0.5, 1.0)
    # n = 10, v = 0.0 .. 0.9: ids = [0, 2, 5, 7, 9]; first bin v[0:3] (mean 0.1), last v[7:10]
    # (mean 0.8): decay -0.7; recall: 0.6 .. 0.9 are above 0.5 -> 0.4.
    s = db_statistics(np.arange(10) / 10)
    assert s.mean == pytest.approx(0.45) and s.recall == pytest.approx(0.4)
    assert s.decay == pytest.approx(-0.7)
    assert db_statistics(np.array([0.7])) == Statistics(0.7, 1.0, 0.0)  # one frame: no decay
    assert db_statistics(np.array([0.5, 0.5])).recall == 0.0  # strictly above 0.5
    with pytest.raises(InvalidInputError):
        db_statistics(np.array([]))


def test_db_statistics_matches_davis_bins_for_many_lengths():
    rng = np.random.default_rng(2)
    for n in range(1, 120):
        v = rng.random(n)
        ids = (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.uint8)
        bins = [v[ids[i] : ids[i + 1] + 1] for i in range(4)]
        assert db_statistics(v).decay == pytest.approx(bins[0].mean() - bins[3].mean())


def test_boundary_f_small_objects_away_from_the_border():
    # F works on a window around the two masks: small objects in the middle of a large frame and
    # objects touching only the right or bottom edge must score as on the whole frame.
    rng = np.random.default_rng(3)
    for _ in range(20):
        gt = np.zeros((3, 120, 160), bool)
        pred = np.zeros_like(gt)
        for m in (gt, pred):
            for i in range(3):
                y, x = rng.integers(0, 115), rng.integers(0, 155)
                m[i, y : y + rng.integers(1, 8), x : x + rng.integers(1, 8)] = True
        pred[1, -3:, 40:60] = True  # bottom edge
        gt[2, 50:70, -2:] = True  # right edge
        got = boundary_f(gt, pred)
        want = [reference_f(gt[i], pred[i]) for i in range(3)]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_object_means_per_object_over_frames() -> None:
    gt = np.zeros((2, 2, 8, 8), dtype=bool)
    gt[:, 0, 2:6, 2:6] = True  # object 0: a 4 x 4 square on both frames
    gt[:, 1, 0:2, 0:2] = True  # object 1: a 2 x 2 square
    pred = gt.copy()
    pred[1, 1] = False  # object 1 missed on frame 1: J = 0 there, 1 on frame 0
    pred[0, 0, 2:6, 2:4] = False  # object 0 half found on frame 0: J = 8 / 16
    js, fs = object_means(gt, pred)
    assert js == pytest.approx([(0.5 + 1.0) / 2, 0.5])
    assert fs[1] == pytest.approx(0.5)  # boundary F is 1 then 0
    assert fs[0] == pytest.approx((float(boundary_f(gt[0, 0], pred[0, 0])) + 1.0) / 2)
    with pytest.raises(InvalidInputError, match="T, K, H, W"):
        object_means(gt[0], pred[0])
