"""SA-V masklet files (``<video>_manual.json`` and ``<video>_auto.json``): the one document type that
reads them, computes their per-masklet fields and writes them, for the studio's export and import and
for ``samstream auto-video`` / ``batch auto-video``.

An SA-V video is 24 fps; its masklets are annotated on every 4th frame (6 fps), starting at frame 0.
The file holds the video's fields (``video_*``) and, per masklet, parallel lists (``masklet_*``);
``masklet`` itself is a list over annotated frames, each a list with one COCO RLE
(``{"size": [H, W], "counts": str}``) per masklet.

The per-masklet fields follow SA-V's own files (``sav_000001_*.json``, checked by the tests against
the masks they hold): ``masklet_first_appeared_frame`` is the first annotated frame where the mask is
not empty, counted in annotated frames; ``masklet_frame_count`` is the number of annotated frames;
``masklet_size_abs`` is the mean area over the annotated frames where the masklet is visible
(``masklet_size_rel``: that over H * W), bucketed at COCO's 32² and 96² pixels; visibility changes are
counted from the first appearance on.

The manual and automatic files differ on purpose in three ways, which :meth:`SavVideo.to_dict`
reproduces from the document's ``kind``:

* ``masklet_first_appeared_frame``: floats in manual files, ints in automatic ones;
* ``masklet_stability_score``: one ``null`` per masklet in manual files; in automatic ones a list over
  annotated frames of one score per masklet;
* ``masklet_size_rel`` / ``masklet_size_abs``: rounded to 10 decimals in manual files, full
  precision in automatic ones.

``video_environment`` ("Indoor" / "Outdoor" in SA-V) and ``video_split`` are empty strings when not
known, which is what samstream's own writers know of a user's video.

Decoding masks and computing areas from RLEs needs pycocotools (``pip install samstream[coco]``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from samstream.errors import InvalidInputError
from samstream.files import write_json
from samstream.io.labels import write_label_png
from samstream.io.rle import decode_rles, rle_areas

__all__ = ["ANNOTATION_STRIDE", "AUTO", "MANUAL", "SavMasklet", "SavVideo", "load_sav_annotation",
           "masklet_fields", "parse_sav"]

VIDEO_FPS = 24
ANNOTATION_FPS = 6
ANNOTATION_STRIDE = VIDEO_FPS // ANNOTATION_FPS  # annotated frames are video frames 0, 4, 8, ...
MANUAL, AUTO = "manual", "auto"
SMALL_AREA, LARGE_AREA = 32**2, 96**2  # COCO's area buckets, which SA-V's size buckets follow
MANUAL_DECIMALS = 10  # the manual files' sizes are rounded to 10 decimals; the automatic ones are not


@dataclass(frozen=True)
class MaskletFields:
    """The per-masklet fields SA-V computes from the masks (see the module docstring)."""

    first_appeared_frame: int  # index among annotated frames (0 when never visible)
    visibility_changes: int
    size_abs: float  # mean visible area in pixels (0.0 when never visible)
    size_rel: float  # size_abs / (H * W)
    size_bucket: str  # "small", "medium" or "large"


def masklet_fields(areas: Sequence[int] | np.ndarray, hw: tuple[int, int]) -> MaskletFields:
    """SA-V's per-masklet fields of a masklet with pixel ``areas`` on its annotated frames in an
    ``(H, W)`` video."""
    areas = np.asarray(areas, dtype=np.float64).reshape(-1)
    visible = areas > 0
    first = int(np.argmax(visible)) if visible.any() else 0
    size = float(areas[visible].mean()) if visible.any() else 0.0
    bucket = "small" if size < SMALL_AREA else "medium" if size < LARGE_AREA else "large"
    changes = int(np.count_nonzero(visible[first + 1:] != visible[first:-1])) if visible.size else 0
    return MaskletFields(first, changes, size, size / (hw[0] * hw[1]), bucket)


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

    @classmethod
    def from_rles(cls, masklet_id: int, rles: Sequence[dict[str, Any]], hw: tuple[int, int], kind: str,
                  areas: Sequence[int] | None = None, edited_frame_count: int = 0,
                  stability_scores: Sequence[float] | None = None) -> SavMasklet:
        """A masklet of ``kind`` (``"manual"`` or ``"auto"``) with its fields computed from its masks.

        Args:
            masklet_id: its id in the file (SA-V numbers them 0, 1, ...).
            rles: one COCO RLE per annotated frame (an empty mask where the object is not visible).
            hw: the video's ``(H, W)``.
            kind: the document kind, also the masklet's ``masklet_type``.
            areas: the pixel count of each RLE when the caller already has it (else computed from the
                RLEs with pycocotools).
            edited_frame_count: annotated frames a person edited (0 for automatic masklets).
            stability_scores: one score per annotated frame; required for ``"auto"``, refused for
                ``"manual"`` (manual files hold none).

        Returns:
            The masklet, its statistics following the rules in the module docstring.
        """
        _check_kind(kind)
        if (stability_scores is None) != (kind == MANUAL):
            raise InvalidInputError(f"stability_scores: automatic masklets need one score per annotated frame and "
                                    f"manual ones take none; got {stability_scores!r} for kind {kind!r}")
        if areas is None:
            areas = rle_areas(rles)
        if len(areas) != len(rles):
            raise InvalidInputError(f"areas: expected one per RLE ({len(rles)}), got {len(areas)}")
        fields = masklet_fields(areas, hw)
        return cls(masklet_id=int(masklet_id), masklet_type=kind, rles=tuple(rles),
                   first_appeared_frame=fields.first_appeared_frame, frame_count=len(rles),
                   edited_frame_count=int(edited_frame_count), visibility_changes=fields.visibility_changes,
                   size_rel=fields.size_rel, size_abs=fields.size_abs, size_bucket=fields.size_bucket,
                   stability_scores=None if stability_scores is None else tuple(float(s) for s in stability_scores))

    def mask(self, index: int) -> np.ndarray:
        """Bool ``(H, W)`` mask on annotated frame ``index`` (video frame ``index * stride``)."""
        return decode_rles([self.rles[index]])[0]

    def masks(self) -> np.ndarray:
        """Bool ``(T, H, W)`` masks on all annotated frames."""
        return decode_rles(list(self.rles))

    def areas(self) -> np.ndarray:
        """Pixel count on each annotated frame, ``(T,)`` int64 (computed without decoding)."""
        return rle_areas(self.rles)


@dataclass(frozen=True)
class SavVideo:
    """The masklet file of one SA-V video: ``kind`` ``"manual"`` or ``"auto"`` decides the form of the
    fields the two kinds write differently (see the module docstring)."""

    video_id: str
    height: int
    width: int
    frame_count: int  # frames of the video
    duration: float  # seconds
    environment: str
    split: str
    masklets: tuple[SavMasklet, ...]
    kind: str = MANUAL
    stride: int = ANNOTATION_STRIDE  # annotated frames are video frames 0, stride, 2 * stride, ... (not in the file)

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        if isinstance(self.stride, bool) or not isinstance(self.stride, int) or self.stride < 1:
            raise InvalidInputError(f"stride: expected an integer >= 1, got {self.stride!r}")
        lengths = {len(m.rles) for m in self.masklets}
        if len(lengths) > 1:
            raise InvalidInputError(f"masklets: every masklet needs one RLE per annotated frame; lengths {sorted(lengths)}")
        for m in self.masklets:
            if (m.stability_scores is None) != (self.kind == MANUAL) or (
                    m.stability_scores is not None and len(m.stability_scores) != len(m.rles)):
                raise InvalidInputError(f"masklets: masklet {m.masklet_id} of a {self.kind} file needs "
                                        f"{'no stability scores' if self.kind == MANUAL else 'one stability score per annotated frame'}")

    @property
    def num_annotated_frames(self) -> int:
        """Annotated frames: the masklets' RLE count, or for a file without masklets every
        ``stride``-th frame of the video."""
        if self.masklets:
            return len(self.masklets[0].rles)
        return math.ceil(self.frame_count / self.stride)

    def annotated_frames(self) -> list[int]:
        """Video frame index of each annotated frame (0, 4, 8, ... at SA-V's stride)."""
        return [i * self.stride for i in range(self.num_annotated_frames)]

    def masks(self, index: int) -> np.ndarray:
        """Bool ``(num_masklets, H, W)`` masks on annotated frame ``index``."""
        if not self.masklets:
            return np.zeros((0, self.height, self.width), dtype=bool)
        return decode_rles([m.rles[index] for m in self.masklets])

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, key for key and type for type as SA-V's own file of this ``kind``."""
        h, w, ms = self.height, self.width, self.masklets
        manual = self.kind == MANUAL

        def size(value: float) -> float:
            return round(value, MANUAL_DECIMALS) if manual else value

        if manual:
            stability: list[Any] = [None] * len(ms)
        else:
            stability = [[m.stability_scores[i] for m in ms]  # type: ignore[index]
                         for i in range(self.num_annotated_frames)]
        return {
            "video_id": self.video_id, "video_duration": float(self.duration),
            "video_frame_count": float(self.frame_count), "video_height": float(h), "video_width": float(w),
            "video_resolution": float(h * w), "video_environment": self.environment, "video_split": self.split,
            "masklet": [[m.rles[i] for m in ms] for i in range(self.num_annotated_frames)],
            "masklet_id": [m.masklet_id for m in ms],
            "masklet_size_rel": [size(m.size_rel) for m in ms],
            "masklet_size_abs": [size(m.size_abs) for m in ms],
            "masklet_size_bucket": [m.size_bucket for m in ms],
            "masklet_visibility_changes": [m.visibility_changes for m in ms],
            "masklet_first_appeared_frame": [float(m.first_appeared_frame) if manual else m.first_appeared_frame
                                             for m in ms],
            "masklet_frame_count": [m.frame_count for m in ms],
            "masklet_edited_frame_count": [m.edited_frame_count for m in ms],
            "masklet_type": [m.masklet_type for m in ms],
            "masklet_stability_score": stability,
            "masklet_num": len(ms),
        }

    def write(self, path: str | Path) -> Path:
        """Write the document to ``path`` (atomically, compact JSON as SA-V's files); returns the path."""
        return write_json(path, self.to_dict(), indent=None)

    def write_png_folders(self, root: str | Path) -> Path:
        """Write the SA-V evaluation layout ``root/<video>/<masklet_id:03d>/<frame:05d>.png``.

        One binary indexed PNG (0 background, 1 object) per masklet and annotated frame, named by
        the video frame index, as in SA-V's ``Annotations_6fps``. Returns the video folder (made even
        when there is no masklet).
        """
        video_dir = Path(root) / self.video_id
        video_dir.mkdir(parents=True, exist_ok=True)
        for masklet in self.masklets:
            masks = masklet.masks()
            for index, frame in enumerate(self.annotated_frames()):
                path = video_dir / f"{masklet.masklet_id:03d}" / f"{frame:05d}.png"
                write_label_png(path, masks[index].astype(np.uint8))
        return video_dir


def load_sav_annotation(path: str | Path, stride: int = ANNOTATION_STRIDE) -> SavVideo:
    """Read one SA-V masklet JSON file (annotated every ``stride``-th frame) into a :class:`SavVideo`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"cannot read SA-V annotation {path}: {e}") from e
    return parse_sav(data, stride, source=str(path))


def parse_sav(data: Any, stride: int = ANNOTATION_STRIDE, source: str = "document") -> SavVideo:
    """An SA-V masklet document already parsed from JSON (a dict) as a :class:`SavVideo`.

    Args:
        data: the document.
        stride: video frames between annotated frames (SA-V: 4).
        source: what to call the document in an error (a path).

    Returns:
        The video; its ``kind`` is ``"auto"`` when ``masklet_stability_score`` is a per-frame list,
        else ``"manual"``.

    Raises:
        InvalidInputError: ``data`` does not have SA-V's fields and layout.
    """
    try:
        return _parse(data, stride)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise InvalidInputError(f"{source} is not an SA-V annotation file: {e!r}") from e


def _parse(data: dict[str, Any], stride: int) -> SavVideo:
    num = int(data["masklet_num"])
    frames = data["masklet"]  # [annotated frame][masklet] -> RLE
    if len(data["masklet_id"]) != num or any(len(f) != num for f in frames):
        raise ValueError(f"masklet lists do not all hold masklet_num={num} entries")
    kind, stability = _stability_per_masklet(data.get("masklet_stability_score"), num, len(frames))
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
        kind=kind,
        stride=stride,
    )


def _stability_per_masklet(raw: Any, num: int, frames: int) -> tuple[str, list[tuple[float, ...] | None]]:
    """The file's kind and per-masklet score sequences from either form of ``masklet_stability_score``."""
    if raw is None or (len(raw) == num and all(s is None for s in raw)):
        return MANUAL, [None] * num
    if len(raw) == frames and all(isinstance(s, list) and len(s) == num for s in raw):  # [annotated frame][masklet]
        return AUTO, [tuple(float(s[j]) for s in raw) for j in range(num)]
    raise ValueError("masklet_stability_score is neither one null per masklet nor one list per annotated frame")


def _check_kind(kind: str) -> None:
    if kind not in (MANUAL, AUTO):
        raise InvalidInputError(f"kind: expected 'manual' or 'auto', got {kind!r}")
