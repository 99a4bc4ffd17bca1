"""Region similarity J and boundary accuracy F, as in the DAVIS 2017 protocol.

Every function takes stacks of binary masks shaped ``(..., H, W)`` and scores each ``(H, W)`` slice
independently, so a whole sequence is scored in a few vectorised numpy passes.

* ``J`` is the intersection over union; an empty union (both masks empty) scores 1.
* ``F`` follows davis2017-evaluation's ``f_measure``: one-pixel boundaries from ``seg2bmap``, a
  boundary pixel matches when the other mask's boundary has a pixel within a disk of radius
  ``ceil(bound_th * hypot(H, W))`` (``disk`` as in scikit-image, dilation as ``cv2.dilate``, which
  adds nothing from outside the image), precision and recall over the matched pixels, and the edge
  cases: both boundaries empty gives F = 1, exactly one empty gives F = 0.
  Instead of dilating whole frames, each boundary pixel looks up the other boundary's row prefix
  sums on the 2r+1 rows of the disk, inside a window around the two masks: the same counts at a
  fraction of the cost.
* :func:`db_statistics` gives the mean, the recall (fraction of frames above 0.5) and the decay
  (mean of the first of four bins minus mean of the last), bins exactly as DAVIS cuts them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from samstream.errors import InvalidInputError

__all__ = [
    "BOUND_TH",
    "Statistics",
    "boundary_f",
    "boundary_tolerance",
    "db_statistics",
    "jaccard",
    "object_means",
    "seg2bmap",
]

BOUND_TH = 0.008  # DAVIS: boundary tolerance as a fraction of the image diagonal


def jaccard(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Region similarity J (intersection over union) of each ``(H, W)`` slice; 1 if both are empty.

    Args:
        gt, pred: bool arrays of the same shape ``(..., H, W)``.

    Returns:
        float64 array of shape ``(...)``.
    """
    gt, pred = _check_pair(gt, pred)
    inter = np.count_nonzero(gt & pred, axis=(-2, -1))
    union = np.count_nonzero(gt | pred, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        j = inter / union
    return np.where(union == 0, 1.0, j)


def object_means(gt: np.ndarray, pred: np.ndarray) -> tuple[list[float], list[float]]:
    """Mean J and mean F over the frames of each object, for (T, K, H, W) bool stacks of K objects."""
    gt, pred = _check_pair(gt, pred)
    if gt.ndim != 4:
        raise InvalidInputError(f"masks must be (T, K, H, W) stacks, got shape {gt.shape}")
    js = [float(jaccard(gt[:, k], pred[:, k]).mean()) for k in range(gt.shape[1])]
    fs = [float(boundary_f(gt[:, k], pred[:, k]).mean()) for k in range(gt.shape[1])]
    return js, fs


def seg2bmap(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of each ``(H, W)`` slice (DAVIS ``_seg2bmap``).

    A pixel is boundary when it differs from its right (east), bottom (south) or bottom-right
    (south-east) neighbour, neighbours outside the image counting as background; on the last row
    only the east neighbour is compared, on the last column only the south one, and the
    bottom-right corner is never boundary.
    """
    seg = np.asarray(mask, dtype=bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[..., :, :-1] = seg[..., :, 1:]
    s[..., :-1, :] = seg[..., 1:, :]
    se[..., :-1, :-1] = seg[..., 1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[..., -1, :] = seg[..., -1, :] ^ e[..., -1, :]
    b[..., :, -1] = seg[..., :, -1] ^ s[..., :, -1]
    b[..., -1, -1] = False
    return b


def boundary_tolerance(height: int, width: int, bound_th: float = BOUND_TH) -> int:
    """Disk radius in pixels: ``bound_th`` itself when >= 1, else ``ceil(bound_th * diagonal)``."""
    if bound_th >= 1:
        return int(bound_th)
    return int(np.ceil(bound_th * np.linalg.norm((height, width))))


def boundary_f(gt: np.ndarray, pred: np.ndarray, bound_th: float = BOUND_TH) -> np.ndarray:
    """Boundary accuracy F of each ``(H, W)`` slice (DAVIS ``f_measure``).

    Args:
        gt, pred: bool arrays of the same shape ``(..., H, W)``.
        bound_th: tolerance, a fraction of the image diagonal (or pixels when >= 1).

    Returns:
        float64 array of shape ``(...)``.
    """
    gt, pred = _check_pair(gt, pred)
    lead, (h, w) = gt.shape[:-2], gt.shape[-2:]
    gt = gt.reshape(-1, h, w)
    pred = pred.reshape(-1, h, w)
    radius = boundary_tolerance(h, w, bound_th)
    either = gt | pred
    rows_used = either.any(axis=2)  # (N, H)
    cols_used = either.any(axis=1)  # (N, W)
    out = np.ones(gt.shape[0])  # both empty: F = 1
    for i in np.flatnonzero(rows_used.any(axis=1)):
        crop = _crop(rows_used[i], cols_used[i])
        out[i] = _frame_f(gt[i][crop], pred[i][crop], radius)
    return out.reshape(lead)


def _crop(rows_used: np.ndarray, cols_used: np.ndarray) -> tuple[slice, slice]:
    """Window holding every boundary pixel, on which ``seg2bmap`` gives the full frame's boundary.

    Boundary pixels sit on the object or one pixel above / left of it, so the window starts one
    pixel before the first used row (column); it ends one pixel after the last used one, so that the
    last used row still sees its (empty) southern neighbour, unless that is the image's own edge.
    """
    r = np.flatnonzero(rows_used)
    c = np.flatnonzero(cols_used)
    return (
        slice(max(r[0] - 1, 0), min(r[-1] + 2, rows_used.size)),
        slice(max(c[0] - 1, 0), min(c[-1] + 2, cols_used.size)),
    )


def _frame_f(gt: np.ndarray, pred: np.ndarray, radius: int) -> float:
    """F of one (H, W) pair with a tolerance of ``radius`` pixels."""
    gt_b = seg2bmap(gt)
    pred_b = seg2bmap(pred)
    n_gt = np.count_nonzero(gt_b)
    n_pred = np.count_nonzero(pred_b)
    if n_gt == 0 or n_pred == 0:  # DAVIS: both empty -> P = R = 1; one empty -> P or R = 0
        return 1.0 if n_gt == n_pred else 0.0
    precision = _matched(pred_b, gt_b, radius) / n_pred
    recall = _matched(gt_b, pred_b, radius) / n_gt
    total = precision + recall
    return 2 * precision * recall / total if total > 0 else 0.0


def _matched(points: np.ndarray, target: np.ndarray, radius: int) -> int:
    """How many ``points`` pixels have a ``target`` pixel within the disk of ``radius``.

    The disk holds the offsets (dy, dx) with dy^2 + dx^2 <= radius^2 (scikit-image ``disk``), so for
    each row offset dy the admissible dx form the interval [-k, k], k = isqrt(r^2 - dy^2): one
    lookup per row in the target's row prefix sums. Offsets outside the image find nothing (as
    cv2.dilate's default border).
    """
    h, w = target.shape
    y, x = np.nonzero(points)
    # prefix[r, c] = number of target pixels in row r left of column c
    prefix = np.zeros((h + 1, w + 1), dtype=np.int32)  # row h: an empty row for out-of-image rows
    np.cumsum(target, axis=1, dtype=np.int32, out=prefix[:h, 1:])
    dy = np.arange(-radius, radius + 1)
    k = np.array([math.isqrt(radius * radius - d * d) for d in dy])
    rows = y[:, None] + dy[None, :]  # (P, 2r+1)
    rows = np.where((rows >= 0) & (rows < h), rows, h)
    hi = np.minimum(x[:, None] + k[None, :] + 1, w)
    lo = np.maximum(x[:, None] - k[None, :], 0)
    found = prefix[rows, hi] > prefix[rows, lo]
    return int(np.count_nonzero(found.any(axis=1)))


@dataclass(frozen=True)
class Statistics:
    """Mean, recall (fraction above 0.5) and decay of per-frame scores, fractions in [0, 1]."""

    mean: float
    recall: float
    decay: float

    def to_json(self) -> dict[str, float]:
        return {"mean": self.mean, "recall": self.recall, "decay": self.decay}


def db_statistics(values: np.ndarray) -> Statistics:
    """DAVIS ``db_statistics`` of one object's per-frame scores.

    Decay uses four bins cut as DAVIS does: ``ids = round(linspace(1, n, 5)) - 1`` and bin ``i`` is
    ``values[ids[i] : ids[i + 1] + 1]`` (neighbouring bins share their boundary frame); decay is the
    mean of the first bin minus the mean of the last. DAVIS stores ``ids`` as uint8, which wraps
    past 256 frames; here they are plain integers (identical below that length).
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise InvalidInputError("db_statistics needs at least one per-frame value")
    ids = (np.round(np.linspace(1, v.size, 5) + 1e-10) - 1).astype(np.int64)
    first = v[ids[0] : ids[1] + 1]
    last = v[ids[3] : ids[4] + 1]
    return Statistics(
        mean=float(np.nanmean(v)),
        recall=float(np.mean(v > 0.5)),
        decay=float(np.nanmean(first) - np.nanmean(last)),
    )


def _check_pair(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gt = np.asarray(gt, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    if gt.shape != pred.shape:
        raise InvalidInputError(
            f"gt and pred must have the same shape, got {gt.shape} and {pred.shape}"
        )
    if gt.ndim < 2:
        raise InvalidInputError(f"masks must be at least 2-D (..., H, W), got shape {gt.shape}")
    return gt, pred
