"""How a placed model computes: one typed setting, chosen when the model is placed on a device.

:class:`RuntimeOptions` is what a user chooses (``load_model(..., dtype=..., compile=...)`` or
``model.optimize(RuntimeOptions(...))``); :class:`Runtime` is that choice resolved for the model's
device: the :class:`~samstream.model.kernels.Kernels` its modules use, the autocast context of its
steps, and the (possibly compiled) callables of its three heavy parts.

- **bfloat16** runs the steps under autocast: matrix products and convolutions in bfloat16, while
  what SAM 2 needs in float32 stays so: positional encodings (sine and rotary tables are built in
  float32 and rotary arithmetic is float32), the mask logits (thresholded at 0) and the object-score
  logits, which the model returns as float32. The modules use the plain kernels (autocast casts
  every product of them; the inference reorderings add in place across dtypes).
- **compile** wraps the image encoder (fixed input size: static shapes), the memory attention and
  the mask decoder (dynamic shapes: the object count, the memory length and the prompt count vary
  from frame to frame). A batch of one object is padded to :data:`MIN_COMPILED_BATCH` rows (objects
  are independent, so the real rows are exact): symbolic sizes are never specialised to 1, and an
  object added mid-video does not recompile. Compiled parts use the plain kernels (the form
  ``torch.compile`` fuses best; the CPU's loops would unroll per object).
- **cuda_graphs** (CUDA only) compiles with ``mode="reduce-overhead"``, which replays CUDA graphs;
  object batches are then padded to powers of two so that few shapes are recorded.

The CPU keeps its cache-blocked kernels unless ``compile`` is set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import torch
from torch import Tensor, nn

from samstream.errors import InvalidInputError
from samstream.model.kernels import Kernels, kernels_for

MIN_COMPILED_BATCH = 2  # compiled parts see at least this many objects (a size of 1 gets specialised)
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class RuntimeOptions:
    """How the model computes on its device (every field has a safe default)."""

    dtype: torch.dtype = torch.float32  # compute type: float32, or bfloat16 under autocast
    compile: bool = False  # torch.compile the image encoder, memory attention and mask decoder
    compile_backend: str | Callable[..., Any] = "inductor"  # the torch.compile backend
    cuda_graphs: bool = False  # replay CUDA graphs for the per-frame steps (CUDA only; implies compile)
    kernels: Literal["auto", "plain"] = "auto"  # "plain": the differentiable forms even in eval mode
    object_chunk: int | None = None  # objects conditioned on memory together; None: the device's default

    def __post_init__(self) -> None:
        dtype = _DTYPES.get(self.dtype, self.dtype) if isinstance(self.dtype, str) else self.dtype
        if dtype not in _DTYPES.values():
            raise InvalidInputError(f"dtype: {self.dtype!r} is not supported; expected 'float32' or 'bfloat16'")
        object.__setattr__(self, "dtype", dtype)
        if self.kernels not in ("auto", "plain"):
            raise InvalidInputError(f"kernels: {self.kernels!r} is not 'auto' or 'plain'")
        if self.object_chunk is not None and (not isinstance(self.object_chunk, int) or self.object_chunk < 1):
            raise InvalidInputError(f"object_chunk: {self.object_chunk!r} is not a positive int or None")

    def with_(self, **changes: Any) -> "RuntimeOptions":
        """A copy with some fields changed (checked like the original)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise InvalidInputError(f"RuntimeOptions has no field(s) {sorted(unknown)}")
        return replace(self, **changes)

    @property
    def compiled(self) -> bool:
        return self.compile or self.cuda_graphs


