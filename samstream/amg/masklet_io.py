"""Files of an automatic-masklet run: per-frame JSON lines as frames become final, then the whole-video
formats (SA-V auto JSON, DAVIS unsupervised PNGs, YouTube-VIS RLE JSON) from those lines.

Layout under ``out``:

* ``masks.jsonl``: one line per frame, ``{"frame", "keyframe", "height", "width", "masklets": [{"id",
  "area", "bbox" (XYWH), "object_score", "stability", "segmentation" (COCO RLE)}]}`` for the masklets
  visible on it; written as frames arrive, so its memory does not grow with the video;
* ``<video>_auto.json``: the SA-V layout (``sav_000001_auto.json``, written by
  :class:`~samstream.data.sav_json.SavVideo`): one COCO RLE per masklet on every ``sav_every``-th frame
  (``masklet_id`` k is the k-th smallest id of ``masks.jsonl`` seen on those frames), with SA-V's
  per-masklet fields and per-frame stability scores;
* ``davis/<frame:05d>.png``: indexed PNGs for the DAVIS unsupervised protocol: the
  :data:`DAVIS_PROPOSALS` best masklets, as ids 1 (best) to 20, ranked by their **score**, the sum
  over the frames where a masklet is visible of its stability score (long-lived, stable masklets first;
  ties by id);
* ``ytvis.json``: YouTube-VIS style: one video, one annotation per masklet with a COCO RLE (or null)
  per frame, its areas, boxes and ``score`` (mean stability where visible).

The whole-video files read ``masks.jsonl`` back, so the masks are never all in memory as arrays;
the RLEs of the SA-V and YouTube-VIS files are, because each is one JSON document.

:func:`write_masklets` is one video's whole run (frames read, masklets generated, every file above
written, plus ``overlay.mp4``), the same for ``samstream auto-video`` and the batch jobs; its
settings are one :class:`MaskletRun`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from samstream.amg.video import MaskletFrame, VideoMaskGenerator
from samstream.data.sav_json import AUTO, SavMasklet, SavVideo
from samstream.errors import InvalidInputError
from samstream.files import write_json
from samstream.io.labels import write_label_png
from samstream.io.masks import JsonLinesWriter, mask_bbox
from samstream.io.overlay import overlay
from samstream.io.rle import decode_rle, encode_rle, encode_rles
from samstream.video.frames.decode import write_video
from samstream.video.frames.frame_stream import read_frames

JSONL = "masks.jsonl"
DAVIS_DIR = "davis"
YTVIS = "ytvis.json"
OVERLAY = "overlay.mp4"
DAVIS_PROPOSALS = 20


def output_names(video_id: str) -> list[str]:
    """The entries a run writes for ``video_id`` besides ``overlay.mp4`` (folders end in ``/``)."""
    return [JSONL, DAVIS_DIR + "/", YTVIS, sav_name(video_id)]


@dataclass(frozen=True)
class MaskletRun:
    """How one video is read and its files written (the masklets themselves are the generator's business)."""

    sav_every: int = 4  # annotate every n-th frame in the SA-V JSON (4: 6 fps from 24)
    max_frames: int | None = None  # stop after this many frames
    max_size: int | None = None  # shrink frames whose longer side exceeds this many pixels
    fps: float | None = None  # frame rate of the outputs (default: the video's, else 24)
    overlay: bool = True  # also write overlay.mp4

    def __post_init__(self) -> None:
        for name in ("sav_every", "max_frames"):
            value = getattr(self, name)
            if (value is not None or name == "sav_every") and (
                    isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidInputError(f"{name}: expected a positive integer, got {value!r}")
        if self.fps is not None and (isinstance(self.fps, bool) or not isinstance(self.fps, (int, float))
                                     or not math.isfinite(self.fps) or self.fps <= 0):
            raise InvalidInputError(f"fps: expected a positive number or None, got {self.fps!r}")
        if not isinstance(self.overlay, bool):
            raise InvalidInputError(f"overlay: expected True or False, got {self.overlay!r}")

    def output_names(self, video_id: str) -> list[str]:
        """The entries :func:`write_masklets` creates in its folder."""
        return output_names(video_id) + ([OVERLAY] if self.overlay else [])


def write_masklets(gen: VideoMaskGenerator, video: str | Path, out: Path, run: MaskletRun, stop: Any = None,
                   progress: Callable[[Iterable[MaskletFrame]], Iterable[MaskletFrame]] | None = None,
                   on_frame: Callable[[MaskletFrame, dict[str, Any]], None] | None = None) -> "MaskletWriter":
    """The automatic masklets of ``video`` (a file or frame folder, id: its stem) as the files of
    ``run.output_names`` in ``out``; returns the closed writer (``frames``, ``stats``).

    ``stop``: read before each frame; once truthy, the run ends there and the files cover the
    frames so far. ``progress`` wraps the stream of final frames (a progress bar); ``on_frame`` sees
    each with its ``masks.jsonl`` record. On an exception nothing is committed (``masks.jsonl``
    stays a temporary file) and the exception goes on: write into a staging folder.
    """
    video_id = Path(video).stem
    with read_frames(video, max_size=run.max_size) as frames:
        out.mkdir(parents=True, exist_ok=True)
        fps = run.fps or frames.fps or 24
        writer = MaskletWriter(out, video_id, fps, run.sav_every)
        final: Iterable[MaskletFrame] = gen.generate(_limited(frames, stop, run.max_frames))
        if progress is not None:
            final = progress(final)

        def written() -> Iterator[MaskletFrame]:
            for frame in final:
                record = writer.write(frame)
                if on_frame is not None:
                    on_frame(frame, record)
                yield frame

        try:
            if run.overlay:
                write_video(out / OVERLAY, (overlay(f.image, {i: f.labels == i for i in f.obj_ids})
                                            for f in written()), fps)
            else:
                for _ in written():
                    pass
        except BaseException:
            writer.close(commit=False)
            raise
        writer.close()  # masks.jsonl into place, then the whole-video files
    return writer


def _limited(frames: Iterable[np.ndarray], stop: Any, max_frames: int | None) -> Iterator[np.ndarray]:
    for i, frame in enumerate(frames):
        if stop or (max_frames is not None and i >= max_frames):
            return
        yield frame


def sav_name(video_id: str) -> str:
    """The SA-V file's name for ``video_id``: ``<video_id>_auto.json``, as SA-V names its automatic files."""
    return f"{video_id}_auto.json"


@dataclass
class _Stats:
    score: float = 0.0  # sum of stability where visible
    visible: int = 0


class MaskletWriter:
    """Writes ``masks.jsonl`` frame by frame; :meth:`close` writes the whole-video files."""

    def __init__(self, out: str | Path, video_id: str, fps: float, sav_every: int = 4) -> None:
        self.out = Path(out)
        self.video_id = video_id
        self.fps = fps
        self.sav_every = sav_every
        self.frames = 0
        self.hw: tuple[int, int] | None = None
        self.stats: dict[int, _Stats] = {}  # every masklet visible on some frame
        self.sav_masklets = 0  # those visible on an annotated frame (in the SA-V file), once closed
        self._jsonl = JsonLinesWriter(self.out / JSONL)

    def write(self, frame: MaskletFrame) -> dict[str, Any]:
        """One final frame; returns its JSON record."""
        self.hw = frame.labels.shape
        ids = [i for i in frame.obj_ids if (frame.labels == i).any()]
        masks = frame.labels[None] == np.asarray(ids, np.int32)[:, None, None]  # (N, H, W)
        items = []
        for obj_id, mask, rle in zip(ids, masks, encode_rles(masks)):
            stab = frame.stability.get(obj_id, 1.0)
            stats = self.stats.setdefault(obj_id, _Stats())
            stats.score += stab
            stats.visible += 1
            items.append({"id": int(obj_id), "area": int(mask.sum()), "bbox": mask_bbox(mask),
                          "object_score": round(frame.object_scores.get(obj_id, float("nan")), 4),
                          "stability": round(stab, 4), "segmentation": rle})
        record = {"frame": frame.frame_idx, "keyframe": frame.is_keyframe, "height": self.hw[0],
                  "width": self.hw[1], "masklets": items}
        self._jsonl.write(record)
        self.frames += 1
        return record

    def ranking(self) -> list[int]:
        """Masklet ids, best first (see the module docstring)."""
        return sorted(self.stats, key=lambda i: (-self.stats[i].score, i))

    def close(self, commit: bool = True) -> None:
        """Put ``masks.jsonl`` in place and write the whole-video files from it (``commit=False``: drop
        it and write nothing, after a failure).
        """
        self._jsonl.close(commit)
        if not commit or self.hw is None:
            return
        write_davis_pngs(self.out / JSONL, self.out / DAVIS_DIR, self.ranking()[:DAVIS_PROPOSALS], self.hw)
        sav = sav_auto_json(self.out / JSONL, self.video_id, self.frames, self.hw, self.fps, self.sav_every)
        sav.write(self.out / sav_name(self.video_id))
        self.sav_masklets = len(sav.masklets)
        write_json(self.out / YTVIS, ytvis_json(self.out / JSONL, self.video_id, self.frames, self.hw), indent=None)


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON records of a ``masks.jsonl`` file, one per frame, read one line at a time."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def write_davis_pngs(jsonl: Path, folder: Path, ranked: list[int], hw: tuple[int, int]) -> None:
    """Label PNGs with ``ranked[k]`` as id k + 1 (masks are disjoint, so the order of painting is free)."""
    rank = {obj_id: k + 1 for k, obj_id in enumerate(ranked)}
    for rec in read_records(jsonl):
        labels = np.zeros(hw, np.uint8)
        for item in rec["masklets"]:
            if item["id"] in rank:
                labels[decode_rle(item["segmentation"])] = rank[item["id"]]
        write_label_png(folder / f"{rec['frame']:05d}.png", labels)


def sav_auto_json(jsonl: Path, video_id: str, num_frames: int, hw: tuple[int, int], fps: float,
                  every: int) -> SavVideo:
    """The SA-V automatic masklet file of the frames ``0, every, 2 * every, ...`` of ``masks.jsonl``.

    A masklet's stability on an annotated frame where it is not visible is 1.0 (its empty mask is certain).
    """
    annotated = [rec for rec in read_records(jsonl) if rec["frame"] % every == 0]
    per_frame = [{item["id"]: item for item in rec["masklets"]} for rec in annotated]
    ids = sorted({i for frame in per_frame for i in frame})
    empty = encode_rle(np.zeros(hw, bool))
    masklets = tuple(
        SavMasklet.from_rles(j, [frame[i]["segmentation"] if i in frame else empty for frame in per_frame], hw, AUTO,
                             areas=[frame[i]["area"] if i in frame else 0 for frame in per_frame],
                             stability_scores=[frame[i]["stability"] if i in frame else 1.0 for frame in per_frame])
        for j, i in enumerate(ids))
    return SavVideo(video_id=video_id, height=hw[0], width=hw[1], frame_count=num_frames, duration=num_frames / fps,
                    environment="", split="", masklets=masklets, kind=AUTO, stride=every)


def ytvis_json(jsonl: Path, video_id: str, num_frames: int, hw: tuple[int, int]) -> dict[str, Any]:
    """A YouTube-VIS style document: one video, one annotation (track) per masklet."""
    tracks: dict[int, dict[str, Any]] = {}
    for t, rec in enumerate(read_records(jsonl)):
        for item in rec["masklets"]:
            track = tracks.setdefault(item["id"], {
                "id": item["id"], "video_id": 1, "category_id": 1, "iscrowd": 0,
                "segmentations": [None] * num_frames, "areas": [None] * num_frames,
                "bboxes": [None] * num_frames, "stability": []})
            track["segmentations"][t] = item["segmentation"]
            track["areas"][t] = item["area"]
            track["bboxes"][t] = item["bbox"]
            track["stability"].append(item["stability"])
    annotations = []
    for obj_id in sorted(tracks):
        track = tracks[obj_id]
        track["score"] = float(np.mean(track.pop("stability")))
        annotations.append(track)
    video = {"id": 1, "name": video_id, "height": hw[0], "width": hw[1], "length": num_frames,
             "file_names": [f"{video_id}/{t:05d}.jpg" for t in range(num_frames)]}
    return {"videos": [video], "categories": [{"id": 1, "name": "object"}], "annotations": annotations}
