"""The items of a batch job: images to segment, videos to track, each with a unique key.

An item's key names its outputs and its manifest entry, so it must be unique within a job and the
same from one run to the next (that is what lets a re-run skip finished items):

* images listed from a **folder** (any layout: a plain folder, SA-1B's ``sa_*.jpg`` + ``sa_*.json``)
  are found recursively; their key is the path relative to the folder without the suffix;
* an image file, a **glob** pattern (``data/*.jpg``, ``**`` allowed), a **list file** (``.txt``: one
  path a line, relative to the list's folder; blank lines and ``#`` comments skipped) or a **COCO**
  instances JSON (its ``images[].file_name`` under ``image_root``, default the JSON's folder)
  give keys equal to the file stem (COCO: ``file_name`` without its suffix);
* videos to track are the sequences of a :class:`~samstream.data.video_datasets.VideoDataset`; the
  key is the sequence name;
* videos for automatic masklets (:func:`list_video_files`) are video files and frame folders, named
  directly, by a glob pattern or by a ``.txt`` list, or found one level down in a folder that holds
  no frames itself (``DAVIS/JPEGImages/480p``, a folder of ``.mp4`` files); the key is a file's stem
  or a folder's name.

Two images with the same key are refused (their outputs would overwrite each other). Files named
by list files and COCO JSONs are not opened here: a missing or corrupt one fails as an item, so a
dataset of millions is listed without touching every file.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from samstream.data.video_datasets import VideoDataset
from samstream.errors import InvalidInputError
from samstream.video.frames.raw import IMAGE_SUFFIXES as FRAME_SUFFIXES
from samstream.video.frames.raw import VIDEO_SUFFIXES

__all__ = ["IMAGE_SUFFIXES", "Item", "list_images", "list_video_files", "list_videos"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Item:
    """One unit of work: ``key`` names its outputs; ``source`` is an image path or a video name."""

    key: str
    source: str

    @property
    def file_name(self) -> str:
        """The image's name in the merged COCO JSON: the key with the source's suffix."""
        return self.key + Path(self.source).suffix


def list_images(sources: Sequence[str], image_root: str | None = None) -> list[Item]:
    """Items of every image named by ``sources`` (folders, files, globs, list files, COCO JSONs)."""
    if not sources:
        raise InvalidInputError("IMAGES: give at least one folder, image, glob pattern, list file or COCO JSON")
    items: list[Item] = []
    for source in sources:
        items.extend(_expand(source, image_root))
    return _unique(items, "IMAGES")


def _expand(source: str, image_root: str | None) -> list[Item]:
    path = Path(source).expanduser()
    if _GLOB_CHARS & set(source):
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
        images = [p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        if not images:
            raise InvalidInputError(f"IMAGES: the pattern {source!r} matches no image ({', '.join(IMAGE_SUFFIXES)})")
        return [Item(p.stem, _absolute(p)) for p in images]
    if path.is_dir():
        images = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not images:
            raise InvalidInputError(f"IMAGES: the folder {source!r} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        return [Item(p.relative_to(path).with_suffix("").as_posix(), _absolute(p)) for p in images]
    if not path.is_file():
        raise InvalidInputError(f"IMAGES: no such file, folder or matching pattern {source!r}")
    if path.suffix.lower() == ".txt":
        return [Item(Path(p).stem, _absolute(Path(p))) for p in _read_list(path)]
    if path.suffix.lower() == ".json":
        return _coco_items(path, Path(image_root) if image_root else path.parent)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InvalidInputError(f"IMAGES: {source!r} is not an image ({', '.join(IMAGE_SUFFIXES)}), "
                                "a folder, a .txt list or a COCO .json")
    return [Item(path.stem, _absolute(path))]


def _absolute(path: Path) -> str:
    """Workers may run in another folder (or machine): sources are absolute, symlinks kept."""
    return os.path.abspath(path)


def _read_list(path: Path, what: str = "IMAGES") -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    entries = [line for line in lines if line and not line.startswith("#")]
    if not entries:
        raise InvalidInputError(f"{what}: the list file {str(path)!r} names nothing")
    return [str(path.parent / entry) for entry in entries]  # an absolute entry stays absolute


def _coco_items(path: Path, root: Path) -> list[Item]:
    try:
        images = json.loads(path.read_text(encoding="utf-8"))["images"]
        names = [str(img["file_name"]) for img in images]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"IMAGES: {str(path)!r} is not a COCO JSON with images[].file_name ({exc})") from exc
    return [Item(PurePosixPath(name).with_suffix("").as_posix(), _absolute(root / name)) for name in names]


def _unique(items: Iterable[Item], what: str) -> list[Item]:
    seen: dict[str, str] = {}
    out = []
    for item in items:
        if item.key in seen:
            raise InvalidInputError(f"{what}: {item.source!r} and {seen[item.key]!r} have the same name "
                                    f"{item.key!r}; their outputs would overwrite each other")
        if item.key.startswith("../") or "/../" in item.key:
            raise InvalidInputError(f"{what}: {item.source!r} gives the name {item.key!r}, outside the output folder")
        seen[item.key] = item.source
        out.append(item)
    return out


def list_videos(root: str, fmt: str, subset: str | None = None, sequences: Sequence[str] | None = None) -> list[Item]:
    """Items of the videos of a dataset (the layouts of ``samstream predict-dataset``)."""
    dataset = VideoDataset(root, fmt, subset, sequences)
    return [Item(name, name) for name in dataset.names]


def list_video_files(sources: Sequence[str]) -> list[Item]:
    """Items of every video named by ``sources`` (video files, frame folders, folders of those, globs,
    ``.txt`` lists); see the module docstring. Videos are not opened: a corrupt one fails as an item."""
    if not sources:
        raise InvalidInputError("VIDEOS: give at least one video file, frame folder, folder of videos, glob "
                                "pattern or list file")
    items: list[Item] = []
    for source in sources:
        items.extend(_expand_videos(source))
    return _unique(items, "VIDEOS")


def _expand_videos(source: str) -> list[Item]:
    path = Path(source).expanduser()
    kinds = f"video files ({', '.join(VIDEO_SUFFIXES)}) or frame folders ({', '.join(FRAME_SUFFIXES)})"
    if _GLOB_CHARS & set(source):
        videos = [p for p in sorted(Path(p) for p in glob.glob(str(path), recursive=True)) if _is_video(p)]
        if not videos:
            raise InvalidInputError(f"VIDEOS: the pattern {source!r} matches no {kinds}")
        return [_video_item(p) for p in videos]
    if path.is_dir():
        if _is_frame_folder(path):
            return [_video_item(path)]
        videos = [p for p in sorted(path.iterdir()) if _is_video(p)]
        if not videos:
            raise InvalidInputError(f"VIDEOS: the folder {source!r} holds no frames and no {kinds}")
        return [_video_item(p) for p in videos]
    if not path.is_file():
        raise InvalidInputError(f"VIDEOS: no such file, folder or matching pattern {source!r}")
    if path.suffix.lower() == ".txt":
        return [_video_item(Path(p)) for p in _read_list(path, "VIDEOS")]
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise InvalidInputError(f"VIDEOS: {source!r} is not a video ({', '.join(VIDEO_SUFFIXES)}), "
                                "a folder or a .txt list")
    return [_video_item(path)]


def _is_frame_folder(path: Path) -> bool:
    return path.is_dir() and any(p.suffix.lower() in FRAME_SUFFIXES for p in path.iterdir())


def _is_video(path: Path) -> bool:
    return (path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES) or _is_frame_folder(path)


def _video_item(path: Path) -> Item:
    return Item(path.name if path.is_dir() else path.stem, _absolute(path))
