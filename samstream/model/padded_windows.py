"""Windowed attention on a map that the windows do not tile, without computing the padding.

Hiera pads such a map with zero tokens up to a multiple of the window (after the block's first
norm) and attends within each padded window. A zero token's query, key and value are the qkv
layer's bias, so all padding tokens of a window have one and the same key and value; only the
outputs of real tokens are kept. That makes three exact rewrites possible:

- the qkv projection runs on the real tokens only;
- a window with ``p`` padding tokens attends to its real keys plus *one* padding key whose score
  is raised by ``log p``: ``p * exp(s) == exp(s + log p)``, so the softmax is the same;
- queries (and the output projection) are computed for real tokens only.

The map is cut into at most four regions whose windows have one shape each: the full windows, the
right and bottom edge strips and the corner. At small inputs (a 4 x 4 token grid in a 14 x 14
window) this replaces 196 x 196 scores per window by 16 x 17; at the released 1024 input it saves
the edge windows' padding (a 64 x 64 grid in windows of 14 is padded to 70 x 70).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _spans(n: int, window: int) -> list[tuple[int, int, int]]:
    """(start, stop, window side) of the full-window part of ``range(n)`` and of its remainder."""
    full = (n // window) * window
    spans = [(0, full, window)] if full else []
    if full < n:
        spans.append((full, n, n - full))
    return spans


def _windows(x: Tensor, wh: int, ww: int) -> Tensor:
    """(B, H, W, C) with H, W multiples of (wh, ww) -> (B * nW, wh, ww, C), windows in raster order."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // wh, wh, w // ww, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, wh, ww, c)


def _unwindows(x: Tensor, b: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`_windows` for an output map of (B, h, w, C)."""
    wh, ww, c = x.shape[1:]
    x = x.reshape(b, h // wh, w // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


def supports(height: int, width: int, window: int, q_stride: tuple[int, int] | None) -> bool:
    """Whether :func:`attend_padded` reproduces the padded computation for this map.

    With pooled queries, every kept pooled cell must lie inside one window's real tokens, as it
    does when the window and the map's sides are multiples of the (square) stride.
    """
    if q_stride is None:
        return True
    s = q_stride[0]
    return q_stride[0] == q_stride[1] and window % s == 0 and height % s == 0 and width % s == 0


def attend_padded(attn, xn: Tensor, window: int, max_tokens: int | None = None) -> Tensor:
    """Windowed attention of ``attn`` (a Hiera ``MultiScaleAttention``) over a raster map
    ``xn`` (B, H, W, C), as if zero-padded to whole windows; returns (B, H', W', C_out) with the
    padding removed (H' = H / stride with pooled queries). ``max_tokens`` bounds the tokens
    projected at once (inference keeps intermediates in cache)."""
    b, h, w, _ = xn.shape
    stride = attn.q_stride or (1, 1)
    out = xn.new_empty((b, h // stride[0], w // stride[1], attn.dim_out))
    for r0, r1, wh in _spans(h, window):
        for c0, c1, ww in _spans(w, window):
            region = xn[:, r0:r1, c0:c1]
            pad = window * window - wh * ww
            windows = _windows(region, wh, ww)  # (G, wh, ww, C)
            per_chunk = windows.shape[0]
            if max_tokens is not None:
                per_chunk = max(1, max_tokens // (wh * ww))
            parts = [attn(part, pad=pad) for part in windows.split(per_chunk)]
            y = parts[0] if len(parts) == 1 else torch.cat(parts)
            out[:, r0 // stride[0] : r1 // stride[0], c0 // stride[1] : c1 // stride[1]] = _unwindows(
                y, b, (r1 - r0) // stride[0], (c1 - c0) // stride[1]
            )
    return out


def padding_key(bias: Tensor, k: Tensor, v: Tensor, pad: int, queries: int) -> tuple[Tensor, Tensor, Tensor]:
    """Keys and values (A, nh, N, hd) extended by the padding key and value of a window with ``pad``
    zero tokens (``bias``: the qkv layer's bias, (3 * nh * hd,)), and the additive score mask
    (queries, N + 1) that weights that key ``pad`` times."""
    a, nh, _, hd = k.shape
    pad_k, pad_v = (part.to(k.dtype).view(1, nh, 1, hd).expand(a, -1, -1, -1) for part in bias.view(3, nh, hd)[1:])
    k, v = torch.cat([k, pad_k], dim=2), torch.cat([v, pad_v], dim=2)
    mask = k.new_zeros(1, k.shape[2])  # the same for every query
    mask[:, -1] = math.log(pad)
    # a view in PyTorch; spelled out per query because onnxruntime's Attention kernel (ONNX opset 23)
    # refuses a mask whose query axis is broadcast
    return k, v, mask.expand(queries, -1)
