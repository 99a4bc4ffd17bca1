"""Readers of video object segmentation dataset layouts: DAVIS 2017, SA-V and YouTube-VOS.

Each layout gives, per video, its frame files and its annotated frames; an annotation maps object
ids to binary masks. Layouts (``root`` is what the user passes)::

    davis   root/JPEGImages/480p/<seq>/<frame>.jpg
            root/Annotations/480p/<seq>/<frame>.png        indexed PNG, 0 = background, 255 = void
            root/Annotations_unsupervised/480p/<seq>/<frame>.png   the unsupervised task's ground truth
            root/ImageSets/2017/<subset>.txt               sequence names (subset default "val")
    sav     root/JPEGImages_24fps/<video>/<frame>.jpg
            root/Annotations_6fps/<video>/<obj:03d>/<frame>.png   one binary PNG per object
            (videos: the annotation folders; a <root-name>.txt list is not needed)
    ytvos   root[/<split>]/JPEGImages/<vid>/<frame>.jpg
            root[/<split>]/Annotations/<vid>/<frame>.png   indexed PNG on a few frames only
            (split default "valid"; ``root`` may also be the split folder itself)

Annotation and frame files are matched by file stem (``00005.png`` annotates ``00005.jpg``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from samstream.errors import InvalidInputError
from samstream.io.labels import read_label_png

__all__ = ["DAVIS_TASKS", "FORMATS", "ObjectPrompt", "VideoDataset", "VideoEntry", "VideoFormat", "davis_annotations",
           "read_davis_subset"]

VideoFormat = Literal["davis", "sav", "ytvos"]
FORMATS: tuple[str, ...] = ("davis", "sav", "ytvos")
VOID = 255  # DAVIS "void" label: neither object nor background
_FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


DAVIS_TASKS = ("semi-supervised", "unsupervised")


def davis_annotations(davis_root: str | Path, resolution: str = "480p", task: str = "semi-supervised") -> Path:
    """The ground-truth folder of a DAVIS 2017 ``task`` at ``resolution``.

    As the official evaluation code: ``Annotations/<resolution>`` for the semi-supervised task,
    ``Annotations_unsupervised/<resolution>`` for the unsupervised one. A root without
    ``Annotations_unsupervised/<resolution>`` (one made by ``samstream studio export --format davis``,
    say) is scored against ``Annotations/<resolution>`` for both; the folder returned says which.
    """
    if task not in DAVIS_TASKS:
        raise InvalidInputError(f"task: expected one of {', '.join(DAVIS_TASKS)}, got {task!r}")
    root = Path(davis_root)
    if task == "unsupervised" and (root / "Annotations_unsupervised" / resolution).is_dir():
        return root / "Annotations_unsupervised" / resolution
    return root / "Annotations" / resolution


def read_davis_subset(davis_root: str | Path, subset: str) -> list[str]:
    """Sequence names listed in ``ImageSets/2017/<subset>.txt``."""
    path = Path(davis_root) / "ImageSets" / "2017" / f"{subset}.txt"
    if not path.is_file():
        raise InvalidInputError(f"subset {subset!r}: {path} not found")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


@dataclass(frozen=True)
class ObjectPrompt:
    """An object's mask on the frame where it is first given."""

    obj_id: int
    frame_idx: int  # index into VideoEntry.frame_paths
    mask: np.ndarray  # (H, W) bool