class Runtime:
    """:class:`RuntimeOptions` resolved for one device and one model's parts."""

    def __init__(
        self,
        options: RuntimeOptions,
        device: torch.device,
        image_encoder: nn.Module,
        memory_attention: nn.Module,
        mask_decoder: nn.Module,
    ) -> None:
        if options.cuda_graphs and device.type != "cuda":
            raise InvalidInputError(f"cuda_graphs: CUDA graphs need a CUDA device, the model is on {device}")
        self.options = options
        self.device = device
        # the inference reorderings mix dtypes in place: they are written for float32 eager runs
        plain = options.kernels == "plain" or options.compiled or options.dtype != torch.float32
        self.kernels: Kernels = kernels_for(device, plain=plain, object_chunk=options.object_chunk)
        self.image_encoder: Callable[..., Any] = image_encoder
        self._memory_attention: Callable[..., Any] = memory_attention
        self._mask_decoder: Callable[..., Any] = mask_decoder
        self.min_batch = 1
        if options.compiled:
            mode = "reduce-overhead" if options.cuda_graphs else None
            backend = options.compile_backend
            self.image_encoder = torch.compile(image_encoder, backend=backend, mode=mode, dynamic=False)
            self._memory_attention = torch.compile(memory_attention, backend=backend, mode=mode, dynamic=True)
            self._mask_decoder = torch.compile(mask_decoder, backend=backend, mode=mode, dynamic=True)
            self.min_batch = MIN_COMPILED_BATCH

    def __repr__(self) -> str:
        return f"Runtime({self.options}, device={self.device}, kernels={self.kernels})"

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context the model's steps run in (bfloat16 autocast, or nothing)."""
        if self.options.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.options.dtype)

    def padded_batch(self, batch: int) -> int:
        """Rows a compiled part is given for ``batch`` objects (``batch`` itself when not compiled)."""
        if self.options.cuda_graphs:
            return max(self.min_batch, 1 << (batch - 1).bit_length())
        return max(self.min_batch, batch)

    def memory_attention(
        self, curr: Tensor, curr_pos: Tensor, memory: Tensor, memory_pos: Tensor, num_ptr_tokens: int,
        key_scale: Tensor | None = None,
    ) -> Tensor:
        """The memory attention on (L, 1 or B, C) frame tokens and (M, B, mem_dim) memories -> (L, B, C);
        ``key_scale`` (M, B, 1) weighs the memories' keys (see ``MemoryAttention.forward``)."""
        extra = {} if key_scale is None else {"key_scale": key_scale}
        batch = memory.shape[1]
        rows = self.padded_batch(batch)
        per_object = curr.shape[1] == batch and batch > 1
        if per_object:
            curr, curr_pos = pad_rows(curr, rows, 1), pad_rows(curr_pos, rows, 1)
        if self.options.compiled:
            # the frame's token grid is fixed by the image size: static, so that the rotary tables
            # (square grids, sized with integer square roots) are built at trace time
            torch._dynamo.mark_static(curr, 0)
            torch._dynamo.mark_static(curr_pos, 0)
        if rows == batch:
            return self._memory_attention(curr, curr_pos, memory, memory_pos, num_ptr_tokens, **extra)
        if key_scale is not None:
            extra = {"key_scale": pad_rows(key_scale, rows, 1)}
        out = self._memory_attention(curr, curr_pos, pad_rows(memory, rows, 1), pad_rows(memory_pos, rows, 1),
                                     num_ptr_tokens, **extra)
        return out[:, :batch]

    def mask_decoder(
        self,
        image: Tensor,
        image_pe: Tensor,
        sparse: Tensor,
        dense: Tensor,
        multimask: bool,
        high_res: tuple[Tensor, Tensor] | None,
        dynamic_stability: bool | None = None,
    ) -> Any:
        """The mask decoder on B prompt sets (its ``DecoderOutput``); shared image features (batch 1) stay shared."""
        batch = sparse.shape[0]
        rows = self.padded_batch(batch)
        extra = {} if dynamic_stability is None else {"dynamic_stability": dynamic_stability}
        if rows == batch:
            return self._mask_decoder(image, image_pe, sparse, dense, multimask=multimask, high_res=high_res, **extra)

        def per_prompt(t: Tensor) -> Tensor:
            return pad_rows(t, rows, 0) if t.shape[0] == batch and batch > 1 else t

        out = self._mask_decoder(
            per_prompt(image), image_pe, pad_rows(sparse, rows, 0), pad_rows(dense, rows, 0),
            multimask=multimask, high_res=None if high_res is None else tuple(per_prompt(f) for f in high_res), **extra,
        )
        return type(out)(*(getattr(out, f.name)[:batch] for f in fields(out)))


def pad_rows(t: Tensor, rows: int, dim: int) -> Tensor:
    """``t`` with its ``dim`` axis grown to ``rows`` by repeating its last entry (rows of other objects
    never mix, so the copies change nothing for the real ones; zeros could make a degenerate row)."""
    extra = rows - t.shape[dim]
    if extra <= 0:
        return t
    last = t.narrow(dim, t.shape[dim] - 1, 1)
    return torch.cat([t, last.expand(*(extra if d == dim else -1 for d in range(t.ndim)))], dim=dim)

