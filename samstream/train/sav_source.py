"""Training clips from the SA-V training layout: a video (or its frames) and masklet JSON files.

Layout (``root`` is what the user passes)::

    root/sav_000001.mp4              the 24 fps video, or instead
    root/sav_000001/00000.jpg ...    its frames as images named by video frame index
    root/sav_000001_manual.json      the manual masklets (format: samstream.data.sav_json)
    root/sav_000001_auto.json        automatic masklets (optional; read with include_auto=True)

The files may also lie in subfolders of ``root`` (the released training set is split into
``sav_000/``, ``sav_001/``, ...); each video's media sit beside its masklet files.

Masklets are annotated on every 4th video frame (:data:`~samstream.data.sav_json.ANNOTATION_STRIDE`),
so a clip of ``num_frames`` consecutive *annotated* frames steps over the unannotated ones; only the
clip's video frames are decoded. SA-V training uses the manual masklets only, the default here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samstream.errors import InvalidInputError, VideoReadError
from samstream.data.sav_json import ANNOTATION_STRIDE, SavVideo, load_sav_annotation
from samstream.train.clips import pick_window
from samstream.video.frames.raw import make_reader

__all__ = ["SavJsonSource", "has_sav_json", "read_video_frames"]

MANUAL_SUFFIX = "_manual.json"
AUTO_SUFFIX = "_auto.json"
VIDEO_SUFFIX = ".mp4"


def has_sav_json(root: str | Path) -> bool:
    """Does ``root`` (or a subfolder of it) hold SA-V masklet files (``*_manual.json``)?"""
    return next(Path(root).rglob(f"*{MANUAL_SUFFIX}"), None) is not None


def read_video_frames(source: Path, indices: list[int]) -> np.ndarray:
    """Video frames ``indices`` of a video file or frame folder, as (T, H, W, 3) uint8 RGB.

    In a folder, frame ``i`` is the image whose name is the number ``i`` (``00004.jpg``), as
    SA-V's frames are named, so a folder may hold every frame or only the annotated ones.
    """
    reader = make_reader(source)
    try:
        position = {int(name): k for k, name in enumerate(reader.names) if name.isdigit()}
        decoded = {}
        for index in sorted(set(indices)):  # in order, so a video decodes forward
            if index not in position:
                raise VideoReadError(f"video {str(source)!r}: has no frame {index} ({len(reader)} frames)")
            decoded[index] = reader.read(position[index])
    finally:
        reader.close()
    return np.stack([decoded[i] for i in indices])


class SavJsonSource:
    """Clips of consecutive annotated frames of SA-V videos with masklet JSON files.

    ``clip`` returns frames (T, H, W, 3) uint8 and masks (T, N, H, W) bool, ``T = num_frames``,
    one mask channel per masklet visible somewhere in the clip (manual masklets first, then
    automatic ones with ``include_auto``). A video with fewer annotated frames repeats its last.
    """

    def __init__(self, root: str | Path, include_auto: bool = False) -> None:
        self.root, self.include_auto = Path(root), include_auto
        if not self.root.is_dir():
            raise InvalidInputError(f"SA-V dataset root: {self.root} is not a folder")
        manual = sorted(self.root.rglob(f"*{MANUAL_SUFFIX}"), key=lambda p: (p.name, str(p)))
        if not manual:
            raise InvalidInputError(f"SA-V dataset root: no *{MANUAL_SUFFIX} file in {self.root} or below")
        self.video_ids = [p.name[: -len(MANUAL_SUFFIX)] for p in manual]
        self.folders = [p.parent for p in manual]
        self.media = [self._media(v, f) for v, f in zip(self.video_ids, self.folders)]  # fails here, not mid-run

    @staticmethod
    def _media(video_id: str, folder: Path) -> Path:
        """The video file, else the frame folder, of ``video_id`` (beside its masklet files)."""
        video, frames = folder / f"{video_id}{VIDEO_SUFFIX}", folder / video_id
        if video.is_file():
            return video
        if frames.is_dir():
            return frames
        raise VideoReadError(
            f"SA-V video {video_id!r}: {folder / (video_id + MANUAL_SUFFIX)} has neither a video "
            f"{video} nor a frame folder {frames}"
        )

    def __len__(self) -> int:
        return len(self.video_ids)

    def annotation_paths(self, index: int) -> list[Path]:
        """The masklet files read for video ``index``: the manual one, and the automatic one if used."""
        video_id, folder = self.video_ids[index], self.folders[index]
        paths = [folder / f"{video_id}{MANUAL_SUFFIX}"]
        auto = folder / f"{video_id}{AUTO_SUFFIX}"
        if self.include_auto and auto.is_file():
            paths.append(auto)
        return paths

    def clip(self, index: int, num_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        paths = self.annotation_paths(index)
        annotations = [load_sav_annotation(p) for p in paths]
        picked = pick_window(_annotated_count(annotations, paths), num_frames, rng)
        frames = read_video_frames(self.media[index], [i * ANNOTATION_STRIDE for i in picked])
        masks = np.stack([np.concatenate([a.masks(i) for a in annotations]) for i in picked])
        if masks.shape[2:] != frames.shape[1:3]:
            raise InvalidInputError(
                f"{paths[0]}: masks of size {masks.shape[2:]} on frames of size {frames.shape[1:3]} "
                f"in {self.media[index]}"
            )
        return frames, masks[:, masks.any(axis=(0, 2, 3))]  # masklets absent from the whole clip are left out


def _annotated_count(annotations: list[SavVideo], paths: list[Path]) -> int:
    """The number of annotated frames, which every file with masklets must agree on."""
    counts = {a.num_annotated_frames for a in annotations if a.masklets and a.num_annotated_frames}
    if not counts:
        raise InvalidInputError(f"{paths[0]}: the video has no masklets on annotated frames")
    if len(counts) > 1:
        raise InvalidInputError(f"{', '.join(map(str, paths))}: disagree on the number of annotated frames")
    return counts.pop()
