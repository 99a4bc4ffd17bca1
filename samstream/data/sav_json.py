"""Reader for SA-V annotation files (``<video>_manual.json`` and ``<video>_auto.json``).

An SA-V video is 24 fps; its masklets are annotated on every 4th frame (6 fps), starting at frame 0.
The file holds the video's fields (``video_*``) and, per masklet, parallel lists (``masklet_*``);
``masklet`` itself is a list over annotated frames, each a list with one COCO RLE
(``{"size": [H, W], "counts": str}``) per masklet. ``masklet_first_appeared_frame`` counts annotated
frames. ``masklet_stability_score`` is one ``None`` per manual masklet, and for automatic ones a
list over annotated frames of one score per masklet.

Decoding masks needs pycocotools (``pip install samstream[coco]``).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from samstream.errors import InvalidInputError
from samstream.io.labels import write_label_png
from samstream.io.rle import coco_mask_api

__all__ = ["ANNOTATION_STRIDE", "SavMasklet", "SavVideo", "load_sav_annotation"]

VIDEO_FPS = 24
ANNOTATION_FPS = 6
ANNOTATION_STRIDE = VIDEO_FPS // ANNOTATION_FPS  # annotated frames are video frames 0, 4, 8, ...


@dataclass(frozen=True)
class SavMasklet:
    """One masklet (an object tracked through the video) and its masks on the annotated frames."""

    masklet_id: int
    masklet_type: str  # "manual" or "auto"
    rles: tuple[dict[str, Any], ...]  # one COCO RLE per annotated frame
    first_appeared_frame: int  # index among annotated frames
    frame_count: int  # annotated frames of the masklet
    edited_frame_count: int
    visibility_changes: int
    size_rel: float  # mean visible area / (H * W)
    size_abs: float  # mean visible area in pixels
    size_bucket: str  # "small", "medium" or "large"
    stability_scores: tuple[float, ...] | None  # per annotated frame (automatic masklets only)

    def mask(self, index: int) -> np.ndarray:
        """Bool ``(H, W)`` mask on annotated frame ``index`` (video frame ``index * 4``)."""
        return _decode([self.rles[index]])[0]

    def masks(self) -> np.ndarray:
        """Bool ``(T, H, W)`` masks on all annotated frames."""
        return _decode(list(self.rles))

    def areas(self) -> np.ndarray:
        """Pixel count on each annotated frame, ``(T,)`` int64 (computed without decoding)."""
        return np.asarray(coco_mask_api().area([_rle(r) for r in self.rles]), dtype=np.int64)


@dataclass(frozen=True)
class SavVideo:
    """The annotation of one SA-V video."""

    video_id: str
    height: int
    width: int
    frame_count: int  # frames of the 24 fps video
    duration: float  # seconds
    environment: str
    split: str
    masklets: tuple[SavMasklet, ...]

    @property
    def num_annotated_frames(self) -> int:
        return len(self.masklets[0].rles) if self.masklets else 0

    def annotated_frames(self) -> list[int]:
        """Video frame index of each annotated frame (0, 4, 8, ...)."""
        return [i * ANNOTATION_STRIDE for i in range(self.num_annotated_frames)]

    def masks(self, index: int) -> np.ndarray:
        """Bool ``(num_masklets, H, W)`` masks on annotated frame ``index``."""
        if not self.masklets:
            return np.zeros((0, self.height, self.width), dtype=bool)
        return _decode([m.rles[index] for m in self.masklets])

    def write_png_folders(self, root: str | Path) -> Path:
        """Write the SA-V evaluation layout ``root/<video>/<masklet_id:03d>/<frame:05d>.png``.

        One binary indexed PNG (0 background, 1 object) per masklet and annotated frame, named by
        the video frame index, as in SA-V's ``Annotations_6fps``. Returns the video folder.
        """
        video_dir = Path(root) / self.video_id
        for masklet in self.masklets:
            masks = masklet.masks()
            for index, frame in enumerate(self.annotated_frames()):
                path = video_dir / f"{masklet.masklet_id:03d}" / f"{frame:05d}.png"
                write_label_png(path, masks[index].astype(np.uint8))
        return video_dir


def load_sav_annotation(path: str | Path) -> SavVideo:
    """Read one SA-V annotation JSON file into a :class:`SavVideo`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InvalidInputError(f"cannot read SA-V annotation {path}: {e}") from e
    try:
        return _parse(data)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise InvalidInputError(f"{path} is not an SA-V annotation file: {e!r}") from e


def _parse(data: dict[str, Any]) -> SavVideo:
    num = int(data["masklet_num"])
    frames = data["masklet"]  # [annotated frame][masklet] -> RLE
    if len(data["masklet_id"]) != num or any(len(f) != num for f in frames):
        raise ValueError(f"masklet lists do not all hold masklet_num={num} entries")
    stability = _stability_per_masklet(data.get("masklet_stability_score"), num)
    masklets = tuple(
        SavMasklet(
            masklet_id=int(data["masklet_id"][j]),
            masklet_type=str(data["masklet_type"][j]),
            rles=tuple(f[j] for f in frames),
            first_appeared_frame=int(data["masklet_first_appeared_frame"][j]),
            frame_count=int(data["masklet_frame_count"][j]),
            edited_frame_count=int(data["masklet_edited_frame_count"][j]),
            visibility_changes=int(data["masklet_visibility_changes"][j]),
            size_rel=float(data["masklet_size_rel"][j]),
            size_abs=float(data["masklet_size_abs"][j]),
            size_bucket=str(data["masklet_size_bucket"][j]),
            stability_scores=stability[j],
        )
        for j in range(num)
    )
    return SavVideo(
        video_id=str(data["video_id"]),
        height=int(data["video_height"]),
        width=int(data["video_width"]),
        frame_count=int(data["video_frame_count"]),
        duration=float(data["video_duration"]),
        environment=str(data.get("video_environment", "")),
        split=str(data.get("video_split", "")),
        masklets=masklets,
    )


def _stability_per_masklet(raw: Any, num: int) -> list[tuple[float, ...] | None]:
    """Per-masklet score sequences from either form of ``masklet_stability_score``."""
    if raw is None or (len(raw) == num and all(s is None for s in raw)):
        return [None] * num
    if all(isinstance(s, list) for s in raw):  # [annotated frame][masklet]
        return [tuple(float(s[j]) for s in raw) for j in range(num)]
    raise ValueError("masklet_stability_score has an unknown layout")


def _rle(rle: dict[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode()
    return {"size": list(rle["size"]), "counts": counts}


def _decode(rles: list[dict[str, Any]]) -> np.ndarray:
    """Bool ``(N, H, W)`` masks of COCO RLEs (one pycocotools call)."""
    mask_utils = coco_mask_api()
    with warnings.catch_warnings():
        # pycocotools' extension trips numpy 2's __array__(copy=...) deprecation; harmless
        warnings.simplefilter("ignore", DeprecationWarning)
        masks = mask_utils.decode([_rle(r) for r in rles])  # (H, W, N) uint8, Fortran order
    return np.ascontiguousarray(masks.transpose(2, 0, 1), dtype=bool)