@dataclass(frozen=True)
class VideoEntry:
    """One video of a dataset: its frames and where its annotations are."""

    name: str
    frame_paths: tuple[Path, ...]  # sorted by name
    ann_dir: Path
    per_object: bool  # SA-V: one sub-folder of binary PNGs per object

    @property
    def frame_names(self) -> list[str]:
        """File stems of the frames (the names predictions are written under)."""
        return [p.stem for p in self.frame_paths]

    def annotated_frames(self) -> list[int]:
        """Indices of the frames that have an annotation, in order."""
        index = {p.stem: i for i, p in enumerate(self.frame_paths)}
        if self.per_object:
            stems = {p.stem for d in self._object_dirs() for p in d.glob("*.png")}
        else:
            stems = {p.stem for p in self.ann_dir.glob("*.png")}
        unknown = sorted(stems - index.keys())
        if unknown:
            raise InvalidInputError(
                f"video {self.name!r}: annotations {unknown[:3]} have no frame in {self.frame_paths[0].parent}"
            )
        return sorted(index[s] for s in stems)

    def read_annotation(self, frame_idx: int) -> dict[int, np.ndarray]:
        """Object id -> (H, W) bool mask on one frame (objects absent there are left out)."""
        stem = self.frame_paths[frame_idx].stem
        if self.per_object:
            masks = {}
            for d in self._object_dirs():
                path = d / f"{stem}.png"
                if path.is_file():
                    mask = read_label_png(path) > 0
                    if mask.any():
                        masks[int(d.name)] = mask
            return masks
        path = self.ann_dir / f"{stem}.png"
        if not path.is_file():
            return {}
        labels = read_label_png(path)
        ids = np.unique(labels)
        return {int(k): labels == k for k in ids if k not in (0, VOID)}

    def object_prompts(self, first_frame_only: bool = False) -> list[ObjectPrompt]:
        """Each object's mask on the first annotated frame where it shows, ordered by frame then id.

        ``first_frame_only`` reads only the first annotated frame (the DAVIS semi-supervised task,
        where later annotations are ground truth, not input).
        """
        frames = self.annotated_frames()
        if first_frame_only:
            frames = frames[:1]
        prompts: dict[int, ObjectPrompt] = {}
        for t in frames:
            for obj_id, mask in self.read_annotation(t).items():
                if obj_id not in prompts:
                    prompts[obj_id] = ObjectPrompt(obj_id, t, mask)
        return sorted(prompts.values(), key=lambda p: (p.frame_idx, p.obj_id))

    def _object_dirs(self) -> list[Path]:
        return sorted(p for p in self.ann_dir.iterdir() if p.is_dir() and p.name.isdigit())


class VideoDataset(Sequence[VideoEntry]):
    """The videos of a dataset root in one of :data:`FORMATS`; indexable and iterable.

    Args:
        root: the dataset root (see the module docstring for each layout).
        fmt: ``"davis"``, ``"sav"`` or ``"ytvos"``.
        subset: DAVIS ``ImageSets/2017/<subset>.txt`` (default ``"val"``) or the YouTube-VOS split
            folder (default ``"valid"``); not used for SA-V.
        sequences: only these videos, in this order.
        resolution: DAVIS image and annotation folder (``"480p"`` or ``"Full-Resolution"``).
    """

    def __init__(self, root: str | Path, fmt: str, subset: str | None = None,
                 sequences: Sequence[str] | None = None, resolution: str = "480p") -> None:
        if fmt not in FORMATS:
            raise InvalidInputError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
        self.root, self.fmt = Path(root), fmt
        if not self.root.is_dir():
            raise InvalidInputError(f"dataset root: {self.root} is not a folder")
        self.frame_root, self.ann_root, listed = self._layout(subset, resolution)
        names = list(sequences) if sequences is not None else listed
        missing = [n for n in names if not (self.frame_root / n).is_dir()]
        if missing:
            raise InvalidInputError(f"sequences: no frame folder under {self.frame_root} for {missing}")
        self.names = names

    def _layout(self, subset: str | None, resolution: str) -> tuple[Path, Path, list[str]]:
        """(frame root, annotation root, video names found there)."""
        if self.fmt == "davis":
            frames = self.root / "JPEGImages" / resolution
            anns = self.root / "Annotations" / resolution
            return frames, anns, read_davis_subset(self.root, subset or "val")
        if self.fmt == "sav":
            frames, anns = self.root / "JPEGImages_24fps", self.root / "Annotations_6fps"
        else:
            base = self.root if (self.root / "JPEGImages").is_dir() else self.root / (subset or "valid")
            frames, anns = base / "JPEGImages", base / "Annotations"
        for folder in (frames, anns):
            if not folder.is_dir():
                raise InvalidInputError(f"{self.fmt} dataset: {folder} is not a folder")
        return frames, anns, sorted(p.name for p in anns.iterdir() if p.is_dir())

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> VideoEntry:  # type: ignore[override]
        name = self.names[index]
        folder = self.frame_root / name
        frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in _FRAME_SUFFIXES and p.is_file())
        if not frames:
            raise InvalidInputError(f"video {name!r}: no frame image in {folder}")
        ann_dir = self.ann_root / name
        if not ann_dir.is_dir():
            raise InvalidInputError(f"video {name!r}: no annotation folder {ann_dir}")
        return VideoEntry(name, tuple(frames), ann_dir, per_object=self.fmt == "sav")

    def __iter__(self) -> Iterator[VideoEntry]:
        return (self[i] for i in range(len(self)))
