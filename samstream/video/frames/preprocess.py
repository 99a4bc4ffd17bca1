"""Frames made into model inputs: the resize and normalisation every video path shares.

Every frame is preprocessed the same way, on the uint8 RGB frame: PIL bicubic resize to
``image_size`` squared, division by 255 in float64, conversion to float32, then ``(x - mean) / std``
in float32 (done as a table lookup per channel and level, which gives the same numbers).
:class:`ModelInput` holds that table for one model on one device; the offline
:class:`~samstream.video.frames.source.FrameSource` and the streaming tracker both use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from samstream.config import ModelConfig
from samstream.errors import InvalidInputError
from samstream.video.frames.raw import count_arg

__all__ = ["ModelInput", "normalisation_table", "preprocess_frame"]


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


def _triple(value: Any, name: str) -> tuple[float, float, float]:
    try:
        triple = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        triple = ()
    if len(triple) != 3 or not all(np.isfinite(triple)):
        raise InvalidInputError(f"{name}: expected three finite numbers (one per RGB channel), got {value!r}")
    return triple  # type: ignore[return-value]


class ModelInput:
    """How one model wants its frames: ``image_size`` squared, normalised by ``mean`` and ``std`` (per
    channel, for inputs scaled to [0, 1]), on ``device``. Call it with an (H, W, 3) uint8 RGB frame to
    get the (3, image_size, image_size) float32 input."""

    def __init__(self, image_size: int, mean: Any, std: Any, device: torch.device | str = "cpu") -> None:
        self.image_size = count_arg(image_size, "image_size", 1)
        mean_t, std_t = _triple(mean, "mean"), _triple(std, "std")
        if 0.0 in std_t:
            raise InvalidInputError(f"std: values must be non-zero, got {std!r}")
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise InvalidInputError(f"device: {device!r} is not a torch device ({exc})") from exc
        self._table = normalisation_table(mean_t, std_t).to(self.device)  # (768,)

    @classmethod
    def for_model(cls, cfg: ModelConfig, device: torch.device | str = "cpu") -> ModelInput:
        """The inputs of a model of configuration ``cfg`` (its image size, pixel mean and std)."""
        return cls(cfg.image_size, cfg.pixel_mean, cfg.pixel_std, device)

    def __call__(self, rgb: np.ndarray) -> Tensor:
        """(H, W, 3) uint8 RGB -> (3, image_size, image_size) float32 on ``device``."""
        return preprocess_frame(rgb, self.image_size, self._table)

    def __repr__(self) -> str:
        return f"ModelInput(image_size={self.image_size}, device={self.device})"
