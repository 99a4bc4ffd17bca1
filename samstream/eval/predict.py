"""Semi-supervised video object segmentation over a dataset: the predictions the evaluators score.

For each video, every object is given to :class:`~samstream.VideoPredictor` as its ground-truth mask
(``session.add_mask``) on the first annotated frame where it shows, and tracked from there to the
last frame:

* ``davis``: only the first annotated frame is input (later annotations are what is scored);
* ``sav`` and ``ytvos``: every annotated frame is read, and an object first seen on a later frame
  is added there (YouTube-VOS objects often appear late).

Objects appearing later are added between propagation segments: the video is tracked up to the
frame before the next object's first frame, the new object is added there, and tracking goes on
from that frame. No object is ever tracked before its first frame (its masks there are empty), so
each object's result equals tracking it alone from its first frame.

Outputs (the layouts :func:`~samstream.eval.evaluate_davis` and :func:`~samstream.eval.evaluate_sav`
read), one file per frame of the video, named after the frame::

    davis, ytvos   <out>/<video>/<frame>.png          indexed PNG (DAVIS palette), 0 = background
    sav            <out>/<video>/<obj:03d>/<frame>.png binary PNG per object (0 / 1)

Where objects overlap in a label map, a pixel goes to the object with the highest logit.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from samstream.data.video_datasets import ObjectPrompt, VideoDataset, VideoEntry
from samstream.errors import InvalidInputError
from samstream.io.labels import write_label_png
from samstream.video.predictor import FrameResult, VideoPredictor, VideoSession

__all__ = ["PredictSummary", "predict_dataset", "predict_video", "write_frame"]


@dataclass(frozen=True)
class PredictSummary:
    videos: int
    frames: int
    objects: int
    seconds: float


def predict_dataset(
    predictor: VideoPredictor,
    dataset: VideoDataset,
    out_dir: str | Path,
    progress: bool = True,
) -> PredictSummary:
    """Predict every video of ``dataset`` into ``out_dir`` (see the module docstring)."""
    start = time.perf_counter()
    frames = objects = 0
    bar = tqdm(dataset, desc="videos", unit="video", disable=not progress)
    for entry in bar:
        bar.set_postfix_str(entry.name)
        n_frames, n_objects = predict_video(predictor, entry, Path(out_dir), dataset.fmt, progress)
        frames, objects = frames + n_frames, objects + n_objects
    return PredictSummary(len(dataset), frames, objects, time.perf_counter() - start)


def predict_video(
    predictor: VideoPredictor, entry: VideoEntry, out_dir: Path, fmt: str, progress: bool = False
) -> tuple[int, int]:
    """Track one video's annotated objects and write every frame; returns (frames, objects)."""
    prompts = entry.object_prompts(first_frame_only=fmt == "davis")
    if fmt != "sav" and any(not 0 < p.obj_id < 256 for p in prompts):
        raise InvalidInputError(f"video {entry.name!r}: object ids must be in [1, 255] for label PNGs")
    obj_ids = [p.obj_id for p in prompts]
    video_out = out_dir / entry.name
    video_out.mkdir(parents=True, exist_ok=True)
    names = entry.frame_names
    with predictor.open(list(entry.frame_paths)) as session:
        bar = tqdm(total=len(names), desc=entry.name, unit="frame", leave=False, disable=not progress)
        for result in _track(session, prompts):
            write_frame(video_out, names[result.frame_idx], result, obj_ids, session.video_size, fmt)
            bar.update(1)
        bar.close()
    return len(names), len(prompts)


def _track(session: VideoSession, prompts: list[ObjectPrompt]) -> Iterable[FrameResult]:
    """Results of every frame in order; objects join on their first frame (see module docstring)."""
    n = session.num_frames
    by_frame: dict[int, list[ObjectPrompt]] = defaultdict(list)
    for p in prompts:
        by_frame[p.frame_idx].append(p)
    starts = sorted(by_frame)
    first = starts[0] if starts else n
    h, w = session.video_size
    for t in range(first):  # no object yet
        yield FrameResult(t, [], torch.zeros(0, h, w), torch.zeros(0))
    for i, start in enumerate(starts):
        for p in by_frame[start]:
            session.add_mask(start, p.obj_id, p.mask)
        end = starts[i + 1] - 1 if i + 1 < len(starts) else n - 1
        yield from session.propagate(start=start, max_frames=end - start + 1)


def write_frame(
    video_out: Path, name: str, result: FrameResult, obj_ids: list[int], hw: tuple[int, int], fmt: str
) -> None:
    """Write one frame's masks; objects not in ``result`` yet are written as empty."""
    masks = result.masks.numpy()  # (N, H, W) bool
    if fmt == "sav":
        for obj_id in obj_ids:
            mask = masks[result.obj_ids.index(obj_id)] if obj_id in result.obj_ids else np.zeros(hw, bool)
            write_label_png(video_out / f"{obj_id:03d}" / f"{name}.png", mask.astype(np.uint8))
        return
    labels = np.zeros(hw, dtype=np.uint8)
    if result.obj_ids:
        logits = result.logits.numpy()  # (N, H, W)
        best = logits.argmax(axis=0)  # (H, W)
        ids = np.asarray(result.obj_ids, dtype=np.uint8)
        labels = np.where(logits.max(axis=0) > 0, ids[best], 0).astype(np.uint8)
    write_label_png(video_out / f"{name}.png", labels)
