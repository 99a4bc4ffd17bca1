"""The real (cos, sin) form of the rotary encoding equals the complex one."""

from __future__ import annotations

import torch

from samstream.config import MemoryConfig
from samstream.model.memory_attention import MemoryAttention
from samstream.model.rope import AxialRope, rotate, rotate_keys, use_real_rotations


def test_real_tables_rotate_like_complex_ones() -> None:
    gen = torch.Generator().manual_seed(0)
    complex_rope, real_rope = AxialRope(16), AxialRope(16, real=True)
    table_c, table_r = complex_rope.table(4, 4, torch.device("cpu")), real_rope.table(4, 4, torch.device("cpu"))
    assert table_c.is_complex() and table_r.shape == (16, 8, 2) and not table_r.is_complex()
    assert torch.allclose(torch.view_as_real(table_c), table_r, atol=1e-7)
    q = torch.randn(2, 1, 16, 16, generator=gen)
    assert torch.allclose(rotate(q, table_c), rotate(q, table_r), atol=1e-6)
    k = torch.randn(2, 1, 3 * 16 + 5, 16, generator=gen)
    with torch.no_grad():
        expected = rotate_keys(k.clone(), table_c, num_exclude=5, inplace=True)
    got = rotate_keys(k, table_r, num_exclude=5, inplace=True)
    assert torch.allclose(expected, got, atol=1e-6) and torch.equal(got[..., -5:, :], k[..., -5:, :])


@torch.no_grad()
def test_use_real_rotations_keeps_memory_attention_results() -> None:
    torch.manual_seed(0)
    cfg = MemoryConfig(mem_dim=16, attention_layers=2, attention_ff_dim=32)
    model = MemoryAttention(32, cfg).eval()
    gen = torch.Generator().manual_seed(1)
    curr, pos = torch.randn(16, 1, 32, generator=gen), torch.randn(16, 1, 32, generator=gen)
    memory, memory_pos = torch.randn(2 * 16 + 4, 3, 16, generator=gen), torch.randn(2 * 16 + 4, 3, 16, generator=gen)
    expected = model(curr, pos, memory, memory_pos, 4)
    assert use_real_rotations(model) == 2 * cfg.attention_layers
    assert torch.allclose(model(curr, pos, memory, memory_pos, 4), expected, atol=1e-5)
    assert use_real_rotations(model, real=False) == 2 * cfg.attention_layers
