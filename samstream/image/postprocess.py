"""Mask post-processing without a compiled extension: connected components, holes and sprinkles.

The reference package labels components with a CUDA extension (``sam2._C``) and, when the
extension is missing or the tensor is on the CPU, silently *skips* the post-processing. Here the
same results come from plain torch operations on every device (CPU, CUDA, MPS).

Conventions
-----------
* Connectivity is 8-connected, as in the reference kernel (``sam2/csrc/connected_components.cu``).
* :func:`connected_components` gives the label values the reference kernel's rule gives for
  even-sized masks: the label of a component is ``1 + r0 * W + c0`` where ``(r0, c0)`` is the
  top-left pixel of the first 2x2 block, in raster order of blocks, that holds a pixel of the
  component (the kernel's union-find links 2x2 blocks by their top-left linear index and keeps
  the smallest as the root); background is 0. Odd sizes, which the kernel rejects, follow the same
  formula. (The rule is read from the kernel's source; the tests check it against scipy, since the
  compiled kernel needs CUDA.)
* ``areas`` holds, at each foreground pixel, the pixel count of its component (0 on background).
"""

from __future__ import annotations

import torch
from torch import Tensor

from samstream.errors import InvalidInputError

__all__ = ["connected_components", "fill_holes_and_remove_sprinkles", "fill_holes"]

_CPU_CHUNK_PIXELS = 1 << 20


