"""The bookkeeping of automatic masklets, apart from any model: which generated masks are new, which
masklets have converged onto one object, and who owns a pixel.

Everything here works on boolean masks and logits given by the caller, so it is tested with
hand-built masks. :mod:`samstream.amg.video` runs the model and calls these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from samstream.errors import InvalidInputError

GRID_SIDE = 256  # masks are compared on a grid of at most this many pixels a side (cost, not accuracy)


@dataclass(frozen=True)
class MaskletOptions:
    """Settings of :class:`samstream.amg.video.VideoMaskGenerator` (see its module for the algorithm)."""

    keyframe_interval: int = 8  # run the mask generator on every n-th frame (frame 0 included)
    match_iou_thresh: float = 0.5  # a generated mask with this IoU with a tracked masklet is that masklet
    coverage_thresh: float = 0.7  # ... or with this fraction of its area covered by tracked masklets
    reanchor_iou: float | None = 1.0  # a masklet matched by a generated mask with IoU below this takes that mask
    revive_iou: float | None = 0.2  # a lost masklet whose last mask overlaps a new mask this much takes it
    max_absent_frames: int = 16  # a masklet absent (object score < 0) longer than this is closed
    merge_iou_thresh: float = 0.8  # two masklets whose masks overlap this much ...
    merge_window: int = 4  # ... on this many consecutive frames are one object: they merge
    track_backward: bool = False  # track each new masklet backward from the key frame that found it
    backward_frames: int | None = None  # how far back (default: keyframe_interval frames)
    scene_cut_threshold: float | None = None  # also a key frame where the frame changes this much (0-255)
    max_cond_frames: int = 4  # the streaming tracker's bound on conditioning frames per masklet

    def __post_init__(self) -> None:
        for name in ("keyframe_interval", "merge_window", "max_cond_frames"):
            _positive_int(getattr(self, name), name)
        if isinstance(self.max_absent_frames, bool) or not isinstance(self.max_absent_frames, int) \
                or self.max_absent_frames < 0:
            raise InvalidInputError(f"max_absent_frames: expected an integer >= 0, got {self.max_absent_frames!r}")
        for name in ("match_iou_thresh", "coverage_thresh", "merge_iou_thresh"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
                raise InvalidInputError(f"{name}: expected a number in (0, 1], got {value!r}")
        anchor = self.reanchor_iou
        if anchor is not None and (isinstance(anchor, bool) or not isinstance(anchor, (int, float))
                                   or not self.match_iou_thresh <= anchor <= 1.0):
            raise InvalidInputError(f"reanchor_iou: expected None or a number in [match_iou_thresh, 1], got {anchor!r}")
        revive = self.revive_iou
        if revive is not None and (isinstance(revive, bool) or not isinstance(revive, (int, float))
                                   or not 0.0 < revive <= 1.0):
            raise InvalidInputError(f"revive_iou: expected None or a number in (0, 1], got {revive!r}")
        if self.backward_frames is not None:
            _positive_int(self.backward_frames, "backward_frames")
        if not isinstance(self.track_backward, bool):
            raise InvalidInputError(f"track_backward: expected True or False, got {self.track_backward!r}")
        cut = self.scene_cut_threshold
        if cut is not None and (isinstance(cut, bool) or not isinstance(cut, (int, float))
                                or not math.isfinite(cut) or cut <= 0):
            raise InvalidInputError(f"scene_cut_threshold: expected a positive number or None, got {cut!r}")

    @property
    def backward_reach(self) -> int:
        """Frames before a key frame that a new masklet is tracked back into (0 without backward tracking)."""
        if not self.track_backward:
            return 0
        return self.backward_frames if self.backward_frames is not None else self.keyframe_interval

    @property
    def delay(self) -> int:
        """Frames a result waits before it is final: merges and backward tracking may still change it."""
        return max(self.merge_window, self.backward_reach)


def _positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name}: expected a positive integer, got {value!r}")


@dataclass
class Masklet:
    """One tracked object: where it was found and how its track ended."""

    masklet_id: int
    found_on: int  # the key frame whose generated mask started it
    first_frame: int  # its first frame (earlier than found_on when tracked backward)
    score: float  # the generator's predicted IoU of the mask that started it
    closed_on: int | None = None  # frame after which it was no longer tracked
    merged_into: int | None = None  # id of the masklet it was merged into
    absent: int = 0  # consecutive frames with object score < 0


def mask_grid(masks: Tensor | np.ndarray) -> Tensor:
    """(N, H, W) bool masks -> (N, P) float32 on a grid of at most GRID_SIDE pixels a side."""
    m = torch.as_tensor(masks)
    if m.ndim != 3:
        raise InvalidInputError(f"masks: expected shape (N, H, W), got {tuple(m.shape)}")
    step = max(1, math.ceil(max(m.shape[1:]) / GRID_SIDE))
    grid = m[:, ::step, ::step]
    return grid.reshape(grid.shape[0], grid.shape[1] * grid.shape[2]).float()


def cross_ious(a: Tensor, b: Tensor) -> Tensor:
    """(K, P) and (N, P) flat 0/1 masks -> (K, N) IoU of every pair (0 where both are empty)."""
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))


def explained(generated: Tensor, tracked: Tensor, iou_thresh: float, coverage_thresh: float) -> Tensor:
    """Which generated masks a tracked masklet already accounts for.

    ``generated`` (K, P) and ``tracked`` (N, P) are flat 0/1 grids (:func:`mask_grid`). A generated
    mask is explained when its IoU with some tracked mask is at least ``iou_thresh``, or when at
    least ``coverage_thresh`` of its area lies inside the union of the tracked masks (a part of a
    tracked object, or a region spanning tracked objects). Empty generated masks count as explained.
    Returns (K,) bool.
    """
    area = generated.sum(1)  # (K,)
    if tracked.shape[0] == 0:
        return area == 0
    iou = cross_ious(generated, tracked).amax(1)
    covered = (generated * (tracked.amax(0, keepdim=True) > 0)).sum(1)  # (K,)
    return (area == 0) | (iou >= iou_thresh) | (covered >= coverage_thresh * area)


def matches(generated: Tensor, tracked: Tensor, low: float, high: float) -> list[tuple[int, int]]:
    """One-to-one (generated, tracked) index pairs whose IoU lies in [low, high), best IoU first.

    A generated mask that agrees with a tracked masklet on identity (IoU at least ``low``) but not on
    shape (IoU below ``high``) is the generator's fresh view of a masklet that drifted: the caller
    re-anchors the masklet on it. Each mask and each masklet is used once (greedy by IoU, so a masklet
    takes the generated mask it overlaps most)."""
    if generated.shape[0] == 0 or tracked.shape[0] == 0:
        return []
    iou = cross_ious(generated, tracked)  # (K, N)
    pairs, used_g, used_t = [], set(), set()
    for flat in torch.argsort(iou.flatten(), descending=True).tolist():
        k, n = divmod(flat, iou.shape[1])
        value = float(iou[k, n])
        if value < low:
            break
        if k in used_g or n in used_t:
            continue
        used_g.add(k)
        used_t.add(n)
        if value < high:
            pairs.append((k, n))
    return pairs


def pair_ious(grid: Tensor) -> Tensor:
    """(N, P) flat 0/1 masks -> (N, N) IoU matrix (0 where both are empty)."""
    return cross_ious(grid, grid)


@dataclass
class MergeDetector:
    """Counts, per pair of masklets, the consecutive frames on which their masks overlap.

    A pair whose IoU stays at least ``iou_thresh`` for ``window`` frames in a row is reported once;
    the caller merges the younger masklet (larger id) into the older one.
    """

    iou_thresh: float
    window: int
    runs: dict[tuple[int, int], int] = field(default_factory=dict)

    def update(self, ids: list[int], grid: Tensor) -> list[tuple[int, int]]:
        """One frame: ``grid`` (N, P) masks of masklets ``ids``; returns (older, younger) pairs to merge."""
        ious = pair_ious(grid) if ids else torch.zeros(0, 0)
        runs: dict[tuple[int, int], int] = {}
        for i, j in zip(*torch.nonzero(torch.triu(ious >= self.iou_thresh, diagonal=1), as_tuple=True)):
            a, b = sorted((ids[int(i)], ids[int(j)]))
            runs[(a, b)] = self.runs.get((a, b), 0) + 1
        self.runs = runs  # a pair that drifted apart starts again from zero
        merges, gone = [], set()
        for (a, b), count in sorted(runs.items()):
            if count >= self.window and a not in gone and b not in gone:
                merges.append((a, b))
                gone.add(b)
        for pair in merges:
            self.runs.pop(pair, None)
        return merges

    def forget(self, masklet_id: int) -> None:
        self.runs = {p: c for p, c in self.runs.items() if masklet_id not in p}


@dataclass
class PixelOwners:
    """Who owns each pixel of one frame: the masklet with the highest positive logit.

    ``owner`` (H, W) int32 masklet ids (0: nobody) and ``best`` (H, W) float16 the owner's logit
    (-inf where nobody), so that a masklet tracked onto the frame later (backward) is compared with
    the owners by logit without keeping every masklet's logits.
    """

    owner: np.ndarray  # (H, W) int32
    best: np.ndarray  # (H, W) float16

    @staticmethod
    def from_logits(ids: list[int], logits: Tensor, hw: tuple[int, int]) -> "PixelOwners":
        """``logits`` (N, H, W) of masklets ``ids``."""
        if not ids:
            return PixelOwners(np.zeros(hw, np.int32), np.full(hw, -np.inf, np.float16))
        best, index = logits.max(0)  # (H, W)
        table = torch.tensor(ids, dtype=torch.int32)
        owner = torch.where(best > 0, table[index], torch.zeros_like(index, dtype=torch.int32))
        best = torch.where(best > 0, best, torch.full_like(best, -math.inf))
        return PixelOwners(owner.numpy(), best.to(torch.float16).numpy())

    def claim(self, masklet_id: int, logits: Tensor) -> None:
        """Give ``masklet_id`` the pixels where its (H, W) logits are positive and above the owner's."""
        lg = logits.numpy()
        win = (lg > 0) & (lg > self.best.astype(np.float32))
        self.owner[win] = masklet_id
        self.best[win] = lg[win].astype(np.float16)

    def relabel(self, old: int, new: int) -> None:
        self.owner[self.owner == old] = new


def stability(logits: Tensor, offset: float = 1.0) -> Tensor:
    """(N, H, W) logits -> (N,) IoU of the masks at +offset and -offset (1 where both are empty)."""
    hi = (logits > offset).flatten(1).sum(1)
    lo = (logits > -offset).flatten(1).sum(1)
    return torch.where(lo > 0, hi / lo.clamp(min=1), torch.ones_like(hi, dtype=torch.float32))


def thumbnail(rgb: np.ndarray, side: int = 32) -> np.ndarray:
    """A (side, side) float32 grey thumbnail of an (H, W, 3) uint8 frame, for scene-cut detection."""
    grey = torch.from_numpy(np.ascontiguousarray(rgb)).float().mean(-1)[None, None]  # (1, 1, H, W)
    return torch.nn.functional.adaptive_avg_pool2d(grey, side)[0, 0].numpy()
