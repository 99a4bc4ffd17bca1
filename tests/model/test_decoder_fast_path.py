"""The mask decoder's inference order (reassociated cross-attention, shared first block, matmul
upscaling) against the plain order that training uses, on the same weights and inputs.

The plain order is the module-by-module computation (``nn.MultiheadAttention``-style projections,
``ConvTranspose2d``, ``LayerNorm2d``) that the parity tests compare with the reference; it runs in
training mode and with the plain kernels. In eval mode the CPU's kernels take the cheaper order, which
must give the same numbers to float rounding.
"""

from __future__ import annotations

import pytest
import torch

from samstream.checkpoints import build_model
from samstream.model import kernels
from samstream.model.kernels import PLAIN, apply_kernels, current_kernels
from samstream.model.layers import Attention
from samstream.model.token_attention import image_to_tokens, tokens_to_image
from samstream.registry import get_variant

TOL = 2e-6  # relative to the largest magnitude of the plain result


def _close(fast: torch.Tensor, plain: torch.Tensor) -> None:
    assert fast.shape == plain.shape
    scale = max(1.0, plain.abs().max().item())
    assert (fast - plain).abs().max().item() <= TOL * scale


@pytest.fixture(scope="module")
def model():
    m = build_model(get_variant("sam2.1-tiny").config.with_image_size(256), device="cpu", seed=0)
    for p in m.parameters():
        p.requires_grad_(False)
    # random (not zero) biases, so that the bias terms of the reassociated forms are exercised
    g = torch.Generator().manual_seed(1)
    for name, p in m.sam_mask_decoder.named_parameters():
        if name.endswith("bias"):
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return m


def _plain(model, fn):
    """``fn()`` with the model's plain (training) forms selected, then its kernels restored."""
    chosen = current_kernels(model)
    apply_kernels(model, PLAIN)
    try:
        with torch.no_grad():
            return fn()
    finally:
        apply_kernels(model, chosen)


@pytest.mark.parametrize("tokens", [3, 8, 20])  # 20 tokens x 8 heads > 128 inner width: plain fallback
@pytest.mark.parametrize("shared", [True, False])
def test_cross_attention_orders(tokens: int, shared: bool) -> None:
    torch.manual_seed(0)
    attn = Attention(64, 8, downsample_rate=2)
    for p in attn.parameters():
        p.requires_grad_(False)
        p.normal_(0, 0.2)
    b, n = 4, 50
    t_q, t_v = torch.randn(b, tokens, 64), torch.randn(b, tokens, 64)
    img_k = torch.randn(1 if shared else b, n, 64)
    img_v = torch.randn(1 if shared else b, n, 64)
    with torch.no_grad():
        fast_t = tokens_to_image(attn, t_q, img_k, img_v)
        fast_i = image_to_tokens(attn, img_k, t_q, t_v, img_v)
    _close(fast_t, attn(t_q, img_k.expand(b, -1, -1), img_v.expand(b, -1, -1)))
    _close(fast_i, img_v + attn(img_k.expand(b, -1, -1), t_q, t_v))


# chunks of the inference upscaling: the default (whole maps, several prompts per chunk at this
# size), 3 of 16 rows of one prompt (a short last chunk), one row
@pytest.mark.parametrize("chunk_floats", [None, 3 * 16 * 16 * 32, 1])
@pytest.mark.parametrize("case", ["one point, shared image", "points and mask input", "per-object images",
                                  "no high-res features"])
def test_decoder_orders(model, case: str, chunk_floats: int | None, monkeypatch) -> None:
    if chunk_floats is not None:
        monkeypatch.setattr(kernels, "CHUNK_FLOATS", chunk_floats)
    dec, pe = model.sam_mask_decoder, model.sam_prompt_encoder
    g = torch.Generator().manual_seed(2)
    b = 5  # more than one group of prompts (mask_decoder._PROMPT_GROUP), the last one short
    per_object = case == "per-object images"
    image = torch.randn(b if per_object else 1, 256, 16, 16, generator=g)
    high_res = None if case == "no high-res features" else (
        torch.randn(b if per_object else 1, 32, 64, 64, generator=g),
        torch.randn(b if per_object else 1, 64, 32, 32, generator=g))
    n_pts = 3 if case == "points and mask input" else 1
    points = (torch.rand(b, n_pts, 2, generator=g) * 256, torch.randint(0, 2, (b, n_pts), generator=g))
    masks = torch.randn(b, 1, 64, 64, generator=g) if case == "points and mask input" else None
    sparse, dense = pe(points=points, boxes=None, masks=masks)
    with torch.no_grad():
        fast = dec.predict_all(image, pe.dense_pe(), sparse, dense, high_res)
    plain = _plain(model, lambda: dec.predict_all(image.expand(b, -1, -1, -1), pe.dense_pe(), sparse, dense,
                                                  high_res))
    for f, p in zip(fast, plain):
        _close(f, p)