def connected_components(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Label the 8-connected components of binary masks.

    Args:
        mask: ``(N, 1, H, W)`` or ``(N, H, W)`` bool (or uint8, nonzero = foreground) tensor, on any
            device; it need not be contiguous.

    Returns:
        ``(labels, areas)``, both int32 with the shape and device of ``mask``. ``labels`` is 0 on
        background and identifies each component with the reference kernel's label values (see the
        module docstring); ``areas`` is the component's pixel count at each foreground pixel, 0 on
        background.
    """
    if not isinstance(mask, Tensor):
        raise InvalidInputError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype not in (torch.bool, torch.uint8):
        raise InvalidInputError(
            f"mask must be a bool (or uint8) tensor, got dtype {mask.dtype}; threshold it first, "
            "e.g. logits > 0"
        )
    if mask.ndim == 4 and mask.shape[1] == 1:
        fg = mask[:, 0]
    elif mask.ndim == 3:
        fg = mask
    else:
        raise InvalidInputError(
            f"mask must have shape (N, 1, H, W) or (N, H, W), got {tuple(mask.shape)}"
        )
    fg = fg.bool()
    n, h, w = fg.shape
    if fg.numel() == 0:
        zeros = torch.zeros(mask.shape, dtype=torch.int32, device=mask.device)
        return zeros, zeros.clone()

    # On the CPU, work on about a megapixel at a time: the passes below are memory-bound and much
    # faster while their int64 tables stay in cache. Accelerators take the whole batch at once.
    per_chunk = max(1, _CPU_CHUNK_PIXELS // (h * w)) if fg.device.type == "cpu" else n
    labels, areas = [], []
    for chunk in fg.split(per_chunk):
        root = _component_roots(chunk)  # (n*H*W,) int64: smallest flat index of the component
        chunk_labels, chunk_areas = _labels_and_areas(chunk, root)
        labels.append(chunk_labels)
        areas.append(chunk_areas)
    return torch.cat(labels).reshape(mask.shape), torch.cat(areas).reshape(mask.shape)


def _component_roots(fg: Tensor) -> Tensor:
    """Return, for each pixel, the smallest flat index (over ``fg.flatten()``) of its component.

    Background pixels get ``fg.numel()``. Min-label propagation over the 3x3 neighbourhood with root
    hooking and pointer jumping (a Shiloach-Vishkin style scheme): every foreground pixel holds a
    pointer ``parent`` to a pixel of the same component with a smaller or equal index, and at the
    start of each round every tree is a star (pixels point at their root). Each round, every pixel
    looks at the smallest root among its 3x3 neighbours and hooks its own root onto it
    (``scatter_reduce`` amin); then the roots' pointers are jumped until every tree is a star again.
    The loop runs until no pixel sees a smaller root next to it, so the result is exact for any
    shape; trees merge at a geometric rate, so spirals and long snakes take a handful of rounds.
    """
    n, h, w = fg.shape
    total = fg.numel()
    sentinel = total  # background points at one extra slot past the end, which holds `total`
    device = fg.device
    bg = ~fg.reshape(-1)
    idx = torch.arange(total, device=device, dtype=torch.int64)
    # Start from horizontal runs: each run points at its first pixel (cummax of run starts), so the
    # first round already works on runs rather than single pixels.
    starts = (fg & ~_shift_right(fg, False)).reshape(-1)
    run_root = torch.where(starts, idx, -1).reshape(n, h, w).cummax(dim=2).values.reshape(-1)
    table = torch.empty(total + 1, dtype=torch.int64, device=device)
    table[:total] = run_root.masked_fill_(bg, sentinel)
    table[total] = sentinel
    while True:
        parent = table[:total]
        neighbour_min = _min3x3(parent.view(n, h, w)).reshape(-1).masked_fill_(bg, sentinel)
        if not bool((neighbour_min < parent).any()):
            return parent
        # hook: each root takes the smallest root seen next to any of its pixels
        roots = (parent == idx).nonzero().squeeze(1)
        parent = parent.clone()  # the scatter below writes into the table it is a view of
        table.scatter_reduce_(0, parent, neighbour_min, reduce="amin")
        # jump: compress the roots' chains (they only run through old roots), then the pixels
        ptr = table[roots]
        while True:  # pointer doubling on the roots' entries
            nxt = table[ptr]
            if torch.equal(nxt, ptr):
                break
            table[roots] = nxt
            ptr = nxt
        table[:total] = table[parent]


def _labels_and_areas(fg: Tensor, root: Tensor) -> tuple[Tensor, Tensor]:
    """Turn per-pixel roots into the reference's label values and per-pixel component areas."""
    n, h, w = fg.shape
    total = fg.numel()
    device = fg.device
    fg_flat = fg.reshape(-1)
    # label = 1 + min over the component of the (within-image) linear index of the 2x2 block origin
    rows = torch.arange(h, device=device, dtype=torch.int64) // 2 * 2
    cols = torch.arange(w, device=device, dtype=torch.int64) // 2 * 2
    block_origin = (rows[:, None] * w + cols[None, :]).reshape(-1).repeat(n)
    first = torch.full((total + 1,), h * w, dtype=torch.int64, device=device)
    first.scatter_reduce_(0, root, block_origin, reduce="amin")
    labels = (first[root] + 1).masked_fill_(~fg_flat, 0)
    counts = torch.bincount(root, minlength=total + 1)
    areas = counts[root].masked_fill_(~fg_flat, 0)
    return labels.to(torch.int32).view(n, h, w), areas.to(torch.int32).view(n, h, w)


def _shift_right(x: Tensor, fill: bool | int) -> Tensor:
    """``out[..., c] = x[..., c - 1]``, ``fill`` in the first column."""
    out = torch.empty_like(x)
    out[..., 0] = fill
    out[..., 1:] = x[..., :-1]
    return out


def _min3x3(x: Tensor) -> Tensor:
    """Minimum over each pixel's 3x3 neighbourhood (clipped at the border) of (N, H, W) values."""
    rows = x.clone()
    torch.minimum(rows[:, :, 1:], x[:, :, :-1], out=rows[:, :, 1:])
    torch.minimum(rows[:, :, :-1], x[:, :, 1:], out=rows[:, :, :-1])
    out = rows.clone()
    torch.minimum(out[:, 1:], rows[:, :-1], out=out[:, 1:])
    torch.minimum(out[:, :-1], rows[:, 1:], out=out[:, :-1])
    return out


