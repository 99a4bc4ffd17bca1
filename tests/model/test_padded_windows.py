"""Windowed attention on maps the windows do not tile: samstream.model.padded_windows against the
literal computation (zero-pad the map to whole windows, attend in each, crop)."""

from __future__ import annotations

import pytest
import torch

from samstream.model import hiera as hiera_module
from samstream.model import padded_windows
from samstream.model.hiera import MultiScaleAttention, window_partition, window_unpartition
from tests.model.test_image_encoder import _encoder


def assert_relative(got: torch.Tensor, want: torch.Tensor, tol: float = 1e-5) -> None:
    """max |got - want| / max(1, max |want|) <= tol (the project's parity measure)."""
    assert got.shape == want.shape
    worst = float((got - want).abs().max() / max(1.0, float(want.abs().max())))
    assert worst <= tol, worst


def literal(attn: MultiScaleAttention, xn: torch.Tensor, window: int) -> torch.Tensor:
    """What Hiera's definition computes: pad with zero tokens, attend per window, drop the padding."""
    h, w = xn.shape[1:3]
    windows, padded_hw = window_partition(xn, window)
    y = attn(windows)
    ws = window
    if attn.q_stride is not None:
        ws //= attn.q_stride[0]
        h, w = h // attn.q_stride[0], w // attn.q_stride[1]
        padded_hw = tuple(n + (-n % ws) for n in (h, w))
    return window_unpartition(y, ws, padded_hw, (h, w))


def _attention(dim: int, heads: int, stride) -> MultiScaleAttention:
    attn = MultiScaleAttention(dim, 2 * dim if stride else dim, heads, stride)
    with torch.no_grad():
        attn.qkv.bias.normal_(0, 1.0)  # a large bias: the padding keys matter
    return attn


CASES = [  # (height, width, window, q_stride, heads)
    (4, 4, 14, None, 1),  # the whole map inside one window (tiny at 64 input, stage 3)
    (2, 2, 7, None, 2),
    (9, 13, 4, None, 1),  # full windows, both edge strips and the corner
    (13, 9, 4, None, 2),
    (32, 32, 14, None, 2),  # tiny at 512 input, stage 3
    (4, 4, 14, (2, 2), 1),  # a stage change inside one padded window (tiny at 64 input)
    (12, 20, 8, (2, 2), 2),
    (32, 32, 14, (2, 2), 1),
]


@pytest.mark.parametrize("h, w, window, stride, heads", CASES)
def test_equals_zero_padding(h: int, w: int, window: int, stride, heads: int) -> None:
    torch.manual_seed(h * 100 + w)
    attn = _attention(16, heads, stride)
    xn = torch.randn(2, h, w, 16)
    assert padded_windows.supports(h, w, window, stride)
    with torch.no_grad():
        want = literal(attn, xn, window)
        got = padded_windows.attend_padded(attn, xn, window)
        chunked = padded_windows.attend_padded(attn, xn, window, max_tokens=20)  # ragged chunks of windows
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(chunked, want, rtol=1e-5, atol=1e-5)


def test_padding_keys_change_the_result() -> None:
    """The check above is not vacuous: attending to the real tokens alone differs."""
    torch.manual_seed(0)
    attn = _attention(16, 1, None)
    xn = torch.randn(1, 4, 4, 16)
    with torch.no_grad():
        unpadded = attn(xn)  # one 4 x 4 window, no padding keys
        want = literal(attn, xn, 14)
    assert (unpadded - want).abs().max() > 1e-2


def test_gradients_equal_zero_padding() -> None:
    torch.manual_seed(1)
    attn = _attention(16, 2, (2, 2))
    xn = torch.randn(1, 12, 20, 16, requires_grad=True)
    grads = []
    for fn in (lambda: literal(attn, xn, 8), lambda: padded_windows.attend_padded(attn, xn, 8)):
        attn.zero_grad()
        xn.grad = None
        (fn() ** 2).sum().backward()
        grads.append((xn.grad.clone(), attn.qkv.bias.grad.clone(), attn.qkv.weight.grad.clone()))
    for a, b in zip(*grads):
        assert_relative(b, a)


def test_unsupported_pooling_falls_back() -> None:
    assert not padded_windows.supports(10, 6, 7, (2, 2))  # odd window: pooled cells straddle the padding
    assert not padded_windows.supports(9, 6, 4, (2, 2))  # odd map side
    assert padded_windows.supports(9, 6, 7, None)


@pytest.mark.parametrize("size", [(160, 224), (64, 64)])
def test_encoder_equals_the_literal_path(size: tuple[int, int], monkeypatch) -> None:
    """A whole trunk whose stage-3 windows need padding at these sizes."""
    enc = _encoder()
    x = torch.randn(1, 3, *size)
    with torch.inference_mode():
        fast = enc(x)[0]
        monkeypatch.setattr(hiera_module.padded_windows, "supports", lambda *a: False)
        slow = enc(x)[0]
    for a, b in zip(fast, slow):
        assert_relative(a, b)
