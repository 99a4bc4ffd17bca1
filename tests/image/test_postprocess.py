"""Connected components, hole filling and sprinkle removal, checked against scipy.ndimage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samstream.errors import InvalidInputError
from samstream.image.postprocess import (
    connected_components,
    fill_holes,
    fill_holes_and_remove_sprinkles,
)

ndi = pytest.importorskip("scipy.ndimage")

EIGHT = np.ones((3, 3), dtype=bool)  # 8-connectivity, as the reference CUDA kernel


def oracle(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and areas of one (H, W) mask the way the reference extension returns them.

    scipy finds the components; the label value is 1 + the smallest linear index of a 2x2 block
    origin (even row, even column) over the component's pixels, which is what the reference's
    block union-find keeps (its atomicMin roots are block origins).
    """
    h, w = mask.shape
    comp, count = ndi.label(mask, structure=EIGHT)
    rows, cols = np.nonzero(mask)
    origin = (rows // 2 * 2) * w + cols // 2 * 2
    first = np.full(count + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, comp[rows, cols], origin)
    labels = np.zeros((h, w), np.int64)
    labels[rows, cols] = first[comp[rows, cols]] + 1
    sizes = np.bincount(comp.ravel(), minlength=count + 1)
    areas = np.where(mask, sizes[comp], 0)
    return labels, areas


def check(masks: np.ndarray) -> None:
    """Compare connected_components on an (N, H, W) bool array with the oracle, both layouts."""
    for x in (torch.from_numpy(masks), torch.from_numpy(masks)[:, None]):
        labels, areas = connected_components(x)
        assert labels.dtype == torch.int32 and areas.dtype == torch.int32
        assert labels.shape == x.shape and areas.shape == x.shape
        labels, areas = labels.reshape(masks.shape).numpy(), areas.reshape(masks.shape).numpy()
        for i, m in enumerate(masks):
            want_labels, want_areas = oracle(m)
            np.testing.assert_array_equal(labels[i], want_labels)
            np.testing.assert_array_equal(areas[i], want_areas)


def spiral(n: int) -> np.ndarray:
    """One 1-pixel-wide square spiral, arms 2 pixels apart (a single component)."""
    m = np.zeros((n, n), bool)
    r0, c0, r1, c1 = 0, 0, n - 1, n - 1
    while r0 <= r1 and c0 <= c1:
        m[r0, c0 : c1 + 1] = True
        m[r0 : r1 + 1, c1] = True
        m[r1, c0 : c1 + 1] = True
        m[r0 + 2 : r1 + 1, c0] = True
        if r0 + 2 <= r1 and c0 + 2 <= c1 - 2:
            m[r0 + 2, c0 : c1 - 1] = True
        r0, c0, r1, c1 = r0 + 2, c0 + 2, r1 - 2, c1 - 2
    return m


def snake(h: int, w: int) -> np.ndarray:
    """Boustrophedon: full rows joined alternately at the right and the left end."""
    m = np.zeros((h, w), bool)
    m[::2] = True
    for i, r in enumerate(range(1, h, 2)):
        m[r, w - 1 if i % 2 == 0 else 0] = True
    return m


@pytest.mark.parametrize("shape", [(2, 16, 16), (3, 37, 23), (4, 1, 50), (2, 50, 1), (2, 64, 96)])
@pytest.mark.parametrize("density", [0.3, 0.5, 0.7])
def test_random_masks_match_scipy(shape, density):
    for seed in range(5):
        rng = np.random.default_rng(seed)
        check(rng.random(shape) < density)


def test_smooth_random_blobs_match_scipy():
    rng = np.random.default_rng(1)
    noise = ndi.gaussian_filter(rng.standard_normal((6, 120, 130)), sigma=(0, 4, 4))
    check(noise > 0.02)


def test_diagonal_neighbours_connect():
    m = np.eye(6, dtype=bool)[None]  # 8-connected: one component of 6 pixels
    labels, areas = connected_components(torch.from_numpy(m))
    assert labels.unique().tolist() == [0, 1]
    assert areas.max().item() == 6
    check(m)


def test_label_values_follow_reference_blocks():
    # A component whose topmost pixel (0, 5) lies right of another pixel (1, 2) of the same 2x2
    # block row: the reference keeps the smaller block origin (0, 2) -> label 1 + 0 * 8 + 2 = 3.
    m = np.zeros((4, 8), bool)
    m[0, 5] = m[1, 4] = m[2, 3] = m[1, 2] = True  # (1, 2) joins via (2, 3)
    labels, _ = connected_components(torch.from_numpy(m)[None])
    assert set(labels[0][torch.from_numpy(m)].tolist()) == {3}


def test_spiral_snake_and_maze():
    check(spiral(101)[None])
    check(spiral(256)[None])
    check(np.stack([snake(64, 80), ~snake(64, 80)]))  # batch of a snake and its complement
    check(snake(120, 40).T.copy()[None])  # vertical snake: the horizontal-run start does not help
    rng = np.random.default_rng(0)
    check(maze(40, rng)[None])
    big = spiral(512)
    _, areas = connected_components(torch.from_numpy(big)[None])
    assert areas.max().item() == big.sum()


def maze(cells: int, rng: np.random.Generator) -> np.ndarray:
    """A perfect maze (random spanning tree): one long winding component."""
    n = 2 * cells + 1
    m = np.zeros((n, n), bool)
    seen = np.zeros((cells, cells), bool)
    stack = [(0, 0)]
    seen[0, 0] = m[1, 1] = True
    while stack:
        y, x = stack[-1]
        free = [
            (y + dy, x + dx)
            for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0))
            if 0 <= y + dy < cells and 0 <= x + dx < cells and not seen[y + dy, x + dx]
        ]
        if not free:
            stack.pop()
            continue
        ny, nx = free[rng.integers(len(free))]
        seen[ny, nx] = m[2 * ny + 1, 2 * nx + 1] = m[y + ny + 1, x + nx + 1] = True
        stack.append((ny, nx))
    return m


