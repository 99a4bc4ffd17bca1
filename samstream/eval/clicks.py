"""Simulated clicks for interactive segmentation benchmarks, and the exact distance transform they use.

A click goes to the *centre* of a region: the pixel farthest (Euclidean) from every pixel outside
the region, where everything outside the image counts as outside (the mask is padded with one ring
of background). Ties go to the first such pixel in row-major order.

* first click: the centre of the ground-truth mask, a positive click;
* next clicks: the error regions are the false negatives (object pixels the prediction misses) and
  the false positives (predicted pixels off the object). The one whose centre lies deeper, i.e.
  has the larger distance-transform maximum, is corrected: a positive click at the centre of the
  false negatives, or a negative click at the centre of the false positives (false negatives win
  ties). No click is made when the prediction equals the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samstream.errors import InvalidInputError

__all__ = ["Click", "center_point", "first_click", "next_click", "squared_distance_transform"]


@dataclass(frozen=True)
class Click:
    x: int
    y: int
    positive: bool
    depth: float  # distance from the click to the region's boundary (pixels)


def squared_distance_transform(mask: np.ndarray) -> np.ndarray:
    """Exact squared Euclidean distance from each pixel of ``mask`` to the nearest pixel outside it.

    ``mask`` is (H, W) bool; pixels outside the image count as outside the mask, and pixels outside
    the mask get 0. Returns (H, W) int64. Only the box around the mask (plus one pixel) is computed.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise InvalidInputError(f"mask must have shape (H, W), got {mask.shape}")
    out = np.zeros(mask.shape, dtype=np.int64)
    if not mask.any():
        return out
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = np.pad(mask[y0:y1, x0:x1], 1)  # the region's box plus a background ring holds every answer
    out[y0:y1, x0:x1] = _edt_padded(crop)[1:-1, 1:-1]
    return out


def _edt_padded(mask: np.ndarray) -> np.ndarray:
    """Squared EDT of a mask whose border ring is background (scipy's C code when installed)."""
    try:
        from scipy.ndimage import distance_transform_edt  # optional dependency (not installed by samstream)
    except ImportError:  # pragma: no cover - scipy is optional
        return edt_padded_numpy(mask)
    return np.rint(distance_transform_edt(mask) ** 2).astype(np.int64)


def edt_padded_numpy(mask: np.ndarray) -> np.ndarray:
    """Pure numpy squared EDT of a mask whose border ring is background: two separable passes."""
    if mask.shape[1] > mask.shape[0]:  # the second pass loops over columns: make them the fewer
        return edt_padded_numpy(mask.T).T
    h = mask.shape[0]
    idx = np.arange(h)[:, None]
    above = np.maximum.accumulate(np.where(~mask, idx, 0), axis=0)  # last background row at or above
    below = np.minimum.accumulate(np.where(~mask, idx, h - 1)[::-1], axis=0)[::-1]
    g2 = np.minimum(idx - above, below - idx).astype(np.int64) ** 2  # (H, W) squared column distance
    return _lower_envelope(g2)


def _lower_envelope(f: np.ndarray) -> np.ndarray:
    """``d[y, q] = min_p (q - p)^2 + f[y, p]`` for every row at once (Felzenszwalb and Huttenlocher).

    Each row keeps the parabolas of its lower envelope: apexes ``v`` and the boundaries ``z``
    between them; the loop runs over columns, vectorised over rows.
    """
    h, w = f.shape
    rows = np.arange(h)
    ff = f.astype(np.float64)
    v = np.zeros((h, w), dtype=np.int64)  # (H, W) apex columns of the envelope's parabolas
    z = np.full((h, w + 1), np.inf)  # (H, W+1) where each parabola starts to be the lowest
    z[:, 0] = -np.inf
    k = np.zeros(h, dtype=np.int64)  # index of the last parabola of each row
    for q in range(1, w):
        fq = ff[:, q] + q * q
        active, kk = rows, k.copy()
        while True:  # drop the parabolas the new one hides, row by row
            p = v[active, kk]
            s = (fq[active] - (ff[active, p] + p * p)) / (2.0 * (q - p))  # intersection abscissa
            hide = s <= z[active, kk]
            keep = ~hide
            a, kn = active[keep], kk[keep] + 1
            k[a], v[a, kn], z[a, kn], z[a, kn + 1] = kn, q, s[keep], np.inf
            if not hide.any():
                break
            active, kk = active[hide], kk[hide] - 1
    out = np.empty_like(f)
    k = np.zeros(h, dtype=np.int64)
    for q in range(w):
        while True:
            step = z[rows, k + 1] < q
            if not step.any():
                break
            k += step
        p = v[rows, k]
        out[:, q] = (q - p) ** 2 + f[rows, p]
    return out


def center_point(region: np.ndarray) -> tuple[int, int, float]:
    """(x, y, depth) of the pixel of ``region`` farthest from its boundary (see the module docstring)."""
    d2 = squared_distance_transform(region)
    flat = int(np.argmax(d2))
    y, x = divmod(flat, d2.shape[1])
    return x, y, float(np.sqrt(d2.flat[flat]))


def first_click(gt: np.ndarray) -> Click:
    """A positive click at the centre of a non-empty ground-truth mask."""
    gt = np.asarray(gt, dtype=bool)
    if not gt.any():
        raise InvalidInputError("gt: the ground-truth mask is empty; there is nothing to click on")
    x, y, depth = center_point(gt)
    return Click(x, y, True, depth)


def next_click(gt: np.ndarray, pred: np.ndarray) -> Click | None:
    """The correction click for ``pred`` against ``gt``; ``None`` when they are equal."""
    gt, pred = np.asarray(gt, dtype=bool), np.asarray(pred, dtype=bool)
    if gt.shape != pred.shape:
        raise InvalidInputError(f"pred has shape {pred.shape}, gt has {gt.shape}")
    fn_x, fn_y, fn_depth = center_point(gt & ~pred)
    fp_x, fp_y, fp_depth = center_point(pred & ~gt)
    if fn_depth == 0 and fp_depth == 0:
        return None
    if fn_depth >= fp_depth:
        return Click(fn_x, fn_y, True, fn_depth)
    return Click(fp_x, fp_y, False, fp_depth)
