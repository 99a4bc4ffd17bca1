"""Memory attention: the current frame's features attend to themselves and to the memory bank.

Each layer runs (pre-norm, residual) self-attention over the frame's tokens, cross-attention from
the frame to the memories, and a ReLU feed-forward block. Both attentions use axial rotary
encoding. Where positions enter is fixed, as in every released model: the frame's sine encoding is
added once at the input (scaled by 0.1); the memories' encoding is added to the cross-attention keys
only; the trailing object-pointer tokens of the memory are not rotated.

Three changes, all exact, make video tracking cheaper than a literal evaluation:

- Values are projected after the attention: softmax rows sum to one, so ``P (X W^T + b)`` equals
  ``(P X) W^T + b`` and the projection runs on the frame's tokens instead of the (several times
  larger) memory. On a CPU the attention then runs in blocks of query rows on the narrow
  (``mem_dim``) values, a quarter of the value arithmetic; elsewhere the values are zero-padded to
  the head width so that the fused attention kernel applies.
- When every object sees the same frame (the input has batch 1 and the memory batch B), the first
  self-attention and the first cross-attention queries are computed once, not B times.
- At inference on a CPU objects run one at a time after that shared start: a batch of objects
  multiplies every activation (the feed-forward block's is 8 MB per object at the 512 input) and
  leaves the caches, for no saving in arithmetic. On other devices all objects run as one batch.

Which of these forms runs is the model's :class:`~samstream.model.kernels.Kernels` choice.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samstream.config import MemoryConfig
from samstream.errors import InvalidInputError
from samstream.model.kernels import KernelUser, attend_in_blocks
from samstream.model.layers import Attention
from samstream.model.rope import AxialRope, rotate, rotate_keys

INPUT_POS_SCALE = 0.1  # weight of the frame's position encoding added at the input


class RopeAttention(Attention, KernelUser):
    """Attention with axial rotary encoding of queries and keys.

    Queries are the tokens of one square grid. With ``rope_k_repeat`` the keys may be several
    frames of that grid (each rotated like the queries); ``num_k_exclude_rope`` trailing keys are
    left unrotated.
    """

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        rope_theta: float = 10000.0,
        rope_k_repeat: bool = False,
        dropout: float = 0.0,
        kv_in_dim: int | None = None,
    ) -> None:
        super().__init__(embedding_dim, num_heads, downsample_rate=1, dropout=dropout, kv_in_dim=kv_in_dim)
        self.rope = AxialRope(self.internal_dim // num_heads, rope_theta)
        self.rope_k_repeat = rope_k_repeat

    def forward(self, q: Tensor, k: Tensor, v: Tensor, num_k_exclude_rope: int = 0) -> Tensor:
        """q (B, Nq, C), k and v (B, Nk, kv_in_dim) -> (B, Nq, C)."""
        if k.shape[1] != q.shape[1] and not self.rope_k_repeat:
            raise InvalidInputError(
                f"keys ({k.shape[1]} tokens) must match queries ({q.shape[1]}) without rope_k_repeat"
            )
        q, k, v = self.project(q, k, v)  # (B, nh, N, hd)
        rotations = self.rope.square_table(q.shape[-2], q.device)  # (Nq, hd/2)
        q = rotate(q, rotations)
        k = rotate_keys(k, rotations, num_k_exclude_rope)
        return self.attend(q, k, v)

    def memory_keys(self, keys: Tensor, num_k_exclude_rope: int, num_queries: int) -> Tensor:
        """Projected, rotated keys (B, nh, Nk, hd) of memory tokens (B, Nk, kv_in_dim)."""
        k = self.split_heads(self.k_proj(keys))
        table = self.rope.square_table(num_queries, k.device)
        return rotate_keys(k, table, num_k_exclude_rope, inplace=self.fast)

    def memory_queries(self, x: Tensor) -> Tensor:
        """Projected, rotated queries (B, nh, Nq, hd) of frame tokens (B, Nq, C)."""
        q = self.split_heads(self.q_proj(x))
        return rotate(q, self.rope.square_table(q.shape[-2], q.device))

    def values_after(self) -> bool:
        """Whether raw values can be attended to and projected afterwards (see the module notes)."""
        return self.num_heads == 1 and self.kv_in_dim <= self.internal_dim and not self.training

    def memory_values(self, values: Tensor) -> Tensor:
        """Raw memory values (B, Nk, kv_in_dim) as :meth:`attend_memory` takes them: unchanged, or
        zero-padded to (B, 1, Nk, hd) where the fused kernel attends to them after projection."""
        if self.values_after() and not self.blocked:
            return F.pad(values, (0, self.internal_dim - values.shape[-1])).unsqueeze(1)
        return values

    def attend_memory(self, q: Tensor, keys: Tensor, values: Tensor) -> Tensor:
        """Queries (1 or B, nh, Nq, hd) from :meth:`memory_queries` against keys (B, nh, Nk, hd)
        from :meth:`memory_keys` and values from :meth:`memory_values` -> (B, Nq, C)."""
        if self.values_after() and self.blocked:
            return self.out_proj(self.v_proj(attend_in_blocks(q[:, 0], keys[:, 0], values)))
        if q.shape[0] != keys.shape[0]:
            q = q.expand(keys.shape[0], -1, -1, -1)
        if not self.values_after():
            return self.attend(q, keys, self.split_heads(self.v_proj(values)))
        mixed = F.scaled_dot_product_attention(q, keys, values)[:, 0, :, : self.kv_in_dim]  # (B, Nq, kv)
        return self.out_proj(self.v_proj(mixed))


class MemoryAttentionLayer(nn.Module):
    """Self-attention, cross-attention to memories, feed-forward; each pre-normed and residual."""

    def __init__(self, d_model: int, cfg: MemoryConfig) -> None:
        super().__init__()
        heads, drop, theta = cfg.attention_heads, cfg.attention_dropout, cfg.rope_theta
        self.self_attn = RopeAttention(d_model, heads, theta, dropout=drop)
        self.cross_attn_image = RopeAttention(
            d_model, heads, theta, rope_k_repeat=True, dropout=drop, kv_in_dim=cfg.mem_dim
        )
        self.linear1 = nn.Linear(d_model, cfg.attention_ff_dim)
        self.linear2 = nn.Linear(cfg.attention_ff_dim, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(drop)  # inside the feed-forward block
        self.dropout1 = nn.Dropout(drop)
        self.dropout2 = nn.Dropout(drop)
        self.dropout3 = nn.Dropout(drop)

    def forward(self, x: Tensor, mem_keys: Tensor, mem_values: Tensor, num_obj_ptr_tokens: int = 0) -> Tensor:
        """x (B, L, C) frame tokens; mem_keys = memory + its encoding and mem_values = memory, (B, M, mem_dim)."""
        keys = self.cross_attn_image.memory_keys(mem_keys, num_obj_ptr_tokens, x.shape[1])
        return self.forward_prepared(x, keys, self.cross_attn_image.memory_values(mem_values))

    def forward_prepared(self, x: Tensor, keys: Tensor, values: Tensor) -> Tensor:
        """x (1 or B, L, C); keys and values prepared as ``attend_memory`` takes them -> (B, L, C)."""
        x = self.self_attend(x)
        return self.finish(x, self.cross_queries(x), keys, values)

    def self_attend(self, x: Tensor) -> Tensor:
        """The self-attention step: (B, L, C) -> (B, L, C)."""
        h = self.norm1(x)
        return x + self.dropout1(self.self_attn(h, h, h))

    def cross_queries(self, x: Tensor) -> Tensor:
        """Cross-attention queries (B, nh, L, hd) of the self-attention step's output."""
        return self.cross_attn_image.memory_queries(self.norm2(x))

    def finish(self, x: Tensor, queries: Tensor, keys: Tensor, values: Tensor) -> Tensor:
        """Cross-attention and feed-forward steps: x (1 or B, L, C) and its queries -> (B, L, C)."""
        x = x + self.dropout2(self.cross_attn_image.attend_memory(queries, keys, values))  # now (B, L, C)
        h = self.norm3(x)
        h = F.relu(self.linear1(h), inplace=True)  # (B, L, ff); in place: the biggest activation
        return x + self.dropout3(self.linear2(self.dropout(h)))


