"""Axial rotary position encoding (RoPE) for attention over a grid of tokens.

The ``head_dim`` channels of a head form ``head_dim / 2`` consecutive pairs, each read as a complex
number and rotated by an angle that grows with the token's position: pair ``p < head_dim / 4`` by
``x * f_p`` and pair ``head_dim / 4 + p`` by ``y * f_p``, where ``f_p = theta ** (-4p / head_dim)``
and ``(x, y)`` are the token's column and row in the raster-ordered grid. Rotating a query and a key
by their own positions makes their dot product depend only on the offset between them.

Keys may hold several frames of the query's grid (each frame rotated like the query grid) followed by
tokens that are not rotated at all (object pointers). Tables are computed in float32 on the CPU, then
cached per (grid, device).

Two forms of the same rotation, chosen per :class:`AxialRope` (``real``), never by global state:

- complex (the default): tables of unit complex numbers and one complex product; on a CPU it is
  6-15x faster than the real form (measured on 2-core x86_64, 64x64 grid: ``rotate`` 1.1-2.0 ms
  against 7-17 ms, the in-place key rotation 1.1-1.5 ms against 10 ms), since PyTorch multiplies
  interleaved pairs in one vectorised kernel and the real form needs strided halves;
- real: tables of (cos, sin) pairs, (L, hd/2, 2) float32, and the rotation written with real
  multiplications and additions, ``(a, b) -> (a cos - b sin, a sin + b cos)``. Exports use it
  (ONNX has no complex tensors). Both give the same numbers up to float32 rounding.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from samstream.errors import InvalidInputError


def axial_angles(head_dim: int, height: int, width: int, theta: float = 10000.0) -> Tensor:
    """Rotation angle of every channel pair of every token of a ``height x width`` grid: (height*width, head_dim/2)."""
    if head_dim % 4:
        raise InvalidInputError(f"head_dim must be a multiple of 4, got {head_dim}")
    quarter = head_dim // 4
    exponents = torch.arange(0, head_dim, 4)[:quarter].float() / head_dim
    freqs = 1.0 / (theta**exponents)  # (hd/4,)
    t = torch.arange(height * width, dtype=torch.float32)  # raster order: row-major
    xs = t % width
    ys = torch.div(t, width, rounding_mode="floor")
    return torch.cat([torch.outer(xs, freqs), torch.outer(ys, freqs)], dim=-1)  # (L, hd/2)


def axial_rotations(head_dim: int, height: int, width: int, theta: float = 10000.0) -> Tensor:
    """Unit complex rotation of every token of a ``height x width`` grid: (height*width, head_dim/2)."""
    angles = axial_angles(head_dim, height, width, theta)
    return torch.polar(torch.ones_like(angles), angles)  # complex64


def axial_cos_sin(head_dim: int, height: int, width: int, theta: float = 10000.0) -> Tensor:
    """The same rotations in real form: (height*width, head_dim/2, 2) float32 (cos, sin) pairs."""
    angles = axial_angles(head_dim, height, width, theta)
    return torch.stack([angles.cos(), angles.sin()], dim=-1)


def grid_side(num_tokens: int) -> int:
    """Side of the square grid holding ``num_tokens`` tokens."""
    side = math.isqrt(num_tokens)
    if side * side != num_tokens or side == 0:
        raise InvalidInputError(
            f"rotary encoding needs a square token grid; got {num_tokens} query tokens"
        )
    return side


def rotate(x: Tensor, rotations: Tensor) -> Tensor:
    """Rotate (..., N, hd) tokens, N a multiple of L = len(rotations), frame by frame.

    ``rotations`` is an (L, hd/2) complex table or an (L, hd/2, 2) real (cos, sin) table (see the
    module notes); it is broadcast over the N / L frames rather than repeated. The result has the
    dtype of ``x``; the arithmetic is float32.
    """
    *lead, n, hd = x.shape
    length = rotations.shape[0]
    if n % length or 2 * rotations.shape[1] != hd:
        raise InvalidInputError(
            f"cannot rotate {n} tokens of width {hd} with a table for {length} tokens of width "
            f"{2 * rotations.shape[1]}: the token count must be a multiple of the grid size"
        )
    pairs = x.float().reshape(*lead, n // length, length, hd // 2, 2)  # (..., frames, L, hd/2, 2)
    if rotations.is_complex():
        out = torch.view_as_real(torch.view_as_complex(pairs) * rotations)  # (..., frames, L, hd/2, 2)
    else:
        a, b = pairs[..., 0], pairs[..., 1]  # (..., frames, L, hd/2)
        cos, sin = rotations[..., 0], rotations[..., 1]  # (L, hd/2)
        out = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)
    return out.reshape(*lead, n, hd).to(x.dtype)


def rotate_keys(k: Tensor, rotations: Tensor, num_exclude: int = 0, inplace: bool = False) -> Tensor:
    """Rotate (..., N, hd) keys except the last ``num_exclude`` tokens, which pass unchanged.

    With ``inplace`` (the caller's inference form, see :mod:`samstream.model.kernels`; float32 keys
    whose last axis is contiguous, e.g. fresh projections) the keys are rotated where they lie and
    returned, with no copy of the whole tensor.
    """
    n = k.shape[-2]
    if not 0 <= num_exclude <= n:
        raise InvalidInputError(f"num_exclude must be in [0, {n}] for {n} keys, got {num_exclude}")
    n_rot = n - num_exclude
    if n_rot == 0:
        return k
    if n_rot % rotations.shape[0]:
        raise InvalidInputError(
            f"{n} keys less num_exclude={num_exclude} unrotated ones leave {n_rot} keys, not a multiple "
            f"of the grid's {rotations.shape[0]} tokens"
        )
    if inplace and rotations.is_complex() and k.dtype == torch.float32 and k.stride(-1) == 1:
        head = k[..., :n_rot, :]
        pairs = head.unflatten(-2, (n_rot // rotations.shape[0], rotations.shape[0])).unflatten(-1, (-1, 2))
        torch.view_as_complex(pairs).mul_(rotations)  # (..., frames, L, hd/2) complex, a view of k
        return k
    if torch.compiler.is_compiling():
        return rotate(k, key_rotations(rotations, n, n_rot))
    if num_exclude == 0:
        return rotate(k, rotations)
    return torch.cat([rotate(k[..., :n_rot, :], rotations), k[..., n_rot:, :]], dim=-2)


def key_rotations(rotations: Tensor, num_keys: int, num_rotated: int) -> Tensor:
    """The rotation of each of ``num_keys`` keys: the grid's table repeated over the first
    ``num_rotated`` (a multiple of its length), the identity (exactly 1 + 0i, or cos 1 and sin 0)
    for the rest. One table as long as the keys, without slicing them: the form a compiled graph
    keeps for any number of memory frames and pointers (slices and reshapes of slices are guarded
    on whether they cover the whole tensor, which recompiled it as pointers came and went)."""
    length = rotations.shape[0]
    if rotations.is_complex():
        identity = torch.ones_like(rotations[:1])
    else:
        identity = torch.stack([torch.ones_like(rotations[:1, :, 0]), torch.zeros_like(rotations[:1, :, 1])], dim=-1)
    table = torch.cat([rotations, identity])  # (L + 1, hd/2[, 2]): row L is the identity
    position = torch.arange(num_keys, device=rotations.device)
    index = torch.where(position < num_rotated, position % length, length)
    return table[index]  # (num_keys, hd/2[, 2])


class AxialRope:
    """Rotation tables of one head width, computed once per (grid, device).

    ``real`` selects the (cos, sin) form of the tables (for exports) instead of the complex one.
    """

    def __init__(self, head_dim: int, theta: float = 10000.0, real: bool = False) -> None:
        if head_dim % 4:
            raise InvalidInputError(f"head_dim must be a multiple of 4, got {head_dim}")
        self.head_dim = head_dim
        self.theta = theta
        self.real = real
        self._cache: dict[tuple[int, int, str], Tensor] = {}

    def use_real_form(self, real: bool = True) -> None:
        """Switch between the real (cos, sin) and the complex tables (the cache is rebuilt)."""
        if real != self.real:
            self.real = real
            self._cache.clear()

    def table(self, height: int, width: int, device: torch.device) -> Tensor:
        """(height*width, head_dim/2) complex or (height*width, head_dim/2, 2) real rotations on ``device``."""
        make = axial_cos_sin if self.real else axial_rotations
        if torch.compiler.is_compiling():  # built in the graph: a cache would be guarded on and recompile
            return make(self.head_dim, height, width, self.theta).to(device)
        key = (height, width, str(device))
        cached = self._cache.get(key)
        if cached is None:
            cached = make(self.head_dim, height, width, self.theta).to(device)
            self._cache[key] = cached
        return cached

    def square_table(self, num_tokens: int, device: torch.device) -> Tensor:
        """Table for a square grid of ``num_tokens`` tokens."""
        side = grid_side(num_tokens)
        return self.table(side, side, device)

    def __repr__(self) -> str:
        return f"AxialRope(head_dim={self.head_dim}, theta={self.theta}, real={self.real})"


def use_real_rotations(module: torch.nn.Module, real: bool = True) -> int:
    """Put every :class:`AxialRope` held by ``module``'s submodules in the real (or complex) form.

    Returns how many were switched. Exporters call it on their own copy of a model.
    """
    count = 0
    for sub in module.modules():
        for value in vars(sub).values():
            if isinstance(value, AxialRope):
                value.use_real_form(real)
                count += 1
    return count
