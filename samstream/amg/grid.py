"""Point grids that prompt the model everywhere in an image (or a crop of it)."""

from __future__ import annotations

import numpy as np

from samstream.errors import InvalidInputError


def point_grid(n_per_side: int) -> np.ndarray:
    """``n_per_side**2`` points at the centres of an n x n tiling of [0, 1]^2.

    Returns float64 ``(n*n, 2)`` (x, y), row by row: y is the slow axis, x the fast one.
    """
    if n_per_side < 0:
        raise InvalidInputError(f"n_per_side must be >= 0, got {n_per_side}")
    half_cell = 1.0 / (2 * n_per_side) if n_per_side else 0.0
    centres = np.linspace(half_cell, 1.0 - half_cell, n_per_side)  # (n,)
    xs, ys = np.meshgrid(centres, centres, indexing="xy")  # (n, n) each; rows vary in y
    return np.stack([xs.ravel(), ys.ravel()], axis=-1)  # (n*n, 2)


def layer_point_grids(n_per_side: int, n_layers: int, downscale: int) -> list[np.ndarray]:
    """One grid per crop layer 0..n_layers; layer i has ``int(n_per_side / downscale**i)`` points a side."""
    return [point_grid(int(n_per_side / (downscale**i))) for i in range(n_layers + 1)]
