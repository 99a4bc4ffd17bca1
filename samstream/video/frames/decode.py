"""Video files through PyAV (FFmpeg): exact random access to frames, and writing MP4 files.

Frame ``i`` of a file is the ``i``-th frame sequential decoding delivers; the index that says where
it is comes from :mod:`samstream.video.frames.index` (one demux pass, or one cached full decode for
files whose timestamps cannot be trusted). Reading frame ``i`` then either continues decoding from
the current position (when ``i`` is ahead and near) or seeks to the last keyframe at or before
``i`` and decodes forward, recognising frames by their timestamps. When a seek does not land where
it should, an earlier keyframe is tried, and finally the file is decoded from its start, where the
``n``-th frame delivered is frame ``n`` by definition (and is checked against the index).
"""

from __future__ import annotations

import numbers
import os
import uuid
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from samstream.errors import InvalidInputError, VideoReadError
from samstream.video.frames.index import FrameIndex, import_av, load_index, open_video, rebuild_index

__all__ = ["FrameIndex", "VideoFileReader", "import_av", "index_names", "write_video"]

# Decoding forward this many frames is taken to be cheaper than a seek (which flushes the decoder).
_CONTINUE_WINDOW = 16
_WRITE_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi")


def index_names(count: int) -> list[str]:
    """Frame names for sources without file names: "00000", "00001", ..."""
    width = max(5, len(str(count - 1)))
    return [f"{i:0{width}d}" for i in range(count)]


class _IndexMismatch(Exception):
    """Decoding from the start delivered a frame the index did not expect there."""


class VideoFileReader:
    """Decodes frames of a video file on demand as (H, W, 3) uint8 RGB arrays.

    Not thread-safe on its own; :class:`~samstream.video.frames.FrameSource` serialises calls.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._container: Any = None
        self._stream: Any = None
        self._frames: Iterator[Any] | None = None  # decoded frames from the current position
        self._last = -1  # index of the last frame taken from ``_frames``
        self._from_start = False  # ``_frames`` decodes from the file's start: frames are counted
        self._ordinal = -1  # frames delivered since the start (when ``_from_start``)
        self._at_start = False  # the container is freshly opened and nothing was decoded yet
        self.restarts = 0  # how often decoding started again from a keyframe (diagnostics)
        self._open_container()
        try:
            rate = self._stream.average_rate or self._stream.guessed_rate
            self.fps: float | None = float(rate) if rate else None  # frames per second, when known
            self._set_index(load_index(self._container, self._stream, path))
        finally:
            self.close()
        if self.index.count == 0:
            raise VideoReadError(f"video {str(path)!r} contains no frames")
        self.names = index_names(self.index.count)

    def __len__(self) -> int:
        return self.index.count

    def _set_index(self, index: FrameIndex) -> None:
        self.index = index
        self._position = {p: i for i, p in enumerate(index.pts)} if index.pts is not None else {}

    def _open_container(self) -> None:
        """(Re)open the file, positioned at its start."""
        self.close()
        self._container, self._stream = open_video(self.path)
        self._at_start = True

    def close(self) -> None:
        """Release the file; reading again reopens it."""
        if self._container is not None:
            self._container.close()
        self._container = None
        self._frames = None
        self._last = -1
        self._at_start = False

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as an (H, W, 3) uint8 RGB array."""
        try:
            return self._read(index)
        except _IndexMismatch:
            if self.index.decoded:  # decoding the same file twice gave two answers
                raise VideoReadError(f"video {str(self.path)!r}: decoding is not repeatable") from None
        # the packets' timestamps misled the index: index what the decoder delivers, then read again
        count = self.index.count
        self.close()
        self._set_index(rebuild_index(self.path))
        if self.index.count != count:
            raise VideoReadError(
                f"video {str(self.path)!r}: its packets announce {count} frames but {self.index.count} decode"
            )
        return self._read(index)

    def _read(self, index: int) -> np.ndarray:
        if self._container is None:
            self._open_container()
        keyframe_slot = self.index.keyframe_slot(index)
        if self._frames is not None and self._should_continue(index, keyframe_slot):
            return self._advance_to(index, first=None)
        return self._seek_and_read(index, keyframe_slot)

    def _should_continue(self, index: int, keyframe_slot: int) -> bool:
        """Is decoding on from the current position no more work than seeking?"""
        if index <= self._last:
            return False
        return self.index.keyframes[keyframe_slot] <= self._last or index - self._last <= _CONTINUE_WINDOW

    def _seek_and_read(self, index: int, keyframe_slot: int) -> np.ndarray:
        """Seek to a keyframe before ``index`` and decode forward.

        Some formats seek only approximately (MPEG-TS) and may land after the frame, and some
        decoders drop frames after a seek; then an earlier keyframe is tried, and finally the file
        is decoded again from its start.
        """
        step = 1
        slot = keyframe_slot if self.index.pts is not None else 0
        while True:
            self._restart_at(slot)
            if self._from_start:
                return self._advance_to(index, first=None)
            first = self._next_frame(index)
            landed = first is not None and 0 <= self._identify(first) <= index
            if landed:
                try:
                    return self._advance_to(index, first=first)
                except VideoReadError:
                    pass  # the frame did not come after this seek: decode from further back
            slot = max(slot - step, 0)
            step *= 2

    def _restart_at(self, keyframe_slot: int) -> None:
        """Position the decoder at the keyframe ``keyframes[keyframe_slot]`` (slot 0: the start)."""
        av = import_av()
        self.restarts += 1
        if keyframe_slot > 0:
            assert self.index.pts is not None
            target = self.index.pts[self.index.keyframes[keyframe_slot]]
            try:
                self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
                self._start_decoding(from_start=False)
                self._last = self.index.keyframes[keyframe_slot] - 1  # the keyframe comes next
                return
            except av.FFmpegError:
                pass  # not seekable: decode from the start instead
        if not self._at_start:
            self._open_container()  # reopening is the one exact way back to the start in every format
        self._start_decoding(from_start=True)

    def _start_decoding(self, from_start: bool) -> None:
        self._frames = iter(self._container.decode(self._stream))
        self._at_start = False
        self._from_start = from_start
        self._last = -1
        self._ordinal = -1

    def _next_frame(self, index: int) -> Any | None:
        """The next decoded frame, or ``None`` at the end of the file."""
        av = import_av()
        assert self._frames is not None
        try:
            frame = next(self._frames)
        except StopIteration:
            return None
        except (av.FFmpegError, ValueError, OSError) as exc:
            failing = self._last + 1  # the first frame not delivered yet
            self._frames = None
            also = f" while reading frame {index}" if failing != index else ""
            raise VideoReadError(f"video {str(self.path)!r}: cannot decode frame {failing}{also} ({exc})") from exc
        self._ordinal += 1
        return frame

    def _identify(self, frame: Any) -> int:
        """Index of a decoded frame (-1 when its timestamp is unknown).

        From the file's start the ``n``-th frame delivered is frame ``n``: the index must agree.
        """
        if self._from_start:
            n = self._ordinal
            if n >= self.index.count or (self.index.pts is not None and frame.pts != self.index.pts[n]):
                self._frames = None
                raise _IndexMismatch
            return n
        return self._position.get(frame.pts, -1) if frame.pts is not None else -1

    def _advance_to(self, index: int, first: Any | None) -> np.ndarray:
        """Decode forward until frame ``index``; ``first`` is a frame already taken from the decoder."""
        frame = first if first is not None else self._next_frame(index)
        while frame is not None:
            shown = self._identify(frame)
            if shown == index:
                self._last = index
                return frame.to_ndarray(format="rgb24")
            if shown > index:
                break  # the decoder went past it: that frame could not be decoded
            self._last = max(self._last, shown)
            frame = self._next_frame(index)
        if self._from_start and frame is None and self._ordinal + 1 < self.index.count:
            self._frames = None
            raise _IndexMismatch  # fewer frames than the index holds
        self._frames = None
        raise VideoReadError(
            f"video {str(self.path)!r}: frame {index} of {self.index.count} could not be decoded "
            "(the file is damaged)"
        )


