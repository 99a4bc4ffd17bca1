"""The host's array steps (numpy, Pillow) for what the graphs leave out: resizes, hole filling, bfloat16.

Each function gives the numbers of the PyTorch operation samstream's predictors use (named in its
docstring) up to float32 rounding; the tests compare them. No torch here.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from samstream.errors import InvalidInputError

FLOAT = np.float32


@functools.lru_cache(maxsize=32)
def _axis_weights(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) float32 matrix of a bilinear resize along one axis (half-pixel centres,
    source positions clamped at the borders); read-only, as it is shared between calls."""
    scale = size_in / size_out
    weights = np.zeros((size_out, size_in), dtype=np.float64)
    src = np.maximum((np.arange(size_out) + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
    i1 = np.minimum(i0 + 1, size_in - 1)
    frac = src - i0
    rows = np.arange(size_out)
    np.add.at(weights, (rows, i0), 1.0 - frac)
    np.add.at(weights, (rows, i1), frac)
    weights = weights.astype(FLOAT)
    weights.flags.writeable = False
    return weights


def resize_bilinear(x: np.ndarray, size: tuple[int, int], antialias: bool = False) -> np.ndarray:
    """(..., H, W) float32 -> (..., h, w): ``F.interpolate(mode="bilinear", align_corners=False)``,
    with ``antialias`` as PyTorch's (for shrinking)."""
    x = x.astype(FLOAT, copy=False)
    if antialias:
        return _resize_antialiased(x, size)
    out = np.matmul(_axis_weights(x.shape[-2], size[0]), x)  # (..., h, W)
    return np.matmul(out, _axis_weights(x.shape[-1], size[1]).T)


def _resize_antialiased(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The antialiased resize, plane by plane with Pillow's float ("F") images.

    Pillow's bilinear filter is the triangle that PyTorch's ``antialias=True`` uses: stretched by the
    scale when shrinking, renormalised at the borders, plain bilinear when enlarging; Pillow sums in
    float64, so the result is PyTorch's up to float32 rounding (tests/onnx/test_host.py). It touches
    only the few taps of each output, where a matrix product over the whole axis would multiply by
    zeros: 3 x 360 x 480 to 256 x 256 took 2.4 ms, against 6.8 ms for the two products (2 cores)."""
    h, w = size
    planes = x.reshape(-1, *x.shape[-2:])
    out = np.empty((planes.shape[0], h, w), dtype=FLOAT)
    for i, plane in enumerate(planes):
        image = Image.fromarray(np.ascontiguousarray(plane))  # a 2-D float32 array is an "F" image
        out[i] = np.asarray(image.resize((w, h), Image.Resampling.BILINEAR))
    return out.reshape(*x.shape[:-2], h, w)


def to_bfloat16_values(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (ties to even), kept as float32: what storing a
    tensor as ``torch.bfloat16`` and reading it back gives (finite values)."""
    bits = np.ascontiguousarray(x, dtype=FLOAT).view(np.uint32)
    rounding = ((bits >> 16) & 1) + np.uint32(0x7FFF)
    return ((bits + rounding) & np.uint32(0xFFFF0000)).view(FLOAT)


def _shifts(x: np.ndarray, fill: float) -> list[np.ndarray]:
    """The 8 neighbours' values of every pixel of (..., H, W), ``fill`` past the border."""
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)], constant_values=fill)
    h, w = x.shape[-2:]
    return [padded[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
            for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def fill_holes(logits: np.ndarray, max_area: float) -> np.ndarray:
    """``samstream.image.postprocess.fill_holes`` in numpy: (N, 1, H, W) logits whose 8-connected
    components of ``logits <= 0`` have at most ``max_area`` pixels get the logit 0.1.

    Labels spread as the minimum over 8-neighbours for ``max_area`` rounds: a component of at most
    that many pixels is then one label, and a label region with no neighbour of another label is a
    whole component; larger components are never filled, whether their labels settled or not.
    """
    if not max_area > 0:
        raise InvalidInputError(f"max_area: must be positive, got {max_area}")
    if logits.ndim != 4 or logits.shape[1] != 1:
        raise InvalidInputError(f"logits: expected shape (N, 1, H, W), got {logits.shape}")
    bg = logits <= 0
    if not bg.any():
        return logits
    big = np.iinfo(np.int64).max
    size = bg[0, 0].size
    index = np.arange(size, dtype=np.int64).reshape(bg.shape[-2:])
    labels = np.where(bg, index + np.arange(bg.shape[0])[:, None, None, None] * size, big)
    for _ in range(int(min(max_area, size))):
        nxt = np.minimum.reduce([labels, *_shifts(labels, big)])
        nxt = np.where(bg, nxt, big)
        if np.array_equal(nxt, labels):
            break
        labels = nxt
    open_edge = np.zeros_like(bg)
    for nb in _shifts(labels, big):
        open_edge |= bg & (nb != big) & (nb != labels)
    flat = labels[bg]
    uniq, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    leaks = np.zeros(len(uniq), dtype=bool)
    np.logical_or.at(leaks, inverse, open_edge[bg])
    hole = np.zeros_like(bg)
    hole[bg] = ((counts <= max_area) & ~leaks)[inverse]
    return np.where(hole, FLOAT(0.1), logits).astype(logits.dtype, copy=False)


def stability_scores(logits: np.ndarray, threshold: float, offset: float) -> np.ndarray:
    """``samstream.model.mask_decoder.stability_score``: (..., H, W) -> (...,)."""
    flat = logits.reshape(*logits.shape[:-2], -1)
    inner = (flat > threshold + offset).sum(-1).astype(FLOAT)
    outer = (flat > threshold - offset).sum(-1).astype(FLOAT)
    return np.where(outer > 0, inner / np.maximum(outer, 1), FLOAT(1.0))
