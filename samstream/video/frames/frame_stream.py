"""Frames one after another from a file, a URL, a camera or any iterator of images.

>>> with read_frames("rtsp://camera.local/stream", skip=1, max_size=960) as frames:
...     for rgb in frames:            # (H, W, 3) uint8 RGB arrays
...         result = tracker.step(rgb)

Unlike :mod:`samstream.video.frames.source` (random access to a finite video), a :class:`FrameStream`
only goes forward, never knows its length in advance and holds one decoded frame at a time.
Cameras are opened through PyAV: a device index (``0`` is ``/dev/video0`` on Linux, the first
AVFoundation device on macOS) or a device path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from samstream.errors import InvalidInputError, VideoReadError
from samstream.video.frames.index import check_video_file, import_av
from samstream.video.frames.raw import IMAGE_SUFFIXES, image_frame, natural_key

_URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


class FrameStream:
    """An iterable of (H, W, 3) uint8 RGB frames; a context manager that closes its source."""

    def __init__(self, source: Any, skip: int = 0, max_size: int | None = None) -> None:
        if isinstance(skip, bool) or not isinstance(skip, (int, np.integer)) or skip < 0:
            raise InvalidInputError(f"skip: expected a non-negative integer, got {skip!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer))
                                     or max_size < 16):
            raise InvalidInputError(f"max_size: expected an integer of at least 16 or None, got {max_size!r}")
        self.source = source
        self.skip = int(skip)
        self.max_size = None if max_size is None else int(max_size)
        self.label = _label(source)
        self._container: Any = None
        self._source_fps: float | None = None
        self._frames: Iterator[Any] = self._open(source)
        self._closed = False
        self.frames_read = 0  # frames taken from the source, skipped ones included

    # ----------------------------------------------------------------- opening
    def _open(self, source: Any) -> Iterator[Any]:
        if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
            return self._open_av(*_camera(int(source)))
        if isinstance(source, (str, os.PathLike)):
            text = os.fspath(source)
            if text.startswith(_URL_SCHEMES):
                return self._open_av(text, None)
            if text.startswith("/dev/video"):
                return self._open_av(text, "v4l2")
            path = Path(text)
            if path.is_dir():
                return _folder(path)
            if not path.exists():
                raise VideoReadError(f"source: {text} does not exist")
            if path.suffix.lower() in IMAGE_SUFFIXES:
                return iter([path])
            check_video_file(path)  # a truncated file is refused here as by open_frames
            return self._open_av(text, None)
        if isinstance(source, np.ndarray):
            if source.ndim != 4 or source.shape[-1] != 3:
                raise InvalidInputError(f"source: expected a (T, H, W, 3) array, got shape {source.shape}")
            return iter(source)
        if isinstance(source, Iterable):
            return iter(source)
        raise InvalidInputError(
            f"source: expected a video file, URL, camera index, frame folder or iterator of images, "
            f"got {type(source).__name__}"
        )

    def _open_av(self, target: str, fmt: str | None) -> Iterator[Any]:
        av = import_av()
        try:
            self._container = av.open(target, format=fmt, timeout=10.0) if fmt or "://" in target \
                else av.open(target)
        except Exception as exc:  # PyAV raises many error types; all mean the same to the user
            raise VideoReadError(f"source: cannot open {target}: {exc}") from exc
        if not self._container.streams.video:
            self._container.close()
            raise VideoReadError(f"source: {target} has no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        self._source_fps = float(rate) if rate else None
        return self._container.decode(stream)

    # ---------------------------------------------------------------- iterating
    def __iter__(self) -> Iterator[np.ndarray]:
        while not self._closed:
            try:
                item = next(self._frames)
            except StopIteration:
                break
            except Exception as exc:
                if isinstance(exc, (VideoReadError, InvalidInputError)):
                    raise
                raise VideoReadError(f"{self.label}: frame {self.frames_read} cannot be decoded: {exc}") from exc
            index = self.frames_read
            self.frames_read += 1
            if index % (self.skip + 1):
                continue
            yield self._resize(frame_to_rgb(item, f"{self.label}: frame {index}"))
        self.close()

    def _resize(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        if self.max_size is None or max(h, w) <= self.max_size:
            return rgb
        scale = self.max_size / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))

    def close(self) -> None:
        """Stop reading and release the file, connection or camera (safe to call twice)."""
        self._closed = True
        if self._container is not None:
            try:
                self._container.close()
            finally:
                self._container = None
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()

    @property
    def fps(self) -> float | None:
        """Frames per second of what this stream yields (skipping included), when the source says."""
        return None if self._source_fps is None else self._source_fps / (self.skip + 1)

    @property
    def closed(self) -> bool:
        """Whether the stream was closed (or read to its end)."""
        return self._closed

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FrameStream({self.label}, skip={self.skip}, max_size={self.max_size})"


def read_frames(source: Any, skip: int = 0, max_size: int | None = None) -> FrameStream:
    """Frames of ``source`` in order: a video file, URL, camera index or device, frame folder, (T, H, W, 3)
    array, or any iterator of images. ``skip`` drops that many frames after each one kept;
    ``max_size`` shrinks frames whose longer side is larger."""
    return FrameStream(source, skip=skip, max_size=max_size)


def _camera(index: int) -> tuple[str, str]:
    if index < 0:
        raise InvalidInputError(f"source: camera index must be non-negative, got {index}")
    if sys.platform.startswith("linux"):
        return f"/dev/video{index}", "v4l2"
    if sys.platform == "darwin":
        return str(index), "avfoundation"
    raise InvalidInputError(f"source: camera indices are supported on Linux and macOS, not {sys.platform}")


def _folder(path: Path) -> Iterator[Path]:
    files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: natural_key(p.name))
    if not files:
        raise VideoReadError(f"source: {path} holds no image files")
    return iter(files)


def _label(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (int, np.integer)):
        return f"camera {int(source)}"
    return type(source).__name__


def frame_to_rgb(item: Any, where: str) -> np.ndarray:
    """A decoded PyAV frame, or any image :func:`~samstream.rgb.to_rgb` takes -> (H, W, 3) uint8."""
    if hasattr(item, "to_ndarray"):  # a PyAV video frame
        return item.to_ndarray(format="rgb24")
    return image_frame(item, where)


