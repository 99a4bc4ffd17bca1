"""Original frames of a finite video, by index: frame folders, video files, arrays and lists of images.

>>> with open_raw_frames("clip.mp4", cache_size=4) as frames:
...     img = frames.raw(0)       # (H, W, 3) uint8 RGB, read-only
...     frames.height, frames.width, len(frames), frames.fps

This is reading only: :mod:`samstream.video.frames.preprocess` turns a frame into a model input and
:class:`~samstream.video.frames.source.FrameSource` puts the two together for the trackers. Whoever only
needs pixels (the studio serving frames, an export drawing overlays) opens :class:`RawFrames`, which
imports no torch. Frames are decoded on demand and at most ``cache_size`` are kept.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, Union

import numpy as np
from PIL import Image

from samstream.errors import InvalidInputError, VideoReadError
from samstream.rgb import to_rgb
from samstream.video.frames.decode import VideoFileReader, index_names

__all__ = ["FrameReader", "FrameSourceInput", "IMAGE_SUFFIXES", "RawFrames", "VIDEO_SUFFIXES", "count_arg",
           "image_frame", "make_reader", "natural_key", "open_raw_frames"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")  # frames of a frame folder
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg")  # files taken as videos
FrameSourceInput = Union[str, "os.PathLike[str]", np.ndarray, Sequence[Any]]
_DIGITS = re.compile(r"(\d+)", re.ASCII)


class FrameReader(Protocol):
    """Random access to the original frames of one video."""

    names: list[str]
    fps: float | None  # frame rate of video files; None for images and arrays

    def __len__(self) -> int: ...

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as an (H, W, 3) uint8 RGB array."""
        ...

    def close(self) -> None:
        """Release the file or stream behind the frames."""
        ...


def natural_key(name: str) -> tuple[tuple[Any, ...], str]:
    """Sort key putting digit runs in numeric order: "frame2.jpg" before "frame10.jpg"."""
    parts = _DIGITS.split(name)  # strings at even positions, digit runs at odd ones
    return tuple(int(p) if k % 2 else p.lower() for k, p in enumerate(parts)), name


def image_frame(item: Any, where: str) -> np.ndarray:
    """One frame given as an image (path, PIL image or array) -> (H, W, 3) uint8 RGB, by :func:`to_rgb`.

    A file that cannot be read as an image is a :class:`VideoReadError` (a bad frame of the video);
    a wrong array stays an :class:`InvalidInputError`.
    """
    try:
        return to_rgb(item, where)
    except InvalidInputError as exc:
        if isinstance(item, (str, os.PathLike)):
            raise VideoReadError(str(exc)) from exc
        raise


class ImageSequenceReader:
    """Frames given one per item: image paths, PIL images, or (H, W, 3) uint8 arrays."""

    def __init__(self, items: Sequence[Any], names: list[str], label: str) -> None:
        self.items = items
        self.names = names
        self.label = label
        self.fps: float | None = None

    def __len__(self) -> int:
        return len(self.items)

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as an (H, W, 3) uint8 RGB array (items given as arrays are returned as they are)."""
        item = self.items[index]
        if isinstance(item, np.ndarray):
            return item  # an (H, W, 3) uint8 array, converted at open
        return image_frame(item, f"{self.label} frame {index}")

    def close(self) -> None:
        """Nothing to release: the items are files read one at a time, or in memory."""
        pass


def _frame_folder(folder: Path) -> ImageSequenceReader:
    """JPEG or PNG files of ``folder`` in natural order (hidden files are skipped)."""
    files = [p for p in folder.iterdir()
             if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()]
    if not files:
        raise VideoReadError(f"source: folder {str(folder)!r} contains no JPEG or PNG frames")
    kinds = {p.suffix.lower() in (".jpg", ".jpeg") for p in files}
    if len(kinds) > 1:
        raise VideoReadError(f"source: folder {str(folder)!r} mixes JPEG and PNG files; keep one kind of frame")
    files.sort(key=lambda p: natural_key(p.name))
    return ImageSequenceReader(files, [p.stem for p in files], f"folder {str(folder)!r}")


def _array_reader(array: np.ndarray) -> ImageSequenceReader:
    """A (T, H, W, 3) uint8 array: frames are read-only views of it."""
    if array.dtype != np.uint8:
        raise InvalidInputError(f"source: array dtype {array.dtype} is not supported; expected uint8")
    if array.ndim != 4 or array.shape[3] != 3:
        raise InvalidInputError(f"source: array shape {array.shape} is not (T, H, W, 3)")
    if array.shape[0] == 0:
        raise VideoReadError("source: the array has no frames (shape[0] == 0)")
    if array.shape[1] == 0 or array.shape[2] == 0:
        raise InvalidInputError(f"source: array shape {array.shape} has empty frames")
    view = array.view()
    view.flags.writeable = False
    return ImageSequenceReader(view, index_names(len(view)), "array")


def _list_item(item: Any, index: int) -> Any:
    """Check one list item at open; paths become :class:`Path`."""
    where = f"source[{index}]"
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if not path.is_file():
            raise VideoReadError(f"{where}: no such image file {str(path)!r}")
        return path
    if isinstance(item, Image.Image):
        return item
    if isinstance(item, np.ndarray):  # converted now (uint16, float, gray, RGBA: see to_rgb)
        view = to_rgb(item, where).view()
        view.flags.writeable = False
        return view
    raise InvalidInputError(
        f"{where}: unsupported type {type(item).__name__}; expected an (H, W, 3) uint8 array, a PIL image or a path"
    )


def _list_reader(items: Sequence[Any]) -> ImageSequenceReader:
    if len(items) == 0:
        raise VideoReadError("source: the list of frames is empty")
    checked = [_list_item(item, i) for i, item in enumerate(items)]
    fallback = index_names(len(checked))
    names = [item.stem if isinstance(item, Path) else fallback[i] for i, item in enumerate(checked)]
    return ImageSequenceReader(checked, names, "list")


def _path_reader(source: str | os.PathLike[str]) -> FrameReader:
    path = Path(source)
    if path.is_dir():
        return _frame_folder(path)
    if not path.is_file():
        raise VideoReadError(f"source: no such file or folder {str(path)!r}")
    if path.suffix.lower() in IMAGE_SUFFIXES:  # a single image: a one-frame video
        return ImageSequenceReader([path], [path.stem], f"image {str(path)!r}")
    return VideoFileReader(path)


def make_reader(source: FrameSourceInput) -> FrameReader:
    """The reader for any supported source (see :func:`open_raw_frames`)."""
    if isinstance(source, (str, os.PathLike)):
        return _path_reader(source)
    if isinstance(source, np.ndarray):
        return _array_reader(source)
    if type(source).__name__ == "Tensor" and type(source).__module__.startswith("torch"):  # named, not imported:
        # reading raw frames stays torch-free: the studio serves frames and the batch lists videos without it
        raise InvalidInputError("source: got a torch.Tensor; pass a (T, H, W, 3) uint8 numpy array instead")
    if isinstance(source, (list, tuple)):
        return _list_reader(source)
    raise VideoReadError(
        f"source: unsupported type {type(source).__name__}; expected a frame folder, a video file, "
        "a (T, H, W, 3) uint8 array or a list of images"
    )


def count_arg(value: Any, name: str, minimum: int) -> int:
    """``value`` as an int when it is an integer >= ``minimum``, else an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInputError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


