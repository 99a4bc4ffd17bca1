"""Mask output formats, all written atomically (:mod:`samstream.files`: temporary file, then rename).

* DAVIS: one indexed PNG per frame, pixel value = object id (0 = background), DAVIS palette:
  ``<root>/<frame>.png``.
* SA-V: one folder per object, one indexed 0/1 PNG per frame: ``<root>/<obj:03d>/<frame>.png``.
* COCO RLE JSON lines: one JSON object per frame with every object's RLE, area, box and score.

Output folders (refusing to overwrite, staging a run's files) are :mod:`samstream.io.outputs`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from samstream.errors import InvalidInputError
from samstream.files import temporary_name, write_json
from samstream.io.labels import write_label_png
from samstream.io.outputs import prepare_output_dir  # noqa: F401  (a name samstream/demo.py imports)
from samstream.io.overlay import overlay
from samstream.io.rle import encode_rle
from samstream.video.frames.decode import write_video

__all__ = [
    "JsonLinesWriter",
    "TrackedFrame",
    "VideoMaskWriter",
    "label_map",
    "mask_bbox",
    "prepare_output_dir",
    "write_object_pngs",
    "tracked_frames",
    "write_tracking_run",
]


# the name samstream/demo.py imports; the writer is samstream.files.write_json


def label_map(obj_ids: Sequence[int], masks: np.ndarray, hw: tuple[int, int] | None = None) -> np.ndarray:
    """(N, H, W) bool masks -> (H, W) uint8 ids; where masks overlap the later object wins."""
    if len(obj_ids) == 0:
        if hw is None:
            raise InvalidInputError("masks: no objects and no size given")
        return np.zeros(hw, dtype=np.uint8)
    labels = np.zeros(masks.shape[1:], dtype=np.uint8)  # (H, W)
    for obj_id, mask in zip(obj_ids, masks):
        labels[mask] = obj_id
    return labels


def write_object_pngs(root: str | Path, frame_name: str, obj_ids: Sequence[int], masks: np.ndarray) -> list[Path]:
    """SA-V layout: ``<root>/<obj:03d>/<frame_name>.png`` holding 0/1 per object."""
    root = Path(root)
    return [write_label_png(root / f"{obj_id:03d}" / f"{frame_name}.png", mask.astype(np.uint8))
            for obj_id, mask in zip(obj_ids, masks)]


def mask_bbox(mask: np.ndarray) -> list[int]:
    """XYWH box of a boolean mask ([0, 0, 0, 0] when empty)."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return [0, 0, 0, 0]
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


class JsonLinesWriter:
    """JSON lines written to a temporary file and renamed onto ``path`` by :meth:`close`.

    ``close(commit=False)`` drops the file (a failed run leaves no partial file behind).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._tmp = temporary_name(self.path)
        self._file: IO[str] | None = open(self._tmp, "w", encoding="utf-8")
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            raise InvalidInputError(f"{self.path}: the writer is closed")
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        self.count += 1

    def close(self, commit: bool = True) -> None:
        if self._file is None:
            return
        self._file.close()
        self._file = None
        if commit:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "JsonLinesWriter":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(commit=exc_type is None)


class VideoMaskWriter:
    """Per-frame outputs of a tracking run under ``out``.

    ``masks/<frame>.png`` (DAVIS), optionally ``objects/<obj:03d>/<frame>.png`` (SA-V), and
    ``masks.jsonl`` with one COCO RLE record per frame.
    """

    DAVIS_DIR = "masks"
    SAV_DIR = "objects"
    JSONL = "masks.jsonl"

    def __init__(self, out: str | Path, per_object: bool = False) -> None:
        self.out = Path(out)
        self.per_object = per_object
        self.frames = 0
        self._jsonl = JsonLinesWriter(self.out / self.JSONL)

    @classmethod
    def output_names(cls, per_object: bool) -> list[str]:
        return [cls.DAVIS_DIR + "/", cls.JSONL] + ([cls.SAV_DIR + "/"] if per_object else [])

    def write(self, frame_idx: int, frame_name: str, obj_ids: Sequence[int], masks: np.ndarray,
              scores: Sequence[float], hw: tuple[int, int]) -> dict[str, Any]:
        """Write one frame: ``masks`` (N, H, W) bool for ``obj_ids``; returns the JSON record."""
        write_label_png(self.out / self.DAVIS_DIR / f"{frame_name}.png", label_map(obj_ids, masks, hw))
        if self.per_object:
            write_object_pngs(self.out / self.SAV_DIR, frame_name, obj_ids, masks)
        objects = []
        for obj_id, mask, score in zip(obj_ids, masks, scores):
            objects.append({"obj_id": int(obj_id), "area": int(mask.sum()), "bbox": mask_bbox(mask),
                            "object_score": None if np.isnan(score) else round(float(score), 4),
                            "segmentation": encode_rle(mask)})
        record = {"frame": int(frame_idx), "name": frame_name, "height": hw[0], "width": hw[1], "objects": objects}
        self._jsonl.write(record)
        self.frames += 1
        return record

    def close(self, commit: bool = True) -> None:
        self._jsonl.close(commit)


@dataclass
class TrackedFrame:
    """One frame of a tracking run, ready to be written."""

    frame_idx: int
    name: str  # file stem of the frame's outputs, e.g. "00012"
    image: np.ndarray  # (H, W, 3) uint8 RGB frame
    obj_ids: list[int]
    masks: np.ndarray  # (N, H, W) bool
    scores: list[float]  # (N,) object-presence logits (NaN where an object has no output)


def write_tracking_run(out: str | Path, frames: Iterable[TrackedFrame], per_object: bool = False,
                       video: str | None = "overlay.mp4", fps: float = 24.0,
                       on_frame: Callable[[dict[str, Any]], None] | None = None) -> int:
    """Write every frame's masks (see :class:`VideoMaskWriter`) and, if ``video``, an overlay MP4.

    Files are complete at every moment: PNGs and the MP4 appear under their names only when whole,
    and ``masks.jsonl`` is renamed into place at the end (also when the run stops with an error;
    it then covers the frames written so far). Returns the number of frames written.
    """
    out = Path(out)
    writer = VideoMaskWriter(out, per_object)

    def overlays() -> Iterator[np.ndarray]:
        for f in frames:
            record = writer.write(f.frame_idx, f.name, f.obj_ids, f.masks, f.scores, f.image.shape[:2])
            if on_frame is not None:
                on_frame(record)
            yield overlay(f.image, dict(zip(f.obj_ids, f.masks)))

    try:
        if video is not None:
            write_video(out / video, overlays(), fps)
        else:
            for _ in overlays():
                pass
    finally:
        writer.close(commit=True)
    return writer.frames



def tracked_frames(frames: Any, results: Iterable[Any], stop: Any = None) -> Iterator[TrackedFrame]:
    """Video FrameResults as :class:`TrackedFrame` (images and names from the FrameSource ``frames``).

    Ends after the current frame once ``stop`` is truthy (a flag set by Ctrl-C).
    """
    for r in results:
        yield TrackedFrame(r.frame_idx, frames.names[r.frame_idx], frames.raw(r.frame_idx),
                           list(r.obj_ids), r.masks.numpy(), r.object_scores.tolist())
        if stop:
            return
