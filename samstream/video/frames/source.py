"""Frame sources: one interface over frame folders, video files, arrays and lists of images.

>>> with open_frames("clip.mp4", image_size=1024, mean=(0.485, 0.456, 0.406),
...                  std=(0.229, 0.224, 0.225)) as frames:
...     x = frames.tensor(0)      # (3, 1024, 1024) float32 model input
...     img = frames.raw(0)       # (H, W, 3) uint8 original frame

Frames are decoded on demand; a :class:`FrameSource` keeps only the ``cache_size`` most recently
used raw and preprocessed frames, never the whole video.

Every source is preprocessed the same way, on the uint8 RGB frame: PIL bicubic resize to
``image_size`` squared, division by 255 in float64, conversion to float32, then ``(x - mean) / std``
in float32 (done as a table lookup per channel and level, which gives the same numbers).
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol, Union

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from samstream.errors import InvalidInputError, VideoReadError
from samstream.rgb import to_rgb
from samstream.video.frames.decode import VideoFileReader, index_names, write_video

__all__ = ["CacheInfo", "FrameSource", "FrameSourceInput", "image_frame", "natural_key", "open_frames", "write_video"]

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

    def close(self) -> None: ...


class CacheInfo(NamedTuple):
    """How many frames a :class:`FrameSource` holds now, and at most."""

    raw: int
    tensors: int
    capacity: int


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
        item = self.items[index]
        if isinstance(item, np.ndarray):
            return item  # an (H, W, 3) uint8 array, converted at open
        return image_frame(item, f"{self.label} frame {index}")

    def close(self) -> None:
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
    """The reader for any supported source (see :func:`open_frames`)."""
    if isinstance(source, (str, os.PathLike)):
        return _path_reader(source)
    if isinstance(source, np.ndarray):
        return _array_reader(source)
    if isinstance(source, Tensor):
        raise InvalidInputError("source: got a torch.Tensor; pass a (T, H, W, 3) uint8 numpy array instead")
    if isinstance(source, (list, tuple)):
        return _list_reader(source)
    raise VideoReadError(
        f"source: unsupported type {type(source).__name__}; expected a frame folder, a video file, "
        "a (T, H, W, 3) uint8 array or a list of images"
    )


def _check_triple(value: Any, name: str) -> tuple[float, float, float]:
    try:
        triple = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        triple = ()
    if len(triple) != 3 or not all(np.isfinite(triple)):
        raise InvalidInputError(f"{name}: expected three finite numbers (one per RGB channel), got {value!r}")
    return triple  # type: ignore[return-value]


def _check_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInputError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def normalisation_table(mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """(3 * 256,) float32 model input for every channel and uint8 level, channel-major.

    Entry ``256 * c + v`` is ``(float32(v / 255) - mean[c]) / std[c]`` with the division by 255 in
    float64 and the rest in float32: looking values up gives exactly what computing them per pixel would.
    """
    levels = torch.from_numpy((np.arange(256) / 255.0).astype(np.float32))  # (256,)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(3, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(3, 1)
    return ((levels.view(1, 256) - mean_t) / std_t).reshape(-1)  # (768,)


@torch.inference_mode()
def preprocess_frame(rgb: np.ndarray, image_size: int, table: Tensor) -> Tensor:
    """(H, W, 3) uint8 RGB -> (3, S, S) float32 model input on ``table``'s device.

    PIL bicubic resize of the uint8 frame, then a per-channel lookup in :func:`normalisation_table`
    (only uint8 levels travel to the device). Always an inference tensor, whichever thread or mode
    asks: frames are never differentiated, and a compiled image encoder is guarded on the kind.
    """
    resized = Image.fromarray(np.ascontiguousarray(rgb)).resize((image_size, image_size), Image.Resampling.BICUBIC)
    planes = np.asarray(resized).transpose(2, 0, 1).copy()  # (3, S, S) uint8, contiguous and writable
    levels = torch.from_numpy(planes).to(table.device).int()  # (3, S, S)
    offsets = torch.arange(0, 768, 256, dtype=torch.int32, device=table.device).view(3, 1, 1)
    return table.index_select(0, (levels + offsets).view(-1)).view(3, image_size, image_size)


class FrameSource:
    """Random access to a video's frames: originals with :meth:`raw`, model inputs with :meth:`tensor`.

    Thread-safe. ``height`` and ``width`` are those of the first frame; ``names`` are file stems, or
    "00000", "00001", ... for arrays and video files; ``fps`` is known for video files only.
    """

    def __init__(self, reader: FrameReader, image_size: int, mean: Any, std: Any,
                 cache_size: int = 16, device: torch.device | str = "cpu") -> None:
        self.image_size = _check_count(image_size, "image_size", 1)
        self.cache_size = _check_count(cache_size, "cache_size", 0)
        mean_t, std_t = _check_triple(mean, "mean"), _check_triple(std, "std")
        if 0.0 in std_t:
            raise InvalidInputError(f"std: values must be non-zero, got {std!r}")
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise InvalidInputError(f"device: {device!r} is not a torch device ({exc})") from exc
        self._table = normalisation_table(mean_t, std_t).to(self.device)  # (768,)
        self._reader: FrameReader | None = reader
        self.names: list[str] = list(reader.names)
        self.fps: float | None = reader.fps  # frames per second of video files, else None
        self._raw: OrderedDict[int, np.ndarray] = OrderedDict()
        self._tensors: OrderedDict[int, Tensor] = OrderedDict()
        self._lock = threading.RLock()
        first = self.raw(0)  # decodes the first frame: a broken source fails here
        self.height, self.width = int(first.shape[0]), int(first.shape[1])

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return (f"FrameSource({len(self)} frames of {self.height}x{self.width}, image_size={self.image_size}, "
                f"cache_size={self.cache_size}, device={self.device})")

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the file handles and cached frames; the source cannot be read afterwards."""
        with self._lock:
            if self._reader is not None:
                self._reader.close()
            self._reader = None
            self._raw.clear()
            self._tensors.clear()

    @property
    def reader(self) -> FrameReader | None:
        """The underlying reader (``None`` once closed)."""
        return self._reader

    @property
    def closed(self) -> bool:
        return self._reader is None

    def cache_info(self) -> CacheInfo:
        """Raw and preprocessed frames held now, and the bound on each."""
        with self._lock:
            return CacheInfo(raw=len(self._raw), tensors=len(self._tensors), capacity=self.cache_size)

    def _check_index(self, index: Any) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise InvalidInputError(f"index: expected an integer frame index, got {index!r}")
        if not 0 <= index < len(self):
            raise InvalidInputError(f"index: frame {index} is outside the video (frames 0 to {len(self) - 1})")
        return int(index)

    def _remember(self, cache: OrderedDict[int, Any], index: int, value: Any) -> None:
        if self.cache_size == 0:
            return
        cache[index] = value
        cache.move_to_end(index)
        while len(cache) > self.cache_size:
            cache.popitem(last=False)

    def raw(self, index: int) -> np.ndarray:
        """Frame ``index`` as decoded: a read-only (H, W, 3) uint8 RGB array (copy it to draw on it)."""
        index = self._check_index(index)
        with self._lock:
            if self._reader is None:
                raise VideoReadError("source: the frame source is closed")
            if index in self._raw:
                self._raw.move_to_end(index)
                return self._raw[index]
            frame = self._reader.read(index)
            if frame.flags.writeable or not frame.flags.c_contiguous:
                frame = np.ascontiguousarray(frame)  # (H, W, 3) uint8
                frame.flags.writeable = False
            self._remember(self._raw, index, frame)
            return frame

    def tensor(self, index: int) -> Tensor:
        """Frame ``index`` as a (3, image_size, image_size) float32 normalised model input on ``device``."""
        index = self._check_index(index)
        with self._lock:
            if index in self._tensors:
                self._tensors.move_to_end(index)
                return self._tensors[index]
            x = preprocess_frame(self.raw(index), self.image_size, self._table)
            self._remember(self._tensors, index, x)
            return x


def open_frames(source: FrameSourceInput, image_size: int, mean: Any, std: Any,
                cache_size: int = 16, device: torch.device | str = "cpu") -> FrameSource:
    """Open a video for random access to its frames.

    ``source`` is a folder of JPEG or PNG frames (natural order: "frame2" before "frame10"), a video
    file FFmpeg can read (mp4, avi, mkv, webm, mov, ...), a single image file, a (T, H, W, 3) uint8
    array, or a list/tuple of images (uint8 (H, W, 3) arrays, PIL images or paths). ``mean`` and
    ``std`` are per-channel values for inputs scaled to [0, 1]. At most ``cache_size`` raw and
    ``cache_size`` preprocessed frames are kept in memory.

    Raises :class:`VideoReadError` for missing, empty, unreadable or corrupt sources and
    :class:`InvalidInputError` for arrays of the wrong dtype or shape and bad arguments.
    """
    reader = make_reader(source)
    try:
        return FrameSource(reader, image_size, mean, std, cache_size=cache_size, device=device)
    except BaseException:
        reader.close()
        raise