class RawFrames:
    """Random access to a video's original frames, at most ``cache_size`` of them kept (least recently
    used dropped first). Thread-safe.

    ``height`` and ``width`` are those of the first frame (decoded at open: a broken source fails there);
    ``names`` are file stems, or "00000", "00001", ... for arrays and video files; ``fps`` is known for
    video files only.
    """

    def __init__(self, reader: FrameReader, cache_size: int = 16) -> None:
        self.cache_size = count_arg(cache_size, "cache_size", 0)
        self._reader: FrameReader | None = reader
        self.names: list[str] = list(reader.names)
        self.fps: float | None = reader.fps
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.RLock()
        first = self.raw(0)
        self.height, self.width = int(first.shape[0]), int(first.shape[1])

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"RawFrames({len(self)} frames of {self.height}x{self.width}, cache_size={self.cache_size})"

    def __enter__(self) -> RawFrames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the file handles and cached frames; the frames cannot be read afterwards."""
        with self._lock:
            if self._reader is not None:
                self._reader.close()
            self._reader = None
            self._cache.clear()

    @property
    def reader(self) -> FrameReader | None:
        """The underlying reader (``None`` once closed)."""
        return self._reader

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._reader is None

    @property
    def cached(self) -> int:
        """Frames held now (at most ``cache_size``)."""
        with self._lock:
            return len(self._cache)

    def check_index(self, index: Any) -> int:
        """``index`` as an int when it names a frame of the video, else an :class:`InvalidInputError`."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise InvalidInputError(f"index: expected an integer frame index, got {index!r}")
        if not 0 <= index < len(self):
            raise InvalidInputError(f"index: frame {index} is outside the video (frames 0 to {len(self) - 1})")
        return int(index)

    def raw(self, index: int) -> np.ndarray:
        """Frame ``index`` as decoded: a read-only (H, W, 3) uint8 RGB array (copy it to draw on it)."""
        index = self.check_index(index)
        with self._lock:
            if self._reader is None:
                raise VideoReadError("source: the frame source is closed")
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
            frame = self._reader.read(index)
            if frame.flags.writeable or not frame.flags.c_contiguous:
                frame = np.ascontiguousarray(frame)  # (H, W, 3) uint8
                frame.flags.writeable = False
            remember(self._cache, index, frame, self.cache_size)
            return frame


def remember(cache: OrderedDict[int, Any], index: int, value: Any, capacity: int) -> None:
    """Put ``value`` in an LRU ``cache`` of at most ``capacity`` entries (none when 0)."""
    if capacity == 0:
        return
    cache[index] = value
    cache.move_to_end(index)
    while len(cache) > capacity:
        cache.popitem(last=False)


def open_raw_frames(source: FrameSourceInput, cache_size: int = 16) -> RawFrames:
    """Open a video for random access to its original frames.

    Args:
        source: a folder of JPEG or PNG frames (natural order: "frame2" before "frame10"), a video
            file FFmpeg can read (mp4, avi, mkv, webm, mov, ...), a single image file, a (T, H, W, 3)
            uint8 array, or a list/tuple of images (uint8 (H, W, 3) arrays, PIL images or paths).
        cache_size: decoded frames kept in memory.

    Returns:
        The frames; close them (or use ``with``) to release the file.

    Raises:
        VideoReadError: a missing, empty, unreadable or corrupt source.
        InvalidInputError: an array of the wrong dtype or shape, a bad ``cache_size``.
    """
    reader = make_reader(source)
    try:
        return RawFrames(reader, cache_size)
    except BaseException:
        reader.close()
        raise