def _check_fps(fps: float | Fraction) -> Fraction:
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not 0 < fps < float("inf"):
        raise InvalidInputError(f"fps: expected a positive number, got {fps!r}")
    exact = fps if isinstance(fps, (int, Fraction)) else Fraction(float(fps))
    return Fraction(exact).limit_denominator(1001)


def _check_frame(frame: Any, index: int, size: tuple[int, int] | None) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        desc = f"{frame.dtype} array of shape {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise InvalidInputError(f"frames[{index}]: expected an (H, W, 3) uint8 array, got {desc}")
    if size is not None and frame.shape[:2] != size:
        raise InvalidInputError(f"frames[{index}]: size {frame.shape[:2]} differs from the first frame's {size}")
    return np.ascontiguousarray(frame)


def _add_video_stream(container: Any, rate: Fraction, height: int, width: int) -> Any:
    """H.264 (libx264) when FFmpeg has it, else MPEG-4 part 2; yuv420p where the size allows it."""
    av = import_av()
    even = height % 2 == 0 and width % 2 == 0
    if "libx264" in av.codecs_available:
        stream = container.add_stream("libx264", rate=rate)
        stream.pix_fmt = "yuv420p" if even else "yuv444p"  # 4:2:0 needs even sizes
        stream.options = {"crf": "18"}
    else:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "2"}
    stream.width, stream.height = width, height
    return stream


def _encode_all(container: Any, frames: Iterable[np.ndarray], rate: Fraction) -> int:
    """Encode every frame into ``container``; returns how many were written."""
    av = import_av()
    stream = None
    size: tuple[int, int] | None = None
    count = 0
    for count, frame in enumerate(frames, start=1):
        frame = _check_frame(frame, count - 1, size)
        if stream is None:
            size = frame.shape[:2]
            stream = _add_video_stream(container, rate, *size)
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            container.mux(packet)
    if stream is None:
        raise InvalidInputError("frames: got no frames; a video needs at least one")
    for packet in stream.encode():  # flush the encoder
        container.mux(packet)
    return count


def write_video(path: str | os.PathLike[str], frames: Iterable[np.ndarray], fps: float | Fraction) -> int:
    """Write (H, W, 3) uint8 RGB frames to a video file; returns the number of frames written.

    The file is written to a temporary name next to ``path`` and renamed when complete, so a
    reader never sees a partial file. MP4 (also .m4v, .mov, .mkv, .avi) with H.264 when available.
    """
    av = import_av()
    target = Path(path)
    if target.suffix.lower() not in _WRITE_SUFFIXES:
        raise InvalidInputError(f"path: {str(target)!r} should end in one of {', '.join(_WRITE_SUFFIXES)}")
    if not target.parent.is_dir():
        raise InvalidInputError(f"path: folder {str(target.parent)!r} does not exist")
    rate = _check_fps(fps)
    # a fresh hidden name next to the target (created by FFmpeg, so with the usual permissions)
    tmp_name = str(target.with_name(f".{target.stem}.{uuid.uuid4().hex[:12]}.tmp{target.suffix}"))
    try:
        with av.open(tmp_name, "w") as container:
            count = _encode_all(container, frames, rate)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return count
