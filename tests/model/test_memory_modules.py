"""Rotary encoding, memory attention and memory encoder: behaviour on their own (no reference)."""

from __future__ import annotations

import math

import pytest
import torch

from samstream.config import MemoryConfig
from samstream.errors import InvalidInputError
from samstream.model.kernels import Kernels, apply_kernels, attend_in_blocks
from samstream.model.memory_attention import MemoryAttention, RopeAttention
from samstream.model.memory_encoder import MaskDownSampler, MemoryEncoder
from samstream.model.position import SinePositionEncoding
from samstream.model.rope import AxialRope, axial_cos_sin, axial_rotations, key_rotations, rotate, rotate_keys

SMALL = MemoryConfig(attention_layers=2, attention_ff_dim=64, attention_heads=2)
# one head and memories narrower than the head, as in released models: the inference rewrites apply
ONE_HEAD = MemoryConfig(attention_layers=2, attention_ff_dim=64, attention_heads=1, mem_dim=16,
                        attention_dropout=0.0)
D_MODEL = 32


def _explicit_rotation(vec: torch.Tensor, x: int, y: int, theta: float = 10000.0) -> torch.Tensor:
    """Rotate one (hd,) vector at grid position (x, y) with 2x2 rotations, in float64."""
    hd = vec.numel()
    out = vec.double().clone()
    for p in range(hd // 2):
        freq = theta ** (-4.0 * (p % (hd // 4)) / hd)
        angle = (x if p < hd // 4 else y) * freq
        c, s = math.cos(angle), math.sin(angle)
        a, b = float(vec[2 * p]), float(vec[2 * p + 1])
        out[2 * p], out[2 * p + 1] = a * c - b * s, a * s + b * c
    return out


@pytest.mark.parametrize("side", [4, 16, 32])
def test_rotation_matches_explicit_formula(side: int) -> None:
    gen = torch.Generator().manual_seed(side)
    hd = 16
    x = torch.randn(1, 1, side * side, hd, generator=gen)
    out = rotate(x, axial_rotations(hd, side, side))
    for token in (0, 1, side - 1, side, side * side - 1, (side * side) // 2 + 3):
        col, row = token % side, token // side
        expected = _explicit_rotation(x[0, 0, token], col, row)
        assert torch.allclose(out[0, 0, token].double(), expected, atol=1e-4)


def test_scores_depend_only_on_offset() -> None:
    gen = torch.Generator().manual_seed(0)
    side, hd = 6, 32
    table = axial_rotations(hd, side, side)
    q = torch.randn(hd, generator=gen).expand(side * side, hd)  # the same vector at every position
    k = torch.randn(hd, generator=gen).expand(side * side, hd)
    scores = (rotate(q, table) @ rotate(k, table).T).double()  # (L, L)
    s = scores.reshape(side, side, side, side)  # [yq, xq, yk, xk]
    assert torch.allclose(s[1:, :, 1:, :], s[:-1, :, :-1, :], atol=1e-4)  # shift both rows
    assert torch.allclose(s[:, 1:, :, 1:], s[:, :-1, :, :-1], atol=1e-4)  # shift both columns
    plain = float(q[0].double() @ k[0].double())
    assert torch.allclose(scores.diagonal(), torch.full((side * side,), plain, dtype=torch.float64), atol=1e-4)
    assert not torch.allclose(s[0, 0, 0, 1], s[0, 0, 1, 0], atol=1e-3)  # x and y offsets differ


def test_rotation_keeps_norm_and_dtype() -> None:
    x = torch.randn(2, 3, 64, 8)
    out = rotate(x, axial_rotations(8, 8, 8))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.allclose(out.norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    half = rotate(x.to(torch.bfloat16), axial_rotations(8, 8, 8))
    assert half.dtype == torch.bfloat16


def test_repeated_frames_and_excluded_keys() -> None:
    gen = torch.Generator().manual_seed(1)
    side, hd, frames, extra = 4, 8, 3, 5
    table = axial_rotations(hd, side, side)
    frame = torch.randn(2, 1, side * side, hd, generator=gen)
    tail = torch.randn(2, 1, extra, hd, generator=gen)
    keys = torch.cat([frame] * frames + [tail], dim=2)
    out = rotate_keys(keys, table, num_exclude=extra)
    single = rotate(frame, table)
    for f in range(frames):
        assert torch.equal(out[:, :, f * side * side:(f + 1) * side * side], single)
    assert torch.equal(out[:, :, -extra:], tail)
    assert torch.equal(rotate_keys(tail, table, num_exclude=extra), tail)  # nothing to rotate


def test_rotation_rejects_bad_shapes() -> None:
    table = axial_rotations(8, 4, 4)
    with pytest.raises(InvalidInputError, match="multiple"):
        rotate(torch.randn(1, 1, 20, 8), table)
    with pytest.raises(InvalidInputError, match="num_exclude"):
        rotate_keys(torch.randn(1, 1, 16, 8), table, num_exclude=17)
    with pytest.raises(InvalidInputError, match="not a multiple"):
        rotate_keys(torch.randn(1, 1, 36, 8), table, num_exclude=2)  # pointers not excluded
    with pytest.raises(InvalidInputError, match="head_dim"):
        AxialRope(6)
    with pytest.raises(InvalidInputError, match="square"):
        AxialRope(8).square_table(12, torch.device("cpu"))


def test_rope_cache_is_per_grid() -> None:
    rope = AxialRope(16)
    cpu = torch.device("cpu")
    assert rope.table(4, 4, cpu) is rope.table(4, 4, cpu)
    assert rope.table(8, 8, cpu).shape == (64, 8)
    assert torch.equal(rope.square_table(16, cpu), axial_rotations(16, 4, 4))


def test_rope_attention_shapes_and_checks() -> None:
    attn = RopeAttention(32, 2, kv_in_dim=16, rope_k_repeat=True).eval()
    q, kv = torch.randn(3, 64, 32), torch.randn(3, 2 * 64 + 4, 16)
    assert attn(q, kv, kv, num_k_exclude_rope=4).shape == (3, 64, 32)
    plain = RopeAttention(32, 2).eval()
    with pytest.raises(InvalidInputError, match="rope_k_repeat"):
        plain(q, torch.randn(3, 128, 32), torch.randn(3, 128, 32))
    with pytest.raises(InvalidInputError, match="square"):
        plain(torch.randn(1, 60, 32), torch.randn(1, 60, 32), torch.randn(1, 60, 32))


def _memory_inputs(side: int, batch: int, frames: int, ptr_tokens: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    length, mem = side * side, frames * side * side + ptr_tokens
    curr = torch.randn(length, batch, D_MODEL, generator=gen)
    curr_pos = torch.randn(length, batch, D_MODEL, generator=gen)
    memory = torch.randn(mem, batch, SMALL.mem_dim, generator=gen)
    memory_pos = torch.randn(mem, batch, SMALL.mem_dim, generator=gen)
    return curr, curr_pos, memory, memory_pos


@torch.no_grad()
def test_memory_attention_shapes_and_list_inputs() -> None:
    torch.manual_seed(0)
    model = MemoryAttention(D_MODEL, SMALL).eval()
    curr, curr_pos, memory, memory_pos = _memory_inputs(side=8, batch=2, frames=2, ptr_tokens=4)
    out = model(curr, curr_pos, memory, memory_pos, num_obj_ptr_tokens=4)
    assert out.shape == curr.shape
    assert torch.equal(model([curr], [curr_pos], memory, memory_pos, 4), out)
    with pytest.raises(InvalidInputError, match="batch size"):
        model(curr, curr_pos, memory[:, :1], memory_pos[:, :1], 4)
    with pytest.raises(InvalidInputError, match="list of one"):
        model([curr, curr], [curr_pos, curr_pos], memory, memory_pos, 4)


@torch.no_grad()
def test_memory_attention_ignores_order_of_frames_and_pointers() -> None:
    """Every memory frame is rotated alike and pointers are not rotated: order does not matter."""
    torch.manual_seed(0)
    model = MemoryAttention(D_MODEL, SMALL).eval()
    side, ptrs = 4, 6
    curr, curr_pos, memory, memory_pos = _memory_inputs(side=side, batch=1, frames=3, ptr_tokens=ptrs)
    out = model(curr, curr_pos, memory, memory_pos, num_obj_ptr_tokens=ptrs)
    n = side * side
    order = torch.cat([torch.arange(2 * n, 3 * n), torch.arange(0, 2 * n), 3 * n + torch.randperm(ptrs)])
    shuffled = model(curr, curr_pos, memory[order], memory_pos[order], num_obj_ptr_tokens=ptrs)
    assert torch.allclose(out, shuffled, atol=1e-5)
    # moving a token inside a frame changes its rotation, so the output changes
    swap = torch.arange(3 * n + ptrs)
    swap[0], swap[5] = 5, 0
    assert not torch.allclose(out, model(curr, curr_pos, memory[swap], memory_pos[swap], ptrs), atol=1e-4)


@torch.no_grad()
@pytest.mark.parametrize("chunk", [1, 2, None])  # None: all five at once (the default off the CPU)
@pytest.mark.parametrize("fused", [False, True])
def test_shared_frame_schedules_equal_literal_per_object(chunk, fused) -> None:
    """One frame for five objects' memories, in any object chunks, in blocks or with the fused kernel on
    padded values: each object gets what a literal evaluation (training mode, dropout 0: values
    projected before attending, every step per object) gives it alone."""
    torch.manual_seed(0)
    model = MemoryAttention(D_MODEL, ONE_HEAD)
    # blocks of query rows (the CPU's kernels) or the fused kernel on padded values (elsewhere)
    apply_kernels(model, Kernels(inference=True, cpu_blocks=not fused, object_chunk=chunk))
    side, ptrs, objects = 4, 8, 5
    gen = torch.Generator().manual_seed(3)
    curr = torch.randn(side * side, 1, D_MODEL, generator=gen)
    curr_pos = torch.randn(side * side, 1, D_MODEL, generator=gen)
    memory = torch.randn(2 * side * side + ptrs, objects, 16, generator=gen)
    memory_pos = torch.randn(2 * side * side + ptrs, objects, 16, generator=gen)
    got = model.eval()(curr, curr_pos, memory, memory_pos, ptrs)  # (L, 5, C)
    model.train()
    for i in range(objects):
        alone = model(curr, curr_pos, memory[:, i : i + 1], memory_pos[:, i : i + 1], ptrs)
        assert (got[:, i : i + 1] - alone).abs().max() <= 1e-5 * max(1.0, float(alone.abs().max()))
    assert not torch.allclose(got[:, 0], got[:, 1], atol=1e-3)  # the objects do differ


@torch.no_grad()
def test_layer_forward_equals_literal_evaluation() -> None:
    """A layer called on its own (raw memory values) gives in eval mode what training mode (dropout 0) gives."""
    torch.manual_seed(0)
    layer = MemoryAttention(D_MODEL, ONE_HEAD).layers[0]
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 16, D_MODEL, generator=gen)
    keys, values = torch.randn(2, 2 * 16 + 8, 16, generator=gen), torch.randn(2, 2 * 16 + 8, 16, generator=gen)
    got = layer.eval()(x, keys, values, num_obj_ptr_tokens=8)
    expected = layer.train()(x, keys, values, num_obj_ptr_tokens=8)
    assert got.shape == (2, 16, D_MODEL)
    assert (got - expected).abs().max() <= 1e-5 * max(1.0, float(expected.abs().max()))


def test_attend_in_blocks_matches_softmax_formula() -> None:
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 37, 8, generator=gen), torch.randn(3, 50, 8, generator=gen)
    v = torch.randn(3, 50, 5, generator=gen)
    q = 40 * q  # scores past 88 overflow exp() in float32 unless the row maximum is taken out first
    expected = torch.softmax(q.double() @ k.double().transpose(1, 2) / math.sqrt(8), dim=-1) @ v.double()
    for rows in (1, 16, 37, 128):
        got = attend_in_blocks(q, k, v, rows=rows)
        assert got.shape == (3, 37, 5)
        assert torch.allclose(got.double(), expected, atol=1e-5)


@torch.no_grad()
def test_memory_attention_dropout_only_in_training() -> None:
    torch.manual_seed(0)
    model = MemoryAttention(D_MODEL, SMALL)
    args = _memory_inputs(side=4, batch=1, frames=1, ptr_tokens=0)
    model.train()
    assert not torch.equal(model(*args), model(*args))
    model.eval()
    assert torch.equal(model(*args), model(*args))


@pytest.mark.parametrize("image_size", [256, 512])
@torch.no_grad()
def test_memory_encoder_shapes_and_sigmoid(image_size: int) -> None:
    torch.manual_seed(0)
    encoder = MemoryEncoder(256, MemoryConfig()).eval()
    side = image_size // 16
    gen = torch.Generator().manual_seed(1)
    feats = torch.randn(2, 256, side, side, generator=gen)
    logits = 4 * torch.randn(2, 1, image_size, image_size, generator=gen)
    memory, pos = encoder(feats, logits)
    assert memory.shape == (2, 64, side, side) and pos.shape == (2, 64, side, side)
    assert torch.equal(pos[1], SinePositionEncoding(64).grid(side, side, torch.device("cpu")))
    skipped, _ = encoder(feats, torch.sigmoid(logits), skip_mask_sigmoid=True)
    assert torch.equal(memory, skipped)
    raw, _ = encoder(feats, logits, skip_mask_sigmoid=True)
    assert not torch.allclose(raw, memory)


def test_memory_encoder_rejects_bad_masks() -> None:
    encoder = MemoryEncoder(256, MemoryConfig())
    feats = torch.randn(1, 256, 16, 16)
    with pytest.raises(InvalidInputError, match="masks"):
        encoder(feats, torch.randn(1, 1, 128, 128))
    with pytest.raises(InvalidInputError, match="masks"):
        encoder(feats, torch.randn(1, 2, 256, 256))
    with pytest.raises(InvalidInputError, match="total_stride"):
        MaskDownSampler(256, total_stride=12)


def test_mask_downsampler_stride() -> None:
    down = MaskDownSampler(8, total_stride=16)
    assert down(torch.randn(1, 1, 64, 64)).shape == (1, 8, 4, 4)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in down.encoder) == 5


@torch.no_grad()
def test_rotate_keys_in_place_matches_copy() -> None:
    table = axial_rotations(8, 4, 4)
    keys = torch.randn(2, 1, 3 * 16 + 5, 8)
    expected = rotate_keys(keys.clone(), table, num_exclude=5)
    work = keys.clone()
    out = rotate_keys(work, table, num_exclude=5, inplace=True)
    assert out.data_ptr() == work.data_ptr()  # no copy
    assert torch.equal(out, expected)
    assert torch.equal(out[..., -5:, :], keys[..., -5:, :])  # pointer tokens untouched
    # the plain form (what training uses) copies and leaves its input as it was, under autograd too
    grad_keys = keys.clone().requires_grad_()
    assert torch.equal(rotate_keys(grad_keys, table, 5, inplace=False), expected)
    assert torch.equal(grad_keys.detach(), keys)


@pytest.mark.parametrize("num_exclude", [0, 8])
@pytest.mark.parametrize("real", [False, True])
def test_key_rotations_equal_the_sliced_form(num_exclude: int, real: bool) -> None:
    """The compiled form of rotate_keys (one table as long as the keys, identity for pointers) gives
    exactly the eager form's keys: the identity rotation leaves pointer tokens bit for bit."""
    table = (axial_cos_sin if real else axial_rotations)(8, 4, 4)  # a 4x4 grid, head width 8
    keys = torch.randn(2, 1, 3 * 16 + num_exclude, 8)  # three memory frames, then the pointers
    expected = rotate_keys(keys, table, num_exclude)
    assert torch.equal(rotate(keys, key_rotations(table, keys.shape[-2], 3 * 16)), expected)
    assert torch.equal(expected[..., 48:, :], keys[..., 48:, :])