def test_empty_full_and_degenerate():
    check(np.zeros((2, 8, 8), bool))
    check(np.ones((2, 7, 9), bool))
    check(np.ones((1, 1, 1), bool))
    labels, areas = connected_components(torch.zeros((0, 1, 4, 4), dtype=torch.bool))
    assert labels.shape == (0, 1, 4, 4) and areas.shape == (0, 1, 4, 4)
    labels, _ = connected_components(torch.zeros((2, 0, 5), dtype=torch.bool))
    assert labels.shape == (2, 0, 5)


def test_non_contiguous_and_uint8_input():
    rng = np.random.default_rng(3)
    base = torch.from_numpy(rng.random((3, 40, 50)) < 0.5)
    x = base.transpose(1, 2)[:, ::2, 1::3]  # strided, not contiguous
    assert not x.is_contiguous()
    labels, areas = connected_components(x)
    dense = x.contiguous()
    want = connected_components(dense)
    assert torch.equal(labels, want[0]) and torch.equal(areas, want[1])
    check(dense.numpy())
    labels_u8, areas_u8 = connected_components(dense.to(torch.uint8) * 3)
    assert torch.equal(labels_u8, want[0]) and torch.equal(areas_u8, want[1])


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match="dtype"):
        connected_components(torch.zeros((1, 1, 4, 4)))
    with pytest.raises(InvalidInputError, match="shape"):
        connected_components(torch.zeros((4, 4), dtype=torch.bool))
    with pytest.raises(InvalidInputError, match="shape"):
        connected_components(torch.zeros((1, 2, 4, 4), dtype=torch.bool))
    with pytest.raises(InvalidInputError, match="Tensor"):
        connected_components(np.zeros((1, 4, 4), bool))
    with pytest.raises(InvalidInputError, match="floating"):
        fill_holes_and_remove_sprinkles(torch.zeros((1, 1, 4, 4), dtype=torch.int64), 0.0, 1, 1)
    with pytest.raises(InvalidInputError, match="shape"):
        fill_holes_and_remove_sprinkles(torch.zeros((1, 4, 4)), 0.0, 1, 1)
    with pytest.raises(InvalidInputError, match="max_area"):
        fill_holes(torch.zeros((1, 1, 4, 4)), 0)
    with pytest.raises(InvalidInputError, match="shape"):
        fill_holes(torch.zeros((1, 2, 4, 4)), 4)


# ---------------------------------------------------------------------------------------------
# holes and sprinkles


def scipy_postprocess(logits: np.ndarray, thr: float, hole: float, sprinkle: float) -> np.ndarray:
    """Independent implementation of the reference's postprocess_masks (without the resize)."""
    out = logits.astype(np.float32).copy()
    for idx in np.ndindex(*logits.shape[:2]):
        x = logits[idx]
        if hole > 0:
            comp, _ = ndi.label(x <= thr, structure=EIGHT)
            sizes = np.bincount(comp.ravel())
            out[idx][(comp > 0) & (sizes[comp] <= hole)] = thr + 10.0
        if sprinkle > 0:  # components of the *input* foreground, as in the reference
            comp, _ = ndi.label(x > thr, structure=EIGHT)
            sizes = np.bincount(comp.ravel())
            out[idx][(comp > 0) & (sizes[comp] <= sprinkle)] = thr - 10.0
    return out


@pytest.mark.parametrize("thr", [0.0, -0.5, 1.25])
@pytest.mark.parametrize("hole,sprinkle", [(5, 0), (0, 5), (12, 7), (0, 0), (1, 1)])
def test_fill_holes_and_remove_sprinkles_matches_scipy(thr, hole, sprinkle):
    rng = np.random.default_rng(7)
    logits = ndi.gaussian_filter(rng.standard_normal((3, 2, 48, 40)), sigma=(0, 0, 1.2, 1.2)) * 4
    got = fill_holes_and_remove_sprinkles(torch.from_numpy(logits), thr, hole, sprinkle)
    assert got.dtype == torch.float32 and got.shape == logits.shape
    np.testing.assert_array_equal(got.numpy(), scipy_postprocess(logits, thr, hole, sprinkle))