def fill_holes_and_remove_sprinkles(
    logits: Tensor, mask_threshold: float, max_hole_area: float, max_sprinkle_area: float
) -> Tensor:
    """Fill small background holes and remove small foreground sprinkles from mask logits.

    Reproduces ``SAM2Transforms.postprocess_masks`` of the reference (before its resize), on every
    device instead of only where the CUDA extension loads:

    * holes: 8-connected components of ``logits <= mask_threshold`` with area ``<= max_hole_area``
      are set to ``mask_threshold + 10.0``. Components touching the image border count too.
    * sprinkles: components of ``logits > mask_threshold`` with area ``<= max_sprinkle_area`` are
      set to ``mask_threshold - 10.0``.

    Both component sets are computed from the *input* logits (as in the reference), so a filled
    hole never joins a sprinkle. An area of 0 (or less) disables that step.

    Args:
        logits: ``(N, C, H, W)`` mask logits; channels are processed independently.
        mask_threshold: logit threshold separating foreground (``>``) from background.
        max_hole_area: largest hole area (pixels) to fill; ``<= 0`` disables.
        max_sprinkle_area: largest sprinkle area (pixels) to remove; ``<= 0`` disables.

    Returns:
        float32 ``(N, C, H, W)`` logits (the reference also returns ``logits.float()``).
    """
    _check_logits(logits, "logits")
    masks = logits.float()
    flat = masks.flatten(0, 1).unsqueeze(1)  # (N*C, 1, H, W)
    if max_hole_area > 0:
        labels, areas = connected_components(flat <= mask_threshold)
        is_hole = ((labels > 0) & (areas <= max_hole_area)).reshape_as(masks)
        masks = torch.where(is_hole, mask_threshold + 10.0, masks)
    if max_sprinkle_area > 0:
        labels, areas = connected_components(flat > mask_threshold)
        is_sprinkle = ((labels > 0) & (areas <= max_sprinkle_area)).reshape_as(masks)
        masks = torch.where(is_sprinkle, mask_threshold - 10.0, masks)
    return masks


def fill_holes(mask_logits: Tensor, max_area: float) -> Tensor:
    """Fill small holes in video mask logits, as the reference's ``fill_holes_in_mask_scores``.

    Holes are 8-connected components of ``mask_logits <= 0`` (border-touching ones included) with
    area ``<= max_area``; their logits become ``0.1``, a small positive score that turns them into
    foreground without claiming high confidence. The threshold here is always 0 and the fill value
    always 0.1, unlike :func:`fill_holes_and_remove_sprinkles` (threshold + 10).

    The reference asserts ``max_area > 0``; its video predictor only calls it when
    ``fill_hole_area > 0`` (8 in the official video builder). When the CUDA extension cannot run
    (not built, or a CPU tensor) the reference warns and returns the logits *unchanged*, so on the
    CPU it never fills holes; this function always fills them. To reproduce a reference run on the
    CPU, do not call it.

    Args:
        mask_logits: ``(N, 1, H, W)`` mask logits (any floating dtype, kept).
        max_area: largest hole area in pixels; must be positive.

    Returns:
        Logits of the same shape and dtype with small holes set to 0.1.
    """
    _check_logits(mask_logits, "mask_logits")
    if not max_area > 0:
        raise InvalidInputError(f"max_area must be positive, got {max_area}")
    if mask_logits.shape[1] != 1:
        raise InvalidInputError(
            f"mask_logits must have shape (N, 1, H, W), got {tuple(mask_logits.shape)}"
        )
    labels, areas = connected_components(mask_logits <= 0)
    is_hole = (labels > 0) & (areas <= max_area)
    return torch.where(is_hole, 0.1, mask_logits)


def _check_logits(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise InvalidInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InvalidInputError(f"{name} must be a floating tensor of logits, got dtype {x.dtype}")
    if x.ndim != 4:
        raise InvalidInputError(f"{name} must have shape (N, C, H, W), got {tuple(x.shape)}")
