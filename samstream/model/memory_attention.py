"""Memory attention: the current frame's features attend to themselves and to the memory bank."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samstream.config import MemoryConfig
from samstream.model.layers import Attention
from samstream.model.rope import AxialRope


class RopeAttention(Attention):
    """Attention with axial rotary encoding of queries and keys.

    Keys may hold several frames of the query's grid (rotated alike) followed by ``num_plain``
    tokens that are not rotated (object pointers).
    """

    def __init__(self, dim: int, num_heads: int, theta: float, dropout: float = 0.0,
                 kv_in_dim: int | None = None) -> None:
        super().__init__(dim, num_heads, downsample_rate=1, dropout=dropout, kv_in_dim=kv_in_dim)
        self.rope = AxialRope(self.internal_dim // num_heads, theta)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, num_plain: int = 0) -> Tensor:
        q, k, v = self.project(q, k, v)  # (B, nh, N, hd)
        side = math.isqrt(q.shape[-2])
        cos, sin = self.rope.tables(side, q.device)
        q = self.rope.rotate(q, cos, sin).to(v.dtype)
        rotated = k.shape[-2] - num_plain
        if rotated > 0:
            k_rot = self.rope.rotate(k[:, :, :rotated], cos, sin).to(v.dtype)
            k = torch.cat([k_rot, k[:, :, rotated:]], dim=2) if num_plain else k_rot
        return self.attend(q, k, v)


class MemoryAttentionLayer(nn.Module):
    def __init__(self, dim: int, cfg: MemoryConfig) -> None:
        super().__init__()
        heads, drop = cfg.attention_heads, cfg.attention_dropout
        self.self_attn = RopeAttention(dim, heads, cfg.rope_theta, drop)
        self.cross_attn_image = RopeAttention(dim, heads, cfg.rope_theta, drop, kv_in_dim=cfg.mem_dim)
        self.linear1 = nn.Linear(dim, cfg.attention_ff_dim)
        self.linear2 = nn.Linear(cfg.attention_ff_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(drop)
        self.dropout1 = nn.Dropout(drop)
        self.dropout2 = nn.Dropout(drop)
        self.dropout3 = nn.Dropout(drop)

    def forward(self, x: Tensor, memory: Tensor, memory_pos: Tensor, num_ptr_tokens: int) -> Tensor:
        """x: (B, L, C) frame tokens; memory, memory_pos: (B, M, mem_dim)."""
        h = self.norm1(x)
        x = x + self.dropout1(self.self_attn(h, h, h))
        h = self.norm2(x)
        x = x + self.dropout2(self.cross_attn_image(h, memory + memory_pos, memory, num_plain=num_ptr_tokens))
        h = self.norm3(x)
        return x + self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(h)))))


class MemoryAttention(nn.Module):
    def __init__(self, dim: int, cfg: MemoryConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(MemoryAttentionLayer(dim, cfg) for _ in range(cfg.attention_layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, curr: Tensor, curr_pos: Tensor, memory: Tensor, memory_pos: Tensor,
                num_ptr_tokens: int = 0) -> Tensor:
        """Sequence-first inputs: curr, curr_pos (L, B, C); memory, memory_pos (M, B, mem_dim) -> (L, B, C)."""
        x = (curr + 0.1 * curr_pos).transpose(0, 1)  # (B, L, C)
        memory, memory_pos = memory.transpose(0, 1), memory_pos.transpose(0, 1)
        for layer in self.layers:
            x = layer(x, memory, memory_pos, num_ptr_tokens)
        return self.norm(x).transpose(0, 1)
