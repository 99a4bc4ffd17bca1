"""Which form of the model's arithmetic runs, chosen once when a model is placed on a device.

Every module computes the same numbers in up to three forms; they agree to float rounding (the
tests in ``tests/model`` compare each pair):

- **plain**: module by module as written, differentiable and traceable. Training always uses it
  (a module in training mode never takes another form), and so do ``torch.compile`` and export.
- **inference**: exact reorderings that autograd cannot (or should not) go through: residuals added
  in place, rotary keys rotated where they lie, the decoder's reassociated cross-attentions
  (:mod:`samstream.model.token_attention`) and its image shared by every prompt, a cached positional
  embedding, memory values attended to before their projection.
- **CPU blocks** (on top of inference): loops that keep intermediates in the CPU's cache instead of
  allocating them whole: Hiera's blocks through tokens in chunks, memory attention in blocks of query
  rows and one object at a time, the decoder in groups of prompts with a row-chunked upscaling. They
  are defined here, in one place.

The choice is a :class:`Kernels` value. ``SAM2Model`` decides it from its device and its
:class:`samstream.model.runtime.RuntimeOptions` and hands it to every :class:`KernelUser` it holds
(:func:`apply_kernels`); a module built on its own starts with the CPU's choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

QUERY_ROWS = 128  # query rows per block of memory-attention scores on a CPU (a few MB at a time)
CHUNK_FLOATS = 1 << 19  # second-stage activations per chunk of upscale_masks (2 MiB of float32)


@dataclass(frozen=True)
class Kernels:
    """The forms a model's modules use in eval mode (training mode is always plain)."""

    inference: bool = False  # exact reordered / in-place forms, not differentiable
    cpu_blocks: bool = False  # cache-sized loops (only with ``inference``)
    object_chunk: int | None = None  # objects conditioned on memory together; None: all of them

    def __post_init__(self) -> None:
        if self.cpu_blocks and not self.inference:
            raise ValueError("cpu_blocks needs inference=True")
        if self.object_chunk is not None and self.object_chunk < 1:
            raise ValueError(f"object_chunk must be a positive int or None, got {self.object_chunk}")


PLAIN = Kernels()


def kernels_for(device: torch.device, plain: bool = False, object_chunk: int | None = None) -> Kernels:
    """The default choice on ``device``: CPU blocks and one object at a time on a CPU, where a batch of
    objects only multiplies activations that leave the caches; all objects as one batch elsewhere."""
    if plain:
        return Kernels(object_chunk=object_chunk)
    cpu = device.type == "cpu"
    return Kernels(inference=True, cpu_blocks=cpu, object_chunk=object_chunk if object_chunk else (1 if cpu else None))


class KernelUser(nn.Module):
    """A module with inference forms; :func:`apply_kernels` sets which it uses."""

    kernels: Kernels = kernels_for(torch.device("cpu"))  # modules are built on the CPU

    def use_kernels(self, kernels: Kernels) -> None:
        self.kernels = kernels

    @property
    def fast(self) -> bool:
        """Whether forward takes the inference forms: chosen so, and in eval mode."""
        return self.kernels.inference and not self.training

    @property
    def blocked(self) -> bool:
        """Whether forward takes the CPU's cache-sized loops."""
        return self.kernels.cpu_blocks and not self.training


def apply_kernels(root: nn.Module, kernels: Kernels) -> None:
    """Make every :class:`KernelUser` in ``root`` (itself included) use ``kernels``."""
    for module in root.modules():
        if isinstance(module, KernelUser):
            module.use_kernels(kernels)


def current_kernels(root: nn.Module) -> Kernels | None:
    """The kernels of the first :class:`KernelUser` in ``root`` (None if it holds none)."""
    return next((m.kernels for m in root.modules() if isinstance(m, KernelUser)), None)


# ---------------------------------------------------------------- the CPU's loops
def map_chunks(fn: Callable[[Tensor], Tensor], x: Tensor, per_chunk: int) -> Tensor:
    """``fn`` applied to chunks of ``per_chunk`` entries along the first axis, results joined."""
    if x.shape[0] <= per_chunk:
        return fn(x)
    out = None
    for start in range(0, x.shape[0], per_chunk):
        y = fn(x[start : start + per_chunk])
        if out is None:
            out = y.new_empty((x.shape[0], *y.shape[1:]))
        out[start : start + y.shape[0]] = y
    return out


def attend_in_blocks(q: Tensor, keys: Tensor, values: Tensor, rows: int = QUERY_ROWS) -> Tensor:
    """One head's ``softmax(q k^T / sqrt(d)) v``, object by object and in blocks of query rows.

    q (1 or B, Nq, d), keys (B, Nk, d), values (B, Nk, dv) with any dv -> (B, Nq, dv). Each block of
    scores is (rows, Nk) and is used in place: shifted by its row maximum, exponentiated, multiplied
    by the values, and the product divided by the row sums.
    """
    batch, num_q = keys.shape[0], q.shape[1]
    q = q * q.shape[-1] ** -0.5
    outs = []
    for i in range(batch):
        qi, kt, vi = q[i if q.shape[0] > 1 else 0], keys[i].t(), values[i]
        blocks = []
        for start in range(0, num_q, rows):
            scores = qi[start : start + rows] @ kt  # (rows, Nk)
            scores -= scores.amax(dim=-1, keepdim=True)
            scores.exp_()
            blocks.append((scores @ vi) / scores.sum(dim=-1, keepdim=True))  # (rows, dv)
        outs.append(torch.cat(blocks))
    return torch.stack(outs)