class MemoryAttention(KernelUser):
    """A stack of :class:`MemoryAttentionLayer` and a final layer norm."""

    def __init__(self, d_model: int, cfg: MemoryConfig) -> None:
        super().__init__()
        self.d_model = d_model
        self.layers = nn.ModuleList(MemoryAttentionLayer(d_model, cfg) for _ in range(cfg.attention_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(
        self,
        curr: Tensor | Sequence[Tensor],
        curr_pos: Tensor | Sequence[Tensor] | None,
        memory: Tensor,
        memory_pos: Tensor,
        num_obj_ptr_tokens: int = 0,
        key_scale: Tensor | None = None,
    ) -> Tensor:
        """Condition a frame's features on the memory bank; inputs are sequence-first.

        curr, curr_pos: (L, B, C) tokens of a square grid and their encoding (or one-element lists
        of them); memory, memory_pos: (M, B, mem_dim), i.e. frames of the same grid followed by
        ``num_obj_ptr_tokens`` object-pointer tokens. ``key_scale`` (M, B, 1): a weight per memory
        token on its cross-attention key (memory + encoding), the values left as they are (a
        tracking method that trusts some memories more; None: all 1). Returns (L, B, C).
        """
        curr, curr_pos = _single(curr, "curr"), _single(curr_pos, "curr_pos")
        if curr is None:
            raise InvalidInputError("curr must be a tensor, got None")
        if curr.shape[1] not in (1, memory.shape[1]):
            raise InvalidInputError(
                f"curr must have batch 1 or the memory's batch size {memory.shape[1]}, got {curr.shape[1]}"
            )
        x = curr if curr_pos is None else curr + INPUT_POS_SCALE * curr_pos
        x = x.transpose(0, 1)  # (B or 1, L, C)
        mem_values = memory.transpose(0, 1)  # (B, M, mem_dim)
        mem_keys = memory + memory_pos
        if key_scale is not None:
            mem_keys = mem_keys * key_scale
        mem_keys = mem_keys.transpose(0, 1)  # (B, M, mem_dim), the same for every layer
        batch = mem_values.shape[0]
        if not self.layers:  # (no released model)
            return self.norm(x.expand(batch, -1, -1)).transpose(0, 1)
        chunk = self.objects_per_batch(batch)
        shared = None
        if x.shape[0] == 1:  # every object sees the same frame: the first steps run once
            x = self.layers[0].self_attend(x)
            shared = self.layers[0].cross_queries(x)
        if chunk >= batch:
            return self._objects(x, shared, mem_keys, mem_values, num_obj_ptr_tokens).transpose(0, 1)
        outs = []
        for start in range(0, batch, chunk):
            rows = slice(start, start + chunk)
            part = x if shared is not None else x[rows]
            outs.append(self._objects(part, shared, mem_keys[rows], mem_values[rows], num_obj_ptr_tokens))
        return torch.cat(outs, dim=0).transpose(0, 1)

    def _objects(
        self, x: Tensor, shared: Tensor | None, mem_keys: Tensor, mem_values: Tensor, num_ptr: int
    ) -> Tensor:
        """The layers for a batch of objects: x (1 or B, L, C) frame tokens (after the first
        self-attention when ``shared`` holds its cross-attention queries), memory (B, M, mem_dim) -> (B, L, C)."""
        first, num_q = self.layers[0], x.shape[1]
        values = first.cross_attn_image.memory_values(mem_values)  # once for every layer
        if shared is None:
            y = first.self_attend(x)
            queries = first.cross_queries(y)
        else:
            y, queries = x, shared
        for index, layer in enumerate(self.layers):
            prepared = layer.cross_attn_image.memory_keys(mem_keys, num_ptr, num_q)
            if index == 0:
                y = layer.finish(y, queries, prepared, values)
            else:
                y = layer.forward_prepared(y, prepared, values)
        return self.norm(y)

    def objects_per_batch(self, batch: int) -> int:
        """How many of ``batch`` objects run together: ``Kernels.object_chunk`` in eval mode, else all."""
        chunk = self.kernels.object_chunk
        return batch if self.training or chunk is None else min(batch, chunk)


def _single(x: Tensor | Sequence[Tensor] | None, name: str) -> Tensor | None:
    """Accept a tensor or a one-element list of tensors (one feature level)."""
    if x is None or isinstance(x, Tensor):
        return x
    if len(x) != 1:
        raise InvalidInputError(f"{name} must be a tensor or a list of one tensor, got a list of {len(x)}")
    return x[0]
