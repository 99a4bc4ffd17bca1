"""Binary-mask geometry for DAM4SAM's distractor test, in numpy: the largest 8-connected component
of a mask, a mask's bounding rectangle, and the overlap of two rectangles as pixel sets.

The definitions follow the tools the authors' test uses (OpenCV's connected components, the VOT
toolkit's rectangles and overlaps), so that the test decides as theirs does:

- components are 8-connected; of equally large ones the first in raster order wins;
- a mask's rectangle is ``(left, top, right - left, bottom - top)`` from the inclusive bounds of its
  pixels (``(0, 0, 0, 0)`` for an empty mask), and a rectangle ``(x, y, w, h)`` covers the pixels
  ``x .. x + w - 1`` by ``y .. y + h - 1``, so a mask's rectangle is one pixel short of it on the
  right and at the bottom;
- the overlap is pixel intersection over pixel union inside the two rectangles' joint bounds, 1
  when those bounds are degenerate (two empty regions are identical).
"""

from __future__ import annotations

import numpy as np

Rect = tuple[int, int, int, int]  # (x, y, width, height)


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) inclusive column spans of the True pixels of a row."""
    padded = np.concatenate(([False], row, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a (H, W) bool mask (the first in raster order among
    equals); an empty mask stays empty."""
    runs: list[tuple[int, int, int]] = []  # (row, start, end) in raster order
    parent: list[int] = []

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    above: list[int] = []  # indices of the previous row's runs
    for y in range(mask.shape[0]):
        here = []
        for start, end in _runs(mask[y]):
            index = len(runs)
            runs.append((y, start, end))
            parent.append(index)
            for j in above:  # 8-connected: spans touching diagonally join too
                _, s, e = runs[j]
                if s <= end + 1 and start <= e + 1:
                    a, b = root(j), root(index)
                    if a != b:
                        parent[max(a, b)] = min(a, b)  # the earlier run in raster order stays the root
            here.append(index)
        above = here
    if not runs:
        return np.zeros_like(mask, dtype=bool)
    area: dict[int, int] = {}
    for i, (_, s, e) in enumerate(runs):
        r = root(i)
        area[r] = area.get(r, 0) + e - s + 1
    best = min(area, key=lambda r: (-area[r], r))  # roots are each component's first run: raster order
    out = np.zeros(mask.shape, dtype=bool)
    for i, (y, s, e) in enumerate(runs):
        if root(i) == best:
            out[y, s : e + 1] = True
    return out


def mask_rect(mask: np.ndarray) -> Rect:
    """``(left, top, right - left, bottom - top)`` from the inclusive pixel bounds; (0, 0, 0, 0) if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return (0, 0, 0, 0)
    cols = np.flatnonzero(mask.any(axis=0))
    left, top, right, bottom = int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])
    return (left, top, right - left, bottom - top)


def _raster(rect: Rect, bounds: tuple[int, int, int, int]) -> np.ndarray:
    """A rectangle's pixels inside ``bounds`` (left, top, right, bottom), with the toolkit's clipping."""
    x, y, w, h = rect
    left_b, top_b, right_b, bottom_b = bounds
    out = np.zeros((bottom_b - top_b + 1, right_b - left_b + 1), dtype=bool)
    if x > right_b or x + w - 1 < left_b or y > bottom_b or y + h - 1 < top_b:
        return out
    left, top = max(0, x - left_b), max(0, y - top_b)
    right, bottom = min(right_b, x + w - 1 - left_b), min(bottom_b, y + h - 1 - top_b)
    out[top : bottom + 1, left : right + 1] = True
    return out


def rect_overlap(a: Rect, b: Rect) -> float:
    """Pixel intersection over union of two rectangles (1.0 when their joint bounds are degenerate)."""
    bounds_a = (a[0], a[1], a[0] + a[2] - 1, a[1] + a[3] - 1)
    bounds_b = (b[0], b[1], b[0] + b[2] - 1, b[1] + b[3] - 1)
    union = (min(bounds_a[0], bounds_b[0]), min(bounds_a[1], bounds_b[1]),
             max(bounds_a[2], bounds_b[2]), max(bounds_a[3], bounds_b[3]))
    if union[0] >= union[2] or union[1] >= union[3]:
        return 1.0
    m1, m2 = _raster(a, union), _raster(b, union)
    joint = int((m1 | m2).sum())
    return float((m1 & m2).sum()) / float(joint) if joint > 0 else 0.0
