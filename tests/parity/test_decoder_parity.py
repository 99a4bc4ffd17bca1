"""Prompt encoder and mask decoder against the reference modules (random weights)."""

from __future__ import annotations

import pytest
import torch

from samstream.config import DecoderConfig
from samstream.model.mask_decoder import MaskDecoder, stability_score
from samstream.model.prompt_encoder import PromptEncoder

from .conftest import perturb_constants_, rel_diff

pytestmark = pytest.mark.parity

EMB = 32  # embedding grid (image size 512)


def _pair(seed: int = 0):
    from sam2.modeling.sam.mask_decoder import MaskDecoder as RefDecoder
    from sam2.modeling.sam.prompt_encoder import PromptEncoder as RefPrompt
    from sam2.modeling.sam.transformer import TwoWayTransformer

    torch.manual_seed(seed)
    ref_pe = RefPrompt(embed_dim=256, image_embedding_size=(EMB, EMB), input_image_size=(EMB * 16, EMB * 16),
                       mask_in_chans=16)
    ref_md = RefDecoder(
        num_multimask_outputs=3, transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
        transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256, use_high_res_features=True,
        iou_prediction_use_sigmoid=True, pred_obj_scores=True, pred_obj_scores_mlp=True,
        use_multimask_token_for_obj_ptr=True, dynamic_multimask_via_stability=True,
        dynamic_multimask_stability_delta=0.05, dynamic_multimask_stability_thresh=0.98,
    )
    perturb_constants_(ref_pe, seed)
    perturb_constants_(ref_md, seed)
    pe, md = PromptEncoder(256, EMB * 16, EMB, 16), MaskDecoder(256, DecoderConfig())
    for ref, ours in ((ref_pe, pe), (ref_md, md)):
        ref_sd, our_sd = ref.state_dict(), ours.state_dict()
        assert sorted(ref_sd) == sorted(our_sd)
        assert all(ref_sd[k].shape == our_sd[k].shape for k in ref_sd)
        ours.load_state_dict(ref_sd, strict=True)
    return ref_pe.eval(), ref_md.eval(), pe.eval(), md.eval()


def _inputs(batch: int, gen: torch.Generator):
    emb = torch.randn(1, 256, EMB, EMB, generator=gen)
    s0 = torch.randn(1, 32, EMB * 4, EMB * 4, generator=gen)
    s1 = torch.randn(1, 64, EMB * 2, EMB * 2, generator=gen)
    pts = torch.rand(batch, 3, 2, generator=gen) * EMB * 16
    labels = torch.randint(0, 2, (batch, 3), generator=gen, dtype=torch.int32)
    labels[:, 0] = 1
    return emb, s0, s1, pts, labels


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("with_box", [False, True])
@pytest.mark.parametrize("multimask", [True, False])
@torch.no_grad()
def test_prompt_encoder_and_decoder_match(with_mask: bool, with_box: bool, multimask: bool) -> None:
    ref_pe, ref_md, pe, md = _pair()
    gen = torch.Generator().manual_seed(1)
    batch = 3
    emb, s0, s1, pts, labels = _inputs(batch, gen)
    boxes = torch.sort(torch.rand(batch, 2, 2, generator=gen) * EMB * 16, dim=1).values.reshape(batch, 4) if with_box else None
    masks = torch.randn(batch, 1, EMB * 4, EMB * 4, generator=gen) * 5 if with_mask else None
    ref_sparse, ref_dense = ref_pe((pts, labels), boxes, masks)
    sparse, dense = pe((pts, labels), boxes, masks)
    assert rel_diff(ref_sparse, sparse) <= 1e-6
    assert rel_diff(ref_dense, dense) <= 1e-6
    ref = ref_md(emb, ref_pe.get_dense_pe(), ref_sparse, ref_dense, multimask, True, [s0, s1])
    out = md(emb, pe.dense_pe(), sparse, dense, multimask, (s0, s1))
    for r, o in zip(ref, (out.masks, out.iou, out.tokens, out.object_score_logits)):
        assert rel_diff(r, o) <= 1e-5


@pytest.mark.parametrize("scale, expect_stable", [(1e-4, False), (100.0, True)])
@torch.no_grad()
def test_dynamic_multimask_fallback_both_ways(scale: float, expect_stable: bool) -> None:
    """Shrinking the single-mask token's output makes its mask unstable (fallback taken); growing it, stable."""
    ref_pe, ref_md, pe, md = _pair(seed=3)
    for dec in (ref_md, md):
        dec.output_hypernetworks_mlps[0].layers[-1].weight.mul_(scale)
        dec.output_hypernetworks_mlps[0].layers[-1].bias.mul_(scale)
    gen = torch.Generator().manual_seed(2)
    emb, s0, s1, pts, labels = _inputs(2, gen)
    sparse, dense = pe((pts, labels), None, None)
    all_masks, all_iou, _, _ = md.predict_all(emb, pe.dense_pe(), sparse, dense, (s0, s1))
    stable = stability_score(all_masks[:, :1], 0.0, 0.05) >= 0.98
    assert bool(stable.all()) == expect_stable and bool(stable.any()) == expect_stable
    ref = ref_md(emb, ref_pe.get_dense_pe(), *ref_pe((pts, labels), None, None), False, True, [s0, s1])
    out = md(emb, pe.dense_pe(), sparse, dense, False, (s0, s1))
    assert rel_diff(ref[0], out.masks) <= 1e-5 and rel_diff(ref[1], out.iou) <= 1e-5
    chosen = all_masks[:, :1] if expect_stable else all_masks[torch.arange(2), 1 + all_iou[:, 1:].argmax(-1)][:, None]
    assert torch.equal(out.masks, chosen)
