"""Any still image as an (H, W, 3) uint8 RGB array: :func:`to_rgb`, the one conversion every entry
point uses (the PyTorch predictors and trackers, the automatic masks, training, batch runs and the
onnxruntime host). numpy and Pillow only: no torch, so the ONNX host can use it without PyTorch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from samstream.errors import InvalidInputError

_16_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def to_rgb(image: Any, name: str = "image") -> np.ndarray:
    """Any still image as an (H, W, 3) uint8 RGB array: THE conversion for every entry point.

    Accepted, with one behaviour each:

    - a path (``str`` or ``os.PathLike``) to an image file PIL can read; a folder, a missing file
      or an unreadable one raises :class:`InvalidInputError` saying which;
    - a PIL image of any mode: 16-bit ones (``I;16*``, and ``I`` as PIL opens 16-bit PNGs) are
      scaled like uint16 arrays, ``F`` like float arrays, every other mode through PIL's RGB
      conversion (palettes expanded, CMYK/YCbCr/HSV converted, alpha dropped);
    - a numpy array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), H, W > 0, of dtype
      ``uint8`` (as is), ``uint16`` (scaled by 255/65535 and rounded: 65535 -> 255, 257 -> 1),
      ``bool`` (False -> 0, True -> 255) or float (values must lie in [0, 1]; scaled by 255 and
      rounded; NaN or values outside raise).

    Grayscale is replicated to three channels. **Alpha is dropped**: the colour channels are used as
    stored, not composited on a background (what PIL's ``convert("RGB")`` does, so an RGBA file and
    its array give the same pixels). Torch tensors are refused (their layout, CHW or HWC, and value
    range are ambiguous). ``name`` is the argument named in error messages. The result may share
    memory with a uint8 (H, W, 3) input; do not write to it.
    """
    if isinstance(image, (str, os.PathLike)):
        image = _open_image(Path(image), name)
    if isinstance(image, Image.Image):
        image = _pil_to_array(image, name)
    if _is_torch_tensor(image):
        raise InvalidInputError(
            f"{name}: got a torch.Tensor; pass an (H, W, 3) uint8 numpy array, a PIL image or a path")
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(
            f"{name}: unsupported type {type(image).__name__}; expected an (H, W, 3) uint8 array, a PIL image or a path"
        )
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise InvalidInputError(f"{name}: shape {image.shape} is not (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidInputError(f"{name}: shape {image.shape} is empty")
    image = _to_uint8(image[:, :, :3] if image.shape[2] == 4 else image, name)  # alpha dropped
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image)


def _open_image(path: Path, name: str) -> Image.Image:
    if path.is_dir():
        raise InvalidInputError(f"{name}: {str(path)!r} is a folder; expected an image file")
    if not path.is_file():
        raise InvalidInputError(f"{name}: no such file {str(path)!r}")
    try:
        with Image.open(path) as im:
            im.load()
            return im
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InvalidInputError(f"{name}: {str(path)!r} is not a readable image ({exc})") from exc


def _pil_to_array(image: Image.Image, name: str) -> np.ndarray:
    """A PIL image as an array :func:`to_rgb` scales: 16-bit and float modes keep their values."""
    if image.mode in _16_BIT_MODES:
        return np.asarray(image).astype(np.uint16)  # (H, W), native byte order
    if image.mode == "I":  # 32-bit ints: what PIL makes of 16-bit PNGs (values 0..65535)
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise InvalidInputError(f"{name}: 32-bit PIL image with values outside 0..65535; convert it first")
        return values.astype(np.uint16)
    if image.mode == "F":
        return np.asarray(image)  # float32, checked against [0, 1]
    if image.mode == "La":  # premultiplied gray + alpha: PIL converts it only to LA
        image = image.convert("LA")
    try:
        return np.asarray(image.convert("RGB"))
    except ValueError as exc:
        raise InvalidInputError(f"{name}: PIL mode {image.mode!r} cannot be converted to RGB ({exc})") from exc


def _to_uint8(values: np.ndarray, name: str) -> np.ndarray:
    """(H, W, C) values of any supported dtype -> uint8 (see :func:`to_rgb`)."""
    if values.dtype == np.uint8:
        return values
    if values.dtype == np.bool_:
        return values.astype(np.uint8) * np.uint8(255)
    if values.dtype.kind == "u" and values.dtype.itemsize == 2:  # either byte order; round(v * 255 / 65535)
        return ((values.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if np.issubdtype(values.dtype, np.floating):
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if not (0.0 <= low and high <= 1.0):  # also catches NaN
            raise InvalidInputError(
                f"{name}: float values must lie in [0, 1] (got {low:g} to {high:g}); scale them, or pass uint8")
        return np.rint(values.astype(np.float64) * 255.0).astype(np.uint8)
    raise InvalidInputError(
        f"{name}: dtype {values.dtype} is not supported; expected uint8, uint16, bool or float values in [0, 1]")


def _is_torch_tensor(value: Any) -> bool:
    """Whether ``value`` is a torch tensor, told without importing torch (the ONNX host runs without it)."""
    return any(cls.__module__.startswith("torch") and cls.__name__ == "Tensor" for cls in type(value).__mro__)
