"""Each exported graph against the PyTorch step it replaces (float32, max relative difference <= 1e-4)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F

from samstream.onnx.runtime import OnnxGraphs
from samstream.video.frame_outputs import FrameOutput
from samstream.video.memory_bank import MemoryPlan
from tests.onnx.conftest import SIZE, rel_diff

TOL = 1e-4


@pytest.fixture(scope="module")
def graphs(onnx_export) -> OnnxGraphs:
    return OnnxGraphs(onnx_export[0], threads=1)


@pytest.fixture(scope="module")
def features(onnx_model, graphs):
    image = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        feats = onnx_model.encode_image(image)
    return image, feats, graphs.encode(image.numpy())


def test_image_encoder(onnx_model, features) -> None:
    _, feats, got = features
    with torch.inference_mode():
        expected = [feats.embed, onnx_model.prompt_ready_embed(feats), *feats.high_res]
    for name, ref in zip(["image_embed", "prompt_embed", "high_res_0", "high_res_1"], expected):
        assert rel_diff(ref, got[name]) <= TOL, name


@pytest.mark.parametrize("multimask", [True, False])
@pytest.mark.parametrize("with_mask", [False, True])
def test_decoder_every_token(onnx_model, graphs, features, multimask, with_mask) -> None:
    """Two prompt sets of three points (a click, a background click, box corners) with and without a
    mask input; the host's choice of tokens gives the model's own decode and heads."""
    from samstream.onnx.prompts import choose, heads

    _, feats, got = features
    coords = torch.tensor([[[30.0, 40.0], [70.0, 90.0], [5.0, 6.0]], [[10.0, 12.0], [100.0, 110.0], [64.0, 64.0]]])
    labels = torch.tensor([[1, 0, 1], [2, 3, 1]], dtype=torch.int32)
    mask = 4 * torch.randn(2, 1, SIZE // 4, SIZE // 4, generator=torch.Generator().manual_seed(2)) if with_mask else None
    with torch.inference_mode():
        embed = onnx_model.prompt_ready_embed(feats)
        low, iou, _, obj = onnx_model.decode(embed, feats.high_res, (coords, labels), mask, multimask)
        # heads takes the batch from its features: give it one copy per prompt set
        head = onnx_model.heads(embed.expand(2, -1, -1, -1), feats.high_res, (coords, labels), mask, multimask)
    outs = graphs.decode(got["prompt_embed"], got, coords.numpy(), labels.numpy(),
                         None if mask is None else mask.numpy())
    settings = graphs.manifest.tracking
    ours_low, ours_iou, _ = choose(*outs, multimask, settings)
    assert rel_diff(low, ours_low) <= TOL and rel_diff(iou, ours_iou) <= TOL and rel_diff(obj, outs[2]) <= TOL
    ours = heads(*outs, multimask, settings)
    assert rel_diff(head.low_res, ours.best) <= TOL and rel_diff(head.obj_ptr, ours.obj_ptr) <= TOL
    assert (obj > 0).any()  # the present branch is taken


@pytest.mark.parametrize("binarize", [True, False])
def test_memory_encoder(onnx_model, graphs, features, binarize) -> None:
    _, feats, got = features
    low = 6 * torch.randn(2, 1, SIZE // 4, SIZE // 4, generator=torch.Generator().manual_seed(3))
    scores = torch.tensor([[1.5], [-2.0]])  # present and absent (the no-object embedding)
    high = F.interpolate(low, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    with torch.inference_mode():
        ref = onnx_model.encode_memory(feats.embed, high, scores, binarize)
    assert rel_diff(ref, graphs.encode_memory(got["image_embed"], low.numpy(), scores.numpy(), binarize)) <= TOL


@pytest.mark.parametrize("frames, slots, dists", [((0,), (0,), (0,)), ((0, 1, 2), (0, 5, 6), (0, 1, 2, 3, 7))])
def test_memory_attention_dynamic_frames_and_pointers(onnx_model, graphs, features, frames, slots, dists) -> None:
    """One graph serves every memory layout: F memory frames and P pointers change between calls."""
    _, feats, got = features
    gen = torch.Generator().manual_seed(4)
    cfg = onnx_model.cfg
    side = cfg.embedding_size
    outs = [FrameOutput(None, torch.randn(1, cfg.hidden_dim, generator=gen), torch.ones(1, 1),
                        torch.randn(1, cfg.memory.mem_dim, side, side, generator=gen)) for _ in range(8)]
    plan = MemoryPlan([(s, outs[i]) for i, s in zip(frames, slots)], [(d, outs[d]) for d in dists], 16)
    with torch.inference_mode():
        ptrs = torch.stack([o.obj_ptr for _, o in plan.ptrs])  # (P, 1, C)
        tokens = onnx_model.memory_tokens([o.memory for _, o in plan.frames], plan.slots, ptrs, plan.distances,
                                          plan.max_ptrs)
        ref = onnx_model.condition_on_memory(feats.embed, feats.pos, tokens.tokens, tokens.pos, tokens.num_ptr_tokens)
    ours = graphs.attend(got["image_embed"], torch.stack([o.memory for _, o in plan.frames]).numpy(),
                         np.array(slots), torch.stack([o.obj_ptr for _, o in plan.ptrs]).numpy(),
                         np.array(dists, dtype=np.float32), 15.0)
    assert rel_diff(ref, ours) <= TOL


def test_manifest_lists_graphs_and_settings(onnx_export) -> None:
    folder, manifest = onnx_export
    assert manifest.variant == "sam2.1-tiny" and manifest.image_size == SIZE and manifest.opset == 20
    assert sorted(manifest.files) == sorted(p.name for p in folder.glob("*.onnx"))
    assert manifest.graphs["memory_attention"]["shapes"]["memory"][0] == "frames"
    assert manifest.graphs["decoder"]["shapes"]["point_coords"][:2] == ["prompts", "points"]
    assert manifest.tracking["num_maskmem"] == 7 and manifest.pixel_mean == [0.485, 0.456, 0.406]
    ops = {node.op_type for node in onnx.load(str(folder / "image_encoder.onnx")).graph.node}
    assert "Gelu" in ops and "Erf" not in ops  # the default opset's one-op GELU


def opset_export_matches(onnx_model, graphs, features, opset: int, folder, op: str) -> None:
    """An image-parts export at ``opset`` runs in onnxruntime and gives the default export's numbers
    (the image encoder's padded windows included: at 128 input the third stage's 8 x 8 map is smaller
    than its 14 x 14 window)."""
    from samstream.onnx.export import export_onnx

    image, _, default = features
    manifest = export_onnx(onnx_model, folder, parts="image", opset=opset)
    other = OnnxGraphs(folder, threads=1)
    assert manifest.opset == opset and other.manifest.opset == opset and other.has("decoder")
    assert op in {node.op_type for node in onnx.load(str(folder / "image_encoder.onnx")).graph.node}
    got = other.encode(image.numpy())
    for name in default:
        assert rel_diff(default[name], got[name]) <= TOL, name
    coords, labels = np.array([[[30.0, 40.0], [70.0, 90.0]]], np.float32), np.array([[1, 0]], np.int32)
    mask = 4 * np.random.default_rng(5).standard_normal((1, 1, SIZE // 4, SIZE // 4)).astype(np.float32)
    for mask_input in (None, mask):
        expected = graphs.decode(default["prompt_embed"], default, coords, labels, mask_input)
        for ref, ours in zip(expected, other.decode(got["prompt_embed"], got, coords, labels, mask_input)):
            assert rel_diff(ref, ours) <= TOL


def test_newest_opset_export(onnx_model, graphs, features, tmp_path) -> None:
    """Opset 23 turns attention into onnxruntime's fused Attention op, whose kernel needs the padded
    windows' score mask spelled out per query."""
    opset_export_matches(onnx_model, graphs, features, 23, tmp_path, "Attention")


@pytest.mark.slow
def test_oldest_opset_export(onnx_model, graphs, features, tmp_path) -> None:
    """Opset 18: GELU as erf arithmetic."""
    opset_export_matches(onnx_model, graphs, features, 18, tmp_path, "Erf")
