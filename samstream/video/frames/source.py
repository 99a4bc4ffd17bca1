"""Random access to a video's frames for the trackers: originals and model inputs, both cached.

>>> with open_frames("clip.mp4", image_size=1024, mean=(0.485, 0.456, 0.406),
...                  std=(0.229, 0.224, 0.225)) as frames:
...     x = frames.tensor(0)      # (3, 1024, 1024) float32 model input
...     img = frames.raw(0)       # (H, W, 3) uint8 original frame

A :class:`FrameSource` is :class:`~samstream.video.frames.raw.RawFrames` (reading) with a
:class:`~samstream.video.frames.preprocess.ModelInput` (preprocessing); it keeps only the ``cache_size``
most recently used raw and preprocessed frames, never the whole video. Code that needs pixels only
opens :func:`~samstream.video.frames.raw.open_raw_frames`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from samstream.video.frames.preprocess import ModelInput
from samstream.video.frames.raw import FrameReader, FrameSourceInput, RawFrames, open_raw_frames, remember

__all__ = ["CacheInfo", "FrameSource", "FrameSourceInput", "open_frames"]


class CacheInfo(NamedTuple):
    """How many frames a :class:`FrameSource` holds now, and at most."""

    raw: int
    tensors: int
    capacity: int


class FrameSource:
    """Random access to a video's frames: originals with :meth:`raw`, model inputs with :meth:`tensor`.

    Thread-safe. ``height``, ``width``, ``names`` and ``fps`` are those of its
    :class:`~samstream.video.frames.raw.RawFrames`; ``image_size`` and ``device`` those of its
    :class:`~samstream.video.frames.preprocess.ModelInput`. Closing it closes the raw frames.
    """

    def __init__(self, frames: RawFrames, model_input: ModelInput) -> None:
        self.frames = frames
        self.model_input = model_input
        self.cache_size = frames.cache_size
        self.image_size, self.device = model_input.image_size, model_input.device
        self.names, self.fps = frames.names, frames.fps
        self.height, self.width = frames.height, frames.width
        self._tensors: OrderedDict[int, Tensor] = OrderedDict()
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self.frames)

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
            self.frames.close()
            self._tensors.clear()

    @property
    def reader(self) -> FrameReader | None:
        """The underlying reader (``None`` once closed)."""
        return self.frames.reader

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self.frames.closed

    def cache_info(self) -> CacheInfo:
        """Raw and preprocessed frames held now, and the bound on each."""
        with self._lock:
            return CacheInfo(raw=self.frames.cached, tensors=len(self._tensors), capacity=self.cache_size)

    def raw(self, index: int) -> np.ndarray:
        """Frame ``index`` as decoded: a read-only (H, W, 3) uint8 RGB array (copy it to draw on it)."""
        return self.frames.raw(index)

    def tensor(self, index: int) -> Tensor:
        """Frame ``index`` as a (3, image_size, image_size) float32 normalised model input on ``device``."""
        index = self.frames.check_index(index)
        with self._lock:
            if index in self._tensors:
                self._tensors.move_to_end(index)
                return self._tensors[index]
            x = self.model_input(self.frames.raw(index))
            remember(self._tensors, index, x, self.cache_size)
            return x


def open_frames(source: FrameSourceInput, image_size: int, mean: Any, std: Any,
                cache_size: int = 16, device: torch.device | str = "cpu") -> FrameSource:
    """Open a video for random access to its frames and model inputs.

    Args:
        source: what :func:`~samstream.video.frames.raw.open_raw_frames` reads (a frame folder, a
            video file, a single image, a (T, H, W, 3) uint8 array, a list of images).
        image_size: the model's square input size.
        mean, std: per-channel values for inputs scaled to [0, 1].
        cache_size: at most this many raw and this many preprocessed frames are kept.
        device: where model inputs are made.

    Returns:
        The source; close it (or use ``with``) to release the file.

    Raises:
        VideoReadError: a missing, empty, unreadable or corrupt source.
        InvalidInputError: an array of the wrong dtype or shape, a bad argument.
    """
    model_input = ModelInput(image_size, mean, std, device)  # checked before the file is opened
    frames = open_raw_frames(source, cache_size)
    return FrameSource(frames, model_input)