def test_hole_and_sprinkle_by_hand():
    # A 3x3 ring (8 foreground pixels) around a one-pixel hole, plus a lone foreground pixel.
    logits = torch.full((1, 1, 8, 8), -3.0)
    logits[0, 0, 1:4, 1:4] = 2.0
    logits[0, 0, 2, 2] = -1.0  # the hole (area 1)
    logits[0, 0, 6, 6] = 1.0  # a sprinkle (area 1)
    out = fill_holes_and_remove_sprinkles(logits, 0.0, max_hole_area=1, max_sprinkle_area=1)
    assert out[0, 0, 2, 2] == 10.0  # threshold + 10
    assert out[0, 0, 6, 6] == -10.0  # threshold - 10
    assert out[0, 0, 1, 1] == 2.0 and out[0, 0, 0, 0] == -3.0  # ring and outer background kept
    # The ring (8 pixels) is itself a sprinkle when max_sprinkle_area >= 8: it is removed but the
    # hole it enclosed, filled from the input's components, stays foreground (reference behaviour).
    out = fill_holes_and_remove_sprinkles(logits, 0.0, max_hole_area=1, max_sprinkle_area=8)
    assert out[0, 0, 1, 1] == -10.0 and out[0, 0, 2, 2] == 10.0


def test_zero_area_disables_each_step():
    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.standard_normal((2, 1, 20, 20)).astype(np.float32))
    assert torch.equal(fill_holes_and_remove_sprinkles(logits, 0.0, 0, 0), logits)
    only_holes = fill_holes_and_remove_sprinkles(logits, 0.0, 3, 0)
    only_sprinkles = fill_holes_and_remove_sprinkles(logits, 0.0, 0, 3)
    assert (only_holes >= logits).all() and (only_holes > logits).any()
    assert (only_sprinkles <= logits).all() and (only_sprinkles < logits).any()
    assert torch.equal(fill_holes_and_remove_sprinkles(logits, 0.0, -1, -1), logits)


def test_postprocess_non_contiguous_and_half():
    rng = np.random.default_rng(5)
    base = torch.from_numpy(rng.standard_normal((2, 1, 30, 30)).astype(np.float32))
    x = base.transpose(2, 3)
    got = fill_holes_and_remove_sprinkles(x, 0.0, 4, 4)
    np.testing.assert_array_equal(got.numpy(), scipy_postprocess(x.contiguous().numpy(), 0.0, 4, 4))
    assert fill_holes_and_remove_sprinkles(x.half(), 0.0, 4, 4).dtype == torch.float32


def test_fill_holes_like_video_predictor():
    rng = np.random.default_rng(11)
    logits = ndi.gaussian_filter(rng.standard_normal((3, 1, 40, 44)), sigma=(0, 0, 1, 1)) * 3
    x = torch.from_numpy(logits.astype(np.float32))
    got = fill_holes(x, 8).numpy()
    want = x.numpy().copy()
    for i in range(3):
        comp, _ = ndi.label(logits[i, 0].astype(np.float32) <= 0, structure=EIGHT)
        sizes = np.bincount(comp.ravel())
        want[i, 0][(comp > 0) & (sizes[comp] <= 8)] = np.float32(0.1)
    np.testing.assert_array_equal(got, want)
    assert fill_holes(x.half(), 8).dtype == torch.float16


@pytest.mark.parity
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
@pytest.mark.parametrize("hole,sprinkle", [(6, 0), (0, 6), (6, 9)])
def test_reference_glue_with_oracle_components(monkeypatch, hole, sprinkle):
    """The reference's postprocess_masks and fill_holes_in_mask_scores, with its CUDA-only
    connected components replaced by the scipy oracle, give the same logits as ours."""
    misc = pytest.importorskip("sam2.utils.misc")
    transforms = pytest.importorskip("sam2.utils.transforms")

    def oracle_components(mask: torch.Tensor):
        arr = mask[:, 0].bool().numpy()
        pairs = [oracle(m) for m in arr]
        labels = torch.from_numpy(np.stack([p[0] for p in pairs])[:, None].astype(np.int32))
        areas = torch.from_numpy(np.stack([p[1] for p in pairs])[:, None].astype(np.int32))
        return labels, areas

    monkeypatch.setattr(misc, "get_connected_components", oracle_components)
    rng = np.random.default_rng(2)
    logits = torch.from_numpy(
        (ndi.gaussian_filter(rng.standard_normal((2, 3, 32, 36)), sigma=(0, 0, 1, 1)) * 3).astype(
            np.float32
        )
    )
    ref = transforms.SAM2Transforms(1024, 0.0, max_hole_area=hole, max_sprinkle_area=sprinkle)
    want = ref.postprocess_masks(logits, (32, 36))  # same size: the bilinear resize is the identity
    assert not torch.equal(want, logits)  # the oracle ran (the reference's fallback did not)
    got = fill_holes_and_remove_sprinkles(logits, 0.0, hole, sprinkle)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    video = logits[:, :1]
    want = misc.fill_holes_in_mask_scores(video, 8)
    assert not torch.equal(want, video)
    torch.testing.assert_close(fill_holes(video, 8), want, rtol=0, atol=0)