def upscale_masks(
    upscaling: nn.Sequential,
    src: Tensor,
    hw: tuple[int, int],
    high_res: tuple[Tensor, Tensor] | None,
    hyper: Tensor,
    chunk_floats: int | None = None,
) -> Tensor:
    """Mask logits (B, K, 4h, 4w) from transformer image tokens src (B, hw, C) and hyper weights (B, K, C/8).

    The same arithmetic as running ``upscaling`` (two 2x2 stride-2 transposed convolutions, a channel
    layer norm and GELUs, plus the high-resolution features) on (B, C, h, w) and taking the product
    with ``hyper``, reordered for the CPU: a 2x2 stride-2 transposed convolution maps each input
    pixel to its own 2x2 output block, so it is one matrix product over channels-last pixels. Pixels
    stay in block order (i, j, block row/column of each stage) until the K mask logits are formed,
    so only those are rearranged into the image grid. Every output row block depends on one row of
    ``src`` only, so the work runs in chunks of rows (and of prompts) small enough that all the
    intermediate activations of a chunk stay in the CPU's cache: written whole, the second stage
    alone is 8 MB per prompt at 1024 input, and the element-wise steps were bound by memory traffic.
    ``chunk_floats``: second-stage activations per chunk (default :data:`CHUNK_FLOATS`).
    """
    chunk_floats = CHUNK_FLOATS if chunk_floats is None else chunk_floats
    up1, norm1, _, up2, _ = upscaling
    b, n, c = src.shape
    h, w = hw
    c4, c8 = up1.weight.shape[1], up2.weight.shape[1]
    k = hyper.shape[1]
    w1 = up1.weight.permute(0, 2, 3, 1).reshape(c, 4 * c4)  # (in, (kh, kw, out))
    w2 = up2.weight.permute(0, 2, 3, 1).reshape(c4, 4 * c8)
    add1, add2 = up1.bias, up2.bias  # what is added to each stage's output (bias, high-res features)
    if high_res is not None:
        feat_s0, feat_s1 = high_res
        add1 = feat_s1.reshape(-1, c4, h, 2, w, 2).permute(0, 2, 4, 3, 5, 1) + add1  # (1|B, h, w, 2, 2, C/4)
        # pixel (4i + 2a + p, 4j + 2b + q) of the stride-4 features, ordered (i, j, a, b, p, q)
        add2 = feat_s0.reshape(-1, c8, h, 2, 2, w, 2, 2).permute(0, 2, 5, 3, 6, 4, 7, 1) + add2
        if add1.shape[0] == 1:  # shared by every prompt: lay it out in block order once
            add1, add2 = add1.contiguous(), add2.contiguous()
    per_row = w * 16 * c8  # second-stage floats of one row of src
    rows = max(1, min(h, chunk_floats // per_row))
    prompts = max(1, chunk_floats // (per_row * h)) if rows == h else 1
    grid = src.reshape(b, h, w, c)
    hyper_t = hyper.transpose(1, 2)  # (B, C/8, K)
    out = src.new_empty(b, k, h, 4, w, 4)
    for p0 in range(0, b, prompts):
        p1 = min(b, p0 + prompts)
        for i0 in range(0, h, rows):
            i1 = min(h, i0 + rows)
            q, r = p1 - p0, i1 - i0
            x = torch.mm(grid[p0:p1, i0:i1].reshape(-1, c), w1).reshape(q, r, w, 2, 2, c4)
            x += _rows(add1, p0, p1, i0, i1)
            x = F.gelu(F.layer_norm(x, (c4,), norm1.weight, norm1.bias, norm1.eps))
            y = torch.mm(x.reshape(-1, c4), w2).reshape(q, r, w, 2, 2, 2, 2, c8)
            y += _rows(add2, p0, p1, i0, i1)
            y = F.gelu(y)
            m = torch.bmm(y.reshape(q, -1, c8), hyper_t[p0:p1])  # (q, pixels, K)
            # (q, i, j, a, b, p, q', K) -> (q, K, i, (a, p), j, (b, q'))
            m = m.reshape(q, r, w, 2, 2, 2, 2, k).permute(0, 7, 1, 3, 5, 2, 4, 6)
            out[p0:p1, :, i0:i1] = m.reshape(q, k, r, 4, w, 4)
    return out.reshape(b, k, 4 * h, 4 * w)


def _rows(add: Tensor, p0: int, p1: int, i0: int, i1: int) -> Tensor:
    """The part of a stage's addend (a bias vector, or per-pixel features of batch 1 or B) for a chunk."""
    if add.ndim == 1:
        return add
    if add.shape[0] == 1:
        return add[:, i0:i1]
    return add[p0:p1, i0:i1]
