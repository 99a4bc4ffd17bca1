"""Cross-attention between a few prompt tokens and many image tokens, in the cheapest exact order.

The mask decoder's cross-attentions pair T prompt tokens (about 8) with N image tokens (4,096 at
1,024 input). Written plainly, both project all N image tokens (C -> D channels) for every prompt.
Per head ``h`` (width ``d``, ``H`` heads, ``D = H d``), with ``y`` the image tokens:

* tokens -> image: ``softmax(q_h (y Wk_h^T + bk_h)^T) (y Wv_h^T + bv_h)``. The key bias adds the same
  value to a whole row of scores and cancels in the softmax; so the scores are ``(q_h Wk_h) y^T``
  and, since every softmax row sums to 1, the output is ``(P_h y) Wv_h^T + bv_h``. The image tokens
  meet H T vectors of width C instead of D projections: cheaper whenever ``H T < D``.
* image -> tokens: the scores ``(y Wq_h^T + bq_h) k_h^T`` are ``y (Wq_h^T k_h^T)`` plus a bias per
  token, and the output projection distributes over the heads' sum:
  ``out_proj(concat_h P_h v_h) = sum_h P_h (v_h Wo_h^T) + bo``.

When the image tokens are shared by every prompt of the batch (batch 1, as for the first decoder
block of many prompts on one image), the plain projections are computed once instead. All of this
is the same arithmetic in another order: results agree with the plain form to float rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor

from samstream.model.layers import Attention


def _heads(w: Tensor, attn: Attention) -> Tensor:
    """(D, C) projection weight -> (H, d, C)."""
    return w.reshape(attn.num_heads, attn.internal_dim // attn.num_heads, w.shape[-1])


def tokens_to_image(attn: Attention, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """``attn(q, k, v)`` for queries q (B, T, C) and image keys/values k, v (B or 1, N, C) -> (B, T, C)."""
    b, t, _ = q.shape
    nh = attn.num_heads
    hd = attn.internal_dim // nh
    scale = hd**-0.5
    qp = attn.q_proj(q).reshape(b, t, nh, hd)
    if k.shape[0] == 1 and b > 1:  # shared image: project it once
        kp = attn.k_proj(k[0]).reshape(-1, nh, hd).transpose(0, 1)  # (H, N, d)
        vp = attn.v_proj(v[0]).reshape(-1, nh, hd).transpose(0, 1)
        qh = qp.permute(2, 0, 1, 3).reshape(nh, b * t, hd)
        probs = torch.softmax(torch.bmm(qh, kp.transpose(1, 2)) * scale, dim=-1)  # (H, B T, N)
        out = torch.bmm(probs, vp).reshape(nh, b, t, hd).permute(1, 2, 0, 3).reshape(b, t, nh * hd)
        return attn.out_proj(out)
    if nh * t >= attn.internal_dim:  # the plain order is cheaper
        return attn(q, k.expand(b, -1, -1), v.expand(b, -1, -1))
    a = torch.einsum("btnd,ndc->bntc", qp, _heads(attn.k_proj.weight, attn)).reshape(b, nh * t, -1)
    probs = torch.softmax(torch.bmm(a, k.expand(b, -1, -1).transpose(1, 2)) * scale, dim=-1)  # (B, H T, N)
    mixed = torch.bmm(probs, v.expand(b, -1, -1)).reshape(b, nh, t, -1)  # (B, H, T, C)
    out = torch.einsum("bntc,ndc->btnd", mixed, _heads(attn.v_proj.weight, attn)).reshape(b, t, nh * hd)
    return attn.out_proj(out + attn.v_proj.bias)


def image_to_tokens(attn: Attention, q: Tensor, k: Tensor, v: Tensor, residual: Tensor) -> Tensor:
    """``residual + attn(q, k, v)`` for image queries q (B or 1, N, C), token keys/values k, v (B, T, C)
    and a residual (B or 1, N, C) -> (B, N, C)."""
    b, t, _ = k.shape
    nh = attn.num_heads
    hd = attn.internal_dim // nh
    if nh * t >= attn.internal_dim:
        return residual + attn(q.expand(b, -1, -1), k, v)
    scale = hd**-0.5
    kp = attn.k_proj(k).reshape(b, t, nh, hd)
    vp = attn.v_proj(v).reshape(b, t, nh, hd)
    wq = _heads(attn.q_proj.weight, attn)  # (H, d, C)
    m = torch.einsum("ndc,btnd->bcnt", wq, kp).reshape(b, -1, nh * t) * scale  # (B, C, H T)
    bias = torch.einsum("nd,btnd->bnt", attn.q_proj.bias.reshape(nh, hd), kp).reshape(b, 1, nh * t) * scale
    n = q.shape[1]
    if q.shape[0] == 1 and b > 1:  # shared image: one product for the whole batch
        scores = (q[0] @ m.permute(1, 0, 2).reshape(m.shape[1], b * nh * t)).reshape(n, b, nh * t)
        scores = scores.transpose(0, 1) + bias  # (B, N, H T)
    else:
        scores = torch.baddbmm(bias, q, m)
    probs = torch.softmax(scores.reshape(b, n, nh, t), dim=-1).reshape(b, n, nh * t)
    wo = attn.out_proj.weight.reshape(-1, nh, hd)  # (C, H, d)
    u = torch.einsum("btnd,cnd->bntc", vp, wo).reshape(b, nh * t, -1)  # (B, H T, C)
    out = (residual + attn.out_proj.bias).expand(b, n, -1).contiguous()
    return out.baddbmm_(probs, u)
