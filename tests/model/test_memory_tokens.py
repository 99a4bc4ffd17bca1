"""SAM2Model.memory_tokens: memory frames and object pointers as memory-attention tokens."""

from __future__ import annotations

import math

import torch

from samstream.model.sam2 import SAM2Model
from samstream.presets import micro_config


def test_tokens_and_encodings_written_out() -> None:
    torch.manual_seed(0)
    model = SAM2Model(micro_config(64)).eval()
    mem = model.cfg.memory
    b, h, w, dim, hidden = 2, 4, 4, mem.mem_dim, model.cfg.hidden_dim
    memories = [torch.randn(b, dim, h, w), torch.randn(b, dim, h, w)]
    ptrs = torch.randn(3, b, hidden)
    with torch.no_grad():
        out = model.memory_tokens(memories, [0, 6], ptrs, [2, 1, -1], max_ptrs=8)
        split = hidden // dim
        assert out.tokens.shape == (2 * h * w + 3 * split, b, dim) and out.num_ptr_tokens == 3 * split
        # memory frame i: its h*w tokens, the grid's sine encoding plus the slot's learned encoding
        grid = model.memory_pos_enc(h, w)  # (1, dim, h, w)
        assert grid.data_ptr() == model.memory_pos_enc(h, w).data_ptr()  # computed once, cached
        for i, (slot, m) in enumerate(zip([0, 6], memories)):
            rows = slice(i * h * w, (i + 1) * h * w)
            assert torch.equal(out.tokens[rows], m.flatten(2).permute(2, 0, 1))
            enc = grid[0].flatten(1).t()[:, None, :] + model.maskmem_tpos_enc[mem.num_maskmem - 1 - slot, 0]
            assert torch.allclose(out.pos[rows], enc.expand(-1, b, -1))
        # pointer p: split into hidden/dim tokens, each with the projected sine of distance / (max_ptrs - 1)
        start = 2 * h * w
        for p, dist in enumerate([2, 1, -1]):
            half = hidden // 2
            freqs = 10000.0 ** (2 * (torch.arange(half) // 2) / half)
            angle = torch.tensor(dist / 7.0) / freqs
            sine = torch.cat([angle.sin(), angle.cos()])
            ptr_pos = model.obj_ptr_tpos_proj(sine)
            for k in range(split):
                row = start + p * split + k
                assert torch.allclose(out.tokens[row], ptrs[p, :, k * dim : (k + 1) * dim])
                assert torch.allclose(out.pos[row], ptr_pos.expand(b, -1), atol=1e-6)
    assert math.isfinite(float(out.pos.sum()))


def test_memory_frames_only_and_pointers_only() -> None:
    torch.manual_seed(1)
    model = SAM2Model(micro_config(64)).eval()
    dim, hidden = model.cfg.memory.mem_dim, model.cfg.hidden_dim
    memories = [torch.randn(3, dim, 4, 4)]
    ptrs = torch.randn(2, 3, hidden)
    with torch.no_grad():
        both = model.memory_tokens(memories, [0], ptrs, [1, 2], max_ptrs=4)
        frames_only = model.memory_tokens(memories, [0], None, [], max_ptrs=4)
        ptrs_only = model.memory_tokens([], [], ptrs, [1, 2], max_ptrs=4)
    n_mem = 4 * 4
    assert frames_only.num_ptr_tokens == 0 and frames_only.tokens.shape == (n_mem, 3, dim)
    assert torch.equal(frames_only.tokens, both.tokens[:n_mem]) and torch.equal(frames_only.pos, both.pos[:n_mem])
    assert ptrs_only.num_ptr_tokens == both.num_ptr_tokens == both.tokens.shape[0] - n_mem
    assert torch.equal(ptrs_only.tokens, both.tokens[n_mem:]) and torch.equal(ptrs_only.pos, both.pos[n_mem:])
