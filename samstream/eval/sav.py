"""SA-V evaluation (the protocol of SAM 2's ``sav_benchmark.py``) of a folder of predicted PNGs.

Two ground-truth layouts are accepted, per video:

* SA-V: one folder per object, one binary PNG per annotated frame:
  ``<gt_root>/<video>/<obj:03d>/<frame>.png``, predictions mirrored as
  ``<pred_root>/<video>/<obj:03d>/<frame>.png`` (any nonzero pixel is the object);
* DAVIS-style: one multi-label PNG per annotated frame, ``<gt_root>/<video>/<frame>.png``, and the
  same under ``<pred_root>``.

Protocol:

* only frames present in the ground truth are scored (predictions of other frames are ignored);
* the first and last annotated frame (of each object folder, or of the video in the DAVIS-style
  layout) are skipped unless ``keep_first_last``;
* an object is scored from the first scored frame where it shows up, in the ground truth or in the
  prediction; earlier frames are not scored;
* only objects present in the ground truth (on a scored frame) are averaged; every object weighs the
  same, whatever its video;
* ``strict``: every ground-truth video must have a prediction folder, no prediction folder may lack
  a ground truth, and every scored frame must have a prediction file. Otherwise only videos present
  on both sides are scored and a missing prediction frame counts as an empty mask.

Per object, the mean (and the DAVIS recall and decay) of J and F over its scored frames; the summary
averages them over all objects, ``J&F`` being the mean of J-mean and F-mean.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from samstream.errors import InvalidInputError
from samstream.io.labels import list_pngs, read_label_png
from samstream.eval.metrics import BOUND_TH, boundary_f, jaccard
from samstream.eval.pool import map_tasks
from samstream.eval.results import EvalResult, ObjectScores, Protocol

__all__ = ["evaluate_sav", "score_sav_video"]


def evaluate_sav(
    pred_root: str | Path,
    gt_root: str | Path,
    *,
    keep_first_last: bool = False,
    strict: bool = True,
    workers: int = 1,
    bound_th: float = BOUND_TH,
) -> EvalResult:
    """Score the predictions under ``pred_root`` against SA-V style ground truth under ``gt_root``.

    Args:
        pred_root: one folder per video, mirroring the ground truth layout.
        gt_root: one folder per video (e.g. SA-V's ``Annotations_6fps``).
        keep_first_last: also score the first and last annotated frame.
        strict: require the same videos on both sides and every scored prediction frame.
        workers: processes scoring videos in parallel.
        bound_th: boundary tolerance of F (fraction of the diagonal).
    """
    gt_root, pred_root = Path(gt_root), Path(pred_root)
    gt_videos = _subfolders(gt_root)
    pred_videos = _subfolders(pred_root)
    if not gt_videos:
        raise InvalidInputError(f"no video folder under {gt_root}")
    if strict:
        lacking, extra = sorted(gt_videos - pred_videos), sorted(pred_videos - gt_videos)
        if lacking or extra:
            raise InvalidInputError(
                f"strict evaluation: videos without predictions {lacking}, "
                f"predictions without ground truth {extra}"
            )
        videos = sorted(gt_videos)
    else:
        videos = sorted(gt_videos & pred_videos)
        if not videos:
            raise InvalidInputError(f"no video of {gt_root} has a prediction folder in {pred_root}")
    tasks = [(v, gt_root / v, pred_root / v) for v in videos]
    fn = partial(_score_task, keep_first_last=keep_first_last, strict=strict, bound_th=bound_th)
    scores = [obj for video_scores in map_tasks(fn, tasks, workers) for obj in video_scores]
    left_out = "none but those before an object shows up" if keep_first_last else \
        "the first and last annotated frame of every object, and those before it shows up"
    return EvalResult.from_scores(scores, Protocol("SA-V", str(gt_root), left_out))


def score_sav_video(
    video: str,
    gt_dir: str | Path,
    pred_dir: str | Path,
    *,
    keep_first_last: bool = False,
    strict: bool = True,
    bound_th: float = BOUND_TH,
) -> list[ObjectScores]:
    """Per-frame J and F of each ground-truth object of one video, in either layout."""
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    object_dirs = sorted(p.name for p in gt_dir.iterdir() if p.is_dir())
    if not object_dirs:  # DAVIS-style: multi-label PNGs
        frames = _scored_frames(gt_dir, keep_first_last)
        if not frames:
            return []
        gt = _read_stack(gt_dir, frames, strict=True)
        pred = _read_stack(pred_dir, frames, strict=strict, hw=gt.shape[1:])
        ids = np.unique(gt)
        return [
            _score_object(f"{video}_{k}", gt == k, pred == k, bound_th) for k in ids[ids != 0]
        ]
    scores = []
    for obj in object_dirs:  # SA-V: one folder of binary PNGs per object
        frames = _scored_frames(gt_dir / obj, keep_first_last)
        if not frames:
            continue
        gt = _read_stack(gt_dir / obj, frames, strict=True) > 0
        pred = _read_stack(pred_dir / obj, frames, strict=strict, hw=gt.shape[1:]) > 0
        if gt.any():
            scores.append(_score_object(f"{video}_{obj}", gt, pred, bound_th))
    return scores


def _score_object(name: str, gt: np.ndarray, pred: np.ndarray, bound_th: float) -> ObjectScores:
    """Score (T, H, W) masks from the first frame where either side shows the object."""
    shown = gt.any(axis=(1, 2)) | pred.any(axis=(1, 2))
    start = int(np.argmax(shown)) if shown.any() else len(shown)
    gt, pred = gt[start:], pred[start:]
    return ObjectScores(name, jaccard(gt, pred), boundary_f(gt, pred, bound_th))


def _scored_frames(folder: Path, keep_first_last: bool) -> list[str]:
    frames = list_pngs(folder)
    return frames if keep_first_last else frames[1:-1]


def _read_stack(
    folder: Path, frames: list[str], *, strict: bool, hw: tuple[int, ...] | None = None
) -> np.ndarray:
    """(T, H, W) label maps of ``frames``; without ``strict`` a missing file is an empty map."""
    maps: list[np.ndarray | None] = []
    for frame in frames:
        path = folder / frame
        if path.is_file():
            labels = read_label_png(path)
            if hw is not None and labels.shape != tuple(hw):
                raise InvalidInputError(
                    f"{path} has shape {labels.shape}, the ground truth has {tuple(hw)}"
                )
            hw = labels.shape
            maps.append(labels)
        elif strict:
            raise InvalidInputError(f"missing prediction {path} (strict evaluation)")
        else:
            maps.append(None)
    if hw is None:
        raise InvalidInputError(f"no frame to read in {folder}")
    dtype = np.result_type(np.uint8, *(m.dtype for m in maps if m is not None))
    stack = np.zeros((len(frames), *hw), dtype=dtype)
    for i, m in enumerate(maps):
        if m is not None:
            stack[i] = m
    return stack


def _subfolders(root: Path) -> set[str]:
    if not root.is_dir():
        raise InvalidInputError(f"{root} is not a folder")
    return {p.name for p in root.iterdir() if p.is_dir()}


def _score_task(
    task: tuple[str, Path, Path], keep_first_last: bool, strict: bool, bound_th: float
) -> list[ObjectScores]:
    video, gt_dir, pred_dir = task
    return score_sav_video(
        video, gt_dir, pred_dir, keep_first_last=keep_first_last, strict=strict, bound_th=bound_th
    )
